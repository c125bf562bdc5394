//! Parameters as safetensors files (the format PyTorch's `safetensors.torch` reads and writes),
//! written atomically: a temporary file beside the target, synced, then renamed over it.

use crate::{Error, Float};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use std::io::Write;
use std::path::Path;

/// Metadata key of the number of train steps taken.
const STEP_KEY: &str = "kiln.step";

/// A loaded checkpoint of `T` (f32, or f64 for an f64 model) tensors.
pub struct Checkpoint<T = f32> {
    /// The parameters, in the order asked for.
    pub params: Vec<Vec<T>>,
    /// The optimizer state, if the file has it (a PyTorch `state_dict` does not).
    pub state: Option<Vec<Vec<T>>>,
    /// Train steps taken when it was saved (0 if unknown).
    pub step: u64,
}

/// Writes the parameters and optimizer state as `T` tensors named by `params_spec` and
/// `state_spec` (name, shape), and the step counter as metadata.
pub fn save<T: Float>(
    path: &Path,
    params_spec: &[(&str, &[usize])],
    params: &[Vec<T>],
    state_spec: &[(&str, &[usize])],
    state: &[Vec<T>],
    step: u64,
) -> Result<(), Error> {
    let io = |source| Error::Io { path: path.to_path_buf(), source };
    let views = params_spec
        .iter()
        .chain(state_spec)
        .zip(params.iter().chain(state))
        .map(|(&(name, shape), data)| {
            let view = TensorView::new(T::DTYPE, shape.to_vec(), bytemuck::cast_slice(data))
                .map_err(|e| Error::Checkpoint { path: path.to_path_buf(), reason: format!("{name}: {e}") })?;
            Ok((name, view))
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let metadata = std::collections::HashMap::from([(STEP_KEY.to_string(), step.to_string())]);
    let bytes = safetensors::serialize(views, &Some(metadata))
        .map_err(|e| Error::Checkpoint { path: path.to_path_buf(), reason: e.to_string() })?;

    let file_name = path
        .file_name()
        .ok_or_else(|| Error::Checkpoint { path: path.to_path_buf(), reason: "the path has no file name".into() })?;
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(file_name);
    temp_name.push(format!(".tmp{}", std::process::id()));
    let temp = path.with_file_name(temp_name);
    let mut file = std::fs::File::create(&temp).map_err(io)?;
    let written = file.write_all(&bytes).and_then(|_| file.sync_all());
    drop(file);
    if let Err(source) = written.and_then(|_| std::fs::rename(&temp, path)) {
        let _ = std::fs::remove_file(&temp);
        return Err(io(source));
    }
    Ok(())
}

/// Reads the parameters `params_spec` names (all required) and the optimizer state
/// `state_spec` names (all or none). Fails, naming the first offending tensor, if one is
/// missing, not of type `T` or of another shape, or if the file has tensors neither list names.
pub fn load<T: Float>(
    path: &Path,
    params_spec: &[(&str, &[usize])],
    state_spec: &[(&str, &[usize])],
) -> Result<Checkpoint<T>, Error> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
    parse(&bytes, params_spec, state_spec).map_err(|reason| Error::Checkpoint { path: path.to_path_buf(), reason })
}

/// [`load`] of a checkpoint's bytes; the error is the reason.
pub fn parse<T: Float>(
    bytes: &[u8],
    params_spec: &[(&str, &[usize])],
    state_spec: &[(&str, &[usize])],
) -> Result<Checkpoint<T>, String> {
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| format!("not a safetensors file: {e}"))?;
    let file = SafeTensors::deserialize(bytes).map_err(|e| format!("not a safetensors file: {e}"))?;
    let read = |spec: &[(&str, &[usize])]| -> Result<Vec<Vec<T>>, String> {
        spec.iter()
            .map(|&(name, shape)| {
                let tensor = file.tensor(name).map_err(|_| format!("tensor `{name}` is missing"))?;
                if tensor.shape() != shape {
                    return Err(format!("tensor `{name}` has shape {:?}, expected {shape:?}", tensor.shape()));
                }
                match tensor.dtype() {
                    dtype if dtype == T::DTYPE => Ok(tensor
                        .data()
                        .chunks_exact(std::mem::size_of::<T>())
                        .map(bytemuck::pod_read_unaligned)
                        .collect()),
                    // PyTorch stores batch norm's `num_batches_tracked` as int64.
                    Dtype::I64 if name.ends_with("num_batches_tracked") => Ok(tensor
                        .data()
                        .chunks_exact(8)
                        .map(|b| T::from_f64(i64::from_le_bytes(b.try_into().expect("8 bytes")) as f64))
                        .collect()),
                    other => Err(format!("tensor `{name}` is {other:?}, expected {:?}", T::DTYPE)),
                }
            })
            .collect()
    };
    let params = read(params_spec)?;
    let has_state = state_spec.iter().any(|(name, _)| file.tensor(name).is_ok());
    let state = if has_state { Some(read(state_spec)?) } else { None };

    let known = |n: &str| params_spec.iter().chain(state_spec).any(|(s, _)| *s == n);
    let mut extra: Vec<&String> = file.names().into_iter().filter(|n| !known(n)).collect();
    extra.sort();
    if let Some(name) = extra.first() {
        return Err(format!("tensor `{name}` is not a parameter of this model"));
    }
    let step = match header.metadata().as_ref().and_then(|m| m.get(STEP_KEY)) {
        Some(text) => text.parse().map_err(|_| format!("metadata {STEP_KEY} = {text:?} is not a step count"))?,
        None => 0,
    };
    Ok(Checkpoint { params, state, step })
}

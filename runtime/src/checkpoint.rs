//! Parameters as safetensors files (the format PyTorch's `safetensors.torch` reads and writes),
//! written atomically: a temporary file beside the target, synced, then renamed over it.

use crate::Error;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use std::io::Write;
use std::path::Path;

/// Writes `values[i]` as tensor `spec[i]` = (name, shape), f32 little-endian.
pub fn save(path: &Path, spec: &[(&str, &[usize])], values: &[Vec<f32>]) -> Result<(), Error> {
    let io = |source| Error::Io { path: path.to_path_buf(), source };
    let views = spec
        .iter()
        .zip(values)
        .map(|(&(name, shape), data)| {
            let view = TensorView::new(Dtype::F32, shape.to_vec(), bytemuck::cast_slice(data))
                .map_err(|e| Error::Checkpoint { path: path.to_path_buf(), reason: format!("{name}: {e}") })?;
            Ok((name, view))
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let bytes = safetensors::serialize(views, &None)
        .map_err(|e| Error::Checkpoint { path: path.to_path_buf(), reason: e.to_string() })?;

    let file_name = path.file_name().ok_or_else(|| Error::Checkpoint {
        path: path.to_path_buf(),
        reason: "the path has no file name".into(),
    })?;
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

/// Reads the tensors `spec` names, in its order. Fails, naming the first offending tensor, if
/// one is missing, not f32, of another shape, or if the file has tensors `spec` lacks.
pub fn load(path: &Path, spec: &[(&str, &[usize])]) -> Result<Vec<Vec<f32>>, Error> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
    let fail = |reason: String| Error::Checkpoint { path: path.to_path_buf(), reason };
    let file = SafeTensors::deserialize(&bytes).map_err(|e| fail(format!("not a safetensors file: {e}")))?;
    let mut values = Vec::with_capacity(spec.len());
    for &(name, shape) in spec {
        let tensor = file.tensor(name).map_err(|_| fail(format!("tensor `{name}` is missing")))?;
        if tensor.dtype() != Dtype::F32 {
            return Err(fail(format!("tensor `{name}` is {:?}, expected F32", tensor.dtype())));
        }
        if tensor.shape() != shape {
            return Err(fail(format!("tensor `{name}` has shape {:?}, expected {shape:?}", tensor.shape())));
        }
        let data = tensor.data();
        values.push(data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect());
    }
    let mut extra: Vec<String> = file.names().into_iter().filter(|n| !spec.iter().any(|(s, _)| s == n)).cloned().collect();
    extra.sort();
    if let Some(name) = extra.first() {
        return Err(fail(format!("tensor `{name}` is not a parameter of this model")));
    }
    Ok(values)
}

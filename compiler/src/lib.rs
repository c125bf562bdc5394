//! kiln's compiler: a model DSL for `build.rs`, an IR of a few primitive ops, compile-time
//! reverse- and forward-mode autodiff, and a back end that emits a launch plan of CubeCL
//! kernels plus a typed trainer.
//!
//! Its folders follow the data: `dsl/` builds an `ir/` graph; `program.rs` runs the graph
//! passes (`grad/` among them) and [`emit`] the back end's (`lower/`, `schedule/`, `plan/`,
//! then emission of the `kernel/` launches).
//!
//! ```no_run
//! // build.rs
//! use kiln_compiler::{Model, Sgd};
//! let model = Model::new("MnistMlp");
//! let images = model.input("images", [64, 1, 28, 28]);
//! let labels = model.labels("labels", [64], 10);
//! let logits = images.flatten().linear(256).relu().linear(10);
//! let loss = logits.cross_entropy(labels);
//! let program = model.compile(loss, logits, Sgd::new(0.1)).unwrap();
//! kiln_compiler::write_to_out_dir(&program, "mnist_mlp.rs").unwrap();
//! ```

#![warn(missing_docs)]

mod dsl;
pub mod emit;
mod error;
#[cfg(test)]
mod filetests;
pub mod grad;
#[cfg(test)]
mod gradcheck;
pub mod ir;
mod kernel;
#[cfg(test)]
mod layer_gradcheck;
mod lower;
mod optim;
mod plan;
mod program;
mod schedule;
mod target;

pub use dsl::{
    Cell, CellState, Conv, ConvTranspose, CrossEntropy, Dense, Embedding, EmbeddingTable, Initializer, Labels, Lengths,
    Linear, Model, Norm, Padding, Pair, Pool, Recurrent, Tensor, Tokens,
};
pub use error::Error;
pub use ir::Shape;
pub use optim::{Adagrad, Adam, Half, HostScalar, Optimizer, Precision, RmsProp, Sgd, Training};
pub use program::{Accumulator, Dropout, Exposed, Frozen, Param, Program, State};
pub use target::Target;

/// Emits `program` to `$OUT_DIR/file_name` for the app to `include!`, and its compile report
/// beside it (`file_name` with `.report.txt`); returns the source's path.
pub fn write_to_out_dir(program: &Program, file_name: &str) -> std::io::Result<std::path::PathBuf> {
    let path = out_dir_path(file_name)?;
    let (source, report) = emit::emit_with_report(program);
    std::fs::write(&path, source)?;
    std::fs::write(path.with_extension("report.txt"), report)?;
    Ok(path)
}

/// Writes `program`'s predictor ([`emit::emit_predictor`]: `predict` alone, as the type
/// `{Name}Predictor` in the module `{module}_predictor`) to `$OUT_DIR/file_name`, for an app
/// that only runs a trained model.
pub fn write_predictor_to_out_dir(program: &Program, file_name: &str) -> std::io::Result<std::path::PathBuf> {
    let path = out_dir_path(file_name)?;
    std::fs::write(&path, emit::emit_predictor(program))?;
    Ok(path)
}

/// `$OUT_DIR/file_name`, or an error outside a build script.
fn out_dir_path(file_name: &str) -> std::io::Result<std::path::PathBuf> {
    let dir = std::env::var_os("OUT_DIR")
        .ok_or_else(|| std::io::Error::other("OUT_DIR is not set: call this from build.rs"))?;
    Ok(std::path::Path::new(&dir).join(file_name))
}

#[cfg(test)]
mod random_models;
#[cfg(test)]
mod snapshot_tests;
#[cfg(test)]
mod test_rng;

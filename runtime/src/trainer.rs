//! The trait every generated trainer implements, so one loop can drive any model: its batch is
//! a slice of [`Feed`]s in the order its [`FeedSpec`]s list, whatever the number of inputs.
//!
//! ```no_run
//! # use kiln_runtime::{Error, Feed, Trainer};
//! /// Ten steps of any model on one batch; the last loss.
//! fn ten_steps<T: Trainer>(trainer: &mut T, batch: &[Feed<T::Float>]) -> Result<T::Float, Error> {
//!     for _ in 0..9 {
//!         trainer.train_step(batch)?;
//!     }
//!     trainer.train_step(batch)
//! }
//! ```

use crate::{Error, Float};
use std::path::Path;

/// One argument of an entry point: float data, or integer token ids or class labels.
#[derive(Clone, Copy, Debug)]
pub enum Feed<'a, T> {
    /// Float data of an input (`model.input`).
    Values(&'a [T]),
    /// Token ids (`model.tokens`) or class labels (`model.labels`).
    Ids(&'a [u32]),
}

impl<'a, T> Feed<'a, T> {
    /// The float data, or an error naming the argument `spec` describes.
    pub fn values(&self, spec: &FeedSpec) -> Result<&'a [T], Error> {
        match *self {
            Feed::Values(values) => Ok(values),
            Feed::Ids(_) => Err(Error::Invalid(format!("`{}` takes float values, not ids", spec.name))),
        }
    }

    /// The ids or labels, or an error naming the argument `spec` describes.
    pub fn ids(&self, spec: &FeedSpec) -> Result<&'a [u32], Error> {
        match *self {
            Feed::Ids(ids) => Ok(ids),
            Feed::Values(_) => Err(Error::Invalid(format!("`{}` takes ids, not float values", spec.name))),
        }
    }
}

/// What an entry point expects of one argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FeedSpec {
    /// The name the model declared it under.
    pub name: &'static str,
    /// Elements per row, or of the whole tensor for an unbatched input.
    pub len: usize,
    /// Whether it has a row per sample of the batch.
    pub batched: bool,
    /// For ids and labels, how many distinct values there are (vocabulary or classes); `None`
    /// for float data.
    pub classes: Option<usize>,
}

/// The entry points of a generated trainer, for code that drives several models. Each method
/// forwards to the trainer's own method of the same name, which takes its arguments by name.
pub trait Trainer {
    /// The type of its data, parameters, loss and outputs: f32, or f64 for `Precision::F64`.
    type Float: Float;
    /// Rows per batch (a shorter batch is padded and masked out of the loss).
    const BATCH: usize;
    /// Elements per row of the outputs.
    const OUTPUT_LEN: usize;
    /// The arguments of [`Trainer::train_step`] and [`Trainer::eval_loss`], in order.
    const TRAIN_FEEDS: &'static [FeedSpec];
    /// The arguments of [`Trainer::predict`], in order: those the outputs read.
    const PREDICT_FEEDS: &'static [FeedSpec];
    /// Trained parameters (PyTorch's names) and shapes, in checkpoint order.
    const PARAMETERS: &'static [(&'static str, &'static [usize])];

    /// One optimizer step; the mean loss before the update.
    fn train_step(&mut self, batch: &[Feed<Self::Float>]) -> Result<Self::Float, Error>;
    /// The mean loss without an update.
    fn eval_loss(&mut self, batch: &[Feed<Self::Float>]) -> Result<Self::Float, Error>;
    /// The outputs of a batch, `OUTPUT_LEN` per row.
    fn predict(&mut self, batch: &[Feed<Self::Float>]) -> Result<Vec<Self::Float>, Error>;
    /// The outputs the last entry point computed, for its first `rows` rows.
    fn last_outputs(&self, rows: usize) -> Vec<Self::Float>;
    /// The learning rate of the next steps.
    fn learning_rate(&self) -> Self::Float;
    /// Sets the learning rate of the next steps.
    fn set_learning_rate(&mut self, learning_rate: Self::Float);
    /// Train steps taken.
    fn steps(&self) -> u64;
    /// A parameter's or running statistic's values, row-major.
    fn parameter(&self, name: &str) -> Option<Vec<Self::Float>>;
    /// Overwrites a parameter or running statistic.
    fn set_parameter(&mut self, name: &str, values: &[Self::Float]) -> Result<(), Error>;
    /// Writes a checkpoint atomically.
    fn save(&self, path: &Path) -> Result<(), Error>;
    /// Reads a checkpoint or a PyTorch `state_dict`.
    fn load(&mut self, path: &Path) -> Result<(), Error>;
}

/// `batch` as an array of the `N` arguments `specs` lists, or an error that names them.
pub fn split_batch<'b, 'a, T, const N: usize>(
    batch: &'b [Feed<'a, T>],
    specs: &[FeedSpec],
) -> Result<&'b [Feed<'a, T>; N], Error> {
    batch.try_into().map_err(|_| {
        let names: Vec<&str> = specs.iter().map(|s| s.name).collect();
        Error::Invalid(format!(
            "this entry point takes {N} arguments ({}); the batch has {}",
            names.join(", "),
            batch.len()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPECS: [FeedSpec; 2] = [
        FeedSpec { name: "x", len: 3, batched: true, classes: None },
        FeedSpec { name: "y", len: 1, batched: true, classes: Some(4) },
    ];

    #[test]
    fn a_batch_splits_by_position_and_wrong_arguments_are_named() {
        let (x, y) = ([1.0f32, 2.0, 3.0], [2u32]);
        let batch = [Feed::Values(&x[..]), Feed::Ids(&y[..])];
        let [fx, fy] = split_batch::<f32, 2>(&batch, &SPECS).unwrap();
        assert_eq!((fx.values(&SPECS[0]).unwrap(), fy.ids(&SPECS[1]).unwrap()), (&x[..], &y[..]));
        let err = fx.ids(&SPECS[0]).unwrap_err().to_string();
        assert_eq!(err, "`x` takes ids, not float values");
        let err = fy.values(&SPECS[1]).unwrap_err().to_string();
        assert_eq!(err, "`y` takes float values, not ids");
        let err = split_batch::<f32, 2>(&batch[..1], &SPECS).unwrap_err().to_string();
        assert_eq!(err, "this entry point takes 2 arguments (x, y); the batch has 1");
    }
}

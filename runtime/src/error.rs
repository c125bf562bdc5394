//! The runtime's error type: bad inputs and bad files, never panics.

use std::fmt;
use std::path::PathBuf;

/// Everything a trainer or a reader can reject. Fields name the offending input or file.
#[derive(Debug)]
#[allow(missing_docs)] // the variant docs say what each field holds
pub enum Error {
    /// An input's length is not a whole number of samples between 1 and the batch size.
    InputLength { name: String, len: usize, sample_len: usize, batch: usize },
    /// An input holds NaN or infinity.
    NonFiniteInput { name: String, index: usize },
    /// Labels (or token ids) and input rows disagree in number: `per_row` were expected per row.
    LabelCount { name: String, labels: usize, rows: usize, per_row: usize },
    /// A label is not a valid class id.
    LabelOutOfRange { name: String, index: usize, label: u32, classes: usize },
    /// A sequence length is 0 (an empty sequence) or above the model's maximum length.
    LengthOutOfRange { name: String, index: usize, length: u32, max: usize },
    /// The loss became NaN or infinite at this step (counted from 1).
    NonFiniteLoss { step: u64 },
    /// A file could not be read or written.
    Io { path: PathBuf, source: std::io::Error },
    /// A data file is not what it claims to be.
    Malformed { path: PathBuf, reason: String },
    /// A checkpoint does not fit this model.
    Checkpoint { path: PathBuf, reason: String },
    /// No device of the requested kind.
    Device(String),
    /// Arguments that do not fit the data (e.g. normalisation statistics per channel).
    Invalid(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InputLength { name, len, sample_len, batch } => write!(
                f,
                "input `{name}` has {len} values; expected a multiple of {sample_len} (one sample) for 1 to {batch} rows"
            ),
            Error::NonFiniteInput { name, index } => {
                write!(f, "input `{name}` holds a NaN or infinite value at index {index}")
            }
            Error::LabelCount { name, labels, rows, per_row: 1 } => {
                write!(f, "`{name}` has {labels} labels for {rows} input rows")
            }
            Error::LabelCount { name, labels, rows, per_row } => {
                write!(f, "`{name}` has {labels} ids for {rows} rows of {per_row}")
            }
            Error::LabelOutOfRange { name, index, label, classes } => {
                write!(f, "`{name}`[{index}] = {label} is not a class id in 0..{classes}")
            }
            Error::LengthOutOfRange { name, index, length: 0, .. } => {
                write!(f, "`{name}`[{index}] = 0: an empty sequence")
            }
            Error::LengthOutOfRange { name, index, length, max } => {
                write!(f, "`{name}`[{index}] = {length} is above the maximum length {max}")
            }
            Error::NonFiniteLoss { step } => write!(f, "the loss is not finite at step {step}"),
            Error::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Error::Malformed { path, reason } => write!(f, "{}: {reason}", path.display()),
            Error::Checkpoint { path, reason } => write!(f, "checkpoint {}: {reason}", path.display()),
            Error::Device(reason) => write!(f, "no device: {reason}"),
            Error::Invalid(reason) => write!(f, "{reason}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

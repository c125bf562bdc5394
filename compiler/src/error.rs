//! Build-time errors: each names the layer, the shapes involved and the DSL call site.

use std::fmt;
use std::panic::Location;

/// A model that cannot be compiled, with the DSL call that caused it.
#[derive(Clone, PartialEq)]
pub struct Error {
    /// The layer, e.g. `3.linear` (module index and kind, as in `nn.Sequential`).
    pub layer: String,
    /// What is wrong, with the shapes involved.
    pub message: String,
    /// `file:line:column` of the DSL call.
    pub location: &'static Location<'static>,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: layer `{}`: {}", self.location, self.layer, self.message)
    }
}

// `fn main() -> Result<(), Error>` in a build script prints Debug: make it the readable form.
impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for Error {}

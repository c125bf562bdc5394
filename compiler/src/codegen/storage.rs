//! Element types of the buffers. Kernels compute in `F` (f32); a mixed-precision program
//! stores its intermediates in a half type, converted on every load and store.

use crate::ir::ValueId;
use crate::optim::Half;
use std::collections::BTreeSet;

/// Which buffers hold half floats, and which half type.
pub struct Storage {
    half: Option<Half>,
    buffers: BTreeSet<ValueId>,
}

impl Storage {
    /// `buffers` stored as `half` (or none when `half` is `None`).
    pub fn new(half: Option<Half>, buffers: impl IntoIterator<Item = ValueId>) -> Storage {
        let buffers = if half.is_some() { buffers.into_iter().collect() } else { BTreeSet::new() };
        Storage { half, buffers }
    }

    fn half_of(&self, buffer: ValueId) -> Option<&'static str> {
        self.half.filter(|_| self.buffers.contains(&buffer)).map(Half::rust_type)
    }

    /// The element type of `buffer` in a kernel signature: `F` or the half type.
    pub fn elem(&self, buffer: ValueId) -> &'static str {
        self.half_of(buffer).unwrap_or("F")
    }

    /// The element type of `buffer` as a launch's type argument.
    pub fn launch_type(&self, buffer: ValueId) -> &'static str {
        self.half_of(buffer).unwrap_or("f32")
    }

    /// `vector`, a vector read from `buffer`, as `Vector<F, N>`.
    pub fn widen(&self, buffer: ValueId, vector: &str) -> String {
        match self.half_of(buffer) {
            Some(_) => format!("Vector::<F, N>::cast_from({vector})"),
            None => vector.to_string(),
        }
    }

    /// `scalar`, an element read from `buffer`, as `F`.
    pub fn widen_scalar(&self, buffer: ValueId, scalar: &str) -> String {
        match self.half_of(buffer) {
            Some(_) => format!("F::cast_from({scalar})"),
            None => scalar.to_string(),
        }
    }

    /// `vector`, a `Vector<F, N>`, as a vector of `buffer`'s type, to store.
    pub fn narrow(&self, buffer: ValueId, vector: &str) -> String {
        match self.half_of(buffer) {
            Some(ty) => format!("Vector::<{ty}, N>::cast_from({vector})"),
            None => vector.to_string(),
        }
    }

    /// Space of `numel` elements of `buffer` in the arena's 4-byte units.
    pub fn units(&self, buffer: ValueId, numel: usize) -> usize {
        match self.half_of(buffer) {
            Some(_) => numel.div_ceil(2),
            None => numel,
        }
    }

    /// Bytes per element of `buffer`.
    pub fn bytes(&self, buffer: ValueId) -> usize {
        if self.half_of(buffer).is_some() { 2 } else { 4 }
    }
}

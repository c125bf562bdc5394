//! Element types of the buffers. Kernels compute in `F` (f32, or f64 for an f64 program); a
//! mixed-precision program stores its intermediates in a half type, converted on every load
//! and store.

use crate::ir::ValueId;
use crate::optim::{Half, Precision};
use crate::target::Target;
use std::collections::BTreeSet;

/// Which buffers hold which element type, and the registers kernels hold them in.
pub struct Storage {
    precision: Precision,
    target: Target,
    half_buffers: BTreeSet<ValueId>,
}

impl Storage {
    /// Buffers of a `precision` program whose product tiles are shaped for `target`; under
    /// mixed precision, `intermediates` are stored in its half type.
    pub fn new(precision: Precision, target: Target, intermediates: impl IntoIterator<Item = ValueId>) -> Storage {
        let half_buffers =
            if precision.half().is_some() { intermediates.into_iter().collect() } else { BTreeSet::new() };
        Storage { precision, target, half_buffers }
    }

    /// The CPU whose vector registers the product tiles are shaped for.
    pub fn target(&self) -> Target {
        self.target
    }

    fn half_of(&self, buffer: ValueId) -> Option<Half> {
        self.precision.half().filter(|_| self.half_buffers.contains(&buffer))
    }

    /// The type kernels compute in: `F`'s launch argument.
    pub fn compute_type(&self) -> &'static str {
        self.precision.float()
    }

    /// Whether `buffer` holds the program's half type.
    pub fn is_half(&self, buffer: ValueId) -> bool {
        self.half_of(buffer).is_some()
    }

    /// The type templates store halves in, as a launch's type argument: the program's half
    /// type, or the compute type where it has none (its half sequences are then empty).
    pub fn half_type(&self) -> &'static str {
        self.precision.half().map_or(self.compute_type(), Half::rust_type)
    }

    /// The element type of `buffer` in a kernel signature: `F` or the half type.
    pub fn elem(&self, buffer: ValueId) -> &'static str {
        self.half_of(buffer).map_or("F", Half::rust_type)
    }

    /// The element type of `buffer` as a launch's type argument.
    pub fn launch_type(&self, buffer: ValueId) -> &'static str {
        self.half_of(buffer).map_or(self.compute_type(), Half::rust_type)
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

    /// `vector`, a `Vector<F, N>`, as a vector of `buffer`'s type, to store (bf16 through
    /// `kiln_kernels::to_bf16`, which needs no runtime library).
    pub fn narrow(&self, buffer: ValueId, vector: &str) -> String {
        match self.half_of(buffer) {
            Some(Half::Bf16) => format!("kiln_runtime::kernels::to_bf16::<F, N>({vector})"),
            Some(Half::F16) => format!("Vector::<f16, N>::cast_from({vector})"),
            None => vector.to_string(),
        }
    }

    /// `scalar`, an `F`, as an element of `buffer`'s type, to store (see [`Storage::narrow`]).
    pub fn narrow_scalar(&self, buffer: ValueId, scalar: &str) -> String {
        match self.half_of(buffer) {
            Some(Half::Bf16) => format!("kiln_runtime::kernels::to_bf16_scalar::<F>({scalar})"),
            Some(Half::F16) => format!("f16::cast_from({scalar})"),
            None => scalar.to_string(),
        }
    }

    /// Space of `numel` elements of `buffer` in the arena's 4-byte units. An f64 program gives
    /// every buffer (labels too) two units per element, so every offset stays 8-byte aligned.
    pub fn units(&self, buffer: ValueId, numel: usize) -> usize {
        match (self.half_of(buffer), self.precision) {
            (Some(_), _) => numel.div_ceil(2),
            (None, Precision::F64) => 2 * numel,
            (None, _) => numel,
        }
    }

    /// Bytes per element of `buffer` (as a float; labels are read as u32 whatever this says).
    pub fn bytes(&self, buffer: ValueId) -> usize {
        match (self.half_of(buffer), self.precision) {
            (Some(_), _) => 2,
            (None, Precision::F64) => 8,
            (None, _) => 4,
        }
    }
}

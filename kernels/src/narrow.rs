//! Conversions to bf16 by integer arithmetic. Without AVX512_BF16, LLVM lowers an f32 -> bf16
//! conversion to a call of compiler-rt's `__truncsfbf2` for each lane (which kiln's
//! cubecl-llvm defines for the CPU runtime's JIT); these round whole vectors in integer
//! registers instead, to nearest, ties to even, as that conversion does, and keep NaNs NaN.

// `#[cube]` generates a launch module and a kernel struct per function, without docs.
#![allow(missing_docs)]

use cubecl::prelude::*;
use half::bf16;

/// `x` rounded to bf16, lane by lane.
#[cube]
pub fn to_bf16<F: Float, N: Size>(x: Vector<F, N>) -> Vector<bf16, N> {
    let bits = Vector::<u32, N>::reinterpret(Vector::<f32, N>::cast_from(x));
    let magnitude = bits & Vector::new(0x7fff_ffffu32);
    let lowest_kept = (bits >> Vector::new(16u32)) & Vector::new(1u32);
    let rounded = bits + Vector::new(0x7fffu32) + lowest_kept;
    // A NaN's rounding could carry into the exponent and make it infinite: set its quiet bit.
    let quiet = bits | Vector::new(0x0040_0000u32);
    let wide = select_many(magnitude.greater_than(&Vector::new(0x7f80_0000u32)), quiet, rounded);
    Vector::<bf16, N>::reinterpret(Vector::<u16, N>::cast_from(wide >> Vector::new(16u32)))
}

/// `x` rounded to bf16: [`to_bf16`] on one lane.
#[cube]
pub fn to_bf16_scalar<F: Float>(x: F) -> bf16 {
    to_bf16::<F, Const<1>>(Vector::new(x)).extract(0usize)
}

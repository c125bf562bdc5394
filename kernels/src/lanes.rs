//! Reductions across the lanes of one vector: the last step of a reduction whose vectors run
//! along the reduced axes (generated kernels), or of a product tile that accumulates along k
//! ([`crate::nt_tile`]). Unrolled, since wgpu splits wide vectors and its `vector_sum` cannot be.

// `#[cube]` generates a launch module and a kernel struct per function, without docs.
#![allow(missing_docs)]

use cubecl::prelude::*;

/// The sum of the first `v` lanes of `x` (all of them: `v` is the vector width).
#[cube]
pub fn lane_sum<F: Float, N: Size>(x: Vector<F, N>, #[comptime] v: usize) -> F {
    let mut sum = F::new(0.0);
    #[unroll]
    for j in 0..v {
        sum += x.extract(j);
    }
    sum
}

/// The largest of the first `v` lanes of `x`.
#[cube]
pub fn lane_max<F: Float, N: Size>(x: Vector<F, N>, #[comptime] v: usize) -> F {
    let mut max = x.extract(0usize);
    #[unroll]
    for j in 1..v {
        max = <F as FloatOps>::max(max, x.extract(j));
    }
    max
}

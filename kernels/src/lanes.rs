//! Work across the lanes of one vector: the last step of a reduction whose vectors run along
//! the reduced axes (generated kernels), or of a product tile that accumulates along k
//! ([`crate::nt_tile`]); and a vector assembled from elements that repeat along its lanes.
//! Unrolled, since wgpu splits wide vectors and its `vector_sum` cannot be.

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

/// A vector of `w` lanes from a buffer read broadcast along runs of `k` lanes: lane `j` holds
/// `src[start + (j / k) * step]`. A max-pool gradient's share, say, repeated over each window's
/// `k` pixels of a row, so the gradient runs `w` lanes wide instead of `k`.
#[cube]
pub fn repeat_lanes<E: Float, F: Float, N: Size>(
    src: &[E],
    start: usize,
    #[comptime] step: usize,
    #[comptime] k: usize,
    #[comptime] w: usize,
) -> Vector<F, N> {
    let mut lanes = Vector::<F, N>::new(F::cast_from(src[start]));
    #[unroll]
    for run in 1..w / k {
        let value = F::cast_from(src[start + run * step]);
        #[unroll]
        for j in 0..k {
            lanes.insert(run * k + j, value);
        }
    }
    lanes
}

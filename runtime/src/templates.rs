//! Launchers of the kernel library's templates (`kiln_kernels::steps::pointwise`,
//! `reduction::reduce`, `product::product_nt` and `product_nn`) for a launch plan's rows. A
//! generated launcher passes its row, how many of the row's buffers each of the template's
//! sequences takes (all but the last, which takes the rest), and the template's comptime
//! descriptors; so a template launch costs the generated file one short function.
//!
//! # Safety
//! Each is a [`crate::plan::Launcher`] with more arguments: the row's buffers must be those the
//! descriptors were written for, with their planned lengths.

use crate::kernels::product::{self, Epilogue, NnTiling, NtTiling};
use crate::kernels::reduction::{self, Reduction};
use crate::kernels::steps::{self, Program};
use crate::plan::Launch;
use crate::Arena;
use cubecl::prelude::*;
use std::ops::Range;

/// The row's buffers after the first `first`: consecutive ranges of `counts[k]` each, and the
/// rest.
fn split<const N: usize>(l: &Launch, first: usize, counts: [usize; N]) -> ([Range<usize>; N], Range<usize>) {
    let mut start = first;
    let ranges = counts.map(|count| {
        start += count;
        start - count..start
    });
    (ranges, start..l.buffers.len())
}

/// Launches the pointwise template running `program`: the row's buffers are `counts[0]`
/// vector inputs, `counts[1]` scalar inputs, then the outputs.
///
/// # Safety
/// See the module's documentation.
pub unsafe fn pointwise<F: Float + CubeElement>(
    a: &Arena,
    l: &Launch,
    count: CubeCount,
    dim: CubeDim,
    counts: [usize; 2],
    program: Program,
) {
    let ([vectors, scalars], outputs) = split(l, 0, counts);
    let (vectors, scalars, outputs) = (l.args(a, vectors), l.args(a, scalars), l.args(a, outputs));
    // SAFETY: the caller's.
    unsafe {
        steps::pointwise::launch_unchecked::<F>(
            a.client(),
            count,
            dim,
            l.sizes[0],
            vectors.collect(),
            scalars.collect(),
            outputs.collect(),
            program,
        )
    };
}

/// Launches the reduction template running `reduction`: the row's buffers are `counts[0]`
/// vector inputs, `counts[1]` scalar inputs, `counts[2]` vector outputs, then the single
/// element outputs.
///
/// # Safety
/// See the module's documentation.
pub unsafe fn reduce<F: Float + CubeElement>(
    a: &Arena,
    l: &Launch,
    count: CubeCount,
    dim: CubeDim,
    counts: [usize; 3],
    reduction: Reduction,
) {
    let ([vectors, scalars, outputs], row_outputs) = split(l, 0, counts);
    // SAFETY: the caller's.
    unsafe {
        reduction::reduce::launch_unchecked::<F>(
            a.client(),
            count,
            dim,
            l.sizes[0],
            l.args(a, vectors).collect(),
            l.args(a, scalars).collect(),
            l.args(a, outputs).collect(),
            l.args(a, row_outputs).collect(),
            reduction,
        )
    };
}

/// Launches the NT product template with `tiling` and its epilogues: the row's buffers are the
/// two operands, `counts[0]` vector inputs, `counts[1]` scalar inputs, `counts[2]` vector
/// outputs, then the row outputs.
///
/// # Safety
/// See the module's documentation.
pub unsafe fn product_nt<F: Float + CubeElement>(
    a: &Arena,
    l: &Launch,
    count: CubeCount,
    dim: CubeDim,
    counts: [usize; 3],
    (tiling, epilogue, row_epilogue): (NtTiling, Epilogue, Epilogue),
) {
    let ([vectors, scalars, outputs], row_outputs) = split(l, 2, counts);
    // SAFETY: the caller's.
    unsafe {
        product::product_nt::launch_unchecked::<F>(
            a.client(),
            count,
            dim,
            l.sizes[0],
            l.sizes[1],
            l.arg(a, 0),
            l.arg(a, 1),
            l.args(a, vectors).collect(),
            l.args(a, scalars).collect(),
            l.args(a, outputs).collect(),
            l.args(a, row_outputs).collect(),
            a.claims(),
            tiling,
            epilogue,
            row_epilogue,
            a.host_memory(),
        )
    };
}

/// Launches the NN product template, as [`product_nt`] does.
///
/// # Safety
/// See the module's documentation.
pub unsafe fn product_nn<F: Float + CubeElement>(
    a: &Arena,
    l: &Launch,
    count: CubeCount,
    dim: CubeDim,
    counts: [usize; 3],
    (tiling, epilogue, row_epilogue): (NnTiling, Epilogue, Epilogue),
) {
    let ([vectors, scalars, outputs], row_outputs) = split(l, 2, counts);
    // SAFETY: the caller's.
    unsafe {
        product::product_nn::launch_unchecked::<F>(
            a.client(),
            count,
            dim,
            l.sizes[0],
            l.arg(a, 0),
            l.arg(a, 1),
            l.args(a, vectors).collect(),
            l.args(a, scalars).collect(),
            l.args(a, outputs).collect(),
            l.args(a, row_outputs).collect(),
            a.claims(),
            tiling,
            epilogue,
            row_epilogue,
            a.host_memory(),
        )
    };
}

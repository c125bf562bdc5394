//! The kernel library's templates (`kiln_kernels::steps::pointwise`, `reduction::reduce`,
//! `phases::phased`, `window::fold`, `product::product_nt` and `product_nn`) as a launch
//! plan's data. A generated file writes
//! each distinct template launch as a [`Template`] constant: the template, its comptime
//! descriptors, and how many of a row's buffers each of its sequences takes (all but the last,
//! which takes the rest); a plan row names the constant ([`Launch::of`]).

use crate::kernels::phases::{self, Phases};
use crate::kernels::product::{self, Epilogue, NnTiling, NtTiling};
use crate::kernels::reduction::{self, Reduction};
use crate::kernels::steps::{self, Program};
use crate::kernels::window::{self, FoldLayout};
use crate::plan::{Launch, Launcher};
use crate::Arena;
use cubecl::prelude::*;
use std::ops::Range;

/// A template launch: which template, its comptime descriptors, and how a row's buffers
/// split into its sequences.
#[derive(Clone, Copy, Debug)]
pub struct Template {
    /// Launches a row of this template in the compute type it was made for.
    pub launcher: Launcher,
    /// The template and its descriptors.
    pub descriptor: Descriptor,
}

/// A template and its descriptors (see [`Template`]).
#[derive(Clone, Copy, Debug)]
pub enum Descriptor {
    /// The pointwise template: `[vector inputs, scalar inputs, label inputs]`, then outputs.
    Pointwise([usize; 3], Program),
    /// The reduction template: `[vector inputs, scalar inputs, label inputs, vector outputs]`,
    /// then single element outputs.
    Reduce([usize; 4], Reduction),
    /// The phased template: `[vector inputs, scalar inputs, label inputs]`, then outputs.
    Phased([usize; 3], Phases),
    /// The fold template: `[vector inputs, scalar inputs]`, then its output.
    Fold([usize; 2], FoldLayout),
    /// The NT product template: its two operands, `[vector inputs, scalar inputs, vector
    /// outputs]`, then row outputs.
    ProductNt([usize; 3], NtTiling, Epilogue, Epilogue),
    /// The NN product template, as `ProductNt`.
    ProductNn([usize; 3], NnTiling, Epilogue, Epilogue),
}

impl Template {
    /// The pointwise template running `program` in `F`.
    pub const fn pointwise<F: Float + CubeElement>(counts: [usize; 3], program: Program) -> Template {
        Template { launcher: run::<F>, descriptor: Descriptor::Pointwise(counts, program) }
    }

    /// The reduction template running `reduction` in `F`.
    pub const fn reduce<F: Float + CubeElement>(counts: [usize; 4], reduction: Reduction) -> Template {
        Template { launcher: run::<F>, descriptor: Descriptor::Reduce(counts, reduction) }
    }

    /// The phased template running `phases` in `F`.
    pub const fn phased<F: Float + CubeElement>(counts: [usize; 3], phases: Phases) -> Template {
        Template { launcher: run::<F>, descriptor: Descriptor::Phased(counts, phases) }
    }

    /// The fold template running `layout` in `F`.
    pub const fn fold<F: Float + CubeElement>(counts: [usize; 2], layout: FoldLayout) -> Template {
        Template { launcher: run::<F>, descriptor: Descriptor::Fold(counts, layout) }
    }

    /// The NT product template with `tiling` and its epilogues, in `F`.
    pub const fn product_nt<F: Float + CubeElement>(
        counts: [usize; 3],
        tiling: NtTiling,
        epilogue: Epilogue,
        row_epilogue: Epilogue,
    ) -> Template {
        Template { launcher: run::<F>, descriptor: Descriptor::ProductNt(counts, tiling, epilogue, row_epilogue) }
    }

    /// The NN product template with `tiling` and its epilogues, in `F`.
    pub const fn product_nn<F: Float + CubeElement>(
        counts: [usize; 3],
        tiling: NnTiling,
        epilogue: Epilogue,
        row_epilogue: Epilogue,
    ) -> Template {
        Template { launcher: run::<F>, descriptor: Descriptor::ProductNn(counts, tiling, epilogue, row_epilogue) }
    }
}

/// Launches row `l`'s template (a [`Launcher`]).
///
/// # Safety
/// The row's buffers must be those its template's descriptors were written for, with their
/// planned lengths.
unsafe fn run<F: Float + CubeElement>(a: &Arena, l: &Launch, count: CubeCount, dim: CubeDim) {
    let template = l.template.expect("a template's row names its template");
    // SAFETY: the caller's.
    unsafe {
        match template.descriptor {
            Descriptor::Pointwise(counts, program) => pointwise::<F>(a, l, count, dim, counts, program),
            Descriptor::Reduce(counts, reduction) => reduce::<F>(a, l, count, dim, counts, reduction),
            Descriptor::Phased(counts, phases) => phased::<F>(a, l, count, dim, counts, phases),
            Descriptor::Fold(counts, layout) => fold::<F>(a, l, count, dim, counts, layout),
            Descriptor::ProductNt(counts, tiling, epilogue, row) => {
                product_nt::<F>(a, l, count, dim, (counts, tiling, epilogue, row))
            }
            Descriptor::ProductNn(counts, tiling, epilogue, row) => {
                product_nn::<F>(a, l, count, dim, (counts, tiling, epilogue, row))
            }
        }
    }
}

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
/// vector inputs, `counts[1]` scalar inputs, `counts[2]` label inputs, then the outputs.
///
/// # Safety
/// The row's buffers must be those the descriptors were written for, with their planned
/// lengths.
unsafe fn pointwise<F: Float + CubeElement>(
    a: &Arena,
    l: &Launch,
    count: CubeCount,
    dim: CubeDim,
    counts: [usize; 3],
    program: Program,
) {
    let ([vectors, scalars, labels], outputs) = split(l, 0, counts);
    let (vectors, scalars, labels) = (l.args(a, vectors), l.args(a, scalars), l.args(a, labels));
    // SAFETY: the caller's.
    unsafe {
        steps::pointwise::launch_unchecked::<F>(
            a.client(),
            count,
            dim,
            l.sizes[0],
            vectors.collect(),
            scalars.collect(),
            labels.collect(),
            l.args(a, outputs).collect(),
            program,
        )
    };
}

/// Launches the reduction template running `reduction`: the row's buffers are `counts[0]`
/// vector inputs, `counts[1]` scalar inputs, `counts[2]` label inputs, `counts[3]` vector
/// outputs, then the single element outputs.
///
/// # Safety
/// The row's buffers must be those the descriptors were written for, with their planned
/// lengths.
unsafe fn reduce<F: Float + CubeElement>(
    a: &Arena,
    l: &Launch,
    count: CubeCount,
    dim: CubeDim,
    counts: [usize; 4],
    reduction: Reduction,
) {
    let ([vectors, scalars, labels, outputs], row_outputs) = split(l, 0, counts);
    // SAFETY: the caller's.
    unsafe {
        reduction::reduce::launch_unchecked::<F>(
            a.client(),
            count,
            dim,
            l.sizes[0],
            l.args(a, vectors).collect(),
            l.args(a, scalars).collect(),
            l.args(a, labels).collect(),
            l.args(a, outputs).collect(),
            l.args(a, row_outputs).collect(),
            reduction,
        )
    };
}

/// Launches the phased template running `phases` on one cube: the row's buffers are
/// `counts[0]` vector inputs, `counts[1]` scalar inputs, `counts[2]` label inputs, then the
/// outputs.
///
/// # Safety
/// The row's buffers must be those the descriptors were written for, with their planned
/// lengths.
unsafe fn phased<F: Float + CubeElement>(
    a: &Arena,
    l: &Launch,
    count: CubeCount,
    dim: CubeDim,
    counts: [usize; 3],
    phases: Phases,
) {
    let ([vectors, scalars, labels], outputs) = split(l, 0, counts);
    // SAFETY: the caller's.
    unsafe {
        phases::phased::launch_unchecked::<F>(
            a.client(),
            count,
            dim,
            l.sizes[0],
            l.args(a, vectors).collect(),
            l.args(a, scalars).collect(),
            l.args(a, labels).collect(),
            l.args(a, outputs).collect(),
            phases,
            a.host_memory(),
        )
    };
}

/// Launches the fold template running `layout`: the row's buffers are `counts[0]` vector
/// inputs, `counts[1]` scalar inputs, then the output.
///
/// # Safety
/// The row's buffers must be those the descriptors were written for, with their planned
/// lengths.
unsafe fn fold<F: Float + CubeElement>(
    a: &Arena,
    l: &Launch,
    count: CubeCount,
    dim: CubeDim,
    counts: [usize; 2],
    layout: FoldLayout,
) {
    let ([vectors, scalars], outputs) = split(l, 0, counts);
    // SAFETY: the caller's.
    unsafe {
        window::fold::launch_unchecked::<F>(
            a.client(),
            count,
            dim,
            l.sizes[0],
            l.args(a, vectors).collect(),
            l.args(a, scalars).collect(),
            l.args(a, outputs).collect(),
            layout,
        )
    };
}

/// Launches the NT product template with `tiling` and its epilogues: the row's buffers are the
/// two operands, `counts[0]` vector inputs, `counts[1]` scalar inputs, `counts[2]` vector
/// outputs, then the row outputs.
///
/// # Safety
/// The row's buffers must be those the descriptors were written for, with their planned
/// lengths.
unsafe fn product_nt<F: Float + CubeElement>(
    a: &Arena,
    l: &Launch,
    count: CubeCount,
    dim: CubeDim,
    (counts, tiling, epilogue, row_epilogue): ([usize; 3], NtTiling, Epilogue, Epilogue),
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
/// The row's buffers must be those the descriptors were written for, with their planned
/// lengths.
unsafe fn product_nn<F: Float + CubeElement>(
    a: &Arena,
    l: &Launch,
    count: CubeCount,
    dim: CubeDim,
    (counts, tiling, epilogue, row_epilogue): ([usize; 3], NnTiling, Epilogue, Epilogue),
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

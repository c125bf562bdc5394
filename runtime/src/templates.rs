//! The kernel library's templates (`kiln_kernels::steps::pointwise`, `reduction::reduce`,
//! `phases::phased`, `window::fold`, `product::product_nt` and `product_nn`) as a launch
//! plan's data. A generated file writes
//! each distinct template launch as a [`Template`] constant: the template, its comptime
//! descriptors, and how many of a row's buffers each of its sequences takes (all but the last,
//! which takes the rest); a plan row names the constant ([`Launch::of`]). Each class of
//! buffers (vector inputs, scalar inputs, outputs, row outputs) is two sequences: those in the
//! compute type `F`, then those in the half type `Half` that a mixed-precision program stores
//! its intermediates in (`Half = F` elsewhere, and those sequences are empty).

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
    /// Launches a row of this template in the types it was made for.
    pub launcher: Launcher,
    /// The template and its descriptors.
    pub descriptor: Descriptor,
}

/// A template and its descriptors (see [`Template`]). "Inputs" and "outputs" are each a class
/// of two sequences, in `F` and in `Half`.
#[derive(Clone, Copy, Debug)]
pub enum Descriptor {
    /// The pointwise template: `[vector inputs (2), scalar inputs (2), label inputs, outputs
    /// in F]`, then outputs in `Half`.
    Pointwise([usize; 6], Program),
    /// The reduction template: `[vector inputs (2), scalar inputs (2), label inputs, vector
    /// outputs (2), single element outputs in F]`, then single element outputs in `Half`.
    Reduce([usize; 8], Reduction),
    /// The phased template, as `Pointwise`.
    Phased([usize; 6], Phases),
    /// The fold template: `[vector inputs (2), scalar inputs (2), output in F]`, then its
    /// output in `Half`.
    Fold([usize; 5], FoldLayout),
    /// The NT product template: its two operands, `[vector inputs (2), scalar inputs (2),
    /// vector outputs (2), row outputs in F]`, then row outputs in `Half`.
    ProductNt([usize; 7], NtTiling, Epilogue, Epilogue),
    /// The NN product template, as `ProductNt`.
    ProductNn([usize; 7], NnTiling, Epilogue, Epilogue),
}

impl Template {
    /// The pointwise template running `program` in `F`, storing halves in `Half`.
    pub const fn pointwise<F: Element, Half: Element>(counts: [usize; 6], program: Program) -> Template {
        Template { launcher: run::<F, F, F, Half>, descriptor: Descriptor::Pointwise(counts, program) }
    }

    /// The reduction template running `reduction` in `F`, storing halves in `Half`.
    pub const fn reduce<F: Element, Half: Element>(counts: [usize; 8], reduction: Reduction) -> Template {
        Template { launcher: run::<F, F, F, Half>, descriptor: Descriptor::Reduce(counts, reduction) }
    }

    /// The phased template running `phases` in `F`, storing halves in `Half`.
    pub const fn phased<F: Element, Half: Element>(counts: [usize; 6], phases: Phases) -> Template {
        Template { launcher: run::<F, F, F, Half>, descriptor: Descriptor::Phased(counts, phases) }
    }

    /// The fold template running `layout` in `F`, storing halves in `Half`.
    pub const fn fold<F: Element, Half: Element>(counts: [usize; 5], layout: FoldLayout) -> Template {
        Template { launcher: run::<F, F, F, Half>, descriptor: Descriptor::Fold(counts, layout) }
    }

    /// The NT product template with `tiling` and its epilogues, in `F`, of operands in `A` and
    /// `B`, storing halves in `Half`.
    pub const fn product_nt<F: Element, A: Element, B: Element, Half: Element>(
        counts: [usize; 7],
        tiling: NtTiling,
        epilogue: Epilogue,
        row_epilogue: Epilogue,
    ) -> Template {
        let descriptor = Descriptor::ProductNt(counts, tiling, epilogue, row_epilogue);
        Template { launcher: run::<F, A, B, Half>, descriptor }
    }

    /// The NN product template with `tiling` and its epilogues, as [`Template::product_nt`].
    pub const fn product_nn<F: Element, A: Element, B: Element, Half: Element>(
        counts: [usize; 7],
        tiling: NnTiling,
        epilogue: Epilogue,
        row_epilogue: Epilogue,
    ) -> Template {
        let descriptor = Descriptor::ProductNn(counts, tiling, epilogue, row_epilogue);
        Template { launcher: run::<F, A, B, Half>, descriptor }
    }
}

/// A type a template computes or stores in.
pub trait Element: Float + CubeElement {}

impl<T: Float + CubeElement> Element for T {}

/// Launches row `l`'s template (a [`Launcher`]): products of operands in `A` and `B`, each
/// template computing in `F` and storing halves in `Half`.
///
/// # Safety
/// The row's buffers must be those its template's descriptors were written for, with their
/// planned lengths.
unsafe fn run<F: Element, A: Element, B: Element, Half: Element>(
    a: &Arena,
    l: &Launch,
    count: CubeCount,
    dim: CubeDim,
) {
    let template = l.template.expect("a template's row names its template");
    // SAFETY: the caller's.
    unsafe {
        match template.descriptor {
            Descriptor::Pointwise(counts, program) => pointwise::<F, Half>(a, l, count, dim, counts, program),
            Descriptor::Reduce(counts, reduction) => reduce::<F, Half>(a, l, count, dim, counts, reduction),
            Descriptor::Phased(counts, phases) => phased::<F, Half>(a, l, count, dim, counts, phases),
            Descriptor::Fold(counts, layout) => fold::<F, Half>(a, l, count, dim, counts, layout),
            Descriptor::ProductNt(counts, tiling, epilogue, row) => {
                product_nt::<F, A, B, Half>(a, l, count, dim, (counts, tiling, epilogue, row))
            }
            Descriptor::ProductNn(counts, tiling, epilogue, row) => {
                product_nn::<F, A, B, Half>(a, l, count, dim, (counts, tiling, epilogue, row))
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

/// Launches the pointwise template running `program` (see [`Descriptor::Pointwise`] for the
/// row's buffers).
///
/// # Safety
/// The row's buffers must be those the descriptors were written for, with their planned
/// lengths.
unsafe fn pointwise<F: Element, Half: Element>(
    a: &Arena,
    l: &Launch,
    count: CubeCount,
    dim: CubeDim,
    counts: [usize; 6],
    program: Program,
) {
    let ([vectors, halves, scalars, half_scalars, labels, outputs], half_outputs) = split(l, 0, counts);
    // SAFETY: the caller's.
    unsafe {
        steps::pointwise::launch_unchecked::<F, Half>(
            a.client(),
            count,
            dim,
            l.sizes[0],
            l.args(a, vectors).collect(),
            l.args(a, halves).collect(),
            l.args(a, scalars).collect(),
            l.args(a, half_scalars).collect(),
            l.args(a, labels).collect(),
            l.args(a, outputs).collect(),
            l.args(a, half_outputs).collect(),
            program,
        )
    };
}

/// Launches the reduction template running `reduction` (see [`Descriptor::Reduce`] for the
/// row's buffers).
///
/// # Safety
/// The row's buffers must be those the descriptors were written for, with their planned
/// lengths.
unsafe fn reduce<F: Element, Half: Element>(
    a: &Arena,
    l: &Launch,
    count: CubeCount,
    dim: CubeDim,
    counts: [usize; 8],
    reduction: Reduction,
) {
    let ([vectors, halves, scalars, half_scalars, labels, outputs, half_outputs, row_outputs], half_row_outputs) =
        split(l, 0, counts);
    // SAFETY: the caller's.
    unsafe {
        reduction::reduce::launch_unchecked::<F, Half>(
            a.client(),
            count,
            dim,
            l.sizes[0],
            l.args(a, vectors).collect(),
            l.args(a, halves).collect(),
            l.args(a, scalars).collect(),
            l.args(a, half_scalars).collect(),
            l.args(a, labels).collect(),
            l.args(a, outputs).collect(),
            l.args(a, half_outputs).collect(),
            l.args(a, row_outputs).collect(),
            l.args(a, half_row_outputs).collect(),
            reduction,
        )
    };
}

/// Launches the phased template running `phases` on one cube (see [`Descriptor::Phased`] for
/// the row's buffers).
///
/// # Safety
/// The row's buffers must be those the descriptors were written for, with their planned
/// lengths.
unsafe fn phased<F: Element, Half: Element>(
    a: &Arena,
    l: &Launch,
    count: CubeCount,
    dim: CubeDim,
    counts: [usize; 6],
    phases: Phases,
) {
    let ([vectors, halves, scalars, half_scalars, labels, outputs], half_outputs) = split(l, 0, counts);
    // SAFETY: the caller's.
    unsafe {
        phases::phased::launch_unchecked::<F, Half>(
            a.client(),
            count,
            dim,
            l.sizes[0],
            l.args(a, vectors).collect(),
            l.args(a, halves).collect(),
            l.args(a, scalars).collect(),
            l.args(a, half_scalars).collect(),
            l.args(a, labels).collect(),
            l.args(a, outputs).collect(),
            l.args(a, half_outputs).collect(),
            phases,
            a.host_memory(),
        )
    };
}

/// Launches the fold template running `layout` (see [`Descriptor::Fold`] for the row's
/// buffers).
///
/// # Safety
/// The row's buffers must be those the descriptors were written for, with their planned
/// lengths.
unsafe fn fold<F: Element, Half: Element>(
    a: &Arena,
    l: &Launch,
    count: CubeCount,
    dim: CubeDim,
    counts: [usize; 5],
    layout: FoldLayout,
) {
    let ([vectors, halves, scalars, half_scalars, outputs], half_outputs) = split(l, 0, counts);
    // SAFETY: the caller's.
    unsafe {
        window::fold::launch_unchecked::<F, Half>(
            a.client(),
            count,
            dim,
            l.sizes[0],
            l.args(a, vectors).collect(),
            l.args(a, halves).collect(),
            l.args(a, scalars).collect(),
            l.args(a, half_scalars).collect(),
            l.args(a, outputs).collect(),
            l.args(a, half_outputs).collect(),
            layout,
        )
    };
}

/// Launches the NT product template with `tiling` and its epilogues (see
/// [`Descriptor::ProductNt`] for the row's buffers).
///
/// # Safety
/// The row's buffers must be those the descriptors were written for, with their planned
/// lengths.
unsafe fn product_nt<F: Element, A: Element, B: Element, Half: Element>(
    a: &Arena,
    l: &Launch,
    count: CubeCount,
    dim: CubeDim,
    (counts, tiling, epilogue, row_epilogue): ([usize; 7], NtTiling, Epilogue, Epilogue),
) {
    let ([vectors, halves, scalars, half_scalars, outputs, half_outputs, row_outputs], half_row_outputs) =
        split(l, 2, counts);
    // SAFETY: the caller's.
    unsafe {
        product::product_nt::launch_unchecked::<F, A, B, Half>(
            a.client(),
            count,
            dim,
            l.sizes[0],
            l.sizes[1],
            l.arg(a, 0),
            l.arg(a, 1),
            l.args(a, vectors).collect(),
            l.args(a, halves).collect(),
            l.args(a, scalars).collect(),
            l.args(a, half_scalars).collect(),
            l.args(a, outputs).collect(),
            l.args(a, half_outputs).collect(),
            l.args(a, row_outputs).collect(),
            l.args(a, half_row_outputs).collect(),
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
unsafe fn product_nn<F: Element, A: Element, B: Element, Half: Element>(
    a: &Arena,
    l: &Launch,
    count: CubeCount,
    dim: CubeDim,
    (counts, tiling, epilogue, row_epilogue): ([usize; 7], NnTiling, Epilogue, Epilogue),
) {
    let ([vectors, halves, scalars, half_scalars, outputs, half_outputs, row_outputs], half_row_outputs) =
        split(l, 2, counts);
    // SAFETY: the caller's.
    unsafe {
        product::product_nn::launch_unchecked::<F, A, B, Half>(
            a.client(),
            count,
            dim,
            l.sizes[0],
            l.arg(a, 0),
            l.arg(a, 1),
            l.args(a, vectors).collect(),
            l.args(a, halves).collect(),
            l.args(a, scalars).collect(),
            l.args(a, half_scalars).collect(),
            l.args(a, outputs).collect(),
            l.args(a, half_outputs).collect(),
            l.args(a, row_outputs).collect(),
            l.args(a, half_row_outputs).collect(),
            a.claims(),
            tiling,
            epilogue,
            row_epilogue,
            a.host_memory(),
        )
    };
}

//! The reduction template: each unit reduces its chunk of output indices, one loop per
//! reduction over the reduced elements, then runs an epilogue on the loops' totals (storing
//! them, and any pointwise values of the output's shape computed from them). A loop's body
//! is a comptime list of [`Step`]s, the fused producers of what it reduces; a later loop may
//! read an earlier one's total (a variance after its mean) as [`Step::Acc`].
//!
//! Loop bodies read through gathers (see `crate::steps::Axes`) whose first axes run over
//! the output element and whose second run over the reduced element: their offsets in the
//! buffer add up, and the first part is the same on every trip.

// `#[cube]` generates a launch module and a kernel struct per function, without docs.
#![allow(missing_docs)]

use crate::lanes::{lane_max, lane_sum};
use crate::steps::{run_row_steps, run_steps, Step};
use cubecl::prelude::*;

/// How a loop combines the values it reduces.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Combine {
    /// Their sum.
    Sum,
    /// Their largest.
    Max,
}

/// One loop of a [`Reduction`]: what each trip computes, and which of its values (numbered
/// as [`Step`] numbers them) the loop combines.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Loop {
    pub combine: Combine,
    pub value: usize,
    pub steps: &'static [Step],
}

/// A reduction over `work` output indices, each `trips` trips of every loop long, on vectors
/// of `lanes` (the launch's vector width). `across_lanes`: a trip reads a vector of reduced elements, which the loop reduces across
/// its lanes at the end, and each index is one output element (the epilogue is then a row
/// program, see `crate::product`, storing single elements); otherwise a trip reads one
/// reduced element for a vector of output elements, and each index is a vector.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Reduction {
    pub work: usize,
    pub trips: usize,
    pub lanes: usize,
    pub across_lanes: bool,
    pub loops: &'static [Loop],
    pub epilogue: &'static [Step],
}

/// Runs `reduction` for every output index, each unit over a contiguous chunk of them: the
/// loops read `vectors`, `scalars` and class `labels`; the epilogue stores `outputs` (vectors)
/// or, across lanes, `row_outputs` (elements), at the index. Each class of buffers but the
/// labels has a twin in the half type `Half` (see `crate::steps::read`).
// `work` is comptime and `units` a runtime value: CubeCL has no `div_ceil` of the two.
#[allow(clippy::manual_div_ceil, clippy::too_many_arguments)]
#[cube(launch_unchecked)]
pub fn reduce<F: Float, Half: Float, N: Size>(
    vectors: &Sequence<Box<[Vector<F, N>]>>,
    halves: &Sequence<Box<[Vector<Half, N>]>>,
    scalars: &Sequence<Box<[F]>>,
    half_scalars: &Sequence<Box<[Half]>>,
    labels: &Sequence<Box<[u32]>>,
    outputs: &mut Sequence<Box<[Vector<F, N>]>>,
    half_outputs: &mut Sequence<Box<[Vector<Half, N>]>>,
    row_outputs: &mut Sequence<Box<[F]>>,
    half_row_outputs: &mut Sequence<Box<[Half]>>,
    #[comptime] reduction: Reduction,
) {
    let work = reduction.work;
    let units = CUBE_COUNT * usize::cast_from(CUBE_DIM);
    let chunk = (work + units - 1) / units;
    let start = ABSOLUTE_POS * chunk;
    for i in start..start + chunk {
        if i < work {
            let totals = loop_totals::<F, Half, N>(
                vectors,
                halves,
                scalars,
                half_scalars,
                labels,
                outputs,
                half_outputs,
                i,
                reduction,
            );
            if reduction.across_lanes {
                run_row_steps::<F, Half, N>(
                    scalars,
                    half_scalars,
                    row_outputs,
                    half_row_outputs,
                    i,
                    &totals,
                    reduction.epilogue,
                );
            } else {
                let e = i * reduction.lanes;
                run_steps::<F, Half, N>(
                    vectors,
                    halves,
                    scalars,
                    half_scalars,
                    labels,
                    outputs,
                    half_outputs,
                    i,
                    e,
                    0,
                    &totals,
                    reduction.epilogue,
                );
            }
        }
    }
}

/// The totals of `reduction`'s loops at output index `i`, in order.
#[allow(clippy::too_many_arguments)]
#[cube]
pub(crate) fn loop_totals<F: Float, Half: Float, N: Size>(
    vectors: &Sequence<Box<[Vector<F, N>]>>,
    halves: &Sequence<Box<[Vector<Half, N>]>>,
    scalars: &Sequence<Box<[F]>>,
    half_scalars: &Sequence<Box<[Half]>>,
    labels: &Sequence<Box<[u32]>>,
    outputs: &mut Sequence<Box<[Vector<F, N>]>>,
    half_outputs: &mut Sequence<Box<[Vector<Half, N>]>>,
    i: usize,
    #[comptime] reduction: Reduction,
) -> Sequence<Vector<F, N>> {
    let Reduction { trips, lanes, across_lanes, .. } = reduction;
    // Output elements per index, and reduced elements per trip.
    let (width, step) = comptime!(if across_lanes { (1, lanes) } else { (lanes, 1) });
    let e = i * width;
    let mut totals = Sequence::<Vector<F, N>>::new();
    #[unroll]
    for l in 0..reduction.loops.len() {
        let body = comptime!(reduction.loops[l]);
        let mut acc = match body.combine {
            Combine::Sum => Vector::<F, N>::new(F::new(0.0)),
            Combine::Max => Vector::<F, N>::min_value(),
        };
        for r in 0..trips {
            let values = run_steps::<F, Half, N>(
                vectors,
                halves,
                scalars,
                half_scalars,
                labels,
                outputs,
                half_outputs,
                i,
                e,
                r * step,
                &totals,
                body.steps,
            );
            let value = *values.index(body.value);
            acc = match body.combine {
                Combine::Sum => acc + value,
                Combine::Max => <Vector<F, N> as FloatOps>::max(acc, value),
            };
        }
        if across_lanes {
            acc = match body.combine {
                Combine::Sum => Vector::new(lane_sum::<F, N>(acc, lanes)),
                Combine::Max => Vector::new(lane_max::<F, N>(acc, lanes)),
            };
        }
        totals.push(acc);
    }
    totals
}

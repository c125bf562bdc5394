//! The phased template: one cube runs a comptime list of phases, pointwise chains and
//! reductions, each split over the cube's units, which meet between phases; a phase may read
//! what an earlier one stored at any index ([`crate::steps::Step::GatherOutput`]). So a chain
//! of small kernels (a loss, its gradient, a bias gradient) costs one launch, and no core
//! waits while another runs one alone.

// `#[cube]` generates a launch module and a kernel struct per function, without docs.
#![allow(missing_docs)]

use crate::reduction::{loop_totals, Reduction};
use crate::steps::{run_steps, Segment};
use cubecl::prelude::*;

/// One phase of a [`Phases`] list.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Phase {
    /// A pointwise chain over `work` indices (one lane each), as the pointwise template runs
    /// a segment.
    Pointwise(Segment),
    /// A reduction over `work` output indices, as the reduction template runs it (one lane,
    /// not across lanes).
    Reduce(Reduction),
}

/// The phases of a phased kernel, in order.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Phases(pub &'static [Phase]);

/// Runs `phases` in order on one cube: each unit takes a contiguous share of a phase's
/// indices, and every unit finishes a phase before any starts the next. Reads `vectors`,
/// `scalars` and class `labels`, and stores `outputs`, with their half twins, as the
/// pointwise template does.
#[allow(clippy::too_many_arguments)]
#[cube(launch_unchecked)]
pub fn phased<F: Float, Half: Float, N: Size>(
    vectors: &Sequence<Box<[Vector<F, N>]>>,
    halves: &Sequence<Box<[Vector<Half, N>]>>,
    scalars: &Sequence<Box<[F]>>,
    half_scalars: &Sequence<Box<[Half]>>,
    labels: &Sequence<Box<[u32]>>,
    outputs: &mut Sequence<Box<[Vector<F, N>]>>,
    half_outputs: &mut Sequence<Box<[Vector<Half, N>]>>,
    #[comptime] phases: Phases,
    #[comptime] host_memory: bool,
) {
    let unit = usize::cast_from(UNIT_POS);
    let units = usize::cast_from(CUBE_DIM);
    let none = Sequence::new();
    #[unroll]
    for p in 0..phases.0.len() {
        if comptime!(p > 0) {
            sync_units(host_memory);
        }
        match comptime!(phases.0[p]) {
            Phase::Pointwise(segment) => {
                let work = comptime!(segment.work);
                for i in work * unit / units..work * (unit + 1) / units {
                    run_steps::<F, Half, N>(
                        vectors,
                        halves,
                        scalars,
                        half_scalars,
                        labels,
                        outputs,
                        half_outputs,
                        i,
                        i,
                        0,
                        &none,
                        segment.steps,
                    );
                }
            }
            Phase::Reduce(reduction) => {
                let work = comptime!(reduction.work);
                for i in work * unit / units..work * (unit + 1) / units {
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
                    run_steps::<F, Half, N>(
                        vectors,
                        halves,
                        scalars,
                        half_scalars,
                        labels,
                        outputs,
                        half_outputs,
                        i,
                        i,
                        0,
                        &totals,
                        reduction.epilogue,
                    );
                }
            }
        }
    }
}

/// Waits until every unit of the cube gets here, with what each stored before it visible to
/// all. `host_memory`: the CPU runtime, whose cube barrier orders all memory and which has no
/// storage barrier; elsewhere a cube barrier orders only shared memory, so this is the storage
/// barrier.
#[cube]
pub fn sync_units(#[comptime] host_memory: bool) {
    if host_memory {
        sync_cube();
    } else {
        sync_storage();
    }
}

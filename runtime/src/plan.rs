//! Launch plans: an entry point's kernels as data. The compiler writes each entry point as a
//! table of [`Launch`] rows (which kernel, how its work is spread, its vector widths, the arena
//! buffers it takes), one small launcher per signature of a kernel it wrote, and one
//! [`Template`] constant per distinct launch of a library template; [`Arena::run`] walks the
//! table. So a model's launch code grows by one row per launch, not by a block of Rust.

use crate::profile::Profile;
use crate::templates::Template;
use crate::Arena;
use cubecl::prelude::*;
use std::ops::Range;

/// Kernels a plan launches between waits for the CPU runtime's queue: its speed falls with
/// the queue's depth (`step_time reverser`, 738 launches a step: 298 ms with no waits, 8 to
/// 11 ms waiting every 16 launches; best between 16 and 24; see docs/performance.md).
const LAUNCHES_PER_DRAIN: usize = 16;

/// How a launch's units cover its work of `usize` indices or tiles.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Grid {
    /// One unit per index or tile.
    PerIndex(usize),
    /// Each unit loops over a contiguous chunk of the indices.
    Chunked(usize),
    /// One cube, whose units split each phase and meet between phases.
    OneCube,
    /// One cube on the CPU runtime, whose units share the tiles out among themselves; one unit
    /// per tile elsewhere.
    Balanced(usize),
}

/// Launches one kernel with a row's vector widths and buffers, on the cubes given. Generated:
/// one per kernel signature.
///
/// # Safety
/// The row's buffers must be those the kernel was compiled for, with their planned lengths.
pub type Launcher = unsafe fn(&Arena, &Launch, CubeCount, CubeDim);

/// One row of a launch plan.
pub struct Launch {
    /// The kernel's launcher.
    pub launcher: Launcher,
    /// How its units cover its work.
    pub grid: Grid,
    /// Its `Size` arguments: the vector width, then a product operand's lanes where it has them.
    pub sizes: &'static [usize],
    /// Its buffer arguments in order: arena slot and length (in vectors for vector arguments).
    pub buffers: &'static [(usize, usize)],
    /// What it computes, for the profile table (`KILN_PROFILE`).
    pub label: &'static str,
    /// The template it launches, where `launcher` is a template's.
    pub template: Option<&'static Template>,
}

impl Launch {
    /// A plan row (positional, so that a generated plan stays one short line per launch).
    pub const fn new(
        launcher: Launcher,
        grid: Grid,
        sizes: &'static [usize],
        buffers: &'static [(usize, usize)],
        label: &'static str,
    ) -> Launch {
        Launch { launcher, grid, sizes, buffers, label, template: None }
    }

    /// A plan row launching `template`.
    pub const fn of(
        template: &'static Template,
        grid: Grid,
        sizes: &'static [usize],
        buffers: &'static [(usize, usize)],
        label: &'static str,
    ) -> Launch {
        Launch { launcher: template.launcher, grid, sizes, buffers, label, template: Some(template) }
    }

    /// Buffer argument `i` of this launch in `arena`.
    pub fn arg(&self, arena: &Arena, i: usize) -> BufferArg {
        let (slot, len) = self.buffers[i];
        arena.arg(slot, len)
    }

    /// Buffer arguments `range` of this launch in `arena`: a template's `Sequence` argument.
    pub fn args<'a>(&'a self, arena: &'a Arena, range: Range<usize>) -> impl Iterator<Item = BufferArg> + 'a {
        range.map(move |i| self.arg(arena, i))
    }
}

impl Arena {
    /// Launches `plan`'s kernels in order, waiting for the CPU runtime's queue every
    /// [`LAUNCHES_PER_DRAIN`] launches, and times each under `model` when `KILN_PROFILE` is
    /// set (see [`crate::profile`]).
    ///
    /// # Safety
    /// Every row must come from the plan the compiler wrote for this arena's memory plan.
    pub unsafe fn run(&self, model: &str, plan: &[Launch]) {
        let client = self.client();
        let mut profile = Profile::start(client);
        for (launched, launch) in plan.iter().enumerate() {
            if launched > 0 && launched % LAUNCHES_PER_DRAIN == 0 {
                self.drain_queue();
            }
            let (count, dim) = match launch.grid {
                Grid::PerIndex(work) => self.grid(work),
                Grid::Chunked(work) => self.chunked_grid(work),
                Grid::OneCube => self.one_cube(),
                Grid::Balanced(work) => self.balanced_grid(work),
            };
            for _ in 0..profile.launches() {
                // SAFETY: the caller vouches for the row.
                unsafe { (launch.launcher)(self, launch, count.clone(), dim) };
            }
            profile.lap(client, model, launch.label);
        }
    }
}

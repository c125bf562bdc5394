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

/// A stepped loop: kernels launched once per step, some of whose buffers are windows that
/// move from step to step.
pub struct Repeat {
    /// The trip count.
    pub steps: usize,
    /// Whether step `i` works on slice `steps - 1 - i`.
    pub reverse: bool,
    /// The arena slot of the sequence lengths whose longest row is the number of steps run
    /// (at most `steps`), if the loop's steps past each row's length change nothing but
    /// stacked zeros: the stacked outputs get zeros at the slices of the steps not run.
    pub trips: Option<usize>,
    /// The buffers that move, placed before each step's launches.
    pub windows: &'static [Window],
    /// The kernels of one step.
    pub plan: &'static [Launch],
}

/// A buffer of a stepped loop that moves between steps.
pub struct Window {
    /// Its arena slot.
    pub slot: usize,
    /// Where it is at each step.
    pub rule: Rule,
}

/// Where a [`Window`] is at a step.
pub enum Rule {
    /// The step's slice of another buffer.
    Slice {
        /// The buffer sliced.
        of: usize,
        /// 4-byte units from one slice to the next.
        stride: usize,
        /// Whether the loop writes it (a stacked output), as opposed to reading it.
        stacked: bool,
    },
    /// A carry's output: its own place and another buffer's in turn, ending in the other's.
    Alternate {
        /// The buffer the last step writes: the carry's final value.
        last: usize,
    },
    /// A carry's input: its first value, then where the carry's output was the step before.
    Carried {
        /// The buffer holding the carry before the first step.
        init: usize,
        /// The carry's output (an [`Rule::Alternate`] window).
        next: usize,
        /// The buffer `next` alternates with.
        last: usize,
    },
}

impl Window {
    /// Slot `slot` at the step's slice of slot `of`, slices `stride` units apart.
    pub const fn slice(slot: usize, of: usize, stride: usize) -> Window {
        Window { slot, rule: Rule::Slice { of, stride, stacked: false } }
    }

    /// Slot `slot`, which the loop writes, at the step's slice of slot `of` (a stacked output),
    /// slices `stride` units apart.
    pub const fn stacked(slot: usize, of: usize, stride: usize) -> Window {
        Window { slot, rule: Rule::Slice { of, stride, stacked: true } }
    }

    /// Slot `slot` at its own place and `last`'s in turn.
    pub const fn alternate(slot: usize, last: usize) -> Window {
        Window { slot, rule: Rule::Alternate { last } }
    }

    /// Slot `slot` at `init` first, then where `next` (alternating with `last`) was.
    pub const fn carried(slot: usize, init: usize, next: usize, last: usize) -> Window {
        Window { slot, rule: Rule::Carried { init, next, last } }
    }

    /// Its offset in `arena` at step `step` of `steps`, in 4-byte units.
    fn offset(&self, arena: &Arena, step: usize, steps: usize, reverse: bool) -> usize {
        // An output alternates so that the last step writes `last`.
        let alternate = |slot: usize, last: usize, step: usize| match (steps - 1 - step) % 2 {
            0 => arena.offset(last),
            _ => arena.offset(slot),
        };
        match self.rule {
            Rule::Slice { of, stride, .. } => {
                let index = if reverse { steps - 1 - step } else { step };
                arena.offset(of) + index * stride
            }
            Rule::Alternate { last } => alternate(self.slot, last, step),
            Rule::Carried { init, .. } if step == 0 => arena.offset(init),
            Rule::Carried { next, last, .. } => alternate(next, last, step - 1),
        }
    }
}

impl Arena {
    /// Launches `plan`'s kernels in order, waiting for the CPU runtime's queue every
    /// [`LAUNCHES_PER_DRAIN`] launches, and times each under `model` when `KILN_PROFILE` is
    /// set (see [`crate::profile`]). On the CPU runtime, runs after the first replay what the
    /// first dispatched (see [`crate::replay`]).
    ///
    /// # Safety
    /// Every row must come from the plan the compiler wrote for this arena's memory plan.
    pub unsafe fn run(&self, model: &str, plan: &[Launch]) {
        let host_memory = self.host_memory();
        // SAFETY: the plan's rows name the arena's buffers at their planned places.
        unsafe {
            self.replays().run(plan.as_ptr() as usize, plan.len(), LAUNCHES_PER_DRAIN, host_memory, || {
                let mut profile = Profile::start(self.client());
                for (launched, launch) in plan.iter().enumerate() {
                    // SAFETY: the caller vouches for the row.
                    self.launch(model, launch, launched, &mut profile);
                }
            })
        }
    }

    /// Launches `repeat`'s kernels once per step it runs (see [`Repeat::trips`]), with its
    /// windows placed for the step, and then puts the windows back where the memory plan has
    /// them. Slices are numbered from the first step of the sequence whatever the number run,
    /// so a reverse loop starts at the longest row's last step.
    ///
    /// # Safety
    /// As for [`Arena::run`]: the loop must be one the compiler wrote for this arena.
    pub unsafe fn repeat(&self, model: &str, repeat: &Repeat) {
        let trips = repeat.trips.map_or(repeat.steps, |slot| self.longest(slot).clamp(1, repeat.steps));
        let (address, launches) = (repeat as *const Repeat as usize, trips * repeat.plan.len());
        let host_memory = self.host_memory();
        // SAFETY: with the same trip count, every run places the windows the same way.
        unsafe {
            self.replays().run(address, launches, LAUNCHES_PER_DRAIN, host_memory, || {
                let mut profile = Profile::start(self.client());
                let mut launched = 0;
                for step in 0..trips {
                    for window in repeat.windows {
                        self.place(window.slot, window.offset(self, step, trips, repeat.reverse));
                    }
                    for launch in repeat.plan {
                        // SAFETY: the caller vouches for the rows, and the windows lie where
                        // the compiler planned the step's buffers.
                        self.launch(model, launch, launched, &mut profile);
                        launched += 1;
                    }
                }
            })
        }
        // The slices of the steps not run hold zeros, as those steps would have stacked.
        for window in repeat.windows {
            if let Rule::Slice { of, stride, stacked: true } = window.rule {
                for index in trips..repeat.steps {
                    self.place(window.slot, self.offset(of) + index * stride);
                    self.zero(window.slot);
                }
            }
            self.restore(window.slot);
        }
    }

    /// Launches one row, the `launched`th of its plan, first waiting for the queue if
    /// [`LAUNCHES_PER_DRAIN`] have gone since the last wait.
    ///
    /// # Safety
    /// As for [`Arena::run`].
    unsafe fn launch(&self, model: &str, launch: &Launch, launched: usize, profile: &mut Profile) {
        if launched > 0 && launched.is_multiple_of(LAUNCHES_PER_DRAIN) {
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
        profile.lap(self.client(), model, launch.label);
    }
}

//! Stepped loops in launch plans: the run of an entry point's kernels that a stepped loop
//! launches once per step, and the windows that give its inputs and outputs each step's
//! buffers (see `lower::stepped_loops`).

use crate::ir::{Graph, Op, ValueId};
use crate::kernel::Kernel;
use crate::schedule::Entry;
use std::ops::Range;

/// A stepped loop in one entry point: kernels it launches each step, and their windows.
pub(crate) struct Repeat {
    /// The trip count.
    pub steps: usize,
    /// Whether step `i` works on slice `steps - 1 - i`.
    pub reverse: bool,
    /// The lengths whose longest row is the number of steps run, if the loop's trips follow
    /// them (see `ir::Loop::trips`).
    pub trips: Option<ValueId>,
    /// The kernels launched each step: a range of the entry point's.
    pub kernels: Range<usize>,
    /// The buffers that move between steps.
    pub windows: Vec<Window>,
}

/// A buffer a step's kernels read or write at a place that depends on the step.
pub(crate) struct Window {
    /// The value whose buffer moves.
    pub value: ValueId,
    /// Where it is at each step.
    pub rule: Rule,
}

/// Where a window is at a step.
pub(crate) enum Rule {
    /// The step's slice of buffer `of`: slice index `i` starts `i * elements` elements in.
    /// `stacked`: an output's, which holds zeros at the slices of steps not run.
    Slice { of: ValueId, elements: usize, stacked: bool },
    /// A carry's output: its own buffer and `last`'s in turn, so that a step never writes the
    /// buffer it reads the carry from, and the last step writes `last`.
    Alternate { last: ValueId },
    /// A carry's input: `init` at the first step, then where its output `next` (which
    /// alternates with `last`) was written the step before.
    Carried { init: ValueId, next: ValueId, last: ValueId },
}

/// The stepped loops among entry point `e`'s `kernels`, in launch order.
pub(crate) fn repeats(g: &Graph, e: &Entry, kernels: &[(ValueId, Kernel)]) -> Vec<Repeat> {
    let regions = &e.schedule.regions;
    let mut repeats = vec![];
    let mut start = 0;
    for run in kernels.chunk_by(|(a, _), (b, _)| regions[*a] == regions[*b]) {
        let kernels = start..start + run.len();
        start = kernels.end;
        let Some(id) = regions[run[0].0] else { continue };
        let live = |v: ValueId| e.schedule.roles[v].is_some();
        let mut windows = vec![];
        let mut stepping = None;
        for (v, node) in g.nodes.iter().enumerate().filter(|&(v, _)| live(v)) {
            let (Op::StepIn(a, s) | Op::StepOut(a, s)) = node.op else { continue };
            if s.id != id {
                continue;
            }
            stepping = Some(s);
            let is_input = matches!(node.op, Op::StepIn(..));
            windows.push(match (is_input, s.carry) {
                (true, None) => Window {
                    value: v,
                    rule: Rule::Slice { of: e.buffer_of(a), elements: g.shape(v).numel(), stacked: false },
                },
                (true, Some(k)) => {
                    let last = e.schedule.carry_outputs[&(id, k)];
                    let Op::StepOut(next, _) = g.nodes[last].op else { unreachable!("a carry's output") };
                    Window { value: v, rule: Rule::Carried { init: e.buffer_of(a), next, last } }
                }
                (false, None) => {
                    Window { value: a, rule: Rule::Slice { of: v, elements: g.shape(a).numel(), stacked: true } }
                }
                (false, Some(_)) => Window { value: a, rule: Rule::Alternate { last: v } },
            });
        }
        let s = stepping.expect("internal: a stepped loop's kernels read its inputs or write its outputs");
        repeats.push(Repeat { steps: s.steps, reverse: s.reverse, trips: s.trips, kernels, windows });
    }
    repeats
}

impl Repeat {
    /// The buffers whose space window `value`'s uses take, if it is one of this loop's.
    pub(crate) fn backing(&self, value: ValueId) -> Option<Vec<ValueId>> {
        let window = self.windows.iter().find(|w| w.value == value)?;
        Some(match window.rule {
            Rule::Slice { of, .. } => vec![of],
            Rule::Alternate { last } => vec![value, last],
            Rule::Carried { init, next, last } => vec![init, next, last],
        })
    }
}

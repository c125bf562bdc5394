//! Buffers and memory: which values own a buffer, which outlive an entry point, what element
//! type each stores ([`storage`]), and where each lives in the one arena ([`arena`]).

pub(crate) mod arena;
mod repeats;
pub(crate) mod storage;

pub(crate) use repeats::{repeats, Repeat, Rule, Window};

use crate::ir::{Op, ValueId};
use crate::kernel::Kernel;
use crate::program::Program;
use crate::schedule::Entry;
use std::collections::BTreeMap;
use storage::Storage;

/// The buffers of a generated file.
pub(crate) struct Buffers {
    /// Every value that owns a buffer in any entry point, numbered in value order.
    pub slots: BTreeMap<ValueId, usize>,
    /// The buffers that outlive one entry point: external tensors and every entry point's
    /// results.
    pub persistent: Vec<ValueId>,
    /// Each buffer's element type.
    pub storage: Storage,
}

/// The buffers `entries` compute into or read, with the frozen parameters' even where no
/// entry point reads them (they stay in the checkpoint).
pub(crate) fn buffers(p: &Program, entries: &[Entry]) -> Buffers {
    let mut slots: BTreeMap<ValueId, usize> = BTreeMap::new();
    for e in entries {
        for layout in e.schedule.layouts.iter().flatten() {
            slots.entry(layout.buffer).or_insert(0);
        }
    }
    for f in &p.frozen {
        slots.entry(f.value).or_insert(0);
    }
    for (i, slot) in slots.values_mut().enumerate() {
        *slot = i;
    }
    let mut persistent: Vec<ValueId> = entries.iter().flat_map(|e| e.roots.iter().map(|&r| e.buffer_of(r))).collect();
    let external =
        |v: &&ValueId| matches!(p.graph.nodes[**v].op, Op::Input { .. } | Op::Labels { .. } | Op::Param { .. });
    persistent.extend(slots.keys().filter(external));
    // Mixed precision stores what no entry point returns (the intermediates) in half, except
    // what gathers and scatters read and write (the library's kernels run in one type) and
    // what stepped loops' windows read and write (a window and its buffer share a type).
    let mut rows = rows_buffers(p, entries);
    rows.extend(windowed_buffers(p, entries));
    let half = slots.keys().copied().filter(|v| !persistent.contains(v) && !rows.contains(v));
    let storage = Storage::new(p.precision, p.target, half);
    Buffers { slots, persistent, storage }
}

/// The buffers that gathers, scatters and picks of `entries` read or write.
fn rows_buffers(p: &Program, entries: &[Entry]) -> Vec<ValueId> {
    let mut buffers = vec![];
    for e in entries {
        let buffer = |v: ValueId| e.schedule.layouts[v].as_ref().map(|l| l.buffer);
        for &k in &e.schedule.kernels {
            if let Op::Gather(a, b, _) | Op::ScatterAdd(a, b, _) | Op::Pick(a, b) = p.graph.nodes[k].op {
                buffers.extend([k, a, b].into_iter().filter_map(buffer));
            }
        }
    }
    buffers
}

/// The buffers of stepped loops' inputs and outputs, and of their operands.
fn windowed_buffers(p: &Program, entries: &[Entry]) -> Vec<ValueId> {
    let mut buffers = vec![];
    for e in entries {
        let buffer = |v: ValueId| e.schedule.layouts[v].as_ref().map(|l| l.buffer);
        for (v, node) in p.graph.nodes.iter().enumerate() {
            if let Op::StepIn(a, _) | Op::StepOut(a, _) = node.op {
                buffers.extend([v, a].into_iter().filter_map(buffer));
            }
        }
    }
    buffers
}

/// Offsets in one arena for `buffers`: persistent ones apart, the others shared between
/// values whose kernel ranges (in any entry point's `launches`) do not overlap. What a
/// stepped loop's kernels touch (through its windows: the buffers behind them) is live while
/// the loop runs; a window takes no space of its own.
pub(crate) fn memory(
    p: &Program,
    buffers: &Buffers,
    launches: &[(&str, &[(ValueId, Kernel)])],
    repeats: &[Vec<Repeat>],
) -> arena::Plan {
    // Entry points never run at the same time: entry `e`'s kernel `i` runs at `e * GAP + i`.
    const GAP: usize = 1 << 24;
    let Buffers { slots, persistent, storage } = buffers;
    let mut spans: Vec<BTreeMap<usize, (usize, usize)>> = vec![BTreeMap::new(); slots.len()];
    for (e, (_, kernels)) in launches.iter().enumerate() {
        for (i, (_, k)) in kernels.iter().enumerate() {
            let repeat = repeats[e].iter().find(|r| r.kernels.contains(&i));
            let (first, last) = repeat.map_or((i, i), |r| (r.kernels.start, r.kernels.end - 1));
            for arg in &k.args {
                let backing = repeat.and_then(|r| r.backing(arg.buffer)).unwrap_or_else(|| vec![arg.buffer]);
                for buffer in backing {
                    let span = spans[slots[&buffer]].entry(e).or_insert((e * GAP + first, e * GAP + last));
                    *span = (span.0.min(e * GAP + first), span.1.max(e * GAP + last));
                }
            }
        }
    }
    let lifetimes: Vec<arena::Lifetime> = slots
        .iter()
        .map(|(v, &slot)| match persistent.contains(v) {
            true => arena::Lifetime::Persistent,
            false => arena::Lifetime::Within(spans[slot].values().copied().collect()),
        })
        .collect();
    let lens: Vec<usize> = slots.keys().map(|&v| storage.units(v, p.graph.shape(v).numel())).collect();
    arena::plan(&lens, &lifetimes)
}

//! The compile report written next to the generated code: each entry point's kernels after
//! fusion, what was fused into each, FLOPs and bytes moved per call, and the memory plan.

use crate::ir::{Graph, Op, ValueId};
use crate::kernel::{Access, Arg, Kernel};
use crate::plan::arena::Plan;
use crate::plan::storage::Storage;
use crate::plan::Repeat;
use crate::program::Program;
use crate::schedule::{Role, Schedule};
use std::collections::BTreeMap;
use std::fmt::Write;

/// One entry point as the report sees it: its name, schedule and kernels in launch order.
pub struct Entry<'a> {
    pub name: &'a str,
    pub schedule: &'a Schedule,
    pub kernels: &'a [(ValueId, Kernel)],
    /// The stepped loops among `kernels`, whose kernels run once per step.
    pub repeats: &'a [Repeat],
}

/// The report as text (stable: snapshot-tested).
pub fn report(
    p: &Program,
    entries: &[Entry],
    plan: &Plan,
    slots: &BTreeMap<ValueId, usize>,
    storage: &Storage,
) -> String {
    let g = &p.graph;
    let mut out = String::new();
    let _ = writeln!(out, "kiln compile report: model `{}`", p.name);
    for entry in entries {
        let (mut flops, mut bytes) = (0, 0);
        let mut lines = vec![];
        for (i, (v, k)) in entry.kernels.iter().enumerate() {
            let repeat = entry.repeats.iter().find(|r| r.kernels.contains(&i));
            let times = repeat.map_or(1, |r| r.steps);
            let mut fused = vec![];
            let mut f = 0;
            // A product its epilogue reads from registers is computed but not stored.
            for &value in std::iter::once(v).chain(k.values.iter().filter(|&u| u != v)) {
                let inlined = fused_into(g, entry.schedule, value);
                f += kernel_flops(g, value, &inlined);
                fused.extend(inlined.into_iter().chain((value != *v).then_some(value)));
            }
            fused.sort_unstable();
            fused.dedup();
            let b = bytes_moved(g, k, storage);
            flops += times * f;
            bytes += times * b;
            let names: Vec<String> = fused.iter().map(|&u| format!("%{u} {}", op_name(g, u))).collect();
            let fused = if names.is_empty() { String::new() } else { format!("  <- {}", names.join(", ")) };
            if repeat.is_some_and(|r| r.kernels.start == i) {
                lines.push(format!("  each of {times} steps:"));
            }
            lines.push(format!(
                "  %{v:<5} {:<10} {:<16} {:>10} flops {:>10} bytes{fused}",
                op_name(g, *v),
                g.shape(*v).to_string(),
                count_text(f),
                count_text(b)
            ));
        }
        let launches: usize =
            entry.kernels.len() + entry.repeats.iter().map(|r| (r.steps - 1) * r.kernels.len()).sum::<usize>();
        let _ = writeln!(
            out,
            "\n{}: {} kernels, {} launches, {} flops, {} bytes moved",
            entry.name,
            entry.kernels.len(),
            launches,
            count_text(flops),
            count_text(bytes)
        );
        for line in lines {
            let _ = writeln!(out, "{line}");
        }
    }
    let buffers: usize = plan.ranges.iter().map(|r| 4 * r.len()).sum();
    let _ = writeln!(
        out,
        "\nmemory: one arena of {} bytes for {} buffers of {} bytes in all ({:.0}%)",
        4 * plan.total,
        slots.len(),
        buffers,
        100.0 * (4 * plan.total) as f64 / buffers as f64
    );
    out
}

/// The values computed inside `v`'s kernel (inlined pointwise producers), in value order.
fn fused_into(g: &Graph, s: &Schedule, v: ValueId) -> Vec<ValueId> {
    let mut fused = vec![];
    let mut stack = g.nodes[v].op.operands();
    while let Some(u) = stack.pop() {
        if s.roles[u] == Some(Role::Inline) && !fused.contains(&u) {
            fused.push(u);
            stack.extend(g.nodes[u].op.operands());
        }
    }
    fused.sort_unstable();
    fused
}

/// Floating-point operations: `2mkn` for a matmul, 2 per multiply-add of a direct convolution
/// or its weight gradient; for a reduction or fold, one per input
/// element and op (the sum's and the fused ones'); otherwise one per element and pointwise op,
/// none for data movement (unfold, copies).
fn kernel_flops(g: &Graph, v: ValueId, fused: &[ValueId]) -> usize {
    let node = &g.nodes[v];
    match &node.op {
        Op::MatMul(a, b) => 2 * g.shape(*a).numel() * g.shape(*b).0[1],
        Op::DirectConv(x, _, window) => {
            // The taps that read the input (those in the implicit padding are skipped).
            let ([c, h, w, n], [o, oh, ow, _]) = (g.shape(*x).dims(), node.shape.dims());
            let pairs = |size: usize, out: usize| {
                (0..out)
                    .map(|y| {
                        (0..window.k).filter(|&i| (y + i).checked_sub(window.pad).is_some_and(|r| r < size)).count()
                    })
                    .sum::<usize>()
            };
            2 * o * c * n * pairs(h, oh) * pairs(w, ow)
        }
        Op::ConvWeightGrad(_, grad, _) => 2 * node.shape.numel() * g.shape(*grad).numel() / g.shape(*grad).0[0],
        Op::Reduce(_, a, _) | Op::Fold(a, _) => {
            let ops = 1 + fused.iter().filter(|&&u| is_arithmetic(&g.nodes[u].op)).count();
            ops * g.shape(*a).numel()
        }
        op => {
            let ops = usize::from(is_arithmetic(op)) + fused.iter().filter(|&&u| is_arithmetic(&g.nodes[u].op)).count();
            ops * node.shape.numel()
        }
    }
}

fn is_arithmetic(op: &Op) -> bool {
    matches!(op, Op::Unary(..) | Op::Binary(..) | Op::Select { .. })
}

/// Bytes of every buffer the kernel reads (once) plus those it writes.
fn bytes_moved(g: &Graph, k: &Kernel, storage: &Storage) -> usize {
    let bytes = |a: &Arg| if a.access == Access::Labels { 4 } else { storage.bytes(a.buffer) };
    k.args.iter().map(|a| bytes(a) * g.shape(a.buffer).numel()).sum()
}

/// The op of kernel member `v` as the report names it: its text form's name, and `copy` for
/// a view (a kernel computes one only to copy it).
fn op_name(g: &Graph, v: ValueId) -> String {
    match g.nodes[v].op.is_view() {
        true => "copy".into(),
        false => g.op_name(v),
    }
}

/// `12345678` as `12.35M`.
fn count_text(n: usize) -> String {
    match n {
        0..=9_999 => n.to_string(),
        10_000..=999_999 => format!("{:.1}K", n as f64 / 1e3),
        1_000_000..=999_999_999 => format!("{:.2}M", n as f64 / 1e6),
        _ => format!("{:.2}G", n as f64 / 1e9),
    }
}

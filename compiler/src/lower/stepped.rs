//! Stepped loops: each [`Op::Loop`] becomes one copy of its body in the graph, bound to the
//! values around it by [`Op::StepIn`] and [`Op::StepOut`]. The generated code launches the
//! copy's kernels once per step, over windows into the loop's buffers (see
//! `plan::repeats`), so its kernels and source do not grow with the number of steps.
//!
//! The copy holds first the body's values that no step input reaches (computed once, before
//! the loop), then those it does (the repeated kernels). A window is a whole buffer, so each
//! output the loop stacks or carries is a value of its own that a kernel computes: an output
//! that is an input, a view or another output is copied. A loop whose body holds loops has
//! those unrolled inside it. A loop is unrolled instead where it slices or carries integer
//! labels (windows hold floats) or where a carried value is the same at every step.

use super::{copy, with_graph};
use crate::ir::{replace_loops, unroll, unroll_loop, Graph, Loop, Op, Shape, Stepping, ValueId};
use crate::program::Program;

/// `p` with every loop stepped, or unrolled where it cannot be.
pub(crate) fn stepped_loops(p: &Program) -> Program {
    with_graph(p, stepped)
}

/// `g` with its loops stepped, and where each of `g`'s values went (`usize::MAX` for a loop's
/// own, empty value).
pub(crate) fn stepped(g: &Graph) -> (Graph, Vec<ValueId>) {
    let mut loops = 0;
    replace_loops(g, |out, l, map| {
        let (body, ids) = unroll(&l.body);
        let l = l.with_body(body, &ids);
        let stepped = step(out, &l, loops, map);
        loops += stepped.is_some() as usize;
        stepped.unwrap_or_else(|| unroll_loop(out, &l, map))
    })
}

/// Appends loop `l` (whose body holds no loop) as stepped loop `id`, reading its operands
/// through `map`, and returns its outputs; `None`, with nothing appended, where it cannot be
/// stepped.
fn step(out: &mut Graph, l: &Loop, id: usize, map: &[ValueId]) -> Option<Vec<ValueId>> {
    let body = &l.body;
    let labels = |outer: ValueId| through_views(out, map[outer], |op| matches!(op, Op::Labels { .. }));
    if l.carries.iter().any(|c| labels(c.init)) || l.slices.iter().any(|&(outer, _)| labels(outer)) {
        return None;
    }
    let varies = l.varying();
    if l.carries.iter().any(|c| !varies[c.next]) {
        return None;
    }

    let trips = l.trips.map(|t| map[t]);
    let stepping = |carry: Option<usize>| Stepping { id, steps: l.steps, reverse: l.reverse, carry, trips };
    let mut bound: Vec<Option<ValueId>> = vec![None; body.nodes.len()];
    for (k, c) in l.carries.iter().enumerate() {
        let shape = body.shape(c.input).clone();
        bound[c.input] = Some(out.push(Op::StepIn(map[c.init], stepping(Some(k))), shape));
    }
    for &(outer, input) in &l.slices {
        bound[input] = Some(out.push(Op::StepIn(map[outer], stepping(None)), body.shape(input).clone()));
    }
    for &(outer, input) in &l.invariants {
        bound[input] = Some(map[outer]);
    }
    // What no step input reaches first, then the step's own values.
    let mut copied: Vec<ValueId> = vec![usize::MAX; body.nodes.len()];
    for pass_varies in [false, true] {
        for (b, node) in body.nodes.iter().enumerate() {
            if varies[b] != pass_varies {
                continue;
            }
            copied[b] = match bound[b] {
                Some(value) => value,
                None => out.push(node.op.clone().map_operands(|a| copied[a]), node.shape.clone()),
            };
        }
    }

    // Each output a value of its own that a kernel computes.
    let mut written: Vec<ValueId> = vec![];
    let mut own = |out: &mut Graph, value: ValueId| {
        let op = &out.nodes[value].op;
        if op.is_view() || matches!(op, Op::StepIn(..)) || written.contains(&value) {
            let copy = copy(out, value);
            written.push(copy);
            return copy;
        }
        written.push(value);
        value
    };
    let mut outputs = vec![];
    for (k, c) in l.carries.iter().enumerate() {
        let next = own(out, copied[c.next]);
        outputs.push(out.push(Op::StepOut(next, stepping(Some(k))), body.shape(c.next).clone()));
    }
    for &y in &l.ys {
        let stacked = Shape([&[l.steps][..], &body.shape(y).0[..]].concat());
        outputs.push(match varies[y] {
            true => {
                let y = own(out, copied[y]);
                out.push(Op::StepOut(y, stepping(None)), stacked)
            }
            // The same at every step: a broadcast.
            false => {
                let row = out.reshape(copied[y], Shape([&[1][..], &body.shape(y).0[..]].concat()));
                out.expand(row, stacked)
            }
        });
    }
    Some(outputs)
}

/// Whether `v`, or the value it views, has an op that `test` accepts.
fn through_views(g: &Graph, mut v: ValueId, test: impl Fn(&Op) -> bool) -> bool {
    while g.nodes[v].op.is_view() {
        v = g.nodes[v].op.operands()[0];
    }
    test(&g.nodes[v].op)
}

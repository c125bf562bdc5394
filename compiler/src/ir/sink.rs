//! Stacked tails sunk out of a loop: where a step's stacked output ends in ops that nothing
//! carried reads (a decoder's readout to the vocabulary's logits, say), the loop stacks what
//! those ops read instead, and they run once after it over all steps together: one product of
//! `[steps * batch, k]` rows instead of `steps` products of `batch` rows, and the same for
//! its gradients. The values are the same; only the loop's body is smaller.

use super::{Graph, Loop, Node, Op, Shape, ValueId};
use std::collections::HashMap;

/// Appends `l` as [`Graph::scan`] does and returns its outputs, with each stacked output's
/// tail of batchable ops computed after the loop (see the module's doc).
pub fn scan_sinking_tails(g: &mut Graph, l: Loop) -> Vec<ValueId> {
    let varies = l.varying();
    let sunk = tails(&l, &varies);
    if !sunk.iter().any(|&s| s) {
        return g.scan(l);
    }
    let body = &l.body;
    // What the sunk ops read: the step's values are stacked in their place (the leaves), and
    // the body's invariant values are copied out.
    let mut leaves: Vec<ValueId> = vec![];
    let mut copied = vec![false; body.nodes.len()];
    for b in (0..body.nodes.len()).rev() {
        if !sunk[b] && !copied[b] {
            continue;
        }
        for a in body.nodes[b].op.operands() {
            if sunk[a] {
                continue;
            }
            if varies[a] && !leaves.contains(&a) {
                leaves.push(a);
            }
            copied[a] |= !varies[a] && !matches!(body.nodes[a].op, Op::Input { .. });
        }
    }
    // The body without the sunk ops, stacking the kept outputs and then the leaves.
    let mut kept = Graph::default();
    let mut ids = vec![usize::MAX; body.nodes.len()];
    for (b, node) in body.nodes.iter().enumerate().filter(|&(b, _)| !sunk[b]) {
        kept.nodes.push(Node { op: node.op.clone().map_operands(|a| ids[a]), ..node.clone() });
        ids[b] = kept.nodes.len() - 1;
    }
    let kept_ys: Vec<ValueId> = l.ys.iter().copied().filter(|&y| !sunk[y]).collect();
    let mut smaller = l.with_body(kept, &ids);
    smaller.ys = kept_ys.iter().chain(&leaves).map(|&y| ids[y]).collect();
    let outputs = g.scan(smaller);
    let (carried, stacked) = outputs.split_at(l.carries.len());

    // After the loop: each sunk op over all steps at once, on the steps' rows as one batch
    // (`[steps * batch, ..]`, so that a product's epilogue takes the ops after it), or
    // stacked (`[steps, batch, ..]`) where an invariant operand has rows of its own.
    let flat_shape = |v: ValueId| {
        let mut dims = body.shape(v).0.clone();
        dims[0] *= l.steps;
        Shape(dims)
    };
    let stacked_shape = |v: ValueId| Shape([&[l.steps][..], &body.shape(v).0[..]].concat());
    let mut outer: HashMap<ValueId, ValueId> = l.invariants.iter().map(|&(value, input)| (input, value)).collect();
    for (&leaf, &value) in leaves.iter().zip(&stacked[kept_ys.len()..]) {
        let flat = g.reshape(value, flat_shape(leaf));
        outer.insert(leaf, flat);
    }
    for (b, node) in body.nodes.iter().enumerate().filter(|&(b, _)| sunk[b] || copied[b]) {
        g.set_origin(node.origin.clone());
        let value = match node.op.clone() {
            Op::MatMul(x, w) if sunk[b] => g.matmul(outer[&x], outer[&w]),
            Op::Unary(op, x) if sunk[b] => g.unary(op, outer[&x]),
            Op::Binary(op, x, y) if sunk[b] => {
                // An invariant operand with rows of its own ([batch, ..]) meets each step's.
                let rows =
                    |a: ValueId| !varies[a] && body.shape(a).rank() == node.shape.rank() && body.shape(a).0[0] > 1;
                match rows(x) || rows(y) {
                    false => g.binary(op, outer[&x], outer[&y]),
                    true => {
                        let stack = |g: &mut Graph, a: ValueId| match varies[a] {
                            true => g.reshape(outer[&a], stacked_shape(a)),
                            false => outer[&a],
                        };
                        let (sx, sy) = (stack(g, x), stack(g, y));
                        let stacked = g.binary(op, sx, sy);
                        g.reshape(stacked, flat_shape(b))
                    }
                }
            }
            op => g.push(op.map_operands(|a| outer[&a]), node.shape.clone()),
        };
        outer.insert(b, value);
    }
    let mut kept_outputs = stacked.iter();
    let mut ys = vec![];
    for &y in &l.ys {
        ys.push(match sunk[y] {
            true => g.reshape(outer[&y], stacked_shape(y)),
            false => *kept_outputs.next().expect("a kept output"),
        });
    }
    carried.iter().copied().chain(ys).collect()
}

/// The body values that can run after the loop: step-dependent values that only stacked
/// outputs and other such values read (no carry, nothing kept in the body), computed by an
/// op that works row by row over all steps at once. That is a pointwise op whose
/// step-dependent operands have its whole shape (invariant ones broadcast over the steps),
/// or a product of a step's `[batch, k]` rows by an invariant matrix. `varies` is
/// [`Loop::varying`].
fn tails(l: &Loop, varies: &[bool]) -> Vec<bool> {
    let body = &l.body;
    let mut readers: Vec<Vec<ValueId>> = vec![vec![]; body.nodes.len()];
    for (b, node) in body.nodes.iter().enumerate() {
        for a in node.op.operands() {
            readers[a].push(b);
        }
    }
    let mut pinned = vec![false; body.nodes.len()];
    for c in &l.carries {
        pinned[c.next] = true;
    }
    let mut sunk = vec![false; body.nodes.len()];
    for b in (0..body.nodes.len()).rev() {
        let node = &body.nodes[b];
        let read = l.ys.contains(&b) || !readers[b].is_empty();
        let only_by_tails = readers[b].iter().all(|&r| sunk[r]);
        let whole = |a: ValueId| !varies[a] || body.shape(a).rank() == node.shape.rank();
        let batchable = match node.op {
            Op::Unary(_, x) => whole(x),
            Op::Binary(_, x, y) => {
                whole(x) && whole(y) && [x, y].iter().all(|&a| body.shape(a).rank() <= node.shape.rank())
            }
            Op::MatMul(x, w) => varies[x] && !varies[w],
            _ => false,
        };
        sunk[b] = varies[b] && read && only_by_tails && !pinned[b] && batchable;
    }
    sunk
}

#[cfg(test)]
mod tests {
    use crate::dsl::CellState;
    use crate::ir::{Graph, Op};
    use crate::Model;

    /// The products outside `m`'s one loop, and in its body.
    fn products(m: &Model) -> (usize, usize) {
        let graph = m.state.borrow().graph.clone();
        let count = |g: &Graph| g.nodes.iter().filter(|n| matches!(n.op, Op::MatMul(..))).count();
        let body = graph.nodes.iter().find_map(|n| match &n.op {
            Op::Loop(l) => Some(count(&l.body)),
            _ => None,
        });
        (count(&graph), body.expect("a loop"))
    }

    /// An Elman step's two products stay in the loop; its readout runs once after it, unless
    /// the next step reads it (a greedy decoder feeding back its prediction).
    #[test]
    fn a_readout_runs_once_after_the_loop_unless_it_is_carried() {
        for carried in [false, true] {
            let m = Model::new("M");
            let x = m.input("x", [2, 3, 4]);
            let (cell, readout) = (m.rnn_cell(4, 5), m.dense(5, 4));
            let (_, ys) = m.repeat(3, &[m.full([2, 5], 0.0), m.full([2, 4], 0.0)], &[x], |c, xs| {
                let input = if carried { c[1] } else { xs[0] };
                let h = cell.step(input, Some(CellState { h: c[0], c: None })).h;
                let logits = readout.apply(h).tanh();
                (vec![h, if carried { logits } else { c[1] }], vec![logits])
            });
            assert_eq!(m.state.borrow().graph.shape(ys[0].id.expect("traced")).0, [2, 3, 4]);
            assert_eq!(products(&m), if carried { (0, 3) } else { (1, 2) }, "carried: {carried}");
        }
    }
}

//! Loops unrolled: each [`Op::Loop`] replaced by a copy of its body per step, its sliced
//! values cut into steps and its outputs joined from them. The result computes the same values
//! with straight-line code, for passes that do not run loops yet. Ops of the copies that read
//! a constant zero fold away (a first step from a zero state multiplies nothing).

use super::{BinaryOp, Graph, Loop, Node, Op, Shape, UnaryOp, ValueId};
use std::collections::HashMap;

/// `g` with every loop unrolled, and where each of `g`'s values went (`usize::MAX` for a
/// loop's own, empty value, which only its outputs read).
pub fn unroll(g: &Graph) -> (Graph, Vec<ValueId>) {
    // Each unrolled output's value at each slice index, by the output's new id.
    let mut pieces: HashMap<ValueId, Vec<ValueId>> = HashMap::new();
    replace_loops(g, |out, l, map| inline(out, l, map, &mut pieces))
}

/// `g` with each loop replaced by the values `expand` appends for it to the new graph (given
/// that graph, the loop, and where `g`'s values went): the loop's outputs. Also where each of
/// `g`'s values went (`usize::MAX` for a loop's own, empty value).
pub fn replace_loops(
    g: &Graph,
    mut expand: impl FnMut(&mut Graph, &Loop, &[ValueId]) -> Vec<ValueId>,
) -> (Graph, Vec<ValueId>) {
    let mut out = Graph::default();
    let mut map: Vec<ValueId> = Vec::with_capacity(g.nodes.len());
    let mut outputs: HashMap<ValueId, Vec<ValueId>> = HashMap::new();
    for (v, node) in g.nodes.iter().enumerate() {
        out.set_origin(node.origin.clone());
        let new = match &node.op {
            Op::Loop(l) => {
                let replaced = expand(&mut out, l, &map);
                outputs.insert(v, replaced);
                usize::MAX
            }
            Op::LoopOutput(l, k) => outputs[l][*k],
            op => {
                out.nodes.push(Node { op: op.clone().map_operands(|a| map[a]), ..node.clone() });
                out.nodes.len() - 1
            }
        };
        map.push(new);
    }
    (out, map)
}

/// Appends `l`'s steps to `out`, reading its operands through `map`; returns its outputs.
pub fn unroll_loop(out: &mut Graph, l: &Loop, map: &[ValueId]) -> Vec<ValueId> {
    inline(out, l, map, &mut HashMap::new())
}

/// Appends `l`'s steps to `out`, reading its operands through `map`; returns its outputs and
/// records their values at each slice index in `pieces`. A slice of a value in `pieces` (an
/// earlier loop's output) is read from its piece, not cut from the joined value.
fn inline(out: &mut Graph, l: &Loop, map: &[ValueId], pieces: &mut HashMap<ValueId, Vec<ValueId>>) -> Vec<ValueId> {
    // A loop inside the body is unrolled first; the body's inputs and outputs map along.
    let (body, body_ids) = unroll(&l.body);
    let mut carried: Vec<ValueId> = l.carries.iter().map(|c| map[c.init]).collect();
    let ys: Vec<ValueId> = l.ys.iter().map(|&y| body_ids[y]).collect();
    // Each stacked output's value at each slice index.
    let mut produced: Vec<Vec<Option<ValueId>>> = vec![vec![None; l.steps]; ys.len()];
    for step in 0..l.steps {
        let index = l.index(step);
        let mut body_map: Vec<ValueId> = Vec::with_capacity(body.nodes.len());
        let mut bound: HashMap<ValueId, ValueId> = HashMap::new();
        for (c, &value) in l.carries.iter().zip(&carried) {
            bound.insert(body_ids[c.input], value);
        }
        for &(outer, input) in &l.slices {
            let value = match pieces.get(&map[outer]) {
                Some(values) => values[index],
                None => slice(out, map[outer], index, l.body.shape(input)),
            };
            bound.insert(body_ids[input], value);
        }
        for &(outer, input) in &l.invariants {
            bound.insert(body_ids[input], map[outer]);
        }
        for (b, node) in body.nodes.iter().enumerate() {
            let new = match bound.get(&b) {
                Some(&value) => value,
                None => {
                    let op = node.op.clone().map_operands(|a| body_map[a]);
                    match without_zeros(out, &op, &node.shape) {
                        Some(value) => value,
                        None => {
                            out.nodes.push(Node { op, ..node.clone() });
                            out.nodes.len() - 1
                        }
                    }
                }
            };
            body_map.push(new);
        }
        for (k, &y) in ys.iter().enumerate() {
            produced[k][index] = Some(body_map[y]);
        }
        carried = l.carries.iter().map(|c| body_map[body_ids[c.next]]).collect();
    }
    let stacked: Vec<ValueId> = produced
        .into_iter()
        .map(|steps| {
            let values: Vec<ValueId> =
                steps.into_iter().map(|v| v.expect("every slice index is some step's")).collect();
            let rows: Vec<ValueId> = values
                .iter()
                .map(|&value| {
                    let shape = Shape([&[1][..], &out.shape(value).0[..]].concat());
                    out.reshape(value, shape)
                })
                .collect();
            let joined = out.concat(&rows, 0);
            pieces.insert(joined, values);
            joined
        })
        .collect();
    carried.into_iter().chain(stacked).collect()
}

/// What `op` (of `shape`) is when an operand is the constant zero, as at the first step of a
/// recurrent layer from a zero state: zero for products and views of zero and for functions
/// that keep it, the other operand of a sum. `None` where that does not apply.
fn without_zeros(out: &mut Graph, op: &Op, shape: &Shape) -> Option<ValueId> {
    let zero = |v: ValueId| matches!(out.nodes[v].op, Op::Const(c) if c == 0.0);
    let same = |v: ValueId, out: &Graph| out.shape(v) == shape;
    let is_zero = match *op {
        Op::MatMul(a, b) | Op::Binary(BinaryOp::Mul, a, b) => zero(a) || zero(b),
        Op::Unary(UnaryOp::Neg | UnaryOp::Tanh | UnaryOp::Relu, a) => zero(a),
        ref view if view.is_view() => zero(view.operands()[0]),
        Op::Binary(BinaryOp::Add, a, b) if zero(a) && same(b, out) => return Some(b),
        Op::Binary(BinaryOp::Add | BinaryOp::Sub, a, b) if zero(b) && same(a, out) => return Some(a),
        _ => false,
    };
    is_zero.then(|| out.constant(0.0, shape.clone()))
}

/// Index `index` of the leading axis of `stacked`, as a value of `shape`. A permuted value is
/// sliced along its source's axis, so that no copy of the whole is made to slice it.
fn slice(out: &mut Graph, stacked: ValueId, index: usize, shape: &Shape) -> ValueId {
    if let Op::Permute(source, perm) = out.nodes[stacked].op.clone() {
        let sliced = out.narrow(source, perm[0], index, 1);
        let permuted = out.permute(sliced, &perm);
        return out.reshape(permuted, shape.clone());
    }
    let sliced = out.narrow(stacked, 0, index, 1);
    out.reshape(sliced, shape.clone())
}

//! Product forms: rewrites that let a product's tiles use 16-wide vectors.
//! - A product `dY^T @ X` whose output rows are too short for wide vectors (`n` not a
//!   multiple of 16) but whose columns are long (a weight gradient of a layer with few
//!   inputs, such as an embedding of 50) is computed as `(X^T @ dY)^T`: the product then
//!   runs along `dY`'s contiguous rows, and the transpose is a view.
//! - A product `x @ W^T` of a weight (a parameter, or a loop's invariant input) whose tiles
//!   would run along `k` (the NT form) reads a transposed copy of `W` instead (the NN form,
//!   along `n`) where `k` is not a multiple of 16 (an embedding of 50 projected into a
//!   recurrent layer's gates), the product is a loop's step (the hidden state's product,
//!   whose copy is made once, before the loop), or it has many rows (a readout over every
//!   step of a sequence; `target::NN_FORM_MIN_ROWS`). The copy is `W^T * 1`.
//! - A product `dY @ W` of a weight whose output rows are too short for wide vectors but whose
//!   columns are long (the gradient of an embedding of 50 through a layer's input weights) is
//!   computed as `(W^T @ dY^T)^T` from a transposed copy of `W`: its tiles then run along `k`,
//!   which both operands hold contiguously.

use super::{copy, with_graph};
use crate::ir::{Graph, Loop, Op, Shape, ValueId};
use crate::program::Program;
use crate::target::NN_FORM_MIN_ROWS;

/// Widest vectors a product's tiles use (see `kernel::product`).
const LANES: usize = 16;

/// `p` with its products in the forms above.
pub(crate) fn transposed_products(p: &Program) -> Program {
    with_graph(p, |g| rewritten(g, &|v| matches!(g.nodes[v].op, Op::Param { .. }), false))
}

/// `g` rewritten, and where each value went. `weight` says which values of `g` are weights;
/// `step` whether `g` is a loop's body.
fn rewritten(g: &Graph, weight: &dyn Fn(ValueId) -> bool, step: bool) -> (Graph, Vec<ValueId>) {
    let mut out = Graph::default();
    let mut map: Vec<ValueId> = Vec::with_capacity(g.nodes.len());
    // The weights among `out`'s values.
    let mut weights: Vec<ValueId> = vec![];
    for (v, node) in g.nodes.iter().enumerate() {
        out.set_origin(node.origin.clone());
        let op = match &node.op {
            Op::Loop(l) => Op::Loop(Box::new(with_body(l, weight))),
            op => op.clone(),
        };
        let op = op.map_operands(|a| map[a]);
        let new = match op {
            Op::MatMul(a, b) if short_rows(&out, a, &node.shape) => {
                let Op::Permute(rows, _) = out.nodes[a].op else { unreachable!("checked by `short_rows`") };
                let [m, n] = node.shape.0[..] else { unreachable!("products are [m, n]") };
                let bt = out.push(Op::Permute(b, vec![1, 0]), Shape(vec![n, out.shape(b).0[0]]));
                let product = out.push(Op::MatMul(bt, rows), Shape(vec![n, m]));
                out.push(Op::Permute(product, vec![1, 0]), node.shape.clone())
            }
            Op::MatMul(a, b) if short_rows_of_weight(&out, b, &weights, &node.shape) => {
                let [m, n] = node.shape.0[..] else { unreachable!("products are [m, n]") };
                let wt = transposed_copy(&mut out, b);
                let at = out.push(Op::Permute(a, vec![1, 0]), Shape(vec![out.shape(a).0[1], m]));
                let product = out.push(Op::MatMul(wt, at), Shape(vec![n, m]));
                out.push(Op::Permute(product, vec![1, 0]), node.shape.clone())
            }
            Op::MatMul(a, b) if along_k(&out, b, &weights, &node.shape, step) => {
                let copy = copy(&mut out, b);
                out.push(Op::MatMul(a, copy), node.shape.clone())
            }
            op => out.push(op, node.shape.clone()),
        };
        if weight(v) {
            weights.push(new);
        }
        map.push(new);
    }
    (out, map)
}

/// Loop `l` with its body rewritten; the body's weights are its invariant inputs bound to
/// weights.
fn with_body(l: &Loop, weight: &dyn Fn(ValueId) -> bool) -> Loop {
    let invariant = |b: ValueId| l.invariants.iter().any(|&(outer, input)| input == b && weight(outer));
    let (body, ids) = rewritten(&l.body, &invariant, true);
    l.with_body(body, &ids)
}

/// Whether product `a @ _` of `shape` `[m, n]` gains from running transposed: `n` takes
/// narrow vectors, `m` wide ones, and `a` transposes a `[k, m]` value, whose rows then feed
/// the vectors.
fn short_rows(g: &Graph, a: ValueId, shape: &Shape) -> bool {
    let [m, n] = shape.0[..] else { return false };
    let transposed = matches!(&g.nodes[a].op, Op::Permute(_, perm) if perm[..] == [1, 0]);
    transposed && !n.is_multiple_of(LANES) && m.is_multiple_of(LANES)
}

/// A row-major copy of `w`'s transpose.
fn transposed_copy(out: &mut Graph, w: ValueId) -> ValueId {
    let [k, n] = out.shape(w).0[..] else { unreachable!("weights of products are [k, n]") };
    let transposed = out.push(Op::Permute(w, vec![1, 0]), Shape(vec![n, k]));
    copy(out, transposed)
}

/// Whether product `_ @ b` of `shape` `[m, n]`, `b` one of `weights` (`[k, n]`), gains from
/// running transposed from a copy of `b`'s transpose: `n` takes narrow vectors, `m` and `k`
/// wide ones.
fn short_rows_of_weight(out: &Graph, b: ValueId, weights: &[ValueId], shape: &Shape) -> bool {
    let [m, n] = shape.0[..] else { return false };
    weights.contains(&b)
        && !n.is_multiple_of(LANES)
        && m.is_multiple_of(LANES)
        && out.shape(b).0[0].is_multiple_of(LANES)
}

/// Whether product `_ @ b` of `shape` `[m, n]`, `b` the transpose of one of `weights`,
/// should read a transposed copy: `n` takes wide vectors, and `k` narrow ones or the product
/// is a step's.
fn along_k(out: &Graph, b: ValueId, weights: &[ValueId], shape: &Shape, step: bool) -> bool {
    let Op::Permute(w, ref perm) = out.nodes[b].op else { return false };
    let k = out.shape(b).0[0];
    perm[..] == [1, 0]
        && weights.contains(&w)
        && shape.0[1].is_multiple_of(LANES)
        && (step || !k.is_multiple_of(LANES) || shape.0[0] >= NN_FORM_MIN_ROWS)
}

//! Forward mode as a graph transform: appends the nodes that compute Jacobian-vector products
//! alongside the values they differentiate, and Hessian-vector products as forward-over-reverse
//! (the JVP of the gradient graph).
//!
//! The pointwise ops' tangents come from the same local derivatives as their gradients
//! ([`super::rules`]); the other ops have one tangent rule each below, the transpose of their
//! rule in [`super::reverse`]. So `vᵀ(J u) = (Jᵀ v)ᵀ u` holds exactly.

use super::reverse::gradients;
use super::{loops, rules};
use crate::ir::{BinaryOp, Graph, Op, ReduceOp, ValueId};

/// Appends to `g` the directional derivative of each of `outputs` along `tangents`, pairs of
/// (value, its tangent) of equal shapes. Returns `None` for an output that does not depend
/// on any seeded value (its derivative is zero).
pub fn jvp(g: &mut Graph, outputs: &[ValueId], tangents: &[(ValueId, ValueId)]) -> Vec<Option<ValueId>> {
    let end = outputs.iter().max().map_or(0, |&o| o + 1);
    let mut tangent: Vec<Option<ValueId>> = vec![None; end];
    for &(x, t) in tangents {
        assert_eq!(g.shape(x), g.shape(t), "internal: a tangent's shape differs from its value's");
        if x < end {
            tangent[x] = Some(t);
        }
    }
    let start = tangents.iter().map(|&(x, _)| x).min().unwrap_or(end);
    g.set_origin("jvp");
    for v in start..end {
        let seeded = tangents.iter().any(|&(x, _)| x == v);
        if !seeded && g.nodes[v].op.operands().iter().any(|&a| tangent[a].is_some()) {
            tangent[v] = rule(g, v, &tangent);
        }
    }
    outputs.iter().map(|&o| tangent[o]).collect()
}

/// Appends to `g` the product of the Hessian of `sum(loss)` with respect to `wrt` and the
/// `directions` (one per value of `wrt`, same shapes): `d/dh grad(wrt + h·directions)` at 0.
/// Returns `None` where that product is zero.
pub fn hvp(g: &mut Graph, loss: ValueId, wrt: &[ValueId], directions: &[ValueId]) -> Vec<Option<ValueId>> {
    let grads = gradients(g, loss, wrt);
    let roots: Vec<ValueId> = grads.iter().flatten().copied().collect();
    let tangents: Vec<(ValueId, ValueId)> = wrt.iter().copied().zip(directions.iter().copied()).collect();
    let mut products = jvp(g, &roots, &tangents).into_iter();
    grads.iter().map(|grad| grad.and_then(|_| products.next().flatten())).collect()
}

/// The tangent rule of node `y`, given the tangents of the values before it.
fn rule(g: &mut Graph, y: ValueId, tangent: &[Option<ValueId>]) -> Option<ValueId> {
    let t = |a: ValueId| tangent[a];
    let shape = g.shape(y).clone();
    let op = g.nodes[y].op.clone();
    match op {
        Op::Input { .. } | Op::Labels { .. } | Op::Param { .. } | Op::Const(_) | Op::Iota(_) => None,
        Op::OneHot(_) | Op::Detach(_) => None,
        Op::Unary(..) | Op::Binary(..) => {
            // Only the operands with a tangent contribute; a partial is built only for them.
            if !g.nodes[y].op.operands().iter().any(|&a| t(a).is_some()) {
                return None;
            }
            let partials = rules::partials(g, y).expect("pointwise ops have rules");
            let terms: Vec<ValueId> =
                partials.into_iter().filter_map(|(x, partial)| t(x).map(|tx| partial.apply(g, tx))).collect();
            let sum = terms.into_iter().reduce(|acc, term| g.add(acc, term))?;
            Some(g.expand(sum, shape))
        }
        Op::Select { cond, then, otherwise } => {
            let (tt, to) = (t(then), t(otherwise));
            tt.or(to)?;
            let mut side = |v: Option<ValueId>| v.unwrap_or_else(|| g.scalar_like(0.0, y));
            let (tt, to) = (side(tt), side(to));
            let selected = g.select(cond, tt, to);
            Some(g.expand(selected, shape))
        }
        Op::Reduce(ReduceOp::Sum, x, axes) => Some(g.sum(t(x)?, &axes)),
        Op::Reduce(ReduceOp::Max, x, axes) => {
            // The mean tangent of the tied maxima.
            let mask = g.binary(BinaryOp::Equal, x, y);
            let count = g.sum(mask, &axes);
            let masked = g.mul(t(x)?, mask);
            let total = g.sum(masked, &axes);
            Some(g.div(total, count))
        }
        Op::MatMul(a, b) => {
            let da = t(a).map(|ta| g.matmul(ta, b));
            let db = t(b).map(|tb| g.matmul(a, tb));
            [da, db].into_iter().flatten().reduce(|acc, term| g.add(acc, term))
        }
        Op::Reshape(x) => Some(g.reshape(t(x)?, shape)),
        Op::Permute(x, perm) => Some(g.permute(t(x)?, &perm)),
        Op::Expand(x) => Some(g.expand(t(x)?, shape)),
        // Padding is a constant: its tangent is zero.
        Op::Unfold(x, window, _) => Some(g.unfold(t(x)?, window, 0.0)),
        Op::Fold(x, window) => Some(g.fold(t(x)?, window, shape)),
        // Linear in the table (rows); the ids have no tangent.
        Op::Gather(table, ids, padding) => Some(g.gather(t(table)?, ids, padding)),
        Op::ScatterAdd(rows, ids, padding) => Some(g.scatter_add(t(rows)?, ids, shape.0[0], padding)),
        Op::Pick(x, labels) => Some(g.pick(t(x)?, labels)),
        Op::DirectConv(..) | Op::ConvWeightGrad(..) | Op::StepIn(..) | Op::StepOut(..) | Op::Concat(..) => {
            unreachable!("internal: direct convolutions, joins and stepped loops come after differentiation")
        }
        // The tangent of a loop is the loop of the step and its tangents; its outputs' are
        // read from that loop.
        Op::Loop(_) => Some(loops::forward(g, y, tangent)),
        Op::LoopOutput(l, k) => {
            let Op::Loop(looped) = &g.nodes[l].op else { unreachable!("loop outputs read loops") };
            let k = loops::tangent_output(looped, k);
            Some(g.loop_output(t(l)?, k))
        }
        Op::Mode { train, eval } => {
            let mut side = |v: ValueId| t(v).unwrap_or_else(|| g.zeros_like(v));
            let (train, eval) = (side(train), side(eval));
            Some(g.mode(train, eval))
        }
    }
}

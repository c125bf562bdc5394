//! Reverse mode as a graph transform: appends the nodes that compute gradients.
//!
//! Each primitive op has one rule below (the pointwise ops' local derivatives are in
//! [`super::rules`]); layers never need their own.

use super::{loops, rules};
use crate::ir::Shape;
use crate::ir::{BinaryOp, Graph, Op, ReduceOp, ValueId};

/// Appends to `g` the gradient of `sum(loss)` with respect to each value in `wrt`.
/// Returns `None` for a value the loss does not depend on.
pub fn gradients(g: &mut Graph, loss: ValueId, wrt: &[ValueId]) -> Vec<Option<ValueId>> {
    g.set_origin("grad");
    let seed = g.constant(1.0, g.shape(loss).clone());
    vjp(g, &[(loss, seed)], wrt)
}

/// Appends to `g` the vector-Jacobian product of `seeds`, pairs of (value, its cotangent):
/// the gradient of `sum(value * cotangent)` over the pairs with respect to each of `wrt`.
/// Returns `None` for a value no seeded value depends on.
pub fn vjp(g: &mut Graph, seeds: &[(ValueId, ValueId)], wrt: &[ValueId]) -> Vec<Option<ValueId>> {
    let needs_grad = needs_grad(g, wrt);
    let end = seeds.iter().map(|&(v, _)| v + 1).max().unwrap_or(0);
    let mut adjoint: Vec<Option<ValueId>> = vec![None; g.nodes.len()];
    g.set_origin("grad");
    for &(v, cotangent) in seeds {
        adjoint[v] = Some(match adjoint[v] {
            Some(previous) => g.add(previous, cotangent),
            None => cotangent,
        });
    }

    for v in (0..end).rev() {
        if !needs_grad[v] {
            continue;
        }
        let contributions = match &g.nodes[v].op {
            Op::Loop(_) => {
                let outputs = loops::outputs_of(g, v, end);
                let cotangents: Vec<Option<ValueId>> = outputs.iter().map(|o| o.and_then(|o| adjoint[o])).collect();
                if cotangents.iter().all(Option::is_none) {
                    continue;
                }
                let needs: Vec<bool> = g.nodes[v].op.operands().iter().map(|&a| needs_grad[a]).collect();
                loops::reverse(g, v, &cotangents, &needs)
            }
            _ => match adjoint[v] {
                Some(gy) => backward(g, v, gy),
                None => continue,
            },
        };
        for (operand, contribution) in contributions {
            if !needs_grad[operand] {
                continue;
            }
            adjoint[operand] = Some(match adjoint[operand] {
                Some(previous) => g.add(previous, contribution),
                None => contribution,
            });
        }
    }
    wrt.iter().map(|&w| adjoint[w]).collect()
}

/// Values through which a gradient can flow to one of `wrt`.
fn needs_grad(g: &Graph, wrt: &[ValueId]) -> Vec<bool> {
    let mut needs = vec![false; g.nodes.len()];
    for &w in wrt {
        needs[w] = true;
    }
    for (v, node) in g.nodes.iter().enumerate() {
        let differentiable = !matches!(node.op, Op::Detach(_) | Op::OneHot(_));
        if differentiable && node.op.operands().iter().any(|&a| needs[a]) {
            needs[v] = true;
        }
    }
    needs
}

/// The gradient rule of node `y`: given its adjoint `gy`, the contribution to each operand.
fn backward(g: &mut Graph, y: ValueId, gy: ValueId) -> Vec<(ValueId, ValueId)> {
    let op = g.nodes[y].op.clone();
    match op {
        Op::Input { .. } | Op::Labels { .. } | Op::Param { .. } | Op::Const(_) | Op::Iota(_) => vec![],
        Op::OneHot(_) | Op::Detach(_) => vec![],
        Op::Unary(..) | Op::Binary(..) => {
            let partials = rules::partials(g, y).expect("pointwise ops have rules");
            partials
                .into_iter()
                .map(|(x, partial)| {
                    let gx = partial.apply(g, gy);
                    let shape = g.shape(x).clone();
                    (x, unbroadcast(g, gx, &shape))
                })
                .collect()
        }
        Op::Select { cond, then, otherwise } => {
            let zero = g.scalar_like(0.0, gy);
            let (to_then, to_otherwise) = (g.select(cond, gy, zero), g.select(cond, zero, gy));
            let (st, so) = (g.shape(then).clone(), g.shape(otherwise).clone());
            vec![(then, unbroadcast(g, to_then, &st)), (otherwise, unbroadcast(g, to_otherwise, &so))]
        }
        Op::Reduce(ReduceOp::Sum, x, _) => {
            let shape = g.shape(x).clone();
            vec![(x, g.expand(gy, shape))]
        }
        Op::Reduce(ReduceOp::Max, x, axes) => {
            // Ties share the gradient evenly, as torch.amax does.
            let mask = g.binary(BinaryOp::Equal, x, y);
            let count = g.sum(mask, &axes);
            let share = g.div(gy, count);
            vec![(x, g.mul(mask, share))]
        }
        Op::MatMul(a, b) => {
            let bt = g.transpose(b);
            let ga = g.matmul(gy, bt);
            let at = g.transpose(a);
            let gb = g.matmul(at, gy);
            vec![(a, ga), (b, gb)]
        }
        Op::Reshape(x) => {
            let shape = g.shape(x).clone();
            vec![(x, g.reshape(gy, shape))]
        }
        Op::Permute(x, perm) => {
            // (A B)^T = B^T A^T: a matmul writes the transposed gradient directly.
            if let Op::MatMul(a, b) = g.nodes[gy].op {
                if perm == [1, 0] {
                    let (bt, at) = (g.transpose(b), g.transpose(a));
                    return vec![(x, g.matmul(bt, at))];
                }
            }
            let mut inverse = vec![0; perm.len()];
            for (i, &p) in perm.iter().enumerate() {
                inverse[p] = i;
            }
            vec![(x, g.permute(gy, &inverse))]
        }
        Op::Expand(x) => {
            let shape = g.shape(x).clone();
            vec![(x, unbroadcast(g, gy, &shape))]
        }
        // Unfold and a zero-padded fold are each other's adjoints.
        Op::Unfold(x, window, _) => {
            let shape = g.shape(x).clone();
            vec![(x, g.fold(gy, window, shape))]
        }
        Op::Fold(x, window) => vec![(x, g.unfold(gy, window, 0.0))],
        // A gather and a scatter-add at the same ids are each other's adjoints.
        Op::Gather(table, ids, padding) => {
            let vocab = g.shape(table).0[0];
            vec![(table, g.scatter_add(gy, ids, vocab, padding))]
        }
        Op::ScatterAdd(rows, ids, padding) => vec![(rows, g.gather(gy, ids, padding))],
        // The picked elements' gradient, at the labels: a one-hot scaled by it.
        Op::Pick(x, labels) => {
            let classes = *g.shape(x).0.last().expect("picks along a last axis");
            let one_hot = g.one_hot(labels, classes);
            vec![(x, g.mul(one_hot, gy))]
        }
        // The loop's rule (see `vjp`) takes the adjoints of all its outputs at once.
        Op::LoopOutput(..) => vec![],
        Op::Loop(_) => unreachable!("internal: loops are differentiated in `vjp`"),
        Op::Mode { .. } => unreachable!("internal: specialise the graph before differentiating"),
        Op::DirectConv(..) | Op::ConvWeightGrad(..) | Op::StepIn(..) | Op::StepOut(..) | Op::Concat(..) => {
            unreachable!("internal: direct convolutions, joins and stepped loops come after differentiation")
        }
    }
}

/// Sums `grad` over the axes along which a value of `shape` was broadcast.
fn unbroadcast(g: &mut Graph, grad: ValueId, shape: &Shape) -> ValueId {
    let axes: Vec<usize> = (0..shape.rank()).filter(|&d| shape.0[d] == 1 && g.shape(grad).0[d] != 1).collect();
    if axes.is_empty() {
        grad
    } else {
        g.sum(grad, &axes)
    }
}

//! Reverse-mode autodiff as a graph transform: appends the nodes that compute gradients.
//!
//! Each primitive op has one rule below; layers never need their own.

use crate::ir::{BinaryOp, Graph, Op, ReduceOp, UnaryOp, ValueId};
use crate::shape::Shape;

/// Appends to `g` the gradient of `sum(loss)` with respect to each value in `wrt`.
/// Returns `None` for a value the loss does not depend on.
pub fn gradients(g: &mut Graph, loss: ValueId, wrt: &[ValueId]) -> Vec<Option<ValueId>> {
    let needs_grad = needs_grad(g, wrt);
    let mut adjoint: Vec<Option<ValueId>> = vec![None; g.nodes.len()];
    g.set_origin("grad");
    let seed = g.constant(1.0, g.shape(loss).clone());
    adjoint[loss] = Some(seed);

    for v in (0..=loss).rev() {
        let Some(gy) = adjoint[v] else { continue };
        if !needs_grad[v] {
            continue;
        }
        for (operand, contribution) in backward(g, v, gy) {
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
        Op::Unary(op, x) => {
            let gx = match op {
                UnaryOp::Neg => g.unary(UnaryOp::Neg, gy),
                UnaryOp::Exp => g.mul(gy, y),
                UnaryOp::Log => g.div(gy, x),
                UnaryOp::Sqrt => {
                    let two_y = g.scale(y, 2.0);
                    g.div(gy, two_y)
                }
                UnaryOp::Recip => {
                    let y2 = g.mul(y, y);
                    let t = g.mul(gy, y2);
                    g.unary(UnaryOp::Neg, t)
                }
                UnaryOp::Abs => {
                    let sign = g.unary(UnaryOp::Sign, x);
                    g.mul(gy, sign)
                }
                UnaryOp::Sign => return vec![],
                UnaryOp::Relu => {
                    // From the output, as `y > 0` exactly where `x > 0`: the input need not be
                    // kept for the backward pass, nor stored where the forward fuses the ReLU.
                    let zero = g.scalar_like(0.0, y);
                    let mask = g.binary(BinaryOp::Greater, y, zero);
                    g.mul(gy, mask)
                }
                UnaryOp::Tanh => {
                    let y2 = g.mul(y, y);
                    let one = g.scalar_like(1.0, y);
                    let d = g.sub(one, y2);
                    g.mul(gy, d)
                }
                UnaryOp::Erf => {
                    // d/dx erf(x) = 2/sqrt(pi) e^(-x^2)
                    let x2 = g.mul(x, x);
                    let neg = g.unary(UnaryOp::Neg, x2);
                    let e = g.unary(UnaryOp::Exp, neg);
                    let d = g.scale(e, std::f64::consts::FRAC_2_SQRT_PI);
                    g.mul(gy, d)
                }
            };
            vec![(x, gx)]
        }
        Op::Binary(op, a, b) => {
            let (ga, gb) = match op {
                BinaryOp::Add => (gy, gy),
                BinaryOp::Sub => (gy, g.unary(UnaryOp::Neg, gy)),
                BinaryOp::Mul => (g.mul(gy, b), g.mul(gy, a)),
                BinaryOp::Div => {
                    let ga = g.div(gy, b);
                    let y_over_b = g.div(y, b);
                    let t = g.mul(gy, y_over_b);
                    (ga, g.unary(UnaryOp::Neg, t))
                }
                BinaryOp::Pow => {
                    let one = g.scalar_like(1.0, b);
                    let b_minus_1 = g.sub(b, one);
                    let pow = g.binary(BinaryOp::Pow, a, b_minus_1);
                    let da = g.mul(b, pow);
                    let ga = g.mul(gy, da);
                    let log_a = g.unary(UnaryOp::Log, a);
                    let db = g.mul(y, log_a);
                    (ga, g.mul(gy, db))
                }
                BinaryOp::Max | BinaryOp::Min => {
                    let (mask_a, mask_b) = selection_masks(g, op, a, b);
                    (g.mul(gy, mask_a), g.mul(gy, mask_b))
                }
                BinaryOp::Greater | BinaryOp::Equal => return vec![],
            };
            let (sa, sb) = (g.shape(a).clone(), g.shape(b).clone());
            vec![(a, unbroadcast(g, ga, &sa)), (b, unbroadcast(g, gb, &sb))]
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
        Op::Mode { .. } => unreachable!("internal: specialise the graph before differentiating"),
        Op::DirectConv(..) | Op::ConvWeightGrad(..) => {
            unreachable!("internal: direct convolutions come after differentiation")
        }
    }
}

/// The share of `max(a, b)` (or `min`) taken from each operand: 1 for the winner, 0 for the
/// other, 1/2 each on a tie (as torch.maximum/minimum split the gradient).
pub(crate) fn selection_masks(g: &mut Graph, op: BinaryOp, a: ValueId, b: ValueId) -> (ValueId, ValueId) {
    let (winner, loser) = if op == BinaryOp::Max { (a, b) } else { (b, a) };
    let wins = g.binary(BinaryOp::Greater, winner, loser);
    let ties = g.binary(BinaryOp::Equal, a, b);
    let half_ties = g.scale(ties, 0.5);
    let mask_a = g.add(wins, half_ties);
    let one = g.scalar_like(1.0, mask_a);
    let mask_b = g.sub(one, mask_a);
    (mask_a, mask_b)
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

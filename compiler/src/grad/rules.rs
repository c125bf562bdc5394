//! The local derivatives of the pointwise ops, shared by reverse and forward mode: for each
//! operand, how a derivative flowing through the op is scaled. Ties and kinks follow PyTorch:
//! ReLU's derivative is 0 at 0, `max`/`min` split a tie evenly, `abs` has derivative 0 at 0.

use crate::ir::{BinaryOp, Graph, Op, UnaryOp, ValueId};

/// How a derivative `v` reaching an operand is scaled by the op's local derivative.
#[derive(Clone, Copy, PartialEq, Debug)]
pub(super) enum Partial {
    /// `v`.
    Identity,
    /// `-v`.
    Negate,
    /// `v * d`.
    Times(ValueId),
    /// `-(v * d)`.
    NegTimes(ValueId),
    /// `v / d`.
    Over(ValueId),
}

impl Partial {
    /// `v` scaled by this partial derivative.
    pub(super) fn apply(self, g: &mut Graph, v: ValueId) -> ValueId {
        match self {
            Partial::Identity => v,
            Partial::Negate => g.unary(UnaryOp::Neg, v),
            Partial::Times(d) => g.mul(v, d),
            Partial::NegTimes(d) => {
                let t = g.mul(v, d);
                g.unary(UnaryOp::Neg, t)
            }
            Partial::Over(d) => g.div(v, d),
        }
    }
}

/// The partial derivatives of pointwise node `y` with respect to its operands, in operand
/// order; an operand the op is constant in (a sign, a comparison) is left out. `None` for an
/// op that is not a differentiable pointwise op.
pub(super) fn partials(g: &mut Graph, y: ValueId) -> Option<Vec<(ValueId, Partial)>> {
    let op = g.nodes[y].op.clone();
    Some(match op {
        Op::Unary(op, x) => {
            let partial = match op {
                UnaryOp::Neg => Partial::Negate,
                UnaryOp::Sign => return Some(vec![]),
                UnaryOp::Exp => Partial::Times(y),
                UnaryOp::Log => Partial::Over(x),
                UnaryOp::Sqrt => Partial::Over(g.scale(y, 2.0)),
                UnaryOp::Recip => Partial::NegTimes(g.mul(y, y)),
                UnaryOp::Abs => Partial::Times(g.unary(UnaryOp::Sign, x)),
                UnaryOp::Relu => {
                    // From the output, as `y > 0` exactly where `x > 0`: the input need not be
                    // kept for the backward pass, nor stored where the forward fuses the ReLU.
                    let zero = g.scalar_like(0.0, y);
                    Partial::Times(g.binary(BinaryOp::Greater, y, zero))
                }
                UnaryOp::Tanh => {
                    let y2 = g.mul(y, y);
                    let one = g.scalar_like(1.0, y);
                    Partial::Times(g.sub(one, y2))
                }
                UnaryOp::Sigmoid => {
                    let one = g.scalar_like(1.0, y);
                    let complement = g.sub(one, y);
                    Partial::Times(g.mul(y, complement))
                }
                UnaryOp::Erf => {
                    // d/dx erf(x) = 2/sqrt(pi) e^(-x^2)
                    let x2 = g.mul(x, x);
                    let neg = g.unary(UnaryOp::Neg, x2);
                    let e = g.unary(UnaryOp::Exp, neg);
                    Partial::Times(g.scale(e, std::f64::consts::FRAC_2_SQRT_PI))
                }
            };
            vec![(x, partial)]
        }
        Op::Binary(op, a, b) => {
            let (da, db) = match op {
                BinaryOp::Add => (Partial::Identity, Partial::Identity),
                BinaryOp::Sub => (Partial::Identity, Partial::Negate),
                BinaryOp::Mul => (Partial::Times(b), Partial::Times(a)),
                BinaryOp::Div => (Partial::Over(b), Partial::NegTimes(g.div(y, b))),
                BinaryOp::Pow => {
                    let one = g.scalar_like(1.0, b);
                    let b_minus_1 = g.sub(b, one);
                    let pow = g.binary(BinaryOp::Pow, a, b_minus_1);
                    let da = g.mul(b, pow);
                    let log_a = g.unary(UnaryOp::Log, a);
                    (Partial::Times(da), Partial::Times(g.mul(y, log_a)))
                }
                BinaryOp::Max | BinaryOp::Min => {
                    let (mask_a, mask_b) = selection_masks(g, op, a, b);
                    (Partial::Times(mask_a), Partial::Times(mask_b))
                }
                BinaryOp::Greater | BinaryOp::Equal => return Some(vec![]),
            };
            vec![(a, da), (b, db)]
        }
        _ => return None,
    })
}

/// The share of `max(a, b)` (or `min`) taken from each operand: 1 for the winner, 0 for the
/// other, 1/2 each on a tie (as torch.maximum/minimum split the gradient).
fn selection_masks(g: &mut Graph, op: BinaryOp, a: ValueId, b: ValueId) -> (ValueId, ValueId) {
    let (winner, loser) = if op == BinaryOp::Max { (a, b) } else { (b, a) };
    let wins = g.binary(BinaryOp::Greater, winner, loser);
    let ties = g.binary(BinaryOp::Equal, a, b);
    let half_ties = g.scale(ties, 0.5);
    let mask_a = g.add(wins, half_ties);
    let one = g.scalar_like(1.0, mask_a);
    let mask_b = g.sub(one, mask_a);
    (mask_a, mask_b)
}

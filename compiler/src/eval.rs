//! A reference evaluator of the IR in f64: the oracle that gradient checks and codegen tests
//! compare against. Nothing at run time uses it.

use crate::ir::{BinaryOp, Graph, Op, ReduceOp, UnaryOp, ValueId};
use crate::shape::Shape;
use std::collections::HashMap;

/// Evaluates every node of `g`; `feeds` holds the data of inputs, labels and parameters.
pub fn evaluate(g: &Graph, feeds: &HashMap<ValueId, Vec<f64>>) -> Vec<Vec<f64>> {
    let mut values: Vec<Vec<f64>> = Vec::with_capacity(g.nodes.len());
    for (v, node) in g.nodes.iter().enumerate() {
        let shape = &node.shape;
        let out = match &node.op {
            Op::Input { name } | Op::Labels { name, .. } | Op::Param { name, .. } => feeds
                .get(&v)
                .unwrap_or_else(|| panic!("no data fed for {name:?}"))
                .clone(),
            Op::Const(c) => vec![*c; shape.numel()],
            Op::Unary(op, a) => values[*a].iter().map(|&x| unary(*op, x)).collect(),
            Op::Binary(op, a, b) => {
                let (sa, sb) = (g.shape(*a), g.shape(*b));
                (0..shape.numel())
                    .map(|i| {
                        let x = values[*a][broadcast_index(i, shape, sa)];
                        let y = values[*b][broadcast_index(i, shape, sb)];
                        binary(*op, x, y)
                    })
                    .collect()
            }
            Op::Reduce(op, a, _) => {
                let init = match op {
                    ReduceOp::Sum => 0.0,
                    ReduceOp::Max => f64::NEG_INFINITY,
                };
                let mut out = vec![init; shape.numel()];
                let sa = g.shape(*a);
                for (i, &x) in values[*a].iter().enumerate() {
                    let o = broadcast_index(i, sa, shape);
                    out[o] = match op {
                        ReduceOp::Sum => out[o] + x,
                        ReduceOp::Max => out[o].max(x),
                    };
                }
                out
            }
            Op::MatMul(a, b) => {
                let (m, k, n) = (g.shape(*a).0[0], g.shape(*a).0[1], g.shape(*b).0[1]);
                let (x, y) = (&values[*a], &values[*b]);
                let mut out = vec![0.0; m * n];
                for i in 0..m {
                    for p in 0..k {
                        for j in 0..n {
                            out[i * n + j] += x[i * k + p] * y[p * n + j];
                        }
                    }
                }
                out
            }
            Op::Reshape(a) | Op::Detach(a) => values[*a].clone(),
            Op::Expand(a) => {
                let sa = g.shape(*a);
                (0..shape.numel()).map(|i| values[*a][broadcast_index(i, shape, sa)]).collect()
            }
            Op::Permute(a, perm) => {
                let src_strides = g.shape(*a).contiguous_strides();
                (0..shape.numel())
                    .map(|i| {
                        let coords = coords_of(i, shape);
                        let src: usize =
                            perm.iter().enumerate().map(|(d, &p)| coords[d] * src_strides[p]).sum();
                        values[*a][src]
                    })
                    .collect()
            }
            Op::OneHot(a) => {
                let classes = *shape.0.last().expect("one_hot has a class axis");
                let mut out = vec![0.0; shape.numel()];
                for (i, &label) in values[*a].iter().enumerate() {
                    out[i * classes + label as usize] = 1.0;
                }
                out
            }
        };
        debug_assert_eq!(out.len(), shape.numel(), "node %{v}");
        values.push(out);
    }
    values
}

/// The scalar semantics of each unary op (shared with the code generator's tests).
pub fn unary(op: UnaryOp, x: f64) -> f64 {
    match op {
        UnaryOp::Neg => -x,
        UnaryOp::Exp => x.exp(),
        UnaryOp::Log => x.ln(),
        UnaryOp::Sqrt => x.sqrt(),
        UnaryOp::Recip => 1.0 / x,
        UnaryOp::Abs => x.abs(),
        UnaryOp::Sign => {
            if x > 0.0 {
                1.0
            } else if x < 0.0 {
                -1.0
            } else {
                0.0
            }
        }
        UnaryOp::Relu => x.max(0.0),
        UnaryOp::Tanh => x.tanh(),
    }
}

/// The scalar semantics of each binary op.
pub fn binary(op: BinaryOp, x: f64, y: f64) -> f64 {
    match op {
        BinaryOp::Add => x + y,
        BinaryOp::Sub => x - y,
        BinaryOp::Mul => x * y,
        BinaryOp::Div => x / y,
        BinaryOp::Pow => x.powf(y),
        BinaryOp::Max => x.max(y),
        BinaryOp::Min => x.min(y),
        BinaryOp::Greater => f64::from(u8::from(x > y)),
        BinaryOp::Equal => f64::from(u8::from(x == y)),
    }
}

fn coords_of(mut i: usize, shape: &Shape) -> Vec<usize> {
    let mut coords = vec![0; shape.rank()];
    for d in (0..shape.rank()).rev() {
        coords[d] = i % shape.0[d];
        i /= shape.0[d];
    }
    coords
}

/// Index into a value of shape `src` (each dim equal to `out`'s or 1) of the element that
/// broadcasts to linear index `i` of `out`.
fn broadcast_index(i: usize, out: &Shape, src: &Shape) -> usize {
    let coords = coords_of(i, out);
    let strides = src.contiguous_strides();
    (0..src.rank()).map(|d| if src.0[d] == 1 { 0 } else { coords[d] * strides[d] }).sum()
}

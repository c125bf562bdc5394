//! Joins: a sum of zero-paddings whose pieces tile the sum, such as the gradient of an LSTM's
//! gates (each gate's gradient padded back to the width of all four, then added) or a
//! `concat`, becomes an [`Op::Concat`] of the pieces. Each piece is then written into its
//! slice of the joined buffer by the kernel that computes it, instead of being padded by a
//! kernel of its own and added by another.

use super::{copy, with_graph};
use crate::ir::{BinaryOp, Graph, Loop, Op, Shape, ValueId};
use crate::program::Program;

/// `p` with its tiling sums of paddings joined.
pub(crate) fn joined_pads(p: &Program) -> Program {
    with_graph(p, rewritten)
}

/// `g` rewritten, and where each value went.
pub(crate) fn rewritten(g: &Graph) -> (Graph, Vec<ValueId>) {
    let mut out = Graph::default();
    let mut map: Vec<ValueId> = Vec::with_capacity(g.nodes.len());
    for (v, node) in g.nodes.iter().enumerate() {
        out.set_origin(node.origin.clone());
        let new = match tiling_pads(g, v) {
            Some(pieces) => {
                let parts: Vec<ValueId> = pieces
                    .into_iter()
                    .map(|(piece, shape)| {
                        // Reshaped from its source, so that the source's kernel computes the copy.
                        let mut source = map[piece];
                        while let Op::Reshape(a) = out.nodes[source].op {
                            source = a;
                        }
                        let piece = out.reshape(source, shape);
                        copy(&mut out, piece)
                    })
                    .collect();
                let joined = joined_shape(&out, &parts);
                let concat = out.push(Op::Concat(parts, 1), joined);
                out.reshape(concat, node.shape.clone())
            }
            None => {
                let op = match &node.op {
                    Op::Loop(l) => Op::Loop(Box::new(with_body(l))),
                    op => op.clone(),
                };
                out.push(op.map_operands(|a| map[a]), node.shape.clone())
            }
        };
        map.push(new);
    }
    (out, map)
}

/// Loop `l` with its body rewritten.
fn with_body(l: &Loop) -> Loop {
    let (body, ids) = rewritten(&l.body);
    l.with_body(body, &ids)
}

/// The shape of `parts` (`[n, h_k * w]`) joined along axis 1.
fn joined_shape(out: &Graph, parts: &[ValueId]) -> Shape {
    let columns = parts.iter().map(|&p| out.shape(p).0[1]).sum();
    Shape(vec![out.shape(parts[0]).0[0], columns])
}

/// Where `sum` adds zero-paddings whose pieces tile it: each piece `[n, 1, h_k, w]` (a value of
/// `g`) with the shape `[n, h_k * w]` it takes in the join (each of the `n` blocks of the sum
/// holds every piece's block in turn), in order along the padded axis.
/// The sum is of [`Op::Unfold`]s by 1x1 windows with stride 1 that pad rows alone, each of the
/// same `[n, rows, w, 1, 1, 1]`, through adds and reshapes, with at least two pieces.
fn tiling_pads(g: &Graph, sum: ValueId) -> Option<Vec<(ValueId, Shape)>> {
    if !matches!(g.nodes[sum].op, Op::Binary(BinaryOp::Add, ..)) {
        return None;
    }
    let mut pads: Vec<ValueId> = vec![];
    let mut stack = vec![sum];
    while let Some(v) = stack.pop() {
        match &g.nodes[v].op {
            Op::Binary(BinaryOp::Add, a, b) if g.shape(*a) == g.shape(v) && g.shape(*b) == g.shape(v) => {
                stack.extend([*a, *b])
            }
            Op::Reshape(a) => stack.push(*a),
            Op::Unfold(..) => pads.push(v),
            _ => return None,
        }
    }
    let shape = g.shape(pads[0]).clone();
    let [n, rows, w, 1, 1, 1] = shape.0[..] else { return None };
    // Each piece's first padded row, rows, value and shape in the join.
    let mut pieces: Vec<(usize, usize, ValueId, Shape)> = vec![];
    for &pad in &pads {
        let Op::Unfold(piece, window, fill) = &g.nodes[pad].op else { unreachable!("collected above") };
        let rows_only = window.kernel == [1, 1] && window.stride == [1, 1] && window.padding[1] == [0, 0];
        let [_, 1, h, _] = g.shape(*piece).0[..] else { return None };
        if !rows_only || *fill != 0.0 || *g.shape(pad) != shape {
            return None;
        }
        pieces.push((window.padding[0][0], h, *piece, Shape(vec![n, h * w])));
    }
    pieces.sort_by_key(|&(top, ..)| top);
    let mut covered = 0;
    for &(top, h, ..) in &pieces {
        if top != covered {
            return None;
        }
        covered += h;
    }
    (pieces.len() > 1 && covered == rows).then(|| pieces.into_iter().map(|(.., piece, shape)| (piece, shape)).collect())
}

//! The IR verifier: checks that every node reads earlier values and that its shape is the one
//! its op gives its operands' shapes. [`crate::program`] runs it after each pass, so a pass that
//! builds an inconsistent graph is caught where it did, naming the node and the layer it came
//! from, instead of failing later in another pass or in the emitted code.

use super::{DirectWindow, Graph, Loop, Op, ValueId, Window};
use crate::ir::Shape;

/// A node that breaks the IR's rules.
#[derive(Clone, PartialEq, Debug)]
pub struct Violation {
    /// The node.
    pub value: ValueId,
    /// The DSL layer or pass that created it.
    pub origin: String,
    /// The node as text and the rule it breaks.
    pub message: String,
}

/// Checks every node of `g`; returns the first that breaks a rule.
pub fn verify(g: &Graph) -> Result<(), Violation> {
    for (v, node) in g.nodes.iter().enumerate() {
        let violation = |rule: String| Violation {
            value: v,
            origin: node.origin.clone(),
            message: format!("{}: {rule}", g.describe(v)),
        };
        if let Some(&a) = node.op.operands().iter().find(|&&a| a >= v) {
            return Err(violation(format!("reads %{a}, which is not an earlier value")));
        }
        let expected = expected_shape(g, &node.op, &node.shape).map_err(violation)?;
        if let Some(expected) = expected.filter(|e| *e != node.shape) {
            return Err(violation(format!("the op gives {expected}")));
        }
    }
    Ok(())
}

/// The shape `op` gives its operands' shapes, `None` where the op leaves it free (leaves,
/// reshapes, folds, which also name their output shape), or a broken rule of the operands.
fn expected_shape(g: &Graph, op: &Op, shape: &Shape) -> Result<Option<Shape>, String> {
    let of = |v: ValueId| g.shape(v);
    Ok(Some(match op {
        Op::Input { .. } | Op::Labels { .. } | Op::Param { .. } | Op::Const(_) => return Ok(None),
        Op::Iota(axis) if *axis >= shape.rank() => return Err(format!("axis {axis} of a rank-{} value", shape.rank())),
        Op::Iota(_) => return Ok(None),
        Op::Unary(_, a) | Op::Detach(a) => of(*a).clone(),
        Op::Mode { train, eval } if of(*train) != of(*eval) => {
            return Err(format!("its sides are {} and {}", of(*train), of(*eval)))
        }
        Op::Mode { train, .. } => of(*train).clone(),
        Op::Binary(_, a, b) => broadcast(&[of(*a), of(*b)])?,
        Op::Select { cond, then, otherwise } => broadcast(&[of(*cond), of(*then), of(*otherwise)])?,
        Op::Reduce(_, a, axes) => {
            let mut dims = of(*a).0.clone();
            for (i, &axis) in axes.iter().enumerate() {
                if axis >= dims.len() || axes[..i].contains(&axis) {
                    return Err(format!("axes {axes:?} of {}", of(*a)));
                }
                dims[axis] = 1;
            }
            Shape(dims)
        }
        Op::MatMul(a, b) => match (&of(*a).0[..], &of(*b).0[..]) {
            ([m, k], [k2, n]) if k == k2 => Shape(vec![*m, *n]),
            _ => return Err(format!("multiplies {} by {}", of(*a), of(*b))),
        },
        Op::Reshape(a) if of(*a).numel() != shape.numel() => return Err(format!("reshapes {}", of(*a))),
        Op::Reshape(_) => return Ok(None),
        Op::Permute(a, perm) => {
            let mut sorted = perm.clone();
            sorted.sort_unstable();
            if sorted != (0..of(*a).rank()).collect::<Vec<_>>() {
                return Err(format!("{perm:?} does not permute the axes of {}", of(*a)));
            }
            Shape(perm.iter().map(|&p| of(*a).0[p]).collect())
        }
        Op::Expand(a) => match Shape::broadcast(of(*a), shape) {
            Some(b) if b == *shape && of(*a).rank() == shape.rank() => return Ok(None),
            _ => return Err(format!("expands {}", of(*a))),
        },
        Op::OneHot(a) => {
            let classes = shape.0.last().copied().unwrap_or(0);
            Shape([&of(*a).0[..], &[classes]].concat())
        }
        Op::Gather(table, ids, padding) => {
            let [rows, dim] = of(*table).0[..] else { return Err(format!("gathers rows of {}", of(*table))) };
            ids_of_rows(g, *ids, rows, *padding)?;
            Shape([&of(*ids).0[..], &[dim]].concat())
        }
        Op::ScatterAdd(rows, ids, padding) => {
            let vocab = shape.0.first().copied().unwrap_or(0);
            ids_of_rows(g, *ids, vocab, *padding)?;
            let dim = of(*rows).0.last().copied().unwrap_or(0);
            if of(*rows).0[..] != [&of(*ids).0[..], &[dim]].concat()[..] {
                return Err(format!("scatters rows {} at ids {}", of(*rows), of(*ids)));
            }
            Shape(vec![vocab, dim])
        }
        Op::Pick(x, labels) => {
            let (scores, at) = (of(*x), of(*labels));
            let Some((&classes, positions)) = scores.0.split_last() else { return Err("picks from a scalar".into()) };
            if positions != &at.0[..] {
                return Err(format!("picks from {scores} at labels {at}"));
            }
            match g.nodes[*labels].op {
                Op::Labels { classes: named, .. } if named != classes => {
                    return Err(format!("picks from {classes} classes at labels below {named}"))
                }
                _ => Shape([positions, &[1]].concat()),
            }
        }
        Op::Unfold(a, window, _) => {
            let [n, c, h, w] = image(of(*a))?;
            let [oh, ow] = positions(window, [h, w])?;
            Shape(vec![n, oh, ow, c, window.kernel[0], window.kernel[1]])
        }
        Op::Fold(a, window) => {
            let [n, c, h, w] = image(shape)?;
            let [oh, ow] = positions(window, [h, w])?;
            let windows = Shape(vec![n, oh, ow, c, window.kernel[0], window.kernel[1]]);
            if *of(*a) != windows {
                return Err(format!("folds {} where its windows are {windows}", of(*a)));
            }
            return Ok(None);
        }
        Op::DirectConv(x, weight, DirectWindow { k, pad, flip }) => {
            let [c, h, w, n] = image(of(*x))?;
            let [rows, cols] = match of(*weight).0[..] {
                [rows, cols] => [rows, cols],
                _ => return Err(format!("weights {}", of(*weight))),
            };
            let taps = k * k;
            let (o, c_in) = if *flip { (cols / taps, rows) } else { (rows, cols / taps) };
            if c != c_in || [h, w].iter().any(|&d| d + 2 * pad + 1 < *k) {
                return Err(format!("convolves {} by {}", of(*x), of(*weight)));
            }
            Shape(vec![o, h + 2 * pad + 1 - k, w + 2 * pad + 1 - k, n])
        }
        Op::Loop(l) => {
            verify_loop(g, l)?;
            Shape(vec![0])
        }
        Op::LoopOutput(l, k) => match &g.nodes[*l].op {
            Op::Loop(looped) if *k < looped.outputs().len() => looped.output_shape(*k),
            _ => return Err(format!("%{l} has no output {k}")),
        },
        Op::Concat(parts, axis) => joined(g, parts, *axis)?,
        Op::StepIn(a, stepping) => match stepping.carry {
            Some(_) => of(*a).clone(),
            None if of(*a).0.first() == Some(&stepping.steps) => Shape(of(*a).0[1..].to_vec()),
            None => return Err(format!("slices {} into {} steps", of(*a), stepping.steps)),
        },
        Op::StepOut(a, stepping) => match stepping.carry {
            Some(_) => of(*a).clone(),
            None => Shape([&[stepping.steps][..], &of(*a).0[..]].concat()),
        },
        Op::ConvWeightGrad(x, grad, k) => {
            let ([c, h, w, n], [o, oh, ow, n2]) = (image(of(*x))?, image(of(*grad))?);
            if n != n2 || h + 1 != oh + k || w + 1 != ow + k {
                return Err(format!("the gradient {} does not match the images {}", of(*grad), of(*x)));
            }
            Shape(vec![o, c * k * k])
        }
    }))
}

/// Checks a loop: its body verifies; its inputs are the body's inputs, each once; each carry
/// keeps its shape; each sliced value is a slice's shape behind a leading axis of `steps`;
/// its trips, if any, follow lengths of up to `steps`.
fn verify_loop(g: &Graph, l: &Loop) -> Result<(), String> {
    let body = &l.body;
    verify(body).map_err(|v| format!("its body's {}", v.message))?;
    if l.steps == 0 {
        return Err("it runs no step".into());
    }
    let inputs = l.inputs();
    let declared: Vec<ValueId> =
        (0..body.nodes.len()).filter(|&v| matches!(body.nodes[v].op, Op::Input { .. })).collect();
    let mut sorted = inputs.clone();
    sorted.sort_unstable();
    if sorted != declared {
        return Err(format!("its body's inputs are {declared:?}, but it binds {inputs:?}"));
    }
    let outputs = l.outputs();
    if let Some(&o) = outputs.iter().find(|&&o| o >= body.nodes.len()) {
        return Err(format!("its body has no value %{o}"));
    }
    for c in &l.carries {
        let shapes = [g.shape(c.init), body.shape(c.input), body.shape(c.next)];
        if shapes[0] != shapes[1] || shapes[1] != shapes[2] {
            return Err(format!("carries %{} from {} to {} through {}", c.init, shapes[0], shapes[1], shapes[2]));
        }
    }
    for &(outer, input) in &l.slices {
        let expected = Shape([&[l.steps][..], &body.shape(input).0[..]].concat());
        if *g.shape(outer) != expected {
            return Err(format!("slices %{outer} of {} into {}", g.shape(outer), body.shape(input)));
        }
    }
    for &(outer, input) in &l.invariants {
        if g.shape(outer) != body.shape(input) {
            return Err(format!("reads %{outer} of {} as {}", g.shape(outer), body.shape(input)));
        }
    }
    match l.trips.map(|t| (t, g.nodes.get(t).map(|node| &node.op))) {
        Some((_, Some(Op::Labels { classes, .. }))) if *classes == l.steps + 1 => Ok(()),
        Some((t, _)) => Err(format!("its trips follow %{t}, which are not lengths of up to {} steps", l.steps)),
        None => Ok(()),
    }
}

/// The common shape of `shapes`, which must have one rank.
fn broadcast(shapes: &[&Shape]) -> Result<Shape, String> {
    let rank = shapes[0].rank();
    let common = shapes
        .iter()
        .try_fold(Shape(vec![1; rank]), |acc, s| (s.rank() == rank).then(|| Shape::broadcast(&acc, s)).flatten());
    common.ok_or_else(|| {
        format!("operands {} do not broadcast", shapes.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(", "))
    })
}

/// Checks that `ids` can name the rows of a table of `rows`: labels or tokens of that
/// vocabulary, or ids computed on the device (an `argmax`, in range by construction); and
/// that a padding id is one of them.
fn ids_of_rows(g: &Graph, ids: ValueId, rows: usize, padding: Option<usize>) -> Result<(), String> {
    if let Op::Labels { classes, .. } = g.nodes[ids].op {
        if classes != rows {
            return Err(format!("reads a table of {rows} rows at ids below {classes}"));
        }
    }
    match padding {
        Some(id) if id >= rows => Err(format!("pads with id {id}, which is not below {rows}")),
        _ => Ok(()),
    }
}

fn image(shape: &Shape) -> Result<[usize; 4], String> {
    match shape.0[..] {
        [a, b, c, d] => Ok([a, b, c, d]),
        _ => Err(format!("{shape} is not 4-D")),
    }
}

fn positions(window: &Window, size: [usize; 2]) -> Result<[usize; 2], String> {
    window.positions(size).ok_or_else(|| format!("the window does not fit {size:?}"))
}

/// The shape of `parts` joined along `axis`: equal elsewhere, each a pointwise value that
/// nothing but its join reads (its kernel writes it into the joined buffer).
fn joined(g: &Graph, parts: &[ValueId], axis: usize) -> Result<Shape, String> {
    let first = g.shape(*parts.first().ok_or("a join of nothing")?);
    let fits = |s: &Shape| s.rank() == first.rank() && (0..s.rank()).all(|d| d == axis || s.0[d] == first.0[d]);
    if axis >= first.rank() || !parts.iter().all(|&p| fits(g.shape(p))) {
        let shapes: Vec<String> = parts.iter().map(|&p| g.shape(p).to_string()).collect();
        return Err(format!("cannot join {} along axis {axis}", shapes.join(", ")));
    }
    for &p in parts {
        let readers = g.nodes.iter().filter(|n| n.op.operands().contains(&p)).count();
        let computed = matches!(g.nodes[p].op, Op::Unary(..) | Op::Binary(..) | Op::Select { .. });
        if !computed || readers != 1 || parts.iter().filter(|&&q| q == p).count() != 1 {
            return Err(format!("joins %{p}, which is not a pointwise value read by the join alone"));
        }
    }
    let mut dims = first.0.clone();
    dims[axis] = parts.iter().map(|&p| g.shape(p).0[axis]).sum();
    Ok(Shape(dims))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{BinaryOp, Init};

    fn graph() -> (Graph, ValueId, ValueId) {
        let mut g = Graph::default();
        g.set_origin("test");
        let x = g.input("x", Shape(vec![4, 3]));
        let w = g.param("w", Shape(vec![3, 5]), Init::Constant(0.0));
        (g, x, w)
    }

    #[test]
    fn accepts_what_the_builders_make() {
        let (mut g, x, w) = graph();
        let y = g.matmul(x, w);
        let s = g.sum(y, &[1]);
        let t = g.permute(y, &[1, 0]);
        let _ = g.binary(BinaryOp::Add, y, s);
        let _ = g.reshape(t, Shape(vec![20]));
        assert_eq!(verify(&g), Ok(()));
    }

    #[test]
    fn names_the_node_and_the_rule() {
        let (mut g, x, w) = graph();
        let y = g.matmul(x, w);
        g.nodes[y].shape = Shape(vec![4, 6]);
        let violation = verify(&g).unwrap_err();
        assert_eq!((violation.value, violation.origin.as_str()), (y, "test"));
        assert_eq!(violation.message, "%2 = matmul %0, %1 : [4, 6]  # test: the op gives [4, 5]");

        let (mut g, x, _) = graph();
        let y = g.unary(crate::ir::UnaryOp::Exp, x);
        g.nodes[y].op = Op::Unary(crate::ir::UnaryOp::Exp, y);
        assert!(verify(&g).unwrap_err().message.ends_with("reads %2, which is not an earlier value"));
    }

    /// The transposed-convolution bug of the redesign issue: a fold into an output whose
    /// windows are not the folded ones.
    #[test]
    fn catches_a_fold_into_the_wrong_size() {
        let mut g = Graph::default();
        let cols = g.input("cols", Shape(vec![4, 6, 6, 2, 2, 2]));
        let window = Window { kernel: [2, 2], stride: [1, 1], dilation: [2, 2], padding: [[0, 0], [0, 0]] };
        g.fold(cols, window, Shape(vec![4, 2, 8, 8]));
        assert_eq!(verify(&g), Ok(()));
        g.fold(cols, window, Shape(vec![4, 2, 9, 9]));
        assert!(verify(&g)
            .unwrap_err()
            .message
            .contains("folds [4, 6, 6, 2, 2, 2] where its windows are [4, 7, 7, 2, 2, 2]"));
    }

    /// A loop whose carry changes shape, and one that slices a value without a step axis.
    #[test]
    fn checks_a_loops_bindings() {
        use crate::ir::{Carry, Loop};
        let mut g = Graph::default();
        let h0 = g.input("h0", Shape(vec![2, 3]));
        let xs = g.input("xs", Shape(vec![5, 2, 3]));
        let mut body = Graph::default();
        let (h, x) = (body.input("h", Shape(vec![2, 3])), body.input("x", Shape(vec![2, 3])));
        let next = body.add(h, x);
        let looped = Loop {
            steps: 5,
            reverse: false,
            body,
            carries: vec![Carry { init: h0, input: h, next }],
            slices: vec![(xs, x)],
            invariants: vec![],
            ys: vec![],
            trips: None,
        };
        let mut ok = g.clone();
        let outputs = ok.scan(looped.clone());
        assert_eq!(ok.shape(outputs[0]), &Shape(vec![2, 3]));
        assert_eq!(verify(&ok), Ok(()));

        let mut sums = looped.clone();
        sums.carries[0].next = sums.body.sum(next, &[1]);
        let mut bad = g.clone();
        bad.scan(sums);
        assert!(verify(&bad).unwrap_err().message.contains("carries %0 from [2, 3] to [2, 3] through [2, 1]"));

        let mut unsliced = looped;
        unsliced.slices[0].0 = h0;
        let mut bad = g;
        bad.scan(unsliced);
        assert!(verify(&bad).unwrap_err().message.contains("slices %0 of [2, 3] into [2, 3]"));
    }
}

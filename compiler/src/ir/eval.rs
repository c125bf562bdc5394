//! A reference evaluator of the IR in f64: the oracle that gradient checks and emission tests
//! compare against. Nothing at run time uses it.

use crate::ir::Shape;
use crate::ir::{BinaryOp, Graph, Loop, Op, ReduceOp, UnaryOp, ValueId, Window};
use std::collections::HashMap;

/// Evaluates every node of `g`; `feeds` holds the data of inputs, labels and parameters.
pub fn evaluate(g: &Graph, feeds: &HashMap<ValueId, Vec<f64>>) -> Vec<Vec<f64>> {
    let mut values: Vec<Vec<f64>> = Vec::with_capacity(g.nodes.len());
    for (v, node) in g.nodes.iter().enumerate() {
        let shape = &node.shape;
        let out = match &node.op {
            Op::Input { name } | Op::Labels { name, .. } | Op::Param { name, .. } => {
                feeds.get(&v).unwrap_or_else(|| panic!("no data fed for {name:?}")).clone()
            }
            Op::Const(c) => vec![*c; shape.numel()],
            Op::Iota(axis) => {
                let stride = shape.contiguous_strides()[*axis];
                (0..shape.numel()).map(|i| ((i / stride) % shape.0[*axis]) as f64).collect()
            }
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
                        let src: usize = perm.iter().enumerate().map(|(d, &p)| coords[d] * src_strides[p]).sum();
                        values[*a][src]
                    })
                    .collect()
            }
            Op::Unfold(a, window, pad) => {
                let mut out = vec![*pad; shape.numel()];
                for_each_tap(g.shape(*a), window, |o, i| {
                    if let Some(i) = i {
                        out[o] = values[*a][i];
                    }
                });
                out
            }
            Op::Fold(a, window) => {
                let mut out = vec![0.0; shape.numel()];
                for_each_tap(shape, window, |o, i| {
                    if let Some(i) = i {
                        out[i] += values[*a][o];
                    }
                });
                out
            }
            Op::DirectConv(x, weight, window) => {
                direct_conv(g.shape(*x), &values[*x], &values[*weight], *window, shape)
            }
            Op::ConvWeightGrad(x, grad, k) => {
                conv_weight_grad(g.shape(*x), &values[*x], g.shape(*grad), &values[*grad], *k)
            }
            Op::Select { cond, then, otherwise } => (0..shape.numel())
                .map(|i| {
                    let at = |v: ValueId| values[v][broadcast_index(i, shape, g.shape(v))];
                    if at(*cond) > 0.0 {
                        at(*then)
                    } else {
                        at(*otherwise)
                    }
                })
                .collect(),
            // Unspecialised graphs evaluate as in training.
            Op::Mode { train, .. } => values[*train].clone(),
            Op::Gather(table, ids, padding) => {
                let [vocab, dim] = g.shape(*table).0[..] else { unreachable!("tables are [vocab, dim]") };
                let zeros = vec![0.0; dim];
                let row = |id: f64| match row_of(id, vocab, *padding) {
                    Some(row) => &values[*table][row * dim..][..dim],
                    None => &zeros[..],
                };
                values[*ids].iter().flat_map(|&id| row(id).iter().copied()).collect()
            }
            Op::ScatterAdd(rows, ids, padding) => {
                let [vocab, dim] = shape.0[..] else { unreachable!("tables are [vocab, dim]") };
                let mut out = vec![0.0; shape.numel()];
                let named =
                    values[*ids].iter().enumerate().filter_map(|(r, &id)| Some((r, row_of(id, vocab, *padding)?)));
                for (r, row) in named {
                    for (o, x) in out[row * dim..][..dim].iter_mut().zip(&values[*rows][r * dim..][..dim]) {
                        *o += x;
                    }
                }
                out
            }
            Op::Pick(x, labels) => {
                let classes = *g.shape(*x).0.last().expect("picks along a last axis");
                // As the kernel does, a label outside the classes picks 0.
                let pick = |(r, &label): (usize, &f64)| {
                    row_of(label, classes, None).map_or(0.0, |c| values[*x][r * classes + c])
                };
                values[*labels].iter().enumerate().map(pick).collect()
            }
            Op::Loop(l) => run_loop(l, &values),
            Op::Concat(parts, axis) => {
                // Each outer index holds every part's block in turn.
                let outer: usize = shape.0[..*axis].iter().product();
                let mut out = Vec::with_capacity(shape.numel());
                for o in 0..outer {
                    for &p in parts {
                        let block = g.shape(p).numel() / outer;
                        out.extend_from_slice(&values[p][o * block..][..block]);
                    }
                }
                out
            }
            Op::StepIn(..) | Op::StepOut(..) => {
                unreachable!("internal: stepped loops are lowered for the back end, never evaluated")
            }
            Op::LoopOutput(l, k) => {
                let Op::Loop(looped) = &g.nodes[*l].op else { unreachable!("loop outputs read loops") };
                let start: usize = (0..*k).map(|j| looped.output_shape(j).numel()).sum();
                values[*l][start..][..shape.numel()].to_vec()
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
        let loop_node = matches!(node.op, Op::Loop(_));
        debug_assert!(loop_node || out.len() == shape.numel(), "node %{v}");
        values.push(out);
    }
    values
}

/// Runs loop `l` over the outer `values`: its outputs (the last carries, then the stacked
/// outputs) one after another.
fn run_loop(l: &Loop, values: &[Vec<f64>]) -> Vec<f64> {
    let sizes: Vec<usize> = l.ys.iter().map(|&y| l.body.shape(y).numel()).collect();
    let mut stacked: Vec<Vec<f64>> = sizes.iter().map(|&size| vec![0.0; size * l.steps]).collect();
    let mut carried: Vec<Vec<f64>> = l.carries.iter().map(|c| values[c.init].clone()).collect();
    for step in 0..l.steps {
        let index = l.index(step);
        let mut feeds: HashMap<ValueId, Vec<f64>> = HashMap::new();
        for (c, value) in l.carries.iter().zip(&carried) {
            feeds.insert(c.input, value.clone());
        }
        for &(outer, input) in &l.slices {
            let size = l.body.shape(input).numel();
            feeds.insert(input, values[outer][index * size..][..size].to_vec());
        }
        for &(outer, input) in &l.invariants {
            feeds.insert(input, values[outer].clone());
        }
        let body = evaluate(&l.body, &feeds);
        for ((out, &y), &size) in stacked.iter_mut().zip(&l.ys).zip(&sizes) {
            out[index * size..][..size].copy_from_slice(&body[y]);
        }
        carried = l.carries.iter().map(|c| body[c.next].clone()).collect();
    }
    [carried, stacked].concat().concat()
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
        UnaryOp::Sigmoid => {
            // Never e^x of a large x: 1 / (1 + e^-x), or e^x / (1 + e^x) below 0.
            let e = (-x.abs()).exp();
            if x >= 0.0 {
                1.0 / (1.0 + e)
            } else {
                e / (1.0 + e)
            }
        }
        UnaryOp::Erf => erf(x),
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

/// erf to f64 precision by its Maclaurin series (|x| < 3) or continued fraction (|x| >= 3).
fn erf(x: f64) -> f64 {
    if x.abs() >= 3.0 {
        // erfc(x) = e^{-x^2}/sqrt(pi) * 1/(x + 1/2/(x + 1/(x + 3/2/(x + ...))))
        let a = x.abs();
        let mut frac = a;
        for k in (1..60).rev() {
            frac = a + (k as f64 / 2.0) / frac;
        }
        let erfc = (-a * a).exp() / std::f64::consts::PI.sqrt() / frac;
        return (1.0 - erfc).copysign(x);
    }
    let (mut term, mut sum) = (x, x);
    for n in 1..200 {
        term *= -x * x / n as f64;
        let next = term / (2 * n + 1) as f64;
        sum += next;
        if next.abs() < 1e-17 * sum.abs() {
            break;
        }
    }
    sum * std::f64::consts::FRAC_2_SQRT_PI
}

/// Calls `f(out_index, in_index)` for every window tap of an unfold of `[n, c, h, w]` that
/// lies inside the input (`in_index` is `None` for a tap in the padding).
pub(crate) fn for_each_tap(input: &Shape, window: &Window, mut f: impl FnMut(usize, Option<usize>)) {
    let [n, c, h, w] = input.0[..] else { unreachable!() };
    let [oh, ow] = window.positions([h, w]).expect("window fits");
    let [kh, kw] = window.kernel;
    let mut out = 0;
    for b in 0..n {
        for y in 0..oh {
            for x in 0..ow {
                for ch in 0..c {
                    for i in 0..kh {
                        for j in 0..kw {
                            let py = y * window.stride[0] + i * window.dilation[0];
                            let px = x * window.stride[1] + j * window.dilation[1];
                            let inside = py >= window.padding[0][0]
                                && py < window.padding[0][0] + h
                                && px >= window.padding[1][0]
                                && px < window.padding[1][0] + w;
                            let src = ((b * c + ch) * h + py - window.padding[0][0].min(py)) * w + px
                                - window.padding[1][0].min(px);
                            f(out, inside.then_some(src));
                            out += 1;
                        }
                    }
                }
            }
        }
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

/// [`Op::DirectConv`] of images `x` (`[c, h, w, n]`) by `weight` into `out_shape`.
fn direct_conv(
    x_shape: &Shape,
    x: &[f64],
    weight: &[f64],
    window: crate::ir::DirectWindow,
    out_shape: &Shape,
) -> Vec<f64> {
    let ([c_in, h, w, n], [c_out, oh, ow, _]) = (x_shape.dims(), out_shape.dims());
    let (k, pad) = (window.k, window.pad);
    let mut out = vec![0.0; out_shape.numel()];
    for o in 0..c_out {
        for c in 0..c_in {
            for i in 0..k {
                for j in 0..k {
                    let tap = match window.flip {
                        true => weight[((c * c_out + o) * k + k - 1 - i) * k + k - 1 - j],
                        false => weight[((o * c_in + c) * k + i) * k + j],
                    };
                    for y in 0..oh {
                        for xx in 0..ow {
                            let (sy, sx) = ((y + i).wrapping_sub(pad), (xx + j).wrapping_sub(pad));
                            if sy < h && sx < w {
                                for b in 0..n {
                                    out[((o * oh + y) * ow + xx) * n + b] += tap * x[((c * h + sy) * w + sx) * n + b];
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    out
}

/// [`Op::ConvWeightGrad`] of images `x` (`[c, h, w, n]`) and output gradient `grad`.
fn conv_weight_grad(x_shape: &Shape, x: &[f64], grad_shape: &Shape, grad: &[f64], k: usize) -> Vec<f64> {
    let ([c_in, h, w, n], [c_out, oh, ow, _]) = (x_shape.dims(), grad_shape.dims());
    let mut out = vec![0.0; c_out * c_in * k * k];
    for o in 0..c_out {
        for c in 0..c_in {
            for i in 0..k {
                for j in 0..k {
                    let mut sum = 0.0;
                    for y in 0..oh {
                        for xx in 0..ow {
                            for b in 0..n {
                                sum +=
                                    grad[((o * oh + y) * ow + xx) * n + b] * x[((c * h + y + i) * w + xx + j) * n + b];
                            }
                        }
                    }
                    out[((o * c_in + c) * k + i) * k + j] = sum;
                }
            }
        }
    }
    out
}

/// The table row id `id` names: none for the padding id or an id outside `0..vocab`, as the
/// library's gather kernels read it.
fn row_of(id: f64, vocab: usize, padding: Option<usize>) -> Option<usize> {
    let row = id as usize;
    (id >= 0.0 && row < vocab && Some(row) != padding).then_some(row)
}

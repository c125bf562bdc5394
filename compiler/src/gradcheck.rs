//! Every IR op's gradient rule against central finite differences, in f64.
//!
//! Each case builds `loss = sum(op(params) * w)` with a random `w`, so every output element
//! carries a distinct weight, and compares autodiff's gradient with (L(p+h) - L(p-h)) / 2h.
//! With h = 1e-6 in f64 the truncation error is O(h^2) ~ 1e-12 and rounding ~ 1e-10, so a
//! relative tolerance of 1e-6 has margin and still catches any wrong rule.

use crate::autodiff::gradients;
use crate::eval::evaluate;
use crate::ir::{BinaryOp, Graph, Init, ReduceOp, UnaryOp, ValueId, Window};
use crate::shape::Shape;
use std::collections::HashMap;

const H: f64 = 1e-6;
const TOLERANCE: f64 = 1e-6;

/// Deterministic values in [lo, hi) (SplitMix64), kept away from kinks by the callers' ranges.
fn values(seed: u64, n: usize, lo: f64, hi: f64) -> Vec<f64> {
    fn mix(mut z: u64) -> u64 {
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    // Seeds are mixed first: consecutive raw seeds would give shifted copies of one stream.
    let mut state = mix(seed ^ 0xD1B5_4A32_D192_ED03);
    (0..n)
        .map(|_| {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            lo + (hi - lo) * (mix(state) >> 11) as f64 / (1u64 << 53) as f64
        })
        .collect()
}

/// A test graph: parameters with data, and the op under test applied to them.
struct Case {
    g: Graph,
    feeds: HashMap<ValueId, Vec<f64>>,
    params: Vec<ValueId>,
}

impl Case {
    fn new() -> Self {
        Case { g: Graph::default(), feeds: HashMap::new(), params: vec![] }
    }

    fn param(&mut self, shape: &[usize], lo: f64, hi: f64) -> ValueId {
        let n = self.params.len();
        let p = self.g.param(&format!("p{n}"), Shape(shape.to_vec()), Init::Constant(0.0));
        let numel = self.g.shape(p).numel();
        self.feeds.insert(p, values(17 + n as u64, numel, lo, hi));
        self.params.push(p);
        p
    }

    /// Checks d sum(y * w) / d params against finite differences; returns the max relative error.
    fn check(mut self, y: ValueId) -> f64 {
        let w = self.g.input("w", self.g.shape(y).clone());
        self.feeds.insert(w, values(99, self.g.shape(y).numel(), -1.0, 1.0));
        let weighted = self.g.mul(y, w);
        let rank = self.g.shape(weighted).rank();
        let loss = self.g.sum(weighted, &(0..rank).collect::<Vec<_>>());
        let grads = gradients(&mut self.g, loss, &self.params);
        let values = evaluate(&self.g, &self.feeds);
        let mut worst: f64 = 0.0;
        for (&p, grad) in self.params.iter().zip(grads) {
            let analytic = grad.map_or(vec![0.0; self.g.shape(p).numel()], |v| values[v].clone());
            for (i, &a) in analytic.iter().enumerate() {
                let numeric = self.finite_difference(loss, p, i);
                let err = (a - numeric).abs() / a.abs().max(numeric.abs()).max(1.0);
                assert!(err < TOLERANCE, "param %{p}[{i}]: autodiff {a} vs numeric {numeric}");
                worst = worst.max(err);
            }
        }
        worst
    }

    fn finite_difference(&self, loss: ValueId, p: ValueId, i: usize) -> f64 {
        let at = |delta: f64| {
            let mut feeds = self.feeds.clone();
            feeds.get_mut(&p).unwrap()[i] += delta;
            evaluate(&self.g, &feeds)[loss][0]
        };
        (at(H) - at(-H)) / (2.0 * H)
    }
}

fn check_unary(op: UnaryOp, lo: f64, hi: f64) -> f64 {
    let mut c = Case::new();
    let x = c.param(&[3, 4], lo, hi);
    let y = c.g.unary(op, x);
    c.check(y)
}

#[test]
fn unary_ops_match_finite_differences() {
    for (op, lo, hi) in [
        (UnaryOp::Neg, -2.0, 2.0),
        (UnaryOp::Exp, -2.0, 2.0),
        (UnaryOp::Log, 0.5, 3.0),
        (UnaryOp::Sqrt, 0.5, 3.0),
        (UnaryOp::Recip, 0.5, 3.0),
        (UnaryOp::Abs, -2.0, 2.0),
        (UnaryOp::Sign, -2.0, 2.0),
        (UnaryOp::Relu, -2.0, 2.0),
        (UnaryOp::Tanh, -2.0, 2.0),
        (UnaryOp::Erf, -2.0, 2.0),
    ] {
        let err = check_unary(op, lo, hi);
        println!("{op:?}: max relative error {err:.1e}");
    }
}

#[test]
fn binary_ops_with_broadcasting_match_finite_differences() {
    for op in [
        BinaryOp::Add,
        BinaryOp::Sub,
        BinaryOp::Mul,
        BinaryOp::Div,
        BinaryOp::Pow,
        BinaryOp::Max,
        BinaryOp::Min,
        BinaryOp::Greater,
        BinaryOp::Equal,
    ] {
        for (sa, sb) in [([3, 4], [3, 4]), ([3, 4], [1, 4]), ([3, 1], [1, 4])] {
            let mut c = Case::new();
            let a = c.param(&sa, 0.5, 2.0);
            let b = c.param(&sb, 0.6, 2.1);
            let y = c.g.binary(op, a, b);
            let err = c.check(y);
            println!("{op:?} {sa:?} {sb:?}: max relative error {err:.1e}");
        }
    }
}

#[test]
fn reductions_match_finite_differences() {
    for op in [ReduceOp::Sum, ReduceOp::Max] {
        for axes in [&[0][..], &[1], &[2], &[0, 2], &[0, 1, 2]] {
            let mut c = Case::new();
            let x = c.param(&[2, 3, 4], -2.0, 2.0);
            let y = c.g.reduce(op, x, axes);
            let err = c.check(y);
            println!("{op:?} {axes:?}: max relative error {err:.1e}");
        }
    }
}

#[test]
fn matmul_and_views_match_finite_differences() {
    let mut c = Case::new();
    let (a, b) = (c.param(&[3, 4], -1.0, 1.0), c.param(&[4, 5], -1.0, 1.0));
    let y = c.g.matmul(a, b);
    println!("matmul: {:.1e}", c.check(y));

    let mut c = Case::new();
    let (a, b) = (c.param(&[4, 3], -1.0, 1.0), c.param(&[5, 4], -1.0, 1.0));
    let (at, bt) = (c.g.transpose(a), c.g.transpose(b));
    let y = c.g.matmul(at, bt);
    println!("matmul of transposes: {:.1e}", c.check(y));

    let mut c = Case::new();
    let x = c.param(&[2, 3, 4], -1.0, 1.0);
    let y = c.g.permute(x, &[2, 0, 1]);
    println!("permute: {:.1e}", c.check(y));

    let mut c = Case::new();
    let x = c.param(&[2, 3, 4], -1.0, 1.0);
    let y = c.g.reshape(x, Shape(vec![6, 4]));
    println!("reshape: {:.1e}", c.check(y));

    let mut c = Case::new();
    let x = c.param(&[3, 1], -1.0, 1.0);
    let y = c.g.expand(x, Shape(vec![3, 5]));
    println!("expand: {:.1e}", c.check(y));
}

#[test]
fn unfold_and_fold_match_finite_differences() {
    let windows = [
        Window { kernel: [3, 3], stride: [1, 1], dilation: [1, 1], padding: [[1, 1], [1, 1]] },
        Window { kernel: [2, 3], stride: [2, 1], dilation: [1, 2], padding: [[0, 1], [2, 0]] },
        Window { kernel: [2, 2], stride: [2, 2], dilation: [1, 1], padding: [[0, 0], [0, 0]] },
    ];
    for window in windows {
        for pad in [0.0, -7.0] {
            let mut c = Case::new();
            let x = c.param(&[2, 3, 5, 6], -1.0, 1.0);
            let y = c.g.unfold(x, window, pad);
            println!("unfold {window:?} pad {pad}: {:.1e}", c.check(y));
        }
        let mut c = Case::new();
        let [oh, ow] = window.positions([5, 6]).unwrap();
        let cols = c.param(&[2, oh, ow, 3, window.kernel[0], window.kernel[1]], -1.0, 1.0);
        let y = c.g.fold(cols, window, Shape(vec![2, 3, 5, 6]));
        println!("fold {window:?}: {:.1e}", c.check(y));
    }
}

#[test]
fn fold_is_the_adjoint_of_unfold() {
    // <unfold(x), c> == <x, fold(c)> for every x and c: the two ops are exact transposes.
    let window = Window { kernel: [3, 2], stride: [2, 1], dilation: [1, 2], padding: [[1, 2], [0, 1]] };
    let mut g = Graph::default();
    let x = g.param("x", Shape(vec![2, 3, 7, 5]), Init::Constant(0.0));
    let u = g.unfold(x, window, 0.0);
    let cols = g.param("c", g.shape(u).clone(), Init::Constant(0.0));
    let f = g.fold(cols, window, Shape(vec![2, 3, 7, 5]));
    let feeds = HashMap::from([
        (x, values(1, g.shape(x).numel(), -1.0, 1.0)),
        (cols, values(2, g.shape(cols).numel(), -1.0, 1.0)),
    ]);
    let v = evaluate(&g, &feeds);
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    let (lhs, rhs) = (dot(&v[u], &v[cols]), dot(&v[x], &v[f]));
    assert!((lhs - rhs).abs() < 1e-12 * lhs.abs().max(1.0), "{lhs} vs {rhs}");
}

#[test]
fn detach_stops_the_gradient() {
    // d/dx sum(detach(x) * x) is detach(x) = x, not 2x (finite differences cannot see detach).
    let mut g = Graph::default();
    let x = g.param("x", Shape(vec![1, 3]), Init::Constant(0.0));
    let d = g.detach(x);
    let y = g.mul(d, x);
    let loss = g.sum(y, &[0, 1]);
    let grad = gradients(&mut g, loss, &[x])[0].unwrap();
    let feeds = HashMap::from([(x, vec![0.5, -2.0, 3.0])]);
    assert_eq!(evaluate(&g, &feeds)[grad], vec![0.5, -2.0, 3.0]);
}

#[test]
fn ties_split_the_gradient_like_pytorch() {
    let mut g = Graph::default();
    let x = g.param("x", Shape(vec![1, 3]), Init::Constant(0.0));
    let m = g.reduce(ReduceOp::Max, x, &[1]);
    let relu = g.unary(UnaryOp::Relu, x);
    let both = g.sum(relu, &[0, 1]);
    let loss = g.add(m, both);
    let grad = gradients(&mut g, loss, &[x])[0].unwrap();
    let feeds = HashMap::from([(x, vec![2.0, 2.0, 0.0])]);
    // amax: the two tied maxima share 1; relu: 1 where x > 0, 0 at exactly 0.
    assert_eq!(evaluate(&g, &feeds)[grad], vec![1.5, 1.5, 0.0]);
}

#[test]
fn one_hot_has_no_gradient_and_places_ones() {
    let mut g = Graph::default();
    let labels = g.labels("y", Shape(vec![3]), 4);
    let onehot = g.one_hot(labels, 4);
    let feeds = HashMap::from([(labels, vec![2.0, 0.0, 3.0])]);
    let expected = [0., 0., 1., 0., 1., 0., 0., 0., 0., 0., 0., 1.];
    assert_eq!(evaluate(&g, &feeds)[onehot], expected);
    let p = g.param("p", Shape(vec![3, 4]), Init::Constant(0.0));
    let y = g.mul(onehot, p);
    let loss = g.sum(y, &[0, 1]);
    assert_eq!(gradients(&mut g, loss, &[labels])[0], None);
}

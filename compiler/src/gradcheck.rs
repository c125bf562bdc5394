//! Every IR op's gradient, JVP and HVP rules against central finite differences, in f64.
//!
//! Each case builds `loss = sum(w * op(params)^2)` with a random `w`, so every output element
//! carries a distinct weight and even linear ops have a Hessian, and compares autodiff's
//! gradient with (L(p+h) - L(p-h)) / 2h; JVPs and HVPs likewise along random directions.
//! With h = 1e-6 in f64 the truncation error is O(h^2) ~ 1e-12 and rounding ~ 1e-10, so a
//! relative tolerance of 1e-6 has margin and still catches any wrong rule.

use crate::grad::gradients;
use crate::grad::{hvp, jvp};
use crate::ir::eval::evaluate;
use crate::ir::Shape;
use crate::ir::{BinaryOp, Carry, Graph, Init, Loop, ReduceOp, UnaryOp, ValueId, Window};
use crate::test_rng::SplitMix64;
use std::collections::HashMap;

const H: f64 = 1e-6;
const TOLERANCE: f64 = 1e-6;

/// Deterministic values in [lo, hi) (SplitMix64), kept away from kinks by the callers' ranges.
fn values(seed: u64, n: usize, lo: f64, hi: f64) -> Vec<f64> {
    // Seeds are mixed first: consecutive raw seeds would give shifted copies of one stream.
    let mut rng = SplitMix64(SplitMix64::mix(seed ^ 0xD1B5_4A32_D192_ED03));
    (0..n).map(|_| lo + (hi - lo) * rng.next_f64()).collect()
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

    /// For `loss = sum(w * y^2)` and a random direction `u` per parameter, checks against
    /// central finite differences: the gradient, the JVP `J u` of `y`, and the HVP `H u` of
    /// the loss (forward over reverse); and checks `vᵀ(J u) = (Jᵀ v)ᵀ u` between the two modes,
    /// with `v = 2 w y`, the loss's gradient with respect to `y`.
    fn check(mut self, y: ValueId) -> Errors {
        let w = self.g.input("w", self.g.shape(y).clone());
        self.feeds.insert(w, values(99, self.g.shape(y).numel(), -1.0, 1.0));
        let squared = self.g.mul(y, y);
        let weighted = self.g.mul(squared, w);
        let rank = self.g.shape(weighted).rank();
        let loss = self.g.sum(weighted, &(0..rank).collect::<Vec<_>>());
        let directions: Vec<ValueId> = self
            .params
            .clone()
            .into_iter()
            .map(|p| {
                let shape = self.g.shape(p).clone();
                let u = self.g.input(&format!("u{p}"), shape.clone());
                self.feeds.insert(u, values(1000 + p as u64, shape.numel(), -1.0, 1.0));
                u
            })
            .collect();
        let grads = gradients(&mut self.g, loss, &self.params);
        let tangents: Vec<(ValueId, ValueId)> = self.params.iter().copied().zip(directions.iter().copied()).collect();
        let jvp_y = jvp(&mut self.g, &[y], &tangents)[0];
        let hvps = hvp(&mut self.g, loss, &self.params, &directions);
        let base = evaluate(&self.g, &self.feeds);
        let value_or_zero = |v: Option<ValueId>, like: ValueId, at: &[Vec<f64>]| {
            v.map_or_else(|| vec![0.0; self.g.shape(like).numel()], |v| at[v].clone())
        };
        let mut errors = Errors::default();

        for (&p, grad) in self.params.iter().zip(&grads) {
            let analytic = value_or_zero(*grad, p, &base);
            for (i, &a) in analytic.iter().enumerate() {
                let numeric = self.finite_difference(loss, p, i);
                errors.gradient = errors.gradient.max(relative_error(a, numeric, || format!("gradient of %{p}[{i}]")));
            }
        }

        // Every parameter moved along its direction: p ± h u.
        let (plus, minus) = (self.evaluate_along(&directions, H), self.evaluate_along(&directions, -H));
        let analytic = value_or_zero(jvp_y, y, &base);
        for (i, &a) in analytic.iter().enumerate() {
            let numeric = (plus[y][i] - minus[y][i]) / (2.0 * H);
            errors.jvp = errors.jvp.max(relative_error(a, numeric, || format!("jvp of %{y}[{i}]")));
        }
        let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
        let v: Vec<f64> = base[y].iter().zip(&base[w]).map(|(y, w)| 2.0 * y * w).collect();
        let forward = dot(&analytic, &v);
        let reverse: f64 = self
            .params
            .iter()
            .zip(&grads)
            .zip(&directions)
            .map(|((&p, grad), &u)| dot(&value_or_zero(*grad, p, &base), &base[u]))
            .sum();
        errors.transpose = relative_error(forward, reverse, || format!("vᵀ(J u) vs (Jᵀ v)ᵀ u of %{y}"));

        for ((&p, grad), product) in self.params.iter().zip(&grads).zip(hvps) {
            let analytic = value_or_zero(product, p, &base);
            let (up, down) = (value_or_zero(*grad, p, &plus), value_or_zero(*grad, p, &minus));
            for (i, &a) in analytic.iter().enumerate() {
                let numeric = (up[i] - down[i]) / (2.0 * H);
                errors.hvp = errors.hvp.max(relative_error(a, numeric, || format!("hvp of %{p}[{i}]")));
            }
        }
        errors
    }

    /// Evaluates the graph with every parameter moved by `h` times its direction.
    fn evaluate_along(&self, directions: &[ValueId], h: f64) -> Vec<Vec<f64>> {
        let mut feeds = self.feeds.clone();
        for (&p, u) in self.params.iter().zip(directions) {
            let step = self.feeds[u].clone();
            for (x, du) in feeds.get_mut(&p).unwrap().iter_mut().zip(step) {
                *x += h * du;
            }
        }
        evaluate(&self.g, &feeds)
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

/// `|a - b| / max(|a|, |b|, 1)`, asserted below the tolerance; `what` names the value in the
/// failure message.
pub(crate) fn relative_error(analytic: f64, numeric: f64, what: impl FnOnce() -> String) -> f64 {
    let err = (analytic - numeric).abs() / analytic.abs().max(numeric.abs()).max(1.0);
    assert!(err < TOLERANCE, "{}: derived {analytic} vs numeric {numeric}", what());
    err
}

/// The largest relative error of each check of one case.
#[derive(Default)]
struct Errors {
    gradient: f64,
    jvp: f64,
    transpose: f64,
    hvp: f64,
}

impl std::fmt::Display for Errors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "gradient {:.1e}, jvp {:.1e}, jvp vs reverse {:.1e}, hvp {:.1e}",
            self.gradient, self.jvp, self.transpose, self.hvp
        )
    }
}

fn check_unary(op: UnaryOp, lo: f64, hi: f64) -> Errors {
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
        (UnaryOp::Sigmoid, -4.0, 4.0),
        (UnaryOp::Erf, -2.0, 2.0),
    ] {
        let err = check_unary(op, lo, hi);
        println!("{op:?}: {err}");
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
            println!("{op:?} {sa:?} {sb:?}: {err}");
        }
    }
}

#[test]
fn select_matches_finite_differences() {
    // The condition is a parameter too: its gradient is zero, as is its tangent.
    for (sc, st, so) in [([3, 4], [3, 4], [3, 4]), ([3, 1], [1, 4], [3, 4]), ([1, 4], [3, 4], [1, 1])] {
        let mut c = Case::new();
        let cond = c.param(&sc, -1.0, 1.0);
        let then = c.param(&st, -2.0, 2.0);
        let otherwise = c.param(&so, -2.0, 2.0);
        let y = c.g.select(cond, then, otherwise);
        println!("select {sc:?} {st:?} {so:?}: {}", c.check(y));
    }
}

#[test]
fn select_does_not_leak_the_other_side() {
    let mut g = Graph::default();
    let x = g.param("x", Shape(vec![1, 3]), Init::Constant(0.0));
    let ok = g.param("ok", Shape(vec![1, 1]), Init::Constant(0.0));
    let inf = g.constant(f64::INFINITY, Shape(vec![1, 1]));
    let nan = g.mul(x, inf);
    let y = g.select(ok, nan, x);
    let feeds = HashMap::from([(x, vec![0.0, 2.0, -1.0]), (ok, vec![0.0])]);
    assert_eq!(evaluate(&g, &feeds)[y], vec![0.0, 2.0, -1.0]);
}

#[test]
fn reductions_match_finite_differences() {
    for op in [ReduceOp::Sum, ReduceOp::Max] {
        for axes in [&[0][..], &[1], &[2], &[0, 2], &[0, 1, 2]] {
            let mut c = Case::new();
            let x = c.param(&[2, 3, 4], -2.0, 2.0);
            let y = c.g.reduce(op, x, axes);
            let err = c.check(y);
            println!("{op:?} {axes:?}: {err}");
        }
    }
}

#[test]
fn matmul_and_views_match_finite_differences() {
    let mut c = Case::new();
    let (a, b) = (c.param(&[3, 4], -1.0, 1.0), c.param(&[4, 5], -1.0, 1.0));
    let y = c.g.matmul(a, b);
    println!("matmul: {}", c.check(y));

    let mut c = Case::new();
    let (a, b) = (c.param(&[4, 3], -1.0, 1.0), c.param(&[5, 4], -1.0, 1.0));
    let (at, bt) = (c.g.transpose(a), c.g.transpose(b));
    let y = c.g.matmul(at, bt);
    println!("matmul of transposes: {}", c.check(y));

    let mut c = Case::new();
    let x = c.param(&[2, 3, 4], -1.0, 1.0);
    let y = c.g.permute(x, &[2, 0, 1]);
    println!("permute: {}", c.check(y));

    let mut c = Case::new();
    let x = c.param(&[2, 3, 4], -1.0, 1.0);
    let y = c.g.reshape(x, Shape(vec![6, 4]));
    println!("reshape: {}", c.check(y));

    let mut c = Case::new();
    let x = c.param(&[3, 1], -1.0, 1.0);
    let y = c.g.expand(x, Shape(vec![3, 5]));
    println!("expand: {}", c.check(y));
}

#[test]
fn unfold_and_fold_match_finite_differences() {
    let windows = [
        Window { kernel: [3, 3], stride: [1, 1], dilation: [1, 1], padding: [[1, 1], [1, 1]] },
        Window { kernel: [2, 3], stride: [2, 1], dilation: [1, 2], padding: [[0, 1], [2, 0]] },
        Window { kernel: [2, 2], stride: [2, 2], dilation: [1, 1], padding: [[0, 0], [0, 0]] },
    ];
    for window in windows {
        for pad in [0.0, -3.0] {
            let mut c = Case::new();
            let x = c.param(&[2, 3, 5, 6], -1.0, 1.0);
            let y = c.g.unfold(x, window, pad);
            println!("unfold {window:?} pad {pad}: {}", c.check(y));
        }
        let mut c = Case::new();
        let [oh, ow] = window.positions([5, 6]).unwrap();
        let cols = c.param(&[2, oh, ow, 3, window.kernel[0], window.kernel[1]], -1.0, 1.0);
        let y = c.g.fold(cols, window, Shape(vec![2, 3, 5, 6]));
        println!("fold {window:?}: {}", c.check(y));
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
fn gather_and_scatter_add_match_finite_differences() {
    // Ids repeat (rows 1 and 4 of the table are read twice) and row 3 is never read; with
    // padding id 4, its rows are constant zeros.
    let ids = [1.0, 4.0, 0.0, 1.0, 2.0, 4.0];
    for padding in [None, Some(4)] {
        let mut c = Case::new();
        let table = c.param(&[5, 3], -1.0, 1.0);
        let labels = c.g.labels("ids", Shape(vec![2, 3]), 5);
        c.feeds.insert(labels, ids.to_vec());
        let y = c.g.gather(table, labels, padding);
        println!("gather, padding {padding:?}: {}", c.check(y));
        let mut c = Case::new();
        let rows = c.param(&[2, 3, 4], -1.0, 1.0);
        let labels = c.g.labels("ids", Shape(vec![2, 3]), 5);
        c.feeds.insert(labels, ids.to_vec());
        let y = c.g.scatter_add(rows, labels, 5, padding);
        println!("scatter_add, padding {padding:?}: {}", c.check(y));
    }
}

#[test]
fn scatter_add_is_the_adjoint_of_gather() {
    // <gather(t), r> == <t, scatter_add(r)> for every table t and rows r at the same ids,
    // with or without a padding id (0: read once).
    for padding in [None, Some(0)] {
        let mut g = Graph::default();
        let table = g.param("t", Shape(vec![4, 3]), Init::Constant(0.0));
        let ids = g.labels("ids", Shape(vec![5]), 4);
        let gathered = g.gather(table, ids, padding);
        let rows = g.param("r", Shape(vec![5, 3]), Init::Constant(0.0));
        let scattered = g.scatter_add(rows, ids, 4, padding);
        let feeds = HashMap::from([
            (table, values(1, 12, -1.0, 1.0)),
            (rows, values(2, 15, -1.0, 1.0)),
            (ids, vec![3.0, 0.0, 3.0, 1.0, 3.0]),
        ]);
        let v = evaluate(&g, &feeds);
        assert_eq!(v[gathered][..3], v[table][9..]);
        assert_eq!(v[scattered][6..9], [0.0; 3], "row 2 is never scattered to");
        if padding.is_some() {
            assert_eq!(v[gathered][3..6], [0.0; 3], "the padding id gathers zeros");
            assert_eq!(v[scattered][..3], [0.0; 3], "the padding row gets nothing");
        } else {
            assert_eq!(v[gathered][3..6], v[table][..3]);
        }
        let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
        let (lhs, rhs) = (dot(&v[gathered], &v[rows]), dot(&v[table], &v[scattered]));
        assert!((lhs - rhs).abs() < 1e-12 * lhs.abs().max(1.0), "{lhs} vs {rhs}");
    }
}

#[test]
fn pick_reads_each_label_and_matches_finite_differences() {
    // Positions [2, 3] over 4 classes; class 1 is picked twice and class 2 never.
    let labels_at = [1.0, 3.0, 0.0, 1.0, 3.0, 0.0];
    let mut c = Case::new();
    let x = c.param(&[2, 3, 4], -1.0, 1.0);
    let labels = c.g.labels("y", Shape(vec![2, 3]), 4);
    c.feeds.insert(labels, labels_at.to_vec());
    let picked = c.g.pick(x, labels);
    let v = evaluate(&c.g, &c.feeds);
    let expected: Vec<f64> = labels_at.iter().enumerate().map(|(r, &l)| v[x][r * 4 + l as usize]).collect();
    assert_eq!(v[picked], expected);
    assert_eq!(c.g.shape(picked), &Shape(vec![2, 3, 1]));
    println!("pick: {}", c.check(picked));
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

/// A loop of 4 steps carrying `h' = tanh(x_t + h W)` and a running sum `a' = a + h'`, each step
/// also giving `h'` and `h' * x_t`; the result adds its four outputs (the last carries,
/// broadcast, and the stacked values), so every output carries a cotangent.
fn recurrent_loop(c: &mut Case, reverse: bool) -> ValueId {
    let shape = |dims: &[usize]| Shape(dims.to_vec());
    let h0 = c.param(&[2, 3], -1.0, 1.0);
    let xs = c.param(&[4, 2, 3], -1.0, 1.0);
    let w = c.param(&[3, 3], -0.8, 0.8);
    let mut body = Graph::default();
    let (h, a, x, wi) = (
        body.input("h", shape(&[2, 3])),
        body.input("a", shape(&[2, 3])),
        body.input("x", shape(&[2, 3])),
        body.input("w", shape(&[3, 3])),
    );
    let hw = body.matmul(h, wi);
    let pre = body.add(x, hw);
    let next = body.unary(UnaryOp::Tanh, pre);
    let sum = body.add(a, next);
    let y = body.mul(next, x);
    let zeros = c.g.constant(0.0, shape(&[2, 3]));
    let outputs = c.g.scan(Loop {
        steps: 4,
        reverse,
        body,
        carries: vec![Carry { init: h0, input: h, next }, Carry { init: zeros, input: a, next: sum }],
        slices: vec![(xs, x)],
        invariants: vec![(w, wi)],
        ys: vec![next, y],
        trips: None,
    });
    let last = c.g.add(outputs[0], outputs[1]);
    let stacked = c.g.add(outputs[2], outputs[3]);
    c.g.add(stacked, last)
}

#[test]
fn loops_match_finite_differences() {
    for reverse in [false, true] {
        let mut c = Case::new();
        let y = recurrent_loop(&mut c, reverse);
        println!("loop, reverse {reverse}: {}", c.check(y));
    }
}

#[test]
fn an_unrolled_loop_computes_the_same_values_and_gradients() {
    for reverse in [false, true] {
        let mut c = Case::new();
        let y = recurrent_loop(&mut c, reverse);
        let rank = c.g.shape(y).rank();
        let loss = c.g.sum(y, &(0..rank).collect::<Vec<_>>());
        let grads: Vec<ValueId> = gradients(&mut c.g, loss, &c.params).into_iter().map(Option::unwrap).collect();
        let (unrolled, map) = crate::ir::unroll(&c.g);
        assert!(!unrolled.nodes.iter().any(|n| matches!(n.op, crate::ir::Op::Loop(_))));
        let feeds: HashMap<ValueId, Vec<f64>> = c.feeds.iter().map(|(&v, data)| (map[v], data.clone())).collect();
        let (looped, straight) = (evaluate(&c.g, &c.feeds), evaluate(&unrolled, &feeds));
        for v in [&[y, loss][..], &grads].concat() {
            for (a, b) in looped[v].iter().zip(&straight[map[v]]) {
                assert!((a - b).abs() < 1e-12, "%{v}: {a} looped, {b} unrolled");
            }
        }
    }
}

//! Every DSL layer and loss, compiled to a program, against central finite differences in
//! f64: gradients with respect to the parameters and the inputs of the train step, and the
//! loss's JVP and HVP along a random direction of all of them.

use crate::dsl::CellState;
use crate::grad::gradients;
use crate::grad::{hvp, jvp};
use crate::gradcheck::relative_error;
use crate::ir::eval::evaluate;
use crate::ir::{Op, ValueId};
use crate::test_rng::SplitMix64;
use crate::{
    Conv, ConvTranspose, CrossEntropy, Embedding, Initializer, Labels, Linear, Model, Norm, Padding, Pool, Program,
    Recurrent, Sgd, Tensor,
};
use std::collections::HashMap;

const H: f64 = 1e-6;

fn values(seed: u64, n: usize, lo: f64, hi: f64) -> Vec<f64> {
    let mut rng = SplitMix64(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03);
    (0..n).map(|_| lo + (hi - lo) * rng.next_f64()).collect()
}

/// Builds a model of input `x` of `shape` (and labels, and a target) with `layer`, then checks
/// d loss / d (every input and parameter) of its train step against finite differences.
/// Returns the max relative error.
fn check(name: &str, shape: &[usize], layer: impl for<'m> Fn(&'m Model, Tensor<'m>) -> Tensor<'m>) -> f64 {
    check_model(name, |model| layer(model, model.input("x", shape.to_vec())))
}

/// [`check`] of a model `build` declares from scratch, returning its loss.
fn check_model(name: &str, build: impl for<'m> Fn(&'m Model) -> Tensor<'m>) -> f64 {
    let model = Model::new("Check");
    let loss = build(&model);
    let program = model.compile(loss, loss, Sgd::new(0.1)).unwrap_or_else(|e| panic!("{name}: {e}"));
    let mut g = program.graph.clone();
    let live = g.live_set(&[program.loss]);
    let feeds = feeds(&program);
    let wrt: Vec<ValueId> = (0..g.nodes.len())
        .filter(|&v| matches!(g.nodes[v].op, Op::Param { .. } | Op::Input { .. }) && feeds.contains_key(&v) && live[v])
        .filter(|&v| !program.statistics.iter().any(|s| s.value == v) && !is_fixed_input(&g.nodes[v].op))
        .collect();
    let grads = gradients(&mut g, program.loss, &wrt);
    // One random direction over every input and parameter, for the JVP and the HVP.
    let mut feeds = feeds;
    let directions: Vec<ValueId> = wrt
        .iter()
        .map(|&p| {
            let shape = g.shape(p).clone();
            let u = g.input(&format!("__direction{p}"), shape.clone());
            feeds.insert(u, values(5000 + p as u64, shape.numel(), -1.0, 1.0));
            u
        })
        .collect();
    let tangents: Vec<(ValueId, ValueId)> = wrt.iter().copied().zip(directions.iter().copied()).collect();
    let loss_jvp = jvp(&mut g, &[program.loss], &tangents)[0].expect("the loss depends on its inputs");
    let hvps = hvp(&mut g, program.loss, &wrt, &directions);
    let computed = evaluate(&g, &feeds);
    let along = |h: f64| {
        let mut f = feeds.clone();
        for (&p, u) in wrt.iter().zip(&directions) {
            let step = feeds[u].clone();
            f.get_mut(&p).unwrap().iter_mut().zip(step).for_each(|(x, du)| *x += h * du);
        }
        evaluate(&g, &f)
    };
    let (plus, minus) = (along(H), along(-H));
    // The back end's unrolled graph computes the same loss, gradients and products.
    let (unrolled, map) = crate::ir::unroll(&g);
    let unrolled_feeds: HashMap<ValueId, Vec<f64>> = feeds.iter().map(|(&v, data)| (map[v], data.clone())).collect();
    let straight = evaluate(&unrolled, &unrolled_feeds);
    for v in [program.loss, loss_jvp].into_iter().chain(grads.iter().chain(&hvps).flatten().copied()) {
        for (a, b) in computed[v].iter().zip(&straight[map[v]]) {
            assert!((a - b).abs() <= 1e-12 * a.abs().max(1.0), "{name}: %{v} is {a}, unrolled {b}");
        }
    }
    let mut worst: f64 = 0.0;
    let mut check = |what: &str, a: f64, numeric: f64| {
        worst = worst.max(relative_error(a, numeric, || format!("{name}: {what}")));
    };
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    let reverse: f64 = wrt
        .iter()
        .zip(&grads)
        .zip(&directions)
        .map(|((_, grad), u)| grad.map_or(0.0, |grad| dot(&computed[grad], &feeds[u])))
        .sum();
    check(
        "jvp of the loss vs finite differences",
        computed[loss_jvp][0],
        (plus[program.loss][0] - minus[program.loss][0]) / (2.0 * H),
    );
    check("jvp vs reverse mode", computed[loss_jvp][0], reverse);
    for ((&p, grad), product) in wrt.iter().zip(&grads).zip(&hvps) {
        let Some(grad) = *grad else { continue };
        let analytic = product.map_or(vec![0.0; g.shape(p).numel()], |v| computed[v].clone());
        for (i, a) in analytic.into_iter().enumerate() {
            check(&format!("hvp %{p}[{i}]"), a, (plus[grad][i] - minus[grad][i]) / (2.0 * H));
        }
    }
    for (&p, grad) in wrt.iter().zip(grads) {
        let analytic = grad.map_or(vec![0.0; g.shape(p).numel()], |v| computed[v].clone());
        // At most 24 elements per tensor, spread over it.
        let step = analytic.len().div_ceil(24);
        for i in (0..analytic.len()).step_by(step) {
            let at = |delta: f64| {
                let mut f = feeds.clone();
                f.get_mut(&p).unwrap()[i] += delta;
                evaluate(&g, &f)[program.loss][0]
            };
            check(&format!("gradient %{p}[{i}]"), analytic[i], (at(H) - at(-H)) / (2.0 * H));
        }
    }
    println!("{name:<28} gradient, jvp, hvp: max relative error {worst:.1e}");
    worst
}

/// Inputs the trainer fills (loss weights, dropout masks, targets): not differentiated.
fn is_fixed_input(op: &Op) -> bool {
    matches!(op, Op::Input { name } if name.starts_with("__") || name == "t")
}

/// Seeded data for every input, label and parameter of a program: labels and ids in range,
/// dropout masks of p = 0.3, targets in (0, 1).
fn feeds(program: &Program) -> HashMap<ValueId, Vec<f64>> {
    let mut feeds = HashMap::new();
    for (v, node) in program.graph.nodes.iter().enumerate() {
        let n = node.shape.numel();
        if let Some((_, data)) = program.constants.iter().find(|(c, _)| *c == v) {
            feeds.insert(v, data.clone());
            continue;
        }
        let data = match &node.op {
            Op::Input { name } if name == "__sample_weight" => vec![1.0 / node.shape.0[0] as f64; n],
            Op::Input { name } if name.starts_with("__dropout") => {
                values(v as u64, n, 0.0, 1.0).iter().map(|&u| if u < 0.3 { 0.0 } else { 1.0 / 0.7 }).collect()
            }
            Op::Input { name } if name == "t" => values(v as u64, n, 0.05, 0.95),
            // Lengths in `1..classes` (0 is no length): for 4 steps, 2, 1, 4, 3, ...
            Op::Labels { classes, .. } if program.lengths.contains(&v) => {
                (0..n).map(|r| (1 + (3 * r + 1) % (classes - 1)) as f64).collect()
            }
            Op::Labels { classes, .. } => values(v as u64, n, 0.0, *classes as f64).iter().map(|c| c.floor()).collect(),
            Op::Input { .. } | Op::Param { .. } => values(v as u64 + 7, n, -1.0, 1.0),
            _ => continue,
        };
        feeds.insert(v, data);
    }
    feeds
}

const IMAGE: &[usize] = &[3, 2, 7, 6];

/// A classification head on any value, so every layer can end in a loss.
fn classify<'m>(model: &'m Model, h: Tensor<'m>) -> Tensor<'m> {
    let batch = h.shape().expect("valid so far").0[0];
    let y = model.labels("y", [batch], 3);
    h.flatten().linear(3).cross_entropy(y)
}

#[test]
fn convolutions_match_finite_differences() {
    check("conv2d 3x5 s(2,1) p(1,2)", IMAGE, |m, x| {
        classify(m, x.conv2d(Conv::new(3, (3, 5)).stride((2, 1)).padding((1, 2))))
    });
    check("conv2d same dilation 2", IMAGE, |m, x| {
        classify(m, x.conv2d(Conv::new(2, 3).padding(Padding::Same).dilation(2).bias(false)))
    });
    check("conv1d k3 s2 p1", &[3, 2, 9], |m, x| classify(m, x.conv1d(Conv::new(3, 3).stride(2).padding(1))));
    check("conv2d 2 groups", IMAGE, |m, x| classify(m, x.conv2d(Conv::new(4, 3).groups(2).padding(1))));
    check("conv2d depthwise x2, stride 2", IMAGE, |m, x| classify(m, x.conv2d(Conv::new(4, 3).groups(2).stride(2))));
    check("conv1d depthwise", &[3, 2, 9], |m, x| classify(m, x.conv1d(Conv::new(2, 3).groups(2))));
    check("conv_transpose2d s2 p1 op1", IMAGE, |m, x| {
        classify(m, x.conv_transpose2d(ConvTranspose::new(2, 3).stride(2).padding(1).output_padding(1)))
    });
    check("conv_transpose2d k2x3 s(1,2) d2", IMAGE, |m, x| {
        classify(m, x.conv_transpose2d(ConvTranspose::new(2, (2, 3)).stride((1, 2)).dilation(2)))
    });
    check("conv_transpose2d d2 op1 past p0", IMAGE, |m, x| {
        classify(m, x.conv_transpose2d(ConvTranspose::new(2, 2).output_padding(1).dilation(2)))
    });
    check("conv_transpose2d s(3,1) p(0,1) op(2,1)", IMAGE, |m, x| {
        classify(
            m,
            x.conv_transpose2d(
                ConvTranspose::new(2, (2, 3)).stride((3, 1)).padding((0, 1)).output_padding((2, 1)).dilation((1, 2)),
            ),
        )
    });
    check("zero_pad2d", IMAGE, |m, x| classify(m, x.zero_pad2d((1, 2, 0, 3))));
}

/// `nn.ConvTranspose2d`'s output by its definition, `y[o, i·s + j·d - p] += x[c, i] · w[c, o, j]`
/// (bias 0), against the compiled fold for settings where output_padding is below, equal to
/// and past the padding.
#[test]
fn conv_transpose2d_matches_its_definition() {
    // kernel, stride, padding, output_padding, dilation
    let cases: [[[usize; 2]; 5]; 5] = [
        [[3, 3], [2, 2], [1, 1], [1, 1], [1, 1]],
        [[2, 2], [1, 1], [0, 0], [1, 1], [2, 2]],
        [[2, 3], [3, 1], [0, 1], [2, 1], [1, 2]],
        [[1, 2], [3, 2], [1, 0], [2, 1], [1, 1]],
        [[3, 1], [2, 3], [2, 1], [1, 2], [2, 1]],
    ];
    let [n, c, h, w, o] = [2, 2, 4, 3, 3];
    for [k, st, p, op, d] in cases {
        let model = Model::new("ConvT");
        let x = model.input("x", [n, c, h, w]);
        let options = ConvTranspose::new(o, k).stride(st).padding(p).output_padding(op).dilation(d).bias(false);
        let y = x.conv_transpose2d(options);
        let program = model.compile(classify(&model, y), y, Sgd::new(0.1)).unwrap();
        let feeds = feeds(&program);
        let computed = &evaluate(&program.graph, &feeds)[program.output];
        let (xs, ws) = (&feeds[&program.inputs[0]], &feeds[&program.params[0].value]);
        let out = [0, 1].map(|a| ([h, w][a] - 1) * st[a] + d[a] * (k[a] - 1) + op[a] + 1 - 2 * p[a]);
        let mut expected = vec![0.0; n * o * out[0] * out[1]];
        for (b, ci, i0, i1, oi, j0, j1) in taps(n, c, h, w, o, k) {
            let (y0, y1) =
                ((i0 * st[0] + j0 * d[0]) as isize - p[0] as isize, (i1 * st[1] + j1 * d[1]) as isize - p[1] as isize);
            if (0..out[0] as isize).contains(&y0) && (0..out[1] as isize).contains(&y1) {
                let at = ((b * o + oi) * out[0] + y0 as usize) * out[1] + y1 as usize;
                expected[at] += xs[((b * c + ci) * h + i0) * w + i1] * ws[((ci * o + oi) * k[0] + j0) * k[1] + j1];
            }
        }
        assert_eq!(computed.len(), expected.len(), "k {k:?} s {st:?} p {p:?} op {op:?} d {d:?}");
        for (i, (a, e)) in computed.iter().zip(&expected).enumerate() {
            assert!((a - e).abs() < 1e-12, "k {k:?} s {st:?} p {p:?} op {op:?} d {d:?}: y[{i}] = {a}, expected {e}");
        }
    }
}

/// Every (batch, in channel, row, column, out channel, tap row, tap column).
fn taps(
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    o: usize,
    k: [usize; 2],
) -> impl Iterator<Item = (usize, usize, usize, usize, usize, usize, usize)> {
    (0..n).flat_map(move |b| {
        (0..c).flat_map(move |ci| {
            (0..h).flat_map(move |i0| {
                (0..w).flat_map(move |i1| {
                    (0..o).flat_map(move |oi| {
                        (0..k[0]).flat_map(move |j0| (0..k[1]).map(move |j1| (b, ci, i0, i1, oi, j0, j1)))
                    })
                })
            })
        })
    })
}

#[test]
fn pooling_matches_finite_differences() {
    check("max_pool2d 2", IMAGE, |m, x| classify(m, x.max_pool2d(Pool::new(2))));
    check("max_pool2d 3 s2 p1 ceil", IMAGE, |m, x| {
        classify(m, x.max_pool2d(Pool::new(3).stride(2).padding(1).ceil_mode(true)))
    });
    check("avg_pool2d (2,3) s1", IMAGE, |m, x| classify(m, x.avg_pool2d(Pool::new((2, 3)).stride(1))));
    check("avg_pool2d 3 s2 p1 ceil", IMAGE, |m, x| {
        classify(m, x.avg_pool2d(Pool::new(3).stride(2).padding(1).ceil_mode(true)))
    });
    check("adaptive_avg_pool2d (1,1)", IMAGE, |m, x| classify(m, x.adaptive_avg_pool2d(1)));
    check("max_pool1d 2", &[3, 2, 9], |m, x| classify(m, x.max_pool1d(Pool::new(2))));
    check("avg_pool1d 3 s2 ceil", &[3, 2, 9], |m, x| classify(m, x.avg_pool1d(Pool::new(3).stride(2).ceil_mode(true))));
}

#[test]
fn normalisation_and_dropout_match_finite_differences() {
    check("batch_norm2d", IMAGE, |m, x| classify(m, x.batch_norm2d()));
    check("batch_norm1d [n, c]", &[5, 4], |m, x| classify(m, x.batch_norm1d()));
    check("batch_norm1d [n, c, l]", &[3, 4, 5], |m, x| classify(m, x.batch_norm1d()));
    check("layer_norm 2 axes", &[3, 4, 5], |m, x| classify(m, x.layer_norm(2)));
    check("layer_norm eps 0.1, no affine", &[3, 4, 5], |m, x| {
        classify(m, x.layer_norm_with(1, Norm::new().eps(0.1).affine(false)))
    });
    check("batch_norm2d eps 1e-3, momentum 0.3, no affine", IMAGE, |m, x| {
        classify(m, x.batch_norm2d_with(Norm::new().eps(1e-3).momentum(0.3).affine(false)))
    });
    check("group_norm 2 groups of [3, 4, 5]", &[3, 4, 5], |m, x| classify(m, x.group_norm(2)));
    check("group_norm 1 group of an image", IMAGE, |m, x| classify(m, x.group_norm(1)));
    check("dropout 0.3", &[3, 8], |m, x| classify(m, x.dropout(0.3)));
}

#[test]
fn activations_match_finite_differences() {
    check("relu", &[3, 8], |m, x| classify(m, x.relu()));
    check("leaky_relu 0.1", &[3, 8], |m, x| classify(m, x.leaky_relu(0.1)));
    check("sigmoid", &[3, 8], |m, x| classify(m, x.sigmoid()));
    check("tanh", &[3, 8], |m, x| classify(m, x.tanh()));
    check("gelu", &[3, 8], |m, x| classify(m, x.gelu()));
    check("silu", &[3, 8], |m, x| classify(m, x.silu()));
    check("elu 0.7", &[3, 8], |m, x| classify(m, x.elu(0.7)));
    check("softplus beta 2", &[3, 8], |m, x| classify(m, x.softplus(2.0)));
    check("softmax dim 1", &[3, 8], |m, x| classify(m, x.softmax(1)));
    check("log_softmax dim 0", &[3, 8], |m, x| classify(m, x.log_softmax(0)));
}

#[test]
fn tensor_ops_match_finite_differences() {
    check("linear no bias, xavier", IMAGE, |m, x| {
        classify(m, x.linear(Linear::new(4).bias(false).weight_init(Initializer::XavierNormal(1.0))))
    });
    check("linear on the last axis", &[3, 4, 5], |m, x| classify(m, x.linear(6)));
    check("reshape + permute", IMAGE, |m, x| classify(m, x.reshape([3, 14, 6]).permute(&[0, 2, 1])));
    check("transpose", IMAGE, |m, x| classify(m, x.transpose(1, 3)));
    check("sum", IMAGE, |m, x| classify(m, x.sum(&[1, 3])));
    check("mean", IMAGE, |m, x| classify(m, x.mean(&[2])));
    check("var", IMAGE, |m, x| classify(m, x.var(&[1, 2])));
    check("amax", IMAGE, |m, x| classify(m, x.amax(&[3])));
    // No gradient flows through the index: d(x * argmax)/dx is the index alone.
    check("x * argmax (no gradient)", &[3, 8], |m, x| classify(m, x.mul(x.argmax(1).reshape([3, 1]))));
    check("concat dim 1", IMAGE, |m, x| classify(m, Tensor::concat(&[x, x.max_pool2d(Pool::new((1, 1)))], 1)));
    check("concat dim 3 of three", IMAGE, |m, x| {
        classify(m, Tensor::concat(&[x.conv2d(Conv::new(2, (1, 2))), x, x.conv2d(Conv::new(2, (1, 3)))], 3))
    });
    check("residual (value used twice)", &[3, 8], |m, x| {
        let h = x.linear(8).relu();
        classify(m, h.add(h.linear(8)))
    });
}

#[test]
fn losses_match_finite_differences() {
    check("cross_entropy", &[3, 5], classify);
    check("nll_loss of log_softmax", &[3, 5], |m, x| {
        let y = m.labels("y", [3], 4);
        x.linear(4).log_softmax(1).nll_loss(y)
    });
    check("multi_margin_loss", &[3, 5], |m, x| {
        let y = m.labels("y", [3], 4);
        x.linear(4).multi_margin_loss(y)
    });
    check("mse_loss", &[3, 5], |m, x| x.linear(4).mse_loss(m.input("t", [3, 4])));
    check("bce_loss", &[3, 5], |m, x| x.linear(4).sigmoid().bce_loss(m.input("t", [3, 4])));
    check("bce_with_logits", &[3, 5], |m, x| x.linear(4).bce_with_logits(m.input("t", [3, 4])));
    check("l1_loss", &[3, 5], |m, x| x.linear(4).l1_loss(m.input("t", [3, 4])));
    check("huber_loss delta 0.5", &[3, 5], |m, x| x.linear(4).huber_loss(m.input("t", [3, 4]), 0.5));
    check("kl_div of log_softmax", &[3, 5], |m, x| x.linear(4).log_softmax(1).kl_div(m.input("t", [3, 4])));
    let weight = [0.5, 2.0, 1.0, 0.25];
    check("cross_entropy label_smoothing 0.2", &[3, 5], |m, x| {
        x.linear(4).cross_entropy_with(m.labels("y", [3], 4), CrossEntropy::new().label_smoothing(0.2))
    });
    check("cross_entropy weight", &[3, 5], |m, x| {
        x.linear(4).cross_entropy_with(m.labels("y", [3], 4), CrossEntropy::new().weight(weight))
    });
    check("cross_entropy per step, all options", &[3, 5, 2], |m, x| {
        let options = CrossEntropy::new().weight(weight).label_smoothing(0.1).ignore_index(1);
        x.linear(4).cross_entropy_with(m.labels("y", [3, 5], 4), options)
    });
    check("l2 + l1 penalties", &[3, 5], |m, x| {
        let loss = classify(m, x.linear(4).relu());
        loss.add(m.l2_penalty(0.01)).add(m.l1_penalty(0.02))
    });
}

#[test]
fn embedding_matches_finite_differences() {
    check_model("embedding [3, 4] of 6 ids", |m| classify(m, m.tokens("ids", [3, 4], 6).embedding(5)));
    check_model("embedding with padding_idx 0", |m| {
        classify(m, m.tokens("ids", [3, 4], 3).embedding(Embedding::new(5).padding_idx(0)))
    });
    check_model("embedding + frozen linear", |m| {
        let h = m.tokens("ids", [3, 2], 4).embedding(3).linear(4).tanh();
        m.freeze("1");
        classify(m, h)
    });
}

/// `torch.argmax` semantics: the first maximum along the axis, the axis removed.
#[test]
fn argmax_picks_the_first_maximum() {
    let model = Model::new("Argmax");
    let x = model.input("x", [3, 4]);
    let y = model.labels("y", [3], 4);
    let (rows, columns) = (x.argmax(1), x.argmax(0));
    let program = model
        .compile(x.linear(4).cross_entropy(y), rows.add(columns.reshape([1, 4]).sum(&[1])), Sgd::new(0.1))
        .unwrap();
    let mut feeds = feeds(&program);
    let data = vec![1.0, 3.0, 3.0, 0.0, 5.0, 5.0, 5.0, 5.0, -1.0, -2.0, -3.0, -0.5];
    feeds.insert(program.inputs[0], data);
    let values = evaluate(&program.graph, &feeds);
    // argmax over rows: [1, 0, 3]; over columns: [1, 1, 1, 1] (ties go to row 1), summed 4.
    assert_eq!(values[program.output], vec![5.0, 4.0, 7.0]);
}

/// Frozen parameters are left out of the optimizer and kept as frozen tensors.
#[test]
fn frozen_parameters_get_no_update() {
    let model = Model::new("Frozen");
    let ids = model.tokens("ids", [4, 3], 10);
    let y = model.labels("y", [4], 2);
    let logits = ids.embedding(8).reshape([4, 24]).linear(16).relu().linear(2);
    model.freeze("0");
    model.freeze("3.bias");
    let program = model.compile(logits.cross_entropy(y), logits, Sgd::new(0.1)).unwrap();
    let trained: Vec<&str> = program.params.iter().map(|q| q.name.as_str()).collect();
    let frozen: Vec<&str> = program.frozen.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(trained, ["1.weight", "1.bias", "3.weight"]);
    assert_eq!(frozen, ["0.weight", "3.bias"]);
    let all: Vec<&str> = program.all_params().into_iter().map(|(name, _)| name).collect();
    assert_eq!(all, ["0.weight", "1.weight", "1.bias", "3.weight", "3.bias"]);
}

#[test]
fn slicing_matches_finite_differences() {
    check("narrow dim 2", IMAGE, |m, x| classify(m, x.narrow(2, 2, 3)));
    check("select dim 1 + stack dim 2", &[3, 4, 5], |m, x| {
        classify(m, Tensor::stack(&[x.select(1, 3), x.select(1, 0).tanh()], 2))
    });
    check("one_hot of argmax (no gradient)", &[3, 5], |m, x| classify(m, x.mul(x.argmax(1).one_hot(5))));
}

#[test]
fn recurrent_layers_match_finite_differences() {
    // Backpropagation through time over every step of the unrolled sequence.
    check("rnn 2 layers, 4 steps", &[3, 4, 5], |m, x| classify(m, x.rnn(Recurrent::new(6).layers(2))));
    check("lstm 2 layers, 4 steps", &[3, 4, 5], |m, x| classify(m, x.lstm(Recurrent::new(3).layers(2))));
    check("lstm last step only", &[2, 5, 3], |m, x| classify(m, x.lstm(Recurrent::new(4)).select(1, 4)));
    check("gru 2 layers, 4 steps", &[3, 4, 5], |m, x| classify(m, x.gru(Recurrent::new(3).layers(2))));
    // Packed: each row's last state at its length, its outputs zero past it.
    check("lstm 2 layers over lengths, last states and outputs", &[3, 4, 5], |m, x| {
        let lengths = m.lengths("lengths", 3, 4);
        let (outputs, last) = x.lstm_with_state(Recurrent::new(3).layers(2).lengths(lengths));
        let c = last.c.expect("an LSTM's state");
        classify(m, Tensor::concat(&[outputs.flatten(), last.h, c], 1))
    });
    check("gru and rnn over lengths, last states", &[3, 4, 5], |m, x| {
        let lengths = m.lengths("lengths", 3, 4);
        let (_, gru) = x.gru_with_state(Recurrent::new(3).lengths(lengths));
        let (_, rnn) = x.rnn_with_state(Recurrent::new(2).lengths(lengths));
        classify(m, Tensor::concat(&[gru.h, rnn.h, lengths.mask()], 1))
    });
    check_model("gru_cell steps", |m| {
        let x = m.input("x", [3, 4]);
        let gru = m.gru_cell(4, 5);
        let first = gru.step(x, None);
        classify(m, gru.step(x.tanh(), Some(first)).h)
    });
    check_model("lstm_cell + rnn_cell steps, shared", |m| {
        let x = m.input("x", [3, 4]);
        let (lstm, rnn) = (m.lstm_cell(4, 5), m.rnn_cell(5, 2));
        let first = lstm.step(x, None);
        let second = lstm.step(x.tanh(), Some(first));
        let out = rnn.step(second.h, None);
        classify(m, rnn.step(second.c.unwrap(), Some(out)).h)
    });
    check_model("repeat: an LSTM cell attending over states read whole, 3 steps", |m| {
        let x = m.input("x", [2, 3, 4]);
        let memory = m.input("memory", [2, 5, 6]);
        let cell = m.lstm_cell(4 + 6, 6);
        let zeros = m.full([2, 6], 0.0);
        let (last, ys) = m.repeat(3, &[zeros, zeros, memory.mean(&[1])], &[x], |carried, xs| {
            let input = Tensor::concat(&[xs[0], carried[2]], 1);
            let state = cell.step(input, Some(CellState { h: carried[0], c: Some(carried[1]) }));
            let context = state.h.reshape([2, 1, 6]).attention(memory, memory, None).reshape([2, 6]);
            (vec![state.h, state.c.expect("an LSTM cell"), context], vec![context.tanh()])
        });
        classify(m, ys[0].add(last[1].reshape([2, 1, 6])))
    });
    check_model("repeat: a readout and its tail sunk after the loop", |m| {
        let x = m.input("x", [2, 3, 4]);
        let scale = m.input("scale", [2, 3]);
        let (cell, readout) = (m.rnn_cell(4, 5), m.dense(5 + 4, 3));
        let (_, ys) = m.repeat(3, &[m.full([2, 5], 0.0)], &[x], |h, xs| {
            let next = cell.step(xs[0], Some(CellState { h: h[0], c: None })).h;
            // Product, bias, then pointwise ops reading a value of the step and one read whole.
            let logits = readout.apply(Tensor::concat(&[next, xs[0]], 1));
            (vec![next], vec![logits.tanh().mul(scale).add(logits.mul(next.sum(&[1]).reshape([2, 1])))])
        });
        classify(m, ys[0])
    });
    check_model("repeat inside repeat: 2 outer steps of 3 inner ones", |m| {
        let x = m.input("x", [2, 2, 3, 4]);
        let cell = m.rnn_cell(4, 5);
        let zeros = m.full([2, 5], 0.0);
        let (last, outer) = m.repeat(2, &[zeros], &[x], |h, xs| {
            let (inner_last, inner) = m.repeat(3, &[h[0]], &[xs[0]], |h, xs| {
                let next = cell.step(xs[0], Some(CellState { h: h[0], c: None })).h;
                (vec![next], vec![next.tanh()])
            });
            (vec![inner_last[0]], vec![inner[0].sum(&[1])])
        });
        classify(m, outer[0].add(last[0].reshape([2, 1, 5])))
    });
    check_model("sequence cross_entropy [3, 4, 6]", |m| {
        let y = m.labels("y", [3, 4], 6);
        m.input("x", [3, 4, 5]).rnn(Recurrent::new(6)).cross_entropy(y)
    });
}

#[test]
fn attention_matches_finite_differences() {
    check_model("attention", |m| {
        let (q, k) = (m.input("q", [2, 3, 4]), m.input("k", [2, 5, 4]));
        classify(m, q.attention(k, k.tanh(), None))
    });
    check_model("attention, masked keys", |m| {
        let (q, k) = (m.input("q", [2, 3, 4]), m.input("k", [2, 5, 4]));
        let mask = m.input("t", [2, 5]).shift(0.5).sign().relu(); // 0/1, fixed
        classify(m, q.attention(k, k.scale(2.0).exp(), Some(mask)))
    });
}

#[test]
fn shared_layers_match_finite_differences() {
    check_model("dense applied twice + embedding table by ids and one-hot", |m| {
        let ids = m.tokens("ids", [3, 2], 5);
        let (table, dense) = (m.embedding(5, 4), m.dense(4, 5));
        let looked_up = table.lookup(ids).select(1, 0);
        let fed_back = table.apply(dense.apply(looked_up).argmax(1).one_hot(5));
        classify(m, dense.apply(fed_back.add(looked_up)))
    });
    check_model("embedding table by ids computed on the device (argmax)", |m| {
        let ids = m.tokens("ids", [3, 2], 5);
        let (table, dense) = (m.embedding(5, Embedding::new(4).padding_idx(2)), m.dense(4, 5));
        let looked_up = table.lookup(ids).select(1, 0);
        let fed_back = table.lookup_tensor(dense.apply(looked_up).argmax(1));
        classify(m, dense.apply(fed_back.add(looked_up)))
    });
}

/// nn.LSTM's parameter names and shapes, and its gates in PyTorch's order: with all weights
/// zero and biases chosen per gate, the first step gives h = o * tanh(i * g) exactly.
#[test]
fn lstm_follows_pytorch_layout() {
    let model = Model::new("Lstm");
    let x = model.input("x", [1, 2, 2]);
    let out = x.lstm(Recurrent::new(1).layers(2));
    let y = model.labels("y", [1], 2);
    let program = model.compile(out.flatten().linear(2).cross_entropy(y), out, Sgd::new(0.1)).unwrap();
    let names: Vec<String> =
        program.params.iter().map(|p| format!("{} {}", p.name, program.graph.shape(p.value))).collect();
    assert_eq!(
        names[..5],
        [
            "0.weight_ih_l0 [4, 2]",
            "0.weight_hh_l0 [4, 1]",
            "0.bias_ih_l0 [4]",
            "0.bias_hh_l0 [4]",
            "0.weight_ih_l1 [4, 1]"
        ]
    );

    let model = Model::new("Lstm");
    let x = model.input("x", [1, 2, 2]);
    let out = x.lstm(Recurrent::new(1));
    let y = model.labels("y", [1], 2);
    let program = model.compile(out.flatten().linear(2).cross_entropy(y), out, Sgd::new(0.1)).unwrap();
    let mut feeds = feeds(&program);
    for p in &program.params[..4] {
        let value = match p.name.as_str() {
            "0.bias_ih_l0" => vec![0.5, 9.0, -0.7, 1.5], // i, f, g, o
            _ => vec![0.0; program.graph.shape(p.value).numel()],
        };
        feeds.insert(p.value, value);
    }
    let sigmoid = |z: f64| 1.0 / (1.0 + (-z).exp());
    let expected = sigmoid(1.5) * (sigmoid(0.5) * (-0.7f64).tanh()).tanh();
    let first_step = evaluate(&program.graph, &feeds)[program.output][0];
    assert!((first_step - expected).abs() < 1e-12, "{first_step} vs {expected}");
}

/// The new losses' values in f64 against PyTorch's on one batch of logits `[2, 3, 4]` with
/// labels per position, and targets of the same shape (`tests/fixtures/make_loss_values.py`
/// prints the expected values).
#[test]
fn loss_options_match_pytorch_in_f64() {
    let z: Vec<f64> = (0..24).map(|i| ((i * 7 % 11) as f64 - 5.0) / 3.0).collect();
    let y = vec![0.0, 1.0, 3.0, 1.0, 2.0, 0.0];
    let t: Vec<f64> = (0..24).map(|i| ((i * 5 % 13) as f64 + 1.0) / 14.0).collect();
    type Loss = dyn for<'m> Fn(&'m Model, Tensor<'m>) -> Tensor<'m>;
    let loss_of = |f: &Loss| {
        let model = Model::new("Loss");
        let x = model.input("x", [2, 3, 4]);
        let loss = f(&model, x);
        let program = model.compile(loss, loss, Sgd::new(0.1)).unwrap();
        let mut feeds = feeds(&program);
        for (v, node) in program.graph.nodes.iter().enumerate() {
            let data = match &node.op {
                Op::Input { name } if name == "x" => z.clone(),
                Op::Input { name } if name == "t" => t.clone(),
                Op::Labels { .. } => y.clone(),
                _ => continue,
            };
            feeds.insert(v, data);
        }
        evaluate(&program.graph, &feeds)[program.loss][0]
    };
    const WEIGHT: [f64; 4] = [0.5, 2.0, 1.0, 0.25];
    fn labels(m: &Model) -> Labels<'_> {
        m.labels("y", [2, 3], 4)
    }
    fn target(m: &Model) -> Tensor<'_> {
        m.input("t", [2, 3, 4])
    }
    let cases: [(&str, f64, &Loss); 7] = [
        ("weight, label_smoothing, ignore_index", 2.144057982248769, &|m, x| {
            let options = CrossEntropy::new().weight(WEIGHT).label_smoothing(0.1).ignore_index(1);
            x.cross_entropy_with(labels(m), options)
        }),
        ("label_smoothing", 2.36388943201792, &|m, x| {
            x.cross_entropy_with(labels(m), CrossEntropy::new().label_smoothing(0.2))
        }),
        ("weight", 2.5916429972899793, &|m, x| x.cross_entropy_with(labels(m), CrossEntropy::new().weight(WEIGHT))),
        ("ignore_index", 2.6191343714071498, &|m, x| {
            x.cross_entropy_with(labels(m), CrossEntropy::new().ignore_index(0))
        }),
        ("l1_loss", 1.0009920634920635, &|m, x| x.l1_loss(target(m))),
        ("huber_loss", 0.3860898526077097, &|m, x| x.huber_loss(target(m), 0.5)),
        ("kl_div", 7.267347446120336, &|m, x| x.log_softmax(2).kl_div(target(m))),
    ];
    for (name, pytorch, loss) in cases {
        let kiln = loss_of(loss);
        assert!((kiln - pytorch).abs() < 1e-12 * pytorch, "{name}: kiln {kiln}, PyTorch {pytorch}");
    }
}

//! Snapshots of the IR and the emitted source of the reference MLP (and of small mixed-precision
//! and f64 ones), and of build errors.

use crate::{
    emit, Conv, ConvTranspose, CrossEntropy, Embedding, Model, Norm, Padding, Pool, Precision, Sgd, Target, Tensor,
    Training,
};

/// The reference MLP, its tiles shaped for `target` (the snapshots pin AVX2, so they do not
/// depend on the machine that runs them).
fn mnist_mlp_for(target: Target) -> crate::Program {
    let model = Model::new("MnistMlp");
    let images = model.input("images", [64, 1, 28, 28]);
    let labels = model.labels("labels", [64], 10);
    let logits = images.flatten().linear(256).relu().linear(10);
    let loss = logits.cross_entropy(labels);
    model.compile(loss, logits, Training::new(Sgd::new(0.1)).target(target)).unwrap()
}

fn mnist_mlp() -> crate::Program {
    mnist_mlp_for(Target::Avx2)
}

#[test]
fn mnist_mlp_ir() {
    insta::assert_snapshot!(mnist_mlp().graph.to_string());
}

#[test]
fn mnist_mlp_emitted_source() {
    insta::assert_snapshot!(emit::emit(&mnist_mlp()));
}

/// The predictor: the trainer's forward kernels alone, and no optimizer.
#[test]
fn mnist_mlp_predictor_source() {
    insta::assert_snapshot!(emit::emit_predictor(&mnist_mlp()));
}

#[test]
fn mnist_mlp_compile_report() {
    insta::assert_snapshot!(emit::emit_with_report(&mnist_mlp()).1);
}

/// Mixed precision: which buffers are stored as f16, the loss scale, the finiteness flag and
/// the skipped update, on a small classifier.
#[test]
fn mixed_precision_emitted_source() {
    let model = Model::new("SmallF16");
    let x = model.input("x", [8, 16]);
    let y = model.labels("y", [8], 3);
    let logits = x.linear(4).relu().linear(3);
    let training = Training::new(Sgd::new(0.1)).precision(Precision::Mixed(crate::Half::F16)).target(Target::Avx2);
    let program = model.compile(logits.cross_entropy(y), logits, training).unwrap();
    insta::assert_snapshot!(emit::emit(&program));
}

/// An f64 program: f64 kernels, buffers of two arena units per element, an f64 API.
#[test]
fn float64_emitted_source() {
    let model = Model::new("SmallF64");
    let x = model.input("x", [8, 16]);
    let y = model.labels("y", [8], 3);
    let logits = x.linear(3);
    let training = Training::new(Sgd::new(0.1)).precision(Precision::F64).target(Target::Avx2);
    let program = model.compile(logits.cross_entropy(y), logits, training).unwrap();
    insta::assert_snapshot!(emit::emit(&program));
}

#[test]
fn emission_is_deterministic() {
    assert_eq!(emit::emit(&mnist_mlp()), emit::emit(&mnist_mlp()));
}

/// Each invalid model fails with one message naming the layer, the shapes and the DSL line.
#[test]
fn invalid_models_fail_with_located_messages() {
    let mut messages = vec![];
    let mut record = |result: Result<crate::Program, crate::Error>| {
        let error = result.expect_err("the model is invalid");
        assert!(error.location.file().ends_with("snapshot_tests.rs"));
        messages.push(format!("{}: layer `{}`: {}", error.location.line(), error.layer, error.message));
    };

    // One layer each: the model is otherwise a valid classifier of [8, 1, 6, 6] images.
    type Layer = fn(Tensor) -> Tensor;
    let layers: Vec<(&str, Layer)> = vec![
        ("conv kernel too large", |x| x.conv2d(Conv::new(4, 7))),
        ("same padding with stride 2", |x| x.conv2d(Conv::new(4, 3).padding(Padding::Same).stride(2))),
        ("conv2d of a matrix", |x| x.flatten().conv2d(Conv::new(4, 3))),
        ("conv1d of an image", |x| x.conv1d(Conv::new(4, 3))),
        ("zero stride", |x| x.conv2d(Conv::new(4, 3).stride(0))),
        ("pool padding over half the kernel", |x| x.max_pool2d(Pool::new(2).padding(2))),
        ("avg pool kernel too large", |x| x.avg_pool2d(Pool::new(8))),
        ("adaptive pool size not dividing", |x| x.adaptive_avg_pool2d(4)),
        ("transposed output_padding >= stride", |x| {
            x.conv_transpose2d(ConvTranspose::new(2, 3).stride(2).output_padding(2))
        }),
        ("batch_norm2d of a matrix", |x| x.flatten().batch_norm2d()),
        ("batch_norm1d of an image", |x| x.batch_norm1d()),
        ("dropout p = 1", |x| x.dropout(1.0)),
        ("layer_norm over every axis", |x| x.layer_norm(4)),
        ("softmax dim out of range", |x| x.softmax(4)),
        ("reshape changing the size", |x| x.reshape([8, 35])),
        ("permute of the wrong rank", |x| x.permute(&[0, 2, 1])),
        ("transpose out of range", |x| x.transpose(1, 4)),
        ("mean over a repeated axis", |x| x.mean(&[2, 2])),
        ("flatten from past the end", |x| x.flatten_from(4)),
        ("concat with a mismatched axis", |x| Tensor::concat(&[x, x.max_pool2d(Pool::new(2))], 1)),
        ("mse against another shape", |x| x.mse_loss(x.flatten())),
    ];
    for (_, layer) in layers {
        let m = Model::new("M");
        let x = m.input("x", [8, 1, 6, 6]);
        let y = m.labels("y", [8], 3);
        let logits = layer(x).flatten().linear(3);
        record(m.compile(logits.cross_entropy(y), logits, Sgd::new(0.1)));
    }

    let m = Model::new("M");
    let x = m.input("x", [8, 16]);
    let y = m.labels("y", [8], 3);
    let logits = x.linear(4);
    record(m.compile(logits.cross_entropy(y), logits, Sgd::new(0.1)));

    let m = Model::new("M");
    let x = m.input("x", [8, 16]);
    let y = m.labels("y", [4], 3);
    let logits = x.linear(3);
    record(m.compile(logits.cross_entropy(y), logits, Sgd::new(0.1)));

    let m = Model::new("M");
    let x = m.input("x", [8, 16]);
    let logits = x.linear(3);
    record(m.compile(logits, logits, Sgd::new(0.1)));

    let m = Model::new("M");
    let x = m.input("x", [8, 16]);
    let _again = m.input("x", [8, 16]);
    let y = m.labels("y", [8], 3);
    let logits = x.linear(3);
    record(m.compile(logits.cross_entropy(y), logits, Sgd::new(0.1)));

    let m = Model::new("M");
    let x = m.input("x", [8]);
    let y = m.labels("y", [8], 3);
    let logits = x.flatten().linear(3);
    record(m.compile(logits.cross_entropy(y), logits, Sgd::new(0.1)));

    let m = Model::new("M");
    let x = m.input("x", [8, 16]);
    let y = m.labels("y", [8], 4);
    let logits = x.linear(4).add(x.linear(3));
    record(m.compile(logits.cross_entropy(y), logits, Sgd::new(0.1)));

    let m = Model::new("M");
    let ids = m.tokens("ids", [8, 5], 0);
    let y = m.labels("y", [8], 3);
    let logits = ids.embedding(4).linear(3);
    record(m.compile(logits.cross_entropy(y), logits, Sgd::new(0.1)));

    let m = Model::new("M");
    let ids = m.tokens("ids", [8, 5], 20);
    let y = m.labels("y", [8], 3);
    let logits = ids.embedding(0).linear(3);
    record(m.compile(logits.cross_entropy(y), logits, Sgd::new(0.1)));

    let m = Model::new("M");
    let ids = m.tokens("ids", [8, 5], 20);
    let y = m.labels("y", [8], 3);
    let logits = ids.embedding(Embedding::new(4).padding_idx(20)).linear(3);
    record(m.compile(logits.cross_entropy(y), logits, Sgd::new(0.1)));

    let m = Model::new("M");
    let hot = m.labels("previous", [8, 5], 20).one_hot();
    let y = m.labels("y", [8], 3);
    let table = m.embedding(20, Embedding::new(4).padding_idx(0));
    let logits = table.apply(hot).reshape([8, 20]).linear(3);
    record(m.compile(logits.cross_entropy(y), logits, Sgd::new(0.1)));

    let m = Model::new("M");
    let x = m.input("x", [8, 16]);
    let y = m.labels("y", [8], 3);
    let logits = x.linear(3);
    m.freeze("1");
    record(m.compile(logits.cross_entropy(y), logits, Sgd::new(0.1)));

    let m = Model::new("M");
    let x = m.input("x", [8, 16]);
    let y = m.labels("y", [8], 3);
    let logits = x.linear(4).argmax(2);
    record(m.compile(logits.cross_entropy(y), logits, Sgd::new(0.1)));

    let m = Model::new("M");
    let x = m.input("x", [8, 16]);
    let _unused = m.input("mask", [8, 16]);
    let y = m.labels("y", [8], 3);
    let logits = x.linear(3);
    record(m.compile(logits.cross_entropy(y), logits, Sgd::new(0.1)));

    let m = Model::new("M");
    let x = m.input("x", [8, 16]);
    let y = m.labels("y", [8], 1);
    let logits = x.linear(1);
    record(m.compile(logits.cross_entropy(y), logits, Sgd::new(0.1)));

    let m = Model::new("M");
    let x = m.input("x", [8, 16]);
    let y = m.labels("y", [8], 3);
    let logits = x.linear(3);
    let side_output = x.linear(5);
    record(m.compile(logits.cross_entropy(y), side_output, Sgd::new(0.1)));

    let m = Model::new("M");
    let x = m.input("x", [8, 16]);
    let y = m.labels("y", [8], 3);
    let logits = x.linear(3);
    let training = crate::Training::new(Sgd::new(0.1)).accumulate(2).precision(Precision::Mixed(crate::Half::F16));
    record(m.compile(logits.cross_entropy(y), logits, training));

    // Derivatives: a tangent of the wrong shape, an HVP of a non-scalar, an unknown parameter,
    // an exposed name the trainer already uses.
    type Derivative = fn(&Model, Tensor, Tensor) -> ();
    let derivatives: Vec<Derivative> = vec![
        |m, x, logits| m.expose("jvp", logits.jvp(&[(x, m.input("u", [8, 15]))])),
        |m, x, logits| m.expose("hvp", logits.hvp(&[(x, m.input("u", [8, 16]))])[0]),
        |m, x, logits| m.expose("hvp", logits.sum(&[0, 1]).hvp(&[(m.parameter("2.weight"), x)])[0]),
        |m, _, logits| m.expose("predict", logits),
    ];
    for derivative in derivatives {
        let m = Model::new("M");
        let x = m.input("x", [8, 16]);
        let y = m.labels("y", [8], 3);
        let logits = x.linear(3);
        derivative(&m, x, logits);
        record(m.compile(logits.cross_entropy(y), logits, Sgd::new(0.1)));
    }

    // Options out of range: activations, norms and losses.
    let options: Vec<Layer> = vec![
        |x| x.softplus(0.0),
        |x| x.elu(f64::NAN),
        |x| x.group_norm(3),
        |x| x.batch_norm2d_with(Norm::new().momentum(1.5)),
        |x| x.layer_norm_with(2, Norm::new().eps(0.0)),
    ];
    for layer in options {
        let m = Model::new("M");
        let logits = layer(m.input("x", [8, 2, 6, 6])).flatten().linear(3);
        record(m.compile(logits.cross_entropy(m.labels("y", [8], 3)), logits, Sgd::new(0.1)));
    }
    type Loss = for<'m> fn(&'m Model, Tensor<'m>) -> Tensor<'m>;
    let losses: Vec<Loss> = vec![
        |m, x| x.cross_entropy_with(m.labels("y", [8], 3), CrossEntropy::new().weight([1.0, 2.0])),
        |m, x| x.cross_entropy_with(m.labels("y", [8], 3), CrossEntropy::new().weight([1.0, -2.0, 1.0])),
        |m, x| x.cross_entropy_with(m.labels("y", [8], 3), CrossEntropy::new().label_smoothing(1.5)),
        |m, x| x.cross_entropy_with(m.labels("y", [8], 3), CrossEntropy::new().ignore_index(3)),
        |m, x| x.huber_loss(m.input("t", [8, 3]), -1.0),
        |m, x| x.kl_div(m.input("t", [8, 4])),
    ];
    for loss in losses {
        let m = Model::new("M");
        let logits = m.input("x", [8, 16]).linear(3);
        record(m.compile(loss(&m, logits), logits, Sgd::new(0.1)));
    }

    // `repeat`: a layer declared inside the step, a carried value that changes shape, a slice
    // of a value without the step axis, a failed layer before it (its outputs still count).
    for case in 0..4 {
        let m = Model::new("M");
        let x = m.input("x", [8, 4]);
        let (last, ys) = match case {
            0 => m.repeat(2, &[x], &[], |c, _| (vec![c[0].linear(4)], vec![c[0]])),
            1 => m.repeat(2, &[x], &[], |c, _| (vec![c[0].sum(&[1])], vec![c[0]])),
            2 => m.repeat(2, &[x], &[x], |c, s| (vec![c[0].add(s[0])], vec![c[0]])),
            _ => m.repeat(2, &[x.reshape([8, 5])], &[], |c, _| (vec![c[0]], vec![c[0]])),
        };
        let logits = last[0].add(ys[0].sum(&[1])).linear(3);
        record(m.compile(logits.cross_entropy(m.labels("y", [8], 3)), logits, Sgd::new(0.1)));
    }

    insta::assert_snapshot!(messages.join("\n"));
}

/// A convolution with bias, ReLU and max pooling: its bias gradient sums across vector lanes
/// (`lane_sum`), and the pool gradient's share `g / count` is computed in the kernel of its
/// count (the reduction epilogue).
#[test]
fn conv_pool_emitted_source() {
    let model = Model::new("ConvPool");
    let images = model.input("images", [16, 1, 16, 16]);
    let labels = model.labels("labels", [16], 10);
    let logits = images.conv2d(Conv::new(4, 3).padding(1)).relu().max_pool2d(Pool::new(2)).flatten().linear(10);
    let program =
        model.compile(logits.cross_entropy(labels), logits, Training::new(Sgd::new(0.1)).target(Target::Avx2)).unwrap();
    let (source, report) = emit::emit_with_report(&program);
    insta::assert_snapshot!(report);
    insta::assert_snapshot!(source);
}

/// AVX-512's 32 registers of 16 lanes take NT tiles of 4 rows by 4 columns, 16 lanes along k
/// (the MLP's forward product has half the tiles of the AVX2 build's 2 rows), and NN tiles of
/// 12 rows by one 16-lane vector.
#[test]
fn avx512_shapes_tiles_for_its_registers() {
    let avx512 = emit::emit(&mnist_mlp_for(Target::Avx512));
    let forward = "NtTiling { m: 64, k: 784, n: 256, a_row: 784, b_col: 784";
    assert!(avx512.contains(&format!("{forward}, lanes: 16, rows: 4,")), "{avx512}");
    assert!(avx512.contains("Launch::of(&PRODUCT_NT, Grid::Balanced(1024)"), "1024 tiles of 4 by 4");
    assert!(emit::emit(&mnist_mlp()).contains(&format!("{forward}, lanes: 8, rows: 2,")));
    // The first weight gradient: 12 rows by two 16-lane vectors, 22 row blocks by 25 pairs of
    // its 49 vectors (the template leaves the last pair's second vector out).
    let tiling = "NnTiling { m: 256, k: 64, a_row: 1, a_col: 256, b_row: 784, b_col: 1, lanes: 16, columns: 49, \
                  vectors: 2, rows: 12,";
    assert!(avx512.contains(tiling), "{avx512}");
    assert!(avx512.contains("Grid::Balanced(550)"));
}

/// The LSTM classifier (ids -> embedding(50) -> lstm(128) -> mean -> linear(2), Adam)
/// over `length` steps: its train kernel count and its generated source's size.
fn lstm_classifier_size(length: usize) -> (usize, usize) {
    let model = Model::new("LstmClassifier");
    let ids = model.tokens("ids", [64, length], 5000);
    let labels = model.labels("labels", [64], 2);
    let states = ids.embedding(50).lstm(crate::Recurrent::new(128));
    let logits = states.mean(&[1]).linear(2);
    let program = model.compile(logits.cross_entropy(labels), logits, crate::Adam::new(1e-3)).unwrap();
    let (source, report) = emit::emit_with_report(&program);
    let kernels = report.lines().find_map(|l| l.strip_prefix("train: ")?.split(' ').next()?.parse().ok());
    (kernels.expect("the report counts train kernels"), source.len())
}

/// A recurrent layer is a stepped loop: its kernels run once per step, so neither the kernel
/// count nor the source grows with the length.
#[test]
fn sequence_models_compile_to_one_step_at_any_length() {
    let (short, long) = (lstm_classifier_size(16), lstm_classifier_size(256));
    println!("train kernels and source bytes: {short:?} at length 16, {long:?} at 256");
    assert_eq!(short.0, long.0, "train kernels at lengths 16 and 256");
    let growth = long.1 as f64 / short.1 as f64;
    assert!((0.95..=1.05).contains(&growth), "source of {} bytes at 16 steps, {} at 256", short.1, long.1);
}

/// A train step computes the output only where it comes nearly free: a classifier's
/// probabilities beside its loss, but not a greedy decoder, whose loop of its own only
/// `predict` and `eval_loss` run.
#[test]
fn train_steps_leave_out_a_greedy_decoder() {
    // Whether the train step computes the output, and the loops its report lists.
    let decoder = |greedy: bool| {
        let m = Model::new("Decoder");
        let x = m.input("x", [4, 6]);
        let y = m.labels("y", [4, 3], 5);
        let readout = m.dense(6, 5);
        let (_, forced) = m.repeat(3, &[x], &[], |c, _| (vec![c[0].tanh()], vec![readout.apply(c[0])]));
        let output = match greedy {
            true => m.repeat(3, &[x], &[], |c, _| (vec![c[0].tanh()], vec![readout.apply(c[0]).argmax(1)])).1[0],
            false => forced[0].softmax(2),
        };
        let program = m.compile(forced[0].cross_entropy(y), output, Sgd::new(0.1)).unwrap();
        let report = emit::emit_with_report(&program).1;
        let train = report.split("\n\n").find(|section| section.contains("train: ")).expect("a train section");
        (program.train_outputs, train.matches("each of 3 steps").count())
    };
    let ((greedy, greedy_loops), (softmax, softmax_loops)) = (decoder(true), decoder(false));
    assert_eq!((greedy, softmax), (false, true));
    assert!(greedy_loops >= 1 && greedy_loops == softmax_loops, "{greedy_loops} and {softmax_loops} loops");
}

// The op zoo: every elementwise op of the DSL on two linear branches, and a join sliced across
// its pieces, then a linear classifier.
// Shared by `build.rs` (which emits it) and the end-to-end test (which evaluates the same
// program in f64 to check the generated kernels).

/// Declares and compiles the zoo.
pub fn op_zoo() -> Result<kiln_compiler::Program, kiln_compiler::Error> {
    use kiln_compiler::{Model, Sgd, Tensor, Training};
    let model = Model::new("OpZoo");
    let x = model.input("x", [4, 6]);
    let y = model.labels("y", [4], 3);
    let h = x.linear(5);
    let g = x.linear(5);
    let positive = h.abs().shift(0.5);
    let terms = [
        h.exp().scale(0.1),
        positive.log(),
        positive.sqrt(),
        h.tanh(),
        g.sigmoid(),
        h.sign().mul(g),
        h.maximum(g),
        h.minimum(g),
        positive.pow(g.sigmoid()),
        h.tanh().div(positive),
        g.sub(h),
        // A join read through a slice that straddles its pieces.
        Tensor::concat(&[h.tanh(), g.scale(2.0)], 1).narrow(1, 3, 5),
    ];
    let total = terms[1..].iter().fold(terms[0], |sum, &t| sum.add(t));
    let logits = total.linear(3);
    let loss = logits.cross_entropy(y);
    model.compile(loss, logits, Training::new(Sgd::new(0.1)).keep_gradients())
}

/// Recurrent layers at the size of the zoo's sequence models, whose stepped loops (kernels
/// launched once per step over windows) the reference evaluator checks: an LSTM and a GRU,
/// their states weighted per step as the zoo's classifier masks them, trained without keeping
/// gradients (so that updates fuse as the zoo's do).
pub fn loop_zoo() -> Result<kiln_compiler::Program, kiln_compiler::Error> {
    use kiln_compiler::{Model, Recurrent, Sgd};
    let model = Model::new("LoopZoo");
    let x = model.input("x", [64, 12, 8]);
    let y = model.labels("y", [64], 3);
    // Hidden sizes that take the product forms of `lower::transposed_products`: inputs of
    // 8 and 24 columns (narrow k), gates of 96 and 48 (wide n), an input gradient of 24.
    let states = x.lstm(Recurrent::new(24)).gru(Recurrent::new(16));
    let weights = x.narrow(2, 0, 1).relu();
    let logits = states.mul(weights).sum(&[1]).linear(3);
    model.compile(logits.cross_entropy(y), logits, Sgd::new(0.1))
}

/// Stacked LSTM and GRU layers over each row's own length: a batch whose longest row is
/// shorter than the 12 steps runs fewer steps, forward and through time backward, and stacks
/// zeros for the rest, which the reference evaluator (running all 12) checks.
pub fn packed_loop_zoo() -> Result<kiln_compiler::Program, kiln_compiler::Error> {
    use kiln_compiler::{Model, Recurrent, Sgd, Tensor};
    let model = Model::new("PackedLoopZoo");
    let x = model.input("x", [64, 12, 8]);
    let lengths = model.lengths("lengths", 64, 12);
    let y = model.labels("y", [64], 3);
    let (states, lstm) = x.lstm_with_state(Recurrent::new(24).lengths(lengths));
    let (_, gru) = states.gru_with_state(Recurrent::new(16).lengths(lengths));
    let logits = Tensor::concat(&[lstm.h, gru.h, states.sum(&[1])], 1).linear(3);
    model.compile(logits.cross_entropy(y), logits, Sgd::new(0.1))
}

/// A weight gradient over a long batch, which the NN product template sums in blocks of k (see
/// `target::nn_blocking` in kiln-compiler): the first layer's `dH^T @ x` is [392, 1040] x
/// [1040, 136], 66 row tiles in five panels (the last of two, its last tile partial) by 17
/// columns in groups of 2 (the last of one), four blocks of 256 terms then one of 16. Its
/// bias's gradient is summed from the same rows, and SGD's updates of both are fused into the
/// tiles.
pub fn long_product_zoo() -> Result<kiln_compiler::Program, kiln_compiler::Error> {
    use kiln_compiler::{Model, Sgd};
    let model = Model::new("LongProductZoo");
    let x = model.input("x", [1040, 136]);
    let y = model.labels("y", [1040], 3);
    let logits = x.linear(392).tanh().linear(3);
    model.compile(logits.cross_entropy(y), logits, Sgd::new(0.1))
}

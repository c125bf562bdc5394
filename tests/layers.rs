// The layer parity models of fixtures/make_layer_fixtures.py, declared in the DSL (included by
// build.rs). Layer indices match the fixture's module keys.

/// Compiles every parity model into OUT_DIR (`layers_{name}.rs`).
pub fn layer_parity_models() -> Result<(), Box<dyn std::error::Error>> {
    use kiln_compiler::{
        CellState, Conv, ConvTranspose, CrossEntropy, Embedding, Half, Linear, Model, Norm, Padding, Pool, Precision, Recurrent,
        Sgd, Tensor, Training,
    };
    let sgd = || Training::new(Sgd::new(0.1)).keep_gradients();
    let bf16 = Precision::Mixed(Half::Bf16);

    // Convolutions, pools and batch norm: in f32, and with every intermediate in bf16.
    let conv = |name: &str, training: Training| {
        let m = Model::new(name);
        let x = m.input("x", [4, 2, 9, 8]);
        let y = m.labels("y", [4], 3);
        let out = x
            .conv2d(Conv::new(4, (3, 5)).stride((2, 1)).padding((1, 2)))
            .batch_norm2d()
            .leaky_relu(0.1)
            .max_pool2d(Pool::new(2).stride(1).padding(1).ceil_mode(true))
            .conv2d(Conv::new(3, 3).padding(Padding::Same).dilation(2).bias(false))
            .gelu()
            .avg_pool2d(Pool::new(3).stride(2).padding(1).ceil_mode(true))
            .flatten()
            .linear(5)
            .tanh()
            .linear(3);
        m.compile(out.cross_entropy(y), out, training)
    };
    kiln_compiler::write_to_out_dir(&conv("LayersConv", sgd())?, "layers_conv.rs")?;
    kiln_compiler::write_to_out_dir(&conv("LayersConvBf16", sgd().precision(bf16))?, "layers_conv_bf16.rs")?;

    let m = Model::new("LayersSeq");
    let x = m.input("x", [4, 3, 10]);
    let y = m.labels("y", [4], 4);
    let out = x
        .conv1d(Conv::new(4, 3).padding(1))
        .relu()
        .max_pool1d(Pool::new(2))
        .avg_pool1d(Pool::new(3).stride(1).padding(1))
        .batch_norm1d()
        .layer_norm(2)
        .flatten()
        .linear(Linear::new(4).bias(false))
        .log_softmax(1);
    kiln_compiler::write_to_out_dir(&m.compile(out.nll_loss(y), out, sgd())?, "layers_seq.rs")?;

    // A transposed convolution (a fold), in f32 and in bf16.
    let decoder = |name: &str, training: Training| {
        let m = Model::new(name);
        let x = m.input("x", [4, 6]);
        let t = m.input("target", [4, 1, 6, 6]);
        let out = x
            .linear(18)
            .reshape([4, 2, 3, 3])
            .conv_transpose2d(ConvTranspose::new(3, 3).stride(2).padding(1).output_padding(1))
            .zero_pad2d((1, 0, 1, 0))
            .conv2d(Conv::new(1, 2));
        m.compile(out.bce_with_logits(t), out, training)
    };
    kiln_compiler::write_to_out_dir(&decoder("LayersDecoder", sgd())?, "layers_decoder.rs")?;
    kiln_compiler::write_to_out_dir(&decoder("LayersDecoderBf16", sgd().precision(bf16))?, "layers_decoder_bf16.rs")?;

    let m = Model::new("LayersAutoencoder");
    let x = m.input("x", [4, 6]);
    let t = m.input("target", [4, 6]);
    let out = x.linear(4).relu().linear(6).sigmoid();
    kiln_compiler::write_to_out_dir(&m.compile(out.bce_loss(t), out, sgd())?, "layers_autoencoder.rs")?;

    let m = Model::new("LayersMisc");
    let x = m.input("x", [4, 6]);
    let y = m.labels("y", [4], 3);
    let h = x.linear(8);
    let out = Tensor::concat(&[h.softmax(1), h.sigmoid()], 1).linear(3);
    let loss = out.multi_margin_loss(y).add(m.l2_penalty(0.01));
    kiln_compiler::write_to_out_dir(&m.compile(loss, out, sgd())?, "layers_misc.rs")?;

    let m = Model::new("LayersRegression");
    let x = m.input("x", [4, 6]);
    let t = m.input("target", [4, 3]);
    let out = x.linear(3);
    kiln_compiler::write_to_out_dir(&m.compile(out.mse_loss(t), out, sgd())?, "layers_regression.rs")?;

    let m = Model::new("LayersEmbedding");
    let ids = m.tokens("x", [4, 6], 11);
    let y = m.labels("y", [4], 3);
    let logits = ids.embedding(5).reshape([4, 30]).linear(7).relu().linear(3);
    m.freeze("1");
    kiln_compiler::write_to_out_dir(&m.compile(logits.cross_entropy(y), logits.argmax(1), sgd())?, "layers_embedding.rs")?;

    let m = Model::new("LayersRecurrent");
    let ids = m.tokens("x", [4, 5], 7);
    let y = m.labels("y", [4], 3);
    let logits = ids.embedding(4).lstm(Recurrent::new(6).layers(2)).select(1, 4).linear(3);
    kiln_compiler::write_to_out_dir(&m.compile(logits.cross_entropy(y), logits, sgd())?, "layers_recurrent.rs")?;

    // A label per step: cross-entropy over [batch, len, classes].
    let m = Model::new("LayersRnn");
    let x = m.input("x", [4, 6, 3]);
    let y = m.labels("y", [4, 6], 4);
    let logits = x.rnn(Recurrent::new(5).layers(2)).linear(4);
    kiln_compiler::write_to_out_dir(&m.compile(logits.cross_entropy(y), logits, sgd())?, "layers_rnn.rs")?;

    // Queries from the first two encoder states attend over all five, padding masked.
    let m = Model::new("LayersAttention");
    let x = m.input("x", [4, 5, 3]);
    let mask = m.input("mask", [4, 5]);
    let y = m.labels("y", [4], 3);
    let keys = x.lstm(Recurrent::new(4));
    let queries = keys.narrow(1, 0, 2).linear(4);
    let logits = queries.attention(keys, keys, Some(mask)).reshape([4, 8]).linear(3);
    kiln_compiler::write_to_out_dir(&m.compile(logits.cross_entropy(y), logits, sgd())?, "layers_attention.rs")?;

    let m = Model::new("LayersActivations");
    let x = m.input("x", [4, 6]);
    let y = m.labels("y", [4], 3);
    let h = x.linear(8).silu().linear(8).elu(0.7).linear(8).softplus(2.0);
    let out = h.sigmoid().mul(h).linear(3);
    kiln_compiler::write_to_out_dir(&m.compile(out.cross_entropy(y), out, sgd())?, "layers_activations.rs")?;

    // A linear head per step; class weights, label smoothing and an ignored class.
    let m = Model::new("LayersCeOptions");
    let x = m.input("x", [4, 5, 3]);
    let y = m.labels("y", [4, 5], 4);
    let out = x.linear(4);
    let options = CrossEntropy::new().weight([0.5, 2.0, 1.0, 0.25]).label_smoothing(0.1).ignore_index(1);
    kiln_compiler::write_to_out_dir(&m.compile(out.cross_entropy_with(y, options), out, sgd())?, "layers_ce_options.rs")?;

    let m = Model::new("LayersNorms");
    let x = m.input("x", [4, 6, 5]);
    let y = m.labels("y", [4], 3);
    let out = x
        .group_norm(3)
        .tanh()
        .batch_norm1d_with(Norm::new().eps(1e-3).momentum(0.3))
        .tanh()
        .layer_norm_with(1, Norm::new().eps(1e-4).affine(false))
        .flatten()
        .linear(3);
    let norms = m.compile(out.cross_entropy(y), out, sgd())?;
    kiln_compiler::write_to_out_dir(&norms, "layers_norms.rs")?;
    kiln_compiler::write_predictor_to_out_dir(&norms, "layers_norms_predictor.rs")?;

    let m = Model::new("LayersGroups");
    let x = m.input("x", [4, 4, 7, 6]);
    let y = m.labels("y", [4], 3);
    let out = x
        .conv2d(Conv::new(8, 3).padding(1).groups(2))
        .relu()
        .conv2d(Conv::new(8, 3).stride(2).groups(8))
        .flatten()
        .linear(3);
    kiln_compiler::write_to_out_dir(&m.compile(out.cross_entropy(y), out, sgd())?, "layers_groups.rs")?;

    // Sentences padded with id 0, the embedding's padding_idx.
    let m = Model::new("LayersPaddedEmbedding");
    let ids = m.tokens("x", [4, 6], 9);
    let y = m.labels("y", [4], 3);
    let out = ids.embedding(Embedding::new(4).padding_idx(0)).tanh().reshape([4, 24]).linear(3);
    kiln_compiler::write_to_out_dir(&m.compile(out.cross_entropy(y), out, sgd())?, "layers_padded_embedding.rs")?;

    // A 2-layer GRU, its last step classified.
    let m = Model::new("LayersGru");
    let x = m.input("x", [4, 6, 3]);
    let y = m.labels("y", [4], 3);
    let out = x.gru(Recurrent::new(5).layers(2)).select(1, 5).linear(3);
    kiln_compiler::write_to_out_dir(&m.compile(out.cross_entropy(y), out, sgd())?, "layers_gru.rs")?;

    // An LSTM-cell decoder attending over LSTM states (padding masked), teacher-forced by the
    // gathered rows of its targets; its readout runs after the loop (`ir::scan_sinking_tails`).
    let m = Model::new("LayersAttentionDecoder");
    let x = m.input("x", [4, 5, 3]);
    let mask = m.input("mask", [4, 5]);
    let y = m.labels("y", [4, 4], 6);
    let keys = x.lstm(Recurrent::new(4));
    let (table, cell, readout) = (m.embedding(6, 3), m.lstm_cell(3 + 4, 4), m.dense(8, 6));
    let zeros = m.full([4, 4], 0.0);
    let start = [table.lookup_tensor(m.full([4], 0.0)), zeros, zeros, zeros];
    let (_, logits) = m.repeat(4, &start, &[table.lookup_labels(y)], |carried, targets| {
        let input = Tensor::concat(&[carried[0], carried[1]], 1);
        let state = cell.step(input, Some(CellState { h: carried[2], c: Some(carried[3]) }));
        let context = state.h.reshape([4, 1, 4]).attention(keys, keys, Some(mask)).reshape([4, 4]);
        let logits = readout.apply(Tensor::concat(&[state.h, context], 1));
        (vec![targets[0], context, state.h, state.c.expect("an LSTM cell")], vec![logits])
    });
    let out = logits[0];
    kiln_compiler::write_to_out_dir(&m.compile(out.cross_entropy(y), out, sgd())?, "layers_attention_decoder.rs")?;

    // A 2-layer LSTM and a GRU over packed sequences: each row's last state at its own length,
    // and the LSTM's outputs (zero past the length) averaged over the real steps.
    let m = Model::new("LayersPacked");
    let x = m.input("x", [4, 5, 3]);
    let lengths = m.lengths("lengths", 4, 5);
    let y = m.labels("y", [4], 3);
    let (states, lstm) = x.lstm_with_state(Recurrent::new(4).layers(2).lengths(lengths));
    let (_, gru) = x.gru_with_state(Recurrent::new(5).lengths(lengths));
    let mean = states.sum(&[1]).div(lengths.mask().sum(&[1]).reshape([4, 1]));
    let out = Tensor::concat(&[lstm.h, gru.h, mean], 1).linear(3);
    kiln_compiler::write_to_out_dir(&m.compile(out.cross_entropy(y), out, sgd())?, "layers_packed.rs")?;
    Ok(())
}

/// A small classifier with dropout, for the reproducibility and mode tests.
pub fn dropout_model() -> Result<(), Box<dyn std::error::Error>> {
    use kiln_compiler::{Model, Sgd};
    let m = Model::new("LayersDropout");
    let x = m.input("x", [8, 12]);
    let y = m.labels("y", [8], 3);
    let out = x.linear(32).relu().dropout(0.5).linear(3);
    kiln_compiler::write_to_out_dir(&m.compile(out.cross_entropy(y), out, Sgd::new(0.1))?, "layers_dropout.rs")?;
    Ok(())
}

/// fixtures/make_derivative_fixtures.py's model, exposing the JVP of its logits along an input
/// tangent and a direction per parameter (`jvp`), and the loss's HVP along those parameter
/// directions (`hvp_0_weight`, ...); in f32 (`Derivatives`) and in f64 (`Derivatives64`, for
/// finite differences of the generated code).
pub fn derivatives_models() -> Result<(), Box<dyn std::error::Error>> {
    use kiln_compiler::Precision;
    derivatives_model("Derivatives", Precision::F32)?;
    derivatives_model("Derivatives64", Precision::F64)
}

fn derivatives_model(name: &str, precision: kiln_compiler::Precision) -> Result<(), Box<dyn std::error::Error>> {
    use kiln_compiler::{Model, Sgd, Tensor, Training};
    let m = Model::new(name);
    let x = m.input("x", [4, 6]);
    let y = m.labels("y", [4], 3);
    let u = m.input("u", [4, 6]);
    let logits = x.linear(8).tanh().linear(3);
    let loss = logits.cross_entropy(y);
    let names = ["0.weight", "0.bias", "2.weight", "2.bias"];
    let directions: Vec<(Tensor, Tensor)> = names
        .iter()
        .map(|name| {
            let param = m.parameter(name);
            (param, m.unbatched_input(&format!("d{}", name.replace('.', "_")), param.shape().expect("declared")))
        })
        .collect();
    let mut tangents = vec![(x, u)];
    tangents.extend(&directions);
    m.expose("jvp", logits.jvp(&tangents));
    for (name, product) in names.iter().zip(loss.hvp(&directions)) {
        m.expose(&format!("hvp_{}", name.replace('.', "_")), product);
    }
    let program = m.compile(loss, logits, Training::new(Sgd::new(0.1)).precision(precision).keep_gradients())?;
    kiln_compiler::write_to_out_dir(&program, &format!("{}.rs", program.module_name()))?;
    Ok(())
}

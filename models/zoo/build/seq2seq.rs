//! An encoder-decoder with attention, at any size: an LSTM encoder, and an LSTM-cell decoder
//! that attends over the encoder's states at every step. Training feeds the decoder the
//! shifted targets (teacher forcing: a gather of the target rows); `predict` decodes greedily,
//! feeding back the rows of its own argmax, for `target_len` steps (the host cuts each row at
//! its first `<eos>`). The zoo's digit reverser and translator, and the seq2seq benchmark.

use kiln_compiler::{Adam, CellState, CrossEntropy, Model, Recurrent, Tensor};

/// The sizes and special ids of one encoder-decoder.
pub struct Seq2Seq {
    /// Sentence pairs per batch.
    pub batch: usize,
    /// Source tokens per sentence (shorter ones padded).
    pub source_len: usize,
    /// Decoder steps: target tokens per sentence, `<eos>` included.
    pub target_len: usize,
    /// Source and target vocabularies.
    pub vocab: [usize; 2],
    /// Embedding size of both vocabularies.
    pub embedding: usize,
    /// Hidden size of the encoder and the decoder.
    pub hidden: usize,
    /// The target id fed to the decoder's first step.
    pub bos: usize,
    /// Where sentences are padded: the id of padding in both vocabularies. Padded source
    /// tokens then get no attention (a `source_mask` input, 1 real and 0 padding, says which),
    /// and padded targets add no loss.
    pub pad: Option<usize>,
    /// Adam's learning rate.
    pub lr: f64,
}

/// Compiles `spec` as model `name` into `file` in OUT_DIR.
pub fn seq2seq(name: &str, file: &str, spec: &Seq2Seq) -> Result<(), Box<dyn std::error::Error>> {
    let Seq2Seq { batch, source_len, target_len, vocab, embedding, hidden, bos, pad, lr } = *spec;
    let model = Model::new(name);
    let source = model.tokens("source", [batch, source_len], vocab[0]);
    let target = model.labels("target", [batch, target_len], vocab[1]);
    let mask = pad.map(|_| model.input("source_mask", [batch, source_len]));
    let encoded = source.embedding(embedding).lstm(Recurrent::new(hidden));
    // The decoder's first context: the mean of the encoder's states over the real tokens.
    let summary = match mask {
        Some(mask) => {
            let lengths = mask.sum(&[1]).reshape([batch, 1]).maximum(model.full([batch, 1], 1.0));
            encoded.mul(mask.reshape([batch, source_len, 1])).sum(&[1]).div(lengths)
        }
        None => encoded.mean(&[1]),
    };
    let table = model.embedding(vocab[1], embedding);
    let cell = model.lstm_cell(embedding + hidden, hidden);
    let readout = model.dense(2 * hidden, vocab[1]);
    // One decoder step: the previous token's embedding, the previous context and the cell's
    // state in; logits, the new context and the new state out.
    let step = |token, context, h, c| {
        let input = Tensor::concat(&[token, context], 1);
        let state = cell.step(input, Some(CellState { h, c: Some(c) }));
        let query = state.h.reshape([batch, 1, hidden]);
        let context = query.attention(encoded, encoded, mask).reshape([batch, hidden]);
        let logits = readout.apply(Tensor::concat(&[state.h, context], 1));
        (logits, context, state)
    };
    let zeros = model.full([batch, hidden], 0.0);
    let start = [table.lookup_tensor(model.full([batch], bos as f64)), summary, zeros, zeros];

    // Each decoder is one loop over the steps. Teacher forcing carries the rows of this step's
    // target into the next; greedy decoding carries the rows of its own argmax.
    let (_, forced) = model.repeat(target_len, &start, &[table.lookup_labels(target)], |carried, targets| {
        let (logits, context, state) = step(carried[0], carried[1], carried[2], carried[3]);
        (vec![targets[0], context, state.h, state.c.expect("an LSTM cell")], vec![logits])
    });
    let (_, decoded) = model.repeat(target_len, &start, &[], |carried, _| {
        let (logits, context, state) = step(carried[0], carried[1], carried[2], carried[3]);
        let id = logits.argmax(1);
        (vec![table.lookup_tensor(id), context, state.h, state.c.expect("an LSTM cell")], vec![id])
    });
    let loss = match pad {
        Some(pad) => forced[0].cross_entropy_with(target, CrossEntropy::default().ignore_index(pad)),
        None => forced[0].cross_entropy(target),
    };
    let program = model.compile(loss, decoded[0], Adam::new(lr))?;
    kiln_compiler::write_to_out_dir(&program, file)?;
    Ok(())
}

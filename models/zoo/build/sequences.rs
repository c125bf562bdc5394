//! Sequence models: an LSTM classifier of padded token sequences, and an encoder-decoder with
//! attention trained with teacher forcing and decoded greedily.

use kiln_compiler::{Adam, CellState, Model, Recurrent, Tensor};

/// Static length of the classifier's token sequences (shorter ones are padded and masked).
pub const SENTENCE_LEN: usize = 12;
/// Vocabulary capacity of the classifier (the text pipeline's vocabulary must fit).
pub const SENTENCE_VOCAB: usize = 48;

/// Embedding -> LSTM -> mean of the outputs over the real (unmasked) steps -> 2 classes.
pub fn lstm_classifier() -> Result<(), Box<dyn std::error::Error>> {
    let model = Model::new("LstmClassifier");
    let ids = model.tokens("ids", [64, SENTENCE_LEN], SENTENCE_VOCAB);
    let mask = model.input("mask", [64, SENTENCE_LEN]);
    let labels = model.labels("labels", [64], 2);
    let states = ids.embedding(16).lstm(Recurrent::new(32));
    let summed = states.mul(mask.reshape([64, SENTENCE_LEN, 1])).sum(&[1]);
    // At least 1: the filler rows of a short last batch are all padding (their loss weight is 0,
    // but 0/0 would still poison the sum).
    let lengths = mask.sum(&[1]).reshape([64, 1]).maximum(model.full([64, 1], 1.0));
    let logits = summed.div(lengths).linear(2);
    let program = model.compile(logits.cross_entropy(labels), logits, Adam::new(1e-2))?;
    kiln_compiler::write_to_out_dir(&program, "lstm_classifier.rs")?;
    Ok(())
}

/// Digits per source string of the reversal task.
pub const DIGITS: usize = 5;
/// Ids: digits 0-9, then `<bos>` (10) and `<eos>` (11).
pub const DIGIT_VOCAB: usize = 12;
const BOS: f64 = 10.0;

/// Reverses digit strings: an LSTM encoder, an LSTM-cell decoder that attends over the
/// encoder states at every step. Training feeds the decoder the shifted targets (teacher
/// forcing, built from the labels); `predict` decodes greedily, feeding back its own argmax,
/// for `DIGITS + 1` steps (the host cuts each row at its first `<eos>`).
pub fn seq2seq_reverse() -> Result<(), Box<dyn std::error::Error>> {
    const BATCH: usize = 64;
    const STEPS: usize = DIGITS + 1;
    let model = Model::new("DigitReverser");
    let source = model.tokens("source", [BATCH, DIGITS], DIGIT_VOCAB);
    let target = model.labels("target", [BATCH, STEPS], DIGIT_VOCAB);
    let encoded = source.embedding(16).lstm(Recurrent::new(32));
    let table = model.embedding(DIGIT_VOCAB, 16);
    let cell = model.lstm_cell(16 + 32, 32);
    let readout = model.dense(64, DIGIT_VOCAB);
    // One decoder step: the previous token's embedding, the previous context and the cell's
    // state in; logits, the new context and the new state out.
    let step = |token, context, h, c| {
        let input = Tensor::concat(&[token, context], 1);
        let state = cell.step(input, Some(CellState { h, c: Some(c) }));
        let context = state.h.reshape([BATCH, 1, 32]).attention(encoded, encoded, None).reshape([BATCH, 32]);
        let logits = readout.apply(Tensor::concat(&[state.h, context], 1));
        (logits, context, state)
    };
    let zeros = model.full([BATCH, 32], 0.0);
    let start = [table.lookup_tensor(model.full([BATCH], BOS)), encoded.mean(&[1]), zeros, zeros];

    // Each decoder is one loop over the steps. Teacher forcing feeds the shifted targets
    // (one-hot rows of the labels times the table); greedy decoding gathers the rows of its own
    // argmax.
    let (_, forced) = model.repeat(STEPS, &start, &[target.one_hot()], |carried, shifted| {
        let (logits, context, state) = step(carried[0], carried[1], carried[2], carried[3]);
        let token = table.apply(shifted[0]);
        (vec![token, context, state.h, state.c.expect("an LSTM cell")], vec![logits])
    });
    let (_, decoded) = model.repeat(STEPS, &start, &[], |carried, _| {
        let (logits, context, state) = step(carried[0], carried[1], carried[2], carried[3]);
        let id = logits.argmax(1);
        (vec![table.lookup_tensor(id), context, state.h, state.c.expect("an LSTM cell")], vec![id])
    });
    let loss = forced[0].cross_entropy(target);
    let program = model.compile(loss, decoded[0], Adam::new(1e-2))?;
    kiln_compiler::write_to_out_dir(&program, "digit_reverser.rs")?;
    Ok(())
}

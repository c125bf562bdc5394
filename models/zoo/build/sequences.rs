//! Sequence models: two LSTM classifiers of padded token sequences (a small one and one at
//! SST-2's size), and two encoder-decoders with attention (`seq2seq.rs`): a digit reverser and
//! a translator.

use super::seq2seq::{seq2seq, Seq2Seq};
use kiln_compiler::{Adam, Model, Recurrent};

/// Static length of the classifier's token sequences (shorter ones are padded).
pub const SENTENCE_LEN: usize = 12;
/// Vocabulary capacity of the classifier (the text pipeline's vocabulary must fit).
pub const SENTENCE_VOCAB: usize = 48;

/// Embedding -> LSTM over each sentence's own length -> mean of its outputs over those steps ->
/// 2 classes. A batch runs as many LSTM steps as its longest sentence has.
pub fn lstm_classifier() -> Result<(), Box<dyn std::error::Error>> {
    let model = Model::new("LstmClassifier");
    let ids = model.tokens("ids", [64, SENTENCE_LEN], SENTENCE_VOCAB);
    let lengths = model.lengths("lengths", 64, SENTENCE_LEN);
    let labels = model.labels("labels", [64], 2);
    // Zero past each length, so the sum is over the real steps.
    let states = ids.embedding(16).lstm(Recurrent::new(32).lengths(lengths));
    // At least 1: the filler rows of a short first batch have lengths of 0 (their loss weight
    // is 0, but 0/0 would still poison the sum).
    let steps = lengths.mask().sum(&[1]).reshape([64, 1]).maximum(model.full([64, 1], 1.0));
    let logits = states.sum(&[1]).div(steps).linear(2);
    let program = model.compile(logits.cross_entropy(labels), logits, Adam::new(1e-2))?;
    kiln_compiler::write_to_out_dir(&program, "lstm_classifier.rs")?;
    Ok(())
}

/// Sentence sentiment at SST-2's size (67,349 training sentences of up to 52 tokens, about
/// 14,800 words): ids of a vocabulary of up to 20,000 words, each sentence cut to 64 tokens ->
/// a 50-wide embedding (the width of GloVe's smallest vectors, which `set_parameter("0.weight",
/// ..)` loads) -> LSTM of 128 over each sentence's own length -> its last state -> 2 classes.
pub fn sentiment_lstm() -> Result<(), Box<dyn std::error::Error>> {
    let model = Model::new("SentimentLstm");
    let ids = model.tokens("ids", [64, 64], 20_000);
    let lengths = model.lengths("lengths", 64, 64);
    let labels = model.labels("labels", [64], 2);
    let (_, last) = ids.embedding(50).lstm_with_state(Recurrent::new(128).lengths(lengths));
    let logits = last.h.linear(2);
    let program = model.compile(logits.cross_entropy(labels), logits, Adam::new(2e-3))?;
    kiln_compiler::write_to_out_dir(&program, "sentiment_lstm.rs")?;
    Ok(())
}

/// Digits per source string of the reversal task.
pub const DIGITS: usize = 5;
/// Ids: digits 0-9, then `<bos>` (10) and `<eos>` (11).
pub const DIGIT_VOCAB: usize = 12;

/// Reverses digit strings (`DIGITS` digits in, their reversal and `<eos>` out): a small
/// encoder-decoder with attention.
pub fn seq2seq_reverse() -> Result<(), Box<dyn std::error::Error>> {
    let spec = Seq2Seq {
        batch: 64,
        source_len: DIGITS,
        target_len: DIGITS + 1,
        vocab: [DIGIT_VOCAB; 2],
        embedding: 16,
        hidden: 32,
        bos: 10,
        pad: None,
        lr: 1e-2,
    };
    seq2seq("DigitReverser", "digit_reverser.rs", &spec)
}

/// Translates the sentence pairs of `kiln_runtime::synthetic::translation_pairs` (up to 8
/// words, vocabularies of 300 words): padded source sentences of up to 9 tokens (a final
/// `.` or `?`), up to 12 target tokens with `<eos>`; `<pad>` is id 0 and `<bos>` 2 in both
/// vocabularies (`kiln_runtime::text::Vocab` with the specials `<bos>`, `<eos>`).
pub fn translator() -> Result<(), Box<dyn std::error::Error>> {
    let spec = Seq2Seq {
        batch: 64,
        source_len: 9,
        target_len: 12,
        vocab: [320; 2],
        embedding: 32,
        hidden: 64,
        bos: 2,
        pad: Some(0),
        lr: 3e-3,
    };
    seq2seq("Translator", "translator.rs", &spec)
}

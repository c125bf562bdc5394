//! Models only the benchmarks use: a bag of embeddings at the vocabulary of the course's
//! sentence tasks (5,000 ids, 50 dimensions, 64 sentences of 16 tokens), its table looked up
//! by a gather (`EmbeddingBag`) and, for comparison in one run, by a one-hot product
//! (`EmbeddingBagOneHot`, how kiln lowered embeddings before gathers); and the sentence
//! classifiers of issue 35's benchmarks (i) and (ii) (`SentenceLstm`, `SentenceGru`), its
//! benchmark (iii), the encoder-decoder with attention (`Seq2seqAttention`), and the LSTM
//! classifier of its table at lengths 16 to 256 (`LstmLength16` ... `LstmLength256`).

use kiln_compiler::{Adam, Model, Recurrent};

// The zoo's encoder-decoder builder, at the benchmark's size.
#[path = "../models/zoo/build/seq2seq.rs"]
mod seq2seq;

/// Sentences per batch, tokens per sentence, vocabulary and embedding size of the bags.
const BATCH: usize = 64;
const LEN: usize = 16;
const VOCAB: usize = 5000;
const DIM: usize = 50;

/// ids -> embedding (gathered, or one-hot rows times the table) -> mean over the sentence ->
/// linear(2), trained with Adam on cross-entropy.
fn embedding_bag(name: &str, file: &str, one_hot: bool) -> Result<(), Box<dyn std::error::Error>> {
    let model = Model::new(name);
    let labels = model.labels("labels", [BATCH], 2);
    let table = model.embedding(VOCAB, DIM);
    let rows = match one_hot {
        false => table.lookup(model.tokens("ids", [BATCH, LEN], VOCAB)),
        true => table.apply(model.labels("ids", [BATCH, LEN], VOCAB).one_hot()),
    };
    let logits = rows.mean(&[1]).reshape([BATCH, DIM]).linear(2);
    let program = model.compile(logits.cross_entropy(labels), logits, Adam::new(1e-3))?;
    kiln_compiler::write_to_out_dir(&program, file)?;
    Ok(())
}

/// Sentences per batch, tokens per sentence, vocabulary, embedding and hidden size of the
/// sentence classifiers.
const SENTENCE: [usize; 5] = [64, 64, 20_000, 50, 128];

/// The lengths of issue 35's table, at which its LSTM classifier (`SENTENCE`'s, with a
/// vocabulary of 5,000) is compiled as `LstmLength{len}`.
const TABLE_LENGTHS: [usize; 5] = [16, 32, 64, 128, 256];

/// ids -> embedding -> an LSTM or GRU -> mean over the steps -> linear(2), trained with Adam on
/// cross-entropy, at `sizes` (as `SENTENCE`).
fn sentence_classifier(name: &str, file: &str, gru: bool, sizes: [usize; 5]) -> Result<(), Box<dyn std::error::Error>> {
    let [batch, len, vocab, dim, hidden] = sizes;
    let model = Model::new(name);
    let ids = model.tokens("ids", [batch, len], vocab);
    let labels = model.labels("labels", [batch], 2);
    let embedded = ids.embedding(dim);
    let states = match gru {
        false => embedded.lstm(Recurrent::new(hidden)),
        true => embedded.gru(Recurrent::new(hidden)),
    };
    let logits = states.mean(&[1]).linear(2);
    let program = model.compile(logits.cross_entropy(labels), logits, Adam::new(1e-3))?;
    kiln_compiler::write_to_out_dir(&program, file)?;
    Ok(())
}

/// The LSTM sentence classifier over each sentence's own length (`Recurrent::lengths`): the
/// mean of its states over the real steps. A batch of short sentences runs as many steps as
/// its longest has.
fn packed_sentence_classifier(name: &str, file: &str) -> Result<(), Box<dyn std::error::Error>> {
    let [batch, len, vocab, dim, hidden] = SENTENCE;
    let model = Model::new(name);
    let ids = model.tokens("ids", [batch, len], vocab);
    let lengths = model.lengths("lengths", batch, len);
    let labels = model.labels("labels", [batch], 2);
    let states = ids.embedding(dim).lstm(Recurrent::new(hidden).lengths(lengths));
    let steps = lengths.mask().sum(&[1]).reshape([batch, 1]);
    let logits = states.sum(&[1]).div(steps).linear(2);
    let program = model.compile(logits.cross_entropy(labels), logits, Adam::new(1e-3))?;
    kiln_compiler::write_to_out_dir(&program, file)?;
    Ok(())
}

/// Benchmark (iii): 64 pairs of up to 24 tokens each side, vocabularies of 8,000 (`<pad>` 0,
/// `<bos>` 2), embedding 64, hidden 128, Adam.
const SEQ2SEQ: seq2seq::Seq2Seq = seq2seq::Seq2Seq {
    batch: 64,
    source_len: 24,
    target_len: 24,
    vocab: [8000; 2],
    embedding: 64,
    hidden: 128,
    bos: 2,
    pad: Some(0),
    lr: 1e-3,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=../models/zoo/build/seq2seq.rs");
    seq2seq::seq2seq("Seq2seqAttention", "seq2seq_attention.rs", &SEQ2SEQ)?;
    embedding_bag("EmbeddingBag", "embedding_bag.rs", false)?;
    embedding_bag("EmbeddingBagOneHot", "embedding_bag_one_hot.rs", true)?;
    sentence_classifier("SentenceLstm", "sentence_lstm.rs", false, SENTENCE)?;
    sentence_classifier("SentenceGru", "sentence_gru.rs", true, SENTENCE)?;
    for len in TABLE_LENGTHS {
        let [batch, _, _, dim, hidden] = SENTENCE;
        let (name, file) = (format!("LstmLength{len}"), format!("lstm_length{len}.rs"));
        sentence_classifier(&name, &file, false, [batch, len, 5000, dim, hidden])?;
    }
    packed_sentence_classifier("PackedSentenceLstm", "packed_sentence_lstm.rs")
}

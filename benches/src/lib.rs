//! Inputs and kernel timing shared by kiln's benchmarks, the direct-convolution check
//! (`conv`) that the `conv_layout` example times and the end-to-end tests run, and the models
//! only benchmarks use (see `build.rs`).

pub mod conv;

include!(concat!(env!("OUT_DIR"), "/embedding_bag.rs"));
include!(concat!(env!("OUT_DIR"), "/embedding_bag_one_hot.rs"));
include!(concat!(env!("OUT_DIR"), "/sentence_lstm.rs"));
include!(concat!(env!("OUT_DIR"), "/sentence_gru.rs"));
include!(concat!(env!("OUT_DIR"), "/seq2seq_attention.rs"));
include!(concat!(env!("OUT_DIR"), "/packed_sentence_lstm.rs"));
include!(concat!(env!("OUT_DIR"), "/lstm_length16.rs"));
include!(concat!(env!("OUT_DIR"), "/lstm_length32.rs"));
include!(concat!(env!("OUT_DIR"), "/lstm_length64.rs"));
include!(concat!(env!("OUT_DIR"), "/lstm_length128.rs"));
include!(concat!(env!("OUT_DIR"), "/lstm_length256.rs"));
pub use embedding_bag::EmbeddingBag;
pub use embedding_bag_one_hot::EmbeddingBagOneHot;
pub use lstm_length128::LstmLength128;
pub use lstm_length16::LstmLength16;
pub use lstm_length256::LstmLength256;
pub use lstm_length32::LstmLength32;
pub use lstm_length64::LstmLength64;
pub use packed_sentence_lstm::PackedSentenceLstm;
pub use sentence_gru::SentenceGru;
pub use sentence_lstm::SentenceLstm;
pub use seq2seq_attention::Seq2seqAttention;

use kiln_runtime::data::Dataset;
use kiln_runtime::Arena;
use std::time::Instant;

/// The first full batch of the bundled MNIST training split.
pub fn mnist_batch(batch: usize) -> (Vec<f32>, Vec<u32>) {
    let (images, labels) = kiln_models::mnist_paths();
    let data = Dataset::from_idx(&images, &labels).expect("bundled MNIST files");
    data.gather(&(0..batch).collect::<Vec<_>>())
}

/// The batch the bag of embeddings (`EmbeddingBag`, `EmbeddingBagOneHot`) trains on: 64
/// sentences of 16 ids of 5,000, small ids frequent as words are, and alternating labels.
/// `benches/compare_pytorch.py` makes the same ids for PyTorch.
pub fn embedding_bag_batch() -> (Vec<u32>, Vec<u32>) {
    let ids = (0..64 * 16u64).map(|i| ((i * 2_654_435_761 % 1_000_003) % 5000 / (1 + i % 7)) as u32).collect();
    (ids, (0..64).map(|i| i % 2).collect())
}

/// The batch the sentence classifiers (`SentenceLstm`, `SentenceGru`) train on: 64 sentences
/// of 64 ids of 20,000, small ids frequent as words are, and alternating labels.
/// `benches/compare_pytorch.py` makes the same ids for PyTorch.
pub fn sentence_batch() -> (Vec<u32>, Vec<u32>) {
    sentences(64, 20_000)
}

/// 64 sentences of `len` ids of `vocab`, small ids frequent as words are, and alternating
/// labels: [`sentence_batch`]'s, and at `vocab` 5,000 the batch of `LstmLength{len}`.
/// `benches/compare_pytorch.py` makes the same ids for PyTorch.
pub fn sentences(len: usize, vocab: u64) -> (Vec<u32>, Vec<u32>) {
    let ids = (0..64 * len as u64).map(|i| ((i * 2_654_435_761 % 1_000_003) % vocab / (1 + i % 7)) as u32).collect();
    (ids, (0..64).map(|i| i % 2).collect())
}

/// Runs `$body` with `$model` the type of `LstmLength{$len}` (lengths 16, 32, 64, 128, 256),
/// or evaluates to an error naming the length.
#[macro_export]
macro_rules! with_length_model {
    ($len:expr, $model:ident => $body:expr) => {
        $crate::with_length_model!(@ $len, $model, $body,
            16 LstmLength16, 32 LstmLength32, 64 LstmLength64, 128 LstmLength128, 256 LstmLength256)
    };
    (@ $len:expr, $model:ident, $body:expr, $($length:literal $type:ident),+) => {
        match $len {
            $($length => {
                type $model = $crate::$type;
                Ok($body)
            })+
            other => Err(format!("no LSTM of length {other}: use 16, 32, 64, 128 or 256")),
        }
    };
}

/// A bucket of short sentences for `PackedSentenceLstm`: [`sentence_batch`]'s ids, each row
/// cut to a length of 9 to 16 (padded with 0 to 64), the lengths, and the labels.
/// `benches/compare_pytorch.py` makes the same batch for PyTorch.
pub fn packed_sentence_batch() -> (Vec<u32>, Vec<u32>, Vec<u32>) {
    let (mut ids, labels) = sentence_batch();
    let lengths: Vec<u32> = (0..64).map(|row| 9 + row * 5 % 8).collect();
    for (row, &length) in lengths.iter().enumerate() {
        ids[row * 64 + length as usize..(row + 1) * 64].fill(0);
    }
    (ids, lengths, labels)
}

/// The batch the seq2seq benchmark (`Seq2seqAttention`) trains on: 64 source sentences of 4
/// to 24 ids of 8,000 (ids 4 and up, small ids frequent) padded with 0, their masks, and
/// targets of 4 to 23 ids followed by `<eos>` (3) and padding. `benches/compare_pytorch.py`
/// makes the same batch for PyTorch. Returns `(source_mask, source, target)`, the order of
/// `Seq2seqAttention::train_step`.
pub fn seq2seq_batch() -> (Vec<f32>, Vec<u32>, Vec<u32>) {
    let (batch, len, vocab) = (64u64, 24u64, 8000u64);
    let id = |i: u64| (4 + (i * 2_654_435_761 % 1_000_003) % (vocab - 4) / (1 + i % 7)) as u32;
    let (mut mask, mut source, mut target) = (vec![], vec![], vec![]);
    for row in 0..batch {
        let (source_len, target_len) = (4 + row * 37 % 21, 4 + row * 53 % 20);
        for t in 0..len {
            let i = row * len + t;
            mask.push(if t < source_len { 1.0 } else { 0.0 });
            source.push(if t < source_len { id(i) } else { 0 });
            target.push(match t {
                t if t < target_len => id(i + 7_777),
                t if t == target_len => 3,
                _ => 0,
            });
        }
    }
    (mask, source, target)
}

/// An arena on `device` holding a product's operands in slots 0 and 1, `a_len` values in
/// [0, 1) and `b_len` in [-1, 1) (fixed, so runs compare), and `out_len` zeros for its output
/// in slot 2; with the operands, for a reference on the host.
pub fn product_arena(
    device: &kiln_runtime::Device,
    a_len: usize,
    b_len: usize,
    out_len: usize,
) -> (Arena, Vec<f32>, Vec<f32>) {
    let arena =
        Arena::new(device, 4 * (a_len + b_len + out_len), &[(0, a_len), (a_len, b_len), (a_len + b_len, out_len)]);
    let a: Vec<f32> = (0..a_len).map(|i| ((i * 7919) % 1000) as f32 / 1000.0).collect();
    let b: Vec<f32> = (0..b_len).map(|i| ((i * 104_729) % 2000) as f32 / 1000.0 - 1.0).collect();
    arena.write(0, &a);
    arena.write(1, &b);
    (arena, a, b)
}

/// Largest `|got - want|` relative to the largest `|want|`.
pub fn relative_error(got: &[f32], want: &[f64]) -> f64 {
    let scale = want.iter().fold(1e-12f64, |m, w| m.max(w.abs()));
    got.iter().zip(want).map(|(g, w)| (f64::from(*g) - w).abs()).fold(0.0, f64::max) / scale
}

/// Milliseconds per launch of `launch`, best of `rounds` rounds of `launches` back to back
/// and a sync (after one launch outside the timing).
pub fn ms_per_launch(arena: &Arena, rounds: usize, launches: usize, launch: impl Fn()) -> f64 {
    let sync = || kiln_runtime::cubecl::future::block_on(arena.client().sync()).expect("sync");
    launch();
    sync();
    (0..rounds)
        .map(|_| {
            let started = Instant::now();
            for _ in 0..launches {
                launch();
            }
            sync();
            started.elapsed().as_secs_f64() * 1e3 / launches as f64
        })
        .fold(f64::INFINITY, f64::min)
}

//! Times a train step on the CPU runtime and prints `min median max` in milliseconds over the
//! timed steps, for `benches/compare_pytorch.py`: the MNIST MLP (784-256-10, batch 64, SGD) or
//! LeNet-5 (batch 64, Adam), the residual CNN with batch norm (batch 64, Adam), the seq2seq
//! digit reverser (batch 64, Adam) or the LSTM classifier (batch 64, length 12, Adam); or the
//! sentence classifiers of issue 35 (`lstm64`, `gru64`: 64 sentences of 64 ids of 20,000,
//! embedding 50, LSTM or GRU 128, mean, linear 2, Adam; `lstm64packed`: the LSTM one over each
//! sentence's own length, on sentences of 9 to 16 ids) and its seq2seq model with attention
//! (`seq2seq`: 64 pairs of up to 24 ids of 8,000, embedding 64, hidden 128, Adam);
//! `lstm-len16` to `lstm-len256`: the LSTM classifier of its table (as `lstm64` with a
//! vocabulary of 5,000) at lengths 16, 32, 64, 128 and 256.
//! `mlp-unfused` and `lenet5-unfused` time the same steps compiled without fusion. `softmax`
//! times softmax regression (784-10, batch 64, SGD): 2 MFLOP, so nearly all of its step is the
//! runtime's fixed cost (see the `overhead` example). `autoencoder` times the convolutional
//! autoencoder (batch 64, its decoder two transposed convolutions: folds).
//!
//! `cargo run --release -p kiln-benches --example step_time -- [mlp|lenet5|residual|reverser|lstm|lstm64|lstm64packed|gru64|seq2seq|softmax|autoencoder]
//! [steps]`; with `KILN_PROFILE=1` it also prints where the time goes, kernel by kernel (each
//! launch is then followed by a sync, so the step is slower than unprofiled).

use kiln_models::MnistMlp;
use kiln_zoo::{LeNet5, LeNet5Unfused, MnistMlpUnfused};
use std::time::Instant;

/// `min median max` milliseconds of `steps` calls of `step`, after 20 warm-up calls (JIT).
fn time(
    steps: usize,
    mut step: impl FnMut() -> Result<f32, kiln_runtime::Error>,
) -> Result<[f64; 3], kiln_runtime::Error> {
    for _ in 0..20 {
        step()?;
    }
    let mut times: Vec<f64> = (0..steps)
        .map(|_| {
            let started = Instant::now();
            step().map(|_| started.elapsed().as_secs_f64() * 1e3)
        })
        .collect::<Result<_, _>>()?;
    times.sort_by(f64::total_cmp);
    Ok([times[0], times[times.len() / 2], times[times.len() - 1]])
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let model = std::env::args().nth(1).unwrap_or_else(|| "mlp".into());
    let steps: usize = std::env::args().nth(2).map(|s| s.parse()).transpose()?.unwrap_or(500);
    let device = kiln_runtime::Device::cpu().map_err(|e| format!("{e:?}"))?;
    let (x, y) = kiln_benches::mnist_batch(64);
    let [lo, mid, hi] = match model.as_str() {
        "mlp" => {
            let mut trainer = MnistMlp::new(&device, 0);
            time(steps, || trainer.train_step(&x, &y))?
        }
        "lenet5" => {
            let mut trainer = LeNet5::new(&device, 0);
            time(steps, || trainer.train_step(&x, &y))?
        }
        "residual" => {
            let mut trainer = kiln_zoo::ResidualCnn::new(&device, 0);
            time(steps, || trainer.train_step(&x, &y))?
        }
        "autoencoder" => {
            let mut trainer = kiln_zoo::ConvAutoencoder::new(&device, 0);
            time(steps, || trainer.train_step(&x, &x))?
        }
        "softmax" => {
            let mut trainer = kiln_zoo::SoftmaxRegression::new(&device, 0);
            time(steps, || trainer.train_step(&x, &y))?
        }
        "mlp-unfused" => {
            let mut trainer = MnistMlpUnfused::new(&device, 0);
            time(steps, || trainer.train_step(&x, &y))?
        }
        "lenet5-unfused" => {
            let mut trainer = LeNet5Unfused::new(&device, 0);
            time(steps, || trainer.train_step(&x, &y))?
        }
        "reverser" => {
            let mut trainer = kiln_zoo::DigitReverser::new(&device, 0);
            let source: Vec<u32> = (0..64 * 5).map(|i| (i * 7 % 10) as u32).collect();
            let target: Vec<u32> = (0..64 * 6).map(|i| if i % 6 == 5 { 11 } else { (i * 3 % 10) as u32 }).collect();
            time(steps, || trainer.train_step(&source, &target))?
        }
        "lstm" => {
            let mut trainer = kiln_zoo::LstmClassifier::new(&device, 0);
            let (len, vocab) = (kiln_zoo::LstmClassifier::IDS_LEN, kiln_zoo::LstmClassifier::IDS_VOCAB);
            let ids: Vec<u32> = (0..64 * len).map(|i| (i * 7 % vocab) as u32).collect();
            // Row r has 12 - r % 4 real steps, as `compare_pytorch.py`'s mask.
            let lengths: Vec<u32> = (0..64).map(|r| (len - r % 4) as u32).collect();
            let labels: Vec<u32> = (0..64).map(|i| (i % 2) as u32).collect();
            time(steps, || trainer.train_step(&ids, &lengths, &labels))?
        }
        "lstm64" => {
            let (ids, labels) = kiln_benches::sentence_batch();
            let mut trainer = kiln_benches::SentenceLstm::new(&device, 0);
            time(steps, || trainer.train_step(&ids, &labels))?
        }
        "gru64" => {
            let (ids, labels) = kiln_benches::sentence_batch();
            let mut trainer = kiln_benches::SentenceGru::new(&device, 0);
            time(steps, || trainer.train_step(&ids, &labels))?
        }
        "lstm64packed" => {
            let (ids, lengths, labels) = kiln_benches::packed_sentence_batch();
            let mut trainer = kiln_benches::PackedSentenceLstm::new(&device, 0);
            time(steps, || trainer.train_step(&ids, &lengths, &labels))?
        }
        "seq2seq" => {
            let (mask, source, target) = kiln_benches::seq2seq_batch();
            let mut trainer = kiln_benches::Seq2seqAttention::new(&device, 0);
            time(steps, || trainer.train_step(&mask, &source, &target))?
        }
        name if name.starts_with("lstm-len") => {
            let len: usize = name["lstm-len".len()..].parse()?;
            let (ids, labels) = kiln_benches::sentences(len, 5000);
            kiln_benches::with_length_model!(len, Model => {
                let mut trainer = Model::new(&device, 0);
                time(steps, || trainer.train_step(&ids, &labels))?
            })?
        }
        "embedding" | "embedding-one-hot" => {
            let (ids, labels) = kiln_benches::embedding_bag_batch();
            if model == "embedding" {
                let mut trainer = kiln_benches::EmbeddingBag::new(&device, 0);
                time(steps, || trainer.train_step(&ids, &labels))?
            } else {
                let mut trainer = kiln_benches::EmbeddingBagOneHot::new(&device, 0);
                time(steps, || trainer.train_step(&labels, &ids))?
            }
        }
        other => {
            return Err(format!(
                "unknown model {other:?}: use mlp, lenet5, residual, mlp-unfused, lenet5-unfused, reverser, softmax, autoencoder, \
                 lstm, lstm64, lstm64packed, gru64, seq2seq, lstm-len16 to lstm-len256, embedding or embedding-one-hot"
            )
            .into())
        }
    };
    println!("{lo:.4} {mid:.4} {hi:.4}");
    if std::env::var_os("KILN_PROFILE").is_some() {
        eprint!("{}", kiln_runtime::profile::report());
    }
    Ok(())
}

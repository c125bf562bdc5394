//! Seconds from the start of `main` to the first finished train step of a zoo model on the CPU
//! runtime, which is mostly the JIT compiling its kernels; then the second step, for scale.
//! Run it twice to see the kernel cache: the first run fills it, the second reads it.
//!
//! `KILN_KERNEL_CACHE=$(mktemp -d) target/release/examples/first_step lstm` (twice with the same
//! directory; `KILN_KERNEL_CACHE=off` compiles every kernel). Models: `mlp`, `lenet5`,
//! `residual`, `lstm` (the LSTM review classifier), `reverser` (seq2seq with attention),
//! `lstm64` and `gru64` (the sentence classifiers of issue 35: 64 steps, hidden 128), and
//! `seq2seq` (its encoder-decoder with attention: 24 steps each side, vocabularies of 8,000),
//! and `lstm-len16` to `lstm-len256` (the LSTM classifier of its table at those lengths).

use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let started = Instant::now();
    let model = std::env::args().nth(1).unwrap_or_else(|| "mlp".into());
    let device = kiln_runtime::Device::cpu().map_err(|e| format!("{e:?}"))?;
    let (x, y) = kiln_benches::mnist_batch(64);
    let mut first = None;
    let mut step = |loss: Result<f32, kiln_runtime::Error>| -> Result<(), kiln_runtime::Error> {
        loss?;
        first.get_or_insert(started.elapsed().as_secs_f64());
        Ok(())
    };
    // Runs two steps and returns the second's seconds.
    macro_rules! two_steps {
        ($trainer:expr, $($arg:expr),+) => {{
            let mut trainer = $trainer;
            step(trainer.train_step($($arg),+))?;
            let at = Instant::now();
            trainer.train_step($($arg),+)?;
            at.elapsed().as_secs_f64()
        }};
    }
    let second_step = match model.as_str() {
        "mlp" => two_steps!(kiln_models::MnistMlp::new(&device, 0), &x, &y),
        "lenet5" => two_steps!(kiln_zoo::LeNet5::new(&device, 0), &x, &y),
        "residual" => two_steps!(kiln_zoo::ResidualCnn::new(&device, 0), &x, &y),
        "lstm" => {
            use kiln_zoo::LstmClassifier as M;
            let ids: Vec<u32> = (0..M::BATCH * M::IDS_LEN).map(|i| (i * 7 % M::IDS_VOCAB) as u32).collect();
            let lengths = vec![M::IDS_LEN as u32; M::BATCH];
            let labels: Vec<u32> = (0..M::BATCH).map(|i| (i % 2) as u32).collect();
            two_steps!(M::new(&device, 0), &ids, &lengths, &labels)
        }
        "reverser" => {
            let source: Vec<u32> = (0..64 * 5).map(|i| (i * 7 % 10) as u32).collect();
            let target: Vec<u32> = (0..64 * 6).map(|i| if i % 6 == 5 { 11 } else { (i * 3 % 10) as u32 }).collect();
            two_steps!(kiln_zoo::DigitReverser::new(&device, 0), &source, &target)
        }
        "lstm64" => {
            let (ids, labels) = kiln_benches::sentence_batch();
            two_steps!(kiln_benches::SentenceLstm::new(&device, 0), &ids, &labels)
        }
        "gru64" => {
            let (ids, labels) = kiln_benches::sentence_batch();
            two_steps!(kiln_benches::SentenceGru::new(&device, 0), &ids, &labels)
        }
        "seq2seq" => {
            let (mask, source, target) = kiln_benches::seq2seq_batch();
            two_steps!(kiln_benches::Seq2seqAttention::new(&device, 0), &mask, &source, &target)
        }
        name if name.starts_with("lstm-len") => {
            let len: usize = name["lstm-len".len()..].parse()?;
            let (ids, labels) = kiln_benches::sentences(len, 5000);
            kiln_benches::with_length_model!(len, Model => two_steps!(Model::new(&device, 0), &ids, &labels))?
        }
        other => {
            let known = "mlp, lenet5, residual, lstm, reverser, lstm64, gru64, seq2seq or lstm-len16 to lstm-len256";
            return Err(format!("unknown model {other:?}: use {known}").into());
        }
    };
    let first = first.expect("a step ran");
    println!("{model}: first step finished {first:.3} s after start; second step {:.2} ms", second_step * 1e3);
    Ok(())
}

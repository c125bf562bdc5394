//! Classifies one test digit with the MNIST MLP's predictor, loading the checkpoint the
//! `mnist_mlp` example saved: the deployable half of what kiln emits, with no backward
//! kernels, optimizer state or learning rate. Then times `predict` on 1 row against a full
//! batch (medians of 500 calls each, alternating).
//!
//! ```text
//! cargo run --release -p kiln-models --example mnist_mlp
//! cargo run --release -p kiln-models --example classify_digit -- [index in 0..2000]
//! ```

use kiln_models::MnistMlpPredictor;
use kiln_runtime::data::{argmax_rows, Dataset};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let index: usize = std::env::args().nth(1).map(|s| s.parse()).transpose()?.unwrap_or(0);
    let (images, labels) = kiln_models::mnist_paths();
    let test = Dataset::from_idx(&images, &labels)?.slice(8000..10000);
    if index >= test.len() {
        return Err(format!("index {index} is past the {} test digits", test.len()).into());
    }
    let checkpoint = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/mnist_mlp/mnist_mlp.safetensors");
    if !checkpoint.exists() {
        return Err(format!("{} is missing: run the mnist_mlp example first", checkpoint.display()).into());
    }

    let device = kiln_runtime::default_device()?;
    let mut predictor = MnistMlpPredictor::open(&device, &checkpoint)?;
    let len = MnistMlpPredictor::IMAGES_LEN;
    let digit = &test.features[index * len..(index + 1) * len];
    let logits = predictor.predict(digit)?;
    let predicted = argmax_rows(&logits, MnistMlpPredictor::OUTPUT_LEN)[0];
    println!("test digit {index}: predicted {predicted}, labelled {}", test.labels[index]);

    let batch = &test.features[..MnistMlpPredictor::BATCH * len];
    let (mut one, mut full) = (vec![], vec![]);
    for _ in 0..500 {
        for (input, times) in [(digit, &mut one), (batch, &mut full)] {
            let started = Instant::now();
            predictor.predict(input)?;
            times.push(started.elapsed().as_secs_f64() * 1e3);
        }
    }
    let median = |times: &mut Vec<f64>| {
        times.sort_by(f64::total_cmp);
        times[times.len() / 2]
    };
    let (one, full) = (median(&mut one), median(&mut full));
    println!(
        "predict, median of 500: 1 row {one:.4} ms, {} rows {full:.4} ms ({:.2}x; a short batch is padded)",
        MnistMlpPredictor::BATCH,
        one / full
    );
    Ok(())
}

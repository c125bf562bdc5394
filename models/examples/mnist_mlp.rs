//! Trains the MNIST MLP (784-256-10, SGD lr 0.1, batch 64) on the bundled digits: the first
//! 8,000 for training, the last 2,000 for testing. Prints per-epoch loss, test accuracy and
//! seconds per epoch, then saves a checkpoint.
//!
//! `cargo run --release -p kiln-models --example mnist_mlp -- [epochs]`

use kiln_models::MnistMlp;
use kiln_runtime::data::{argmax_rows, Dataset};
use kiln_runtime::init::SplitMix64;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let epochs: usize = std::env::args().nth(1).map(|s| s.parse()).transpose()?.unwrap_or(5);
    let (images, labels) = kiln_models::mnist_paths();
    let all = Dataset::from_idx(&images, &labels)?;
    let (train, test) = (all.slice(0..8000), all.slice(8000..10000));
    let device = kiln_runtime::default_device()?;
    let mut trainer = MnistMlp::new(&device, 42);
    let mut rng = SplitMix64::new(42, 1);
    println!("MnistMlp: {} train / {} test images, batch {}, lr {}", train.len(), test.len(), MnistMlp::BATCH, trainer.learning_rate());

    for epoch in 1..=epochs {
        let started = Instant::now();
        let (mut loss_sum, mut batches) = (0.0, 0);
        for (x, y) in train.shuffled_batches(MnistMlp::BATCH, &mut rng) {
            loss_sum += trainer.train_step(&x, &y)?;
            batches += 1;
        }
        let seconds = started.elapsed().as_secs_f64();
        let accuracy = accuracy(&mut trainer, &test)?;
        println!(
            "epoch {epoch}: train loss {:.4}  test accuracy {:.2}%  {seconds:.2} s/epoch",
            loss_sum / batches as f32,
            100.0 * accuracy
        );
    }
    let checkpoint = std::env::temp_dir().join("kiln_mnist_mlp.safetensors");
    trainer.save(&checkpoint)?;
    println!("saved {}", checkpoint.display());
    Ok(())
}

/// Fraction of `data` the model classifies correctly.
fn accuracy(trainer: &mut MnistMlp, data: &Dataset) -> Result<f64, kiln_runtime::Error> {
    let mut correct = 0;
    for (x, y) in data.batches(MnistMlp::BATCH) {
        let predicted = argmax_rows(&trainer.predict(&x)?, MnistMlp::OUTPUT_LEN);
        correct += predicted.iter().zip(&y).filter(|(p, t)| p == t).count();
    }
    Ok(correct as f64 / data.len() as f64)
}

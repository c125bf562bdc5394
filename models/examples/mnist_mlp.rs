//! Trains the MNIST MLP (784-256-10, SGD lr 0.1, batch 64) on the bundled digits: the first
//! 8,000 for training, the last 2,000 for testing. Prints per-epoch loss, test accuracy and
//! seconds per epoch, then the confusion matrix; writes the curves as CSV and PNG and a
//! checkpoint under `target/mnist_mlp/`.
//!
//! `cargo run --release -p kiln-models --example mnist_mlp -- [epochs]`

use kiln_models::MnistMlp;
use kiln_runtime::data::Dataset;
use kiln_runtime::train::{evaluate, fit_validated, FitConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let epochs: usize = std::env::args().nth(1).map(|s| s.parse()).transpose()?.unwrap_or(5);
    let (images, labels) = kiln_models::mnist_paths();
    let all = Dataset::from_idx(&images, &labels)?;
    let (train, test) = (all.slice(0..8000), all.slice(8000..10000));
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/mnist_mlp");
    std::fs::create_dir_all(&out)?;

    let device = kiln_runtime::default_device()?;
    let mut trainer = MnistMlp::new(&device, 42);
    println!(
        "MnistMlp: {} train / {} test images, batch {}, lr {} (\"val\" is the test split)",
        train.len(),
        test.len(),
        MnistMlp::BATCH,
        trainer.learning_rate()
    );
    let config = FitConfig {
        epochs,
        seed: 42,
        csv: Some(out.join("curves.csv")),
        plot: Some(out.join("curves.png")),
        ..FitConfig::default()
    };
    fit_validated(&mut trainer, &train, &test, &config)?;

    let result = evaluate(&mut trainer, &test)?;
    println!("test accuracy {:.2}%, loss {:.4}\n{}", 100.0 * result.accuracy, result.loss, result.report());
    trainer.save(out.join("mnist_mlp.safetensors"))?;
    println!("wrote {}/{{curves.csv, curves.png, mnist_mlp.safetensors}}", out.display());
    Ok(())
}

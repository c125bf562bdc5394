//! Trains LeNet-5 or the residual CNN on the bundled digits (first 8,000 train, last 2,000
//! test), printing per-epoch loss, test accuracy and time, then the confusion matrix.
//!
//! `cargo run --release -p kiln-zoo --example mnist_cnn -- [lenet5|residual] [epochs]`

use kiln_runtime::data::Dataset;
use kiln_runtime::train::{evaluate, fit_validated, Classifier, FitConfig};
use kiln_zoo::{LeNet5, ResidualCnn};

fn run<T: Classifier>(mut trainer: T, name: &str, epochs: usize) -> Result<(), Box<dyn std::error::Error>> {
    let (images, labels) = kiln_models::mnist_paths();
    let all = Dataset::from_idx(&images, &labels)?;
    let (train, test) = (all.slice(0..8000), all.slice(8000..10000));
    println!(
        "{name}: {} train / {} test images, batch {} (\"val\" is the test split)",
        train.len(),
        test.len(),
        T::BATCH
    );
    fit_validated(&mut trainer, &train, &test, &FitConfig { epochs, seed: 42, ..FitConfig::default() })?;
    let result = evaluate(&mut trainer, &test)?;
    println!("test accuracy {:.2}%, loss {:.4}\n{}", 100.0 * result.accuracy, result.loss, result.report());
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let model = std::env::args().nth(1).unwrap_or_else(|| "lenet5".into());
    let epochs: usize = std::env::args().nth(2).map(|s| s.parse()).transpose()?.unwrap_or(5);
    let device = kiln_runtime::default_device()?;
    match model.as_str() {
        "lenet5" => run(LeNet5::new(&device, 42), "LeNet5", epochs),
        "residual" => run(ResidualCnn::new(&device, 42), "ResidualCnn", epochs),
        other => Err(format!("unknown model {other:?}: use lenet5 or residual").into()),
    }
}

//! Trains the model `build.rs` declared for one epoch on kiln's bundled digits, reports its
//! test accuracy and saves a checkpoint: `cargo run --release [checkpoint path]`.

kiln_runtime::include_models!(digit_mlp::DigitMlp);

use kiln_runtime::data::Dataset;
use kiln_runtime::train::{evaluate, fit_validated, FitConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data");
    let all =
        Dataset::from_idx(&data.join("mnist10k-images-idx3-ubyte.gz"), &data.join("mnist10k-labels-idx1-ubyte.gz"))?;
    let (train, test) = (all.slice(0..8000), all.slice(8000..10000));

    let device = kiln_runtime::default_device()?;
    let mut trainer = DigitMlp::new(&device, 42);
    fit_validated(&mut trainer, &train, &test, &FitConfig { epochs: 1, ..FitConfig::default() })?;
    let result = evaluate(&mut trainer, &test)?;
    println!("test accuracy after one epoch: {:.2}%", 100.0 * result.accuracy);

    let path = std::env::args().nth(1).unwrap_or_else(|| "digit_mlp.safetensors".into());
    trainer.save(&path)?;
    let mut reloaded = DigitMlp::new(&device, 0);
    reloaded.load(&path)?;
    assert_eq!(reloaded.parameter("1.weight"), trainer.parameter("1.weight"), "the checkpoint reloads");
    println!("saved {path}");
    if result.accuracy < 0.85 {
        return Err(format!("accuracy {:.2}% is below the 85% one epoch reaches", 100.0 * result.accuracy).into());
    }
    Ok(())
}

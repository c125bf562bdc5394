//! Declares the model and compiles it to Rust in OUT_DIR; a wrong shape fails the build here.

use kiln_compiler::{Model, Sgd};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let model = Model::new("DigitMlp");
    let images = model.input("images", [64, 1, 28, 28]);
    let labels = model.labels("labels", [64], 10);
    let logits = images.flatten().linear(128).relu().linear(10);
    let program = model.compile(logits.cross_entropy(labels), logits, Sgd::new(0.1))?;
    kiln_compiler::write_to_out_dir(&program, "digit_mlp.rs")?;
    Ok(())
}

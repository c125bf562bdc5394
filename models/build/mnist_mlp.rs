//! The MNIST MLP's declaration, shared by this crate's build script (the model itself) and the
//! zoo's (its unfused variant).

use kiln_compiler::{Model, Program, Training};

/// The MNIST MLP: 784-256-10, ReLU, softmax cross-entropy, written to `file` in OUT_DIR.
pub fn mnist_mlp(name: &str, file: &str, training: Training) -> Result<Program, Box<dyn std::error::Error>> {
    let model = Model::new(name);
    let images = model.input("images", [64, 1, 28, 28]);
    let labels = model.labels("labels", [64], 10);
    let logits = images.flatten().linear(256).relu().linear(10);
    let program = model.compile(logits.cross_entropy(labels), logits, training)?;
    kiln_compiler::write_to_out_dir(&program, file)?;
    Ok(program)
}

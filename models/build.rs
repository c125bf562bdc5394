//! Declares the reference models and compiles them to Rust in OUT_DIR.

use kiln_compiler::{Model, Sgd};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=build.rs");
    let started = std::time::Instant::now();

    // The MNIST MLP: 784-256-10, ReLU, softmax cross-entropy, SGD.
    let model = Model::new("MnistMlp");
    let images = model.input("images", [64, 1, 28, 28]);
    let labels = model.labels("labels", [64], 10);
    let logits = images.flatten().linear(256).relu().linear(10);
    let loss = logits.cross_entropy(labels);
    let program = model.compile(loss, logits, Sgd::new(0.1))?;
    kiln_compiler::write_to_out_dir(&program, "mnist_mlp.rs")?;

    println!("cargo:warning=kiln compiled MnistMlp in {:.1} ms", started.elapsed().as_secs_f64() * 1e3);
    Ok(())
}

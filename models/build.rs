//! Declares the main job's model, the MNIST MLP, and compiles it to Rust in OUT_DIR. The rest
//! of the reference models are the zoo's (`zoo/build.rs`), a crate of their own, so that an
//! edit here rebuilds only this crate.

use kiln_compiler::Sgd;

#[path = "build/mnist_mlp.rs"]
mod mnist_mlp;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=build");

    let started = std::time::Instant::now();
    let mlp = mnist_mlp::mnist_mlp("MnistMlp", "mnist_mlp.rs", Sgd::new(0.1).into())?;
    // The deployable half: `predict` alone, loading the trainer's checkpoints.
    kiln_compiler::write_predictor_to_out_dir(&mlp, "mnist_mlp_predictor.rs")?;
    println!("cargo:warning=kiln compiled MnistMlp in {:.1} ms", started.elapsed().as_secs_f64() * 1e3);
    Ok(())
}

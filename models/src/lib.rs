//! The main job's reference model, the MNIST MLP, declared in kiln's DSL in `build.rs` and
//! compiled to Rust at build time; the other reference models are in `kiln-zoo` (`zoo/`).

kiln_runtime::include_models!(mnist_mlp::MnistMlp, mnist_mlp_predictor::MnistMlpPredictor);

/// The bundled MNIST digits (10,000, see `data/README.md`), relative to this crate.
pub fn mnist_paths() -> (std::path::PathBuf, std::path::PathBuf) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../data");
    (dir.join("mnist10k-images-idx3-ubyte.gz"), dir.join("mnist10k-labels-idx1-ubyte.gz"))
}

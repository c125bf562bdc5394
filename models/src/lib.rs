//! Reference models, declared in kiln's DSL in `build.rs` and compiled to Rust at build time.

include!(concat!(env!("OUT_DIR"), "/mnist_mlp.rs"));
include!(concat!(env!("OUT_DIR"), "/le_net5.rs"));
include!(concat!(env!("OUT_DIR"), "/residual_cnn.rs"));

pub use le_net5::LeNet5;
pub use mnist_mlp::MnistMlp;
pub use residual_cnn::ResidualCnn;

/// The bundled MNIST digits (10,000, see `data/README.md`), relative to this crate.
pub fn mnist_paths() -> (std::path::PathBuf, std::path::PathBuf) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../data");
    (dir.join("mnist10k-images-idx3-ubyte.gz"), dir.join("mnist10k-labels-idx1-ubyte.gz"))
}

//! Reference models, declared in kiln's DSL in `build.rs` and compiled to Rust at build time.

include!(concat!(env!("OUT_DIR"), "/mnist_mlp.rs"));
include!(concat!(env!("OUT_DIR"), "/le_net5.rs"));
include!(concat!(env!("OUT_DIR"), "/residual_cnn.rs"));
include!(concat!(env!("OUT_DIR"), "/logistic_neuron.rs"));
include!(concat!(env!("OUT_DIR"), "/softmax_regression.rs"));
include!(concat!(env!("OUT_DIR"), "/three_block_cnn.rs"));
include!(concat!(env!("OUT_DIR"), "/alex_net32.rs"));
include!(concat!(env!("OUT_DIR"), "/dense_autoencoder.rs"));
include!(concat!(env!("OUT_DIR"), "/denoising_autoencoder.rs"));
include!(concat!(env!("OUT_DIR"), "/conv_autoencoder.rs"));
include!(concat!(env!("OUT_DIR"), "/lstm_classifier.rs"));
include!(concat!(env!("OUT_DIR"), "/digit_reverser.rs"));

pub use alex_net32::AlexNet32;
pub use conv_autoencoder::ConvAutoencoder;
pub use denoising_autoencoder::DenoisingAutoencoder;
pub use dense_autoencoder::DenseAutoencoder;
pub use digit_reverser::DigitReverser;
pub use le_net5::LeNet5;
pub use logistic_neuron::LogisticNeuron;
pub use lstm_classifier::LstmClassifier;
pub use mnist_mlp::MnistMlp;
pub use residual_cnn::ResidualCnn;
pub use softmax_regression::SoftmaxRegression;
pub use three_block_cnn::ThreeBlockCnn;

/// The bundled MNIST digits (10,000, see `data/README.md`), relative to this crate.
pub fn mnist_paths() -> (std::path::PathBuf, std::path::PathBuf) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../data");
    (dir.join("mnist10k-images-idx3-ubyte.gz"), dir.join("mnist10k-labels-idx1-ubyte.gz"))
}

//! Reference models, declared in kiln's DSL in `build.rs` and compiled to Rust at build time.

kiln_runtime::include_models!(
    mnist_mlp::MnistMlp,
    mnist_mlp_predictor::MnistMlpPredictor,
    le_net5::LeNet5,
    mnist_mlp_unfused::MnistMlpUnfused,
    le_net5_unfused::LeNet5Unfused,
    residual_cnn::ResidualCnn,
    logistic_neuron::LogisticNeuron,
    softmax_regression::SoftmaxRegression,
    three_block_cnn::ThreeBlockCnn,
    alex_net32::AlexNet32,
    dense_autoencoder::DenseAutoencoder,
    denoising_autoencoder::DenoisingAutoencoder,
    conv_autoencoder::ConvAutoencoder,
    lstm_classifier::LstmClassifier,
    digit_reverser::DigitReverser,
);

/// The bundled MNIST digits (10,000, see `data/README.md`), relative to this crate.
pub fn mnist_paths() -> (std::path::PathBuf, std::path::PathBuf) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../data");
    (dir.join("mnist10k-images-idx3-ubyte.gz"), dir.join("mnist10k-labels-idx1-ubyte.gz"))
}

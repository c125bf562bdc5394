//! The course's model zoo: every reference model but the main job's MNIST MLP, declared in
//! kiln's DSL in `build.rs` and compiled to Rust at build time. A crate of its own, so that
//! editing the MLP in `kiln-models` does not rebuild these.

kiln_runtime::include_models!(
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
    sentiment_lstm::SentimentLstm,
    digit_reverser::DigitReverser,
    translator::Translator,
);

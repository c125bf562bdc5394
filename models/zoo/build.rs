//! Declares the model zoo (every reference model but the main job's MNIST MLP) and compiles
//! it to Rust in OUT_DIR.

use kiln_compiler::{Adam, Conv, Model, Pool, Sgd, Tensor, Training};

#[path = "build/autoencoders.rs"]
mod autoencoders;
#[path = "../build/mnist_mlp.rs"]
mod mnist_mlp;
#[path = "build/seq2seq.rs"]
mod seq2seq;
#[path = "build/sequences.rs"]
mod sequences;
#[path = "build/vision.rs"]
mod vision;

/// conv 3x3 (no bias: batch norm follows) -> batch norm.
fn conv_bn(x: Tensor<'_>, channels: usize) -> Tensor<'_> {
    x.conv2d(Conv::new(channels, 3).padding(1).bias(false)).batch_norm2d()
}

/// LeNet-5 as in the course (padding 2 stands in for 32x32 inputs).
fn lenet5(name: &str, file: &str, training: Training) -> Result<(), Box<dyn std::error::Error>> {
    let model = Model::new(name);
    let images = model.input("images", [64, 1, 28, 28]);
    let labels = model.labels("labels", [64], 10);
    let logits = images
        .conv2d(Conv::new(6, 5).padding(2))
        .relu()
        .max_pool2d(Pool::new(2))
        .conv2d(Conv::new(16, 5))
        .relu()
        .max_pool2d(Pool::new(2))
        .flatten()
        .linear(120)
        .relu()
        .linear(84)
        .relu()
        .linear(10);
    let program = model.compile(logits.cross_entropy(labels), logits, training)?;
    kiln_compiler::write_to_out_dir(&program, file)?;
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=build");
    println!("cargo:rerun-if-changed=../build/mnist_mlp.rs");

    lenet5("LeNet5", "le_net5.rs", Adam::new(2e-3).into())?;
    // The same two without fusion, the baseline of the fusion benchmarks.
    mnist_mlp::mnist_mlp("MnistMlpUnfused", "mnist_mlp_unfused.rs", Training::new(Sgd::new(0.1)).unfused())?;
    lenet5("LeNet5Unfused", "le_net5_unfused.rs", Training::new(Adam::new(2e-3)).unfused())?;

    // A small residual CNN with batch norm: stem, one residual block (the skip is a value
    // used twice), global average pooling, Adam.
    let model = Model::new("ResidualCnn");
    let images = model.input("images", [64, 1, 28, 28]);
    let labels = model.labels("labels", [64], 10);
    let stem = conv_bn(images, 8).relu().max_pool2d(Pool::new(2));
    let block = conv_bn(conv_bn(stem, 8).relu(), 8);
    let features = block.add(stem).relu().max_pool2d(Pool::new(2));
    let logits = conv_bn(features, 16).relu().adaptive_avg_pool2d(1).flatten().linear(10);
    let program = model.compile(logits.cross_entropy(labels), logits, Adam::new(3e-3))?;
    kiln_compiler::write_to_out_dir(&program, "residual_cnn.rs")?;

    vision::logistic_neuron()?;
    vision::softmax_regression()?;
    vision::three_block_cnn()?;
    vision::alexnet32()?;
    autoencoders::dense("DenseAutoencoder", "dense_autoencoder.rs", None)?;
    autoencoders::dense("DenoisingAutoencoder", "denoising_autoencoder.rs", Some(0.3))?;
    autoencoders::convolutional()?;
    sequences::lstm_classifier()?;
    sequences::sentiment_lstm()?;
    sequences::seq2seq_reverse()?;
    sequences::translator()?;
    Ok(())
}

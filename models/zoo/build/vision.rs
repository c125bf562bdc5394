//! The course's classifiers beyond the MLP, LeNet-5 and the residual CNN.

use kiln_compiler::{Adam, Conv, Model, Pool, Sgd, Tensor};

/// A logistic neuron on 2-D points: sigmoid(w·x + b) against 0/1 targets (BCE on the logit).
pub fn logistic_neuron() -> Result<(), Box<dyn std::error::Error>> {
    let model = Model::new("LogisticNeuron");
    let points = model.input("points", [64, 2]);
    let targets = model.input("targets", [64, 1]);
    let logit = points.linear(1);
    let program = model.compile(logit.bce_with_logits(targets), logit, Sgd::new(0.5))?;
    kiln_compiler::write_to_out_dir(&program, "logistic_neuron.rs")?;
    Ok(())
}

/// Softmax regression 784 -> 10 on the digits.
pub fn softmax_regression() -> Result<(), Box<dyn std::error::Error>> {
    let model = Model::new("SoftmaxRegression");
    let images = model.input("images", [64, 1, 28, 28]);
    let labels = model.labels("labels", [64], 10);
    let logits = images.flatten().linear(10);
    let program = model.compile(logits.cross_entropy(labels), logits, Sgd::new(0.1))?;
    kiln_compiler::write_to_out_dir(&program, "softmax_regression.rs")?;
    Ok(())
}

/// Three conv 3x3 -> ReLU -> max-pool blocks (8, 16, 32 channels), dropout, a hidden layer.
pub fn three_block_cnn() -> Result<(), Box<dyn std::error::Error>> {
    let model = Model::new("ThreeBlockCnn");
    let images = model.input("images", [64, 1, 28, 28]);
    let labels = model.labels("labels", [64], 10);
    let features = block(block(block(images, 8), 16), 32).dropout(0.25);
    let logits = features.flatten().linear(64).relu().dropout(0.5).linear(10);
    let program = model.compile(logits.cross_entropy(labels), logits, Adam::new(2e-3))?;
    kiln_compiler::write_to_out_dir(&program, "three_block_cnn.rs")?;
    Ok(())
}

/// AlexNet's shape (5x5 then 3x3 convolutions, three pools, two dropout hidden layers) scaled
/// to 32x32 single-channel inputs and a CPU budget.
pub fn alexnet32() -> Result<(), Box<dyn std::error::Error>> {
    let model = Model::new("AlexNet32");
    let images = model.input("images", [64, 1, 32, 32]);
    let labels = model.labels("labels", [64], 10);
    let features = conv(images, 16, 5).max_pool2d(Pool::new(2));
    let features = conv(features, 24, 3).max_pool2d(Pool::new(2));
    let features = conv(conv(conv(features, 32, 3), 32, 3), 24, 3).max_pool2d(Pool::new(2));
    let logits = features.flatten().dropout(0.5).linear(128).relu().dropout(0.5).linear(64).relu().linear(10);
    let program = model.compile(logits.cross_entropy(labels), logits, Adam::new(1e-3))?;
    kiln_compiler::write_to_out_dir(&program, "alex_net32.rs")?;
    Ok(())
}

/// conv 3x3 (same size) -> ReLU -> max-pool 2.
fn block(x: Tensor<'_>, channels: usize) -> Tensor<'_> {
    x.conv2d(Conv::new(channels, 3).padding(1)).relu().max_pool2d(Pool::new(2))
}

/// conv k x k (same size) -> ReLU.
fn conv(x: Tensor<'_>, channels: usize, kernel: usize) -> Tensor<'_> {
    x.conv2d(Conv::new(channels, kernel).padding(kernel / 2)).relu()
}

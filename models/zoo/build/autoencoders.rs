//! Autoencoders of the digits: reconstruction against the clean image, MSE.

use kiln_compiler::{Adam, Conv, ConvTranspose, Model, Tensor};

/// Dense 784 -> 32 -> 784, sigmoid output. With `corruption`, a denoising autoencoder: the
/// input passes dropout (train step only) and the target stays clean.
pub fn dense(name: &str, file: &str, corruption: Option<f64>) -> Result<(), Box<dyn std::error::Error>> {
    let model = Model::new(name);
    let images = model.input("images", [64, 1, 28, 28]);
    let clean = model.input("clean", [64, 1, 28, 28]);
    let seen = match corruption {
        Some(p) => images.dropout(p),
        None => images,
    };
    let reconstruction = decode_dense(seen.flatten().linear(32).relu());
    let program = model.compile(reconstruction.mse_loss(clean), reconstruction, Adam::new(2e-3))?;
    kiln_compiler::write_to_out_dir(&program, file)?;
    Ok(())
}

fn decode_dense(code: Tensor<'_>) -> Tensor<'_> {
    code.linear(784).sigmoid().reshape([64, 1, 28, 28])
}

/// Strided convolutions down to 16 x 7 x 7, transposed convolutions back up to 28 x 28.
pub fn convolutional() -> Result<(), Box<dyn std::error::Error>> {
    let model = Model::new("ConvAutoencoder");
    let images = model.input("images", [64, 1, 28, 28]);
    let clean = model.input("clean", [64, 1, 28, 28]);
    let code =
        images.conv2d(Conv::new(8, 3).stride(2).padding(1)).relu().conv2d(Conv::new(16, 3).stride(2).padding(1)).relu();
    let reconstruction = up(up(code, 8).relu(), 1).sigmoid();
    let program = model.compile(reconstruction.mse_loss(clean), reconstruction, Adam::new(2e-3))?;
    kiln_compiler::write_to_out_dir(&program, "conv_autoencoder.rs")?;
    Ok(())
}

/// Transposed conv 3x3, stride 2: doubles the height and width.
fn up(x: Tensor<'_>, channels: usize) -> Tensor<'_> {
    x.conv_transpose2d(ConvTranspose::new(channels, 3).stride(2).padding(1).output_padding(1))
}

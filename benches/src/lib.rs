//! Inputs shared by kiln's benchmarks, and the direct-convolution check (`conv`) that the
//! `conv_layout` example times and the end-to-end tests run.

pub mod conv;

use kiln_runtime::data::Dataset;

/// The first full batch of the bundled MNIST training split.
pub fn mnist_batch(batch: usize) -> (Vec<f32>, Vec<u32>) {
    let (images, labels) = kiln_models::mnist_paths();
    let data = Dataset::from_idx(&images, &labels).expect("bundled MNIST files");
    data.gather(&(0..batch).collect::<Vec<_>>())
}

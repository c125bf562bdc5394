//! Inputs and kernel timing shared by kiln's benchmarks, and the direct-convolution check
//! (`conv`) that the `conv_layout` example times and the end-to-end tests run.

pub mod conv;

use kiln_runtime::data::Dataset;
use kiln_runtime::Arena;
use std::time::Instant;

/// The first full batch of the bundled MNIST training split.
pub fn mnist_batch(batch: usize) -> (Vec<f32>, Vec<u32>) {
    let (images, labels) = kiln_models::mnist_paths();
    let data = Dataset::from_idx(&images, &labels).expect("bundled MNIST files");
    data.gather(&(0..batch).collect::<Vec<_>>())
}

/// Largest `|got - want|` relative to the largest `|want|`.
pub fn relative_error(got: &[f32], want: &[f64]) -> f64 {
    let scale = want.iter().fold(1e-12f64, |m, w| m.max(w.abs()));
    got.iter().zip(want).map(|(g, w)| (f64::from(*g) - w).abs()).fold(0.0, f64::max) / scale
}

/// Milliseconds per launch of `launch`, best of `rounds` rounds of `launches` back to back
/// and a sync (after one launch outside the timing).
pub fn ms_per_launch(arena: &Arena, rounds: usize, launches: usize, launch: impl Fn()) -> f64 {
    let sync = || kiln_runtime::cubecl::future::block_on(arena.client().sync()).expect("sync");
    launch();
    sync();
    (0..rounds)
        .map(|_| {
            let started = Instant::now();
            for _ in 0..launches {
                launch();
            }
            sync();
            started.elapsed().as_secs_f64() * 1e3 / launches as f64
        })
        .fold(f64::INFINITY, f64::min)
}

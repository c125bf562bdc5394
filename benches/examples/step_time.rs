//! Times the MNIST MLP train step (784-256-10, batch 64, SGD) on the CPU runtime and prints
//! `min median max` in milliseconds over the timed steps, for `benches/compare_pytorch.py`.
//!
//! `cargo run --release -p kiln-benches --example step_time -- [steps]`

use kiln_models::MnistMlp;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let steps: usize = std::env::args().nth(1).map(|s| s.parse()).transpose()?.unwrap_or(500);
    let device = kiln_runtime::Device::cpu().map_err(|e| format!("{e:?}"))?;
    let mut trainer = MnistMlp::new(&device, 0);
    let (x, y) = kiln_benches::mnist_batch(MnistMlp::BATCH);
    for _ in 0..20 {
        trainer.train_step(&x, &y)?; // JIT compilation and warm-up
    }
    let mut times: Vec<f64> = (0..steps)
        .map(|_| {
            let started = Instant::now();
            trainer.train_step(&x, &y).map(|_| started.elapsed().as_secs_f64() * 1e3)
        })
        .collect::<Result<_, _>>()?;
    times.sort_by(f64::total_cmp);
    println!("{:.4} {:.4} {:.4}", times[0], times[times.len() / 2], times[times.len() - 1]);
    Ok(())
}

//! Train steps of the MNIST MLP (784-256-10, batch 64, SGD) and LeNet-5 (batch 64, Adam) on the
//! CPU runtime, and the MLP's inference.
//!
//! `cargo bench -p kiln-benches`

use criterion::{criterion_group, criterion_main, Criterion};
use kiln_models::{LeNet5, MnistMlp};

fn train_steps(c: &mut Criterion) {
    let device = kiln_runtime::Device::cpu().expect("CPU runtime");
    let (x, y) = kiln_benches::mnist_batch(64);
    let mut mlp = MnistMlp::new(&device, 0);
    mlp.train_step(&x, &y).unwrap(); // compile the kernels outside the timing
    c.bench_function("mnist_mlp_train_step_b64", |b| b.iter(|| mlp.train_step(&x, &y).unwrap()));
    c.bench_function("mnist_mlp_predict_b64", |b| b.iter(|| mlp.predict(&x).unwrap()));
    let mut lenet = LeNet5::new(&device, 0);
    lenet.train_step(&x, &y).unwrap();
    c.bench_function("lenet5_train_step_b64", |b| b.iter(|| lenet.train_step(&x, &y).unwrap()));
}

criterion_group!(benches, train_steps);
criterion_main!(benches);

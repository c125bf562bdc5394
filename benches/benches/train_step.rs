//! Train steps of the MNIST MLP (784-256-10, batch 64, SGD) and LeNet-5 (batch 64, Adam) on the
//! CPU runtime, and the MLP's inference; then each train step compiled with and without fusion
//! (`Training::unfused`: every op its own kernel), same weights and batch.
//!
//! `cargo bench -p kiln-benches`

use criterion::{criterion_group, criterion_main, Criterion};
use kiln_models::MnistMlp;
use kiln_zoo::{LeNet5, LeNet5Unfused, MnistMlpUnfused};

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

fn fusion(c: &mut Criterion) {
    let device = kiln_runtime::Device::cpu().expect("CPU runtime");
    let (x, y) = kiln_benches::mnist_batch(64);
    let mut group = c.benchmark_group("fusion");
    let mut mlp = MnistMlp::new(&device, 0);
    let mut mlp_unfused = MnistMlpUnfused::new(&device, 0);
    mlp.train_step(&x, &y).unwrap();
    mlp_unfused.train_step(&x, &y).unwrap();
    group.bench_function("mnist_mlp_fused", |b| b.iter(|| mlp.train_step(&x, &y).unwrap()));
    group.bench_function("mnist_mlp_unfused", |b| b.iter(|| mlp_unfused.train_step(&x, &y).unwrap()));
    let mut lenet = LeNet5::new(&device, 0);
    let mut lenet_unfused = LeNet5Unfused::new(&device, 0);
    lenet.train_step(&x, &y).unwrap();
    lenet_unfused.train_step(&x, &y).unwrap();
    group.bench_function("lenet5_fused", |b| b.iter(|| lenet.train_step(&x, &y).unwrap()));
    group.bench_function("lenet5_unfused", |b| b.iter(|| lenet_unfused.train_step(&x, &y).unwrap()));
    group.finish();
}

criterion_group!(benches, train_steps, fusion);
criterion_main!(benches);

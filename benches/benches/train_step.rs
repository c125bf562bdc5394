//! One train step of the MNIST MLP (784-256-10, batch 64, SGD) on the CPU runtime.
//!
//! `cargo bench -p kiln-benches`

use criterion::{criterion_group, criterion_main, Criterion};
use kiln_models::MnistMlp;

fn mnist_mlp_train_step(c: &mut Criterion) {
    let device = kiln_runtime::Device::cpu().expect("CPU runtime");
    let mut trainer = MnistMlp::new(&device, 0);
    let (x, y) = kiln_benches::mnist_batch(MnistMlp::BATCH);
    trainer.train_step(&x, &y).unwrap(); // compile the kernels outside the timing
    c.bench_function("mnist_mlp_train_step_b64", |b| b.iter(|| trainer.train_step(&x, &y).unwrap()));
    c.bench_function("mnist_mlp_predict_b64", |b| b.iter(|| trainer.predict(&x).unwrap()));
}

criterion_group!(benches, mnist_mlp_train_step);
criterion_main!(benches);

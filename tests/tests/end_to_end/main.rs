//! End-to-end tests of generated trainers: PyTorch parity, training to a stated accuracy,
//! checkpoints, input validation and backend agreement. One binary on purpose (link time).

use kiln_models::MnistMlp;
use kiln_runtime::data::Dataset;
use kiln_runtime::init::SplitMix64;
use kiln_runtime::{Device, Error, Feed};
use safetensors::SafeTensors;
use std::path::{Path, PathBuf};

mod devices;
mod model_zoo;
#[path = "../../zoo.rs"]
mod zoo;

/// Per-epoch learning rates and targets of the CNN training tests (measured: see docs/performance.md).
const LENET_SCHEDULE: [f32; 6] = [2e-3, 2e-3, 2e-3, 2e-3, 4e-4, 4e-4];
const RESIDUAL_SCHEDULE: [f32; 3] = [3e-3, 3e-3, 1e-3];
// Measured 88.75% (89.60% before pooling by reshape, 88.60% before the positions-last im2col). Rounding-level changes to the kernels (fusing differently) moved the
// 2-epoch constant-rate figure between 78% and 84%, so the test decays the rate in a third epoch.
const RESIDUAL_TARGET: f64 = 0.85;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(name)
}

fn cpu() -> Device {
    Device::cpu().expect("the CPU runtime is always available")
}

/// f32 or i64 tensor `name` of a fixture file, as f64.
fn tensor(file: &SafeTensors, name: &str) -> Vec<f64> {
    let t = file.tensor(name).unwrap_or_else(|_| panic!("fixture lacks {name}"));
    match t.dtype() {
        safetensors::Dtype::F32 => {
            t.data().chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap()) as f64).collect()
        }
        safetensors::Dtype::F64 => {
            t.data().chunks_exact(8).map(|b| f64::from_le_bytes(b.try_into().unwrap())).collect()
        }
        safetensors::Dtype::I64 => {
            t.data().chunks_exact(8).map(|b| i64::from_le_bytes(b.try_into().unwrap()) as f64).collect()
        }
        other => panic!("{name}: unexpected dtype {other:?}"),
    }
}

/// Largest |a - e| / (|e| + scale), where `scale` is the typical magnitude of `expected`
/// (at least 1e-4): a relative error that does not blow up on entries that are nearly zero,
/// nor on tensors that are zero up to rounding (a conv bias before batch norm).
fn max_relative_error<T: Copy + Into<f64>>(actual: &[T], expected: &[f64]) -> f64 {
    assert_eq!(actual.len(), expected.len());
    let scale = (expected.iter().map(|e| e.abs()).sum::<f64>() / expected.len() as f64).max(1e-4);
    actual.iter().zip(expected).map(|(&a, &e)| (a.into() - e).abs() / (e.abs() + scale)).fold(0.0, f64::max)
}

/// One SGD step of the MNIST MLP against PyTorch: loss, every gradient (from the same model
/// compiled to keep them, as `MnistMlp` does not), every updated parameter and the logits
/// after the step. f32 sums over 784 terms in another order than PyTorch's differ by ~1e-6
/// relative; 1e-4 leaves margin and still catches any wrong rule.
#[test]
fn mlp_sgd_step_matches_pytorch() {
    let bytes = std::fs::read(fixture("mlp_sgd_step.safetensors")).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let images = f32s(&file, "images");
    let labels = u32s(&file, "labels");
    for (prefix, rows) in [("full", 64), ("partial", 40)] {
        let mut trainer = MnistMlp::new(&cpu(), 0);
        let mut kept = kiln_tests::MnistMlpKeptGradients::new(&cpu(), 0);
        trainer.load(fixture("mlp_state_dict.safetensors")).expect("a PyTorch state_dict loads");
        kept.load(fixture("mlp_state_dict.safetensors")).unwrap();
        let loss = trainer.train_step(&images[..rows * 784], &labels[..rows]).unwrap();
        let kept_loss = kept.train_step(&images[..rows * 784], &labels[..rows]).unwrap();
        let mut report = vec![];
        let expected_loss = tensor(&file, &format!("{prefix}.loss"))[0];
        report.push(("loss".to_string(), max_relative_error(&[loss], &[expected_loss])));
        report.push(("loss (kept gradients)".to_string(), max_relative_error(&[kept_loss], &[expected_loss])));
        for (name, _) in MnistMlp::PARAMETERS {
            let grad = kept.gradient(name).unwrap();
            report.push((
                format!("grad {name}"),
                max_relative_error(&grad, &tensor(&file, &format!("{prefix}.grad.{name}"))),
            ));
            let updated = trainer.parameter(name).unwrap();
            report.push((
                format!("updated {name}"),
                max_relative_error(&updated, &tensor(&file, &format!("{prefix}.updated.{name}"))),
            ));
        }
        let logits = trainer.predict(&images[..rows * 784]).unwrap();
        report.push((
            "logits after".into(),
            max_relative_error(&logits, &tensor(&file, &format!("{prefix}.logits_after"))),
        ));
        for (what, err) in &report {
            println!("{prefix} batch ({rows} rows): {what}: max relative error {err:.2e}");
            assert!(*err < 1e-4, "{prefix} {what}: relative error {err:.2e}");
        }
    }
}

/// The foundation issue's target: at least 90% test accuracy after 5 epochs at batch 64 and
/// lr 0.1 on the bundled split (PyTorch reaches about 91%).
#[test]
fn mnist_mlp_reaches_90_percent_in_5_epochs() {
    let accuracy = mnist_accuracy(&mut MnistMlp::new(&cpu(), 42), &[0.1; 5]);
    println!("test accuracy after 5 epochs: {:.2}%", 100.0 * accuracy);
    assert!(accuracy >= 0.90, "accuracy {accuracy}");
}

/// Every model this crate compiles (f32, f64 and mixed precision, convolutions, loops,
/// gathers) launches the kernel library's templates: its generated file writes no `#[cube]`
/// kernel of its own, so rustc and the JIT expand each template once, whatever the models.
#[test]
fn generated_files_write_no_kernels() {
    let mut files = 0;
    for entry in std::fs::read_dir(env!("OUT_DIR")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "rs") {
            let source = std::fs::read_to_string(&path).unwrap();
            assert!(!source.contains("#[cube"), "{} writes a kernel", path.display());
            files += 1;
        }
    }
    assert!(files >= 40, "only {files} generated files in OUT_DIR");
}

/// Mixed precision: the MNIST MLP with every intermediate stored in bf16, and in f16 with a
/// dynamic loss scale, trains to within 1 point of the same model in f32 (same initial
/// weights, same batches).
#[test]
fn mnist_mlp_in_half_precision_is_within_a_point_of_f32() {
    use kiln_tests::{MnistMlpBf16, MnistMlpF16};
    let split = mnist_split();
    let schedule = [0.1; 5];
    let full = mnist_accuracy_on(&mut MnistMlp::new(&cpu(), 42), &split, &schedule);
    let mut bf16 = MnistMlpBf16::new(&cpu(), 42);
    let bf16_accuracy = mnist_accuracy_on(&mut bf16, &split, &schedule);
    let mut f16 = MnistMlpF16::new(&cpu(), 42);
    let f16_accuracy = mnist_accuracy_on(&mut f16, &split, &schedule);
    println!(
        "test accuracy after 5 epochs: f32 {:.2}%, bf16 {:.2}% ({} steps skipped), f16 {:.2}% ({} skipped, loss scale {})",
        100.0 * full,
        100.0 * bf16_accuracy,
        bf16.skipped_steps(),
        100.0 * f16_accuracy,
        f16.skipped_steps(),
        f16.loss_scale()
    );
    assert!((bf16_accuracy - full).abs() <= 0.01, "bf16 {bf16_accuracy} vs f32 {full}");
    assert!((f16_accuracy - full).abs() <= 0.01, "f16 {f16_accuracy} vs f32 {full}");
}

/// A step whose f16 gradients overflow changes nothing but the loss scale, which halves; the
/// next step at a workable scale trains.
#[test]
fn overflowing_half_step_is_skipped() {
    use kiln_tests::MnistMlpF16;
    let (train, _) = mnist_split();
    let (x, y) = train.batches(MnistMlpF16::BATCH).next().unwrap();
    let mut t = MnistMlpF16::new(&cpu(), 1);
    let before = t.parameter("1.weight").unwrap();
    t.set_loss_scale(1e30); // the scaled gradients exceed f16's 65504
    let loss = t.train_step(&x, &y).unwrap();
    assert!(loss.is_finite());
    assert_eq!((t.steps(), t.skipped_steps(), t.loss_scale()), (0, 1, 5e29));
    assert_eq!(t.parameter("1.weight").unwrap(), before, "a skipped step leaves the parameters");
    t.set_loss_scale(1024.0);
    t.train_step(&x, &y).unwrap();
    assert_eq!((t.steps(), t.skipped_steps()), (1, 1));
    assert_ne!(t.parameter("1.weight").unwrap(), before);
}

/// The bundled digits split as in every MNIST test: the first 8,000 to train, the last 2,000
/// to test.
fn mnist_split() -> (Dataset, Dataset) {
    let (images, labels) = kiln_models::mnist_paths();
    let all = Dataset::from_idx(&images, &labels).unwrap();
    (all.slice(0..8000), all.slice(8000..10000))
}

/// Trains a classifier on the first 8,000 bundled digits (shuffled, seed 42), one epoch per
/// learning rate in `schedule`, and returns its accuracy on the last 2,000.
fn mnist_accuracy<T: kiln_runtime::train::Classifier>(trainer: &mut T, schedule: &[f32]) -> f64 {
    mnist_accuracy_on(trainer, &mnist_split(), schedule)
}

/// Trains on `split.0` (shuffled, seed 42), one epoch per learning rate in `schedule`, and
/// returns the accuracy on `split.1`.
fn mnist_accuracy_on<T: kiln_runtime::train::Classifier>(
    trainer: &mut T,
    (train, test): &(Dataset, Dataset),
    schedule: &[f32],
) -> f64 {
    let mut rng = SplitMix64::new(42, 1);
    for &lr in schedule {
        trainer.set_learning_rate(lr);
        for (x, y) in train.shuffled_batches(T::BATCH, &mut rng) {
            trainer.train_step(&x, &y).unwrap();
        }
    }
    kiln_runtime::train::evaluate(trainer, test).unwrap().accuracy
}

#[test]
fn lenet5_reaches_97_percent() {
    let accuracy = mnist_accuracy(&mut kiln_zoo::LeNet5::new(&cpu(), 42), &LENET_SCHEDULE);
    println!("LeNet-5 test accuracy after {} epochs: {:.2}%", LENET_SCHEDULE.len(), 100.0 * accuracy);
    assert!(accuracy >= 0.97, "accuracy {accuracy}");
}

#[test]
fn residual_cnn_with_batch_norm_trains() {
    let accuracy = mnist_accuracy(&mut kiln_zoo::ResidualCnn::new(&cpu(), 42), &RESIDUAL_SCHEDULE);
    println!("residual CNN test accuracy after {} epochs: {:.2}%", RESIDUAL_SCHEDULE.len(), 100.0 * accuracy);
    assert!(accuracy >= RESIDUAL_TARGET, "accuracy {accuracy}");
}

/// The sizes of the files in `dir`, by name.
fn sizes(dir: &Path) -> Vec<u64> {
    let mut entries: Vec<(std::ffi::OsString, u64)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .map(|e| (e.file_name(), e.metadata().unwrap().len()))
        .collect();
    entries.sort();
    entries.into_iter().map(|(_, len)| len).collect()
}

/// The CPU runtime's kernel cache (vendor/cubecl-llvm): a child process trains the MNIST MLP
/// for three steps with an empty cache directory, a second child with the same one. The first
/// fills the cache with objects (`.o`, keyed by LLVM IR) and index entries (`.kernel`, keyed by
/// kernel id and build id). The second finds every kernel in the index, so it writes nothing,
/// and both end with bitwise the same parameters. A child after the objects were deleted, and
/// one after every entry was cut in half, get the same parameters and leave the entries whole.
#[test]
fn kernel_cache_fills_once_and_reproduces_the_step() {
    if let Some(out) = std::env::var_os("KILN_CACHE_CHILD") {
        let bytes = std::fs::read(fixture("mlp_sgd_step.safetensors")).unwrap();
        let file = SafeTensors::deserialize(&bytes).unwrap();
        let (x, y) = (f32s(&file, "images"), u32s(&file, "labels"));
        let mut trainer = MnistMlp::new(&cpu(), 5);
        for _ in 0..3 {
            trainer.train_step(&x, &y).unwrap();
        }
        let weights: Vec<u8> = trainer.parameter("1.weight").unwrap().iter().flat_map(|w| w.to_le_bytes()).collect();
        std::fs::write(out, weights).unwrap();
        return;
    }
    let dir = std::env::temp_dir().join(format!("kiln-kernel-cache-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let entries = || std::fs::read_dir(dir.join("cache")).map_or(0, |d| d.count());
    let run = |name: &str| {
        let out = dir.join(name);
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "kernel_cache_fills_once_and_reproduces_the_step", "--nocapture"])
            .env("KILN_CACHE_CHILD", &out)
            .env("KILN_KERNEL_CACHE", dir.join("cache"))
            .status()
            .unwrap();
        assert!(status.success(), "the training child failed");
        std::fs::read(out).unwrap()
    };
    let with_extension = |extension: &str| {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir.join("cache"))
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|e| e == extension))
            .collect();
        paths.sort();
        paths
    };
    let written = || {
        let times = std::fs::read_dir(dir.join("cache")).unwrap();
        let mut times: Vec<_> = times.map(|e| e.unwrap().metadata().unwrap().modified().unwrap()).collect();
        times.sort();
        times
    };
    let cold = run("cold");
    let filled = entries();
    let (objects, indexed) = (with_extension("o"), with_extension("kernel"));
    assert!(!objects.is_empty() && !indexed.is_empty(), "the first process left {filled} entries");
    assert_eq!(filled, objects.len() + indexed.len(), "only whole entries are left");
    let before = written();
    let warm = run("warm");
    assert_eq!(written(), before, "the second process wrote entries: it compiled kernels");
    assert!(cold == warm, "a step run from cached kernels differs from the compiled one");
    // An index entry whose object is gone is a miss: the kernel compiles and its object is back.
    for object in &objects {
        std::fs::remove_file(object).unwrap();
    }
    assert!(run("no objects") == cold, "a step after deleted objects differs");
    assert_eq!(with_extension("o"), objects, "the deleted objects were not compiled again");
    // A damaged entry is a miss: the kernel compiles again and its entry is rewritten whole.
    for entry in std::fs::read_dir(dir.join("cache")).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    }
    let damaged = sizes(&dir.join("cache"));
    assert!(run("damaged") == cold, "a step after damaged cache entries differs");
    let rewritten = sizes(&dir.join("cache"));
    assert_eq!(rewritten.len(), damaged.len(), "the same kernels, the same entries");
    assert!(rewritten.iter().zip(&damaged).all(|(r, d)| r > d), "damaged entries were not rewritten");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn checkpoint_round_trips_and_rejects_other_architectures() {
    let dir = std::env::temp_dir().join(format!("kiln-ckpt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("mlp.safetensors");
    let a = MnistMlp::new(&cpu(), 1);
    a.save(&path).unwrap();
    let mut b = MnistMlp::new(&cpu(), 2);
    assert_ne!(a.parameter("1.weight"), b.parameter("1.weight"));
    b.load(&path).unwrap();
    for (name, _) in MnistMlp::PARAMETERS {
        assert_eq!(a.parameter(name), b.parameter(name), "{name}");
    }
    assert!(!std::fs::read_dir(&dir).unwrap().any(|e| e.unwrap().file_name().to_string_lossy().contains(".tmp")));

    // A checkpoint of another architecture names the first mismatched tensor.
    let tiny = kiln_tests::TinyMlp::new(&cpu(), 0);
    let other = dir.join("tiny.safetensors");
    tiny.save(&other).unwrap();
    let err = b.load(&other).unwrap_err().to_string();
    assert!(err.contains("tensor `1.weight` is missing"), "{err}");
    let spec: [(&str, &[usize]); 4] =
        [("1.weight", &[256, 78]), ("1.bias", &[256]), ("3.weight", &[10, 256]), ("3.bias", &[10])];
    let values: Vec<Vec<f32>> = spec.iter().map(|(_, s)| vec![0.0; s.iter().product()]).collect();
    kiln_runtime::checkpoint::save(&other, &spec, &values, &[], &[], 0).unwrap();
    let err = b.load(&other).unwrap_err().to_string();
    assert!(err.contains("tensor `1.weight` has shape [256, 78], expected [256, 784]"), "{err}");
    assert_eq!(a.parameter("1.weight"), b.parameter("1.weight"), "a failed load changes nothing");

    std::fs::write(&other, b"not a checkpoint").unwrap();
    assert!(b.load(&other).unwrap_err().to_string().contains("not a safetensors file"));
    assert!(matches!(b.load(dir.join("missing")), Err(Error::Io { .. })));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_inputs_are_errors_not_panics() {
    let mut t = kiln_tests::TinyMlp::new(&cpu(), 0);
    let x = vec![0.5f32; 8 * 12];
    let y = vec![1u32; 8];
    assert!(matches!(t.train_step(&x[..13], &y), Err(Error::InputLength { .. })));
    assert!(matches!(t.train_step(&[0.0; 9 * 12], &[0; 9]), Err(Error::InputLength { .. })));
    assert!(matches!(t.train_step(&x, &y[..7]), Err(Error::LabelCount { .. })));
    assert!(matches!(t.train_step(&x, &[3; 8]), Err(Error::LabelOutOfRange { index: 0, label: 3, .. })));
    let mut nan = x.clone();
    nan[5] = f32::NAN;
    assert!(matches!(t.train_step(&nan, &y), Err(Error::NonFiniteInput { index: 5, .. })));
    assert!(t.train_step(&x, &y).unwrap().is_finite());
    t.set_learning_rate(1e30);
    let varied: Vec<f32> = (0..8 * 12).map(|i| (i % 7) as f32 * 1e3).collect();
    let labels: Vec<u32> = (0..8).map(|i| i % 3).collect();
    let err = (0..20).find_map(|_| t.train_step(&varied, &labels).err());
    assert!(matches!(err, Some(Error::NonFiniteLoss { .. })), "{err:?}");

    // Saving between the micro-batches of an accumulated step would lose the partial sums.
    let mut a = kiln_tests::SgdMomentumAccumulate3::new(&cpu(), 0);
    a.train_step(&x, &y).unwrap();
    let path = std::env::temp_dir().join(format!("kiln-micro-{}.safetensors", std::process::id()));
    assert!(matches!(a.save(&path), Err(Error::Invalid(_))));
    a.train_step(&x, &y).unwrap();
    a.train_step(&x, &y).unwrap();
    a.save(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
}

/// Uploads on the CPU runtime (`devices.rs`; the backend tests run the same check on wgpu).
#[test]
fn uploads_pad_and_finish_before_their_source_changes() {
    devices::uploads_pad_and_finish_before_their_source_changes(&cpu(), "cpu");
}

/// Fusion changes how many kernels a step launches, not what it computes: LeNet-5 and the MNIST
/// MLP compiled with and without fusion give the same losses and parameters over 5 steps.
#[test]
fn fused_and_unfused_steps_agree() {
    use kiln_zoo::{LeNet5, LeNet5Unfused, MnistMlpUnfused};
    let (train, _) = mnist_split();
    let batch = |step: usize| {
        let rows = train.slice(step * 64..(step + 1) * 64);
        (rows.features, rows.labels)
    };
    macro_rules! agree {
        ($fused:ty, $unfused:ty) => {{
            let (mut fused, mut unfused) = (<$fused>::new(&cpu(), 3), <$unfused>::new(&cpu(), 3));
            for step in 0..5 {
                let (x, y) = batch(step);
                let (a, b) = (fused.train_step(&x, &y).unwrap(), unfused.train_step(&x, &y).unwrap());
                assert!(
                    (a - b).abs() <= 1e-5 * a.abs().max(1.0),
                    "{} step {step}: fused loss {a}, unfused {b}",
                    stringify!($fused)
                );
            }
            for (name, _) in <$fused>::PARAMETERS {
                let (a, b) = (fused.parameter(name).unwrap(), unfused.parameter(name).unwrap());
                let worst = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
                assert!(worst < 1e-5, "{} {name}: max difference {worst}", stringify!($fused));
            }
        }};
    }
    agree!(MnistMlp, MnistMlpUnfused);
    agree!(LeNet5, LeNet5Unfused);
}

/// The trainer's memory is one arena allocated by `new` (its size is the compile-time plan's):
/// after a warm-up, train steps, inference and evaluation allocate no device memory. Measured
/// in a child process (this test binary again), where no other test shares the device.
#[test]
fn steps_allocate_no_device_memory() {
    use kiln_runtime::cubecl::MemoryScope;
    if std::env::var_os("KILN_ALONE").is_none() {
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "steps_allocate_no_device_memory", "--nocapture"])
            .env("KILN_ALONE", "1")
            .status()
            .unwrap();
        assert!(status.success(), "the measuring child failed");
        return;
    }
    let device = cpu();
    let usage = || device.client().memory_report(MemoryScope::Device).usage();
    let before = usage();
    let mut t = kiln_tests::LayersConv::new(&device, 0);
    let arena = usage().bytes_in_use - before.bytes_in_use;
    assert!(arena >= kiln_tests::LayersConv::ARENA_BYTES as u64, "arena {arena} B");
    let x: Vec<f32> = (0..4 * 2 * 9 * 8).map(|i| (i % 13) as f32 / 13.0).collect();
    let y = [0, 1, 2, 1];
    t.train_step(&x, &y).unwrap();
    t.predict(&x).unwrap();
    t.eval_loss(&x, &y).unwrap();
    let warm = usage();
    for _ in 0..10 {
        t.train_step(&x, &y).unwrap();
        t.predict(&x).unwrap();
        t.eval_loss(&x, &y).unwrap();
    }
    let after = usage();
    assert_eq!(
        (after.number_allocs, after.bytes_in_use, after.bytes_reserved),
        (warm.number_allocs, warm.bytes_in_use, warm.bytes_reserved)
    );
    let sum: usize = kiln_tests::LayersConv::BUFFERS.iter().map(|&(_, len)| 4 * len).sum();
    println!(
        "LayersConv: arena {} B for {sum} B of buffers; device usage {after:?}",
        kiln_tests::LayersConv::ARENA_BYTES
    );
    assert!(kiln_tests::LayersConv::ARENA_BYTES < sum, "intermediates share space");
}

/// Same seed, same batches: bitwise-identical parameters on the CPU runtime (each output
/// element is computed by one unit in a fixed order; there are no atomics).
#[test]
fn same_seed_gives_bitwise_identical_parameters() {
    let run = || {
        let mut t = kiln_tests::TinyMlp::new(&cpu(), 11);
        let mut rng = SplitMix64::new(11, 0);
        for _ in 0..10 {
            let x: Vec<f32> = (0..8 * 12).map(|_| rng.next_f64() as f32).collect();
            let y: Vec<u32> = (0..8).map(|_| rng.below(3) as u32).collect();
            t.train_step(&x, &y).unwrap();
        }
        kiln_tests::TinyMlp::PARAMETERS.iter().map(|(n, _)| t.parameter(n).unwrap()).collect::<Vec<_>>()
    };
    let (a, b) = (run(), run());
    let bits = |p: &Vec<Vec<f32>>| p.iter().flatten().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&a), bits(&b));
}

/// A process killed while saving in a loop leaves a checkpoint that loads and holds one of the
/// two parameter sets it was writing: never a torn file. The child is this test binary again.
#[test]
fn checkpoint_survives_a_process_killed_mid_save() {
    let trainers = [MnistMlp::new(&cpu(), 1), MnistMlp::new(&cpu(), 2)];
    if let Some(path) = std::env::var_os("KILN_SAVE_LOOP") {
        // The child: save until killed (bounded, so a lost parent cannot leave it running).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        for i in 0.. {
            trainers[i % 2].save(&path).unwrap();
            if std::time::Instant::now() > deadline {
                std::process::exit(1);
            }
        }
    }
    let dir = std::env::temp_dir().join(format!("kiln-kill-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("mlp.safetensors");
    for delay_ms in [150, 230, 310, 390, 470] {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "checkpoint_survives_a_process_killed_mid_save", "--test-threads", "1"])
            .env("KILN_SAVE_LOOP", &path)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        for _ in 0..2000 {
            if path.exists() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        child.kill().unwrap();
        child.wait().unwrap();
        let mut loaded = MnistMlp::new(&cpu(), 3);
        loaded.load(&path).unwrap_or_else(|e| panic!("killed after {delay_ms} ms: {e}"));
        let w = loaded.parameter("1.weight");
        assert!(trainers.iter().any(|t| t.parameter("1.weight") == w), "killed after {delay_ms} ms: mixed parameters");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Each optimizer (some after `clip_grad_norm_`, some accumulating micro-batches) against
/// `torch.optim` over 6 steps of a small MLP on fixed batches: the loss
/// of every step and every parameter after the last. Gradients come from the model (not fixed),
/// so the f32 rounding of the forward and backward passes is part of what is compared.
#[test]
fn optimizers_match_torch_optim_over_6_steps() {
    let bytes = std::fs::read(fixture("optimizers.safetensors")).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let xs = f32s(&file, "x");
    let ys = u32s(&file, "y");
    macro_rules! check {
        ($($model:ident => $config:literal),* $(,)?) => {$({
            let mut t = kiln_tests::$model::new(&cpu(), 0);
            t.load(fixture("optimizer_initial.safetensors")).unwrap();
            let mut losses = vec![];
            for step in 0..6 {
                losses.push(t.train_step(&xs[step * 96..(step + 1) * 96], &ys[step * 8..(step + 1) * 8]).unwrap());
            }
            let mut worst = max_relative_error(&losses, &tensor(&file, concat!($config, ".losses")));
            for (name, _) in kiln_tests::$model::PARAMETERS {
                let expected = tensor(&file, &format!("{}.final.{name}", $config));
                worst = worst.max(max_relative_error(&t.parameter(name).unwrap(), &expected));
            }
            println!("{:<26} max relative error {worst:.2e}", $config);
            assert!(worst < 1e-6, "{}: {worst:.2e}", $config);
        })*};
    }
    check!(
        SgdMomentum => "sgd_momentum",
        SgdNesterovWd => "sgd_nesterov_wd",
        SgdDampening => "sgd_dampening",
        Rmsprop => "rmsprop",
        RmspropCenteredMomentum => "rmsprop_centered_momentum",
        AdamDefault => "adam",
        AdamCourse => "adam_course",
        AdamW => "adamw",
        AdagradDecay => "adagrad",
        SgdMomentumClipped => "sgd_momentum_clipped",
        AdamClipped => "adam_clipped",
        SgdMomentumAccumulate3 => "sgd_momentum_accumulate3",
        AdamAccumulate2Clipped => "adam_accumulate2_clipped",
    );
}

/// N steps straight equal N/2 steps, a save, a load into a fresh trainer and N/2 more, bit for
/// bit: the checkpoint holds the optimizer state and the step counter.
#[test]
fn resumed_run_continues_exactly() {
    let batches: Vec<(Vec<f32>, Vec<u32>)> = {
        let mut rng = SplitMix64::new(9, 0);
        (0..8)
            .map(|_| ((0..96).map(|_| rng.next_f64() as f32).collect(), (0..8).map(|_| rng.below(3) as u32).collect()))
            .collect()
    };
    let path = std::env::temp_dir().join(format!("kiln-resume-{}.safetensors", std::process::id()));
    let mut straight = kiln_tests::AdamCourse::new(&cpu(), 4);
    for (x, y) in &batches {
        straight.train_step(x, y).unwrap();
    }
    let mut first = kiln_tests::AdamCourse::new(&cpu(), 4);
    for (x, y) in &batches[..4] {
        first.train_step(x, y).unwrap();
    }
    first.save(&path).unwrap();
    let mut resumed = kiln_tests::AdamCourse::new(&cpu(), 99);
    resumed.load(&path).unwrap();
    assert_eq!(resumed.steps(), 4);
    for (x, y) in &batches[4..] {
        resumed.train_step(x, y).unwrap();
    }
    for (name, _) in kiln_tests::AdamCourse::PARAMETERS {
        let (a, b) = (straight.parameter(name).unwrap(), resumed.parameter(name).unwrap());
        assert!(a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()), "{name} differs after resuming");
    }
    std::fs::remove_file(&path).unwrap();
}

/// Each learning-rate schedule against `torch.optim.lr_scheduler` over 30 epochs (f64).
#[test]
fn lr_schedules_match_pytorch() {
    use kiln_runtime::schedule::LrSchedule;
    let bytes = std::fs::read(fixture("lr_schedules.safetensors")).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let cases = [
        ("exponential", LrSchedule::Exponential { gamma: 0.9 }),
        ("step", LrSchedule::Step { step_size: 7, gamma: 0.5 }),
        ("multistep", LrSchedule::MultiStep { milestones: vec![5, 12, 20], gamma: 0.3 }),
        ("linear", LrSchedule::Linear { start_factor: 0.1, end_factor: 1.0, total_iters: 5 }),
        ("cosine", LrSchedule::Cosine { t_max: 30, eta_min: 0.001 }),
        (
            "warmup_then_exponential",
            LrSchedule::Sequential {
                schedules: vec![
                    LrSchedule::Linear { start_factor: 0.01, end_factor: 1.0, total_iters: 5 },
                    LrSchedule::Exponential { gamma: 0.9 },
                ],
                milestones: vec![5],
            },
        ),
    ];
    for (name, schedule) in cases {
        for (epoch, expected) in tensor(&file, name).into_iter().enumerate() {
            let lr = schedule.lr(0.1, epoch);
            assert!((lr - expected).abs() <= 1e-9 * expected.abs(), "{name} epoch {epoch}: {lr} vs {expected}");
        }
    }
}

/// `fit` with early stopping on noisy blobs: it stops `patience` epochs after the best one,
/// the model then holds the best epoch's parameters (its validation loss is reproduced), and
/// the CSV and PNG are written. Clean blobs are learned to over 95%.
#[test]
fn fit_stops_early_and_restores_the_best_epoch() {
    use kiln_runtime::synthetic::gaussian_blobs;
    use kiln_runtime::train::{evaluate, fit, FitConfig};
    let dir = std::env::temp_dir().join(format!("kiln-fit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let noisy = gaussian_blobs(400, 3, 12, 6.0, 1);
    let mut model = kiln_tests::TinyMlp::new(&cpu(), 1);
    let config = FitConfig {
        epochs: 60,
        seed: 3,
        validation_fraction: 0.25,
        patience: Some(3),
        csv: Some(dir.join("log.csv")),
        plot: Some(dir.join("curves.png")),
        verbose: false,
        ..FitConfig::default()
    };
    let history = fit(&mut model, &noisy, &config).unwrap();
    assert!(
        history.stopped_early,
        "noisy data overfits: {:?}",
        history.epochs.iter().map(|e| e.val_loss).collect::<Vec<_>>()
    );
    assert_eq!(history.epochs.len(), history.best_epoch + 1 + 3);
    let best = history.epochs[history.best_epoch].val_loss;
    assert!(history.epochs.iter().all(|e| e.val_loss >= best));
    let (_, validation) = noisy.split(0.25, &mut SplitMix64::new(3, 0x5151));
    let restored = evaluate(&mut model, &validation.unwrap()).unwrap().loss;
    assert!((restored - best).abs() < 1e-6 * best, "restored {restored} vs best {best}");
    let csv = std::fs::read_to_string(dir.join("log.csv")).unwrap();
    assert_eq!(csv.lines().count(), history.epochs.len() + 1);
    assert!(std::fs::read(dir.join("curves.png")).unwrap().starts_with(b"\x89PNG"));

    let clean = gaussian_blobs(600, 3, 12, 1.0, 2);
    let mut model = kiln_tests::TinyMlp::new(&cpu(), 2);
    let history = fit(&mut model, &clean, &FitConfig { epochs: 10, verbose: false, ..FitConfig::default() }).unwrap();
    let last = history.epochs.last().unwrap();
    assert!(last.val_accuracy > 0.95, "{last:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Every elementwise op's generated kernels (forward and backward) against the compiler's f64
/// reference evaluator running the same program: loss, all gradients and all updated
/// parameters of one step. f32 kernels vs f64: 1e-4 relative (scaled) leaves margin.
#[test]
fn op_zoo_kernels_match_the_reference_evaluator() {
    let mut trainer = kiln_tests::OpZoo::new(&cpu(), 5);
    let mut rng = SplitMix64::new(21, 0);
    let x: Vec<f32> = (0..24).map(|_| (2.0 * rng.next_f64() - 1.0) as f32).collect();
    let y: Vec<u32> = (0..4).map(|_| rng.below(3) as u32).collect();
    let feeds = [("x", Feed::Values(&x)), ("y", Feed::Ids(&y))];
    let gradient = |t: &mut kiln_tests::OpZoo, name: &str| t.gradient(name);
    let worst = train_step_against_evaluator(&zoo::op_zoo().unwrap(), &mut trainer, &feeds, gradient);
    println!("op zoo: max relative error {worst:.2e} over loss, gradients and updates");
    assert!(worst < 1e-4, "{worst:.2e}");
}

/// Stepped loops (an LSTM, then a GRU, over 12 steps of a batch of 64: the kernels of a step
/// launched once per step, forward and through time backward) against the reference
/// evaluator, which runs the loops as loops: the loss and SGD's updates of two steps, the
/// second from the parameters the first updated.
#[test]
fn stepped_loops_match_the_reference_evaluator() {
    let program = zoo::loop_zoo().unwrap();
    let mut trainer = kiln_tests::LoopZoo::new(&cpu(), 5);
    let mut rng = SplitMix64::new(22, 0);
    for step in 0..2 {
        let x: Vec<f32> = (0..64 * 12 * 8).map(|_| (2.0 * rng.next_f64() - 1.0) as f32).collect();
        let y: Vec<u32> = (0..64).map(|_| rng.below(3) as u32).collect();
        let feeds = [("x", Feed::Values(&x)), ("y", Feed::Ids(&y))];
        let worst = train_step_against_evaluator(&program, &mut trainer, &feeds, |_, _| None);
        println!("loop zoo, step {step}: max relative error {worst:.2e} over loss and updates");
        assert!(worst < 1e-4, "step {step}: {worst:.2e}");
    }
}

/// Loops over each row's own length that stop after the batch's longest row: a step with rows
/// of up to all 12 steps, then steps with rows of at most 3 and 7 (the loops run that many
/// and stack zeros for the rest, over what the steps before left), against the reference
/// evaluator, which runs all 12 steps.
#[test]
fn loops_over_lengths_stop_after_the_longest_row() {
    let program = zoo::packed_loop_zoo().unwrap();
    let mut trainer = kiln_tests::PackedLoopZoo::new(&cpu(), 5);
    let mut rng = SplitMix64::new(23, 0);
    for (step, longest) in [12, 3, 7].into_iter().enumerate() {
        let x: Vec<f32> = (0..64 * 12 * 8).map(|_| (2.0 * rng.next_f64() - 1.0) as f32).collect();
        let lengths: Vec<u32> = (0..64).map(|_| 1 + rng.below(longest) as u32).collect();
        let y: Vec<u32> = (0..64).map(|_| rng.below(3) as u32).collect();
        let feeds = [("x", Feed::Values(&x)), ("lengths", Feed::Ids(&lengths)), ("y", Feed::Ids(&y))];
        let worst = train_step_against_evaluator(&program, &mut trainer, &feeds, |_, _| None);
        println!("lengths up to {longest}, step {step}: max relative error {worst:.2e} over loss and updates");
        assert!(worst < 1e-4, "step {step}: {worst:.2e}");
    }
}

/// Plans replayed on the CPU runtime (the launches the first run of a plan recorded, for
/// each trip count of its loops) train bitwise as plans launched through the client: loops
/// over lengths whose longest row gives 12, 3 and 7 steps, each count recorded and then
/// replayed, and the steps' uploads between them.
#[test]
fn replayed_plans_train_as_launched_ones() {
    let order: Vec<&str> =
        <kiln_tests::PackedLoopZoo as kiln_runtime::Trainer>::TRAIN_FEEDS.iter().map(|f| f.name).collect();
    assert_eq!(order, ["x", "lengths", "y"]);
    let run = |replay: bool| {
        kiln_runtime::replay::replay_on_this_thread(replay);
        let before = kiln_runtime::replay::replayed_on_this_thread();
        let mut trainer = kiln_tests::PackedLoopZoo::new(&cpu(), 5);
        let mut rng = SplitMix64::new(29, 0);
        let mut losses = Vec::new();
        for longest in [12, 3, 12, 7, 3, 12, 7] {
            let x: Vec<f32> = (0..64 * 12 * 8).map(|_| (2.0 * rng.next_f64() - 1.0) as f32).collect();
            let lengths: Vec<u32> = (0..64).map(|_| 1 + rng.below(longest) as u32).collect();
            let y: Vec<u32> = (0..64).map(|_| rng.below(3) as u32).collect();
            let feeds = [Feed::Values(&x), Feed::Ids(&lengths), Feed::Ids(&y)];
            losses.push(kiln_runtime::Trainer::train_step(&mut trainer, &feeds).unwrap().to_bits());
        }
        let names = kiln_tests::PackedLoopZoo::PARAMETERS.iter();
        let parameters: Vec<u32> = names.flat_map(|(n, _)| trainer.parameter(n).unwrap()).map(f32::to_bits).collect();
        (losses, parameters, kiln_runtime::replay::replayed_on_this_thread() - before)
    };
    let (replayed, launched) = (run(true), run(false));
    assert!(replayed.2 > 0, "nothing was replayed");
    assert_eq!(launched.2, 0);
    assert_eq!(replayed.0, launched.0, "losses");
    assert!(replayed.1 == launched.1, "parameters differ");
}

/// A product summed in blocks of k (the first layer's weight gradient over 1,040 rows, in
/// panels and groups of tiles, with its bias's gradient and both SGD updates in the tiles)
/// against the reference evaluator.
#[test]
fn products_summed_in_blocks_of_k_match_the_reference_evaluator() {
    let program = zoo::long_product_zoo().unwrap();
    let mut trainer = kiln_tests::LongProductZoo::new(&cpu(), 5);
    let mut rng = SplitMix64::new(24, 0);
    let x: Vec<f32> = (0..1040 * 136).map(|_| (2.0 * rng.next_f64() - 1.0) as f32).collect();
    let y: Vec<u32> = (0..1040).map(|_| rng.below(3) as u32).collect();
    let feeds = [("x", Feed::Values(&x)), ("y", Feed::Ids(&y))];
    let worst = train_step_against_evaluator(&program, &mut trainer, &feeds, |_, _| None);
    println!("long product zoo: max relative error {worst:.2e} over loss and updates");
    assert!(worst < 1e-4, "{worst:.2e}");
}

/// One train step of `trainer` on `batch` (its feeds by name, in its `TRAIN_FEEDS` order)
/// against the compiler's f64 reference evaluator running `program` on the same batch and
/// parameters: the worst relative error over the loss, every updated parameter and, where the
/// program keeps gradients, every gradient, which `gradient` reads from the trainer.
fn train_step_against_evaluator<T: kiln_runtime::Trainer<Float = f32>>(
    program: &kiln_compiler::Program,
    trainer: &mut T,
    batch: &[(&str, Feed<f32>)],
    gradient: impl Fn(&mut T, &str) -> Option<Vec<f32>>,
) -> f64 {
    use kiln_compiler::ir::Op;
    use kiln_compiler::HostScalar;
    let fed = |name: &str| batch.iter().find(|(n, _)| *n == name).map(|(_, feed)| feed);
    let rows = match fed("y") {
        Some(Feed::Ids(y)) => y.len(),
        _ => panic!("the batch has labels `y`"),
    };
    let mut feeds = std::collections::HashMap::new();
    for (v, node) in program.graph.nodes.iter().enumerate() {
        let data: Vec<f64> = match (&node.op, node.op.name().and_then(fed)) {
            (_, Some(Feed::Values(x))) => x.iter().map(|&x| x as f64).collect(),
            (_, Some(Feed::Ids(ids))) => ids.iter().map(|&id| id as f64).collect(),
            (Op::Input { name }, None) if name == "__sample_weight" => vec![1.0 / rows as f64; rows],
            (Op::Input { .. }, None) => match program.constants.iter().find(|(c, _)| *c == v) {
                Some((_, data)) => data.clone(),
                None => match program.scalars.iter().find(|(_, s)| *s == v) {
                    Some((HostScalar::LearningRate, _)) => vec![f64::from(trainer.learning_rate())],
                    other => panic!("unexpected input {other:?}"),
                },
            },
            (Op::Param { name, .. }, None) => trainer.parameter(name).unwrap().iter().map(|&v| v as f64).collect(),
            _ => continue,
        };
        feeds.insert(v, data);
    }
    let reference = kiln_compiler::ir::eval::evaluate(&program.graph, &feeds);
    let in_order: Vec<Feed<f32>> = T::TRAIN_FEEDS.iter().map(|spec| *fed(spec.name).expect("a fed input")).collect();
    let loss = trainer.train_step(&in_order).unwrap();
    let mut worst = max_relative_error(&[loss], &reference[program.loss]);
    for q in &program.params {
        if program.keep_gradients {
            let gradient = gradient(trainer, &q.name).expect("the trainer keeps its gradients");
            worst = worst.max(max_relative_error(&gradient, &reference[q.grad]));
        }
        worst = worst.max(max_relative_error(&trainer.parameter(&q.name).unwrap(), &reference[q.update]));
    }
    worst
}

/// Loads a layer fixture's PyTorch state_dict into `$model`, takes one SGD step (lr 0.1) on
/// its batch, and compares loss, output, every gradient, and every parameter and running
/// statistic after the step with PyTorch's (see [`layer_errors`]). Returns the worst relative
/// error.
macro_rules! layer_parity {
    ($model:ty, $name:literal) => {{
        let errors = layer_errors!($model, $name);
        let (what, worst) = errors.iter().cloned().fold((String::new(), 0.0), |a, b| if b.1 > a.1 { b } else { a });
        println!("{:<18} {} tensors, max relative error {worst:.1e} ({what})", $name, errors.len());
        assert!(worst < 1e-4, "{}: {errors:?}", $name);
        worst
    }};
    // A mixed-precision model: the loss, its output and the parameters after the step, within
    // `$tolerance`. Its gradients are printed, not checked: where they cancel (a bias before
    // a batch norm has a gradient of 0 in exact arithmetic), bf16's rounding is all there is.
    ($model:ty, $name:literal, $tolerance:expr) => {{
        let errors = layer_errors!($model, $name);
        let (checked, gradients): (Vec<_>, Vec<_>) =
            errors.into_iter().partition(|(what, _)| !what.starts_with("grad"));
        let (what, worst) = checked.iter().cloned().fold((String::new(), 0.0), |a, b| if b.1 > a.1 { b } else { a });
        let gradient = gradients.iter().map(|g| g.1).fold(0.0, f64::max);
        println!(
            "{:<18} {} tensors, max relative error {worst:.1e} ({what}); gradients {gradient:.1e}",
            stringify!($model),
            checked.len()
        );
        assert!(worst < $tolerance, "{}: {checked:?}", $name);
    }};
}

/// The relative errors of `$model`'s train step against the PyTorch fixture `$name`: the
/// loss, the output, each gradient and each parameter and statistic after the step.
macro_rules! layer_errors {
    ($model:ty, $name:literal) => {{
        let bytes = std::fs::read(fixture(concat!("layers_", $name, "_step.safetensors"))).unwrap();
        let file = SafeTensors::deserialize(&bytes).unwrap();
        let mut trainer = <$model>::new(&cpu(), 0);
        trainer
            .load(fixture(concat!("layers_", $name, "_state_dict.safetensors")))
            .expect("a PyTorch state_dict loads");
        let loss = step_through_trait(&mut trainer, &file);
        let mut errors = vec![("loss".to_string(), max_relative_error(&[loss], &tensor(&file, "loss")))];
        errors.push(("output".into(), max_relative_error(&trainer.last_outputs(4), &tensor(&file, "output"))));
        for (name, _) in <$model>::PARAMETERS {
            let grad = trainer.gradient(name).unwrap();
            errors.push((format!("grad {name}"), max_relative_error(&grad, &tensor(&file, &format!("grad.{name}")))));
        }
        for (name, _) in <$model>::PARAMETERS.iter().chain(<$model>::FROZEN).chain(<$model>::STATISTICS) {
            let after = trainer.parameter(name).unwrap();
            errors
                .push((format!("after {name}"), max_relative_error(&after, &tensor(&file, &format!("after.{name}")))));
        }
        errors
    }};
}

/// One train step of any trainer through `kiln_runtime::Trainer`, its batch read from a fixture
/// by the names its `TRAIN_FEEDS` list (a name the fixture lacks is its `target`).
fn step_through_trait<T: kiln_runtime::Trainer<Float = f32>>(trainer: &mut T, file: &SafeTensors) -> f32 {
    let key = |name: &'static str| if file.names().iter().any(|n| *n == name) { name } else { "target" };
    let columns: Vec<(Vec<f32>, Vec<u32>)> = T::TRAIN_FEEDS
        .iter()
        .map(|spec| match spec.classes {
            Some(_) => (vec![], u32s(file, key(spec.name))),
            None => (f32s(file, key(spec.name)), vec![]),
        })
        .collect();
    let batch: Vec<Feed<f32>> = T::TRAIN_FEEDS
        .iter()
        .zip(&columns)
        .map(|(spec, (values, ids))| if spec.classes.is_some() { Feed::Ids(ids) } else { Feed::Values(values) })
        .collect();
    trainer.train_step(&batch).unwrap()
}

fn f32s(file: &SafeTensors, name: &str) -> Vec<f32> {
    tensor(file, name).iter().map(|&x| x as f32).collect()
}

fn u32s(file: &SafeTensors, name: &str) -> Vec<u32> {
    tensor(file, name).iter().map(|&x| x as u32).collect()
}

/// Every layer of the catalogue against PyTorch (fixtures/make_layer_fixtures.py): conv2d
/// with stride/padding/"same"/dilation, batch norm (train statistics and running updates),
/// pools with ceil mode, GELU, tanh, conv1d, layer norm, log_softmax + NLL,
/// conv_transpose2d, zero padding, BCE (with and without logits), softmax, concat, hinge
/// loss with an L2 penalty, MSE, embedding with a frozen layer and an argmax output, LSTM,
/// stacked RNN with a per-step loss, masked attention, SiLU, ELU, softplus and sigmoid,
/// cross-entropy with class weights, label smoothing and an ignored class, group norm and the
/// norms' options, grouped and depthwise convolutions, an embedding with `padding_idx`, a
/// stacked GRU, an attention decoder over a loop, packed LSTM and GRU layers. Each
/// step goes through `kiln_runtime::Trainer`, so its dispatch by position is checked too.
#[test]
fn layers_match_pytorch() {
    use kiln_tests::*;
    layer_parity!(LayersConv, "conv");
    // The same models with every intermediate stored in bf16 (8 significant bits): unfolds,
    // folds, pools and batch norm in the templates' half sequences.
    layer_parity!(LayersConvBf16, "conv", 1e-2);
    layer_parity!(LayersDecoderBf16, "decoder", 1e-2);
    layer_parity!(LayersSeq, "seq");
    layer_parity!(LayersDecoder, "decoder");
    layer_parity!(LayersAutoencoder, "autoencoder");
    layer_parity!(LayersMisc, "misc");
    layer_parity!(LayersRegression, "regression");
    // Embedding ids, a frozen linear layer (unchanged after the step) and an argmax output.
    layer_parity!(LayersEmbedding, "embedding");
    assert_eq!(LayersEmbedding::FROZEN.iter().map(|f| f.0).collect::<Vec<_>>(), ["1.weight", "1.bias"]);
    let mut t = LayersEmbedding::new(&cpu(), 0);
    assert!(t.gradient("1.weight").is_none(), "a frozen parameter has no gradient");
    assert!(matches!(t.predict(&[11; 24]), Err(Error::LabelOutOfRange { label: 11, classes: 11, .. })));
    assert!(matches!(t.predict(&[0; 23]), Err(Error::InputLength { .. })));
    assert_eq!(t.predict(&[3; 12]).unwrap().len(), 2, "one argmax per row of 6 ids");
    // Sequences, backpropagation through time: embedding -> 2-layer LSTM -> last step; a
    // 2-layer Elman RNN with a label per step; attention over LSTM states with padded keys.
    layer_parity!(LayersRecurrent, "recurrent");
    layer_parity!(LayersRnn, "rnn");
    layer_parity!(LayersAttention, "attention");
    // SiLU, ELU, softplus, and a sigmoid gate.
    layer_parity!(LayersActivations, "activations");
    // Class weights (a constant the trainer writes once), label smoothing, an ignored class.
    layer_parity!(LayersCeOptions, "ce_options");
    // GroupNorm; batch norm with eps and momentum (the running statistics after the step);
    // layer norm without a weight and bias.
    layer_parity!(LayersNorms, "norms");
    // A grouped convolution, then a depthwise one.
    layer_parity!(LayersGroups, "groups");
    // padding_idx 0: its row of the table stays zero through the step, as PyTorch's does.
    layer_parity!(LayersPaddedEmbedding, "padded_embedding");
    let mut t = LayersPaddedEmbedding::new(&cpu(), 0);
    assert_eq!(t.parameter("0.weight").unwrap()[..4], [0.0; 4], "the padding row starts at zero");
    t.train_step(&[0, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], &[0, 1, 2, 0]).unwrap();
    assert_eq!(t.parameter("0.weight").unwrap()[..4], [0.0; 4], "and gets no update");
    // nn.GRU: PyTorch's parameter names, gates r, z, n, and b_hn inside the reset gate.
    layer_parity!(LayersGru, "gru");
    // A teacher-forced decoder over a loop: attention with padded keys, a gathered embedding
    // and a readout run after the loop.
    layer_parity!(LayersAttentionDecoder, "attention_decoder");
    // pack_padded_sequence: each row's last state at its own length, zeros past it in the
    // outputs, for a stacked LSTM and a GRU; lengths 0 or above 5 are errors naming the row.
    layer_parity!(LayersPacked, "packed");
    let mut t = LayersPacked::new(&cpu(), 0);
    let x = vec![0.5f32; 60];
    let err = t.train_step(&x, &[5, 0, 1, 4], &[0, 1, 2, 0]).unwrap_err();
    assert_eq!(err.to_string(), "`lengths`[1] = 0: an empty sequence");
    let err = t.train_step(&x, &[5, 2, 6, 4], &[0, 1, 2, 0]).unwrap_err();
    assert_eq!(err.to_string(), "`lengths`[2] = 6 is above the maximum length 5");
    // The trait takes the batch by position and names what does not fit.
    use kiln_runtime::Trainer;
    let mut t = LayersAttention::new(&cpu(), 0);
    let (x, mask) = (vec![0.5f32; 60], vec![1.0f32; 20]);
    let err = Trainer::train_step(&mut t, &[Feed::Values(&x), Feed::Values(&mask)]).unwrap_err().to_string();
    assert_eq!(err, "this entry point takes 3 arguments (x, mask, y); the batch has 2");
    let err = Trainer::predict(&mut t, &[Feed::Values(&x), Feed::Ids(&[0; 20])]).unwrap_err().to_string();
    assert_eq!(err, "`mask` takes float values, not ids");
    assert_eq!(Trainer::predict(&mut t, &[Feed::Values(&x), Feed::Values(&mask)]).unwrap().len(), 12);
}

/// The parameters of `Derivatives` (tests/layers.rs), in its methods' argument order.
const DERIVATIVES_PARAMETERS: [&str; 4] = ["0.weight", "0.bias", "2.weight", "2.bias"];

/// Max relative errors of a build of `Derivatives` (trainer `$t`; batch `$x`, `$y`, input
/// tangent `$u`, parameter directions `$d`) against torch.func's JVP and HVPs in fixture `$f`.
/// A macro: the f32 and f64 builds are different types. A method takes what its value reads:
/// the last bias's HVP goes through cross-entropy's Hessian in the logits alone, which does not
/// depend on the labels.
macro_rules! derivative_errors {
    ($t:expr, $f:expr, $x:expr, $u:expr, $d:expr, $y:expr) => {{
        let (f, x, u, d, y) = ($f, $x, $u, $d, $y);
        let jvp = $t.jvp(x, u, &d[0], &d[1], &d[2], &d[3]).unwrap();
        let hvps = [
            $t.hvp_0_weight(x, &d[0], &d[1], &d[2], &d[3], y).unwrap(),
            $t.hvp_0_bias(x, &d[0], &d[1], &d[2], &d[3], y).unwrap(),
            $t.hvp_2_weight(x, &d[0], &d[1], &d[2], &d[3], y).unwrap(),
            $t.hvp_2_bias(x, &d[0], &d[1], &d[2], &d[3]).unwrap(),
        ];
        let mut errors = vec![("jvp", max_relative_error(&jvp, &tensor(f, "jvp")))];
        for (name, hvp) in DERIVATIVES_PARAMETERS.iter().zip(&hvps) {
            errors.push((name, max_relative_error(hvp, &tensor(f, &format!("hvp.{name}")))));
        }
        errors
    }};
}

/// Forward-mode derivatives in generated kernels against torch.func
/// (fixtures/make_derivative_fixtures.py): the JVP of the logits along an input tangent and a
/// direction per parameter, and the loss's Hessian times those parameter directions.
#[test]
fn jvp_and_hvp_match_pytorch() {
    use kiln_tests::Derivatives;
    let bytes = std::fs::read(fixture("derivatives.safetensors")).unwrap();
    let f = SafeTensors::deserialize(&bytes).unwrap();
    let mut t = Derivatives::new(&cpu(), 0);
    t.load(fixture("derivatives_state_dict.safetensors")).expect("a PyTorch state_dict loads");
    let (x, u, y) = (f32s(&f, "x"), f32s(&f, "u"), u32s(&f, "y"));
    let d: Vec<Vec<f32>> = DERIVATIVES_PARAMETERS.iter().map(|n| f32s(&f, &format!("d.{n}"))).collect();
    assert_eq!(Derivatives::JVP_SHAPE, [4, 3]);
    let errors = derivative_errors!(t, &f, &x, &u, &d, &y);
    println!("jvp and hvp vs torch.func: {errors:?}");
    assert!(errors.iter().all(|&(_, e)| e < 1e-5), "{errors:?}");
    // A direction of the wrong length is an error, not a panic.
    assert!(matches!(t.jvp(&x, &u, &d[1], &d[1], &d[2], &d[3]), Err(Error::InputLength { .. })));
    // The train step takes only what the loss reads: no tangents.
    t.train_step(&x, &y).unwrap();
}

/// The f64 build of the same model (`Precision::F64`: f64 kernels, buffers and API), on the
/// same f32 weights and data widened: its generated JVP and HVPs match torch.func's float64
/// values far more tightly than the f32 build can, and its generated gradient matches central
/// finite differences of its own generated loss.
#[test]
fn float64_model_matches_pytorch_and_finite_differences() {
    use kiln_tests::Derivatives64;
    let bytes = std::fs::read(fixture("derivatives.safetensors")).unwrap();
    let f = SafeTensors::deserialize(&bytes).unwrap();
    let state_bytes = std::fs::read(fixture("derivatives_state_dict.safetensors")).unwrap();
    let state = SafeTensors::deserialize(&state_bytes).unwrap();
    let mut t = Derivatives64::new(&cpu(), 0);
    for name in DERIVATIVES_PARAMETERS {
        t.set_parameter(name, &tensor(&state, name)).unwrap();
    }
    let (x, u, y) = (tensor(&f, "x"), tensor(&f, "u"), u32s(&f, "y"));
    let d: Vec<Vec<f64>> = DERIVATIVES_PARAMETERS.iter().map(|n| tensor(&f, &format!("d.{n}"))).collect();
    let errors = derivative_errors!(t, &f, &x, &u, &d, &y);
    println!("f64 jvp and hvp vs torch.func: {errors:?}");
    assert!(errors.iter().all(|&(_, e)| e < 1e-10), "{errors:?}");

    // A step at learning rate 0 computes the gradients and leaves the parameters.
    t.set_learning_rate(0.0);
    t.train_step(&x, &y).unwrap();
    let h = 1e-6;
    let mut worst = 0.0f64;
    for name in DERIVATIVES_PARAMETERS {
        let (w, gradient) = (t.parameter(name).unwrap(), t.gradient(name).unwrap());
        for (i, &analytic) in gradient.iter().enumerate() {
            let mut loss_at = |delta: f64| {
                let mut moved = w.clone();
                moved[i] += delta;
                t.set_parameter(name, &moved).unwrap();
                t.eval_loss(&x, &y).unwrap()
            };
            let numeric = (loss_at(h) - loss_at(-h)) / (2.0 * h);
            worst = worst.max((analytic - numeric).abs() / (numeric.abs() + 1e-3));
        }
        t.set_parameter(name, &w).unwrap();
    }
    println!("f64 gradient vs central differences of the generated loss (h = {h}): max relative error {worst:.1e}");
    assert!(worst < 1e-6, "{worst}");
    assert!(matches!(t.set_parameter("0.weight", &[0.0; 3]), Err(Error::InputLength { .. })));
    assert!(matches!(t.set_parameter("9.weight", &[]), Err(Error::Invalid(_))));
}

/// Dropout masks depend only on (seed, step): the same seed trains bit-identically;
/// inference is deterministic (no dropout) and differs from the train step's dropped-out
/// outputs.
#[test]
fn dropout_is_reproducible_and_off_in_inference() {
    use kiln_tests::LayersDropout;
    let mut rng = SplitMix64::new(5, 0);
    let x: Vec<f32> = (0..8 * 12).map(|_| rng.next_f64() as f32 * 2.0 - 1.0).collect();
    let y: Vec<u32> = (0..8).map(|_| rng.below(3) as u32).collect();
    let run = |seed: u64| {
        let mut t = LayersDropout::new(&cpu(), seed);
        for _ in 0..3 {
            t.train_step(&x, &y).unwrap();
        }
        t
    };
    let (mut a, b) = (run(1), run(1));
    assert_eq!(a.parameter("0.weight"), b.parameter("0.weight"));
    assert_eq!(a.parameter("3.weight"), b.parameter("3.weight"));
    let first = a.predict(&x).unwrap();
    assert_eq!(first, a.predict(&x).unwrap(), "inference draws no masks");
    a.train_step(&x, &y).unwrap();
    let dropped = a.last_outputs(8);
    assert_ne!(dropped, a.predict(&x).unwrap());
}

/// The batch-innermost convolution kernels agree with an f64 reference on LeNet-5's shapes and
/// on one that exercises every partial tile: 5 output channels (tiles of 4 and of 2), 3x3
/// windows (9 taps in quads), 3 input channels, padding, a batch of two vectors.
#[test]
fn direct_convolution_matches_an_f64_reference() {
    use kiln_benches::conv::{check, Conv};
    let device = cpu();
    for conv in [
        Conv { name: "conv1", batch: 64, c_in: 1, c_out: 6, size: 28, k: 5, pad: 2, weight_gradient: true },
        Conv { name: "conv2", batch: 64, c_in: 6, c_out: 16, size: 14, k: 5, pad: 0, weight_gradient: true },
        Conv {
            name: "conv2 input gradient",
            batch: 64,
            c_in: 16,
            c_out: 6,
            size: 10,
            k: 5,
            pad: 4,
            weight_gradient: false,
        },
        Conv { name: "partial tiles", batch: 16, c_in: 3, c_out: 5, size: 9, k: 3, pad: 1, weight_gradient: true },
    ] {
        let report = check(&device, &conv, 0).unwrap_or_else(|e| panic!("{e}"));
        assert!(report.ms.is_none());
        println!(
            "{}: relative errors {:.1e} (forward), {:.1e} (weight gradient)",
            conv.name, report.forward_error, report.weight_grad_error
        );
    }
}

/// An embedding's gather and scatter-add train as its one-hot product did: a bag of 1,024
/// ids of 5,000 (repeated ids, rows never read, more table rows than the scatter's units)
/// takes three Adam steps both ways from one seed, and the tables and losses agree.
#[test]
fn gathered_embedding_trains_as_the_one_hot_product() {
    use kiln_benches::{EmbeddingBag, EmbeddingBagOneHot};
    let device = cpu();
    let (ids, labels) = kiln_benches::embedding_bag_batch();
    let (mut gathered, mut one_hot) = (EmbeddingBag::new(&device, 3), EmbeddingBagOneHot::new(&device, 3));
    for step in 0..3 {
        let (a, b) = (gathered.train_step(&ids, &labels).unwrap(), one_hot.train_step(&labels, &ids).unwrap());
        assert!((a - b).abs() < 1e-5, "step {step}: loss {a} vs {b}");
    }
    let (a, b) = (gathered.parameter("0.weight").unwrap(), one_hot.parameter("0.weight").unwrap());
    let moved = a.iter().zip(EmbeddingBag::new(&device, 3).parameter("0.weight").unwrap()).filter(|(x, y)| *x != y);
    assert!(moved.count() > 10_000, "the steps update the rows the ids read");
    let worst = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
    assert!(worst < 1e-5, "tables differ by {worst}");
}

/// The shipped text samples (tests/text) read in their formats, and a bag of embeddings starts
/// from the GloVe sample's vectors and learns the SST-2 sample's 32 sentences.
#[test]
fn sentiment_sample_trains_from_glove_vectors() {
    use kiln_benches::EmbeddingBag;
    use kiln_runtime::corpora::{read_glove, read_labelled, read_pairs, Missing};
    use kiln_runtime::text::{pad, tokenize, Vocab};
    let text = |name: &str| Path::new(env!("CARGO_MANIFEST_DIR")).join("text").join(name);
    let pairs = read_pairs(&text("tatoeba_sample.tsv")).unwrap();
    assert_eq!((pairs.len(), pairs[0].source.as_str(), pairs[0].target.as_str()), (30, "Go.", "Va !"));
    let sentences = read_labelled(&text("sst2_sample.tsv")).unwrap();
    assert_eq!(sentences.len(), 32);
    let tokens: Vec<Vec<String>> = sentences.iter().map(|s| tokenize(&s.sentence)).collect();
    let vocab = Vocab::build(tokens.iter().map(|t| t.as_slice()), 1, &[]);
    let [rows, dim] = EmbeddingBag::PARAMETERS[0].1[..] else { panic!("the table is 2-D") };
    let glove = read_glove(&text("glove_sample.txt"), &vocab, [rows, dim], Missing::Zeros).unwrap();
    assert_eq!(glove.found, vocab.len() - 2, "every word but <pad> and <unk>");
    let mut trainer = EmbeddingBag::new(&cpu(), 0);
    trainer.set_parameter("0.weight", &glove.table).unwrap();
    assert_eq!(trainer.parameter("0.weight").unwrap(), glove.table);
    let ids: Vec<u32> = tokens.iter().flat_map(|t| pad(&vocab.encode(t), 16).0).collect();
    let labels: Vec<u32> = sentences.iter().map(|s| s.label).collect();
    for _ in 0..300 {
        trainer.train_step(&ids, &labels).unwrap();
    }
    let predicted = kiln_runtime::data::argmax_rows(&trainer.predict(&ids).unwrap(), 2);
    let correct = predicted.iter().zip(&labels).filter(|(p, l)| p == l).count();
    println!("SST-2 sample from GloVe vectors: {correct} of 32 sentences right after 300 steps");
    assert_eq!(correct, 32);
}

/// A kernel storing `x` as bf16 through `kiln_kernels::to_bf16` and `to_bf16_scalar`.
mod bf16_stores {
    use kiln_runtime::cubecl;
    use kiln_runtime::cubecl::prelude::*;
    use kiln_runtime::half::bf16;

    #[cube(launch_unchecked)]
    pub fn round<N: Size>(x: &[Vector<f32, N>], vectors: &mut [Vector<bf16, N>], scalars: &mut [bf16]) {
        let i = ABSOLUTE_POS;
        if i < x.len() {
            vectors[i] = kiln_runtime::kernels::to_bf16::<f32, N>(x[i]);
            scalars[i] = kiln_runtime::kernels::to_bf16_scalar::<f32>(x[i].extract(0usize));
        }
    }
}

/// Stores rounded to bf16 by integer arithmetic (which the CPU runtime's JIT compiles without
/// AVX512_BF16) match `half::bf16::from_f32` bit for bit: ties to even in both directions,
/// overflow to infinity, subnormals, signed zeros and infinities, NaNs kept NaN.
#[test]
fn bf16_stores_round_to_nearest_even() {
    use kiln_runtime::half::bf16;
    let mut x: Vec<f32> = vec![
        0.0,
        -0.0,
        1.0,
        -1.5,
        f32::MAX,
        f32::MIN,
        f32::MIN_POSITIVE,
        1e-40,
        -1e-42,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::from_bits(0x3f80_8000), // a tie below an even neighbour: rounds down
        f32::from_bits(0x3f81_8000), // a tie below an odd one: rounds up
        f32::from_bits(0x3f80_8001), // just past a tie: rounds up
        f32::from_bits(0x7f7f_ffff), // rounds up to infinity
    ];
    let mut rng = SplitMix64::new(11, 0);
    x.extend((0..49).map(|_| f32::from_bits(rng.next_u64() as u32) % 1e6));
    x.resize(64, 0.0);
    let nan = f32::NAN;
    x[63] = nan;
    let device = cpu();
    let arena = kiln_runtime::Arena::new(&device, 4 * 128, &[(0, 64), (64, 32), (96, 32)]);
    arena.write(0, &x);
    let (count, dim) = arena.grid(64);
    unsafe {
        bf16_stores::round::launch_unchecked(
            arena.client(),
            count,
            dim,
            1,
            arena.arg(0, 64),
            arena.arg(1, 64),
            arena.arg(2, 64),
        )
    };
    let (vectors, scalars) = (arena.read::<u16>(1), arena.read::<u16>(2));
    for (i, &v) in x.iter().enumerate() {
        let want = bf16::from_f32(v);
        for (label, got) in [("vector", vectors[i]), ("scalar", scalars[i])] {
            let got = bf16::from_bits(got);
            assert!(
                got.to_bits() == want.to_bits() || (v.is_nan() && got.is_nan()),
                "{label} store of {v:e} ({:#010x}): {:#06x}, want {:#06x}",
                v.to_bits(),
                got.to_bits(),
                want.to_bits()
            );
        }
    }
}

/// A predictor gives its trainer's outputs, bit for bit: after loading a trainer's checkpoint
/// whose Adam moments it skips, and after loading a PyTorch `state_dict` with running
/// statistics. Any batch of 1 to `BATCH` rows gives the same rows as a full batch.
#[test]
fn predictors_reproduce_their_trainers() {
    use kiln_tests::{AdamDefault, AdamDefaultPredictor, LayersNorms, LayersNormsPredictor};
    let dir = std::env::temp_dir().join(format!("kiln-predictor-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut rng = SplitMix64::new(11, 0);
    let x: Vec<f32> = (0..8 * 12).map(|_| rng.next_f64() as f32 * 2.0 - 1.0).collect();
    let y: Vec<u32> = (0..8).map(|i| i % 3).collect();
    let mut trainer = AdamDefault::new(&cpu(), 3);
    for _ in 0..5 {
        trainer.train_step(&x, &y).unwrap();
    }
    let checkpoint = dir.join("adam.safetensors");
    trainer.save(&checkpoint).unwrap();
    assert!(!AdamDefault::STATE.is_empty(), "the checkpoint holds optimizer state");
    let mut predictor = AdamDefaultPredictor::open(&cpu(), &checkpoint).unwrap();
    let full = predictor.predict(&x).unwrap();
    assert_eq!(full, trainer.predict(&x).unwrap());
    for rows in [1, 3, 8] {
        assert_eq!(predictor.predict(&x[..rows * 12]).unwrap(), full[..rows * 3], "{rows} rows");
    }
    assert!(matches!(predictor.predict(&x[..5]), Err(Error::InputLength { .. })));
    assert_eq!(predictor.parameter("0.weight"), trainer.parameter("0.weight"));

    let state_dict = fixture("layers_norms_state_dict.safetensors");
    let mut trainer = LayersNorms::new(&cpu(), 0);
    trainer.load(&state_dict).unwrap();
    let mut predictor = LayersNormsPredictor::open(&cpu(), &state_dict).unwrap();
    let x: Vec<f32> = (0..4 * 30).map(|_| rng.next_f64() as f32 * 2.0 - 1.0).collect();
    assert_eq!(predictor.predict(&x).unwrap(), trainer.predict(&x).unwrap());
    assert_eq!(predictor.parameter("2.running_var"), trainer.parameter("2.running_var"));
    let wrong = fixture("layers_misc_state_dict.safetensors");
    let err = predictor.load(&wrong).unwrap_err().to_string();
    assert!(err.contains("layers_misc_state_dict.safetensors"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}

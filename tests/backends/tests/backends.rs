//! kiln's GPU backends agree with its CPU runtime.

use kiln_backend_tests::TinyMlp;
use kiln_runtime::init::SplitMix64;
use kiln_runtime::{Device, Error};

#[path = "../../tests/end_to_end/devices.rs"]
mod devices;

fn cpu() -> Device {
    Device::cpu().expect("the CPU runtime is always available")
}

/// wgpu's default adapter (Mesa's software Vulkan driver here).
fn wgpu() -> Device {
    match Device::wgpu(kiln_runtime::cubecl::device::WgpuDeviceKind::DefaultDevice) {
        Ok(wgpu) => wgpu,
        Err(e) => panic!("no wgpu adapter ({e:?}); install mesa-vulkan-drivers (see kiln.sh)"),
    }
}

/// A few steps of a small model on wgpu and on the CPU runtime give the same losses and
/// parameters.
#[test]
fn wgpu_matches_cpu_runtime() {
    assert_steps_match_cpu_runtime(&wgpu(), "wgpu");
}

/// Uploads on wgpu, which reads the caller's memory in place until a read or the upload's drop
/// waits for it.
#[test]
fn uploads_pad_and_finish_before_their_source_changes() {
    devices::uploads_pad_and_finish_before_their_source_changes(&wgpu(), "wgpu");
}

/// On a machine with an NVIDIA GPU, steps on CUDA match the CPU runtime; without one, opening
/// the device is an error, not a panic. `KILN_REQUIRE_CUDA=1` makes a missing GPU a failure.
#[test]
fn cuda_matches_cpu_runtime_or_reports_no_device() {
    match Device::cuda(0) {
        Ok(cuda) => assert_steps_match_cpu_runtime(&cuda, "cuda"),
        Err(e) => {
            let message = format!("{e:?}");
            assert!(message.contains("Cuda"), "unexpected error opening CUDA: {message}");
            assert!(std::env::var_os("KILN_REQUIRE_CUDA").is_none(), "KILN_REQUIRE_CUDA is set but: {message}");
            // The same failure through KILN_DEVICE's parser is a typed error.
            assert!(matches!(kiln_runtime::open_device("cuda"), Err(Error::Device(_))));
        }
    }
}

fn assert_steps_match_cpu_runtime(device: &Device, label: &str) {
    let mut on_cpu = TinyMlp::new(&cpu(), 7);
    let mut on_device = TinyMlp::new(device, 7);
    let mut rng = SplitMix64::new(5, 0);
    for step in 0..5 {
        let x: Vec<f32> = (0..8 * 12).map(|_| rng.next_f64() as f32).collect();
        let y: Vec<u32> = (0..8).map(|_| rng.below(3) as u32).collect();
        let (a, b) = (on_cpu.train_step(&x, &y).unwrap(), on_device.train_step(&x, &y).unwrap());
        assert!((a - b).abs() <= 1e-5 * a.abs().max(1.0), "step {step}: cpu loss {a}, {label} loss {b}");
    }
    for (name, _) in TinyMlp::PARAMETERS {
        let (a, b) = (on_cpu.parameter(name).unwrap(), on_device.parameter(name).unwrap());
        let worst = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
        assert!(worst < 1e-5, "{name} on {label}: max difference {worst}");
    }
}

//! Times direct convolution with the batch innermost (`kiln_kernels::conv_forward`,
//! `conv_weight_grad`, and the transposes `to_batch_innermost` writes for them) on LeNet-5's two
//! convolutions (batch 64), after checking each result against an f64 reference on the host.
//! conv2's input gradient is a full convolution of its output gradient (padded by 4) with the
//! weights flipped and transposed: `conv_forward` over 16 -> 6 channels. Compare with the im2col
//! kernels of `LeNet5Unfused`: `KILN_PROFILE=20 step_time lenet5-unfused 20`.
//!
//! `cargo run --release -p kiln-benches --example conv_layout -- [launches]`

use kiln_benches::conv::Conv;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let launches: usize = std::env::args().nth(1).map(|s| s.parse()).transpose()?.unwrap_or(50);
    let device = kiln_runtime::Device::cpu().map_err(|e| format!("{e:?}"))?;
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
    ] {
        let report = kiln_benches::conv::check(&device, &conv, launches.max(1))?;
        let (pad, forward, weight_grad) = report.ms.expect("timed");
        let weight_grad = weight_grad.map_or("-".into(), |ms| format!("{ms:.4}"));
        println!(
            "{:<21} transposes {pad:.4}  forward {forward:.4}  weight gradient {weight_grad}  ms  (errors {:.1e}, {:.1e})",
            conv.name, report.forward_error, report.weight_grad_error
        );
    }
    Ok(())
}

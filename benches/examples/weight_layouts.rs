//! Times the MNIST MLP's two large products (batch 64, 784 inputs, 256 outputs) with the
//! linear weight stored as today (`[out, in]`, PyTorch's layout) and transposed (`[in, out]`),
//! through the library's kernels with 16-lane tiles, each checked against an f64 reference on
//! the host; prints ms per launch (best of 40 rounds of 8 launches and a sync) in 3 rounds:
//! - forward `x W^T`: NT tiles of 4 by 4 today; NN tiles of 12 rows by 2 vectors transposed;
//! - weight gradient: `dy^T x` NN with `a` read transposed (12 by 2) today; `x^T dy` transposed.
//!
//! `cargo run --release -p kiln-benches --example weight_layouts`

use kiln_benches::{ms_per_launch, product_arena, relative_error};
use kiln_runtime::kernels::{matmul_nn, matmul_nt};
use kiln_runtime::Arena;

const BATCH: usize = 64;
const INPUTS: usize = 784;
const OUTPUTS: usize = 256;
/// Lanes per vector.
const LANES: usize = 16;

/// `out[i, j] = sum_p a[i * a_row + p * a_col] * b[p * b_row + j * b_col]`, in f64.
fn reference(
    a: &[f32],
    b: &[f32],
    m: usize,
    k: usize,
    n: usize,
    (a_row, a_col): (usize, usize),
    (b_row, b_col): (usize, usize),
) -> Vec<f64> {
    (0..m * n)
        .map(|i| {
            (0..k).map(|p| f64::from(a[i / n * a_row + p * a_col]) * f64::from(b[p * b_row + i % n * b_col])).sum()
        })
        .collect()
}

/// Checks slot 2 against `want`, then prints the launch's time.
fn time(arena: &Arena, name: &str, want: &[f64], launch: impl Fn()) -> Result<(), String> {
    launch();
    // The read waits for the launch.
    let error = relative_error(&arena.read::<f32>(2), want);
    if error > 1e-5 {
        return Err(format!("{name}: relative error {error:.1e}"));
    }
    println!("{name:<44} {:.4} ms", ms_per_launch(arena, 40, 8, launch));
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let device = kiln_runtime::Device::cpu().map_err(|e| format!("{e:?}"))?;
    let (x_len, w_len, y_len) = (BATCH * INPUTS, OUTPUTS * INPUTS, BATCH * OUTPUTS);
    // Each arena holds the product's `a` in slot 0, `b` in slot 1 and its output in slot 2.
    let (forward, today, transposed) = {
        let (arena, x, w) = product_arena(&device, x_len, w_len, y_len);
        (
            arena,
            reference(&x, &w, BATCH, INPUTS, OUTPUTS, (INPUTS, 1), (1, INPUTS)),
            reference(&x, &w, BATCH, INPUTS, OUTPUTS, (INPUTS, 1), (OUTPUTS, 1)),
        )
    };
    let (gradient, gradient_today) = {
        let (arena, dy, x) = product_arena(&device, y_len, x_len, w_len);
        (arena, reference(&dy, &x, OUTPUTS, BATCH, INPUTS, (1, OUTPUTS), (INPUTS, 1)))
    };
    let (gradient_t, gradient_transposed) = {
        let (arena, x, dy) = product_arena(&device, x_len, y_len, w_len);
        (arena, reference(&x, &dy, INPUTS, BATCH, OUTPUTS, (1, INPUTS), (OUTPUTS, 1)))
    };
    for round in 1..=3 {
        println!("round {round}");
        time(&forward, "forward, [out, in]: NT 4x4", &today, || {
            let (count, dim) = forward.grid(BATCH.div_ceil(4) * OUTPUTS.div_ceil(4));
            // SAFETY (each launch here): the buffers hold exactly the lengths passed, and the
            // kernel indexes below its static bounds.
            unsafe {
                matmul_nt::launch_unchecked::<f32, f32, f32, f32>(
                    forward.client(),
                    count,
                    dim,
                    LANES,
                    forward.arg(0, x_len / LANES),
                    forward.arg(1, w_len / LANES),
                    forward.arg(2, y_len),
                    BATCH,
                    INPUTS,
                    OUTPUTS,
                    INPUTS,
                    INPUTS,
                    LANES,
                    4,
                )
            }
        })?;
        time(&forward, "forward, [in, out]: NN 12x2", &transposed, || {
            let (count, dim) = forward.grid(BATCH.div_ceil(12) * (OUTPUTS / LANES).div_ceil(2));
            unsafe {
                matmul_nn::launch_unchecked::<f32, f32, f32, f32>(
                    forward.client(),
                    count,
                    dim,
                    LANES,
                    forward.arg(0, x_len),
                    forward.arg(1, w_len / LANES),
                    forward.arg(2, y_len / LANES),
                    BATCH,
                    INPUTS,
                    OUTPUTS,
                    INPUTS,
                    1,
                    OUTPUTS,
                    1,
                    LANES,
                    2,
                    12,
                )
            }
        })?;
        time(&gradient, "weight gradient, [out, in]: dy^T x NN 12x2", &gradient_today, || {
            let (count, dim) = gradient.grid(OUTPUTS.div_ceil(12) * (INPUTS / LANES).div_ceil(2));
            unsafe {
                matmul_nn::launch_unchecked::<f32, f32, f32, f32>(
                    gradient.client(),
                    count,
                    dim,
                    LANES,
                    gradient.arg(0, y_len),
                    gradient.arg(1, x_len / LANES),
                    gradient.arg(2, w_len / LANES),
                    OUTPUTS,
                    BATCH,
                    INPUTS,
                    1,
                    OUTPUTS,
                    INPUTS,
                    1,
                    LANES,
                    2,
                    12,
                )
            }
        })?;
        time(&gradient_t, "weight gradient, [in, out]: x^T dy NN 12x2", &gradient_transposed, || {
            let (count, dim) = gradient_t.grid(INPUTS.div_ceil(12) * (OUTPUTS / LANES).div_ceil(2));
            unsafe {
                matmul_nn::launch_unchecked::<f32, f32, f32, f32>(
                    gradient_t.client(),
                    count,
                    dim,
                    LANES,
                    gradient_t.arg(0, x_len),
                    gradient_t.arg(1, y_len / LANES),
                    gradient_t.arg(2, w_len / LANES),
                    INPUTS,
                    BATCH,
                    OUTPUTS,
                    1,
                    INPUTS,
                    OUTPUTS,
                    1,
                    LANES,
                    2,
                    12,
                )
            }
        })?;
    }
    Ok(())
}

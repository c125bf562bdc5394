//! Times the library's NT product (`kiln_kernels::matmul_nt`) with 2-row and 4-row tiles on
//! the MNIST MLP's forward product (64x784 by 784x256, both operands contiguous along k), after
//! checking each against an f64 reference on the host; prints ms per launch (best of 40
//! rounds of 8 launches and a sync) and GFLOP/s.
//!
//! `cargo run --release -p kiln-benches --example matmul_tiles`

use kiln_benches::{ms_per_launch, product_arena, relative_error};
use kiln_runtime::kernels::matmul_nt;

const M: usize = 64;
const K: usize = 784;
const N: usize = 256;
/// Lanes per vector along k.
const LANES: usize = 8;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let device = kiln_runtime::Device::cpu().map_err(|e| format!("{e:?}"))?;
    let (arena, a, b) = product_arena(&device, M * K, N * K, M * N);
    let want: Vec<f64> =
        (0..M * N).map(|i| (0..K).map(|p| f64::from(a[i / N * K + p]) * f64::from(b[i % N * K + p])).sum()).collect();
    let client = arena.client();
    for rows in [2, 4] {
        let launch = || {
            let (count, dim) = arena.grid(M.div_ceil(rows) * N.div_ceil(4));
            // SAFETY: the buffers hold exactly the lengths passed, and the kernel indexes below
            // its static bounds.
            unsafe {
                matmul_nt::launch_unchecked::<f32, f32, f32, f32>(
                    client,
                    count,
                    dim,
                    LANES,
                    arena.arg(0, M * K / LANES),
                    arena.arg(1, N * K / LANES),
                    arena.arg(2, M * N),
                    M,
                    K,
                    N,
                    K,
                    K,
                    LANES,
                    rows,
                )
            }
        };
        launch();
        // The read waits for the launch.
        let error = relative_error(&arena.read::<f32>(2), &want);
        let ms = ms_per_launch(&arena, 40, 8, launch);
        let gflops = 2.0 * (M * K * N) as f64 / ms / 1e6;
        println!("NT {rows}-row tiles: {ms:.4} ms  {gflops:.0} GFLOP/s  (error {error:.1e})");
        if error > 1e-5 {
            return Err(format!("{rows}-row tiles: relative error {error:.1e}").into());
        }
    }
    Ok(())
}

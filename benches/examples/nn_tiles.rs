//! Times the library's NN product (`kiln_kernels::matmul_nn`) with 16-lane tiles of 12 rows by
//! one vector, 6 rows by two and 12 rows by two, on the MNIST MLP's weight-gradient product
//! (256x64 by 64x784: `a` read transposed, 49 vectors a row, so the two-vector tiles end with
//! a ragged one), after checking each against an f64 reference on the host; prints ms per
//! launch (best of 40 rounds of 8 launches and a sync) and GFLOP/s, in 3 alternating rounds.
//!
//! `cargo run --release -p kiln-benches --example nn_tiles`

use kiln_benches::{ms_per_launch, product_arena, relative_error};
use kiln_runtime::kernels::matmul_nn;

const M: usize = 256;
const K: usize = 64;
const N: usize = 784;
/// Lanes per vector along n.
const LANES: usize = 16;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let device = kiln_runtime::Device::cpu().map_err(|e| format!("{e:?}"))?;
    // `a[r, p]` lies at `r + p * M`: the transpose of a 64x256 gradient, as in the MLP.
    let (arena, a, b) = product_arena(&device, M * K, K * N, M * N);
    let want: Vec<f64> =
        (0..M * N).map(|i| (0..K).map(|p| f64::from(a[i / N + p * M]) * f64::from(b[p * N + i % N])).sum()).collect();
    let client = arena.client();
    for round in 1..=3 {
        for (rows, vectors) in [(12, 1), (6, 2), (12, 2)] {
            let launch = || {
                let (count, dim) = arena.grid(M.div_ceil(rows) * (N / LANES).div_ceil(vectors));
                // SAFETY: the buffers hold exactly the lengths passed, and the kernel indexes
                // below its static bounds.
                unsafe {
                    matmul_nn::launch_unchecked::<f32, f32, f32, f32>(
                        client,
                        count,
                        dim,
                        LANES,
                        arena.arg(0, M * K),
                        arena.arg(1, K * N / LANES),
                        arena.arg(2, M * N / LANES),
                        M,
                        K,
                        N,
                        1,
                        M,
                        N,
                        1,
                        LANES,
                        vectors,
                        rows,
                    )
                }
            };
            launch();
            // The read waits for the launch.
            let error = relative_error(&arena.read::<f32>(2), &want);
            let ms = ms_per_launch(&arena, 40, 8, launch);
            let gflops = 2.0 * (M * K * N) as f64 / ms / 1e6;
            println!("round {round}: NN {rows} rows x {vectors} vector(s): {ms:.4} ms  {gflops:.0} GFLOP/s  (error {error:.1e})");
            if error > 1e-5 {
                return Err(format!("{rows} rows x {vectors} vectors: relative error {error:.1e}").into());
            }
        }
    }
    Ok(())
}

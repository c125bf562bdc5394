//! Register-tiled matrix products `out[m, n] = sum_k a[m, k] * b[k, n]` for the CPU runtime's
//! wide vectors (and any other runtime). Shapes and element strides are `#[comptime]`, so each
//! call site is compiled with its own constants.

// `#[cube]` generates a launch module and a kernel struct per function, without docs.
#![allow(missing_docs)]

use cubecl::prelude::*;

/// NN form: `b` and `out` read as vectors of `v` along n (`b_col == 1` when `v > 1`); `a` read
/// as scalars through any strides. Each unit computes 4 rows by one vector of columns.
/// Accumulates in `F`; `a`, `b` and `out` may be stored in other float types (mixed precision).
#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
pub fn matmul_nn<F: Float, EA: Float, EB: Float, EO: Float, N: Size>(
    a: &[EA],
    b: &[Vector<EB, N>],
    out: &mut [Vector<EO, N>],
    #[comptime] m: usize,
    #[comptime] k: usize,
    #[comptime] n: usize,
    #[comptime] a_row: usize,
    #[comptime] a_col: usize,
    #[comptime] b_row: usize,
    #[comptime] b_col: usize,
    #[comptime] v: usize,
) {
    let col_vectors = n / v;
    let pos = ABSOLUTE_POS;
    if pos < m.div_ceil(4) * col_vectors {
        let row = (pos / col_vectors) * 4;
        let col = pos % col_vectors;
        // Rows past the end read the last row again and are not stored.
        let r1 = select(row + 1 < m, row + 1, m - 1);
        let r2 = select(row + 2 < m, row + 2, m - 1);
        let r3 = select(row + 3 < m, row + 3, m - 1);
        let mut acc0 = Vector::<F, N>::new(F::new(0.0));
        let mut acc1 = Vector::<F, N>::new(F::new(0.0));
        let mut acc2 = Vector::<F, N>::new(F::new(0.0));
        let mut acc3 = Vector::<F, N>::new(F::new(0.0));
        for p in 0..k {
            let bv = Vector::<F, N>::cast_from(b[(p * b_row + col * v * b_col) / v]);
            acc0 += Vector::new(F::cast_from(a[row * a_row + p * a_col])) * bv;
            acc1 += Vector::new(F::cast_from(a[r1 * a_row + p * a_col])) * bv;
            acc2 += Vector::new(F::cast_from(a[r2 * a_row + p * a_col])) * bv;
            acc3 += Vector::new(F::cast_from(a[r3 * a_row + p * a_col])) * bv;
        }
        out[row * col_vectors + col] = Vector::<EO, N>::cast_from(acc0);
        if row + 1 < m {
            out[r1 * col_vectors + col] = Vector::<EO, N>::cast_from(acc1);
        }
        if row + 2 < m {
            out[r2 * col_vectors + col] = Vector::<EO, N>::cast_from(acc2);
        }
        if row + 3 < m {
            out[r3 * col_vectors + col] = Vector::<EO, N>::cast_from(acc3);
        }
    }
}

/// NT form: `a` and `b` both contiguous along k, read as vectors of `v` (`b[k, n]` is stored
/// as rows of n: element `(p, j)` at `j * b_col + p`). Each unit computes one row by 4 columns
/// and sums its vector accumulators at the end. Accumulates in `F`, like `matmul_nn`.
#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
pub fn matmul_nt<F: Float, EA: Float, EB: Float, EO: Float, N: Size>(
    a: &[Vector<EA, N>],
    b: &[Vector<EB, N>],
    out: &mut [EO],
    #[comptime] m: usize,
    #[comptime] k: usize,
    #[comptime] n: usize,
    #[comptime] a_row: usize,
    #[comptime] b_col: usize,
    #[comptime] v: usize,
) {
    let col_blocks = n.div_ceil(4);
    let pos = ABSOLUTE_POS;
    if pos < m * col_blocks {
        let row = pos / col_blocks;
        let c0 = (pos % col_blocks) * 4;
        let c1 = select(c0 + 1 < n, c0 + 1, n - 1);
        let c2 = select(c0 + 2 < n, c0 + 2, n - 1);
        let c3 = select(c0 + 3 < n, c0 + 3, n - 1);
        let mut acc0 = Vector::<F, N>::new(F::new(0.0));
        let mut acc1 = Vector::<F, N>::new(F::new(0.0));
        let mut acc2 = Vector::<F, N>::new(F::new(0.0));
        let mut acc3 = Vector::<F, N>::new(F::new(0.0));
        let a_base = row * a_row / v;
        for p in 0..k / v {
            let av = Vector::<F, N>::cast_from(a[a_base + p]);
            acc0 += av * Vector::<F, N>::cast_from(b[c0 * b_col / v + p]);
            acc1 += av * Vector::<F, N>::cast_from(b[c1 * b_col / v + p]);
            acc2 += av * Vector::<F, N>::cast_from(b[c2 * b_col / v + p]);
            acc3 += av * Vector::<F, N>::cast_from(b[c3 * b_col / v + p]);
        }
        out[row * n + c0] = EO::cast_from(lane_sum::<F, N>(acc0, v));
        if c0 + 1 < n {
            out[row * n + c1] = EO::cast_from(lane_sum::<F, N>(acc1, v));
        }
        if c0 + 2 < n {
            out[row * n + c2] = EO::cast_from(lane_sum::<F, N>(acc2, v));
        }
        if c0 + 3 < n {
            out[row * n + c3] = EO::cast_from(lane_sum::<F, N>(acc3, v));
        }
    }
}

/// Sum of a vector's lanes, unrolled (wgpu splits wide vectors, and its `vector_sum` cannot be).
#[cube]
fn lane_sum<F: Float, N: Size>(x: Vector<F, N>, #[comptime] v: usize) -> F {
    let mut sum = F::new(0.0);
    #[unroll]
    for j in 0..v {
        sum += x.extract(j);
    }
    sum
}

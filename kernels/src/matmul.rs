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
/// as rows of n: element `(p, j)` at `j * b_col + p`). Each unit computes 2 rows by 4 columns
/// (8 vector accumulators, 6 loads per 8 multiply-adds) and sums each accumulator's lanes at the
/// end. Accumulates in `F`, like `matmul_nn`.
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
    if pos < m.div_ceil(2) * col_blocks {
        // Rows and columns past the end read the last one again and are not stored.
        let r0 = (pos / col_blocks) * 2;
        let r1 = select(r0 + 1 < m, r0 + 1, m - 1);
        let c0 = (pos % col_blocks) * 4;
        let c1 = select(c0 + 1 < n, c0 + 1, n - 1);
        let c2 = select(c0 + 2 < n, c0 + 2, n - 1);
        let c3 = select(c0 + 3 < n, c0 + 3, n - 1);
        let mut acc00 = Vector::<F, N>::new(F::new(0.0));
        let mut acc01 = Vector::<F, N>::new(F::new(0.0));
        let mut acc02 = Vector::<F, N>::new(F::new(0.0));
        let mut acc03 = Vector::<F, N>::new(F::new(0.0));
        let mut acc10 = Vector::<F, N>::new(F::new(0.0));
        let mut acc11 = Vector::<F, N>::new(F::new(0.0));
        let mut acc12 = Vector::<F, N>::new(F::new(0.0));
        let mut acc13 = Vector::<F, N>::new(F::new(0.0));
        let a0 = r0 * a_row / v;
        let a1 = r1 * a_row / v;
        for p in 0..k / v {
            let x0 = Vector::<F, N>::cast_from(a[a0 + p]);
            let x1 = Vector::<F, N>::cast_from(a[a1 + p]);
            let y0 = Vector::<F, N>::cast_from(b[c0 * b_col / v + p]);
            let y1 = Vector::<F, N>::cast_from(b[c1 * b_col / v + p]);
            let y2 = Vector::<F, N>::cast_from(b[c2 * b_col / v + p]);
            let y3 = Vector::<F, N>::cast_from(b[c3 * b_col / v + p]);
            acc00 += x0 * y0;
            acc01 += x0 * y1;
            acc02 += x0 * y2;
            acc03 += x0 * y3;
            acc10 += x1 * y0;
            acc11 += x1 * y1;
            acc12 += x1 * y2;
            acc13 += x1 * y3;
        }
        store_row::<F, EO, N>(out, r0 * n, c0, n, acc00, acc01, acc02, acc03, v);
        if r0 + 1 < m {
            store_row::<F, EO, N>(out, r1 * n, c0, n, acc10, acc11, acc12, acc13, v);
        }
    }
}

/// Stores the lane sums of 4 accumulators at columns `c0..c0 + 4` of the row at `base`, those
/// below `n`.
#[cube]
#[allow(clippy::too_many_arguments)]
fn store_row<F: Float, EO: Float, N: Size>(
    out: &mut [EO],
    base: usize,
    c0: usize,
    #[comptime] n: usize,
    acc0: Vector<F, N>,
    acc1: Vector<F, N>,
    acc2: Vector<F, N>,
    acc3: Vector<F, N>,
    #[comptime] v: usize,
) {
    out[base + c0] = EO::cast_from(lane_sum::<F, N>(acc0, v));
    if c0 + 1 < n {
        out[base + c0 + 1] = EO::cast_from(lane_sum::<F, N>(acc1, v));
    }
    if c0 + 2 < n {
        out[base + c0 + 2] = EO::cast_from(lane_sum::<F, N>(acc2, v));
    }
    if c0 + 3 < n {
        out[base + c0 + 3] = EO::cast_from(lane_sum::<F, N>(acc3, v));
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

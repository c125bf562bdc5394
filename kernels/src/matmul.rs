//! Register-tiled matrix products `out[m, n] = sum_k a[m, k] * b[k, n]` for the CPU runtime's
//! wide vectors (and any other runtime). Shapes and element strides are `#[comptime]`, so each
//! call site is compiled with its own constants. The tiles are `#[cube]` functions of their
//! own, so generated kernels can apply an epilogue (bias, activation, optimizer update) to the
//! accumulators before storing them.

// `#[cube]` generates a launch module and a kernel struct per function, without docs.
#![allow(missing_docs)]

use crate::lanes::lane_sum;
use crate::steps::{convert, convert_scalar};
use cubecl::prelude::*;

/// Rows `row..row + rows` of an NN product by one or two vectors of columns: `acc{t}` holds
/// row `row + t` of the first vector, `bcc{t}` row `row + 6 + t` of it; `ccc{t}` and `dcc{t}`
/// the same rows of the second vector (rows past `m` repeat the last row; accumulators the
/// tile's shape does not use stay 0).
#[derive(CubeType)]
pub struct NnTile<F: Float, N: Size> {
    pub acc0: Vector<F, N>,
    pub acc1: Vector<F, N>,
    pub acc2: Vector<F, N>,
    pub acc3: Vector<F, N>,
    pub acc4: Vector<F, N>,
    pub acc5: Vector<F, N>,
    pub bcc0: Vector<F, N>,
    pub bcc1: Vector<F, N>,
    pub bcc2: Vector<F, N>,
    pub bcc3: Vector<F, N>,
    pub bcc4: Vector<F, N>,
    pub bcc5: Vector<F, N>,
    pub ccc0: Vector<F, N>,
    pub ccc1: Vector<F, N>,
    pub ccc2: Vector<F, N>,
    pub ccc3: Vector<F, N>,
    pub ccc4: Vector<F, N>,
    pub ccc5: Vector<F, N>,
    pub dcc0: Vector<F, N>,
    pub dcc1: Vector<F, N>,
    pub dcc2: Vector<F, N>,
    pub dcc3: Vector<F, N>,
    pub dcc4: Vector<F, N>,
    pub dcc5: Vector<F, N>,
}

/// The NN tile at rows `row..row + rows` (`rows` is 6 or 12) and column vectors
/// `col * vectors..(col + 1) * vectors`, summed over `k` terms from `k_start` (`vectors` is 1
/// or 2; with 2, each scalar of `a` feeds
/// two multiply-adds, and where `b` has an odd number of vectors per row the last tile's
/// second vector repeats its first): `b` read as vectors of `v` along n (`b_col == 1` when
/// `v > 1`, and `v` divides `b_row`), its rows `columns` vectors wide, `a` as scalars through
/// any strides. Accumulates in `F`; `a` and `b` may be stored in other float types (mixed
/// precision). 6 rows by 2 vectors of 8 lanes keep 12 AVX2 registers of accumulators beside
/// the vectors of `b` and a broadcast of `a`, the shape of the classic AVX2 kernel. With
/// AVX-512, 16 lanes are one register: 12 rows by 2 vectors keep 24 accumulators, and each
/// broadcast of `a` feeds two of the two FMA units' multiply-adds (see `Target` in
/// kiln-compiler).
#[cube]
#[allow(clippy::too_many_arguments)]
pub fn nn_tile<F: Float, EA: Float, EB: Float, N: Size>(
    a: &[EA],
    b: &[Vector<EB, N>],
    row: usize,
    col: usize,
    k_start: usize,
    #[comptime] m: usize,
    #[comptime] k: usize,
    #[comptime] a_row: usize,
    #[comptime] a_col: usize,
    #[comptime] b_row: usize,
    #[comptime] b_col: usize,
    #[comptime] v: usize,
    #[comptime] columns: usize,
    #[comptime] vectors: usize,
    #[comptime] rows: usize,
) -> NnTile<F, N> {
    let r1 = clamped(row + 1, m);
    let r2 = clamped(row + 2, m);
    let r3 = clamped(row + 3, m);
    let r4 = clamped(row + 4, m);
    let r5 = clamped(row + 5, m);
    let r6 = clamped(row + 6, m);
    let r7 = clamped(row + 7, m);
    let r8 = clamped(row + 8, m);
    let r9 = clamped(row + 9, m);
    let r10 = clamped(row + 10, m);
    let r11 = clamped(row + 11, m);
    let mut acc0 = Vector::<F, N>::new(F::new(0.0));
    let mut acc1 = Vector::<F, N>::new(F::new(0.0));
    let mut acc2 = Vector::<F, N>::new(F::new(0.0));
    let mut acc3 = Vector::<F, N>::new(F::new(0.0));
    let mut acc4 = Vector::<F, N>::new(F::new(0.0));
    let mut acc5 = Vector::<F, N>::new(F::new(0.0));
    let mut bcc0 = Vector::<F, N>::new(F::new(0.0));
    let mut bcc1 = Vector::<F, N>::new(F::new(0.0));
    let mut bcc2 = Vector::<F, N>::new(F::new(0.0));
    let mut bcc3 = Vector::<F, N>::new(F::new(0.0));
    let mut bcc4 = Vector::<F, N>::new(F::new(0.0));
    let mut bcc5 = Vector::<F, N>::new(F::new(0.0));
    let mut ccc0 = Vector::<F, N>::new(F::new(0.0));
    let mut ccc1 = Vector::<F, N>::new(F::new(0.0));
    let mut ccc2 = Vector::<F, N>::new(F::new(0.0));
    let mut ccc3 = Vector::<F, N>::new(F::new(0.0));
    let mut ccc4 = Vector::<F, N>::new(F::new(0.0));
    let mut ccc5 = Vector::<F, N>::new(F::new(0.0));
    let mut dcc0 = Vector::<F, N>::new(F::new(0.0));
    let mut dcc1 = Vector::<F, N>::new(F::new(0.0));
    let mut dcc2 = Vector::<F, N>::new(F::new(0.0));
    let mut dcc3 = Vector::<F, N>::new(F::new(0.0));
    let mut dcc4 = Vector::<F, N>::new(F::new(0.0));
    let mut dcc5 = Vector::<F, N>::new(F::new(0.0));
    let first = col * vectors * b_col;
    let second = clamped(col * vectors + 1, columns) * b_col;
    for q in 0..k {
        let p = k_start + q;
        let x0 = Vector::new(F::cast_from(a[row * a_row + p * a_col]));
        let x1 = Vector::new(F::cast_from(a[r1 * a_row + p * a_col]));
        let x2 = Vector::new(F::cast_from(a[r2 * a_row + p * a_col]));
        let x3 = Vector::new(F::cast_from(a[r3 * a_row + p * a_col]));
        let x4 = Vector::new(F::cast_from(a[r4 * a_row + p * a_col]));
        let x5 = Vector::new(F::cast_from(a[r5 * a_row + p * a_col]));
        let bv = Vector::<F, N>::cast_from(b[p * (b_row / v) + first]);
        acc0 += x0 * bv;
        acc1 += x1 * bv;
        acc2 += x2 * bv;
        acc3 += x3 * bv;
        acc4 += x4 * bv;
        acc5 += x5 * bv;
        let mut bw = bv;
        if vectors == 2 {
            bw = Vector::<F, N>::cast_from(b[p * (b_row / v) + second]);
            ccc0 += x0 * bw;
            ccc1 += x1 * bw;
            ccc2 += x2 * bw;
            ccc3 += x3 * bw;
            ccc4 += x4 * bw;
            ccc5 += x5 * bw;
        }
        if rows == 12 {
            let x6 = Vector::new(F::cast_from(a[r6 * a_row + p * a_col]));
            let x7 = Vector::new(F::cast_from(a[r7 * a_row + p * a_col]));
            let x8 = Vector::new(F::cast_from(a[r8 * a_row + p * a_col]));
            let x9 = Vector::new(F::cast_from(a[r9 * a_row + p * a_col]));
            let x10 = Vector::new(F::cast_from(a[r10 * a_row + p * a_col]));
            let x11 = Vector::new(F::cast_from(a[r11 * a_row + p * a_col]));
            bcc0 += x6 * bv;
            bcc1 += x7 * bv;
            bcc2 += x8 * bv;
            bcc3 += x9 * bv;
            bcc4 += x10 * bv;
            bcc5 += x11 * bv;
            if vectors == 2 {
                dcc0 += x6 * bw;
                dcc1 += x7 * bw;
                dcc2 += x8 * bw;
                dcc3 += x9 * bw;
                dcc4 += x10 * bw;
                dcc5 += x11 * bw;
            }
        }
    }
    NnTile::<F, N> {
        acc0,
        acc1,
        acc2,
        acc3,
        acc4,
        acc5,
        bcc0,
        bcc1,
        bcc2,
        bcc3,
        bcc4,
        bcc5,
        ccc0,
        ccc1,
        ccc2,
        ccc3,
        ccc4,
        ccc5,
        dcc0,
        dcc1,
        dcc2,
        dcc3,
        dcc4,
        dcc5,
    }
}

/// NN form: each unit computes `rows` rows by `vectors` vectors of columns (see [`nn_tile`]).
/// Consecutive units take the tiles down one column first, so they share its slice of `b`
/// in cache (LeNet-5's conv2 forward `%22`: 0.19 -> 0.18 ms, its input gradient `%124`: 0.23
/// -> 0.19 ms).
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
    #[comptime] vectors: usize,
    #[comptime] rows: usize,
) {
    let col_vectors = n / v;
    let tiles = col_vectors.div_ceil(vectors);
    let row_blocks = m.div_ceil(rows);
    let pos = ABSOLUTE_POS;
    if pos < row_blocks * tiles {
        let row = (pos % row_blocks) * rows;
        let col = pos / row_blocks;
        let tile =
            nn_tile::<F, EA, EB, N>(a, b, row, col, 0, m, k, a_row, a_col, b_row, b_col, v, col_vectors, vectors, rows);
        let c = col * vectors;
        store_column::<F, EO, N>(
            out,
            row * col_vectors + c,
            col_vectors,
            row,
            m,
            tile.acc0,
            tile.acc1,
            tile.acc2,
            tile.acc3,
            tile.acc4,
            tile.acc5,
        );
        if rows == 12 && row + 6 < m {
            store_column::<F, EO, N>(
                out,
                (row + 6) * col_vectors + c,
                col_vectors,
                row + 6,
                m,
                tile.bcc0,
                tile.bcc1,
                tile.bcc2,
                tile.bcc3,
                tile.bcc4,
                tile.bcc5,
            );
        }
        if vectors == 2 && c + 1 < col_vectors {
            store_column::<F, EO, N>(
                out,
                row * col_vectors + c + 1,
                col_vectors,
                row,
                m,
                tile.ccc0,
                tile.ccc1,
                tile.ccc2,
                tile.ccc3,
                tile.ccc4,
                tile.ccc5,
            );
            if rows == 12 && row + 6 < m {
                store_column::<F, EO, N>(
                    out,
                    (row + 6) * col_vectors + c + 1,
                    col_vectors,
                    row + 6,
                    m,
                    tile.dcc0,
                    tile.dcc1,
                    tile.dcc2,
                    tile.dcc3,
                    tile.dcc4,
                    tile.dcc5,
                );
            }
        }
    }
}

/// Rows `r0..r0 + rows` (`rows` is 2 or 4) by columns `c0..c0 + 4` of an NT product, as
/// scalars (rows and columns past the end repeat the last one; `s2*` and `s3*` are 0 when
/// `rows` is 2).
#[derive(CubeType)]
pub struct NtTile<F: Float> {
    pub s00: F,
    pub s01: F,
    pub s02: F,
    pub s03: F,
    pub s10: F,
    pub s11: F,
    pub s12: F,
    pub s13: F,
    pub s20: F,
    pub s21: F,
    pub s22: F,
    pub s23: F,
    pub s30: F,
    pub s31: F,
    pub s32: F,
    pub s33: F,
}

/// The NT tile at rows `r0..r0 + rows` and columns `c0..c0 + 4`: `a` and `b` both contiguous
/// along k, read as vectors of `v` (`b[k, n]` is stored as rows of n: element `(p, j)` at
/// `j * b_col + p`), each accumulator summed over its lanes at the end. 4 rows keep 16 vector
/// accumulators (8 loads per 16 multiply-adds), which fit AVX-512's 32 registers with the
/// loads; 2 rows keep 8 (6 loads per 8), which fit AVX2's 16 (`matmul_tiles` example times
/// both). Accumulates in `F`, like [`nn_tile`].
#[cube]
#[allow(clippy::too_many_arguments)]
pub fn nt_tile<F: Float, EA: Float, EB: Float, N: Size>(
    a: &[Vector<EA, N>],
    b: &[Vector<EB, N>],
    r0: usize,
    c0: usize,
    #[comptime] m: usize,
    #[comptime] k: usize,
    #[comptime] n: usize,
    #[comptime] a_row: usize,
    #[comptime] b_col: usize,
    #[comptime] v: usize,
    #[comptime] rows: usize,
) -> NtTile<F> {
    let r1 = clamped(r0 + 1, m);
    let r2 = clamped(r0 + 2, m);
    let r3 = clamped(r0 + 3, m);
    let c1 = clamped(c0 + 1, n);
    let c2 = clamped(c0 + 2, n);
    let c3 = clamped(c0 + 3, n);
    let mut acc00 = Vector::<F, N>::new(F::new(0.0));
    let mut acc01 = Vector::<F, N>::new(F::new(0.0));
    let mut acc02 = Vector::<F, N>::new(F::new(0.0));
    let mut acc03 = Vector::<F, N>::new(F::new(0.0));
    let mut acc10 = Vector::<F, N>::new(F::new(0.0));
    let mut acc11 = Vector::<F, N>::new(F::new(0.0));
    let mut acc12 = Vector::<F, N>::new(F::new(0.0));
    let mut acc13 = Vector::<F, N>::new(F::new(0.0));
    let mut acc20 = Vector::<F, N>::new(F::new(0.0));
    let mut acc21 = Vector::<F, N>::new(F::new(0.0));
    let mut acc22 = Vector::<F, N>::new(F::new(0.0));
    let mut acc23 = Vector::<F, N>::new(F::new(0.0));
    let mut acc30 = Vector::<F, N>::new(F::new(0.0));
    let mut acc31 = Vector::<F, N>::new(F::new(0.0));
    let mut acc32 = Vector::<F, N>::new(F::new(0.0));
    let mut acc33 = Vector::<F, N>::new(F::new(0.0));
    let a0 = r0 * a_row / v;
    let a1 = r1 * a_row / v;
    let a2 = r2 * a_row / v;
    let a3 = r3 * a_row / v;
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
        if rows == 4 {
            let x2 = Vector::<F, N>::cast_from(a[a2 + p]);
            let x3 = Vector::<F, N>::cast_from(a[a3 + p]);
            acc20 += x2 * y0;
            acc21 += x2 * y1;
            acc22 += x2 * y2;
            acc23 += x2 * y3;
            acc30 += x3 * y0;
            acc31 += x3 * y1;
            acc32 += x3 * y2;
            acc33 += x3 * y3;
        }
    }
    NtTile::<F> {
        s00: lane_sum::<F, N>(acc00, v),
        s01: lane_sum::<F, N>(acc01, v),
        s02: lane_sum::<F, N>(acc02, v),
        s03: lane_sum::<F, N>(acc03, v),
        s10: lane_sum::<F, N>(acc10, v),
        s11: lane_sum::<F, N>(acc11, v),
        s12: lane_sum::<F, N>(acc12, v),
        s13: lane_sum::<F, N>(acc13, v),
        s20: lane_sum::<F, N>(acc20, v),
        s21: lane_sum::<F, N>(acc21, v),
        s22: lane_sum::<F, N>(acc22, v),
        s23: lane_sum::<F, N>(acc23, v),
        s30: lane_sum::<F, N>(acc30, v),
        s31: lane_sum::<F, N>(acc31, v),
        s32: lane_sum::<F, N>(acc32, v),
        s33: lane_sum::<F, N>(acc33, v),
    }
}

/// NT form: each unit computes `rows` rows by 4 columns (see [`nt_tile`]), down one column of
/// tiles first, as [`matmul_nn`] (LeNet-5's conv2 weight gradient `%122`: 0.31 -> 0.27 ms).
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
    #[comptime] rows: usize,
) {
    let row_blocks = m.div_ceil(rows);
    let pos = ABSOLUTE_POS;
    if pos < row_blocks * n.div_ceil(4) {
        let r0 = (pos % row_blocks) * rows;
        let c0 = (pos / row_blocks) * 4;
        let tile = nt_tile::<F, EA, EB, N>(a, b, r0, c0, m, k, n, a_row, b_col, v, rows);
        store_row::<F, EO>(out, r0 * n, c0, n, tile.s00, tile.s01, tile.s02, tile.s03);
        if r0 + 1 < m {
            store_row::<F, EO>(out, (r0 + 1) * n, c0, n, tile.s10, tile.s11, tile.s12, tile.s13);
        }
        if rows == 4 {
            if r0 + 2 < m {
                store_row::<F, EO>(out, (r0 + 2) * n, c0, n, tile.s20, tile.s21, tile.s22, tile.s23);
            }
            if r0 + 3 < m {
                store_row::<F, EO>(out, (r0 + 3) * n, c0, n, tile.s30, tile.s31, tile.s32, tile.s33);
            }
        }
    }
}

/// `i`, or `end - 1` past the end (a tile's rows or columns beyond the matrix repeat the last).
#[cube]
pub(crate) fn clamped(i: usize, #[comptime] end: usize) -> usize {
    select(i < end, i, end - 1)
}

/// Stores 6 vectors in one column of `out` (rows of `stride` vectors), at `base` and the next
/// 5 rows, those of rows `row + t` below `m`.
#[cube]
#[allow(clippy::too_many_arguments)]
fn store_column<F: Float, EO: Float, N: Size>(
    out: &mut [Vector<EO, N>],
    base: usize,
    #[comptime] stride: usize,
    row: usize,
    #[comptime] m: usize,
    acc0: Vector<F, N>,
    acc1: Vector<F, N>,
    acc2: Vector<F, N>,
    acc3: Vector<F, N>,
    acc4: Vector<F, N>,
    acc5: Vector<F, N>,
) {
    out[base] = convert::<F, EO, N>(acc0);
    if row + 1 < m {
        out[base + stride] = convert::<F, EO, N>(acc1);
    }
    if row + 2 < m {
        out[base + 2 * stride] = convert::<F, EO, N>(acc2);
    }
    if row + 3 < m {
        out[base + 3 * stride] = convert::<F, EO, N>(acc3);
    }
    if row + 4 < m {
        out[base + 4 * stride] = convert::<F, EO, N>(acc4);
    }
    if row + 5 < m {
        out[base + 5 * stride] = convert::<F, EO, N>(acc5);
    }
}

/// Stores 4 sums at columns `c0..c0 + 4` of the row at `base`, those below `n`.
#[cube]
#[allow(clippy::too_many_arguments)]
fn store_row<F: Float, EO: Float>(
    out: &mut [EO],
    base: usize,
    c0: usize,
    #[comptime] n: usize,
    s0: F,
    s1: F,
    s2: F,
    s3: F,
) {
    out[base + c0] = convert_scalar::<F, EO>(s0);
    if c0 + 1 < n {
        out[base + c0 + 1] = convert_scalar::<F, EO>(s1);
    }
    if c0 + 2 < n {
        out[base + c0 + 2] = convert_scalar::<F, EO>(s2);
    }
    if c0 + 3 < n {
        out[base + c0 + 3] = convert_scalar::<F, EO>(s3);
    }
}

//! The product templates: a register-tiled matrix product (`nt_tile` or `nn_tile`) whose
//! tiles run a comptime epilogue of [`Step`]s on each element before anything is stored (a
//! bias and activation, an optimizer update of the weights a gradient is for). A row
//! epilogue, where there is one, runs on the sum of each row of `a`, which the tiles of the
//! first column compute (a bias gradient beside its weight gradient, with the bias's update);
//! its first output is where the sums are stored. The tiles are split among the units as
//! `crate::balance` describes. One template per form serves every
//! fused product of every model: the tiling and the epilogue are constants to the JIT.

// `#[cube]` generates a launch module and a kernel struct per function, without docs; and a
// comptime condition cannot share an `if` with a runtime one.
#![allow(missing_docs, clippy::collapsible_if)]

use crate::balance::{claim_tiles, share_end, share_start};
use crate::lanes::lane_sum;
use crate::matmul::{nn_tile, nt_tile, NnTile};
use crate::steps::{run_epilogue, run_row_steps, single, Step};
use cubecl::prelude::*;

/// The steps each element of a product's output runs, with its sum as [`Step::Acc`]`(0)`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Epilogue(pub &'static [Step]);

/// An NT product's tiling (see [`nt_tile`]): `out[m, n]` by tiles of `rows` rows and 4
/// columns, `a` and `b` read along k as vectors of `lanes`, each unit claiming `chunk` tiles
/// at a time once its share is done.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct NtTiling {
    pub m: usize,
    pub k: usize,
    pub n: usize,
    /// `a`'s row stride (elements).
    pub a_row: usize,
    /// `b`'s column stride (elements; `b[k, n]` stored as rows of n).
    pub b_col: usize,
    pub lanes: usize,
    pub rows: usize,
    pub chunk: usize,
}

/// An NN product's tiling (see [`nn_tile`]): `rows` rows by `vectors` vectors of `columns`
/// vectors a row, taken in row order.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct NnTiling {
    pub m: usize,
    pub k: usize,
    pub a_row: usize,
    pub a_col: usize,
    pub b_row: usize,
    pub b_col: usize,
    /// The vector width along n.
    pub lanes: usize,
    /// Vectors per row of the output.
    pub columns: usize,
    pub vectors: usize,
    pub rows: usize,
    pub chunk: usize,
    /// Terms of k summed per pass over a work item's tiles, 0 for all of k in one pass. With
    /// blocks, a unit's work item is a panel of `panel` tiles down by a group of `group`
    /// tiles across, summed one block of k at a time for every tile in it, their sums kept
    /// in a local array: the block's rows of `b` under a tile column stay in L1 across the
    /// panel's tiles, and the panel's block of `a` in L2 across the group's columns (a weight
    /// gradient over a long k, such as `x^T @ dy` over 4,096 rows).
    pub k_block: usize,
    /// Row tiles per work item where k is blocked.
    pub panel: usize,
    /// Column tiles per work item where k is blocked.
    pub group: usize,
}

/// `out = epilogue(a @ b)` in NT form: each element `i` of the output (row-major, vectors of
/// one lane) runs `epilogue` with its sum as [`Step::Acc`]`(0)`, reading `vectors` and `scalars`
/// and storing `outputs`, with their half twins, as the pointwise template does. The
/// operands are in `A` and `B`, the compute type or the half type, and summed in `F`.
#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
pub fn product_nt<F: Float, A: Float, B: Float, Half: Float, N: Size, K: Size>(
    lhs: &[Vector<A, K>],
    rhs: &[Vector<B, K>],
    vectors: &Sequence<Box<[Vector<F, N>]>>,
    halves: &Sequence<Box<[Vector<Half, N>]>>,
    scalars: &Sequence<Box<[F]>>,
    half_scalars: &Sequence<Box<[Half]>>,
    outputs: &mut Sequence<Box<[Vector<F, N>]>>,
    half_outputs: &mut Sequence<Box<[Vector<Half, N>]>>,
    row_outputs: &mut Sequence<Box<[F]>>,
    half_row_outputs: &mut Sequence<Box<[Half]>>,
    claims: &[Atomic<u32>],
    #[comptime] tiling: NtTiling,
    #[comptime] epilogue: Epilogue,
    #[comptime] row_epilogue: Epilogue,
    #[comptime] host_memory: bool,
) {
    let row_blocks = comptime!(tiling.m.div_ceil(tiling.rows));
    let tiles = comptime!(row_blocks * tiling.n.div_ceil(4));
    let chunk = comptime!(tiling.chunk);
    let (m, k, n) = comptime!((tiling.m, tiling.k, tiling.n));
    let (a_row, b_col, lanes, rows) = comptime!((tiling.a_row, tiling.b_col, tiling.lanes, tiling.rows));
    let mut start = share_start(tiles, host_memory);
    let mut end = share_end(tiles, host_memory);
    loop {
        for pos in start..end {
            let r0 = (pos % row_blocks) * rows;
            let c0 = (pos / row_blocks) * 4;
            let tile = nt_tile::<F, A, B, K>(lhs, rhs, r0, c0, m, k, n, a_row, b_col, lanes, rows);
            nt_row::<F, Half, N>(
                vectors,
                halves,
                scalars,
                half_scalars,
                outputs,
                half_outputs,
                r0,
                c0,
                tile.s00,
                tile.s01,
                tile.s02,
                tile.s03,
                tiling,
                epilogue.0,
            );
            nt_row::<F, Half, N>(
                vectors,
                halves,
                scalars,
                half_scalars,
                outputs,
                half_outputs,
                r0 + 1,
                c0,
                tile.s10,
                tile.s11,
                tile.s12,
                tile.s13,
                tiling,
                epilogue.0,
            );
            if comptime!(tiling.rows == 4) {
                nt_row::<F, Half, N>(
                    vectors,
                    halves,
                    scalars,
                    half_scalars,
                    outputs,
                    half_outputs,
                    r0 + 2,
                    c0,
                    tile.s20,
                    tile.s21,
                    tile.s22,
                    tile.s23,
                    tiling,
                    epilogue.0,
                );
                nt_row::<F, Half, N>(
                    vectors,
                    halves,
                    scalars,
                    half_scalars,
                    outputs,
                    half_outputs,
                    r0 + 3,
                    c0,
                    tile.s30,
                    tile.s31,
                    tile.s32,
                    tile.s33,
                    tiling,
                    epilogue.0,
                );
            }
            // The tiles of the first column sum their rows of `a` (vectors along k, then
            // their lanes) and run the row epilogue on each sum.
            if comptime!(!row_epilogue.0.is_empty()) {
                if c0 == 0 {
                    #[unroll]
                    for t in 0..rows {
                        let r = r0 + t;
                        if r < m {
                            let mut sum = Vector::<F, K>::new(F::new(0.0));
                            for q in 0..comptime!(k / lanes) {
                                sum += Vector::<F, K>::cast_from(lhs[r * comptime!(a_row / lanes) + q]);
                            }
                            let sum = lane_sum::<F, K>(sum, lanes);
                            let totals = single::<F, N>(Vector::new(sum));
                            run_row_steps::<F, Half, N>(
                                scalars,
                                half_scalars,
                                row_outputs,
                                half_row_outputs,
                                r,
                                &totals,
                                row_epilogue.0,
                            );
                        }
                    }
                }
            }
        }
        start = claim_tiles(claims, tiles, chunk, host_memory);
        if start >= tiles {
            break;
        }
        end = start + chunk;
        if end > tiles {
            end = tiles;
        }
    }
}

/// The epilogue on row `r` (if below `m`) at columns `c0..c0 + 4` (those below `n`).
#[cube]
#[allow(clippy::too_many_arguments)]
fn nt_row<F: Float, Half: Float, N: Size>(
    vectors: &Sequence<Box<[Vector<F, N>]>>,
    halves: &Sequence<Box<[Vector<Half, N>]>>,
    scalars: &Sequence<Box<[F]>>,
    half_scalars: &Sequence<Box<[Half]>>,
    outputs: &mut Sequence<Box<[Vector<F, N>]>>,
    half_outputs: &mut Sequence<Box<[Vector<Half, N>]>>,
    r: usize,
    c0: usize,
    s0: F,
    s1: F,
    s2: F,
    s3: F,
    #[comptime] tiling: NtTiling,
    #[comptime] epilogue: &'static [Step],
) {
    let (m, n) = comptime!((tiling.m, tiling.n));
    if r < m {
        let base = r * n + c0;
        run_epilogue::<F, Half, N>(
            vectors,
            halves,
            scalars,
            half_scalars,
            outputs,
            half_outputs,
            base,
            Vector::new(s0),
            epilogue,
        );
        if c0 + 1 < n {
            run_epilogue::<F, Half, N>(
                vectors,
                halves,
                scalars,
                half_scalars,
                outputs,
                half_outputs,
                base + 1,
                Vector::new(s1),
                epilogue,
            );
        }
        if c0 + 2 < n {
            run_epilogue::<F, Half, N>(
                vectors,
                halves,
                scalars,
                half_scalars,
                outputs,
                half_outputs,
                base + 2,
                Vector::new(s2),
                epilogue,
            );
        }
        if c0 + 3 < n {
            run_epilogue::<F, Half, N>(
                vectors,
                halves,
                scalars,
                half_scalars,
                outputs,
                half_outputs,
                base + 3,
                Vector::new(s3),
                epilogue,
            );
        }
    }
}

/// `out = epilogue(a @ b)` in NN form: each vector `i` of the output (row-major, `N` lanes
/// along n) runs `epilogue` with its sums as [`Step::Acc`]`(0)`, as [`product_nt`] does.
/// Where `tiling.k_block` is set, a unit takes a panel of tiles at a time and sums it block by
/// block of k (see [`NnTiling::k_block`]).
#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
pub fn product_nn<F: Float, A: Float, B: Float, Half: Float, N: Size>(
    lhs: &[A],
    rhs: &[Vector<B, N>],
    vectors: &Sequence<Box<[Vector<F, N>]>>,
    halves: &Sequence<Box<[Vector<Half, N>]>>,
    scalars: &Sequence<Box<[F]>>,
    half_scalars: &Sequence<Box<[Half]>>,
    outputs: &mut Sequence<Box<[Vector<F, N>]>>,
    half_outputs: &mut Sequence<Box<[Vector<Half, N>]>>,
    row_outputs: &mut Sequence<Box<[F]>>,
    half_row_outputs: &mut Sequence<Box<[Half]>>,
    claims: &[Atomic<u32>],
    #[comptime] tiling: NnTiling,
    #[comptime] epilogue: Epilogue,
    #[comptime] row_epilogue: Epilogue,
    #[comptime] host_memory: bool,
) {
    let column_tiles = comptime!(tiling.columns.div_ceil(tiling.vectors));
    let row_blocks = comptime!(tiling.m.div_ceil(tiling.rows));
    let blocked = comptime!(tiling.k_block > 0);
    let (panel, group) = comptime!((tiling.panel, tiling.group));
    let panels = comptime!(if blocked { row_blocks.div_ceil(panel) } else { 1 });
    let groups = comptime!(if blocked { column_tiles.div_ceil(group) } else { 1 });
    // Work items: a panel of rows by a group of columns of tiles where k is blocked, else
    // tiles.
    let items = comptime!(if blocked { panels * groups } else { row_blocks * column_tiles });
    let chunk = comptime!(tiling.chunk);
    let (m, k, a_row, a_col) = comptime!((tiling.m, tiling.k, tiling.a_row, tiling.a_col));
    let (b_row, b_col, lanes) = comptime!((tiling.b_row, tiling.b_col, tiling.lanes));
    let (columns, vectors_wide, rows, k_block) =
        comptime!((tiling.columns, tiling.vectors, tiling.rows, tiling.k_block));
    // An item's sums between blocks of k: `rows * vectors` per tile (see `add_tile`), tile
    // (t, c) of the item at `(c * panel + t) * tile_sums`.
    let tile_sums = comptime!(tiling.rows * tiling.vectors);
    let mut sums = Array::<Vector<F, N>>::new(comptime!(if blocked { panel * group * tile_sums } else { 1 }));
    let mut start = share_start(items, host_memory);
    let mut end = share_end(items, host_memory);
    loop {
        for pos in start..end {
            if comptime!(blocked) {
                let t0 = (pos / groups) * panel;
                let c0 = (pos % groups) * group;
                let mut t_end = t0 + panel;
                if t_end > row_blocks {
                    t_end = row_blocks;
                }
                let mut c_end = c0 + group;
                if c_end > column_tiles {
                    c_end = column_tiles;
                }
                for i in 0..comptime!(panel * group * tile_sums) {
                    sums[i] = Vector::new(F::new(0.0));
                }
                for block in 0..comptime!(k / k_block) {
                    sum_block::<F, A, B, N>(
                        lhs,
                        rhs,
                        &mut sums,
                        t0,
                        t_end,
                        c0,
                        c_end,
                        block * k_block,
                        k_block,
                        tiling,
                    );
                }
                if comptime!(k % k_block > 0) {
                    let (rest_start, rest) = comptime!((k - k % k_block, k % k_block));
                    sum_block::<F, A, B, N>(lhs, rhs, &mut sums, t0, t_end, c0, c_end, rest_start, rest, tiling);
                }
                for c in c0..c_end {
                    for t in t0..t_end {
                        let tile = stored_tile::<F, N>(&sums, ((c - c0) * panel + t - t0) * tile_sums, tiling);
                        nn_finish::<F, A, Half, N>(
                            lhs,
                            vectors,
                            halves,
                            scalars,
                            half_scalars,
                            outputs,
                            half_outputs,
                            row_outputs,
                            half_row_outputs,
                            t * rows,
                            c,
                            &tile,
                            tiling,
                            epilogue.0,
                            row_epilogue.0,
                        );
                    }
                }
            } else {
                let row = (pos / column_tiles) * rows;
                let col = pos % column_tiles;
                let tile = nn_tile::<F, A, B, N>(
                    lhs,
                    rhs,
                    row,
                    col,
                    0,
                    m,
                    k,
                    a_row,
                    a_col,
                    b_row,
                    b_col,
                    lanes,
                    columns,
                    vectors_wide,
                    rows,
                );
                nn_finish::<F, A, Half, N>(
                    lhs,
                    vectors,
                    halves,
                    scalars,
                    half_scalars,
                    outputs,
                    half_outputs,
                    row_outputs,
                    half_row_outputs,
                    row,
                    col,
                    &tile,
                    tiling,
                    epilogue.0,
                    row_epilogue.0,
                );
            }
        }
        start = claim_tiles(claims, items, chunk, host_memory);
        if start >= items {
            break;
        }
        end = start + chunk;
        if end > items {
            end = items;
        }
    }
}

/// Adds `count` terms of k from `k_start` to the sums of the work item's tiles: row tiles
/// `t0..t_end` by column tiles `c0..c_end`, tile (t, c) at `((c - c0) * panel + t - t0)`
/// times `rows * vectors` (see [`NnTiling::k_block`]).
#[cube]
#[allow(clippy::too_many_arguments)]
fn sum_block<F: Float, A: Float, B: Float, N: Size>(
    lhs: &[A],
    rhs: &[Vector<B, N>],
    sums: &mut Array<Vector<F, N>>,
    t0: usize,
    t_end: usize,
    c0: usize,
    c_end: usize,
    k_start: usize,
    #[comptime] count: usize,
    #[comptime] tiling: NnTiling,
) {
    let tile_sums = comptime!(tiling.rows * tiling.vectors);
    for c in c0..c_end {
        for t in t0..t_end {
            let tile = nn_tile::<F, A, B, N>(
                lhs,
                rhs,
                t * tiling.rows,
                c,
                k_start,
                tiling.m,
                count,
                tiling.a_row,
                tiling.a_col,
                tiling.b_row,
                tiling.b_col,
                tiling.lanes,
                tiling.columns,
                tiling.vectors,
                tiling.rows,
            );
            add_tile::<F, N>(sums, ((c - c0) * tiling.panel + t - t0) * tile_sums, &tile, tiling);
        }
    }
}

/// Adds the accumulators `tile` uses to `sums[base..base + rows * vectors]`: rows 0-5 of the
/// first vector from `base`, its rows 6-11 from `base + 6`, then the same of the second
/// vector from `base + rows`.
#[cube]
fn add_tile<F: Float, N: Size>(
    sums: &mut Array<Vector<F, N>>,
    base: usize,
    tile: &NnTile<F, N>,
    #[comptime] tiling: NnTiling,
) {
    let second = comptime!(tiling.rows);
    sums[base] += tile.acc0;
    sums[base + 1] += tile.acc1;
    sums[base + 2] += tile.acc2;
    sums[base + 3] += tile.acc3;
    sums[base + 4] += tile.acc4;
    sums[base + 5] += tile.acc5;
    if comptime!(tiling.rows == 12) {
        sums[base + 6] += tile.bcc0;
        sums[base + 7] += tile.bcc1;
        sums[base + 8] += tile.bcc2;
        sums[base + 9] += tile.bcc3;
        sums[base + 10] += tile.bcc4;
        sums[base + 11] += tile.bcc5;
    }
    if comptime!(tiling.vectors == 2) {
        sums[base + second] += tile.ccc0;
        sums[base + second + 1] += tile.ccc1;
        sums[base + second + 2] += tile.ccc2;
        sums[base + second + 3] += tile.ccc3;
        sums[base + second + 4] += tile.ccc4;
        sums[base + second + 5] += tile.ccc5;
        if comptime!(tiling.rows == 12) {
            sums[base + second + 6] += tile.dcc0;
            sums[base + second + 7] += tile.dcc1;
            sums[base + second + 8] += tile.dcc2;
            sums[base + second + 9] += tile.dcc3;
            sums[base + second + 10] += tile.dcc4;
            sums[base + second + 11] += tile.dcc5;
        }
    }
}

/// The tile whose accumulators [`add_tile`] summed from `base`; those its shape does not use
/// are 0.
#[cube]
fn stored_tile<F: Float, N: Size>(
    sums: &Array<Vector<F, N>>,
    base: usize,
    #[comptime] tiling: NnTiling,
) -> NnTile<F, N> {
    let zero = Vector::<F, N>::new(F::new(0.0));
    let mut tile = NnTile::<F, N> {
        acc0: sums[base],
        acc1: sums[base + 1],
        acc2: sums[base + 2],
        acc3: sums[base + 3],
        acc4: sums[base + 4],
        acc5: sums[base + 5],
        bcc0: zero,
        bcc1: zero,
        bcc2: zero,
        bcc3: zero,
        bcc4: zero,
        bcc5: zero,
        ccc0: zero,
        ccc1: zero,
        ccc2: zero,
        ccc3: zero,
        ccc4: zero,
        ccc5: zero,
        dcc0: zero,
        dcc1: zero,
        dcc2: zero,
        dcc3: zero,
        dcc4: zero,
        dcc5: zero,
    };
    let second = comptime!(tiling.rows);
    if comptime!(tiling.rows == 12) {
        tile.bcc0 = sums[base + 6];
        tile.bcc1 = sums[base + 7];
        tile.bcc2 = sums[base + 8];
        tile.bcc3 = sums[base + 9];
        tile.bcc4 = sums[base + 10];
        tile.bcc5 = sums[base + 11];
    }
    if comptime!(tiling.vectors == 2) {
        tile.ccc0 = sums[base + second];
        tile.ccc1 = sums[base + second + 1];
        tile.ccc2 = sums[base + second + 2];
        tile.ccc3 = sums[base + second + 3];
        tile.ccc4 = sums[base + second + 4];
        tile.ccc5 = sums[base + second + 5];
        if comptime!(tiling.rows == 12) {
            tile.dcc0 = sums[base + second + 6];
            tile.dcc1 = sums[base + second + 7];
            tile.dcc2 = sums[base + second + 8];
            tile.dcc3 = sums[base + second + 9];
            tile.dcc4 = sums[base + second + 10];
            tile.dcc5 = sums[base + second + 11];
        }
    }
    tile
}

/// The epilogue of the NN tile at rows `row..row + rows` and tile column `col`, and, for the
/// tiles of the first column, the row epilogue on the sums of their rows of `a`.
#[cube]
#[allow(clippy::too_many_arguments)]
fn nn_finish<F: Float, A: Float, Half: Float, N: Size>(
    lhs: &[A],
    vectors: &Sequence<Box<[Vector<F, N>]>>,
    halves: &Sequence<Box<[Vector<Half, N>]>>,
    scalars: &Sequence<Box<[F]>>,
    half_scalars: &Sequence<Box<[Half]>>,
    outputs: &mut Sequence<Box<[Vector<F, N>]>>,
    half_outputs: &mut Sequence<Box<[Vector<Half, N>]>>,
    row_outputs: &mut Sequence<Box<[F]>>,
    half_row_outputs: &mut Sequence<Box<[Half]>>,
    row: usize,
    col: usize,
    tile: &NnTile<F, N>,
    #[comptime] tiling: NnTiling,
    #[comptime] epilogue: &'static [Step],
    #[comptime] row_epilogue: &'static [Step],
) {
    let (m, k, a_row, a_col) = comptime!((tiling.m, tiling.k, tiling.a_row, tiling.a_col));
    let (columns, rows) = comptime!((tiling.columns, tiling.rows));
    let first = col * comptime!(tiling.vectors);
    nn_column::<F, Half, N>(
        vectors,
        halves,
        scalars,
        half_scalars,
        outputs,
        half_outputs,
        row,
        first,
        tile.acc0,
        tile.acc1,
        tile.acc2,
        tile.acc3,
        tile.acc4,
        tile.acc5,
        tiling,
        epilogue,
    );
    if comptime!(tiling.rows == 12) {
        nn_column::<F, Half, N>(
            vectors,
            halves,
            scalars,
            half_scalars,
            outputs,
            half_outputs,
            row + 6,
            first,
            tile.bcc0,
            tile.bcc1,
            tile.bcc2,
            tile.bcc3,
            tile.bcc4,
            tile.bcc5,
            tiling,
            epilogue,
        );
    }
    // An odd number of vectors a row leaves the last tile's second vector out.
    if comptime!(tiling.vectors == 2) {
        if first + 1 < columns {
            nn_column::<F, Half, N>(
                vectors,
                halves,
                scalars,
                half_scalars,
                outputs,
                half_outputs,
                row,
                first + 1,
                tile.ccc0,
                tile.ccc1,
                tile.ccc2,
                tile.ccc3,
                tile.ccc4,
                tile.ccc5,
                tiling,
                epilogue,
            );
            if comptime!(tiling.rows == 12) {
                nn_column::<F, Half, N>(
                    vectors,
                    halves,
                    scalars,
                    half_scalars,
                    outputs,
                    half_outputs,
                    row + 6,
                    first + 1,
                    tile.dcc0,
                    tile.dcc1,
                    tile.dcc2,
                    tile.dcc3,
                    tile.dcc4,
                    tile.dcc5,
                    tiling,
                    epilogue,
                );
            }
        }
    }
    // The tiles of the first column sum their rows of `a` and run the row epilogue on each
    // sum.
    if comptime!(!row_epilogue.is_empty()) {
        if col == 0 {
            #[unroll]
            for t in 0..rows {
                let r = row + t;
                if r < m {
                    let mut sum = F::new(0.0);
                    for q in 0..k {
                        sum += F::cast_from(lhs[r * a_row + q * a_col]);
                    }
                    let totals = single::<F, N>(Vector::new(sum));
                    run_row_steps::<F, Half, N>(
                        scalars,
                        half_scalars,
                        row_outputs,
                        half_row_outputs,
                        r,
                        &totals,
                        row_epilogue,
                    );
                }
            }
        }
    }
}

/// The epilogue on vector column `c` at rows `row..row + 6` (those below `m`).
#[cube]
#[allow(clippy::too_many_arguments)]
fn nn_column<F: Float, Half: Float, N: Size>(
    vectors: &Sequence<Box<[Vector<F, N>]>>,
    halves: &Sequence<Box<[Vector<Half, N>]>>,
    scalars: &Sequence<Box<[F]>>,
    half_scalars: &Sequence<Box<[Half]>>,
    outputs: &mut Sequence<Box<[Vector<F, N>]>>,
    half_outputs: &mut Sequence<Box<[Vector<Half, N>]>>,
    row: usize,
    c: usize,
    acc0: Vector<F, N>,
    acc1: Vector<F, N>,
    acc2: Vector<F, N>,
    acc3: Vector<F, N>,
    acc4: Vector<F, N>,
    acc5: Vector<F, N>,
    #[comptime] tiling: NnTiling,
    #[comptime] epilogue: &'static [Step],
) {
    let (m, columns) = comptime!((tiling.m, tiling.columns));
    let base = row * columns + c;
    if row < m {
        run_epilogue::<F, Half, N>(vectors, halves, scalars, half_scalars, outputs, half_outputs, base, acc0, epilogue);
    }
    if row + 1 < m {
        run_epilogue::<F, Half, N>(
            vectors,
            halves,
            scalars,
            half_scalars,
            outputs,
            half_outputs,
            base + columns,
            acc1,
            epilogue,
        );
    }
    if row + 2 < m {
        run_epilogue::<F, Half, N>(
            vectors,
            halves,
            scalars,
            half_scalars,
            outputs,
            half_outputs,
            base + 2 * columns,
            acc2,
            epilogue,
        );
    }
    if row + 3 < m {
        run_epilogue::<F, Half, N>(
            vectors,
            halves,
            scalars,
            half_scalars,
            outputs,
            half_outputs,
            base + 3 * columns,
            acc3,
            epilogue,
        );
    }
    if row + 4 < m {
        run_epilogue::<F, Half, N>(
            vectors,
            halves,
            scalars,
            half_scalars,
            outputs,
            half_outputs,
            base + 4 * columns,
            acc4,
            epilogue,
        );
    }
    if row + 5 < m {
        run_epilogue::<F, Half, N>(
            vectors,
            halves,
            scalars,
            half_scalars,
            outputs,
            half_outputs,
            base + 5 * columns,
            acc5,
            epilogue,
        );
    }
}

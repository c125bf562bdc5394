//! Row gathers and their adjoint: an embedding looks up the rows of its table at a batch's
//! ids, and its weight gradient sums the incoming rows back into the table at those ids. A
//! pick gathers one score per position, at its label (a loss's score of the right class).
//! Rows are `width` vectors long; ids are in `0..vocab`, as `u32` (token ids, which the
//! trainer checks on upload) or as floats computed on the device (an `argmax`). Both run over
//! contiguous chunks of their work per unit, as generated kernels do.

// `#[cube]` generates a launch module and a kernel struct per function, without docs.
#![allow(missing_docs)]

use crate::steps::{axes_offset, Axis};
use cubecl::prelude::*;

/// The shape of a gather or scatter: `rows` ids, each naming a row of `width` vectors in a
/// table of `vocab` rows; the id `padding` names none (`vocab` where no id pads).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Rows {
    pub rows: usize,
    pub width: usize,
    pub vocab: usize,
    pub padding: usize,
}

/// The shape of a pick: `rows` positions, each with `classes` scores. Position `r`'s scores
/// start at `start` plus the offset [`Axis`] list `rows_at` gives for `r` (as a gather's
/// [`crate::steps::Axes`] do), `class_stride` apart: the scores may be a view (the logits of a
/// sequence, stored step-major) as well as a row-major buffer.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Picks {
    pub rows: usize,
    pub classes: usize,
    pub rows_at: &'static [Axis],
    pub class_stride: usize,
    pub start: usize,
}

/// `out[r]` = position `r`'s score at class `labels[r]` (0 where the label is not a class),
/// in vectors one lane wide.
#[allow(clippy::manual_div_ceil)]
#[cube(launch_unchecked)]
pub fn pick<F: Float, I: Numeric, N: Size>(
    scores: &[Vector<F, N>],
    labels: &[I],
    out: &mut [Vector<F, N>],
    #[comptime] picks: Picks,
) {
    let units = CUBE_COUNT * usize::cast_from(CUBE_DIM);
    let chunk = (picks.rows + units - 1) / units;
    let start = ABSOLUTE_POS * chunk;
    for r in start..start + chunk {
        if r < picks.rows {
            let class = row_of::<I>(labels[r], picks.classes, picks.classes);
            if class == picks.classes {
                out[r] = Vector::new(F::new(0.0));
            } else {
                out[r] = scores[axes_offset(r, picks.rows_at) + class * picks.class_stride + picks.start];
            }
        }
    }
}

/// `out[r] = table[ids[r]]` for every row `r` (zeros where `ids[r]` names no row, see
/// [`row_of`]), one vector of a row per index.
// `work` is comptime and `units` a runtime value: CubeCL has no `div_ceil` of the two; a
// cube loop runs over a range, not an iterator.
#[allow(clippy::manual_div_ceil, clippy::needless_range_loop)]
#[cube(launch_unchecked)]
pub fn gather_rows<F: Float, I: Numeric, N: Size>(
    table: &[Vector<F, N>],
    ids: &[I],
    out: &mut [Vector<F, N>],
    #[comptime] shape: Rows,
) {
    let work = comptime!(shape.rows * shape.width);
    let units = CUBE_COUNT * usize::cast_from(CUBE_DIM);
    let chunk = (work + units - 1) / units;
    let start = ABSOLUTE_POS * chunk;
    for i in start..start + chunk {
        if i < work {
            let r = i / shape.width;
            let q = i % shape.width;
            let row = row_of::<I>(ids[r], shape.vocab, shape.padding);
            if row == shape.vocab {
                out[i] = Vector::new(F::new(0.0));
            } else {
                out[i] = table[row * shape.width + q];
            }
        }
    }
}

/// `out[v] = Σ rows[r] over the r with ids[r] = v`, for every table row `v` (the padding row,
/// which no id names, stays zero; see [`row_of`]). Each unit owns
/// a contiguous range of table rows: it zeroes them, then scans every id once and adds the
/// rows whose id falls in its range. So no two units write one row, the sum's order is fixed
/// (no atomics: the same result every run), and a launch reads `units * rows` ids, not the
/// `vocab * rows * width` multiply-adds of a one-hot product.
#[allow(clippy::manual_div_ceil, clippy::needless_range_loop)]
#[cube(launch_unchecked)]
pub fn scatter_add_rows<F: Float, I: Numeric, N: Size>(
    rows: &[Vector<F, N>],
    ids: &[I],
    out: &mut [Vector<F, N>],
    #[comptime] shape: Rows,
) {
    let units = CUBE_COUNT * usize::cast_from(CUBE_DIM);
    let chunk = (shape.vocab + units - 1) / units;
    let start = ABSOLUTE_POS * chunk;
    let mut end = start + chunk;
    if end > shape.vocab {
        end = shape.vocab;
    }
    if start < end {
        for i in start * shape.width..end * shape.width {
            out[i] = Vector::new(F::new(0.0));
        }
        for r in 0..shape.rows {
            let v = row_of::<I>(ids[r], shape.vocab, shape.padding);
            if v >= start && v < end {
                for q in 0..shape.width {
                    out[v * shape.width + q] += rows[r * shape.width + q];
                }
            }
        }
    }
}

/// The row of `vocab` that `id` names, or `vocab` for none: the `padding` id, and ids outside
/// `0..vocab` (computed ids are not checked on the host, so a stray one reads nothing rather
/// than out of bounds).
#[cube]
fn row_of<I: Numeric>(id: I, #[comptime] vocab: usize, #[comptime] padding: usize) -> usize {
    let last = I::from_int(comptime!(vocab as i64));
    // Cast only an id in range: a negative float's cast to `usize` is undefined.
    let mut row = usize::cast_from(select(id >= I::from_int(0) && id < last, id, last));
    if row == padding {
        row = vocab;
    }
    row
}

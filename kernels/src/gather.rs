//! Row gathers and their adjoint: an embedding looks up the rows of its table at a batch's
//! ids, and its weight gradient sums the incoming rows back into the table at those ids.
//! Rows are `width` vectors long; ids are in `0..vocab`, as `u32` (token ids, which the
//! trainer checks on upload) or as floats computed on the device (an `argmax`). Both run over
//! contiguous chunks of their work per unit, as generated kernels do.

// `#[cube]` generates a launch module and a kernel struct per function, without docs.
#![allow(missing_docs)]

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
            let row = row_of::<I>(ids[r], shape);
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
            let v = row_of::<I>(ids[r], shape);
            if v >= start && v < end {
                for q in 0..shape.width {
                    out[v * shape.width + q] += rows[r * shape.width + q];
                }
            }
        }
    }
}

/// The table row `id` names, or `vocab` for none: the padding id, and ids outside
/// `0..vocab` (computed ids are not checked on the host, so a stray one reads nothing rather
/// than out of bounds).
#[cube]
fn row_of<I: Numeric>(id: I, #[comptime] shape: Rows) -> usize {
    let vocab = I::from_int(comptime!(shape.vocab as i64));
    // Cast only an id in range: a negative float's cast to `usize` is undefined.
    let mut row = usize::cast_from(select(id >= I::from_int(0) && id < vocab, id, vocab));
    if row == shape.padding {
        row = shape.vocab;
    }
    row
}

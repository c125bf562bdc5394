//! Row gathers and their adjoint: an embedding looks up the rows of its table at a batch's
//! ids, and its weight gradient sums the incoming rows back into the table at those ids.
//! Rows are `width` vectors long; ids are `u32` in `0..vocab` (the trainer checks them on
//! upload). Both run over contiguous chunks of their work per unit, as generated kernels do.

// `#[cube]` generates a launch module and a kernel struct per function, without docs.
#![allow(missing_docs)]

use cubecl::prelude::*;

/// The shape of a gather or scatter: `rows` ids, each naming a row of `width` vectors in a
/// table of `vocab` rows; the id `padding` names none (`vocab` or above where no id pads).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Rows {
    pub rows: usize,
    pub width: usize,
    pub vocab: usize,
    pub padding: usize,
}

/// `out[r] = table[ids[r]]` for every row `r` (zeros where `ids[r]` is the padding id), one
/// vector of a row per index.
// `work` is comptime and `units` a runtime value: CubeCL has no `div_ceil` of the two; a
// cube loop runs over a range, not an iterator.
#[allow(clippy::manual_div_ceil, clippy::needless_range_loop)]
#[cube(launch_unchecked)]
pub fn gather_rows<F: Float, N: Size>(
    table: &[Vector<F, N>],
    ids: &[u32],
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
            let id = usize::cast_from(ids[r]);
            if id == shape.padding {
                out[i] = Vector::new(F::new(0.0));
            } else {
                out[i] = table[id * shape.width + q];
            }
        }
    }
}

/// `out[v] = Σ rows[r] over the r with ids[r] = v`, for every table row `v` but the padding
/// one, which stays zero. Each unit owns
/// a contiguous range of table rows: it zeroes them, then scans every id once and adds the
/// rows whose id falls in its range. So no two units write one row, the sum's order is fixed
/// (no atomics: the same result every run), and a launch reads `units * rows` ids, not the
/// `vocab * rows * width` multiply-adds of a one-hot product.
#[allow(clippy::manual_div_ceil, clippy::needless_range_loop)]
#[cube(launch_unchecked)]
pub fn scatter_add_rows<F: Float, N: Size>(
    rows: &[Vector<F, N>],
    ids: &[u32],
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
            let v = usize::cast_from(ids[r]);
            if v >= start && v < end && v != shape.padding {
                for q in 0..shape.width {
                    out[v * shape.width + q] += rows[r * shape.width + q];
                }
            }
        }
    }
}

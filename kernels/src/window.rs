//! The unfold template (im2col): a convolution's input gathered into its windows' taps, or
//! copied into another layout with zero padding around it; and the fold template (col2im),
//! which sums the taps back onto the input's positions, its fused producers run per tap. A comptime [`UnfoldLayout`] says how
//! the output is stored and which coordinates each unit takes; the JIT sees every extent and
//! stride as a constant, as it did in the kernel kiln wrote for each layout.

// `#[cube]` generates a launch module and a kernel struct per function, without docs.
#![allow(missing_docs)]

use crate::reduction::Loop;
use crate::steps::{convert, run_steps, write};
use cubecl::prelude::*;

/// A coordinate of an unfold's output: the image, the window's row, the channel and the tap.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Coord {
    N,
    Oh,
    C,
    Kh,
    Kw,
}

/// An unfold of an input `[n, c, h, w]` (strides `source`) into `[n, oh, ow, c, kh, kw]`
/// (strides `out`), reading the windows at `stride` and `dilation`, `top` and `left` rows and
/// columns of `pad` before the input. A unit takes one value of each of `units` (coordinate,
/// extent, output stride; outermost first) and writes every `ow`, then every `oh` where
/// `planes`, and every `n` (innermost) where `batch_inner`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct UnfoldLayout {
    pub units: &'static [(Coord, usize, usize)],
    pub planes: bool,
    pub batch_inner: bool,
    pub n: usize,
    pub oh: usize,
    pub ow: usize,
    pub h: usize,
    pub w: usize,
    pub stride: [usize; 2],
    pub dilation: [usize; 2],
    pub top: usize,
    pub left: usize,
    /// Whether any tap reads outside the input.
    pub padded: bool,
    /// The value outside the input, as the bits of an `f32` (`-inf`: the lowest).
    pub pad: u32,
    pub source: [usize; 4],
    pub out: [usize; 3],
}

/// Runs the unfold `layout` for every unit index, each unit over a contiguous chunk of them:
/// reads `input` in `I`, stores `output` in `O` (see `crate::steps::convert`).
// `work` is comptime and `units` a runtime value: CubeCL has no `div_ceil` of the two;
// `#[unroll]` unrolls a range, not an iterator.
#[allow(clippy::manual_div_ceil, clippy::needless_range_loop)]
#[cube(launch_unchecked)]
pub fn unfold<I: Float, O: Float, N: Size>(
    input: &[Vector<I, N>],
    output: &mut [Vector<O, N>],
    #[comptime] layout: UnfoldLayout,
) {
    let work = comptime!(layout.units.iter().map(|u| u.1).product::<usize>());
    let units = CUBE_COUNT * usize::cast_from(CUBE_DIM);
    let chunk = (work + units - 1) / units;
    let start = ABSOLUTE_POS * chunk;
    for i in start..start + chunk {
        if i < work {
            // The unit's index is row-major over `units`.
            let mut coords = Sequence::<usize>::new();
            let mut base = 0usize;
            #[unroll]
            for d in 0..layout.units.len() {
                let (_, size, stride) = comptime!(layout.units[d]);
                let divisor = comptime!(layout.units[d + 1..].iter().map(|u| u.1).product::<usize>());
                let value = (i / divisor) % size;
                base += value * stride;
                coords.push(value);
            }
            let n = coordinate(&coords, Coord::N, layout);
            let c = coordinate(&coords, Coord::C, layout);
            let kh = coordinate(&coords, Coord::Kh, layout);
            let kw = coordinate(&coords, Coord::Kw, layout);
            if comptime!(layout.planes) {
                for oh in 0..layout.oh {
                    unfold_row::<I, O, N>(input, output, base, n, oh, c, kh, kw, layout);
                }
            } else {
                let oh = coordinate(&coords, Coord::Oh, layout);
                unfold_row::<I, O, N>(input, output, base, n, oh, c, kh, kw, layout);
            }
        }
    }
}

/// The unit's value of `coord` (0 where the unit does not take it), from `coords`, which
/// holds them in the order of `units`.
#[cube]
fn coordinate(coords: &Sequence<usize>, #[comptime] coord: Coord, #[comptime] layout: UnfoldLayout) -> usize {
    let position = comptime!(layout.units.iter().position(|u| u.0 == coord));
    let mut value = 0usize;
    if comptime!(position.is_some()) {
        value = *coords.index(comptime!(position.unwrap()));
    }
    value
}

/// The taps of row `oh` of the window `(kh, kw)` of channel `c` (of image `n`, or of every
/// image where `batch_inner`), written from `base`.
#[cube]
#[allow(clippy::too_many_arguments)]
fn unfold_row<I: Float, O: Float, N: Size>(
    input: &[Vector<I, N>],
    output: &mut [Vector<O, N>],
    base: usize,
    n: usize,
    oh: usize,
    c: usize,
    kh: usize,
    kw: usize,
    #[comptime] layout: UnfoldLayout,
) {
    let [o0, o1, o2] = comptime!(layout.out);
    let y = oh * layout.stride[0] + kh * layout.dilation[0];
    let row = if comptime!(layout.planes) { base + oh * o1 } else { base };
    for ow in 0..layout.ow {
        let x = ow * layout.stride[1] + kw * layout.dilation[1];
        if comptime!(layout.batch_inner) {
            for image in 0..layout.n {
                output[row + ow * o2 + image * o0] = convert::<I, O, N>(tap::<I, N>(input, image, c, y, x, layout));
            }
        } else {
            output[row + ow * o2] = convert::<I, O, N>(tap::<I, N>(input, n, c, y, x, layout));
        }
    }
}

/// The input at padded coordinates `(y, x)` of channel `c` of image `n`, or the pad value.
#[cube]
fn tap<F: Float, N: Size>(
    input: &[Vector<F, N>],
    n: usize,
    c: usize,
    y: usize,
    x: usize,
    #[comptime] layout: UnfoldLayout,
) -> Vector<F, N> {
    let [s0, s1, s2, s3] = comptime!(layout.source);
    let (top, left) = comptime!((layout.top, layout.left));
    let mut value = if comptime!(f32::from_bits(layout.pad) == f32::NEG_INFINITY) {
        Vector::<F, N>::min_value()
    } else {
        Vector::<F, N>::new(F::new(comptime!(f32::from_bits(layout.pad))))
    };
    if comptime!(layout.padded) {
        if y >= top && y < top + layout.h && x >= left && x < left + layout.w {
            value = input[n * s0 + c * s1 + (y - top) * s2 + (x - left) * s3];
        }
    } else {
        value = input[n * s0 + c * s1 + y * s2 + x * s3];
    }
    value
}

/// A fold (col2im, a convolution's input gradient from its taps) of taps `[n, oh, ow, c, kh,
/// kw]` into an output `[n, c, h, w]` (contiguous): each output element sums the taps whose
/// window, at `stride` and `dilation` with `top` and `left` rows and columns of padding, lands
/// on it. A tap is `tap`'s value (`Combine` is unused): its steps (the fold's fused
/// producers) run with the index of its window, `(n, oh, ow)` row-major, as the gathers' first
/// index, and its place among the window's taps, `(c, kh, kw)` row-major, as their second.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct FoldLayout {
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub oh: usize,
    pub ow: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: [usize; 2],
    pub dilation: [usize; 2],
    pub top: usize,
    pub left: usize,
    pub tap: Loop,
}

/// Runs the fold `layout`: unit `i` fills row `i` of the output (one image, channel and
/// `y`) along `x`, storing output 0 of `outputs` (or of its half twin); the taps read
/// `vectors` and `scalars`, with their half twins (see `crate::steps::read`).
// CubeCL expands `%`, not `is_multiple_of`.
#[allow(clippy::manual_is_multiple_of, clippy::too_many_arguments)]
#[cube(launch_unchecked)]
pub fn fold<F: Float, Half: Float, N: Size>(
    vectors: &Sequence<Box<[Vector<F, N>]>>,
    halves: &Sequence<Box<[Vector<Half, N>]>>,
    scalars: &Sequence<Box<[F]>>,
    half_scalars: &Sequence<Box<[Half]>>,
    outputs: &mut Sequence<Box<[Vector<F, N>]>>,
    half_outputs: &mut Sequence<Box<[Vector<Half, N>]>>,
    #[comptime] layout: FoldLayout,
) {
    let FoldLayout { n, c, h, w, oh, ow, kh, kw, stride, dilation, top, left, tap } = layout;
    let i = ABSOLUTE_POS;
    let labels = Sequence::new();
    let none = Sequence::new();
    if i < comptime!(n * c * h) {
        let image = i / comptime!(c * h);
        let channel = (i / h) % c;
        let py = i % h + top;
        // A tap's steps run at its window's index (`e`) and its place among the window's taps
        // (`q`): sums of independent products, and no division in the gathers' outermost axes.
        let first_window = image * comptime!(oh * ow);
        let first_tap = channel * comptime!(kh * kw);
        for x in 0..w {
            let px = x + left;
            let mut acc = Vector::<F, N>::new(F::new(0.0));
            // Tap `ky` of window row `wy` lands on `py` when `py = wy * stride + ky * dilation`.
            // Undilated, only the taps `py % stride + t * stride` can: those are the ones tried.
            for ty in 0..comptime!(tried_taps(kh, stride[0], dilation[0])) {
                let ky = tried_tap(py, ty, stride[0], dilation[0]);
                let dy = ky * comptime!(dilation[0]);
                if ky < kh && py >= dy && (py - dy) % comptime!(landing_step(stride[0], dilation[0])) == 0 {
                    let wy = (py - dy) / comptime!(stride[0]);
                    if wy < oh {
                        for tx in 0..comptime!(tried_taps(kw, stride[1], dilation[1])) {
                            let kx = tried_tap(px, tx, stride[1], dilation[1]);
                            let dx = kx * comptime!(dilation[1]);
                            if kx < kw && px >= dx && (px - dx) % comptime!(landing_step(stride[1], dilation[1])) == 0 {
                                let wx = (px - dx) / comptime!(stride[1]);
                                if wx < ow {
                                    let e = first_window + wy * ow + wx;
                                    let q = first_tap + ky * kw + kx;
                                    let element = e * comptime!(c * kh * kw) + q;
                                    let values = run_steps::<F, Half, N>(
                                        vectors,
                                        halves,
                                        scalars,
                                        half_scalars,
                                        &labels,
                                        outputs,
                                        half_outputs,
                                        element,
                                        e,
                                        q,
                                        &none,
                                        tap.steps,
                                    );
                                    acc += *values.index(tap.value);
                                }
                            }
                        }
                    }
                }
            }
            write::<F, Half, N>(outputs, half_outputs, i * w + x, acc, 0usize);
        }
    }
}

/// The taps of a window of `size` a fold tries per output position: undilated, the
/// `size / stride` (rounded up) that can land on it; dilated, all of them.
fn tried_taps(size: usize, stride: usize, dilation: usize) -> usize {
    match dilation {
        1 => size.div_ceil(stride),
        _ => size,
    }
}

/// The `t`th tap a fold tries at position `p` (see [`tried_taps`]).
#[cube]
fn tried_tap(p: usize, t: usize, #[comptime] stride: usize, #[comptime] dilation: usize) -> usize {
    if comptime!(dilation == 1) {
        p % stride + t * stride
    } else {
        t
    }
}

/// What a tried tap's offset must be a multiple of to land on a window's start: undilated,
/// 1, as [`tried_tap`] tries only those that do; dilated, the stride.
fn landing_step(stride: usize, dilation: usize) -> usize {
    match dilation {
        1 => 1,
        _ => stride,
    }
}

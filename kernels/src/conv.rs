//! Direct convolution with the batch innermost (`[channels, height, width, batch]`): every tap
//! of a window is then one aligned vector read along the batch, so no im2col buffer is written
//! and read back. Stride 1, no dilation. [`conv_forward`] pads implicitly (taps outside the
//! input are skipped); [`conv_weight_grad`] reads an input padded once by
//! [`to_batch_innermost`]. An input gradient is [`conv_forward`] of the output gradient padded
//! by `k - 1 - pad`, with the weights flipped and their channel axes swapped.

// `#[cube]` generates a launch module and a kernel struct per function, without docs.
#![allow(missing_docs)]

use crate::lanes::lane_sum;
use crate::matmul::clamped;
use cubecl::prelude::*;

/// `xp[c][y][x][b]`: the `[batch, c, h, w]` images `x` with `pad` zeros around each plane
/// (`hp = h + 2 pad`, `wp = w + 2 pad`). One unit per padded row `(c, y)`.
#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
pub fn to_batch_innermost<F: Float>(
    x: &[F],
    xp: &mut [F],
    #[comptime] batch: usize,
    #[comptime] c: usize,
    #[comptime] h: usize,
    #[comptime] w: usize,
    #[comptime] pad: usize,
) {
    let (hp, wp) = (h + 2 * pad, w + 2 * pad);
    let row = ABSOLUTE_POS;
    if row < c * hp {
        let ch = row / hp;
        let y = row % hp;
        for px in 0..wp {
            for b in 0..batch {
                let mut value = F::new(0.0);
                if y >= pad && y < h + pad && px >= pad && px < w + pad {
                    value = x[((b * c + ch) * h + y - pad) * w + px - pad];
                }
                xp[(row * wp + px) * batch + b] = value;
            }
        }
    }
}

/// `out[o][y][x][b] = sum over (c, i, j) of w[o][c][i][j] * x[c][y + i - pad][x + j - pad][b]`,
/// with `x` of `h` by `wd` positions and zero outside them (taps there are skipped), and `bv`
/// vectors along the batch (even). With `flip`, the weights are those of the convolution whose
/// input gradient this is: `w[c][o][k - 1 - i][k - 1 - j]` of a `[c_in, c_out, k, k]` buffer.
/// Each unit computes `rows` (4 or 6) output channels by 2 vectors of one position: `2 rows`
/// multiply-adds per 2 vector reads and `rows` weights (channels past `c_out` repeat the last
/// one and are not stored). 6 rows for 6 channels, where 4 would compute 8: LeNet-5's conv1
/// 0.110 -> 0.089 ms, conv2's input gradient 0.233 -> 0.165 ms (`conv_layout`).
#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
pub fn conv_forward<F: Float, N: Size>(
    x: &[Vector<F, N>],
    w: &[F],
    out: &mut [Vector<F, N>],
    #[comptime] c_in: usize,
    #[comptime] c_out: usize,
    #[comptime] h: usize,
    #[comptime] wd: usize,
    #[comptime] k: usize,
    #[comptime] pad: usize,
    #[comptime] bv: usize,
    #[comptime] rows: usize,
    #[comptime] flip: bool,
) {
    let (oh, ow, pairs) = (h + 2 * pad - k + 1, wd + 2 * pad - k + 1, bv / 2);
    let pos = ABSOLUTE_POS;
    if pos < c_out.div_ceil(rows) * oh * ow * pairs {
        let pair = pos % pairs;
        let px = (pos / pairs) % ow;
        let py = (pos / (pairs * ow)) % oh;
        let o0 = (pos / (pairs * ow * oh)) * rows;
        let o1 = clamped(o0 + 1, c_out);
        let o2 = clamped(o0 + 2, c_out);
        let o3 = clamped(o0 + 3, c_out);
        let o4 = clamped(o0 + 4, c_out);
        let o5 = clamped(o0 + 5, c_out);
        // Rows 4 and 5 are used only when `rows == 6` (a comptime test).
        let mut a0 = Vector::<F, N>::new(F::new(0.0));
        let mut a1 = Vector::<F, N>::new(F::new(0.0));
        let mut a2 = Vector::<F, N>::new(F::new(0.0));
        let mut a3 = Vector::<F, N>::new(F::new(0.0));
        let mut a4 = Vector::<F, N>::new(F::new(0.0));
        let mut a5 = Vector::<F, N>::new(F::new(0.0));
        let mut b0 = Vector::<F, N>::new(F::new(0.0));
        let mut b1 = Vector::<F, N>::new(F::new(0.0));
        let mut b2 = Vector::<F, N>::new(F::new(0.0));
        let mut b3 = Vector::<F, N>::new(F::new(0.0));
        let mut b4 = Vector::<F, N>::new(F::new(0.0));
        let mut b5 = Vector::<F, N>::new(F::new(0.0));
        for c in 0..c_in {
            for i in 0..k {
                if py + i >= pad && py + i < h + pad {
                    for j in 0..k {
                        if px + j >= pad && px + j < wd + pad {
                            let base = ((c * h + py + i - pad) * wd + px + j - pad) * bv + pair * 2;
                            let (t0, t1) = (x[base], x[base + 1]);
                            let w0 = Vector::<F, N>::new(w[weight_index(o0, c, i, j, c_in, c_out, k, flip)]);
                            let w1 = Vector::<F, N>::new(w[weight_index(o1, c, i, j, c_in, c_out, k, flip)]);
                            let w2 = Vector::<F, N>::new(w[weight_index(o2, c, i, j, c_in, c_out, k, flip)]);
                            let w3 = Vector::<F, N>::new(w[weight_index(o3, c, i, j, c_in, c_out, k, flip)]);
                            a0 += w0 * t0;
                            a1 += w1 * t0;
                            a2 += w2 * t0;
                            a3 += w3 * t0;
                            b0 += w0 * t1;
                            b1 += w1 * t1;
                            b2 += w2 * t1;
                            b3 += w3 * t1;
                            if rows == 6 {
                                let w4 = Vector::<F, N>::new(w[weight_index(o4, c, i, j, c_in, c_out, k, flip)]);
                                let w5 = Vector::<F, N>::new(w[weight_index(o5, c, i, j, c_in, c_out, k, flip)]);
                                a4 += w4 * t0;
                                a5 += w5 * t0;
                                b4 += w4 * t1;
                                b5 += w5 * t1;
                            }
                        }
                    }
                }
            }
        }
        let plane = oh * ow * bv;
        let at = (py * ow + px) * bv + pair * 2;
        store_pair::<F, N>(out, o0 * plane + at, a0, b0);
        if o0 + 1 < c_out {
            store_pair::<F, N>(out, o1 * plane + at, a1, b1);
        }
        if o0 + 2 < c_out {
            store_pair::<F, N>(out, o2 * plane + at, a2, b2);
        }
        if o0 + 3 < c_out {
            store_pair::<F, N>(out, o3 * plane + at, a3, b3);
        }
        if rows == 6 && o0 + 4 < c_out {
            store_pair::<F, N>(out, o4 * plane + at, a4, b4);
        }
        if rows == 6 && o0 + 5 < c_out {
            store_pair::<F, N>(out, o5 * plane + at, a5, b5);
        }
    }
}

/// Where [`conv_forward`] reads the weight of output channel `o`, input channel `c` and tap
/// `(i, j)`: `[c_out, c_in, k, k]`, or flipped from `[c_in, c_out, k, k]`.
#[cube]
#[allow(clippy::too_many_arguments)]
fn weight_index(
    o: usize,
    c: usize,
    i: usize,
    j: usize,
    #[comptime] c_in: usize,
    #[comptime] c_out: usize,
    #[comptime] k: usize,
    #[comptime] flip: bool,
) -> usize {
    if flip {
        ((c * c_out + o) * k + k - 1 - i) * k + k - 1 - j
    } else {
        ((o * c_in + c) * k + i) * k + j
    }
}

/// `dw[o][c][i][j] = sum over (y, x, b) of dy[o][y][x][b] * xp[c][y + i][x + j][b]`, shapes as in
/// [`conv_forward`] with `v` lanes per vector. Each unit computes `rows` (2 or 4) output
/// channels by 4 taps `t = i * k + j` of one input channel: `4 rows` multiply-adds per
/// `rows + 4` vector reads (channels past `c_out` and taps past `k * k` repeat the last one and
/// are not stored). Taps run over the whole window, not row by row, so a 5x5 window wastes 3 of
/// 28 slots rather than 3 of 8. Accumulator `s{r}{t}` holds channel `o0 + r`, tap `t0 + t`.
#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
pub fn conv_weight_grad<F: Float, N: Size>(
    xp: &[Vector<F, N>],
    dy: &[Vector<F, N>],
    dw: &mut [F],
    #[comptime] c_in: usize,
    #[comptime] c_out: usize,
    #[comptime] hp: usize,
    #[comptime] wp: usize,
    #[comptime] k: usize,
    #[comptime] bv: usize,
    #[comptime] rows: usize,
    #[comptime] v: usize,
) {
    let (oh, ow, taps) = (hp - k + 1, wp - k + 1, k * k);
    let quads = taps.div_ceil(4);
    let pos = ABSOLUTE_POS;
    if pos < c_out.div_ceil(rows) * c_in * quads {
        let t0 = (pos % quads) * 4;
        let c = (pos / quads) % c_in;
        let o0 = (pos / (quads * c_in)) * rows;
        let o1 = clamped(o0 + 1, c_out);
        let o2 = clamped(o0 + 2, c_out);
        let o3 = clamped(o0 + 3, c_out);
        let (t1, t2, t3) = (clamped(t0 + 1, taps), clamped(t0 + 2, taps), clamped(t0 + 3, taps));
        // Each tap's offset from its window's corner in xp, in vectors.
        let x0 = ((t0 / k) * wp + t0 % k) * bv;
        let x1 = ((t1 / k) * wp + t1 % k) * bv;
        let x2 = ((t2 / k) * wp + t2 % k) * bv;
        let x3 = ((t3 / k) * wp + t3 % k) * bv;
        // Rows 2 and 3 are used only when `rows == 4` (a comptime test).
        let zero = Vector::<F, N>::new(F::new(0.0));
        let (mut s00, mut s01, mut s02, mut s03) = (zero, zero, zero, zero);
        let (mut s10, mut s11, mut s12, mut s13) = (zero, zero, zero, zero);
        let (mut s20, mut s21, mut s22, mut s23) = (zero, zero, zero, zero);
        let (mut s30, mut s31, mut s32, mut s33) = (zero, zero, zero, zero);
        let plane = oh * ow * bv;
        for y in 0..oh {
            for x in 0..ow {
                let corner = ((c * hp + y) * wp + x) * bv;
                let d = (y * ow + x) * bv;
                for l in 0..bv {
                    let (p0, p1, p2, p3) =
                        (xp[corner + x0 + l], xp[corner + x1 + l], xp[corner + x2 + l], xp[corner + x3 + l]);
                    let (d0, d1) = (dy[o0 * plane + d + l], dy[o1 * plane + d + l]);
                    s00 += d0 * p0;
                    s01 += d0 * p1;
                    s02 += d0 * p2;
                    s03 += d0 * p3;
                    s10 += d1 * p0;
                    s11 += d1 * p1;
                    s12 += d1 * p2;
                    s13 += d1 * p3;
                    if rows == 4 {
                        let (d2, d3) = (dy[o2 * plane + d + l], dy[o3 * plane + d + l]);
                        s20 += d2 * p0;
                        s21 += d2 * p1;
                        s22 += d2 * p2;
                        s23 += d2 * p3;
                        s30 += d3 * p0;
                        s31 += d3 * p1;
                        s32 += d3 * p2;
                        s33 += d3 * p3;
                    }
                }
            }
        }
        let at = c * taps + t0;
        store_sums::<F, N>(dw, o0 * c_in * taps + at, t0, taps, s00, s01, s02, s03, v);
        if o0 + 1 < c_out {
            store_sums::<F, N>(dw, o1 * c_in * taps + at, t0, taps, s10, s11, s12, s13, v);
        }
        if rows == 4 && o0 + 2 < c_out {
            store_sums::<F, N>(dw, o2 * c_in * taps + at, t0, taps, s20, s21, s22, s23, v);
        }
        if rows == 4 && o0 + 3 < c_out {
            store_sums::<F, N>(dw, o3 * c_in * taps + at, t0, taps, s30, s31, s32, s33, v);
        }
    }
}

/// The lane sums of `s0..s3` at `at` and the next 3 places, those of taps `t0 + q` below `taps`.
#[cube]
#[allow(clippy::too_many_arguments)]
fn store_sums<F: Float, N: Size>(
    dw: &mut [F],
    at: usize,
    t0: usize,
    #[comptime] taps: usize,
    s0: Vector<F, N>,
    s1: Vector<F, N>,
    s2: Vector<F, N>,
    s3: Vector<F, N>,
    #[comptime] v: usize,
) {
    dw[at] = lane_sum::<F, N>(s0, v);
    if t0 + 1 < taps {
        dw[at + 1] = lane_sum::<F, N>(s1, v);
    }
    if t0 + 2 < taps {
        dw[at + 2] = lane_sum::<F, N>(s2, v);
    }
    if t0 + 3 < taps {
        dw[at + 3] = lane_sum::<F, N>(s3, v);
    }
}

/// Two neighbouring vectors at `at`.
#[cube]
fn store_pair<F: Float, N: Size>(out: &mut [Vector<F, N>], at: usize, first: Vector<F, N>, second: Vector<F, N>) {
    out[at] = first;
    out[at + 1] = second;
}

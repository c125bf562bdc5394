//! Direct convolution with the batch innermost (`[channels, height, width, batch]`): every tap
//! of a window is then one aligned vector read along the batch, so no im2col buffer is written
//! and read back. Stride 1, no dilation; padding is applied once by [`to_batch_innermost`].
//!
//! Not yet called by generated code: the schedule still stores images batch-outermost. On
//! LeNet-5's conv1 these kernels replace the unfold, its product and the weight gradient's
//! product (`cargo run --release -p kiln-benches --example conv_layout`).

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

/// `out[o][y][x][b] = sum over (c, i, j) of w[o][c][i][j] * xp[c][y + i][x + j][b]`, with `xp`
/// padded (`hp` by `wp`) and `bv` vectors along the batch (even). Each unit computes 4 output
/// channels by 2 vectors of one position: 8 multiply-adds per 2 vector reads and 4 weights
/// (channels past `c_out` repeat the last one and are not stored).
#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
pub fn conv_forward<F: Float, N: Size>(
    xp: &[Vector<F, N>],
    w: &[F],
    out: &mut [Vector<F, N>],
    #[comptime] c_in: usize,
    #[comptime] c_out: usize,
    #[comptime] hp: usize,
    #[comptime] wp: usize,
    #[comptime] k: usize,
    #[comptime] bv: usize,
) {
    let (oh, ow, pairs, taps) = (hp - k + 1, wp - k + 1, bv / 2, c_in * k * k);
    let pos = ABSOLUTE_POS;
    if pos < c_out.div_ceil(4) * oh * ow * pairs {
        let pair = pos % pairs;
        let x = (pos / pairs) % ow;
        let y = (pos / (pairs * ow)) % oh;
        let o0 = (pos / (pairs * ow * oh)) * 4;
        let o1 = clamped(o0 + 1, c_out);
        let o2 = clamped(o0 + 2, c_out);
        let o3 = clamped(o0 + 3, c_out);
        let mut a0 = Vector::<F, N>::new(F::new(0.0));
        let mut a1 = Vector::<F, N>::new(F::new(0.0));
        let mut a2 = Vector::<F, N>::new(F::new(0.0));
        let mut a3 = Vector::<F, N>::new(F::new(0.0));
        let mut b0 = Vector::<F, N>::new(F::new(0.0));
        let mut b1 = Vector::<F, N>::new(F::new(0.0));
        let mut b2 = Vector::<F, N>::new(F::new(0.0));
        let mut b3 = Vector::<F, N>::new(F::new(0.0));
        for c in 0..c_in {
            for i in 0..k {
                for j in 0..k {
                    let base = ((c * hp + y + i) * wp + x + j) * bv + pair * 2;
                    let (t0, t1) = (xp[base], xp[base + 1]);
                    let t = (c * k + i) * k + j;
                    let w0 = Vector::<F, N>::new(w[o0 * taps + t]);
                    let w1 = Vector::<F, N>::new(w[o1 * taps + t]);
                    let w2 = Vector::<F, N>::new(w[o2 * taps + t]);
                    let w3 = Vector::<F, N>::new(w[o3 * taps + t]);
                    a0 += w0 * t0;
                    a1 += w1 * t0;
                    a2 += w2 * t0;
                    a3 += w3 * t0;
                    b0 += w0 * t1;
                    b1 += w1 * t1;
                    b2 += w2 * t1;
                    b3 += w3 * t1;
                }
            }
        }
        let plane = oh * ow * bv;
        let at = (y * ow + x) * bv + pair * 2;
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
    }
}

/// `dw[o][c][i][j] = sum over (y, x, b) of dy[o][y][x][b] * xp[c][y + i][x + j][b]`, shapes as in
/// [`conv_forward`] with `v` lanes per vector. Each unit computes 2 output channels by 4 taps
/// `j` of one `(c, i)`: 8 multiply-adds per 6 vector reads (channels past `c_out` and taps past
/// `k` repeat the last one and are not stored).
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
    #[comptime] v: usize,
) {
    let (oh, ow, quads) = (hp - k + 1, wp - k + 1, k.div_ceil(4));
    let pos = ABSOLUTE_POS;
    if pos < c_out.div_ceil(2) * c_in * k * quads {
        let j0 = (pos % quads) * 4;
        let i = (pos / quads) % k;
        let c = (pos / (quads * k)) % c_in;
        let o0 = (pos / (quads * k * c_in)) * 2;
        let o1 = clamped(o0 + 1, c_out);
        let (j1, j2, j3) = (clamped(j0 + 1, k), clamped(j0 + 2, k), clamped(j0 + 3, k));
        let mut a0 = Vector::<F, N>::new(F::new(0.0));
        let mut a1 = Vector::<F, N>::new(F::new(0.0));
        let mut a2 = Vector::<F, N>::new(F::new(0.0));
        let mut a3 = Vector::<F, N>::new(F::new(0.0));
        let mut b0 = Vector::<F, N>::new(F::new(0.0));
        let mut b1 = Vector::<F, N>::new(F::new(0.0));
        let mut b2 = Vector::<F, N>::new(F::new(0.0));
        let mut b3 = Vector::<F, N>::new(F::new(0.0));
        let plane = oh * ow * bv;
        for y in 0..oh {
            for x in 0..ow {
                let row = ((c * hp + y + i) * wp + x) * bv;
                let d = (y * ow + x) * bv;
                for q in 0..bv {
                    let (d0, d1) = (dy[o0 * plane + d + q], dy[o1 * plane + d + q]);
                    let t0 = xp[row + j0 * bv + q];
                    let t1 = xp[row + j1 * bv + q];
                    let t2 = xp[row + j2 * bv + q];
                    let t3 = xp[row + j3 * bv + q];
                    a0 += d0 * t0;
                    a1 += d0 * t1;
                    a2 += d0 * t2;
                    a3 += d0 * t3;
                    b0 += d1 * t0;
                    b1 += d1 * t1;
                    b2 += d1 * t2;
                    b3 += d1 * t3;
                }
            }
        }
        let r0 = ((o0 * c_in + c) * k + i) * k;
        let r1 = ((o1 * c_in + c) * k + i) * k;
        dw[r0 + j0] = lane_sum::<F, N>(a0, v);
        if j0 + 1 < k {
            dw[r0 + j1] = lane_sum::<F, N>(a1, v);
        }
        if j0 + 2 < k {
            dw[r0 + j2] = lane_sum::<F, N>(a2, v);
        }
        if j0 + 3 < k {
            dw[r0 + j3] = lane_sum::<F, N>(a3, v);
        }
        if o0 + 1 < c_out {
            dw[r1 + j0] = lane_sum::<F, N>(b0, v);
            if j0 + 1 < k {
                dw[r1 + j1] = lane_sum::<F, N>(b1, v);
            }
            if j0 + 2 < k {
                dw[r1 + j2] = lane_sum::<F, N>(b2, v);
            }
            if j0 + 3 < k {
                dw[r1 + j3] = lane_sum::<F, N>(b3, v);
            }
        }
    }
}

/// Two neighbouring vectors at `at`.
#[cube]
fn store_pair<F: Float, N: Size>(out: &mut [Vector<F, N>], at: usize, first: Vector<F, N>, second: Vector<F, N>) {
    out[at] = first;
    out[at + 1] = second;
}

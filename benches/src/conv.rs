//! Direct convolution with the batch innermost (`kiln_kernels::conv_forward`, padding
//! implicitly, and `conv_weight_grad`, reading the padded transpose `to_batch_innermost`
//! writes), run on deterministic data and checked against an f64 reference on the host; then
//! timed, for the `conv_layout` example.

use crate::{ms_per_launch, relative_error};
use kiln_runtime::init::uniform;
use kiln_runtime::kernels::{conv_forward, conv_weight_grad, to_batch_innermost};
use kiln_runtime::Arena;

/// Lanes per vector along the batch.
pub const LANES: usize = 8;

/// Timed rounds per kernel (the best is reported).
const ROUNDS: usize = 5;

/// A stride-1 convolution of `batch` images (a multiple of 16) of `size` by `size` pixels.
pub struct Conv {
    /// What the printed line calls it.
    pub name: &'static str,
    /// Images; two vectors of [`LANES`] at least.
    pub batch: usize,
    /// Input channels.
    pub c_in: usize,
    /// Output channels.
    pub c_out: usize,
    /// Height and width of an input plane.
    pub size: usize,
    /// Height and width of the window.
    pub k: usize,
    /// Zeros around each input plane.
    pub pad: usize,
    /// Whether its weight gradient is also checked and timed (not for an input gradient).
    pub weight_gradient: bool,
}

impl Conv {
    fn padded(&self) -> usize {
        self.size + 2 * self.pad
    }
    fn out(&self) -> usize {
        self.padded() - self.k + 1
    }
    /// Input pixel `(b, c, y, x)` of the padded plane, 0 in the padding.
    fn pixel(&self, x: &[f32], b: usize, c: usize, py: usize, px: usize) -> f64 {
        let (y, xx) = (py.wrapping_sub(self.pad), px.wrapping_sub(self.pad));
        if y < self.size && xx < self.size {
            f64::from(x[((b * self.c_in + c) * self.size + y) * self.size + xx])
        } else {
            0.0
        }
    }
}

/// Errors of one [`check`] against the reference, and its timings.
pub struct Report {
    /// Largest relative error of the forward output.
    pub forward_error: f64,
    /// Largest relative error of the weight gradient (0 when not computed).
    pub weight_grad_error: f64,
    /// Milliseconds per launch of the two transposes (plain and padded), the forward and the
    /// weight gradient (`None` where not timed).
    pub ms: Option<(f64, f64, Option<f64>)>,
}

/// Runs `conv`'s kernels on `device` on deterministic data, checks them against an f64 host
/// reference (an error above 1e-5 relative is an `Err`), then times `launches` back-to-back
/// launches of each (none when 0).
pub fn check(device: &kiln_runtime::Device, conv: &Conv, launches: usize) -> Result<Report, String> {
    let (n, ci, co, k, hp, o) = (conv.batch, conv.c_in, conv.c_out, conv.k, conv.padded(), conv.out());
    let bv = n / LANES;
    let plane = conv.size * conv.size;
    let lens = [
        n * ci * plane,
        ci * hp * hp * n,
        co * ci * k * k,
        co * o * o * n,
        co * o * o * n,
        co * ci * k * k,
        ci * plane * n,
    ];
    let mut buffers = vec![];
    let mut offset = 0;
    for len in lens {
        buffers.push((offset, len));
        offset += len.next_multiple_of(64);
    }
    let arena = Arena::new(device, 4 * offset, &buffers);
    let [x, xp, w, out, dy, dw, xt] = [0, 1, 2, 3, 4, 5, 6];
    let (images, weights, grads) =
        (uniform(0, 1, lens[x], -1.0, 1.0), uniform(0, 2, lens[w], -1.0, 1.0), uniform(0, 3, lens[dy], -1.0, 1.0));
    arena.write(x, &images);
    arena.write(w, &weights);
    arena.write(dy, &grads);
    let client = arena.client();

    // The forward pass reads the images transposed, the weight gradient reads them padded too.
    let (count, dim) = arena.grid(ci * hp);
    let (plain_count, plain_dim) = arena.grid(ci * conv.size);
    let transpose = || unsafe {
        to_batch_innermost::launch_unchecked::<f32>(
            client,
            plain_count.clone(),
            plain_dim,
            arena.arg(x, lens[x]),
            arena.arg(xt, lens[xt]),
            n,
            ci,
            conv.size,
            conv.size,
            0,
        );
        to_batch_innermost::launch_unchecked::<f32>(
            client,
            count.clone(),
            dim,
            arena.arg(x, lens[x]),
            arena.arg(xp, lens[xp]),
            n,
            ci,
            conv.size,
            conv.size,
            conv.pad,
        )
    };
    // Output channels per unit: 6 where they divide, else tiles of 4.
    let rows = if co % 6 == 0 { 6 } else { 4 };
    let (count, dim) = arena.grid(co.div_ceil(rows) * o * o * bv / 2);
    let forward = || unsafe {
        conv_forward::launch_unchecked::<f32>(
            client,
            count.clone(),
            dim,
            LANES,
            arena.arg(xt, lens[xt] / LANES),
            arena.arg(w, lens[w]),
            arena.arg(out, lens[out] / LANES),
            ci,
            co,
            conv.size,
            conv.size,
            k,
            conv.pad,
            bv,
            rows,
            false,
        )
    };
    // Output channels per unit of the weight gradient: 4 where they divide, else 2.
    let wg_rows = if co % 4 == 0 { 4 } else { 2 };
    let (count, dim) = arena.grid(co.div_ceil(wg_rows) * ci * (k * k).div_ceil(4));
    let weight_grad = || unsafe {
        conv_weight_grad::launch_unchecked::<f32>(
            client,
            count.clone(),
            dim,
            LANES,
            arena.arg(xp, lens[xp] / LANES),
            arena.arg(dy, lens[dy] / LANES),
            arena.arg(dw, lens[dw]),
            ci,
            co,
            hp,
            hp,
            k,
            bv,
            wg_rows,
            LANES,
        )
    };
    transpose();
    forward();
    if conv.weight_gradient {
        weight_grad();
    }

    // References, in the batch-innermost layouts the kernels write.
    let mut want_out = vec![0.0; lens[out]];
    let mut want_dw = vec![0.0; lens[dw]];
    for oc in 0..co {
        for y in 0..o {
            for xx in 0..o {
                for b in 0..n {
                    let g = f64::from(grads[((oc * o + y) * o + xx) * n + b]);
                    let mut sum = 0.0;
                    for c in 0..ci {
                        for i in 0..k {
                            for j in 0..k {
                                let tap = ((oc * ci + c) * k + i) * k + j;
                                let p = conv.pixel(&images, b, c, y + i, xx + j);
                                sum += f64::from(weights[tap]) * p;
                                if conv.weight_gradient {
                                    want_dw[tap] += g * p;
                                }
                            }
                        }
                    }
                    want_out[((oc * o + y) * o + xx) * n + b] = sum;
                }
            }
        }
    }
    let (forward_error, grad_error) =
        (relative_error(&arena.read::<f32>(out), &want_out), relative_error(&arena.read::<f32>(dw), &want_dw));
    if forward_error > 1e-5 || grad_error > 1e-5 {
        return Err(format!(
            "{}: relative error {forward_error:.1e} (forward), {grad_error:.1e} (weight gradient)",
            conv.name
        ));
    }
    let ms = (launches > 0).then(|| {
        let weight_grad_ms = conv.weight_gradient.then(|| ms_per_launch(&arena, ROUNDS, launches, weight_grad));
        (
            ms_per_launch(&arena, ROUNDS, launches, transpose),
            ms_per_launch(&arena, ROUNDS, launches, forward),
            weight_grad_ms,
        )
    });
    Ok(Report { forward_error, weight_grad_error: grad_error, ms })
}

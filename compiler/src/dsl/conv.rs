//! Convolutions, transposed convolution, pooling and zero padding: each lowers to the window
//! ops (unfold/fold), a matrix product or a reduction, and views.

use super::{Initializer, State, Tensor};
use crate::ir::Shape;
use crate::ir::{Graph, ReduceOp, ValueId, Window};
use std::panic::Location;

/// A size or step along two axes: `3` means `(3, 3)`, `(3, 5)` or `[3, 5]` is (height, width).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Pair(pub [usize; 2]);

impl From<usize> for Pair {
    fn from(v: usize) -> Self {
        Pair([v, v])
    }
}

impl From<(usize, usize)> for Pair {
    fn from((h, w): (usize, usize)) -> Self {
        Pair([h, w])
    }
}

impl From<[usize; 2]> for Pair {
    fn from(v: [usize; 2]) -> Self {
        Pair(v)
    }
}

/// Zero padding of a convolution.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Padding {
    /// The same rows and columns on both sides.
    Explicit(Pair),
    /// Output as large as the input (stride 1 only, as in PyTorch); an odd total puts the
    /// extra row/column at the bottom/right.
    Same,
}

impl<T: Into<Pair>> From<T> for Padding {
    fn from(v: T) -> Self {
        Padding::Explicit(v.into())
    }
}

/// Options of [`Tensor::conv2d`] and [`Tensor::conv1d`]: `nn.Conv2d(_, out, kernel, ...)`.
#[derive(Clone, Copy, PartialEq, Debug)]
pub struct Conv {
    out_channels: usize,
    kernel: Pair,
    stride: Pair,
    padding: Padding,
    dilation: Pair,
    groups: usize,
    bias: bool,
    weight_init: Initializer,
    bias_init: Initializer,
}

impl Conv {
    /// `out_channels` filters of `kernel` (an int or (height, width)); stride 1, no padding,
    /// a bias, PyTorch's default init.
    pub fn new(out_channels: usize, kernel: impl Into<Pair>) -> Self {
        Conv {
            out_channels,
            kernel: kernel.into(),
            stride: Pair([1, 1]),
            padding: Padding::Explicit(Pair([0, 0])),
            dilation: Pair([1, 1]),
            groups: 1,
            bias: true,
            weight_init: Initializer::Default,
            bias_init: Initializer::Default,
        }
    }

    /// Step between windows.
    pub fn stride(self, stride: impl Into<Pair>) -> Self {
        Conv { stride: stride.into(), ..self }
    }

    /// Zero padding: a number, a pair, or [`Padding::Same`].
    pub fn padding(self, padding: impl Into<Padding>) -> Self {
        Conv { padding: padding.into(), ..self }
    }

    /// Spacing between kernel taps.
    pub fn dilation(self, dilation: impl Into<Pair>) -> Self {
        Conv { dilation: dilation.into(), ..self }
    }

    /// Channel groups: input and output channels split into `groups` groups, each output
    /// group seeing only its input group (`groups` = input channels: depthwise). The weight is
    /// `[out, in / groups, ..]`, as PyTorch's.
    pub fn groups(self, groups: usize) -> Self {
        Conv { groups, ..self }
    }

    /// With (the default) or without a bias.
    pub fn bias(self, bias: bool) -> Self {
        Conv { bias, ..self }
    }

    /// Input channels per group for `channels` input channels, checking that `groups` divides
    /// both the input and the output channels.
    fn group_width(&self, channels: usize) -> Result<usize, String> {
        let groups = self.groups;
        if groups == 0 || !channels.is_multiple_of(groups) || !self.out_channels.is_multiple_of(groups) {
            return Err(format!(
                "groups {groups} must divide the {channels} input and {} output channels",
                self.out_channels
            ));
        }
        Ok(channels / groups)
    }

    /// How the weight is initialised.
    pub fn weight_init(self, weight_init: Initializer) -> Self {
        Conv { weight_init, ..self }
    }

    /// How the bias is initialised.
    pub fn bias_init(self, bias_init: Initializer) -> Self {
        Conv { bias_init, ..self }
    }

    /// The window over an input of `[h, w]`, checking the settings.
    fn window(&self, size: [usize; 2]) -> Result<Window, String> {
        let (k, s, d) = (self.kernel.0, self.stride.0, self.dilation.0);
        if self.out_channels == 0 || k.contains(&0) || s.contains(&0) || d.contains(&0) {
            return Err(format!(
                "out_channels {}, kernel {k:?}, stride {s:?} and dilation {d:?} must be positive",
                self.out_channels
            ));
        }
        let padding = match self.padding {
            Padding::Explicit(Pair(p)) => [[p[0], p[0]], [p[1], p[1]]],
            Padding::Same if s != [1, 1] => {
                return Err(format!("padding=\"same\" needs stride 1, got stride {s:?} (as in PyTorch)"))
            }
            Padding::Same => {
                let total = [d[0] * (k[0] - 1), d[1] * (k[1] - 1)];
                [[total[0] / 2, total[0] - total[0] / 2], [total[1] / 2, total[1] - total[1] / 2]]
            }
        };
        let window = Window { kernel: k, stride: s, dilation: d, padding };
        window.positions(size).map(|_| window).ok_or_else(|| {
            format!(
                "kernel {k:?} with dilation {d:?} does not fit the input of {size:?} padded by {:?}",
                [padding[0][0], padding[1][0]]
            )
        })
    }
}

/// Options of `nn.ConvTranspose2d(_, out, kernel, ...)`.
#[derive(Clone, Copy, PartialEq, Debug)]
pub struct ConvTranspose {
    conv: Conv,
    output_padding: Pair,
}

impl ConvTranspose {
    /// `out_channels` filters of `kernel`; stride 1, no padding, a bias.
    pub fn new(out_channels: usize, kernel: impl Into<Pair>) -> Self {
        ConvTranspose { conv: Conv::new(out_channels, kernel), output_padding: Pair([0, 0]) }
    }

    /// Step between windows: the output grows by this factor.
    pub fn stride(self, stride: impl Into<Pair>) -> Self {
        ConvTranspose { conv: self.conv.stride(stride), ..self }
    }

    /// Rows/columns removed from each side of the full output.
    pub fn padding(self, padding: impl Into<Pair>) -> Self {
        ConvTranspose { conv: self.conv.padding(Padding::Explicit(padding.into())), ..self }
    }

    /// Rows/columns added at the bottom/right (less than the stride or dilation).
    pub fn output_padding(self, output_padding: impl Into<Pair>) -> Self {
        ConvTranspose { output_padding: output_padding.into(), ..self }
    }

    /// Spacing between kernel taps.
    pub fn dilation(self, dilation: impl Into<Pair>) -> Self {
        ConvTranspose { conv: self.conv.dilation(dilation), ..self }
    }

    /// With (the default) or without a bias.
    pub fn bias(self, bias: bool) -> Self {
        ConvTranspose { conv: self.conv.bias(bias), ..self }
    }
}

/// Options of the pooling layers: `nn.MaxPool2d(kernel, stride=kernel, padding=0, ...)`.
#[derive(Clone, Copy, PartialEq, Debug)]
pub struct Pool {
    kernel: Pair,
    stride: Option<Pair>,
    padding: Pair,
    ceil_mode: bool,
}

impl Pool {
    /// A `kernel` window (an int or pair) stepping by `kernel`, no padding, floor mode.
    pub fn new(kernel: impl Into<Pair>) -> Self {
        Pool { kernel: kernel.into(), stride: None, padding: Pair([0, 0]), ceil_mode: false }
    }

    /// Step between windows (default: the kernel).
    pub fn stride(self, stride: impl Into<Pair>) -> Self {
        Pool { stride: Some(stride.into()), ..self }
    }

    /// Implicit padding on both sides (at most half the kernel, as in PyTorch).
    pub fn padding(self, padding: impl Into<Pair>) -> Self {
        Pool { padding: padding.into(), ..self }
    }

    /// Round the output size up: a last window may hang over the bottom/right edge.
    pub fn ceil_mode(self, ceil_mode: bool) -> Self {
        Pool { ceil_mode, ..self }
    }

    /// The window over `[h, w]`; the ceil-mode overhang is extra bottom/right padding.
    /// Returns it with the number of overhanging rows and columns.
    fn window(&self, size: [usize; 2]) -> Result<(Window, [usize; 2]), String> {
        let k = self.kernel.0;
        let s = self.stride.unwrap_or(self.kernel).0;
        let p = self.padding.0;
        if k.contains(&0) || s.contains(&0) {
            return Err(format!("kernel {k:?} and stride {s:?} must be positive"));
        }
        if p[0] > k[0] / 2 || p[1] > k[1] / 2 {
            return Err(format!("padding {p:?} must be at most half the kernel {k:?}"));
        }
        let mut overhang = [0; 2];
        for d in 0..2 {
            let padded = size[d] + 2 * p[d];
            if padded < k[d] {
                return Err(format!("kernel {k:?} does not fit the input of {size:?} padded by {p:?}"));
            }
            if self.ceil_mode {
                let mut out = (padded - k[d]).div_ceil(s[d]) + 1;
                // The last window must start inside the input or the left padding.
                if (out - 1) * s[d] >= size[d] + p[d] {
                    out -= 1;
                }
                overhang[d] = ((out - 1) * s[d] + k[d]).saturating_sub(padded);
            }
        }
        let padding = [[p[0], p[0] + overhang[0]], [p[1], p[1] + overhang[1]]];
        Ok((Window { kernel: k, stride: s, dilation: [1, 1], padding }, overhang))
    }
}

/// `[n, c, h, w]` of a 4-D value, or an error naming what was expected.
fn image_dims(g: &Graph, x: ValueId, what: &str) -> Result<[usize; 4], String> {
    match g.shape(x).0[..] {
        [n, c, h, w] => Ok([n, c, h, w]),
        _ => Err(format!("{what} expects [batch, channels, height, width], got {}", g.shape(x))),
    }
}

/// `[n, c, l]` viewed as the image `[n, c, 1, l]`.
fn as_image(g: &mut Graph, x: ValueId, what: &str) -> Result<ValueId, String> {
    match g.shape(x).0[..] {
        [n, c, l] => Ok(g.reshape(x, Shape(vec![n, c, 1, l]))),
        _ => Err(format!("{what} expects [batch, channels, length], got {}", g.shape(x))),
    }
}

/// The windows of `x` as columns `[c * kh * kw, n * oh * ow]`, one per output position, so
/// that a convolution's matrix products (and those of its gradients) run along the long axis of
/// positions: vectorised there, and contiguous along it for the weight gradient's reduction.
fn im2col(g: &mut Graph, x: ValueId, window: Window) -> ValueId {
    let windows = g.unfold(x, window, 0.0);
    let [n, oh, ow, c, kh, kw] = g.shape(windows).0[..] else { unreachable!() };
    let cols = g.permute(windows, &[3, 4, 5, 0, 1, 2]);
    g.reshape(cols, Shape(vec![c * kh * kw, n * oh * ow]))
}

/// Convolution of image `x` by `options` as im2col + matrix product; `[n, o, oh, ow]`.
fn conv_image(s: &mut State, x: ValueId, index: usize, options: &Conv, weight_shape: Shape) -> Result<ValueId, String> {
    let [n, c, h, w] = image_dims(&s.graph, x, "conv")?;
    let window = options.window([h, w])?;
    let [oh, ow] = window.positions([h, w]).expect("checked");
    let [kh, kw] = window.kernel;
    let o = options.out_channels;
    let groups = options.groups;
    let fans = (c / groups * kh * kw, o * kh * kw);
    let weight = s.param(index, "weight", weight_shape, options.weight_init.resolve(fans));
    s.weights.push(weight);
    let cols = im2col(&mut s.graph, x, window);
    let g = &mut s.graph;
    let y = if groups == 1 {
        let w2 = g.reshape(weight, Shape(vec![o, c * kh * kw]));
        g.matmul(w2, cols)
    } else {
        // One product per group, as a broadcast multiply and a sum over each group's taps:
        // [groups, out/groups, taps, 1] * [groups, 1, taps, n·oh·ow].
        let taps = c / groups * kh * kw;
        let w4 = g.reshape(weight, Shape(vec![groups, o / groups, taps, 1]));
        let x4 = g.reshape(cols, Shape(vec![groups, 1, taps, n * oh * ow]));
        let products = g.mul(w4, x4);
        let sums = g.sum(products, &[2]);
        g.reshape(sums, Shape(vec![o, n * oh * ow]))
    };
    let y = g.reshape(y, Shape(vec![o, n, oh, ow]));
    let y = g.permute(y, &[1, 0, 2, 3]);
    add_channel_bias(s, y, index, options.bias, options.bias_init, fans)
}

/// `y + b` with `b` of `[channels]` broadcast over `[n, channels, ...]` (if `bias`).
fn add_channel_bias(
    s: &mut State,
    y: ValueId,
    index: usize,
    bias: bool,
    init: Initializer,
    fans: (usize, usize),
) -> Result<ValueId, String> {
    if !bias {
        return Ok(y);
    }
    let shape = s.graph.shape(y).clone();
    let b = s.param(index, "bias", Shape(vec![shape.0[1]]), init.resolve(fans));
    let mut dims = vec![1; shape.rank()];
    dims[1] = shape.0[1];
    let b = s.graph.reshape(b, Shape(dims));
    Ok(s.graph.add(y, b))
}

/// Max or average over the windows of image `x`: `[n, c, oh, ow]`.
fn pool_image(g: &mut Graph, x: ValueId, options: &Pool, max: bool) -> Result<ValueId, String> {
    let [n, c, h, w] = image_dims(g, x, "pooling")?;
    let (window, overhang) = options.window([h, w])?;
    let op = if max { ReduceOp::Max } else { ReduceOp::Sum };
    let [kh, kw] = window.kernel;
    let tiles = window.stride == window.kernel && window.padding == [[0, 0], [0, 0]] && h % kh == 0 && w % kw == 0;
    let ([oh, ow], pooled) = if tiles {
        // Windows that tile the image are a view of it, `[n, c, oh, kh, ow, kw]`: the pool
        // reads the image in place and its gradient is a reshape instead of a fold.
        let [oh, ow] = [h / kh, w / kw];
        let windows = g.reshape(x, Shape(vec![n, c, oh, kh, ow, kw]));
        ([oh, ow], g.reduce(op, windows, &[3, 5]))
    } else {
        let pad = if max { f64::NEG_INFINITY } else { 0.0 };
        let windows = g.unfold(x, window, pad);
        let [_, oh, ow, ..] = g.shape(windows).0[..] else { unreachable!() };
        let windows = g.permute(windows, &[0, 3, 1, 2, 4, 5]);
        ([oh, ow], g.reduce(op, windows, &[4, 5]))
    };
    let pooled = g.reshape(pooled, Shape(vec![n, c, oh, ow]));
    if max {
        return Ok(pooled);
    }
    if overhang == [0, 0] {
        return Ok(g.scale(pooled, 1.0 / (kh * kw) as f64));
    }
    // Windows hanging over the edge in ceil mode divide by the taps inside the padded input
    // (count_include_pad=True): count them by pooling ones the same way.
    let padded = [h + 2 * window.padding[0][0], w + 2 * window.padding[1][0]];
    let ones = g.constant(1.0, Shape(vec![1, 1, padded[0], padded[1]]));
    let over = Window { padding: [[0, overhang[0]], [0, overhang[1]]], ..window };
    let taps = g.unfold(ones, over, 0.0);
    let count = g.sum(taps, &[4, 5]);
    let count = g.reshape(count, Shape(vec![1, 1, oh, ow]));
    Ok(g.div(pooled, count))
}

impl<'m> Tensor<'m> {
    /// `nn.Conv2d(in, out, kernel, stride, padding, dilation, groups, bias)` on
    /// `[n, in, h, w]`, as cross-correlation; weight `[out, in / groups, kh, kw]`, bias `[out]`.
    #[track_caller]
    pub fn conv2d(self, options: Conv) -> Tensor<'m> {
        self.layer("conv2d", Location::caller(), |s, x, index| {
            let [_, c, ..] = image_dims(&s.graph, x, "conv2d")?;
            let [kh, kw] = options.kernel.0;
            let per_group = options.group_width(c)?;
            conv_image(s, x, index, &options, Shape(vec![options.out_channels, per_group, kh, kw]))
        })
    }

    /// `nn.Conv1d(in, out, kernel, ...)` on `[n, in, l]`; weight `[out, in, k]`. The kernel,
    /// stride, padding and dilation are single numbers (a pair uses its second entry).
    #[track_caller]
    pub fn conv1d(self, options: Conv) -> Tensor<'m> {
        self.layer("conv1d", Location::caller(), |s, x, index| {
            let image = as_image(&mut s.graph, x, "conv1d")?;
            let [_, c, ..] = image_dims(&s.graph, image, "conv1d")?;
            let along_width = |p: Pair| Pair([1, p.0[1]]);
            let options = Conv {
                kernel: along_width(options.kernel),
                stride: along_width(options.stride),
                dilation: along_width(options.dilation),
                padding: match options.padding {
                    Padding::Explicit(p) => Padding::Explicit(Pair([0, p.0[1]])),
                    Padding::Same => Padding::Same,
                },
                ..options
            };
            let k = options.kernel.0[1];
            let per_group = options.group_width(c)?;
            let y = conv_image(s, image, index, &options, Shape(vec![options.out_channels, per_group, k]))?;
            let [n, o, _, l] = s.graph.shape(y).0[..] else { unreachable!() };
            Ok(s.graph.reshape(y, Shape(vec![n, o, l])))
        })
    }

    /// `nn.ConvTranspose2d(in, out, kernel, stride, padding, output_padding, bias, dilation)`
    /// on `[n, in, h, w]`: the adjoint of a convolution, as a matrix product + fold (col2im).
    /// Weight `[in, out, kh, kw]`; output `(h-1)·s - 2p + d·(k-1) + output_padding + 1`.
    #[track_caller]
    pub fn conv_transpose2d(self, options: ConvTranspose) -> Tensor<'m> {
        self.layer("conv_transpose2d", Location::caller(), |s, x, index| {
            let [n, c, h, w] = image_dims(&s.graph, x, "conv_transpose2d")?;
            let conv = options.conv;
            let (k, st, d, op) = (conv.kernel.0, conv.stride.0, conv.dilation.0, options.output_padding.0);
            let Padding::Explicit(Pair(p)) = conv.padding else { unreachable!("set by ConvTranspose") };
            if conv.out_channels == 0 || k.contains(&0) || st.contains(&0) || d.contains(&0) {
                return Err(format!("kernel {k:?}, stride {st:?} and dilation {d:?} must be positive"));
            }
            if (0..2).any(|i| op[i] >= st[i].max(d[i])) {
                return Err(format!("output_padding {op:?} must be smaller than stride {st:?} or dilation {d:?}"));
            }
            let size = |i: usize| ([h, w][i] - 1) * st[i] + d[i] * (k[i] - 1) + op[i] + 1;
            let full = [size(0), size(1)];
            if full[0] <= 2 * p[0] || full[1] <= 2 * p[1] {
                return Err(format!("padding {p:?} removes the whole output of {full:?}"));
            }
            let out = [full[0] - 2 * p[0], full[1] - 2 * p[1]];
            // Where output_padding exceeds padding, the last `op - p` rows (columns) lie past
            // every tap and hold only the bias: the fold covers the rows the taps reach and
            // zeros are padded on below (right).
            let beyond = [op[0].saturating_sub(p[0]), op[1].saturating_sub(p[1])];
            let reached = [out[0] - beyond[0], out[1] - beyond[1]];
            if reached.contains(&0) {
                return Err(format!(
                    "padding {p:?} crops every tap of the {full:?} full output: the output would not depend on the input"
                ));
            }
            // The matching convolution maps `reached` back to `[h, w]`; bottom/right padding
            // makes its window count come out at exactly h and w.
            let after = |i: usize| p[i].saturating_sub(op[i]);
            let window = Window { kernel: k, stride: st, dilation: d, padding: [[p[0], after(0)], [p[1], after(1)]] };
            debug_assert_eq!(window.positions(reached), Some([h, w]));
            let o = conv.out_channels;
            let fans = (o * k[0] * k[1], c * k[0] * k[1]);
            let weight = s.param(index, "weight", Shape(vec![c, o, k[0], k[1]]), conv.weight_init.resolve(fans));
            s.weights.push(weight);
            let g = &mut s.graph;
            let rows = g.permute(x, &[0, 2, 3, 1]);
            let rows = g.reshape(rows, Shape(vec![n * h * w, c]));
            let w2 = g.reshape(weight, Shape(vec![c, o * k[0] * k[1]]));
            let cols = g.matmul(rows, w2);
            let cols = g.reshape(cols, Shape(vec![n, h, w, o, k[0], k[1]]));
            let mut y = g.fold(cols, window, Shape(vec![n, o, reached[0], reached[1]]));
            if beyond != [0, 0] {
                y = pad_image(g, y, [[0, beyond[0]], [0, beyond[1]]]);
            }
            add_channel_bias(s, y, index, conv.bias, conv.bias_init, fans)
        })
    }

    /// `nn.MaxPool2d(kernel, stride, padding, ceil_mode)` on `[n, c, h, w]`. Ties in a window
    /// share the gradient (PyTorch gives it to the first; they differ only on exact ties).
    #[track_caller]
    pub fn max_pool2d(self, options: Pool) -> Tensor<'m> {
        self.layer("max_pool2d", Location::caller(), |s, x, _| pool_image(&mut s.graph, x, &options, true))
    }

    /// `nn.AvgPool2d(kernel, stride, padding, ceil_mode)` with `count_include_pad=True`.
    #[track_caller]
    pub fn avg_pool2d(self, options: Pool) -> Tensor<'m> {
        self.layer("avg_pool2d", Location::caller(), |s, x, _| pool_image(&mut s.graph, x, &options, false))
    }

    /// `nn.MaxPool1d(kernel, stride, padding, ceil_mode)` on `[n, c, l]` (single numbers).
    #[track_caller]
    pub fn max_pool1d(self, options: Pool) -> Tensor<'m> {
        self.layer("max_pool1d", Location::caller(), |s, x, _| pool_line(&mut s.graph, x, options, true))
    }

    /// `nn.AvgPool1d(kernel, stride, padding, ceil_mode)` on `[n, c, l]` (single numbers).
    #[track_caller]
    pub fn avg_pool1d(self, options: Pool) -> Tensor<'m> {
        self.layer("avg_pool1d", Location::caller(), |s, x, _| pool_line(&mut s.graph, x, options, false))
    }

    /// `nn.AdaptiveAvgPool2d((oh, ow))` on `[n, c, h, w]` where oh divides h and ow divides w
    /// (e.g. `(1, 1)`: the global average).
    #[track_caller]
    pub fn adaptive_avg_pool2d(self, output: impl Into<Pair>) -> Tensor<'m> {
        let Pair([oh, ow]) = output.into();
        self.layer("adaptive_avg_pool2d", Location::caller(), |s, x, _| {
            let [_, _, h, w] = image_dims(&s.graph, x, "adaptive_avg_pool2d")?;
            if oh == 0 || ow == 0 || h % oh != 0 || w % ow != 0 {
                return Err(format!("output size {:?} must divide the input's {:?}", [oh, ow], [h, w]));
            }
            pool_image(&mut s.graph, x, &Pool::new((h / oh, w / ow)), false)
        })
    }

    /// `nn.ZeroPad2d(padding)` on `[n, c, h, w]`; `padding` is `(left, right, top, bottom)`
    /// as in PyTorch (use the same number four times for even padding).
    #[track_caller]
    pub fn zero_pad2d(self, padding: (usize, usize, usize, usize)) -> Tensor<'m> {
        self.layer("zero_pad2d", Location::caller(), |s, x, _| {
            image_dims(&s.graph, x, "zero_pad2d")?;
            let (left, right, top, bottom) = padding;
            Ok(pad_image(&mut s.graph, x, [[top, bottom], [left, right]]))
        })
    }
}

/// `x` with zero rows/columns around its last two axes (an unfold with a 1x1 window).
pub(crate) fn pad_image(g: &mut Graph, x: ValueId, padding: [[usize; 2]; 2]) -> ValueId {
    let padded = g.unfold(x, Window::padding_only(padding), 0.0);
    let [n, h, w, c, ..] = g.shape(padded).0[..] else { unreachable!() };
    let padded = g.reshape(padded, Shape(vec![n, h, w, c]));
    g.permute(padded, &[0, 3, 1, 2])
}

fn pool_line(g: &mut Graph, x: ValueId, options: Pool, max: bool) -> Result<ValueId, String> {
    let image = as_image(g, x, "pooling")?;
    let along_width = |p: Pair| Pair([1, p.0[1]]);
    let options = Pool {
        kernel: along_width(options.kernel),
        stride: options.stride.map(along_width),
        padding: Pair([0, options.padding.0[1]]),
        ..options
    };
    let y = pool_image(g, image, &options, max)?;
    let [n, c, _, l] = g.shape(y).0[..] else { unreachable!() };
    Ok(g.reshape(y, Shape(vec![n, c, l])))
}

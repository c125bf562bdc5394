//! Activations, normalisation and dropout. Each is an `nn` module (it takes an index).

use super::{State, Tensor};
use crate::ir::Shape;
use crate::ir::{BinaryOp, Graph, Init, ReduceOp, UnaryOp, ValueId};
use std::panic::Location;

/// `x - max(x)` along `axis` (the max detached: it cancels in softmax), exp'd sum's log.
pub(crate) fn log_softmax(g: &mut Graph, x: ValueId, axis: usize) -> ValueId {
    let (max, log_sum) = shifted_log_sum_exp(g, x, axis);
    let shifted = g.sub(x, max);
    g.sub(shifted, log_sum)
}

/// `(max, log Σ e^(x - max))` along `axis`, the max's gradient stopped (it cancels wherever the
/// two are used together): logsumexp(x) is their sum, computed without overflow.
pub(crate) fn shifted_log_sum_exp(g: &mut Graph, x: ValueId, axis: usize) -> (ValueId, ValueId) {
    let max = g.reduce(ReduceOp::Max, x, &[axis]);
    let max = g.detach(max);
    let shifted = g.sub(x, max);
    let exp = g.unary(UnaryOp::Exp, shifted);
    let sum = g.sum(exp, &[axis]);
    (max, g.unary(UnaryOp::Log, sum))
}

/// The logistic function 1 / (1 + e^-x), the IR's primitive (see [`UnaryOp::Sigmoid`]).
pub(crate) fn sigmoid(g: &mut Graph, x: ValueId) -> ValueId {
    g.unary(UnaryOp::Sigmoid, x)
}

/// `x` split at 0 as `max(x, 0) + min(x, 0)`, each half through `relu`, whose gradient at 0 is
/// 0: so the negative half's gradient at 0 is 1, and `e^min(x, 0)` and `e^-|x|` never overflow.
struct SignHalves {
    /// max(x, 0)
    positive: ValueId,
    /// min(x, 0)
    negative: ValueId,
}

impl SignHalves {
    fn of(g: &mut Graph, x: ValueId) -> Self {
        let positive = g.unary(UnaryOp::Relu, x);
        SignHalves { positive, negative: g.sub(x, positive) }
    }

    /// e^-|x|, in (0, 1].
    fn exp_minus_abs(&self, g: &mut Graph) -> ValueId {
        let minus_abs = g.sub(self.negative, self.positive);
        g.unary(UnaryOp::Exp, minus_abs)
    }
}

/// The mean of `x` over `axes` (kept as size 1) and the number of elements averaged.
pub(crate) fn mean(g: &mut Graph, x: ValueId, axes: &[usize]) -> (ValueId, usize) {
    let count: usize = axes.iter().map(|&a| g.shape(x).0[a]).product();
    let sum = g.sum(x, axes);
    (g.scale(sum, 1.0 / count as f64), count)
}

/// Mean of `x` over `axes`, the sum of squared deviations from it (both kept as size 1), and
/// the count: a variance is the sum divided by the count (biased) or count - 1 (unbiased).
pub(crate) fn squared_deviations(g: &mut Graph, x: ValueId, axes: &[usize]) -> (ValueId, ValueId, usize) {
    let (mean, count) = mean(g, x, axes);
    let centered = g.sub(x, mean);
    let square = g.mul(centered, centered);
    (mean, g.sum(square, axes), count)
}

/// Mean and biased variance of `x` over `axes` (kept as size 1).
fn moments(g: &mut Graph, x: ValueId, axes: &[usize]) -> (ValueId, ValueId, usize) {
    let (mean, sum_square, count) = squared_deviations(g, x, axes);
    (mean, g.scale(sum_square, 1.0 / count as f64), count)
}

/// `(x - mean) / sqrt(var + eps)`.
fn normalize(g: &mut Graph, x: ValueId, mean: ValueId, var: ValueId, eps: f64) -> ValueId {
    let centered = g.sub(x, mean);
    let eps = g.scalar_like(eps, var);
    let var_eps = g.add(var, eps);
    let std = g.unary(UnaryOp::Sqrt, var_eps);
    g.div(centered, std)
}

/// Options of the normalisation layers, as PyTorch's: `eps`, `momentum` (batch norm's running
/// statistics) and `affine` (a learned per-channel or elementwise weight and bias;
/// `elementwise_affine` in `nn.LayerNorm`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Norm {
    eps: f64,
    momentum: f64,
    affine: bool,
}

impl Default for Norm {
    fn default() -> Self {
        Norm { eps: 1e-5, momentum: 0.1, affine: true }
    }
}

impl Norm {
    /// PyTorch's defaults: eps 1e-5, momentum 0.1, affine.
    pub fn new() -> Self {
        Self::default()
    }

    /// Added to the variance before its square root.
    pub fn eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }

    /// Weight of the batch's statistics in the running ones (batch norm only).
    pub fn momentum(mut self, momentum: f64) -> Self {
        self.momentum = momentum;
        self
    }

    /// Whether the layer has a learned weight (init 1) and bias (init 0).
    pub fn affine(mut self, affine: bool) -> Self {
        self.affine = affine;
        self
    }

    fn check(&self) -> Result<(), String> {
        if !(self.eps.is_finite() && self.eps > 0.0) {
            return Err(format!("eps must be positive and finite, got {}", self.eps));
        }
        if !(0.0..=1.0).contains(&self.momentum) {
            return Err(format!("momentum must be in [0, 1], got {}", self.momentum));
        }
        Ok(())
    }

    /// Declares `{index}.weight` (init 1) and `{index}.bias` (init 0) of `shape` if `affine`.
    fn parameters(&self, s: &mut State, index: usize, shape: Shape) -> Option<(ValueId, ValueId)> {
        self.affine.then(|| {
            let weight = s.param(index, "weight", shape.clone(), Init::Constant(1.0));
            (weight, s.param(index, "bias", shape, Init::Constant(0.0)))
        })
    }
}

/// `normalized·weight + bias`, the parameters reshaped to `broadcast` (`normalized` itself
/// without them).
fn scale_and_shift(
    g: &mut Graph,
    normalized: ValueId,
    parameters: Option<(ValueId, ValueId)>,
    broadcast: Shape,
) -> ValueId {
    let Some((weight, bias)) = parameters else { return normalized };
    let (weight, bias) = (g.reshape(weight, broadcast.clone()), g.reshape(bias, broadcast));
    let scaled = g.mul(normalized, weight);
    g.add(scaled, bias)
}

impl<'m> Tensor<'m> {
    fn activation(
        self,
        kind: &str,
        location: &'static Location<'static>,
        f: impl FnOnce(&mut Graph, ValueId) -> ValueId,
    ) -> Tensor<'m> {
        self.layer(kind, location, |s, x, _| Ok(f(&mut s.graph, x)))
    }

    /// `nn.ReLU()`: max(x, 0). Its gradient is 1{x > 0}, which is 0 at exactly 0 as in
    /// PyTorch (the course writes 1{x >= 0}; the two differ only at 0).
    #[track_caller]
    pub fn relu(self) -> Tensor<'m> {
        self.activation("relu", Location::caller(), |g, x| g.unary(UnaryOp::Relu, x))
    }

    /// `nn.LeakyReLU(slope)`: x for x > 0, else slope·x (gradient `slope` at 0, as PyTorch).
    #[track_caller]
    pub fn leaky_relu(self, slope: f64) -> Tensor<'m> {
        self.activation("leaky_relu", Location::caller(), |g, x| {
            let zero = g.scalar_like(0.0, x);
            let positive = g.binary(BinaryOp::Greater, x, zero);
            let factor = g.scale(positive, 1.0 - slope);
            let slope = g.scalar_like(slope, x);
            let factor = g.add(factor, slope);
            g.mul(x, factor)
        })
    }

    /// `nn.SiLU()` (swish): x·σ(x), with the sigmoid of [`Tensor::sigmoid`].
    #[track_caller]
    pub fn silu(self) -> Tensor<'m> {
        self.activation("silu", Location::caller(), |g, x| {
            let sigmoid = sigmoid(g, x);
            g.mul(x, sigmoid)
        })
    }

    /// `nn.ELU(alpha)`: x for x > 0, else alpha·(e^x - 1); its gradient at 0 is `alpha`, as
    /// PyTorch's.
    #[track_caller]
    pub fn elu(self, alpha: f64) -> Tensor<'m> {
        self.layer("elu", Location::caller(), |s, x, _| {
            if !alpha.is_finite() {
                return Err(format!("alpha must be finite, got {alpha}"));
            }
            let g = &mut s.graph;
            let halves = SignHalves::of(g, x);
            let exp = g.unary(UnaryOp::Exp, halves.negative);
            let one = g.scalar_like(1.0, exp);
            let below = g.sub(exp, one);
            let below = g.scale(below, alpha);
            Ok(g.add(halves.positive, below))
        })
    }

    /// `nn.Softplus(beta)`: log(1 + e^(beta·x)) / beta, computed as
    /// max(x, 0) + log(1 + e^-|beta·x|) / beta, which is exact where PyTorch switches to `x`
    /// above its threshold (beta·x > 20; the two differ there by under 2.1e-9/beta).
    #[track_caller]
    pub fn softplus(self, beta: f64) -> Tensor<'m> {
        self.layer("softplus", Location::caller(), |s, x, _| {
            if !(beta.is_finite() && beta > 0.0) {
                return Err(format!("beta must be positive and finite, got {beta}"));
            }
            let g = &mut s.graph;
            let scaled = g.scale(x, beta);
            let halves = SignHalves::of(g, scaled);
            let exp = halves.exp_minus_abs(g);
            let one = g.scalar_like(1.0, exp);
            let one_plus_exp = g.add(one, exp);
            let log = g.unary(UnaryOp::Log, one_plus_exp);
            let sum = g.add(halves.positive, log);
            Ok(g.scale(sum, 1.0 / beta))
        })
    }

    /// `nn.Sigmoid()`: 1 / (1 + e^-x), computed without overflow (see [`sigmoid`]).
    #[track_caller]
    pub fn sigmoid(self) -> Tensor<'m> {
        self.activation("sigmoid", Location::caller(), sigmoid)
    }

    /// `nn.Tanh()`.
    #[track_caller]
    pub fn tanh(self) -> Tensor<'m> {
        self.activation("tanh", Location::caller(), |g, x| g.unary(UnaryOp::Tanh, x))
    }

    /// `nn.GELU()` (exact): x·Φ(x) = x/2·(1 + erf(x/√2)).
    #[track_caller]
    pub fn gelu(self) -> Tensor<'m> {
        self.activation("gelu", Location::caller(), |g, x| {
            let scaled = g.scale(x, std::f64::consts::FRAC_1_SQRT_2);
            let erf = g.unary(UnaryOp::Erf, scaled);
            let one = g.scalar_like(1.0, erf);
            let cdf = g.add(erf, one);
            let half_x = g.scale(x, 0.5);
            g.mul(half_x, cdf)
        })
    }

    /// `nn.Softmax(dim)`, computed stably (shifted by the detached max).
    #[track_caller]
    pub fn softmax(self, dim: usize) -> Tensor<'m> {
        self.layer("softmax", Location::caller(), |s, x, _| {
            check_dim(&s.graph, x, dim)?;
            let log = log_softmax(&mut s.graph, x, dim);
            Ok(s.graph.unary(UnaryOp::Exp, log))
        })
    }

    /// `nn.LogSoftmax(dim)`, computed stably.
    #[track_caller]
    pub fn log_softmax(self, dim: usize) -> Tensor<'m> {
        self.layer("log_softmax", Location::caller(), |s, x, _| {
            check_dim(&s.graph, x, dim)?;
            Ok(log_softmax(&mut s.graph, x, dim))
        })
    }

    /// `nn.Dropout(p)`: in the train step, zeroes each element with probability `p` and scales
    /// the rest by 1/(1-p), with a mask the trainer draws from its seed and step (so runs are
    /// reproducible; the backward pass reuses the same mask); the identity in inference.
    #[track_caller]
    pub fn dropout(self, p: f64) -> Tensor<'m> {
        self.layer("dropout", Location::caller(), |s, x, index| {
            if !(0.0..1.0).contains(&p) {
                return Err(format!("the drop probability must be in [0, 1), got {p}"));
            }
            let shape = s.graph.shape(x).clone();
            let mask = s.graph.input(&format!("__dropout{index}"), shape);
            s.dropouts.push((mask, p, index));
            let dropped = s.graph.mul(x, mask);
            Ok(s.graph.mode(dropped, x))
        })
    }

    /// `nn.BatchNorm2d(c)` on `[n, c, h, w]`: see [`Tensor::batch_norm1d`].
    #[track_caller]
    pub fn batch_norm2d(self) -> Tensor<'m> {
        self.batch_norm("batch_norm2d", 4, Norm::new(), Location::caller())
    }

    /// [`Tensor::batch_norm2d`] with options (`nn.BatchNorm2d(c, eps, momentum, affine)`).
    #[track_caller]
    pub fn batch_norm2d_with(self, options: Norm) -> Tensor<'m> {
        self.batch_norm("batch_norm2d", 4, options, Location::caller())
    }

    /// `nn.BatchNorm1d(c)` on `[n, c]` or `[n, c, l]`, eps 1e-5, momentum 0.1. The train step
    /// normalises by the batch's mean and biased variance and updates `running_mean` and
    /// `running_var` (with the unbiased variance) and `num_batches_tracked`; inference uses
    /// the running statistics. All three are saved in checkpoints under PyTorch's names.
    /// A padded last batch's filler rows count in the batch statistics.
    #[track_caller]
    pub fn batch_norm1d(self) -> Tensor<'m> {
        self.batch_norm("batch_norm1d", 3, Norm::new(), Location::caller())
    }

    /// [`Tensor::batch_norm1d`] with options (`nn.BatchNorm1d(c, eps, momentum, affine)`).
    #[track_caller]
    pub fn batch_norm1d_with(self, options: Norm) -> Tensor<'m> {
        self.batch_norm("batch_norm1d", 3, options, Location::caller())
    }

    fn batch_norm(
        self,
        kind: &str,
        max_rank: usize,
        options: Norm,
        location: &'static Location<'static>,
    ) -> Tensor<'m> {
        self.layer(kind, location, |s, x, index| {
            options.check()?;
            let shape = s.graph.shape(x).clone();
            let ranks = if max_rank == 4 { 4..=4 } else { 2..=3 };
            if !ranks.contains(&shape.rank()) {
                let expected = if max_rank == 4 {
                    "[batch, channels, height, width]"
                } else {
                    "[batch, channels] or [batch, channels, length]"
                };
                return Err(format!("{kind} expects {expected}, got {shape}"));
            }
            let c = shape.0[1];
            let axes: Vec<usize> = (0..shape.rank()).filter(|&d| d != 1).collect();
            let mut stat_shape = vec![1; shape.rank()];
            stat_shape[1] = c;
            let per_channel = |g: &mut Graph, v: ValueId| g.reshape(v, Shape(stat_shape.clone()));

            let parameters = options.parameters(s, index, Shape(vec![c]));
            let (mean, var, count) = moments(&mut s.graph, x, &axes);
            let momentum = options.momentum;
            let running = |g: &mut Graph, old: ValueId, batch: ValueId, factor: f64| {
                let batch = g.detach(batch);
                let batch = g.reshape(batch, Shape(vec![c]));
                let batch = g.scale(batch, momentum * factor);
                let kept = g.scale(old, 1.0 - momentum);
                g.add(kept, batch)
            };
            let unbiased = count as f64 / (count.max(2) - 1) as f64;
            let running_mean =
                s.statistic(index, "running_mean", Shape(vec![c]), 0.0, |g, old| running(g, old, mean, 1.0));
            let running_var =
                s.statistic(index, "running_var", Shape(vec![c]), 1.0, |g, old| running(g, old, var, unbiased));
            s.statistic(index, "num_batches_tracked", Shape(vec![]), 0.0, |g, old| {
                let one = g.constant(1.0, Shape(vec![]));
                g.add(old, one)
            });

            let g = &mut s.graph;
            let train = normalize(g, x, mean, var, options.eps);
            let (rm, rv) = (per_channel(g, running_mean), per_channel(g, running_var));
            let eval = normalize(g, x, rm, rv, options.eps);
            let normalized = g.mode(train, eval);
            Ok(scale_and_shift(g, normalized, parameters, Shape(stat_shape.clone())))
        })
    }

    /// `nn.LayerNorm(shape)` over the last `axes` axes, eps 1e-5, with elementwise weight
    /// (init 1) and bias (init 0) of those axes' shape.
    #[track_caller]
    pub fn layer_norm(self, axes: usize) -> Tensor<'m> {
        self.layer_norm_with(axes, Norm::new())
    }

    /// [`Tensor::layer_norm`] with options (`nn.LayerNorm(shape, eps, elementwise_affine)`;
    /// `momentum` does not apply).
    #[track_caller]
    pub fn layer_norm_with(self, axes: usize, options: Norm) -> Tensor<'m> {
        self.layer("layer_norm", Location::caller(), |s, x, index| {
            options.check()?;
            let shape = s.graph.shape(x).clone();
            if axes == 0 || axes >= shape.rank() {
                return Err(format!(
                    "layer_norm normalises 1 to {} trailing axes of {shape}, got {axes}",
                    shape.rank() - 1
                ));
            }
            let first = shape.rank() - axes;
            let normalized_shape = Shape(shape.0[first..].to_vec());
            let parameters = options.parameters(s, index, normalized_shape.clone());
            let reduced: Vec<usize> = (first..shape.rank()).collect();
            let g = &mut s.graph;
            let (mean, var, _) = moments(g, x, &reduced);
            let normalized = normalize(g, x, mean, var, options.eps);
            Ok(scale_and_shift(g, normalized, parameters, normalized_shape))
        })
    }

    /// `nn.GroupNorm(groups, c)` on `[n, c, ..]`: the channels split into `groups` groups of
    /// consecutive channels, each sample's group normalised by its own mean and biased variance
    /// (in training and inference alike), then a per-channel weight and bias.
    #[track_caller]
    pub fn group_norm(self, groups: usize) -> Tensor<'m> {
        self.group_norm_with(groups, Norm::new())
    }

    /// [`Tensor::group_norm`] with options (`nn.GroupNorm(groups, c, eps, affine)`; `momentum`
    /// does not apply).
    #[track_caller]
    pub fn group_norm_with(self, groups: usize, options: Norm) -> Tensor<'m> {
        self.layer("group_norm", Location::caller(), |s, x, index| {
            options.check()?;
            let shape = s.graph.shape(x).clone();
            if shape.rank() < 2 {
                return Err(format!("group_norm expects [batch, channels, ..], got {shape}"));
            }
            let (n, c) = (shape.0[0], shape.0[1]);
            if groups == 0 || !c.is_multiple_of(groups) {
                return Err(format!("{groups} groups do not divide {c} channels"));
            }
            let parameters = options.parameters(s, index, Shape(vec![c]));
            let g = &mut s.graph;
            let grouped = g.reshape(x, Shape(vec![n, groups, shape.numel() / (n * groups)]));
            let (mean, var, _) = moments(g, grouped, &[2]);
            let normalized = normalize(g, grouped, mean, var, options.eps);
            let normalized = g.reshape(normalized, shape.clone());
            let mut broadcast = vec![1; shape.rank()];
            broadcast[1] = c;
            Ok(scale_and_shift(g, normalized, parameters, Shape(broadcast)))
        })
    }
}

fn check_dim(g: &Graph, x: ValueId, dim: usize) -> Result<(), String> {
    if dim < g.shape(x).rank() {
        Ok(())
    } else {
        Err(format!("dim {dim} is out of range for {}", g.shape(x)))
    }
}

#[cfg(test)]
mod tests {
    use super::Tensor;
    use crate::grad::gradients;
    use crate::ir::eval::evaluate;
    use crate::Model;
    use std::collections::HashMap;

    /// An activation's values and gradients at `xs`, in f64.
    fn at(xs: &[f64], activation: impl for<'m> Fn(Tensor<'m>) -> Tensor<'m>) -> (Vec<f64>, Vec<f64>) {
        let model = Model::new("Activation");
        let x = model.input("x", [xs.len()]);
        let (x, y) = (x.id.expect("declared"), activation(x).id.expect("valid"));
        let mut g = model.state.borrow().graph.clone();
        let loss = g.sum(y, &[0]);
        let grad = gradients(&mut g, loss, &[x])[0].expect("y depends on x");
        let values = evaluate(&g, &HashMap::from([(x, xs.to_vec())]));
        (values[y].clone(), values[grad].clone())
    }

    fn assert_close(what: &str, got: &[f64], want: &[f64]) {
        let close = got.iter().zip(want).all(|(g, w)| (g - w).abs() <= 1e-12 * w.abs().max(1.0));
        assert!(close, "{what}: {got:?}, PyTorch gives {want:?}");
    }

    /// PyTorch's values and gradients in f64 at -800, -1, 0, 1, 800: finite where a naive
    /// e^-x or e^x overflows, and PyTorch's choice of gradient at 0.
    #[test]
    fn sigmoid_silu_elu_and_softplus_match_pytorch_far_out_and_at_zero() {
        let xs = [-800.0, -1.0, 0.0, 1.0, 800.0];
        type Activation = fn(Tensor) -> Tensor;
        let cases: [(&str, Activation, [f64; 5], [f64; 5]); 4] = [
            (
                "sigmoid",
                |x| x.sigmoid(),
                [0.0, 0.2689414213699951, 0.5, 0.7310585786300049, 1.0],
                [0.0, 0.19661193324148185, 0.25, 0.19661193324148185, 0.0],
            ),
            (
                "silu",
                |x| x.silu(),
                [0.0, -0.2689414213699951, 0.0, 0.7310585786300049, 800.0],
                [0.0, 0.07232948812851325, 0.5, 0.9276705118714869, 1.0],
            ),
            (
                "elu 0.7",
                |x| x.elu(0.7),
                [-0.7, -0.44248439117999033, 0.0, 1.0, 800.0],
                [0.0, 0.2575156088200096, 0.7, 1.0, 1.0],
            ),
            (
                "softplus beta 2",
                |x| x.softplus(2.0),
                [0.0, 0.06346400552148625, 0.34657359027997264, 1.0634640055214863, 800.0],
                [0.0, 0.11920292202211755, 0.5, 0.8807970779778824, 1.0],
            ),
        ];
        for (name, activation, values, gradients) in cases {
            let (got_values, got_gradients) = at(&xs, activation);
            assert_close(&format!("{name} values"), &got_values, &values);
            assert_close(&format!("{name} gradients"), &got_gradients, &gradients);
        }
    }
}

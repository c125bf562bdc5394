//! Optimizers, appended to the train step as IR: the update of every parameter (and of its
//! optimizer state) is part of the compiled graph, written in place. Step-dependent factors
//! (bias corrections, SGD momentum's first step) are scalars the trainer computes on the host
//! from the learning rate and the step counter, so schedules need no recompilation. The
//! formulas follow `torch.optim` exactly, including its defaults.

use crate::ir::Shape;
use crate::ir::{Graph, Init, UnaryOp, ValueId};
use crate::target::Target;

/// SGD with optional momentum, dampening, Nesterov momentum and coupled weight decay (L2).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sgd {
    /// Learning rate.
    pub lr: f64,
    /// Momentum factor (0: none).
    pub momentum: f64,
    /// Dampening of the momentum's gradient term.
    pub dampening: f64,
    /// Nesterov momentum.
    pub nesterov: bool,
    /// L2 penalty added to the gradient.
    pub weight_decay: f64,
}

impl Sgd {
    /// Plain SGD at learning rate `lr`.
    pub fn new(lr: f64) -> Self {
        Sgd { lr, momentum: 0.0, dampening: 0.0, nesterov: false, weight_decay: 0.0 }
    }
}

/// RMSprop (PyTorch's defaults: alpha 0.99, eps 1e-8).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RmsProp {
    /// Learning rate.
    pub lr: f64,
    /// Smoothing constant of the squared-gradient average.
    pub alpha: f64,
    /// Added to the denominator.
    pub eps: f64,
    /// Momentum factor (0: none).
    pub momentum: f64,
    /// Normalise by the gradient's estimated variance instead of its second moment.
    pub centered: bool,
    /// L2 penalty added to the gradient.
    pub weight_decay: f64,
}

impl RmsProp {
    /// RMSprop at learning rate `lr` with PyTorch's defaults.
    pub fn new(lr: f64) -> Self {
        RmsProp { lr, alpha: 0.99, eps: 1e-8, momentum: 0.0, centered: false, weight_decay: 0.0 }
    }
}

/// Adam, or AdamW when `decoupled_weight_decay` (PyTorch's defaults: betas (0.9, 0.999),
/// eps 1e-8; bias correction with the step counter incremented first).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Adam {
    /// Learning rate.
    pub lr: f64,
    /// Decay rates of the first and second moment estimates.
    pub betas: (f64, f64),
    /// Added to the denominator.
    pub eps: f64,
    /// Weight decay: an L2 term in the gradient (Adam) or a decay of the weights (AdamW).
    pub weight_decay: f64,
    /// AdamW: decay the weights by `lr * weight_decay` directly.
    pub decoupled_weight_decay: bool,
}

impl Adam {
    /// Adam at learning rate `lr` with PyTorch's defaults.
    pub fn new(lr: f64) -> Self {
        Adam { lr, betas: (0.9, 0.999), eps: 1e-8, weight_decay: 0.0, decoupled_weight_decay: false }
    }

    /// AdamW at learning rate `lr` with PyTorch's defaults (weight decay 0.01).
    pub fn adamw(lr: f64) -> Self {
        Adam { weight_decay: 0.01, decoupled_weight_decay: true, ..Adam::new(lr) }
    }
}

/// Adagrad (PyTorch's defaults: eps 1e-10, no learning-rate decay).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Adagrad {
    /// Learning rate.
    pub lr: f64,
    /// The learning rate is divided by `1 + (step - 1) * lr_decay`.
    pub lr_decay: f64,
    /// L2 penalty added to the gradient.
    pub weight_decay: f64,
    /// Initial value of the squared-gradient sums.
    pub initial_accumulator_value: f64,
    /// Added to the denominator.
    pub eps: f64,
}

impl Adagrad {
    /// Adagrad at learning rate `lr` with PyTorch's defaults.
    pub fn new(lr: f64) -> Self {
        Adagrad { lr, lr_decay: 0.0, weight_decay: 0.0, initial_accumulator_value: 0.0, eps: 1e-10 }
    }
}

/// The optimizer whose update is appended to the train step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Optimizer {
    /// See [`Sgd`].
    Sgd(Sgd),
    /// See [`RmsProp`].
    RmsProp(RmsProp),
    /// See [`Adam`].
    Adam(Adam),
    /// See [`Adagrad`].
    Adagrad(Adagrad),
}

impl Optimizer {
    /// The initial learning rate.
    pub fn lr(&self) -> f64 {
        match self {
            Optimizer::Sgd(o) => o.lr,
            Optimizer::RmsProp(o) => o.lr,
            Optimizer::Adam(o) => o.lr,
            Optimizer::Adagrad(o) => o.lr,
        }
    }
}

macro_rules! optimizer_from {
    ($($t:ident),*) => {$(
        impl From<$t> for Optimizer {
            fn from(o: $t) -> Self {
                Optimizer::$t(o)
            }
        }
    )*};
}
optimizer_from!(Sgd, RmsProp, Adam, Adagrad);

/// How the train step turns gradients into updates: an optimizer, optionally after clipping
/// the gradients' global L2 norm (as `torch.nn.utils.clip_grad_norm_`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Training {
    /// The update rule.
    pub optimizer: Optimizer,
    /// Largest global L2 norm of all gradients together; larger ones are scaled down to it.
    pub clip_grad_norm: Option<f64>,
    /// Micro-batches per optimizer step: gradients of `accumulate` calls of `train_step` are
    /// averaged before one update (as `(loss / k).backward()` k times, then `step()`).
    pub accumulate: usize,
    /// The number format of buffers, kernels and the trainer's API.
    pub precision: Precision,
    /// Whether ops share kernels (the default). Unfused, every op that is not a view gets a
    /// kernel of its own: the baseline the fusion benchmarks measure against.
    pub fuse: bool,
    /// Whether each parameter's gradient is kept after the step, for the trainer's
    /// `gradient(name)` (see [`Training::keep_gradients`]).
    pub keep_gradients: bool,
    /// The CPU whose vector registers the product tiles are shaped for: the build's own by
    /// default ([`Target::host`]).
    pub target: Target,
}

/// The number format a program computes and stores in.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Precision {
    /// f32 everywhere (the default).
    F32,
    /// f64 everywhere: buffers, kernels and the trainer's API (as `model.double()`), for
    /// checking derivatives of the generated code by finite differences.
    F64,
    /// Mixed precision (as `torch.autocast` with a `GradScaler`): every intermediate of the
    /// forward and backward passes is stored in the half type; arithmetic, reductions and
    /// matmul accumulators stay f32, and so do the parameters (master weights), optimizer
    /// state, unscaled gradients and outputs. The loss is multiplied by a dynamic scale before
    /// the backward pass and the gradients divided by it; a step whose gradients overflow is
    /// skipped and halves the scale, which doubles after 2000 good steps (PyTorch's defaults).
    Mixed(Half),
}

impl Precision {
    /// The type kernels compute in and the trainer's API takes and returns: `f32` or `f64`.
    pub fn float(self) -> &'static str {
        match self {
            Precision::F64 => "f64",
            Precision::F32 | Precision::Mixed(_) => "f32",
        }
    }

    /// The half type of mixed precision.
    pub fn half(self) -> Option<Half> {
        match self {
            Precision::Mixed(half) => Some(half),
            Precision::F32 | Precision::F64 => None,
        }
    }
}

/// A 16-bit float type for mixed precision.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Half {
    /// bfloat16: f32's exponent range, 8 bits of mantissa.
    Bf16,
    /// IEEE half: 11 bits of mantissa, largest value 65504.
    F16,
}

impl Half {
    /// The Rust type name, as generated code imports it from `kiln_runtime::half`.
    pub fn rust_type(self) -> &'static str {
        match self {
            Half::Bf16 => "bf16",
            Half::F16 => "f16",
        }
    }
}

impl Training {
    /// Training with `optimizer` and no clipping.
    pub fn new(optimizer: impl Into<Optimizer>) -> Self {
        Training {
            optimizer: optimizer.into(),
            clip_grad_norm: None,
            accumulate: 1,
            precision: Precision::F32,
            fuse: true,
            keep_gradients: false,
            target: Target::host(),
        }
    }

    /// Averages the gradients of `micro_batches` train steps before each update.
    pub fn accumulate(self, micro_batches: usize) -> Self {
        Training { accumulate: micro_batches.max(1), ..self }
    }

    /// Compiles in `precision` (f32 by default).
    pub fn precision(self, precision: Precision) -> Self {
        Training { precision, ..self }
    }

    /// Gives every op that is not a view a kernel of its own (for measuring what fusion gains).
    pub fn unfused(self) -> Self {
        Training { fuse: false, ..self }
    }

    /// Keeps each parameter's gradient in a buffer of its own after the step, readable with
    /// the trainer's `gradient(name)`. Without it, a gradient the update reads straight from
    /// the kernel that computes it is never stored: the MNIST MLP's first weight gradient
    /// is 800 KB a step (`step_time mlp`: see docs/performance.md).
    pub fn keep_gradients(self) -> Self {
        Training { keep_gradients: true, ..self }
    }

    /// Shapes the product tiles for `target`'s vector registers instead of the build machine's.
    pub fn target(self, target: Target) -> Self {
        Training { target, ..self }
    }

    /// Scales the gradients by `min(1, max_norm / (norm + 1e-6))` before the update.
    pub fn clip_grad_norm(self, max_norm: f64) -> Self {
        Training { clip_grad_norm: Some(max_norm), ..self }
    }
}

impl From<Optimizer> for Training {
    fn from(o: Optimizer) -> Self {
        Training::new(o)
    }
}

macro_rules! training_from {
    ($($t:ty),*) => {$(
        impl From<$t> for Training {
            fn from(o: $t) -> Self {
                Training::new(o)
            }
        }
    )*};
}
training_from!(Sgd, RmsProp, Adam, Adagrad);

/// Appends `g * min(1, max_norm / (||(g_1, .., g_n)|| + 1e-6))` for each gradient.
pub(crate) fn clip_grad_norm(graph: &mut Graph, grads: &[ValueId], max_norm: f64) -> Vec<ValueId> {
    let mut total = None;
    for &g in grads {
        let squares = graph.mul(g, g);
        let axes: Vec<usize> = (0..graph.shape(g).rank()).collect();
        let sum = graph.sum(squares, &axes);
        let sum = graph.reshape(sum, Shape(vec![1]));
        total = Some(match total {
            Some(t) => graph.add(t, sum),
            None => sum,
        });
    }
    let Some(total) = total else { return vec![] };
    let norm = graph.unary(UnaryOp::Sqrt, total);
    let eps = graph.scalar_like(1e-6, norm);
    let denom = graph.add(norm, eps);
    let max = graph.scalar_like(max_norm, denom);
    let coef = graph.div(max, denom);
    let one = graph.scalar_like(1.0, coef);
    let coef = graph.binary(crate::ir::BinaryOp::Min, coef, one);
    grads.iter().map(|&g| graph.mul(g, coef)).collect()
}

/// A scalar the trainer computes on the host before each step, from the learning rate `lr`
/// and the number `t` of the step being taken (counted from 1).
#[derive(Clone, Copy, Debug, PartialEq)]
#[allow(missing_docs)] // each field is the hyperparameter of the same name in its formula
pub enum HostScalar {
    /// `lr`
    LearningRate,
    /// `lr / (1 - beta1^t)` (Adam's step size).
    AdamStepSize { beta1: f64 },
    /// `1 / sqrt(1 - beta2^t)` (Adam's second-moment correction).
    AdamInverseSqrtCorrection { beta2: f64 },
    /// `0` at the first step, else `momentum` (SGD's buffer starts as the gradient).
    MomentumFactor { momentum: f64 },
    /// `1` at the first step, else `1 - dampening`.
    GradientFactor { dampening: f64 },
    /// `1 - lr * weight_decay` (AdamW's decay of the weights).
    DecayFactor { weight_decay: f64 },
    /// `lr / (1 + (t - 1) * lr_decay)` (Adagrad).
    DecayedLearningRate { lr_decay: f64 },
    /// The dynamic loss scale of mixed precision.
    LossScale,
}

impl HostScalar {
    /// Rust source of the value, over `lr: f64` and `t: f64` in scope.
    pub fn source(&self) -> String {
        match *self {
            HostScalar::LearningRate => "lr".into(),
            HostScalar::AdamStepSize { beta1 } => format!("lr / (1.0 - {beta1:?}f64.powf(t))"),
            HostScalar::AdamInverseSqrtCorrection { beta2 } => format!("1.0 / (1.0 - {beta2:?}f64.powf(t)).sqrt()"),
            HostScalar::MomentumFactor { momentum } => format!("if t == 1.0 {{ 0.0 }} else {{ {momentum:?} }}"),
            HostScalar::GradientFactor { dampening } => format!("if t == 1.0 {{ 1.0 }} else {{ 1.0 - {dampening:?} }}"),
            HostScalar::DecayFactor { weight_decay } => format!("1.0 - lr * {weight_decay:?}"),
            HostScalar::DecayedLearningRate { lr_decay } => format!("lr / (1.0 + (t - 1.0) * {lr_decay:?})"),
            HostScalar::LossScale => "f64::from(self.loss_scale)".into(),
        }
    }
}

/// Appends optimizer updates to a graph, collecting the state and host scalars they need.
pub(crate) struct Updates<'g> {
    pub graph: &'g mut Graph,
    /// Host scalars as `[1]` inputs.
    pub scalars: Vec<(HostScalar, ValueId)>,
    /// Optimizer state: (name, value, updated value).
    pub state: Vec<(String, ValueId, ValueId)>,
}

impl Updates<'_> {
    fn scalar(&mut self, kind: HostScalar) -> ValueId {
        if let Some(&(_, v)) = self.scalars.iter().find(|(k, _)| *k == kind) {
            return v;
        }
        let v = self.graph.input(&format!("__scalar{}", self.scalars.len()), Shape(vec![1]));
        self.scalars.push((kind, v));
        v
    }

    fn state(&mut self, param: &str, key: &str, like: ValueId, init: f64) -> ValueId {
        let shape = self.graph.shape(like).clone();
        self.graph.param(&format!("optimizer.{param}.{key}"), shape, Init::Constant(init))
    }

    fn set_state(&mut self, name_of: ValueId, old: ValueId, new: ValueId) {
        let name = self.graph.nodes[name_of].op.name().expect("parameters are named").to_string();
        self.state.push((name, old, new));
    }

    fn axpy(&mut self, a: f64, x: ValueId, y: ValueId) -> ValueId {
        let ax = self.graph.scale(x, a);
        self.graph.add(ax, y)
    }

    /// `a * x + b * y` with constants `a` and `b`.
    fn mix(&mut self, a: f64, x: ValueId, b: f64, y: ValueId) -> ValueId {
        let by = self.graph.scale(y, b);
        self.axpy(a, x, by)
    }

    /// Appends the update of parameter `p` (named `name`) with gradient `g`; returns the
    /// updated parameter.
    pub fn update(&mut self, optimizer: &Optimizer, name: &str, p: ValueId, g: ValueId) -> ValueId {
        let coupled_decay = |u: &mut Self, wd: f64| if wd > 0.0 { u.axpy(wd, p, g) } else { g };
        match *optimizer {
            Optimizer::Sgd(o) => {
                let g = coupled_decay(self, o.weight_decay);
                let direction = if o.momentum > 0.0 {
                    let buf = self.state(name, "momentum_buffer", p, 0.0);
                    let mf = self.scalar(HostScalar::MomentumFactor { momentum: o.momentum });
                    let gf = self.scalar(HostScalar::GradientFactor { dampening: o.dampening });
                    let kept = self.graph.mul(mf, buf);
                    let added = self.graph.mul(gf, g);
                    let new_buf = self.graph.add(kept, added);
                    self.set_state(buf, buf, new_buf);
                    if o.nesterov {
                        self.axpy(o.momentum, new_buf, g)
                    } else {
                        new_buf
                    }
                } else {
                    g
                };
                let lr = self.scalar(HostScalar::LearningRate);
                let step = self.graph.mul(lr, direction);
                self.graph.sub(p, step)
            }
            Optimizer::RmsProp(o) => {
                let g = coupled_decay(self, o.weight_decay);
                let square_avg = self.state(name, "square_avg", p, 0.0);
                let g2 = self.graph.mul(g, g);
                let new_square_avg = self.mix(o.alpha, square_avg, 1.0 - o.alpha, g2);
                self.set_state(square_avg, square_avg, new_square_avg);
                let variance = if o.centered {
                    let grad_avg = self.state(name, "grad_avg", p, 0.0);
                    let new_grad_avg = self.mix(o.alpha, grad_avg, 1.0 - o.alpha, g);
                    self.set_state(grad_avg, grad_avg, new_grad_avg);
                    let mean2 = self.graph.mul(new_grad_avg, new_grad_avg);
                    self.graph.sub(new_square_avg, mean2)
                } else {
                    new_square_avg
                };
                let root = self.graph.unary(UnaryOp::Sqrt, variance);
                let eps = self.graph.scalar_like(o.eps, root);
                let avg = self.graph.add(root, eps);
                let scaled = self.graph.div(g, avg);
                let direction = if o.momentum > 0.0 {
                    let buf = self.state(name, "momentum_buffer", p, 0.0);
                    let new_buf = self.axpy(o.momentum, buf, scaled);
                    self.set_state(buf, buf, new_buf);
                    new_buf
                } else {
                    scaled
                };
                let lr = self.scalar(HostScalar::LearningRate);
                let step = self.graph.mul(lr, direction);
                self.graph.sub(p, step)
            }
            Optimizer::Adam(o) => {
                let (b1, b2) = o.betas;
                let g = if o.decoupled_weight_decay { g } else { coupled_decay(self, o.weight_decay) };
                let exp_avg = self.state(name, "exp_avg", p, 0.0);
                let exp_avg_sq = self.state(name, "exp_avg_sq", p, 0.0);
                let new_avg = self.mix(b1, exp_avg, 1.0 - b1, g);
                let g2 = self.graph.mul(g, g);
                let new_avg_sq = self.mix(b2, exp_avg_sq, 1.0 - b2, g2);
                self.set_state(exp_avg, exp_avg, new_avg);
                self.set_state(exp_avg_sq, exp_avg_sq, new_avg_sq);
                let root = self.graph.unary(UnaryOp::Sqrt, new_avg_sq);
                let correction = self.scalar(HostScalar::AdamInverseSqrtCorrection { beta2: b2 });
                let corrected = self.graph.mul(root, correction);
                let eps = self.graph.scalar_like(o.eps, corrected);
                let denom = self.graph.add(corrected, eps);
                let step_size = self.scalar(HostScalar::AdamStepSize { beta1: b1 });
                let ratio = self.graph.div(new_avg, denom);
                let step = self.graph.mul(step_size, ratio);
                let p = if o.decoupled_weight_decay && o.weight_decay > 0.0 {
                    let decay = self.scalar(HostScalar::DecayFactor { weight_decay: o.weight_decay });
                    self.graph.mul(p, decay)
                } else {
                    p
                };
                self.graph.sub(p, step)
            }
            Optimizer::Adagrad(o) => {
                let g = coupled_decay(self, o.weight_decay);
                let sum = self.state(name, "sum", p, o.initial_accumulator_value);
                let g2 = self.graph.mul(g, g);
                let new_sum = self.graph.add(sum, g2);
                self.set_state(sum, sum, new_sum);
                let root = self.graph.unary(UnaryOp::Sqrt, new_sum);
                let eps = self.graph.scalar_like(o.eps, root);
                let denom = self.graph.add(root, eps);
                let ratio = self.graph.div(g, denom);
                let lr = self.scalar(HostScalar::DecayedLearningRate { lr_decay: o.lr_decay });
                let step = self.graph.mul(lr, ratio);
                self.graph.sub(p, step)
            }
        }
    }
}

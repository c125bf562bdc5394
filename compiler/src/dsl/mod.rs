//! The model DSL: what a user writes in `build.rs`.
//!
//! ```
//! use kiln_compiler::{Model, Sgd};
//! let model = Model::new("Mlp");
//! let images = model.input("images", [64, 1, 28, 28]);
//! let labels = model.labels("labels", [64], 10);
//! let logits = images.flatten().linear(256).relu().linear(10);
//! let loss = logits.cross_entropy(labels);
//! let program = model.compile(loss, logits, Sgd::new(0.1)).unwrap();
//! assert_eq!(program.params[0].name, "1.weight");
//! ```
//!
//! Each layer call is one module of an `nn.Sequential`: it takes the next index, and its
//! parameters are named `{index}.weight` / `{index}.bias` with PyTorch's layouts, so a
//! PyTorch `state_dict` of the same architecture loads as is. Shapes are checked at each call;
//! the first error is kept (later layers on a failed value are skipped) and returned by
//! [`Model::compile`].

mod attention;
mod conv;
mod derivatives;
mod embedding;
mod init;
mod loss;
mod norm;
mod recurrent;
mod repeat;
mod shared;
mod tensor_ops;

pub use conv::{Conv, ConvTranspose, Padding, Pair, Pool};
pub use embedding::{Embedding, Tokens};
pub use init::{Initializer, Linear};
pub use loss::CrossEntropy;
pub use norm::Norm;
pub use recurrent::{Cell, CellState, Lengths, Recurrent};
pub use shared::{Dense, EmbeddingTable};

use crate::error::Error;
use crate::ir::Shape;
use crate::ir::{BinaryOp, Graph, UnaryOp, ValueId};
use crate::optim::Training;
use crate::program::Program;
use std::cell::RefCell;
use std::panic::Location;

/// A model being declared: a graph plus the bookkeeping of the DSL.
pub struct Model {
    pub(crate) name: String,
    pub(crate) state: RefCell<State>,
}

pub(crate) struct State {
    pub graph: Graph,
    pub inputs: Vec<ValueId>,
    /// Inputs fed whole, without a batch axis (a subset of `inputs`).
    pub unbatched: Vec<ValueId>,
    pub labels: Vec<ValueId>,
    /// Integer inputs fed to every entry point (embedding ids, sequence lengths).
    pub tokens: Vec<ValueId>,
    /// Sequence lengths (a subset of `tokens`): each in `1..=max_len`.
    pub lengths: Vec<ValueId>,
    /// Each lengths input's time-major step mask, once made (see `recurrent::steps_below`).
    pub length_masks: Vec<(ValueId, ValueId)>,
    pub params: Vec<ValueId>,
    /// Every input, label and token declaration with its call site (to report unused ones).
    pub declared: Vec<(ValueId, &'static Location<'static>)>,
    /// Parameters or layers `freeze` was asked for, with the call site.
    pub frozen: Vec<(String, &'static Location<'static>)>,
    /// Per-sample weights of the loss (1/n for real rows, 0 for padding), fed by the trainer.
    pub sample_weight: Option<ValueId>,
    /// Running statistics (batch norm): name, value, value after a train step.
    pub statistics: Vec<(String, ValueId, ValueId)>,
    /// Dropout masks the trainer draws each step: mask input, drop probability, layer index.
    pub dropouts: Vec<(ValueId, f64, usize)>,
    /// Weight matrices and kernels (not biases or norm scales): what penalties act on.
    pub weights: Vec<ValueId>,
    /// Values the trainer returns from methods of their own: (method name, value).
    pub exposed: Vec<(String, ValueId)>,
    /// Constant tensors (class weights of a loss): an input the trainer fills once, and its data.
    pub constants: Vec<(ValueId, Vec<f64>)>,
    next_module: usize,
    pub error: Option<Error>,
}

/// A value in the model being declared. Cheap to copy; methods add layers.
#[derive(Clone, Copy)]
pub struct Tensor<'m> {
    pub(crate) model: &'m Model,
    /// `None` once an earlier layer failed: further layers are skipped.
    pub(crate) id: Option<ValueId>,
}

/// Integer class labels, the target of a classification loss.
#[derive(Clone, Copy)]
pub struct Labels<'m> {
    pub(crate) tensor: Tensor<'m>,
    pub(crate) classes: usize,
}

impl Model {
    /// Starts a model; `name` becomes the generated trainer's type name.
    pub fn new(name: &str) -> Self {
        Model {
            name: name.to_string(),
            state: RefCell::new(State {
                graph: Graph::default(),
                inputs: vec![],
                unbatched: vec![],
                labels: vec![],
                tokens: vec![],
                lengths: vec![],
                length_masks: vec![],
                params: vec![],
                declared: vec![],
                frozen: vec![],
                sample_weight: None,
                statistics: vec![],
                dropouts: vec![],
                weights: vec![],
                exposed: vec![],
                constants: vec![],
                next_module: 0,
                error: None,
            }),
        }
    }

    /// Declares an f32 input fed each step, with its static shape (batch first).
    #[track_caller]
    pub fn input(&self, name: &str, shape: impl Into<Shape>) -> Tensor<'_> {
        self.declare_input(name, shape.into(), true, Location::caller())
    }

    /// Declares an f32 input without a batch axis, fed whole to every method that reads it: a
    /// direction in parameter space for [`Tensor::jvp`] or [`Tensor::hvp`], say.
    #[track_caller]
    pub fn unbatched_input(&self, name: &str, shape: impl Into<Shape>) -> Tensor<'_> {
        self.declare_input(name, shape.into(), false, Location::caller())
    }

    fn declare_input(
        &self,
        name: &str,
        shape: Shape,
        batched: bool,
        location: &'static Location<'static>,
    ) -> Tensor<'_> {
        let id = self.checked(name, location, |s| {
            let valid = if shape.rank() == 0 || shape.numel() == 0 {
                let first = if batched { "a batch axis" } else { "at least one axis" };
                Err(format!("input shape {shape} must have {first} and no empty axis"))
            } else {
                Ok(())
            };
            let id = s.declare(name, location, valid, |g| g.input(name, shape))?;
            s.inputs.push(id);
            if !batched {
                s.unbatched.push(id);
            }
            Ok(id)
        });
        Tensor { model: self, id }
    }

    /// Declares integer class labels in `0..classes` fed each step (shape `[batch]`, or
    /// `[batch, len]` for a sequence loss).
    #[track_caller]
    pub fn labels(&self, name: &str, shape: impl Into<Shape>, classes: usize) -> Labels<'_> {
        let shape = shape.into();
        let location = Location::caller();
        let id = self.checked(name, location, |s| {
            let valid = if shape.rank() == 0 || shape.numel() == 0 || classes < 2 {
                Err(format!("labels must have shape [batch] (or [batch, len]) and at least 2 classes, got {shape} with {classes}"))
            } else {
                Ok(())
            };
            let id = s.declare(name, location, valid, |g| g.labels(name, shape, classes))?;
            s.labels.push(id);
            Ok(id)
        });
        Labels { tensor: Tensor { model: self, id }, classes }
    }

    /// Freezes a parameter (`"0.weight"`) or every parameter of a layer (`"0"`) for transfer
    /// learning: it gets no gradient and no update but is still initialised, loaded and saved
    /// (as `requires_grad = False` in PyTorch). An unknown name fails `compile`.
    #[track_caller]
    pub fn freeze(&self, name: &str) {
        self.state.borrow_mut().frozen.push((name.to_string(), Location::caller()));
    }

    /// Runs one DSL step on the state, recording the first error at `location`.
    fn checked<T>(
        &self,
        layer: &str,
        location: &'static Location<'static>,
        step: impl FnOnce(&mut State) -> Result<T, String>,
    ) -> Option<T> {
        let mut state = self.state.borrow_mut();
        if state.error.is_some() {
            return None;
        }
        match step(&mut state) {
            Ok(id) => Some(id),
            Err(message) => {
                state.error = Some(Error { layer: layer.to_string(), message, location });
                None
            }
        }
    }

    /// Claims the next module index for a layer used as a value (applied later, maybe more
    /// than once) and declares its parameters with `declare`; `None` once an error is recorded.
    pub(crate) fn module<W>(
        &self,
        kind: &str,
        location: &'static Location<'static>,
        declare: impl FnOnce(&mut State, usize) -> Result<W, String>,
    ) -> Option<W> {
        let mut state = self.state.borrow_mut();
        if state.error.is_some() {
            return None;
        }
        let (index, label) = state.next_layer(kind);
        match declare(&mut state, index) {
            Ok(weights) => Some(weights),
            Err(message) => {
                state.error = Some(Error { layer: label, message, location });
                None
            }
        }
    }

    /// Adds autodiff and the optimizer update (an optimizer, or a [`Training`] with clipping),
    /// returning the program to emit.
    #[track_caller]
    pub fn compile(
        &self,
        loss: Tensor<'_>,
        output: Tensor<'_>,
        training: impl Into<Training>,
    ) -> Result<Program, Error> {
        let location = Location::caller();
        if let Some(error) = self.state.borrow().error.clone() {
            return Err(error);
        }
        let (Some(loss), Some(output)) = (loss.id, output.id) else {
            unreachable!("a failed layer records an error");
        };
        Program::build(self, loss, output, training.into(), location)
    }
}

impl State {
    fn check_new_name(&self, name: &str) -> Result<(), String> {
        let taken = self.graph.nodes.iter().any(|n| match &n.op {
            crate::ir::Op::Input { name: other } | crate::ir::Op::Labels { name: other, .. } => other == name,
            _ => false,
        });
        if taken {
            Err(format!("the name {name:?} is already used by another input"))
        } else {
            Ok(())
        }
    }

    /// Adds a value fed each step (input, labels, tokens) once its name is known to be new and
    /// `valid` holds, remembering where it was declared.
    pub(crate) fn declare(
        &mut self,
        name: &str,
        location: &'static Location<'static>,
        valid: Result<(), String>,
        make: impl FnOnce(&mut Graph) -> ValueId,
    ) -> Result<ValueId, String> {
        self.check_new_name(name)?;
        valid?;
        self.graph.set_origin(name);
        let id = make(&mut self.graph);
        self.declared.push((id, location));
        Ok(id)
    }

    /// Adds a trained parameter `{index}.{name}`.
    pub(crate) fn param(&mut self, index: usize, name: &str, shape: Shape, init: crate::ir::Init) -> ValueId {
        let id = self.graph.param(&format!("{index}.{name}"), shape, init);
        self.params.push(id);
        id
    }

    /// Adds a running statistic `{index}.{name}` (saved, not trained) and its value after a
    /// train step.
    pub(crate) fn statistic(
        &mut self,
        index: usize,
        name: &str,
        shape: Shape,
        init: f64,
        update: impl FnOnce(&mut Graph, ValueId) -> ValueId,
    ) -> ValueId {
        let name = format!("{index}.{name}");
        let value = self.graph.param(&name, shape, crate::ir::Init::Constant(init));
        let next = update(&mut self.graph, value);
        self.statistics.push((name, value, next));
        value
    }

    /// Finishes a loss from per-sample losses `[batch, 1]`: their mean over the real rows of
    /// the batch (the trainer zeroes the weights of a padded last batch's filler rows).
    pub(crate) fn mean_over_samples(&mut self, per_sample: ValueId) -> Result<ValueId, String> {
        if self.sample_weight.is_some() {
            return Err("a model has one loss (add penalties to it with .add)".into());
        }
        let batch = self.graph.shape(per_sample).0[0];
        let weight = self.graph.input("__sample_weight", Shape(vec![batch, 1]));
        self.sample_weight = Some(weight);
        let weighted = self.graph.mul(per_sample, weight);
        Ok(self.graph.sum(weighted, &[0, 1]))
    }

    /// A loss that is a ratio of sums over the real rows: Σ numerator / Σ denominator, both
    /// `[batch, ..]` (PyTorch's weighted mean, as in `cross_entropy` with class weights).
    pub(crate) fn ratio_over_samples(&mut self, numerator: ValueId, denominator: ValueId) -> Result<ValueId, String> {
        if self.sample_weight.is_some() {
            return Err("a model has one loss (add penalties to it with .add)".into());
        }
        let shape = self.graph.shape(numerator).clone();
        let batch = shape.0[0];
        let weight = self.graph.input("__sample_weight", Shape(vec![batch, 1]));
        self.sample_weight = Some(weight);
        let total = |g: &mut Graph, v: ValueId| {
            let rows = g.reshape(v, Shape(vec![batch, shape.numel() / batch]));
            let weighted = g.mul(rows, weight);
            g.sum(weighted, &[0, 1])
        };
        let numerator = total(&mut self.graph, numerator);
        let denominator = total(&mut self.graph, denominator);
        Ok(self.graph.div(numerator, denominator))
    }

    /// A constant tensor of `shape` holding `data` (row-major): an input named `__constant{n}`
    /// that the trainer writes once, when it is made.
    pub(crate) fn constant(&mut self, shape: Shape, data: Vec<f64>) -> ValueId {
        let value = self.graph.input(&format!("__constant{}", self.constants.len()), shape);
        self.constants.push((value, data));
        value
    }

    /// Claims the next `nn.Sequential` index for a layer of `kind`, e.g. `3.linear`.
    fn next_layer(&mut self, kind: &str) -> (usize, String) {
        let index = self.next_module;
        self.next_module += 1;
        let label = format!("{index}.{kind}");
        self.graph.set_origin(label.clone());
        (index, label)
    }
}

impl<'m> Tensor<'m> {
    /// The static shape, or `None` if an earlier layer failed.
    pub fn shape(&self) -> Option<Shape> {
        self.id.map(|id| self.model.state.borrow().graph.shape(id).clone())
    }

    /// Adds one layer: claims its module index, checks and lowers it.
    pub(crate) fn layer(
        self,
        kind: &str,
        location: &'static Location<'static>,
        lower: impl FnOnce(&mut State, ValueId, usize) -> Result<ValueId, String>,
    ) -> Tensor<'m> {
        let Some(x) = self.id else { return self };
        let mut state = self.model.state.borrow_mut();
        let (index, label) = state.next_layer(kind);
        let id = match lower(&mut state, x, index) {
            Ok(id) => Some(id),
            Err(message) => {
                state.error = Some(Error { layer: label, message, location });
                None
            }
        };
        Tensor { model: self.model, id }
    }

    /// A functional op (no module index, as in `torch.*`), recorded under `kind`.
    pub(crate) fn functional(
        self,
        kind: &str,
        location: &'static Location<'static>,
        lower: impl FnOnce(&mut State, ValueId) -> Result<ValueId, String>,
    ) -> Tensor<'m> {
        let Some(x) = self.id else { return self };
        let id = self.model.checked(kind, location, |s| {
            s.graph.set_origin(kind);
            lower(s, x)
        });
        Tensor { model: self.model, id }
    }

    fn unary(self, kind: &str, op: UnaryOp, location: &'static Location<'static>) -> Tensor<'m> {
        self.functional(kind, location, |s, x| Ok(s.graph.unary(op, x)))
    }

    /// `self op other` with NumPy broadcasting; a shape mismatch names both shapes.
    fn binary(self, kind: &str, op: BinaryOp, other: Tensor<'m>, location: &'static Location<'static>) -> Tensor<'m> {
        let Some(y) = other.id else { return other };
        self.functional(kind, location, |s, x| {
            let (a, b) = (s.graph.shape(x).clone(), s.graph.shape(y).clone());
            let rank = a.rank().max(b.rank());
            if Shape::broadcast(&a.padded_to(rank), &b.padded_to(rank)).is_none() {
                return Err(format!("shapes {a} and {b} do not broadcast"));
            }
            Ok(s.graph.binary(op, x, y))
        })
    }

    /// e^x, elementwise.
    #[track_caller]
    pub fn exp(self) -> Tensor<'m> {
        self.unary("exp", UnaryOp::Exp, Location::caller())
    }

    /// Natural logarithm, elementwise.
    #[track_caller]
    pub fn log(self) -> Tensor<'m> {
        self.unary("log", UnaryOp::Log, Location::caller())
    }

    /// Square root, elementwise.
    #[track_caller]
    pub fn sqrt(self) -> Tensor<'m> {
        self.unary("sqrt", UnaryOp::Sqrt, Location::caller())
    }

    /// |x|, elementwise (gradient sign(x), 0 at 0 as in PyTorch).
    #[track_caller]
    pub fn abs(self) -> Tensor<'m> {
        self.unary("abs", UnaryOp::Abs, Location::caller())
    }

    /// -1, 0 or 1, elementwise (no gradient).
    #[track_caller]
    pub fn sign(self) -> Tensor<'m> {
        self.unary("sign", UnaryOp::Sign, Location::caller())
    }

    /// `self + other`, broadcast.
    #[track_caller]
    #[allow(clippy::should_implement_trait)] // a layer call, named as torch's; records its line
    pub fn add(self, other: Tensor<'m>) -> Tensor<'m> {
        self.binary("add", BinaryOp::Add, other, Location::caller())
    }

    /// `self - other`, broadcast.
    #[track_caller]
    #[allow(clippy::should_implement_trait)] // a layer call, named as torch's; records its line
    pub fn sub(self, other: Tensor<'m>) -> Tensor<'m> {
        self.binary("sub", BinaryOp::Sub, other, Location::caller())
    }

    /// `self * other`, broadcast.
    #[track_caller]
    #[allow(clippy::should_implement_trait)] // a layer call, named as torch's; records its line
    pub fn mul(self, other: Tensor<'m>) -> Tensor<'m> {
        self.binary("mul", BinaryOp::Mul, other, Location::caller())
    }

    /// `self / other`, broadcast.
    #[track_caller]
    #[allow(clippy::should_implement_trait)] // a layer call, named as torch's; records its line
    pub fn div(self, other: Tensor<'m>) -> Tensor<'m> {
        self.binary("div", BinaryOp::Div, other, Location::caller())
    }

    /// `self ^ other`, broadcast.
    #[track_caller]
    pub fn pow(self, other: Tensor<'m>) -> Tensor<'m> {
        self.binary("pow", BinaryOp::Pow, other, Location::caller())
    }

    /// The larger of `self` and `other`, broadcast (ties share the gradient).
    #[track_caller]
    pub fn maximum(self, other: Tensor<'m>) -> Tensor<'m> {
        self.binary("maximum", BinaryOp::Max, other, Location::caller())
    }

    /// The smaller of `self` and `other`, broadcast (ties share the gradient).
    #[track_caller]
    pub fn minimum(self, other: Tensor<'m>) -> Tensor<'m> {
        self.binary("minimum", BinaryOp::Min, other, Location::caller())
    }

    /// `self * factor` with a constant.
    #[track_caller]
    pub fn scale(self, factor: f64) -> Tensor<'m> {
        self.functional("scale", Location::caller(), |s, x| Ok(s.graph.scale(x, factor)))
    }

    /// `self + value` with a constant.
    #[track_caller]
    pub fn shift(self, value: f64) -> Tensor<'m> {
        self.functional("shift", Location::caller(), |s, x| {
            let c = s.graph.scalar_like(value, x);
            Ok(s.graph.add(x, c))
        })
    }

    /// `nn.Linear(in, out)`: `x W^T + b` with weight `[out, in]`, on the last axis as PyTorch's:
    /// `[.., in]` gives `[.., out]`. Flatten first ([`Tensor::flatten`]) to act on every axis
    /// after the batch axis. Takes `out` or a [`Linear`] with options.
    #[track_caller]
    pub fn linear(self, options: impl Into<Linear>) -> Tensor<'m> {
        let options = options.into();
        self.layer("linear", Location::caller(), |s, x, index| {
            let shape = s.graph.shape(x).clone();
            if shape.rank() < 2 {
                return Err(format!("linear expects [batch, .., features], got {shape}"));
            }
            let in_features = shape.0[shape.rank() - 1];
            let weights = LinearWeights::new(s, index, in_features, options)?;
            Ok(weights.apply(&mut s.graph, x))
        })
    }
}

/// The parameters of one `nn.Linear`.
#[derive(Clone, Copy)]
pub(crate) struct LinearWeights {
    pub in_features: usize,
    pub weight: ValueId,
    pub bias: Option<ValueId>,
}

impl LinearWeights {
    /// Declares `{index}.weight` `[out, in]` and `{index}.bias` `[out]`.
    pub fn new(s: &mut State, index: usize, in_features: usize, options: Linear) -> Result<Self, String> {
        let out = options.out_features;
        if out == 0 || in_features == 0 {
            return Err(format!("linear needs at least one input and one output feature, got {in_features} and {out}"));
        }
        let fans = (in_features, out);
        let weight = s.param(index, "weight", [out, in_features].into(), options.weight_init.resolve(fans));
        s.weights.push(weight);
        let bias = options.bias.then(|| s.param(index, "bias", [out].into(), options.bias_init.resolve(fans)));
        Ok(LinearWeights { in_features, weight, bias })
    }

    /// `x W^T + b` over the last axis of `x` `[.., in]`, which is viewed as rows `[n, in]`
    /// for the product and given back its leading axes after it.
    pub fn apply(&self, g: &mut Graph, x: ValueId) -> ValueId {
        let shape = g.shape(x).clone();
        let rows = shape.numel() / self.in_features;
        let x = g.reshape(x, Shape(vec![rows, self.in_features]));
        let wt = g.transpose(self.weight);
        let y = g.matmul(x, wt);
        let out = g.shape(wt).0[1];
        let y = match self.bias {
            Some(b) => {
                let b = g.reshape(b, Shape(vec![1, out]));
                g.add(y, b)
            }
            None => y,
        };
        if shape.rank() == 2 {
            return y;
        }
        let mut out_shape = shape.0;
        let last = out_shape.len() - 1;
        out_shape[last] = out;
        g.reshape(y, Shape(out_shape))
    }
}

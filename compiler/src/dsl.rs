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

use crate::error::Error;
use crate::ir::{BinaryOp, Graph, Init, ReduceOp, UnaryOp, ValueId};
use crate::optim::Training;
use crate::program::Program;
use crate::shape::Shape;
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
    pub labels: Vec<ValueId>,
    pub params: Vec<ValueId>,
    /// Per-sample weights of the loss (1/n for real rows, 0 for padding), fed by the trainer.
    pub sample_weight: Option<ValueId>,
    next_module: usize,
    pub error: Option<Error>,
}

/// A value in the model being declared. Cheap to copy; methods add layers.
#[derive(Clone, Copy)]
pub struct Tensor<'m> {
    model: &'m Model,
    /// `None` once an earlier layer failed: further layers are skipped.
    id: Option<ValueId>,
}

/// Integer class labels, the target of a classification loss.
#[derive(Clone, Copy)]
pub struct Labels<'m> {
    tensor: Tensor<'m>,
    classes: usize,
}

impl Model {
    /// Starts a model; `name` becomes the generated trainer's type name.
    pub fn new(name: &str) -> Self {
        Model {
            name: name.to_string(),
            state: RefCell::new(State {
                graph: Graph::default(),
                inputs: vec![],
                labels: vec![],
                params: vec![],
                sample_weight: None,
                next_module: 0,
                error: None,
            }),
        }
    }

    /// Declares an f32 input fed each step, with its static shape (batch first).
    #[track_caller]
    pub fn input(&self, name: &str, shape: impl Into<Shape>) -> Tensor<'_> {
        let shape = shape.into();
        let location = Location::caller();
        let id = self.checked(name, location, |s| {
            s.check_new_name(name)?;
            if shape.rank() == 0 || shape.numel() == 0 {
                return Err(format!("input shape {shape} must have a batch axis and no empty axis"));
            }
            s.graph.set_origin(name);
            let id = s.graph.input(name, shape);
            s.inputs.push(id);
            Ok(id)
        });
        Tensor { model: self, id }
    }

    /// Declares integer class labels in `0..classes` fed each step (shape `[batch]`).
    #[track_caller]
    pub fn labels(&self, name: &str, shape: impl Into<Shape>, classes: usize) -> Labels<'_> {
        let shape = shape.into();
        let location = Location::caller();
        let id = self.checked(name, location, |s| {
            s.check_new_name(name)?;
            if shape.rank() != 1 || classes < 2 {
                return Err(format!(
                    "labels must have shape [batch] and at least 2 classes, got {shape} with {classes}"
                ));
            }
            s.graph.set_origin(name);
            let id = s.graph.labels(name, shape, classes);
            s.labels.push(id);
            Ok(id)
        });
        Labels { tensor: Tensor { model: self, id }, classes }
    }

    /// Runs one DSL step on the state, recording the first error at `location`.
    fn checked(
        &self,
        layer: &str,
        location: &'static Location<'static>,
        step: impl FnOnce(&mut State) -> Result<ValueId, String>,
    ) -> Option<ValueId> {
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
            crate::ir::Op::Input { name: other } | crate::ir::Op::Labels { name: other, .. } => {
                other == name
            }
            _ => false,
        });
        if taken {
            Err(format!("the name {name:?} is already used by another input"))
        } else {
            Ok(())
        }
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
    fn layer(
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
    fn functional(
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

    /// Hyperbolic tangent, elementwise.
    #[track_caller]
    pub fn tanh(self) -> Tensor<'m> {
        self.unary("tanh", UnaryOp::Tanh, Location::caller())
    }

    /// 1 / (1 + e^-x), elementwise.
    #[track_caller]
    pub fn sigmoid(self) -> Tensor<'m> {
        self.functional("sigmoid", Location::caller(), |s, x| {
            let g = &mut s.graph;
            let neg = g.unary(UnaryOp::Neg, x);
            let e = g.unary(UnaryOp::Exp, neg);
            let one = g.scalar_like(1.0, e);
            let denom = g.add(one, e);
            Ok(g.unary(UnaryOp::Recip, denom))
        })
    }

    /// `self + other`, broadcast.
    #[track_caller]
    pub fn add(self, other: Tensor<'m>) -> Tensor<'m> {
        self.binary("add", BinaryOp::Add, other, Location::caller())
    }

    /// `self - other`, broadcast.
    #[track_caller]
    pub fn sub(self, other: Tensor<'m>) -> Tensor<'m> {
        self.binary("sub", BinaryOp::Sub, other, Location::caller())
    }

    /// `self * other`, broadcast.
    #[track_caller]
    pub fn mul(self, other: Tensor<'m>) -> Tensor<'m> {
        self.binary("mul", BinaryOp::Mul, other, Location::caller())
    }

    /// `self / other`, broadcast.
    #[track_caller]
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

    /// `nn.Flatten()`: keeps the batch axis, merges the rest.
    #[track_caller]
    pub fn flatten(self) -> Tensor<'m> {
        self.layer("flatten", Location::caller(), |s, x, _| {
            let shape = s.graph.shape(x).clone();
            if shape.rank() < 2 {
                return Err(format!("flatten needs a batch axis and at least one more, got {shape}"));
            }
            let batch = shape.0[0];
            Ok(s.graph.reshape(x, Shape(vec![batch, shape.numel() / batch])))
        })
    }

    /// `nn.Linear(in, out)` on `[batch, in]`: `x W^T + b`, weight `[out, in]`, PyTorch's
    /// default init U(±1/sqrt(in)) for weight and bias.
    #[track_caller]
    pub fn linear(self, out_features: usize) -> Tensor<'m> {
        self.layer("linear", Location::caller(), |s, x, index| {
            let shape = s.graph.shape(x).clone();
            if shape.rank() != 2 {
                return Err(format!(
                    "linear expects [batch, features], got {shape}; add .flatten() first"
                ));
            }
            if out_features == 0 {
                return Err("linear needs at least one output feature".into());
            }
            let (batch, in_features) = (shape.0[0], shape.0[1]);
            let bound = 1.0 / (in_features as f64).sqrt();
            let init = Init::Uniform { low: -bound, high: bound };
            let w = s.graph.param(&format!("{index}.weight"), [out_features, in_features].into(), init.clone());
            let b = s.graph.param(&format!("{index}.bias"), [out_features].into(), init);
            s.params.extend([w, b]);
            let wt = s.graph.transpose(w);
            let y = s.graph.matmul(x, wt);
            let b = s.graph.reshape(b, Shape(vec![1, out_features]));
            debug_assert_eq!(s.graph.shape(y).0, vec![batch, out_features]);
            Ok(s.graph.add(y, b))
        })
    }

    /// `nn.ReLU()`: max(x, 0). Its gradient is 1{x > 0}, which is 0 at exactly 0 as in
    /// PyTorch (the course writes 1{x >= 0}; the two differ only at 0).
    #[track_caller]
    pub fn relu(self) -> Tensor<'m> {
        self.layer("relu", Location::caller(), |s, x, _| Ok(s.graph.unary(UnaryOp::Relu, x)))
    }

    /// Mean softmax cross-entropy of logits `[batch, classes]` against integer labels, as
    /// `nn.CrossEntropyLoss()`. Computed stably as logsumexp(z) - z[label]; the mean is over
    /// the real rows of a batch (a padded last batch does not dilute it).
    #[track_caller]
    pub fn cross_entropy(self, labels: Labels<'m>) -> Tensor<'m> {
        let location = Location::caller();
        let (Some(z), Some(y)) = (self.id, labels.tensor.id) else {
            return Tensor { model: self.model, id: None };
        };
        let id = self.model.checked("cross_entropy", location, |s| {
            let (zs, ys) = (s.graph.shape(z).clone(), s.graph.shape(y).clone());
            if zs.rank() != 2 {
                return Err(format!("expects logits [batch, classes], got {zs}"));
            }
            if zs.0[0] != ys.0[0] {
                return Err(format!("logits {zs} and labels {ys} differ in batch size"));
            }
            if zs.0[1] != labels.classes {
                return Err(format!("logits {zs} have {} classes, labels {ys} have {}", zs.0[1], labels.classes));
            }
            if s.sample_weight.is_some() {
                return Err("a model has one loss".into());
            }
            s.graph.set_origin("cross_entropy");
            let g = &mut s.graph;
            let batch = zs.0[0];
            let max = g.reduce(ReduceOp::Max, z, &[1]);
            let max = g.detach(max);
            let shifted = g.sub(z, max);
            let exp = g.unary(UnaryOp::Exp, shifted);
            let sum_exp = g.sum(exp, &[1]);
            let log_sum_exp = g.unary(UnaryOp::Log, sum_exp);
            let one_hot = g.one_hot(y, labels.classes);
            let picked = g.mul(one_hot, shifted);
            let picked = g.sum(picked, &[1]);
            let per_sample = g.sub(log_sum_exp, picked);
            let weight = g.input("__sample_weight", Shape(vec![batch, 1]));
            let weighted = g.mul(per_sample, weight);
            s.sample_weight = Some(weight);
            Ok(g.sum(weighted, &[0, 1]))
        });
        Tensor { model: self.model, id }
    }
}

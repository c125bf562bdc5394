//! A compiled training program: forward, loss, gradients and the optimizer update in one graph.

use crate::autodiff::gradients;
use crate::dsl::Model;
use crate::error::Error;
use crate::ir::{Graph, Op, ValueId};
use crate::shape::Shape;
use std::panic::Location;

/// Stochastic gradient descent: `p -= lr * grad`. The learning rate is a run-time scalar
/// (initialised to `lr`), so schedules can change it without recompiling.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sgd {
    /// Initial learning rate.
    pub lr: f64,
}

/// The optimizer whose update is appended to the train step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Optimizer {
    /// Plain SGD.
    Sgd(Sgd),
}

impl From<Sgd> for Optimizer {
    fn from(sgd: Sgd) -> Self {
        Optimizer::Sgd(sgd)
    }
}

/// A trained parameter and the values derived from it in the train step.
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    /// PyTorch-style name, e.g. `1.weight`.
    pub name: String,
    /// The parameter itself.
    pub value: ValueId,
    /// Its gradient.
    pub grad: ValueId,
    /// The updated value, written back in place.
    pub update: ValueId,
}

/// Everything code generation needs: the graph and the roles of its values.
#[derive(Clone, Debug)]
pub struct Program {
    /// The generated trainer's type name.
    pub name: String,
    /// Forward, loss, gradients and updates.
    pub graph: Graph,
    /// The f32 inputs, in declaration order.
    pub inputs: Vec<ValueId>,
    /// The label inputs, in declaration order.
    pub labels: Vec<ValueId>,
    /// The trained parameters, in declaration (and checkpoint) order.
    pub params: Vec<Param>,
    /// The scalar loss.
    pub loss: ValueId,
    /// The value `predict` returns (the logits).
    pub output: ValueId,
    /// The `[1]` learning-rate input.
    pub learning_rate: ValueId,
    /// Its value at construction.
    pub initial_learning_rate: f64,
    /// Per-sample loss weights `[batch, 1]`, filled by the trainer.
    pub sample_weight: ValueId,
}

impl Program {
    pub(crate) fn build(
        model: &Model,
        loss: ValueId,
        output: ValueId,
        optimizer: Optimizer,
        location: &'static Location<'static>,
    ) -> Result<Program, Error> {
        let state = model.state.borrow();
        let mut graph = state.graph.clone();
        let error = |message: String| Error { layer: "compile".into(), message, location };
        let sample_weight = state
            .sample_weight
            .filter(|_| graph.shape(loss).numel() == 1)
            .ok_or_else(|| error(format!("the loss must be a scalar loss layer such as cross_entropy, got a value of shape {}", graph.shape(loss))))?;

        let grads = gradients(&mut graph, loss, &state.params);
        graph.set_origin("sgd");
        let Optimizer::Sgd(Sgd { lr }) = optimizer;
        let learning_rate = graph.input("__learning_rate", Shape(vec![1]));
        let mut params = vec![];
        for (&value, grad) in state.params.iter().zip(grads) {
            let Op::Param { name, .. } = &graph.nodes[value].op else { unreachable!() };
            let name = name.clone();
            let grad = grad.ok_or_else(|| error(format!("parameter {name:?} gets no gradient from the loss")))?;
            let step = graph.mul(learning_rate, grad);
            let update = graph.sub(value, step);
            params.push(Param { name, value, grad, update });
        }
        Ok(Program {
            name: model.name.clone(),
            graph,
            inputs: state.inputs.clone(),
            labels: state.labels.clone(),
            params,
            loss,
            output,
            learning_rate,
            initial_learning_rate: lr,
            sample_weight,
        })
    }

    /// The values the train step must produce: loss, gradients and updated parameters.
    pub fn train_roots(&self) -> Vec<ValueId> {
        let mut roots = vec![self.loss];
        roots.extend(self.params.iter().flat_map(|p| [p.grad, p.update]));
        roots
    }
}

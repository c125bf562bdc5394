//! Derivatives as values of the model: Jacobian-vector products (forward mode) and
//! Hessian-vector products (forward over reverse), derived at compile time by
//! [`crate::grad`], and extra trainer methods that return any value.

use super::{Model, Tensor};
use crate::grad;
use crate::ir::{Op, ValueId};
use std::panic::Location;

/// Method names a generated trainer already has.
const RESERVED: &[&str] = &[
    "new",
    "train_step",
    "predict",
    "eval_loss",
    "last_outputs",
    "learning_rate",
    "set_learning_rate",
    "steps",
    "parameter",
    "set_parameter",
    "gradient",
    "save",
    "load",
    "reset_optimizer_state",
    "loss_scale",
    "set_loss_scale",
    "skipped_steps",
    // Entry points' launch functions are `launch_{entry}`.
    "train",
    "evaluate",
    "start",
    "accumulate",
];

impl Model {
    /// A declared parameter by its PyTorch name (`"1.weight"`): a value to take derivatives
    /// along (the parameter directions of an HVP, say).
    #[track_caller]
    pub fn parameter(&self, name: &str) -> Tensor<'_> {
        let id = self.checked("parameter", Location::caller(), |s| {
            let named = |&v: &ValueId| s.graph.nodes[v].op.name() == Some(name);
            s.params.iter().copied().find(named).ok_or_else(|| {
                let names: Vec<&str> = s.params.iter().filter_map(|&v| s.graph.nodes[v].op.name()).collect();
                format!("no parameter named {name:?}; the parameters are {}", names.join(", "))
            })
        });
        Tensor { model: self, id }
    }

    /// Adds a method `name` to the generated trainer that computes `value` in inference mode
    /// (as `predict` does) and returns all of it, row-major. Its arguments are the inputs,
    /// tokens and labels `value` reads, in declaration order; `{NAME}_SHAPE` is its shape.
    #[track_caller]
    pub fn expose(&self, name: &str, value: Tensor<'_>) {
        let Some(v) = value.id else { return };
        let location = Location::caller();
        self.checked("expose", location, |s| {
            let identifier = name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
                && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !identifier || RESERVED.contains(&name) || name.starts_with("launch_") {
                return Err(format!("{name:?} cannot name a trainer method: use a new snake_case name"));
            }
            if s.exposed.iter().any(|(other, _)| other == name) {
                return Err(format!("{name:?} is already exposed"));
            }
            s.exposed.push((name.to_string(), v));
            Ok(v)
        });
    }
}

impl<'m> Tensor<'m> {
    /// `torch.func.jvp`: the derivative of this value along `tangents`, pairs of (value,
    /// tangent of its shape), computed alongside the forward pass. Values not listed have a
    /// zero tangent; so does an output that depends on none of them.
    #[track_caller]
    pub fn jvp(self, tangents: &[(Tensor<'m>, Tensor<'m>)]) -> Tensor<'m> {
        let Some(pairs) = ids(tangents) else { return Tensor { model: self.model, id: None } };
        self.functional("jvp", Location::caller(), |s, y| {
            check_shapes(&s.graph, &pairs)?;
            let tangent = grad::jvp(&mut s.graph, &[y], &pairs)[0];
            Ok(tangent.unwrap_or_else(|| s.graph.zeros_like(y)))
        })
    }

    /// Hessian-vector products of this scalar loss in inference mode (no dropout, running
    /// statistics): for `directions`, pairs of (parameter or input, direction of its shape),
    /// the derivative of each one's gradient along all the directions together, `H v`.
    #[track_caller]
    pub fn hvp(self, directions: &[(Tensor<'m>, Tensor<'m>)]) -> Vec<Tensor<'m>> {
        let failed = || vec![Tensor { model: self.model, id: None }; directions.len()];
        let (Some(loss), Some(pairs)) = (self.id, ids(directions)) else { return failed() };
        let location = Location::caller();
        let mut products = vec![];
        let recorded = self.model.checked("hvp", location, |s| {
            s.graph.set_origin("hvp");
            if s.graph.shape(loss).numel() != 1 {
                return Err(format!("hvp needs a scalar loss, got a value of shape {}", s.graph.shape(loss)));
            }
            check_shapes(&s.graph, &pairs)?;
            if let Some(&(v, _)) =
                pairs.iter().find(|&&(v, _)| !matches!(s.graph.nodes[v].op, Op::Param { .. } | Op::Input { .. }))
            {
                return Err(format!("hvp is taken with respect to parameters or inputs, not the computed value %{v}"));
            }
            let loss = s.graph.specialise(&[loss], false)[0];
            let (wrt, along): (Vec<ValueId>, Vec<ValueId>) = pairs.iter().copied().unzip();
            for (&v, product) in wrt.iter().zip(grad::hvp(&mut s.graph, loss, &wrt, &along)) {
                products.push(product.unwrap_or_else(|| s.graph.zeros_like(v)));
            }
            Ok(loss)
        });
        match recorded {
            Some(_) => products.into_iter().map(|id| Tensor { model: self.model, id: Some(id) }).collect(),
            None => failed(),
        }
    }
}

/// The ids of (value, tangent) pairs, or `None` if a layer before them failed.
fn ids(pairs: &[(Tensor<'_>, Tensor<'_>)]) -> Option<Vec<(ValueId, ValueId)>> {
    pairs.iter().map(|(x, t)| Some((x.id?, t.id?))).collect()
}

fn check_shapes(g: &crate::ir::Graph, pairs: &[(ValueId, ValueId)]) -> Result<(), String> {
    match pairs.iter().find(|&&(x, t)| g.shape(x) != g.shape(t)) {
        Some(&(x, t)) => Err(format!("a tangent of shape {} for a value of shape {}", g.shape(t), g.shape(x))),
        None if pairs.is_empty() => Err("no values to differentiate along".into()),
        None => Ok(()),
    }
}

//! Losses (each the mean over the batch's real rows, as PyTorch's `reduction="mean"`) and
//! weight penalties.

use super::{Labels, Model, State, Tensor};
use crate::ir::Shape;
use crate::ir::{BinaryOp, Graph, ReduceOp, UnaryOp, ValueId};
use std::panic::Location;

impl<'m> Tensor<'m> {
    /// A loss of `self` against a target (labels or a tensor): checks, then the per-sample
    /// loss `[batch, 1]` from `per_sample`, then its mean over the real rows.
    fn loss(
        self,
        kind: &str,
        target: Option<ValueId>,
        location: &'static Location<'static>,
        per_sample: impl FnOnce(&mut State, ValueId, ValueId) -> Result<ValueId, String>,
    ) -> Tensor<'m> {
        let (Some(x), Some(t)) = (self.id, target) else {
            return Tensor { model: self.model, id: None };
        };
        let id = self.model.checked(kind, location, |s| {
            s.graph.set_origin(kind);
            let per_sample = per_sample(s, x, t)?;
            s.mean_over_samples(per_sample)
        });
        Tensor { model: self.model, id }
    }

    /// Class scores `[batch, classes]` against labels: checks the shapes.
    fn scores_against(s: &State, x: ValueId, y: ValueId, classes: usize, what: &str) -> Result<(), String> {
        let (xs, ys) = (s.graph.shape(x), s.graph.shape(y));
        if xs.rank() != 2 || ys.rank() != 1 {
            return Err(format!("expects {what} [batch, classes] and labels [batch], got {xs} and {ys}"));
        }
        Self::positions_against(s, x, y, classes, what)
    }

    /// Class scores `[batch, ..., classes]` against labels `[batch, ...]`: checks the shapes.
    fn positions_against(s: &State, x: ValueId, y: ValueId, classes: usize, what: &str) -> Result<(), String> {
        let (xs, ys) = (s.graph.shape(x), s.graph.shape(y));
        if xs.0[0] != ys.0[0] {
            return Err(format!("{what} {xs} and labels {ys} differ in batch size"));
        }
        if xs.rank() != ys.rank() + 1 || xs.0[..ys.rank()] != ys.0[..] {
            return Err(format!("expects {what} [batch, ..., classes] for labels {ys}, got {xs}"));
        }
        if xs.0[ys.rank()] != classes {
            return Err(format!("{what} {xs} have {} classes, labels {ys} have {classes}", xs.0[ys.rank()]));
        }
        Ok(())
    }

    /// `nn.CrossEntropyLoss()` of logits `[batch, classes]` against integer labels `[batch]`,
    /// computed stably as logsumexp(z) - z[label]. Sequences: logits `[batch, len, classes]`
    /// against labels `[batch, len]` average over every position (PyTorch's
    /// `cross_entropy(logits.transpose(1, 2), labels)`).
    #[track_caller]
    pub fn cross_entropy(self, labels: Labels<'m>) -> Tensor<'m> {
        self.loss("cross_entropy", labels.tensor.id, Location::caller(), |s, z, y| {
            Self::positions_against(s, z, y, labels.classes, "logits")?;
            let g = &mut s.graph;
            let last = g.shape(z).rank() - 1;
            let max = g.reduce(ReduceOp::Max, z, &[last]);
            let max = g.detach(max);
            let shifted = g.sub(z, max);
            let exp = g.unary(UnaryOp::Exp, shifted);
            let sum_exp = g.sum(exp, &[last]);
            let log_sum_exp = g.unary(UnaryOp::Log, sum_exp);
            let picked = pick(g, shifted, y, labels.classes);
            let per_position = g.sub(log_sum_exp, picked);
            Ok(per_row_mean(g, per_position))
        })
    }

    /// `nn.NLLLoss()` of log-probabilities `[batch, classes]` (or `[batch, len, classes]`
    /// against `[batch, len]`, as `cross_entropy`): -logp[label].
    #[track_caller]
    pub fn nll_loss(self, labels: Labels<'m>) -> Tensor<'m> {
        self.loss("nll_loss", labels.tensor.id, Location::caller(), |s, x, y| {
            Self::positions_against(s, x, y, labels.classes, "log-probabilities")?;
            let picked = pick(&mut s.graph, x, y, labels.classes);
            let per_position = s.graph.unary(UnaryOp::Neg, picked);
            Ok(per_row_mean(&mut s.graph, per_position))
        })
    }

    /// `nn.MultiMarginLoss()`, the multiclass SVM hinge with margin 1:
    /// Σ_{j≠y} max(0, 1 - s_y + s_j) / classes (the course's form without the 1/classes is
    /// this times `classes`).
    #[track_caller]
    pub fn multi_margin_loss(self, labels: Labels<'m>) -> Tensor<'m> {
        self.loss("multi_margin_loss", labels.tensor.id, Location::caller(), |s, x, y| {
            Self::scores_against(s, x, y, labels.classes, "scores")?;
            let g = &mut s.graph;
            let correct = pick(g, x, y, labels.classes);
            let margins = g.sub(x, correct);
            let one = g.scalar_like(1.0, margins);
            let margins = g.add(margins, one);
            let hinge = g.unary(UnaryOp::Relu, margins);
            // The label's own term is max(0, 1) = 1 exactly: subtract it.
            let total = g.sum(hinge, &[1]);
            let one = g.scalar_like(1.0, total);
            let total = g.sub(total, one);
            Ok(g.scale(total, 1.0 / labels.classes as f64))
        })
    }

    /// `nn.MSELoss()`: the mean of (x - target)² over all elements.
    #[track_caller]
    pub fn mse_loss(self, target: Tensor<'m>) -> Tensor<'m> {
        self.loss("mse_loss", target.id, Location::caller(), |s, x, t| {
            same_shape(&s.graph, x, t)?;
            let g = &mut s.graph;
            let diff = g.sub(x, t);
            let square = g.mul(diff, diff);
            Ok(per_row_mean(g, square))
        })
    }

    /// `nn.BCELoss()` of probabilities in (0, 1) against targets in [0, 1]:
    /// -(t·log p + (1-t)·log(1-p)), each log clamped at -100 as PyTorch does.
    #[track_caller]
    pub fn bce_loss(self, target: Tensor<'m>) -> Tensor<'m> {
        self.loss("bce_loss", target.id, Location::caller(), |s, p, t| {
            same_shape(&s.graph, p, t)?;
            let g = &mut s.graph;
            let clamped_log = |g: &mut Graph, v: ValueId| {
                let log = g.unary(UnaryOp::Log, v);
                let floor = g.scalar_like(-100.0, log);
                g.binary(BinaryOp::Max, log, floor)
            };
            let log_p = clamped_log(g, p);
            let one = g.scalar_like(1.0, p);
            let q = g.sub(one, p);
            let log_q = clamped_log(g, q);
            let one = g.scalar_like(1.0, t);
            let not_t = g.sub(one, t);
            let a = g.mul(t, log_p);
            let b = g.mul(not_t, log_q);
            let sum = g.add(a, b);
            let loss = g.unary(UnaryOp::Neg, sum);
            Ok(per_row_mean(g, loss))
        })
    }

    /// `nn.BCEWithLogitsLoss()` of logits against targets in [0, 1], computed stably as
    /// max(x, 0) - x·t + log(1 + e^-|x|).
    #[track_caller]
    pub fn bce_with_logits(self, target: Tensor<'m>) -> Tensor<'m> {
        self.loss("bce_with_logits", target.id, Location::caller(), |s, x, t| {
            same_shape(&s.graph, x, t)?;
            let g = &mut s.graph;
            let relu = g.unary(UnaryOp::Relu, x);
            let xt = g.mul(x, t);
            let abs = g.unary(UnaryOp::Abs, x);
            let neg = g.unary(UnaryOp::Neg, abs);
            let exp = g.unary(UnaryOp::Exp, neg);
            let one = g.scalar_like(1.0, exp);
            let sum = g.add(one, exp);
            let softplus = g.unary(UnaryOp::Log, sum);
            let a = g.sub(relu, xt);
            let loss = g.add(a, softplus);
            Ok(per_row_mean(g, loss))
        })
    }
}

impl Model {
    /// λ·Σw² over every weight matrix and convolution kernel (not biases or norm scales), to
    /// add to a loss: `loss.add(model.l2_penalty(1e-4))`.
    #[track_caller]
    pub fn l2_penalty(&self, lambda: f64) -> Tensor<'_> {
        self.penalty("l2_penalty", lambda, Location::caller(), |g, w| g.mul(w, w))
    }

    /// λ·Σ|w| over every weight matrix and convolution kernel (not biases or norm scales).
    #[track_caller]
    pub fn l1_penalty(&self, lambda: f64) -> Tensor<'_> {
        self.penalty("l1_penalty", lambda, Location::caller(), |g, w| g.unary(UnaryOp::Abs, w))
    }

    fn penalty(
        &self,
        kind: &str,
        lambda: f64,
        location: &'static Location<'static>,
        term: fn(&mut Graph, ValueId) -> ValueId,
    ) -> Tensor<'_> {
        let id = self.checked(kind, location, |s| {
            if s.weights.is_empty() {
                return Err("the model has no weights to penalise yet: declare the layers first".into());
            }
            s.graph.set_origin(kind);
            let g = &mut s.graph;
            let mut total = None;
            for &w in &s.weights {
                let t = term(g, w);
                let axes: Vec<usize> = (0..g.shape(t).rank()).collect();
                let sum = g.sum(t, &axes);
                let sum = g.reshape(sum, Shape(vec![1, 1]));
                total = Some(match total {
                    Some(previous) => g.add(previous, sum),
                    None => sum,
                });
            }
            Ok(g.scale(total.expect("at least one weight"), lambda))
        });
        Tensor { model: self, id }
    }
}

/// `x[.., label[..]]`: the score of each position's label, the class axis kept as size 1.
fn pick(g: &mut Graph, x: ValueId, labels: ValueId, classes: usize) -> ValueId {
    let one_hot = g.one_hot(labels, classes);
    let picked = g.mul(one_hot, x);
    let last = g.shape(x).rank() - 1;
    g.sum(picked, &[last])
}

/// The mean over all but the batch axis, as `[batch, 1]`.
fn per_row_mean(g: &mut Graph, x: ValueId) -> ValueId {
    let shape = g.shape(x).clone();
    let batch = shape.0[0];
    let rows = g.reshape(x, Shape(vec![batch, shape.numel() / batch]));
    if shape.numel() == batch {
        return rows;
    }
    let sum = g.sum(rows, &[1]);
    g.scale(sum, batch as f64 / shape.numel() as f64)
}

fn same_shape(g: &Graph, x: ValueId, t: ValueId) -> Result<(), String> {
    if g.shape(x) == g.shape(t) {
        Ok(())
    } else {
        Err(format!("input {} and target {} differ in shape", g.shape(x), g.shape(t)))
    }
}

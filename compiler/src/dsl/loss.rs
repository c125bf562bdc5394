//! Losses (each the mean over the batch's real rows, as PyTorch's `reduction="mean"`) and
//! weight penalties.

use super::norm::{log_softmax, shifted_log_sum_exp};
use super::{Labels, Model, State, Tensor};
use crate::ir::Shape;
use crate::ir::{BinaryOp, Graph, UnaryOp, ValueId};
use std::panic::Location;

/// Options of [`Tensor::cross_entropy_with`], as `nn.CrossEntropyLoss`'s.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CrossEntropy {
    label_smoothing: f64,
    weight: Option<Vec<f64>>,
    ignore_index: Option<usize>,
}

impl CrossEntropy {
    /// PyTorch's defaults: no smoothing, every class weighted 1, no ignored class.
    pub fn new() -> Self {
        Self::default()
    }

    /// `label_smoothing`: the target is `1 - eps` on the label plus `eps / classes` on every
    /// class; `eps` in [0, 1].
    pub fn label_smoothing(mut self, eps: f64) -> Self {
        self.label_smoothing = eps;
        self
    }

    /// `weight`: a weight per class, non-negative. The loss is the weighted mean
    /// Σ w[y]·loss / Σ w[y] over the batch's positions.
    pub fn weight(mut self, weight: impl Into<Vec<f64>>) -> Self {
        self.weight = Some(weight.into());
        self
    }

    /// `ignore_index`: positions labelled `class` (padding, say) add nothing to the loss or
    /// its denominator. Labels are class ids, so `class` is one of `0..classes`.
    pub fn ignore_index(mut self, class: usize) -> Self {
        self.ignore_index = Some(class);
        self
    }

    /// Rejects options that do not fit `classes` classes.
    fn check(&self, classes: usize) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.label_smoothing) {
            return Err(format!("label_smoothing must be in [0, 1], got {}", self.label_smoothing));
        }
        if let Some(weight) = &self.weight {
            if weight.len() != classes {
                return Err(format!("{} class weights for {classes} classes", weight.len()));
            }
            if let Some(w) = weight.iter().find(|w| !(w.is_finite() && **w >= 0.0)) {
                return Err(format!("class weights must be finite and non-negative, got {w}"));
            }
        }
        match self.ignore_index {
            Some(class) if class >= classes => Err(format!("ignore_index {class} is not a class id in 0..{classes}")),
            _ => Ok(()),
        }
    }
}

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
            let per_position = negative_log_likelihood(g, z, y);
            Ok(per_row_mean(g, per_position))
        })
    }

    /// `nn.CrossEntropyLoss(weight, ignore_index, label_smoothing)`: [`Tensor::cross_entropy`]
    /// with [`CrossEntropy`]'s options. Per position, with log-probabilities `l = log_softmax(z)`,
    /// the loss is `(1 - eps)·w[y]·(-l[y]) + eps/classes·Σ_c w[c]·(-l[c])`; the result is its sum
    /// over the positions not ignored, divided by their Σ w[y], as PyTorch's `mean`.
    #[track_caller]
    pub fn cross_entropy_with(self, labels: Labels<'m>, options: CrossEntropy) -> Tensor<'m> {
        if options == CrossEntropy::default() {
            return self.cross_entropy(labels);
        }
        let (Some(z), Some(y)) = (self.id, labels.tensor.id) else {
            return Tensor { model: self.model, id: None };
        };
        let classes = labels.classes;
        let id = self.model.checked("cross_entropy", Location::caller(), |s| {
            s.graph.set_origin("cross_entropy");
            Self::positions_against(s, z, y, classes, "logits")?;
            options.check(classes)?;
            let rank = s.graph.shape(z).rank();
            // w[c] and whether class c counts, per class: tables each position's label reads.
            let table = |s: &mut State, per_class: Vec<f64>| s.constant(Shape(vec![classes, 1]), per_class);
            let weight_table = options.weight.clone().map(|w| table(s, w));
            let kept_table =
                options.ignore_index.map(|class| table(s, (0..classes).map(|c| f64::from(c != class)).collect()));
            let g = &mut s.graph;
            let last = rank - 1;
            let picked = negative_log_likelihood(g, z, y);
            // w[y] per position: what the positions' losses are averaged with.
            let mut denominator = match weight_table {
                Some(w) => g.gather(w, y, None),
                None => {
                    let shape = g.shape(picked).clone();
                    g.constant(1.0, shape)
                }
            };
            let eps = options.label_smoothing;
            let mut numerator = g.mul(picked, denominator);
            numerator = g.scale(numerator, 1.0 - eps);
            if eps > 0.0 {
                let log_probabilities = log_softmax(g, z, last);
                let negated = g.unary(UnaryOp::Neg, log_probabilities);
                let weighted = match weight_table {
                    Some(w) => {
                        // The class weights as a row, broadcast over the positions.
                        let mut row = vec![1; rank];
                        row[last] = classes;
                        let w = g.reshape(w, Shape(row));
                        g.mul(negated, w)
                    }
                    None => negated,
                };
                let spread = g.sum(weighted, &[last]);
                let spread = g.scale(spread, eps / classes as f64);
                numerator = g.add(numerator, spread);
            }
            if let Some(kept_table) = kept_table {
                let kept = g.gather(kept_table, y, None);
                numerator = g.mul(numerator, kept);
                denominator = g.mul(denominator, kept);
            }
            s.ratio_over_samples(numerator, denominator)
        });
        Tensor { model: self.model, id }
    }

    /// `nn.NLLLoss()` of log-probabilities `[batch, classes]` (or `[batch, len, classes]`
    /// against `[batch, len]`, as `cross_entropy`): -logp[label].
    #[track_caller]
    pub fn nll_loss(self, labels: Labels<'m>) -> Tensor<'m> {
        self.loss("nll_loss", labels.tensor.id, Location::caller(), |s, x, y| {
            Self::positions_against(s, x, y, labels.classes, "log-probabilities")?;
            let picked = s.graph.pick(x, y);
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
            let correct = g.pick(x, y);
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

    /// `nn.L1Loss()`: the mean of |x - target| over all elements (gradient 0 where they are
    /// equal, as PyTorch's).
    #[track_caller]
    pub fn l1_loss(self, target: Tensor<'m>) -> Tensor<'m> {
        self.loss("l1_loss", target.id, Location::caller(), |s, x, t| {
            same_shape(&s.graph, x, t)?;
            let g = &mut s.graph;
            let diff = g.sub(x, t);
            let abs = g.unary(UnaryOp::Abs, diff);
            Ok(per_row_mean(g, abs))
        })
    }

    /// `nn.HuberLoss(delta)`: the mean over all elements of d²/2 where |d| < delta and
    /// delta·(|d| - delta/2) elsewhere, d = x - target; computed as q·(|d| - q/2) with
    /// q = min(|d|, delta).
    #[track_caller]
    pub fn huber_loss(self, target: Tensor<'m>, delta: f64) -> Tensor<'m> {
        self.loss("huber_loss", target.id, Location::caller(), |s, x, t| {
            same_shape(&s.graph, x, t)?;
            if !(delta.is_finite() && delta > 0.0) {
                return Err(format!("delta must be positive and finite, got {delta}"));
            }
            let g = &mut s.graph;
            let diff = g.sub(x, t);
            let abs = g.unary(UnaryOp::Abs, diff);
            let delta = g.scalar_like(delta, abs);
            let q = g.binary(BinaryOp::Min, abs, delta);
            let half_q = g.scale(q, 0.5);
            let rest = g.sub(abs, half_q);
            let loss = g.mul(q, rest);
            Ok(per_row_mean(g, loss))
        })
    }

    /// `nn.KLDivLoss(reduction="batchmean")` of log-probabilities `self` against probabilities
    /// `target`: Σ target·(log target - self) per sample, averaged over the batch (0·log 0 = 0).
    #[track_caller]
    pub fn kl_div(self, target: Tensor<'m>) -> Tensor<'m> {
        self.loss("kl_div", target.id, Location::caller(), |s, x, t| {
            same_shape(&s.graph, x, t)?;
            let g = &mut s.graph;
            // log(max(t, tiny)): t·log t is 0 where t is 0, and exact elsewhere.
            let tiny = g.scalar_like(f64::from(f32::MIN_POSITIVE), t);
            let floored = g.binary(BinaryOp::Max, t, tiny);
            let log_t = g.unary(UnaryOp::Log, floored);
            let gap = g.sub(log_t, x);
            let terms = g.mul(t, gap);
            let shape = g.shape(terms).clone();
            let batch = shape.0[0];
            let rows = g.reshape(terms, Shape(vec![batch, shape.numel() / batch]));
            Ok(g.sum(rows, &[1]))
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

/// `-log_softmax(z)[.., label]`, the class axis kept as size 1: logsumexp(z) - z[label],
/// computed stably as log Σ e^(z - max) + max - z[label] with the max's gradient stopped (it
/// cancels), and z[label] picked, not summed from a one-hot product.
fn negative_log_likelihood(g: &mut Graph, z: ValueId, labels: ValueId) -> ValueId {
    let last = g.shape(z).rank() - 1;
    let (max, log_sum) = shifted_log_sum_exp(g, z, last);
    let log_sum_exp = g.add(log_sum, max);
    let picked = g.pick(z, labels);
    g.sub(log_sum_exp, picked)
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

//! Layers as values: their parameters are made once and applied to several tensors (weight
//! sharing), as a PyTorch module stored in `self` and called twice. A decoder uses them for
//! both teacher forcing and greedy decoding.

use super::embedding::{Embedding, EmbeddingWeights};
use super::{Labels, Linear, LinearWeights, Model, Tensor, Tokens};
use std::panic::Location;

/// An `nn.Linear` made by [`Model::dense`] and applied with [`Dense::apply`].
#[derive(Clone, Copy)]
pub struct Dense<'m> {
    model: &'m Model,
    weights: Option<LinearWeights>,
}

/// An `nn.Embedding` made by [`Model::embedding`]: looked up by token ids, by ids computed on
/// the device, or by one-hot rows.
#[derive(Clone, Copy)]
pub struct EmbeddingTable<'m> {
    model: &'m Model,
    weights: Option<EmbeddingWeights>,
}

impl Model {
    /// `nn.Linear(in_features, out)` as a value (module index taken here).
    #[track_caller]
    pub fn dense(&self, in_features: usize, options: impl Into<Linear>) -> Dense<'_> {
        let options = options.into();
        let weights =
            self.module("dense", Location::caller(), |s, index| LinearWeights::new(s, index, in_features, options));
        Dense { model: self, weights }
    }

    /// `nn.Embedding(vocab, dim)` as a value (module index taken here); takes `dim` or an
    /// [`Embedding`] with options.
    #[track_caller]
    pub fn embedding(&self, vocab: usize, options: impl Into<Embedding>) -> EmbeddingTable<'_> {
        let options = options.into();
        let weights =
            self.module("embedding", Location::caller(), |s, index| EmbeddingWeights::new(s, index, vocab, options));
        EmbeddingTable { model: self, weights }
    }
}

impl<'m> Dense<'m> {
    /// `x W^T + b` on the last axis of `x [batch, .., in_features]`, as [`Tensor::linear`].
    #[track_caller]
    pub fn apply(&self, x: Tensor<'m>) -> Tensor<'m> {
        let Some(w) = self.weights else { return Tensor { model: self.model, id: None } };
        x.functional("dense", Location::caller(), |s, x| {
            let shape = s.graph.shape(x).clone();
            if shape.rank() < 2 || shape.0.last() != Some(&w.in_features) {
                return Err(format!("expects [batch, .., {}], got {shape}", w.in_features));
            }
            Ok(w.apply(&mut s.graph, x))
        })
    }
}

impl<'m> EmbeddingTable<'m> {
    /// The rows of `ids` (`[..shape, dim]`).
    #[track_caller]
    pub fn lookup(&self, ids: Tokens<'m>) -> Tensor<'m> {
        self.lookup_ids(ids.tensor, ids.vocab, Location::caller())
    }

    /// The rows of labels' ids (`[..shape, dim]`): a decoder's teacher-forced input, its own
    /// target tokens. A gather, as [`EmbeddingTable::lookup`] is; the rows are read only where
    /// the labels are, on the loss's side of the model.
    #[track_caller]
    pub fn lookup_labels(&self, labels: Labels<'m>) -> Tensor<'m> {
        self.lookup_ids(labels.tensor, labels.classes, Location::caller())
    }

    /// The rows of integer ids in `0..vocab`, which must be the table's vocabulary.
    fn lookup_ids(&self, ids: Tensor<'m>, vocab: usize, location: &'static Location<'static>) -> Tensor<'m> {
        let Some(w) = self.weights else { return Tensor { model: self.model, id: None } };
        ids.functional("embedding", location, |s, ids| {
            if vocab != w.vocab {
                return Err(format!("ids have a vocabulary of {vocab}, the table {}", w.vocab));
            }
            Ok(w.lookup(&mut s.graph, ids))
        })
    }

    /// The rows at ids held in a tensor `[..]` (`[.., dim]`): ids computed on the device, as a
    /// greedy decoder feeds back the [`Tensor::argmax`] of its prediction. A gather, as
    /// [`EmbeddingTable::lookup`] is. The ids are whole numbers in `0..vocab` where they come
    /// from an argmax over the vocabulary's logits; any other id looks up zeros.
    #[track_caller]
    pub fn lookup_tensor(&self, ids: Tensor<'m>) -> Tensor<'m> {
        let Some(w) = self.weights else { return Tensor { model: self.model, id: None } };
        ids.functional("embedding", Location::caller(), |s, ids| Ok(w.lookup(&mut s.graph, ids)))
    }

    /// One-hot rows `[.., vocab]` (e.g. [`Tensor::one_hot`] of a prediction) times the table.
    #[track_caller]
    pub fn apply(&self, one_hot: Tensor<'m>) -> Tensor<'m> {
        let Some(w) = self.weights else { return Tensor { model: self.model, id: None } };
        one_hot.functional("embedding", Location::caller(), |s, x| {
            let shape = s.graph.shape(x).clone();
            if shape.0.last() != Some(&w.vocab) {
                return Err(format!("expects one-hot rows [.., {}], got {shape}", w.vocab));
            }
            if let Some(id) = w.padding_idx {
                return Err(format!("has padding_idx {id}: look it up by ids (`lookup`), not by one-hot rows"));
            }
            Ok(w.apply(&mut s.graph, x))
        })
    }
}

//! Integer token inputs and `nn.Embedding`.

use super::{Model, State, Tensor};
use crate::ir::Shape;
use crate::ir::{Graph, Init, ValueId};
use std::panic::Location;

/// Integer ids in `0..vocab` fed to every entry point (unlike [`super::Labels`], which only
/// losses read): the input of an embedding.
#[derive(Clone, Copy)]
pub struct Tokens<'m> {
    pub(crate) tensor: Tensor<'m>,
    pub(crate) vocab: usize,
}

impl Model {
    /// Declares token ids in `0..vocab` fed each step, `shape` batch first (e.g. `[batch, len]`).
    #[track_caller]
    pub fn tokens(&self, name: &str, shape: impl Into<Shape>, vocab: usize) -> Tokens<'_> {
        let shape = shape.into();
        let location = Location::caller();
        let id = self.checked(name, location, |s| {
            let valid = if shape.rank() == 0 || shape.numel() == 0 || vocab == 0 {
                Err(format!("tokens need a batch axis, no empty axis and a vocabulary, got {shape} with {vocab}"))
            } else {
                Ok(())
            };
            let id = s.declare(name, location, valid, |g| g.labels(name, shape, vocab))?;
            s.tokens.push(id);
            Ok(id)
        });
        Tokens { tensor: Tensor { model: self, id }, vocab }
    }
}

/// Options of an embedding ([`Tokens::embedding`], [`Model::embedding`]); a bare `usize` is
/// `Embedding::new(dim)`.
#[derive(Clone, Copy, PartialEq, Debug)]
pub struct Embedding {
    pub(crate) dim: usize,
    pub(crate) padding_idx: Option<usize>,
}

impl Embedding {
    /// `nn.Embedding(_, dim)`: rows of `dim` values, initialised N(0, 1).
    pub fn new(dim: usize) -> Self {
        Embedding { dim, padding_idx: None }
    }

    /// `padding_idx`: the row of id `id` starts at zero and gets no gradient, so it stays zero
    /// and padding contributes nothing. (kiln looks it up as zeros whatever the row holds;
    /// PyTorch returns the row, which is the same while it is zero.)
    pub fn padding_idx(self, id: usize) -> Self {
        Embedding { padding_idx: Some(id), ..self }
    }
}

impl From<usize> for Embedding {
    fn from(dim: usize) -> Self {
        Embedding::new(dim)
    }
}

impl<'m> Tokens<'m> {
    /// `nn.Embedding(vocab, dim)`: row `id` of a `[vocab, dim]` weight (initialised N(0, 1))
    /// for each id, giving `[..shape, dim]`: a gather of rows, whose gradient is the
    /// scatter-add of the incoming rows at their ids. Takes `dim` or an [`Embedding`] with
    /// options. Freeze the weight with [`Model::freeze`].
    #[track_caller]
    pub fn embedding(self, options: impl Into<Embedding>) -> Tensor<'m> {
        let (vocab, options) = (self.vocab, options.into());
        self.tensor.layer("embedding", Location::caller(), |s, ids, index| {
            let weights = EmbeddingWeights::new(s, index, vocab, options)?;
            Ok(weights.lookup(&mut s.graph, ids))
        })
    }
}

/// The `[vocab, dim]` table of one `nn.Embedding`.
#[derive(Clone, Copy)]
pub(crate) struct EmbeddingWeights {
    pub vocab: usize,
    pub weight: ValueId,
    pub padding_idx: Option<usize>,
}

impl EmbeddingWeights {
    /// Declares `{index}.weight`, initialised N(0, 1) (its padding row zero).
    pub fn new(s: &mut State, index: usize, vocab: usize, options: Embedding) -> Result<Self, String> {
        let Embedding { dim, padding_idx } = options;
        if dim == 0 {
            return Err("embedding needs a dimension of at least 1".into());
        }
        let init = match padding_idx {
            Some(row) if row >= vocab => {
                return Err(format!("padding_idx {row} is not an id of the vocabulary of {vocab}"));
            }
            Some(row) => Init::NormalZeroRow { mean: 0.0, std: 1.0, row, width: dim },
            None => Init::Normal { mean: 0.0, std: 1.0 },
        };
        let weight = s.param(index, "weight", Shape(vec![vocab, dim]), init);
        s.weights.push(weight);
        Ok(EmbeddingWeights { vocab, weight, padding_idx })
    }

    /// The table's rows at token ids `[..]`: `[.., dim]`.
    pub fn lookup(&self, g: &mut Graph, ids: ValueId) -> ValueId {
        g.gather(self.weight, ids, self.padding_idx)
    }

    /// One-hot rows `[.., vocab]` times the table: `[.., dim]`.
    pub fn apply(&self, g: &mut Graph, hot: ValueId) -> ValueId {
        let shape = g.shape(hot).clone();
        let rows = shape.numel() / self.vocab;
        let hot = g.reshape(hot, Shape(vec![rows, self.vocab]));
        let out = g.matmul(hot, self.weight);
        let mut dims = shape.0;
        *dims.last_mut().expect("one-hot rows have an axis") = g.shape(self.weight).0[1];
        g.reshape(out, Shape(dims))
    }
}

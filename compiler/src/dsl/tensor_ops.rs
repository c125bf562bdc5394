//! Shape ops, reductions and concatenation (functional: no module index, except `flatten`).

use super::{Labels, Model, Tensor};
use crate::ir::Shape;
use crate::ir::{BinaryOp, ReduceOp, ValueId};
use std::panic::Location;

impl Model {
    /// `torch.full(shape, value)`: a constant tensor (inlined into the kernels that read it).
    #[track_caller]
    pub fn full(&self, shape: impl Into<Shape>, value: f64) -> Tensor<'_> {
        let shape = shape.into();
        let id = self.checked("full", Location::caller(), |s| {
            if shape.rank() == 0 || shape.numel() == 0 {
                return Err(format!("full needs a non-empty shape, got {shape}"));
            }
            s.graph.set_origin("full");
            Ok(s.graph.constant(value, shape))
        });
        Tensor { model: self, id }
    }
}

impl<'m> Labels<'m> {
    /// The labels as one-hot rows `[.., classes]` (no gradient): a decoder's teacher-forced
    /// input is its shifted targets.
    #[track_caller]
    pub fn one_hot(self) -> Tensor<'m> {
        let classes = self.classes;
        self.tensor.functional("one_hot", Location::caller(), |s, y| Ok(s.graph.one_hot(y, classes)))
    }
}

impl<'m> Tensor<'m> {
    /// The same elements in `shape` (`torch.reshape` of a row-major tensor).
    #[track_caller]
    pub fn reshape(self, shape: impl Into<Shape>) -> Tensor<'m> {
        let shape = shape.into();
        self.functional("reshape", Location::caller(), |s, x| {
            let from = s.graph.shape(x);
            if from.numel() != shape.numel() {
                return Err(format!(
                    "cannot reshape {from} ({} elements) to {shape} ({})",
                    from.numel(),
                    shape.numel()
                ));
            }
            Ok(s.graph.reshape(x, shape))
        })
    }

    /// `torch.permute`: output axis `i` is input axis `perm[i]`.
    #[track_caller]
    pub fn permute(self, perm: &[usize]) -> Tensor<'m> {
        self.functional("permute", Location::caller(), |s, x| {
            let rank = s.graph.shape(x).rank();
            let mut seen = vec![false; rank];
            let valid = perm.len() == rank && perm.iter().all(|&p| p < rank && !std::mem::replace(&mut seen[p], true));
            if !valid {
                return Err(format!("{perm:?} is not a permutation of the {rank} axes of {}", s.graph.shape(x)));
            }
            Ok(s.graph.permute(x, perm))
        })
    }

    /// `torch.transpose(dim0, dim1)`: swaps two axes.
    #[track_caller]
    pub fn transpose(self, dim0: usize, dim1: usize) -> Tensor<'m> {
        self.functional("transpose", Location::caller(), |s, x| {
            let rank = s.graph.shape(x).rank();
            if dim0 >= rank || dim1 >= rank {
                return Err(format!("cannot swap axes {dim0} and {dim1} of {}", s.graph.shape(x)));
            }
            let mut perm: Vec<usize> = (0..rank).collect();
            perm.swap(dim0, dim1);
            Ok(s.graph.permute(x, &perm))
        })
    }

    /// `nn.Flatten(start_dim)`: merges the axes from `start_dim` on (`flatten()` is
    /// `flatten_from(1)`).
    #[track_caller]
    pub fn flatten_from(self, start_dim: usize) -> Tensor<'m> {
        self.layer("flatten", Location::caller(), |s, x, _| {
            let shape = s.graph.shape(x).clone();
            if start_dim >= shape.rank() {
                return Err(format!("start_dim {start_dim} is out of range for {shape}"));
            }
            let mut dims = shape.0[..start_dim].to_vec();
            dims.push(shape.0[start_dim..].iter().product());
            Ok(s.graph.reshape(x, Shape(dims)))
        })
    }

    /// `nn.Flatten()`: keeps the batch axis, merges the rest.
    #[track_caller]
    pub fn flatten(self) -> Tensor<'m> {
        self.flatten_from(1)
    }

    fn reduction(
        self,
        kind: &str,
        axes: &[usize],
        location: &'static Location<'static>,
        f: impl FnOnce(&mut crate::ir::Graph, ValueId, &[usize]) -> ValueId,
    ) -> Tensor<'m> {
        self.functional(kind, location, |s, x| {
            let shape = s.graph.shape(x).clone();
            let mut sorted = axes.to_vec();
            sorted.sort_unstable();
            sorted.dedup();
            if sorted.is_empty() || sorted.len() != axes.len() || sorted.iter().any(|&a| a >= shape.rank()) {
                return Err(format!("axes {axes:?} must be distinct axes of {shape}"));
            }
            let kept = f(&mut s.graph, x, &sorted);
            let dims: Vec<usize> = (0..shape.rank()).filter(|d| !sorted.contains(d)).map(|d| shape.0[d]).collect();
            Ok(s.graph.reshape(kept, Shape(dims)))
        })
    }

    /// `torch.sum(x, axes)` (the axes are removed).
    #[track_caller]
    pub fn sum(self, axes: &[usize]) -> Tensor<'m> {
        self.reduction("sum", axes, Location::caller(), |g, x, axes| g.sum(x, axes))
    }

    /// `torch.mean(x, axes)`.
    #[track_caller]
    pub fn mean(self, axes: &[usize]) -> Tensor<'m> {
        self.reduction("mean", axes, Location::caller(), |g, x, axes| super::norm::mean(g, x, axes).0)
    }

    /// `torch.var(x, axes)`: the unbiased variance (divides by count - 1).
    #[track_caller]
    pub fn var(self, axes: &[usize]) -> Tensor<'m> {
        self.reduction("var", axes, Location::caller(), |g, x, axes| {
            let (_, sum_square, count) = super::norm::squared_deviations(g, x, axes);
            g.scale(sum_square, 1.0 / (count.max(2) - 1) as f64)
        })
    }

    /// `torch.amax(x, axes)`: the largest element (ties share the gradient).
    #[track_caller]
    pub fn amax(self, axes: &[usize]) -> Tensor<'m> {
        self.reduction("amax", axes, Location::caller(), |g, x, axes| g.reduce(ReduceOp::Max, x, axes))
    }

    /// `torch.argmax(x, dim)`: the index of the largest element along `dim` (the first one on
    /// ties, as in PyTorch), as a float; no gradient flows through it. Lowered as
    /// `n - max(at_max * (n - iota))`: the first maximum has the largest reversed index.
    #[track_caller]
    pub fn argmax(self, dim: usize) -> Tensor<'m> {
        self.reduction("argmax", &[dim], Location::caller(), |g, x, axes| {
            let shape = g.shape(x).clone();
            let n = shape.0[axes[0]] as f64;
            let x = g.detach(x);
            let max = g.reduce(ReduceOp::Max, x, axes);
            let at_max = g.binary(BinaryOp::Equal, x, max);
            let iota = g.iota(axes[0], shape);
            let count = g.scalar_like(n, iota);
            let reversed = g.sub(count, iota);
            let score = g.mul(at_max, reversed);
            let best = g.reduce(ReduceOp::Max, score, axes);
            let count = g.scalar_like(n, best);
            g.sub(count, best)
        })
    }

    /// `torch.narrow(dim, start, len)`: elements `start..start + len` along `dim`. Lowered as
    /// the adjoint of zero padding (a fold), so its gradient pads the incoming gradient back.
    #[track_caller]
    pub fn narrow(self, dim: usize, start: usize, len: usize) -> Tensor<'m> {
        self.functional("narrow", Location::caller(), |s, x| {
            let shape = s.graph.shape(x).clone();
            if dim >= shape.rank() || len == 0 || start + len > shape.0[dim] {
                return Err(format!("cannot take {start}..{} along dim {dim} of {shape}", start + len));
            }
            Ok(s.graph.narrow(x, dim, start, len))
        })
    }

    /// `x.select(dim, index)` (`x[:, index]` for dim 1): one slice along `dim`, which is removed.
    #[track_caller]
    pub fn select(self, dim: usize, index: usize) -> Tensor<'m> {
        self.functional("select", Location::caller(), |s, x| {
            let shape = s.graph.shape(x).clone();
            if dim >= shape.rank() || index >= shape.0[dim] {
                return Err(format!("cannot select index {index} along dim {dim} of {shape}"));
            }
            let slice = s.graph.narrow(x, dim, index, 1);
            let mut dims = shape.0;
            dims.remove(dim);
            Ok(s.graph.reshape(slice, Shape(dims)))
        })
    }

    /// `torch.stack(tensors, dim)`: equal shapes joined along a new axis `dim`.
    #[track_caller]
    pub fn stack(tensors: &[Tensor<'m>], dim: usize) -> Tensor<'m> {
        let location = Location::caller();
        let first = *tensors.first().expect("stack of no tensors");
        let shapes: Option<Vec<Shape>> = tensors.iter().map(|t| t.shape()).collect();
        let Some(shapes) = shapes else { return Tensor { model: first.model, id: None } };
        if dim > shapes[0].rank() || shapes.iter().any(|s| *s != shapes[0]) {
            let list: Vec<String> = shapes.iter().map(|s| s.to_string()).collect();
            let id = first
                .model
                .checked("stack", location, |_| Err(format!("cannot stack {} along dim {dim}", list.join(", "))));
            return Tensor { model: first.model, id };
        }
        let mut dims = shapes[0].0.clone();
        dims.insert(dim, 1);
        let pieces: Vec<Tensor<'m>> = tensors
            .iter()
            .map(|t| t.functional("stack", location, |s, x| Ok(s.graph.reshape(x, Shape(dims.clone())))))
            .collect();
        Tensor::concat_at(&pieces, dim, location)
    }

    /// Class ids (floats, e.g. from [`Tensor::argmax`]) `[..]` to a one-hot `[.., classes]`
    /// (no gradient): how a greedy decoder feeds its own prediction back.
    #[track_caller]
    pub fn one_hot(self, classes: usize) -> Tensor<'m> {
        self.functional("one_hot", Location::caller(), |s, x| {
            if classes == 0 {
                return Err("one_hot needs at least one class".into());
            }
            let shape = s.graph.shape(x).clone();
            let mut dims = shape.0.clone();
            dims.push(1);
            let ids = s.graph.detach(x);
            let ids = s.graph.reshape(ids, Shape(dims.clone()));
            *dims.last_mut().expect("rank >= 1") = classes;
            let iota = s.graph.iota(dims.len() - 1, Shape(dims));
            Ok(s.graph.binary(BinaryOp::Equal, iota, ids))
        })
    }

    /// `torch.cat(tensors, dim)`: the tensors joined along `dim` (equal elsewhere). Its
    /// gradient slices the incoming gradient back apart.
    #[track_caller]
    pub fn concat(tensors: &[Tensor<'m>], dim: usize) -> Tensor<'m> {
        Tensor::concat_at(tensors, dim, Location::caller())
    }

    fn concat_at(tensors: &[Tensor<'m>], dim: usize, location: &'static Location<'static>) -> Tensor<'m> {
        let first = *tensors.first().expect("concat of no tensors");
        let ids: Option<Vec<ValueId>> = tensors.iter().map(|t| t.id).collect();
        let Some(ids) = ids else { return Tensor { model: first.model, id: None } };
        let id = first.model.checked("concat", location, |s| {
            s.graph.set_origin("concat");
            let shapes: Vec<Shape> = ids.iter().map(|&v| s.graph.shape(v).clone()).collect();
            let rank = shapes[0].rank();
            let matches = |sh: &Shape| sh.rank() == rank && (0..rank).all(|d| d == dim || sh.0[d] == shapes[0].0[d]);
            if dim >= rank || !shapes.iter().all(matches) {
                let list: Vec<String> = shapes.iter().map(|s| s.to_string()).collect();
                return Err(format!("cannot join {} along dim {dim}", list.join(", ")));
            }
            Ok(s.graph.concat(&ids, dim))
        });
        Tensor { model: first.model, id }
    }
}

//! Direct convolution: a pass that replaces the im2col products of stride-1 convolutions
//! (forward, weight gradient, and input gradient with its fold) by [`Op::DirectConv`] and
//! [`Op::ConvWeightGrad`], which read images stored batch innermost (`[c, h, w, n]`): each
//! window tap is then one aligned vector along the batch, and no im2col buffer is written and
//! read back.
//!
//! The layout spreads from the convolutions' outputs: pointwise ops, reductions (pooling, bias
//! gradients), expands and reshapes of images are computed batch innermost too, where their
//! operands are, so their kernels also run along the batch. Each keeps its value as a permuted
//! view for any other reader. Images enter the layout through 1x1 unfolds that the schedule
//! stores permuted (one transposing copy each): the model's input, and gradients arriving
//! from the dense layers.
//!
//! It applies where the library kernels do: square windows, stride and dilation 1, the same
//! padding on every side, a batch of whole pairs of [`DIRECT_CONV_LANES`]-wide vectors, and no half-precision
//! buffers (the kernels read and write the compute type).

use crate::ir::Shape;
use crate::ir::{DirectWindow, Graph, Op, ValueId, Window};
use crate::program::Program;
use crate::target::DIRECT_CONV_LANES;
use std::collections::HashMap;

/// `p` with its stride-1 convolutions direct, or `p` unchanged where none qualifies (or
/// without fusion, whose programs keep the im2col kernels as the reference).
pub(crate) fn direct_convolutions(p: &Program) -> Program {
    let mut q = p.clone();
    if !p.fuse || p.precision.half().is_some() {
        return q;
    }
    let old = &p.graph;
    let mut rewriter = Rewriter {
        old,
        g: Graph::default(),
        map: Vec::with_capacity(old.nodes.len()),
        batch_innermost: HashMap::new(),
        products: HashMap::new(),
        padded: HashMap::new(),
        gradients: HashMap::new(),
    };
    for v in 0..old.nodes.len() {
        rewriter.g.set_origin(old.nodes[v].origin.clone());
        let new = rewriter.direct(v).or_else(|| rewriter.spread(v)).unwrap_or_else(|| {
            let node = &old.nodes[v];
            let op = node.op.clone().map_operands(|a| rewriter.map[a]);
            rewriter.g.push(op, node.shape.clone())
        });
        rewriter.map.push(new);
    }
    let Rewriter { g, map, .. } = rewriter;
    q.graph = g;
    q.map_values(|v| map[v]);
    q
}

/// An im2col column matrix `[c * k * k, n * oh * ow]` of a convolution the direct kernels can
/// run: the image it unfolds, the unfold, and the window.
struct Im2col {
    image: ValueId,
    unfold: ValueId,
    k: usize,
    pad: usize,
}

impl Im2col {
    /// `cols` as `reshape(permute(unfold(image), [3, 4, 5, 0, 1, 2]))` of a qualifying window.
    fn of(g: &Graph, cols: ValueId) -> Option<Im2col> {
        let Op::Reshape(permuted) = g.nodes[cols].op else { return None };
        let Op::Permute(unfold, ref perm) = g.nodes[permuted].op else { return None };
        let Op::Unfold(image, window, pad_value) = g.nodes[unfold].op else { return None };
        (perm[..] == [3, 4, 5, 0, 1, 2]
            && pad_value == 0.0
            && g.shape(image).0[0].is_multiple_of(2 * DIRECT_CONV_LANES))
        .then_some(())
        .and(qualifying(&window))
        .map(|(k, pad)| Im2col { image, unfold, k, pad })
    }
}

/// `(k, pad)` of a square stride-1 window without dilation, padded equally on every side by
/// less than `k` (so the input gradient's padding `k - 1 - pad` exists).
fn qualifying(w: &Window) -> Option<(usize, usize)> {
    let [[top, bottom], [left, right]] = w.padding;
    let same_padding = [bottom, left, right].iter().all(|&p| p == top) && top < w.kernel[0];
    (w.kernel[0] == w.kernel[1] && w.stride == [1, 1] && w.dilation == [1, 1] && same_padding)
        .then_some((w.kernel[0], top))
}

/// Whether `w2` is a convolution's weight `[o, c, k, k]` reshaped to `[o, c * k * k]`, which
/// the direct kernels read in place.
fn is_weight(g: &Graph, w2: ValueId, k: usize) -> bool {
    matches!(g.nodes[w2].op, Op::Reshape(w) if matches!(g.shape(w).0[..], [_, _, kh, kw] if kh == k && kw == k))
}

struct Rewriter<'a> {
    old: &'a Graph,
    g: Graph,
    /// The new value of each old value visited so far.
    map: Vec<ValueId>,
    /// Old `[n, ...]` value -> a new value holding it batch innermost, `[..., n]`.
    batch_innermost: HashMap<ValueId, ValueId>,
    /// Old forward product -> its direct convolution, `[o, oh, ow, n]`.
    products: HashMap<ValueId, ValueId>,
    /// Old unfold -> its image padded and batch innermost, `[c, hp, wp, n]`.
    padded: HashMap<ValueId, ValueId>,
    /// Old output gradient `[o, n * oh * ow]` -> batch innermost, `[o, oh, ow, n]`.
    gradients: HashMap<ValueId, ValueId>,
}

/// `shape` (`[n, ...]`) with its batch axis moved last.
fn batch_last(shape: &Shape) -> Shape {
    Shape([&shape.0[1..], &shape.0[..1]].concat())
}

/// The permutation that moves the last of `rank` axes first: a batch-innermost value's view in
/// its logical order.
fn last_first(rank: usize) -> Vec<usize> {
    std::iter::once(rank - 1).chain(0..rank - 1).collect()
}

/// The permutation that moves the first of `rank` axes last.
fn first_last(rank: usize) -> Vec<usize> {
    (1..rank).chain([0]).collect()
}

impl Rewriter<'_> {
    /// The new value of old `v` if it is a product or fold the direct kernels replace.
    fn direct(&mut self, v: ValueId) -> Option<ValueId> {
        let old = self.old;
        match old.nodes[v].op {
            // Forward: weight [o, c k k] x columns.
            Op::MatMul(lhs, rhs) => match (Im2col::of(old, rhs), &old.nodes[rhs].op) {
                (Some(im2col), _) => is_weight(old, lhs, im2col.k).then(|| self.forward(v, lhs, &im2col)),
                // Weight gradient: output gradient x columns transposed.
                (None, &Op::Permute(cols, ref perm)) if perm[..] == [1, 0] => {
                    let im2col = Im2col::of(old, cols)?;
                    let xp = self.padded(&im2col);
                    let dy = self.gradient(lhs, old.shape(im2col.unfold));
                    Some(self.g.conv_weight_grad(xp, dy, im2col.k))
                }
                _ => None,
            },
            // Input gradient: weight transposed x output gradient, folded.
            Op::Fold(windows, window) => {
                let (k, pad) = qualifying(&window)?;
                let Op::Permute(cols, ref perm) = old.nodes[windows].op else { return None };
                let Op::Reshape(product) = old.nodes[cols].op else { return None };
                let Op::MatMul(weight_t, grad) = old.nodes[product].op else { return None };
                let Op::Permute(weight, _) = old.nodes[weight_t].op else { return None };
                let n = old.shape(v).0[0];
                (perm[..] == [3, 4, 5, 0, 1, 2]
                    && n.is_multiple_of(2 * DIRECT_CONV_LANES)
                    && is_weight(old, weight, k))
                .then_some(())?;
                let dy = self.gradient(grad, old.shape(windows));
                let window = DirectWindow { k, pad: k - 1 - pad, flip: true };
                let dx = self.g.direct_conv(dy, self.map[weight], window);
                self.batch_innermost.insert(v, dx);
                Some(self.g.permute(dx, &[3, 0, 1, 2]))
            }
            _ => None,
        }
    }

    /// The forward product `[o, n * oh * ow]`, computed batch innermost and copied back (for
    /// readers other than the image `[n, o, oh, ow]` it is reshaped and permuted into, which
    /// reads the direct convolution itself: see [`Rewriter::spread`]).
    fn forward(&mut self, product: ValueId, weight: ValueId, im2col: &Im2col) -> ValueId {
        let xp = self.padded(im2col);
        let y = self.g.direct_conv(xp, self.map[weight], DirectWindow { k: im2col.k, pad: 0, flip: false });
        self.products.insert(product, y);
        let y = self.g.permute(y, &[3, 0, 1, 2]);
        let y = self.copy(y, 0, [3, 0, 1, 2]);
        let [o, n, oh, ow] = self.g.shape(y).0[..] else { unreachable!() };
        self.g.reshape(y, Shape(vec![o, n * oh * ow]))
    }

    /// The image of `im2col`, padded and batch innermost.
    fn padded(&mut self, im2col: &Im2col) -> ValueId {
        if let Some(&xp) = self.padded.get(&im2col.unfold) {
            return xp;
        }
        let xp = match self.batch_innermost.get(&im2col.image) {
            Some(&x) if im2col.pad == 0 => x,
            _ => self.copy(self.map[im2col.image], im2col.pad, [3, 1, 2, 0]),
        };
        self.padded.insert(im2col.unfold, xp);
        xp
    }

    /// Old output gradient `grad` (`[o, n * oh * ow]`, of the unfolded `windows`
    /// `[n, oh, ow, ...]`) batch innermost: the value it reshapes where that is batch innermost
    /// (`reshape(permute(image gradient, [1, 0, 2, 3]))`), else a copy.
    fn gradient(&mut self, grad: ValueId, windows: &Shape) -> ValueId {
        if let Some(&dy) = self.gradients.get(&grad) {
            return dy;
        }
        let old = self.old;
        let image = match old.nodes[grad].op {
            Op::Reshape(permuted) => match old.nodes[permuted].op {
                Op::Permute(image, ref perm) if perm[..] == [1, 0, 2, 3] => Some(image),
                _ => None,
            },
            _ => None,
        };
        let dy = match image.and_then(|image| self.batch_innermost.get(&image)) {
            Some(&dy) => dy,
            None => {
                let [n, oh, ow, ..] = windows.0[..] else { unreachable!() };
                let o = old.shape(grad).0[0];
                let dy = self.g.reshape(self.map[grad], Shape(vec![o, n, oh, ow]));
                let dy = self.g.permute(dy, &[1, 0, 2, 3]);
                self.copy(dy, 0, [3, 1, 2, 0])
            }
        };
        self.gradients.insert(grad, dy);
        dy
    }

    /// The new value of old image-like `v` (rank 3 or more) computed batch innermost from
    /// operands that are (see [`Rewriter::batch_innermost`]), as a view in `v`'s axis order:
    /// the image a direct convolution's product is reshaped and permuted into, pointwise ops,
    /// reductions, expands, detaches and reshapes that keep the batch axis. A reduction over the batch
    /// (a bias gradient) reads its operand batch innermost but is not recorded. `None` where
    /// no operand is batch innermost.
    fn spread(&mut self, v: ValueId) -> Option<ValueId> {
        let old = self.old;
        let shape = old.shape(v);
        let rank = shape.rank();
        if rank < 3 {
            return None;
        }
        let value = match old.nodes[v].op.clone() {
            Op::Permute(y, perm) if perm[..] == [1, 0, 2, 3] => match old.nodes[y].op {
                Op::Reshape(product) => *self.products.get(&product)?,
                _ => return None,
            },
            Op::Unary(op, a) => {
                let a = *self.batch_innermost.get(&a)?;
                self.g.unary(op, a)
            }
            Op::Binary(op, a, b) if [a, b].iter().any(|x| self.batch_innermost.contains_key(x)) => {
                let (a, b) = (self.operand(a)?, self.operand(b)?);
                self.g.binary(op, a, b)
            }
            Op::Reduce(op, a, axes) => {
                let a = *self.batch_innermost.get(&a)?;
                let mut moved: Vec<usize> = axes.iter().map(|&d| if d == 0 { rank - 1 } else { d - 1 }).collect();
                moved.sort_unstable();
                let reduced = self.g.reduce(op, a, &moved);
                if axes.contains(&0) {
                    return Some(self.g.permute(reduced, &last_first(rank)));
                }
                reduced
            }
            Op::Reshape(a) if old.shape(a).0[0] == shape.0[0] => {
                let a = *self.batch_innermost.get(&a)?;
                self.g.reshape(a, batch_last(shape))
            }
            Op::Detach(a) => *self.batch_innermost.get(&a)?,
            Op::Expand(a) if self.batch_innermost.contains_key(&a) => {
                let a = self.operand(a)?;
                self.g.expand(a, batch_last(shape))
            }
            _ => return None,
        };
        self.batch_innermost.insert(v, value);
        Some(self.g.permute(value, &last_first(rank)))
    }

    /// Old operand `a` of a value computed batch innermost: its batch-innermost value, a view
    /// where its batch axis is 1 or broadcast, else a copy. `None` if its rank differs (no batch
    /// axis to move).
    fn operand(&mut self, a: ValueId) -> Option<ValueId> {
        if let Some(&value) = self.batch_innermost.get(&a) {
            return Some(value);
        }
        let shape = self.old.shape(a).clone();
        if shape.rank() < 3 {
            return None;
        }
        if shape.0[0] == 1 {
            return Some(self.g.permute(self.map[a], &first_last(shape.rank())));
        }
        // A broadcast along the batch (a batch norm's gradient terms) is a view too.
        if let Op::Expand(b) = self.old.nodes[a].op {
            if self.old.shape(b).0[0] == 1 {
                let b = self.g.permute(self.map[b], &first_last(shape.rank()));
                return Some(self.g.expand(b, batch_last(&shape)));
            }
        }
        // Seen as `[n, rest, 1, 1]`, whose 1x1 unfold stores it `[rest, 1, 1, n]`.
        let n = shape.0[0];
        let flat = self.g.reshape(self.map[a], Shape(vec![n, shape.numel() / n, 1, 1]));
        let copy = self.copy(flat, 0, [3, 1, 2, 0]);
        let value = self.g.reshape(copy, batch_last(&shape));
        self.batch_innermost.insert(a, value);
        Some(value)
    }

    /// `image` (`[n, c, h, w]`) padded by `pad` and copied with its axes in `order` of
    /// `(n, h, w, c)`: a 1x1 unfold, which the schedule stores permuted.
    fn copy(&mut self, image: ValueId, pad: usize, order: [usize; 4]) -> ValueId {
        let windows = self.g.unfold(image, Window::padding_only([[pad, pad], [pad, pad]]), 0.0);
        let permuted = self.g.permute(windows, &[order[0], order[1], order[2], order[3], 4, 5]);
        let dims = self.g.shape(permuted).0[..4].to_vec();
        self.g.reshape(permuted, Shape(dims))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsl::{Conv, Model, Pool};
    use crate::ir::eval::evaluate;
    use crate::ir::Op;
    use crate::optim::Sgd;

    /// A two-convolution model (padded with batch norm, then unpadded with an input gradient)
    /// whose train step the pass rewrites: evaluated in f64 before and after, every root
    /// agrees.
    #[test]
    fn rewritten_train_step_computes_the_same_values() {
        let m = Model::new("Direct");
        let x = m.input("x", [16, 2, 8, 8]);
        let y = m.labels("y", [16], 3);
        let out = x
            .conv2d(Conv::new(3, 3).padding(1))
            .batch_norm2d()
            .relu()
            .max_pool2d(Pool::new(2))
            .conv2d(Conv::new(4, 3))
            .relu()
            .flatten()
            .linear(3);
        let p = m.compile(out.cross_entropy(y), out, Sgd::new(0.1)).unwrap();
        let q = direct_convolutions(&p);
        let direct = |op: &Op| matches!(op, Op::DirectConv(..) | Op::ConvWeightGrad(..));
        assert_eq!(live_count(&p, direct), 0);
        assert_eq!(live_count(&q, direct), 5, "2 forward, 2 weight gradients, 1 input gradient");
        // The layout spreads between the convolutions: the only copies into it are of the
        // padded input and of the gradient arriving from the linear layer.
        assert_eq!(live_count(&q, |op| matches!(op, Op::Unfold(..))), 2);

        // The same data by name: the pass renumbers values.
        let feed = |p: &Program| {
            let mut feeds = HashMap::new();
            for (v, node) in p.graph.nodes.iter().enumerate() {
                let n = node.shape.numel();
                let data: Vec<f64> = match &node.op {
                    Op::Labels { .. } => (0..n).map(|i| (i % 3) as f64).collect(),
                    Op::Input { name } if name == "__sample_weight" => vec![1.0 / 16.0; n],
                    Op::Input { name } | Op::Param { name, .. } => {
                        let seed = name.bytes().map(usize::from).sum::<usize>();
                        (0..n).map(|i| ((i * 7919 + seed) % 97) as f64 / 97.0 - 0.5).collect()
                    }
                    _ => continue,
                };
                feeds.insert(v, data);
            }
            feeds
        };
        let (before, after) = (evaluate(&p.graph, &feed(&p)), evaluate(&q.graph, &feed(&q)));
        for (&a, &b) in p.train_roots().iter().zip(&q.train_roots()) {
            let worst = before[a].iter().zip(&after[b]).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
            assert!(worst < 1e-9, "{}: differs by {worst}", p.graph.describe(a));
        }
    }

    /// Padding as wide as the window leaves the input gradient no padding of its own: such a
    /// convolution keeps im2col.
    #[test]
    fn padding_as_wide_as_the_window_keeps_im2col() {
        let m = Model::new("WidePadding");
        let x = m.input("x", [16, 2, 4, 4]);
        let y = m.labels("y", [16], 3);
        let out = x.conv2d(Conv::new(3, 3).padding(1)).conv2d(Conv::new(2, 1).padding(1)).flatten().linear(3);
        let p = m.compile(out.cross_entropy(y), out, Sgd::new(0.1)).unwrap();
        let q = direct_convolutions(&p);
        let (products, folds) =
            (live_count(&q, |op| matches!(op, Op::MatMul(..))), live_count(&q, |op| matches!(op, Op::Fold(..))));
        // The 1x1 convolution's forward and weight-gradient products, the linear layer's three,
        // and its input gradient's product and fold.
        assert_eq!((products, folds), (6, 1));
    }

    /// The train step's nodes whose op satisfies `f`.
    fn live_count(p: &Program, f: fn(&Op) -> bool) -> usize {
        let live = p.graph.live_set(&p.train_roots());
        p.graph.nodes.iter().zip(live).filter(|(node, live)| *live && f(&node.op)).count()
    }
}

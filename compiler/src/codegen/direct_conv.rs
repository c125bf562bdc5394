//! Direct convolution: a pass that replaces the im2col products of stride-1 convolutions
//! (forward, weight gradient, and input gradient with its fold) by [`Op::DirectConv`] and
//! [`Op::ConvWeightGrad`], which read images stored batch innermost (`[c, h, w, n]`): each
//! window tap is then one aligned vector along the batch, and no im2col buffer is written and
//! read back. Images enter and leave that layout through 1x1 unfolds that the schedule stores
//! permuted (one transposing copy each), so every other kernel keeps its layout.
//!
//! It applies where the library kernels do: square windows, stride and dilation 1, the same
//! padding on every side, a batch of whole pairs of [`LANES`]-wide vectors, and no half-precision
//! buffers (the kernels read and write the compute type).

use crate::ir::{DirectWindow, Graph, Op, ValueId, Window};
use crate::program::Program;
use crate::shape::Shape;
use std::collections::HashMap;

/// Lanes of the vectors the direct kernels read along the batch.
pub const LANES: usize = 8;

/// `p` with its stride-1 convolutions direct, or `p` unchanged where none qualifies (or
/// without fusion, whose programs keep the im2col kernels as the reference).
pub fn rewrite(p: &Program) -> Program {
    let mut q = p.clone();
    if !p.fuse || p.precision.half().is_some() {
        return q;
    }
    let old = &p.graph;
    let mut rewriter = Rewriter { old, g: Graph::default(), map: Vec::with_capacity(old.nodes.len()), padded: HashMap::new(), batch_last: HashMap::new() };
    for v in 0..old.nodes.len() {
        rewriter.g.set_origin(old.nodes[v].origin.clone());
        let new = rewriter.direct(v).unwrap_or_else(|| {
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
        (perm[..] == [3, 4, 5, 0, 1, 2] && pad_value == 0.0 && g.shape(image).0[0] % (2 * LANES) == 0)
            .then_some(())
            .and(qualifying(&window))
            .map(|(k, pad)| Im2col { image, unfold, k, pad })
    }
}

/// `(k, pad)` of a square stride-1 window without dilation, padded equally on every side.
fn qualifying(w: &Window) -> Option<(usize, usize)> {
    let [[top, bottom], [left, right]] = w.padding;
    let same_padding = [bottom, left, right].iter().all(|&p| p == top);
    (w.kernel[0] == w.kernel[1] && w.stride == [1, 1] && w.dilation == [1, 1] && same_padding).then_some((w.kernel[0], top))
}

struct Rewriter<'a> {
    old: &'a Graph,
    g: Graph,
    /// The new value of each old value visited so far.
    map: Vec<ValueId>,
    /// Old unfold -> its image padded and batch innermost, `[c, hp, wp, n]`.
    padded: HashMap<ValueId, ValueId>,
    /// Old output gradient `[o, n * oh * ow]` -> batch innermost, `[o, oh, ow, n]`.
    batch_last: HashMap<ValueId, ValueId>,
}

impl Rewriter<'_> {
    /// The new value of old `v` if it is a product or fold the direct kernels replace.
    fn direct(&mut self, v: ValueId) -> Option<ValueId> {
        let old = self.old;
        match old.nodes[v].op {
            // Forward: weight [o, c k k] x columns.
            Op::MatMul(lhs, rhs) => match (Im2col::of(old, rhs), &old.nodes[rhs].op) {
                (Some(im2col), _) => Some(self.forward(lhs, &im2col)),
                // Weight gradient: output gradient x columns transposed.
                (None, &Op::Permute(cols, ref perm)) if perm[..] == [1, 0] => {
                    let im2col = Im2col::of(old, cols)?;
                    let xp = self.padded(&im2col);
                    let dy = self.batch_last(lhs, old.shape(im2col.unfold));
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
                (perm[..] == [3, 4, 5, 0, 1, 2] && n % (2 * LANES) == 0).then_some(())?;
                let dy = self.batch_last(grad, old.shape(windows));
                let window = DirectWindow { k, pad: k - 1 - pad, flip: true };
                let dx = self.g.direct_conv(dy, self.map[weight], window);
                let dx = self.g.permute(dx, &[3, 0, 1, 2]);
                Some(self.copy(dx, 0, [0, 3, 1, 2]))
            }
            _ => None,
        }
    }

    /// The forward product `[o, n * oh * ow]`, computed batch innermost and copied back.
    fn forward(&mut self, weight: ValueId, im2col: &Im2col) -> ValueId {
        let xp = self.padded(im2col);
        let y = self.g.direct_conv(xp, self.map[weight], DirectWindow { k: im2col.k, pad: 0, flip: false });
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
        let xp = self.copy(self.map[im2col.image], im2col.pad, [3, 1, 2, 0]);
        self.padded.insert(im2col.unfold, xp);
        xp
    }

    /// Old output gradient `grad` (`[o, n * oh * ow]`, of the unfolded `windows`
    /// `[n, oh, ow, ...]`) batch innermost.
    fn batch_last(&mut self, grad: ValueId, windows: &Shape) -> ValueId {
        if let Some(&dy) = self.batch_last.get(&grad) {
            return dy;
        }
        let [n, oh, ow, ..] = windows.0[..] else { unreachable!() };
        let o = self.old.shape(grad).0[0];
        let dy = self.g.reshape(self.map[grad], Shape(vec![o, n, oh, ow]));
        let dy = self.g.permute(dy, &[1, 0, 2, 3]);
        let dy = self.copy(dy, 0, [3, 1, 2, 0]);
        self.batch_last.insert(grad, dy);
        dy
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
    use crate::eval::evaluate;
    use crate::ir::Op;
    use crate::optim::Sgd;

    /// A two-convolution model (padded, then unpadded with an input gradient) whose train step
    /// the pass rewrites: evaluated in f64 before and after, every root agrees.
    #[test]
    fn rewritten_train_step_computes_the_same_values() {
        let m = Model::new("Direct");
        let x = m.input("x", [16, 2, 8, 8]);
        let y = m.labels("y", [16], 3);
        let out = x.conv2d(Conv::new(3, 3).padding(1)).relu().max_pool2d(Pool::new(2)).conv2d(Conv::new(4, 3)).flatten().linear(3);
        let p = m.compile(out.cross_entropy(y), out, Sgd::new(0.1)).unwrap();
        let q = rewrite(&p);
        let count = |g: &Graph, f: fn(&Op) -> bool| g.nodes.iter().filter(|n| f(&n.op)).count();
        let direct = |op: &Op| matches!(op, Op::DirectConv(..) | Op::ConvWeightGrad(..));
        assert_eq!(count(&p.graph, direct), 0);
        assert!(count(&q.graph, direct) >= 5, "2 forward, 2 weight gradients, 1 input gradient");

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
}

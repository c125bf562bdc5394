//! The IR: a static graph of a few primitive ops. Every layer lowers into these, autodiff
//! differentiates them, and the back end (`lower`, `schedule`, `plan`, `emit`) turns them into kernels.
//!
//! Values are numbered in creation order, which is always a topological order.

pub mod eval;
mod parse;
mod print;
pub mod shape;
mod sink;
mod unroll;
mod verify;

pub use parse::ParseError;
pub use shape::Shape;
pub use sink::scan_sinking_tails;
pub use unroll::{replace_loops, unroll, unroll_loop};
pub use verify::{verify, Violation};

/// Index of a value (the output of one node) in a [`Graph`].
pub type ValueId = usize;

/// Pointwise ops of one operand.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum UnaryOp {
    /// -x
    Neg,
    /// e^x
    Exp,
    /// Natural logarithm.
    Log,
    /// Square root.
    Sqrt,
    /// 1 / x
    Recip,
    /// |x|
    Abs,
    /// -1, 0 or 1.
    Sign,
    /// max(x, 0); its derivative is 1{x > 0} (0 at exactly 0, as in PyTorch).
    Relu,
    /// Hyperbolic tangent.
    Tanh,
    /// The logistic function 1 / (1 + e^-x), a primitive (as JAX's `logistic`) so that its
    /// derivative is y(1 - y) from its output alone: the backward pass keeps nothing else.
    Sigmoid,
    /// The error function (for the exact GELU).
    Erf,
}

/// Pointwise ops of two operands, with broadcasting.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum BinaryOp {
    /// a + b
    Add,
    /// a - b
    Sub,
    /// a * b
    Mul,
    /// a / b
    Div,
    /// a^b
    Pow,
    /// Larger of the two (ties share the gradient).
    Max,
    /// Smaller of the two (ties share the gradient).
    Min,
    /// 1.0 where lhs > rhs, else 0.0.
    Greater,
    /// 1.0 where lhs == rhs, else 0.0.
    Equal,
}

/// Reductions over a set of axes (the reduced axes are kept with size 1).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ReduceOp {
    /// Sum of the elements.
    Sum,
    /// Largest element (ties share the gradient).
    Max,
}

/// A sliding window over the last two axes of `[n, c, h, w]`: its positions are those of a
/// convolution or pooling with these settings.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Window {
    /// Window extent `[kh, kw]`.
    pub kernel: [usize; 2],
    /// Step between positions `[sh, sw]`.
    pub stride: [usize; 2],
    /// Spacing of the window's taps `[dh, dw]`.
    pub dilation: [usize; 2],
    /// Padding `[[top, bottom], [left, right]]` (reads there give the unfold's pad value).
    pub padding: [[usize; 2]; 2],
}

/// The window of an [`Op::DirectConv`]: `k` by `k` taps, `pad` zeros around each plane.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct DirectWindow {
    /// Taps along each axis.
    pub k: usize,
    /// Zeros read around each input plane.
    pub pad: usize,
    /// Whether the weights are those of the convolution whose input gradient this is: tap
    /// `(o, c, i, j)` reads `[c, o * k * k]` at `(k - 1 - i, k - 1 - j)`.
    pub flip: bool,
}

impl Window {
    /// A 1x1 window with stride 1 and this padding: its unfold zero-pads, its fold crops.
    pub fn padding_only(padding: [[usize; 2]; 2]) -> Window {
        Window { kernel: [1, 1], stride: [1, 1], dilation: [1, 1], padding }
    }

    /// Output positions along the two axes for an input of `[h, w]`; `None` if the window
    /// does not fit once.
    pub fn positions(&self, size: [usize; 2]) -> Option<[usize; 2]> {
        let along = |d: usize| {
            let padded = size[d] + self.padding[d][0] + self.padding[d][1];
            let span = self.dilation[d] * (self.kernel[d] - 1) + 1;
            (padded >= span && self.stride[d] > 0).then(|| (padded - span) / self.stride[d] + 1)
        };
        Some([along(0)?, along(1)?])
    }
}

/// How a parameter is initialised, drawn from the trainer's seeded generator.
#[derive(Clone, PartialEq, Debug)]
pub enum Init {
    /// U(low, high): PyTorch's Linear default is U(±1/sqrt(fan_in)) for weight and bias.
    Uniform {
        /// Inclusive lower bound.
        low: f64,
        /// Exclusive upper bound.
        high: f64,
    },
    /// Every element equal.
    Constant(f64),
    /// N(mean, std).
    Normal {
        /// Mean.
        mean: f64,
        /// Standard deviation.
        std: f64,
    },
    /// N(mean, std) except the `width` elements of row `row`, which are zero: an embedding
    /// table whose row `row` is its padding.
    NormalZeroRow {
        /// Mean.
        mean: f64,
        /// Standard deviation.
        std: f64,
        /// The zero row.
        row: usize,
        /// Elements per row.
        width: usize,
    },
}

/// A carried value of a [`Loop`]: its value before the first step, the body's input that
/// holds it at each step, and the body's value that becomes it for the next step.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Carry {
    /// The outer value it starts from.
    pub init: ValueId,
    /// The body's input holding it during a step.
    pub input: ValueId,
    /// The body's value it holds after the step.
    pub next: ValueId,
}

/// A loop: the body graph runs once per step, as `lax.scan` does. Each step reads the carries,
/// its slice of each sliced value (index `i` of the leading axis at step `i`; `steps - 1 - i`
/// in a reverse loop) and the invariants, and produces the next carries and its slice of each
/// of `ys`. The body is compiled once, whatever the number of steps.
///
/// Its outputs, read through [`Op::LoopOutput`], are each carry after the last step, then each
/// of `ys` stacked `[steps, ..]` by slice index.
#[derive(Clone, PartialEq, Debug)]
pub struct Loop {
    /// The trip count.
    pub steps: usize,
    /// Whether step `i` works on slice `steps - 1 - i` (backpropagation through time).
    pub reverse: bool,
    /// The step: a graph whose inputs are the carries', slices' and invariants' `input`s.
    pub body: Graph,
    /// The carried values.
    pub carries: Vec<Carry>,
    /// `(outer [steps, ..], body input [..])`: a value read one slice per step.
    pub slices: Vec<(ValueId, ValueId)>,
    /// `(outer, body input)`: a value every step reads whole.
    pub invariants: Vec<(ValueId, ValueId)>,
    /// Body values stacked into outputs `[steps, ..]`.
    pub ys: Vec<ValueId>,
    /// Sequence lengths `[batch]` (labels in `0..=steps`) past whose longest no step matters:
    /// each row's steps past its length leave the carries as they are and stack zeros (see
    /// `Recurrent::lengths`). The back end runs that many trips and stores zeros for the
    /// rest; the evaluator runs every step, to the same result.
    pub trips: Option<ValueId>,
}

impl Loop {
    /// The slice index step `step` works on.
    pub fn index(&self, step: usize) -> usize {
        if self.reverse {
            self.steps - 1 - step
        } else {
            step
        }
    }

    /// The body values stacked into the loop's outputs, in output order.
    pub fn outputs(&self) -> Vec<ValueId> {
        self.carries.iter().map(|c| c.next).chain(self.ys.iter().copied()).collect()
    }

    /// The outer values the loop reads: initial carries, sliced values, invariants.
    pub fn operands(&self) -> Vec<ValueId> {
        let carries = self.carries.iter().map(|c| c.init);
        carries.chain(self.slices.iter().chain(&self.invariants).map(|&(outer, _)| outer)).collect()
    }

    /// The body inputs, in the order of [`Loop::operands`].
    pub fn inputs(&self) -> Vec<ValueId> {
        let carries = self.carries.iter().map(|c| c.input);
        carries.chain(self.slices.iter().chain(&self.invariants).map(|&(_, input)| input)).collect()
    }

    /// The same loop over `body`, a rewrite of its body in which each of its values `v` went
    /// to `ids[v]`.
    pub fn with_body(&self, body: Graph, ids: &[ValueId]) -> Loop {
        Loop {
            body,
            carries: self.carries.iter().map(|c| Carry { input: ids[c.input], next: ids[c.next], ..*c }).collect(),
            slices: self.slices.iter().map(|&(outer, input)| (outer, ids[input])).collect(),
            invariants: self.invariants.iter().map(|&(outer, input)| (outer, ids[input])).collect(),
            ys: self.ys.iter().map(|&y| ids[y]).collect(),
            steps: self.steps,
            reverse: self.reverse,
            trips: self.trips,
        }
    }

    /// Which body values depend on the step: those a carry or a slice reaches (the rest are
    /// the same at every step).
    pub fn varying(&self) -> Vec<bool> {
        let mut varies = vec![false; self.body.nodes.len()];
        for input in self.carries.iter().map(|c| c.input).chain(self.slices.iter().map(|&(_, input)| input)) {
            varies[input] = true;
        }
        for (b, node) in self.body.nodes.iter().enumerate() {
            varies[b] |= node.op.operands().iter().any(|&a| varies[a]);
        }
        varies
    }

    /// The shape of output `k`: a carry's, or a stacked output's behind a leading axis of
    /// `steps`.
    pub fn output_shape(&self, k: usize) -> Shape {
        let inner = self.body.shape(self.outputs()[k]);
        match k < self.carries.len() {
            true => inner.clone(),
            false => Shape([&[self.steps][..], &inner.0[..]].concat()),
        }
    }
}

/// Where a stepped loop's body meets the graph around it: the back end's form of a [`Loop`]
/// (see `lower::stepped_loops`), whose body is scheduled once and launched once per step.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Stepping {
    /// Which stepped loop: its number in the graph.
    pub id: usize,
    /// The trip count.
    pub steps: usize,
    /// Whether step `i` works on slice `steps - 1 - i`.
    pub reverse: bool,
    /// `Some(k)`: carry `k`; `None`: a slice (of an input) or a stacked output.
    pub carry: Option<usize>,
    /// The loop's [`Loop::trips`].
    pub trips: Option<ValueId>,
}

/// One primitive operation.
#[derive(Clone, PartialEq, Debug)]
pub enum Op {
    /// f32 data the caller feeds each step.
    Input {
        /// The argument name in the generated trainer.
        name: String,
    },
    /// Integer class ids in `0..classes` the caller feeds each step.
    Labels {
        /// The argument name in the generated trainer.
        name: String,
        /// Number of classes.
        classes: usize,
    },
    /// A trained tensor, owned by the trainer.
    Param {
        /// PyTorch-style name, e.g. `1.weight`.
        name: String,
        /// How `new` fills it.
        init: Init,
    },
    /// A tensor filled with one value (never stored: inlined into kernels).
    Const(f64),
    /// A pointwise op of one value.
    Unary(UnaryOp, ValueId),
    /// A pointwise op of two values, broadcast to a common shape.
    Binary(BinaryOp, ValueId, ValueId),
    /// `then` where `cond > 0`, else `otherwise`, all broadcast to a common shape; the other
    /// side is never used, so a NaN there does not leak (a skipped optimizer step).
    Select {
        /// The condition (1.0 / 0.0 masks in practice; not differentiable).
        cond: ValueId,
        /// The value where the condition holds.
        then: ValueId,
        /// The value elsewhere.
        otherwise: ValueId,
    },
    /// Reduction over `axes`, keeping them as size 1.
    Reduce(ReduceOp, ValueId, Vec<usize>),
    /// `[m, k] x [k, n] -> [m, n]`.
    MatMul(ValueId, ValueId),
    /// Same elements, new shape (a view).
    Reshape(ValueId),
    /// Axes reordered: output axis `i` is input axis `perm[i]` (a view).
    Permute(ValueId, Vec<usize>),
    /// Size-1 axes repeated to the node's shape (a view).
    Expand(ValueId),
    /// Labels `[b, ...]` to a `[b, ..., classes]` tensor of 0/1 (not differentiable).
    OneHot(ValueId),
    /// Each element's coordinate along this axis, as a float (not differentiable).
    Iota(usize),
    /// The rows of a table `[vocab, dim]` at ids `[..]` (labels): `[.., dim]`, as an
    /// embedding looks up its ids; zeros where the id is the padding one, if any (a constant:
    /// the table's padding row gets no gradient). Differentiable in the table only.
    Gather(ValueId, ValueId, Option<usize>),
    /// The adjoint of [`Op::Gather`]: rows `[.., dim]` summed into a table `[vocab, dim]` (the
    /// node's shape) at ids `[..]`, as an embedding's weight gradient; rows whose id is the
    /// padding one, if any, add nothing.
    ScatterAdd(ValueId, ValueId, Option<usize>),
    /// Each position's element at its label: `x [.., classes]` at labels `[..]` gives
    /// `[.., 1]`, as a loss picks its label's score (a gather along the last axis, not a
    /// one-hot product). Differentiable in `x` only.
    Pick(ValueId, ValueId),
    /// The same value with its gradient stopped (a view).
    Detach(ValueId),
    /// `[n, c, h, w]` to the windows `[n, oh, ow, c, kh, kw]` (im2col); reads outside the
    /// input give `pad`.
    Unfold(ValueId, Window, f64),
    /// The adjoint of a zero-padded unfold (col2im): windows `[n, oh, ow, c, kh, kw]` summed
    /// back into `[n, c, h, w]` (the node's shape).
    Fold(ValueId, Window),
    /// A stride-1 convolution of images stored batch innermost, `[c, h, w, n]`, by weights
    /// `[o, c * k * k]` into `[o, oh, ow, n]`, zero padding implicit. Code generation puts it
    /// in place of im2col products (see `lower::direct_convolutions`), after differentiation.
    DirectConv(ValueId, ValueId, DirectWindow),
    /// The weight gradient `[o, c * k * k]` of a [`Op::DirectConv`] without padding: images
    /// `[c, h, w, n]` (padded beforehand) and output gradient `[o, oh, ow, n]`, window `k`.
    ConvWeightGrad(ValueId, ValueId, usize),
    /// A loop over steps of a body graph; its own value is empty (shape `[0]`): its outputs
    /// are read through [`Op::LoopOutput`].
    Loop(Box<Loop>),
    /// Output `k` of a loop (see [`Loop`]).
    LoopOutput(ValueId, usize),
    /// A stepped loop's body input during a step: carry `k` (its operand before the first
    /// step, then the carry's [`Op::StepOut`] value of the step before), or the step's slice of
    /// its operand.
    StepIn(ValueId, Stepping),
    /// A stepped loop's output: carry `k` after the last step, or its operand stacked
    /// `[steps, ..]` by slice index.
    StepOut(ValueId, Stepping),
    /// Its operands joined along an axis, each written in place into its slice of the joined
    /// buffer by the kernel that computes it (see `lower::joined_pads`): each operand is a
    /// pointwise value that nothing else reads.
    Concat(Vec<ValueId>, usize),
    /// A value that differs between training and inference (dropout, batch statistics);
    /// [`Graph::specialise`] replaces it by one side before code generation.
    Mode {
        /// The value in the train step.
        train: ValueId,
        /// The value in `predict` and `eval_loss`.
        eval: ValueId,
    },
}

impl Op {
    /// The values this op reads.
    pub fn operands(&self) -> Vec<ValueId> {
        match self {
            Op::Input { .. } | Op::Labels { .. } | Op::Param { .. } | Op::Const(_) | Op::Iota(_) => vec![],
            Op::Unary(_, a)
            | Op::Reduce(_, a, _)
            | Op::Reshape(a)
            | Op::Permute(a, _)
            | Op::Expand(a)
            | Op::OneHot(a)
            | Op::Detach(a)
            | Op::Unfold(a, ..)
            | Op::LoopOutput(a, _)
            | Op::StepIn(a, _)
            | Op::StepOut(a, _)
            | Op::Fold(a, _) => vec![*a],
            Op::Loop(l) => l.operands(),
            Op::Binary(_, a, b)
            | Op::MatMul(a, b)
            | Op::DirectConv(a, b, _)
            | Op::ConvWeightGrad(a, b, _)
            | Op::Gather(a, b, _)
            | Op::ScatterAdd(a, b, _)
            | Op::Pick(a, b) => vec![*a, *b],
            Op::Mode { train, eval } => vec![*train, *eval],
            Op::Select { cond, then, otherwise } => vec![*cond, *then, *otherwise],
            Op::Concat(parts, _) => parts.clone(),
        }
    }

    /// The same op reading `f(a)` instead of each operand `a`.
    pub fn map_operands(self, f: impl Fn(ValueId) -> ValueId) -> Op {
        match self {
            Op::Unary(op, a) => Op::Unary(op, f(a)),
            Op::Binary(op, a, b) => Op::Binary(op, f(a), f(b)),
            Op::Reduce(op, a, axes) => Op::Reduce(op, f(a), axes),
            Op::MatMul(a, b) => Op::MatMul(f(a), f(b)),
            Op::Gather(table, ids, padding) => Op::Gather(f(table), f(ids), padding),
            Op::ScatterAdd(rows, ids, padding) => Op::ScatterAdd(f(rows), f(ids), padding),
            Op::Pick(x, labels) => Op::Pick(f(x), f(labels)),
            Op::DirectConv(a, b, window) => Op::DirectConv(f(a), f(b), window),
            Op::ConvWeightGrad(a, b, k) => Op::ConvWeightGrad(f(a), f(b), k),
            Op::Reshape(a) => Op::Reshape(f(a)),
            Op::Permute(a, perm) => Op::Permute(f(a), perm),
            Op::Expand(a) => Op::Expand(f(a)),
            Op::OneHot(a) => Op::OneHot(f(a)),
            Op::Detach(a) => Op::Detach(f(a)),
            Op::Unfold(a, window, pad) => Op::Unfold(f(a), window, pad),
            Op::Fold(a, window) => Op::Fold(f(a), window),
            Op::LoopOutput(l, k) => Op::LoopOutput(f(l), k),
            Op::StepIn(a, stepping) => Op::StepIn(f(a), Stepping { trips: stepping.trips.map(&f), ..stepping }),
            Op::StepOut(a, stepping) => Op::StepOut(f(a), Stepping { trips: stepping.trips.map(&f), ..stepping }),
            Op::Concat(parts, axis) => Op::Concat(parts.into_iter().map(f).collect(), axis),
            Op::Loop(mut l) => {
                l.carries.iter_mut().for_each(|c| c.init = f(c.init));
                l.slices.iter_mut().chain(&mut l.invariants).for_each(|(outer, _)| *outer = f(*outer));
                l.trips = l.trips.map(&f);
                Op::Loop(l)
            }
            Op::Mode { train, eval } => Op::Mode { train: f(train), eval: f(eval) },
            Op::Select { cond, then, otherwise } => {
                Op::Select { cond: f(cond), then: f(then), otherwise: f(otherwise) }
            }
            leaf => leaf,
        }
    }

    /// The name of an input, labels or parameter (`None` for computed values).
    pub fn name(&self) -> Option<&str> {
        match self {
            Op::Input { name } | Op::Labels { name, .. } | Op::Param { name, .. } => Some(name),
            _ => None,
        }
    }

    /// Whether the op only relabels its operand's elements (no kernel of its own).
    pub fn is_view(&self) -> bool {
        matches!(self, Op::Reshape(_) | Op::Permute(..) | Op::Expand(_) | Op::Detach(_))
    }

    /// Whether the op is a fold that only crops: a 1x1 window with stride 1, so each output
    /// element is one element of the operand (`narrow`'s slice).
    pub fn is_crop(&self) -> bool {
        matches!(self, Op::Fold(_, w) if w.kernel == [1, 1] && w.stride == [1, 1])
    }

    /// Whether the op always gets a kernel of its own: products, convolutions, reductions,
    /// windows and gathers, which no consumer can compute at its own element.
    pub fn has_own_kernel(&self) -> bool {
        matches!(
            self,
            Op::MatMul(..)
                | Op::DirectConv(..)
                | Op::ConvWeightGrad(..)
                | Op::Reduce(..)
                | Op::Unfold(..)
                | Op::Fold(..)
                | Op::Gather(..)
                | Op::ScatterAdd(..)
                | Op::Pick(..)
        )
    }

    /// Whether each output element depends only on the operand elements at the same position.
    pub fn is_pointwise(&self) -> bool {
        matches!(self, Op::Unary(..) | Op::Binary(..) | Op::Select { .. } | Op::OneHot(_) | Op::Const(_) | Op::Iota(_))
    }
}

/// A node: an op, the static shape of its output, and the layer it came from.
#[derive(Clone, PartialEq, Debug)]
pub struct Node {
    /// What the node computes.
    pub op: Op,
    /// The static shape of its output.
    pub shape: Shape,
    /// The DSL layer (or pass) that created the node, e.g. `1.linear` or `grad`.
    pub origin: String,
}

/// A static dataflow graph in topological order.
#[derive(Clone, Default, Debug)]
pub struct Graph {
    /// The nodes; a value's id is its node's index.
    pub nodes: Vec<Node>,
    /// Origin given to nodes created next.
    origin: String,
}

/// Graphs are equal when their nodes are, whatever origin the next node would get.
impl PartialEq for Graph {
    fn eq(&self, other: &Graph) -> bool {
        self.nodes == other.nodes
    }
}

impl Graph {
    /// The shape of a value.
    pub fn shape(&self, v: ValueId) -> &Shape {
        &self.nodes[v].shape
    }

    /// The origin recorded on the nodes created from now on.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Sets the origin recorded on the nodes created from now on.
    pub fn set_origin(&mut self, origin: impl Into<String>) {
        self.origin = origin.into();
    }

    /// Appends a node created from the current origin.
    pub(crate) fn push(&mut self, op: Op, shape: Shape) -> ValueId {
        self.nodes.push(Node { op, shape, origin: self.origin.clone() });
        self.nodes.len() - 1
    }

    /// An f32 input fed each step.
    pub fn input(&mut self, name: &str, shape: Shape) -> ValueId {
        self.push(Op::Input { name: name.into() }, shape)
    }

    /// Integer labels in `0..classes` fed each step.
    pub fn labels(&mut self, name: &str, shape: Shape, classes: usize) -> ValueId {
        self.push(Op::Labels { name: name.into(), classes }, shape)
    }

    /// A trained parameter.
    pub fn param(&mut self, name: &str, shape: Shape, init: Init) -> ValueId {
        self.push(Op::Param { name: name.into(), init }, shape)
    }

    /// A tensor of `shape` filled with `value`.
    pub fn constant(&mut self, value: f64, shape: Shape) -> ValueId {
        self.push(Op::Const(value), shape)
    }

    /// Zeros of `v`'s shape (the derivative of a value that depends on nothing differentiated).
    pub fn zeros_like(&mut self, v: ValueId) -> ValueId {
        let shape = self.shape(v).clone();
        self.constant(0.0, shape)
    }

    /// A constant shaped `[1, ..., 1]` of `v`'s rank, which broadcasts against `v`.
    pub fn scalar_like(&mut self, value: f64, v: ValueId) -> ValueId {
        let rank = self.shape(v).rank();
        self.constant(value, Shape(vec![1; rank]))
    }

    /// A pointwise op of one value.
    pub fn unary(&mut self, op: UnaryOp, a: ValueId) -> ValueId {
        let shape = self.shape(a).clone();
        self.push(Op::Unary(op, a), shape)
    }

    /// Pointwise binary op; operands of lower rank are reshaped (left-padded with 1s) first.
    pub fn binary(&mut self, op: BinaryOp, a: ValueId, b: ValueId) -> ValueId {
        let rank = self.shape(a).rank().max(self.shape(b).rank());
        let a = self.pad_rank(a, rank);
        let b = self.pad_rank(b, rank);
        let shape = Shape::broadcast(self.shape(a), self.shape(b))
            .unwrap_or_else(|| panic!("internal: {} and {} do not broadcast", self.shape(a), self.shape(b)));
        self.push(Op::Binary(op, a, b), shape)
    }

    fn pad_rank(&mut self, v: ValueId, rank: usize) -> ValueId {
        if self.shape(v).rank() == rank {
            v
        } else {
            let shape = self.shape(v).padded_to(rank);
            self.reshape(v, shape)
        }
    }

    /// a + b, broadcast.
    pub fn add(&mut self, a: ValueId, b: ValueId) -> ValueId {
        self.binary(BinaryOp::Add, a, b)
    }

    /// a - b, broadcast.
    pub fn sub(&mut self, a: ValueId, b: ValueId) -> ValueId {
        self.binary(BinaryOp::Sub, a, b)
    }

    /// a * b, broadcast.
    pub fn mul(&mut self, a: ValueId, b: ValueId) -> ValueId {
        self.binary(BinaryOp::Mul, a, b)
    }

    /// a / b, broadcast.
    pub fn div(&mut self, a: ValueId, b: ValueId) -> ValueId {
        self.binary(BinaryOp::Div, a, b)
    }

    /// `then` where `cond > 0`, else `otherwise`, broadcast like [`Graph::binary`].
    pub fn select(&mut self, cond: ValueId, then: ValueId, otherwise: ValueId) -> ValueId {
        let rank = [cond, then, otherwise].iter().map(|&v| self.shape(v).rank()).max().unwrap();
        let [cond, then, otherwise] = [cond, then, otherwise].map(|v| self.pad_rank(v, rank));
        let shape = [cond, then, otherwise]
            .iter()
            .try_fold(Shape(vec![1; rank]), |acc, &v| Shape::broadcast(&acc, self.shape(v)))
            .expect("internal: select operands do not broadcast");
        self.push(Op::Select { cond, then, otherwise }, shape)
    }

    /// `a * value` with a broadcast constant.
    pub fn scale(&mut self, a: ValueId, value: f64) -> ValueId {
        let c = self.scalar_like(value, a);
        self.mul(a, c)
    }

    /// Reduction over `axes` (kept as size 1).
    pub fn reduce(&mut self, op: ReduceOp, a: ValueId, axes: &[usize]) -> ValueId {
        let mut dims = self.shape(a).0.clone();
        for &axis in axes {
            dims[axis] = 1;
        }
        self.push(Op::Reduce(op, a, axes.to_vec()), Shape(dims))
    }

    /// Sum over `axes` (kept as size 1).
    pub fn sum(&mut self, a: ValueId, axes: &[usize]) -> ValueId {
        self.reduce(ReduceOp::Sum, a, axes)
    }

    /// `[m, k] x [k, n] -> [m, n]`.
    pub fn matmul(&mut self, a: ValueId, b: ValueId) -> ValueId {
        let (sa, sb) = (self.shape(a), self.shape(b));
        assert!(sa.rank() == 2 && sb.rank() == 2 && sa.0[1] == sb.0[0], "internal: matmul of {sa} and {sb}");
        let shape = Shape(vec![sa.0[0], sb.0[1]]);
        self.push(Op::MatMul(a, b), shape)
    }

    /// The same elements in another shape (a no-op if the shape is unchanged).
    pub fn reshape(&mut self, a: ValueId, shape: Shape) -> ValueId {
        assert_eq!(self.shape(a).numel(), shape.numel(), "internal: reshape changes size");
        if *self.shape(a) == shape {
            return a;
        }
        self.push(Op::Reshape(a), shape)
    }

    /// Axes reordered by `perm`; a permutation of a permutation composes (and cancels).
    pub fn permute(&mut self, a: ValueId, perm: &[usize]) -> ValueId {
        if let Op::Permute(inner, first) = &self.nodes[a].op {
            let composed: Vec<usize> = perm.iter().map(|&p| first[p]).collect();
            if composed.iter().enumerate().all(|(i, &p)| i == p) {
                return *inner;
            }
        }
        let src = self.shape(a);
        assert_eq!(src.rank(), perm.len(), "internal: permutation rank");
        let shape = Shape(perm.iter().map(|&p| src.0[p]).collect());
        self.push(Op::Permute(a, perm.to_vec()), shape)
    }

    /// Swaps the two axes of a matrix.
    pub fn transpose(&mut self, a: ValueId) -> ValueId {
        self.permute(a, &[1, 0])
    }

    /// Size-1 axes broadcast to `shape` (a no-op if the shape is unchanged).
    pub fn expand(&mut self, a: ValueId, shape: Shape) -> ValueId {
        if *self.shape(a) == shape {
            return a;
        }
        assert!(
            Shape::broadcast(self.shape(a), &shape).as_ref() == Some(&shape),
            "internal: cannot expand {} to {shape}",
            self.shape(a)
        );
        self.push(Op::Expand(a), shape)
    }

    /// Windows `[n, oh, ow, c, kh, kw]` of `[n, c, h, w]`, reading `pad` outside it.
    pub fn unfold(&mut self, a: ValueId, window: Window, pad: f64) -> ValueId {
        let [n, c, h, w] = self.shape(a).0[..] else { panic!("internal: unfold of {}", self.shape(a)) };
        let [oh, ow] = window.positions([h, w]).expect("internal: window does not fit");
        let [kh, kw] = window.kernel;
        self.push(Op::Unfold(a, window, pad), Shape(vec![n, oh, ow, c, kh, kw]))
    }

    /// Windows `[n, oh, ow, c, kh, kw]` summed back into `[n, c, h, w]` (= `shape`).
    pub fn fold(&mut self, a: ValueId, window: Window, shape: Shape) -> ValueId {
        self.push(Op::Fold(a, window), shape)
    }

    /// `[c, h, w, n]` images convolved by weights `[o, c * k * k]` (or flipped, see
    /// [`DirectWindow::flip`]) into `[o, oh, ow, n]`.
    pub fn direct_conv(&mut self, x: ValueId, weight: ValueId, window: DirectWindow) -> ValueId {
        let ([c, h, w, n], [rows, cols]) = (self.shape(x).dims(), self.shape(weight).dims());
        let taps = window.k * window.k;
        let (o, c_in) = if window.flip { (cols / taps, rows) } else { (rows, cols / taps) };
        assert_eq!(c, c_in, "internal: direct_conv of {} by {}", self.shape(x), self.shape(weight));
        let [oh, ow] = [h, w].map(|d| d + 2 * window.pad + 1 - window.k);
        self.push(Op::DirectConv(x, weight, window), Shape(vec![o, oh, ow, n]))
    }

    /// The weight gradient `[o, c * k * k]` of images `[c, h, w, n]` (padded) and output
    /// gradient `[o, oh, ow, n]`.
    pub fn conv_weight_grad(&mut self, x: ValueId, grad: ValueId, k: usize) -> ValueId {
        let ([c, ..], [o, ..]) = (self.shape(x).dims::<4>(), self.shape(grad).dims::<4>());
        self.push(Op::ConvWeightGrad(x, grad, k), Shape(vec![o, c * k * k]))
    }

    /// `train` in the train step, `eval` in inference (same shape).
    pub fn mode(&mut self, train: ValueId, eval: ValueId) -> ValueId {
        assert_eq!(self.shape(train), self.shape(eval), "internal: mode sides differ in shape");
        let shape = self.shape(train).clone();
        self.push(Op::Mode { train, eval }, shape)
    }

    /// Rewrites what `roots` compute with every [`Op::Mode`] resolved to its train or eval
    /// side; nodes that do not depend on a `Mode` are shared. Returns the new roots.
    pub fn specialise(&mut self, roots: &[ValueId], train: bool) -> Vec<ValueId> {
        let end = roots.iter().max().map_or(0, |&r| r + 1);
        let mut map: Vec<ValueId> = (0..end).collect();
        for v in 0..end {
            let node = self.nodes[v].clone();
            map[v] = match node.op {
                Op::Mode { train: t, eval: e } => map[if train { t } else { e }],
                op if op.operands().iter().all(|&a| map[a] == a) => v,
                op => {
                    let op = op.map_operands(|a| map[a]);
                    self.nodes.push(Node { op, ..node });
                    self.nodes.len() - 1
                }
            };
        }
        roots.iter().map(|&r| map[r]).collect()
    }

    /// Coordinates along `axis` of a tensor of `shape`.
    pub fn iota(&mut self, axis: usize, shape: Shape) -> ValueId {
        self.push(Op::Iota(axis), shape)
    }

    /// Labels `[b, ...]` to a one-hot `[b, ..., classes]`.
    pub fn one_hot(&mut self, labels: ValueId, classes: usize) -> ValueId {
        let mut dims = self.shape(labels).0.clone();
        dims.push(classes);
        self.push(Op::OneHot(labels), Shape(dims))
    }

    /// The rows of `table` (`[vocab, dim]`) at `ids`, zeros at the `padding` id: `[..ids, dim]`.
    pub fn gather(&mut self, table: ValueId, ids: ValueId, padding: Option<usize>) -> ValueId {
        let dims = [&self.shape(ids).0[..], &self.shape(table).0[1..]].concat();
        self.push(Op::Gather(table, ids, padding), Shape(dims))
    }

    /// The element of `x` (`[.., classes]`) at each position's label (`[..]`): `[.., 1]`.
    pub fn pick(&mut self, x: ValueId, labels: ValueId) -> ValueId {
        let dims = [&self.shape(labels).0[..], &[1]].concat();
        self.push(Op::Pick(x, labels), Shape(dims))
    }

    /// `rows` (`[..ids, dim]`) summed into a `[vocab, dim]` table at `ids`, but for those at
    /// the `padding` id.
    pub fn scatter_add(&mut self, rows: ValueId, ids: ValueId, vocab: usize, padding: Option<usize>) -> ValueId {
        let dim = *self.shape(rows).0.last().expect("rows have a last axis");
        self.push(Op::ScatterAdd(rows, ids, padding), Shape(vec![vocab, dim]))
    }

    /// Elements `start..start + len` along `dim` of `x` (in range): the fold that is the adjoint
    /// of zero-padding `[outer, 1, len, inner]` to `[outer, 1, size, inner]`.
    pub fn narrow(&mut self, x: ValueId, dim: usize, start: usize, len: usize) -> ValueId {
        let shape = self.shape(x).clone();
        let size = shape.0[dim];
        if start == 0 && len == size {
            return x;
        }
        let outer: usize = shape.0[..dim].iter().product();
        let inner: usize = shape.0[dim + 1..].iter().product();
        let windows = self.reshape(x, Shape(vec![outer, size, inner, 1, 1, 1]));
        let sliced = self.fold(
            windows,
            Window::padding_only([[start, size - start - len], [0, 0]]),
            Shape(vec![outer, 1, len, inner]),
        );
        let mut dims = shape.0;
        dims[dim] = len;
        self.reshape(sliced, Shape(dims))
    }

    /// Values equal except along `dim` joined along it: each zero-padded to the full length (an
    /// unfold), then added; the gradient of each piece is the matching slice.
    pub fn concat(&mut self, ids: &[ValueId], dim: usize) -> ValueId {
        let shapes: Vec<Shape> = ids.iter().map(|&v| self.shape(v).clone()).collect();
        let total: usize = shapes.iter().map(|sh| sh.0[dim]).sum();
        let outer: usize = shapes[0].0[..dim].iter().product();
        let inner: usize = shapes[0].0[dim + 1..].iter().product();
        let mut joined = None;
        let mut before = 0;
        for (&v, shape) in ids.iter().zip(&shapes) {
            let len = shape.0[dim];
            let image = self.reshape(v, Shape(vec![outer, 1, len, inner]));
            let padded = self.unfold(image, Window::padding_only([[before, total - before - len], [0, 0]]), 0.0);
            let mut dims = shape.0.clone();
            dims[dim] = total;
            let padded = self.reshape(padded, Shape(dims));
            joined = Some(match joined {
                Some(previous) => self.add(previous, padded),
                None => padded,
            });
            before += len;
        }
        joined.expect("at least one value")
    }

    /// Appends `l` and a [`Op::LoopOutput`] for each of its outputs; returns those.
    pub fn scan(&mut self, l: Loop) -> Vec<ValueId> {
        let shapes: Vec<Shape> = (0..l.outputs().len()).map(|k| l.output_shape(k)).collect();
        let node = self.push(Op::Loop(Box::new(l)), Shape(vec![0]));
        shapes.into_iter().enumerate().map(|(k, shape)| self.push(Op::LoopOutput(node, k), shape)).collect()
    }

    /// Output `k` of loop `l`, read again.
    pub fn loop_output(&mut self, l: ValueId, k: usize) -> ValueId {
        let Op::Loop(looped) = &self.nodes[l].op else { panic!("internal: %{l} is not a loop") };
        let shape = looped.output_shape(k);
        self.push(Op::LoopOutput(l, k), shape)
    }

    /// The same value with its gradient stopped.
    pub fn detach(&mut self, a: ValueId) -> ValueId {
        let shape = self.shape(a).clone();
        self.push(Op::Detach(a), shape)
    }

    /// How many times each value is read by the nodes in `live`.
    pub fn use_counts(&self, live: &[bool]) -> Vec<usize> {
        let mut uses = vec![0; self.nodes.len()];
        for (v, node) in self.nodes.iter().enumerate() {
            if live[v] {
                for a in node.op.operands() {
                    uses[a] += 1;
                }
            }
        }
        uses
    }

    /// Marks every value that `roots` depend on.
    pub fn live_set(&self, roots: &[ValueId]) -> Vec<bool> {
        let mut live = vec![false; self.nodes.len()];
        let mut stack = roots.to_vec();
        while let Some(v) = stack.pop() {
            if !live[v] {
                live[v] = true;
                stack.extend(self.nodes[v].op.operands());
            }
        }
        live
    }
}

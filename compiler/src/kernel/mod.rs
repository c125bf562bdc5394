//! One kernel per scheduled value, as a launch of a library template or kernel where one
//! serves, otherwise written out with every shape, stride and trip count as a literal. This
//! file holds the kernel description, the expression emitter (`Expr`) and pointwise and
//! phased kernels; `product`, `reduction`, `window` and `gather` hold those kinds' emitters, and
//! `steps` the programs of the library's pointwise template.

mod gather;
mod product;
mod reduction;
mod steps;
mod window;

pub use product::{product_with_epilogue, sums_rows_of_lhs};
pub use reduction::reduce_with_epilogue;
pub use window::UNFOLD;

use product::{direct_conv, matmul};

use crate::ir::Shape;
use crate::ir::{BinaryOp, Graph, Op, ReduceOp, UnaryOp, ValueId};
use crate::plan::storage::Storage;
use crate::schedule::{Layout, Role, Schedule};
use crate::target::Target;
use crate::target::{nn_blocking, NnBlocking, CLAIMED_FLOPS, DIRECT_CONV_LANES, MIN_ROWS, NT_COLUMNS};
use steps::{GatherAxes, Inputs, Recorder};

/// How a kernel reads one buffer.
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Access {
    /// `&[Vector<F, N>]`.
    Vector,
    /// `&[F]`, one element per lane group (splat).
    Scalar,
    /// `&[u32]` class labels.
    Labels,
    /// `&[Vector<F, K>]` of this many lanes: a product's operand read along k by a tile whose
    /// epilogue runs on narrower vectors (see [`product_with_epilogue`]).
    Lanes(usize),
}

/// A kernel argument: a buffer and how it is read.
#[derive(Clone, PartialEq, Debug)]
pub struct Arg {
    pub buffer: ValueId,
    pub access: Access,
}

/// The name a generated kernel's source gives its `#[cube]` functions (the kernel itself, and
/// its helpers `{SLOT}_element` and `{SLOT}_row` where it has them). The emitter names each distinct source once
/// (`k12`), so kernels that differ only in which buffers they are launched on share one
/// function, one expansion by rustc and one JIT compilation.
pub const SLOT: &str = "__kernel";

/// One generated kernel and how to launch it.
pub struct Kernel {
    /// The `#[cube]` functions, named with [`SLOT`], or `None` for a library kernel.
    pub source: Option<String>,
    /// Path of the launch function's module: [`SLOT`] until the emitter names a generated
    /// kernel (`k12`), or the library's (`kiln_runtime::kernels::matmul_nn`).
    pub function: String,
    /// Vector width the kernel is launched with.
    pub vector: usize,
    /// Units to launch (one per output vector or tile).
    pub work: usize,
    /// Buffers read, then the buffers written (one per value in `values`; a template's in
    /// the order of its sequences).
    pub args: Vec<Arg>,
    /// The values the kernel stores, in the order it computes them (several for a
    /// multi-output kernel).
    pub values: Vec<ValueId>,
    /// How the launch's units cover the `work` indices.
    pub grid: Grid,
    /// Arguments the launch passes after the buffers: a library kernel's compile-time
    /// literals; arena `a`'s `host_memory()` (phased kernels), after its `claims()` counter
    /// (balanced kernels); a template's descriptors.
    pub trailing: Vec<String>,
    /// The launch's type arguments: `f32` (the compute type), then a library kernel's element
    /// types.
    pub types: Vec<&'static str>,
    /// How many consecutive buffers of `args` each `Sequence` argument of a template takes
    /// (the vectors, scalars and outputs of a program's steps), after a product's operands;
    /// empty where each buffer is an argument of its own. A template's launch is a
    /// `kiln_runtime::templates::Template` constant (`function` names its constructor), whose
    /// launcher knows the operands.
    pub sequences: Vec<usize>,
}

/// How a kernel's units cover its work.
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Grid {
    /// One unit per index or tile.
    PerIndex,
    /// Each unit loops over a contiguous chunk of the indices (generated kernels, see
    /// [`over_indices`]), so a launch may use fewer units than `work`.
    Chunked,
    /// One cube, whose units split each phase and meet between phases (see [`phased`]).
    OneCube,
    /// One cube on the CPU runtime, whose units compute a static share of the tiles and then
    /// claim the rest chunk by chunk (`kiln_kernels::claim_tiles`); one unit per tile
    /// elsewhere.
    Balanced,
}

impl Kernel {
    /// The launch's `Size` arguments: `N` (the vector width), then `K` when an operand is read
    /// with [`Access::Lanes`].
    pub fn sizes(&self) -> Vec<usize> {
        let lanes = self.args.iter().find_map(|a| match a.access {
            Access::Lanes(k) => Some(k),
            _ => None,
        });
        std::iter::once(self.vector).chain(lanes).collect()
    }
}

const SINGLE: &str = "internal: a single-output kernel reads its output only in place";

/// Writes the kernel that computes `v` under `schedule`.
pub fn kernel(g: &Graph, s: &Schedule, storage: &Storage, v: ValueId) -> Kernel {
    match &g.nodes[v].op {
        Op::MatMul(..) => matmul(g, s, storage, v),
        Op::DirectConv(..) | Op::ConvWeightGrad(..) => direct_conv(g, s, storage, v),
        Op::Unfold(..) => window::unfold(g, s, storage, v),
        Op::Gather(..) | Op::ScatterAdd(..) => gather::rows(g, s, storage, v),
        Op::Pick(..) => gather::picks(g, s, storage, v),
        Op::Fold(a, _) => Expr::new(g, s, storage, v, &g.shape(*a).clone()).fold_kernel(*a),
        Op::Reshape(a) => {
            // A strided source is copied in its own row-major order, which is the reshape's.
            let source = s.layouts[*a].as_ref().expect("reshape source has a buffer");
            let strided = !source.is_contiguous(g.shape(*a));
            let shape = if strided { g.shape(*a) } else { &g.nodes[v].shape };
            Expr::new(g, s, storage, v, &shape.clone()).pointwise_kernel(&[(vec![v], shape.clone())]).expect(SINGLE)
        }
        Op::Reduce(..) => reduce_with_epilogue(g, s, storage, &[v], &[]).expect(SINGLE),
        _ => {
            let shape = g.nodes[v].shape.clone();
            Expr::new(g, s, storage, v, &shape).pointwise_kernel(&[(vec![v], shape.clone())]).expect(SINGLE)
        }
    }
}

/// Whether `v`'s kernel is pointwise over `v`'s own shape (no reduction, product, window op
/// or copy), so it can share a kernel with other such values of that shape.
pub fn is_pointwise_kernel(g: &Graph, v: ValueId) -> bool {
    let op = &g.nodes[v].op;
    op.is_pointwise() && !op.is_view()
}

/// Whether `m` is a pointwise kernel over `shape` stored contiguously, so an epilogue running
/// at element `i` of `shape` can compute and store it there.
fn is_contiguous_pointwise(g: &Graph, s: &Schedule, m: ValueId, shape: &Shape) -> bool {
    is_pointwise_kernel(g, m) && g.shape(m) == shape && s.layouts[m].as_ref().is_some_and(|l| l.is_contiguous(shape))
}

/// One kernel that computes `members` (pointwise values of one shape, in launch order) and
/// stores each, reusing earlier members' values: an optimizer's moments and parameter update,
/// say. `None` when a member reads a member's buffer at other indices than its own, which one
/// pass cannot order.
pub fn multi_output(g: &Graph, s: &Schedule, storage: &Storage, members: &[ValueId]) -> Option<Kernel> {
    segmented(g, s, storage, &[members.to_vec()])
}

/// One kernel whose index range is split into segments, one per group of [`multi_output`]
/// members (groups may differ in shape): independent pointwise kernels, such as the updates of
/// all parameters, then cost one launch. The caller checks that no group reads what another
/// writes. `None` where [`multi_output`] would refuse a group.
pub fn segmented(g: &Graph, s: &Schedule, storage: &Storage, groups: &[Vec<ValueId>]) -> Option<Kernel> {
    let mergeable = |group: &[ValueId]| {
        let shape = &g.nodes[group[0]].shape;
        // A slice of a join is stored through coordinates too, where the kernel runs by them.
        let permuted = |m: ValueId| {
            s.layouts[m].as_ref().is_some_and(|l| !l.is_contiguous(shape) && s.roles[l.buffer] != Some(Role::Joined))
        };
        group.iter().all(|&m| g.nodes[m].shape == *shape && is_pointwise_kernel(g, m) && !permuted(m))
    };
    if !groups.iter().all(|group| mergeable(group)) {
        return None;
    }
    let groups: Vec<(Vec<ValueId>, Shape)> =
        groups.iter().map(|group| (group.clone(), g.shape(group[0]).clone())).collect();
    Expr::new(g, s, storage, groups[0].0[0], &groups[0].1).pointwise_kernel(&groups)
}

/// Whether `v`'s kernel can be a phase of a [`phased`] kernel: pointwise or a reduction.
pub fn is_phase(g: &Graph, v: ValueId) -> bool {
    is_pointwise_kernel(g, v) || matches!(g.nodes[v].op, Op::Reduce(..))
}

/// The elements `v`'s kernel computes: its shape's, or a reduction's input's.
pub fn elements(g: &Graph, v: ValueId) -> usize {
    match &g.nodes[v].op {
        Op::Reduce(_, input, _) => g.shape(*input).numel(),
        _ => g.shape(v).numel(),
    }
}

/// Gather axes from `(inner, (divisor, size, stride))` terms (`inner`: over the second
/// index) and a start, each index spanning `spans`: an axis that continues the one before it,
/// in the index and in the buffer, becomes one longer axis (a contiguous read costs one
/// division, not one per axis), and one that covers all its index spans has size 0 (no
/// modulo).
fn axes_of(
    terms: impl IntoIterator<Item = (bool, (usize, usize, usize))>,
    start: usize,
    spans: (usize, usize),
) -> GatherAxes {
    let mut axes: GatherAxes = (vec![], vec![], start);
    for (inner, (divisor, size, stride)) in terms {
        let list = if inner { &mut axes.1 } else { &mut axes.0 };
        match list.last_mut() {
            Some(outer) if outer.0 == divisor * size && outer.2 == stride * size => {
                *outer = (divisor, size * outer.1, stride)
            }
            _ => list.push((divisor, size, stride)),
        }
    }
    for (list, span) in [(&mut axes.0, spans.0), (&mut axes.1, spans.1)] {
        for axis in list.iter_mut().filter(|(divisor, size, _)| divisor * size >= span) {
            axis.1 = 0;
        }
    }
    axes
}

/// A class of a template's buffers (see `steps::Inputs`).
enum Class {
    Vectors,
    Scalars,
    Labels,
    Outputs,
    RowOutputs,
}

/// One term of how a coordinate of an inlined reshape's frame derives from the iteration's
/// (see `Expr::derivation`): `((c / divide) % size) * scale` of iteration coordinate `axis`,
/// with no modulo where `size` is `None` (the term takes the axis's top).
struct Part {
    axis: usize,
    divide: usize,
    size: Option<usize>,
    scale: usize,
}

/// Strides over `rank` axes that read coordinate `axis` alone: 1 there, 0 elsewhere.
fn unit_axis(rank: usize, axis: usize) -> Vec<usize> {
    (0..rank).map(|d| usize::from(d == axis)).collect()
}

/// One kernel of one cube computing `values` (pointwise values and reductions, in launch order)
/// phase by phase: consecutive pointwise values of one shape form a phase, as do reductions of
/// one input shape over the same axes. Each unit loops over its contiguous share of a phase's
/// indices, and the units meet (`kernels::sync_units`) before the next phase, which may read
/// earlier phases' results at any index. So a chain of small kernels (a loss, its gradient, a
/// bias gradient) costs one launch, and no core waits while another runs it alone. Scalar: the
/// phases' shapes need not share a vector width. `None` where a phase would refuse a
/// multi-output or multi-reduction merge.
pub fn phased(g: &Graph, s: &Schedule, storage: &Storage, values: &[ValueId]) -> Option<Kernel> {
    let key = |v: ValueId| match &g.nodes[v].op {
        Op::Reduce(_, input, axes) => (g.shape(*input).clone(), axes.clone()),
        _ => (g.shape(v).clone(), vec![]),
    };
    let mut phases: Vec<Vec<ValueId>> = vec![];
    for &v in values {
        if !is_phase(g, v) {
            return None;
        }
        match phases.last_mut() {
            Some(phase) if key(phase[0]) == key(v) && is_pointwise_kernel(g, phase[0]) == is_pointwise_kernel(g, v) => {
                phase.push(v)
            }
            _ => phases.push(vec![v]),
        }
    }
    let mut e = Expr::new(g, s, storage, values[0], g.shape(values[0]));
    e.outputs = values.to_vec();
    (e.phased, e.vector) = (true, 1);
    let mut lines =
        vec!["let unit = usize::cast_from(UNIT_POS);".to_string(), "let units = usize::cast_from(CUBE_DIM);".into()];
    for (p, phase) in phases.iter().enumerate() {
        let (shape, reduced) = key(phase[0]);
        e.accumulators.clear();
        e.start_group(phase, &shape);
        // A pointwise phase's index walks its shape row-major; a reduction's walks its output.
        e.linear = reduced.is_empty();
        e.reduced = reduced;
        let n = g.shape(phase[0]).numel();
        let body = match e.reduced.is_empty() {
            true => {
                let body = e.group_body(phase, &shape)?;
                e.program.end_segment(n);
                e.program.end_phase(None);
                body
            }
            false => {
                let body = e.reduce_body()?;
                e.store_totals();
                e.program.end_segment(n);
                e.program.end_phase(Some(e.reduced.iter().map(|&d| shape.0[d]).product()));
                let out_shape = g.shape(phase[0]).clone();
                [e.coords_of_element(&out_shape), body].concat()
            }
        };
        if p > 0 {
            lines.push("kiln_runtime::kernels::sync_units(host_memory);".into());
        }
        lines.push(format!("for i in {n}usize * unit / units..{n}usize * (unit + 1) / units {{"));
        lines.extend(body.into_iter().map(|l| format!("    {l}")));
        lines.push("}".into());
    }
    if let Some(kernel) = e.phased_template() {
        return Some(kernel);
    }
    Some(e.assemble(&lines, 1, Grid::OneCube))
}

/// Emits the pointwise expression tree rooted at a value, evaluated at coordinates `c{d}` of
/// the iteration shape.
struct Expr<'a> {
    g: &'a Graph,
    s: &'a Schedule,
    storage: &'a Storage,
    /// The value being emitted (for a multi-output kernel, the current one of `members`).
    root: ValueId,
    /// The values of the current group (see [`segmented`]) the kernel stores, in order (just
    /// `root` unless multi-output).
    members: Vec<ValueId>,
    /// Every value the kernel stores, over all groups.
    outputs: Vec<ValueId>,
    /// The position of `members[0]` in `outputs`.
    group_start: usize,
    /// The name of the index the current group's loads and stores use (`i` or a segment's `j`).
    index: &'static str,
    /// Whether a load reads a member's buffer at other indices than the unit's own.
    hazard: bool,
    /// The iteration shape (frame 0).
    shape: Shape,
    /// Shapes the tree is evaluated over: the iteration shape, then one per inlined reshape
    /// (see [`Expr::emit_reshaped`]). Frame `k > 0` has coordinates `c{k}_{d}`.
    frames: Vec<Shape>,
    /// The frame being emitted.
    frame: usize,
    /// Axes a reduction loops over (empty for pointwise kernels).
    reduced: Vec<usize>,
    vector: usize,
    /// Whether a reduction's vectors run along its trailing reduced axes and are reduced
    /// across their lanes at the end, so each unit stores one scalar (see [`Expr::lane_width`]).
    across_lanes: bool,
    /// Whether kernel index `i` walks the iteration shape row-major (pointwise kernels).
    linear: bool,
    /// The elements of a row, where a pointwise kernel would run by rows as the template
    /// does (see `kiln_kernels::steps::Segment`): its gathers compute the coordinates of the
    /// rows apart from those within them.
    row: Option<usize>,
    /// `(frame, axis)` of each coordinate an emitted line reads.
    used_axes: Vec<(usize, usize)>,
    /// Whether a frame's coordinates are derived from the linear index `e`.
    reads_index: bool,
    /// Whether an emitted line reads the unit's vector index (`index`) itself.
    reads_unit_index: bool,
    /// Whether the groups run as phases with barriers between them (see [`phased`]), so a
    /// group may read an earlier one's results at any index.
    phased: bool,
    /// Whether a fold's tap is being emitted: the fold template runs it at its window's index
    /// and its place among the window's taps (see [`Expr::row_split`]), so its reads gather.
    folding: bool,
    /// Totals the emitted lines hold, read in place of a buffer: each buffer, its strides, the
    /// total's name, and its number as a template's total (`Step::Acc`). A product's tile
    /// element or row sum, or the result of an earlier loop of a multi-reduction.
    accumulators: Vec<(ValueId, Vec<usize>, String, usize)>,
    /// Outputs stored an element at a time by a product's tiles (see [`Expr::row_epilogue`]),
    /// the others a vector at a time.
    scalar_outputs: Vec<ValueId>,
    /// Whether the current group loads and stores single elements, computing on vectors whose
    /// lanes all hold the same one (see `scalar_outputs`).
    scalar: bool,
    /// Values already computed by an emitted line (`t{v}`).
    emitted: Vec<ValueId>,
    args: Vec<Arg>,
    lines: Vec<String>,
    /// The same kernel as a program of the pointwise template, where it is one.
    program: Recorder,
}

impl<'a> Expr<'a> {
    fn new(g: &'a Graph, s: &'a Schedule, storage: &'a Storage, root: ValueId, shape: &Shape) -> Self {
        Expr {
            g,
            s,
            storage,
            root,
            members: vec![root],
            outputs: vec![root],
            group_start: 0,
            index: "i",
            hazard: false,
            shape: shape.clone(),
            frames: vec![shape.clone()],
            frame: 0,
            reduced: vec![],
            vector: 1,
            across_lanes: false,
            linear: false,
            row: None,
            used_axes: vec![],
            reads_index: false,
            reads_unit_index: false,
            phased: false,
            folding: false,
            accumulators: vec![],
            scalar_outputs: vec![],
            scalar: false,
            emitted: vec![],
            args: vec![],
            lines: vec![],
            program: Recorder::default(),
        }
    }

    fn output(&self) -> ValueId {
        self.buffer_of(self.root)
    }

    fn buffer_of(&self, v: ValueId) -> ValueId {
        self.s.layouts[v].as_ref().expect("kernel output has a buffer").buffer
    }

    /// The parameter name of output `k`: `out`, or `out{k}` in a multi-output kernel.
    fn out_name(&self, k: usize) -> String {
        if self.outputs.len() == 1 {
            "out".into()
        } else {
            format!("out{k}")
        }
    }

    /// Leaves of the tree under `v` (values read from buffers), evaluated over `frame`: each
    /// with its strides over the frame (`None` for labels read by one_hot and iotas, read per
    /// lane) and the frame.
    fn leaves(&self, v: ValueId, frame: &Shape, out: &mut Vec<(ValueId, Option<Vec<usize>>, Shape)>) {
        match (self.s.roles[v], &self.g.nodes[v].op) {
            (Some(Role::Literal(_)), _) => {}
            (_, op) if v == self.root && op.is_view() => {
                out.push((v, Some(self.strides_over(v, frame)), frame.clone()))
            }
            (Some(Role::Inline), Op::Reshape(a)) => self.leaves(*a, self.g.shape(*a), out),
            (role, op) if v == self.root || role == Some(Role::Inline) => match op {
                Op::OneHot(labels) => out.push((*labels, self.one_hot_lanes(v, frame), frame.clone())),
                Op::Iota(_) => out.push((v, None, frame.clone())),
                op => {
                    for a in op.operands() {
                        self.leaves(a, frame, out);
                    }
                }
            },
            _ => out.push((v, Some(self.strides_over(v, frame)), frame.clone())),
        }
    }

    /// The strides over `frame` of the labels of one-hot `v`, whose class axis has stride 0,
    /// where the one-hot is read a vector at a time: in a pointwise kernel over the iteration
    /// shape, whose last axis is the class axis (each lane is a class of one label). `None`
    /// elsewhere: read one lane at a time.
    fn one_hot_lanes(&self, v: ValueId, frame: &Shape) -> Option<Vec<usize>> {
        let Op::OneHot(labels) = self.g.nodes[v].op else { return None };
        if !self.linear || !self.reduced.is_empty() || *frame != self.shape || self.g.shape(v).rank() != frame.rank() {
            return None;
        }
        self.s.layouts[labels].as_ref()?;
        Some(self.label_strides(labels))
    }

    /// The strides of a one-hot's `labels` over its axes: the labels' own, then 0 along the
    /// classes.
    fn label_strides(&self, labels: ValueId) -> Vec<usize> {
        let layout = self.s.layouts[labels].as_ref().expect("labels have a buffer");
        let label_shape = self.g.shape(labels);
        let strides = (0..label_shape.rank()).map(|d| if label_shape.0[d] == 1 { 0 } else { layout.strides[d] });
        strides.chain([0]).collect()
    }

    /// The layout a leaf is read through: a materialised view reads its source.
    fn read_layout(&self, v: ValueId) -> &Layout {
        let layout = if v == self.root { &self.s.views[v] } else { &self.s.layouts[v] };
        layout.as_ref().expect("leaf has a buffer")
    }

    /// The strides of leaf `v` over the axes of `frame`.
    fn strides_over(&self, v: ValueId, frame: &Shape) -> Vec<usize> {
        let layout = self.read_layout(v);
        // A copied view iterates over the shape it reads (a strided reshape: its source's).
        let shape = if v == self.root { frame } else { self.g.shape(v) };
        (0..frame.rank()).map(|d| if shape.0[d] == 1 { 0 } else { layout.strides[d] }).collect()
    }

    /// The name of coordinate `d` of `frame`.
    fn coord(frame: usize, d: usize) -> String {
        if frame == 0 {
            format!("c{d}")
        } else {
            format!("c{frame}_{d}")
        }
    }

    /// Coordinate `d` of the current frame, marked as read.
    fn use_coord(&mut self, d: usize) -> String {
        self.coord_in(self.frame, d)
    }

    /// Coordinate `d` of `frame`, marked as read.
    fn coord_in(&mut self, frame: usize, d: usize) -> String {
        self.used_axes.push((frame, d));
        Self::coord(frame, d)
    }

    /// The widest vector (16 lanes down to 1) every leaf and the output can be read with: the
    /// iteration shape's last extent is a multiple of the width, and each leaf's lanes are
    /// contiguous, one element, or elements repeated along the lanes (see [`lane_read`]).
    fn choose_vector(&mut self, expr_root: ValueId) {
        let mut leaves = vec![];
        self.leaves(expr_root, &self.shape, &mut leaves);
        let rank = self.shape.rank();
        let last = if rank == 0 { 1 } else { self.shape.0[rank - 1] };
        let last_reduced = rank > 0 && self.reduced.contains(&(rank - 1));
        // A permuted output (see `schedule::storage_order`) is stored a vector at a time too.
        let (out_strides, out_start) = match &self.s.layouts[self.root] {
            Some(l) if !l.is_contiguous(self.g.shape(self.root)) => (l.strides.clone(), l.start),
            _ => (vec![], 0),
        };
        self.vector = [16, 8, 4, 2, 1]
            .into_iter()
            .find(|&w| {
                w == 1
                    || (!last_reduced
                        && last % w == 0
                        && out_strides.iter().take(rank.saturating_sub(1)).all(|s| s % w == 0)
                        && out_start.is_multiple_of(w)
                        && leaves.iter().all(|(v, strides, frame)| {
                            strides.as_ref().is_some_and(|st| lane_read(frame, st, w).is_some())
                                && self.read_layout(*v).start.is_multiple_of(w)
                        }))
            })
            .unwrap();
    }

    /// Narrows `vector` to what each `(root, tree)` allows: the tree computing `root`'s value.
    fn narrow_vector(&mut self, trees: impl IntoIterator<Item = (ValueId, ValueId)>) {
        for (root, tree) in trees {
            self.root = root;
            let widest = self.vector;
            self.choose_vector(tree);
            self.vector = self.vector.min(widest);
        }
    }

    /// `let e = {index} * {vector};`: the first element the unit's vector holds.
    fn first_element(&self) -> String {
        match self.vector {
            w if w > 1 && !self.across_lanes => format!("let e = {} * {w};", self.index),
            _ => format!("let e = {};", self.index),
        }
    }

    /// The unit's vector index, marked as read.
    fn unit_index(&mut self) -> &'static str {
        self.reads_unit_index = true;
        self.index
    }

    fn arg(&mut self, buffer: ValueId, access: Access) -> String {
        format!("in{}", self.arg_position(buffer, access))
    }

    /// The position of input argument `buffer` read with `access`, added if new.
    fn arg_position(&mut self, buffer: ValueId, access: Access) -> usize {
        let arg = Arg { buffer, access };
        self.args.iter().position(|a| *a == arg).unwrap_or_else(|| {
            self.args.push(arg);
            self.args.len() - 1
        })
    }

    /// `c{d} * stride + ...` over the current frame's coordinates.
    fn offset(&mut self, strides: &[usize], shape: &Shape) -> String {
        self.offset_in(self.frame, strides, shape)
    }

    /// `c{d} * stride + ... + start` over the current frame's coordinates: where a read of a
    /// slice that starts at element `start` is.
    fn offset_from(&mut self, start: usize, strides: &[usize], shape: &Shape) -> String {
        let offset = self.offset(strides, shape);
        match (start, offset.as_str()) {
            (0, _) => offset,
            (_, "0") => start.to_string(),
            _ => format!("{offset} + {start}"),
        }
    }

    /// `c{d} * stride + ...` over the coordinates of `frame` (of `shape`).
    fn offset_in(&mut self, frame: usize, strides: &[usize], shape: &Shape) -> String {
        let terms: Vec<String> = (0..strides.len())
            .filter(|&d| strides[d] != 0 && shape.0[d] > 1)
            .map(|d| {
                let c = self.coord_in(frame, d);
                if strides[d] == 1 {
                    c
                } else {
                    format!("{c} * {}", strides[d])
                }
            })
            .collect();
        if terms.is_empty() {
            "0".into()
        } else {
            terms.join(" + ")
        }
    }

    /// Whether a read at coordinates of the current frame is a template's gather: one of frame
    /// 0, walked row-major by a pointwise kernel's index or a reduction's virtual one.
    fn gathers(&self) -> bool {
        self.frame == 0 && (self.linear || !self.reduced.is_empty())
    }

    /// The axes a read through coordinates of the current frame gathers along (see
    /// [`Expr::gather_axes`] and [`Expr::frame_gather_axes`]), where it is a template's
    /// gather: walked row-major by a pointwise kernel's index, a reduction's virtual ones or a
    /// fold's windows and taps.
    fn read_axes(&self, start: usize, strides: &[usize], frame: &Shape) -> Option<GatherAxes> {
        match (self.linear || self.folding || !self.reduced.is_empty(), self.frame) {
            (false, _) => None,
            (true, 0) => Some(self.gather_axes(start, strides, frame)),
            (true, _) => self.frame_gather_axes(start, strides, frame),
        }
    }

    /// The coordinates `offset` reads through in frame 0 (the iteration shape `shape`) as a
    /// gather's axes (see `kiln_kernels::steps::Axes`): in a reduction's loop, over the output
    /// element, then over the reduced element; in a pointwise kernel that runs by rows (see
    /// `row`), over the row's first element, then over the place in the row; otherwise over
    /// the element index alone.
    fn gather_axes(&self, start: usize, strides: &[usize], shape: &Shape) -> GatherAxes {
        let (divisors, inner, spans) = self.index_axes(shape);
        let terms = (0..strides.len())
            .filter(|&d| strides[d] != 0 && shape.0[d] > 1)
            .map(|d| (inner[d], (divisors[d], shape.0[d], strides[d])));
        axes_of(terms, start, spans)
    }

    /// How the kernel's index or indices give each coordinate of the iteration shape `shape`:
    /// its divisor and whether it comes from the second index (the reduced element, or the
    /// place in a row); and what each index spans (see [`Expr::gather_axes`]).
    fn index_axes(&self, shape: &Shape) -> (Vec<usize>, Vec<bool>, (usize, usize)) {
        let mut divisors = shape.contiguous_strides();
        let mut inner = vec![false; shape.rank()];
        if !self.reduced.is_empty() {
            let kept =
                Shape((0..shape.rank()).map(|d| if self.reduced.contains(&d) { 1 } else { shape.0[d] }).collect());
            divisors = kept.contiguous_strides();
            let mut step = 1;
            for &d in self.reduced.iter().rev() {
                (divisors[d], inner[d]) = (step, true);
                step *= shape.0[d];
            }
            return (divisors, inner, (shape.numel() / step, step));
        }
        match self.row_split() {
            Some((length, counted)) => {
                inner = divisors.iter().map(|&divisor| divisor < length).collect();
                if counted {
                    divisors.iter_mut().filter(|d| **d >= length).for_each(|d| *d /= length);
                    return (divisors, inner, (shape.numel() / length, length));
                }
                (divisors, inner, (shape.numel(), length))
            }
            None => (divisors, inner, (shape.numel(), 1)),
        }
    }

    /// Where a kernel's two indices split its element index into rows, the row's length and
    /// whether the first index counts rows (a fold's windows, whose taps are the second) rather
    /// than giving the row's first element (a pointwise kernel that runs by rows).
    fn row_split(&self) -> Option<(usize, bool)> {
        match self.folding {
            true => Some((self.shape.0[3..].iter().product(), true)),
            false => self.row.map(|length| (length, false)),
        }
    }

    /// The axes a read of frame `shape` (an inlined reshape's, not the iteration's) gathers
    /// along, from how each of its coordinates derives from the iteration's (see
    /// [`Expr::derivation`]); one that derives from none is the element index's coordinate,
    /// which a reshape keeps, where a pointwise kernel walks it. `None` where a term's divisor
    /// and size do not divide its axis, or a coordinate of the element index straddles a row.
    fn frame_gather_axes(&self, start: usize, strides: &[usize], shape: &Shape) -> Option<GatherAxes> {
        let (divisors, inner, spans) = self.index_axes(&self.shape);
        let element = shape.contiguous_strides();
        let mut terms = vec![];
        for d in (0..strides.len()).filter(|&d| strides[d] != 0 && shape.0[d] > 1) {
            match self.derivation(shape, d) {
                Some(parts) => {
                    for Part { axis: j, divide, size, scale } in parts {
                        // `((c / divide) % size)` of `c = (index / divisor) % n` is
                        // `(index / (divisor * divide)) % size` where `divide * size` divides n.
                        let n = self.shape.0[j];
                        let size = size.unwrap_or(n / divide);
                        if !n.is_multiple_of(divide * size) {
                            return None;
                        }
                        terms.push((inner[j], (divisors[j] * divide, size, scale * strides[d])));
                    }
                }
                None if self.reduced.is_empty() => {
                    let (divisor, size) = (element[d], shape.0[d]);
                    let term = match self.row_split() {
                        Some((length, _)) if divisor < length => {
                            length.is_multiple_of(divisor * size).then_some((true, divisor))
                        }
                        Some((length, counted)) => divisor
                            .is_multiple_of(length)
                            .then_some((false, if counted { divisor / length } else { divisor })),
                        None => Some((false, divisor)),
                    };
                    let (inner, divisor) = term?;
                    terms.push((inner, (divisor, size, strides[d])));
                }
                None => return None,
            }
        }
        Some(axes_of(terms, start, spans))
    }

    /// Emits `let t{v} = ...;` for `v` and everything inlined under it; returns the name.
    fn emit(&mut self, v: ValueId) -> String {
        let node = &self.g.nodes[v];
        if let (Some(Role::Inline), Op::Reshape(a)) = (self.s.roles[v], &node.op) {
            return self.emit_reshaped(*a);
        }
        match self.s.roles[v] {
            Some(Role::Literal(c)) => {
                let constant = splat(c);
                self.program.constant(&constant, c);
                return constant;
            }
            Some(Role::Inline) => {}
            _ if v == self.root && node.op.is_view() => return self.load(v),
            // Later members of a multi-output kernel reuse earlier ones (reductions: see `load`).
            _ if self.members.contains(&v) && self.reduced.is_empty() => {}
            _ => return self.load(v),
        }
        // A value reached twice in one tree (it has several consumers) is computed once.
        if self.emitted.contains(&v) {
            return format!("t{v}");
        }
        self.emitted.push(v);
        let name = format!("t{v}");
        let expr = match &node.op {
            Op::Const(c) => {
                self.program.constant(&name, *c);
                splat(*c)
            }
            Op::Unary(op, a) => {
                let x = self.emit(*a);
                self.program.unary(&name, *op, &x);
                unary(*op, &x)
            }
            Op::Binary(op, a, b) => {
                let x = self.emit(*a);
                let y = self.emit(*b);
                self.program.binary(&name, *op, &x, &y);
                binary(*op, &x, &y)
            }
            Op::Select { cond, then, otherwise } => {
                let (c, x, y) = (self.emit(*cond), self.emit(*then), self.emit(*otherwise));
                self.program.select(&name, &c, &x, &y);
                format!("select_many({c}.greater_than(&{}), {x}, {y})", splat(0.0))
            }
            Op::OneHot(labels) => {
                let layout = self.s.layouts[*labels].clone().expect("labels have a buffer");
                let label_shape = self.g.shape(*labels).clone();
                let offset = self.offset_from(layout.start, &layout.strides, &label_shape);
                let position = self.arg_position(layout.buffer, Access::Labels);
                let frame = self.frames[self.frame].clone();
                let class = self.use_coord(frame.rank() - 1);
                let lanes = self.one_hot_lanes(v, &frame).or_else(|| match self.vector {
                    // One lane: the label's strides over the frame, whatever walks it.
                    1 if self.g.shape(v).rank() == frame.rank() => Some(self.label_strides(*labels)),
                    _ => None,
                });
                match lanes {
                    Some(strides) if self.gathers() => {
                        let axes = self.gather_axes(layout.start, &strides, &frame);
                        let class = self.gather_axes(0, &unit_axis(frame.rank(), frame.rank() - 1), &frame);
                        self.program.one_hot(&name, position, axes, class)
                    }
                    _ => self.program.unsupported(),
                }
                format!("kiln_runtime::kernels::steps::one_hot::<F, N>(in{position}[{offset}], {class})")
            }
            Op::Iota(axis) if self.frames[self.frame].0[*axis] == 1 => {
                self.program.constant(&name, 0.0);
                splat(0.0)
            }
            Op::Iota(axis) => {
                let frame = self.frames[self.frame].clone();
                match self.vector == 1 && self.gathers() {
                    true => self.program.index(&name, self.gather_axes(0, &unit_axis(frame.rank(), *axis), &frame)),
                    false => self.program.unsupported(),
                }
                format!("Vector::new(F::cast_from({}))", self.use_coord(*axis))
            }
            op => unreachable!("not pointwise: {op:?}"),
        };
        self.lines.push(format!("let {name} = {expr};"));
        name
    }

    /// Emits inlined value `a`, which an inlined reshape views, in the frame of `a`'s shape.
    /// Returns its name.
    fn emit_reshaped(&mut self, a: ValueId) -> String {
        let shape = self.g.shape(a);
        let frame = self.frames.iter().position(|f| f == shape).unwrap_or_else(|| {
            self.frames.push(shape.clone());
            self.frames.len() - 1
        });
        let parent = std::mem::replace(&mut self.frame, frame);
        let value = self.emit(a);
        self.frame = parent;
        value
    }

    /// The emitted lines, after those that give the read coordinates of frames `1..`.
    fn body(&mut self) -> Vec<String> {
        let mut lines = vec![];
        let mut by_index = vec![];
        for k in 1..self.frames.len() {
            let shape = self.frames[k].clone();
            for d in 0..shape.rank() {
                if shape.0[d] == 1 || !self.used_axes.contains(&(k, d)) {
                    continue;
                }
                match self.derived_coord(&shape, d) {
                    Some(expr) => lines.push(format!("let {} = {expr};", Self::coord(k, d))),
                    None => by_index.push((k, d)),
                }
            }
        }
        if !by_index.is_empty() {
            // A reshape keeps the row-major element index, so every frame shares it.
            let index = if self.linear {
                self.reads_index = true;
                "e".to_string()
            } else {
                let shape = self.shape.clone();
                self.offset_in(0, &shape.contiguous_strides(), &shape)
            };
            lines.push(format!("let f = {index};"));
            for (k, d) in by_index {
                // `f` spans the whole frame: only the frame's outermost axis needs no modulo.
                let shape = &self.frames[k];
                let strides = shape.contiguous_strides();
                let outermost = outermost_axis(shape, &strides, 0..shape.rank());
                lines.push(Self::coord_line(k, "f", shape, &strides, d, Some(d) == outermost));
            }
        }
        lines.extend(self.lines.iter().cloned());
        lines
    }

    /// Coordinate `d` of a frame of `shape` from the iteration's coordinates (see
    /// [`Expr::derivation`]); `None` where it derives from none.
    fn derived_coord(&mut self, shape: &Shape, d: usize) -> Option<String> {
        let terms: Vec<String> = self
            .derivation(shape, d)?
            .into_iter()
            .map(|Part { axis, divide, size, scale }| {
                let c = self.coord_in(0, axis);
                let divided = match divide {
                    1 => c,
                    divide => format!("({c} / {divide})"),
                };
                let wrapped = match size {
                    None => divided,
                    // `%` and `*` bind alike, left to right.
                    Some(size) => format!("{divided} % {size}"),
                };
                match scale {
                    1 => wrapped,
                    scale => format!("{wrapped} * {scale}"),
                }
            })
            .collect();
        Some(if terms.is_empty() { "0".into() } else { terms.join(" + ") })
    }

    /// How coordinate `d` of a frame of `shape` derives from the iteration's coordinates: a
    /// reshape keeps the row-major element index, so `d` is the sum of the parts of the
    /// iteration axes that overlap its span of that index, `[lo, hi)`. An axis inside the span
    /// adds its coordinate times a scale (a merge); one that straddles `lo` is divided, and one
    /// that straddles `hi` wrapped (a split). `None` where an overlapping axis's stride and
    /// the span's ends do not divide one another.
    fn derivation(&self, shape: &Shape, d: usize) -> Option<Vec<Part>> {
        let (sizes, strides) = (&self.shape.0, self.shape.contiguous_strides());
        let lo = shape.contiguous_strides()[d];
        let hi = lo * shape.0[d];
        let overlapping = (0..sizes.len()).filter(|&j| sizes[j] > 1 && strides[j] < hi && strides[j] * sizes[j] > lo);
        overlapping
            .map(|j| {
                let (stride, top) = (strides[j], strides[j] * sizes[j]);
                let low = stride.max(lo);
                if !(low.is_multiple_of(stride) && low.is_multiple_of(lo)) || (top > hi && !hi.is_multiple_of(low)) {
                    return None;
                }
                let size = (top > hi).then_some(hi / low);
                Some(Part { axis: j, divide: low / stride, size, scale: low / lo })
            })
            .collect()
    }

    /// Reads leaf `v` at the current frame's coordinates.
    fn load(&mut self, v: ValueId) -> String {
        let frame = self.frames[self.frame].clone();
        let strides = self.strides_over(v, &frame);
        let (buffer, start) = (self.read_layout(v).buffer, self.read_layout(v).start);
        let contiguous = start == 0 && strides == Layout::contiguous(buffer, &frame).strides;
        if let Some((.., acc, k)) =
            self.accumulators.iter().find(|(b, st, ..)| *b == buffer && *st == strides && start == 0 && self.frame == 0)
        {
            self.program.acc(acc, *k);
            return acc.clone();
        }
        if let Some(k) = self.outputs[..self.group_start].iter().position(|&m| self.buffer_of(m) == buffer) {
            // An earlier group's result: segments never read one another; phases may.
            self.hazard |= !self.phased;
            let offset = self.offset_from(start, &strides, &frame);
            let value = self.storage.widen(buffer, &format!("{}[{offset}]", self.out_name(k)));
            match self.read_axes(start, &strides, &frame) {
                Some(axes) if self.phased && self.vector == 1 => self.program.gather_output(&value, k, axes),
                _ => self.program.unsupported(),
            }
            return value;
        }
        if let Some(k) = self.members.iter().position(|&m| self.buffer_of(m) == buffer) {
            if self.reduced.is_empty() {
                assert!(
                    self.members.len() > 1 || (contiguous && self.linear),
                    "internal: in-place kernel reads its output strided"
                );
                self.hazard |= !(contiguous && self.linear);
            } else {
                // A later loop reads an earlier result elsewhere, or before it is computed.
                self.hazard = true;
            }
            let index = self.unit_index();
            let element = format!("{}[{index}]", self.out_name(self.group_start + k));
            if !self.reduced.is_empty() {
                self.program.unsupported();
            }
            if self.scalar {
                // A row epilogue's output; the row sums are its output 0 (see `product_template`).
                let value = format!("Vector::new({})", self.storage.widen_scalar(buffer, &element));
                self.program.load_row_output(&value, 1 + k);
                return value;
            }
            let value = self.storage.widen(buffer, &element);
            self.program.load_output(&value, self.group_start + k);
            return value;
        }
        let shape = frame;
        let w = self.vector;
        let read = lane_read(&shape, &strides, w);
        if self.scalar || (w > 1 && read == Some(LaneRead::Splat)) {
            // One element in every lane: a row program's, or a leaf broadcast along the vector.
            let position = self.arg_position(buffer, Access::Scalar);
            let offset = self.offset_from(start, &strides, &shape);
            let element = format!("in{position}[{offset}]");
            let value = format!("Vector::new({})", self.storage.widen_scalar(buffer, &element));
            match offset.as_str() {
                "0" => self.program.splat(&value, position),
                _ if self.scalar && contiguous && self.linear => self.program.load_scalar(&value, position),
                _ if !self.scalar => match self.read_axes(start, &strides, &shape) {
                    Some(axes) => self.program.splat_at(&value, position, axes),
                    None => self.program.unsupported(),
                },
                _ => self.program.unsupported(),
            }
            return value;
        }
        match read {
            _ if w == 1 => {}
            Some(LaneRead::Repeat { run, step }) => {
                self.program.unsupported();
                let arg = self.arg(buffer, Access::Scalar);
                let first = self.offset_from(start, &strides, &shape);
                let elem = self.storage.elem(buffer);
                return format!(
                    "kiln_runtime::kernels::repeat_lanes::<{elem}, F, N>({arg}, {first}, {}, {}, {})",
                    literals(&[step]),
                    literals(&[run]),
                    literals(&[w])
                );
            }
            Some(LaneRead::Whole) => {}
            Some(LaneRead::Splat) => unreachable!("read above"),
            None => unreachable!("internal: a leaf its vector cannot read"),
        }
        let position = self.arg_position(buffer, Access::Vector);
        let arg = format!("in{position}");
        if contiguous && self.linear {
            let vector = self.storage.widen(buffer, &format!("{arg}[{}]", self.unit_index()));
            self.program.load(&vector, position);
            return vector;
        }
        let offset = self.offset_from(start, &strides, &shape);
        let vector = match w {
            1 => format!("{arg}[{offset}]"),
            _ => format!("{arg}[({offset}) / {w}]"),
        };
        let vector = self.storage.widen(buffer, &vector);
        match offset.as_str() {
            "0" if w == 1 => self.program.load_first(&vector, position),
            _ => match self.read_axes(start, &strides, &shape) {
                Some(axes) => self.program.gather(&vector, position, axes),
                None => self.program.unsupported(),
            },
        }
        vector
    }

    /// `let c{d} = (index / stride) % size;` for the read axes among `axes` of `frame` (of
    /// `shape`). The outermost axis needs no modulo and a stride of 1 no division.
    fn coords(&self, frame: usize, index: &str, shape: &Shape, strides: &[usize], axes: &[usize]) -> Vec<String> {
        let outermost = outermost_axis(shape, strides, axes.iter().copied());
        axes.iter()
            .filter(|&&d| shape.0[d] > 1 && self.used_axes.contains(&(frame, d)))
            .map(|&d| Self::coord_line(frame, index, shape, strides, d, Some(d) == outermost))
            .collect()
    }

    /// `let c{d} = (index / stride) % size;`, without the modulo on the `outermost` axis of
    /// what `index` spans and without the division for a stride of 1.
    fn coord_line(frame: usize, index: &str, shape: &Shape, strides: &[usize], d: usize, outermost: bool) -> String {
        let c = Self::coord(frame, d);
        match (strides[d] == 1, outermost) {
            (true, true) => format!("let {c} = {index};"),
            (true, false) => format!("let {c} = {index} % {};", shape.0[d]),
            (false, true) => format!("let {c} = {index} / {};", strides[d]),
            (false, false) => format!("let {c} = ({index} / {}) % {};", strides[d], shape.0[d]),
        }
    }

    /// The kernel's parameters: the buffers it reads (`in{k}`), then those it writes.
    fn params(&self) -> (Vec<String>, Vec<String>) {
        let inputs = self
            .args
            .iter()
            .enumerate()
            .map(|(i, a)| match a.access {
                Access::Vector => format!("in{i}: &[Vector<{}, N>]", self.storage.elem(a.buffer)),
                Access::Scalar => format!("in{i}: &[{}]", self.storage.elem(a.buffer)),
                Access::Labels => format!("in{i}: &[u32]"),
                Access::Lanes(_) => unreachable!("only a product's operands are read along k"),
            })
            .collect();
        let outputs = self
            .outputs
            .iter()
            .enumerate()
            .map(|(k, &m)| {
                let elem = self.storage.elem(self.buffer_of(m));
                match self.output_access(m) {
                    Access::Scalar => format!("{}: &mut [{elem}]", self.out_name(k)),
                    _ => format!("{}: &mut [Vector<{elem}, N>]", self.out_name(k)),
                }
            })
            .collect();
        (inputs, outputs)
    }

    /// The arguments the kernel stores its outputs through, in order.
    fn output_args(&self) -> Vec<Arg> {
        self.outputs.iter().map(|&m| Arg { buffer: self.buffer_of(m), access: self.output_access(m) }).collect()
    }

    /// How the kernel stores output `m`: a scalar per unit when reducing across lanes or where
    /// a product's tiles store it an element at a time.
    fn output_access(&self, m: ValueId) -> Access {
        if self.across_lanes || self.scalar_outputs.contains(&m) {
            Access::Scalar
        } else {
            Access::Vector
        }
    }

    fn signature(&self, comptime: &[&str]) -> String {
        let (inputs, outputs) = self.params();
        let comptime = comptime.iter().map(|c| format!("#[comptime] {c}")).collect();
        format!(
            "#[cube(launch_unchecked)]\nfn {SLOT}<F: Float, N: Size>({}) {{",
            [inputs, outputs, comptime].concat().join(", ")
        )
    }

    /// The kernel running `inner` for every index below `work` (see [`over_indices`]).
    fn finish(&self, inner: Vec<String>, work: usize, chunked: bool) -> Kernel {
        let grid = if chunked { Grid::Chunked } else { Grid::PerIndex };
        self.assemble(&over_indices(work, inner, chunked), work, grid)
    }

    /// The kernel with `body`, taking the buffers it reads, then those it writes; a
    /// [`Grid::OneCube`] kernel also takes the `host_memory` flag its barriers need.
    fn assemble(&self, body: &[String], work: usize, grid: Grid) -> Kernel {
        let (params, trailing) = match grid {
            Grid::OneCube => (&["host_memory: bool"][..], vec!["a.host_memory()".to_string()]),
            Grid::PerIndex | Grid::Chunked | Grid::Balanced => (&[][..], vec![]),
        };
        let source = format!("{}\n{}\n}}", self.signature(params), indent(body));
        let args = [self.args.clone(), self.output_args()].concat();
        Kernel {
            source: Some(source),
            function: SLOT.into(),
            vector: self.vector,
            work,
            args,
            values: self.outputs.clone(),
            grid,
            trailing,
            types: vec![self.storage.compute_type()],
            sequences: vec![],
        }
    }

    /// Starts emitting `group`, iterated over `shape`.
    fn start_group(&mut self, group: &[ValueId], shape: &Shape) {
        self.group_start = self.outputs.iter().position(|&v| v == group[0]).expect("group is an output");
        self.members = group.to_vec();
        self.root = group[0];
        self.shape = shape.clone();
        self.used_axes.clear();
        self.reads_index = false;
        self.reads_unit_index = false;
        self.start_tree();
    }

    /// Forgets the emitted lines, values and frames of the previous tree.
    fn start_tree(&mut self) {
        self.frames = vec![self.shape.clone()];
        self.frame = 0;
        self.emitted.clear();
        self.lines.clear();
    }

    /// The kernel over `groups` (members and iteration shape), or `None` on a hazard (see
    /// [`multi_output`]). Several groups run as segments of the index range.
    fn pointwise_kernel(mut self, groups: &[(Vec<ValueId>, Shape)]) -> Option<Kernel> {
        self.outputs = groups.iter().flat_map(|(group, _)| group.iter().copied()).collect();
        // One vector width for every group: the widest they all allow.
        self.vector = 16;
        self.linear = true;
        for (group, shape) in groups {
            self.start_group(group, shape);
            self.narrow_vector(group.iter().map(|&m| (m, m)));
        }
        let w = self.vector;
        if groups.len() > 1 {
            self.index = "j";
        }
        if let [(group, shape)] = groups {
            self.row = self.row_length(shape);
            let body = self.store_group(group, shape)?;
            self.program.end_segment(shape.numel() / w);
            if let Some(kernel) = self.template(shape.numel() / w) {
                return Some(kernel);
            }
            if let Some((rows, inner)) = self.by_rows(shape, &body) {
                return Some(self.finish(inner, rows, true));
            }
            let inner = [self.element_coords(), body].concat();
            return Some(self.finish(inner, shape.numel() / w, true));
        }
        let mut segments = vec![];
        for (group, shape) in groups {
            segments.push((shape.numel() / w, self.group_body(group, shape)?));
            self.program.end_segment(shape.numel() / w);
        }
        let work = segments.iter().map(|(n, _)| n).sum();
        if let Some(kernel) = self.template(work) {
            return Some(kernel);
        }
        Some(self.finish(split_into_segments(&segments), work, true))
    }

    /// The buffers a template reads, by how it reads them, and its outputs, where the
    /// recorded program has a step for every read and store and reads every input so; each
    /// class lists those in the compute type first. Every output is stored a vector at a time
    /// (a template of row outputs moves them, see [`Expr::reduction_template`]). The product
    /// and fold templates read no labels (see [`Expr::one_hot_lanes`]).
    fn template_inputs(&self) -> Option<Inputs> {
        let read_with = |access: Access| -> Vec<usize> {
            let list = (0..self.args.len()).filter(|&a| self.args[a].access == access);
            self.floats_first(list, |a| self.args[a].buffer)
        };
        let inputs = Inputs {
            vectors: read_with(Access::Vector),
            scalars: read_with(Access::Scalar),
            labels: (0..self.args.len()).filter(|&a| self.args[a].access == Access::Labels).collect(),
            outputs: self.floats_first(0..self.outputs.len(), |k| self.buffer_of(self.outputs[k])),
            row_outputs: vec![],
        };
        let read = inputs.vectors.len() + inputs.scalars.len() + inputs.labels.len();
        (self.program.complete() && read == self.args.len()).then_some(inputs)
    }

    /// `list`, whose items hold the buffers `buffer` gives, with those in the compute type
    /// first, then the halves, each in its order.
    fn floats_first(&self, list: impl Iterator<Item = usize>, buffer: impl Fn(usize) -> ValueId) -> Vec<usize> {
        let (halves, floats): (Vec<usize>, Vec<usize>) = list.partition(|&i| self.storage.is_half(buffer(i)));
        [floats, halves].concat()
    }

    /// A template launch's arguments, in the order of its sequences of `classes`, and how
    /// many buffers each sequence takes: a class in the compute type and in the half type is
    /// two sequences (see `kiln_kernels::steps::read`), the labels one. `outputs` and
    /// `row_outputs` give each recorded output's argument.
    fn template_args(
        &self,
        inputs: &Inputs,
        classes: &[Class],
        outputs: &[Arg],
        row_outputs: &[Arg],
    ) -> (Vec<Arg>, Vec<usize>) {
        let (mut args, mut counts) = (vec![], vec![]);
        for class in classes {
            let (list, recorded) = match class {
                Class::Vectors => (&inputs.vectors, &self.args[..]),
                Class::Scalars => (&inputs.scalars, &self.args[..]),
                Class::Labels => (&inputs.labels, &self.args[..]),
                Class::Outputs => (&inputs.outputs, outputs),
                Class::RowOutputs => (&inputs.row_outputs, row_outputs),
            };
            let list: Vec<Arg> = list.iter().map(|&i| recorded[i].clone()).collect();
            match class {
                Class::Labels => counts.push(list.len()),
                _ => {
                    let floats = list.iter().take_while(|a| !self.storage.is_half(a.buffer)).count();
                    counts.extend([floats, list.len() - floats]);
                }
            }
            args.extend(list);
        }
        (args, counts)
    }

    /// The type arguments of a template that computes in the compute type and stores halves
    /// in the program's half type.
    fn template_types(&self) -> Vec<&'static str> {
        vec![self.storage.compute_type(), self.storage.half_type()]
    }

    /// The kernel as a launch of the library's pointwise template over `work` vectors, where
    /// the emitted chains are a program it runs (see [`Recorder`]): every store at the unit's
    /// own vector index, every read there, of a single scalar or through a gather of the
    /// iteration's coordinates. A chain that gathers runs by rows where the kernel written for
    /// it would (see [`Expr::by_rows`]), its rows' coordinates computed once: computed for
    /// each element, LeNet-5's flatten, a transposing copy, took 1.57x as long (0.030 -> 0.047
    /// ms, `KILN_PROFILE=1`).
    fn template(&self, work: usize) -> Option<Kernel> {
        let row = match self.row {
            Some(length) if self.program.gathers() => length / self.vector,
            _ => 1,
        };
        let inputs = self.template_inputs()?;
        let classes = [Class::Vectors, Class::Scalars, Class::Labels, Class::Outputs];
        let (args, sequences) = self.template_args(&inputs, &classes, &self.output_args(), &[]);
        Some(Kernel {
            source: None,
            function: "Template::pointwise".into(),
            vector: self.vector,
            work,
            args,
            values: self.outputs.clone(),
            grid: Grid::Chunked,
            trailing: vec![self.program.program(&inputs, row)],
            types: self.template_types(),
            sequences,
        })
    }

    /// The phased kernel just emitted as a launch of the library's phased template
    /// (`kiln_kernels::phases`), where each phase is a program it runs (see [`Recorder`]).
    fn phased_template(&self) -> Option<Kernel> {
        let inputs = self.template_inputs()?;
        let classes = [Class::Vectors, Class::Scalars, Class::Labels, Class::Outputs];
        let (args, sequences) = self.template_args(&inputs, &classes, &self.output_args(), &[]);
        Some(Kernel {
            source: None,
            function: "Template::phased".into(),
            vector: 1,
            work: 1,
            args,
            values: self.outputs.clone(),
            grid: Grid::OneCube,
            trailing: vec![self.program.phases(&inputs)],
            types: self.template_types(),
            sequences,
        })
    }

    /// The lines computing and storing `group` (pointwise over `shape`) at the current index,
    /// or `None` on a hazard.
    fn group_body(&mut self, group: &[ValueId], shape: &Shape) -> Option<Vec<String>> {
        let body = self.store_group(group, shape)?;
        Some([self.element_coords(), body].concat())
    }

    /// The lines computing and storing `group` (pointwise over `shape`) from the coordinates of
    /// the current index, or `None` on a hazard.
    fn store_group(&mut self, group: &[ValueId], shape: &Shape) -> Option<Vec<String>> {
        self.start_group(group, shape);
        for (k, &m) in group.iter().enumerate() {
            self.root = m;
            let value = self.emit(m);
            let store = match self.scalar {
                true => self.storage.narrow_scalar(self.buffer_of(m), &format!("{value}.extract(0usize)")),
                false => self.storage.narrow(self.buffer_of(m), &value),
            };
            let index = self.store_index(m);
            // A permuted layout, or a slice of a joined buffer (see `schedule::joined_slices`).
            let scattered = index != self.index && !self.scalar && self.gathers();
            if index != self.index && !scattered {
                self.program.unsupported();
            }
            match self.scalar {
                // A row epilogue's output; the row sums are its output 0.
                true => self.program.store_row(1 + k, &value),
                false if scattered => {
                    let layout = self.s.layouts[m].as_ref().expect("kernel output has a buffer");
                    let axes = self.gather_axes(layout.start, &layout.strides, shape);
                    self.program.store_at(self.group_start + k, axes, &value)
                }
                false => self.program.store(self.group_start + k, &value),
            }
            self.lines.push(format!("{}[{index}] = {store};", self.out_name(self.group_start + k)));
        }
        if self.hazard {
            return None;
        }
        Some(self.body())
    }

    /// Whether the emitted lines read coordinates of the iteration shape (or the element index).
    fn reads_coords(&self) -> bool {
        self.reads_index || self.used_axes.iter().any(|&(f, _)| f == 0)
    }

    /// The lines giving the element index `e` of index `i` and the coordinates the emitted
    /// lines read, if they read any.
    fn element_coords(&mut self) -> Vec<String> {
        match self.reads_coords() {
            true => self.coords_of_element(&self.shape.clone()),
            false => vec![],
        }
    }

    /// `let e = ...;` for index `i` of `shape` (the kernel's output), then the coordinates of
    /// `e` the emitted lines read.
    fn coords_of_element(&mut self, shape: &Shape) -> Vec<String> {
        let mut lines = vec![self.first_element()];
        let axes: Vec<usize> = (0..shape.rank()).collect();
        lines.extend(self.coords(0, "e", shape, &shape.contiguous_strides(), &axes));
        lines
    }

    /// The elements of a row of `shape` where a kernel over it that reads coordinates would
    /// run by rows (see [`Expr::by_rows`]).
    fn row_length(&self, shape: &Shape) -> Option<usize> {
        let last = (0..shape.rank()).rev().find(|&d| shape.0[d] > 1)?;
        let w = if self.across_lanes { 1 } else { self.vector };
        let length = shape.0[last];
        (length / w >= 2 && shape.numel() / length >= MIN_ROWS).then_some(length)
    }

    /// `body` (which reads index `i` of `shape`, the kernel's output) run a row at a time,
    /// with the row count to launch: index `i` of the launch is a row of `shape` (every axis
    /// but the last one longer than 1), whose coordinates are computed once; a loop then walks
    /// the row's vectors (outputs, across lanes). The division and modulo by each extent, not
    /// the loads, bound a strided kernel's speed (the max-pool gradient of LeNet-5's first
    /// layer: 0.41 -> 0.10-0.15 ms with 4 lanes). `None` where the body reads no coordinates,
    /// a row holds one vector, or there are too few rows to share among the units.
    fn by_rows(&mut self, shape: &Shape, body: &[String]) -> Option<(usize, Vec<String>)> {
        let length = self.row_length(shape).filter(|_| self.reads_coords())?;
        let last = (0..shape.rank()).rev().find(|&d| shape.0[d] > 1)?;
        let w = if self.across_lanes { 1 } else { self.vector };
        let rows = shape.numel() / length;
        let row_strides: Vec<usize> = shape.contiguous_strides().iter().map(|s| s / length).collect();
        let outer: Vec<usize> = (0..last).collect();
        let mut lines = vec!["let row = i;".to_string()];
        lines.extend(self.coords(0, "row", shape, &row_strides, &outer));
        lines.push(format!("for col in 0..{}usize {{", length / w));
        let mut inner = vec![];
        if self.reads_index || self.reads_unit_index {
            inner.push(format!("let i = row * {} + col;", length / w));
        }
        if self.reads_index {
            inner.push(self.first_element());
        }
        if self.used_axes.contains(&(0, last)) {
            inner.push(format!(
                "let {} = {};",
                Self::coord(0, last),
                if w == 1 { "col".to_string() } else { format!("col * {w}") }
            ));
        }
        inner.extend(body.iter().cloned());
        lines.extend(inner.iter().map(|l| format!("    {l}")));
        lines.push("}".into());
        Some((rows, lines))
    }

    /// Where member `m`'s vector at index `i` is stored: `i`, or its offset through a permuted
    /// layout (see `schedule::storage_order`).
    fn store_index(&mut self, m: ValueId) -> String {
        let layout = self.s.layouts[m].clone().expect("kernel output has a buffer");
        // A copy iterates over its source's shape and stores row-major.
        if layout.is_contiguous(self.g.shape(m)) {
            return self.unit_index().into();
        }
        let offset = self.offset_from(layout.start, &layout.strides, &self.shape.clone());
        if self.vector == 1 {
            offset
        } else {
            format!("({offset}) / {}", self.vector)
        }
    }

    /// The fold `root` of `input`, with `input`'s pointwise producers computed per tap. Its
    /// units already loop over a row each; chunking them too made the conv input gradient of
    /// LeNet-5 twice as slow (`KILN_PROFILE=20`), so each row gets its own unit.
    fn fold_kernel(mut self, input: ValueId) -> Kernel {
        self.folding = true;
        let value = self.emit(input);
        self.program.end_loop(ReduceOp::Sum, &value);
        let output = self.output();
        let store = self.storage.narrow(output, "acc");
        let (lines, work) = window::fold_body(self.g, self.root, (self.body(), value), &store);
        if let Some(kernel) = self.fold_template(work) {
            return kernel;
        }
        self.finish(lines, work, false)
    }

    /// The fold just emitted as a launch of the library's fold template
    /// (`kiln_kernels::window::fold`) over `work` output rows, where its tap is a program the
    /// template runs (see [`Recorder`]).
    fn fold_template(&self, work: usize) -> Option<Kernel> {
        let inputs = self.template_inputs().filter(|inputs| inputs.labels.is_empty())?;
        if self.vector != 1 {
            return None;
        }
        let classes = [Class::Vectors, Class::Scalars, Class::Outputs];
        let (args, sequences) = self.template_args(&inputs, &classes, &self.output_args(), &[]);
        Some(Kernel {
            source: None,
            function: "Template::fold".into(),
            vector: 1,
            work,
            args,
            values: self.outputs.clone(),
            grid: Grid::PerIndex,
            trailing: vec![window::fold_layout(self.g, self.root, &self.program.loops(&inputs))],
            types: self.template_types(),
            sequences,
        })
    }
}

/// How the `w` lanes of a vector read a leaf: the vector holds `w` consecutive row-major
/// elements of the leaf's frame, the first at a multiple of `w`.
#[derive(Debug, PartialEq)]
enum LaneRead {
    /// Consecutive elements of the buffer, aligned: one vector load.
    Whole,
    /// One element in every lane (the leaf is broadcast along the vector).
    Splat,
    /// Runs of `run` lanes, each one element, the elements `step` apart: a leaf broadcast along
    /// the frame's trailing axes (`run` elements) seen by a vector longer than that.
    Repeat { run: usize, step: usize },
}

/// How `w` lanes read a leaf with `strides` over `frame` (see [`LaneRead`]), or `None` where
/// they cannot. Whole: the trailing axes the leaf reads contiguously span a multiple of `w`
/// elements and its other strides are multiples of `w`. Splat: the trailing axes it is
/// broadcast along do. Repeat: those span fewer, a divisor of `w`, and the vector ends within
/// the axis before them.
fn lane_read(frame: &Shape, strides: &[usize], w: usize) -> Option<LaneRead> {
    let axes: Vec<usize> = (0..frame.rank()).rev().filter(|&d| frame.0[d] > 1).collect();
    let (mut contiguous, mut inside) = (1, 0);
    while inside < axes.len() && strides[axes[inside]] == contiguous {
        contiguous *= frame.0[axes[inside]];
        inside += 1;
    }
    if inside > 0 && contiguous % w == 0 && axes[inside..].iter().all(|&d| strides[d].is_multiple_of(w)) {
        return Some(LaneRead::Whole);
    }
    let broadcast = axes.iter().take_while(|&&d| strides[d] == 0).count();
    let run: usize = axes[..broadcast].iter().map(|&d| frame.0[d]).product();
    if run.is_multiple_of(w) {
        return Some(LaneRead::Splat);
    }
    let &before = axes.get(broadcast)?;
    (broadcast > 0 && w.is_multiple_of(run) && (run * frame.0[before]).is_multiple_of(w))
        .then_some(LaneRead::Repeat { run, step: strides[before] })
}

/// Index `i` dispatched to the segment it falls in, each body reading its own index `j`.
fn split_into_segments(segments: &[(usize, Vec<String>)]) -> Vec<String> {
    let mut lines = vec![];
    let mut start = 0;
    for (k, (work, body)) in segments.iter().enumerate() {
        let end = start + work;
        lines.push(match k {
            0 => format!("if i < {end} {{"),
            k if k + 1 == segments.len() => "} else {".into(),
            _ => format!("}} else if i < {end} {{"),
        });
        lines.push(if start == 0 { "    let j = i;".into() } else { format!("    let j = i - {start};") });
        lines.extend(body.iter().map(|l| format!("    {l}")));
        start = end;
    }
    lines.push("}".into());
    lines
}

/// `12usize, 34usize`: compile-time arguments of a `#[cube]` call.
fn literals(values: &[usize]) -> String {
    values.iter().map(|v| format!("{v}usize")).collect::<Vec<_>>().join(", ")
}

/// `base + offset` as source, parenthesised (just `base` for offset 0).
fn plus(base: &str, offset: usize) -> String {
    match offset {
        0 => base.into(),
        _ => format!("({base} + {offset})"),
    }
}

fn indent(lines: &[String]) -> String {
    lines.iter().map(|l| format!("    {l}")).collect::<Vec<_>>().join("\n")
}

/// Of `axes` of `shape` (with `strides`), the one of size above 1 with the largest stride: an
/// index that spans those axes needs no modulo for its coordinate there.
fn outermost_axis(shape: &Shape, strides: &[usize], axes: impl Iterator<Item = usize>) -> Option<usize> {
    axes.filter(|&d| shape.0[d] > 1).max_by_key(|&d| strides[d])
}

/// A kernel body running `inner` (which reads index `i`) for every `i` in `0..work`: one unit
/// per index, or, `chunked`, each unit over its contiguous chunk of the indices (split evenly
/// over the units launched; see `Arena::chunked_grid`).
fn over_indices(work: usize, inner: Vec<String>, chunked: bool) -> Vec<String> {
    let mut guarded = vec![format!("if i < {work} {{")];
    guarded.extend(inner.into_iter().map(|l| format!("    {l}")));
    guarded.push("}".into());
    if !chunked {
        return [vec!["let i = ABSOLUTE_POS;".to_string()], guarded].concat();
    }
    let mut lines = vec![
        "let units = CUBE_COUNT * usize::cast_from(CUBE_DIM);".to_string(),
        format!("let chunk = ({work} + units - 1) / units;"),
        "let start = ABSOLUTE_POS * chunk;".into(),
        "for i in start..start + chunk {".into(),
    ];
    lines.extend(guarded.into_iter().map(|l| format!("    {l}")));
    lines.push("}".into());
    lines
}

/// A vector of `value` in every lane.
fn splat(value: f64) -> String {
    format!("Vector::<F, N>::new(F::new({:?}))", value as f32)
}

fn unary(op: UnaryOp, x: &str) -> String {
    let (zero, one) = (splat(0.0), splat(1.0));
    match op {
        UnaryOp::Neg => format!("-{x}"),
        UnaryOp::Exp => format!("{x}.exp()"),
        UnaryOp::Log => format!("{x}.ln()"),
        UnaryOp::Sqrt => format!("{x}.sqrt()"),
        UnaryOp::Recip => format!("{x}.recip()"),
        UnaryOp::Abs => format!("{x}.abs()"),
        UnaryOp::Tanh => format!("{x}.tanh()"),
        UnaryOp::Sigmoid => format!(
            "({one} + (-<Vector<F, N> as FloatOps>::max({x}, \
             Vector::<F, N>::new(F::new(kiln_runtime::kernels::steps::SIGMOID_FLOOR)))).exp()).recip()"
        ),
        UnaryOp::Erf => format!("{x}.erf()"),
        UnaryOp::Relu => format!("<Vector<F, N> as FloatOps>::max({x}, {zero})"),
        UnaryOp::Sign => format!(
            "select_many({x}.greater_than(&{zero}), {one}, {zero}) - select_many({x}.less_than(&{zero}), {one}, {zero})"
        ),
    }
}

fn binary(op: BinaryOp, x: &str, y: &str) -> String {
    let (zero, one) = (splat(0.0), splat(1.0));
    match op {
        BinaryOp::Add => format!("{x} + {y}"),
        BinaryOp::Sub => format!("{x} - {y}"),
        BinaryOp::Mul => format!("{x} * {y}"),
        BinaryOp::Div => format!("{x} / {y}"),
        BinaryOp::Pow => format!("Powf::powf({x}, {y})"),
        BinaryOp::Max => format!("<Vector<F, N> as FloatOps>::max({x}, {y})"),
        BinaryOp::Min => format!("<Vector<F, N> as FloatOps>::min({x}, {y})"),
        BinaryOp::Greater => format!("select_many({x}.greater_than(&{y}), {one}, {zero})"),
        BinaryOp::Equal => format!("select_many({x}.equal(&{y}), {one}, {zero})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lanes_read_whole_vectors_single_elements_or_repeated_runs() {
        let frame = Shape(vec![4, 14, 2]);
        // Contiguous: aligned vector loads, along the last axis or across its rows.
        assert_eq!(lane_read(&frame, &[28, 2, 1], 2), Some(LaneRead::Whole));
        assert_eq!(lane_read(&frame, &[28, 2, 1], 4), Some(LaneRead::Whole));
        assert_eq!(lane_read(&frame, &[30, 2, 1], 4), None, "rows 30 apart break the alignment");
        // Broadcast along the last axis: one element per 2 lanes, rows 14 apart.
        assert_eq!(lane_read(&frame, &[196, 14, 0], 2), Some(LaneRead::Splat));
        assert_eq!(lane_read(&frame, &[196, 14, 0], 4), Some(LaneRead::Repeat { run: 2, step: 14 }));
        assert_eq!(lane_read(&frame, &[0, 0, 0], 4), Some(LaneRead::Splat));
        // 8 lanes would cross from one 28-element block into the next.
        assert_eq!(lane_read(&frame, &[196, 14, 0], 8), None);
        assert_eq!(lane_read(&frame, &[1, 4, 56], 2), None, "strided along the vector");
        // A conv output stored [channels, n, h, w]: contiguous over h and w, 784 elements.
        assert_eq!(lane_read(&Shape(vec![64, 6, 28, 28]), &[784, 50176, 28, 1], 16), Some(LaneRead::Whole));
        // Trailing axes of extent 1 do not hide the axis the vector runs along.
        assert_eq!(lane_read(&Shape(vec![6, 8, 1]), &[8, 1, 0], 4), Some(LaneRead::Whole));
    }

    /// The kernels scheduling makes of textual IR `text` for `roots`, by the value each computes.
    fn kernels_of(text: &str, roots: &[usize]) -> Vec<(ValueId, Kernel)> {
        let g = Graph::parse(text).expect("valid IR");
        let s = crate::schedule::schedule(&g, roots, &[], true);
        let storage = Storage::new(crate::optim::Precision::F32, Target::Avx512, []);
        crate::schedule::kernels(&g, &s, &storage, true)
    }

    #[test]
    fn a_pool_through_a_reshape_of_a_permuted_input_gathers_in_the_template() {
        // A 2x2 max pool of a [4, 4] image stored transposed: the reshape into windows
        // cannot be a view of the permuted layout, so the reduction reads it as a frame of
        // its own, whose coordinates merge the output's and the window's.
        let kernels = kernels_of(
            "%0 = input \"x\" : [4, 4]\n\
             %1 = permute %0 perm=[1, 0] : [4, 4]\n\
             %2 = exp %1 : [4, 4]\n\
             %3 = reshape %2 : [2, 2, 2, 2]\n\
             %4 = reduce_max %3 axes=[1, 3] : [2, 1, 2, 1]",
            &[4],
        );
        let Some((_, k)) = kernels.iter().find(|(v, _)| *v == 4) else { panic!("a kernel for the pool") };
        assert_eq!(k.function, "Template::reduce", "{:?}", k.source);
        // Element (r, c) of the transposed input is x[c, r]: the output's row block r0 and
        // the window's row r1 step along x's columns (stride 1), its column block c0 and c1
        // along x's rows (stride 4).
        let reduction = &k.trailing[0];
        assert!(
            reduction.contains("Gather(0, Axes(&[Axis(2, 0, 2), Axis(1, 2, 8)], &[Axis(2, 0, 1), Axis(1, 2, 4)], 0))"),
            "{reduction}"
        );
    }

    #[test]
    fn a_group_statistic_gathers_through_a_partial_merge_in_the_template() {
        // A group norm's sum: channels of a permuted [4, 6, 5] input in 3 groups of 2, each
        // group's 10 elements one row. A coordinate of the frame takes part of an axis of the
        // iteration: the channel is 2 c1 + c2 / 5, the position c2 % 5.
        let kernels = kernels_of(
            "%0 = input \"x\" : [6, 4, 5]\n\
             %1 = permute %0 perm=[1, 0, 2] : [4, 6, 5]\n\
             %2 = exp %1 : [4, 6, 5]\n\
             %3 = reshape %2 : [4, 3, 10]\n\
             %4 = reduce_sum %3 axes=[0, 2] : [1, 3, 1]",
            &[4],
        );
        let Some((_, k)) = kernels.iter().find(|(v, _)| *v == 4) else { panic!("a kernel for the sum") };
        assert_eq!(k.function, "Template::reduce", "{:?}", k.source);
        // x[channel, n, position] is at 20 channel + 5 n + position. Over the group (the output
        // index): 2 c1 channels, 40 apart. Over the reduced element q = 10 c0 + c2: n = q / 10
        // at 5, c2 / 5 = (q / 5) % 2 channels at 20, c2 % 5 = q % 5 at 1.
        let reduction = &k.trailing[0];
        assert!(
            reduction
                .contains("Gather(0, Axes(&[Axis(1, 0, 40)], &[Axis(10, 0, 5), Axis(5, 2, 20), Axis(1, 5, 1)], 0))"),
            "{reduction}"
        );
    }

    #[test]
    fn a_fold_runs_its_producers_per_tap_in_the_template() {
        // The input gradient of a 2x2 convolution of stride 2: each tap's value is computed
        // where the fold sums it, from its window's index and its place among the window's 4
        // taps (here the taps' own buffer, read contiguously: no division, no modulo).
        let kernels = kernels_of(
            "%0 = input \"t\" : [2, 2, 2, 1, 2, 2]\n\
             %1 = exp %0 : [2, 2, 2, 1, 2, 2]\n\
             %2 = fold %1 kernel=[2, 2] stride=[2, 2] dilation=[1, 1] padding=[[0, 0], [0, 0]] : [2, 1, 4, 4]",
            &[2],
        );
        let Some((_, k)) = kernels.iter().find(|(v, _)| *v == 2) else { panic!("a kernel for the fold") };
        assert_eq!((k.function.as_str(), k.grid, k.work), ("Template::fold", Grid::PerIndex, 8), "{:?}", k.source);
        assert_eq!(
            k.trailing[0],
            "FoldLayout { n: 2, c: 1, h: 4, w: 4, oh: 2, ow: 2, kh: 2, kw: 2, stride: [2, 2], dilation: [1, 1], top: 0, \
             left: 0, tap: Loop { combine: Combine::Sum, value: 1, steps: &[Gather(0, Axes(&[Axis(1, 0, 4)], &[Axis(1, 0, 1)], \
             0)), Unary(Unary::Exp, 0)] } }"
        );
    }

    #[test]
    fn a_small_loss_runs_in_the_phased_template() {
        // Cross-entropy of 4 rows of 8 classes: per-row max and picked logit (a one-hot sum
        // over the classes), then the mean of `max - picked` over the rows, which reads the
        // first phase's outputs at other indices than its own.
        let kernels = kernels_of(
            "%0 = labels \"y\" classes=8 : [4]\n\
             %1 = input \"z\" : [4, 8]\n\
             %2 = reduce_max %1 axes=[1] : [4, 1]\n\
             %3 = one_hot %0 : [4, 8]\n\
             %4 = mul %3, %1 : [4, 8]\n\
             %5 = reduce_sum %4 axes=[1] : [4, 1]\n\
             %6 = sub %2, %5 : [4, 1]\n\
             %7 = reduce_sum %6 axes=[0, 1] : [1, 1]",
            &[7],
        );
        let [(7, k)] = &kernels[..] else {
            panic!("one kernel: {:?}", kernels.iter().map(|(v, _)| v).collect::<Vec<_>>())
        };
        assert_eq!((k.function.as_str(), k.grid), ("Template::phased", Grid::OneCube));
        let phases = &k.trailing[0];
        assert_eq!(phases.matches("Phase::Reduce").count(), 2, "{phases}");
        // The label of row `e`, and the class of reduced element `q`; each axis spans its
        // index, so it takes no modulo (size 0).
        assert!(
            phases.contains("OneHot(0, Axes(&[Axis(1, 0, 1)], &[], 0), Axes(&[], &[Axis(1, 0, 1)], 0))"),
            "{phases}"
        );
        // The second phase reads the row maxima the first stored, as its reduced element.
        assert!(phases.contains("GatherOutput(0, Axes(&[], &[Axis(1, 0, 1)], 0))"), "{phases}");
        assert_eq!(k.sequences[..5], [1, 0, 0, 0, 1], "z; no halves; no scalars; the labels");
    }

    #[test]
    fn a_one_hot_gradient_runs_in_the_template_a_vector_at_a_time() {
        // The logits' gradient of a cross-entropy: softmax times the loss's gradient, less
        // that gradient at each label. 16 classes: 16 lanes, each a class of one label.
        let kernels = kernels_of(
            "%0 = labels \"y\" classes=16 : [4, 3]\n\
             %1 = input \"z\" : [4, 3, 16]\n\
             %2 = input \"g\" : [4, 3, 1]\n\
             %3 = one_hot %0 : [4, 3, 16]\n\
             %4 = mul %3, %2 : [4, 3, 16]\n\
             %5 = exp %1 : [4, 3, 16]\n\
             %6 = mul %5, %2 : [4, 3, 16]\n\
             %7 = sub %6, %4 : [4, 3, 16]",
            &[7],
        );
        let [(7, k)] = &kernels[..] else {
            panic!("one kernel: {:?}", kernels.iter().map(|(v, _)| v).collect::<Vec<_>>())
        };
        assert_eq!((k.function.as_str(), k.vector), ("Template::pointwise", 16));
        // The label of each row of classes, and the first lane's class: 0, as each vector is a row.
        // The rows' axis spans the element index: no modulo (size 0).
        let one_hot = "OneHot(0, Axes(&[Axis(16, 0, 1)], &[], 0), Axes(&[Axis(1, 16, 1)], &[], 0))";
        assert!(k.trailing[0].contains(one_hot), "{}", k.trailing[0]);
        // Each class but the labels in the compute type, then in halves (none here).
        assert_eq!(k.sequences, [1, 0, 1, 0, 1, 1, 0], "z; g; the labels; the output");
    }

    #[test]
    fn a_pick_reads_a_view_through_its_strides() {
        // Logits stored step-major, [steps, batch, classes], picked by batch-major labels.
        let kernels = kernels_of(
            "%0 = labels \"y\" classes=8 : [4, 3]\n\
             %1 = input \"z\" : [3, 4, 8]\n\
             %2 = permute %1 perm=[1, 0, 2] : [4, 3, 8]\n\
             %3 = pick %2, %0 : [4, 3, 1]",
            &[3],
        );
        let [(3, k)] = &kernels[..] else { panic!("the pick alone, no copy of the view") };
        assert_eq!(k.args[0].buffer, 1, "reads the logits' own buffer");
        assert!(k.trailing[0].contains("rows_at: &[kiln_runtime::kernels::steps::Axis(3, 4, 8), kiln_runtime::kernels::steps::Axis(1, 3, 32)], class_stride: 1"), "{}", k.trailing[0]);
    }
}

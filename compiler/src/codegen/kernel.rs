//! Writes one CubeCL kernel per scheduled value: pointwise and reduction kernels are generated
//! with every shape, stride and trip count as a literal; matrix products call the library.

use super::schedule::{Layout, Role, Schedule};
use super::storage::Storage;
use crate::ir::{BinaryOp, Graph, Op, ReduceOp, UnaryOp, ValueId};
use crate::shape::Shape;

/// How a kernel reads one buffer.
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Access {
    /// `&[Vector<F, N>]`.
    Vector,
    /// `&[F]`, one element per lane group (splat).
    Scalar,
    /// `&[u32]` class labels.
    Labels,
}

/// A kernel argument: a buffer and how it is read.
#[derive(Clone, PartialEq, Debug)]
pub struct Arg {
    pub buffer: ValueId,
    pub access: Access,
}

/// One generated kernel and how to launch it.
pub struct Kernel {
    /// The `#[cube]` function, or `None` for a library kernel.
    pub source: Option<String>,
    /// Path of the launch function's module (`k12` or `kiln_kernels::matmul_nn`).
    pub function: String,
    /// Vector width the kernel is launched with.
    pub vector: usize,
    /// Units to launch (one per output vector or tile).
    pub work: usize,
    /// Buffers read, then the buffers written (one per value in `values`).
    pub args: Vec<Arg>,
    /// The values the kernel stores, in order (several for a multi-output kernel).
    pub values: Vec<ValueId>,
    /// Whether each unit loops over a chunk of the `work` indices (generated kernels, see
    /// [`over_indices`]), so a launch may use fewer units than `work`.
    pub chunked: bool,
    /// Literal compile-time arguments appended to the launch (library kernels).
    pub comptime: Vec<usize>,
    /// The launch's type arguments: `f32` (the compute type), then a library kernel's element
    /// types.
    pub types: Vec<&'static str>,
}

const SINGLE: &str = "internal: a single-output kernel reads its output only in place";

/// Writes the kernel that computes `v` under `schedule`.
pub fn kernel(g: &Graph, s: &Schedule, storage: &Storage, v: ValueId, name: &str) -> Kernel {
    match &g.nodes[v].op {
        Op::MatMul(a, b) => matmul(g, s, storage, v, *a, *b),
        Op::Unfold(..) => super::window::unfold(g, s, storage, v, name),
        Op::Fold(a, _) => Expr::new(g, s, storage, v, &g.shape(*a).clone()).fold_kernel(name, *a),
        Op::Reshape(a) => {
            // A strided source is copied in its own row-major order, which is the reshape's.
            let source = s.layouts[*a].as_ref().expect("reshape source has a buffer");
            let strided = !source.is_contiguous(g.shape(*a));
            let shape = if strided { g.shape(*a) } else { &g.nodes[v].shape };
            Expr::new(g, s, storage, v, &shape.clone()).pointwise_kernel(name).expect(SINGLE)
        }
        Op::Reduce(op, input, axes) => {
            let shape = g.shape(*input).clone();
            let mut e = Expr::new(g, s, storage, v, &shape);
            e.reduced = axes.clone();
            e.reduce_kernel(name, *op, *input)
        }
        _ => Expr::new(g, s, storage, v, &g.nodes[v].shape.clone()).pointwise_kernel(name).expect(SINGLE),
    }
}

/// Whether `v`'s kernel is pointwise over `v`'s own shape (no reduction, product, window op
/// or copy), so it can share a kernel with other such values of that shape.
pub fn is_pointwise_kernel(g: &Graph, v: ValueId) -> bool {
    let op = &g.nodes[v].op;
    op.is_pointwise() && !op.is_view()
}

/// One kernel that computes `members` (pointwise values of one shape, in launch order) and
/// stores each, reusing earlier members' values: an optimizer's moments and parameter update,
/// say. `None` when a member reads a member's buffer at other indices than its own, which one
/// pass cannot order.
pub fn multi_output(g: &Graph, s: &Schedule, storage: &Storage, members: &[ValueId], name: &str) -> Option<Kernel> {
    let shape = g.nodes[members[0]].shape.clone();
    if members.iter().any(|&m| g.nodes[m].shape != shape || !is_pointwise_kernel(g, m)) {
        return None;
    }
    let mut e = Expr::new(g, s, storage, members[0], &shape);
    e.members = members.to_vec();
    e.pointwise_kernel(name)
}

/// Emits the pointwise expression tree rooted at a value, evaluated at coordinates `c{d}` of
/// the iteration shape.
struct Expr<'a> {
    g: &'a Graph,
    s: &'a Schedule,
    storage: &'a Storage,
    /// The value being emitted (for a multi-output kernel, the current one of `members`).
    root: ValueId,
    /// The values the kernel stores, in order (just `root` unless multi-output).
    members: Vec<ValueId>,
    /// Whether a load reads a member's buffer at other indices than the unit's own.
    hazard: bool,
    shape: Shape,
    /// Axes a reduction loops over (empty for pointwise kernels).
    reduced: Vec<usize>,
    vector: usize,
    /// Whether kernel index `i` walks the iteration shape row-major (pointwise kernels).
    linear: bool,
    /// Axes whose coordinate `c{d}` an emitted line reads.
    used_axes: Vec<usize>,
    /// Values already computed by an emitted line (`t{v}`).
    emitted: Vec<ValueId>,
    args: Vec<Arg>,
    lines: Vec<String>,
}

impl<'a> Expr<'a> {
    fn new(g: &'a Graph, s: &'a Schedule, storage: &'a Storage, root: ValueId, shape: &Shape) -> Self {
        Expr {
            g,
            s,
            storage,
            root,
            members: vec![root],
            hazard: false,
            shape: shape.clone(),
            reduced: vec![],
            vector: 1,
            linear: false,
            used_axes: vec![],
            emitted: vec![],
            args: vec![],
            lines: vec![],
        }
    }

    fn output(&self) -> ValueId {
        self.buffer_of(self.root)
    }

    fn buffer_of(&self, v: ValueId) -> ValueId {
        self.s.layouts[v].as_ref().expect("kernel output has a buffer").buffer
    }

    /// The parameter name of member `k`'s output: `out`, or `out{k}` in a multi-output kernel.
    fn out_name(&self, k: usize) -> String {
        if self.members.len() == 1 {
            "out".into()
        } else {
            format!("out{k}")
        }
    }

    /// Leaves of the tree under `v` (values read from buffers), with their strides over the
    /// iteration shape; `None` strides mark labels read by one_hot and iotas (read per lane).
    fn leaves(&self, v: ValueId, out: &mut Vec<(ValueId, Option<Vec<usize>>)>) {
        match self.s.roles[v] {
            Some(Role::Literal(_)) => {}
            _ if v == self.root && self.g.nodes[v].op.is_view() => {
                out.push((v, Some(self.strides_over_iteration(v))))
            }
            role if v == self.root || role == Some(Role::Inline) => {
                if let Op::OneHot(labels) = self.g.nodes[v].op {
                    out.push((labels, None));
                } else if let Op::Iota(_) = self.g.nodes[v].op {
                    out.push((v, None));
                } else {
                    for a in self.g.nodes[v].op.operands() {
                        self.leaves(a, out);
                    }
                }
            }
            _ => out.push((v, Some(self.strides_over_iteration(v)))),
        }
    }

    /// The layout a leaf is read through: a materialised view reads its source.
    fn read_layout(&self, v: ValueId) -> &Layout {
        let layout = if v == self.root { &self.s.views[v] } else { &self.s.layouts[v] };
        layout.as_ref().expect("leaf has a buffer")
    }

    fn strides_over_iteration(&self, v: ValueId) -> Vec<usize> {
        let layout = self.read_layout(v);
        // A copied view iterates over the shape it reads (a strided reshape: its source's).
        let shape = if v == self.root { &self.shape } else { self.g.shape(v) };
        (0..self.shape.rank()).map(|d| if shape.0[d] == 1 { 0 } else { layout.strides[d] }).collect()
    }

    /// The widest vector (16 lanes down to 1) every leaf and the output can be read with:
    /// along the last axis each leaf is contiguous (stride 1, aligned) or broadcast (stride 0).
    fn choose_vector(&mut self, expr_root: ValueId) {
        let mut leaves = vec![];
        self.leaves(expr_root, &mut leaves);
        let rank = self.shape.rank();
        let last = if rank == 0 { 1 } else { self.shape.0[rank - 1] };
        let last_reduced = rank > 0 && self.reduced.contains(&(rank - 1));
        self.vector = [16, 8, 4, 2, 1]
            .into_iter()
            .find(|&w| {
                w == 1
                    || (!last_reduced
                        && last % w == 0
                        && leaves.iter().all(|(_, strides)| match strides {
                            None => false,
                            Some(st) => match st.last() {
                                Some(0) => true,
                                Some(1) => st[..rank - 1].iter().all(|s| s % w == 0),
                                _ => false,
                            },
                        }))
            })
            .unwrap();
    }

    fn arg(&mut self, buffer: ValueId, access: Access) -> String {
        let arg = Arg { buffer, access };
        let index = self.args.iter().position(|a| *a == arg).unwrap_or_else(|| {
            self.args.push(arg);
            self.args.len() - 1
        });
        format!("in{index}")
    }

    fn offset(&mut self, strides: &[usize], shape: &Shape) -> String {
        let terms: Vec<String> = (0..strides.len())
            .filter(|&d| strides[d] != 0 && shape.0[d] > 1)
            .map(|d| if strides[d] == 1 { format!("c{d}") } else { format!("c{d} * {}", strides[d]) })
            .collect();
        self.used_axes.extend((0..strides.len()).filter(|&d| strides[d] != 0 && shape.0[d] > 1));
        if terms.is_empty() {
            "0".into()
        } else {
            terms.join(" + ")
        }
    }

    /// Emits `let t{v} = ...;` for `v` and everything inlined under it; returns the name.
    fn emit(&mut self, v: ValueId) -> String {
        let node = &self.g.nodes[v];
        match self.s.roles[v] {
            Some(Role::Literal(c)) => return splat(c),
            Some(Role::Inline) => {}
            _ if v == self.root && node.op.is_view() => return self.load(v),
            _ if self.members.contains(&v) => {}
            _ => return self.load(v),
        }
        // A value reached twice in one tree (it has several consumers) is computed once.
        if self.emitted.contains(&v) {
            return format!("t{v}");
        }
        self.emitted.push(v);
        let expr = match &node.op {
            Op::Const(c) => splat(*c),
            Op::Unary(op, a) => {
                let x = self.emit(*a);
                unary(*op, &x)
            }
            Op::Binary(op, a, b) => {
                let x = self.emit(*a);
                let y = self.emit(*b);
                binary(*op, &x, &y)
            }
            Op::Select { cond, then, otherwise } => {
                let (c, x, y) = (self.emit(*cond), self.emit(*then), self.emit(*otherwise));
                format!("select_many({c}.greater_than(&{}), {x}, {y})", splat(0.0))
            }
            Op::OneHot(labels) => {
                let layout = self.s.layouts[*labels].clone().expect("labels have a buffer");
                let offset = self.offset(&layout.strides, self.g.shape(*labels));
                let arg = self.arg(layout.buffer, Access::Labels);
                let class = self.shape.rank() - 1;
                self.used_axes.push(class);
                format!("Vector::new(select({arg}[{offset}] == u32::cast_from(c{class}), F::new(1.0), F::new(0.0)))")
            }
            Op::Iota(axis) if self.shape.0[*axis] == 1 => splat(0.0),
            Op::Iota(axis) => {
                self.used_axes.push(*axis);
                format!("Vector::new(F::cast_from(c{axis}))")
            }
            op => unreachable!("not pointwise: {op:?}"),
        };
        self.lines.push(format!("let t{v} = {expr};"));
        format!("t{v}")
    }

    /// Reads leaf `v` at the current coordinates.
    fn load(&mut self, v: ValueId) -> String {
        let strides = self.strides_over_iteration(v);
        let buffer = self.read_layout(v).buffer;
        let contiguous = strides == Layout::contiguous(buffer, &self.shape).strides;
        if let Some(k) = self.members.iter().position(|&m| self.buffer_of(m) == buffer) {
            assert!(self.members.len() > 1 || (contiguous && self.linear), "internal: in-place kernel reads its output strided");
            self.hazard |= !(contiguous && self.linear);
            return self.storage.widen(buffer, &format!("{}[i]", self.out_name(k)));
        }
        let shape = self.shape.clone();
        let w = self.vector;
        if w > 1 && strides.last() == Some(&0) {
            let arg = self.arg(buffer, Access::Scalar);
            let element = format!("{arg}[{}]", self.offset(&strides, &shape));
            return format!("Vector::new({})", self.storage.widen_scalar(buffer, &element));
        }
        let arg = self.arg(buffer, Access::Vector);
        let vector = if contiguous && self.linear {
            format!("{arg}[i]")
        } else if w > 1 {
            format!("{arg}[({}) / {w}]", self.offset(&strides, &shape))
        } else {
            format!("{arg}[{}]", self.offset(&strides, &shape))
        };
        self.storage.widen(buffer, &vector)
    }

    /// `let c{d} = (index / stride) % size;` for the given axes of `shape`.
    /// The outermost axis needs no modulo and a stride of 1 no division.
    fn coords(&self, index: &str, shape: &Shape, strides: &[usize], axes: &[usize]) -> Vec<String> {
        let outermost = axes.iter().copied().filter(|&d| shape.0[d] > 1).max_by_key(|&d| strides[d]);
        axes.iter()
            .filter(|&&d| shape.0[d] > 1 && self.used_axes.contains(&d))
            .map(|&d| {
                match (strides[d] == 1, Some(d) == outermost) {
                    (true, true) => format!("let c{d} = {index};"),
                    (true, false) => format!("let c{d} = {index} % {};", shape.0[d]),
                    (false, true) => format!("let c{d} = {index} / {};", strides[d]),
                    (false, false) => format!("let c{d} = ({index} / {}) % {};", strides[d], shape.0[d]),
                }
            })
            .collect()
    }

    fn signature(&self, name: &str) -> String {
        let mut params: Vec<String> = self
            .args
            .iter()
            .enumerate()
            .map(|(i, a)| match a.access {
                Access::Vector => format!("in{i}: &[Vector<{}, N>]", self.storage.elem(a.buffer)),
                Access::Scalar => format!("in{i}: &[{}]", self.storage.elem(a.buffer)),
                Access::Labels => format!("in{i}: &[u32]"),
            })
            .collect();
        for (k, &m) in self.members.iter().enumerate() {
            params.push(format!("{}: &mut [Vector<{}, N>]", self.out_name(k), self.storage.elem(self.buffer_of(m))));
        }
        format!("#[cube(launch_unchecked)]\nfn {name}<F: Float, N: Size>({}) {{", params.join(", "))
    }

    /// The kernel, or `None` on a hazard (see [`multi_output`]).
    fn pointwise_kernel(mut self, name: &str) -> Option<Kernel> {
        self.vector = 16;
        for m in self.members.clone() {
            self.root = m;
            let widest = self.vector;
            self.choose_vector(m);
            self.vector = self.vector.min(widest);
        }
        self.linear = true;
        for (k, m) in self.members.clone().into_iter().enumerate() {
            self.root = m;
            let value = self.emit(m);
            let store = self.storage.narrow(self.buffer_of(m), &value);
            self.lines.push(format!("{}[i] = {store};", self.out_name(k)));
        }
        if self.hazard {
            return None;
        }
        let w = self.vector;
        let work = self.shape.numel() / w;
        let mut inner = vec![];
        if !self.used_axes.is_empty() {
            inner.push(if w == 1 { "let e = i;".to_string() } else { format!("let e = i * {w};") });
            let axes: Vec<usize> = (0..self.shape.rank()).collect();
            let strides = self.shape.contiguous_strides();
            inner.extend(self.coords("e", &self.shape, &strides, &axes));
        }
        inner.extend(self.lines.iter().cloned());
        let source = format!("{}\n{}\n}}", self.signature(name), indent(&over_indices(work, inner, true)));
        let mut args = self.args.clone();
        args.extend(self.members.iter().map(|&m| Arg { buffer: self.buffer_of(m), access: Access::Vector }));
        Some(Kernel { source: Some(source), function: name.into(), vector: w, work, args, values: self.members.clone(), chunked: true, comptime: vec![], types: vec![self.storage.compute_type()] })
    }

    /// The fold `root` of `input`, with `input`'s pointwise producers computed per tap. Its
    /// units already loop over a row each; chunking them too made the conv input gradient of
    /// LeNet-5 twice as slow (`KILN_PROFILE=20`), so each row gets its own unit.
    fn fold_kernel(mut self, name: &str, input: ValueId) -> Kernel {
        let value = self.emit(input);
        let output = self.output();
        let store = self.storage.narrow(output, "acc");
        let (lines, work) = super::window::fold_body(self.g, self.root, (std::mem::take(&mut self.lines), value), &store);
        let source = format!("{}\n{}\n}}", self.signature(name), indent(&over_indices(work, lines, false)));
        let mut args = self.args;
        args.push(Arg { buffer: output, access: Access::Vector });
        Kernel { source: Some(source), function: name.into(), vector: 1, work, args, values: vec![self.root], chunked: false, comptime: vec![], types: vec![self.storage.compute_type()] }
    }

    fn reduce_kernel(mut self, name: &str, op: ReduceOp, input: ValueId) -> Kernel {
        self.choose_vector(input);
        let w = self.vector;
        let out_shape = self.g.shape(self.root).clone();
        let kept: Vec<usize> = (0..self.shape.rank()).filter(|d| !self.reduced.contains(d)).collect();
        let trips: usize = self.reduced.iter().map(|&d| self.shape.0[d]).product();
        // Strides that decompose the loop counter `r` over the reduced axes.
        let mut loop_strides = vec![0; self.shape.rank()];
        let mut stride = 1;
        for &d in self.reduced.iter().rev() {
            loop_strides[d] = stride;
            stride *= self.shape.0[d];
        }
        let value = self.emit(input);
        let work = out_shape.numel() / w;
        let (init, combine) = match op {
            ReduceOp::Sum => (splat(0.0), format!("acc + {value}")),
            ReduceOp::Max => ("Vector::<F, N>::min_value()".into(), format!("<Vector<F, N> as FloatOps>::max(acc, {value})")),
        };
        let mut inner = vec![if w == 1 { "let e = i;".to_string() } else { format!("let e = i * {w};") }];
        let out_strides = out_shape.contiguous_strides();
        inner.extend(self.coords("e", &out_shape, &out_strides, &kept));
        inner.push(format!("let mut acc = {init};"));
        inner.push(format!("for r in 0..{trips}usize {{"));
        inner.extend(self.coords("r", &self.shape, &loop_strides, &self.reduced).into_iter().map(|l| format!("    {l}")));
        inner.extend(self.lines.iter().map(|l| format!("    {l}")));
        inner.push(format!("    acc = {combine};"));
        inner.push("}".into());
        let output = self.output();
        inner.push(format!("out[i] = {};", self.storage.narrow(output, "acc")));
        let source = format!("{}\n{}\n}}", self.signature(name), indent(&over_indices(work, inner, true)));
        let mut args = self.args;
        args.push(Arg { buffer: output, access: Access::Vector });
        Kernel { source: Some(source), function: name.into(), vector: w, work, args, values: vec![self.root], chunked: true, comptime: vec![], types: vec![self.storage.compute_type()] }
    }
}

fn indent(lines: &[String]) -> String {
    lines.iter().map(|l| format!("    {l}")).collect::<Vec<_>>().join("\n")
}

/// A kernel body running `inner` (which reads index `i`) for every `i` in `0..work`: one unit
/// per index, or, `chunked`, each unit over its contiguous chunk of the indices (split evenly
/// over the units launched; see `Arena::chunked_grid`).
pub(super) fn over_indices(work: usize, inner: Vec<String>, chunked: bool) -> Vec<String> {
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
pub(super) fn splat(value: f64) -> String {
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

/// Rows (NN) or columns (NT) of output each unit of a library matmul computes.
const TILE: usize = 4;
/// Rows of output each unit of the NT matmul computes.
const NT_ROWS: usize = 2;

/// `out = a @ b` through `kiln_kernels`: vectorised along n when b's rows are contiguous (NN),
/// else along k when both operands are contiguous along k (NT), else scalar NN.
fn matmul(g: &Graph, s: &Schedule, storage: &Storage, v: ValueId, a: ValueId, b: ValueId) -> Kernel {
    let (m, k, n) = (g.shape(a).0[0], g.shape(a).0[1], g.shape(b).0[1]);
    let la = s.layouts[a].as_ref().expect("matmul operand has a buffer");
    let lb = s.layouts[b].as_ref().expect("matmul operand has a buffer");
    let out = s.layouts[v].as_ref().unwrap().buffer;
    let (a_row, a_col) = (la.strides[0], la.strides[1]);
    let (b_row, b_col) = (lb.strides[0], lb.strides[1]);
    let widest = |len: usize, strides: &[usize]| {
        [16, 8, 4, 2, 1].into_iter().find(|&w| len.is_multiple_of(w) && strides.iter().all(|s| s.is_multiple_of(w))).unwrap()
    };
    let nn = if b_col == 1 { widest(n, &[b_row]) } else { 1 };
    // NT keeps 8 vector accumulators: 8 lanes each fit AVX2's 16 registers with the loads.
    let nt = if a_col == 1 && b_row == 1 { widest(k, &[a_row, b_col]).min(8) } else { 1 };
    let arg = |buffer, access| Arg { buffer, access };
    let types = vec![storage.compute_type(), storage.launch_type(la.buffer), storage.launch_type(lb.buffer), storage.launch_type(out)];
    if nn > 1 || nt == 1 {
        let w = nn;
        Kernel {
            source: None,
            function: "kiln_runtime::kernels::matmul_nn".into(),
            vector: w,
            work: m.div_ceil(TILE) * (n / w),
            args: vec![arg(la.buffer, Access::Scalar), arg(lb.buffer, Access::Vector), arg(out, Access::Vector)],
            values: vec![v],
            chunked: false,
            comptime: vec![m, k, n, a_row, a_col, b_row, b_col, w],
            types,
        }
    } else {
        Kernel {
            source: None,
            function: "kiln_runtime::kernels::matmul_nt".into(),
            vector: nt,
            work: m.div_ceil(NT_ROWS) * n.div_ceil(TILE),
            args: vec![arg(la.buffer, Access::Vector), arg(lb.buffer, Access::Vector), arg(out, Access::Scalar)],
            values: vec![v],
            chunked: false,
            comptime: vec![m, k, n, a_row, b_col, nt],
            types,
        }
    }
}

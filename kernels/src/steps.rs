//! The pointwise template: one `#[cube]` kernel for every fused chain of pointwise ops over
//! contiguous buffers, or several independent chains as segments of one launch (the updates
//! of all parameters, say). Each chain is a comptime list of [`Step`]s, so the JIT unrolls it
//! into the same straight-line code a kernel written for it would have, with every extent a
//! constant; rustc expands the template once, however many chains a crate's models have. The
//! product templates (`crate::product`) run the same steps as their tiles' epilogues.

// `#[cube]` generates a launch module and a kernel struct per function, without docs.
#![allow(missing_docs)]

use crate::narrow::to_bf16;
use cubecl::prelude::*;

/// Below this, [`Unary::Sigmoid`]'s argument is clamped: e^-x stays finite (e^80 ≈ 5.5e34 fits
/// f32), and the value and gradient there (under 1.9e-35) are zero to f32's normal range.
pub const SIGMOID_FLOOR: f32 = -80.0;

/// A pointwise op of one operand; each computes what the IR's op of that name does.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Unary {
    /// -x
    Neg,
    /// e^x
    Exp,
    /// The natural logarithm.
    Log,
    /// The square root.
    Sqrt,
    /// 1 / x
    Recip,
    /// |x|
    Abs,
    /// -1, 0 or 1.
    Sign,
    /// max(x, 0).
    Relu,
    /// The hyperbolic tangent.
    Tanh,
    /// The logistic function 1 / (1 + e^-x), with x clamped below at [`SIGMOID_FLOOR`].
    Sigmoid,
    /// The error function.
    Erf,
}

/// A pointwise op of two operands.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Binary {
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
    /// The larger.
    Max,
    /// The smaller.
    Min,
    /// 1 where a > b, else 0.
    Greater,
    /// 1 where a == b, else 0.
    Equal,
}

/// One step of a pointwise program, run at each vector index `i` of the kernel. A step that
/// yields a value is referred to by the count of value-yielding steps before it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Step {
    /// Vector `i` of input buffer `k`.
    Load(usize),
    /// Element 0 of scalar buffer `k` in every lane (a learning rate, say).
    Splat(usize),
    /// Vector 0 of input buffer `k`: one value for every index, where vectors are one lane
    /// wide.
    LoadFirst(usize),
    /// Vector `i` of output buffer `k` as it is before this kernel stores it (an update in
    /// place reads the old value).
    LoadOutput(usize),
    /// A constant in every lane, as the bits of an `f32`.
    Const(u32),
    /// Total `k`: a product's sum, where its epilogue runs (see `crate::product`), or the
    /// result of a reduction's loop `k` (see `crate::reduction`).
    Acc(usize),
    /// A vector of input buffer `k` at an offset computed from index `i`'s coordinates.
    Gather(usize, Axes),
    /// The element of scalar buffer `k` at the offset [`Axes`] give, in every lane
    /// (a per-channel scale, say, where a vector's lanes all lie in one channel).
    SplatAt(usize, Axes),
    /// A unary op of a value.
    Unary(Unary, usize),
    /// A binary op of two values.
    Binary(Binary, usize, usize),
    /// The second value where the first is above 0, else the third.
    Select(usize, usize, usize),
    /// 1 in the lanes whose class is the label, else 0: a one-hot row along the last axis of
    /// the iteration, whose label is the element the first [`Axes`] give of label buffer `k`,
    /// and whose first lane's class is the offset the second give (the coordinate of the last
    /// axis): `OneHot(k, label, class)`. A vector's lanes lie in one row (its width divides
    /// the classes).
    OneHot(usize, Axes, Axes),
    /// The offset [`Axes`] give, as a value in every lane: the coordinate of an axis (an
    /// iota), where vectors are one lane wide or the axis is not the lanes'.
    Index(Axes),
    /// The vector of output buffer `k` at the offset [`Axes`] give, stored by an earlier phase
    /// of a phased kernel (see `crate::phases`).
    GatherOutput(usize, Axes),
    /// Stores a value to vector `i` of output buffer `k`: `Store(k, value)`.
    Store(usize, usize),
    /// Stores a value to the vector of output buffer `k` at the offset [`Axes`] give (a slice
    /// of a joined buffer, say): `StoreAt(k, axes, value)`.
    StoreAt(usize, Axes, usize),
    /// Element `i` of scalar buffer `k` in every lane (a row program, see `crate::product`).
    LoadScalar(usize),
    /// Element `i` of a row program's output `k` in every lane, before it is stored.
    LoadRowOutput(usize),
    /// Stores lane 0 of a value to element `i` of a row program's output `k`.
    StoreRow(usize, usize),
}

/// Where a [`Step::Gather`] reads, in two lists of axes and a start: the vector holding element
/// `start + sum over axes of ((index / divisor) % size) * stride`, for the axes of the first list over
/// `e` and those of the second over `q`. The two split the element index of the vector's first
/// lane: `e` is that of its row and `q` its place in the row, in a pointwise kernel that runs by
/// rows (see [`Segment`]; otherwise `e` is the element's and `q` is 0); in a reduction's loop,
/// `e` is the output element's and `q` the reduced element's (see `crate::reduction`). The
/// lanes it reads are contiguous in the buffer. The start is that of a slice of the buffer (a
/// gate of an LSTM's stacked gates, say), a multiple of the vector's width. A [`Step::SplatAt`]
/// reads that element alone.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Axes(pub &'static [Axis], pub &'static [Axis], pub usize);

/// One coordinate of [`Axes`]: `(e / divisor) % size` (the axis's stride in the
/// iteration, and its extent), at `stride` in the buffer: `Axis(divisor, size, stride)`. A
/// size of 0 marks the outermost axis of what the index spans, `e / divisor` with no modulo.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Axis(pub usize, pub usize, pub usize);

impl Step {
    /// The constant `value` in every lane.
    pub const fn constant(value: f32) -> Step {
        Step::Const(value.to_bits())
    }
}

/// One chain of a [`Program`]: its steps, run at each of `work` vector indices.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Segment {
    /// The vector indices the chain covers.
    pub work: usize,
    /// The vectors of a row, where the chain runs by rows: each unit takes whole rows, and
    /// a gather computes the coordinates of its first list of [`Axes`] once per row. 1 otherwise; a
    /// program of several segments runs none by rows.
    pub row: usize,
    /// What it runs at each.
    pub steps: &'static [Step],
}

/// A comptime program: its segments cover consecutive ranges of the launch's indices, the
/// first from 0. Generated code writes each as a constant.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Program(pub &'static [Segment]);

impl Program {
    /// The first vector index of segment `s` (the count of all segments' indices at
    /// `s = len`).
    pub fn start(&self, s: usize) -> usize {
        self.0[..s].iter().map(|segment| segment.work).sum()
    }
}

/// Runs `program` at every vector index it covers, each unit over a contiguous chunk of them:
/// a segment reads `vectors`, `scalars` and class `labels`, and stores `outputs` at its own
/// index, counted from the segment's start (scalars at 0). Each class of buffers has a twin
/// in the half type `Half` (see [`read`]).
// `work` is comptime and `units` a runtime value: CubeCL has no `div_ceil` of the two.
#[allow(clippy::manual_div_ceil, clippy::too_many_arguments)]
#[cube(launch_unchecked)]
pub fn pointwise<F: Float, Half: Float, N: Size>(
    vectors: &Sequence<Box<[Vector<F, N>]>>,
    halves: &Sequence<Box<[Vector<Half, N>]>>,
    scalars: &Sequence<Box<[F]>>,
    half_scalars: &Sequence<Box<[Half]>>,
    labels: &Sequence<Box<[u32]>>,
    outputs: &mut Sequence<Box<[Vector<F, N>]>>,
    half_outputs: &mut Sequence<Box<[Vector<Half, N>]>>,
    #[comptime] program: Program,
) {
    let segments = comptime!(program.0.len());
    let row = comptime!(program.0[0].row);
    let work = comptime!(program.start(segments) / row);
    let units = CUBE_COUNT * usize::cast_from(CUBE_DIM);
    let chunk = (work + units - 1) / units;
    let start = ABSOLUTE_POS * chunk;
    let none = Sequence::new();
    for i in start..start + chunk {
        if i < work {
            if comptime!(row > 1) {
                // Index `i` is a row of the one segment.
                let steps = comptime!(program.0[0].steps);
                let e = i * row * N::value();
                for c in 0..row {
                    run_steps::<F, Half, N>(
                        vectors,
                        halves,
                        scalars,
                        half_scalars,
                        labels,
                        outputs,
                        half_outputs,
                        i * row + c,
                        e,
                        c * N::value(),
                        &none,
                        steps,
                    );
                }
            } else {
                #[unroll]
                for s in 0..segments {
                    let segment = comptime!(program.0[s]);
                    let first = comptime!(program.start(s));
                    if comptime!(segments == 1) {
                        run_steps::<F, Half, N>(
                            vectors,
                            halves,
                            scalars,
                            half_scalars,
                            labels,
                            outputs,
                            half_outputs,
                            i,
                            i * N::value(),
                            0,
                            &none,
                            segment.steps,
                        );
                    } else if i >= first && i < first + segment.work {
                        let j = i - first;
                        run_steps::<F, Half, N>(
                            vectors,
                            halves,
                            scalars,
                            half_scalars,
                            labels,
                            outputs,
                            half_outputs,
                            j,
                            j * N::value(),
                            0,
                            &none,
                            segment.steps,
                        );
                    }
                }
            }
        }
    }
}

/// `steps` at vector index `i`, whose first lane's element index `e` and `q` split (see
/// [`Axes`]), where [`Step::Acc`]`(k)` is `totals[k]`; returns the values they yield. Only
/// the pointwise, reduction and phased templates have `labels` to read (the others pass none).
// The sequences travel as separate arguments: bundled into `#[derive(CubeType)]` structs,
// the MNIST MLP's fastest step took 9% longer (`docs/performance.md`, "Mixed precision in
// the templates").
// `#[unroll]` unrolls a range, not an iterator.
#[allow(clippy::needless_range_loop, clippy::too_many_arguments)]
#[cube]
pub(crate) fn run_steps<F: Float, Half: Float, N: Size>(
    vectors: &Sequence<Box<[Vector<F, N>]>>,
    halves: &Sequence<Box<[Vector<Half, N>]>>,
    scalars: &Sequence<Box<[F]>>,
    half_scalars: &Sequence<Box<[Half]>>,
    labels: &Sequence<Box<[u32]>>,
    outputs: &mut Sequence<Box<[Vector<F, N>]>>,
    half_outputs: &mut Sequence<Box<[Vector<Half, N>]>>,
    i: usize,
    e: usize,
    q: usize,
    totals: &Sequence<Vector<F, N>>,
    #[comptime] steps: &'static [Step],
) -> Sequence<Vector<F, N>> {
    let mut values = Sequence::<Vector<F, N>>::new();
    #[unroll]
    for s in 0..steps.len() {
        let step = comptime!(steps[s]);
        match step {
            Step::Load(k) => values.push(read::<F, Half, N>(vectors, halves, i, k)),
            Step::Splat(k) => values.push(Vector::new(read_scalar::<F, Half>(scalars, half_scalars, 0, k))),
            Step::LoadFirst(k) => values.push(read::<F, Half, N>(vectors, halves, 0, k)),
            Step::LoadOutput(k) => values.push(read_output::<F, Half, N>(outputs, half_outputs, i, k)),
            Step::Gather(k, axes) => {
                values.push(read::<F, Half, N>(vectors, halves, offset(e, q, axes) / N::value(), k))
            }
            Step::SplatAt(k, axes) => {
                values.push(Vector::new(read_scalar::<F, Half>(scalars, half_scalars, offset(e, q, axes), k)))
            }
            Step::OneHot(k, label, class) => {
                let label = labels.index(k)[offset(e, q, label)];
                values.push(one_hot::<F, N>(label, offset(e, q, class)));
            }
            Step::Index(axes) => values.push(Vector::new(F::cast_from(offset(e, q, axes)))),
            Step::GatherOutput(k, axes) => {
                values.push(read_output::<F, Half, N>(outputs, half_outputs, offset(e, q, axes) / N::value(), k))
            }
            Step::Store(k, x) => {
                let x = *values.index(x);
                write::<F, Half, N>(outputs, half_outputs, i, x, k);
            }
            Step::StoreAt(k, axes, x) => {
                let x = *values.index(x);
                write::<F, Half, N>(outputs, half_outputs, offset(e, q, axes) / N::value(), x, k);
            }
            // Steps of row programs only.
            Step::LoadScalar(_) | Step::LoadRowOutput(_) | Step::StoreRow(..) => {}
            _ => values.push(computed::<F, N>(&values, totals, step)),
        }
    }
    values
}

/// Vector `index` of buffer `k` of a class whose buffers in `F` come first, then its twins in
/// the half type `Half`, `halves`: buffer `k` past the former is `halves[k - floats]`, widened
/// to `F`. A mixed-precision program stores its intermediates in `Half`; another has no halves
/// (and launches with `Half = F`).
#[cube]
pub(crate) fn read<F: Float, Half: Float, N: Size>(
    floats: &Sequence<Box<[Vector<F, N>]>>,
    halves: &Sequence<Box<[Vector<Half, N>]>>,
    index: usize,
    #[comptime] k: usize,
) -> Vector<F, N> {
    let first_half = comptime!(floats.len());
    if comptime!(k < first_half) {
        floats.index(k)[index]
    } else {
        Vector::<F, N>::cast_from(halves.index(comptime!(k - first_half))[index])
    }
}

/// Vector `index` of output `k`, as [`read`] finds it (an update in place, or an earlier
/// phase's result). A twin of [`read`] for the outputs' `&mut` sequences, which CubeCL's
/// expansion does not pass where `&` is asked for; [`read_row_output`] is `read_scalar`'s.
#[cube]
pub(crate) fn read_output<F: Float, Half: Float, N: Size>(
    floats: &mut Sequence<Box<[Vector<F, N>]>>,
    halves: &mut Sequence<Box<[Vector<Half, N>]>>,
    index: usize,
    #[comptime] k: usize,
) -> Vector<F, N> {
    let first_half = comptime!(floats.len());
    if comptime!(k < first_half) {
        floats.index(k)[index]
    } else {
        Vector::<F, N>::cast_from(halves.index(comptime!(k - first_half))[index])
    }
}

/// Element `index` of scalar buffer `k`, as [`read`] finds it.
#[cube]
pub(crate) fn read_scalar<F: Float, Half: Float>(
    floats: &Sequence<Box<[F]>>,
    halves: &Sequence<Box<[Half]>>,
    index: usize,
    #[comptime] k: usize,
) -> F {
    let first_half = comptime!(floats.len());
    if comptime!(k < first_half) {
        floats.index(k)[index]
    } else {
        F::cast_from(halves.index(comptime!(k - first_half))[index])
    }
}

/// Element `index` of row output `k`, as [`read`] finds it.
#[cube]
pub(crate) fn read_row_output<F: Float, Half: Float>(
    floats: &mut Sequence<Box<[F]>>,
    halves: &mut Sequence<Box<[Half]>>,
    index: usize,
    #[comptime] k: usize,
) -> F {
    let first_half = comptime!(floats.len());
    if comptime!(k < first_half) {
        floats.index(k)[index]
    } else {
        F::cast_from(halves.index(comptime!(k - first_half))[index])
    }
}

/// Stores `x` to vector `index` of output `k`, as [`read`] finds it (narrowed to a half).
#[cube]
pub(crate) fn write<F: Float, Half: Float, N: Size>(
    floats: &mut Sequence<Box<[Vector<F, N>]>>,
    halves: &mut Sequence<Box<[Vector<Half, N>]>>,
    index: usize,
    x: Vector<F, N>,
    #[comptime] k: usize,
) {
    let first_half = comptime!(floats.len());
    if comptime!(k < first_half) {
        floats.index_mut(k)[index] = x;
    } else {
        halves.index_mut(comptime!(k - first_half))[index] = convert::<F, Half, N>(x);
    }
}

/// Stores `x` to element `index` of row output `k`, as [`read`] finds it.
#[cube]
pub(crate) fn write_scalar<F: Float, Half: Float>(
    floats: &mut Sequence<Box<[F]>>,
    halves: &mut Sequence<Box<[Half]>>,
    index: usize,
    x: F,
    #[comptime] k: usize,
) {
    let first_half = comptime!(floats.len());
    if comptime!(k < first_half) {
        floats.index_mut(k)[index] = x;
    } else {
        halves.index_mut(comptime!(k - first_half))[index] = convert_scalar::<F, Half>(x);
    }
}

/// `x` in type `T`, rounded to nearest where that is narrower: to bf16 by integer arithmetic
/// (see `crate::to_bf16`), to another type by a cast (none where `T` is `F`).
#[allow(unused_variables)]
pub fn convert<F: Float, T: Float, N: Size>(x: Vector<F, N>) -> Vector<T, N> {
    cubecl::unexpanded!()
}

/// `x` in type `T`: [`convert()`] on one lane.
#[cube]
pub fn convert_scalar<F: Float, T: Float>(x: F) -> T {
    convert::<F, T, Const<1>>(Vector::new(x)).extract(0usize)
}

/// The expansion of [`convert()`]. A launched template's float types are placeholders until it
/// expands, which the launch maps to the types it names, so what `T` is can only be asked of
/// the scope: a comptime test of `T::MANTISSA_DIGITS` sees f32's, and bf16 stores were casts,
/// which LLVM lowers to calls of `__truncsfbf2` on a CPU without AVX512_BF16.
pub mod convert {
    use super::*;
    use cubecl::ir::interfaces::TypedExt;
    use cubecl::ir::Scope;

    /// Expands [`convert()`](super::convert()) for the types the scope maps `F` and `T` to.
    pub fn expand<F: Float, T: Float, N: Size>(
        scope: &Scope,
        x: NativeExpand<Vector<F, N>>,
    ) -> NativeExpand<Vector<T, N>> {
        let (from, to) = (F::__expand_as_type(scope), T::__expand_as_type(scope));
        let narrows_to_bf16 = to.is_bfloat16(scope.ctx()) && !from.is_bfloat16(scope.ctx());
        if narrows_to_bf16 {
            Vector::<T, N>::__expand_reinterpret(scope, super::to_bf16::expand::<F, N>(scope, x))
        } else {
            Vector::<T, N>::__expand_cast_from(scope, x)
        }
    }
}

/// `steps` at vector index `i` of a product's output, with its sum as [`Step::Acc`]`(0)`.
#[allow(clippy::too_many_arguments)]
#[cube]
pub(crate) fn run_epilogue<F: Float, Half: Float, N: Size>(
    vectors: &Sequence<Box<[Vector<F, N>]>>,
    halves: &Sequence<Box<[Vector<Half, N>]>>,
    scalars: &Sequence<Box<[F]>>,
    half_scalars: &Sequence<Box<[Half]>>,
    outputs: &mut Sequence<Box<[Vector<F, N>]>>,
    half_outputs: &mut Sequence<Box<[Vector<Half, N>]>>,
    i: usize,
    acc: Vector<F, N>,
    #[comptime] steps: &'static [Step],
) {
    let totals = single(acc);
    let labels = Sequence::new();
    run_steps::<F, Half, N>(
        vectors,
        halves,
        scalars,
        half_scalars,
        &labels,
        outputs,
        half_outputs,
        i,
        i * N::value(),
        0,
        &totals,
        steps,
    );
}

/// The one-value sequence `[x]`.
#[cube]
pub(crate) fn single<F: Float, N: Size>(x: Vector<F, N>) -> Sequence<Vector<F, N>> {
    let mut values = Sequence::new();
    values.push(x);
    values
}

/// A row program's `steps` at element `i` of its outputs (see `crate::product`), on vectors
/// whose lanes all hold the same value, where [`Step::Acc`]`(k)` is `totals[k]`.
// `#[unroll]` unrolls a range, not an iterator.
#[allow(clippy::needless_range_loop)]
#[cube]
pub(crate) fn run_row_steps<F: Float, Half: Float, N: Size>(
    scalars: &Sequence<Box<[F]>>,
    half_scalars: &Sequence<Box<[Half]>>,
    row_outputs: &mut Sequence<Box<[F]>>,
    half_row_outputs: &mut Sequence<Box<[Half]>>,
    i: usize,
    totals: &Sequence<Vector<F, N>>,
    #[comptime] steps: &'static [Step],
) {
    let mut values = Sequence::<Vector<F, N>>::new();
    #[unroll]
    for s in 0..steps.len() {
        let step = comptime!(steps[s]);
        match step {
            Step::Splat(k) => values.push(Vector::new(read_scalar::<F, Half>(scalars, half_scalars, 0, k))),
            Step::LoadScalar(k) => values.push(Vector::new(read_scalar::<F, Half>(scalars, half_scalars, i, k))),
            Step::LoadRowOutput(k) => {
                values.push(Vector::new(read_row_output::<F, Half>(row_outputs, half_row_outputs, i, k)))
            }
            Step::StoreRow(k, x) => {
                let x = *values.index(x);
                write_scalar::<F, Half>(row_outputs, half_row_outputs, i, x.extract(0usize), k);
            }
            // Steps of vector programs only.
            Step::Load(_)
            | Step::LoadFirst(_)
            | Step::LoadOutput(_)
            | Step::Gather(..)
            | Step::SplatAt(..)
            | Step::OneHot(..)
            | Step::Index(..)
            | Step::GatherOutput(..)
            | Step::Store(..)
            | Step::StoreAt(..) => {}
            _ => values.push(computed::<F, N>(&values, totals, step)),
        }
    }
}

/// 1 in the lane whose class (`first` plus the lane's place) is `label`, 0 in the others.
#[cube]
pub fn one_hot<F: Float, N: Size>(label: u32, first: usize) -> Vector<F, N> {
    let mut lanes = Vector::<F, N>::new(F::new(0.0));
    #[unroll]
    for j in 0..N::value() {
        lanes.insert(j, select(label == u32::cast_from(first + j), F::new(1.0), F::new(0.0)));
    }
    lanes
}

/// The element offset `axes` give for the element `e` and `q` split.
#[cube]
fn offset(e: usize, q: usize, #[comptime] axes: Axes) -> usize {
    axes_offset(e, axes.0) + axes_offset(q, axes.1) + comptime!(axes.2)
}

/// The sum over `axes` of `((index / divisor) % size) * stride`.
// `#[unroll]` unrolls a range, not an iterator.
#[allow(clippy::needless_range_loop)]
#[cube]
pub(crate) fn axes_offset(index: usize, #[comptime] axes: &'static [Axis]) -> usize {
    let mut offset = 0usize;
    #[unroll]
    for a in 0..axes.len() {
        let Axis(divisor, size, stride) = comptime!(axes[a]);
        if comptime!(size == 0) {
            offset += (index / divisor) * stride;
        } else {
            offset += ((index / divisor) % size) * stride;
        }
    }
    offset
}

/// The value of a step that reads and stores no buffer: a constant, a total or an op of
/// earlier values (the callers run every step that touches a buffer).
#[cube]
fn computed<F: Float, N: Size>(
    values: &Sequence<Vector<F, N>>,
    totals: &Sequence<Vector<F, N>>,
    #[comptime] step: Step,
) -> Vector<F, N> {
    match step {
        Step::Acc(k) => *totals.index(k),
        Step::Const(bits) => Vector::new(F::new(comptime!(f32::from_bits(bits)))),
        Step::Unary(op, x) => {
            let x = *values.index(x);
            unary::<F, N>(x, op)
        }
        Step::Binary(op, x, y) => {
            let x = *values.index(x);
            let y = *values.index(y);
            binary::<F, N>(x, y, op)
        }
        Step::Select(c, x, y) => {
            let c = *values.index(c);
            let x = *values.index(x);
            let y = *values.index(y);
            select_many(c.greater_than(&Vector::new(F::new(0.0))), x, y)
        }
        _ => unreachable!(),
    }
}

#[cube]
fn unary<F: Float, N: Size>(x: Vector<F, N>, #[comptime] op: Unary) -> Vector<F, N> {
    let zero = Vector::<F, N>::new(F::new(0.0));
    let one = Vector::<F, N>::new(F::new(1.0));
    match op {
        Unary::Neg => -x,
        Unary::Exp => x.exp(),
        Unary::Log => x.ln(),
        Unary::Sqrt => x.sqrt(),
        Unary::Recip => x.recip(),
        Unary::Abs => x.abs(),
        Unary::Tanh => x.tanh(),
        Unary::Sigmoid => {
            let floor = Vector::<F, N>::new(F::new(SIGMOID_FLOOR));
            (one + (-<Vector<F, N> as FloatOps>::max(x, floor)).exp()).recip()
        }
        Unary::Erf => x.erf(),
        Unary::Relu => <Vector<F, N> as FloatOps>::max(x, zero),
        Unary::Sign => select_many(x.greater_than(&zero), one, zero) - select_many(x.less_than(&zero), one, zero),
    }
}

#[cube]
fn binary<F: Float, N: Size>(x: Vector<F, N>, y: Vector<F, N>, #[comptime] op: Binary) -> Vector<F, N> {
    let zero = Vector::<F, N>::new(F::new(0.0));
    let one = Vector::<F, N>::new(F::new(1.0));
    match op {
        Binary::Add => x + y,
        Binary::Sub => x - y,
        Binary::Mul => x * y,
        Binary::Div => x / y,
        Binary::Pow => Powf::powf(x, y),
        Binary::Max => <Vector<F, N> as FloatOps>::max(x, y),
        Binary::Min => <Vector<F, N> as FloatOps>::min(x, y),
        Binary::Greater => select_many(x.greater_than(&y), one, zero),
        Binary::Equal => select_many(x.equal(&y), one, zero),
    }
}

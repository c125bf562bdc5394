//! Programs for the library's pointwise template (`kiln_kernels::pointwise`): the steps a
//! fused chain of pointwise ops runs at each vector index, one segment per chain where
//! independent chains share a launch; and the epilogues of its product templates
//! (`kiln_kernels::product`) and the loops and epilogue of its reduction template
//! (`kiln_kernels::reduction`). [`Recorder`] writes them while `kernel::Expr` emits the same
//! chains as text; chains whose every read and store has a step launch a template with their
//! program instead of a kernel of their own.

use crate::ir::{BinaryOp, ReduceOp, UnaryOp};
use std::collections::HashMap;

/// One step of a program (see `kiln_kernels::steps::Step`). Operands are value numbers: the
/// count of value-yielding steps before the one that yields it.
#[derive(Clone, PartialEq, Debug)]
enum Step {
    /// Vector `i` of the kernel's input argument `k` (renumbered among the vector inputs
    /// when the program is written).
    Load(usize),
    /// Element 0 of input argument `k`, splat (renumbered among the scalar inputs).
    Splat(usize),
    /// Vector 0 of input argument `k`, one lane wide (renumbered among the vector inputs).
    LoadFirst(usize),
    /// Vector `i` of output `k` before it is stored (an update in place).
    LoadOutput(usize),
    Const(f64),
    /// Total `k`: a product's accumulator or a reduction loop's result.
    Acc(usize),
    /// The vector of input argument `arg` at an offset made of coordinates of the element
    /// index (see `kiln_kernels::steps::Axes`).
    Gather {
        arg: usize,
        axes: GatherAxes,
    },
    /// The element of input argument `arg` at the offset a `Gather` of the same `axes`
    /// computes, splat (renumbered among the scalar inputs).
    SplatAt {
        arg: usize,
        axes: GatherAxes,
    },
    Unary(UnaryOp, usize),
    Binary(BinaryOp, usize, usize),
    Select(usize, usize, usize),
    /// A one-hot row along the last axis, at the label input argument `arg` holds at the
    /// offset `axes` give (renumbered among the label inputs), its first lane's class the
    /// offset `class` gives.
    OneHot {
        arg: usize,
        axes: GatherAxes,
        class: GatherAxes,
    },
    /// The offset the axes give, as a value: an axis's coordinate.
    Index(GatherAxes),
    /// The vector of output `k` at the offset the axes give, stored by an earlier phase.
    GatherOutput(usize, GatherAxes),
    /// Stores a value to vector `i` of output `k`.
    Store(usize, usize),
    /// Stores a value to output `k` at the offset `axes` give.
    StoreAt(usize, GatherAxes, usize),
    /// Element `i` of input argument `k`, splat (a row program's; renumbered among the scalar
    /// inputs).
    LoadScalar(usize),
    /// Element `i` of a row program's output `k`, splat.
    LoadRowOutput(usize),
    /// Stores lane 0 of a value to element `i` of a row program's output `k`.
    StoreRow(usize, usize),
}

/// A finished phase of a phased kernel (see `kernel::phased`): the indices it covers and its
/// steps (a reduction's epilogue), and a reduction's trips and loops.
struct Phase {
    work: usize,
    steps: Vec<Step>,
    reduction: Option<(usize, Vec<Loop>)>,
}

/// A finished loop of a reduction: how it combines which of its values, and its steps.
type Loop = (ReduceOp, usize, Vec<Step>);

/// The axes a gather's offset is made of, as `(divisor, size, stride)`: those over the row's
/// (or output's) element index, then those over the place in it, and the start of the slice
/// it reads (see `kiln_kernels::steps::Axes`).
pub(super) type GatherAxes = (Vec<(usize, usize, usize)>, Vec<(usize, usize, usize)>, usize);

/// The program of the kernel `Expr` is emitting, keyed by the text of each value it emits.
#[derive(Default)]
pub(super) struct Recorder {
    /// The finished segments: vector indices covered, and steps.
    segments: Vec<(usize, Vec<Step>)>,
    /// The finished loops of a reduction: how each combines which of its values, and its
    /// steps.
    loops: Vec<Loop>,
    /// The finished phases of a phased kernel.
    phases: Vec<Phase>,
    /// The steps of the segment being emitted.
    steps: Vec<Step>,
    /// The value number of each of its emitted expressions' text (`t12`, `in0[i]`, a constant).
    values: HashMap<String, usize>,
    /// Whether something was emitted that the template cannot run.
    unsupported: bool,
}

impl Recorder {
    /// Marks the kernel as one the template cannot run.
    pub(super) fn unsupported(&mut self) {
        self.unsupported = true;
    }

    /// Whether every emitted read, op and store has a step.
    pub(super) fn complete(&self) -> bool {
        !self.unsupported
    }

    /// Whether a finished segment reads or stores through coordinates (a gather, a one-hot
    /// row, an index).
    pub(super) fn gathers(&self) -> bool {
        let mut steps = self.segments.iter().flat_map(|(_, steps)| steps);
        steps.any(|step| {
            matches!(
                step,
                Step::Gather { .. }
                    | Step::SplatAt { .. }
                    | Step::StoreAt(..)
                    | Step::OneHot { .. }
                    | Step::Index(..)
                    | Step::GatherOutput(..)
            )
        })
    }

    /// Ends the segment being emitted, which covers `work` vector indices.
    pub(super) fn end_segment(&mut self, work: usize) {
        self.segments.push((work, std::mem::take(&mut self.steps)));
        self.values.clear();
    }

    /// Ends a reduction's loop, which combines the value `value` names by `op`.
    pub(super) fn end_loop(&mut self, op: ReduceOp, value: &str) {
        if let Some(value) = self.value(value) {
            self.loops.push((op, value, std::mem::take(&mut self.steps)));
        }
        self.values.clear();
    }

    /// Ends a phase of a phased kernel: the segment just finished (a pointwise chain, or the
    /// epilogue of a reduction of `trips` trips whose loops were just finished).
    pub(super) fn end_phase(&mut self, trips: Option<usize>) {
        let Some((work, steps)) = self.segments.pop() else { return self.unsupported() };
        let reduction = trips.map(|trips| (trips, std::mem::take(&mut self.loops)));
        self.phases.push(Phase { work, steps, reduction });
    }

    /// The number of the value `text` names, if one was recorded.
    fn value(&mut self, text: &str) -> Option<usize> {
        let value = self.values.get(text).copied();
        self.unsupported |= value.is_none();
        value
    }

    /// Records `text` as the value of `step` (once: the same text is the same value).
    fn define(&mut self, text: &str, step: Step) {
        if !self.values.contains_key(text) {
            self.values.insert(text.to_string(), self.values.len());
            self.steps.push(step);
        }
    }

    /// `text` reads vector `i` of input argument `arg`.
    pub(super) fn load(&mut self, text: &str, arg: usize) {
        self.define(text, Step::Load(arg));
    }

    /// `text` reads vector 0 of input argument `arg`, one lane wide.
    pub(super) fn load_first(&mut self, text: &str, arg: usize) {
        self.define(text, Step::LoadFirst(arg));
    }

    /// `text` reads element 0 of input argument `arg` into every lane.
    pub(super) fn splat(&mut self, text: &str, arg: usize) {
        self.define(text, Step::Splat(arg));
    }

    /// `text` reads vector `i` of output `k`.
    pub(super) fn load_output(&mut self, text: &str, k: usize) {
        self.define(text, Step::LoadOutput(k));
    }

    /// `text` is total `k`: a product's accumulator or a reduction loop's result.
    pub(super) fn acc(&mut self, text: &str, k: usize) {
        self.define(text, Step::Acc(k));
    }

    /// `text` reads input argument `arg` through coordinates of the element index of the
    /// vector's first lane: the vector at the offset `axes` give.
    pub(super) fn gather(&mut self, text: &str, arg: usize, axes: GatherAxes) {
        self.define(text, Step::Gather { arg, axes });
    }

    /// `text` reads the element of input argument `arg` at the offset [`Recorder::gather`]
    /// computes into every lane.
    pub(super) fn splat_at(&mut self, text: &str, arg: usize, axes: GatherAxes) {
        self.define(text, Step::SplatAt { arg, axes });
    }

    /// `text` is a one-hot row along the last axis, at the label input argument `arg` holds
    /// at the offset `axes` give, its first lane's class the offset `class` gives.
    pub(super) fn one_hot(&mut self, text: &str, arg: usize, axes: GatherAxes, class: GatherAxes) {
        self.define(text, Step::OneHot { arg, axes, class });
    }

    /// `text` is the offset `axes` give: an axis's coordinate.
    pub(super) fn index(&mut self, text: &str, axes: GatherAxes) {
        self.define(text, Step::Index(axes));
    }

    /// `text` reads output `k`, stored by an earlier phase, at the offset `axes` give.
    pub(super) fn gather_output(&mut self, text: &str, k: usize, axes: GatherAxes) {
        self.define(text, Step::GatherOutput(k, axes));
    }

    /// `text` reads element `i` of input argument `arg` into every lane.
    pub(super) fn load_scalar(&mut self, text: &str, arg: usize) {
        self.define(text, Step::LoadScalar(arg));
    }

    /// `text` reads element `i` of row output `k` into every lane.
    pub(super) fn load_row_output(&mut self, text: &str, k: usize) {
        self.define(text, Step::LoadRowOutput(k));
    }

    /// Stores lane 0 of the value `value` names to element `i` of row output `k`.
    pub(super) fn store_row(&mut self, k: usize, value: &str) {
        if let Some(value) = self.value(value) {
            self.steps.push(Step::StoreRow(k, value));
        }
    }

    /// `text` is the constant `value` in every lane.
    pub(super) fn constant(&mut self, text: &str, value: f64) {
        self.define(text, Step::Const(value));
    }

    /// `text` is `op` of the value `x` names.
    pub(super) fn unary(&mut self, text: &str, op: UnaryOp, x: &str) {
        if let Some(x) = self.value(x) {
            self.define(text, Step::Unary(op, x));
        }
    }

    /// `text` is `op` of the values `x` and `y` name.
    pub(super) fn binary(&mut self, text: &str, op: BinaryOp, x: &str, y: &str) {
        if let (Some(x), Some(y)) = (self.value(x), self.value(y)) {
            self.define(text, Step::Binary(op, x, y));
        }
    }

    /// `text` is `x` where `c` is above 0, else `y`.
    pub(super) fn select(&mut self, text: &str, c: &str, x: &str, y: &str) {
        if let (Some(c), Some(x), Some(y)) = (self.value(c), self.value(x), self.value(y)) {
            self.define(text, Step::Select(c, x, y));
        }
    }

    /// Stores the value `value` names to vector `i` of output `k`.
    pub(super) fn store(&mut self, k: usize, value: &str) {
        if let Some(value) = self.value(value) {
            self.steps.push(Step::Store(k, value));
        }
    }

    /// Stores the value `value` names to output `k` at the offset `axes` give.
    pub(super) fn store_at(&mut self, k: usize, axes: GatherAxes, value: &str) {
        if let Some(value) = self.value(value) {
            self.steps.push(Step::StoreAt(k, axes, value));
        }
    }

    /// The program as a `kiln_kernels::steps::Program` constant, its input arguments
    /// renumbered: `inputs.vectors[j]` is the argument the template's vector input `j` is,
    /// and so on. A program of one segment runs by rows of `row` vectors where that is
    /// above 1.
    pub(super) fn program(&self, inputs: &Inputs, row: usize) -> String {
        let segments: Vec<String> = self
            .segments
            .iter()
            .map(|(work, steps)| format!("Segment {{ work: {work}, row: {row}, steps: &[{}] }}", render(steps, inputs)))
            .collect();
        format!("Program(&[{}])", segments.join(", "))
    }

    /// The finished loops as a list of `kiln_kernels::reduction::Loop` expressions (a fold's
    /// tap is one), renumbered as [`Recorder::program`] does.
    pub(super) fn loops(&self, inputs: &Inputs) -> String {
        render_loops(&self.loops, inputs)
    }

    /// The finished phases as a `kiln_kernels::phases::Phases` constant, renumbered as
    /// [`Recorder::program`] does.
    pub(super) fn phases(&self, inputs: &Inputs) -> String {
        let phases: Vec<String> = self
            .phases
            .iter()
            .map(|Phase { work, steps, reduction }| match reduction {
                None => format!("Phase::Pointwise(Segment {{ work: {work}, row: 1, steps: &[{}] }})", render(steps, inputs)),
                Some((trips, loops)) => format!(
                    "Phase::Reduce(Reduction {{ work: {work}, trips: {trips}, lanes: 1, across_lanes: false, loops: &[{}], \
                     epilogue: &[{}] }})",
                    render_loops(loops, inputs),
                    render(steps, inputs)
                ),
            })
            .collect();
        format!("Phases(&[{}])", phases.join(", "))
    }

    /// The recorded loops, then the last finished segment as their epilogue, as the fields
    /// `loops` and `epilogue` of a `kiln_kernels::reduction::Reduction`, renumbered as
    /// [`Recorder::program`] does.
    pub(super) fn reduction(&self, inputs: &Inputs) -> String {
        let epilogue = self.segments.last().map_or(&[][..], |(_, steps)| steps);
        format!("loops: &[{}], epilogue: &[{}]", render_loops(&self.loops, inputs), render(epilogue, inputs))
    }

    /// Finished segment `segment` as a `kiln_kernels::product::Epilogue` constant (empty if
    /// there is no such segment), renumbered as [`Recorder::program`] does.
    pub(super) fn epilogue(&self, segment: usize, inputs: &Inputs) -> String {
        let steps = self.segments.get(segment).map_or(&[][..], |(_, steps)| steps);
        format!("Epilogue(&[{}])", render(steps, inputs))
    }
}

/// A template's buffers, by how it reads or stores them: each list holds the kernel's
/// argument numbers (or the recorded numbers of its outputs) in the order of the template's
/// sequences of that class, those in the compute type first, then the halves (see
/// `kiln_kernels::steps::read`).
pub(super) struct Inputs {
    /// Read a vector at a time.
    pub vectors: Vec<usize>,
    /// Read an element at a time, into every lane.
    pub scalars: Vec<usize>,
    /// Class labels (`u32`), read by one-hot steps.
    pub labels: Vec<usize>,
    /// Stored a vector at a time.
    pub outputs: Vec<usize>,
    /// Stored an element at a time, by a row program.
    pub row_outputs: Vec<usize>,
}

/// `steps` as a list of `kiln_kernels::steps::Step` expressions, buffers renumbered among
/// `inputs`' lists. The generated module imports the variants of `Step` and `Binary`, so a
/// step reads `Binary(Mul, 0, 1)`; not those of `Unary`, whose names (`Exp`, `Log`) are also
/// CubeCL's traits for the ops, which its kernels call as methods.
fn render(steps: &[Step], inputs: &Inputs) -> String {
    let position = |list: &[usize], arg: usize| list.iter().position(|&a| a == arg).expect("a recorded buffer");
    let (vectors, scalars) = (&inputs.vectors[..], &inputs.scalars[..]);
    let (outputs, rows) = (&inputs.outputs[..], &inputs.row_outputs[..]);
    let step = |step: &Step| match step {
        Step::Load(arg) => format!("Load({})", position(vectors, *arg)),
        Step::Splat(arg) => format!("Splat({})", position(scalars, *arg)),
        Step::LoadFirst(arg) => format!("LoadFirst({})", position(vectors, *arg)),
        Step::LoadOutput(k) => format!("LoadOutput({})", position(outputs, *k)),
        Step::Const(c) => format!("Step::constant({:?})", *c as f32),
        Step::Acc(k) => format!("Acc({k})"),
        Step::Gather { arg, axes } => format!("Gather({}, {})", position(vectors, *arg), gather(axes)),
        Step::SplatAt { arg, axes } => format!("SplatAt({}, {})", position(scalars, *arg), gather(axes)),
        Step::Unary(op, x) => format!("Unary(Unary::{op:?}, {x})"),
        Step::Binary(op, x, y) => format!("Binary({op:?}, {x}, {y})"),
        Step::Select(c, x, y) => format!("Select({c}, {x}, {y})"),
        Step::OneHot { arg, axes, class } => {
            format!("OneHot({}, {}, {})", position(&inputs.labels, *arg), gather(axes), gather(class))
        }
        Step::Index(axes) => format!("Index({})", gather(axes)),
        Step::GatherOutput(k, axes) => format!("GatherOutput({}, {})", position(outputs, *k), gather(axes)),
        Step::Store(k, x) => format!("Store({}, {x})", position(outputs, *k)),
        Step::StoreAt(k, axes, x) => format!("StoreAt({}, {}, {x})", position(outputs, *k), gather(axes)),
        Step::LoadScalar(arg) => format!("LoadScalar({})", position(scalars, *arg)),
        Step::LoadRowOutput(k) => format!("LoadRowOutput({})", position(rows, *k)),
        Step::StoreRow(k, x) => format!("StoreRow({}, {x})", position(rows, *k)),
    };
    steps.iter().map(step).collect::<Vec<_>>().join(", ")
}

/// `loops` (how each combines which of its values, and its steps) as a list of
/// `kiln_kernels::reduction::Loop` expressions, renumbered as [`render`] does.
fn render_loops(loops: &[Loop], inputs: &Inputs) -> String {
    let loops: Vec<String> = loops
        .iter()
        .map(|(op, value, steps)| {
            let combine = match op {
                ReduceOp::Sum => "Sum",
                ReduceOp::Max => "Max",
            };
            format!("Loop {{ combine: Combine::{combine}, value: {value}, steps: &[{}] }}", render(steps, inputs))
        })
        .collect();
    loops.join(", ")
}

/// A `kiln_kernels::steps::Axes` expression.
fn gather((outer, inner, start): &GatherAxes) -> String {
    let list = |axes: &[(usize, usize, usize)]| {
        let axes: Vec<String> =
            axes.iter().map(|(divisor, size, stride)| format!("Axis({divisor}, {size}, {stride})")).collect();
        axes.join(", ")
    };
    format!("Axes(&[{}], &[{}], {start})", list(outer), list(inner))
}

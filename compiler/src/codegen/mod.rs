//! Emits a program as Rust source: CubeCL kernels plus a typed trainer struct.

mod direct_conv;
#[cfg(test)]
mod filetests;
mod kernel;
mod launch_plan;
pub mod memory;
mod predictor;
mod report;
mod schedule;
mod steps;
mod storage;
mod window;
mod writer;

pub use schedule::{schedule, Role, Schedule};

use crate::ir::{Init, Op, ValueId};
use crate::optim::Precision;
use crate::program::Program;
use crate::target::{LAUNCH_COST_IN_INDICES, PHASED_ELEMENTS};
use kernel::Kernel;
use launch_plan::LaunchPlans;
use std::collections::BTreeMap;
use storage::Storage;
use writer::Writer;

/// The generated source of a program.
pub fn emit(p: &Program) -> String {
    emit_with_report(p).0
}

/// The generated source of a program and its compile report (kernels after fusion, what was
/// fused into each, FLOPs and bytes per call, the memory plan, the source's size).
pub fn emit_with_report(p: &Program) -> (String, String) {
    emit_artifact(p, Artifact::Trainer)
}

/// The generated source of a program's predictor: inference only, with no backward kernels,
/// optimizer state or learning rate (see [`predictor`]).
pub fn emit_predictor(p: &Program) -> String {
    emit_artifact(p, Artifact::Predictor).0
}

/// What a generated file holds.
#[derive(Clone, Copy, PartialEq)]
enum Artifact {
    /// The trainer: train step, predict, evaluate, exposed values, checkpoints.
    Trainer,
    /// The predictor: `predict` alone, loading a trainer's checkpoint or a `state_dict`.
    Predictor,
}

fn emit_artifact(p: &Program, artifact: Artifact) -> (String, String) {
    let p = &direct_conv::rewrite(p);
    let g = &p.graph;
    if cfg!(any(test, debug_assertions)) {
        if let Err(v) = crate::ir::verify(g) {
            panic!("internal: direct convolution broke the IR: {}", v.message);
        }
    }
    let in_place: Vec<(ValueId, ValueId)> = p
        .params
        .iter()
        .map(|q| (q.update, q.value))
        .chain(p.state.iter().chain(&p.statistics).map(|s| (s.update, s.value)))
        .chain(p.accumulators.iter().map(|a| (a.next, a.value)))
        .collect();
    let mut entries = match artifact {
        Artifact::Trainer => vec![
            Entry::new(g, p.fuse, "train", p.train_roots(), &in_place),
            Entry::new(g, p.fuse, "predict", vec![p.eval_output], &[]),
            Entry::new(g, p.fuse, "evaluate", vec![p.eval_loss, p.eval_output], &[]),
        ],
        Artifact::Predictor => vec![Entry::new(g, p.fuse, "predict", vec![p.eval_output], &[])],
    };
    // The micro-batches of an accumulated step.
    if p.accumulate > 1 && artifact == Artifact::Trainer {
        let (first_roots, next_roots) = p.accumulate_roots();
        let statistics_in_place = p.statistics.iter().map(|s| (s.update, s.value));
        let first: Vec<(ValueId, ValueId)> =
            p.accumulators.iter().map(|a| (a.first, a.value)).chain(statistics_in_place.clone()).collect();
        let next: Vec<(ValueId, ValueId)> =
            p.accumulators.iter().map(|a| (a.next, a.value)).chain(statistics_in_place).collect();
        entries.push(Entry::new(g, p.fuse, "start", first_roots, &first));
        entries.push(Entry::new(g, p.fuse, "accumulate", next_roots, &next));
    }
    if artifact == Artifact::Trainer {
        entries.extend(p.exposed.iter().map(|e| Entry::new(g, p.fuse, &e.name, vec![e.value], &[])));
    }

    // Buffers: every value that owns one in any entry point, in value order.
    let mut slots: BTreeMap<ValueId, usize> = BTreeMap::new();
    for e in &entries {
        for layout in e.schedule.layouts.iter().flatten() {
            slots.entry(layout.buffer).or_insert(0);
        }
    }
    // A frozen parameter keeps its buffer (and checkpoint entry) even if no entry point reads it.
    for f in &p.frozen {
        slots.entry(f.value).or_insert(0);
    }
    for (i, slot) in slots.values_mut().enumerate() {
        *slot = i;
    }

    // What outlives one entry point: external tensors and every entry point's results.
    let mut persistent: Vec<ValueId> = entries.iter().flat_map(|e| e.roots.iter().map(|&r| e.buffer_of(r))).collect();
    persistent.extend(
        slots.keys().filter(|&&v| matches!(g.nodes[v].op, Op::Input { .. } | Op::Labels { .. } | Op::Param { .. })),
    );
    // Mixed precision stores what no entry point returns (the intermediates) in half.
    let storage = Storage::new(p.precision, p.target, slots.keys().copied().filter(|v| !persistent.contains(v)));

    // Each distinct kernel source once, named after the first value it computes.
    let mut sources: Vec<NamedSource> = vec![];
    let mut plan = |s: &Schedule| -> Vec<(ValueId, Kernel)> {
        plan_kernels(g, s, &storage, p.fuse)
            .into_iter()
            .map(|(v, mut k)| {
                if let Some(source) = k.source.take() {
                    k.function = match sources.iter().find(|named| named.source == source) {
                        Some(named) => named.name.clone(),
                        None => {
                            let taken = |name: &str| sources.iter().any(|named| named.name == name);
                            let name = (0..).map(|n| kernel_name(v, n)).find(|name| !taken(name)).expect("a free name");
                            sources.push(NamedSource { name: name.clone(), value: v, source });
                            name
                        }
                    };
                }
                (v, k)
            })
            .collect()
    };
    let kernels: Vec<Vec<(ValueId, Kernel)>> = entries.iter().map(|e| plan(&e.schedule)).collect();
    let launches: Vec<(&str, &[(ValueId, Kernel)])> =
        entries.iter().zip(&kernels).map(|(e, k)| (e.name, &k[..])).collect();
    // The buffer each gradient ends in (an accumulator's, when gradients accumulate), if kept.
    let grad_buffers: Vec<ValueId> = match artifact {
        Artifact::Trainer => {
            p.params.iter().filter(|_| p.keep_gradients).map(|q| entries[0].buffer_of(q.grad)).collect()
        }
        Artifact::Predictor => vec![],
    };

    let plan = memory_plan(p, &storage, &slots, &launches, &persistent);
    // Roots that are contiguous views (a reshaped gradient) are read from their source's buffer.
    let aliases: BTreeMap<ValueId, ValueId> = entries
        .iter()
        .flat_map(|e| e.roots.iter().map(move |&r| (r, e.buffer_of(r))))
        .filter(|(r, buffer)| r != buffer)
        .collect();
    let report_entries: Vec<report::Entry> = entries
        .iter()
        .zip(&kernels)
        .map(|(e, kernels)| report::Entry { name: e.name, schedule: &e.schedule, kernels })
        .collect();
    let report = report::report(p, &report_entries, &plan, &slots, &storage);

    let launch_plans = LaunchPlans::new(&launches);
    let mut w = Writer::default();
    let module = match artifact {
        Artifact::Trainer => p.module_name(),
        Artifact::Predictor => format!("{}_predictor", p.module_name()),
    };
    w.line(&format!(
        "// @generated by kiln-compiler {} from model `{}`. Do not edit.",
        env!("CARGO_PKG_VERSION"),
        p.name
    ));
    match artifact {
        Artifact::Trainer => w.line(&format!(
            "// Train step: {} kernels; predict: {} kernels; evaluate: {} kernels; {} buffers.",
            kernels[0].len(),
            kernels[1].len(),
            kernels[2].len(),
            slots.len()
        )),
        Artifact::Predictor => w.line(&format!("// Predict: {} kernels; {} buffers.", kernels[0].len(), slots.len())),
    }
    w.blank();
    w.line(&format!("/// The `{}` model compiled by kiln.", p.name));
    w.line("#[allow(clippy::all, unused_imports, unused_variables, unused_parens, non_snake_case)]");
    w.open(&format!("pub mod {module} {{"));
    w.line("use kiln_runtime::cubecl;");
    w.line("use kiln_runtime::cubecl::prelude::*;");
    w.line("use kiln_runtime::plan::{Grid, Launch};");
    if launch_plans.launches_templates() {
        w.line("use kiln_runtime::kernels::product::{Epilogue, NnTiling, NtTiling};");
        w.line("use kiln_runtime::kernels::reduction::{Combine, Loop, Reduction};");
        w.line("use kiln_runtime::kernels::window::{Coord, UnfoldLayout};");
        w.line("use kiln_runtime::templates::Template;");
        w.line("use kiln_runtime::kernels::steps::{Axes, Axis, Binary, Binary::*, Program, Segment, Step, Step::*, Unary};");
    }
    w.line("use kiln_runtime::{Arena, Device, Error};");
    if let Some(half) = p.precision.half() {
        w.line(&format!("use kiln_runtime::half::{};", half.rust_type()));
    }
    for named in &sources {
        w.blank();
        w.line(&format!("/// {}", describe(p, named.value)));
        for line in named.source.replace(kernel::SLOT, &named.name).lines() {
            w.line(line);
        }
    }
    launch_plans.emit_launchers(&mut w);
    w.blank();
    match artifact {
        Artifact::Trainer => emit_trainer(&mut w, p, &slots, &aliases, &plan, &launch_plans, &grad_buffers),
        Artifact::Predictor => predictor::emit(&mut w, p, &slots, &aliases, &plan, &launch_plans),
    }
    w.close("}");
    let source = w.finish();
    let report = format!(
        "{report}source: {} bytes of Rust, {} kernel functions and {} launchers for {} launches\n",
        source.len(),
        sources.len(),
        launch_plans.launchers(),
        kernels.iter().map(Vec::len).sum::<usize>()
    );
    (source, report)
}

/// A generated kernel's source (its functions named [`kernel::SLOT`]), the name the emitter
/// gives it, and the value it was first planned for, which its doc comment describes.
struct NamedSource {
    name: String,
    value: ValueId,
    source: String,
}

/// `k{v}`, then `k{v}_2`, `k{v}_3`... for the `n`th distinct source whose first value is `v`
/// (entry points number their values alike).
fn kernel_name(v: ValueId, n: usize) -> String {
    match n {
        0 => format!("k{v}"),
        n => format!("k{v}_{}", n + 1),
    }
}

/// The kernels of schedule `s` in launch order, each with the last value it computes (a
/// product's own, when it has an epilogue). With `fuse`:
/// - a product takes the pointwise kernels that read it as its epilogue (see [`with_epilogue`]);
/// - runs of consecutive pointwise kernels over one shape share a kernel (see
///   [`kernel::multi_output`]), as do runs of reductions over the same axes of one shape (see
///   [`kernel::multi_reduce`]);
/// - runs of such kernels that read nothing another writes share one as segments (see
///   [`kernel::segmented`]);
/// - runs of small ones share one phased kernel (see [`merge_phased`]).
///
/// A shared kernel is launched where its last value was, with nothing launched in between, so
/// every read and write keeps its order.
fn plan_kernels(g: &crate::ir::Graph, s: &Schedule, storage: &Storage, fuse: bool) -> Vec<(ValueId, Kernel)> {
    let mut planned = vec![];
    let mut rest = s.kernels.clone();
    let mut effects = Effects::default();
    // Row-sum reductions moved to a later product's tiles: product -> reduction.
    let mut deferred: BTreeMap<ValueId, ValueId> = BTreeMap::new();
    while let Some(&first) = rest.first() {
        if fuse && matches!(g.nodes[first].op, Op::MatMul(..)) {
            let row_sums = deferred.remove(&first);
            let (product, epilogue) = with_epilogue(g, s, storage, &rest, row_sums, &mut effects);
            rest.retain(|u| *u != first && !epilogue.contains(u));
            // A product that cannot take the deferred reduction runs it just before itself.
            if let Some(r) = row_sums.filter(|r| !product.values.contains(r)) {
                planned.push((r, kernel::kernel(g, s, storage, r)));
            }
            planned.push((first, product));
            continue;
        }
        if let Some(product) = fuse.then(|| row_sum_product(g, s, storage, &rest, &mut effects)).flatten() {
            deferred.insert(product, first);
            rest.remove(0);
            continue;
        }
        let mut run = 1;
        let mut fused = kernel::kernel(g, s, storage, first);
        let reduction = matches!(g.nodes[first].op, Op::Reduce(..));
        if fuse && (reduction || kernel::is_pointwise_kernel(g, first)) {
            while run < rest.len() {
                let merged = match reduction {
                    true => kernel::reduce_with_epilogue(g, s, storage, &rest[..=run], &[]),
                    false => kernel::multi_output(g, s, storage, &rest[..=run]),
                };
                match merged {
                    Some(k) => (fused, run) = (k, run + 1),
                    None => break,
                }
            }
        }
        // Pointwise kernels over the reductions' output shape that follow them join as their
        // epilogue.
        let reductions = run;
        while fuse && reduction && run < rest.len() {
            match kernel::reduce_with_epilogue(g, s, storage, &rest[..reductions], &rest[reductions..=run]) {
                Some(k) => (fused, run) = (k, run + 1),
                None => break,
            }
        }
        planned.push((rest[run - 1], fused));
        rest.drain(..run);
    }
    if fuse {
        planned = merge_independent(g, s, storage, planned);
        planned = merge_phased(g, s, storage, planned);
    }
    planned
}

/// Runs of consecutive small pointwise and reduction kernels ([`PHASED_ELEMENTS`] in
/// all), each run as one [`kernel::phased`] kernel.
fn merge_phased(
    g: &crate::ir::Graph,
    s: &Schedule,
    storage: &Storage,
    planned: Vec<(ValueId, Kernel)>,
) -> Vec<(ValueId, Kernel)> {
    let elements = |k: &Kernel| k.values.iter().map(|&v| kernel::elements(g, v)).sum::<usize>();
    let small = |k: &Kernel| {
        k.grid == kernel::Grid::Chunked
            && k.values.iter().all(|&v| kernel::is_phase(g, v))
            && elements(k) <= PHASED_ELEMENTS
    };
    let mut merged: Vec<(ValueId, Kernel)> = vec![];
    // The values of the last merged kernel if it may grow into a phased one, and their elements.
    let (mut run, mut total): (Vec<ValueId>, usize) = (vec![], 0);
    for (v, k) in planned {
        if small(&k) && !run.is_empty() && total + elements(&k) <= PHASED_ELEMENTS {
            let candidate = [run.clone(), k.values.clone()].concat();
            if let Some(phased) = kernel::phased(g, s, storage, &candidate) {
                (run, total) = (candidate, total + elements(&k));
                *merged.last_mut().unwrap() = (v, phased);
                continue;
            }
        }
        (run, total) = if small(&k) { (k.values.clone(), elements(&k)) } else { (vec![], 0) };
        merged.push((v, k));
    }
    merged
}

/// The buffers each scheduled value's own kernel reads and writes, built once per value.
#[derive(Default)]
struct Effects(BTreeMap<ValueId, (Vec<ValueId>, Vec<ValueId>)>);

impl Effects {
    fn of(
        &mut self,
        g: &crate::ir::Graph,
        s: &Schedule,
        storage: &Storage,
        v: ValueId,
    ) -> (Vec<ValueId>, Vec<ValueId>) {
        self.0
            .entry(v)
            .or_insert_with(|| {
                let k = kernel::kernel(g, s, storage, v);
                let buffers: Vec<ValueId> = k.args.iter().map(|a| a.buffer).collect();
                let (reads, writes) = buffers.split_at(buffers.len() - k.values.len());
                (reads.to_vec(), writes.to_vec())
            })
            .clone()
    }
}

/// The later product whose tiles can sum the rows of its left operand into reduction
/// `rest[0]` (see [`kernel::sums_rows_of_lhs`]): a linear layer's bias gradient, computed by
/// its weight gradient's kernel. The kernels between must not write what the reduction reads
/// or touch what it writes.
fn row_sum_product(
    g: &crate::ir::Graph,
    s: &Schedule,
    storage: &Storage,
    rest: &[ValueId],
    effects: &mut Effects,
) -> Option<ValueId> {
    let r = rest[0];
    if !matches!(g.nodes[r].op, Op::Reduce(..)) {
        return None;
    }
    let (reads, writes) = effects.of(g, s, storage, r);
    for &u in &rest[1..] {
        if kernel::sums_rows_of_lhs(g, s, storage.target(), r, u) {
            return Some(u);
        }
        let (u_reads, u_writes) = effects.of(g, s, storage, u);
        if u_writes.iter().any(|b| reads.contains(b)) || u_reads.iter().chain(&u_writes).any(|b| writes.contains(b)) {
            return None;
        }
    }
    None
}

/// The kernel of product `rest[0]`, with the later pointwise kernels that read it as its
/// epilogue (see [`kernel::product_with_epilogue`]), and those kernels: a bias and activation,
/// an activation's gradient mask, a parameter's optimizer update. `row_sums` is a reduction
/// the tiles compute too, if they can, with the kernels that read it (a bias's update) as an
/// epilogue of its own. A kernel moves up to the product only if none it moves past writes
/// what it reads or touches what it writes.
fn with_epilogue(
    g: &crate::ir::Graph,
    s: &Schedule,
    storage: &Storage,
    rest: &[ValueId],
    row_sums: Option<ValueId>,
    effects: &mut Effects,
) -> (Kernel, Vec<ValueId>) {
    let v = rest[0];
    let out = s.layouts[v].as_ref().expect("product has a buffer").buffer;
    let row_sums =
        row_sums.filter(|&r| kernel::product_with_epilogue(g, s, storage, v, &[], Some((r, &[])), true).is_some());
    let (mut members, mut row_members) = (vec![], vec![]);
    // What the epilogue reads first (the product's buffer, the row sums), then what it writes.
    let mut computed = vec![out];
    let mut row_computed: Vec<ValueId> =
        row_sums.iter().map(|&r| s.layouts[r].as_ref().expect("row sums have a buffer").buffer).collect();
    for (j, &u) in rest.iter().enumerate().skip(1) {
        if !kernel::is_pointwise_kernel(g, u) {
            continue;
        }
        // It reads the product, or what the epilogue computes from it (Adam's update reads
        // the moments, not the gradient); or the same of the row sums.
        let (reads, writes) = effects.of(g, s, storage, u);
        let (of_product, of_rows) =
            (reads.iter().any(|b| computed.contains(b)), reads.iter().any(|b| row_computed.contains(b)));
        if !of_product && !of_rows {
            continue;
        }
        let moved = [&members[..], &row_members[..]].concat();
        let passable = rest[1..j].iter().filter(|x| !moved.contains(*x)).all(|&x| {
            let (x_reads, x_writes) = effects.of(g, s, storage, x);
            !x_writes.iter().any(|b| reads.contains(b)) && !x_reads.iter().chain(&x_writes).any(|b| writes.contains(b))
        });
        if !passable {
            continue;
        }
        let (candidate, row_candidate) = match of_product {
            true => ([members.clone(), vec![u]].concat(), row_members.clone()),
            false => (members.clone(), [row_members.clone(), vec![u]].concat()),
        };
        if kernel::product_with_epilogue(g, s, storage, v, &candidate, row_sums.map(|r| (r, &row_candidate[..])), true)
            .is_some()
        {
            match of_product {
                true => computed.extend(writes),
                false => row_computed.extend(writes),
            }
            (members, row_members) = (candidate, row_candidate);
        }
    }
    // The product itself is stored only if the entry point returns it or a kernel besides
    // its epilogue reads it: an optimizer update that reads a weight gradient from the tiles
    // leaves it unstored (see `Training::keep_gradients`).
    let moved = [&members[..], &row_members[..]].concat();
    let read_later =
        rest[1..].iter().filter(|u| !moved.contains(u)).any(|&u| effects.of(g, s, storage, u).0.contains(&out));
    // A root that views the product (a reshaped gradient) reads its buffer.
    let returned = s.roots.iter().any(|&r| s.layouts[r].as_ref().is_some_and(|l| l.buffer == out));
    let store = out != v || returned || read_later;
    let fused =
        kernel::product_with_epilogue(g, s, storage, v, &members, row_sums.map(|r| (r, &row_members[..])), store);
    members.extend(row_members);
    (fused.unwrap_or_else(|| kernel::kernel(g, s, storage, v)), members)
}

/// Runs of consecutive pointwise kernels none of which reads or writes a buffer another
/// writes, each run as one [`kernel::segmented`] kernel where that does not narrow the vectors
/// by more than the launches it saves.
fn merge_independent(
    g: &crate::ir::Graph,
    s: &Schedule,
    storage: &Storage,
    planned: Vec<(ValueId, Kernel)>,
) -> Vec<(ValueId, Kernel)> {
    // Chunked: a product's kernel is not, even where it stores only its epilogue's values.
    let pointwise =
        |k: &Kernel| k.grid == kernel::Grid::Chunked && k.values.iter().all(|&v| kernel::is_pointwise_kernel(g, v));
    let written = |k: &Kernel| k.args[k.args.len() - k.values.len()..].iter().map(|a| a.buffer).collect::<Vec<_>>();
    let touches = |k: &Kernel, buffers: &[ValueId]| k.args.iter().any(|a| buffers.contains(&a.buffer));
    let mut merged: Vec<(ValueId, Kernel)> = vec![];
    // The groups of the last merged kernel, and the indices they would cover apart.
    let (mut groups, mut apart): (Vec<Vec<ValueId>>, usize) = (vec![], 0);
    for (v, k) in planned {
        let independent =
            |last: &Kernel| pointwise(last) && !touches(last, &written(&k)) && !touches(&k, &written(last));
        if pointwise(&k) && merged.last().is_some_and(|(_, last)| independent(last)) {
            let mut candidate = groups.clone();
            candidate.push(k.values.clone());
            let saved_launches = candidate.len() - 1;
            if let Some(segmented) = kernel::segmented(g, s, storage, &candidate) {
                if segmented.work <= apart + k.work + saved_launches * LAUNCH_COST_IN_INDICES {
                    (groups, apart) = (candidate, apart + k.work);
                    *merged.last_mut().unwrap() = (v, segmented);
                    continue;
                }
            }
        }
        (groups, apart) = (vec![k.values.clone()], k.work);
        merged.push((v, k));
    }
    merged
}

/// One generated entry point: the values it returns and the schedule that computes them.
struct Entry<'a> {
    name: &'a str,
    roots: Vec<ValueId>,
    schedule: Schedule,
}

impl<'a> Entry<'a> {
    /// The entry point `name` computing `roots`, updating the `in_place` pairs' buffers.
    fn new(
        g: &crate::ir::Graph,
        fuse: bool,
        name: &'a str,
        roots: Vec<ValueId>,
        in_place: &[(ValueId, ValueId)],
    ) -> Self {
        let schedule = schedule(g, &roots, in_place, fuse);
        Entry { name, roots, schedule }
    }

    /// The buffer holding `v`, which the schedule computes.
    fn buffer_of(&self, v: ValueId) -> ValueId {
        self.schedule.layouts[v].as_ref().expect("a root has a buffer").buffer
    }
}

/// Offsets in one arena for the buffers `slots` numbers: `persistent` ones apart, the others
/// shared between values whose kernel ranges (in any entry point) do not overlap.
fn memory_plan(
    p: &Program,
    storage: &Storage,
    slots: &BTreeMap<ValueId, usize>,
    entries: &[(&str, &[(ValueId, Kernel)])],
    persistent: &[ValueId],
) -> memory::Plan {
    // Entry points never run at the same time: entry `e`'s kernel `i` runs at `e * GAP + i`.
    const GAP: usize = 1 << 24;
    let mut spans: Vec<BTreeMap<usize, (usize, usize)>> = vec![BTreeMap::new(); slots.len()];
    for (e, (_, kernels)) in entries.iter().enumerate() {
        for (i, (_, k)) in kernels.iter().enumerate() {
            let t = e * GAP + i;
            for arg in &k.args {
                let span = spans[slots[&arg.buffer]].entry(e).or_insert((t, t));
                *span = (span.0.min(t), span.1.max(t));
            }
        }
    }
    let lifetimes: Vec<memory::Lifetime> = slots
        .iter()
        .map(|(v, &slot)| match persistent.contains(v) {
            true => memory::Lifetime::Persistent,
            false => memory::Lifetime::Within(spans[slot].values().copied().collect()),
        })
        .collect();
    let lens: Vec<usize> = slots.keys().map(|&v| storage.units(v, p.graph.shape(v).numel())).collect();
    memory::plan(&lens, &lifetimes)
}

/// `%12 = add %10, %11 : [64, 256]  # 1.linear` for a kernel's doc comment.
fn describe(p: &Program, v: ValueId) -> String {
    p.graph.describe(v)
}

fn name_of(p: &Program, v: ValueId) -> &str {
    p.graph.nodes[v].op.name().expect("a named value")
}

fn emit_trainer(
    w: &mut Writer,
    p: &Program,
    slots: &BTreeMap<ValueId, usize>,
    aliases: &BTreeMap<ValueId, ValueId>,
    plan: &memory::Plan,
    launch_plans: &LaunchPlans,
    grad_buffers: &[ValueId],
) {
    let g = &p.graph;
    let t = &p.name;
    let slot = |v: ValueId| slots[aliases.get(&v).unwrap_or(&v)];
    let batch = g.shape(p.sample_weight).0[0];
    let output_len = g.shape(p.output).numel() / batch;
    let buffers: Vec<String> = plan.ranges.iter().map(|r| format!("({}, {})", r.start, r.len())).collect();
    // The host type of data, parameters, outputs and scalars. An f64 program widens the f32
    // initial weights and dropout masks (exactly): it starts as the f32 program does.
    let float = p.precision.float();
    let f64_program = p.precision == Precision::F64;
    let host = |values: String| if f64_program { format!("kiln_runtime::widen(&{values})") } else { values };

    w.line(&format!("/// Trainer of `{t}`: parameters, optimizer state and every intermediate live in one"));
    w.line("/// arena allocated by `new`; a step launches the generated kernels and allocates nothing.");
    w.open(&format!("pub struct {t} {{"));
    w.line("arena: Arena,");
    w.line(&format!("learning_rate: {float},"));
    w.line("steps: u64,");
    if p.precision.half().is_some() {
        w.line("/// The dynamic loss scale of mixed precision.");
        w.line("loss_scale: f32,");
        w.line("/// Steps since the scale last changed without an overflow.");
        w.line("good_steps: u32,");
        w.line("/// Train steps skipped because their gradients overflowed.");
        w.line("skipped_steps: u64,");
    }
    w.line("/// Micro-batches of the optimizer step in progress (gradient accumulation).");
    w.line("micro: usize,");
    if !p.dropouts.is_empty() {
        w.line("/// Seeds the dropout masks.");
        w.line("seed: u64,");
    }
    w.line("/// The buffer of the outputs the last entry point computed.");
    w.line("output_slot: usize,");
    w.close("}");
    w.blank();
    w.open(&format!("impl {t} {{"));
    w.line("/// Rows per batch (a shorter last batch is padded and masked out of the loss).");
    w.line(&format!("pub const BATCH: usize = {batch};"));
    let all =
        Feeds { inputs: p.inputs.clone(), tokens: p.tokens.clone(), labels: p.labels.clone(), sample_weight: None };
    emit_feed_constants(w, p, &all);
    w.line("/// Elements per sample of `predict`'s output.");
    w.line(&format!("pub const OUTPUT_LEN: usize = {output_len};"));
    for e in &p.exposed {
        w.line(&format!("/// Shape of what `{}` returns.", e.name));
        w.line(&format!("pub const {}_SHAPE: &'static [usize] = &{:?};", e.name.to_uppercase(), g.shape(e.value).0));
    }
    if let Some(half) = p.precision.half() {
        w.line(&format!(
            "/// Intermediates are stored as `{}`; this is the loss scale's start (PyTorch's).",
            half.rust_type()
        ));
        w.line("pub const INITIAL_LOSS_SCALE: f32 = 65536.0;");
        w.line("/// Good steps after which the loss scale doubles.");
        w.line("pub const LOSS_SCALE_GROWTH_INTERVAL: u32 = 2000;");
    }
    w.line("/// Micro-batches (`train_step` calls) per optimizer step.");
    w.line(&format!("pub const ACCUMULATE: usize = {};", p.accumulate));
    w.line("/// Parameter names (PyTorch's) and shapes, in checkpoint order.");
    let params: Vec<String> = p.params.iter().map(|q| format!("(\"{}\", &{:?})", q.name, g.shape(q.value).0)).collect();
    w.line(&format!("pub const PARAMETERS: &'static [(&'static str, &'static [usize])] = &[{}];", params.join(", ")));
    w.line("/// Frozen parameters and shapes: loaded and saved after the trained ones, never updated.");
    let frozen: Vec<String> = p.frozen.iter().map(|f| format!("(\"{}\", &{:?})", f.name, g.shape(f.value).0)).collect();
    w.line(&format!("pub const FROZEN: &'static [(&'static str, &'static [usize])] = &[{}];", frozen.join(", ")));
    w.line("/// Running statistics (batch norm) and shapes, saved after the parameters.");
    let stats: Vec<String> =
        p.statistics.iter().map(|s| format!("(\"{}\", &{:?})", s.name, g.shape(s.value).0)).collect();
    w.line(&format!("pub const STATISTICS: &'static [(&'static str, &'static [usize])] = &[{}];", stats.join(", ")));
    w.line("/// Optimizer state tensors and shapes, saved after the statistics.");
    let state: Vec<String> = p.state.iter().map(|s| format!("(\"{}\", &{:?})", s.name, g.shape(s.value).0)).collect();
    w.line(&format!("pub const STATE: &'static [(&'static str, &'static [usize])] = &[{}];", state.join(", ")));
    w.line("/// Bytes of the one arena every buffer lives in (intermediates share space when their");
    w.line("/// lifetimes do not overlap).");
    w.line(&format!("pub const ARENA_BYTES: usize = {};", 4 * plan.total));
    w.line("/// Each buffer's offset and length in the arena, in 4-byte units (f32 elements; a half buffer");
    w.line("/// of mixed precision holds two elements per unit): the static memory plan.");
    w.line(&format!("pub const BUFFERS: &'static [(usize, usize)] = &[{}];", buffers.join(", ")));
    w.blank();

    w.line("/// Allocates the arena on `device` and initialises the parameters from `seed`.");
    w.open("pub fn new(device: &Device, seed: u64) -> Self {");
    w.line("let arena = Arena::new(device, Self::ARENA_BYTES, Self::BUFFERS);");
    for (i, (name, value)) in p.all_params().into_iter().enumerate() {
        let n = g.shape(value).numel();
        let Op::Param { init, .. } = &g.nodes[value].op else { unreachable!() };
        let data = match init {
            Init::Uniform { low, high } => {
                host(format!("kiln_runtime::init::uniform(seed, {i}, {n}, {low:?}, {high:?})"))
            }
            Init::Normal { mean, std } => {
                host(format!("kiln_runtime::init::normal(seed, {i}, {n}, {mean:?}, {std:?})"))
            }
            Init::Constant(c) => format!("vec![{c:?}{float}; {n}]"),
        };
        w.line(&format!("arena.write({}, &{data}); // {name}", slot(value)));
    }
    for st in &p.statistics {
        let Op::Param { init: Init::Constant(c), .. } = &g.nodes[st.value].op else { unreachable!() };
        w.line(&format!(
            "arena.write({}, &vec![{c:?}{float}; {}]); // {}",
            slot(st.value),
            g.shape(st.value).numel(),
            st.name
        ));
    }
    emit_constants(w, p, slots, aliases);
    let lr = p.initial_learning_rate;
    w.line(&format!(
        "let trainer = Self {{ arena, learning_rate: {lr:?}, steps: 0, micro: 0, {}{}output_slot: {} }};",
        if p.dropouts.is_empty() { "" } else { "seed, " },
        if p.precision.half().is_some() {
            "loss_scale: Self::INITIAL_LOSS_SCALE, good_steps: 0, skipped_steps: 0, "
        } else {
            ""
        },
        slot(p.eval_output)
    ));
    w.line("trainer.reset_optimizer_state();");
    w.line("trainer");
    w.close("}");
    w.blank();
    w.line("/// Sets the optimizer state to its initial values (moments to zero).");
    w.open("fn reset_optimizer_state(&self) {");
    for st in &p.state {
        let Op::Param { init: Init::Constant(c), .. } = &g.nodes[st.value].op else { unreachable!() };
        w.line(&format!("self.arena.write({}, &vec![{c:?}{float}; {}]);", slot(st.value), g.shape(st.value).numel()));
    }
    w.close("}");
    w.blank();

    let train_feeds = Feeds::read_by(p, &[p.loss, p.output]);
    let predict_feeds = Feeds::of_predict(p);
    w.line("/// One optimizer step on a batch of at most `BATCH` rows; returns the mean loss before the");
    w.line("/// update. Rejects wrong lengths, non-finite inputs and out-of-range labels before");
    w.line("/// launching anything; reports a non-finite loss with its step number (that step's");
    w.line("/// update has been applied: reload a checkpoint to continue).");
    w.open(&format!("pub fn train_step(&mut self, {}) -> Result<{float}, Error> {{", data_args(p, &train_feeds)));
    upload(w, p, &slot, &train_feeds);
    if !p.dropouts.is_empty() {
        w.line("let draw = self.steps * Self::ACCUMULATE as u64 + self.micro as u64;");
        for d in &p.dropouts {
            let n = g.shape(d.mask).numel();
            w.line(&format!(
                "self.arena.write({}, &{});",
                slot(d.mask),
                host(format!("kiln_runtime::init::dropout_mask(self.seed, draw, {}, {n}, {:?})", d.layer, d.p))
            ));
        }
    }
    w.line(&format!("self.output_slot = {};", slot(p.output)));
    if p.accumulate > 1 {
        w.open("if self.micro + 1 < Self::ACCUMULATE {");
        w.line("if self.micro == 0 { self.launch_start() } else { self.launch_accumulate() }");
        w.line("self.micro += 1;");
        w.line(&format!("let loss = self.arena.read::<{float}>({})[0];", slot(p.loss)));
        w.line("return if loss.is_finite() { Ok(loss) } else { Err(Error::NonFiniteLoss { step: self.steps + 1 }) };");
        w.close("}");
        w.line("self.micro = 0;");
    }
    w.line("let t = (self.steps + 1) as f64;");
    w.line("let lr = f64::from(self.learning_rate);");
    for (kind, v) in &p.scalars {
        w.line(&format!("self.arena.write_input({}, &[({}) as {float}]);", slot(*v), kind.source()));
    }
    w.line("self.launch_train();");
    if let Some(finite) = p.finite_gradients {
        // An overflow skipped the update: halve the scale and leave the step count.
        w.line(&format!("let loss = self.arena.read::<{float}>({})[0];", slot(p.loss)));
        w.open(&format!("if self.arena.read::<f32>({})[0] == 0.0 && loss.is_finite() {{", slot(finite)));
        w.line("self.loss_scale = (self.loss_scale * 0.5).max(1.0);");
        w.line("self.good_steps = 0;");
        w.line("self.skipped_steps += 1;");
        w.line("return Ok(loss);");
        w.close("}");
        w.line("self.good_steps += 1;");
        w.open("if self.good_steps == Self::LOSS_SCALE_GROWTH_INTERVAL {");
        w.line("self.loss_scale *= 2.0;");
        w.line("self.good_steps = 0;");
        w.close("}");
    }
    w.line("self.steps += 1;");
    w.line(&format!("let loss = self.arena.read::<{float}>({})[0];", slot(p.loss)));
    w.open("if !loss.is_finite() {");
    w.line("return Err(Error::NonFiniteLoss { step: self.steps });");
    w.close("}");
    w.line("Ok(loss)");
    w.close("}");
    w.blank();

    w.line("/// The outputs (logits) for a batch of at most `BATCH` rows, `OUTPUT_LEN` per row (inputs");
    w.line("/// only the loss reads, such as targets, are not arguments).");
    w.open(&format!("pub fn predict(&mut self, {}) -> Result<Vec<{float}>, Error> {{", data_args(p, &predict_feeds)));
    upload(w, p, &slot, &predict_feeds);
    w.line("self.launch_predict();");
    w.line(&format!("self.output_slot = {};", slot(p.eval_output)));
    w.line("Ok(self.last_outputs(rows))");
    w.close("}");
    w.blank();

    w.line("/// The mean loss on a batch without updating anything (validation).");
    w.open(&format!("pub fn eval_loss(&mut self, {}) -> Result<{float}, Error> {{", data_args(p, &train_feeds)));
    upload(w, p, &slot, &train_feeds);
    w.line("self.launch_evaluate();");
    w.line(&format!("self.output_slot = {};", slot(p.eval_output)));
    w.line(&format!("Ok(self.arena.read::<{float}>({})[0])", slot(p.eval_loss)));
    w.close("}");
    w.blank();
    for e in &p.exposed {
        let feeds = Feeds::read_by(p, &[e.value]);
        let shape = g.shape(e.value);
        w.line(&format!(
            "/// `{}` ({shape}, row-major) for a batch of at most `BATCH` rows, in inference mode;",
            e.name
        ));
        w.line("/// rows past a short batch's end are computed from zero padding.");
        w.open(&format!("pub fn {}(&mut self, {}) -> Result<Vec<{float}>, Error> {{", e.name, data_args(p, &feeds)));
        upload(w, p, &slot, &feeds);
        w.line(&format!("self.launch_{}();", e.name));
        w.line(&format!("Ok(self.arena.read({}))", slot(e.value)));
        w.close("}");
        w.blank();
    }
    w.line("/// The outputs the last `train_step`, `eval_loss` or `predict` computed (before any");
    w.line("/// update), `rows * OUTPUT_LEN` values for the `rows` it was given.");
    w.open(&format!("pub fn last_outputs(&self, rows: usize) -> Vec<{float}> {{"));
    w.line("let mut out = self.arena.read(self.output_slot);");
    w.line("out.truncate(rows * Self::OUTPUT_LEN);");
    w.line("out");
    w.close("}");
    w.blank();
    w.line("/// The learning rate the next steps use.");
    w.open(&format!("pub fn learning_rate(&self) -> {float} {{"));
    w.line("self.learning_rate");
    w.close("}");
    w.blank();
    w.line("/// Sets the learning rate of the next steps (a run-time scalar: no recompilation).");
    w.open(&format!("pub fn set_learning_rate(&mut self, learning_rate: {float}) {{"));
    w.line("self.learning_rate = learning_rate;");
    w.close("}");
    w.blank();
    if p.precision.half().is_some() {
        w.line("/// The loss scale the next train step multiplies the loss by.");
        w.open("pub fn loss_scale(&self) -> f32 {");
        w.line("self.loss_scale");
        w.close("}");
        w.blank();
        w.line("/// Sets the loss scale (it keeps adapting from there).");
        w.open("pub fn set_loss_scale(&mut self, scale: f32) {");
        w.line("self.loss_scale = scale;");
        w.line("self.good_steps = 0;");
        w.close("}");
        w.blank();
        w.line("/// Train steps skipped since `new` because their gradients overflowed (not counted by");
        w.line("/// `steps`).");
        w.open("pub fn skipped_steps(&self) -> u64 {");
        w.line("self.skipped_steps");
        w.close("}");
        w.blank();
    }
    w.line("/// Train steps taken since `new`.");
    w.open("pub fn steps(&self) -> u64 {");
    w.line("self.steps");
    w.close("}");
    w.blank();

    let values = p.checkpoint_tensors();
    let list =
        |values: &mut dyn Iterator<Item = ValueId>| values.map(|v| slot(v).to_string()).collect::<Vec<_>>().join(", ");
    w.line("/// The checkpointed tensors and their arena slots.");
    w.open("const TENSORS: kiln_runtime::tensors::Tensors = kiln_runtime::tensors::Tensors {");
    w.line("parameters: Self::PARAMETERS,");
    w.line("frozen: Self::FROZEN,");
    w.line("statistics: Self::STATISTICS,");
    w.line(&format!("model_slots: &[{}],", list(&mut values.iter().map(|&(_, v)| v))));
    w.line("state: Self::STATE,");
    w.line(&format!("state_slots: &[{}],", list(&mut p.state.iter().map(|s| s.value))));
    w.close("};");
    w.blank();
    w.line("/// A parameter's (trained or frozen) or running statistic's current values (row-major, PyTorch layout).");
    w.open(&format!("pub fn parameter(&self, name: &str) -> Option<Vec<{float}>> {{"));
    w.line("Self::TENSORS.read(&self.arena, name)");
    w.close("}");
    w.blank();
    if p.keep_gradients {
        w.line("/// A parameter's gradient from the last optimizer step (averaged over its micro-batches).");
        w.open(&format!("pub fn gradient(&self, name: &str) -> Option<Vec<{float}>> {{"));
        w.open("let slot = match name {");
        for (q, &b) in p.params.iter().zip(grad_buffers) {
            w.line(&format!("\"{}\" => {},", q.name, slot(b)));
        }
        w.line("_ => return None,");
        w.close("};");
        w.line("Some(self.arena.read(slot))");
        w.close("}");
        w.blank();
    }
    w.line("/// Overwrites a parameter (trained or frozen) or running statistic, as `p.data.copy_(values)`.");
    w.open(&format!("pub fn set_parameter(&mut self, name: &str, values: &[{float}]) -> Result<(), Error> {{"));
    w.line("Self::TENSORS.write(&self.arena, name, values)");
    w.close("}");
    w.blank();
    w.line("/// Writes the parameters, the optimizer state and the step counter to a safetensors");
    w.line("/// file, atomically (temp file + rename): a crash mid-save leaves the old file.");
    w.line("/// Fails between the micro-batches of an accumulated step (partial sums are not saved).");
    w.open("pub fn save(&self, path: impl AsRef<std::path::Path>) -> Result<(), Error> {");
    w.line("kiln_runtime::tensors::whole_steps(self.micro, Self::ACCUMULATE)?;");
    w.line(&format!("Self::TENSORS.save::<{float}>(&self.arena, path.as_ref(), self.steps)"));
    w.close("}");
    w.blank();
    w.line("/// Loads a checkpoint written by `save`, resuming exactly, or a PyTorch `state_dict` of");
    w.line("/// the same architecture as safetensors (then the optimizer starts afresh). Nothing");
    w.line("/// changes unless every tensor matches.");
    w.open("pub fn load(&mut self, path: impl AsRef<std::path::Path>) -> Result<(), Error> {");
    w.line(&format!("let loaded = Self::TENSORS.load::<{float}>(&self.arena, path.as_ref())?;"));
    w.open("if !loaded.with_state {");
    w.line("self.reset_optimizer_state();");
    w.close("}");
    w.line("self.steps = loaded.step;");
    w.line("self.micro = 0;");
    w.line("Ok(())");
    w.close("}");

    launch_plans.emit_entry_points(w, p, &slot);
    w.close("}");
    emit_trainer_impl(w, p, &train_feeds, &predict_feeds);
    // The training-loop helpers drive f32 classifiers (their datasets are f32).
    if let ([x], [y], [], false) =
        (&train_feeds.inputs[..], &train_feeds.labels[..], &train_feeds.tokens[..], f64_program)
    {
        if p.graph.shape(*y).rank() == 1 {
            emit_classifier(w, p, name_of(p, *x), name_of(p, *y));
        }
    }
}

/// `impl kiln_runtime::Trainer`: each method forwards to the inherent method of the same name,
/// taking the batch's arguments by position ([`Feeds::specs`] lists them).
fn emit_trainer_impl(w: &mut Writer, p: &Program, train_feeds: &Feeds, predict_feeds: &Feeds) {
    let t = &p.name;
    let float = p.precision.float();
    w.blank();
    w.open(&format!("impl kiln_runtime::Trainer for {t} {{"));
    w.line(&format!("type Float = {float};"));
    for constant in ["BATCH: usize", "OUTPUT_LEN: usize", "PARAMETERS: &'static [(&'static str, &'static [usize])]"] {
        let name = constant.split(':').next().expect("a name");
        w.line(&format!("const {constant} = {t}::{name};"));
    }
    for (constant, feeds) in [("TRAIN_FEEDS", train_feeds), ("PREDICT_FEEDS", predict_feeds)] {
        w.open(&format!("const {constant}: &'static [kiln_runtime::FeedSpec] = &["));
        for spec in feeds.specs(p) {
            w.line(&format!("{spec},"));
        }
        w.close("];");
    }
    let entries = [
        ("train_step", "TRAIN_FEEDS", train_feeds, float.to_string()),
        ("eval_loss", "TRAIN_FEEDS", train_feeds, float.to_string()),
        ("predict", "PREDICT_FEEDS", predict_feeds, format!("Vec<{float}>")),
    ];
    for (method, specs, feeds, result) in entries {
        w.open(&format!("fn {method}(&mut self, batch: &[kiln_runtime::Feed<{float}>]) -> Result<{result}, Error> {{"));
        let names = feeds.in_order().map(|v| name_of(p, v)).collect::<Vec<_>>();
        w.line(&format!("let [{}] = kiln_runtime::trainer::split_batch(batch, Self::{specs})?;", names.join(", ")));
        let floats = feeds.inputs.len();
        let args = names.iter().enumerate().map(|(i, name)| {
            let accessor = if i < floats { "values" } else { "ids" };
            format!(", {name}.{accessor}(&Self::{specs}[{i}])?")
        });
        w.line(&format!("{t}::{method}(self{})", args.collect::<String>()));
        w.close("}");
    }
    let methods = [
        (format!("fn last_outputs(&self, rows: usize) -> Vec<{float}>"), "last_outputs(self, rows)"),
        (format!("fn learning_rate(&self) -> {float}"), "learning_rate(self)"),
        (format!("fn set_learning_rate(&mut self, learning_rate: {float})"), "set_learning_rate(self, learning_rate)"),
        ("fn steps(&self) -> u64".into(), "steps(self)"),
        (format!("fn parameter(&self, name: &str) -> Option<Vec<{float}>>"), "parameter(self, name)"),
        (
            format!("fn set_parameter(&mut self, name: &str, values: &[{float}]) -> Result<(), Error>"),
            "set_parameter(self, name, values)",
        ),
        ("fn save(&self, path: &std::path::Path) -> Result<(), Error>".into(), "save(self, path)"),
        ("fn load(&mut self, path: &std::path::Path) -> Result<(), Error>".into(), "load(self, path)"),
    ];
    for (signature, call) in methods {
        w.open(&format!("{signature} {{"));
        w.line(&format!("{t}::{call}"));
        w.close("}");
    }
    w.close("}");
}

/// The length constants of an entry point's arguments: `{NAME}_LEN` per input, tokens' `_VOCAB`
/// and labels' `_CLASSES`.
fn emit_feed_constants(w: &mut Writer, p: &Program, feeds: &Feeds) {
    let g = &p.graph;
    let batch = g.shape(p.sample_weight).0[0];
    for &v in &feeds.inputs {
        let name = name_of(p, v);
        if p.unbatched.contains(&v) {
            w.line(&format!("/// Elements of the unbatched input `{name}` (shape {}).", g.shape(v)));
            w.line(&format!("pub const {}_LEN: usize = {};", name.to_uppercase(), g.shape(v).numel()));
        } else {
            w.line(&format!("/// Elements per sample of input `{name}` (shape {}).", g.shape(v)));
            w.line(&format!("pub const {}_LEN: usize = {};", name.to_uppercase(), g.shape(v).numel() / batch));
        }
    }
    for &v in &feeds.tokens {
        if let Op::Labels { name, classes } = &g.nodes[v].op {
            w.line(&format!("/// Ids per sample of tokens `{name}` (shape {}).", g.shape(v)));
            w.line(&format!("pub const {}_LEN: usize = {};", name.to_uppercase(), g.shape(v).numel() / batch));
            w.line(&format!("/// Vocabulary size of `{name}` (ids are in `0..{classes}`)."));
            w.line(&format!("pub const {}_VOCAB: usize = {classes};", name.to_uppercase()));
        }
    }
    for &v in &feeds.labels {
        if let Op::Labels { name, classes } = &g.nodes[v].op {
            w.line(&format!("/// Labels per sample of `{name}` (shape {}).", g.shape(v)));
            w.line(&format!("pub const {}_LEN: usize = {};", name.to_uppercase(), g.shape(v).numel() / batch));
            w.line(&format!("/// Number of classes of `{name}`."));
            w.line(&format!("pub const {}_CLASSES: usize = {classes};", name.to_uppercase()));
        }
    }
}

/// `arena.write(..)` of each constant tensor's data, in a constructor where `arena` is bound.
fn emit_constants(w: &mut Writer, p: &Program, slots: &BTreeMap<ValueId, usize>, aliases: &BTreeMap<ValueId, ValueId>) {
    let float = p.precision.float();
    for (value, data) in &p.constants {
        // A constant no entry point reads has no buffer.
        let Some(&slot) = slots.get(aliases.get(value).unwrap_or(value)) else { continue };
        let data: Vec<String> = data.iter().map(|x| format!("{x:?}{float}")).collect();
        w.line(&format!("arena.write({slot}, &[{}]); // {}", data.join(", "), describe(p, *value)));
    }
}

/// The parameters of an entry point taking `feeds`: `x: &[f32], y: &[u32]`.
fn data_args(p: &Program, feeds: &Feeds) -> String {
    let float = p.precision.float();
    let mut args: Vec<String> = feeds.inputs.iter().map(|&v| format!("{}: &[{float}]", name_of(p, v))).collect();
    args.extend(feeds.tokens.iter().chain(&feeds.labels).map(|&v| format!("{}: &[u32]", name_of(p, v))));
    args.join(", ")
}

/// Checks an entry point's arguments, then uploads them (and writes the loss weights if it
/// reads them); `slot` gives each value's buffer.
fn upload(w: &mut Writer, p: &Program, slot: &dyn Fn(ValueId) -> usize, feeds: &Feeds) {
    let float = p.precision.float();
    for &v in feeds.inputs.iter().filter(|v| p.unbatched.contains(v)) {
        let name = name_of(p, v);
        w.line(&format!("kiln_runtime::check_input(\"{name}\", {name}, 1, Self::{}_LEN)?;", name.to_uppercase()));
        w.line(&format!("self.arena.write({}, {name});", slot(v)));
    }
    let batched: Vec<ValueId> = feeds.inputs.iter().copied().filter(|v| !p.unbatched.contains(v)).collect();
    // A value that reads no batched data (a parameter's norm, say) has no rows to check.
    let Some(&first) = batched.first().or(feeds.tokens.first()) else { return };
    let first = name_of(p, first);
    w.line(&format!(
        "let rows = kiln_runtime::batch_rows(\"{first}\", {first}.len(), Self::{}_LEN, Self::BATCH)?;",
        first.to_uppercase()
    ));
    for &v in &batched {
        let name = name_of(p, v);
        w.line(&format!("kiln_runtime::check_input(\"{name}\", {name}, rows, Self::{}_LEN)?;", name.to_uppercase()));
    }
    for &v in &feeds.tokens {
        let name = name_of(p, v);
        let upper = name.to_uppercase();
        w.line(&format!(
            "kiln_runtime::check_labels(\"{name}\", {name}, rows, Self::{upper}_LEN, Self::{upper}_VOCAB)?;"
        ));
    }
    for &v in &feeds.labels {
        let name = name_of(p, v);
        let upper = name.to_uppercase();
        w.line(&format!(
            "kiln_runtime::check_labels(\"{name}\", {name}, rows, Self::{upper}_LEN, Self::{upper}_CLASSES)?;"
        ));
    }
    w.line("// SAFETY: each upload is dropped when this function returns, never leaked.");
    for &v in feeds.tokens.iter().chain(&batched).chain(&feeds.labels) {
        // Named, not `_`: each upload borrows its input until the end of the entry point.
        w.line(&format!("let _{0}_upload = unsafe {{ self.arena.upload({1}, {0}) }};", name_of(p, v), slot(v)));
    }
    if let Some(weights) = feeds.sample_weight {
        w.line(&format!(
            "self.arena.write_input({}, &kiln_runtime::sample_weights::<{float}>(rows, Self::BATCH));",
            slot(weights)
        ));
    }
}

/// The data an entry point takes: the inputs, tokens and labels its roots read, and the loss
/// weights if it reads them.
struct Feeds {
    inputs: Vec<ValueId>,
    tokens: Vec<ValueId>,
    labels: Vec<ValueId>,
    sample_weight: Option<ValueId>,
}

impl Feeds {
    fn read_by(p: &Program, roots: &[ValueId]) -> Feeds {
        let live = p.graph.live_set(roots);
        let read = |values: &[ValueId]| values.iter().copied().filter(|&v| live[v]).collect();
        Feeds {
            inputs: read(&p.inputs),
            tokens: read(&p.tokens),
            labels: read(&p.labels),
            sample_weight: live[p.sample_weight].then_some(p.sample_weight),
        }
    }

    /// What `predict` takes: only what the output reads (an input only the loss reads, a
    /// target, is left out), unless the output reads no input at all.
    fn of_predict(p: &Program) -> Feeds {
        let feeds = Feeds::read_by(p, &[p.eval_output]);
        if feeds.inputs.is_empty() && feeds.tokens.is_empty() {
            return Feeds { inputs: p.inputs.clone(), tokens: p.tokens.clone(), labels: vec![], sample_weight: None };
        }
        feeds
    }

    /// The entry point's arguments in order: the float inputs, then the tokens, then the labels.
    fn in_order(&self) -> impl Iterator<Item = ValueId> + '_ {
        self.inputs.iter().chain(&self.tokens).chain(&self.labels).copied()
    }

    /// A `kiln_runtime::FeedSpec` expression per argument, in order.
    fn specs(&self, p: &Program) -> Vec<String> {
        let t = &p.name;
        self.in_order()
            .map(|v| {
                let name = name_of(p, v);
                let upper = name.to_uppercase();
                let batched = !p.unbatched.contains(&v);
                let classes = if self.tokens.contains(&v) {
                    format!("Some({t}::{upper}_VOCAB)")
                } else if self.labels.contains(&v) {
                    format!("Some({t}::{upper}_CLASSES)")
                } else {
                    "None".into()
                };
                format!(
                    "kiln_runtime::FeedSpec {{ name: \"{name}\", len: {t}::{upper}_LEN, batched: {batched}, classes: {classes} }}"
                )
            })
            .collect()
    }
}

/// `impl kiln_runtime::train::Classifier`, so the training-loop helper can drive the trainer.
fn emit_classifier(w: &mut Writer, p: &Program, x: &str, y: &str) {
    let t = &p.name;
    w.blank();
    w.open(&format!("impl kiln_runtime::train::Classifier for {t} {{"));
    w.line(&format!("const BATCH: usize = {t}::BATCH;"));
    w.line(&format!("const SAMPLE_LEN: usize = {t}::{}_LEN;", x.to_uppercase()));
    w.line(&format!("const CLASSES: usize = {t}::{}_CLASSES;", y.to_uppercase()));
    // Each trait method forwards to the inherent method of the same name.
    let methods = [
        ("fn train_step(&mut self, x: &[f32], y: &[u32]) -> Result<f32, Error>", "train_step(self, x, y)"),
        ("fn eval_loss(&mut self, x: &[f32], y: &[u32]) -> Result<f32, Error>", "eval_loss(self, x, y)"),
        ("fn predict(&mut self, x: &[f32]) -> Result<Vec<f32>, Error>", "predict(self, x)"),
        ("fn last_outputs(&self, rows: usize) -> Vec<f32>", "last_outputs(self, rows)"),
        ("fn learning_rate(&self) -> f32", "learning_rate(self)"),
        ("fn set_learning_rate(&mut self, lr: f32)", "set_learning_rate(self, lr)"),
        ("fn save(&self, path: &std::path::Path) -> Result<(), Error>", "save(self, path)"),
        ("fn load(&mut self, path: &std::path::Path) -> Result<(), Error>", "load(self, path)"),
    ];
    for (signature, call) in methods {
        w.open(&format!("{signature} {{"));
        w.line(&format!("{t}::{call}"));
        w.close("}");
    }
    w.close("}");
}

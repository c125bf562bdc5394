//! The back end: a differentiated program becomes Rust source (the model's constants, its
//! launch plan, the kernels no library template serves, and a typed trainer or predictor)
//! plus a compile report. `emit_artifact` reads as its list of passes:
//! 1. `lower::direct_convolutions`, `lower::transposed_products`, `lower::summed_picks`,
//!    `lower::joined_pads`, then `lower::stepped_loops`: stride-1 convolutions become direct
//!    ones, products with a short side take forms with wide vectors, small picks at labels
//!    one-hot sums, sums of paddings that tile become joins, and loops one copy of their body
//!    between windows;
//! 2. `schedule::entries`: the entry points, each scheduled (kernels, inlined values, views);
//! 3. `plan::buffers`: the values that own a buffer, and each buffer's element type;
//! 4. `schedule::kernels`: each entry point's kernels, fused;
//! 5. `plan::repeats`, then `plan::memory`: the kernels each stepped loop launches per step
//!    and its windows, then every buffer's offset in the arena;
//! 6. emission: the compile report (`report`), the kernel sources (`named_sources`), the
//!    launch plans (`launch_plan`) and the host code (`trainer` or `predictor`).

mod feeds;
mod launch_plan;
mod predictor;
mod report;
mod trainer;
mod writer;

use crate::ir::ValueId;
use crate::kernel::{self, Kernel};
use crate::program::Program;
use crate::schedule::{self, Artifact};
use crate::{lower, plan};
use launch_plan::LaunchPlans;
use std::collections::BTreeMap;
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
/// optimizer state or learning rate.
pub fn emit_predictor(p: &Program) -> String {
    emit_artifact(p, Artifact::Predictor).0
}

/// The source and compile report of `artifact`: the back end's passes in order.
fn emit_artifact(p: &Program, artifact: Artifact) -> (String, String) {
    let p = &lower::direct_convolutions(p);
    let p = &lower::summed_picks(&lower::transposed_products(p));
    let p = &lower::stepped_loops(&lower::joined_pads(p));
    if cfg!(any(test, debug_assertions)) {
        if let Err(v) = crate::ir::verify(&p.graph) {
            panic!("internal: lowering broke the IR: {}", v.message);
        }
    }
    let entries = schedule::entries(p, artifact);
    let buffers = plan::buffers(p, &entries);
    let mut kernels: Vec<Vec<(ValueId, Kernel)>> =
        entries.iter().map(|e| schedule::kernels(&p.graph, &e.schedule, &buffers.storage, p.fuse)).collect();
    let sources = named_sources(&mut kernels);
    let launches: Vec<(&str, &[(ValueId, Kernel)])> =
        entries.iter().zip(&kernels).map(|(e, k)| (e.name, &k[..])).collect();
    let repeats: Vec<Vec<plan::Repeat>> =
        entries.iter().zip(&kernels).map(|(e, k)| plan::repeats(&p.graph, e, k)).collect();
    let memory = plan::memory(p, &buffers, &launches, &repeats);

    let report_entries: Vec<report::Entry> = entries
        .iter()
        .zip(&kernels)
        .zip(&repeats)
        .map(|((e, kernels), repeats)| report::Entry { name: e.name, schedule: &e.schedule, kernels, repeats })
        .collect();
    let report = report::report(p, &report_entries, &memory, &buffers.slots, &buffers.storage);
    // Roots that are contiguous views (a reshaped gradient) are read from their source's buffer.
    let aliases: BTreeMap<ValueId, ValueId> = entries
        .iter()
        .flat_map(|e| e.roots.iter().map(move |&r| (r, e.buffer_of(r))))
        .filter(|(r, buffer)| r != buffer)
        .collect();
    let launch_plans = LaunchPlans::new(&launches, &repeats, &buffers.storage);

    let mut w = Writer::default();
    emit_preamble(&mut w, p, artifact, &kernels, buffers.slots.len(), &launch_plans);
    for named in &sources {
        w.blank();
        w.line(&format!("/// {}", describe(p, named.value)));
        for line in named.source.replace(kernel::SLOT, &named.name).lines() {
            w.line(line);
        }
    }
    launch_plans.emit_launchers(&mut w);
    w.blank();
    let slots = &buffers.slots;
    match artifact {
        Artifact::Trainer => {
            // The buffer each gradient ends in (an accumulator's, when gradients accumulate), if kept.
            let grad_buffers: Vec<ValueId> =
                p.params.iter().filter(|_| p.keep_gradients).map(|q| entries[0].buffer_of(q.grad)).collect();
            trainer::emit(&mut w, p, slots, &aliases, &memory, &launch_plans, &grad_buffers)
        }
        Artifact::Predictor => predictor::emit(&mut w, p, slots, &aliases, &memory, &launch_plans),
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

/// The file's header and the opening of its module, with the imports its code needs.
fn emit_preamble(
    w: &mut Writer,
    p: &Program,
    artifact: Artifact,
    kernels: &[Vec<(ValueId, Kernel)>],
    buffers: usize,
    launch_plans: &LaunchPlans,
) {
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
            "// Train step: {} kernels; predict: {} kernels; evaluate: {} kernels; {buffers} buffers.",
            kernels[0].len(),
            kernels[1].len(),
            kernels[2].len(),
        )),
        Artifact::Predictor => w.line(&format!("// Predict: {} kernels; {buffers} buffers.", kernels[0].len())),
    }
    w.blank();
    w.line(&format!("/// The `{}` model compiled by kiln.", p.name));
    w.line("#[allow(clippy::all, unused_imports, unused_variables, unused_parens, non_snake_case)]");
    w.open(&format!("pub mod {module} {{"));
    w.line("use kiln_runtime::cubecl;");
    w.line("use kiln_runtime::cubecl::prelude::*;");
    w.line("use kiln_runtime::plan::{Grid, Launch, Repeat, Window};");
    if launch_plans.launches_templates() {
        w.line("use kiln_runtime::kernels::phases::{Phase, Phases};");
        w.line("use kiln_runtime::kernels::product::{Epilogue, NnTiling, NtTiling};");
        w.line("use kiln_runtime::kernels::reduction::{Combine, Loop, Reduction};");
        w.line("use kiln_runtime::kernels::window::{Coord, FoldLayout, UnfoldLayout};");
        w.line("use kiln_runtime::templates::Template;");
        w.line("use kiln_runtime::kernels::steps::{Axes, Axis, Binary, Binary::*, Program, Segment, Step, Step::*, Unary};");
    }
    w.line("use kiln_runtime::{Arena, Device, Error};");
    if let Some(half) = p.precision.half() {
        w.line(&format!("use kiln_runtime::half::{};", half.rust_type()));
    }
}

/// A generated kernel's source (its functions named [`kernel::SLOT`]), the name the emitter
/// gives it, and the value it was first planned for, which its doc comment describes.
struct NamedSource {
    name: String,
    value: ValueId,
    source: String,
}

/// Each distinct kernel source of `kernels` once, named after the first value it computes;
/// every kernel written out takes its source's name as its function.
fn named_sources(kernels: &mut [Vec<(ValueId, Kernel)>]) -> Vec<NamedSource> {
    let mut sources: Vec<NamedSource> = vec![];
    for (v, k) in kernels.iter_mut().flatten() {
        let Some(source) = k.source.take() else { continue };
        k.function = match sources.iter().find(|named| named.source == source) {
            Some(named) => named.name.clone(),
            None => {
                let taken = |name: &str| sources.iter().any(|named| named.name == name);
                let name = (0..).map(|n| kernel_name(*v, n)).find(|name| !taken(name)).expect("a free name");
                sources.push(NamedSource { name: name.clone(), value: *v, source });
                name
            }
        };
    }
    sources
}

/// `k{v}`, then `k{v}_2`, `k{v}_3`... for the `n`th distinct source whose first value is `v`
/// (entry points number their values alike).
fn kernel_name(v: ValueId, n: usize) -> String {
    match n {
        0 => format!("k{v}"),
        n => format!("k{v}_{}", n + 1),
    }
}

/// `%12 = add %10, %11 : [64, 256]  # 1.linear` for a kernel's doc comment.
fn describe(p: &Program, v: ValueId) -> String {
    p.graph.describe(v)
}

/// The name of an input, labels or tokens value.
fn name_of(p: &Program, v: ValueId) -> &str {
    p.graph.nodes[v].op.name().expect("a named value")
}

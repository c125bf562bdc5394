//! Launch plans: each entry point's kernels as rows of `kiln_runtime::plan::Launch` data, and
//! one launcher function per distinct kernel signature, which the rows name. A launch costs
//! its plan one line; `Arena::run` walks the rows.

use super::kernel::{self, Access, Kernel};
use super::writer::Writer;
use crate::ir::ValueId;
use crate::program::Program;

/// The entry points of a generated file, each a name and its kernels in launch order, and
/// their launcher functions.
pub(super) struct LaunchPlans<'a> {
    entries: &'a [(&'a str, &'a [(ValueId, Kernel)])],
    /// Each distinct launcher's name and its `launch_unchecked` call, whose vector widths and
    /// buffers come from the row it is given, in order of first use.
    calls: Vec<(String, String)>,
    /// For each entry point, the position in `calls` of each kernel's launcher.
    launchers: Vec<Vec<usize>>,
}

impl<'a> LaunchPlans<'a> {
    /// The plans of `entries`, with the launchers their kernels need.
    pub(super) fn new(entries: &'a [(&'a str, &'a [(ValueId, Kernel)])]) -> LaunchPlans<'a> {
        let mut calls: Vec<(String, String)> = vec![];
        let mut launcher = |k: &Kernel| {
            let call = call(k);
            if let Some(position) = calls.iter().position(|(_, c)| *c == call) {
                return position;
            }
            let base = k.function.rsplit("::").next().unwrap_or(&k.function);
            let taken = |name: &str| calls.iter().any(|(n, _)| n == name);
            let name = (1..)
                .map(|n| if n == 1 { format!("run_{base}") } else { format!("run_{base}_{n}") })
                .find(|name| !taken(name))
                .expect("a free name");
            calls.push((name, call));
            calls.len() - 1
        };
        let launchers = entries.iter().map(|(_, kernels)| kernels.iter().map(|(_, k)| launcher(k)).collect()).collect();
        LaunchPlans { entries, calls, launchers }
    }

    /// How many launcher functions there are.
    pub(super) fn launchers(&self) -> usize {
        self.calls.len()
    }

    /// Whether a kernel launches a template with a program of steps.
    pub(super) fn runs_programs(&self) -> bool {
        self.entries.iter().flat_map(|(_, kernels)| kernels.iter()).any(|(_, k)| !k.sequences.is_empty())
    }

    /// The launcher functions.
    pub(super) fn emit_launchers(&self, w: &mut Writer) {
        for (name, call) in &self.calls {
            w.blank();
            w.open(&format!("unsafe fn {name}(a: &Arena, l: &Launch, count: CubeCount, dim: CubeDim) {{"));
            w.line(&format!("unsafe {{ {call} }};"));
            w.close("}");
        }
    }

    /// A `launch_{entry}` method per entry point, running its plan: one row per kernel, in
    /// order, over the buffers `slot` gives each value.
    pub(super) fn emit_entry_points(&self, w: &mut Writer, p: &Program, slot: &dyn Fn(ValueId) -> usize) {
        let g = &p.graph;
        for (&(entry, kernels), launchers) in self.entries.iter().zip(&self.launchers) {
            w.blank();
            w.open(&format!("fn launch_{entry}(&self) {{"));
            w.open("const PLAN: &[Launch] = &[");
            for ((v, k), &launcher) in kernels.iter().zip(launchers) {
                let buffers: Vec<String> = k
                    .args
                    .iter()
                    .map(|a| {
                        let numel = g.shape(a.buffer).numel();
                        let len = match a.access {
                            Access::Vector => numel / k.vector,
                            Access::Lanes(lanes) => numel / lanes,
                            Access::Scalar | Access::Labels => numel,
                        };
                        format!("({}, {len})", slot(a.buffer))
                    })
                    .collect();
                let grid = match k.grid {
                    kernel::Grid::PerIndex => format!("PerIndex({})", k.work),
                    kernel::Grid::Chunked => format!("Chunked({})", k.work),
                    kernel::Grid::OneCube => "OneCube".into(),
                    kernel::Grid::Balanced => format!("Balanced({})", k.work),
                };
                let more = match k.values.len() {
                    1 => String::new(),
                    n => format!(" (and {} more values)", n - 1),
                };
                w.line(&format!(
                    "Launch::new({}, Grid::{grid}, &{:?}, &[{}], {:?}),",
                    self.calls[launcher].0,
                    k.sizes(),
                    buffers.join(", "),
                    format!("{}{more}", g.label(*v))
                ));
            }
            w.close("];");
            w.line("// SAFETY: the compiler wrote these rows for this arena's memory plan.");
            w.line(&format!("unsafe {{ self.arena.run({:?}, PLAN) }};", p.name));
            w.close("}");
        }
    }
}

/// `k`'s launch, reading its vector widths, buffers and work from a row `l` over arena `a`.
fn call(k: &Kernel) -> String {
    let types = k.types.join(", ");
    if let Some((_, counts)) = k.sequences.split_last() {
        // A template's launcher: how the row's buffers split into its sequences, and its
        // descriptors.
        return format!("{}::<{types}>(a, l, count, dim, {counts:?}, {})", k.function, k.trailing.join(", "));
    }
    let sizes = (0..k.sizes().len()).map(|i| format!("l.sizes[{i}]"));
    let buffers = (0..k.args.len()).map(|i| format!("l.arg(a, {i})"));
    let args: Vec<String> = sizes.chain(buffers).chain(k.trailing.iter().cloned()).collect();
    format!("{}::launch_unchecked::<{types}>(a.client(), count, dim, {})", k.function, args.join(", "))
}

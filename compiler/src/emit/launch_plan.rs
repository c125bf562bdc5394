//! Launch plans: each entry point's kernels as rows of `kiln_runtime::plan::Launch` data; one
//! launcher function per distinct kernel signature, and one `kiln_runtime::templates::Template`
//! constant per distinct template launch, which the rows name. A launch costs its plan one
//! line; `Arena::run` walks the rows.

use super::writer::Writer;
use crate::ir::ValueId;
use crate::kernel::{self, Access, Kernel, UNFOLD};
use crate::plan::storage::Storage;
use crate::plan::{Repeat, Rule, Window};
use crate::program::Program;

/// A distinct launch: a launcher function's name and its `launch_unchecked` call, whose vector
/// widths and buffers come from the row it is given; or a template constant's name and value.
struct Call {
    name: String,
    text: String,
    template: bool,
}

/// The entry points of a generated file, each a name and its kernels in launch order, and
/// their launcher functions.
pub(super) struct LaunchPlans<'a> {
    entries: &'a [(&'a str, &'a [(ValueId, Kernel)])],
    /// Each entry point's stepped loops.
    repeats: &'a [Vec<Repeat>],
    /// The buffers' element types, which set a window's stride in the arena's units.
    storage: &'a Storage,
    /// Each distinct launch, in order of first use.
    calls: Vec<Call>,
    /// For each entry point, the position in `calls` of each kernel's launcher.
    launchers: Vec<Vec<usize>>,
}

impl<'a> LaunchPlans<'a> {
    /// The plans of `entries`, with the launchers their kernels need.
    pub(super) fn new(
        entries: &'a [(&'a str, &'a [(ValueId, Kernel)])],
        repeats: &'a [Vec<Repeat>],
        storage: &'a Storage,
    ) -> LaunchPlans<'a> {
        let mut calls: Vec<Call> = vec![];
        let mut launcher = |k: &Kernel| {
            let text = call(k);
            if let Some(position) = calls.iter().position(|c| c.text == text) {
                return position;
            }
            let base = k.function.rsplit("::").next().unwrap_or(&k.function);
            let base = match is_template(k) {
                true => base.to_uppercase(),
                false => format!("run_{base}"),
            };
            let taken = |name: &str| calls.iter().any(|c| c.name == name);
            let name = (1..)
                .map(|n| if n == 1 { base.clone() } else { format!("{base}_{n}") })
                .find(|name| !taken(name))
                .expect("a free name");
            calls.push(Call { name, text, template: is_template(k) });
            calls.len() - 1
        };
        let launchers = entries.iter().map(|(_, kernels)| kernels.iter().map(|(_, k)| launcher(k)).collect()).collect();
        LaunchPlans { entries, repeats, storage, calls, launchers }
    }

    /// How many launcher functions there are.
    pub(super) fn launchers(&self) -> usize {
        self.calls.len()
    }

    /// Whether a kernel launches a template, whose descriptors name the library's types.
    pub(super) fn launches_templates(&self) -> bool {
        let mut kernels = self.entries.iter().flat_map(|(_, kernels)| kernels.iter());
        kernels.any(|(_, k)| is_template(k) || k.function == UNFOLD)
    }

    /// The launcher functions and template constants.
    pub(super) fn emit_launchers(&self, w: &mut Writer) {
        for Call { name, text, template } in &self.calls {
            if *template {
                w.line(&format!("const {name}: Template = {text};"));
                continue;
            }
            w.blank();
            w.open(&format!("unsafe fn {name}(a: &Arena, l: &Launch, count: CubeCount, dim: CubeDim) {{"));
            w.line(&format!("unsafe {{ {text} }};"));
            w.close("}");
        }
    }

    /// A `launch_{entry}` method per entry point, running its plan: one row per kernel, in
    /// order, over the buffers `slot` gives each value, with a stepped loop's rows run once per
    /// step over its windows. An entry point whose plan begins with an earlier one's whole plan
    /// (evaluation: prediction, then the loss) runs that one's, then its own remaining rows.
    pub(super) fn emit_entry_points(&self, w: &mut Writer, p: &Program, slot: &dyn Fn(ValueId) -> usize) {
        let plans: Vec<Vec<Item>> = (0..self.entries.len()).map(|e| self.items(p, e, slot)).collect();
        for (e, &(entry, _)) in self.entries.iter().enumerate() {
            let earlier = (0..e).find(|&d| !plans[d].is_empty() && plans[e].starts_with(&plans[d]));
            w.blank();
            w.open(&format!("fn launch_{entry}(&self) {{"));
            let items = match earlier {
                Some(d) => {
                    w.line(&format!("self.launch_{}();", self.entries[d].0));
                    &plans[e][plans[d].len()..]
                }
                None => &plans[e][..],
            };
            let mut runs = vec![];
            for (n, group) in items.chunk_by(|a, b| matches!((a, b), (Item::Row(_), Item::Row(_)))).enumerate() {
                let name = match n {
                    0 => "PLAN".to_string(),
                    n => format!("PLAN_{}", n + 1),
                };
                match &group[0] {
                    Item::Row(_) => {
                        w.open(&format!("const {name}: &[Launch] = &["));
                        for item in group {
                            if let Item::Row(row) = item {
                                w.line(row);
                            }
                        }
                        w.close("];");
                        runs.push(format!("self.arena.run({:?}, {name})", p.name));
                    }
                    Item::Repeat { header, rows } => {
                        w.open(&format!("const {name}: Repeat = Repeat {{"));
                        w.line(header);
                        w.open("plan: &[");
                        rows.iter().for_each(|row| w.line(row));
                        w.close("],");
                        w.close("};");
                        runs.push(format!("self.arena.repeat({:?}, &{name})", p.name));
                    }
                }
            }
            w.line("// SAFETY: the compiler wrote these rows for this arena's memory plan.");
            match &runs[..] {
                [run] => w.line(&format!("unsafe {{ {run} }};")),
                runs => {
                    w.open("unsafe {");
                    runs.iter().for_each(|run| w.line(&format!("{run};")));
                    w.close("}");
                }
            }
            w.close("}");
        }
    }

    /// Entry point `e`'s plan: its rows, with each stepped loop's in a block of its own.
    fn items(&self, p: &Program, e: usize, slot: &dyn Fn(ValueId) -> usize) -> Vec<Item> {
        let (_, kernels) = self.entries[e];
        let rows: Vec<String> = kernels
            .iter()
            .zip(&self.launchers[e])
            .map(|((v, k), &launcher)| self.row(p, k, *v, launcher, slot))
            .collect();
        let mut items = vec![];
        let mut i = 0;
        while i < rows.len() {
            match self.repeats[e].iter().find(|r| r.kernels.start == i) {
                Some(r) => {
                    let windows: Vec<String> = r.windows.iter().map(|w| self.window(w, slot)).collect();
                    let trips = r.trips.map_or("None".into(), |lengths| format!("Some({})", slot(lengths)));
                    let header = format!(
                        "steps: {}, reverse: {}, trips: {trips}, windows: &[{}],",
                        r.steps,
                        r.reverse,
                        windows.join(", ")
                    );
                    items.push(Item::Repeat { header, rows: rows[r.kernels.clone()].to_vec() });
                    i = r.kernels.end;
                }
                None => {
                    items.push(Item::Row(rows[i].clone()));
                    i += 1;
                }
            }
        }
        items
    }

    /// A window as the runtime's `Window` constant, over the arena slots `slot` gives.
    fn window(&self, w: &Window, slot: &dyn Fn(ValueId) -> usize) -> String {
        let value = slot(w.value);
        match w.rule {
            Rule::Slice { of, elements, stacked } => {
                let kind = if stacked { "stacked" } else { "slice" };
                format!("Window::{kind}({value}, {}, {})", slot(of), self.storage.units(of, elements))
            }
            Rule::Alternate { last } => format!("Window::alternate({value}, {})", slot(last)),
            Rule::Carried { init, next, last } => {
                format!("Window::carried({value}, {}, {}, {})", slot(init), slot(next), slot(last))
            }
        }
    }

    /// The plan row of kernel `k` (of value `v`), launched by launcher `launcher`.
    fn row(&self, p: &Program, k: &Kernel, v: ValueId, launcher: usize, slot: &dyn Fn(ValueId) -> usize) -> String {
        let g = &p.graph;
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
        let call = &self.calls[launcher];
        let launch = match call.template {
            true => format!("of(&{}", call.name),
            false => format!("new({}", call.name),
        };
        format!(
            "Launch::{launch}, Grid::{grid}, &{:?}, &[{}], {:?}),",
            k.sizes(),
            buffers.join(", "),
            format!("{}{more}", g.label(v))
        )
    }
}

/// `k`'s launch, reading its vector widths, buffers and work from a row `l` over arena `a`.
fn call(k: &Kernel) -> String {
    let types = k.types.join(", ");
    if let Some((_, counts)) = k.sequences.split_last() {
        // A template constant: how the row's buffers split into its sequences, and its
        // descriptors.
        return format!("{}::<{types}>({counts:?}, {})", k.function, k.trailing.join(", "));
    }
    let sizes = (0..k.sizes().len()).map(|i| format!("l.sizes[{i}]"));
    let buffers = (0..k.args.len()).map(|i| format!("l.arg(a, {i})"));
    let args: Vec<String> = sizes.chain(buffers).chain(k.trailing.iter().cloned()).collect();
    format!("{}::launch_unchecked::<{types}>(a.client(), count, dim, {})", k.function, args.join(", "))
}

/// One part of an entry point's plan: a launch row, or a stepped loop's rows with its
/// `Repeat` fields before them.
#[derive(PartialEq)]
enum Item {
    Row(String),
    Repeat { header: String, rows: Vec<String> },
}

/// Whether `k` launches a template (through a `Template` constant).
fn is_template(k: &Kernel) -> bool {
    !k.sequences.is_empty()
}

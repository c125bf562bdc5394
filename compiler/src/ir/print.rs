//! The IR as text: one line per node, `%12 = add %10, %11 : [64, 256]  # 1.linear`.

use super::{DirectWindow, Graph, Op, Stepping, ValueId, Window};
use std::fmt;

impl Graph {
    /// One node as text: `%12 = add %10, %11 : [64, 256]  # 1.linear`.
    pub fn describe(&self, v: ValueId) -> String {
        let node = &self.nodes[v];
        let args = |ids: &[ValueId]| ids.iter().map(|a| format!("%{a}")).collect::<Vec<_>>().join(", ");
        let body = match &node.op {
            Op::Input { name } => format!("input {name:?}"),
            Op::Labels { name, classes } => format!("labels {name:?} classes={classes}"),
            Op::Param { name, init } => format!("param {name:?} init={init:?}"),
            Op::Const(c) => format!("const {c}"),
            Op::Unary(op, a) => format!("{op:?} %{a}").to_lowercase(),
            Op::Binary(op, a, b) => format!("{} {}", format!("{op:?}").to_lowercase(), args(&[*a, *b])),
            Op::Reduce(op, a, axes) => {
                format!("{} %{a} axes={axes:?}", format!("reduce_{op:?}").to_lowercase())
            }
            Op::MatMul(a, b) => format!("matmul {}", args(&[*a, *b])),
            Op::Reshape(a) => format!("reshape %{a}"),
            Op::Permute(a, perm) => format!("permute %{a} perm={perm:?}"),
            Op::Expand(a) => format!("expand %{a}"),
            Op::OneHot(a) => format!("one_hot %{a}"),
            Op::Gather(table, ids, padding) => format!("gather %{table}, %{ids}{}", padding_text(*padding)),
            Op::ScatterAdd(rows, ids, padding) => format!("scatter_add %{rows}, %{ids}{}", padding_text(*padding)),
            Op::Pick(x, labels) => format!("pick %{x}, %{labels}"),
            Op::Iota(axis) => format!("iota axis={axis}"),
            Op::Detach(a) => format!("detach %{a}"),
            Op::Unfold(a, w, pad) => format!("unfold %{a} {} pad={pad}", window(w)),
            Op::Fold(a, w) => format!("fold %{a} {}", window(w)),
            Op::DirectConv(a, b, DirectWindow { k, pad, flip }) => {
                format!("direct_conv {} k={k} pad={pad} flip={flip}", args(&[*a, *b]))
            }
            Op::ConvWeightGrad(a, b, k) => format!("conv_weight_grad {} k={k}", args(&[*a, *b])),
            Op::Mode { train, eval } => format!("mode train=%{train} eval=%{eval}"),
            Op::Select { cond, then, otherwise } => format!("select {}", args(&[*cond, *then, *otherwise])),
            Op::Loop(l) => {
                let bound = |pairs: &[(ValueId, ValueId)]| {
                    pairs.iter().map(|(outer, input)| format!("%{outer} as %{input}")).collect::<Vec<_>>().join(", ")
                };
                let carries: Vec<String> =
                    l.carries.iter().map(|c| format!("%{} as %{} -> %{}", c.init, c.input, c.next)).collect();
                format!(
                    "loop steps={}{}{} carries=[{}] slices=[{}] invariants=[{}] ys=[{}]",
                    l.steps,
                    if l.reverse { " reverse" } else { "" },
                    trips_text(l.trips),
                    carries.join(", "),
                    bound(&l.slices),
                    bound(&l.invariants),
                    args(&l.ys)
                )
            }
            Op::LoopOutput(l, k) => format!("loop_output %{l}, {k}"),
            Op::Concat(parts, axis) => format!("concat {} axis={axis}", args(parts)),
            Op::StepIn(a, stepping) => format!("step_in %{a} {}", stepped(stepping)),
            Op::StepOut(a, stepping) => format!("step_out %{a} {}", stepped(stepping)),
        };
        format!("%{v} = {body} : {}  # {}", node.shape, node.origin)
    }

    /// [`Graph::describe`] without the operands and attributes, as a launch's label in the
    /// profile: `%7 = unfold : [64, 30, 30, 1, 1, 1]  # 0.conv2d`.
    pub fn label(&self, v: ValueId) -> String {
        let node = &self.nodes[v];
        format!("%{v} = {} : {}  # {}", self.op_name(v), node.shape, node.origin)
    }

    /// The name of `v`'s op in the text form: `add`, `reduce_sum`, `unfold`.
    pub fn op_name(&self, v: ValueId) -> String {
        self.describe(v).split(' ').nth(2).unwrap_or_default().to_string()
    }
}

/// ` padding=p` of a gather or scatter that pads, nothing otherwise.
fn padding_text(padding: Option<usize>) -> String {
    padding.map(|p| format!(" padding={p}")).unwrap_or_default()
}

/// `loop=0 steps=12 reverse trips=%3 carry=1` of a stepped loop's input or output.
fn stepped(s: &Stepping) -> String {
    let reverse = if s.reverse { " reverse" } else { "" };
    let carry = s.carry.map(|k| format!(" carry={k}")).unwrap_or_default();
    format!("loop={} steps={}{reverse}{}{carry}", s.id, s.steps, trips_text(s.trips))
}

/// ` trips=%3` of a loop whose trips follow lengths `%3`.
fn trips_text(trips: Option<ValueId>) -> String {
    trips.map(|t| format!(" trips=%{t}")).unwrap_or_default()
}

fn window(w: &Window) -> String {
    format!("kernel={:?} stride={:?} dilation={:?} padding={:?}", w.kernel, w.stride, w.dilation, w.padding)
}

impl Graph {
    /// Writes every node, each loop followed by its body indented two more spaces.
    fn write_indented(&self, f: &mut fmt::Formatter<'_>, indent: usize) -> fmt::Result {
        for (v, node) in self.nodes.iter().enumerate() {
            writeln!(f, "{:indent$}{}", "", self.describe(v))?;
            if let Op::Loop(l) = &node.op {
                l.body.write_indented(f, indent + 2)?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for Graph {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_indented(f, 0)
    }
}

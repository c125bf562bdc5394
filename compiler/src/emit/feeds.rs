//! What an entry point takes (its [`Feeds`]), and the host code the trainer and predictor
//! share around it: length constants, argument lists, input checks and uploads, constants.

use super::writer::Writer;
use super::{describe, name_of};
use crate::ir::{Op, ValueId};
use crate::program::Program;
use std::collections::BTreeMap;

/// The length constants of an entry point's arguments: `{NAME}_LEN` per input, tokens' `_VOCAB`
/// and labels' `_CLASSES`.
pub(super) fn emit_feed_constants(w: &mut Writer, p: &Program, feeds: &Feeds) {
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
            if p.lengths.contains(&v) {
                w.line(&format!(
                    "/// The longest sequence `{name}` may give (each length is in `1..={}`).",
                    classes - 1
                ));
                w.line(&format!("pub const {}_MAX: usize = {};", name.to_uppercase(), classes - 1));
            }
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
pub(super) fn emit_constants(
    w: &mut Writer,
    p: &Program,
    slots: &BTreeMap<ValueId, usize>,
    aliases: &BTreeMap<ValueId, ValueId>,
) {
    let float = p.precision.float();
    for (value, data) in &p.constants {
        // A constant no entry point reads has no buffer.
        let Some(&slot) = slots.get(aliases.get(value).unwrap_or(value)) else { continue };
        let data: Vec<String> = data.iter().map(|x| format!("{x:?}{float}")).collect();
        w.line(&format!("arena.write({slot}, &[{}]); // {}", data.join(", "), describe(p, *value)));
    }
}

/// The parameters of an entry point taking `feeds`: `x: &[f32], y: &[u32]`.
pub(super) fn data_args(p: &Program, feeds: &Feeds) -> String {
    let float = p.precision.float();
    let mut args: Vec<String> = feeds.inputs.iter().map(|&v| format!("{}: &[{float}]", name_of(p, v))).collect();
    args.extend(feeds.tokens.iter().chain(&feeds.labels).map(|&v| format!("{}: &[u32]", name_of(p, v))));
    args.join(", ")
}

/// Checks an entry point's arguments, then uploads them (and writes the loss weights if it
/// reads them); `slot` gives each value's buffer.
pub(super) fn upload(w: &mut Writer, p: &Program, slot: &dyn Fn(ValueId) -> usize, feeds: &Feeds) {
    let float = p.precision.float();
    for &v in feeds.inputs.iter().filter(|v| p.unbatched.contains(v)) {
        let name = name_of(p, v);
        w.line(&format!("kiln_runtime::check_input(\"{name}\", {name}, 1, Self::{}_LEN)?;", name.to_uppercase()));
        w.line(&format!("self.arena.write({}, {name});", slot(v)));
    }
    let batched: Vec<ValueId> = feeds.inputs.iter().copied().filter(|v| !p.unbatched.contains(v)).collect();
    // A value that reads no batched data (a parameter's norm, say) has no rows to check.
    let Some(&first) = batched.first().or(feeds.tokens.first()).or(feeds.labels.first()) else {
        w.line("let rows = Self::BATCH;");
        return;
    };
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
        if p.lengths.contains(&v) {
            // Loops over these lengths run as many steps as the longest row has.
            w.line(&format!(
                "self.arena.set_longest({}, kiln_runtime::check_lengths(\"{name}\", {name}, rows, Self::{upper}_MAX)?);",
                slot(v)
            ));
        } else {
            w.line(&format!(
                "kiln_runtime::check_labels(\"{name}\", {name}, rows, Self::{upper}_LEN, Self::{upper}_VOCAB)?;"
            ));
        }
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
pub(super) struct Feeds {
    /// The float inputs.
    pub inputs: Vec<ValueId>,
    /// The token ids.
    pub tokens: Vec<ValueId>,
    /// The labels.
    pub labels: Vec<ValueId>,
    /// The loss weights of a batch's rows (0 for padding), if read.
    pub sample_weight: Option<ValueId>,
}

impl Feeds {
    /// What reading `roots` needs.
    pub(super) fn read_by(p: &Program, roots: &[ValueId]) -> Feeds {
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
    pub(super) fn of_predict(p: &Program) -> Feeds {
        let feeds = Feeds::read_by(p, &[p.eval_output]);
        if feeds.inputs.is_empty() && feeds.tokens.is_empty() && feeds.labels.is_empty() {
            return Feeds { inputs: p.inputs.clone(), tokens: p.tokens.clone(), labels: vec![], sample_weight: None };
        }
        feeds
    }

    /// The entry point's arguments in order: the float inputs, then the tokens, then the labels.
    pub(super) fn in_order(&self) -> impl Iterator<Item = ValueId> + '_ {
        self.inputs.iter().chain(&self.tokens).chain(&self.labels).copied()
    }

    /// A `kiln_runtime::FeedSpec` expression per argument, in order.
    pub(super) fn specs(&self, p: &Program) -> Vec<String> {
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

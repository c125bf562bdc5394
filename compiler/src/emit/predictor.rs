//! The predictor: a program's `predict` alone, for deployment. Its arena holds the parameters,
//! running statistics and the forward pass's buffers; there are no backward kernels, optimizer
//! state, learning rate or step counter. It loads a checkpoint its trainer saved (ignoring the
//! optimizer state in it) or a PyTorch `state_dict`.

use super::feeds::{data_args, emit_constants, emit_feed_constants, upload, Feeds};
use super::launch_plan::LaunchPlans;
use super::writer::Writer;
use crate::ir::ValueId;
use crate::plan::arena;
use crate::program::Program;
use std::collections::BTreeMap;

/// Writes the `{Name}Predictor` struct: constants, `open`, `load`, `predict`, `last_outputs`,
/// `parameter` and its launcher.
pub(super) fn emit(
    w: &mut Writer,
    p: &Program,
    slots: &BTreeMap<ValueId, usize>,
    aliases: &BTreeMap<ValueId, ValueId>,
    plan: &arena::Plan,
    launch_plans: &LaunchPlans,
) {
    let g = &p.graph;
    let t = format!("{}Predictor", p.name);
    let slot = |v: ValueId| slots[aliases.get(&v).unwrap_or(&v)];
    let float = p.precision.float();
    let batch = g.shape(p.sample_weight).0[0];
    let feeds = Feeds::of_predict(p);
    let tensors = p.checkpoint_tensors();
    let spec = |list: &mut dyn Iterator<Item = (&str, ValueId)>| {
        list.map(|(name, v)| format!("(\"{name}\", &{:?})", g.shape(v).0)).collect::<Vec<_>>().join(", ")
    };

    w.line(&format!("/// Predictor of `{}`: its forward pass alone, in one arena allocated by `open`.", p.name));
    w.open(&format!("pub struct {t} {{"));
    w.line("arena: Arena,");
    w.close("}");
    w.blank();
    w.open(&format!("impl {t} {{"));
    w.line("/// Rows per call of `predict` at most (a shorter batch is padded).");
    w.line(&format!("pub const BATCH: usize = {batch};"));
    emit_feed_constants(w, p, &feeds);
    w.line("/// Elements per sample of `predict`'s output.");
    w.line(&format!("pub const OUTPUT_LEN: usize = {};", g.shape(p.eval_output).numel() / batch));
    w.line("/// The tensors `load` reads (PyTorch's names) and their shapes: parameters, frozen");
    w.line("/// parameters, running statistics.");
    w.line(&format!(
        "pub const PARAMETERS: &'static [(&'static str, &'static [usize])] = &[{}];",
        spec(&mut tensors.iter().copied())
    ));
    w.line("/// The trainer's optimizer state: accepted in a checkpoint and ignored.");
    w.line(&format!(
        "pub const TRAINING_STATE: &'static [(&'static str, &'static [usize])] = &[{}];",
        spec(&mut p.state.iter().map(|s| (s.name.as_str(), s.value)))
    ));
    w.line("/// Bytes of the arena.");
    w.line(&format!("pub const ARENA_BYTES: usize = {};", 4 * plan.total));
    let buffers: Vec<String> = plan.ranges.iter().map(|r| format!("({}, {})", r.start, r.len())).collect();
    w.line("/// Each buffer's offset and length in the arena, in 4-byte units.");
    w.line(&format!("pub const BUFFERS: &'static [(usize, usize)] = &[{}];", buffers.join(", ")));
    w.blank();

    w.line("/// Allocates the arena on `device` and loads `checkpoint` (see `load`).");
    w.open("pub fn open(device: &Device, checkpoint: impl AsRef<std::path::Path>) -> Result<Self, Error> {");
    w.line("let arena = Arena::new(device, Self::ARENA_BYTES, Self::BUFFERS);");
    emit_constants(w, p, slots, aliases);
    w.line("let mut predictor = Self { arena };");
    w.line("predictor.load(checkpoint)?;");
    w.line("Ok(predictor)");
    w.close("}");
    w.blank();
    w.line("/// Loads a checkpoint the trainer saved (its optimizer state is ignored) or a PyTorch");
    w.line("/// `state_dict` as safetensors. Nothing changes unless every tensor matches.");
    w.open("pub fn load(&mut self, path: impl AsRef<std::path::Path>) -> Result<(), Error> {");
    w.line(&format!(
        "let checkpoint = kiln_runtime::checkpoint::load::<{float}>(path.as_ref(), Self::PARAMETERS, Self::TRAINING_STATE)?;"
    ));
    let live: Vec<String> =
        tensors.iter().map(|&(_, v)| slots.contains_key(&v).then(|| slot(v))).map(|s| format!("{s:?}")).collect();
    w.line("// A tensor the forward pass does not read has no buffer (`None`).");
    w.open(&format!("for (slot, data) in [{}].into_iter().zip(&checkpoint.params) {{", live.join(", ")));
    w.open("if let Some(slot) = slot {");
    w.line("self.arena.write(slot, data);");
    w.close("}");
    w.close("}");
    w.line("Ok(())");
    w.close("}");
    w.blank();
    w.line("/// The outputs for a batch of 1 to `BATCH` rows, `OUTPUT_LEN` per row.");
    w.open(&format!("pub fn predict(&mut self, {}) -> Result<Vec<{float}>, Error> {{", data_args(p, &feeds)));
    upload(w, p, &slot, &feeds);
    w.line("self.launch_predict();");
    w.line("Ok(self.last_outputs(rows))");
    w.close("}");
    w.blank();
    w.line("/// The outputs the last `predict` computed, for its first `rows` rows.");
    w.open(&format!("pub fn last_outputs(&self, rows: usize) -> Vec<{float}> {{"));
    w.line(&format!("let mut out = self.arena.read({});", slot(p.eval_output)));
    w.line("out.truncate(rows * Self::OUTPUT_LEN);");
    w.line("out");
    w.close("}");
    w.blank();
    w.line("/// A parameter's or running statistic's values (row-major, PyTorch layout), if the");
    w.line("/// forward pass reads it.");
    w.open(&format!("pub fn parameter(&self, name: &str) -> Option<Vec<{float}>> {{"));
    w.open("let slot = match name {");
    for (name, v) in tensors.iter().filter(|(_, v)| slots.contains_key(v)) {
        w.line(&format!("\"{name}\" => {},", slot(*v)));
    }
    w.line("_ => return None,");
    w.close("};");
    w.line("Some(self.arena.read(slot))");
    w.close("}");
    launch_plans.emit_entry_points(w, p, &slot);
    w.close("}");
}

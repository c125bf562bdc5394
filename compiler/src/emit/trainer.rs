//! The trainer: the generated struct that owns the arena, its constructor (initial weights,
//! constants), the entry points that run the launch plans (train step, predict, evaluate, the
//! micro-batch steps, exposed values), checkpoints, and its `kiln_runtime::Trainer` impl.

use super::feeds::{data_args, emit_constants, emit_feed_constants, upload, Feeds};
use super::launch_plan::LaunchPlans;
use super::name_of;
use super::writer::Writer;
use crate::ir::{Init, Op, ValueId};
use crate::optim::Precision;
use crate::plan::arena;
use crate::program::Program;
use std::collections::BTreeMap;

/// The trainer of `p`, in the module the preamble opened: `slots` numbers the buffers (roots
/// that are views read their `aliases`' buffers), `plan` places them, and `grad_buffers` are the
/// kept gradients' buffers.
pub(super) fn emit(
    w: &mut Writer,
    p: &Program,
    slots: &BTreeMap<ValueId, usize>,
    aliases: &BTreeMap<ValueId, ValueId>,
    plan: &arena::Plan,
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
    w.line("output_slot: Option<usize>,");
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
            Init::NormalZeroRow { mean, std, row, width } => host(format!(
                "kiln_runtime::init::with_zero_row(kiln_runtime::init::normal(seed, {i}, {n}, {mean:?}, {std:?}), {row}, {width})"
            )),
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
        "let trainer = Self {{ arena, learning_rate: {lr:?}, steps: 0, micro: 0, {}{}output_slot: None }};",
        if p.dropouts.is_empty() { "" } else { "seed, " },
        if p.precision.half().is_some() {
            "loss_scale: Self::INITIAL_LOSS_SCALE, good_steps: 0, skipped_steps: 0, "
        } else {
            ""
        },
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
    match p.train_outputs {
        true => w.line(&format!("self.output_slot = Some({});", slot(p.output))),
        false => w.line("self.output_slot = None;"),
    }
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
    w.line(&format!("self.output_slot = Some({});", slot(p.eval_output)));
    w.line("Ok(self.last_outputs(rows))");
    w.close("}");
    w.blank();

    w.line("/// The mean loss on a batch without updating anything (validation).");
    w.open(&format!("pub fn eval_loss(&mut self, {}) -> Result<{float}, Error> {{", data_args(p, &train_feeds)));
    upload(w, p, &slot, &train_feeds);
    w.line("self.launch_evaluate();");
    w.line(&format!("self.output_slot = Some({});", slot(p.eval_output)));
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
    w.line("/// update), `rows * OUTPUT_LEN` values for the `rows` it was given. None (empty) before");
    w.line("/// any, or after a train step of a model whose output takes a loop the loss does not (a");
    w.line("/// greedy decoder's, which only `predict` and `eval_loss` run).");
    w.open(&format!("pub fn last_outputs(&self, rows: usize) -> Vec<{float}> {{"));
    w.line("let Some(slot) = self.output_slot else { return vec![] };");
    w.line("let mut out = self.arena.read(slot);");
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

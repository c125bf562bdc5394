//! A compiled training program: forward, loss, gradients and the optimizer update in one graph.

use crate::dsl::Model;
use crate::error::Error;
use crate::grad::gradients;
use crate::ir::Shape;
use crate::ir::{BinaryOp, Graph, Op, UnaryOp, ValueId};
use crate::optim::{clip_grad_norm, HostScalar, Precision, Training, Updates};
use crate::target::Target;
use std::panic::Location;

/// A trained parameter and the values derived from it in the train step.
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    /// PyTorch-style name, e.g. `1.weight`.
    pub name: String,
    /// The parameter itself.
    pub value: ValueId,
    /// Its gradient.
    pub grad: ValueId,
    /// The updated value, written back in place.
    pub update: ValueId,
}

/// A frozen parameter: used by the model, loaded and saved, never updated.
#[derive(Clone, Debug, PartialEq)]
pub struct Frozen {
    /// PyTorch-style name, e.g. `0.weight`.
    pub name: String,
    /// The parameter itself.
    pub value: ValueId,
}

/// A tensor of optimizer state (moments, momentum buffers), updated in place each step.
#[derive(Clone, Debug, PartialEq)]
pub struct State {
    /// `optimizer.{param}.{key}`, e.g. `optimizer.1.weight.exp_avg`.
    pub name: String,
    /// The state before the step.
    pub value: ValueId,
    /// The state after the step.
    pub update: ValueId,
}

/// A dropout layer's mask, drawn by the trainer before each train step.
#[derive(Clone, Debug, PartialEq)]
pub struct Dropout {
    /// The mask input (0 or 1/(1-p) per element).
    pub mask: ValueId,
    /// Drop probability.
    pub p: f64,
    /// The layer's module index (its stream of random numbers).
    pub layer: usize,
}

/// A gradient accumulator of one parameter (with `Training::accumulate(k)`, k > 1).
#[derive(Clone, Debug, PartialEq)]
pub struct Accumulator {
    /// The persistent sum.
    pub value: ValueId,
    /// `grad / k`: written by the first micro-batch of a step.
    pub first: ValueId,
    /// `sum + grad / k`: written by the later ones; the last feeds the optimizer.
    pub next: ValueId,
}

/// A value the trainer returns from a method of its own ([`Model::expose`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Exposed {
    /// The method's name.
    pub name: String,
    /// The value, in inference mode.
    pub value: ValueId,
}

/// Everything code generation needs: the graph and the roles of its values.
#[derive(Clone, Debug)]
pub struct Program {
    /// The generated trainer's type name.
    pub name: String,
    /// Forward, loss, gradients and updates.
    pub graph: Graph,
    /// The f32 inputs, in declaration order.
    pub inputs: Vec<ValueId>,
    /// The inputs fed whole, without a batch axis (a subset of `inputs`).
    pub unbatched: Vec<ValueId>,
    /// The label inputs, in declaration order.
    pub labels: Vec<ValueId>,
    /// Integer inputs fed to every entry point (embedding ids, sequence lengths), in
    /// declaration order.
    pub tokens: Vec<ValueId>,
    /// The tokens that are sequence lengths, each in `1..=max_len`.
    pub lengths: Vec<ValueId>,
    /// The trained parameters, in declaration (and checkpoint) order.
    pub params: Vec<Param>,
    /// The frozen parameters, in declaration order.
    pub frozen: Vec<Frozen>,
    /// The scalar loss of the train step.
    pub loss: ValueId,
    /// The outputs (logits) of the train step.
    pub output: ValueId,
    /// The loss in inference mode (`eval_loss`): no dropout, running statistics.
    pub eval_loss: ValueId,
    /// The value `predict` returns, in inference mode.
    pub eval_output: ValueId,
    /// Running statistics (batch norm), updated in place by the train step and saved.
    pub statistics: Vec<State>,
    /// Values with trainer methods of their own (JVPs, HVPs, features), in inference mode.
    pub exposed: Vec<Exposed>,
    /// Dropout masks the trainer draws each train step.
    pub dropouts: Vec<Dropout>,
    /// Optimizer state, in checkpoint order.
    pub state: Vec<State>,
    /// `[1]` inputs the trainer computes on the host before each step.
    pub scalars: Vec<(HostScalar, ValueId)>,
    /// The learning rate at construction.
    pub initial_learning_rate: f64,
    /// Micro-batches per optimizer step.
    pub accumulate: usize,
    /// One per parameter when `accumulate > 1`.
    pub accumulators: Vec<Accumulator>,
    /// Per-sample loss weights `[batch, 1]`, filled by the trainer.
    pub sample_weight: ValueId,
    /// Constant tensors (a loss's class weights): inputs the trainer writes once, with their
    /// data.
    pub constants: Vec<(ValueId, Vec<f64>)>,
    /// The number format of buffers, kernels and the trainer's API.
    pub precision: Precision,
    /// Whether ops share kernels (`Training::unfused` turns it off).
    pub fuse: bool,
    /// Whether the train step keeps every gradient for the trainer's `gradient(name)`
    /// (`Training::keep_gradients`).
    pub keep_gradients: bool,
    /// The CPU whose vector registers the product tiles are shaped for.
    pub target: Target,
    /// Mixed precision: `[1]`, 1 if every gradient of the step is finite, else 0 (the update
    /// then leaves parameters and optimizer state as they were).
    pub finite_gradients: Option<ValueId>,
    /// Whether the train step computes the output (for `last_outputs`): unless it takes a
    /// loop that the loss does not, as a greedy decoder's does, which only `predict` and
    /// `eval_loss` then run. A classifier's logits, or their softmax, come nearly free.
    pub train_outputs: bool,
}

impl Program {
    /// Builds the train step of a declared model. The passes, in order, with the IR verifier
    /// after each that changes the graph:
    /// 1. [`check_declarations`]: the loss is a scalar and every declared input is used;
    /// 2. [`specialise_modes`]: the train and inference graphs, each mode-dependent value
    ///    (dropout, batch statistics) resolved to its side;
    /// 3. [`split_frozen`]: trained and frozen parameters;
    /// 4. [`differentiate`]: reverse mode, through the loss scale in mixed precision;
    /// 5. [`accumulate`]: gradients summed over micro-batches;
    /// 6. [`clip_grad_norm`]: gradients clipped by their global norm;
    /// 7. [`append_updates`]: the optimizer's update of every parameter, skipped on overflow.
    ///
    /// The back end ([`crate::emit`]) then lowers, schedules, fuses, plans memory
    /// and emits the program.
    pub(crate) fn build(
        model: &Model,
        loss: ValueId,
        output: ValueId,
        training: Training,
        location: &'static Location<'static>,
    ) -> Result<Program, Error> {
        let state = model.state.borrow();
        let mut graph = state.graph.clone();
        let verified = |graph: &Graph, pass: &str| verified(graph, pass, location);
        verified(&graph, "the DSL")?;
        let sample_weight = check_declarations(&graph, &state, loss, output, location)?;
        let modes = specialise_modes(&mut graph, &state, loss, output);
        verified(&graph, "specialising the train and inference graphs")?;
        let (trained, frozen) = split_frozen(&graph, &state.params, &state.frozen)?;
        if training.precision.half().is_some() && training.accumulate > 1 {
            let message = "mixed precision with gradient accumulation is not supported".into();
            return Err(Error { layer: "compile".into(), message, location });
        }
        let gradients = differentiate(&mut graph, &training, modes.loss, &trained, location)?;
        verified(&graph, "reverse-mode differentiation")?;
        let Gradients { mut grads, loss_scale, finite } = gradients;
        let accumulators = accumulate(&mut graph, training.accumulate, &trained, &mut grads);
        if let Some(max_norm) = training.clip_grad_norm {
            graph.set_origin("clip_grad_norm");
            grads = clip_grad_norm(&mut graph, &grads, max_norm);
        }
        let (params, state_values, scalars) =
            append_updates(&mut graph, &training, &trained, grads, finite.zip(loss_scale));
        verified(&graph, "the optimizer update")?;
        let train_outputs = !loop_only_for(&graph, modes.output, modes.loss);
        Ok(Program {
            name: model.name.clone(),
            graph,
            inputs: state.inputs.clone(),
            unbatched: state.unbatched.clone(),
            labels: state.labels.clone(),
            tokens: state.tokens.clone(),
            lengths: state.lengths.clone(),
            params,
            frozen,
            loss: modes.loss,
            output: modes.output,
            eval_loss: modes.eval_loss,
            eval_output: modes.eval_output,
            statistics: modes.statistics,
            exposed: modes.exposed,
            dropouts: state.dropouts.iter().map(|&(mask, p, layer)| Dropout { mask, p, layer }).collect(),
            state: state_values,
            scalars,
            initial_learning_rate: training.optimizer.lr(),
            accumulate: training.accumulate,
            accumulators,
            sample_weight,
            constants: state.constants.clone(),
            precision: training.precision,
            fuse: training.fuse,
            keep_gradients: training.keep_gradients,
            target: training.target,
            finite_gradients: finite,
            train_outputs,
        })
    }

    /// Replaces every value `v` the program names by `f(v)`, after a pass renumbered the
    /// graph's values.
    pub(crate) fn map_values(&mut self, f: impl Fn(ValueId) -> ValueId) {
        for values in [&mut self.inputs, &mut self.unbatched, &mut self.labels, &mut self.tokens, &mut self.lengths] {
            values.iter_mut().for_each(|v| *v = f(*v));
        }
        for q in &mut self.params {
            (q.value, q.grad, q.update) = (f(q.value), f(q.grad), f(q.update));
        }
        self.frozen.iter_mut().for_each(|q| q.value = f(q.value));
        for s in self.statistics.iter_mut().chain(&mut self.state) {
            (s.value, s.update) = (f(s.value), f(s.update));
        }
        self.exposed.iter_mut().for_each(|e| e.value = f(e.value));
        self.dropouts.iter_mut().for_each(|d| d.mask = f(d.mask));
        self.scalars.iter_mut().for_each(|(_, v)| *v = f(*v));
        for a in &mut self.accumulators {
            (a.value, a.first, a.next) = (f(a.value), f(a.first), f(a.next));
        }
        (self.loss, self.output, self.eval_loss, self.eval_output) =
            (f(self.loss), f(self.output), f(self.eval_loss), f(self.eval_output));
        self.sample_weight = f(self.sample_weight);
        self.constants.iter_mut().for_each(|(v, _)| *v = f(*v));
        self.finite_gradients = self.finite_gradients.map(&f);
    }

    /// What a checkpoint holds besides optimizer state, in its order: the trained parameters,
    /// the frozen ones, then the running statistics, each with its (PyTorch) name.
    pub fn checkpoint_tensors(&self) -> Vec<(&str, ValueId)> {
        let params = self.params.iter().map(|q| (q.name.as_str(), q.value));
        let frozen = self.frozen.iter().map(|f| (f.name.as_str(), f.value));
        params.chain(frozen).chain(self.statistics.iter().map(|s| (s.name.as_str(), s.value))).collect()
    }

    /// Every parameter value, trained or frozen, in declaration order (initialisation streams).
    pub fn all_params(&self) -> Vec<(&str, ValueId)> {
        let mut all: Vec<(&str, ValueId)> = self.params.iter().map(|q| (q.name.as_str(), q.value)).collect();
        all.extend(self.frozen.iter().map(|f| (f.name.as_str(), f.value)));
        all.sort_by_key(|&(_, v)| v);
        all
    }

    /// The generated module's name: the model's name in snake case (`MnistMlp` -> `mnist_mlp`).
    pub fn module_name(&self) -> String {
        let mut out = String::new();
        for (i, c) in self.name.chars().enumerate() {
            if c.is_uppercase() && i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        }
        out
    }

    /// The values the train step must produce: loss, outputs, gradients, updated parameters,
    /// optimizer state and running statistics.
    pub fn train_roots(&self) -> Vec<ValueId> {
        let mut roots = self.step_outputs();
        roots.extend(self.params.iter().filter(|_| self.keep_gradients).map(|p| p.grad));
        roots.extend(self.params.iter().map(|p| p.update));
        roots.extend(self.state.iter().chain(&self.statistics).map(|s| s.update));
        roots.extend(self.finite_gradients);
        roots
    }

    /// The loss, and the output where a train step computes it.
    fn step_outputs(&self) -> Vec<ValueId> {
        let mut roots = vec![self.loss];
        roots.extend(Some(self.output).filter(|_| self.train_outputs));
        roots
    }

    /// Roots of the micro-batch entry points of an accumulated step: `(first, later)`.
    pub fn accumulate_roots(&self) -> (Vec<ValueId>, Vec<ValueId>) {
        let with = |pick: fn(&Accumulator) -> ValueId| {
            let mut roots = self.step_outputs();
            roots.extend(self.accumulators.iter().map(pick));
            roots.extend(self.statistics.iter().map(|s| s.update));
            roots
        };
        (with(|a| a.first), with(|a| a.next))
    }
}

/// Whether `output` takes a loop that `loss` does not.
fn loop_only_for(graph: &Graph, output: ValueId, loss: ValueId) -> bool {
    let (for_output, for_loss) = (graph.live_set(&[output]), graph.live_set(&[loss]));
    graph.nodes.iter().enumerate().any(|(v, node)| for_output[v] && !for_loss[v] && matches!(node.op, Op::Loop(..)))
}

/// Checks that `loss` is a scalar loss layer (returning its per-sample weights) and that the
/// loss, the output or an exposed value uses every declared input, label and token.
fn check_declarations(
    graph: &Graph,
    state: &crate::dsl::State,
    loss: ValueId,
    output: ValueId,
    location: &'static Location<'static>,
) -> Result<ValueId, Error> {
    let sample_weight = state.sample_weight.filter(|_| graph.shape(loss).numel() == 1).ok_or_else(|| Error {
        layer: "compile".into(),
        message: format!(
            "the loss must be a scalar loss layer such as cross_entropy, got a value of shape {}",
            graph.shape(loss)
        ),
        location,
    })?;
    let exposed: Vec<ValueId> = state.exposed.iter().map(|&(_, v)| v).collect();
    let used = graph.live_set(&[&[loss, output][..], &exposed].concat());
    if let Some(&(v, location)) = state.declared.iter().find(|&&(v, _)| !used[v]) {
        let name = graph.nodes[v].op.name().expect("declarations are named").to_string();
        let message = format!(
            "`{name}` {} is declared but neither the loss, the output nor an exposed value uses it",
            graph.shape(v)
        );
        return Err(Error { layer: name, message, location });
    }
    Ok(sample_weight)
}

/// The roots of the train step and of inference, each mode-dependent value resolved.
struct Modes {
    loss: ValueId,
    output: ValueId,
    statistics: Vec<State>,
    eval_loss: ValueId,
    eval_output: ValueId,
    exposed: Vec<Exposed>,
}

/// Specialises the graph: the train step sees the train side of every mode-dependent value,
/// inference the eval side; nodes that do not depend on the mode are shared.
fn specialise_modes(graph: &mut Graph, state: &crate::dsl::State, loss: ValueId, output: ValueId) -> Modes {
    let mut train_roots = vec![loss, output];
    train_roots.extend(state.statistics.iter().map(|s| s.2));
    let train_roots = graph.specialise(&train_roots, true);
    let statistics = state
        .statistics
        .iter()
        .zip(&train_roots[2..])
        .map(|((name, value, _), &update)| State { name: name.clone(), value: *value, update })
        .collect();
    let exposed_values: Vec<ValueId> = state.exposed.iter().map(|&(_, v)| v).collect();
    let eval = graph.specialise(&[&[loss, output][..], &exposed_values].concat(), false);
    let exposed =
        state.exposed.iter().zip(&eval[2..]).map(|((name, _), &value)| Exposed { name: name.clone(), value }).collect();
    Modes {
        loss: train_roots[0],
        output: train_roots[1],
        statistics,
        eval_loss: eval[0],
        eval_output: eval[1],
        exposed,
    }
}

/// Each trained parameter's gradient, and in mixed precision the loss scale and the flag that
/// every gradient is finite.
struct Gradients {
    grads: Vec<ValueId>,
    loss_scale: Option<ValueId>,
    finite: Option<ValueId>,
}

/// Reverse mode: the gradient of `loss` with respect to each of `trained`. Mixed precision
/// differentiates `loss * scale` (a host scalar), then divides the gradients by the scale.
fn differentiate(
    graph: &mut Graph,
    training: &Training,
    loss: ValueId,
    trained: &[ValueId],
    location: &'static Location<'static>,
) -> Result<Gradients, Error> {
    let loss_scale = training.precision.half().map(|_| graph.input("__loss_scale", Shape(vec![1])));
    let scaled_loss = match loss_scale {
        Some(scale) => graph.mul(loss, scale),
        None => loss,
    };
    let grads = gradients(graph, scaled_loss, trained);
    if let Some((&p, _)) = trained.iter().zip(&grads).find(|(_, g)| g.is_none()) {
        let name = graph.nodes[p].op.name().expect("parameters are named");
        let message = format!("parameter {name:?} gets no gradient from the loss");
        return Err(Error { layer: "compile".into(), message, location });
    }
    let mut grads: Vec<ValueId> = grads.into_iter().flatten().collect();
    let finite = loss_scale.map(|scale| {
        graph.set_origin("loss_scale");
        grads = grads.iter().map(|&g| graph.div(g, scale)).collect();
        all_finite(graph, &grads)
    });
    Ok(Gradients { grads, loss_scale, finite })
}

/// With `micro_batches > 1`, each gradient becomes its accumulator plus this micro-batch's
/// share, kept in an accumulator parameter per trained parameter.
fn accumulate(graph: &mut Graph, micro_batches: usize, trained: &[ValueId], grads: &mut [ValueId]) -> Vec<Accumulator> {
    if micro_batches <= 1 {
        return vec![];
    }
    graph.set_origin("accumulate");
    let mut accumulators = vec![];
    for (g, &p) in grads.iter_mut().zip(trained) {
        let name = graph.nodes[p].op.name().expect("parameters are named").to_string();
        let shape = graph.shape(p).clone();
        let value = graph.param(&format!("accumulator.{name}"), shape, crate::ir::Init::Constant(0.0));
        let first = graph.scale(*g, 1.0 / micro_batches as f64);
        let next = graph.add(value, first);
        accumulators.push(Accumulator { value, first, next });
        *g = next;
    }
    accumulators
}

/// Appends the optimizer's update of every trained parameter; returns the parameters, the
/// optimizer state and the host scalars the step reads. With `overflow` (the finiteness flag
/// and the loss scale of mixed precision), a step whose gradients are not all finite keeps
/// every parameter and optimizer state as it was.
fn append_updates(
    graph: &mut Graph,
    training: &Training,
    trained: &[ValueId],
    grads: Vec<ValueId>,
    overflow: Option<(ValueId, ValueId)>,
) -> (Vec<Param>, Vec<State>, Vec<(HostScalar, ValueId)>) {
    graph.set_origin("optimizer");
    let mut updates = Updates { graph, scalars: vec![], state: vec![] };
    let mut params = vec![];
    for (&value, grad) in trained.iter().zip(grads) {
        let name = updates.graph.nodes[value].op.name().expect("parameters are named").to_string();
        let update = updates.update(&training.optimizer, &name, value, grad);
        params.push(Param { name, value, grad, update });
    }
    let Updates { graph, mut scalars, state: mut optimizer_state } = updates;
    if let Some((ok, scale)) = overflow {
        graph.set_origin("loss_scale");
        for q in params.iter_mut() {
            q.update = graph.select(ok, q.update, q.value);
        }
        for (_, value, update) in optimizer_state.iter_mut() {
            *update = graph.select(ok, *update, *value);
        }
        scalars.push((HostScalar::LossScale, scale));
    }
    let state = optimizer_state.into_iter().map(|(name, value, update)| State { name, value, update }).collect();
    (params, state, scalars)
}

/// `[1]`: 1 if every element of `values` is finite, else 0. An element counts as bad unless
/// `f32::MAX > |x|`, an ordered comparison that is false for infinities and NaN (`0 * x` would
/// not do: CubeCL folds it to 0).
fn all_finite(graph: &mut Graph, values: &[ValueId]) -> ValueId {
    let bad_counts: Vec<ValueId> = values
        .iter()
        .map(|&v| {
            let magnitude = graph.unary(UnaryOp::Abs, v);
            let largest = graph.scalar_like(f64::from(f32::MAX), v);
            let finite = graph.binary(BinaryOp::Greater, largest, magnitude);
            let one = graph.scalar_like(1.0, v);
            let bad = graph.sub(one, finite);
            let axes: Vec<usize> = (0..graph.shape(v).rank()).collect();
            let count = graph.sum(bad, &axes);
            graph.reshape(count, Shape(vec![1]))
        })
        .collect();
    let total = bad_counts.into_iter().reduce(|a, b| graph.add(a, b)).expect("a trained model has parameters");
    let zero = graph.constant(0.0, Shape(vec![1]));
    graph.binary(BinaryOp::Equal, total, zero)
}

/// Splits `params` into trained and frozen ones by the `freeze` requests (a parameter name or
/// a layer index); a request that matches nothing is an error at its call site.
fn split_frozen(
    graph: &Graph,
    params: &[ValueId],
    requests: &[(String, &'static Location<'static>)],
) -> Result<(Vec<ValueId>, Vec<Frozen>), Error> {
    let name = |v: ValueId| graph.nodes[v].op.name().expect("parameters are named").to_string();
    let matches = |request: &str, param: &str| {
        param == request || param.strip_prefix(request).is_some_and(|rest| rest.starts_with('.'))
    };
    for (request, location) in requests {
        if !params.iter().any(|&p| matches(request, &name(p))) {
            let names: Vec<String> = params.iter().map(|&p| name(p)).collect();
            return Err(Error {
                layer: "freeze".into(),
                message: format!("no parameter or layer named {request:?}; the parameters are {}", names.join(", ")),
                location,
            });
        }
    }
    let (frozen, trained): (Vec<ValueId>, Vec<ValueId>) =
        params.iter().partition(|&&p| requests.iter().any(|(request, _)| matches(request, &name(p))));
    let frozen = frozen.into_iter().map(|value| Frozen { name: name(value), value }).collect();
    Ok((trained, frozen))
}

/// Runs the IR verifier after `pass`. A broken rule is a compiler bug, reported as an error
/// naming the layer its node came from rather than a failure in a later pass.
fn verified(graph: &Graph, pass: &str, location: &'static Location<'static>) -> Result<(), Error> {
    crate::ir::verify(graph).map_err(|v| Error {
        layer: v.origin,
        message: format!("internal compiler error after {pass}: {}", v.message),
        location,
    })
}

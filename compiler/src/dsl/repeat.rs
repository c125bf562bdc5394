//! `Model::repeat`: a step written with the DSL, run over a sequence as one IR loop (`lax.scan`),
//! for loops the layers do not cover, such as a decoder that attends and feeds back its output.
//!
//! The step is traced once: its ops are appended to the model's graph, then moved into the
//! loop's body. Values of the model it reads (parameters, an encoder's states) become the loop's
//! invariants, so layers are declared before the loop (`model.lstm_cell`, `model.dense`,
//! `model.embedding`) and applied inside it.

use super::{Model, State, Tensor};
use crate::ir::{scan_sinking_tails, Carry, Graph, Loop, Node, Op, Shape, ValueId};
use std::collections::HashMap;
use std::panic::Location;

/// What a traced step declared, to tell whether it declared anything (it may not).
#[derive(PartialEq)]
struct Declarations([usize; 10]);

impl Declarations {
    fn of(s: &State) -> Declarations {
        Declarations([
            s.inputs.len(),
            s.labels.len(),
            s.tokens.len(),
            s.params.len(),
            s.declared.len(),
            s.statistics.len(),
            s.dropouts.len(),
            s.exposed.len(),
            s.constants.len(),
            usize::from(s.sample_weight.is_some()),
        ])
    }
}

impl Model {
    /// Runs `step` `steps` times, as `jax.lax.scan` does: each step gets the carried values
    /// (starting from `carries`) and its slice `[batch, ..]` of each of `sliced`
    /// (`[batch, steps, ..]`, sliced along axis 1 as `select(1, t)` does), and returns the next
    /// carried values (same shapes) and its outputs. Returns the carried values after the last
    /// step and each output stacked along axis 1, `[batch, steps, ..]` (as `Tensor::stack(.., 1)`).
    ///
    /// The step is compiled once, whatever `steps` is, and differentiated as a loop
    /// (backpropagation through time). It may read any value declared before it, but may not
    /// declare layers, inputs or a loss: declare them first and apply them inside.
    #[track_caller]
    pub fn repeat<'m>(
        &'m self,
        steps: usize,
        carries: &[Tensor<'m>],
        sliced: &[Tensor<'m>],
        step: impl FnOnce(&[Tensor<'m>], &[Tensor<'m>]) -> (Vec<Tensor<'m>>, Vec<Tensor<'m>>),
    ) -> (Vec<Tensor<'m>>, Vec<Tensor<'m>>) {
        let location = Location::caller();
        let failed = |count: usize| vec![Tensor { model: self, id: None }; count];
        // Placeholders for the carried values and the slices, traced into the graph.
        let traced = self.checked("repeat", location, |s| {
            // A missing id means a failed layer, whose error is recorded: `checked` returns first.
            let ids = carries.iter().chain(sliced).map(|t| t.id).collect::<Option<Vec<ValueId>>>();
            let ids = ids.expect("an error is recorded");
            if steps == 0 {
                return Err("repeats no step".into());
            }
            let start = s.graph.nodes.len();
            s.graph.set_origin("repeat");
            let mut placeholders = vec![];
            for (k, &v) in ids.iter().enumerate() {
                let shape = s.graph.shape(v).clone();
                let shape = match k < carries.len() {
                    true => shape,
                    false if shape.rank() >= 2 && shape.0[1] == steps => Shape([&shape.0[..1], &shape.0[2..]].concat()),
                    false => return Err(format!("slices [batch, {steps}, ..] along axis 1, got {shape}")),
                };
                placeholders.push(s.graph.input(&format!("__step{k}"), shape));
            }
            Ok((start, ids, placeholders, Declarations::of(s)))
        });
        let Some((start, outer, placeholders, declared)) = traced else {
            // The step still runs, on failed values, so that its outputs can be counted.
            let (_, ys) = step(&failed(carries.len()), &failed(sliced.len()));
            return (failed(carries.len()), failed(ys.len()));
        };
        let tensor = |id| Tensor { model: self, id: Some(id) };
        let (carried, slices) = placeholders.split_at(carries.len());
        let (next, ys) = step(
            &carried.iter().map(|&p| tensor(p)).collect::<Vec<_>>(),
            &slices.iter().map(|&p| tensor(p)).collect::<Vec<_>>(),
        );
        let outputs = self.checked("repeat", location, |s| {
            // A step that failed has recorded its error, so `checked` returned first.
            let returned = next.iter().chain(&ys).map(|t| t.id).collect::<Option<Vec<ValueId>>>();
            let returned = returned.expect("an error is recorded");
            if Declarations::of(s) != declared {
                return Err(
                    "the step declares a layer, an input or a loss: declare it before `repeat`, apply it inside".into(),
                );
            }
            if next.len() != carries.len() {
                return Err(format!("the step returns {} carried values for {}", next.len(), carries.len()));
            }
            for (&init, &value) in outer.iter().zip(&returned[..carries.len()]) {
                let (expected, got) = (s.graph.shape(init), s.graph.shape(value));
                if expected != got {
                    return Err(format!("a carried value starts as {expected} but the step returns {got}"));
                }
            }
            Ok(extract(&mut s.graph, start, steps, &outer, &placeholders, &returned, carries.len()))
        });
        match outputs {
            Some((last, stacked)) => {
                (last.into_iter().map(tensor).collect(), stacked.into_iter().map(tensor).collect())
            }
            None => (failed(carries.len()), failed(ys.len())),
        }
    }
}

/// Moves the traced step (the nodes from `start` on) out of `g` into a loop's body and appends
/// the loop: `outer` are the carries' initial values then the sliced values, `placeholders`
/// their stand-ins in the trace, `returned` the next carries then the outputs. Returns the
/// carries after the last step and the outputs stacked along axis 1.
fn extract(
    g: &mut Graph,
    start: usize,
    steps: usize,
    outer: &[ValueId],
    placeholders: &[ValueId],
    returned: &[ValueId],
    carries: usize,
) -> (Vec<ValueId>, Vec<ValueId>) {
    let traced: Vec<Node> = g.nodes.drain(start..).collect();
    let mut body = Graph::default();
    let mut map: HashMap<ValueId, ValueId> = HashMap::new();
    let mut invariants: Vec<(ValueId, ValueId)> = vec![];
    // A value from before the step is read whole at every step: an invariant.
    let mut read = |body: &mut Graph, map: &mut HashMap<ValueId, ValueId>, a: ValueId| {
        if a < start && !map.contains_key(&a) {
            let op = Op::Input { name: format!("__read{a}") };
            body.nodes.push(Node { op, shape: g.shape(a).clone(), origin: "repeat".into() });
            map.insert(a, body.nodes.len() - 1);
            invariants.push((a, body.nodes.len() - 1));
        }
    };
    for (offset, node) in traced.into_iter().enumerate() {
        for a in node.op.operands() {
            read(&mut body, &mut map, a);
        }
        let op = node.op.clone().map_operands(|a| map[&a]);
        body.nodes.push(Node { op, ..node });
        map.insert(start + offset, body.nodes.len() - 1);
    }
    for &value in returned {
        read(&mut body, &mut map, value);
    }
    let (initial, sliced) = outer.split_at(carries);
    let carried = initial
        .iter()
        .zip(placeholders)
        .zip(returned)
        .map(|((&init, &input), &next)| Carry { init, input: map[&input], next: map[&next] })
        .collect();
    // Slices are taken along the leading axis: the step axis goes first, and back after.
    let time_major = |g: &mut Graph, v: ValueId| {
        let rank = g.shape(v).rank();
        let perm: Vec<usize> = [1, 0].into_iter().chain(2..rank).collect();
        g.permute(v, &perm)
    };
    g.set_origin("repeat");
    let slices =
        sliced.iter().zip(&placeholders[carries..]).map(|(&v, &input)| (time_major(g, v), map[&input])).collect();
    let ys = returned[carries..].iter().map(|y| map[y]).collect();
    let looped = Loop { steps, reverse: false, body, carries: carried, slices, invariants, ys, trips: None };
    let outputs = scan_sinking_tails(g, looped);
    let stacked = outputs[carries..].iter().map(|&y| time_major(g, y)).collect();
    (outputs[..carries].to_vec(), stacked)
}

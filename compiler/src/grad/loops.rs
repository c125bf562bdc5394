//! The derivatives of a loop, each itself a loop whose body is the derivative of the step.
//!
//! - Reverse mode is backpropagation through time: a loop over the steps in the other order
//!   whose body is the step's vector-Jacobian product, reading what it needs of the forward
//!   step from values the forward loop saves. It carries the carries' cotangents; its outputs
//!   are the sliced values' cotangents and, per step, the invariants', summed over the steps.
//! - Forward mode runs the step and its JVP side by side: the tangents of the carries are
//!   carried too.

use super::forward::jvp;
use super::reverse::vjp;
use crate::ir::{Carry, Graph, Loop, Node, Op, Shape, ValueId};

/// The node of each output of loop `v` among the values before `end` (`None` where nothing
/// reads that output).
pub(super) fn outputs_of(g: &Graph, v: ValueId, end: ValueId) -> Vec<Option<ValueId>> {
    let Op::Loop(l) = &g.nodes[v].op else { unreachable!("outputs of a loop") };
    let mut outputs = vec![None; l.outputs().len()];
    for (o, node) in g.nodes.iter().enumerate().take(end).skip(v + 1) {
        if let Op::LoopOutput(of, k) = node.op {
            if of == v {
                outputs[k] = Some(o);
            }
        }
    }
    outputs
}

/// Index `index` of the leading axis of `stacked`, without that axis.
fn slice_at(g: &mut Graph, stacked: ValueId, index: usize) -> ValueId {
    let slice = g.narrow(stacked, 0, index, 1);
    let shape = Shape(g.shape(stacked).0[1..].to_vec());
    g.reshape(slice, shape)
}

/// The reverse-mode rule of loop `v`, given the cotangent of each of its outputs: the
/// contribution to each operand that `needs` (in [`Loop::operands`] order).
///
/// The reverse loop's body is the step's vector-Jacobian product. What it reads of the
/// forward step is saved by the forward loop as extra outputs (residuals), one slice per step,
/// except what is free to recompute (constants and views) or bound anyway (the forward
/// slices and invariants).
pub(super) fn reverse(
    g: &mut Graph,
    v: ValueId,
    cotangents: &[Option<ValueId>],
    needs: &[bool],
) -> Vec<(ValueId, ValueId)> {
    let Op::Loop(l) = g.nodes[v].op.clone() else { unreachable!("the reverse of a loop") };
    let l = *l;
    let carries = l.carries.len();
    let forward_nodes = l.body.nodes.len();
    let mut body = l.body.clone();
    body.set_origin("grad");
    // Each carry's cotangent is carried backwards, plus its output's own cotangent at the
    // step; each output's cotangent is read one slice per step.
    let mut cotangent_slices: Vec<(ValueId, ValueId)> = vec![];
    let mut seeds: Vec<(ValueId, ValueId)> = vec![];
    let mut reverse_carries: Vec<Carry> = vec![];
    for (k, c) in l.carries.iter().enumerate() {
        let shape = body.shape(c.input).clone();
        let carried = body.input(&format!("d{}", c.input), shape.clone());
        let mut cotangent = carried;
        if let Some(outer) = cotangents[k] {
            let at_step = body.input(&format!("g{k}"), shape.clone());
            cotangent_slices.push((outer, at_step));
            cotangent = body.add(carried, at_step);
        }
        seeds.push((c.next, cotangent));
        let zeros = g.constant(0.0, shape);
        reverse_carries.push(Carry { init: zeros, input: carried, next: carried });
    }
    for (j, &y) in l.ys.iter().enumerate() {
        if let Some(outer) = cotangents[carries + j] {
            let at_step = body.input(&format!("gy{j}"), body.shape(y).clone());
            cotangent_slices.push((outer, at_step));
            seeds.push((y, at_step));
        }
    }
    let carry_inputs: Vec<ValueId> = l.carries.iter().map(|c| c.input).collect();
    let needed = |bound: &[(ValueId, ValueId)], needs: &[bool]| -> Vec<ValueId> {
        bound.iter().zip(needs).filter(|(_, &n)| n).map(|(&(_, input), _)| input).collect()
    };
    let needed_slices = needed(&l.slices, &needs[carries..]);
    let needed_invariants = needed(&l.invariants, &needs[carries + l.slices.len()..]);
    let wrt = [&carry_inputs[..], &needed_slices, &needed_invariants].concat();
    let mut grads = vjp(&mut body, &seeds, &wrt).into_iter();
    for (carry, input) in reverse_carries.iter_mut().zip(&carry_inputs) {
        carry.next = grads.next().flatten().unwrap_or_else(|| body.zeros_like(*input));
    }
    // Per-step cotangents of the needed slices and invariants, where there are any.
    let (mut ys, mut readers) = (vec![], vec![]);
    for (&input, grad) in needed_slices.iter().chain(&needed_invariants).zip(grads) {
        if let Some(grad) = grad {
            ys.push(grad);
            readers.push(input);
        }
    }
    let outputs = [reverse_carries.iter().map(|c| c.next).collect(), ys.clone()].concat();
    let bound: Vec<ValueId> = l.slices.iter().chain(&l.invariants).map(|&(_, input)| input).collect();
    let saved = residuals(&body, forward_nodes, &outputs, &bound);
    let roots = [&outputs[..], &reverse_carries.iter().map(|c| c.input).collect::<Vec<_>>()].concat();
    let (body, map) = cut(&body, &roots, &saved);
    // The forward loop saves each residual (reusing an output that already is one).
    let residual_outputs: Vec<ValueId> = saved
        .iter()
        .map(|&r| {
            let Op::Loop(forward) = &mut g.nodes[v].op else { unreachable!("a loop") };
            let k = match forward.outputs().iter().position(|&o| o == r) {
                Some(k) => k,
                None => {
                    forward.ys.push(r);
                    forward.outputs().len() - 1
                }
            };
            outputs_of(g, v, g.nodes.len())[k].unwrap_or_else(|| g.loop_output(v, k))
        })
        .collect();
    let bind = |pairs: &[(ValueId, ValueId)]| -> Vec<(ValueId, ValueId)> {
        pairs
            .iter()
            .filter(|&&(_, input)| map[input] != usize::MAX)
            .map(|&(outer, input)| (outer, map[input]))
            .collect()
    };
    let saved_slices: Vec<(ValueId, ValueId)> =
        residual_outputs.iter().zip(&saved).map(|(&o, &r)| (o, map[r])).collect();
    let rev = Loop {
        steps: l.steps,
        reverse: !l.reverse,
        carries: reverse_carries
            .iter()
            .map(|c| Carry { init: c.init, input: map[c.input], next: map[c.next] })
            .collect(),
        slices: [bind(&l.slices), bind(&cotangent_slices), saved_slices].concat(),
        invariants: bind(&l.invariants),
        ys: ys.iter().map(|&y| map[y]).collect(),
        body,
    };
    let last_index = rev.index(l.steps - 1);
    let outputs = g.scan(rev);
    let mut contributions = vec![];
    for (k, c) in l.carries.iter().enumerate() {
        if needs[k] {
            contributions.push((c.init, slice_at(g, outputs[k], last_index)));
        }
    }
    for (&input, &stacked) in readers.iter().zip(&outputs[carries..]) {
        if let Some(&(outer, _)) = l.slices.iter().find(|&&(_, i)| i == input) {
            contributions.push((outer, stacked));
        } else if let Some(&(outer, _)) = l.invariants.iter().find(|&&(_, i)| i == input) {
            let summed = g.sum(stacked, &[0]);
            let shape = g.shape(outer).clone();
            contributions.push((outer, g.reshape(summed, shape)));
        }
    }
    contributions
}

/// The values of the forward step (`body`'s first `forward_nodes`) that the derivative nodes
/// after them read, directly or through views, except constants and the `bound` inputs: what
/// the forward loop saves for the reverse one.
fn residuals(body: &Graph, forward_nodes: usize, outputs: &[ValueId], bound: &[ValueId]) -> Vec<ValueId> {
    let mut read: Vec<ValueId> = outputs.iter().copied().filter(|&o| o < forward_nodes).collect();
    for node in &body.nodes[forward_nodes..] {
        read.extend(node.op.operands().into_iter().filter(|&a| a < forward_nodes));
    }
    let mut saved = vec![];
    while let Some(a) = read.pop() {
        match &body.nodes[a].op {
            Op::Const(_) => {}
            _ if bound.contains(&a) => {}
            op if op.is_view() => read.extend(op.operands()),
            _ if !saved.contains(&a) => saved.push(a),
            _ => {}
        }
    }
    saved.sort_unstable();
    saved
}

/// The part of `body` that computes `roots` with each of `saved` an input: a new graph, and
/// where each value went (`usize::MAX` for those left out).
fn cut(body: &Graph, roots: &[ValueId], saved: &[ValueId]) -> (Graph, Vec<ValueId>) {
    let mut live = vec![false; body.nodes.len()];
    let mut stack = roots.to_vec();
    while let Some(v) = stack.pop() {
        if !live[v] {
            live[v] = true;
            if !saved.contains(&v) {
                stack.extend(body.nodes[v].op.operands());
            }
        }
    }
    let mut cut = Graph::default();
    let mut map = vec![usize::MAX; body.nodes.len()];
    for (v, node) in body.nodes.iter().enumerate().filter(|&(v, _)| live[v]) {
        let op = match saved.contains(&v) {
            true => Op::Input { name: format!("r{v}") },
            false => node.op.clone().map_operands(|a| map[a]),
        };
        cut.nodes.push(Node { op, ..node.clone() });
        map[v] = cut.nodes.len() - 1;
    }
    (cut, map)
}

/// The forward-mode rule of loop `v` given `tangent`s of the values before it: a loop that
/// computes the step and its tangents. Returns that loop's node, whose outputs after the
/// original ones' count are the tangents (see [`tangent_output`]).
pub(super) fn forward(g: &mut Graph, v: ValueId, tangent: &[Option<ValueId>]) -> ValueId {
    let Op::Loop(l) = g.nodes[v].op.clone() else { unreachable!("the tangent of a loop") };
    let l = *l;
    let mut body = l.body.clone();
    let mut pairs = vec![];
    let mut carries = l.carries.clone();
    for c in &l.carries {
        let shape = body.shape(c.input).clone();
        let input = body.input(&format!("t{}", c.input), shape);
        pairs.push((c.input, input));
        let init = tangent[c.init].unwrap_or_else(|| g.zeros_like(c.init));
        carries.push(Carry { init, input, next: input });
    }
    let mut slices = l.slices.clone();
    let mut invariants = l.invariants.clone();
    for (bound, into) in [(&l.slices, &mut slices), (&l.invariants, &mut invariants)] {
        for &(outer, input) in bound {
            if let Some(t) = tangent[outer] {
                let shape = body.shape(input).clone();
                let tangent_input = body.input(&format!("t{input}"), shape);
                pairs.push((input, tangent_input));
                into.push((t, tangent_input));
            }
        }
    }
    body.set_origin("jvp");
    let outputs = l.outputs();
    let tangents = jvp(&mut body, &outputs, &pairs);
    let mut tangents: Vec<ValueId> =
        tangents.into_iter().zip(&outputs).map(|(t, &o)| t.unwrap_or_else(|| body.zeros_like(o))).collect();
    let tangent_ys = tangents.split_off(l.carries.len());
    for (carry, next) in carries[l.carries.len()..].iter_mut().zip(tangents) {
        carry.next = next;
    }
    let ys = [l.ys.clone(), tangent_ys].concat();
    let forward = Loop { steps: l.steps, reverse: l.reverse, body, carries, slices, invariants, ys };
    let outputs = g.scan(forward);
    g.nodes.len() - outputs.len() - 1
}

/// The output of the forward-mode loop `tangent_loop` (see [`forward`]) that is the tangent of
/// output `k` of loop `l`.
pub(super) fn tangent_output(l: &Loop, k: usize) -> usize {
    let (carries, ys) = (l.carries.len(), l.ys.len());
    match k < carries {
        true => carries + k,
        false => 2 * carries + ys + (k - carries),
    }
}

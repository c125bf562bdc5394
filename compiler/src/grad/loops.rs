//! The derivatives of a loop, each itself a loop whose body is the derivative of the step.
//!
//! - Reverse mode is backpropagation through time: a loop over the steps in the other order
//!   whose body is the step's vector-Jacobian product, reading what it needs of the forward
//!   step from values the forward loop saves. It carries the carries' cotangents and sums the
//!   invariants'; it stacks the sliced values'.
//! - Forward mode runs the step and its JVP side by side: the tangents of the carries are
//!   carried too.

use super::forward::jvp;
use super::reverse::vjp;
use crate::ir::{Carry, Graph, Loop, Node, Op, ValueId};

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

/// The reverse-mode rule of loop `v`, given the cotangent of each of its outputs: the
/// contribution to each operand that `needs` (in [`Loop::operands`] order).
///
/// The reverse loop starts from the last carries' cotangents and carries them back, with one
/// sum per needed invariant; its body is the step's vector-Jacobian product, and it stacks
/// the needed slices' cotangents. What the body reads of the forward step is saved by the
/// forward loop as extra stacked outputs (residuals), except what is free to recompute
/// (constants and views) or bound anyway (the forward slices and invariants).
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
    // The carries' cotangents, carried backwards from those of the last carries; the stacked
    // outputs' cotangents, read one slice per step.
    let mut seeds: Vec<(ValueId, ValueId)> = vec![];
    let mut reverse_carries: Vec<Carry> = vec![];
    for (c, cotangent) in l.carries.iter().zip(cotangents) {
        let carried = body.input(&format!("d{}", c.input), body.shape(c.input).clone());
        seeds.push((c.next, carried));
        let init = cotangent.unwrap_or_else(|| g.zeros_like(c.init));
        reverse_carries.push(Carry { init, input: carried, next: carried });
    }
    let mut cotangent_slices: Vec<(ValueId, ValueId)> = vec![];
    for (&y, cotangent) in l.ys.iter().zip(&cotangents[carries..]) {
        if let Some(outer) = *cotangent {
            let at_step = body.input(&format!("d{y}"), body.shape(y).clone());
            cotangent_slices.push((outer, at_step));
            seeds.push((y, at_step));
        }
    }
    let carry_inputs: Vec<ValueId> = l.carries.iter().map(|c| c.input).collect();
    let needed = |bound: &[(ValueId, ValueId)], needs: &[bool]| -> Vec<(ValueId, ValueId)> {
        bound.iter().zip(needs).filter(|(_, &n)| n).map(|(&pair, _)| pair).collect()
    };
    let needed_slices = needed(&l.slices, &needs[carries..]);
    let needed_invariants = needed(&l.invariants, &needs[carries + l.slices.len()..]);
    let inputs = |pairs: &[(ValueId, ValueId)]| pairs.iter().map(|&(_, input)| input).collect::<Vec<_>>();
    let wrt = [carry_inputs.clone(), inputs(&needed_slices), inputs(&needed_invariants)].concat();
    let mut grads = vjp(&mut body, &seeds, &wrt).into_iter();
    for (carry, input) in reverse_carries.iter_mut().zip(&carry_inputs) {
        carry.next = grads.next().flatten().unwrap_or_else(|| body.zeros_like(*input));
    }
    // Per-step cotangents of the needed slices, stacked; of the needed invariants, summed
    // over the steps in carries.
    let (mut ys, mut sliced) = (vec![], vec![]);
    for (&(outer, _), grad) in needed_slices.iter().zip(grads.by_ref()) {
        if let Some(grad) = grad {
            ys.push(grad);
            sliced.push(outer);
        }
    }
    let mut summed = vec![];
    for (&(outer, input), grad) in needed_invariants.iter().zip(grads) {
        if let Some(grad) = grad {
            let total = body.input(&format!("d{input}"), body.shape(input).clone());
            let next = body.add(total, grad);
            reverse_carries.push(Carry { init: g.zeros_like(outer), input: total, next });
            summed.push(outer);
        }
    }
    let outputs = [reverse_carries.iter().map(|c| c.next).collect(), ys.clone()].concat();
    let bound = inputs(&[&l.slices[..], &l.invariants].concat());
    let mut saved = residuals(&body, forward_nodes, &outputs, &bound);
    let roots = [outputs, reverse_carries.iter().map(|c| c.input).collect()].concat();
    let (reverse_body, map) = cut(&body, &roots, &saved);
    // Those only derivative nodes that nothing needs read are left out.
    saved.retain(|&r| map[r] != usize::MAX);
    // A loop inside the step may have gained residual outputs of its own: the forward step
    // takes its differentiated version, and reads those outputs too.
    let Op::Loop(forward) = &mut g.nodes[v].op else { unreachable!("a loop") };
    forward.body.nodes[..forward_nodes].clone_from_slice(&body.nodes[..forward_nodes]);
    let forward_values: Vec<ValueId> = saved
        .iter()
        .map(|&r| match r < forward_nodes {
            true => r,
            false => {
                forward.body.nodes.push(body.nodes[r].clone());
                forward.body.nodes.len() - 1
            }
        })
        .collect();
    let body = reverse_body;
    // The forward loop stacks each residual (reusing a stacked output that already is one).
    let residual_outputs: Vec<ValueId> = forward_values
        .iter()
        .map(|&r| {
            let Op::Loop(forward) = &mut g.nodes[v].op else { unreachable!("a loop") };
            let j = forward.ys.iter().position(|&y| y == r).unwrap_or_else(|| {
                forward.ys.push(r);
                forward.ys.len() - 1
            });
            let k = carries + j;
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
        // Past each row's length a step passes the carries' cotangents on as they are.
        trips: l.trips,
        body,
    };
    let reverse_carry_count = rev.carries.len();
    let outputs = g.scan(rev);
    let initial = l.carries.iter().zip(needs).zip(&outputs).filter(|((_, &n), _)| n).map(|((c, _), &o)| (c.init, o));
    let sums = summed.into_iter().zip(&outputs[carries..reverse_carry_count]).map(|(outer, &o)| (outer, o));
    let stacked = sliced.into_iter().zip(&outputs[reverse_carry_count..]).map(|(outer, &o)| (outer, o));
    initial.chain(sums).chain(stacked).collect()
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
    // An output of a loop inside the step, read first by a derivative node: a value of the
    // forward step too, saved like the others.
    for (v, node) in body.nodes.iter().enumerate().skip(forward_nodes) {
        if matches!(node.op, Op::LoopOutput(l, _) if l < forward_nodes) {
            read.retain(|&a| a != node.op.operands()[0]);
            saved.push(v);
        }
    }
    while let Some(a) = read.pop() {
        match &body.nodes[a].op {
            Op::Const(_) => {}
            _ if bound.contains(&a) => {}
            op if op.is_view() || op.is_crop() => read.extend(op.operands()),
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
    let forward = Loop { steps: l.steps, reverse: l.reverse, body, carries, slices, invariants, ys, trips: l.trips };
    let outputs = g.scan(forward);
    g.nodes.len() - outputs.len() - 1
}

/// Which output of the forward-mode loop of `l` (see [`forward`]) is the tangent of `l`'s
/// output `k`.
pub(super) fn tangent_output(l: &Loop, k: usize) -> usize {
    let (carries, ys) = (l.carries.len(), l.ys.len());
    match k < carries {
        true => carries + k,
        false => 2 * carries + ys + (k - carries),
    }
}

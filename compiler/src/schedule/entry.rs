//! The entry points a generated file holds (train step, predict, evaluate, the micro-batch
//! steps, exposed values), each with the values it returns and its schedule.

use super::{schedule, Schedule};
use crate::ir::ValueId;
use crate::program::Program;

/// What a generated file holds.
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Artifact {
    /// The trainer: train step, predict, evaluate, exposed values, checkpoints.
    Trainer,
    /// The predictor: `predict` alone, loading a trainer's checkpoint or a `state_dict`.
    Predictor,
}

/// One generated entry point: the values it returns and the schedule that computes them.
pub(crate) struct Entry<'a> {
    /// The entry point's name: `train`, `predict`, `evaluate`, `start`, `accumulate` or an
    /// exposed value's.
    pub name: &'a str,
    /// The values it returns.
    pub roots: Vec<ValueId>,
    /// How it computes them.
    pub schedule: Schedule,
}

impl<'a> Entry<'a> {
    /// The entry point `name` of `p` computing `roots`, updating the `in_place` pairs' buffers.
    fn new(p: &Program, name: &'a str, roots: Vec<ValueId>, in_place: &[(ValueId, ValueId)]) -> Self {
        let schedule = schedule(&p.graph, &roots, in_place, p.fuse);
        Entry { name, roots, schedule }
    }

    /// The buffer holding `v`, which the schedule computes.
    pub fn buffer_of(&self, v: ValueId) -> ValueId {
        self.schedule.layouts[v].as_ref().expect("a root has a buffer").buffer
    }
}

/// The entry points of `artifact`, each scheduled. The train step updates parameters,
/// optimizer state, running statistics and accumulators in place.
pub(crate) fn entries(p: &Program, artifact: Artifact) -> Vec<Entry<'_>> {
    let in_place: Vec<(ValueId, ValueId)> = p
        .params
        .iter()
        .map(|q| (q.update, q.value))
        .chain(p.state.iter().chain(&p.statistics).map(|s| (s.update, s.value)))
        .chain(p.accumulators.iter().map(|a| (a.next, a.value)))
        .collect();
    let mut entries = match artifact {
        Artifact::Trainer => vec![
            Entry::new(p, "train", p.train_roots(), &in_place),
            Entry::new(p, "predict", vec![p.eval_output], &[]),
            Entry::new(p, "evaluate", vec![p.eval_loss, p.eval_output], &[]),
        ],
        Artifact::Predictor => return vec![Entry::new(p, "predict", vec![p.eval_output], &[])],
    };
    // The micro-batches of an accumulated step.
    if p.accumulate > 1 {
        let (first_roots, next_roots) = p.accumulate_roots();
        let statistics_in_place = p.statistics.iter().map(|s| (s.update, s.value));
        let first: Vec<(ValueId, ValueId)> =
            p.accumulators.iter().map(|a| (a.first, a.value)).chain(statistics_in_place.clone()).collect();
        let next: Vec<(ValueId, ValueId)> =
            p.accumulators.iter().map(|a| (a.next, a.value)).chain(statistics_in_place).collect();
        entries.push(Entry::new(p, "start", first_roots, &first));
        entries.push(Entry::new(p, "accumulate", next_roots, &next));
    }
    entries.extend(p.exposed.iter().map(|e| Entry::new(p, &e.name, vec![e.value], &[])));
    entries
}

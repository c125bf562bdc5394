//! Fusion: the kernels of one entry point's schedule in launch order, where consecutive
//! kernels merge into one that computes them all: a product with its epilogue, multi-output
//! pointwise and reduction kernels, independent segments, and phased kernels.

use super::Schedule;
use crate::ir::{Graph, Op, ValueId};
use crate::kernel::{self, Kernel};
use crate::plan::storage::Storage;
use crate::target::{LAUNCH_COST_IN_INDICES, PHASED_ELEMENTS};
use std::collections::BTreeMap;

/// The kernels of schedule `s` in launch order, each with the last value it computes (a
/// product's own, when it has an epilogue). With `fuse`:
/// - a product takes the pointwise kernels that read it as its epilogue (see [`with_epilogue`]);
/// - runs of consecutive pointwise kernels over one shape share a kernel (see
///   [`kernel::multi_output`]), as do runs of reductions over the same axes of one shape (see
///   [`kernel::reduce_with_epilogue`]);
/// - runs of such kernels that read nothing another writes share one as segments (see
///   [`kernel::segmented`]);
/// - runs of small ones share one phased kernel (see [`merge_phased`]).
///
/// A shared kernel is launched where its last value was, with nothing launched in between, so
/// every read and write keeps its order.
///
/// Kernels of a stepped loop's step and those around it never merge: the step's are launched
/// once per step.
pub(crate) fn kernels(g: &Graph, s: &Schedule, storage: &Storage, fuse: bool) -> Vec<(ValueId, Kernel)> {
    let mut planned = vec![];
    let mut start = 0;
    for run in s.kernels.chunk_by(|&a, &b| s.regions[a] == s.regions[b]) {
        start += run.len();
        planned.extend(fused(g, s, storage, run, &s.kernels[start..], fuse));
    }
    planned
}

/// The kernels of `kernels`, consecutive in schedule `s`, fused as [`kernels`] says; `later`
/// are the schedule's kernels after them.
fn fused(
    g: &Graph,
    s: &Schedule,
    storage: &Storage,
    kernels: &[ValueId],
    later: &[ValueId],
    fuse: bool,
) -> Vec<(ValueId, Kernel)> {
    let mut planned = vec![];
    let mut rest = kernels.to_vec();
    let mut effects = Effects::default();
    // Row-sum reductions moved to a later product's tiles: product -> reduction.
    let mut deferred: BTreeMap<ValueId, ValueId> = BTreeMap::new();
    while let Some(&first) = rest.first() {
        if fuse && matches!(g.nodes[first].op, Op::MatMul(..)) {
            let row_sums = deferred.remove(&first);
            let (product, epilogue) = with_epilogue(g, s, storage, &rest, later, row_sums, &mut effects);
            rest.retain(|u| *u != first && !epilogue.contains(u));
            // A product that cannot take the deferred reduction runs it just before itself.
            if let Some(r) = row_sums.filter(|r| !product.values.contains(r)) {
                planned.push((r, kernel::kernel(g, s, storage, r)));
            }
            planned.push((first, product));
            continue;
        }
        if let Some(product) = fuse.then(|| row_sum_product(g, s, storage, &rest, &mut effects)).flatten() {
            deferred.insert(product, first);
            rest.remove(0);
            continue;
        }
        let mut run = 1;
        let mut fused = kernel::kernel(g, s, storage, first);
        let reduction = matches!(g.nodes[first].op, Op::Reduce(..));
        if fuse && (reduction || kernel::is_pointwise_kernel(g, first)) {
            while run < rest.len() {
                let merged = match reduction {
                    true => kernel::reduce_with_epilogue(g, s, storage, &rest[..=run], &[]),
                    false => kernel::multi_output(g, s, storage, &rest[..=run]),
                };
                match merged {
                    Some(k) => (fused, run) = (k, run + 1),
                    None => break,
                }
            }
        }
        // Pointwise kernels over the reductions' output shape that follow them join as their
        // epilogue.
        let reductions = run;
        while fuse && reduction && run < rest.len() {
            match kernel::reduce_with_epilogue(g, s, storage, &rest[..reductions], &rest[reductions..=run]) {
                Some(k) => (fused, run) = (k, run + 1),
                None => break,
            }
        }
        planned.push((rest[run - 1], fused));
        rest.drain(..run);
    }
    if fuse {
        planned = merge_independent(g, s, storage, planned);
        planned = merge_phased(g, s, storage, planned);
    }
    planned
}

/// Runs of consecutive small pointwise and reduction kernels ([`PHASED_ELEMENTS`] in
/// all), each run as one [`kernel::phased`] kernel.
fn merge_phased(g: &Graph, s: &Schedule, storage: &Storage, planned: Vec<(ValueId, Kernel)>) -> Vec<(ValueId, Kernel)> {
    let elements = |k: &Kernel| k.values.iter().map(|&v| kernel::elements(g, v)).sum::<usize>();
    let small = |k: &Kernel| {
        k.grid == kernel::Grid::Chunked
            && k.values.iter().all(|&v| kernel::is_phase(g, v))
            && elements(k) <= PHASED_ELEMENTS
    };
    let mut merged: Vec<(ValueId, Kernel)> = vec![];
    // The values of the last merged kernel if it may grow into a phased one, and their elements.
    let (mut run, mut total): (Vec<ValueId>, usize) = (vec![], 0);
    for (v, k) in planned {
        if small(&k) && !run.is_empty() && total + elements(&k) <= PHASED_ELEMENTS {
            let candidate = [run.clone(), k.values.clone()].concat();
            if let Some(phased) = kernel::phased(g, s, storage, &candidate) {
                (run, total) = (candidate, total + elements(&k));
                *merged.last_mut().unwrap() = (v, phased);
                continue;
            }
        }
        (run, total) = if small(&k) { (k.values.clone(), elements(&k)) } else { (vec![], 0) };
        merged.push((v, k));
    }
    merged
}

/// The buffers each scheduled value's own kernel reads and writes, built once per value.
#[derive(Default)]
struct Effects(BTreeMap<ValueId, (Vec<ValueId>, Vec<ValueId>)>);

impl Effects {
    fn of(&mut self, g: &Graph, s: &Schedule, storage: &Storage, v: ValueId) -> (Vec<ValueId>, Vec<ValueId>) {
        self.0
            .entry(v)
            .or_insert_with(|| {
                let k = kernel::kernel(g, s, storage, v);
                let buffers: Vec<ValueId> = k.args.iter().map(|a| a.buffer).collect();
                let (reads, writes) = buffers.split_at(buffers.len() - k.values.len());
                (reads.to_vec(), writes.to_vec())
            })
            .clone()
    }
}

/// The later product whose tiles can sum the rows of its left operand into reduction
/// `rest[0]` (see [`kernel::sums_rows_of_lhs`]): a linear layer's bias gradient, computed by
/// its weight gradient's kernel. The kernels between must not write what the reduction reads
/// or touch what it writes.
fn row_sum_product(
    g: &Graph,
    s: &Schedule,
    storage: &Storage,
    rest: &[ValueId],
    effects: &mut Effects,
) -> Option<ValueId> {
    let r = rest[0];
    if !matches!(g.nodes[r].op, Op::Reduce(..)) {
        return None;
    }
    let (reads, writes) = effects.of(g, s, storage, r);
    for &u in &rest[1..] {
        if kernel::sums_rows_of_lhs(g, s, storage.target(), r, u) {
            return Some(u);
        }
        let (u_reads, u_writes) = effects.of(g, s, storage, u);
        if u_writes.iter().any(|b| reads.contains(b)) || u_reads.iter().chain(&u_writes).any(|b| writes.contains(b)) {
            return None;
        }
    }
    None
}

/// The kernel of product `rest[0]`, with the later pointwise kernels that read it as its
/// epilogue (see [`kernel::product_with_epilogue`]), and those kernels: a bias and activation,
/// an activation's gradient mask, a parameter's optimizer update. `row_sums` is a reduction
/// the tiles compute too, if they can, with the kernels that read it (a bias's update) as an
/// epilogue of its own. A kernel moves up to the product only if none it moves past writes
/// what it reads or touches what it writes. `later` are the kernels after `rest` that cannot
/// join (beyond a loop's start or end), which may still read the product.
fn with_epilogue(
    g: &Graph,
    s: &Schedule,
    storage: &Storage,
    rest: &[ValueId],
    later: &[ValueId],
    row_sums: Option<ValueId>,
    effects: &mut Effects,
) -> (Kernel, Vec<ValueId>) {
    let v = rest[0];
    let out = s.layouts[v].as_ref().expect("product has a buffer").buffer;
    let row_sums =
        row_sums.filter(|&r| kernel::product_with_epilogue(g, s, storage, v, &[], Some((r, &[])), true).is_some());
    let (mut members, mut row_members) = (vec![], vec![]);
    // What the epilogue reads first (the product's buffer, the row sums), then what it writes.
    let mut computed = vec![out];
    let mut row_computed: Vec<ValueId> =
        row_sums.iter().map(|&r| s.layouts[r].as_ref().expect("row sums have a buffer").buffer).collect();
    for (j, &u) in rest.iter().enumerate().skip(1) {
        if !kernel::is_pointwise_kernel(g, u) {
            continue;
        }
        // It reads the product, or what the epilogue computes from it (Adam's update reads
        // the moments, not the gradient); or the same of the row sums.
        let (reads, writes) = effects.of(g, s, storage, u);
        let (of_product, of_rows) =
            (reads.iter().any(|b| computed.contains(b)), reads.iter().any(|b| row_computed.contains(b)));
        if !of_product && !of_rows {
            continue;
        }
        let moved = [&members[..], &row_members[..]].concat();
        let passable = rest[1..j].iter().filter(|x| !moved.contains(*x)).all(|&x| {
            let (x_reads, x_writes) = effects.of(g, s, storage, x);
            !x_writes.iter().any(|b| reads.contains(b)) && !x_reads.iter().chain(&x_writes).any(|b| writes.contains(b))
        });
        if !passable {
            continue;
        }
        let (candidate, row_candidate) = match of_product {
            true => ([members.clone(), vec![u]].concat(), row_members.clone()),
            false => (members.clone(), [row_members.clone(), vec![u]].concat()),
        };
        if kernel::product_with_epilogue(g, s, storage, v, &candidate, row_sums.map(|r| (r, &row_candidate[..])), true)
            .is_some()
        {
            match of_product {
                true => computed.extend(writes),
                false => row_computed.extend(writes),
            }
            (members, row_members) = (candidate, row_candidate);
        }
    }
    // The product itself is stored only if the entry point returns it or a kernel besides
    // its epilogue reads it: an optimizer update that reads a weight gradient from the tiles
    // leaves it unstored (see `Training::keep_gradients`).
    let moved = [&members[..], &row_members[..]].concat();
    let read_later = rest[1..]
        .iter()
        .filter(|u| !moved.contains(u))
        .chain(later)
        .any(|&u| effects.of(g, s, storage, u).0.contains(&out));
    // A root that views the product (a reshaped gradient) reads its buffer.
    let returned = s.roots.iter().any(|&r| s.layouts[r].as_ref().is_some_and(|l| l.buffer == out));
    let store = out != v || returned || read_later;
    let fused =
        kernel::product_with_epilogue(g, s, storage, v, &members, row_sums.map(|r| (r, &row_members[..])), store);
    members.extend(row_members);
    (fused.unwrap_or_else(|| kernel::kernel(g, s, storage, v)), members)
}

/// Runs of consecutive pointwise kernels none of which reads or writes a buffer another
/// writes, each run as one [`kernel::segmented`] kernel where that does not narrow the vectors
/// by more than the launches it saves.
fn merge_independent(
    g: &Graph,
    s: &Schedule,
    storage: &Storage,
    planned: Vec<(ValueId, Kernel)>,
) -> Vec<(ValueId, Kernel)> {
    // Chunked: a product's kernel is not, even where it stores only its epilogue's values.
    let pointwise =
        |k: &Kernel| k.grid == kernel::Grid::Chunked && k.values.iter().all(|&v| kernel::is_pointwise_kernel(g, v));
    let written = |k: &Kernel| k.args[k.args.len() - k.values.len()..].iter().map(|a| a.buffer).collect::<Vec<_>>();
    let touches = |k: &Kernel, buffers: &[ValueId]| k.args.iter().any(|a| buffers.contains(&a.buffer));
    let mut merged: Vec<(ValueId, Kernel)> = vec![];
    // The groups of the last merged kernel, and the indices they would cover apart.
    let (mut groups, mut apart): (Vec<Vec<ValueId>>, usize) = (vec![], 0);
    for (v, k) in planned {
        let independent =
            |last: &Kernel| pointwise(last) && !touches(last, &written(&k)) && !touches(&k, &written(last));
        if pointwise(&k) && merged.last().is_some_and(|(_, last)| independent(last)) {
            let mut candidate = groups.clone();
            candidate.push(k.values.clone());
            let saved_launches = candidate.len() - 1;
            if let Some(segmented) = kernel::segmented(g, s, storage, &candidate) {
                if segmented.work <= apart + k.work + saved_launches * LAUNCH_COST_IN_INDICES {
                    (groups, apart) = (candidate, apart + k.work);
                    *merged.last_mut().unwrap() = (v, segmented);
                    continue;
                }
            }
        }
        (groups, apart) = (vec![k.values.clone()], k.work);
        merged.push((v, k));
    }
    merged
}

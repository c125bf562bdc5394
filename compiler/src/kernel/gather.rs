//! Gathers and scatter-adds of rows, as launches of the library's `gather_rows` and
//! `scatter_add_rows` with their shape as a comptime `Rows`; picks at labels, as launches of
//! its `pick` with a comptime `Picks`.

use super::{Access, Arg, Grid, Kernel};
use crate::ir::{Graph, Op, Shape, ValueId};
use crate::plan::storage::Storage;
use crate::schedule::Schedule;

/// The launch computing pick `v`, whose labels and output the schedule stores contiguously;
/// its scores may be a view.
pub fn picks(g: &Graph, s: &Schedule, storage: &Storage, v: ValueId) -> Kernel {
    let Op::Pick(scores, labels) = g.nodes[v].op else { unreachable!("internal: {} is not a pick", g.describe(v)) };
    let buffer = |v: ValueId| s.layouts[v].as_ref().expect("picks read and write buffers").buffer;
    let layout = s.layouts[scores].as_ref().expect("picks read a buffer");
    let Some((&classes, positions)) = g.shape(scores).0.split_last() else {
        unreachable!("internal: picks from a scalar")
    };
    let (&class_stride, position_strides) = layout.strides.split_last().expect("as many strides as axes");
    // Position `r`'s coordinate along axis `d` is `(r / divisor) % size`, row-major.
    let positions = Shape(positions.to_vec());
    let rows = positions.numel();
    let rows_at: Vec<String> = (positions.0.iter().zip(position_strides).zip(positions.contiguous_strides()))
        .filter(|((&size, &stride), _)| size > 1 && stride != 0)
        .map(|((size, stride), divisor)| format!("kiln_runtime::kernels::steps::Axis({divisor}, {size}, {stride})"))
        .collect();
    let (label_access, label_type) = id_access(g, storage, labels);
    Kernel {
        source: None,
        function: "kiln_runtime::kernels::pick".into(),
        vector: 1,
        work: rows,
        args: vec![
            Arg { buffer: layout.buffer, access: Access::Vector },
            Arg { buffer: buffer(labels), access: label_access },
            Arg { buffer: buffer(v), access: Access::Vector },
        ],
        values: vec![v],
        grid: Grid::Chunked,
        trailing: vec![format!(
            "kiln_runtime::kernels::gather::Picks {{ rows: {rows}, classes: {classes}, rows_at: &[{}], \
             class_stride: {class_stride}, start: {} }}",
            rows_at.join(", "),
            layout.start
        )],
        types: vec![storage.compute_type(), label_type],
        sequences: vec![],
    }
}

/// How a kernel reads ids `ids`, and their type: token ids and labels are fed as `u32`; ids
/// computed on the device (an `argmax`) are floats.
fn id_access(g: &Graph, storage: &Storage, ids: ValueId) -> (Access, &'static str) {
    match g.nodes[ids].op {
        Op::Labels { .. } => (Access::Labels, "u32"),
        _ => (Access::Scalar, storage.compute_type()),
    }
}

/// The launch computing gather or scatter-add `v`, whose operands and output the schedule
/// stores contiguously in the compute type (ids in `u32` where they are tokens).
pub fn rows(g: &Graph, s: &Schedule, storage: &Storage, v: ValueId) -> Kernel {
    let (function, source, ids, table, padding) = match g.nodes[v].op {
        Op::Gather(table, ids, padding) => ("gather_rows", table, ids, table, padding),
        Op::ScatterAdd(rows, ids, padding) => ("scatter_add_rows", rows, ids, v, padding),
        _ => unreachable!("internal: {} is not a gather or scatter", g.describe(v)),
    };
    let [vocab, dim] = g.shape(table).0[..] else { unreachable!("internal: tables are [vocab, dim]") };
    let buffer = |v: ValueId| s.layouts[v].as_ref().expect("gathers read and write buffers").buffer;
    let vector = [16, 8, 4, 2, 1].into_iter().find(|w| dim % w == 0).expect("1 divides every dim");
    let (rows, width) = (g.shape(ids).numel(), dim / vector);
    let (id_access, id_type) = id_access(g, storage, ids);
    let work = match function {
        "gather_rows" => rows * width,
        _ => vocab,
    };
    Kernel {
        source: None,
        function: format!("kiln_runtime::kernels::{function}"),
        vector,
        work,
        args: vec![
            Arg { buffer: buffer(source), access: Access::Vector },
            Arg { buffer: buffer(ids), access: id_access },
            Arg { buffer: buffer(v), access: Access::Vector },
        ],
        values: vec![v],
        grid: Grid::Chunked,
        trailing: vec![format!(
            "kiln_runtime::kernels::gather::Rows {{ rows: {rows}, width: {width}, vocab: {vocab}, padding: {} }}",
            padding.unwrap_or(vocab)
        )],
        types: vec![storage.compute_type(), id_type],
        sequences: vec![],
    }
}

//! Gathers and scatter-adds of rows, as launches of the library's `gather_rows` and
//! `scatter_add_rows` with their shape as a comptime `Rows`.

use super::{Access, Arg, Grid, Kernel};
use crate::ir::{Graph, Op, ValueId};
use crate::plan::storage::Storage;
use crate::schedule::Schedule;

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
    // Token ids are fed as `u32`; ids computed on the device (an `argmax`) are floats.
    let (id_access, id_type) = match g.nodes[ids].op {
        Op::Labels { .. } => (Access::Labels, "u32"),
        _ => (Access::Scalar, storage.compute_type()),
    };
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

//! Lowering: rewrites of the differentiated IR into the ops the target's kernels run best,
//! after the graph passes of [`crate::program`] and before scheduling.

mod direct_conv;
mod joined;
mod picks;
mod stepped;
mod transposed;

pub(crate) use direct_conv::direct_convolutions;
pub(crate) use joined::joined_pads;
#[cfg(test)]
pub(crate) use joined::rewritten as joined;
pub(crate) use picks::summed_picks;
#[cfg(test)]
pub(crate) use stepped::stepped;
pub(crate) use stepped::stepped_loops;
pub(crate) use transposed::transposed_products;

use crate::ir::{BinaryOp, Graph, Op, ValueId};
use crate::program::Program;

/// `p` with its graph rewritten by `rewrite`, which also says where each value went; the
/// values `p` names follow them.
fn with_graph(p: &Program, rewrite: impl FnOnce(&Graph) -> (Graph, Vec<ValueId>)) -> Program {
    let mut q = p.clone();
    let (graph, map) = rewrite(&p.graph);
    q.graph = graph;
    q.map_values(|v| map[v]);
    q
}

/// `v` copied into a buffer of its own, row-major, by a kernel: `v * 1`.
fn copy(out: &mut Graph, v: ValueId) -> ValueId {
    let shape = out.shape(v).clone();
    let one = out.push(Op::Const(1.0), shape.clone());
    out.push(Op::Binary(BinaryOp::Mul, v, one), shape)
}

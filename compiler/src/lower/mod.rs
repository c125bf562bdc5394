//! Lowering: rewrites of the differentiated IR into the ops the target's kernels run best,
//! after the graph passes of [`crate::program`] and before scheduling.

mod direct_conv;

pub(crate) use direct_conv::direct_convolutions;

use crate::program::Program;

/// `p` with every loop unrolled into straight-line code ([`crate::ir::unroll`]): the back end
/// does not run loops yet.
pub(crate) fn unrolled_loops(p: &Program) -> Program {
    let mut q = p.clone();
    let (graph, map) = crate::ir::unroll(&p.graph);
    q.graph = graph;
    q.map_values(|v| map[v]);
    q
}

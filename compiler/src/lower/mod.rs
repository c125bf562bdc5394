//! Lowering: rewrites of the differentiated IR into the ops the target's kernels run best,
//! after the graph passes of [`crate::program`] and before scheduling.

mod direct_conv;

pub(crate) use direct_conv::direct_convolutions;

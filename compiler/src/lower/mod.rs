//! Lowering: rewrites of the differentiated IR into the ops the target's kernels run best,
//! after the graph passes of [`crate::program`] and before scheduling.

mod direct_conv;
mod stepped;
mod transposed;

pub(crate) use direct_conv::direct_convolutions;
#[cfg(test)]
pub(crate) use stepped::stepped;
pub(crate) use stepped::stepped_loops;
pub(crate) use transposed::transposed_products;

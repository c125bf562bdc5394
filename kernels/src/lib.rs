//! CubeCL kernels that kiln's generated code calls. Generated kernels cover pointwise ops and
//! reductions (their shapes baked in); the matrix products and direct convolutions live here,
//! specialised at JIT time through `#[comptime]` shapes and strides, with the reductions across
//! a vector's lanes that they use, the barrier between a phased kernel's phases and the
//! split of a balanced kernel's tiles among its units.

#![warn(missing_docs)]

mod balance;
mod conv;
mod lanes;
mod matmul;
mod narrow;
mod phases;
pub mod steps;

pub use balance::{claim_tiles, share_end, share_start};
pub use conv::{conv_forward, conv_weight_grad, to_batch_innermost};
pub use lanes::{lane_max, lane_sum, repeat_lanes};
pub use matmul::{matmul_nn, matmul_nt, nn_tile, nt_tile, NnTile, NtTile};
pub use narrow::{to_bf16, to_bf16_scalar};
pub use phases::sync_units;
pub use steps::pointwise;

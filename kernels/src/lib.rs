//! CubeCL kernels that kiln's generated code calls, specialised at JIT time through
//! `#[comptime]` arguments: the pointwise template, which runs a fused chain's program of
//! steps; the product templates, which run such steps as their tiles' epilogue; the reduction
//! template, whose loops run them on what they reduce; the phased template, which runs
//! pointwise and reduction phases on one cube with barriers between them; the unfold and fold
//! templates; row gathers and their adjoint, scatter-adds; the matrix products and direct
//! convolutions, with their shapes and strides; the reductions across a vector's lanes that
//! they use, and the split of a balanced kernel's tiles among its units. Each template reads
//! and stores buffers in a half type beside the compute type, for mixed precision. Generated
//! kernels cover the rest (reads of repeated lanes, what a template has no step for), their
//! shapes baked in.

#![warn(missing_docs)]

mod balance;
mod conv;
pub mod gather;
mod lanes;
mod matmul;
mod narrow;
pub mod phases;
pub mod product;
pub mod reduction;
pub mod steps;
pub mod window;

pub use balance::{claim_tiles, share_end, share_start};
pub use conv::{conv_forward, conv_weight_grad, to_batch_innermost};
pub use gather::{gather_rows, pick, scatter_add_rows};
pub use lanes::{lane_max, lane_sum, repeat_lanes};
pub use matmul::{matmul_nn, matmul_nt, nn_tile, nt_tile, NnTile, NtTile};
pub use narrow::{to_bf16, to_bf16_scalar};
pub use phases::{phased, sync_units};
pub use product::{product_nn, product_nt};
pub use reduction::reduce;
pub use steps::pointwise;
pub use window::{fold, unfold};

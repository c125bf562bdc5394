//! Derivatives as graph transforms: reverse mode ([`gradients`]), forward mode ([`jvp`]) and
//! Hessian-vector products ([`hvp`], forward over reverse).
//!
//! The local derivatives of the pointwise ops are written once, in [`rules`]; reverse mode
//! multiplies them into the adjoint, forward mode into the tangents. The linear ops
//! (reductions, products, views, windows) are their own derivatives: forward mode applies the
//! op to the tangent, reverse mode its adjoint, in the two modes' files.

mod forward;
mod loops;
mod reverse;
mod rules;

pub use forward::{hvp, jvp};
pub use reverse::{gradients, vjp};

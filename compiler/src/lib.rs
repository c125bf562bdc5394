pub mod autodiff;
pub mod eval;
pub mod ir;
pub mod shape;
#[cfg(test)]
mod gradcheck;

pub use cubecl;

pub mod data;
pub mod engine;
pub mod kernel_index;
mod object_cache;

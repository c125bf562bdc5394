pub mod data;
pub mod engine;
mod object_cache;

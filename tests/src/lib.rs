//! Models compiled for the end-to-end tests.

include!(concat!(env!("OUT_DIR"), "/tiny_mlp.rs"));

pub use tiny_mlp::TinyMlp;

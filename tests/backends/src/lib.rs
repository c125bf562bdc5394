//! The model the backend tests train (declared in `build.rs`).

kiln_runtime::include_models!(tiny_mlp::TinyMlp);

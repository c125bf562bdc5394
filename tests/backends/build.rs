//! Compiles the model the backend tests train: the end-to-end tests' `TinyMlp`.

use kiln_compiler::{Model, Sgd, Training};

include!("../tiny_mlp.rs");

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=../tiny_mlp.rs");
    tiny_mlp("TinyMlp", Sgd::new(0.5))?;
    Ok(())
}

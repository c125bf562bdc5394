//! Compiles the small models the tests use (sizes kept small for wgpu on a software driver).

use kiln_compiler::{Model, Sgd};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=build.rs");
    let model = Model::new("TinyMlp");
    let x = model.input("x", [8, 12]);
    let y = model.labels("y", [8], 3);
    let logits = x.linear(16).relu().linear(3);
    let loss = logits.cross_entropy(y);
    let program = model.compile(loss, logits, Sgd { lr: 0.5 })?;
    kiln_compiler::write_to_out_dir(&program, "tiny_mlp.rs")?;
    Ok(())
}

// The small MLP the end-to-end tests and the backend tests train (`include!`d by both build
// scripts, so both compile the same model).

/// `Linear(12, 16) -> ReLU -> Linear(16, 3)` on batches of 8, with cross-entropy.
fn tiny_mlp(name: &str, training: impl Into<Training>) -> Result<kiln_compiler::Program, Box<dyn std::error::Error>> {
    let model = Model::new(name);
    let x = model.input("x", [8, 12]);
    let y = model.labels("y", [8], 3);
    let logits = x.linear(16).relu().linear(3);
    let loss = logits.cross_entropy(y);
    let program = model.compile(loss, logits, training)?;
    let file = format!("{}.rs", program.module_name());
    kiln_compiler::write_to_out_dir(&program, &file)?;
    Ok(program)
}

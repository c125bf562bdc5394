//! Compiles the small models the tests use (sizes kept small for wgpu on a software driver).

use kiln_compiler::{Adagrad, Adam, Half, Model, Precision, RmsProp, Sgd, Training};

include!("zoo.rs");
include!("layers.rs");
include!("tiny_mlp.rs");

/// The MNIST MLP of `models/build.rs` (same declaration, so the same initial weights) with
/// other `training` options.
fn mnist_mlp_variant(name: &str, training: Training) -> Result<(), Box<dyn std::error::Error>> {
    let model = Model::new(name);
    let images = model.input("images", [64, 1, 28, 28]);
    let labels = model.labels("labels", [64], 10);
    let logits = images.flatten().linear(256).relu().linear(10);
    let program = model.compile(logits.cross_entropy(labels), logits, training)?;
    kiln_compiler::write_to_out_dir(&program, &format!("{}.rs", program.module_name()))?;
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=zoo.rs");
    println!("cargo:rerun-if-changed=layers.rs");
    println!("cargo:rerun-if-changed=tiny_mlp.rs");
    layer_parity_models()?;
    dropout_model()?;
    derivatives_models()?;
    let sgd = || Training::new(Sgd::new(0.1));
    mnist_mlp_variant("MnistMlpBf16", sgd().precision(Precision::Mixed(Half::Bf16)))?;
    mnist_mlp_variant("MnistMlpF16", sgd().precision(Precision::Mixed(Half::F16)))?;
    // Its gradients, which `MnistMlp` does not keep, checked against PyTorch's.
    mnist_mlp_variant("MnistMlpKeptGradients", sgd().keep_gradients())?;
    kiln_compiler::write_to_out_dir(&op_zoo()?, "op_zoo.rs")?;
    kiln_compiler::write_to_out_dir(&loop_zoo()?, "loop_zoo.rs")?;
    kiln_compiler::write_to_out_dir(&packed_loop_zoo()?, "packed_loop_zoo.rs")?;
    kiln_compiler::write_to_out_dir(&long_product_zoo()?, "long_product_zoo.rs")?;
    tiny_mlp("TinyMlp", Sgd::new(0.5))?;
    // The configurations of fixtures/make_optimizer_fixtures.py.
    tiny_mlp("SgdMomentum", Sgd { momentum: 0.9, ..Sgd::new(0.1) })?;
    tiny_mlp("SgdNesterovWd", Sgd { momentum: 0.9, nesterov: true, weight_decay: 1e-2, ..Sgd::new(0.1) })?;
    tiny_mlp("SgdDampening", Sgd { momentum: 0.9, dampening: 0.5, ..Sgd::new(0.1) })?;
    tiny_mlp("Rmsprop", RmsProp::new(0.01))?;
    tiny_mlp(
        "RmspropCenteredMomentum",
        RmsProp { momentum: 0.9, centered: true, weight_decay: 1e-3, ..RmsProp::new(0.01) },
    )?;
    // With a predictor, which must skip the Adam moments in the trainer's checkpoints.
    let adam = tiny_mlp("AdamDefault", Adam::new(0.01))?;
    kiln_compiler::write_predictor_to_out_dir(&adam, "adam_default_predictor.rs")?;
    tiny_mlp("AdamCourse", Adam { betas: (0.9, 0.99), weight_decay: 1e-3, ..Adam::new(0.01) })?;
    tiny_mlp("AdamW", Adam { weight_decay: 0.1, ..Adam::adamw(0.01) })?;
    tiny_mlp(
        "AdagradDecay",
        Adagrad { lr_decay: 0.01, weight_decay: 1e-3, initial_accumulator_value: 0.1, ..Adagrad::new(0.1) },
    )?;
    tiny_mlp("SgdMomentumClipped", Training::new(Sgd { momentum: 0.9, ..Sgd::new(0.1) }).clip_grad_norm(0.1))?;
    tiny_mlp("AdamClipped", Training::new(Adam::new(0.01)).clip_grad_norm(0.1))?;
    tiny_mlp("SgdMomentumAccumulate3", Training::new(Sgd { momentum: 0.9, ..Sgd::new(0.1) }).accumulate(3))?;
    tiny_mlp("AdamAccumulate2Clipped", Training::new(Adam::new(0.01)).accumulate(2).clip_grad_norm(0.1))?;
    Ok(())
}

//! Snapshots of the IR and the emitted source of the reference MLP, and of build errors.

use crate::{codegen, Model, Sgd};

fn mnist_mlp() -> crate::Program {
    let model = Model::new("MnistMlp");
    let images = model.input("images", [64, 1, 28, 28]);
    let labels = model.labels("labels", [64], 10);
    let logits = images.flatten().linear(256).relu().linear(10);
    let loss = logits.cross_entropy(labels);
    model.compile(loss, logits, Sgd::new(0.1)).unwrap()
}

#[test]
fn mnist_mlp_ir() {
    insta::assert_snapshot!(mnist_mlp().graph.to_string());
}

#[test]
fn mnist_mlp_emitted_source() {
    insta::assert_snapshot!(codegen::emit(&mnist_mlp()));
}

#[test]
fn emission_is_deterministic() {
    assert_eq!(codegen::emit(&mnist_mlp()), codegen::emit(&mnist_mlp()));
}

/// Each invalid model fails with one message naming the layer, the shapes and the DSL line.
#[test]
fn invalid_models_fail_with_located_messages() {
    let mut messages = vec![];
    let mut record = |result: Result<crate::Program, crate::Error>| {
        let error = result.err().expect("the model is invalid");
        assert!(error.location.file().ends_with("snapshot_tests.rs"));
        messages.push(format!("{}: layer `{}`: {}", error.location.line(), error.layer, error.message));
    };

    let m = Model::new("M");
    let x = m.input("x", [8, 1, 4, 4]);
    let y = m.labels("y", [8], 3);
    let logits = x.linear(3);
    record(m.compile(logits.cross_entropy(y), logits, Sgd::new(0.1)));

    let m = Model::new("M");
    let x = m.input("x", [8, 16]);
    let y = m.labels("y", [8], 3);
    let logits = x.linear(4);
    record(m.compile(logits.cross_entropy(y), logits, Sgd::new(0.1)));

    let m = Model::new("M");
    let x = m.input("x", [8, 16]);
    let y = m.labels("y", [4], 3);
    let logits = x.linear(3);
    record(m.compile(logits.cross_entropy(y), logits, Sgd::new(0.1)));

    let m = Model::new("M");
    let x = m.input("x", [8, 16]);
    let logits = x.linear(3);
    record(m.compile(logits, logits, Sgd::new(0.1)));

    let m = Model::new("M");
    let x = m.input("x", [8, 16]);
    let _again = m.input("x", [8, 16]);
    let y = m.labels("y", [8], 3);
    let logits = x.linear(3);
    record(m.compile(logits.cross_entropy(y), logits, Sgd::new(0.1)));

    let m = Model::new("M");
    let x = m.input("x", [8]);
    let y = m.labels("y", [8], 3);
    let logits = x.flatten().linear(3);
    record(m.compile(logits.cross_entropy(y), logits, Sgd::new(0.1)));

    let m = Model::new("M");
    let x = m.input("x", [8, 16]);
    let y = m.labels("y", [8], 4);
    let logits = x.linear(4).add(x.linear(3));
    record(m.compile(logits.cross_entropy(y), logits, Sgd::new(0.1)));

    insta::assert_snapshot!(messages.join("\n"));
}

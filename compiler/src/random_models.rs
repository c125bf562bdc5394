//! Property test: random layer stacks compile and emit, or fail with an error located at their
//! DSL line. None may panic. Image stacks draw convolutions (some grouped), transposed
//! convolutions (with output padding and dilation), pools with padding and ceil mode, batch
//! norm and residual adds; sequence stacks draw RNNs, LSTMs, self-attention, 1-D convolutions,
//! layer norm and dropout. Both end in a linear head. Each compiled program's IR must read back
//! as printed ([`crate::ir::Graph::parse`]).
//!
//! `KILN_RANDOM_MODELS=count` and `KILN_RANDOM_SEED=seed` widen a local run; CI runs the
//! default count from the default seed, within [`BUDGET`].

use crate::test_rng::SplitMix64;
use crate::{emit, Adam, Conv, ConvTranspose, Model, Padding, Pool, Recurrent, RmsProp, Sgd, Tensor, Training};
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

/// Models tried per run unless `KILN_RANDOM_MODELS` says otherwise.
const DEFAULT_COUNT: usize = 1000;
/// Wall-clock cap of one run: the models tried so far count, the rest are skipped.
const BUDGET: Duration = Duration::from_secs(60);

/// Draws of the layer stacks' settings.
struct Rng(SplitMix64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next() % (hi - lo + 1) as u64) as usize
    }

    fn pair(&mut self, lo: usize, hi: usize) -> [usize; 2] {
        [self.range(lo, hi), self.range(lo, hi)]
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// One layer of a random stack.
#[derive(Clone, Debug)]
enum Layer {
    Conv {
        out: usize,
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: Option<[usize; 2]>,
        dilation: [usize; 2],
        groups: usize,
        bias: bool,
    },
    ConvTranspose {
        out: usize,
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
        output_padding: [usize; 2],
        dilation: [usize; 2],
    },
    Pool {
        max: bool,
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
        ceil_mode: bool,
    },
    BatchNorm,
    Relu,
    Tanh,
    /// Adds the value `back` layers earlier (0: the stack's input).
    Residual {
        back: usize,
    },
    Conv1d {
        out: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
    },
    Rnn {
        hidden: usize,
        layers: usize,
    },
    Lstm {
        hidden: usize,
        layers: usize,
    },
    /// `h.attention(h, h, None)`.
    SelfAttention,
    /// `layer_norm(1)`.
    Norm,
    Dropout,
    /// Swaps the last two axes.
    Transpose,
}

/// How the stack is trained.
#[derive(Clone, Debug)]
enum Optimizer {
    Sgd { momentum: f64, nesterov: bool },
    Adam,
    RmsProp,
}

/// A random model: an image or sequence input, a stack of layers, a linear head and a loss.
#[derive(Clone, Debug)]
struct Stack {
    input: Vec<usize>,
    classes: usize,
    layers: Vec<Layer>,
    l2: bool,
    optimizer: Optimizer,
    clip: bool,
}

impl Stack {
    fn random(rng: &mut Rng) -> Stack {
        let image = rng.chance(70);
        let input = match image {
            true => vec![rng.range(1, 8), rng.range(1, 4), rng.range(3, 16), rng.range(3, 16)],
            false => vec![rng.range(1, 6), rng.range(1, 8), rng.range(1, 6)],
        };
        let depth = rng.range(1, 6);
        // One layer in ten comes from the other family, to exercise rank errors.
        let layers = (0..depth)
            .map(|i| match image != rng.chance(10) {
                true => Layer::random_image(rng, i),
                false => Layer::random_sequence(rng, i),
            })
            .collect();
        let optimizer = match rng.range(0, 2) {
            0 => {
                let momentum = [0.0, 0.5, 0.9][rng.range(0, 2)];
                Optimizer::Sgd { momentum, nesterov: momentum > 0.0 && rng.chance(50) }
            }
            1 => Optimizer::Adam,
            _ => Optimizer::RmsProp,
        };
        Stack { input, classes: rng.range(2, 6), layers, l2: rng.chance(30), optimizer, clip: rng.chance(30) }
    }

    /// Declares the model; returns it compiled and emitted, or the DSL's error.
    fn compile(&self) -> Result<(), crate::Error> {
        let model = Model::new("Random");
        let x = model.input("x", self.input.clone());
        let y = model.labels("y", [self.input[0]], self.classes);
        let mut values: Vec<Tensor> = vec![x];
        for layer in &self.layers {
            let h = *values.last().expect("the input is first");
            let next = match *layer {
                Layer::Conv { out, kernel, stride, padding, dilation, groups, bias } => {
                    let padding = padding.map_or(Padding::Same, Padding::from);
                    let conv = Conv::new(out, kernel).stride(stride).padding(padding).dilation(dilation);
                    h.conv2d(conv.groups(groups).bias(bias))
                }
                Layer::ConvTranspose { out, kernel, stride, padding, output_padding, dilation } => h.conv_transpose2d(
                    ConvTranspose::new(out, kernel)
                        .stride(stride)
                        .padding(padding)
                        .output_padding(output_padding)
                        .dilation(dilation),
                ),
                Layer::Pool { max: true, kernel, stride, padding, ceil_mode } => {
                    h.max_pool2d(Pool::new(kernel).stride(stride).padding(padding).ceil_mode(ceil_mode))
                }
                Layer::Pool { max: false, kernel, stride, padding, ceil_mode } => {
                    h.avg_pool2d(Pool::new(kernel).stride(stride).padding(padding).ceil_mode(ceil_mode))
                }
                Layer::BatchNorm => h.batch_norm2d(),
                Layer::Relu => h.relu(),
                Layer::Tanh => h.tanh(),
                Layer::Residual { back } => h.add(values[values.len() - 1 - back.min(values.len() - 1)]),
                Layer::Conv1d { out, kernel, stride, padding } => {
                    h.conv1d(Conv::new(out, kernel).stride(stride).padding(padding))
                }
                Layer::Rnn { hidden, layers } => h.rnn(Recurrent::new(hidden).layers(layers)),
                Layer::Lstm { hidden, layers } => h.lstm(Recurrent::new(hidden).layers(layers)),
                Layer::SelfAttention => h.attention(h, h, None),
                Layer::Norm => h.layer_norm(1),
                Layer::Dropout => h.dropout(0.25),
                Layer::Transpose => h.transpose(1, 2),
            };
            values.push(next);
        }
        let logits = values.last().expect("the input is first").flatten().linear(self.classes);
        let mut loss = logits.cross_entropy(y);
        if self.l2 {
            loss = loss.add(model.l2_penalty(0.001));
        }
        let mut training = Training::new(match self.optimizer {
            Optimizer::Sgd { momentum, nesterov } => {
                crate::Optimizer::from(Sgd { momentum, nesterov, ..Sgd::new(0.05) })
            }
            Optimizer::Adam => Adam::new(1e-3).into(),
            Optimizer::RmsProp => RmsProp::new(1e-3).into(),
        });
        if self.clip {
            training = training.clip_grad_norm(5.0);
        }
        let program = model.compile(loss, logits, training)?;
        let (source, _report) = emit::emit_with_report(&program);
        assert!(source.contains("pub struct Random"), "the emitted source declares the trainer");
        let read = crate::ir::Graph::parse(&program.graph.to_string()).expect("the IR reads back");
        let nodes = &program.graph.nodes;
        if let Some(v) = (0..nodes.len().max(read.nodes.len())).find(|&v| read.nodes.get(v) != nodes.get(v)) {
            panic!("{} reads back as {:?}", program.graph.describe(v), read.nodes.get(v));
        }
        Ok(())
    }

    /// The stack without layer `i` (a residual reaching past the removed layer reaches one
    /// less far).
    fn without(&self, i: usize) -> Stack {
        let mut layers = self.layers.clone();
        layers.remove(i);
        for (j, layer) in layers.iter_mut().enumerate().skip(i) {
            if let Layer::Residual { back } = layer {
                if j - *back < i + 1 && *back > 0 {
                    *back -= 1;
                }
            }
        }
        Stack { layers, ..self.clone() }
    }
}

impl Layer {
    fn random_sequence(rng: &mut Rng, index: usize) -> Layer {
        match rng.range(0, 9) {
            0 => Layer::Rnn { hidden: rng.range(1, 6), layers: rng.range(1, 2) },
            1 | 2 => Layer::Lstm { hidden: rng.range(1, 6), layers: rng.range(1, 2) },
            3 => Layer::SelfAttention,
            4 => Layer::Conv1d {
                out: rng.range(1, 6),
                kernel: rng.range(1, 3),
                stride: rng.range(1, 2),
                padding: rng.range(0, 1),
            },
            5 => Layer::Norm,
            6 => Layer::Dropout,
            7 => Layer::Transpose,
            8 => [Layer::Relu, Layer::Tanh][rng.range(0, 1)].clone(),
            _ => Layer::Residual { back: rng.range(0, index) },
        }
    }

    fn random_image(rng: &mut Rng, index: usize) -> Layer {
        match rng.range(0, 9) {
            0 | 1 => Layer::Conv {
                out: rng.range(1, 6),
                kernel: rng.pair(1, 4),
                stride: rng.pair(1, 3),
                padding: (!rng.chance(20)).then(|| rng.pair(0, 2)),
                dilation: rng.pair(1, 2),
                // Groups that may not divide the channels: those models must be rejected.
                groups: if rng.chance(25) { rng.range(2, 4) } else { 1 },
                bias: rng.chance(70),
            },
            2 | 3 => {
                let stride = rng.pair(1, 3);
                let dilation = rng.pair(1, 2);
                let output_padding = [0, 1].map(|d| rng.range(0, stride[d].max(dilation[d]) - 1));
                Layer::ConvTranspose {
                    out: rng.range(1, 6),
                    kernel: rng.pair(1, 4),
                    stride,
                    padding: rng.pair(0, 2),
                    output_padding,
                    dilation,
                }
            }
            4 | 5 => {
                let kernel = rng.pair(1, 4);
                Layer::Pool {
                    max: rng.chance(50),
                    kernel,
                    stride: rng.pair(1, 3),
                    padding: [rng.range(0, kernel[0] / 2), rng.range(0, kernel[1] / 2)],
                    ceil_mode: rng.chance(50),
                }
            }
            6 => Layer::BatchNorm,
            7 => [Layer::Relu, Layer::Tanh][rng.range(0, 1)].clone(),
            _ => Layer::Residual { back: rng.range(0, index) },
        }
    }
}

/// The stack as the DSL code that declares it, to paste into a test.
impl fmt::Display for Stack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "let model = Model::new(\"Random\");")?;
        writeln!(f, "let v0 = model.input(\"x\", {:?});", self.input)?;
        writeln!(f, "let y = model.labels(\"y\", [{}], {});", self.input[0], self.classes)?;
        for (i, layer) in self.layers.iter().enumerate() {
            let call = match layer {
                Layer::Conv { out, kernel, stride, padding, dilation, groups, bias } => {
                    let padding = padding.map_or("Padding::Same".to_string(), |p| format!("{p:?}"));
                    format!("conv2d(Conv::new({out}, {kernel:?}).stride({stride:?}).padding({padding}).dilation({dilation:?}).groups({groups}).bias({bias}))")
                }
                Layer::ConvTranspose { out, kernel, stride, padding, output_padding, dilation } => format!(
                    "conv_transpose2d(ConvTranspose::new({out}, {kernel:?}).stride({stride:?}).padding({padding:?}).output_padding({output_padding:?}).dilation({dilation:?}))"
                ),
                Layer::Pool { max, kernel, stride, padding, ceil_mode } => format!(
                    "{}_pool2d(Pool::new({kernel:?}).stride({stride:?}).padding({padding:?}).ceil_mode({ceil_mode}))",
                    if *max { "max" } else { "avg" }
                ),
                Layer::BatchNorm => "batch_norm2d()".into(),
                Layer::Relu => "relu()".into(),
                Layer::Tanh => "tanh()".into(),
                Layer::Residual { back } => format!("add(v{})", i - back.min(&i)),
                Layer::Conv1d { out, kernel, stride, padding } => format!("conv1d(Conv::new({out}, {kernel}).stride({stride}).padding({padding}))"),
                Layer::Rnn { hidden, layers } => format!("rnn(Recurrent::new({hidden}).layers({layers}))"),
                Layer::Lstm { hidden, layers } => format!("lstm(Recurrent::new({hidden}).layers({layers}))"),
                Layer::SelfAttention => format!("attention(v{i}, v{i}, None)"),
                Layer::Norm => "layer_norm(1)".into(),
                Layer::Dropout => "dropout(0.25)".into(),
                Layer::Transpose => "transpose(1, 2)".into(),
            };
            writeln!(f, "let v{} = v{i}.{call};", i + 1)?;
        }
        writeln!(f, "let logits = v{}.flatten().linear({});", self.layers.len(), self.classes)?;
        let penalty = if self.l2 { ".add(model.l2_penalty(0.001))" } else { "" };
        let clip = if self.clip { ".clip_grad_norm(5.0)" } else { "" };
        let optimizer = match self.optimizer {
            Optimizer::Sgd { momentum, nesterov } => {
                format!("Sgd {{ momentum: {momentum:?}, nesterov: {nesterov}, ..Sgd::new(0.05) }}")
            }
            Optimizer::Adam => "Adam::new(1e-3)".into(),
            Optimizer::RmsProp => "RmsProp::new(1e-3)".into(),
        };
        write!(f, "model.compile(logits.cross_entropy(y){penalty}, logits, Training::new({optimizer}){clip})")
    }
}

/// Whether compiling `stack` panics (the panic's message is printed by the default hook).
fn panics(stack: &Stack) -> bool {
    catch_unwind(AssertUnwindSafe(|| stack.compile())).is_err()
}

/// The smallest stack found by removing layers one at a time that still panics.
fn shrink(mut stack: Stack) -> Stack {
    'outer: loop {
        for i in 0..stack.layers.len() {
            let smaller = stack.without(i);
            if panics(&smaller) {
                stack = smaller;
                continue 'outer;
            }
        }
        return stack;
    }
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[test]
fn random_layer_stacks_compile_or_fail_with_located_errors() {
    let seed = env_or("KILN_RANDOM_SEED", 0x6b69_6c6e);
    let count = env_or("KILN_RANDOM_MODELS", DEFAULT_COUNT as u64) as usize;
    let mut rng = Rng(SplitMix64(seed));
    let started = Instant::now();
    let (mut compiled, mut rejected, mut tried) = (0, 0, 0);
    let mut panicked = vec![];
    while tried < count && started.elapsed() < BUDGET {
        let stack = Stack::random(&mut rng);
        tried += 1;
        match catch_unwind(AssertUnwindSafe(|| stack.compile())) {
            Ok(Ok(())) => compiled += 1,
            Ok(Err(e)) => {
                rejected += 1;
                assert_eq!(e.location.file(), file!(), "{e} is not located at the DSL line, for:\n{stack}");
                assert!(!e.message.contains("internal"), "{e}, for:\n{stack}");
            }
            Err(_) => panicked.push(shrink(stack)),
        }
    }
    eprintln!("random models from seed {seed:#x}: {tried} tried, {compiled} compiled, {rejected} rejected, {} panicked ({:.1} s)", panicked.len(), started.elapsed().as_secs_f64());
    let reproductions: Vec<String> = panicked.iter().map(|s| s.to_string()).collect();
    assert!(panicked.is_empty(), "compile panicked; smallest reproductions:\n\n{}", reproductions.join("\n\n"));
    // The generator must mostly make valid models, or the test checks little.
    assert!(compiled * 2 >= tried, "only {compiled} of {tried} random models were valid");
}

/// The two models of the redesign issue's reproduction: `output_padding - padding >= stride`
/// made the matching convolution one window too long (`reshape changes size`).
#[test]
fn transposed_convolutions_with_output_padding_past_padding_compile() {
    let model = Model::new("C");
    let x = model.input("x", [4, 2, 6, 6]);
    let y = model.labels("y", [4], 5);
    let logits = x.conv_transpose2d(ConvTranspose::new(2, 2).output_padding(1).dilation(2)).flatten().linear(5);
    let program = model.compile(logits.cross_entropy(y), logits, Sgd::new(0.1)).unwrap();
    emit::emit(&program);

    let model = Model::new("M004");
    let x = model.input("x", [48, 2, 13, 14]);
    let y = model.labels("y", [48], 5);
    let v1 = x.conv2d(Conv::new(4, (1, 1)).padding(Padding::Same)).batch_norm2d().relu();
    let v4 = v1.avg_pool2d(Pool::new(2).stride(2).padding(1));
    let v5 = v4.conv_transpose2d(ConvTranspose::new(2, 4).output_padding(1).dilation(2));
    let v7 = v5.tanh().max_pool2d(Pool::new(2).stride(2).padding(1));
    let v9 = v7.conv2d(Conv::new(2, (3, 3)).padding((1, 1))).relu();
    let logits = v9.add(v7).flatten().linear(5);
    let loss = logits.cross_entropy(y).add(model.l2_penalty(0.001));
    let sgd = Sgd { lr: 0.05, momentum: 0.5, dampening: 0.0, nesterov: true, weight_decay: 0.0 };
    let program = model.compile(loss, logits, Training::new(sgd).clip_grad_norm(5.0)).unwrap();
    emit::emit(&program);
}

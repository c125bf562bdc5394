//! Parameter initialisers (`torch.nn.init`) and the options of `linear`.

use crate::ir::Init;

/// How a weight or bias is drawn, by the trainer's seeded generator. Gains and fans follow
/// `torch.nn.init`: fan_in = in_features (x kernel area), fan_out = out_features (x kernel area).
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Initializer {
    /// PyTorch's default for the layer: kaiming_uniform(a=sqrt(5)) for weights, i.e.
    /// U(±1/sqrt(fan_in)), and U(±1/sqrt(fan_in)) for biases.
    Default,
    /// `xavier_uniform_(gain)`: U(±gain·sqrt(6/(fan_in+fan_out))).
    XavierUniform(f64),
    /// `xavier_normal_(gain)`: N(0, gain·sqrt(2/(fan_in+fan_out))).
    XavierNormal(f64),
    /// `kaiming_uniform_` for ReLU (gain sqrt(2), fan_in): U(±sqrt(6/fan_in)).
    KaimingUniform,
    /// `kaiming_normal_` for ReLU (gain sqrt(2), fan_in): N(0, sqrt(2/fan_in)).
    KaimingNormal,
    /// `normal_(mean, std)`.
    Normal(f64, f64),
    /// `uniform_(a, b)`.
    Uniform(f64, f64),
    /// `constant_(value)`.
    Constant(f64),
}

impl Initializer {
    /// The IR init of a weight (or bias) of a layer with `(fan_in, fan_out)`; `Default` gives
    /// U(±1/sqrt(fan_in)) for both, as PyTorch does.
    pub(crate) fn resolve(self, (fan_in, fan_out): (usize, usize)) -> Init {
        let (fan_in, fan_out) = (fan_in as f64, fan_out as f64);
        let symmetric = |bound: f64| Init::Uniform { low: -bound, high: bound };
        match self {
            Initializer::Default => symmetric(1.0 / fan_in.sqrt()),
            Initializer::XavierUniform(gain) => symmetric(gain * (6.0 / (fan_in + fan_out)).sqrt()),
            Initializer::XavierNormal(gain) => {
                Init::Normal { mean: 0.0, std: gain * (2.0 / (fan_in + fan_out)).sqrt() }
            }
            Initializer::KaimingUniform => symmetric((6.0 / fan_in).sqrt()),
            Initializer::KaimingNormal => Init::Normal { mean: 0.0, std: (2.0 / fan_in).sqrt() },
            Initializer::Normal(mean, std) => Init::Normal { mean, std },
            Initializer::Uniform(low, high) => Init::Uniform { low, high },
            Initializer::Constant(c) => Init::Constant(c),
        }
    }
}

/// Options of [`crate::Tensor::linear`]; a bare `usize` is `Linear::new(out)`.
#[derive(Clone, Copy, PartialEq, Debug)]
pub struct Linear {
    pub(crate) out_features: usize,
    pub(crate) bias: bool,
    pub(crate) weight_init: Initializer,
    pub(crate) bias_init: Initializer,
}

impl Linear {
    /// `nn.Linear(_, out_features)` with a bias and PyTorch's default init.
    pub fn new(out_features: usize) -> Self {
        Linear { out_features, bias: true, weight_init: Initializer::Default, bias_init: Initializer::Default }
    }

    /// With (`true`, the default) or without a bias.
    pub fn bias(self, bias: bool) -> Self {
        Linear { bias, ..self }
    }

    /// How the weight is initialised.
    pub fn weight_init(self, weight_init: Initializer) -> Self {
        Linear { weight_init, ..self }
    }

    /// How the bias is initialised.
    pub fn bias_init(self, bias_init: Initializer) -> Self {
        Linear { bias_init, ..self }
    }
}

impl From<usize> for Linear {
    fn from(out_features: usize) -> Self {
        Linear::new(out_features)
    }
}

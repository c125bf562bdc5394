//! Models compiled for the end-to-end tests (declared in `build.rs`).

macro_rules! models {
    ($($module:ident :: $model:ident),* $(,)?) => {
        $(
            include!(concat!(env!("OUT_DIR"), "/", stringify!($module), ".rs"));
            pub use $module::$model;
        )*
    };
}

models!(
    tiny_mlp::TinyMlp,
    sgd_momentum::SgdMomentum,
    sgd_nesterov_wd::SgdNesterovWd,
    sgd_dampening::SgdDampening,
    rmsprop::Rmsprop,
    rmsprop_centered_momentum::RmspropCenteredMomentum,
    adam_default::AdamDefault,
    adam_course::AdamCourse,
    adam_w::AdamW,
    adagrad_decay::AdagradDecay,
    sgd_momentum_clipped::SgdMomentumClipped,
    adam_clipped::AdamClipped,
    sgd_momentum_accumulate3::SgdMomentumAccumulate3,
    adam_accumulate2_clipped::AdamAccumulate2Clipped,
    op_zoo::OpZoo,
    layers_conv::LayersConv,
    layers_seq::LayersSeq,
    layers_decoder::LayersDecoder,
    layers_autoencoder::LayersAutoencoder,
    layers_misc::LayersMisc,
    layers_regression::LayersRegression,
    layers_dropout::LayersDropout,
    layers_embedding::LayersEmbedding,
    layers_recurrent::LayersRecurrent,
    layers_rnn::LayersRnn,
    layers_attention::LayersAttention,
);

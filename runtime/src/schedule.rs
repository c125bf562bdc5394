//! Learning-rate schedules, evaluated on the host per epoch and fed to the trainer as a scalar
//! (`set_learning_rate`): changing the rate never recompiles. Each matches the
//! `torch.optim.lr_scheduler` class of the same name.

/// A learning rate as a function of the epoch (counted from 0) and the base rate.
#[derive(Clone, Debug, PartialEq)]
pub enum LrSchedule {
    /// The base rate throughout.
    Constant,
    /// `gamma^epoch` (ExponentialLR).
    Exponential {
        /// Decay per epoch.
        gamma: f64,
    },
    /// `gamma^(epoch / step_size)` (StepLR).
    Step {
        /// Epochs between decays.
        step_size: usize,
        /// Decay per step.
        gamma: f64,
    },
    /// `gamma^(milestones passed)` (MultiStepLR).
    MultiStep {
        /// Epochs at which the rate decays.
        milestones: Vec<usize>,
        /// Decay per milestone.
        gamma: f64,
    },
    /// Factor moving linearly from `start_factor` to `end_factor` over `total_iters` epochs,
    /// then constant (LinearLR: a warmup when `start_factor < 1`).
    Linear {
        /// Factor at epoch 0.
        start_factor: f64,
        /// Factor from `total_iters` on.
        end_factor: f64,
        /// Epochs of the ramp.
        total_iters: usize,
    },
    /// Half a cosine from the base rate down to `eta_min` over `t_max` epochs
    /// (CosineAnnealingLR, closed form).
    Cosine {
        /// Epochs of the half period.
        t_max: usize,
        /// The lowest rate.
        eta_min: f64,
    },
    /// `schedules[i]` from `milestones[i - 1]` on, each restarted at 0 (SequentialLR, e.g. a
    /// linear warmup then a decay).
    Sequential {
        /// One more schedule than milestones.
        schedules: Vec<LrSchedule>,
        /// Epochs at which the next schedule takes over.
        milestones: Vec<usize>,
    },
}

impl LrSchedule {
    /// The learning rate of `epoch` for base rate `base`.
    pub fn lr(&self, base: f64, epoch: usize) -> f64 {
        match self {
            LrSchedule::Constant => base,
            LrSchedule::Exponential { gamma } => base * gamma.powi(epoch as i32),
            LrSchedule::Step { step_size, gamma } => base * gamma.powi((epoch / step_size.max(&1)) as i32),
            LrSchedule::MultiStep { milestones, gamma } => {
                base * gamma.powi(milestones.iter().filter(|&&m| m <= epoch).count() as i32)
            }
            LrSchedule::Linear { start_factor, end_factor, total_iters } => {
                let progress = epoch.min(*total_iters) as f64 / (*total_iters).max(1) as f64;
                base * (start_factor + (end_factor - start_factor) * progress)
            }
            LrSchedule::Cosine { t_max, eta_min } => {
                let phase = std::f64::consts::PI * epoch as f64 / (*t_max).max(1) as f64;
                eta_min + (base - eta_min) * (1.0 + phase.cos()) / 2.0
            }
            LrSchedule::Sequential { schedules, milestones } => {
                let active = milestones.iter().filter(|&&m| m <= epoch).count().min(schedules.len() - 1);
                let start = if active == 0 { 0 } else { milestones[active - 1] };
                schedules[active].lr(base, epoch - start)
            }
        }
    }
}

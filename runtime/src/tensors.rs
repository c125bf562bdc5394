//! The named tensors of a generated trainer and the arena slots they live in: what every
//! trainer does with them (read or overwrite one by name, save and load a checkpoint) is this
//! generic code, and a trainer's file holds only its table.

use crate::{checkpoint, Arena, Error, Float};
use std::path::Path;

/// A tensor's name (PyTorch's) and shape.
pub type Spec = (&'static str, &'static [usize]);

/// A trainer's checkpointed tensors: names and shapes, in checkpoint order, with their slots.
/// The model tensors are the trained parameters, then the frozen ones, then the running
/// statistics.
pub struct Tensors {
    /// The trained parameters.
    pub parameters: &'static [Spec],
    /// The frozen parameters: loaded and saved, never updated.
    pub frozen: &'static [Spec],
    /// The running statistics (batch norm).
    pub statistics: &'static [Spec],
    /// The arena slot of each model tensor, in order.
    pub model_slots: &'static [usize],
    /// The optimizer state (moments), saved after the model tensors.
    pub state: &'static [Spec],
    /// The arena slot of each of `state`.
    pub state_slots: &'static [usize],
}

/// Fails between the `micro`-batches of an optimizer step of `accumulate`: a checkpoint holds
/// whole steps (partial gradient sums are not saved).
pub fn whole_steps(micro: usize, accumulate: usize) -> Result<(), Error> {
    match micro {
        0 => Ok(()),
        _ => Err(Error::Invalid(format!(
            "save after a whole optimizer step: {micro} of {accumulate} micro-batches are accumulated"
        ))),
    }
}

/// What [`Tensors::load`] read besides the tensors it wrote.
pub struct Loaded {
    /// Train steps taken when the checkpoint was saved (0 if unknown).
    pub step: u64,
    /// Whether it held the optimizer state (a PyTorch `state_dict` does not).
    pub with_state: bool,
}

impl Tensors {
    /// The model tensors in checkpoint order.
    fn model(&self) -> Vec<Spec> {
        self.parameters.iter().chain(self.frozen).chain(self.statistics).copied().collect()
    }

    /// The slot and element count of the model tensor `name`.
    fn find(&self, name: &str) -> Option<(usize, usize)> {
        let model = self.model();
        let i = model.iter().position(|(n, _)| *n == name)?;
        Some((self.model_slots[i], model[i].1.iter().product()))
    }

    /// The current values of model tensor `name` (row-major, PyTorch's layout), if there is one.
    pub fn read<T: Float>(&self, arena: &Arena, name: &str) -> Option<Vec<T>> {
        self.find(name).map(|(slot, _)| arena.read(slot))
    }

    /// Overwrites model tensor `name` with `values`, as `p.data.copy_(values)`; rejects an
    /// unknown name, a wrong length and non-finite values.
    pub fn write<T: Float>(&self, arena: &Arena, name: &str, values: &[T]) -> Result<(), Error> {
        let (slot, len) = self.find(name).ok_or_else(|| Error::Invalid(format!("no parameter named {name:?}")))?;
        crate::check_input(name, values, 1, len)?;
        arena.write(slot, values);
        Ok(())
    }

    /// Writes every tensor and the step counter to a safetensors file at `path`, atomically.
    pub fn save<T: Float>(&self, arena: &Arena, path: &Path, steps: u64) -> Result<(), Error> {
        let model: Vec<Vec<T>> = self.model_slots.iter().map(|&s| arena.read(s)).collect();
        let state: Vec<Vec<T>> = self.state_slots.iter().map(|&s| arena.read(s)).collect();
        checkpoint::save(path, &self.model(), &model, self.state, &state, steps)
    }

    /// Loads a checkpoint `save` wrote, or a PyTorch `state_dict` of the model tensors alone.
    /// Nothing is written unless every tensor matches.
    pub fn load<T: Float>(&self, arena: &Arena, path: &Path) -> Result<Loaded, Error> {
        let checkpoint = checkpoint::load::<T>(path, &self.model(), self.state)?;
        for (&slot, data) in self.model_slots.iter().zip(&checkpoint.params) {
            arena.write(slot, data);
        }
        let with_state = checkpoint.state.is_some();
        for (&slot, data) in self.state_slots.iter().zip(checkpoint.state.iter().flatten()) {
            arena.write(slot, data);
        }
        Ok(Loaded { step: checkpoint.step, with_state })
    }
}

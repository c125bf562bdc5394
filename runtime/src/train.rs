//! The training loop an app calls in a few lines: epochs of shuffled mini-batches, a
//! validation split, per-epoch loss and accuracy, a learning-rate schedule, early stopping that
//! restores the best checkpoint, a progress bar on a terminal, a CSV log and a PNG plot.
//!
//! ```no_run
//! # fn demo<M: kiln_runtime::train::Classifier>(model: &mut M, data: &kiln_runtime::data::Dataset) -> Result<(), kiln_runtime::Error> {
//! use kiln_runtime::train::{fit, FitConfig};
//! let history = fit(model, data, &FitConfig { epochs: 20, patience: Some(3), ..FitConfig::default() })?;
//! println!("best epoch {}", history.best_epoch + 1);
//! # Ok(()) }
//! ```

use crate::data::{argmax_rows, Dataset};
use crate::init::SplitMix64;
use crate::schedule::LrSchedule;
use crate::Error;
use indicatif::{ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What the loop needs of a generated classifier trainer (implemented by kiln's codegen for
/// models with one input and one labels tensor).
pub trait Classifier {
    /// Rows per batch.
    const BATCH: usize;
    /// Values per sample.
    const SAMPLE_LEN: usize;
    /// Number of classes.
    const CLASSES: usize;
    /// One optimizer step; the mean loss before it.
    fn train_step(&mut self, x: &[f32], y: &[u32]) -> Result<f32, Error>;
    /// The mean loss without an update.
    fn eval_loss(&mut self, x: &[f32], y: &[u32]) -> Result<f32, Error>;
    /// The logits of a batch.
    fn predict(&mut self, x: &[f32]) -> Result<Vec<f32>, Error>;
    /// The logits the last `train_step` or `eval_loss` computed.
    fn last_outputs(&self, rows: usize) -> Vec<f32>;
    /// The current learning rate.
    fn learning_rate(&self) -> f32;
    /// Sets the learning rate of the next steps.
    fn set_learning_rate(&mut self, lr: f32);
    /// Writes a checkpoint.
    fn save(&self, path: &Path) -> Result<(), Error>;
    /// Reads a checkpoint.
    fn load(&mut self, path: &Path) -> Result<(), Error>;
}

/// Settings of [`fit`].
#[derive(Clone, Debug)]
pub struct FitConfig {
    /// Most epochs to run.
    pub epochs: usize,
    /// Seed of the shuffling and of the validation split.
    pub seed: u64,
    /// Fraction of the data held out for validation (0: none).
    pub validation_fraction: f64,
    /// Stop after this many epochs without a lower validation loss, then restore the best.
    pub patience: Option<usize>,
    /// Learning rate per epoch, relative to the trainer's rate when `fit` starts.
    pub schedule: LrSchedule,
    /// Where the best checkpoint is kept (default: a file in the temp dir).
    pub checkpoint: Option<PathBuf>,
    /// CSV of the per-epoch figures.
    pub csv: Option<PathBuf>,
    /// PNG plot of the loss and accuracy curves.
    #[cfg(feature = "plot")]
    pub plot: Option<PathBuf>,
    /// Augmentation of the training batches (not of validation).
    pub augment: Option<crate::images::Augment>,
    /// Print progress (a bar on a terminal, one line per epoch otherwise).
    pub verbose: bool,
}

impl Default for FitConfig {
    fn default() -> Self {
        FitConfig {
            epochs: 10,
            seed: 0,
            validation_fraction: 0.1,
            patience: None,
            schedule: LrSchedule::Constant,
            checkpoint: None,
            csv: None,
            #[cfg(feature = "plot")]
            plot: None,
            augment: None,
            verbose: true,
        }
    }
}

/// The figures of one epoch.
#[derive(Clone, Debug, PartialEq)]
pub struct EpochStats {
    /// Learning rate used.
    pub lr: f64,
    /// Mean training loss over the epoch's batches (before each update).
    pub train_loss: f64,
    /// Training accuracy over the epoch (from the same forward passes).
    pub train_accuracy: f64,
    /// Validation loss (NaN without a validation split).
    pub val_loss: f64,
    /// Validation accuracy (NaN without a validation split).
    pub val_accuracy: f64,
    /// Wall-clock seconds of the epoch.
    pub seconds: f64,
}

/// What [`fit`] did.
#[derive(Clone, Debug, PartialEq)]
pub struct History {
    /// One entry per epoch run.
    pub epochs: Vec<EpochStats>,
    /// Index of the epoch whose parameters the model holds at the end.
    pub best_epoch: usize,
    /// Whether early stopping ended the run.
    pub stopped_early: bool,
}

/// Loss, accuracy and confusion matrix of a model on a dataset.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    /// Mean loss.
    pub loss: f64,
    /// Fraction classified correctly.
    pub accuracy: f64,
    /// `confusion[true][predicted]` counts.
    pub confusion: Vec<Vec<usize>>,
}

impl Evaluation {
    /// Accuracy of each class (NaN for a class with no samples).
    pub fn per_class_accuracy(&self) -> Vec<f64> {
        self.confusion.iter().enumerate().map(|(c, row)| row[c] as f64 / row.iter().sum::<usize>() as f64).collect()
    }

    /// The confusion matrix and per-class accuracy as aligned text.
    pub fn report(&self) -> String {
        let mut out = String::from("true\\pred");
        for c in 0..self.confusion.len() {
            out += &format!("{c:>6}");
        }
        out += "  accuracy\n";
        for (c, (row, acc)) in self.confusion.iter().zip(self.per_class_accuracy()).enumerate() {
            out += &format!("{c:>9}");
            for n in row {
                out += &format!("{n:>6}");
            }
            out += &format!("  {:>7.2}%\n", 100.0 * acc);
        }
        out
    }
}

/// Loss, accuracy and confusion matrix of `model` on `data`.
pub fn evaluate<M: Classifier>(model: &mut M, data: &Dataset) -> Result<Evaluation, Error> {
    let mut confusion = vec![vec![0; M::CLASSES]; M::CLASSES];
    let mut loss = 0.0;
    for (x, y) in data.batches(M::BATCH) {
        loss += f64::from(model.eval_loss(&x, &y)?) * y.len() as f64;
        for (p, t) in argmax_rows(&model.last_outputs(y.len()), M::CLASSES).iter().zip(&y) {
            confusion[*t as usize][*p as usize] += 1;
        }
    }
    let correct: usize = (0..M::CLASSES).map(|c| confusion[c][c]).sum();
    Ok(Evaluation { loss: loss / data.len() as f64, accuracy: correct as f64 / data.len() as f64, confusion })
}

/// Trains `model` on `data`, holding out `config.validation_fraction` of it for validation.
/// The model ends with the parameters of the best epoch by validation loss (with `patience`;
/// else those of the last epoch).
pub fn fit<M: Classifier>(model: &mut M, data: &Dataset, config: &FitConfig) -> Result<History, Error> {
    let mut rng = SplitMix64::new(config.seed, 0x5151);
    let (train, validation) = data.split(config.validation_fraction, &mut rng);
    run(model, &train, validation.as_ref(), config, &mut rng)
}

/// Trains `model` on `train`, validating on `validation` (`validation_fraction` is ignored).
pub fn fit_validated<M: Classifier>(
    model: &mut M,
    train: &Dataset,
    validation: &Dataset,
    config: &FitConfig,
) -> Result<History, Error> {
    let mut rng = SplitMix64::new(config.seed, 0x5151);
    run(model, train, Some(validation), config, &mut rng)
}

fn run<M: Classifier>(
    model: &mut M,
    train: &Dataset,
    validation: Option<&Dataset>,
    config: &FitConfig,
    rng: &mut SplitMix64,
) -> Result<History, Error> {
    let checkpoint = config
        .checkpoint
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join(format!("kiln-best-{}.safetensors", std::process::id())));
    let base_lr = f64::from(model.learning_rate());
    let mut history = History { epochs: vec![], best_epoch: 0, stopped_early: false };
    let mut best_loss = f64::INFINITY;

    for epoch in 0..config.epochs {
        let started = Instant::now();
        let lr = config.schedule.lr(base_lr, epoch);
        model.set_learning_rate(lr as f32);
        let (mut loss_sum, mut correct) = (0.0, 0);
        let bar = progress_bar(config.verbose, epoch, config.epochs, train.len().div_ceil(M::BATCH));
        for (i, (mut x, y)) in train.shuffled_batches(M::BATCH, rng).enumerate() {
            if let Some(augment) = &config.augment {
                augment.apply(&mut x, rng);
            }
            loss_sum += f64::from(model.train_step(&x, &y)?) * y.len() as f64;
            let predicted = argmax_rows(&model.last_outputs(y.len()), M::CLASSES);
            correct += predicted.iter().zip(&y).filter(|(p, t)| p == t).count();
            bar.set_message(format!("{:.4}", loss_sum / ((i * M::BATCH + y.len()) as f64)));
            bar.inc(1);
        }
        let (val_loss, val_accuracy) = match validation {
            Some(v) => {
                let e = evaluate(model, v)?;
                (e.loss, e.accuracy)
            }
            None => (f64::NAN, f64::NAN),
        };
        let stats = EpochStats {
            lr,
            train_loss: loss_sum / train.len() as f64,
            train_accuracy: correct as f64 / train.len() as f64,
            val_loss,
            val_accuracy,
            seconds: started.elapsed().as_secs_f64(),
        };
        bar.finish_and_clear();
        if config.verbose {
            println!(
                "epoch {:>3}/{}  lr {:.2e}  train loss {:.4} acc {:.2}%  val loss {:.4} acc {:.2}%  {:.2} s",
                epoch + 1,
                config.epochs,
                stats.lr,
                stats.train_loss,
                100.0 * stats.train_accuracy,
                stats.val_loss,
                100.0 * stats.val_accuracy,
                stats.seconds
            );
        }
        history.epochs.push(stats);
        if let Some(path) = &config.csv {
            write_csv(path, &history.epochs)?;
        }
        #[cfg(feature = "plot")]
        if let Some(path) = &config.plot {
            crate::plot::curves(path, &history.epochs)?;
        }

        let score = if validation.is_some() { val_loss } else { -(epoch as f64) };
        if score < best_loss {
            best_loss = score;
            history.best_epoch = epoch;
            if config.patience.is_some() {
                model.save(&checkpoint)?;
            }
        } else if let Some(patience) = config.patience {
            if epoch - history.best_epoch >= patience {
                history.stopped_early = true;
                break;
            }
        }
    }
    if config.patience.is_some() && history.best_epoch + 1 != history.epochs.len() {
        model.load(&checkpoint)?;
    }
    if config.patience.is_some() && config.checkpoint.is_none() {
        let _ = std::fs::remove_file(&checkpoint);
    }
    Ok(history)
}

/// The bar of one epoch's batches on stderr: drawn only when stderr is a terminal (indicatif
/// hides it otherwise), with the running mean loss as its message.
fn progress_bar(verbose: bool, epoch: usize, epochs: usize, batches: usize) -> ProgressBar {
    if !verbose {
        return ProgressBar::hidden();
    }
    let template = "epoch {prefix} [{bar:30}] {pos}/{len} {per_sec} eta {eta} loss {msg}";
    let style = ProgressStyle::with_template(template).expect("the template is valid").progress_chars("=> ");
    ProgressBar::new(batches as u64).with_style(style).with_prefix(format!("{:>3}/{epochs}", epoch + 1))
}

/// Writes the per-epoch figures as CSV (rewritten whole each epoch).
pub fn write_csv(path: &Path, epochs: &[EpochStats]) -> Result<(), Error> {
    let mut text = String::from("epoch,lr,train_loss,train_accuracy,val_loss,val_accuracy,seconds\n");
    for (i, e) in epochs.iter().enumerate() {
        text += &format!(
            "{},{},{},{},{},{},{:.4}\n",
            i + 1,
            e.lr,
            e.train_loss,
            e.train_accuracy,
            e.val_loss,
            e.val_accuracy,
            e.seconds
        );
    }
    std::fs::write(path, text).map_err(|source| Error::Io { path: path.to_path_buf(), source })
}

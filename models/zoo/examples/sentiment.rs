//! Trains the zoo's `SentimentLstm` on sentences in SST-2's TSV form (`sentence<TAB>label`
//! after a header line), optionally from GloVe vectors, and scores it on a held-out file after
//! every epoch.
//!
//! `cargo run --release -p kiln-zoo --example sentiment -- [options]`
//!
//! - `--train FILE --dev FILE`: SST-2's `train.tsv` and `dev.tsv`. Without them it writes
//!   67,349 and 872 sentences (SST-2's sizes) of `kiln_runtime::synthetic::sentiment_sentences`
//!   (Zipf-distributed words of 16,000 ranks, skewed lengths up to 64) in that form to
//!   temporary files and reads them back.
//! - `--glove FILE`: start the embedding from GloVe's 50-dimensional text vectors (such as
//!   `glove.6B.50d.txt`); the vocabulary's words the file lacks start at zero.
//! - `--epochs N` (default 2).
//!
//! The vocabulary is the training sentences' words seen at least twice, cut to the model's
//! 20,000 ids; each epoch's batches are bucketed by length, so a batch runs as many LSTM steps
//! as its longest sentence has.

use kiln_runtime::corpora::{read_glove, read_labelled, Labelled, Missing};
use kiln_runtime::data::bucketed_batches;
use kiln_runtime::init::SplitMix64;
use kiln_runtime::text::LabelledCorpus;
use kiln_zoo::SentimentLstm;
use std::path::PathBuf;

/// SST-2's training and validation sizes, which the generated corpus has.
const GENERATED: [usize; 2] = [67_349, 872];

/// The command line's options.
struct Options {
    train: Option<PathBuf>,
    dev: Option<PathBuf>,
    glove: Option<PathBuf>,
    epochs: usize,
}

fn options() -> Result<Options, String> {
    let mut options = Options { train: None, dev: None, glove: None, epochs: 2 };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("`{flag}` needs a value"))?;
        match flag.as_str() {
            "--train" => options.train = Some(value.into()),
            "--dev" => options.dev = Some(value.into()),
            "--glove" => options.glove = Some(value.into()),
            "--epochs" => options.epochs = value.parse().map_err(|_| format!("`--epochs {value}`: not a count"))?,
            _ => return Err(format!("unknown option `{flag}` (see the example's first lines)")),
        }
    }
    if options.train.is_some() != options.dev.is_some() {
        return Err("give both `--train` and `--dev`, or neither".into());
    }
    Ok(options)
}

/// `sentences` written in SST-2's form to a temporary file and read back.
fn through_tsv(sentences: &[Labelled], name: &str) -> Result<Vec<Labelled>, kiln_runtime::Error> {
    let path = std::env::temp_dir().join(format!("kiln-{name}-{}.tsv", std::process::id()));
    let lines: String = sentences.iter().map(|s| format!("{}\t{}\n", s.sentence, s.label)).collect();
    std::fs::write(&path, format!("sentence\tlabel\n{lines}"))
        .map_err(|source| kiln_runtime::Error::Io { path: path.clone(), source })?;
    let read = read_labelled(&path);
    std::fs::remove_file(&path).map_err(|source| kiln_runtime::Error::Io { path: path.clone(), source })?;
    read
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let options = options()?;
    let (train, dev) = match (&options.train, &options.dev) {
        (Some(train), Some(dev)) => (read_labelled(train)?, read_labelled(dev)?),
        _ => {
            let generated = kiln_runtime::synthetic::sentiment_sentences(GENERATED[0] + GENERATED[1], 16_000, 64, 7);
            (through_tsv(&generated[..GENERATED[0]], "sst-train")?, through_tsv(&generated[GENERATED[0]..], "sst-dev")?)
        }
    };
    let vocab = LabelledCorpus::vocabulary(&train, 2).truncated(SentimentLstm::IDS_VOCAB);
    let (train, dev) = (
        LabelledCorpus::new(&train, &vocab, SentimentLstm::IDS_LEN),
        LabelledCorpus::new(&dev, &vocab, SentimentLstm::IDS_LEN),
    );
    let lengths = train.lengths();
    let mut sorted = lengths.clone();
    sorted.sort_unstable();
    println!(
        "{} training and {} held-out sentences; {} words in the vocabulary; lengths: median {}, longest {}",
        train.len(),
        dev.len(),
        vocab.len(),
        sorted.get(sorted.len() / 2).unwrap_or(&0),
        sorted.last().unwrap_or(&0)
    );
    let mut trainer = SentimentLstm::new(&kiln_runtime::default_device()?, 42);
    if let Some(path) = &options.glove {
        let (name, &[rows, dim]) = SentimentLstm::PARAMETERS[0] else { unreachable!("the embedding is 2-D") };
        let glove = read_glove(path, &vocab, [rows, dim], Missing::Zeros)?;
        trainer.set_parameter(name, &glove.table)?;
        println!("{} of the {} words from {}", glove.found, vocab.len(), path.display());
    }
    let mut rng = SplitMix64::new(42, 5);
    for epoch in 1..=options.epochs {
        let started = std::time::Instant::now();
        let (mut loss, mut steps) = (0.0, 0);
        for rows in bucketed_batches(&lengths, SentimentLstm::BATCH, &mut rng) {
            let (ids, lengths, labels) = train.batch(&rows);
            loss += trainer.train_step(&ids, &lengths, &labels)?;
            steps += 1;
        }
        let seconds = started.elapsed().as_secs_f64();
        let rows: Vec<usize> = (0..dev.len()).collect();
        let held_out = dev.accuracy(&rows, SentimentLstm::BATCH, 2, |ids, lengths| trainer.predict(ids, lengths))?;
        println!(
            "epoch {epoch}: loss {:.3}, held-out accuracy {:.2}% ({steps} steps in {seconds:.1} s)",
            loss / steps as f32,
            100.0 * held_out
        );
    }
    Ok(())
}

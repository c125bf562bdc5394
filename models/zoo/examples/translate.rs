//! Trains the zoo's `Translator` (an encoder-decoder with attention) on sentence pairs in
//! Tatoeba's TSV form, then decodes held-out sources greedily until `<eos>` and scores them
//! with corpus BLEU, as sacrebleu does (`kiln_runtime::bleu`).
//!
//! `cargo run --release -p kiln-zoo --example translate -- [pairs.tsv] [epochs]`
//!
//! Without a file it writes 8,000 pairs of a made-up language and its translation
//! (`kiln_runtime::synthetic::translation_pairs`) in that form to a temporary file and reads
//! them back. Pairs longer than the model's 9 source or 11 target tokens are left out, and the
//! last 512 are held out; the vocabularies (from the other pairs) must fit the model's 320 ids
//! per side: to train on a real `fra.txt`, declare a larger `Translator` in
//! `models/zoo/build/sequences.rs`.

use kiln_runtime::bleu::corpus_bleu;
use kiln_runtime::corpora::read_pairs;
use kiln_runtime::init::SplitMix64;
use kiln_runtime::text::ParallelCorpus;
use kiln_zoo::Translator;
use std::path::PathBuf;

/// Pairs scored after training.
const HELD_OUT: usize = 512;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).map(PathBuf::from);
    let epochs: usize = std::env::args().nth(2).map(|s| s.parse()).transpose()?.unwrap_or(12);
    let pairs = match &path {
        Some(path) => read_pairs(path)?,
        None => {
            let path = std::env::temp_dir().join(format!("kiln-translation-{}.tsv", std::process::id()));
            let pairs = kiln_runtime::synthetic::translation_pairs(8000, 300, 8, 17);
            let lines: String = pairs.iter().map(|p| format!("{}\t{}\tsynthetic\n", p.source, p.target)).collect();
            std::fs::write(&path, lines)?;
            let read = read_pairs(&path);
            std::fs::remove_file(&path)?;
            read?
        }
    };
    let (batch, lens) = (Translator::BATCH, [Translator::SOURCE_LEN, Translator::TARGET_LEN]);
    let corpus = ParallelCorpus::new(&pairs, lens, HELD_OUT);
    let vocabularies = [corpus.source_vocab.len(), corpus.target_vocab.len()];
    if vocabularies[0] > Translator::SOURCE_VOCAB || vocabularies[1] > Translator::TARGET_CLASSES {
        return Err(format!(
            "the vocabularies ({} and {} tokens) do not fit the model's {} and {}",
            vocabularies[0],
            vocabularies[1],
            Translator::SOURCE_VOCAB,
            Translator::TARGET_CLASSES
        )
        .into());
    }
    if corpus.train < batch || corpus.len() - corpus.train < HELD_OUT {
        return Err(format!("{} pairs fit the model: too few to train and hold out {HELD_OUT}", corpus.len()).into());
    }
    println!(
        "{} pairs ({} fit the model): {} to train on, {HELD_OUT} held out; vocabularies {} and {}",
        pairs.len(),
        corpus.len(),
        corpus.train,
        vocabularies[0],
        vocabularies[1]
    );
    let mut trainer = Translator::new(&kiln_runtime::default_device()?, 42);
    let mut rng = SplitMix64::new(42, 3);
    for epoch in 1..=epochs {
        let started = std::time::Instant::now();
        let (mut loss, mut steps) = (0.0, 0);
        for rows in kiln_runtime::data::shuffled_order(corpus.train, &mut rng).chunks_exact(batch) {
            let (mask, source, target) = corpus.batch(rows, lens);
            loss += trainer.train_step(&mask, &source, &target)?;
            steps += 1;
        }
        println!("epoch {epoch}: loss {:.3} ({:.1} s)", loss / steps as f32, started.elapsed().as_secs_f64());
    }
    // Greedy decoding of the held-out pairs, a batch at a time.
    let (hypotheses, references) =
        corpus.held_out_decodes(batch, lens, |mask, source| trainer.predict(mask, source))?;
    for (hypothesis, reference) in hypotheses.iter().zip(&references).take(3) {
        println!("  {}\n  -> {}", reference.join(" "), hypothesis.join(" "));
    }
    let bleu = corpus_bleu(&hypotheses, &references);
    let exact = hypotheses.iter().zip(&references).filter(|(h, r)| h == r).count();
    let [p1, p2, p3, p4] = bleu.precisions;
    println!(
        "BLEU {:.1} on {} held-out pairs ({p1:.1}/{p2:.1}/{p3:.1}/{p4:.1}, brevity penalty {:.3}); {exact} exact",
        bleu.score,
        hypotheses.len(),
        bleu.brevity_penalty
    );
    Ok(())
}

//! The course's model zoo (declared in `models/build`), each trained to a stated target on
//! the bundled digits or seeded synthetic data. Targets sit below the figures measured at the
//! time of writing (printed by each test; see docs/performance.md's zoo table).

use super::{cpu, mnist_accuracy_on, mnist_split};
use kiln_runtime::data::Dataset;
use kiln_runtime::init::SplitMix64;
use kiln_runtime::synthetic::{gaussian_blobs, sentiment_reviews, sentiment_sentences, translation_pairs};
use kiln_runtime::text::LabelledCorpus;
use kiln_zoo::*;

#[test]
fn logistic_neuron_separates_two_blobs() {
    let data = gaussian_blobs(2000, 2, 2, 1.0, 11);
    let (train, test) = (data.slice(0..1600), data.slice(1600..2000));
    let mut neuron = LogisticNeuron::new(&cpu(), 42);
    let mut rng = SplitMix64::new(42, 1);
    for _ in 0..10 {
        for (x, y) in train.shuffled_batches(LogisticNeuron::BATCH, &mut rng) {
            let targets: Vec<f32> = y.iter().map(|&l| l as f32).collect();
            neuron.train_step(&x, &targets).unwrap();
        }
    }
    let mut correct = 0;
    for (x, y) in test.batches(LogisticNeuron::BATCH) {
        let logits = neuron.predict(&x).unwrap();
        correct += logits.iter().zip(&y).filter(|(&z, &l)| u32::from(z > 0.0) == l).count();
    }
    let accuracy = correct as f64 / test.len() as f64;
    println!("logistic neuron on blobs: {:.2}%", 100.0 * accuracy);
    assert!(accuracy >= 0.97, "accuracy {accuracy}");
}

#[test]
fn softmax_regression_reaches_88_percent() {
    let accuracy = mnist_accuracy_on(&mut SoftmaxRegression::new(&cpu(), 42), &mnist_split(), &[0.1; 3]);
    println!("softmax regression: {:.2}%", 100.0 * accuracy);
    assert!(accuracy >= 0.88, "accuracy {accuracy}");
}

#[test]
fn three_block_cnn_with_dropout_reaches_94_percent() {
    let accuracy = mnist_accuracy_on(&mut ThreeBlockCnn::new(&cpu(), 42), &mnist_split(), &[2e-3, 2e-3, 5e-4]);
    println!("3-block CNN: {:.2}%", 100.0 * accuracy);
    assert!(accuracy >= 0.94, "accuracy {accuracy}");
}

/// The digits zero-padded to 32x32 (2 pixels each side), as AlexNet-style inputs.
fn padded_to_32(data: &Dataset) -> Dataset {
    let mut features = Vec::with_capacity(data.len() * 1024);
    for image in data.features.chunks_exact(784) {
        let start = features.len();
        features.resize(start + 1024, 0.0);
        for (row, pixels) in image.chunks_exact(28).enumerate() {
            let at = start + (row + 2) * 32 + 2;
            features[at..at + 28].copy_from_slice(pixels);
        }
    }
    Dataset { features, labels: data.labels.clone(), sample_len: 1024 }
}

#[test]
fn alexnet32_reaches_93_percent() {
    let (train, test) = mnist_split();
    let split = (padded_to_32(&train), padded_to_32(&test));
    let accuracy = mnist_accuracy_on(&mut AlexNet32::new(&cpu(), 42), &split, &[1e-3, 1e-3, 5e-4]);
    println!("AlexNet32: {:.2}%", 100.0 * accuracy);
    assert!(accuracy >= 0.93, "accuracy {accuracy}");
}

/// Trains an autoencoder to reconstruct the clean digits for `epochs`; returns the test MSE.
macro_rules! reconstruction_mse {
    ($model:ty, $epochs:expr) => {{
        let (train, test) = mnist_split();
        let mut trainer = <$model>::new(&cpu(), 42);
        let mut rng = SplitMix64::new(42, 1);
        for _ in 0..$epochs {
            for (x, _) in train.shuffled_batches(<$model>::BATCH, &mut rng) {
                trainer.train_step(&x, &x).unwrap();
            }
        }
        let (mut total, mut rows) = (0.0, 0);
        for (x, _) in test.batches(<$model>::BATCH) {
            let n = x.len() / 784;
            total += trainer.eval_loss(&x, &x).unwrap() as f64 * n as f64;
            rows += n;
        }
        total / rows as f64
    }};
}

#[test]
fn autoencoders_reconstruct_the_digits() {
    // Predicting the mean image scores about 0.067 (the pixel variance).
    let dense = reconstruction_mse!(DenseAutoencoder, 4);
    let denoising = reconstruction_mse!(DenoisingAutoencoder, 4);
    let convolutional = reconstruction_mse!(ConvAutoencoder, 3);
    println!("test MSE: dense {dense:.4}, denoising {denoising:.4}, convolutional {convolutional:.4}");
    assert!(dense < 0.035, "dense {dense}");
    assert!(denoising < 0.035, "denoising {denoising}");
    assert!(convolutional < 0.006, "convolutional {convolutional}");
}

#[test]
fn lstm_classifies_padded_reviews() {
    let reviews = sentiment_reviews(5000, 9);
    let vocab = LabelledCorpus::vocabulary(&reviews[..4000], 2);
    assert!(vocab.len() <= LstmClassifier::IDS_VOCAB, "vocabulary of {}", vocab.len());
    let corpus = LabelledCorpus::new(&reviews, &vocab, LstmClassifier::IDS_LEN);
    let batch = LstmClassifier::BATCH;
    let mut trainer = LstmClassifier::new(&cpu(), 42);
    let mut rng = SplitMix64::new(42, 1);
    let train_lengths = &corpus.lengths()[..4000];
    for _ in 0..6 {
        // Batches of similar lengths: each runs as many LSTM steps as its longest review has.
        for rows in kiln_runtime::data::bucketed_batches(train_lengths, batch, &mut rng) {
            let (ids, lengths, labels) = corpus.batch(&rows);
            trainer.train_step(&ids, &lengths, &labels).unwrap();
        }
    }
    let held_out: Vec<usize> = (4000..5000).collect();
    let accuracy = corpus.accuracy(&held_out, batch, 2, |ids, lengths| trainer.predict(ids, lengths)).unwrap();
    println!("LSTM review classifier ({} words in the vocabulary): {:.2}%", vocab.len(), 100.0 * accuracy);
    assert!(accuracy >= 0.95, "accuracy {accuracy}");
}

/// Issue 35's sentiment task (6a) at SST-2's model size, as `examples/sentiment.rs` runs it:
/// sentences with SST-2's statistics written in its TSV form and read back, a vocabulary of
/// the training sentences' words seen twice, batches bucketed by length, the LSTM over each
/// sentence's own length (up to 64 steps) and its last state.
#[test]
fn sentiment_lstm_learns_sst2_form_sentences() {
    let path = std::env::temp_dir().join(format!("kiln-sst2-{}.tsv", std::process::id()));
    let lines: String =
        sentiment_sentences(17_000, 8_000, 64, 3).iter().map(|s| format!("{}\t{}\n", s.sentence, s.label)).collect();
    std::fs::write(&path, format!("sentence\tlabel\n{lines}")).unwrap();
    let sentences = kiln_runtime::corpora::read_labelled(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    let (train, held_out) = sentences.split_at(16_000);
    let vocab = LabelledCorpus::vocabulary(train, 2);
    let train = LabelledCorpus::new(train, &vocab, SentimentLstm::IDS_LEN);
    let held_out = LabelledCorpus::new(held_out, &vocab, SentimentLstm::IDS_LEN);
    let mut trainer = SentimentLstm::new(&cpu(), 42);
    let mut rng = SplitMix64::new(42, 2);
    for _ in 0..3 {
        for rows in kiln_runtime::data::bucketed_batches(&train.lengths(), SentimentLstm::BATCH, &mut rng) {
            let (ids, lengths, labels) = train.batch(&rows);
            trainer.train_step(&ids, &lengths, &labels).unwrap();
        }
    }
    let rows: Vec<usize> = (0..held_out.len()).collect();
    let accuracy =
        held_out.accuracy(&rows, SentimentLstm::BATCH, 2, |ids, lengths| trainer.predict(ids, lengths)).unwrap();
    let longest = train.lengths().into_iter().max().unwrap();
    println!(
        "SST-2-form sentiment ({} words, longest sentence {longest}): {:.2}% of 1,000 held out",
        vocab.len(),
        100.0 * accuracy
    );
    assert!(accuracy >= 0.83, "accuracy {accuracy}");
}

/// `n` random digit strings and their reversals followed by `<eos>` (11).
fn reversal_pairs(n: usize, rng: &mut SplitMix64) -> (Vec<u32>, Vec<u32>) {
    let digits = DigitReverser::SOURCE_LEN;
    let (mut sources, mut targets) = (vec![], vec![]);
    for _ in 0..n {
        let source: Vec<u32> = (0..digits).map(|_| rng.below(10) as u32).collect();
        targets.extend(source.iter().rev());
        targets.push(11);
        sources.extend(source);
    }
    (sources, targets)
}

#[test]
fn seq2seq_with_attention_reverses_digit_strings() {
    let batch = DigitReverser::BATCH;
    let (digits, steps) = (DigitReverser::SOURCE_LEN, DigitReverser::TARGET_LEN);
    let mut trainer = DigitReverser::new(&cpu(), 42);
    let mut rng = SplitMix64::new(42, 1);
    for _ in 0..1500 {
        let (source, target) = reversal_pairs(batch, &mut rng);
        trainer.train_step(&source, &target).unwrap();
    }
    let (source, target) = reversal_pairs(1024, &mut SplitMix64::new(7, 2));
    let mut exact = 0;
    for (rows, expected) in source.chunks(batch * digits).zip(target.chunks(batch * steps)) {
        let decoded = trainer.predict(rows).unwrap();
        for (row, want) in decoded.chunks(steps).zip(expected.chunks(steps)) {
            // Greedy decoding until the first <eos>.
            let until_end: Vec<u32> = row.iter().map(|&id| id as u32).take_while(|&id| id != 11).collect();
            exact += usize::from(until_end == want[..digits]);
        }
    }
    let rate = exact as f64 / 1024.0;
    println!("digit reversal, exact match of greedy decodes: {:.2}%", 100.0 * rate);
    assert!(rate >= 0.90, "exact match {rate}");
}

/// Issue 35's translation task (6b) at a course exercise's size, as `examples/translate.rs`
/// runs it: sentence pairs written in Tatoeba's TSV form and read back, tokenised, with
/// vocabularies of the training pairs; teacher forcing on shuffled padded batches; greedy
/// decoding of 512 held-out sources until `<eos>`; corpus BLEU against their references
/// (sacrebleu's, `kiln_runtime::bleu`).
#[test]
fn translator_learns_tatoeba_form_pairs_to_a_stated_bleu() {
    use kiln_runtime::bleu::corpus_bleu;
    use kiln_runtime::text::ParallelCorpus;
    let (batch, lens) = (Translator::BATCH, [Translator::SOURCE_LEN, Translator::TARGET_LEN]);
    let path = std::env::temp_dir().join(format!("kiln-translation-{}.tsv", std::process::id()));
    let lines: String = translation_pairs(8000, 300, 8, 17)
        .iter()
        .map(|p| format!("{}\t{}\tsynthetic\n", p.source, p.target))
        .collect();
    std::fs::write(&path, lines).unwrap();
    let pairs = kiln_runtime::corpora::read_pairs(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    let held_out = 512;
    let corpus = ParallelCorpus::new(&pairs, lens, held_out);
    assert_eq!(corpus.target_vocab.id("<bos>"), 2, "the model feeds id 2 first");
    let vocabularies = [corpus.source_vocab.len(), corpus.target_vocab.len()];
    assert!(vocabularies[0] <= Translator::SOURCE_VOCAB && vocabularies[1] <= Translator::TARGET_CLASSES);
    let mut trainer = Translator::new(&cpu(), 42);
    let mut rng = SplitMix64::new(42, 3);
    let mut last = 0.0;
    for _ in 0..12 {
        for rows in kiln_runtime::data::shuffled_order(corpus.train, &mut rng).chunks_exact(batch) {
            let (mask, source, target) = corpus.batch(rows, lens);
            last = trainer.train_step(&mask, &source, &target).unwrap();
        }
    }
    let (hypotheses, references) =
        corpus.held_out_decodes(batch, lens, |mask, source| trainer.predict(mask, source)).unwrap();
    let bleu = corpus_bleu(&hypotheses, &references);
    let exact = hypotheses.iter().zip(&references).filter(|(h, r)| h == r).count();
    println!(
        "translation of synthetic Tatoeba-form pairs ({} training pairs, vocabularies {} and {}): last loss {last:.3}, \
         BLEU {:.1} on {held_out} held-out pairs ({:.1}/{:.1}/{:.1}/{:.1}, brevity penalty {:.3}), exact {exact}",
        corpus.train,
        vocabularies[0],
        vocabularies[1],
        bleu.score,
        bleu.precisions[0],
        bleu.precisions[1],
        bleu.precisions[2],
        bleu.precisions[3],
        bleu.brevity_penalty
    );
    assert_eq!(hypotheses.len(), held_out);
    assert!(bleu.score >= 45.0, "BLEU {}", bleu.score);
}

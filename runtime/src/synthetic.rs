//! The course's synthetic datasets, seeded: Gaussian blobs, two moons, 1-D noisy regression,
//! toy reviews, labelled sentences with SST-2's statistics, and sentence pairs of a made-up
//! language and its translation.

use crate::corpora::{Labelled, Pair};
use crate::data::Dataset;
use crate::init::SplitMix64;

/// A standard normal draw (Box-Muller).
fn normal(rng: &mut SplitMix64) -> f64 {
    let u = 1.0 - rng.next_f64(); // in (0, 1]: ln is finite
    let v = rng.next_f64();
    (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
}

/// `n` points in `dim` dimensions around `classes` centres drawn from N(0, 4^2) per coordinate,
/// with standard deviation `std` around each; labels are the centre index (round-robin).
pub fn gaussian_blobs(n: usize, classes: usize, dim: usize, std: f64, seed: u64) -> Dataset {
    let mut rng = SplitMix64::new(seed, 0xB10B);
    let centres: Vec<Vec<f64>> = (0..classes).map(|_| (0..dim).map(|_| 4.0 * normal(&mut rng)).collect()).collect();
    let mut features = Vec::with_capacity(n * dim);
    let labels: Vec<u32> = (0..n).map(|i| (i % classes) as u32).collect();
    for &label in &labels {
        features.extend(centres[label as usize].iter().map(|c| (c + std * normal(&mut rng)) as f32));
    }
    Dataset { features, labels, sample_len: dim }
}

/// Two interleaving half circles in 2-D (as scikit-learn's `make_moons`), with Gaussian noise.
pub fn two_moons(n: usize, noise: f64, seed: u64) -> Dataset {
    let mut rng = SplitMix64::new(seed, 0x300D);
    let mut features = Vec::with_capacity(2 * n);
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let label = (i % 2) as u32;
        let t = std::f64::consts::PI * rng.next_f64();
        let (x, y) = if label == 0 { (t.cos(), t.sin()) } else { (1.0 - t.cos(), 0.5 - t.sin()) };
        features.push((x + noise * normal(&mut rng)) as f32);
        features.push((y + noise * normal(&mut rng)) as f32);
        labels.push(label);
    }
    Dataset { features, labels, sample_len: 2 }
}

/// `n` points `x ~ U(-3, 3)` with targets `sin(x) + 0.3 x + N(0, noise^2)`: `(xs, ys)`.
pub fn noisy_regression(n: usize, noise: f64, seed: u64) -> (Vec<f32>, Vec<f32>) {
    let mut rng = SplitMix64::new(seed, 0x2E62);
    (0..n)
        .map(|_| {
            let x = -3.0 + 6.0 * rng.next_f64();
            (x as f32, (x.sin() + 0.3 * x + noise * normal(&mut rng)) as f32)
        })
        .unzip()
}

/// Words of [`sentiment_reviews`]: sentiment-free fillers, then positive and negative words.
const FILLERS: [&str; 14] =
    ["the", "movie", "was", "plot", "acting", "and", "but", "i", "it", "really", "quite", "very", "this", "film"];
const POSITIVE: [&str; 6] = ["good", "great", "fine", "nice", "superb", "lovely"];
const NEGATIVE: [&str; 6] = ["bad", "awful", "poor", "terrible", "dull", "boring"];

/// `n` toy movie reviews of 4 to 12 words with their labels: 1 or 3 sentiment words among
/// fillers, label 1 when positive ones are the majority. About one word in ten is a rare name
/// (`name1234`), which a vocabulary with a minimum frequency maps to `<unk>`.
pub fn sentiment_reviews(n: usize, seed: u64) -> Vec<Labelled> {
    let mut rng = SplitMix64::new(seed, 0x5E47);
    (0..n)
        .map(|_| {
            let len = 4 + rng.below(9);
            let mut words: Vec<String> = (0..len)
                .map(|_| match rng.below(10) {
                    0 => format!("name{}", rng.below(1_000_000)),
                    _ => FILLERS[rng.below(FILLERS.len())].to_string(),
                })
                .collect();
            // 1 or 3 sentiment words at distinct places: never a tie.
            let mut places: Vec<usize> = (0..len).collect();
            let mut balance = 0i32;
            for k in 0..1 + 2 * rng.below(2) {
                let at = k + rng.below(len - k);
                places.swap(k, at);
                let positive = rng.below(2) == 0;
                let list = if positive { &POSITIVE } else { &NEGATIVE };
                words[places[k]] = list[rng.below(list.len())].to_string();
                balance += if positive { 1 } else { -1 };
            }
            Labelled { sentence: words.join(" "), label: u32::from(balance > 0) }
        })
        .collect()
}

/// Syllables of the source language's words and of the target language's.
const SOURCE_SYLLABLES: [&str; 16] =
    ["ba", "ko", "mi", "te", "lu", "ra", "si", "no", "pe", "da", "gu", "fo", "ve", "zi", "ha", "jo"];
const TARGET_SYLLABLES: [&str; 16] =
    ["ar", "el", "on", "is", "ur", "em", "ol", "at", "in", "es", "ut", "om", "ir", "ax", "eb", "yn"];

/// The word of `rank` spelt with `syllables`: the base-16 digits of `rank + 16` (two or more).
fn word(rank: usize, syllables: &[&str; 16]) -> String {
    let (mut rest, mut digits) = (rank + 16, vec![]);
    while rest > 0 {
        digits.push(syllables[rest % 16]);
        rest /= 16;
    }
    digits.iter().rev().copied().collect()
}

/// Whether the word of `rank` is an adjective, which trades places with a noun after it.
fn adjective(rank: usize) -> bool {
    rank % 4 == 1
}

/// Word ranks drawn by Zipf's law (exponent 1) and sentence lengths drawn log-normal: the
/// statistics of real text that [`translation_pairs`] and [`sentiment_sentences`] follow.
struct Text {
    /// `cumulative[r]`: the summed weights `1/1 + ... + 1/(r+1)` of ranks up to `r`.
    cumulative: Vec<f64>,
    /// The median length in words.
    median: f64,
    /// The longest sentence in words.
    max_words: usize,
}

impl Text {
    /// Ranks below `vocab` (at least 1), lengths from 1 to `max_words` around `median`.
    fn new(vocab: usize, median: f64, max_words: usize) -> Text {
        let mut cumulative: Vec<f64> = (1..=vocab.max(1)).map(|r| 1.0 / r as f64).collect();
        for i in 1..cumulative.len() {
            cumulative[i] += cumulative[i - 1];
        }
        Text { cumulative, median: median.max(1.0), max_words: max_words.max(1) }
    }

    /// A word's rank: 0 the most frequent.
    fn rank(&self, rng: &mut SplitMix64) -> usize {
        let u = rng.next_f64() * self.cumulative[self.cumulative.len() - 1];
        self.cumulative.partition_point(|&c| c < u).min(self.cumulative.len() - 1)
    }

    /// A sentence length: log-normal (σ 0.6) around the median, skewed towards long ones.
    fn length(&self, rng: &mut SplitMix64) -> usize {
        (self.median * (0.6 * normal(rng)).exp()).round().clamp(1.0, self.max_words as f64) as usize
    }
}

/// `n` sentence pairs of a made-up language and its translation, with the statistics of real
/// text: words of `vocab` ranks drawn by Zipf's law (exponent 1), lengths log-normal with a
/// median of a third of `max_words` (at least 1, at most `max_words`), and a final `.` or,
/// one time in eight, `?`. The translation is learnable but not a copy: word for word by a
/// fixed lexicon, every fifth rank becomes two words, and an adjective (every fourth rank)
/// trades places with a non-adjective after it, as English "red car" is French "voiture rouge".
pub fn translation_pairs(n: usize, vocab: usize, max_words: usize, seed: u64) -> Vec<Pair> {
    let mut rng = SplitMix64::new(seed, 0x7A70);
    let text = Text::new(vocab, max_words as f64 / 3.0, max_words);
    (0..n)
        .map(|_| {
            let len = text.length(&mut rng);
            let ranks: Vec<usize> = (0..len).map(|_| text.rank(&mut rng)).collect();
            let mut order: Vec<usize> = ranks.clone();
            let mut i = 0;
            while i + 1 < order.len() {
                if adjective(order[i]) && !adjective(order[i + 1]) {
                    order.swap(i, i + 1);
                    i += 1;
                }
                i += 1;
            }
            let end = if rng.below(8) == 0 { "?" } else { "." };
            let source: Vec<String> = ranks.iter().map(|&r| word(r, &SOURCE_SYLLABLES)).collect();
            let target: Vec<String> = order
                .iter()
                .flat_map(|&r| match r % 5 == 4 {
                    true => vec![word(r, &TARGET_SYLLABLES), word(r / 5, &TARGET_SYLLABLES)],
                    false => vec![word(r, &TARGET_SYLLABLES)],
                })
                .collect();
            Pair { source: format!("{}{end}", source.join(" ")), target: format!("{}{end}", target.join(" ")) }
        })
        .collect()
}

/// The rank of [`sentiment_sentences`]' negation, which turns the next word's opinion around.
const NEGATION: usize = 6;

/// The opinion of the word of `rank` in [`sentiment_sentences`]: 1 positive, -1 negative, 0
/// none. The 16 most frequent words hold none, as function words do; of the rest, one rank in
/// eight is positive and one negative.
fn opinion(rank: usize) -> i32 {
    match (rank < 16, rank % 8) {
        (false, 3) => 1,
        (false, 6) => -1,
        _ => 0,
    }
}

/// The summed opinions of a sentence's words, each turned around after the negation.
fn balance(ranks: &[usize]) -> i32 {
    let negated = |i: usize| i > 0 && ranks[i - 1] == NEGATION;
    (0..ranks.len()).map(|i| if negated(i) { -opinion(ranks[i]) } else { opinion(ranks[i]) }).sum()
}

/// `n` labelled sentences with the statistics of SST-2's training set: words of `vocab` ranks
/// drawn by Zipf's law (exponent 1), lengths log-normal with a median of a sixth of
/// `max_words` (about 11 for 64; at least 1, at most `max_words`). A quarter of the words
/// below the 16 most frequent carry an opinion, and the negation (rank 6) turns around the
/// opinion of the word after it; the label is 1 when the summed opinions are positive. A
/// sentence whose opinions cancel gets one more opinion word in place of one of its words, so
/// no label is a coin toss. Words are spelt as [`translation_pairs`]' source words.
pub fn sentiment_sentences(n: usize, vocab: usize, max_words: usize, seed: u64) -> Vec<Labelled> {
    let mut rng = SplitMix64::new(seed, 0x55_7D);
    let text = Text::new(vocab, max_words as f64 / 6.0, max_words);
    let has_opinions = (16..vocab).any(|r| opinion(r) != 0);
    (0..n)
        .map(|_| {
            let len = text.length(&mut rng);
            let mut ranks: Vec<usize> = (0..len).map(|_| text.rank(&mut rng)).collect();
            while has_opinions && balance(&ranks) == 0 {
                let at = rng.below(len);
                ranks[at] = loop {
                    let rank = text.rank(&mut rng);
                    if opinion(rank) != 0 {
                        break rank;
                    }
                };
            }
            let words: Vec<String> = ranks.iter().map(|&r| word(r, &SOURCE_SYLLABLES)).collect();
            Labelled { sentence: words.join(" "), label: u32::from(balance(&ranks) > 0) }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generators_are_seeded_and_shaped() {
        let blobs = gaussian_blobs(90, 3, 5, 0.5, 1);
        assert_eq!((blobs.len(), blobs.sample_len, blobs.features.len()), (90, 5, 450));
        assert_eq!(blobs, gaussian_blobs(90, 3, 5, 0.5, 1));
        assert_ne!(blobs, gaussian_blobs(90, 3, 5, 0.5, 2));
        let moons = two_moons(100, 0.1, 1);
        assert_eq!(moons.labels.iter().filter(|&&l| l == 1).count(), 50);
        let (x, y) = noisy_regression(1000, 0.0, 3);
        assert!(x.iter().all(|v| (-3.0..3.0).contains(v)));
        let worst = x.iter().zip(&y).map(|(x, y)| (x.sin() + 0.3 * x - y).abs()).fold(0.0, f32::max);
        assert!(worst < 1e-5, "noise-free targets follow the curve: {worst}");
        // Samples of a blob scatter around its centre with the requested spread.
        let mean: f32 = blobs.features.chunks(5).step_by(3).map(|p| p[0]).sum::<f32>() / 30.0;
        let var: f32 = blobs.features.chunks(5).step_by(3).map(|p| (p[0] - mean).powi(2)).sum::<f32>() / 29.0;
        assert!((var.sqrt() - 0.5).abs() < 0.2, "std {}", var.sqrt());
    }

    #[test]
    fn reviews_are_labelled_by_their_majority_sentiment() {
        let reviews = sentiment_reviews(500, 4);
        assert_eq!(reviews, sentiment_reviews(500, 4));
        let positives = reviews.iter().filter(|r| r.label == 1).count();
        assert!((200..300).contains(&positives), "{positives} of 500 positive");
        for Labelled { sentence, label } in &reviews {
            let words: Vec<&str> = sentence.split(' ').collect();
            assert!((4..=12).contains(&words.len()));
            let count = |list: &[&str]| words.iter().filter(|w| list.contains(w)).count() as i32;
            assert_eq!(*label, u32::from(count(&POSITIVE) > count(&NEGATIVE)), "{sentence}");
        }
    }

    #[test]
    fn sentiment_sentences_are_labelled_by_their_opinions() {
        let sentences = sentiment_sentences(3000, 2000, 64, 6);
        assert_eq!(sentences, sentiment_sentences(3000, 2000, 64, 6));
        let ranks: std::collections::HashMap<String, usize> =
            (0..2000).map(|r| (word(r, &SOURCE_SYLLABLES), r)).collect();
        let mut lengths = vec![];
        for Labelled { sentence, label } in &sentences {
            let words: Vec<usize> = sentence.split(' ').map(|w| ranks[w]).collect();
            let sum = balance(&words);
            assert!(sum != 0, "no tie: {sentence}");
            assert_eq!(*label, u32::from(sum > 0), "{sentence}");
            lengths.push(words.len());
        }
        let positives = sentences.iter().filter(|s| s.label == 1).count();
        assert!((1200..1800).contains(&positives), "{positives} of 3000 positive");
        assert!(lengths.iter().all(|&l| (1..=64).contains(&l)));
        lengths.sort();
        assert_eq!(lengths[lengths.len() / 2], 11, "median a sixth of 64");
        assert!(lengths[lengths.len() * 99 / 100] >= 30, "a long tail");
        // The negation turns the next word's opinion around.
        let (good, bad) = (19, 22);
        assert_eq!((opinion(good), opinion(bad), opinion(3)), (1, -1, 0));
        assert_eq!((balance(&[NEGATION, good]), balance(&[good, NEGATION, bad, bad])), (-1, 1));
    }

    #[test]
    fn translation_pairs_follow_their_lexicon_and_zipf() {
        let pairs = translation_pairs(2000, 500, 12, 5);
        assert_eq!(pairs, translation_pairs(2000, 500, 12, 5));
        let rank_of = |w: &str, syllables: &[&str; 16]| (0..500).find(|&r| word(r, syllables) == w);
        let (mut counts, mut lengths) = (vec![0usize; 500], vec![]);
        for pair in &pairs {
            let end = pair.source.chars().last().unwrap();
            assert!(end == '.' || end == '?');
            assert_eq!(pair.target.chars().last(), Some(end));
            let source: Vec<usize> = pair.source[..pair.source.len() - 1]
                .split(' ')
                .map(|w| rank_of(w, &SOURCE_SYLLABLES).unwrap())
                .collect();
            source.iter().for_each(|&r| counts[r] += 1);
            lengths.push(source.len());
            // Undo the translation: each target word is its rank's, plus a second for every fifth rank.
            let mut target =
                pair.target[..pair.target.len() - 1].split(' ').map(|w| rank_of(w, &TARGET_SYLLABLES).unwrap());
            let mut words = vec![];
            while let Some(r) = target.next() {
                if r % 5 == 4 {
                    assert_eq!(target.next(), Some(r / 5), "{pair:?}");
                }
                words.push(r);
            }
            let mut sorted = (source.clone(), words.clone());
            sorted.0.sort();
            sorted.1.sort();
            assert_eq!(sorted.0, sorted.1, "the same words: {pair:?}");
            if source.len() == 2 && adjective(source[0]) && !adjective(source[1]) {
                assert_eq!(words, [source[1], source[0]], "{pair:?}");
            }
        }
        assert!(lengths.iter().all(|&l| (1..=12).contains(&l)));
        lengths.sort();
        assert_eq!(lengths[lengths.len() / 2], 4, "median a third of 12");
        // Zipf: rank 0 about twice as frequent as rank 1 and ten times rank 9.
        let ratio = |a: usize, b: usize| counts[a] as f64 / counts[b] as f64;
        assert!((1.6..2.5).contains(&ratio(0, 1)) && (7.0..14.0).contains(&ratio(0, 9)), "{:?}", &counts[..10]);
    }
}

//! The course's synthetic datasets, seeded: Gaussian blobs, two moons, 1-D noisy regression,
//! toy reviews, and sentence pairs of a made-up language and its translation.

use crate::corpora::Pair;
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
pub fn sentiment_reviews(n: usize, seed: u64) -> Vec<(String, u32)> {
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
            (words.join(" "), u32::from(balance > 0))
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

/// `n` sentence pairs of a made-up language and its translation, with the statistics of real
/// text: words of `vocab` ranks drawn by Zipf's law (exponent 1), lengths log-normal with a
/// median of a third of `max_words` (at least 1, at most `max_words`), and a final `.` or,
/// one time in eight, `?`. The translation is learnable but not a copy: word for word by a
/// fixed lexicon, every fifth rank becomes two words, and an adjective (every fourth rank)
/// trades places with a non-adjective after it, as English "red car" is French "voiture rouge".
pub fn translation_pairs(n: usize, vocab: usize, max_words: usize, seed: u64) -> Vec<Pair> {
    let mut rng = SplitMix64::new(seed, 0x7A70);
    let mut cumulative: Vec<f64> = (1..=vocab.max(1)).map(|r| 1.0 / r as f64).collect();
    for i in 1..cumulative.len() {
        cumulative[i] += cumulative[i - 1];
    }
    let total = cumulative.last().copied().unwrap_or(1.0);
    let median = (max_words.max(1) as f64 / 3.0).max(1.0);
    (0..n)
        .map(|_| {
            let len = (median * (0.6 * normal(&mut rng)).exp()).round().clamp(1.0, max_words.max(1) as f64) as usize;
            let ranks: Vec<usize> = (0..len)
                .map(|_| {
                    let u = rng.next_f64() * total;
                    cumulative.partition_point(|&c| c < u)
                })
                .collect();
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
        let positives = reviews.iter().filter(|r| r.1 == 1).count();
        assert!((200..300).contains(&positives), "{positives} of 500 positive");
        for (text, label) in &reviews {
            let words: Vec<&str> = text.split(' ').collect();
            assert!((4..=12).contains(&words.len()));
            let count = |list: &[&str]| words.iter().filter(|w| list.contains(w)).count() as i32;
            assert_eq!(*label, u32::from(count(&POSITIVE) > count(&NEGATIVE)), "{text}");
        }
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

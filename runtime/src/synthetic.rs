//! The course's synthetic datasets, seeded: Gaussian blobs, two moons, 1-D noisy regression.

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
}

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
}

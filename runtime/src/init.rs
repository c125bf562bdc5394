//! Seeded parameter initialisers. The generator is SplitMix64, fixed here so the same seed gives
//! the same parameters in every kiln version and on every backend.

/// SplitMix64: a tiny, well-tested 64-bit generator (Steele, Lea & Flood 2014).
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator for stream `stream` (one per parameter) of `seed`.
    pub fn new(seed: u64, stream: u64) -> Self {
        let mut g = SplitMix64(seed ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03));
        g.next_u64();
        g
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1) with 53 bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform integer in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_f64() * n as f64) as usize
    }
}

/// `n` values from U(low, high), stream `stream` of `seed`.
pub fn uniform(seed: u64, stream: u64, n: usize, low: f64, high: f64) -> Vec<f32> {
    let mut rng = SplitMix64::new(seed, stream);
    (0..n).map(|_| (low + (high - low) * rng.next_f64()) as f32).collect()
}

/// `n` values from N(mean, std), stream `stream` of `seed` (Box-Muller).
pub fn normal(seed: u64, stream: u64, n: usize, mean: f64, std: f64) -> Vec<f32> {
    let mut rng = SplitMix64::new(seed, stream);
    (0..n)
        .map(|_| {
            let u1 = 1.0 - rng.next_f64(); // in (0, 1]: ln is finite
            let u2 = rng.next_f64();
            let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
            (mean + std * z) as f32
        })
        .collect()
}

/// `values` with the `width` elements of row `row` set to zero: an embedding table whose row
/// `row` is its padding (`nn.Embedding(.., padding_idx=row)`).
pub fn with_zero_row(mut values: Vec<f32>, row: usize, width: usize) -> Vec<f32> {
    values[row * width..][..width].fill(0.0);
    values
}

/// An inverted-dropout mask of `n` elements: 0 with probability `p`, else 1/(1-p). It depends
/// only on `(seed, step, layer)`, so a run is reproducible and resumes identically.
pub fn dropout_mask(seed: u64, step: u64, layer: u64, n: usize, p: f64) -> Vec<f32> {
    let mut rng = SplitMix64::new(SplitMix64::new(seed, step).next_u64(), 1 << 32 | layer);
    let keep = (1.0 / (1.0 - p)) as f32;
    (0..n).map(|_| if rng.next_f64() < p { 0.0 } else { keep }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_has_its_moments() {
        let a = normal(3, 0, 20_000, 1.5, 0.5);
        let mean = a.iter().map(|&x| f64::from(x)).sum::<f64>() / 20_000.0;
        let var = a.iter().map(|&x| (f64::from(x) - mean).powi(2)).sum::<f64>() / 20_000.0;
        assert!((mean - 1.5).abs() < 0.02 && (var.sqrt() - 0.5).abs() < 0.02, "{mean} {var}");
    }

    #[test]
    fn dropout_masks_drop_p_and_scale_the_rest() {
        let m = dropout_mask(1, 5, 2, 10_000, 0.25);
        assert_eq!(m, dropout_mask(1, 5, 2, 10_000, 0.25));
        assert_ne!(m, dropout_mask(1, 6, 2, 10_000, 0.25));
        assert!(m.iter().all(|&x| x == 0.0 || (x - 4.0 / 3.0).abs() < 1e-6));
        let dropped = m.iter().filter(|&&x| x == 0.0).count() as f64 / 10_000.0;
        assert!((dropped - 0.25).abs() < 0.02, "{dropped}");
    }

    #[test]
    fn uniform_is_seeded_and_in_range() {
        let a = uniform(7, 0, 1000, -0.5, 0.25);
        assert_eq!(a, uniform(7, 0, 1000, -0.5, 0.25));
        assert_ne!(a, uniform(7, 1, 1000, -0.5, 0.25));
        assert!(a.iter().all(|&x| (-0.5..0.25).contains(&x)));
        let mean = a.iter().sum::<f32>() / 1000.0;
        assert!((mean + 0.125).abs() < 0.02, "mean {mean}");
    }
}

//! SplitMix64, the seeded stream the compiler's tests draw their data and models from (the
//! compiler crate has no dependencies to take one from).

/// A SplitMix64 stream: small, seedable, and the same everywhere.
pub(crate) struct SplitMix64(pub u64);

impl SplitMix64 {
    /// SplitMix64's output function: a bijective mix of 64 bits.
    pub fn mix(mut z: u64) -> u64 {
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// The next 64 bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        Self::mix(self.0)
    }

    /// The next value in [0, 1), from the top 53 bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

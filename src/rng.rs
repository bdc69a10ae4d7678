//! SplitMix64 (Steele, Lea and Flood 2014): a tiny, well-mixed, seedable generator with no
//! dependency, giving the same numbers on every machine. Shuffles, splits, synthetic data and
//! dropout masks draw from it.

/// SplitMix64's output function: a bijective mix of a 64-bit value.
#[inline]
pub fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The generator: a counter advanced by the golden-ratio increment, mixed on output.
#[derive(Debug, Clone)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

//! Synthetic tasks generated from a seed, to prove the loop learns in a minute.

use super::Pair;
use serde::{Deserialize, Serialize};

/// Which synthetic mapping of a random digit string to produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Synthetic {
    /// Target = source.
    Copy,
    /// Target = source reversed.
    Reverse,
    /// Target = source symbols in ascending order.
    Sort,
}

/// SplitMix64: a tiny, well-mixed, seedable generator (no dependency, same numbers everywhere).
#[derive(Debug, Clone)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// `count` examples over an alphabet of `n_symbols` letters (`a`, `b`, ...), lengths uniform in
/// `min_len..=max_len`.
pub fn generate(
    task: Synthetic,
    count: usize,
    n_symbols: usize,
    min_len: usize,
    max_len: usize,
    seed: u64,
) -> Vec<Pair> {
    assert!(
        (1..=26).contains(&n_symbols) && 1 <= min_len && min_len <= max_len,
        "synthetic task needs 1..=26 symbols and 1 <= min_len ({min_len}) <= max_len ({max_len})"
    );
    let mut rng = SplitMix64(seed);
    (0..count)
        .map(|_| {
            let len = min_len + rng.below(max_len - min_len + 1);
            let src: Vec<String> = (0..len)
                .map(|_| ((b'a' + rng.below(n_symbols) as u8) as char).to_string())
                .collect();
            let mut tgt = src.clone();
            match task {
                Synthetic::Copy => {}
                Synthetic::Reverse => tgt.reverse(),
                Synthetic::Sort => tgt.sort(),
            }
            Pair { src, tgt }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tasks_map_source_to_target() {
        let pairs = generate(Synthetic::Reverse, 50, 5, 3, 9, 7);
        assert_eq!(pairs.len(), 50);
        for p in &pairs {
            assert!((3..=9).contains(&p.src.len()));
            assert_eq!(p.tgt, p.src.iter().rev().cloned().collect::<Vec<_>>());
        }
        let sorted = generate(Synthetic::Sort, 5, 5, 3, 9, 7);
        assert!(sorted
            .iter()
            .all(|p| p.tgt.windows(2).all(|w| w[0] <= w[1])));
        assert_eq!(
            generate(Synthetic::Copy, 3, 4, 2, 4, 1)[0].src,
            generate(Synthetic::Copy, 3, 4, 2, 4, 1)[0].tgt
        );
    }

    #[test]
    fn same_seed_same_data() {
        assert_eq!(
            generate(Synthetic::Sort, 20, 10, 1, 12, 42),
            generate(Synthetic::Sort, 20, 10, 1, 12, 42)
        );
        assert_ne!(
            generate(Synthetic::Sort, 20, 10, 1, 12, 42),
            generate(Synthetic::Sort, 20, 10, 1, 12, 43)
        );
    }
}

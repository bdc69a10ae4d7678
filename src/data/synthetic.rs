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

pub use crate::rng::SplitMix64;

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

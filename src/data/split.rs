//! Deterministic train/dev/test splits by a seeded hash of a key (the word, for dictionaries),
//! so all pronunciations of a word land on the same side and adding entries elsewhere in the file
//! does not move existing ones.

use serde::{Deserialize, Serialize};

/// Which side of the split a key falls on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    Train,
    Dev,
    Test,
}

/// FNV-1a over the seed and the key: stable across platforms and Rust versions (unlike
/// `std`'s `DefaultHasher`).
fn hash(seed: u64, key: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in seed.to_le_bytes().iter().chain(key.as_bytes()) {
        h ^= *byte as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    // FNV's low bits mix poorly for short keys; finish with a SplitMix64 round.
    crate::rng::SplitMix64(h).next_u64()
}

/// The side of `key` for fractions `dev` and `test` of the data (the rest is train).
pub fn assign(key: &str, seed: u64, dev: f64, test: f64) -> Split {
    let u = (hash(seed, key) >> 11) as f64 / (1u64 << 53) as f64; // uniform in [0, 1)
    if u < test {
        Split::Test
    } else if u < test + dev {
        Split::Dev
    } else {
        Split::Train
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fractions_are_respected_and_stable() {
        let keys: Vec<String> = (0..20_000).map(|i| format!("word{i}")).collect();
        let count = |s| keys.iter().filter(|k| assign(k, 1, 0.05, 0.1) == s).count();
        let (dev, test) = (count(Split::Dev), count(Split::Test));
        assert!((800..1200).contains(&dev), "dev {dev}");
        assert!((1700..2300).contains(&test), "test {test}");
        assert_eq!(assign("hello", 1, 0.05, 0.1), assign("hello", 1, 0.05, 0.1));
        let moved = keys
            .iter()
            .filter(|k| assign(k, 1, 0.05, 0.1) != assign(k, 2, 0.05, 0.1))
            .count();
        assert!(moved > 1000, "the seed changes the split");
    }
}

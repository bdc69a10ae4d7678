//! A [`Scorer`] from a hand-written table of next-token distributions: the tests of beam
//! search (ours and transformers') decode it where the best sequence is known by hand.

use super::beam::{LogProbRows, Scorer};
use crate::vocab::END;

/// A prefix (after BEGIN) and its next-token distribution as (token, probability) pairs.
pub type Row = (Vec<usize>, Vec<(usize, f32)>);

/// Log-probabilities from a table keyed by the prefix after BEGIN; unknown prefixes put all
/// mass on END.
pub struct Table {
    pub vocab: usize,
    pub rows: Vec<Row>,
}

impl Scorer for Table {
    fn next_log_probs(
        &mut self,
        prefixes: &[Vec<usize>],
        _parents: Option<&[usize]>,
    ) -> LogProbRows {
        let rows: Vec<Vec<f32>> = prefixes
            .iter()
            .map(|prefix| {
                let mut probs = vec![0.0f32; self.vocab];
                match self.rows.iter().find(|(p, _)| p[..] == prefix[1..]) {
                    Some((_, dist)) => dist.iter().for_each(|&(t, p)| probs[t] = p),
                    None => probs[END] = 1.0,
                }
                probs.iter().map(|p| p.ln()).collect()
            })
            .collect();
        rows.into()
    }
}

/// Greedy takes 4 (0.5) and is then held to 0.4 at best; the best sequence starts with the
/// less likely 5 (0.4) and continues with certainty.
pub fn garden_path() -> Table {
    Table {
        vocab: 8,
        rows: vec![
            (vec![], vec![(4, 0.5), (5, 0.4), (6, 0.1)]),
            (vec![4], vec![(6, 0.4), (7, 0.3), (END, 0.3)]),
            (vec![4, 6], vec![(END, 1.0)]),
            (vec![4, 7], vec![(END, 1.0)]),
            (vec![5], vec![(6, 1.0)]),
            (vec![5, 6], vec![(END, 1.0)]),
        ],
    }
}

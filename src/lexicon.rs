//! G2P as a tool: look a word up in a pronouncing dictionary first, and ask the model only for
//! words the dictionary lacks (what g2p_en and Phonetisaurus pipelines do). Evaluation never
//! uses a lexicon: it scores the model alone.

use crate::data::dictionary::{self, DictOptions};
use crate::data::{read_text, DataConfig, DataError, Task, CMUDICT};
use std::collections::HashMap;
use std::path::Path;

/// Where an answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Lexicon,
    Model,
}

impl Source {
    pub fn name(self) -> &'static str {
        match self {
            Source::Lexicon => "lexicon",
            Source::Model => "model",
        }
    }
}

/// Words (lowercased) and their pronunciations, in the dictionary's order.
#[derive(Debug, Clone, Default)]
pub struct Lexicon {
    words: HashMap<String, Vec<Vec<String>>>,
}

impl Lexicon {
    /// Parse a dictionary (CMUdict or TAB layout); stress digits are dropped when the model
    /// was trained without them, so lexicon and model answers look alike.
    pub fn parse(text: &str, origin: &str, strip_stress: bool) -> Result<Self, DataError> {
        let dict = dictionary::parse(
            text,
            origin,
            DictOptions {
                strip_stress,
                skip_bad_lines: true,
            },
        )?;
        Ok(Self {
            words: dict
                .entries
                .into_iter()
                .map(|e| (e.word, e.pronunciations))
                .collect(),
        })
    }

    /// Read a dictionary file.
    pub fn read(path: &Path, strip_stress: bool) -> Result<Self, DataError> {
        Self::parse(&read_text(path)?, &path.display().to_string(), strip_stress)
    }

    /// The vendored CMUdict, when the model was trained on it (a G2P model without a data
    /// path); `None` for any other model.
    pub fn default_for(data: &DataConfig) -> Result<Option<Self>, DataError> {
        match data.task() {
            Task::G2p {
                path: None,
                strip_stress,
            } => Ok(Some(Self::parse(
                CMUDICT,
                "data/cmudict/cmudict.dict",
                strip_stress,
            )?)),
            Task::G2p { path: Some(_), .. } | Task::Parallel { .. } | Task::Synthetic { .. } => {
                Ok(None)
            }
        }
    }

    pub fn len(&self) -> usize {
        self.words.len()
    }

    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// The pronunciations of `word` (trimmed, lowercased), if listed.
    pub fn lookup(&self, word: &str) -> Option<&[Vec<String>]> {
        self.words
            .get(&word.trim().to_lowercase())
            .map(Vec::as_slice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_is_case_blind_and_keeps_variant_order() {
        let lexicon = Lexicon::parse(
            "either IY1 DH ER0\neither(2) AY1 DH ER0\ncat K AE1 T\n",
            "t",
            false,
        )
        .unwrap();
        assert_eq!(lexicon.len(), 2);
        let either = lexicon.lookup(" Either ").unwrap();
        assert_eq!(either.len(), 2);
        assert_eq!(either[0], vec!["IY1", "DH", "ER0"]);
        assert_eq!(either[1], vec!["AY1", "DH", "ER0"]);
        assert!(lexicon.lookup("dog").is_none());
        let stripped = Lexicon::parse("cat K AE1 T\n", "t", true).unwrap();
        assert_eq!(stripped.lookup("cat").unwrap()[0], vec!["K", "AE", "T"]);
    }

    #[test]
    fn only_models_trained_on_the_vendored_cmudict_get_it_by_default() {
        let cmudict = Lexicon::default_for(&DataConfig::new()).unwrap().unwrap();
        assert!(cmudict.len() > 100_000);
        assert!(cmudict.lookup("pronunciation").is_some());
        let other = DataConfig::new().with_path(Some("words.dict".into()));
        assert!(Lexicon::default_for(&other).unwrap().is_none());
    }
}

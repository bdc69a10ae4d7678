//! Vocabularies: symbol <-> id, with four reserved symbols at fixed ids.
//!
//! | id | symbol | meaning |
//! |----|--------|---------|
//! | 0 | `<pad>` | padding (masked out of attention and loss) |
//! | 1 | `<s>` | BEGIN: the first decoder input |
//! | 2 | `</s>` | END: emitted by the decoder to stop |
//! | 3 | `<unk>` | a symbol not seen in training (only when the user asks for it) |

use std::collections::HashMap;
use std::path::Path;

pub const PAD: usize = 0;
pub const BEGIN: usize = 1;
pub const END: usize = 2;
pub const UNK: usize = 3;
/// The reserved symbols, in id order.
pub const SPECIALS: [&str; 4] = ["<pad>", "<s>", "</s>", "<unk>"];

/// Why a vocabulary could not be read or used.
#[derive(Debug, thiserror::Error)]
pub enum VocabError {
    #[error("cannot read vocabulary {path}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("vocabulary {path} is malformed: {message}")]
    Malformed { path: String, message: String },
    #[error("unknown symbol(s) {symbols} (not in the model's vocabulary)")]
    Unknown { symbols: String },
}

/// An ordered list of symbols; a symbol's id is its index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vocab {
    symbols: Vec<String>,
    ids: HashMap<String, usize>,
}

impl Vocab {
    /// A vocabulary of the four reserved symbols followed by `symbols` (duplicates and reserved
    /// names are skipped), in the order given.
    pub fn new<I, S>(symbols: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut vocab = Vocab {
            symbols: Vec::new(),
            ids: HashMap::new(),
        };
        for s in SPECIALS
            .iter()
            .map(|s| s.to_string())
            .chain(symbols.into_iter().map(Into::into))
        {
            if !vocab.ids.contains_key(&s) {
                vocab.ids.insert(s.clone(), vocab.symbols.len());
                vocab.symbols.push(s);
            }
        }
        vocab
    }

    /// A vocabulary from a complete symbol list (line number = id), checking that the reserved
    /// symbols come first and that no symbol repeats.
    pub fn from_symbols(symbols: Vec<String>, origin: &str) -> Result<Self, VocabError> {
        let malformed = |message: String| VocabError::Malformed {
            path: origin.to_string(),
            message,
        };
        if symbols.len() < SPECIALS.len() {
            return Err(malformed(format!(
                "it has {} symbols; the first four must be {}",
                symbols.len(),
                SPECIALS.join(" ")
            )));
        }
        for (id, expected) in SPECIALS.iter().enumerate() {
            if symbols[id] != *expected {
                return Err(malformed(format!(
                    "id {id} must be {expected}, found {:?}",
                    symbols[id]
                )));
            }
        }
        let mut ids = HashMap::new();
        for (id, s) in symbols.iter().enumerate() {
            if s.is_empty() {
                return Err(malformed(format!("id {id} is an empty symbol")));
            }
            if let Some(first) = ids.insert(s.clone(), id) {
                return Err(malformed(format!(
                    "symbol {s:?} appears at ids {first} and {id}"
                )));
            }
        }
        Ok(Vocab { symbols, ids })
    }

    /// Read a plain-text vocabulary: one symbol per line, line number (from 0) = id.
    pub fn read_text(path: &Path) -> Result<Self, VocabError> {
        let text = std::fs::read_to_string(path).map_err(|source| VocabError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let symbols = text
            .lines()
            .map(|l| l.trim_end_matches('\r').to_string())
            .collect();
        Self::from_symbols(symbols, &path.display().to_string())
    }

    /// Read a JSON vocabulary (an array of symbols, index = id).
    pub fn read_json(path: &Path) -> Result<Self, VocabError> {
        let text = std::fs::read_to_string(path).map_err(|source| VocabError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let symbols: Vec<String> =
            serde_json::from_str(&text).map_err(|err| VocabError::Malformed {
                path: path.display().to_string(),
                message: err.to_string(),
            })?;
        Self::from_symbols(symbols, &path.display().to_string())
    }

    /// Write as a JSON array, atomically.
    pub fn write_json(&self, path: &Path) -> std::io::Result<()> {
        let json = serde_json::to_string_pretty(&self.symbols).expect("strings serialize");
        crate::fsutil::write_atomic(path, json.as_bytes())
    }

    pub fn len(&self) -> usize {
        self.symbols.len()
    }

    pub fn is_empty(&self) -> bool {
        self.symbols.is_empty()
    }

    pub fn id(&self, symbol: &str) -> Option<usize> {
        self.ids.get(symbol).copied()
    }

    pub fn symbol(&self, id: usize) -> Option<&str> {
        self.symbols.get(id).map(String::as_str)
    }

    pub fn symbols(&self) -> &[String] {
        &self.symbols
    }

    /// Ids of `symbols`; unknown ones become `<unk>` when `allow_unk`, otherwise an error that
    /// names every unknown symbol.
    pub fn encode<S: AsRef<str>>(
        &self,
        symbols: &[S],
        allow_unk: bool,
    ) -> Result<Vec<usize>, VocabError> {
        let mut unknown: Vec<&str> = Vec::new();
        let ids = symbols
            .iter()
            .map(|s| {
                let s = s.as_ref();
                self.id(s).unwrap_or_else(|| {
                    if !unknown.contains(&s) {
                        unknown.push(s);
                    }
                    UNK
                })
            })
            .collect();
        if !unknown.is_empty() && !allow_unk {
            return Err(VocabError::Unknown {
                symbols: unknown
                    .iter()
                    .map(|s| format!("{s:?}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        Ok(ids)
    }

    /// Symbols of `ids`, stopping at END. Nothing else is hidden: decoding never generates
    /// PAD or BEGIN, and if ids hold them anyway they are shown.
    pub fn decode(&self, ids: &[usize]) -> Vec<&str> {
        ids.iter()
            .take_while(|&&id| id != END)
            .map(|&id| self.symbol(id).unwrap_or("<unk>"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specials_come_first_and_duplicates_are_dropped() {
        let v = Vocab::new(["b", "a", "b", "<s>"]);
        assert_eq!(v.symbols(), &["<pad>", "<s>", "</s>", "<unk>", "b", "a"]);
        assert_eq!(v.id("a"), Some(5));
        assert_eq!(v.symbol(4), Some("b"));
    }

    #[test]
    fn encode_names_unknown_symbols_or_maps_them_to_unk() {
        let v = Vocab::new(["a", "b"]);
        let err = v
            .encode(&["a", "x", "y", "x"], false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"x\", \"y\""), "{err}");
        assert_eq!(v.encode(&["a", "x"], true).unwrap(), vec![4, UNK]);
    }

    #[test]
    fn decode_stops_at_end() {
        let v = Vocab::new(["a", "b"]);
        assert_eq!(v.decode(&[4, 5, END, 4]), vec!["a", "b"]);
        assert_eq!(v.decode(&[BEGIN, 4, PAD]), vec!["<s>", "a", "<pad>"]);
    }

    #[test]
    fn json_round_trip_and_bad_files() {
        let dir = std::env::temp_dir().join(format!("vocab-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let v = Vocab::new(["AA", "B", "'"]);
        let path = dir.join("v.json");
        v.write_json(&path).unwrap();
        assert_eq!(Vocab::read_json(&path).unwrap(), v);

        let bad = dir.join("bad.txt");
        std::fs::write(&bad, "<pad>\n<s>\n<unk>\n</s>\na\n").unwrap();
        let err = Vocab::read_text(&bad).unwrap_err().to_string();
        assert!(err.contains("id 2 must be </s>"), "{err}");
        std::fs::write(&bad, "<pad>\n<s>\n</s>\n<unk>\na\na\n").unwrap();
        let err = Vocab::read_text(&bad).unwrap_err().to_string();
        assert!(err.contains("\"a\" appears at ids 4 and 5"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

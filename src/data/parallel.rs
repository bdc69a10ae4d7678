//! Parallel text for translation: `source<TAB>target` per line.

use super::DataError;
use std::path::Path;

/// How a side of a parallel corpus is cut into tokens.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    Default,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Tokenization {
    /// One token per Unicode scalar value (spaces included).
    #[default]
    Char,
    /// Tokens separated by whitespace.
    Whitespace,
    /// Subword pieces of a unigram language model learned from the training text
    /// (SentencePiece's default; [`super::subword`]).
    Unigram,
    /// Subword pieces of byte-pair-encoding merges learned from the training text.
    Bpe,
}

impl Tokenization {
    /// The subword model this tokenization learns, if it is one.
    pub fn subword(self) -> Option<super::subword::SubwordKind> {
        use super::subword::SubwordKind;
        match self {
            Tokenization::Char | Tokenization::Whitespace => None,
            Tokenization::Unigram => Some(SubwordKind::Unigram),
            Tokenization::Bpe => Some(SubwordKind::Bpe),
        }
    }

    /// Cut text into tokens. Subword tokenizations need their learned model: they go through
    /// [`super::TextCodec`], and here they fall back to characters.
    pub fn split(self, text: &str) -> Vec<String> {
        match self {
            Tokenization::Whitespace => text.split_whitespace().map(String::from).collect(),
            Tokenization::Char | Tokenization::Unigram | Tokenization::Bpe => {
                text.chars().map(String::from).collect()
            }
        }
    }

    /// Join tokens back into text (subword pieces: see [`super::TextCodec`]).
    pub fn join<S: AsRef<str>>(self, tokens: &[S]) -> String {
        let sep = match self {
            Tokenization::Whitespace => " ",
            Tokenization::Char | Tokenization::Unigram | Tokenization::Bpe => "",
        };
        tokens
            .iter()
            .map(AsRef::as_ref)
            .collect::<Vec<_>>()
            .join(sep)
    }
}

/// One line of parallel text, not yet tokenized (sides trimmed, both non-empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextPair {
    pub src: String,
    pub tgt: String,
}

/// Parse `source<TAB>target` lines. Blank lines are skipped; a line without exactly one tab or
/// with an empty side is an error naming its line number (or is counted when `skip_bad_lines`).
pub fn parse(
    text: &str,
    origin: &str,
    skip_bad_lines: bool,
) -> Result<(Vec<TextPair>, usize), DataError> {
    let mut pairs = Vec::new();
    let mut skipped = 0;
    for (index, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let parsed = match line.split('\t').collect::<Vec<_>>().as_slice() {
            [src, tgt] => {
                let (src, tgt) = (src.trim(), tgt.trim());
                if src.is_empty() || tgt.is_empty() {
                    Err("empty source or target".to_string())
                } else {
                    Ok(TextPair {
                        src: src.to_string(),
                        tgt: tgt.to_string(),
                    })
                }
            }
            fields => Err(format!(
                "expected source<TAB>target, found {} tab-separated field(s)",
                fields.len()
            )),
        };
        match parsed {
            Ok(pair) => pairs.push(pair),
            Err(_) if skip_bad_lines => skipped += 1,
            Err(message) => {
                return Err(DataError::Malformed {
                    origin: origin.to_string(),
                    line: index + 1,
                    message,
                })
            }
        }
    }
    if pairs.is_empty() {
        return Err(DataError::Empty {
            origin: origin.to_string(),
        });
    }
    Ok((pairs, skipped))
}

/// The lines of a file (without their `\n` or `\r\n`), as bytes.
fn read_lines(path: &Path) -> Result<Vec<Vec<u8>>, DataError> {
    let bytes = std::fs::read(path).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut lines: Vec<Vec<u8>> = bytes
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l).to_vec())
        .collect();
    if bytes.is_empty() || bytes.ends_with(b"\n") {
        lines.pop();
    }
    Ok(lines)
}

/// Read parallel files the fairseq/OpenNMT/Marian way: line N of `src` translates line N of
/// `tgt`, any characters (tabs too) inside a line. Different line counts are an error naming
/// both files; a line that is empty on either side or not UTF-8 is an error naming the file
/// and line, or is skipped and counted with `skip_bad_lines`.
pub fn read_files(
    src: &Path,
    tgt: &Path,
    skip_bad_lines: bool,
) -> Result<(Vec<TextPair>, usize), DataError> {
    let (src_lines, tgt_lines) = (read_lines(src)?, read_lines(tgt)?);
    if src_lines.len() != tgt_lines.len() {
        return Err(DataError::LineCount {
            src: src.to_path_buf(),
            src_lines: src_lines.len(),
            tgt: tgt.to_path_buf(),
            tgt_lines: tgt_lines.len(),
        });
    }
    let mut pairs = Vec::with_capacity(src_lines.len());
    let mut skipped = 0;
    for (index, (s, t)) in src_lines.iter().zip(&tgt_lines).enumerate() {
        let side = |bytes: &[u8], path: &Path| -> Result<String, DataError> {
            let malformed = |message: String| DataError::Malformed {
                origin: path.display().to_string(),
                line: index + 1,
                message,
            };
            let text = std::str::from_utf8(bytes).map_err(|err| {
                malformed(format!(
                    "not valid UTF-8 (first bad byte at column {})",
                    err.valid_up_to() + 1
                ))
            })?;
            match text.trim() {
                "" => Err(malformed(
                    "empty line (its translation on the other side is left out; --skip-bad-lines skips such pairs)".into(),
                )),
                trimmed => Ok(trimmed.to_string()),
            }
        };
        match side(s, src).and_then(|src| {
            Ok(TextPair {
                src,
                tgt: side(t, tgt)?,
            })
        }) {
            Ok(pair) => pairs.push(pair),
            Err(_) if skip_bad_lines => skipped += 1,
            Err(err) => return Err(err),
        }
    }
    if pairs.is_empty() {
        return Err(DataError::Empty {
            origin: format!("{} / {}", src.display(), tgt.display()),
        });
    }
    Ok((pairs, skipped))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn char_and_whitespace_tokens() {
        let (pairs, _) = parse("ab c\tx y\n\n", "t", false).unwrap();
        assert_eq!(pairs[0].src, "ab c");
        assert_eq!(
            Tokenization::Char.split(&pairs[0].src),
            vec!["a", "b", " ", "c"]
        );
        assert_eq!(
            Tokenization::Whitespace.split(&pairs[0].tgt),
            vec!["x", "y"]
        );
        assert_eq!(Tokenization::Whitespace.join(&["x", "y"]), "x y");
        assert_eq!(Tokenization::Char.join(&["x", " ", "y"]), "x y");
    }

    #[test]
    fn malformed_lines() {
        let err = parse("a\tb\nno tab here\n", "p.tsv", false)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("p.tsv:2") && err.contains("1 tab-separated field"),
            "{err}"
        );
        let err = parse("a\t \n", "p.tsv", false).unwrap_err().to_string();
        assert!(err.contains("p.tsv:1") && err.contains("empty"), "{err}");
        let (pairs, skipped) = parse("a\tb\nx\ty\tz\n", "p", true).unwrap();
        assert_eq!((pairs.len(), skipped), (1, 1));
    }

    struct Files(std::path::PathBuf);
    impl Files {
        fn new(name: &str, src: &[u8], tgt: &[u8]) -> Self {
            let dir = std::env::temp_dir().join(format!("parallel-{name}-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("a.en"), src).unwrap();
            std::fs::write(dir.join("a.de"), tgt).unwrap();
            Files(dir)
        }
        fn read(&self, skip: bool) -> Result<(Vec<TextPair>, usize), DataError> {
            read_files(&self.0.join("a.en"), &self.0.join("a.de"), skip)
        }
    }
    impl Drop for Files {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn parallel_files_keep_tabs_and_crlf_and_name_their_faults() {
        let files = Files::new("ok", b"a\tman\r\nthe dog\n", b"ein\tMann\r\nder Hund");
        let (pairs, skipped) = files.read(false).unwrap();
        assert_eq!(skipped, 0);
        assert_eq!(pairs[0].src, "a\tman");
        assert_eq!(pairs[1].tgt, "der Hund");

        let files = Files::new("count", b"a\nb\nc\n", b"x\ny\n");
        let err = files.read(true).unwrap_err().to_string();
        assert!(
            err.contains("a.en has 3 lines") && err.contains("a.de has 2"),
            "{err}"
        );

        let files = Files::new("empty", b"a\n\nc\n", b"x\ny\nz\n");
        let err = files.read(false).unwrap_err().to_string();
        assert!(err.contains("a.en:2: empty line"), "{err}");
        let (pairs, skipped) = files.read(true).unwrap();
        assert_eq!((pairs.len(), skipped), (2, 1));
        assert_eq!(pairs[1].tgt, "z");

        let files = Files::new("utf8", b"a\nb\n", b"x\ny\xff\n");
        let err = files.read(false).unwrap_err().to_string();
        assert!(
            err.contains("a.de:2: not valid UTF-8") && err.contains("column 2"),
            "{err}"
        );
        assert_eq!(files.read(true).unwrap().1, 1);
    }
}

//! Parallel text for translation: `source<TAB>target` per line.

use super::{DataError, Pair};

/// How a side of a parallel corpus is cut into tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Tokenization {
    /// One token per Unicode scalar value (spaces included).
    #[default]
    Char,
    /// Tokens separated by whitespace.
    Whitespace,
}

impl Tokenization {
    pub fn split(self, text: &str) -> Vec<String> {
        match self {
            Tokenization::Char => text.chars().map(String::from).collect(),
            Tokenization::Whitespace => text.split_whitespace().map(String::from).collect(),
        }
    }

    /// Join tokens back into text.
    pub fn join<S: AsRef<str>>(self, tokens: &[S]) -> String {
        let sep = match self {
            Tokenization::Char => "",
            Tokenization::Whitespace => " ",
        };
        tokens
            .iter()
            .map(AsRef::as_ref)
            .collect::<Vec<_>>()
            .join(sep)
    }
}

/// Parse `source<TAB>target` lines. Blank lines are skipped; a line without exactly one tab or
/// with an empty side is an error naming its line number (or is counted when `skip_bad_lines`).
pub fn parse(
    text: &str,
    origin: &str,
    src_tokens: Tokenization,
    tgt_tokens: Tokenization,
    skip_bad_lines: bool,
) -> Result<(Vec<Pair>, usize), DataError> {
    let mut pairs = Vec::new();
    let mut skipped = 0;
    for (index, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let parsed = match line.split('\t').collect::<Vec<_>>().as_slice() {
            [src, tgt] => {
                let (src, tgt) = (src_tokens.split(src.trim()), tgt_tokens.split(tgt.trim()));
                if src.is_empty() || tgt.is_empty() {
                    Err("empty source or target".to_string())
                } else {
                    Ok(Pair { src, tgt })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn char_and_whitespace_tokens() {
        let (pairs, _) = parse(
            "ab c\tx y\n\n",
            "t",
            Tokenization::Char,
            Tokenization::Char,
            false,
        )
        .unwrap();
        assert_eq!(pairs[0].src, vec!["a", "b", " ", "c"]);
        let (pairs, _) = parse(
            "ab c\tx y\n",
            "t",
            Tokenization::Whitespace,
            Tokenization::Whitespace,
            false,
        )
        .unwrap();
        assert_eq!(pairs[0].src, vec!["ab", "c"]);
        assert_eq!(pairs[0].tgt, vec!["x", "y"]);
        assert_eq!(Tokenization::Whitespace.join(&pairs[0].tgt), "x y");
        // Each side is cut its own way: characters in, words out.
        let (pairs, _) = parse(
            "ab\tx y\n",
            "t",
            Tokenization::Char,
            Tokenization::Whitespace,
            false,
        )
        .unwrap();
        assert_eq!(pairs[0].src, vec!["a", "b"]);
        assert_eq!(pairs[0].tgt, vec!["x", "y"]);
    }

    #[test]
    fn malformed_lines() {
        let err = parse(
            "a\tb\nno tab here\n",
            "p.tsv",
            Tokenization::Char,
            Tokenization::Char,
            false,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("p.tsv:2") && err.contains("1 tab-separated field"),
            "{err}"
        );
        let err = parse(
            "a\t \n",
            "p.tsv",
            Tokenization::Char,
            Tokenization::Char,
            false,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("p.tsv:1") && err.contains("empty"), "{err}");
        let (pairs, skipped) = parse(
            "a\tb\nx\ty\tz\n",
            "p",
            Tokenization::Char,
            Tokenization::Char,
            true,
        )
        .unwrap();
        assert_eq!((pairs.len(), skipped), (1, 1));
    }
}

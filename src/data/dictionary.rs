//! Pronouncing dictionaries: the CMU Pronouncing Dictionary (`word PH PH ...`, variants written
//! `word(2)`, `# comments`) and the tab-separated layout of the G2P benchmarks
//! (`WORD<TAB>PH PH ...`, one line per pronunciation).

use super::DataError;
use std::collections::BTreeMap;

/// A word and all its pronunciations, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Lowercased spelling (the G2P source side).
    pub word: String,
    pub pronunciations: Vec<Vec<String>>,
}

/// Options of [`parse`].
#[derive(Debug, Clone, Copy, Default)]
pub struct DictOptions {
    /// Drop the stress digits of ARPAbet vowels (`AH0` -> `AH`).
    pub strip_stress: bool,
    /// Skip malformed lines instead of failing; the count is returned.
    pub skip_bad_lines: bool,
}

/// The result of [`parse`]: entries sorted by word, and how many lines were skipped.
#[derive(Debug, Clone)]
pub struct Dictionary {
    pub entries: Vec<Entry>,
    pub skipped_lines: usize,
}

/// `AH0` -> `AH`: a CMUdict phone without its stress digit.
pub fn strip_stress(phone: &str) -> String {
    phone
        .trim_end_matches(|c: char| c.is_ascii_digit())
        .to_string()
}

/// `word(2)` -> `word`.
fn strip_variant(word: &str) -> &str {
    match word.rfind('(') {
        Some(open)
            if word.ends_with(')')
                && open > 0
                && word[open + 1..word.len() - 1]
                    .chars()
                    .all(|c| c.is_ascii_digit())
                && word.len() - open > 2 =>
        {
            &word[..open]
        }
        _ => word,
    }
}

/// Parse one line into (word, phones); `Ok(None)` for blank and comment-only lines.
fn parse_line(line: &str, options: DictOptions) -> Result<Option<(String, Vec<String>)>, String> {
    let line = match line.find('#') {
        // `#` starts a comment only at the start or after whitespace; words never contain one.
        Some(0) => "",
        Some(i) if line[..i].ends_with(char::is_whitespace) => &line[..i],
        _ => line,
    };
    let line = line.trim();
    if line.is_empty() {
        return Ok(None);
    }
    let (word, phones) = match line.split_once('\t') {
        Some((word, phones)) => (word.trim(), phones),
        None => match line.split_once(char::is_whitespace) {
            Some((word, phones)) => (word, phones),
            None => return Err(format!("no pronunciation after the word {line:?}")),
        },
    };
    let word = strip_variant(word).to_lowercase();
    if word.is_empty() {
        return Err("empty word".into());
    }
    let phones: Vec<String> = phones
        .split_whitespace()
        .map(|p| {
            if options.strip_stress {
                strip_stress(p)
            } else {
                p.to_string()
            }
        })
        .collect();
    if phones.is_empty() {
        return Err(format!("no pronunciation after the word {word:?}"));
    }
    if let Some(bad) = phones.iter().find(|p| {
        p.is_empty()
            || !p
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
    }) {
        return Err(format!("{bad:?} is not an ARPAbet phone"));
    }
    Ok(Some((word, phones)))
}

/// Parse a dictionary in either layout. `origin` names the file in error messages.
pub fn parse(text: &str, origin: &str, options: DictOptions) -> Result<Dictionary, DataError> {
    let mut words: BTreeMap<String, Vec<Vec<String>>> = BTreeMap::new();
    let mut skipped_lines = 0;
    for (index, line) in text.lines().enumerate() {
        match parse_line(line, options) {
            Ok(Some((word, phones))) => {
                let prons = words.entry(word).or_default();
                if !prons.contains(&phones) {
                    prons.push(phones);
                }
            }
            Ok(None) => {}
            Err(_) if options.skip_bad_lines => skipped_lines += 1,
            Err(message) => {
                return Err(DataError::Malformed {
                    origin: origin.to_string(),
                    line: index + 1,
                    message,
                })
            }
        }
    }
    if words.is_empty() {
        return Err(DataError::Empty {
            origin: origin.to_string(),
        });
    }
    Ok(Dictionary {
        entries: words
            .into_iter()
            .map(|(word, pronunciations)| Entry {
                word,
                pronunciations,
            })
            .collect(),
        skipped_lines,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CMU: &str = "\
;;; not a comment in cmudict, but a bad line\n";

    #[test]
    fn cmudict_layout_with_variants_comments_and_blank_lines() {
        let text = "# header comment\n\
                    a AH0\n\
                    a(2) EY1\n\
                    \n\
                    aalborg AO1 L B AO0 R G # place, danish\n\
                    d'artagnan D AH0 R T AE1 NY AH0 N\n";
        let dict = parse(text, "test.dict", DictOptions::default()).unwrap();
        assert_eq!(dict.entries.len(), 3);
        assert_eq!(dict.entries[0].word, "a");
        assert_eq!(
            dict.entries[0].pronunciations,
            vec![vec!["AH0".to_string()], vec!["EY1".to_string()]]
        );
        assert_eq!(
            dict.entries[1].pronunciations[0].len(),
            6,
            "comment dropped"
        );
        assert_eq!(dict.entries[2].word, "d'artagnan");
    }

    #[test]
    fn tab_layout_and_stress_stripping() {
        let text = "AARON\tEH1 R AH0 N\nAARON\tAE1 R AH0 N\n";
        let options = DictOptions {
            strip_stress: true,
            ..Default::default()
        };
        let dict = parse(text, "t.tsv", options).unwrap();
        assert_eq!(dict.entries[0].word, "aaron");
        assert_eq!(
            dict.entries[0].pronunciations,
            vec![
                ["EH", "R", "AH", "N"]
                    .iter()
                    .map(|s| s.to_string())
                    .collect::<Vec<_>>(),
                ["AE", "R", "AH", "N"]
                    .iter()
                    .map(|s| s.to_string())
                    .collect::<Vec<_>>(),
            ]
        );
    }

    #[test]
    fn malformed_lines_name_their_line_number_or_are_counted() {
        let text = format!("a AH0\nlonely\nb B IY1\n{CMU}");
        let err = parse(&text, "x.dict", DictOptions::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("x.dict:2"), "{err}");
        assert!(err.contains("no pronunciation"), "{err}");
        let options = DictOptions {
            skip_bad_lines: true,
            ..Default::default()
        };
        let dict = parse(&text, "x.dict", options).unwrap();
        assert_eq!(dict.entries.len(), 2);
        assert_eq!(dict.skipped_lines, 2);
    }

    #[test]
    fn lowercase_phones_are_rejected_and_empty_files_too() {
        let err = parse("cat k ae t\n", "y", DictOptions::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("y:1") && err.contains("\"k\""), "{err}");
        let err = parse("# only a comment\n\n", "z", DictOptions::default()).unwrap_err();
        assert!(err.to_string().contains("no data"), "{err}");
    }

    #[test]
    fn variant_suffix_only_when_numeric() {
        assert_eq!(strip_variant("word(2)"), "word");
        assert_eq!(strip_variant("(x)"), "(x)");
        assert_eq!(strip_variant("f(o)"), "f(o)");
    }
}

//! Property tests over arbitrary input: the parsers, the vocabulary and config loading return
//! values or errors, never panic. CI runs proptest's default 256 cases per property; for a long
//! local run: `PROPTEST_CASES=250000 cargo test --release --test suite fuzz_properties::`.

use proptest::prelude::*;
use seq2seq::config::Preset;
use seq2seq::data::dictionary::{self, DictOptions};
use seq2seq::data::parallel::{self, Tokenization};
use seq2seq::vocab::Vocab;

/// Text that looks like dictionary or TSV data often enough to reach deep into the parsers.
fn data_like() -> impl Strategy<Value = String> {
    let line = prop_oneof![
        "[a-zA-Z'().0-9-]{0,12}( [A-Z]{1,3}[0-2]?){0,6}( #.*)?",
        "[A-Za-z]{1,10}\t[A-Z]{1,3}( [A-Z]{1,3}[0-2]?){0,5}",
        "[^\n]{0,30}",
        "\\PC{0,20}\t\\PC{0,20}(\t\\PC{0,5})?",
    ];
    prop::collection::vec(line, 0..8).prop_map(|lines| lines.join("\n"))
}

proptest! {
    #[test]
    fn dictionary_parser_never_panics(text in data_like(), strip in any::<bool>(), skip in any::<bool>()) {
        let lines = text.lines().count();
        match dictionary::parse(&text, "fuzz", DictOptions { strip_stress: strip, skip_bad_lines: skip }) {
            Ok(dict) => {
                prop_assert!(!dict.entries.is_empty());
                for entry in &dict.entries {
                    prop_assert!(!entry.word.is_empty());
                    prop_assert!(entry.pronunciations.iter().all(|p| !p.is_empty()));
                }
                prop_assert!(dict.skipped_lines <= lines);
            }
            Err(err) => {
                let message = err.to_string();
                prop_assert!(message.starts_with("fuzz"), "{}", message);
            }
        }
    }

    #[test]
    fn parallel_parser_never_panics(text in data_like(), whitespace in any::<bool>(), skip in any::<bool>()) {
        let tokens = if whitespace { Tokenization::Whitespace } else { Tokenization::Char };
        match parallel::parse(&text, "fuzz", skip) {
            Ok((pairs, _)) => prop_assert!(pairs.iter().all(|p| !tokens.split(&p.src).is_empty() && !tokens.split(&p.tgt).is_empty())),
            Err(err) => prop_assert!(err.to_string().starts_with("fuzz")),
        }
    }

    #[test]
    fn vocabulary_round_trips_and_encodes_anything(symbols in prop::collection::vec("\\PC{1,4}", 0..20), input in prop::collection::vec("\\PC{1,3}", 0..10)) {
        let vocab = Vocab::new(symbols.clone());
        let listed: Vec<String> = vocab.symbols().to_vec();
        let again = Vocab::from_symbols(listed, "fuzz").unwrap();
        prop_assert_eq!(&again, &vocab);
        match vocab.encode(&input, false) {
            Ok(ids) => prop_assert!(ids.iter().all(|&id| vocab.symbol(id).is_some())),
            Err(err) => prop_assert!(err.to_string().contains("unknown symbol")),
        }
        let with_unk = vocab.encode(&input, true).unwrap();
        prop_assert_eq!(with_unk.len(), input.len());
    }

    #[test]
    fn config_overlay_never_panics(text in prop_oneof![
        "\\PC{0,40}",
        r#"\{"(model|data|training|optimizer)": \{"[a-z_]{1,16}": (-?[0-9]{1,6}(\.[0-9]+)?|true|null|"[a-z]{0,6}")\}\}"#,
    ]) {
        if let Ok(config) = seq2seq::cli_config::overlay(Preset::Tiny, &text, "fuzz.json") {
            // Anything accepted either validates or gives a typed error; never a panic.
            let _ = config.model.validate();
            let _ = config.data.validate();
        }
    }
}

//! Subword vocabularies learned from the training text, SentencePiece style: Hugging Face
//! `tokenizers` (the crate the field's `tokenizer.json` files come from) with NFKC
//! normalisation, whitespace kept as the `▁` marker at the start of each word, and a unigram
//! language model or BPE over the pieces. Decoding joins the pieces and turns `▁` back into
//! spaces, so `decode(encode(line)) == normalize(line)` for any line of seen characters.
//!
//! The four reserved symbols of [`crate::vocab`] are the first four ids of every learned
//! vocabulary, so a tokenizer id is the model's id.
//!
//! A character never seen in training becomes `<unk>`: the model reads one `<unk>` for it and
//! `infer` prints `<unk>` where the model generates one. With byte fallback (unigram only,
//! SentencePiece's `byte_fallback`), it is spelled as its UTF-8 bytes instead, pieces
//! `<0x00>` .. `<0xFF>` right after the reserved symbols, and decoding joins the bytes back.

use crate::vocab::{Vocab, SPECIALS, UNK};
use std::path::Path;
use tokenizers::models::bpe::{BpeTrainerBuilder, BPE};
use tokenizers::models::unigram::{Unigram, UnigramTrainerBuilder};
use tokenizers::models::{ModelWrapper, TrainerWrapper};
use tokenizers::normalizers::unicode::NFKC;
use tokenizers::pre_tokenizers::metaspace::{Metaspace, PrependScheme};
use tokenizers::{AddedToken, Decoder, Normalizer, PreTokenizer, Tokenizer};

/// The word-start marker SentencePiece writes for a space.
pub const MARKER: char = '\u{2581}';

/// Which subword model to learn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubwordKind {
    /// SentencePiece's default: a unigram language model over pieces (Kudo 2018).
    Unigram,
    /// Byte-pair encoding merges (Sennrich et al. 2016), on characters.
    Bpe,
}

/// Why a subword tokenizer could not be learned, read or used.
#[derive(Debug, thiserror::Error)]
pub enum SubwordError {
    #[error("cannot learn a {kind:?} vocabulary of {size} pieces: {message}")]
    Train {
        kind: SubwordKind,
        size: usize,
        message: String,
    },
    #[error("cannot read tokenizer {path}: {message}")]
    Read { path: String, message: String },
    #[error(
        "tokenizer {path} does not start with the reserved symbols {expected} (found {found})"
    )]
    Specials {
        path: String,
        expected: String,
        found: String,
    },
    #[error("cannot write tokenizer {path}: {message}")]
    Write { path: String, message: String },
    #[error("cannot tokenize {text:?}: {message}")]
    Encode { text: String, message: String },
}

/// A learned subword tokenizer whose ids are the model's ids.
#[derive(Clone)]
pub struct Subword {
    tokenizer: Tokenizer,
    vocab: Vocab,
}

impl std::fmt::Debug for Subword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Subword({} pieces)", self.vocab.len())
    }
}

/// Normalizer, pre-tokenizer and decoder around `model`: the SentencePiece pipeline; with
/// `byte_fallback`, byte pieces are joined into characters before the `▁` become spaces.
fn pipeline(model: impl Into<ModelWrapper>, byte_fallback: bool) -> Tokenizer {
    use tokenizers::decoders::{byte_fallback::ByteFallback, sequence::Sequence, DecoderWrapper};
    let metaspace = Metaspace::new(MARKER, PrependScheme::Always, true);
    let decoder: DecoderWrapper = if byte_fallback {
        Sequence::new(vec![ByteFallback::new().into(), metaspace.clone().into()]).into()
    } else {
        metaspace.clone().into()
    };
    let mut tokenizer = Tokenizer::new(model);
    tokenizer
        .with_normalizer(Some(NFKC))
        // `split: true`: a piece never spans two words, as in SentencePiece's default
        // (`split_by_whitespace`).
        .with_pre_tokenizer(Some(metaspace))
        .with_decoder(Some(decoder));
    tokenizer
}

/// SentencePiece's byte pieces, `<0x00>` .. `<0xFF>`.
fn byte_pieces() -> impl Iterator<Item = String> {
    (0..=255u8).map(|b| format!("<0x{b:02X}>"))
}

impl Subword {
    /// Learn a vocabulary of (at most) `vocab_size` pieces, the four reserved symbols included,
    /// from `lines`. Deterministic: the same lines give the same tokenizer (the trainer runs on
    /// one thread, and the pieces are put in a canonical order).
    pub fn train<S: AsRef<str> + Sync>(
        kind: SubwordKind,
        vocab_size: usize,
        lines: &[S],
        show_progress: bool,
    ) -> Result<Self, SubwordError> {
        Self::train_with(kind, vocab_size, false, lines, show_progress)
    }

    /// [`Self::train`], with byte fallback when `byte_fallback` (unigram only): the 256 byte
    /// pieces count in `vocab_size`.
    pub fn train_with<S: AsRef<str> + Sync>(
        kind: SubwordKind,
        vocab_size: usize,
        byte_fallback: bool,
        lines: &[S],
        show_progress: bool,
    ) -> Result<Self, SubwordError> {
        let failed = |message: String| SubwordError::Train {
            kind,
            size: vocab_size,
            message,
        };
        if byte_fallback && kind != SubwordKind::Unigram {
            return Err(failed(
                "byte fallback is implemented for unigram vocabularies only".into(),
            ));
        }
        let reserved = SPECIALS.len() + if byte_fallback { 256 } else { 0 };
        if vocab_size <= reserved {
            return Err(failed(format!(
                "the vocabulary must be larger than the {reserved} reserved symbols{}",
                if byte_fallback {
                    " (4 specials and 256 byte pieces)"
                } else {
                    ""
                }
            )));
        }
        // The trainer learns the pieces besides the byte pieces.
        let learned_size = vocab_size - if byte_fallback { 256 } else { 0 };
        let specials: Vec<AddedToken> = SPECIALS
            .iter()
            .map(|s| AddedToken::from(s.to_string(), true))
            .collect();
        // Parallel E-steps sum floats in an order that depends on work stealing.
        tokenizers::utils::parallelism::set_parallelism(false);
        let tokenizer = match kind {
            SubwordKind::Unigram => {
                let trainer = UnigramTrainerBuilder::default()
                    .vocab_size(learned_size as u32)
                    .special_tokens(specials)
                    .unk_token(Some(SPECIALS[UNK].to_string()))
                    .show_progress(show_progress)
                    .build()
                    .map_err(|e| failed(e.to_string()))?;
                // The trainer's own `feed` counts words in a hash map and trains on them in
                // its iteration order, which changes from run to run (and so do the pieces it
                // keeps): count them here and hand them over sorted.
                let mut model = Unigram::default();
                trainer
                    .do_train(word_counts(lines), &mut model)
                    .map_err(|e| failed(e.to_string()))?;
                pipeline(model, false)
            }
            SubwordKind::Bpe => {
                let mut tokenizer = pipeline(
                    BPE::builder()
                        .unk_token(SPECIALS[UNK].to_string())
                        .build()
                        .map_err(|e| failed(e.to_string()))?,
                    false,
                );
                // BPE's trainer picks merges by count, ties by the pair: deterministic.
                let mut trainer: TrainerWrapper = BpeTrainerBuilder::default()
                    .vocab_size(vocab_size)
                    .special_tokens(specials)
                    .show_progress(show_progress)
                    .build()
                    .into();
                tokenizer
                    .train(&mut trainer, lines.iter().map(|l| l.as_ref()))
                    .map_err(|e| failed(e.to_string()))?;
                tokenizer
            }
        };
        let tokenizer = canonical(kind, tokenizer, byte_fallback).map_err(failed)?;
        Self::from_tokenizer(tokenizer, "the learned tokenizer")
    }

    /// A tokenizer that cuts text exactly as the SentencePiece unigram model `spm` does (the
    /// `source.spm` / `target.spm` of a Marian model): its normaliser (the precompiled character
    /// map, then SentencePiece's whitespace rules), `▁` before every word, and a unigram model
    /// over its pieces and scores. The pieces keep their text; their ids here are not the
    /// model's (a model vocabulary maps the pieces to its own ids, see `crate::marian`). The
    /// reserved symbols come first, as in every [`Subword`]; SentencePiece's own control and
    /// unknown pieces (`<s>`, `</s>`, `<unk>`) are left out, so text never matches them.
    pub fn from_spm(spm: &super::spm::SpmModel, origin: &str) -> Result<Self, SubwordError> {
        use super::spm::PieceKind;
        use tokenizers::normalizers::{Precompiled, Replace, Sequence, Strip};
        let failed = |message: String| SubwordError::Read {
            path: origin.to_string(),
            message,
        };
        let mut vocab: Vec<(String, f64)> = SPECIALS.iter().map(|s| (s.to_string(), 0.0)).collect();
        let mut seen: std::collections::HashSet<&str> = SPECIALS.iter().copied().collect();
        for p in &spm.pieces {
            if matches!(p.kind, PieceKind::Normal | PieceKind::UserDefined)
                && seen.insert(p.piece.as_str())
            {
                // The f32 score by its shortest decimal: written to tokenizer.json and read
                // back, that number stays the same (a longer one loses its last digit), so a
                // saved copy of this tokenizer is byte-identical.
                let score: f64 = p.score.to_string().parse().expect("a float's text parses");
                vocab.push((p.piece.clone(), score));
            }
        }
        let model = Unigram::from(vocab, Some(UNK), false).map_err(|e| failed(e.to_string()))?;
        let spec = &spm.normalizer;
        let mut steps: Vec<tokenizers::NormalizerWrapper> = Vec::new();
        if !spec.precompiled_charsmap.is_empty() {
            let map = Precompiled::from(&spec.precompiled_charsmap)
                .map_err(|e| failed(format!("its character map: {e}")))?;
            steps.push(map.into());
        }
        if spec.remove_extra_whitespaces {
            steps.push(Strip::new(true, true).into());
            steps.push(
                Replace::new(
                    tokenizers::normalizers::replace::ReplacePattern::Regex(" {2,}".into()),
                    " ",
                )
                .map_err(|e| failed(e.to_string()))?
                .into(),
            );
        }
        let prepend = if spec.add_dummy_prefix {
            PrependScheme::Always
        } else {
            PrependScheme::Never
        };
        let mut tokenizer = Tokenizer::new(model);
        tokenizer
            .with_normalizer(Some(Sequence::new(steps)))
            .with_pre_tokenizer(Some(Metaspace::new(MARKER, prepend, true)))
            .with_decoder(Some(Metaspace::new(MARKER, prepend, true)));
        Self::from_tokenizer(tokenizer, origin)
    }

    fn from_tokenizer(tokenizer: Tokenizer, origin: &str) -> Result<Self, SubwordError> {
        let size = tokenizer.get_vocab_size(true);
        let pieces: Vec<String> = (0..size as u32)
            .map(|id| tokenizer.id_to_token(id).unwrap_or_default())
            .collect();
        if pieces.len() < SPECIALS.len() || pieces[..SPECIALS.len()] != SPECIALS {
            return Err(SubwordError::Specials {
                path: origin.to_string(),
                expected: SPECIALS.join(" "),
                found: pieces.iter().take(4).cloned().collect::<Vec<_>>().join(" "),
            });
        }
        let vocab = Vocab::from_symbols(pieces, origin).map_err(|err| SubwordError::Read {
            path: origin.to_string(),
            message: err.to_string(),
        })?;
        Ok(Self { tokenizer, vocab })
    }

    /// Read a `tokenizer.json`.
    pub fn read(path: &Path) -> Result<Self, SubwordError> {
        let origin = path.display().to_string();
        let tokenizer = Tokenizer::from_file(path).map_err(|e| SubwordError::Read {
            path: origin.clone(),
            message: e.to_string(),
        })?;
        Self::from_tokenizer(tokenizer, &origin)
    }

    /// Write as `tokenizer.json`, atomically.
    pub fn write(&self, path: &Path) -> Result<(), SubwordError> {
        let failed = |message: String| SubwordError::Write {
            path: path.display().to_string(),
            message,
        };
        let json = self
            .tokenizer
            .to_string(true)
            .map_err(|e| failed(e.to_string()))?;
        crate::fsutil::write_atomic(path, json.as_bytes()).map_err(|e| failed(e.to_string()))
    }

    /// The pieces, id order (the reserved symbols first).
    pub fn vocab(&self) -> &Vocab {
        &self.vocab
    }

    /// The text after the tokenizer's normalisation (NFKC for learned vocabularies): what
    /// [`Self::decode`] gives back.
    pub fn normalize(&self, text: &str) -> String {
        let mut normalized = tokenizers::NormalizedString::from(text);
        if let Some(normalizer) = self.tokenizer.get_normalizer() {
            normalizer
                .normalize(&mut normalized)
                .expect("normalising text does not fail");
        }
        normalized.get().to_string()
    }

    /// The pieces of `text` (`▁` marks the start of each word); none for blank text.
    pub fn pieces(&self, text: &str) -> Vec<String> {
        if text.trim().is_empty() {
            return Vec::new();
        }
        // Tokenizing plain text with a model that has `<unk>` cannot fail.
        // By id: the tokenizer reports an unknown character's own text as its token.
        match self.tokenizer.encode(text, false) {
            Ok(encoding) => encoding
                .get_ids()
                .iter()
                .map(|&id| {
                    self.vocab
                        .symbol(id as usize)
                        .unwrap_or(SPECIALS[UNK])
                        .to_string()
                })
                .collect(),
            Err(_) => vec![SPECIALS[UNK].to_string()],
        }
    }

    /// Text of `pieces`: joined, `▁` turned back into spaces. Pieces are taken as written, so
    /// a piece of the model's vocabulary that this tokenizer lacks (a joint Marian vocabulary
    /// holds both sides' pieces) still shows its text; `<unk>` shows as `<unk>`.
    pub fn decode<S: AsRef<str>>(&self, pieces: &[S]) -> String {
        let pieces: Vec<String> = pieces.iter().map(|p| p.as_ref().to_string()).collect();
        match self.tokenizer.get_decoder() {
            Some(decoder) => decoder.decode(pieces).unwrap_or_default(),
            None => pieces.concat(),
        }
    }
}

/// The words of `lines` (normalised, cut at the `▁` markers as the pipeline cuts them) with
/// their counts, sorted by word.
fn word_counts<S: AsRef<str>>(lines: &[S]) -> Vec<(String, u32)> {
    let splitter = Metaspace::new(MARKER, PrependScheme::Always, true);
    let mut counts: std::collections::BTreeMap<String, u32> = Default::default();
    for line in lines {
        let mut normalized = tokenizers::NormalizedString::from(line.as_ref());
        NFKC.normalize(&mut normalized)
            .expect("NFKC normalisation does not fail");
        let mut words = tokenizers::PreTokenizedString::from(normalized);
        splitter
            .pre_tokenize(&mut words)
            .expect("splitting at whitespace does not fail");
        for (word, _, _) in words.get_splits(
            tokenizers::OffsetReferential::Original,
            tokenizers::OffsetType::Byte,
        ) {
            *counts.entry(word.to_string()).or_default() += 1;
        }
    }
    counts.into_iter().collect()
}

/// The trained tokenizer with its pieces in a canonical order: the reserved symbols, then by
/// score (unigram: log-probability, highest first; BPE: the trainer's merge order), ties by
/// the piece's text. The unigram trainer's last step lists the characters in hash-set order,
/// which changes from one run to the next (tied pieces in another order); rounding the scores
/// to 9 decimals also removes differences in the last digits of float sums.
/// With `byte_fallback`, the byte pieces come right after the reserved symbols (where
/// SentencePiece puts them).
fn canonical(
    kind: SubwordKind,
    tokenizer: Tokenizer,
    byte_fallback: bool,
) -> Result<Tokenizer, String> {
    match (kind, tokenizer.get_model()) {
        (SubwordKind::Unigram, ModelWrapper::Unigram(model)) => {
            let mut pieces: Vec<(String, f64)> = model
                .iter()
                .filter(|(p, _)| !SPECIALS.contains(&p.as_str()))
                .map(|(p, s)| (p.clone(), (s * 1e9).round() / 1e9))
                .collect();
            let order = |a: &(String, f64), b: &(String, f64)| {
                b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0))
            };
            pieces.sort_by(order);
            // Characters the trainer's model lost get its lowest score plus 1e-4 per
            // character, handed out in hash-set order: give every single character within that
            // window the lowest score, so their order is the text's.
            if let Some(lowest) = pieces.iter().map(|(_, s)| *s).reduce(f64::min) {
                let chars = pieces
                    .iter()
                    .filter(|(p, _)| p.chars().count() == 1)
                    .count();
                let window = lowest + 1e-4 * chars as f64 + 1e-9;
                for (piece, score) in pieces.iter_mut() {
                    if piece.chars().count() == 1 && *score <= window {
                        *score = lowest;
                    }
                }
                pieces.sort_by(order);
            }
            let bytes: Vec<(String, f64)> = if byte_fallback {
                // Scored far below any piece, so that a text that spells one out ("<0x41>")
                // is still cut into ordinary pieces; a character missing from the
                // vocabulary reaches them through the model's byte fallback, not by score.
                byte_pieces().map(|p| (p, -1e6)).collect()
            } else {
                Vec::new()
            };
            let all: Vec<(String, f64)> = SPECIALS
                .iter()
                .map(|s| (s.to_string(), 0.0))
                .chain(bytes)
                .chain(pieces)
                .collect();
            let model = Unigram::from(all, Some(UNK), byte_fallback).map_err(|e| e.to_string())?;
            let mut rebuilt = pipeline(model, byte_fallback);
            rebuilt.add_special_tokens(
                &SPECIALS
                    .iter()
                    .map(|s| AddedToken::from(s.to_string(), true))
                    .collect::<Vec<_>>(),
            );
            Ok(rebuilt)
        }
        _ => Ok(tokenizer),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOY: [&str; 6] = [
        "a man rides a red bicycle .",
        "a woman rides a blue horse .",
        "two men play football on the grass .",
        "a dog runs on the grass .",
        "ein Mann fährt ein rotes Fahrrad .",
        "zwei Männer spielen Fußball auf dem Rasen .",
    ];

    #[test]
    fn reserved_symbols_come_first_and_text_round_trips() {
        for kind in [SubwordKind::Unigram, SubwordKind::Bpe] {
            let sub = Subword::train(kind, 60, &TOY, false).unwrap();
            assert_eq!(&sub.vocab().symbols()[..4], &SPECIALS, "{kind:?}");
            assert!(
                sub.vocab().len() <= 60 && sub.vocab().len() > 20,
                "{kind:?}"
            );
            for line in TOY.iter().chain(&["two  spaces", "ﬁne (NFKC: fi)"]) {
                let pieces = sub.pieces(line);
                assert!(pieces[0].starts_with(MARKER), "{kind:?} {pieces:?}");
                if !line.contains('ﬁ') && !line.contains('(') && !line.contains('N') {
                    assert_eq!(sub.decode(&pieces), sub.normalize(line), "{kind:?}");
                }
            }
        }
    }

    #[test]
    fn learning_is_deterministic() {
        for kind in [SubwordKind::Unigram, SubwordKind::Bpe] {
            let a = Subword::train(kind, 50, &TOY, false).unwrap();
            let b = Subword::train(kind, 50, &TOY, false).unwrap();
            assert_eq!(
                a.tokenizer.to_string(false).unwrap(),
                b.tokenizer.to_string(false).unwrap(),
                "{kind:?}"
            );
        }
    }

    #[test]
    fn unseen_characters_become_unk() {
        let sub = Subword::train(SubwordKind::Unigram, 50, &TOY, false).unwrap();
        let pieces = sub.pieces("a 猫");
        assert!(pieces.contains(&"<unk>".to_string()), "{pieces:?}");
        let ids = sub.vocab().encode(&pieces, false).unwrap();
        assert!(ids.contains(&UNK));
        assert!(sub.decode(&pieces).contains("<unk>"));
    }

    #[test]
    fn a_file_round_trips_and_a_foreign_one_is_refused() {
        let dir = std::env::temp_dir().join(format!("subword-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let sub = Subword::train(SubwordKind::Bpe, 50, &TOY, false).unwrap();
        let path = dir.join("tokenizer.json");
        sub.write(&path).unwrap();
        let back = Subword::read(&path).unwrap();
        assert_eq!(back.vocab(), sub.vocab());
        assert_eq!(back.pieces(TOY[2]), sub.pieces(TOY[2]));
        std::fs::write(&path, "{not json").unwrap();
        let err = Subword::read(&path).unwrap_err().to_string();
        assert!(err.contains("tokenizer.json"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn byte_fallback_spells_unseen_characters_in_bytes_and_joins_them_back() {
        // One line more, so that the characters of a byte piece's spelling are known.
        let lines: Vec<&str> = TOY.iter().copied().chain(["tags <x> 0 1 4 A"]).collect();
        let sub = Subword::train_with(SubwordKind::Unigram, 320, true, &lines, false).unwrap();
        let symbols = sub.vocab().symbols();
        assert!(
            symbols.len() <= 320 && symbols.len() > 280,
            "{}",
            symbols.len()
        );
        assert_eq!(&symbols[..4], &SPECIALS);
        assert_eq!(symbols[4], "<0x00>");
        assert_eq!(symbols[4 + 255], "<0xFF>");
        // A bicycle emoji, a snowman and an unseen letter: bytes, never <unk>.
        let line = "a man rides a \u{1F6B2} and \u{2603} \u{0127}";
        let pieces = sub.pieces(line);
        assert!(!pieces.iter().any(|p| p == SPECIALS[UNK]), "{pieces:?}");
        assert!(pieces.iter().any(|p| p == "<0xF0>"), "{pieces:?}");
        assert_eq!(sub.decode(&pieces), sub.normalize(line));
        // Text that spells a byte piece out in known characters is cut into ordinary pieces
        // and reads back.
        let spelled = "a <0x41> man";
        let pieces = sub.pieces(spelled);
        assert!(!pieces.iter().any(|p| p == "<0x41>"), "{pieces:?}");
        assert_eq!(sub.decode(&pieces), spelled);
        // Written and read back, it still falls back to bytes.
        let dir = std::env::temp_dir().join(format!("seq2seq-bytes-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("tokenizer.json");
        sub.write(&path).unwrap();
        let read = Subword::read(&path).unwrap();
        assert_eq!(read.pieces(line), sub.pieces(line));
        assert_eq!(read.decode(&read.pieces(line)), sub.normalize(line));
        std::fs::remove_dir_all(&dir).unwrap();
        // Without it, the same characters are <unk>; BPE and too small a size are refused.
        let plain = Subword::train(SubwordKind::Unigram, 60, &TOY, false).unwrap();
        assert!(plain.pieces(line).iter().any(|p| p == SPECIALS[UNK]));
        let err = Subword::train_with(SubwordKind::Bpe, 400, true, &TOY, false).unwrap_err();
        assert!(err.to_string().contains("unigram"), "{err}");
        let err = Subword::train_with(SubwordKind::Unigram, 200, true, &TOY, false).unwrap_err();
        assert!(err.to_string().contains("256 byte pieces"), "{err}");
    }
}

//! `vocab.json` of a Marian repository in our id order.

use super::config::read_json;
use super::{MarianError, MarianSettings};
use crate::vocab::SPECIALS;
use serde_json::Value;
use std::path::Path;

/// The model's vocabulary in our id order, and for each of our ids the Marian id whose row it
/// takes (our `<pad>`, which has none, maps to Marian's pad and is overwritten after).
pub fn reorder_vocab(
    path: &Path,
    settings: &MarianSettings,
) -> Result<(Vec<String>, Vec<usize>), MarianError> {
    let map = read_json(path)?;
    let invalid = |why: String| MarianError::Invalid {
        path: path.to_path_buf(),
        why,
    };
    let mut pieces: Vec<Option<String>> = vec![None; settings.vocab_size];
    for (piece, id) in &map {
        let id = id
            .as_u64()
            .map(|x| x as usize)
            .ok_or_else(|| invalid(format!("{piece:?} has no integer id")))?;
        let slot = pieces.get_mut(id).ok_or_else(|| {
            invalid(format!(
                "{piece:?} has id {id}, past the model's vocab_size {}",
                settings.vocab_size
            ))
        })?;
        if let Some(other) = slot {
            return Err(invalid(format!("{piece:?} and {other:?} share id {id}")));
        }
        *slot = Some(piece.clone());
    }
    let missing = pieces.iter().filter(|p| p.is_none()).count();
    if missing > 0 {
        return Err(invalid(format!(
            "{missing} of the model's {} ids have no piece",
            settings.vocab_size
        )));
    }
    let pieces: Vec<String> = pieces.into_iter().map(Option::unwrap).collect();
    let unk = map
        .get("<unk>")
        .and_then(Value::as_u64)
        .map(|x| x as usize)
        .ok_or_else(|| invalid("no \"<unk>\" piece".into()))?;
    for (name, id) in [
        ("pad_token_id", settings.pad_id),
        ("eos_token_id", settings.eos_id),
    ] {
        if id >= settings.vocab_size {
            return Err(invalid(format!("{name} {id} is past the vocabulary")));
        }
    }
    let (pad, eos) = (settings.pad_id, settings.eos_id);
    if unk == pad || unk == eos || pad == eos {
        return Err(invalid(format!(
            "pad ({pad}), eos ({eos}) and <unk> ({unk}) must be three different ids"
        )));
    }
    // Our <pad>, <s> (Marian's start token, its pad), </s>, <unk>; then the rest in order.
    let mut marian_of = vec![pad, pad, eos, unk];
    let mut symbols: Vec<String> = SPECIALS.iter().map(|s| s.to_string()).collect();
    for (id, piece) in pieces.iter().enumerate() {
        if id == pad || id == eos || id == unk {
            continue;
        }
        if SPECIALS.contains(&piece.as_str()) {
            return Err(invalid(format!(
                "the piece {piece:?} (id {id}) is one of the reserved symbols but not the model's {}",
                if piece == "<pad>" { "pad_token_id" } else { "eos/unk id" }
            )));
        }
        marian_of.push(id);
        symbols.push(piece.clone());
    }
    Ok((symbols, marian_of))
}

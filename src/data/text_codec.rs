//! Text <-> tokens for both sides of a task: the one place text is cut into the tokens a
//! vocabulary maps to ids, and joined back (STYLE 13). Characters, words and the task's own
//! rules come from the [`DataConfig`]; subword pieces from the tokenizers learned on the training
//! text, saved beside the model:
//!
//! ```text
//! DIR/tokenizer.json        one joint vocabulary for both sides (data.joint_vocab)
//! DIR/src_tokenizer.json    or one per subword side
//! DIR/tgt_tokenizer.json
//! ```

use super::subword::{Subword, SubwordError, SubwordKind};
use super::{DataConfig, DataError, Task, TextPair, Tokenization};
use std::path::Path;
use std::sync::Arc;

pub const JOINT_TOKENIZER_FILE: &str = "tokenizer.json";
pub const SRC_TOKENIZER_FILE: &str = "src_tokenizer.json";
pub const TGT_TOKENIZER_FILE: &str = "tgt_tokenizer.json";

/// How the task's text becomes tokens and back.
#[derive(Debug, Clone)]
pub struct TextCodec {
    data: DataConfig,
    src: Option<Arc<Subword>>,
    tgt: Option<Arc<Subword>>,
}

/// The subword models a config asks for.
struct Wanted {
    src: Option<SubwordKind>,
    tgt: Option<SubwordKind>,
    joint: bool,
}

fn wanted(data: &DataConfig) -> Wanted {
    let (src, tgt) = match data.task() {
        Task::Parallel {
            src_tokens,
            tgt_tokens,
            ..
        } => (src_tokens.subword(), tgt_tokens.subword()),
        Task::G2p { .. } | Task::Synthetic { .. } => (None, None),
    };
    Wanted {
        src,
        tgt,
        joint: data.joint_vocab && src.is_some() && src == tgt,
    }
}

impl TextCodec {
    /// The codec of a config without learned parts (characters, words, G2P, synthetic).
    /// A subword config is an error: its tokenizer must be learned or loaded.
    pub fn plain(data: &DataConfig) -> Result<Self, DataError> {
        let wanted = wanted(data);
        if wanted.src.is_some() || wanted.tgt.is_some() {
            return Err(DataError::Config(
                "subword tokenization needs its learned tokenizer (tokenizer.json)".into(),
            ));
        }
        Ok(Self {
            data: data.clone(),
            src: None,
            tgt: None,
        })
    }

    /// Learn the subword tokenizers the config asks for from the training pairs (the others
    /// sides need nothing).
    pub fn learn(
        data: &DataConfig,
        train: &[TextPair],
        show_progress: bool,
    ) -> Result<Self, DataError> {
        let wanted = wanted(data);
        let size = data.vocab_size;
        let learn = |kind, lines: Vec<&str>| -> Result<Arc<Subword>, DataError> {
            Ok(Arc::new(Subword::train_with(
                kind,
                size,
                data.byte_fallback,
                &lines,
                show_progress,
            )?))
        };
        let (src, tgt) = if wanted.joint {
            let lines = train
                .iter()
                .flat_map(|p| [p.src.as_str(), p.tgt.as_str()])
                .collect();
            let joint = learn(wanted.src.expect("joint means subword"), lines)?;
            (Some(joint.clone()), Some(joint))
        } else {
            let src = match wanted.src {
                Some(kind) => Some(learn(kind, train.iter().map(|p| p.src.as_str()).collect())?),
                None => None,
            };
            let tgt = match wanted.tgt {
                Some(kind) => Some(learn(kind, train.iter().map(|p| p.tgt.as_str()).collect())?),
                None => None,
            };
            (src, tgt)
        };
        Ok(Self {
            data: data.clone(),
            src,
            tgt,
        })
    }

    /// The codec of two given subword tokenizers (an imported model's), one per side.
    pub fn with_subwords(data: &DataConfig, src: Subword, tgt: Subword) -> Self {
        Self {
            data: data.clone(),
            src: Some(Arc::new(src)),
            tgt: Some(Arc::new(tgt)),
        }
    }

    /// The codec saved in a model or run directory for `data`.
    pub fn load(data: &DataConfig, dir: &Path) -> Result<Self, DataError> {
        let wanted = wanted(data);
        let read = |file: &str| -> Result<Arc<Subword>, DataError> {
            Ok(Arc::new(Subword::read(&dir.join(file))?))
        };
        let (src, tgt) = if wanted.joint {
            let joint = read(JOINT_TOKENIZER_FILE)?;
            (Some(joint.clone()), Some(joint))
        } else {
            (
                wanted.src.map(|_| read(SRC_TOKENIZER_FILE)).transpose()?,
                wanted.tgt.map(|_| read(TGT_TOKENIZER_FILE)).transpose()?,
            )
        };
        Ok(Self {
            data: data.clone(),
            src,
            tgt,
        })
    }

    /// Write the learned tokenizers into `dir` (nothing for a codec without any).
    pub fn save(&self, dir: &Path) -> Result<(), SubwordError> {
        if wanted(&self.data).joint {
            if let Some(joint) = &self.src {
                joint.write(&dir.join(JOINT_TOKENIZER_FILE))?;
            }
            return Ok(());
        }
        if let Some(src) = &self.src {
            src.write(&dir.join(SRC_TOKENIZER_FILE))?;
        }
        if let Some(tgt) = &self.tgt {
            tgt.write(&dir.join(TGT_TOKENIZER_FILE))?;
        }
        Ok(())
    }

    /// The learned source and target tokenizers (the same one for a joint vocabulary).
    pub fn subwords(&self) -> (Option<&Subword>, Option<&Subword>) {
        (self.src.as_deref(), self.tgt.as_deref())
    }

    /// The tokens of a source text, cut as training cut them (with `</s>` at the end when the
    /// config's `src_eos` says so; nothing for blank text).
    pub fn source_tokens(&self, text: &str) -> Vec<String> {
        let mut tokens = self.split_source(text);
        if self.data.src_eos && !tokens.is_empty() {
            tokens.push(crate::vocab::SPECIALS[crate::vocab::END].to_string());
        }
        tokens
    }

    fn split_source(&self, text: &str) -> Vec<String> {
        let text = text.trim();
        match (&self.src, self.data.task()) {
            (Some(sub), _) => sub.pieces(text),
            (None, Task::G2p { .. }) => text.to_lowercase().chars().map(String::from).collect(),
            (None, Task::Parallel { src_tokens, .. }) => src_tokens.split(text),
            (None, Task::Synthetic { .. }) => text
                .chars()
                .filter(|c| !c.is_whitespace())
                .map(String::from)
                .collect(),
        }
    }

    /// The tokens of a target text of parallel data.
    pub fn target_tokens(&self, text: &str) -> Vec<String> {
        let text = text.trim();
        match (&self.tgt, self.data.task()) {
            (Some(sub), _) => sub.pieces(text),
            (None, Task::Parallel { tgt_tokens, .. }) => tgt_tokens.split(text),
            (None, Task::G2p { .. }) => Tokenization::Whitespace.split(text),
            (None, Task::Synthetic { .. }) => Tokenization::Char.split(text),
        }
    }

    /// Join source tokens back into the text [`Self::source_tokens`] would cut.
    pub fn join_source<S: AsRef<str>>(&self, tokens: &[S]) -> String {
        match (&self.src, self.data.task()) {
            (Some(sub), _) => sub.decode(tokens),
            (None, Task::Parallel { src_tokens, .. }) => src_tokens.join(tokens),
            (None, Task::G2p { .. } | Task::Synthetic { .. }) => Tokenization::Char.join(tokens),
        }
    }

    /// Join output tokens for display: detokenized text for subword pieces.
    pub fn join_target<S: AsRef<str>>(&self, tokens: &[S]) -> String {
        match (&self.tgt, self.data.task()) {
            (Some(sub), _) => sub.decode(tokens),
            (None, Task::G2p { .. }) => Tokenization::Whitespace.join(tokens),
            (None, Task::Parallel { tgt_tokens, .. }) => tgt_tokens.join(tokens),
            (None, Task::Synthetic { .. }) => Tokenization::Char.join(tokens),
        }
    }
}

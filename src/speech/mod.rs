//! Speech recognition, the tutorial's example of the decoder: audio in, the encoder over
//! acoustic frames, the decoder writing text token by token with cross attention to them.
//!
//! [`audio`] reads files as 16 kHz mono samples ([`resample`]), [`mel`] makes Whisper's
//! log-mel features, [`ct2`] reads the CTranslate2 files faster-whisper uses, [`whisper`]
//! imports them as options of this crate's Transformer, [`transcribe`] decodes, [`attention`]
//! collects the decoder's cross attention over the audio and [`attention_plot`] draws it.

pub mod attention;
pub mod attention_plot;
pub mod audio;
pub mod ct2;
pub mod mel;
pub mod resample;
pub mod transcribe;
pub mod whisper;

pub use audio::{Audio, AudioError};
pub use transcribe::{TranscribeError, TranscribeOptions, Transcriber, Transcript};
pub use whisper::{WhisperError, WhisperModel, WhisperSettings};

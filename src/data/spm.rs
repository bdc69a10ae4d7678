//! SentencePiece model files (`.spm`, `.model`) read in pure Rust: the protobuf `ModelProto`
//! of sentencepiece's `sentencepiece_model.proto`, only the fields a unigram tokenizer needs.
//!
//! ```text
//! ModelProto       1: repeated SentencePiece   2: TrainerSpec   3: NormalizerSpec
//! SentencePiece    1: piece (string)   2: score (float)   3: type (1 normal, 2 unknown,
//!                                                          3 control, 4 user-defined, 5 unused, 6 byte)
//! TrainerSpec      3: model_type (1 unigram, 2 bpe, 3 word, 4 char)   35: byte_fallback
//!                  40: unk_id
//! NormalizerSpec   1: name   2: precompiled_charsmap   3: add_dummy_prefix (default true)
//!                  4: remove_extra_whitespaces (default true)   5: escape_whitespaces (default true)
//! ```
//!
//! The protobuf wire format is decoded by hand (varints and length-delimited fields, about 80
//! lines) rather than through a protobuf crate and generated code: only these fields are read,
//! every other field is skipped by its wire type.

use std::path::Path;

/// Why a SentencePiece model could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SpmError {
    #[error("cannot read SentencePiece model {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a SentencePiece model: {why}")]
    Malformed { path: String, why: String },
    #[error("{path}: {what} is not supported (only unigram models without byte fallback are)")]
    Unsupported { path: String, what: String },
}

/// What a piece is for (SentencePiece's `SentencePiece.Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PieceKind {
    Normal,
    Unknown,
    /// `<s>`, `</s>`: never matched in text.
    Control,
    /// Always one piece when it occurs in text.
    UserDefined,
    Unused,
    Byte,
}

/// One vocabulary entry.
#[derive(Debug, Clone, PartialEq)]
pub struct SpmPiece {
    pub piece: String,
    /// Log-probability in the unigram model.
    pub score: f32,
    pub kind: PieceKind,
}

/// The normaliser: a precompiled character map (Unicode normalisation such as `nmt_nfkc`) and
/// the whitespace rules.
#[derive(Debug, Clone, PartialEq)]
pub struct NormalizerSpec {
    pub name: String,
    pub precompiled_charsmap: Vec<u8>,
    /// Put a `▁` before the first word, as before every other.
    pub add_dummy_prefix: bool,
    /// Strip leading and trailing whitespace, collapse runs of it to one space.
    pub remove_extra_whitespaces: bool,
    /// Write spaces as `▁`.
    pub escape_whitespaces: bool,
}

/// A parsed SentencePiece model.
#[derive(Debug, Clone, PartialEq)]
pub struct SpmModel {
    pub pieces: Vec<SpmPiece>,
    /// 1 unigram, 2 BPE, 3 word, 4 char.
    pub model_type: u64,
    pub byte_fallback: bool,
    pub unk_id: usize,
    pub normalizer: NormalizerSpec,
}

/// A protobuf message being read: its bytes and a position.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

/// A field's value as the wire format gives it.
enum Value<'a> {
    Varint(u64),
    Fixed32(u32),
    Bytes(&'a [u8]),
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, at: 0 }
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self
                .bytes
                .get(self.at)
                .ok_or("the data ends inside a number")?;
            self.at += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err("a number longer than 10 bytes".into())
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len())
            .ok_or_else(|| format!("a field of {n} bytes runs past the end of the data"))?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    /// The next field number and value, or `None` at the end of the message.
    fn field(&mut self) -> Result<Option<(u64, Value<'a>)>, String> {
        if self.at == self.bytes.len() {
            return Ok(None);
        }
        let key = self.varint()?;
        let (number, wire) = (key >> 3, key & 7);
        let value = match wire {
            0 => Value::Varint(self.varint()?),
            1 => {
                self.take(8)?;
                Value::Varint(0) // 64-bit fields: none is read
            }
            2 => {
                let len = self.varint()? as usize;
                Value::Bytes(self.take(len)?)
            }
            5 => {
                let b = self.take(4)?;
                Value::Fixed32(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            }
            other => return Err(format!("field {number} has wire type {other}")),
        };
        Ok(Some((number, value)))
    }
}

fn text(bytes: &[u8], what: &str) -> Result<String, String> {
    String::from_utf8(bytes.to_vec()).map_err(|_| format!("{what} is not UTF-8"))
}

fn piece(bytes: &[u8]) -> Result<SpmPiece, String> {
    let mut r = Reader::new(bytes);
    let (mut piece, mut score, mut kind) = (None, 0.0, PieceKind::Normal);
    while let Some((number, value)) = r.field()? {
        match (number, value) {
            (1, Value::Bytes(b)) => piece = Some(text(b, "a piece")?),
            (2, Value::Fixed32(bits)) => score = f32::from_bits(bits),
            (3, Value::Varint(t)) => {
                kind = match t {
                    1 => PieceKind::Normal,
                    2 => PieceKind::Unknown,
                    3 => PieceKind::Control,
                    4 => PieceKind::UserDefined,
                    5 => PieceKind::Unused,
                    6 => PieceKind::Byte,
                    other => return Err(format!("piece type {other}")),
                }
            }
            _ => {}
        }
    }
    Ok(SpmPiece {
        piece: piece.ok_or("a vocabulary entry without its piece")?,
        score,
        kind,
    })
}

impl SpmModel {
    /// Parse the bytes of a model file; `origin` names it in errors.
    pub fn parse(bytes: &[u8], origin: &str) -> Result<Self, SpmError> {
        let malformed = |why: String| SpmError::Malformed {
            path: origin.to_string(),
            why,
        };
        let mut model = SpmModel {
            pieces: Vec::new(),
            model_type: 1,
            byte_fallback: false,
            unk_id: 0,
            normalizer: NormalizerSpec {
                name: String::new(),
                precompiled_charsmap: Vec::new(),
                add_dummy_prefix: true,
                remove_extra_whitespaces: true,
                escape_whitespaces: true,
            },
        };
        let mut r = Reader::new(bytes);
        while let Some((number, value)) = r.field().map_err(malformed)? {
            match (number, value) {
                (1, Value::Bytes(b)) => model.pieces.push(piece(b).map_err(malformed)?),
                (2, Value::Bytes(b)) => {
                    let mut t = Reader::new(b);
                    while let Some((n, v)) = t.field().map_err(malformed)? {
                        match (n, v) {
                            (3, Value::Varint(x)) => model.model_type = x,
                            (35, Value::Varint(x)) => model.byte_fallback = x != 0,
                            (40, Value::Varint(x)) => model.unk_id = x as usize,
                            _ => {}
                        }
                    }
                }
                (3, Value::Bytes(b)) => {
                    let spec = &mut model.normalizer;
                    let mut t = Reader::new(b);
                    while let Some((n, v)) = t.field().map_err(malformed)? {
                        match (n, v) {
                            (1, Value::Bytes(x)) => {
                                spec.name = text(x, "the normaliser name").map_err(malformed)?
                            }
                            (2, Value::Bytes(x)) => spec.precompiled_charsmap = x.to_vec(),
                            (3, Value::Varint(x)) => spec.add_dummy_prefix = x != 0,
                            (4, Value::Varint(x)) => spec.remove_extra_whitespaces = x != 0,
                            (5, Value::Varint(x)) => spec.escape_whitespaces = x != 0,
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        if model.pieces.is_empty() {
            return Err(malformed("no vocabulary".into()));
        }
        if model.unk_id >= model.pieces.len() {
            return Err(malformed(format!(
                "unk_id {} is past its {} pieces",
                model.unk_id,
                model.pieces.len()
            )));
        }
        Ok(model)
    }

    /// Read a model file and check that it is a unigram model this crate can run exactly.
    pub fn read(path: &Path) -> Result<Self, SpmError> {
        let origin = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| SpmError::Read {
            path: origin.clone(),
            source,
        })?;
        let model = Self::parse(&bytes, &origin)?;
        let unsupported = |what: String| SpmError::Unsupported {
            path: origin.clone(),
            what,
        };
        if model.model_type != 1 {
            let kind = match model.model_type {
                2 => "bpe",
                3 => "word",
                4 => "char",
                _ => "unknown",
            };
            return Err(unsupported(format!(
                "model_type {} ({kind})",
                model.model_type
            )));
        }
        if model.byte_fallback {
            return Err(unsupported("byte_fallback".into()));
        }
        if !model.normalizer.escape_whitespaces {
            return Err(unsupported("escape_whitespaces false".into()));
        }
        Ok(model)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A protobuf field: key then payload.
    fn field(number: u64, wire: u64, payload: &[u8]) -> Vec<u8> {
        let mut out = varint(number << 3 | wire);
        if wire == 2 {
            out.extend(varint(payload.len() as u64));
        }
        out.extend_from_slice(payload);
        out
    }

    fn varint(mut x: u64) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let byte = (x & 0x7f) as u8;
            x >>= 7;
            if x == 0 {
                out.push(byte);
                return out;
            }
            out.push(byte | 0x80);
        }
    }

    fn entry(piece: &str, score: f32, kind: u64) -> Vec<u8> {
        let mut e = field(1, 2, piece.as_bytes());
        e.extend(field(2, 5, &score.to_le_bytes()));
        e.extend(field(3, 0, &varint(kind)));
        field(1, 2, &e)
    }

    #[test]
    fn reads_pieces_trainer_and_normalizer_fields() {
        let mut bytes = entry("<unk>", 0.0, 2);
        bytes.extend(entry("\u{2581}a", -2.5, 1));
        // A 64-bit field the reader must skip, then the trainer spec (model_type 1, unk_id 0,
        // a field number above 15 whose key takes two bytes).
        bytes.extend(field(9, 1, &[0; 8]));
        let mut trainer = field(3, 0, &varint(1));
        trainer.extend(field(40, 0, &varint(0)));
        trainer.extend(field(35, 0, &varint(0)));
        bytes.extend(field(2, 2, &trainer));
        let mut normalizer = field(1, 2, b"nmt_nfkc");
        normalizer.extend(field(2, 2, &[1, 2, 3]));
        normalizer.extend(field(3, 0, &varint(0)));
        bytes.extend(field(3, 2, &normalizer));
        let model = SpmModel::parse(&bytes, "test").unwrap();
        assert_eq!(model.pieces.len(), 2);
        assert_eq!(model.pieces[1].piece, "\u{2581}a");
        assert_eq!(model.pieces[1].score, -2.5);
        assert_eq!(model.pieces[0].kind, PieceKind::Unknown);
        assert_eq!(model.normalizer.name, "nmt_nfkc");
        assert_eq!(model.normalizer.precompiled_charsmap, vec![1, 2, 3]);
        assert!(!model.normalizer.add_dummy_prefix);
        assert!(model.normalizer.remove_extra_whitespaces, "default true");
    }

    #[test]
    fn truncated_and_empty_files_are_errors() {
        let bytes = entry("\u{2581}abc", -1.0, 1);
        let err = SpmModel::parse(&bytes[..bytes.len() - 3], "cut.spm").unwrap_err();
        assert!(err
            .to_string()
            .starts_with("cut.spm is not a SentencePiece model"));
        let err = SpmModel::parse(&[], "empty.spm").unwrap_err();
        assert!(err.to_string().contains("no vocabulary"), "{err}");
        let err = SpmModel::parse(b"{\"json\": 1}", "x.json").unwrap_err();
        assert!(err.to_string().contains("x.json"), "{err}");
    }
}

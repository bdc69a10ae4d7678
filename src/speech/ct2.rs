//! The CTranslate2 model file (`model.bin`, format version 6), what faster-whisper loads.
//!
//! Little-endian throughout:
//! - `u32` format version, a string (the spec's name, e.g. `WhisperSpec`), `u32` spec revision,
//!   `u32` number of variables;
//! - per variable: its name (a string), `u8` rank, `u32` per dimension, `u8` dtype (0 f32,
//!   1 i8, 2 i16, 3 i32, 4 f16, 5 bf16), `u32` byte count, the raw values;
//! - `u32` number of aliases, then `(alias, target)` string pairs (a tied projection is an
//!   alias of the embedding);
//! - a string is a `u16` length that counts a trailing NUL, then the bytes (NUL included).
//!
//! Scalars (rank 0) hold settings: e.g. `decoder/num_heads`, `encoder/activation` (3 = exact
//! GELU), `pre_norm`. Floats are read as f32 (f16 and bf16 widened exactly).

use half::{bf16, f16};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Why a `model.bin` cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum Ct2Error {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: not a CTranslate2 model file: {reason}", path.display())]
    Malformed { path: PathBuf, reason: String },
    #[error("{}: CTranslate2 format version {version}; this reader knows version 6", path.display())]
    Version { path: PathBuf, version: u32 },
}

/// One stored variable.
#[derive(Debug, Clone)]
pub struct Variable {
    pub shape: Vec<usize>,
    /// The stored dtype's name (`float32`, `float16`, `int8`, ...).
    pub dtype: &'static str,
    /// The values widened to f32 (integers converted as numbers).
    pub values: Vec<f32>,
}

/// A whole `model.bin`: the spec's name and revision, variables by name (aliases resolved).
#[derive(Debug, Clone)]
pub struct Ct2Model {
    pub spec: String,
    pub revision: u32,
    pub variables: BTreeMap<String, Variable>,
    /// `alias -> target`, as stored.
    pub aliases: BTreeMap<String, String>,
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| format!("truncated at byte {} (wanted {n} more)", self.at))?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, String> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().unwrap()))
    }
    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }
    fn string(&mut self) -> Result<String, String> {
        let len = self.u16()? as usize;
        let raw = self.take(len)?;
        let raw = raw.strip_suffix(&[0]).unwrap_or(raw);
        String::from_utf8(raw.to_vec())
            .map_err(|_| format!("a name at byte {} is not UTF-8", self.at))
    }
}

fn widen(dtype: u8, raw: &[u8]) -> Result<(&'static str, Vec<f32>), String> {
    Ok(match dtype {
        0 => (
            "float32",
            raw.chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
                .collect(),
        ),
        1 => ("int8", raw.iter().map(|&b| b as i8 as f32).collect()),
        2 => (
            "int16",
            raw.chunks_exact(2)
                .map(|b| i16::from_le_bytes(b.try_into().unwrap()) as f32)
                .collect(),
        ),
        3 => (
            "int32",
            raw.chunks_exact(4)
                .map(|b| i32::from_le_bytes(b.try_into().unwrap()) as f32)
                .collect(),
        ),
        4 => (
            "float16",
            raw.chunks_exact(2)
                .map(|b| f16::from_le_bytes(b.try_into().unwrap()).to_f32())
                .collect(),
        ),
        5 => (
            "bfloat16",
            raw.chunks_exact(2)
                .map(|b| bf16::from_le_bytes(b.try_into().unwrap()).to_f32())
                .collect(),
        ),
        other => return Err(format!("unknown dtype code {other}")),
    })
}

fn width(dtype: u8) -> usize {
    match dtype {
        1 => 1,
        2 | 4 | 5 => 2,
        _ => 4,
    }
}

impl Ct2Model {
    /// Read and check a `model.bin`.
    pub fn read(path: &Path) -> Result<Self, Ct2Error> {
        let bytes = std::fs::read(path).map_err(|source| Ct2Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_bytes(&bytes, path)
    }

    /// Read a `model.bin` held in memory; `path` names it in errors.
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Self, Ct2Error> {
        Self::parse(bytes).map_err(|e| match e {
            ParseError::Version(version) => Ct2Error::Version {
                path: path.to_path_buf(),
                version,
            },
            ParseError::Malformed(reason) => Ct2Error::Malformed {
                path: path.to_path_buf(),
                reason,
            },
        })
    }

    fn parse(bytes: &[u8]) -> Result<Self, ParseError> {
        let mut r = Reader { bytes, at: 0 };
        let version = r.u32()?;
        if version != 6 {
            return Err(ParseError::Version(version));
        }
        let spec = r.string()?;
        let revision = r.u32()?;
        let count = r.u32()? as usize;
        let mut variables = BTreeMap::new();
        for _ in 0..count {
            let name = r.string()?;
            let rank = r.u8()? as usize;
            let shape = (0..rank)
                .map(|_| r.u32().map(|d| d as usize))
                .collect::<Result<Vec<_>, _>>()?;
            let dtype = r.u8()?;
            let n_bytes = r.u32()? as usize;
            let raw = r.take(n_bytes)?;
            let elements: usize = shape.iter().product();
            if elements * width(dtype) != n_bytes {
                return Err(ParseError::Malformed(format!(
                    "variable {name}: shape {shape:?} of dtype code {dtype} needs {} bytes, the file gives {n_bytes}",
                    elements * width(dtype)
                )));
            }
            let (dtype, values) = widen(dtype, raw)
                .map_err(|e| ParseError::Malformed(format!("variable {name}: {e}")))?;
            variables.insert(
                name,
                Variable {
                    shape,
                    dtype,
                    values,
                },
            );
        }
        let n_aliases = r.u32()? as usize;
        let mut aliases = BTreeMap::new();
        for _ in 0..n_aliases {
            let alias = r.string()?;
            let target = r.string()?;
            aliases.insert(alias, target);
        }
        if r.at != bytes.len() {
            return Err(ParseError::Malformed(format!(
                "{} bytes after the aliases",
                bytes.len() - r.at
            )));
        }
        for (alias, target) in &aliases {
            let value = variables.get(target).cloned().ok_or_else(|| {
                ParseError::Malformed(format!("alias {alias} names a missing variable {target}"))
            })?;
            variables.insert(alias.clone(), value);
        }
        Ok(Ct2Model {
            spec,
            revision,
            variables,
            aliases,
        })
    }

    /// A scalar setting (rank 0 or a single value), if stored.
    pub fn scalar(&self, name: &str) -> Option<f32> {
        self.variables
            .get(name)
            .filter(|v| v.values.len() == 1)
            .map(|v| v.values[0])
    }
}

enum ParseError {
    Version(u32),
    Malformed(String),
}

impl From<String> for ParseError {
    fn from(reason: String) -> Self {
        ParseError::Malformed(reason)
    }
}

/// Write a `model.bin` (float32 and scalar variables): the tests build small models with it.
pub fn write(
    path: &Path,
    spec: &str,
    revision: u32,
    variables: &[(String, Vec<usize>, Vec<f32>)],
    aliases: &[(String, String)],
) -> std::io::Result<()> {
    fn string(out: &mut Vec<u8>, s: &str) {
        out.extend_from_slice(&((s.len() + 1) as u16).to_le_bytes());
        out.extend_from_slice(s.as_bytes());
        out.push(0);
    }
    let mut out = Vec::new();
    out.extend_from_slice(&6u32.to_le_bytes());
    string(&mut out, spec);
    out.extend_from_slice(&revision.to_le_bytes());
    out.extend_from_slice(&(variables.len() as u32).to_le_bytes());
    for (name, shape, values) in variables {
        string(&mut out, name);
        out.push(shape.len() as u8);
        for &d in shape {
            out.extend_from_slice(&(d as u32).to_le_bytes());
        }
        out.push(0);
        out.extend_from_slice(&((values.len() * 4) as u32).to_le_bytes());
        for v in values {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    out.extend_from_slice(&(aliases.len() as u32).to_le_bytes());
    for (alias, target) in aliases {
        string(&mut out, alias);
        string(&mut out, target);
    }
    std::fs::write(path, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_an_alias_and_clear_errors() {
        let dir = std::env::temp_dir().join(format!("seq2seq-ct2-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("model.bin");
        let vars = vec![
            (
                "a/weight".to_string(),
                vec![2, 3],
                vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            ),
            ("num_heads".to_string(), vec![], vec![6.0]),
        ];
        write(
            &path,
            "WhisperSpec",
            3,
            &vars,
            &[("b/weight".into(), "a/weight".into())],
        )
        .unwrap();
        let model = Ct2Model::read(&path).unwrap();
        assert_eq!((model.spec.as_str(), model.revision), ("WhisperSpec", 3));
        assert_eq!(model.variables["b/weight"].shape, vec![2, 3]);
        assert_eq!(model.variables["b/weight"].values[5], 6.0);
        assert_eq!(model.scalar("num_heads"), Some(6.0));
        // Truncated: a clear error naming the problem, no panic.
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 7]).unwrap();
        let err = Ct2Model::read(&path).unwrap_err().to_string();
        assert!(err.contains("not a CTranslate2 model file"), "{err}");
        // Another version.
        let mut other = bytes.clone();
        other[0] = 5;
        std::fs::write(&path, &other).unwrap();
        let err = Ct2Model::read(&path).unwrap_err().to_string();
        assert!(err.contains("format version 5"), "{err}");
        // f16 values widen exactly.
        let (name, values) = widen(4, &f16::from_f32(0.333).to_le_bytes()).unwrap();
        assert_eq!(
            (name, values[0]),
            ("float16", f16::from_f32(0.333).to_f32())
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

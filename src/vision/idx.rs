//! IDX files, the format of MNIST and Fashion-MNIST (LeCun's), gzipped or not.
//!
//! ```text
//! 0x00 0x00 <type> <ndims>      magic: type 0x08 = unsigned bytes (the only type read here)
//! ndims x u32, big-endian       the dimensions (images: count, rows, columns; labels: count)
//! the data                      row-major, one byte per element
//! ```

use std::io::Read;
use std::path::{Path, PathBuf};

/// The type byte of unsigned-byte data.
const UBYTE: u8 = 0x08;

/// An IDX array of unsigned bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Idx {
    pub dims: Vec<usize>,
    /// Row-major, `dims.iter().product()` bytes.
    pub data: Vec<u8>,
}

/// Why an IDX file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum IdxError {
    #[error("cannot read {path}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not an IDX file of unsigned bytes: it starts with {magic:02x?} (expected 00 00 08 and the number of dimensions)")]
    Magic { path: PathBuf, magic: Vec<u8> },
    #[error("{path} is truncated: its header promises {expected} bytes, the file holds {found}")]
    Truncated {
        path: PathBuf,
        expected: usize,
        found: usize,
    },
    #[error("{path} holds {found} bytes after its data ({expected} expected): not an IDX file, or two files joined")]
    Trailing {
        path: PathBuf,
        expected: usize,
        found: usize,
    },
}

impl Idx {
    /// Read `path`, gunzipping it when it starts with gzip's magic bytes.
    pub fn read(path: &Path) -> Result<Self, IdxError> {
        let io = |source| IdxError::Io {
            path: path.to_path_buf(),
            source,
        };
        let raw = std::fs::read(path).map_err(io)?;
        let bytes = if raw.starts_with(&[0x1f, 0x8b]) {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(raw.as_slice())
                .read_to_end(&mut out)
                .map_err(io)?;
            out
        } else {
            raw
        };
        Self::parse(path, &bytes)
    }

    /// The array in `bytes` (an IDX file's contents); `path` names it in errors.
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Self, IdxError> {
        let path = path.to_path_buf();
        if bytes.len() < 4 || bytes[0] != 0 || bytes[1] != 0 || bytes[2] != UBYTE || bytes[3] == 0 {
            return Err(IdxError::Magic {
                magic: bytes[..bytes.len().min(4)].to_vec(),
                path,
            });
        }
        let ndims = bytes[3] as usize;
        let header = 4 + 4 * ndims;
        if bytes.len() < header {
            return Err(IdxError::Truncated {
                path,
                expected: header,
                found: bytes.len(),
            });
        }
        let dims: Vec<usize> = bytes[4..header]
            .chunks_exact(4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
            .collect();
        let expected = header + dims.iter().product::<usize>();
        if bytes.len() < expected {
            return Err(IdxError::Truncated {
                path,
                expected,
                found: bytes.len(),
            });
        }
        if bytes.len() > expected {
            return Err(IdxError::Trailing {
                path,
                expected,
                found: bytes.len(),
            });
        }
        Ok(Self {
            dims,
            data: bytes[header..].to_vec(),
        })
    }

    /// The file's bytes (uncompressed).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = vec![0, 0, UBYTE, self.dims.len() as u8];
        for &d in &self.dims {
            out.extend_from_slice(&(d as u32).to_be_bytes());
        }
        out.extend_from_slice(&self.data);
        out
    }

    /// Write the array to `path`, gzipped when `gzip`.
    pub fn write(&self, path: &Path, gzip: bool) -> std::io::Result<()> {
        let bytes = self.to_bytes();
        if gzip {
            use std::io::Write;
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            encoder.write_all(&bytes)?;
            std::fs::write(path, encoder.finish()?)
        } else {
            std::fs::write(path, bytes)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_gzipped_and_plain() {
        let dir = std::env::temp_dir().join(format!("seq2seq-idx-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let idx = Idx {
            dims: vec![2, 3, 4],
            data: (0..24).collect(),
        };
        for gzip in [true, false] {
            let path = dir.join(format!("a-{gzip}.idx"));
            idx.write(&path, gzip).unwrap();
            assert_eq!(Idx::read(&path).unwrap(), idx);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn names_a_wrong_magic_number_and_a_truncated_file() {
        let path = Path::new("x.idx");
        let idx = Idx {
            dims: vec![3, 2],
            data: vec![1, 2, 3, 4, 5, 6],
        };
        let bytes = idx.to_bytes();
        // Floats (type 0x0d) are not read.
        let mut floats = bytes.clone();
        floats[2] = 0x0d;
        let err = Idx::parse(path, &floats).unwrap_err().to_string();
        assert!(
            err.contains("not an IDX file") && err.contains("0d"),
            "{err}"
        );
        let err = Idx::parse(path, b"PK\x03\x04zip").unwrap_err().to_string();
        assert!(err.contains("not an IDX file"), "{err}");
        // Cut inside the data, and inside the header.
        let err = Idx::parse(path, &bytes[..bytes.len() - 1])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("truncated") && err.contains("promises 18 bytes"),
            "{err}"
        );
        assert!(matches!(
            Idx::parse(path, &bytes[..6]),
            Err(IdxError::Truncated { expected: 12, .. })
        ));
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(matches!(
            Idx::parse(path, &longer),
            Err(IdxError::Trailing { .. })
        ));
    }
}

//! A run directory: what a run keeps besides its final model, in one place.
//!
//! ```text
//! RUN/config.json, RUN/src_vocab.json, RUN/tgt_vocab.json (+ tokenizer.json)   what a resume needs
//! RUN/checkpoint/{model,optim,scheduler}-<epoch>.mpk       burn-train's checkpoints
//! RUN/train/, RUN/valid/                                   burn-train's metric logs
//! ```

use super::TrainError;
use crate::artifact::{self, ArtifactError};
use crate::config::ExperimentConfig;
use crate::vocab::Vocab;
use std::path::{Path, PathBuf};

/// The files of one checkpoint.
const KINDS: [&str; 3] = ["model", "optim", "scheduler"];

/// A run directory (it need not exist yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunDir {
    root: PathBuf,
}

impl RunDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The run directory of a final model at `out`: `<parent of out>/runs/<name of out>`.
    pub fn for_output(out: &Path) -> Self {
        let name = out
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "model".into());
        Self::new(
            out.parent()
                .unwrap_or(Path::new("."))
                .join("runs")
                .join(name),
        )
    }

    pub fn path(&self) -> &Path {
        &self.root
    }

    /// The folder burn-train writes checkpoints to.
    pub fn checkpoint_dir(&self) -> PathBuf {
        self.root.join("checkpoint")
    }

    /// The file of one part (`model`, `optim`, `scheduler`) of `epoch`'s checkpoint; burn-train
    /// names them this way.
    pub fn checkpoint_file(&self, kind: &str, epoch: usize) -> PathBuf {
        self.checkpoint_dir().join(format!("{kind}-{epoch}.mpk"))
    }

    /// Every epoch with a saved model checkpoint, ascending.
    pub fn checkpoints(&self) -> Vec<usize> {
        let mut epochs: Vec<usize> = std::fs::read_dir(self.checkpoint_dir())
            .map(|dir| {
                dir.filter_map(|entry| {
                    let name = entry.ok()?.file_name().into_string().ok()?;
                    name.strip_prefix("model-")?
                        .strip_suffix(".mpk")?
                        .parse()
                        .ok()
                })
                .collect()
            })
            .unwrap_or_default();
        epochs.sort_unstable();
        epochs
    }

    /// The highest epoch with a saved model checkpoint, if any.
    pub fn last_checkpoint(&self) -> Option<usize> {
        self.checkpoints().last().copied()
    }

    /// Whether the model, optimizer and scheduler files of `epoch` are all complete msgpack
    /// documents. burn-train writes checkpoints in place, so a process killed mid-save leaves a
    /// truncated (or missing) file behind.
    pub fn is_complete(&self, epoch: usize) -> bool {
        KINDS.iter().all(|kind| {
            std::fs::read(self.checkpoint_file(kind, epoch)).is_ok_and(|bytes| {
                let mut reader = bytes.as_slice();
                rmp_serde::from_read::<_, serde::de::IgnoredAny>(&mut reader).is_ok()
                    && reader.is_empty()
            })
        })
    }

    /// The newest checkpoint that is complete, moving aside newer, damaged ones (renamed to
    /// `*.damaged`, never deleted) so burn-train's bookkeeping does not trip over them.
    pub fn resumable(&self) -> Result<Option<usize>, TrainError> {
        for epoch in self.checkpoints().into_iter().rev() {
            if self.is_complete(epoch) {
                return Ok(Some(epoch));
            }
            eprintln!("warning: the checkpoint of epoch {epoch} is incomplete (interrupted save?); falling back to an earlier one");
            for kind in KINDS {
                let path = self.checkpoint_file(kind, epoch);
                if path.exists() {
                    let damaged = path.with_extension("mpk.damaged");
                    std::fs::rename(&path, &damaged)
                        .map_err(|source| TrainError::Io { path, source })?;
                }
            }
        }
        Ok(None)
    }

    /// Decide where a run starts: the epoch to resume from (`resume`), or a clean start
    /// (`restart` discards an earlier run's checkpoints and logs; without it they are an error).
    pub fn prepare(&self, resume: bool, restart: bool) -> Result<Option<usize>, TrainError> {
        let found = if resume {
            self.resumable()?
        } else {
            self.last_checkpoint()
        };
        match (resume, found) {
            (true, None) => Err(TrainError::NothingToResume(self.root.clone())),
            (true, Some(epoch)) => Ok(Some(epoch)),
            (false, Some(epoch)) if !restart => Err(TrainError::RunExists {
                dir: self.root.clone(),
                epoch,
            }),
            (false, _) => {
                // Checkpoints, metric logs and the early-stopping history of an earlier run
                // would otherwise mix with this one.
                for sub in ["checkpoint", "train", "valid"] {
                    let path = self.root.join(sub);
                    if path.exists() {
                        std::fs::remove_dir_all(&path)
                            .map_err(|source| TrainError::Io { path, source })?;
                    }
                }
                Ok(None)
            }
        }
    }

    /// Write what a resume needs: the config and both vocabularies.
    pub fn save_setup(
        &self,
        config: &ExperimentConfig,
        src_vocab: &Vocab,
        tgt_vocab: &Vocab,
        codec: &crate::data::TextCodec,
    ) -> Result<(), TrainError> {
        let io = |path: PathBuf| move |source| TrainError::Io { path, source };
        std::fs::create_dir_all(&self.root).map_err(io(self.root.clone()))?;
        let path = self.root.join(artifact::CONFIG_FILE);
        crate::fsutil::write_atomic(&path, config.to_string().as_bytes()).map_err(io(path))?;
        for (vocab, file) in [
            (src_vocab, artifact::SRC_VOCAB_FILE),
            (tgt_vocab, artifact::TGT_VOCAB_FILE),
        ] {
            let path = self.root.join(file);
            vocab.write_json(&path).map_err(io(path))?;
        }
        codec
            .save(&self.root)
            .map_err(|err| TrainError::Data(err.into()))?;
        Ok(())
    }

    /// The saved config.
    pub fn config(&self) -> Result<ExperimentConfig, ArtifactError> {
        artifact::read_config(&self.root.join(artifact::CONFIG_FILE))
    }

    /// The saved text codec of the run's data config (its learned tokenizers, if any).
    pub fn codec(
        &self,
        data: &crate::data::DataConfig,
    ) -> Result<crate::data::TextCodec, ArtifactError> {
        Ok(crate::data::TextCodec::load(data, &self.root)?)
    }

    /// The saved source and target vocabularies.
    pub fn vocabs(&self) -> Result<(Vocab, Vocab), ArtifactError> {
        Ok((
            Vocab::read_json(&self.root.join(artifact::SRC_VOCAB_FILE))?,
            Vocab::read_json(&self.root.join(artifact::TGT_VOCAB_FILE))?,
        ))
    }
}

/// Fail unless `path` can become a directory: it is one, or does not exist and its nearest
/// existing ancestor is a writable directory. Checked before any data is loaded, so a bad
/// `--out` does not cost a whole run.
pub fn check_output_dir(path: &Path) -> Result<(), TrainError> {
    let not_dir = |p: &Path| TrainError::NotADirectory(p.to_path_buf());
    let mut probe = path;
    loop {
        match std::fs::metadata(probe) {
            Ok(meta) if !meta.is_dir() => return Err(not_dir(probe)),
            Ok(meta) => {
                if meta.permissions().readonly() {
                    return Err(TrainError::Io {
                        path: probe.to_path_buf(),
                        source: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
                    });
                }
                return Ok(());
            }
            Err(_) => match probe.parent() {
                Some(parent) if !parent.as_os_str().is_empty() => probe = parent,
                _ => return Ok(()),
            },
        }
    }
}

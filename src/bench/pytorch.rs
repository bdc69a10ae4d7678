//! The PyTorch side of `bench`: `scripts/bench_pytorch.py` run as a subprocess on the same
//! configuration (reference mode) or the same G2P batches (`--g2p`), its JSON read back.

use super::g2p::G2pWorkload;
use super::{BenchConfig, BenchResult};
use std::ffi::OsStr;
use std::path::PathBuf;

/// Why the PyTorch side gave no figures (torch missing, script failed, odd output).
#[derive(Debug, thiserror::Error)]
pub enum PytorchError {
    #[error("cannot run {python} {script}")]
    Spawn {
        python: String,
        script: PathBuf,
        source: std::io::Error,
    },
    #[error("{script} failed: {last_line}")]
    Failed { script: PathBuf, last_line: String },
    #[error("unexpected output from {script}: {line}")]
    Output { script: PathBuf, line: String },
    #[error("cannot write {path}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The interpreter (with torch installed) and its thread count.
#[derive(Debug, Clone)]
pub struct PytorchOptions {
    pub python: String,
    /// `torch.set_num_threads`; OMP_WAIT_POLICY=PASSIVE is set so idle threads do not spin on
    /// a busy machine.
    pub threads: usize,
    /// torch device (`cpu`, `cuda`, ...): `scripts/bench_pytorch.py --device`.
    pub device: String,
}

/// Run `scripts/bench_pytorch.py` with `extra` arguments and parse the JSON object of its last
/// output line.
fn run_script(
    options: &PytorchOptions,
    extra: &[&OsStr],
) -> Result<serde_json::Value, PytorchError> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/bench_pytorch.py");
    let out = std::process::Command::new(&options.python)
        .arg(&script)
        .args(["--threads", &options.threads.to_string()])
        .args(["--device", &options.device])
        .args(extra)
        .env("OMP_WAIT_POLICY", "PASSIVE")
        .output()
        .map_err(|source| PytorchError::Spawn {
            python: options.python.clone(),
            script: script.clone(),
            source,
        })?;
    if !out.status.success() {
        return Err(PytorchError::Failed {
            script,
            last_line: String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
                .to_string(),
        });
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().last().unwrap_or("").to_string();
    serde_json::from_str(&line).map_err(|_| PytorchError::Output { script, line })
}

/// PyTorch on the reference (or quick) configuration.
pub fn reference(
    options: &PytorchOptions,
    config: &BenchConfig,
    quick: bool,
) -> Result<BenchResult, PytorchError> {
    let (windows, steps) = (config.windows.to_string(), config.steps.to_string());
    let mut extra: Vec<&OsStr> = ["--windows", &windows, "--steps", &steps]
        .into_iter()
        .map(OsStr::new)
        .collect();
    if quick {
        extra.push("--quick".as_ref());
    }
    let value = run_script(options, &extra)?;
    serde_json::from_value(value.clone()).map_err(|_| PytorchError::Output {
        script: "scripts/bench_pytorch.py".into(),
        line: value.to_string(),
    })
}

/// PyTorch's target tokens/s on the same G2P batches (`bench_pytorch.py --g2p`).
pub fn g2p(options: &PytorchOptions, workload: &G2pWorkload) -> Result<f64, PytorchError> {
    let file = std::env::temp_dir().join(format!("seq2seq-g2p-bench-{}.json", std::process::id()));
    std::fs::write(&file, workload.to_json().to_string()).map_err(|source| PytorchError::Io {
        path: file.clone(),
        source,
    })?;
    let value = run_script(options, &["--g2p".as_ref(), file.as_os_str()]);
    let _ = std::fs::remove_file(&file);
    let value = value?;
    value["g2p_train_tokens_per_s"]
        .as_f64()
        .ok_or_else(|| PytorchError::Output {
            script: "scripts/bench_pytorch.py".into(),
            line: value.to_string(),
        })
}

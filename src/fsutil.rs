//! Crash-safe file writes: write beside the target, fsync, rename over it.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// A temporary path in the same directory as `path` (so the final rename is atomic).
pub fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

/// Flush `tmp` to disk and rename it to `path`.
pub fn commit(tmp: &Path, path: &Path) -> std::io::Result<()> {
    File::open(tmp)?.sync_all()?;
    std::fs::rename(tmp, path)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        // Persist the rename itself; not every platform lets a directory be opened, so ignore.
        if let Ok(dir) = File::open(dir) {
            let _ = dir.sync_all();
        }
    }
    Ok(())
}

/// Write `bytes` to `path` atomically.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = temp_path(path);
    let mut file = File::create(&tmp)?;
    file.write_all(bytes)?;
    drop(file);
    commit(&tmp, path)
}

//! Peak resident memory of this process, per measured section: Linux keeps the high-water
//! mark (`VmHWM` in `/proc/self/status`) and resets it to the current resident size when
//! `5` is written to `/proc/self/clear_refs`. Elsewhere both say they cannot (`false`, `None`).

/// Hand freed heap memory back to the kernel (glibc keeps it: `crate::allocator`), then reset
/// the peak to the resident size left, what is live. Returns whether the peak could be reset.
pub fn reset_peak() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free memory to the kernel; no pointer is touched.
    unsafe {
        libc::malloc_trim(0);
    }
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// The peak resident size since the start or the last [`reset_peak`], in MiB.
pub fn peak_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    // "VmHWM:     12345 kB"
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn the_peak_rises_with_touched_memory_and_resets() {
        assert!(reset_peak(), "cannot reset the peak");
        let before = peak_mib().expect("VmHWM");
        // 256 MiB, every page written (an untouched allocation is not resident).
        let block = vec![1u8; 256 << 20];
        let during = peak_mib().expect("VmHWM");
        assert!(
            during - before >= 200.0,
            "peak {before:.1} -> {during:.1} MiB with 256 MiB touched"
        );
        drop(std::hint::black_box(block));
        assert!(reset_peak());
        let after = peak_mib().expect("VmHWM");
        assert!(
            after < during - 200.0,
            "peak after the reset: {after:.1} MiB (was {during:.1})"
        );
    }
}

//! Peak memory of this process over one benchmark row (Linux).
//!
//! Writing `5` to `/proc/self/clear_refs` resets the kernel's high-water mark of the resident
//! set (`VmHWM` in `/proc/self/status`), so each row reports its own peak rather than the
//! largest peak of the whole run. Where either file is unavailable the figure is left out.

/// Tracks the peak resident memory from its start.
#[derive(Debug)]
pub struct PeakTracker {
    reset: bool,
}

impl PeakTracker {
    /// Resets the high-water mark and starts tracking.
    pub fn start() -> PeakTracker {
        let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
        PeakTracker { reset }
    }

    /// The peak resident set since `start`, in bytes, if it could be measured.
    pub fn peak_bytes(&self) -> Option<u64> {
        if !self.reset {
            return None;
        }
        read_status_kib("VmHWM:").map(|kib| kib * 1024)
    }
}

/// The current resident set in bytes (`VmRSS`).
pub fn resident_bytes() -> Option<u64> {
    read_status_kib("VmRSS:").map(|kib| kib * 1024)
}

fn read_status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with(field))?;
    line[field.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_covers_an_allocation() {
        let tracker = PeakTracker::start();
        let block = vec![1u8; 32 << 20];
        std::hint::black_box(&block);
        let resident = resident_bytes().expect("Linux has /proc/self/status");
        if let Some(peak) = tracker.peak_bytes() {
            assert!(peak >= 32 << 20, "{peak}");
            assert!(peak >= resident);
        }
    }
}

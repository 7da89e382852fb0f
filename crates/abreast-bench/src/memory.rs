//! Peak memory of a benchmark row: of this process and its worker processes, or of a Python
//! program and its workers (Linux).
//!
//! A sampler thread adds up the resident sets of a process and all its descendants (found
//! through `/proc/PID/task/TID/children`) every 2 ms and keeps the largest sum, so a process
//! pool's workers count. For this process, the kernel's own high-water mark (`VmHWM`, reset by
//! writing `5` to `/proc/self/clear_refs`) also catches spikes shorter than a sample. The
//! kernel's `ru_maxrss` of a child is not used: on Linux it starts from the spawning parent's
//! size, so it would report abreast's memory as Python's.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// Samples the summed resident set of a process tree until finished.
#[derive(Debug)]
pub struct TreeSampler {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<u64>>,
    clock: Option<crate::cputime::ClockId>,
}

impl TreeSampler {
    /// Starts sampling the tree rooted at `root`.
    pub fn start(root: u32) -> TreeSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let (clock_sender, clock_receiver) = std::sync::mpsc::sync_channel(1);
        let thread = std::thread::Builder::new()
            .name("abreast-bench-memory".into())
            .spawn(move || {
                let _ = clock_sender.send(crate::cputime::current_thread_clock());
                let mut peak = 0;
                loop {
                    peak = peak.max(tree_resident_bytes(root));
                    if flag.load(Ordering::Relaxed) {
                        return peak;
                    }
                    std::thread::sleep(Duration::from_millis(2));
                }
            })
            .ok();
        let clock = thread
            .as_ref()
            .and_then(|_| clock_receiver.recv().ok().flatten());
        TreeSampler {
            stop,
            thread,
            clock,
        }
    }

    /// The sampler thread's CPU clock: its time is the bench's, not the case's.
    pub fn cpu_clock(&self) -> Option<crate::cputime::ClockId> {
        self.clock
    }

    /// Stops sampling; the largest sum seen, in bytes (`None` if nothing could be read).
    pub fn finish(mut self) -> Option<u64> {
        self.stop.store(true, Ordering::Relaxed);
        let peak = self.thread.take()?.join().ok()?;
        (peak > 0).then_some(peak)
    }
}

/// Tracks the peak memory of this process and its workers over one row.
#[derive(Debug)]
pub struct PeakTracker {
    reset: bool,
    sampler: TreeSampler,
}

impl PeakTracker {
    /// Resets this process's high-water mark and starts sampling its tree.
    pub fn start() -> PeakTracker {
        let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
        PeakTracker {
            reset,
            sampler: TreeSampler::start(std::process::id()),
        }
    }

    /// The sampler, whose thread's CPU a case must not count.
    pub fn sampler(&self) -> &TreeSampler {
        &self.sampler
    }

    /// The peak since `start`, in bytes, if it could be measured.
    pub fn finish(self) -> Option<u64> {
        let sampled = self.sampler.finish();
        let own = if self.reset {
            read_status_kib(std::process::id(), "VmHWM:").map(|kib| kib * 1024)
        } else {
            None
        };
        sampled.max(own)
    }
}

/// The current resident set of this process in bytes (`VmRSS`).
pub fn resident_bytes() -> Option<u64> {
    read_status_kib(std::process::id(), "VmRSS:").map(|kib| kib * 1024)
}

fn read_status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with(field))?;
    line[field.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// The summed resident sets of `root` and its descendants, in bytes (0 if `root` is gone).
fn tree_resident_bytes(root: u32) -> u64 {
    std::iter::once(root)
        .chain(descendants(root))
        .map(|pid| read_status_kib(pid, "VmRSS:").unwrap_or(0) * 1024)
        .sum()
}

/// The processes below `root`: its children, theirs, and so on (Linux: found through
/// `/proc/PID/task/TID/children`; empty elsewhere).
pub fn descendants(root: u32) -> Vec<u32> {
    let mut found = Vec::new();
    let mut pending = vec![root];
    // A cap on the walk, in case /proc shows something odd; real trees here are small.
    while let Some(pid) = pending.pop() {
        if found.len() > 10_000 {
            break;
        }
        if pid != root {
            found.push(pid);
        }
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            continue;
        };
        for task in tasks.flatten() {
            if let Ok(children) = std::fs::read_to_string(task.path().join("children")) {
                pending.extend(
                    children
                        .split_whitespace()
                        .filter_map(|c| c.parse::<u32>().ok()),
                );
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_covers_an_allocation() {
        let tracker = PeakTracker::start();
        let block = vec![1u8; 32 << 20];
        std::hint::black_box(&block);
        std::thread::sleep(Duration::from_millis(10));
        let peak = tracker.finish().expect("Linux has /proc");
        assert!(peak >= 32 << 20, "{peak}");
    }

    #[test]
    fn the_tree_includes_children() {
        let mut child = std::process::Command::new("sleep")
            .arg("1")
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(50));
        let with_child = tree_resident_bytes(std::process::id());
        let child_alone = read_status_kib(child.id(), "VmRSS:").unwrap() * 1024;
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(with_child >= child_alone + resident_bytes().unwrap() / 2);
    }
}

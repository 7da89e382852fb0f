//! CPU time (user + system) of a case, beside its wall time (Linux).
//!
//! A case's CPU is that of this process and every process below it (a process pool's workers,
//! a Python program and its pool, curl) over one run, less the threads that are not the case's:
//! the in-process test site's (reported apart, as the server's CPU) and the memory sampler's.
//!
//! Every clock read here counts nanoseconds of time on a CPU (the kernel's
//! `sum_exec_runtime`): this process through `CLOCK_PROCESS_CPUTIME_ID`, each live descendant
//! through its process clock (`clock_getcpuclockid`), each known thread through its thread clock
//! (`pthread_getcpuclockid`). Descendants that ended count through `getrusage(RUSAGE_CHILDREN)`
//! (those this process reaped) and the `cutime` and `cstime` fields of `/proc/PID/stat` (those a
//! live descendant reaped, in clock ticks). A process counted live when a run starts and reaped
//! before it ends moves from one sum to the other with its whole lifetime, so the difference of
//! the two totals is still the time spent in between.

use std::sync::{Arc, Mutex, PoisonError};

/// The CPU clock of one thread or process, as `clock_gettime` takes it.
pub type ClockId = libc::clockid_t;

/// The CPU clocks of a set of threads, registered by the threads themselves: the test site's
/// runtime threads register as they start and leave as they stop, so the bench can tell the
/// server's CPU from the client's.
#[derive(Debug, Default)]
pub struct ThreadClocks {
    clocks: Mutex<Vec<(libc::pthread_t, ClockId)>>,
}

impl ThreadClocks {
    /// An empty set, to share with the threads that will register.
    pub fn new() -> Arc<ThreadClocks> {
        Arc::new(ThreadClocks::default())
    }

    /// Adds the calling thread (call it first thing on the thread, e.g. from tokio's
    /// `on_thread_start`).
    pub fn register_current(&self) {
        // SAFETY: pthread_self has no preconditions.
        let thread = unsafe { libc::pthread_self() };
        let mut clock: ClockId = 0;
        // SAFETY: `thread` is the calling, live thread; `clock` is valid for writing.
        if unsafe { libc::pthread_getcpuclockid(thread, &mut clock) } == 0 {
            self.lock().push((thread, clock));
        }
    }

    /// Removes the calling thread (call it last thing on the thread, e.g. from tokio's
    /// `on_thread_stop`), so that a later thread given the same id is not counted.
    pub fn unregister_current(&self) {
        // SAFETY: pthread_self has no preconditions.
        let thread = unsafe { libc::pthread_self() };
        // SAFETY: pthread_equal only compares the two ids.
        self.lock()
            .retain(|&(other, _)| unsafe { libc::pthread_equal(other, thread) } == 0);
    }

    /// The clocks of the threads registered now.
    pub fn clocks(&self) -> Vec<ClockId> {
        self.lock().iter().map(|&(_, clock)| clock).collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(libc::pthread_t, ClockId)>> {
        self.clocks.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Seconds on the CPU by `clock`, or `None` where it cannot be read (a thread or process that
/// has ended).
pub fn read_clock(clock: ClockId) -> Option<f64> {
    let mut time = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `time` is valid for writing.
    let done = unsafe { libc::clock_gettime(clock, &mut time) } == 0;
    done.then_some(time.tv_sec as f64 + time.tv_nsec as f64 * 1e-9)
}

/// The CPU clock of the calling thread, to pass to [`CpuClock::start`] as one not to count.
pub fn current_thread_clock() -> Option<ClockId> {
    let mut clock: ClockId = 0;
    // SAFETY: the calling thread is live; `clock` is valid for writing.
    let done = unsafe { libc::pthread_getcpuclockid(libc::pthread_self(), &mut clock) } == 0;
    done.then_some(clock)
}

/// CPU seconds (user + system) of this process and all its descendants, alive or ended, since
/// each started; `None` where the system does not say (not Linux).
pub fn tree_seconds() -> Option<f64> {
    let ticks = clock_ticks_per_second();
    let mut attempts = 0;
    loop {
        // A child reaped after its reaped time is read and before the walk reaches it would
        // count in neither sum: a pool's dozens of workers reaped at that moment took 0.15 s
        // out of a run's total, and a test's case read 0 s. So the reaped time is read again
        // after the walk, and the walk made again where it moved.
        let reaped = reaped_children_seconds()?;
        let mut live = 0.0;
        for pid in crate::memory::descendants(std::process::id()) {
            if let Some(seconds) = process_seconds(pid) {
                live += seconds;
            }
            if let Some(reaped_ticks) = reaped_children_ticks(pid) {
                live += reaped_ticks as f64 / ticks;
            }
        }
        attempts += 1;
        if reaped_children_seconds()? == reaped || attempts == MAX_TREE_READS {
            return Some(read_clock(libc::CLOCK_PROCESS_CPUTIME_ID)? + reaped + live);
        }
    }
}

/// Walks over the tree [`tree_seconds`] makes at most, while children keep being reaped
/// during the walk.
const MAX_TREE_READS: u32 = 8;

/// CPU seconds of the live process `pid` since it started (its process clock); `None` once it
/// has ended.
pub fn process_seconds(pid: u32) -> Option<f64> {
    let mut clock: ClockId = 0;
    // SAFETY: `clock` is valid for writing; a pid that is gone gives an error, not UB.
    let known = unsafe { libc::clock_getcpuclockid(pid as libc::pid_t, &mut clock) } == 0;
    known.then(|| read_clock(clock)).flatten()
}

/// CPU seconds of the children of this process that it has waited for.
pub fn reaped_children_seconds() -> Option<f64> {
    rusage_seconds(libc::RUSAGE_CHILDREN)
}

/// User + system seconds of `who` (`RUSAGE_SELF` or `RUSAGE_CHILDREN`).
fn rusage_seconds(who: libc::c_int) -> Option<f64> {
    // SAFETY: an all-zero rusage is a valid value of the plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is valid for writing.
    (unsafe { libc::getrusage(who, &mut usage) } == 0).then(|| rusage_total(&usage))
}

/// User + system seconds of a `rusage`.
pub fn rusage_total(usage: &libc::rusage) -> f64 {
    let seconds = |time: libc::timeval| time.tv_sec as f64 + time.tv_usec as f64 * 1e-6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// `cutime + cstime` of `/proc/PID/stat`: the time of the children `pid` has reaped, in ticks.
fn reaped_children_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; the fields after its `)` are plain.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // Fields 16 and 17 of the line (cutime, cstime) are the 14th and 15th after the name.
    let cutime: u64 = fields.get(13)?.parse().ok()?;
    let cstime: u64 = fields.get(14)?.parse().ok()?;
    Some(cutime + cstime)
}

fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf has no memory preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as f64 } else { 100.0 }
}

/// The readings at the start of one run, to subtract at its end.
#[derive(Debug)]
pub struct CpuClock {
    tree: Option<f64>,
    excluded: Vec<(ClockId, f64)>,
    harness: Vec<(ClockId, f64)>,
}

/// The CPU of one run, split.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CpuSplit {
    /// Seconds of the case: the whole tree less the excluded threads and the harness.
    pub case: Option<f64>,
    /// Seconds of the excluded threads (the in-process server's); `None` when none were given.
    pub excluded: Option<f64>,
}

impl CpuClock {
    /// Reads every clock: the whole tree, each thread of `excluded`, and the `harness` threads
    /// (the bench's own, such as the memory sampler) whose time is nobody's.
    pub fn start(excluded: Option<&ThreadClocks>, harness: Option<ClockId>) -> CpuClock {
        let read_all = |clocks: Vec<ClockId>| -> Vec<(ClockId, f64)> {
            clocks
                .into_iter()
                .filter_map(|clock| Some((clock, read_clock(clock)?)))
                .collect()
        };
        let excluded = read_all(excluded.map(ThreadClocks::clocks).unwrap_or_default());
        let harness = read_all(harness.into_iter().collect());
        CpuClock {
            tree: tree_seconds(),
            excluded,
            harness,
        }
    }

    /// Reads every clock again and returns the time spent since [`CpuClock::start`].
    pub fn finish(self) -> CpuSplit {
        let tree = tree_seconds();
        let since = |readings: &[(ClockId, f64)]| -> f64 {
            readings
                .iter()
                .filter_map(|&(clock, before)| Some((read_clock(clock)? - before).max(0.0)))
                .sum()
        };
        let excluded = since(&self.excluded);
        let harness = since(&self.harness);
        let case = match (self.tree, tree) {
            (Some(before), Some(after)) => Some((after - before - excluded - harness).max(0.0)),
            _ => None,
        };
        CpuSplit {
            case,
            excluded: (!self.excluded.is_empty()).then_some(excluded),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spin(seconds: f64) {
        let clock = current_thread_clock().unwrap();
        let start = read_clock(clock).unwrap();
        while read_clock(clock).unwrap() - start < seconds {
            std::hint::black_box(0);
        }
    }

    #[test]
    fn a_busy_thread_is_counted_and_an_excluded_one_is_not() {
        let server = ThreadClocks::new();
        let (ready, wait) = std::sync::mpsc::channel();
        let (go, started) = std::sync::mpsc::channel::<()>();
        let (finished, done) = std::sync::mpsc::channel::<()>();
        let (release, end) = std::sync::mpsc::channel::<()>();
        let registered = Arc::clone(&server);
        let thread = std::thread::spawn(move || {
            registered.register_current();
            ready.send(()).unwrap();
            started.recv().unwrap();
            spin(0.05);
            finished.send(()).unwrap();
            end.recv().unwrap();
            registered.unregister_current();
        });
        wait.recv().unwrap();
        let clock = CpuClock::start(Some(&server), None);
        go.send(()).unwrap();
        spin(0.05);
        done.recv().unwrap();
        let split = clock.finish();
        release.send(()).unwrap();
        thread.join().unwrap();
        // Other test threads may run at the same time; only lower bounds are certain.
        assert!(split.excluded.unwrap() >= 0.049, "{split:?}");
        assert!(split.case.unwrap() >= 0.049, "{split:?}");
        assert!(server.clocks().is_empty());
    }

    #[test]
    fn a_child_process_counts_once_whether_alive_or_reaped() {
        let before = tree_seconds().unwrap();
        let status = std::process::Command::new("sh")
            .args(["-c", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done"])
            .status()
            .unwrap();
        assert!(status.success());
        let after = tree_seconds().unwrap();
        assert!(after > before, "{before} -> {after}");
    }
}

//! A dropped run frees what it made: its threads and its worker processes are gone when the
//! drop returns. A test binary of its own, because it counts the whole process's threads and
//! children, which other tests running beside it would change.

use std::time::Duration;

use abreast_fetch::{FetchConfig, Mode, RunOptions, fetch};
use abreast_site::{Latency, Site, SiteConfig};

/// The kernel's name of the thread that reads the input ahead of the async and processes
/// modes' drivers (`abreast-fetch-input`, cut to 15 bytes).
const INPUT_READER: &str = "abreast-fetch-i";

/// The names of this process's threads, from the kernel (a thread that ends while they are
/// read is left out).
fn thread_names() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .map(|name| name.trim_end().to_owned())
        .collect()
}

/// Threads of this process, but the input reader: by design it is not joined (it may be
/// blocked reading the input), and ends by itself once it finds the run's queue closed, which
/// can be a moment after the drop returns. [`input_reader_ends`] checks that it does.
fn threads() -> usize {
    thread_names()
        .iter()
        .filter(|name| *name != INPUT_READER)
        .count()
}

/// Waits for the input reader to end (it is blocked on the closed queue, so it ends at once);
/// false if it is still there after a minute, which only a hang explains.
fn input_reader_ends() -> bool {
    let start = std::time::Instant::now();
    while thread_names().iter().any(|name| name == INPUT_READER) {
        if start.elapsed() > Duration::from_secs(60) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    true
}

/// Child processes of this process that have not been reaped (alive or zombie).
fn children() -> usize {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| std::fs::read_to_string(entry.ok()?.path().join("stat")).ok())
        .filter(|stat| {
            // pid (comm) state ppid ...: the comm may hold spaces, so split after its last ')'.
            stat.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1).map(str::to_owned))
                .is_some_and(|ppid| ppid == me)
        })
        .count()
}

fn config(mode: Mode) -> FetchConfig {
    let mut config = FetchConfig::default();
    config.mode = mode;
    config.concurrency = Some(16);
    config.workers = Some(2);
    config.http.timeout = Duration::from_secs(60);
    config
}

#[test]
fn a_dropped_run_frees_its_threads_and_worker_processes_before_the_drop_returns() {
    // A site that answers slowly, so the run is mid-flight when it is dropped.
    let slow = Site::start_in_background(
        SiteConfig::default()
            .pages(1000)
            .page_size(4096)
            .latency(Latency::Fixed(Duration::from_millis(200))),
    )
    .unwrap();
    // Warm what a first run starts once per process (the crypto provider, say).
    for mode in [Mode::Threads, Mode::Async, Mode::Hybrid, Mode::Processes] {
        let page = vec![format!("{}/page/0", slow.base_url())];
        let run = fetch(&config(mode), page, RunOptions::default()).unwrap();
        assert_eq!(run.count(), 1, "{mode}");
    }
    assert!(input_reader_ends(), "the warm-up's input reader ended");
    let (threads_before, children_before) = (threads(), children());
    // The hybrid mode twice: on a current-thread runtime (one I/O thread) and a multi-thread
    // one (two).
    for (mode, io_threads) in [
        (Mode::Threads, None),
        (Mode::Async, None),
        (Mode::Hybrid, Some(1)),
        (Mode::Hybrid, Some(2)),
        (Mode::Processes, None),
    ] {
        let base = slow.base_url().to_owned();
        let urls = (0..1000).map(move |n| format!("{base}/page/{n}"));
        let mut config = config(mode);
        config.io_threads = io_threads;
        let mut records = fetch(&config, urls, RunOptions::default()).unwrap();
        // The first record means every part of the run is up, with 16 requests in flight.
        assert!(records.next().is_some(), "{mode}");
        assert!(threads() > threads_before, "{mode}: the run has threads");
        drop(records);
        assert_eq!(
            threads(),
            threads_before,
            "{mode}: the run's threads are gone"
        );
        assert_eq!(
            children(),
            children_before,
            "{mode}: the run's worker processes are gone"
        );
        assert!(input_reader_ends(), "{mode}: the run's input reader ended");
    }
}

//! Measures what the process pool costs per task, against the thread pool, in one run.
//!
//! Rows: trivial tasks through `submit` + `join`, through `map` with chunking off
//! (`chunksize(1)`), through `map` with automatic and with fixed chunking, the same through the
//! thread pool, and the time from building a 2-worker pool to its first result. Each row is run
//! `--runs` times; the median and the best are printed. Run it in release mode:
//!
//! ```text
//! cargo run --release -p abreast --example process_overhead -- [--tasks N] [--workers W] [--prefetch P] [--runs R]
//! ```

use std::time::{Duration, Instant};

use abreast::processes::ProcessPool;
use abreast::threads::ThreadPool;

#[abreast::task]
fn trivial(n: u64) -> u64 {
    n.wrapping_mul(2_654_435_761)
}

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse().expect("a number"))
        .unwrap_or(default)
}

/// Runs `body` (which handles `tasks` tasks) `runs` times; prints median and best µs per task.
fn row(name: &str, runs: u64, tasks: u64, mut body: impl FnMut()) {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let started = Instant::now();
            body();
            started.elapsed()
        })
        .collect();
    times.sort();
    let per_task = |d: Duration| d.as_secs_f64() * 1e6 / tasks as f64;
    println!(
        "{name:<40} {:>10.3} {:>10.3}",
        per_task(times[times.len() / 2]),
        per_task(times[0])
    );
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    abreast::processes::init();
    let tasks = arg("--tasks", 100_000);
    let workers = arg("--workers", 2) as usize;
    let prefetch = arg("--prefetch", 32) as usize;
    let runs = arg("--runs", 5).max(1);
    println!(
        "{tasks} trivial tasks per run, {workers} workers, prefetch {prefetch}, {runs} runs; µs per task"
    );
    println!("{:<40} {:>10} {:>10}", "mechanism / call", "median", "best");

    let pool = ProcessPool::builder()
        .workers(workers)
        .prefetch(prefetch)
        .build()?;
    for value in pool.map(trivial, 0..10_000).chunksize(1) {
        value.expect("warm-up");
    }
    row("processes submit+join (chunking off)", runs, tasks, || {
        let handles: Vec<_> = (0..tasks).map(|n| pool.submit(trivial, n)).collect();
        for handle in handles {
            handle.join().expect("trivial task");
        }
    });
    row("processes map chunksize(1)", runs, tasks, || {
        for value in pool.map(trivial, 0..tasks).chunksize(1) {
            value.expect("trivial task");
        }
    });
    row("processes map automatic chunking", runs, tasks * 10, || {
        for value in pool.map(trivial, 0..tasks * 10) {
            value.expect("trivial task");
        }
    });
    row("processes map chunksize(1024)", runs, tasks * 10, || {
        for value in pool.map(trivial, 0..tasks * 10).chunksize(1024) {
            value.expect("trivial task");
        }
    });
    drop(pool);

    let threads = ThreadPool::builder().num_threads(workers).build()?;
    row("threads submit+join", runs, tasks, || {
        let handles: Vec<_> = (0..tasks)
            .map(|n| threads.submit(move || trivial(n)))
            .collect();
        for handle in handles {
            handle.join().expect("trivial task");
        }
    });
    row("threads map", runs, tasks, || {
        for value in threads.map(*trivial, 0..tasks) {
            value.expect("trivial task");
        }
    });
    drop(threads);

    let mut startups: Vec<Duration> = (0..runs.max(5))
        .map(|_| {
            let started = Instant::now();
            let pool = ProcessPool::builder().workers(2).build().expect("pool");
            pool.submit(trivial, 1).join().expect("result");
            let elapsed = started.elapsed();
            drop(pool);
            elapsed
        })
        .collect();
    startups.sort();
    println!(
        "pool creation to first result, 2 workers: median {:.2} ms, best {:.2} ms",
        startups[startups.len() / 2].as_secs_f64() * 1e3,
        startups[0].as_secs_f64() * 1e3,
    );
    Ok(())
}

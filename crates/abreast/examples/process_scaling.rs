//! How a CPU-bound task's throughput grows with workers, on the process pool and the thread pool.
//!
//! Each task hashes a buffer for about a millisecond (no I/O, no allocation in the loop). For
//! 1, 2, 4, … up to `--max-workers` workers (default: the CPUs available), both pools run the same
//! number of tasks per worker; the table shows tasks per second and the speedup over one worker.
//!
//! ```text
//! cargo run --release -p abreast --example process_scaling -- [--max-workers N] [--tasks-per-worker T] [--work W]
//! ```

use std::hint::black_box;
use std::time::Instant;

use abreast::processes::ProcessPool;
use abreast::threads::ThreadPool;

/// FNV-1a over `rounds` passes of a 4 KiB buffer: pure CPU.
#[abreast::task]
fn burn(rounds: u32, seed: u64) -> u64 {
    let buffer: Vec<u8> = (0..4096u32).map(|i| (i as u64 ^ seed) as u8).collect();
    let mut hash = 0xcbf2_9ce4_8422_2325u64 ^ seed;
    for _ in 0..rounds {
        for &byte in &buffer {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
        hash = black_box(hash);
    }
    hash
}

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse().expect("a number"))
        .unwrap_or(default)
}

fn worker_counts(max: usize) -> Vec<usize> {
    let mut counts = vec![1];
    while counts.last().copied().unwrap_or(1) * 2 <= max {
        counts.push(counts.last().copied().unwrap_or(1) * 2);
    }
    if counts.last() != Some(&max) {
        counts.push(max);
    }
    counts
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    abreast::processes::init();
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    let max_workers = arg("--max-workers", cpus as u64).max(1) as usize;
    let per_worker = arg("--tasks-per-worker", 400);
    // Calibrate `rounds` so one task takes about `--work` microseconds (default 1000).
    let target_micros = arg("--work", 1000) as f64;
    let started = Instant::now();
    black_box(burn(100, 1));
    let micros_per_round = started.elapsed().as_secs_f64() * 1e6 / 100.0;
    let rounds = ((target_micros / micros_per_round).round() as u32).max(1);
    println!(
        "CPU-bound task: {rounds} rounds (~{target_micros:.0} µs), {per_worker} tasks per worker, {cpus} CPUs available"
    );
    println!(
        "{:>7} | {:>14} {:>8} | {:>14} {:>8}",
        "workers", "processes t/s", "speedup", "threads t/s", "speedup"
    );
    let mut base = (0.0, 0.0);
    for workers in worker_counts(max_workers) {
        let tasks = per_worker * workers as u64;
        let pool = ProcessPool::builder().workers(workers).build()?;
        // Warm-up: every worker runs a few.
        for value in pool
            .map(burn, (0..workers as u64 * 4).map(|n| (rounds, n)))
            .chunksize(1)
        {
            value?;
        }
        let started = Instant::now();
        for value in pool.map(burn, (0..tasks).map(|n| (rounds, n))) {
            value?;
        }
        let processes = tasks as f64 / started.elapsed().as_secs_f64();
        drop(pool);

        let threads_pool = ThreadPool::builder().num_threads(workers).build()?;
        let started = Instant::now();
        for value in threads_pool.map(move |n| burn(rounds, n), 0..tasks) {
            value?;
        }
        let threads = tasks as f64 / started.elapsed().as_secs_f64();
        drop(threads_pool);

        if workers == 1 {
            base = (processes, threads);
        }
        println!(
            "{workers:>7} | {processes:>14.0} {:>7.2}x | {threads:>14.0} {:>7.2}x",
            processes / base.0,
            threads / base.1
        );
    }
    Ok(())
}

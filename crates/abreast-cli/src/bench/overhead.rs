//! `abreast bench overhead`: the per-task cost of each mechanism on trivial tasks, and the
//! memory each waiting coroutine costs.
//!
//! Every case runs `tasks` trivial tasks through one operation of one mechanism (for example
//! the thread pool's submit-then-join) and divides the wall time by the count. Each case is run
//! once to warm up, then `--runs` times; the table shows the median with the minimum and maximum.

use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use abreast::coroutines;
use abreast::threads::ThreadPool;
use anyhow::Context as _;
use clap::Args;
use futures::StreamExt;
use serde::Serialize;

use super::stats::Summary;

/// Arguments of `abreast bench overhead`.
#[derive(Debug, Args)]
pub struct OverheadArgs {
    /// Tasks per run of each timed case.
    #[arg(long, default_value_t = 200_000, value_parser = clap::value_parser!(u64).range(1..))]
    tasks: u64,
    /// Timed runs of each case, after one warm-up run.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    runs: u64,
    /// Coroutines kept waiting at once for the memory case.
    #[arg(long, default_value_t = 1_000_000)]
    waiting: u64,
    /// Worker threads for the thread pool (0: one per CPU).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Print one JSON object per line instead of a table.
    #[arg(long)]
    json: bool,
}

/// One line of the report.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// `threads`, `async` or `processes`.
    pub mechanism: &'static str,
    /// The operation measured, for example `submit+join`.
    pub op: &'static str,
    /// Tasks per run.
    pub tasks: u64,
    /// Median microseconds per task (time cases only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub us_per_task: Option<f64>,
    /// Fastest run, microseconds per task.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub us_per_task_min: Option<f64>,
    /// Slowest run, microseconds per task.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub us_per_task_max: Option<f64>,
    /// Resident memory per waiting task in bytes (memory cases only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes_per_task: Option<f64>,
    /// Timed runs behind the figure.
    pub runs: u64,
}

/// A timed case: runs `tasks` trivial tasks and returns the wall time.
struct Case {
    mechanism: &'static str,
    op: &'static str,
    run: Box<dyn Fn(u64) -> anyhow::Result<Duration>>,
}

/// Runs the suite and prints the report.
pub fn run(args: &OverheadArgs) -> anyhow::Result<ExitCode> {
    let mut rows = Vec::new();
    // Memory first, while the heap is fresh: freed memory from the timed cases would hide growth.
    for (op, measure) in [
        (
            "sleeping",
            waiting_memory_sleep as fn(u64) -> anyhow::Result<f64>,
        ),
        ("spawned+sleeping", waiting_memory_spawned),
    ] {
        let bytes = measure(args.waiting)?;
        rows.push(Row {
            mechanism: "async",
            op,
            tasks: args.waiting,
            us_per_task: None,
            us_per_task_min: None,
            us_per_task_max: None,
            bytes_per_task: Some(bytes),
            runs: 1,
        });
        report_progress(args, rows.last().expect("just pushed"));
    }
    for case in cases(args.threads)? {
        let row = time_case(&case, args.tasks, args.runs)?;
        report_progress(args, &row);
        rows.push(row);
    }
    if args.json {
        for row in &rows {
            println!("{}", serde_json::to_string(row)?);
        }
    } else {
        print!("{}", render_table(&rows));
    }
    Ok(ExitCode::SUCCESS)
}

fn report_progress(args: &OverheadArgs, row: &Row) {
    if !args.json {
        eprintln!("measured {} {}", row.mechanism, row.op);
    }
}

fn cases(threads: usize) -> anyhow::Result<Vec<Case>> {
    let pool = std::rc::Rc::new(
        ThreadPool::builder()
            .num_threads(threads)
            .build()
            .context("could not start the thread pool")?,
    );
    let submit_pool = std::rc::Rc::clone(&pool);
    let map_pool = pool;
    Ok(vec![
        Case {
            mechanism: "threads",
            op: "submit+join",
            run: Box::new(move |tasks| {
                let start = Instant::now();
                let handles: Vec<_> = (0..tasks)
                    .map(|n| submit_pool.submit(move || std::hint::black_box(n)))
                    .collect();
                for handle in handles {
                    handle.join()?;
                }
                Ok(start.elapsed())
            }),
        },
        Case {
            mechanism: "threads",
            op: "map",
            run: Box::new(move |tasks| {
                let start = Instant::now();
                for outcome in map_pool.map(std::hint::black_box::<u64>, 0..tasks) {
                    outcome?;
                }
                Ok(start.elapsed())
            }),
        },
        Case {
            mechanism: "async",
            op: "spawn+join",
            run: Box::new(|tasks| {
                coroutines::run(async move {
                    let start = Instant::now();
                    let handles: Vec<_> = (0..tasks)
                        .map(|n| tokio::spawn(async move { std::hint::black_box(n) }))
                        .collect();
                    for handle in handles {
                        handle.await?;
                    }
                    Ok(start.elapsed())
                })?
            }),
        },
        Case {
            mechanism: "async",
            op: "gather_bounded",
            run: Box::new(|tasks| {
                coroutines::run(async move {
                    let start = Instant::now();
                    let outputs = coroutines::gather_bounded(
                        1024,
                        (0..tasks).map(|n| async move { std::hint::black_box(n) }),
                    )
                    .await;
                    anyhow::ensure!(outputs.len() as u64 == tasks, "gather_bounded lost tasks");
                    Ok(start.elapsed())
                })?
            }),
        },
    ])
}

fn time_case(case: &Case, tasks: u64, runs: u64) -> anyhow::Result<Row> {
    (case.run)(tasks)
        .with_context(|| format!("warm-up of {} {} failed", case.mechanism, case.op))?;
    let mut samples = Vec::new();
    for _ in 0..runs {
        let elapsed =
            (case.run)(tasks).with_context(|| format!("{} {} failed", case.mechanism, case.op))?;
        samples.push(elapsed.as_secs_f64() * 1e6 / tasks as f64);
    }
    let summary = Summary::of(&samples).expect("runs >= 1");
    Ok(Row {
        mechanism: case.mechanism,
        op: case.op,
        tasks,
        us_per_task: Some(summary.median),
        us_per_task_min: Some(summary.min),
        us_per_task_max: Some(summary.max),
        bytes_per_task: None,
        runs,
    })
}

/// Resident set size of this process in bytes, from /proc/self/statm.
fn resident_bytes() -> anyhow::Result<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm")
        .context("could not read /proc/self/statm to measure memory (Linux only)")?;
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .context("/proc/self/statm has no resident field")?
        .parse()
        .context("/proc/self/statm's resident field is not a number")?;
    // SAFETY: sysconf has no preconditions.
    let page_size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Ok(pages * u64::try_from(page_size).unwrap_or(4096))
}

/// Bytes per coroutine for `count` futures awaiting a long sleep at once, driven by one
/// `gather`-style set in the current task: asyncio's `gather(*(sleep(t) for …))`.
fn waiting_memory_sleep(count: u64) -> anyhow::Result<f64> {
    coroutines::run(async move {
        let before = resident_bytes()?;
        let mut waiting: futures::stream::FuturesUnordered<_> = (0..count)
            .map(|_| async { tokio::time::sleep(Duration::from_secs(3600)).await })
            .collect();
        // Poll every future once so each is really waiting on its timer.
        let still_waiting = futures::poll!(waiting.next()).is_pending();
        anyhow::ensure!(still_waiting, "a sleeping coroutine finished early");
        let after = resident_bytes()?;
        drop(waiting);
        Ok(after.saturating_sub(before) as f64 / count as f64)
    })?
}

/// Bytes per coroutine for `count` spawned tokio tasks awaiting a long sleep at once:
/// asyncio's `create_task(sleep(t))`.
fn waiting_memory_spawned(count: u64) -> anyhow::Result<f64> {
    coroutines::run(async move {
        let before = resident_bytes()?;
        let tasks: Vec<_> = (0..count)
            .map(|_| tokio::spawn(tokio::time::sleep(Duration::from_secs(3600))))
            .collect();
        // Let every task run to its first await.
        tokio::task::yield_now().await;
        let after = resident_bytes()?;
        for task in &tasks {
            task.abort();
        }
        Ok(after.saturating_sub(before) as f64 / count as f64)
    })?
}

/// The report as an aligned text table.
fn render_table(rows: &[Row]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<10} {:<18} {:>9} {:>24}",
        "mechanism", "op", "tasks", "per task (median [min, max])"
    );
    for row in rows {
        let figure = match (row.us_per_task, row.bytes_per_task) {
            (Some(median), _) => format!(
                "{median:.3} µs [{:.3}, {:.3}]",
                row.us_per_task_min.unwrap_or(median),
                row.us_per_task_max.unwrap_or(median)
            ),
            (None, Some(bytes)) => format!("{bytes:.0} bytes"),
            (None, None) => "-".to_owned(),
        };
        let _ = writeln!(
            out,
            "{:<10} {:<18} {:>9} {:>24}",
            row.mechanism, row.op, row.tasks, figure
        );
    }
    out
}

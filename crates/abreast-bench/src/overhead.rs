//! The `overhead` suite: the per-task cost of each mechanism on trivial tasks, and the memory
//! each waiting coroutine costs.
//!
//! Every timed case pushes `--tasks` trivial tasks through one operation of one mechanism (the
//! thread pool's submit-then-join, its map; a tokio spawn-then-join; `gather_bounded`); the
//! per-task figure is the wall time divided by the count. The memory cases keep `--waiting`
//! coroutines asleep at once and divide the growth of the resident set by their number.

use std::time::Duration;

use abreast::coroutines;
use abreast::processes::ProcessPool;
use abreast::threads::ThreadPool;
use anyhow::Context as _;
use futures::StreamExt;

use crate::memory::resident_bytes;
use crate::report::{Implementation, Mechanism, Row, SuiteReport};
use crate::{Sizes, Timing};

/// How the memory rows' variants begin; `bytes_per_task` reads their figure back.
const WAITING: &str = "waiting";

/// Runs the suite.
pub fn suite(bench: &Timing<'_>, sizes: &Sizes) -> anyhow::Result<SuiteReport> {
    let tasks = sizes.tasks;
    let mut rows = Vec::new();
    // Memory first, while the heap is fresh: memory freed by timed cases would hide growth.
    bench.progress.case("waiting coroutines");
    for (variant, measure) in [
        (
            "gathered",
            waiting_memory_gathered as fn(u64) -> anyhow::Result<u64>,
        ),
        ("spawned", waiting_memory_spawned),
    ] {
        let grown = measure(sizes.waiting)?;
        let per = grown as f64 / sizes.waiting as f64;
        rows.push(Row {
            mechanism: Mechanism::Async,
            implementation: Implementation::Rust,
            variant: Some(format!("{WAITING} ({variant})")),
            workers: 1,
            tasks: sizes.waiting,
            wall: None,
            throughput: None,
            cpu: None,
            server_cpu: None,
            peak_memory_bytes: Some(grown),
            note: Some(format!("{per:.0} bytes per waiting coroutine")),
            lower_bound: false,
        });
    }
    bench.progress.case_done();
    let pool = ThreadPool::builder()
        .num_threads(sizes.threads)
        .build()
        .context("could not start the thread pool")?;
    let workers = pool.num_threads();
    rows.push(
        bench
            .row(
                Mechanism::Threads,
                workers,
                tasks,
                "threads submit+join",
                || {
                    let handles: Vec<_> = (0..tasks)
                        .map(|n| pool.submit(move || std::hint::black_box(n)))
                        .collect();
                    for handle in handles {
                        handle.join()?;
                    }
                    Ok(())
                },
            )?
            .with_variant("submit+join"),
    );
    rows.push(
        bench
            .row(Mechanism::Threads, workers, tasks, "threads map", || {
                for outcome in pool.map(std::hint::black_box::<u64>, 0..tasks) {
                    outcome?;
                }
                Ok(())
            })?
            .with_variant("map"),
    );
    rows.push(
        bench
            .row(Mechanism::Async, 1, tasks, "async spawn+join", || {
                coroutines::run(async {
                    let handles: Vec<_> = (0..tasks)
                        .map(|n| tokio::spawn(async move { std::hint::black_box(n) }))
                        .collect();
                    for handle in handles {
                        handle.await?;
                    }
                    Ok(())
                })?
            })?
            .with_variant("spawn+join"),
    );
    rows.push(
        bench
            .row(Mechanism::Async, 1, tasks, "async gather_bounded", || {
                let outputs = coroutines::run(coroutines::gather_bounded(
                    1024,
                    (0..tasks).map(|n| async move { std::hint::black_box(n) }),
                ))?;
                anyhow::ensure!(outputs.len() as u64 == tasks, "gather_bounded lost tasks");
                Ok(())
            })?
            .with_variant("gather_bounded"),
    );
    rows.extend(process_rows(bench, sizes)?);
    Ok(SuiteReport {
        name: "overhead".into(),
        description: format!(
            "{tasks} trivial tasks through each mechanism's operations; {} coroutines asleep at once",
            sizes.waiting
        ),
        unit: "tasks".into(),
        rows,
    })
}

/// The process pool's rows: submit+join and map with chunking off, map with automatic chunks,
/// and the time from creating a pool of two workers to its first result.
fn process_rows(bench: &Timing<'_>, sizes: &Sizes) -> anyhow::Result<Vec<Row>> {
    let tasks = sizes.tasks;
    let workers = sizes.cpu_workers();
    let pool = ProcessPool::builder()
        .workers(workers)
        .build()
        .context("could not start the process pool")?;
    let echo = crate::tasks::echo;
    let rows = vec![
        bench
            .row(
                Mechanism::Processes,
                workers,
                tasks,
                "processes submit+join",
                || {
                    let handles: Vec<_> = (0..tasks).map(|n| pool.submit(echo, n)).collect();
                    for handle in handles {
                        handle.join()?;
                    }
                    Ok(())
                },
            )?
            .with_variant("submit+join"),
        bench
            .row(
                Mechanism::Processes,
                workers,
                tasks,
                "processes map",
                || {
                    for outcome in pool.map(echo, 0..tasks).chunksize(1) {
                        outcome?;
                    }
                    Ok(())
                },
            )?
            .with_variant("map chunksize=1"),
        bench
            .row(
                Mechanism::Processes,
                workers,
                tasks,
                "processes map chunked",
                || {
                    for outcome in pool.map(echo, 0..tasks) {
                        outcome?;
                    }
                    Ok(())
                },
            )?
            .with_variant("map (auto chunks)"),
    ];
    Ok(rows)
}

/// The `startup` suite: from creating each mechanism's executor to its first result (a thread
/// pool, a tokio runtime, a process pool of two workers).
pub fn startup(bench: &Timing<'_>) -> anyhow::Result<SuiteReport> {
    let workers = 2;
    let rows = vec![
        bench.row(Mechanism::Threads, workers, 1, "threads start", || {
            let pool = ThreadPool::builder().num_threads(workers).build()?;
            pool.submit(|| std::hint::black_box(1)).join()?;
            // Not timed: shutting down is not part of the way to a first result.
            std::thread::spawn(move || drop(pool));
            Ok(())
        })?,
        bench.row(Mechanism::Async, 1, 1, "async start", || {
            coroutines::run(async { tokio::spawn(async { std::hint::black_box(1) }).await })??;
            Ok(())
        })?,
        bench.row(Mechanism::Processes, workers, 1, "processes start", || {
            let pool = ProcessPool::builder()
                .workers(workers)
                .build()
                .context("could not start the process pool")?;
            pool.submit(crate::tasks::echo, 1).join()?;
            std::thread::spawn(move || drop(pool));
            Ok(())
        })?,
    ];
    Ok(SuiteReport {
        name: "startup".into(),
        description: "from creating a pool (or runtime) of two workers to its first result".into(),
        unit: "starts".into(),
        rows,
    })
}

/// Bytes per waiting coroutine, for the memory rows of this suite.
pub fn bytes_per_task(row: &Row) -> Option<f64> {
    let is_memory = row.variant.as_deref()?.starts_with(WAITING);
    if !is_memory || row.tasks == 0 {
        return None;
    }
    Some(row.peak_memory_bytes? as f64 / row.tasks as f64)
}

/// Resident growth for `count` futures asleep at once inside one task, as
/// `asyncio.gather(*(asyncio.sleep(t) for …))` keeps them.
fn waiting_memory_gathered(count: u64) -> anyhow::Result<u64> {
    coroutines::run(async move {
        let before = resident_bytes().context("could not read this process's memory")?;
        let mut waiting: futures::stream::FuturesUnordered<_> = (0..count)
            .map(|_| async { tokio::time::sleep(Duration::from_secs(3600)).await })
            .collect();
        // Poll every future once, so each is really waiting on its timer.
        anyhow::ensure!(
            futures::poll!(waiting.next()).is_pending(),
            "a sleeping coroutine finished early"
        );
        let after = resident_bytes().context("could not read this process's memory")?;
        drop(waiting);
        Ok(after.saturating_sub(before))
    })?
}

/// Resident growth for `count` spawned tokio tasks asleep at once: `asyncio.create_task`.
fn waiting_memory_spawned(count: u64) -> anyhow::Result<u64> {
    coroutines::run(async move {
        let before = resident_bytes().context("could not read this process's memory")?;
        let tasks: Vec<_> = (0..count)
            .map(|_| tokio::spawn(tokio::time::sleep(Duration::from_secs(3600))))
            .collect();
        // Let every task run to its first await.
        tokio::task::yield_now().await;
        let after = resident_bytes().context("could not read this process's memory")?;
        for task in &tasks {
            task.abort();
        }
        Ok(after.saturating_sub(before))
    })?
}

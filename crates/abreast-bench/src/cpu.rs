//! The `cpu` suites: CPU-bound work, where parallel workers win and coroutines cannot help.
//!
//! `cpu` extracts the metadata of [`Sizes::cpu_pages`] test-site pages held in memory;
//! `cpu-compute` runs the explainer's pure compute task, `sum(i * i for i in range(n))`, for
//! [`Sizes::compute_tasks`] numbers (four per worker by default, each of about 20 ms, so that
//! scaling shows and starting threads is noise). Each runs sequentially (the baseline), on the
//! thread pool, on the process pool, and as coroutines on one thread; with the Python rows, the
//! explainer's loop and `multiprocessing.Pool.map` versions run on the same input (for
//! cpu-compute, one task per worker, as Python takes about a second for each: rows compare per
//! task).

use std::sync::Arc;
use std::time::Duration;

use abreast::coroutines;
use abreast::processes::ProcessPool;
use abreast::threads::ThreadPool;
use abreast_site::SiteConfig;
use anyhow::Context as _;

use crate::python::{self, Program, PythonCase};
use crate::report::{Mechanism, SuiteReport};
use crate::{Sizes, Timing};

/// The explainer's compute task: the sum of the squares below `number` (wrapping, as the
/// figure itself does not matter; `black_box` keeps the compiler from a closed form).
///
/// Never inlined, nor is [`count_metas`]: every row then runs one copy of the machine code.
/// Inlined, each row had its own, placed apart, and the loop is small enough that where it sits
/// matters: a copy crossing a 64-byte boundary took twice as long a task on the 2-core machine
/// (AMD Zen 4) as one that did not, which made the process pool's worker, whose copy happened
/// not to cross, look 3.2× faster than the sequential row on 2 CPUs.
#[inline(never)]
pub fn sum_of_squares(number: u64) -> u64 {
    (0..number).fold(0u64, |sum, i| {
        let i = std::hint::black_box(i);
        sum.wrapping_add(i.wrapping_mul(i))
    })
}

/// Metas found on one page: the extraction the cpu suite times.
#[inline(never)]
pub fn count_metas(page: &[u8]) -> usize {
    abreast_meta::extract(page, Some("text/html; charset=utf-8"))
        .meta
        .len()
}

/// Runs both cpu suites.
pub fn suites(bench: &Timing<'_>, sizes: &Sizes) -> anyhow::Result<Vec<SuiteReport>> {
    let workers = sizes.cpu_workers();
    let pool = ThreadPool::builder()
        .num_threads(workers)
        .build()
        .context("could not start the thread pool")?;
    let processes = ProcessPool::builder()
        .workers(workers)
        .build()
        .context("could not start the process pool")?;
    Ok(vec![
        extraction(bench, sizes, &pool, &processes)?,
        compute(bench, sizes, &pool, &processes)?,
    ])
}

fn extraction(
    bench: &Timing<'_>,
    sizes: &Sizes,
    pool: &ThreadPool,
    processes: &ProcessPool,
) -> anyhow::Result<SuiteReport> {
    let count = sizes.cpu_pages;
    let config = SiteConfig::default()
        .pages(count)
        .page_size(usize::try_from(sizes.page_size)?);
    let pages: Arc<Vec<Vec<u8>>> = Arc::new(
        (0..count)
            .map(|n| abreast_site::page_html(&config, "http://127.0.0.1:8080", n))
            .collect::<Result<_, _>>()
            .context("could not build the test pages")?,
    );
    let expected: usize = pages.iter().map(|page| count_metas(page)).sum();
    let check = |found: usize| {
        anyhow::ensure!(
            found == expected,
            "found {found} metas, expected {expected}"
        );
        Ok(())
    };
    let workers = pool.num_threads();
    let mut rows = vec![
        bench.row(Mechanism::Sequential, 1, count, "cpu sequential", || {
            check(pages.iter().map(|page| count_metas(page)).sum())
        })?,
        bench.row(Mechanism::Threads, workers, count, "cpu threads", || {
            let shared = Arc::clone(&pages);
            let found = pool
                .map(
                    move |index: usize| count_metas(&shared[index]),
                    0..pages.len(),
                )
                .sum::<Result<usize, _>>()?;
            check(found)
        })?,
        bench.row(
            Mechanism::Processes,
            workers,
            count,
            "cpu processes",
            || {
                // Each page travels to a worker and its count comes back, as with Pool.map.
                let found = processes
                    .map(
                        crate::tasks::count_metas_task,
                        pages.iter().cloned().map(serde_bytes::ByteBuf::from),
                    )
                    .sum::<Result<usize, _>>()?;
                check(found)
            },
        )?,
        bench.row(Mechanism::Async, 1, count, "cpu async", || {
            let counts = coroutines::run(coroutines::gather_bounded(
                256,
                pages.iter().map(|page| async move { count_metas(page) }),
            ))?;
            check(counts.into_iter().sum())
        })?,
    ];
    if bench.python_rows() {
        let dir = tempfile::tempdir().context("could not make a temporary folder")?;
        for (index, page) in pages.iter().enumerate() {
            std::fs::write(dir.path().join(format!("{index:07}.html")), page)
                .context("could not write the test pages for Python")?;
        }
        for (mode, mechanism, python_workers) in [
            ("loop", Mechanism::Sequential, 1),
            ("pool", Mechanism::Processes, workers),
        ] {
            let case = PythonCase {
                program: Program::CpuRegex,
                args: python::args([
                    dir.path().as_os_str().to_owned(),
                    "--mode".into(),
                    mode.into(),
                    "--workers".into(),
                    python_workers.to_string().into(),
                ]),
                mechanism,
                variant: Some("regex".into()),
                workers: python_workers,
                tasks: count,
            };
            rows.extend(bench.python_row(&case, Duration::from_secs(600)));
        }
        // What Python users reach for to read structured data: JSON-LD and OpenGraph with
        // extruct, on one core, where it is installed (the row says how to install it if not).
        let case = PythonCase {
            program: Program::CpuExtruct,
            args: python::args([dir.path().as_os_str().to_owned()]),
            mechanism: Mechanism::Sequential,
            variant: Some("extruct".into()),
            workers: 1,
            tasks: count,
        };
        rows.extend(bench.python_row(&case, Duration::from_secs(600)));
    }
    Ok(SuiteReport {
        name: "cpu".into(),
        description: format!(
            "metadata of {count} pages of {} KiB held in memory (Python: the explainer's regex)",
            sizes.page_size / 1024
        ),
        unit: "pages".into(),
        rows,
    })
}

fn compute(
    bench: &Timing<'_>,
    sizes: &Sizes,
    pool: &ThreadPool,
    processes: &ProcessPool,
) -> anyhow::Result<SuiteReport> {
    let tasks = sizes.compute_tasks();
    let numbers: Vec<u64> = (0..tasks).map(|x| sizes.square_size + x).collect();
    let expected = numbers
        .iter()
        .fold(0u64, |sum, &n| sum.wrapping_add(sum_of_squares(n)));
    let check = |total: u64| {
        anyhow::ensure!(
            total == expected,
            "wrong total {total}, expected {expected}"
        );
        Ok(())
    };
    let workers = pool.num_threads();
    let mut rows = vec![
        bench.row(
            Mechanism::Sequential,
            1,
            tasks,
            "squares sequential",
            || {
                check(
                    numbers
                        .iter()
                        .fold(0, |sum, &n| sum.wrapping_add(sum_of_squares(n))),
                )
            },
        )?,
        bench.row(
            Mechanism::Threads,
            workers,
            tasks,
            "squares threads",
            || {
                let mut total = 0u64;
                for sum in pool.map(sum_of_squares, numbers.clone()).chunksize(1) {
                    total = total.wrapping_add(sum?);
                }
                check(total)
            },
        )?,
        bench.row(
            Mechanism::Processes,
            workers,
            tasks,
            "squares processes",
            || {
                let mut total = 0u64;
                let sums = processes
                    .map(crate::tasks::sum_of_squares_task, numbers.clone())
                    .chunksize(1);
                for sum in sums {
                    total = total.wrapping_add(sum?);
                }
                check(total)
            },
        )?,
        bench.row(Mechanism::Async, 1, tasks, "squares async", || {
            let sums = coroutines::run(coroutines::gather(
                numbers.iter().map(|&n| async move { sum_of_squares(n) }),
            ))?;
            check(sums.into_iter().fold(0, u64::wrapping_add))
        })?,
    ];
    if bench.python_rows() {
        // One task per worker: each takes Python about a second.
        let python_tasks = (workers as u64).min(tasks);
        for (mode, mechanism, python_workers) in [
            ("loop", Mechanism::Sequential, 1),
            ("pool", Mechanism::Processes, workers),
        ] {
            let case = PythonCase {
                program: Program::CpuSquares,
                args: python::args([
                    "--tasks".to_owned(),
                    python_tasks.to_string(),
                    "--size".into(),
                    sizes.square_size.to_string(),
                    "--mode".into(),
                    mode.into(),
                    "--workers".into(),
                    python_workers.to_string(),
                ]),
                mechanism,
                variant: None,
                workers: python_workers,
                tasks: python_tasks,
            };
            rows.extend(bench.python_row(&case, Duration::from_secs(600)));
        }
    }
    Ok(SuiteReport {
        name: "cpu-compute".into(),
        description: format!(
            "the sum of the squares below n, for {tasks} numbers from {}: pure compute",
            sizes.square_size
        ),
        unit: "tasks".into(),
        rows,
    })
}

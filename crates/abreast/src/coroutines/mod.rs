//! Coroutines: many tasks interleaved on an event loop, with asyncio's conveniences, on tokio.
//!
//! tokio is the engine; this module gives it the shapes Python users know:
//!
//! | asyncio | abreast |
//! |---|---|
//! | `asyncio.run(main())` | [`run`] (current-thread, like asyncio) or [`run_multi_thread`] |
//! | `asyncio.gather(*aws)` | [`gather`]: results in order |
//! | (no equivalent; a semaphore by hand) | [`gather_bounded`]: at most `limit` in flight, input pulled lazily |
//! | `asyncio.as_completed(aws)` | [`as_completed`]: a stream of results as they finish, bounded |
//! | `asyncio.TaskGroup` | [`TaskGroup`]: first failure cancels the siblings, all errors come back |
//! | `asyncio.wait_for(aw, t)` | [`timeout`]: the future is dropped, really stopped, at the deadline |
//! | `loop.run_in_executor(pool, f)` | [`run_blocking`] on a [`ThreadPool`] |
//!
//! [`gather`], [`gather_bounded`] and [`as_completed`] run their futures concurrently inside
//! the task that awaits them (no `spawn`), so the futures may borrow and need not be `Send` or
//! `'static`; they interleave on one thread, as asyncio's do. [`TaskGroup`] spawns real tokio
//! tasks, which run in parallel on a multi-thread runtime.

mod group;

use std::future::Future;
use std::time::Duration;

use futures::stream::{self, Stream, StreamExt};

pub use group::{GroupError, TaskGroup};

use crate::error::{TaskError, TaskId};
use crate::threads::ThreadPool;

/// Runs `future` to completion on a new current-thread runtime (timers and I/O enabled): the
/// shape of `asyncio.run`. Fails only if the runtime cannot be created.
///
/// ```
/// let answer = abreast::coroutines::run(async { 6 * 7 })?;
/// assert_eq!(answer, 42);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn run<F: Future>(future: F) -> std::io::Result<F::Output> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    Ok(runtime.block_on(future))
}

/// Runs `future` to completion on a new multi-thread runtime with `workers` threads (0: one per
/// CPU), so tasks spawned in it (for example by a [`TaskGroup`]) run in parallel.
pub fn run_multi_thread<F: Future>(workers: usize, future: F) -> std::io::Result<F::Output> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    if workers > 0 {
        builder.worker_threads(workers);
    }
    Ok(builder.build()?.block_on(future))
}

/// Awaits all `futures` concurrently and returns their outputs in input order, like
/// `asyncio.gather`. Every future is created up front; for many, prefer [`gather_bounded`].
///
/// ```
/// use abreast::coroutines::{gather, run};
/// let doubled = run(gather((1..=3).map(|n| async move { n * 2 })))?;
/// assert_eq!(doubled, [2, 4, 6]);
/// # Ok::<(), std::io::Error>(())
/// ```
pub async fn gather<I>(futures: I) -> Vec<<I::Item as Future>::Output>
where
    I: IntoIterator,
    I::Item: Future,
{
    futures::future::join_all(futures).await
}

/// Awaits the futures of `futures` with at most `limit` in flight at once, pulling the iterator
/// lazily, and returns their outputs in input order. asyncio has no such limit: its users meet
/// "too many open files" instead. A `limit` of 0 is taken as 1.
///
/// ```
/// use abreast::coroutines::{gather_bounded, run};
/// let squares = run(gather_bounded(100, (0..10_000u64).map(|n| async move { n * n })))?;
/// assert_eq!(squares[9_999], 99_980_001);
/// # Ok::<(), std::io::Error>(())
/// ```
pub async fn gather_bounded<I>(limit: usize, futures: I) -> Vec<<I::Item as Future>::Output>
where
    I: IntoIterator,
    I::Item: Future,
{
    stream::iter(futures).buffered(limit.max(1)).collect().await
}

/// Yields the outputs of `futures` as they finish, with at most `limit` in flight, pulling the
/// iterator lazily: `asyncio.as_completed` with a bound. A `limit` of 0 is taken as 1.
///
/// ```
/// use abreast::coroutines::{as_completed, run};
/// use futures::StreamExt;
/// let mut total = 0;
/// run(async {
///     let mut results = std::pin::pin!(as_completed(8, (1..=4).map(|n| async move { n })));
///     while let Some(n) = results.next().await {
///         total += n;
///     }
/// })?;
/// assert_eq!(total, 10);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn as_completed<I>(limit: usize, futures: I) -> impl Stream<Item = <I::Item as Future>::Output>
where
    I: IntoIterator,
    I::Item: Future,
{
    stream::iter(futures).buffer_unordered(limit.max(1))
}

/// Awaits `future` for at most `after`; past that it is dropped, so the work it was doing stops
/// at its next await point, and [`TaskError::TimedOut`] is returned (naming task #0; a
/// [`TaskGroup`] names its own tasks).
///
/// ```
/// use std::time::Duration;
/// use abreast::coroutines::{run, timeout};
/// let outcome = run(timeout(Duration::from_millis(10), std::future::pending::<()>()))?;
/// assert!(outcome.unwrap_err().is_timeout());
/// # Ok::<(), std::io::Error>(())
/// ```
pub async fn timeout<F: Future>(after: Duration, future: F) -> Result<F::Output, TaskError> {
    tokio::time::timeout(after, future)
        .await
        .map_err(|_| TaskError::TimedOut {
            task: TaskId::new(0),
            after,
        })
}

/// Runs the blocking or CPU-heavy `task` on `pool` and awaits its result without blocking the
/// runtime: Python's `loop.run_in_executor`. Waiting for room in a full queue does not block
/// the runtime either.
///
/// ```
/// use abreast::{coroutines, threads::ThreadPool};
/// let pool = ThreadPool::builder().num_threads(2).build()?;
/// let digest = coroutines::run(coroutines::run_blocking(&pool, || {
///     (0..1_000_000u64).fold(0u64, |acc, n| acc.wrapping_mul(31).wrapping_add(n))
/// }))??;
/// assert_ne!(digest, 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub async fn run_blocking<F, T>(pool: &ThreadPool, task: F) -> Result<T, TaskError>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    pool.submit_async(task).await.await
}

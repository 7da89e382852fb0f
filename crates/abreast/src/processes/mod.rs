//! A pool of worker processes: Python's `multiprocessing.Pool` and `ProcessPoolExecutor`, and a
//! worker crash never breaks it.
//!
//! A worker is this same executable started again (a fresh `exec` of `/proc/self/exe`, never a
//! bare `fork` of a threaded parent). It runs functions registered with
//! [`#[abreast::task]`](crate::task) on postcard-encoded arguments and sends the results back
//! over a Unix socket of its own, so task code may print to stdout and stderr freely.
//!
//! ```
//! use abreast::processes::ProcessPool;
//!
//! #[abreast::task]
//! fn word_count(text: String) -> usize {
//!     text.split_whitespace().count()
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // In a real program, call abreast::processes::init() first in main (the default
//! // `auto-init` feature does it before main; test binaries need nothing).
//! let pool = ProcessPool::builder().workers(2).build()?;
//! assert_eq!(pool.submit(word_count, "side by side".into()).join()?, 3);
//! assert_eq!(word_count("still a plain function".into()), 4);
//! let counts: Vec<usize> = pool
//!     .map(word_count, ["a b", "c", ""].map(String::from))
//!     .collect::<Result<_, _>>()?;
//! assert_eq!(counts, [2, 1, 0]);
//! # Ok(())
//! # }
//! ```
//!
//! # Tasks and workers
//!
//! `#[abreast::task]` on `fn name(a: A, b: B) -> R` keeps the function and makes `name` also a
//! unit struct that implements [`Task`] (argument `(A, B)`, a single argument as itself, none as
//! `()`; output `R`) and dereferences to the function, so `name(a, b)` still calls it directly
//! and `pool.submit(name, (a, b))` type-checks. The task is registered under
//! `module::path::name` in a link-time table; parent and worker look it up there by name.
//!
//! A worker is started as `/proc/self/exe --abreast-worker` with its socket named in the
//! environment. [`init()`] recognises that and serves tasks; with the default `auto-init`
//! feature it runs before `main` (through a constructor), so binaries and test harnesses need
//! nothing. At start the worker sends a hash of its task table (names and types), which the pool
//! compares with its own: a worker of another build is refused with a clear error (exec'ing
//! `/proc/self/exe` already makes it the same file, even if the program was rebuilt meanwhile).
//!
//! # From Python
//!
//! | Python | abreast |
//! |---|---|
//! | `if __name__ == "__main__":` guard | [`init()`] first in `main` (automatic with `auto-init`) |
//! | a picklable top-level function | a function marked `#[abreast::task]`, with serde types |
//! | `Pool(processes, initializer, initargs, maxtasksperchild)` | [`ProcessPool::builder`]: [`workers`](ProcessPoolBuilder::workers), [`initializer`](ProcessPoolBuilder::initializer), [`max_tasks_per_worker`](ProcessPoolBuilder::max_tasks_per_worker) |
//! | `executor.submit(f, x)` → `Future` | [`ProcessPool::submit`] → [`TaskHandle`](crate::TaskHandle) (`join`, `join_timeout`, `cancel`, `.await`) |
//! | `pool.imap(f, xs, chunksize)` | [`ProcessPool::map`] (lazy, ordered, bounded window, [`chunksize`](Map::chunksize) or automatic) |
//! | `pool.imap_unordered(f, xs)` | [`ProcessPool::map_unordered`] |
//! | `concurrent.futures.as_completed(fs)` | [`crate::as_completed`] |
//! | an exception raised in the worker, re-raised by `.result()` | `#[abreast::task(fallible)]`: an `Err` becomes [`TaskError::Failed`](crate::TaskError::Failed) |
//! | `loop.run_in_executor(executor, f, x)` | [`ProcessPool::submit_async`], then `.await` the handle |
//! | `pool.close(); pool.join()` / `pool.terminate()` | [`ProcessPool::shutdown`] / [`ProcessPool::shutdown_now`]; `Drop` shuts down |
//! | `KeyboardInterrupt` in every worker | workers ignore SIGINT (and SIGTERM: a group's SIGTERM is the parent's to act on); [`CtrlC`]: first press drains, second kills and exits 130 |
//!
//! # Failure semantics
//!
//! Each fault fails only the task that caused it, with a [`TaskError`](crate::TaskError) that says
//! what happened; the worker is replaced (counted in
//! [`PoolStats::workers_replaced`](crate::PoolStats::workers_replaced)) and every other task
//! completes. Nothing hangs.
//!
//! | the task… | its error | the worker |
//! |---|---|---|
//! | panics | `Panicked { message, location }` | keeps running |
//! | aborts, segfaults, calls `process::exit`, is SIGKILLed or OOM-killed | `WorkerLost { pid, exit: Code(n) or Signal(n) }` | replaced |
//! | allocates past [`memory_limit`](ProcessPoolBuilder::memory_limit) | `WorkerLost { exit: Signal(6) }` (the allocation aborts) | replaced |
//! | runs past [`task_timeout`](ProcessPoolBuilder::task_timeout) | `TimedOut { after }` | killed, replaced |
//! | is cancelled while it runs | `Cancelled` | killed, replaced |
//! | has an argument or result serde cannot (de)serialize | `Codec { stage, type_name }` | keeps running |
//! | returns `Err(e)` (a `#[abreast::task(fallible)]` function) | `Failed { source }`, a [`RemoteError`] with `e`'s type and message | keeps running |
//!
//! A timeout counts from when the worker starts the task; a chunk of `n` items may take `n`
//! timeouts, and if it runs past that its items run again one by one, so only the slow one
//! times out. A task cancelled after it was sent to a worker but before it started is never
//! run: the worker is stopped when it reaches it.
//!
//! For contrast, `multiprocessing.Pool` waits forever for a task whose worker was killed, and
//! `ProcessPoolExecutor` declares the whole pool broken. Tasks whose worker died can be run again
//! on a new worker with [`retries`](ProcessPoolBuilder::retries) (default 0). A crash inside a
//! chunk of a `map` runs that chunk's items again one by one, so the fault is pinned on its own
//! item; the other items of the chunk may thus run twice.
//!
//! # Throughput
//!
//! Each worker is kept a few frames ahead (up to [`prefetch`](ProcessPoolBuilder::prefetch), about
//! 2 ms of work) so it never waits for the parent between short tasks, and [`ProcessPool::map`]
//! chunks short tasks by itself, since a trivial task's cost is mostly its frame and round trip,
//! shared by every item of a chunk (`cargo run --release -p abreast --example process_overhead`
//! measures both; the figures are in docs/BENCHMARKS.md). For CPU-bound work the pool scales
//! with cores like the thread pool does (`--example process_scaling`).
//!
//! # Lifetimes of processes
//!
//! No orphan and no zombie, ever: every worker that ends is reaped by the pool; `shutdown`,
//! `shutdown_now` and `Drop` end and reap all of them; if the parent dies, its workers get
//! SIGKILL (`PR_SET_PDEATHSIG`) and also exit when their socket closes.
//!
//! # Limits
//!
//! - Unix only, made and tested for Linux (`/proc/self/exe`, `PR_SET_PDEATHSIG`); elsewhere
//!   workers start from `current_exe()` and are not killed with a parent that dies abruptly.
//! - Tasks are registered at link time (`linkme`): a task defined in a library crate is only
//!   found if the linker keeps that crate's object (use anything else from it).
//! - A task takes its arguments by value and returns one value; generic and `async` functions
//!   cannot be tasks.
//! - The task's name is a unit struct, so a `let` or `for` binding of the same name in its
//!   scope is read as a pattern matching that struct (a compile error, never a silent bug):
//!   name such bindings differently.
//! - Arguments and results go through postcard: types must be serde types (no
//!   `#[serde(skip_serializing_if)]`-style self-describing tricks, which postcard rejects).
//! - Running task code in a separate process costs a few microseconds per task; chunk tiny tasks
//!   (the default `map` does).
//! - Built with `panic = "abort"`, a panicking task aborts its worker: it fails with
//!   `WorkerLost { exit: Signal(6) }` instead of `Panicked`.
//! - The macro's expansion names the crate `::abreast`: depend on it under that name.

mod interrupt;
mod lane;
mod map;
mod pool;
mod registry;
mod wire;
mod worker;

pub use interrupt::{CtrlC, CtrlCError};
pub use map::{Map, MapUnordered};
pub use pool::{BuildError, ProcessPool, ProcessPoolBuilder, WorkerCommand};
pub use registry::{RemoteError, Task};
pub use worker::init;

/// Used by the `#[abreast::task]` expansion; not a public API.
#[doc(hidden)]
pub mod __private {
    pub use super::registry::{Fallible, Registration, TASKS};
    pub use linkme;
}

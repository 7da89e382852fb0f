//! abreast runs many tasks side by side, with the three mechanisms of the classic explainer of
//! Python concurrency, each built to production grade behind one shape of API.
//!
//! | Python | abreast | for |
//! |---|---|---|
//! | `concurrent.futures.ThreadPoolExecutor` | [`threads::ThreadPool`] | tasks that wait, and (in Rust) CPU work too |
//! | `asyncio.gather` over coroutines | [`coroutines`] (on tokio) | thousands of waits at once, cheaply |
//! | `multiprocessing.Pool`, `ProcessPoolExecutor` | [`processes::ProcessPool`] | work that must be isolated: a crash, a leak or a hang kills only its worker |
//!
//! Every pool hands out the same [`TaskHandle`] and reports failures with the same
//! [`TaskError`], which always names the task and what happened to it.
//!
//! # Threads
//!
//! A fixed set of OS threads and a bounded queue. `submit` returns a handle, `map` is lazy and
//! ordered with a bounded window, a panic fails only its own task, and tasks may borrow from the
//! caller's stack inside [`ThreadPool::scope`](threads::ThreadPool::scope).
//!
//! ```
//! use abreast::threads::ThreadPool;
//!
//! let pool = ThreadPool::builder().num_threads(4).build()?;
//! let handle = pool.submit(|| "side by side".len());
//! assert_eq!(handle.join()?, 12);
//!
//! // A panic is an error on its own handle; the pool goes on.
//! let broken = pool.submit(|| -> u32 { panic!("no page") });
//! assert!(broken.join().unwrap_err().is_panic());
//!
//! // map: lazy, in input order, at most a window of items in flight.
//! let squares: Vec<u64> = pool.map(|n: u64| n * n, 0..1_000).collect::<Result<_, _>>()?;
//! assert_eq!(squares[999], 998_001);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Coroutines
//!
//! tokio is the engine; [`coroutines`] gives it asyncio's shapes, plus the bound asyncio lacks.
//!
//! ```
//! use std::time::Duration;
//! use abreast::coroutines::{gather_bounded, run};
//!
//! // Ten thousand waits, at most 1,000 at once, results in input order.
//! let pages = run(gather_bounded(1_000, (0..10_000).map(|n| async move {
//!     tokio::time::sleep(Duration::from_millis(1)).await;
//!     n
//! })))?;
//! assert_eq!(pages.len(), 10_000);
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # Processes
//!
//! Worker processes (this same executable, started again) run functions marked
//! [`#[abreast::task]`](task) on serde-encoded arguments. A task that panics, aborts, segfaults,
//! exits, is killed or runs past its timeout fails alone, with a [`TaskError`] that says so; its
//! worker is replaced and the pool goes on. Programs call [`processes::init()`] first in `main`
//! (the default `auto-init` feature does it before `main`, so tests need nothing).
//!
//! ```
//! use abreast::processes::ProcessPool;
//!
//! #[abreast::task]
//! fn checksum(page: String) -> u32 {
//!     page.bytes().map(u32::from).sum()
//! }
//!
//! #[abreast::task]
//! fn crash(code: i32) -> u32 {
//!     std::process::exit(code)
//! }
//!
//! let pool = ProcessPool::builder().workers(2).build()?;
//! assert_eq!(pool.submit(checksum, "abc".into()).join()?, 294);
//!
//! // A worker that dies fails only its own task; the pool replaces it and goes on.
//! let lost = pool.submit(crash, 3).join().unwrap_err();
//! assert!(lost.is_worker_lost());
//!
//! // map: lazy, ordered, chunked automatically.
//! let sums: Vec<u32> = pool.map(checksum, ["a", "b"].map(String::from)).collect::<Result<_, _>>()?;
//! assert_eq!(sums, [97, 98]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Choosing a mechanism
//!
//! - **Many waits** (network, timers), thousands at once: coroutines. A waiting coroutine costs
//!   a few hundred bytes; a waiting thread costs a stack and a kernel thread.
//! - **Blocking calls** (a blocking HTTP client, file I/O, a C library) or **CPU work**: the
//!   thread pool. Rust has no GIL, so CPU-bound work scales across threads.
//! - Run CPU work from async code with [`coroutines::run_blocking`], never on the runtime itself.
//! - **Work that must be isolated**: the process pool. Rust threads already run CPU work in
//!   parallel, so processes are not for speed; they are for code that may crash, abort, leak or
//!   hang (a C library, untrusted input to a parser, a memory-hungry step): such a fault kills
//!   only a worker, which the pool replaces, and the task fails with a [`TaskError`] that says
//!   why. The price is serializing arguments and results and a few microseconds per task.
//!
//! # Features
//!
//! - `auto-init` (default): worker processes of a [`processes::ProcessPool`] take over before
//!   `main` runs, so binaries and test harnesses need no [`processes::init`] call. Without it,
//!   call `abreast::processes::init()` first thing in `main`.
#![deny(missing_docs)]

pub mod coroutines;
mod error;
mod handle;
mod panic;
pub mod processes;
pub mod threads;

pub use error::{CodecStage, TaskError, TaskId, WorkerExit};
pub use handle::{AsCompleted, Joined, PoolStats, TaskHandle, as_completed};

/// Registers a function as a process-pool task: see [`processes`].
pub use abreast_macros::task;

#[doc(hidden)]
pub use processes::__private;

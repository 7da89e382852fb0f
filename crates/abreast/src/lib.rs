//! abreast runs many tasks side by side, with the three mechanisms of the classic explainer of
//! Python concurrency, each built to production grade behind one shape of API.
//!
//! | Python | abreast | for |
//! |---|---|---|
//! | `concurrent.futures.ThreadPoolExecutor` | [`threads::ThreadPool`] | tasks that wait, and (in Rust) CPU work too |
//! | `asyncio.gather` over coroutines | [`coroutines`] (on tokio) | thousands of waits at once, cheaply |
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
//! # Choosing a mechanism
//!
//! - **Many waits** (network, timers), thousands at once: coroutines. A waiting coroutine costs
//!   a few hundred bytes; a waiting thread costs a stack and a kernel thread.
//! - **Blocking calls** (a blocking HTTP client, file I/O, a C library) or **CPU work**: the
//!   thread pool. Rust has no GIL, so CPU-bound work scales across threads.
//! - Run CPU work from async code with [`coroutines::run_blocking`], never on the runtime itself.
#![deny(missing_docs)]

pub mod coroutines;
mod error;
mod handle;
mod panic;
pub mod processes;
pub mod threads;

pub use error::{CodecStage, TaskError, TaskId, WorkerExit};
pub use handle::{AsCompleted, PoolStats, TaskHandle, as_completed};

/// Registers a function as a process-pool task: see [`processes`].
pub use abreast_macros::task;

#[doc(hidden)]
pub use processes::__private;

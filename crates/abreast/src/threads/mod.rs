//! A pool of OS threads that tasks are submitted to: Python's `ThreadPoolExecutor`, done right.
//!
//! - [`ThreadPool::submit`] returns a [`TaskHandle`](crate::TaskHandle) (`join`, `join_timeout`,
//!   `cancel`, `.await`); a panic becomes [`TaskError::Panicked`](crate::TaskError::Panicked) on
//!   that handle and the pool goes on.
//! - [`ThreadPool::map`] is lazy and ordered with a bounded window of tasks in flight, so a
//!   ten-million-item iterator runs in flat memory; [`ThreadPool::map_unordered`] yields results
//!   as they finish.
//! - [`ThreadPool::scope`] runs tasks that borrow from the caller's stack.
//! - The queue is bounded: `submit` waits for room instead of growing without limit, and
//!   [`ThreadPool::submit_async`] waits without blocking an async runtime.
//! - [`ThreadPool::shutdown`] drains the queue, [`ThreadPool::shutdown_now`] cancels it; both
//!   join every thread, and so does `Drop`: no thread outlives its pool.
//!
//! In Rust, unlike CPython, threads run Rust code in parallel: CPU-bound work scales on this pool
//! as well as I/O-bound work does.

mod map;
mod pool;
mod scope;

pub use map::{Map, MapUnordered};
pub use pool::{BuildError, ThreadPool, ThreadPoolBuilder};
pub use scope::Scope;

//! The thread pool itself: its builder, its worker threads and its bounded queue.

use std::future::Future;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use crate::error::{TaskError, TaskId};
use crate::handle::{Counters, PoolStats, Slot, TaskHandle};
use crate::panic;

/// What a worker does with a job it takes from the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Disposition {
    /// Run the task.
    Run,
    /// The pool is shutting down now: complete the task as cancelled without running it.
    Cancel,
}

/// One queued unit of work. It owns everything the task needs, including its result slot.
pub(crate) type Job = Box<dyn FnOnce(Disposition) + Send + 'static>;

/// The pool could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The operating system refused to start a worker thread.
    #[error(
        "could not start thread pool worker {index}: {source}; lower num_threads or raise the process's thread limit"
    )]
    Spawn {
        /// Which worker (from 0) failed to start.
        index: usize,
        /// The error from the operating system.
        source: std::io::Error,
    },
}

/// Configures and builds a [`ThreadPool`]: `ThreadPool::builder().num_threads(8).build()?`.
#[must_use = "a builder does nothing until .build() is called"]
pub struct ThreadPoolBuilder {
    num_threads: Option<usize>,
    queue_bound: Option<usize>,
    thread_name: Box<dyn Fn(usize) -> String>,
    stack_size: Option<usize>,
}

impl std::fmt::Debug for ThreadPoolBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThreadPoolBuilder")
            .field("num_threads", &self.num_threads)
            .field("queue_bound", &self.queue_bound)
            .field("stack_size", &self.stack_size)
            .finish_non_exhaustive()
    }
}

impl Default for ThreadPoolBuilder {
    fn default() -> Self {
        ThreadPoolBuilder {
            num_threads: None,
            queue_bound: None,
            thread_name: Box::new(|index| format!("abreast-thread-{index}")),
            stack_size: None,
        }
    }
}

impl ThreadPoolBuilder {
    /// The number of worker threads. Default: the number of CPUs available to this process
    /// (`std::thread::available_parallelism`), or 1 if that cannot be known. 0 means the default.
    pub fn num_threads(mut self, num_threads: usize) -> Self {
        self.num_threads = (num_threads > 0).then_some(num_threads);
        self
    }

    /// How many submitted tasks may wait in the queue before `submit` waits for room.
    /// Default: 64 per thread. 0 means the default.
    pub fn queue_bound(mut self, queue_bound: usize) -> Self {
        self.queue_bound = (queue_bound > 0).then_some(queue_bound);
        self
    }

    /// Names worker thread `index` (from 0). Default: `abreast-thread-{index}`.
    pub fn thread_name(mut self, name: impl Fn(usize) -> String + 'static) -> Self {
        self.thread_name = Box::new(name);
        self
    }

    /// The stack size of each worker thread in bytes. Default: Rust's (2 MiB).
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = Some(bytes);
        self
    }

    /// Starts the threads.
    pub fn build(self) -> Result<ThreadPool, BuildError> {
        panic::install_hook();
        let num_threads = self.num_threads.unwrap_or_else(default_num_threads);
        let queue_bound = self.queue_bound.unwrap_or(64 * num_threads);
        let (sender, receiver) = flume::bounded::<Job>(queue_bound);
        let shared = Arc::new(Shared {
            counters: Arc::new(Counters::default()),
            cancel_queued: AtomicBool::new(false),
        });
        let mut pool = ThreadPool {
            sender: Some(sender),
            queue: receiver.clone(),
            shared,
            threads: Vec::with_capacity(num_threads),
            num_threads,
            queue_bound,
        };
        for index in 0..num_threads {
            let mut thread = std::thread::Builder::new().name((self.thread_name)(index));
            if let Some(bytes) = self.stack_size {
                thread = thread.stack_size(bytes);
            }
            let receiver = receiver.clone();
            let shared = Arc::clone(&pool.shared);
            let handle = thread
                .spawn(move || work(&receiver, &shared))
                .map_err(|source| BuildError::Spawn { index, source })?;
            pool.threads.push(handle);
        }
        Ok(pool)
    }
}

/// The number of threads a pool gets by default.
pub(crate) fn default_num_threads() -> usize {
    std::thread::available_parallelism().map_or(1, NonZeroUsize::get)
}

/// What the pool and its workers share.
pub(crate) struct Shared {
    pub(crate) counters: Arc<Counters>,
    /// Set by `shutdown_now`: workers cancel what is left in the queue instead of running it.
    cancel_queued: AtomicBool,
}

/// A worker thread's loop: take jobs until the queue is closed and empty.
fn work(receiver: &flume::Receiver<Job>, shared: &Shared) {
    while let Ok(job) = receiver.recv() {
        if shared.cancel_queued.load(Ordering::Relaxed) {
            job(Disposition::Cancel);
        } else {
            job(Disposition::Run);
        }
    }
}

/// A fixed set of worker threads and a bounded queue of tasks: see the [module docs](super).
///
/// ```
/// use abreast::threads::ThreadPool;
///
/// let pool = ThreadPool::builder().num_threads(4).build()?;
/// let handle = pool.submit(|| 6 * 7);
/// assert_eq!(handle.join()?, 42);
///
/// let lengths: Vec<usize> = pool
///     .map(|word: &str| word.len(), ["side", "by", "side"])
///     .collect::<Result<_, _>>()?;
/// assert_eq!(lengths, [4, 2, 4]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ThreadPool {
    /// `None` only while shutting down.
    sender: Option<flume::Sender<Job>>,
    /// The queue's other end, so that `shutdown_now` can cancel what waits in it at once rather
    /// than as the threads get free.
    queue: flume::Receiver<Job>,
    pub(crate) shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
    num_threads: usize,
    queue_bound: usize,
}

impl std::fmt::Debug for ThreadPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThreadPool")
            .field("num_threads", &self.num_threads)
            .field("queue_bound", &self.queue_bound)
            .field("stats", &self.stats())
            .finish()
    }
}

impl ThreadPool {
    /// A builder with the documented defaults.
    pub fn builder() -> ThreadPoolBuilder {
        ThreadPoolBuilder::default()
    }

    /// A pool with one thread per CPU and the default queue bound.
    pub fn new() -> Result<Self, BuildError> {
        Self::builder().build()
    }

    /// The number of worker threads.
    pub fn num_threads(&self) -> usize {
        self.num_threads
    }

    /// How many tasks may wait in the queue before `submit` waits for room.
    pub fn queue_bound(&self) -> usize {
        self.queue_bound
    }

    /// The pool's counters now: queued, running, completed, failed, cancelled.
    pub fn stats(&self) -> PoolStats {
        self.shared.counters.snapshot()
    }

    fn sender(&self) -> &flume::Sender<Job> {
        self.sender
            .as_ref()
            .expect("the sender is only taken by shutdown, which consumes the pool")
    }

    /// Makes the job that runs `task` into `slot`, and the handle that reads it.
    pub(crate) fn prepare<F, T>(&self, task: F) -> (Job, TaskHandle<T>)
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let counters = &self.shared.counters;
        let id = TaskId::new(counters.next_seq());
        let slot = Slot::new(id, Arc::clone(counters));
        let handle = TaskHandle::new(Arc::clone(&slot));
        let job: Job = Box::new(move |disposition| run_into_slot(task, &slot, disposition));
        (job, handle)
    }

    /// Queues a job, waiting for room in the queue.
    pub(crate) fn enqueue(&self, job: Job) {
        if let Err(flume::SendError(job)) = self.sender().send(job) {
            // Unreachable while the pool is alive (workers hold the receiver), but never lose a
            // task silently: complete it as cancelled.
            job(Disposition::Cancel);
        }
    }

    /// Runs `task` on a worker thread and returns its handle at once, unless the queue is full:
    /// then it waits for room (the queue is bounded; see
    /// [`queue_bound`](ThreadPoolBuilder::queue_bound)).
    pub fn submit<F, T>(&self, task: F) -> TaskHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let (job, handle) = self.prepare(task);
        self.enqueue(job);
        handle
    }

    /// Like [`submit`](Self::submit), but waits for room in the queue without blocking an async
    /// runtime. Await the returned handle for the result: this is Python's
    /// `loop.run_in_executor`.
    ///
    /// ```
    /// # let pool = abreast::threads::ThreadPool::builder().num_threads(2).build()?;
    /// let sum = abreast::coroutines::run(async {
    ///     pool.submit_async(|| (1..=100u64).sum::<u64>()).await.await
    /// })?;
    /// assert_eq!(sum?, 5050);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[allow(clippy::async_yields_async)] // yielding the handle, to await later, is the point
    pub fn submit_async<F, T>(&self, task: F) -> impl Future<Output = TaskHandle<T>> + Send + '_
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let (job, handle) = self.prepare(task);
        async move {
            if let Err(flume::SendError(job)) = self.sender().send_async(job).await {
                job(Disposition::Cancel);
            }
            handle
        }
    }

    /// Waits for every queued and running task to finish, then joins the threads.
    pub fn shutdown(mut self) {
        self.stop(false);
    }

    /// Cancels every queued task at once (their handles return [`TaskError::Cancelled`]), waits
    /// for the running ones to finish, then joins the threads.
    pub fn shutdown_now(mut self) {
        self.stop(true);
    }

    fn stop(&mut self, cancel_queued: bool) {
        if cancel_queued {
            // Set first: a job a worker takes from now on is cancelled too.
            self.shared.cancel_queued.store(true, Ordering::Relaxed);
            while let Ok(job) = self.queue.try_recv() {
                job(Disposition::Cancel);
            }
        }
        // Closing the queue lets each worker finish what is left in it and then return.
        self.sender = None;
        for thread in self.threads.drain(..) {
            // A worker never panics: tasks run under catch_unwind.
            let _ = thread.join();
        }
    }
}

impl Drop for ThreadPool {
    /// Same as [`shutdown`](ThreadPool::shutdown): drains the queue and joins every thread.
    fn drop(&mut self) {
        self.stop(false);
    }
}

/// Runs (or cancels) one task and stores its outcome in its slot.
pub(crate) fn run_into_slot<F, T>(task: F, slot: &Slot<T>, disposition: Disposition)
where
    F: FnOnce() -> T,
{
    if disposition == Disposition::Cancel {
        slot.withdraw(TaskError::Cancelled { task: slot.id() });
        return;
    }
    if !slot.start() {
        return; // cancelled while queued
    }
    let outcome = panic::catch(task).map_err(|report| report.into_error(slot.id()));
    slot.finish(outcome);
}

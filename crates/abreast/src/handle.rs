//! [`TaskHandle`]: the future-like handle every pool returns from `submit`, and the counters
//! behind each pool's [`PoolStats`].
//!
//! A handle is the Rust shape of Python's `concurrent.futures.Future`: `join()` blocks for the
//! result, `join_timeout()` gives up after a while, `cancel()` withdraws a task that has not
//! started, and `.await` waits without blocking an async runtime. The thread pool and the process
//! pool fill the same handle, so code that consumes results does not care which one ran them.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::error::{TaskError, TaskId};

const QUEUED: u8 = 0;
const RUNNING: u8 = 1;
const DONE: u8 = 2;

/// A snapshot of a pool's counters, cheap to take at any time (progress bars poll it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Tasks submitted and not yet started.
    pub queued: u64,
    /// Tasks running now.
    pub running: u64,
    /// Tasks that finished with a value.
    pub completed: u64,
    /// Tasks that finished with an error other than cancellation (panic, timeout, lost worker…).
    pub failed: u64,
    /// Tasks cancelled before they produced a value.
    pub cancelled: u64,
    /// Worker processes replaced after they died, were killed or were recycled (process pool only).
    pub workers_replaced: u64,
}

/// The live counters of one pool, shared by the pool and every task slot.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    next_seq: AtomicU64,
    queued: AtomicU64,
    running: AtomicU64,
    completed: AtomicU64,
    failed: AtomicU64,
    cancelled: AtomicU64,
    pub(crate) workers_replaced: AtomicU64,
}

impl Counters {
    /// Hands out the next task sequence number.
    pub(crate) fn next_seq(&self) -> u64 {
        self.next_seq.fetch_add(1, Ordering::Relaxed)
    }

    /// Hands out `count` consecutive task sequence numbers and returns the first.
    pub(crate) fn next_seqs(&self, count: u64) -> u64 {
        self.next_seq.fetch_add(count, Ordering::Relaxed)
    }

    /// Counts a task entering the queue.
    pub(crate) fn enqueued(&self) {
        self.queued.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts `count` tasks entering the queue.
    pub(crate) fn enqueued_many(&self, count: u64) {
        self.queued.fetch_add(count, Ordering::Relaxed);
    }

    /// Counts a task leaving the queue to run.
    pub(crate) fn started(&self) {
        self.queued.fetch_sub(1, Ordering::Relaxed);
        self.running.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a running task's end, by its outcome.
    pub(crate) fn finished<T>(&self, outcome: &Result<T, TaskError>) {
        self.running.fetch_sub(1, Ordering::Relaxed);
        self.record_outcome(outcome);
    }

    /// Counts a task withdrawn from the queue before it ran.
    pub(crate) fn withdrawn<T>(&self, outcome: &Result<T, TaskError>) {
        self.queued.fetch_sub(1, Ordering::Relaxed);
        self.record_outcome(outcome);
    }

    /// Counts `count` tasks leaving the queue to run.
    pub(crate) fn started_many(&self, count: u64) {
        self.queued.fetch_sub(count, Ordering::Relaxed);
        self.running.fetch_add(count, Ordering::Relaxed);
    }

    /// Counts the end of `count` running tasks with these outcomes.
    pub(crate) fn finished_many<'a, T: 'a>(
        &self,
        count: u64,
        outcomes: impl Iterator<Item = &'a Result<T, TaskError>>,
    ) {
        self.running.fetch_sub(count, Ordering::Relaxed);
        self.record_outcomes(outcomes);
    }

    /// Counts `count` queued tasks withdrawn with these outcomes.
    pub(crate) fn withdrawn_many<'a, T: 'a>(
        &self,
        count: u64,
        outcomes: impl Iterator<Item = &'a Result<T, TaskError>>,
    ) {
        self.queued.fetch_sub(count, Ordering::Relaxed);
        self.record_outcomes(outcomes);
    }

    fn record_outcomes<'a, T: 'a>(&self, outcomes: impl Iterator<Item = &'a Result<T, TaskError>>) {
        let (mut completed, mut failed, mut cancelled) = (0, 0, 0);
        for outcome in outcomes {
            match outcome {
                Ok(_) => completed += 1,
                Err(error) if error.is_cancelled() => cancelled += 1,
                Err(_) => failed += 1,
            }
        }
        for (counter, amount) in [
            (&self.completed, completed),
            (&self.failed, failed),
            (&self.cancelled, cancelled),
        ] {
            if amount > 0 {
                counter.fetch_add(amount, Ordering::Relaxed);
            }
        }
    }

    fn record_outcome<T>(&self, outcome: &Result<T, TaskError>) {
        self.record_outcomes(std::iter::once(outcome));
    }

    /// A consistent-enough snapshot (each counter is read once, relaxed).
    pub(crate) fn snapshot(&self) -> PoolStats {
        PoolStats {
            queued: self.queued.load(Ordering::Relaxed),
            running: self.running.load(Ordering::Relaxed),
            completed: self.completed.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            cancelled: self.cancelled.load(Ordering::Relaxed),
            workers_replaced: self.workers_replaced.load(Ordering::Relaxed),
        }
    }
}

/// Stops a running task when its handle is cancelled (the process pool kills the worker).
pub(crate) type AbortRunning = Box<dyn FnOnce() + Send>;

struct SlotState<T> {
    result: Option<Result<T, TaskError>>,
    waker: Option<Waker>,
    abort: Option<AbortRunning>,
}

/// The state one task shares between its pool and its [`TaskHandle`].
pub(crate) struct Slot<T> {
    id: TaskId,
    phase: AtomicU8,
    state: Mutex<SlotState<T>>,
    ready: Condvar,
    counters: Arc<Counters>,
}

impl<T> Slot<T> {
    /// A new queued task, counted as such.
    pub(crate) fn new(id: TaskId, counters: Arc<Counters>) -> Arc<Self> {
        counters.enqueued();
        Arc::new(Slot {
            id,
            phase: AtomicU8::new(QUEUED),
            state: Mutex::new(SlotState {
                result: None,
                waker: None,
                abort: None,
            }),
            ready: Condvar::new(),
            counters,
        })
    }

    /// The task's id.
    pub(crate) fn id(&self) -> TaskId {
        self.id
    }

    fn lock(&self) -> MutexGuard<'_, SlotState<T>> {
        // A panic never happens while the lock is held, but stay usable if one ever did.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Moves the task from queued to running. False if it was cancelled first: skip it.
    pub(crate) fn start(&self) -> bool {
        let started = self
            .phase
            .compare_exchange(QUEUED, RUNNING, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if started {
            self.counters.started();
        }
        started
    }

    /// Registers how to stop this task while it runs (called by the process pool on dispatch).
    pub(crate) fn set_abort(&self, abort: AbortRunning) {
        self.lock().abort = Some(abort);
    }

    /// Stores the outcome of a task that was running. The first outcome stored wins.
    pub(crate) fn finish(&self, outcome: Result<T, TaskError>) {
        if self.phase.swap(DONE, Ordering::AcqRel) == RUNNING {
            self.counters.finished(&outcome);
            self.store(outcome);
        }
    }

    /// Withdraws a still-queued task with `error`. False if it had already started or ended.
    pub(crate) fn withdraw(&self, error: TaskError) -> bool {
        let withdrawn = self
            .phase
            .compare_exchange(QUEUED, DONE, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if withdrawn {
            let outcome = Err(error);
            self.counters.withdrawn(&outcome);
            self.store(outcome);
        }
        withdrawn
    }

    fn store(&self, outcome: Result<T, TaskError>) {
        let waker = {
            let mut state = self.lock();
            state.result = Some(outcome);
            state.abort = None;
            state.waker.take()
        };
        self.ready.notify_all();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// True once the task has an outcome (finished, failed or cancelled).
    pub(crate) fn is_done(&self) -> bool {
        self.phase.load(Ordering::Acquire) == DONE
    }
}

/// The handle to one submitted task: wait for its result, give up after a while, or cancel it.
///
/// Returned by [`ThreadPool::submit`](crate::threads::ThreadPool::submit) and by the process
/// pool's `submit`. Dropping a handle does not cancel its task; the result is then discarded.
/// A handle can be `.await`ed (it is [`IntoFuture`](std::future::IntoFuture)) from async code
/// instead of calling `join()`, which would block the runtime.
#[must_use = "a task's result or error is only seen through its handle"]
pub struct TaskHandle<T> {
    slot: Arc<Slot<T>>,
}

impl<T> std::fmt::Debug for TaskHandle<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskHandle")
            .field("task", &self.slot.id)
            .field("finished", &self.is_finished())
            .finish()
    }
}

impl<T> TaskHandle<T> {
    pub(crate) fn new(slot: Arc<Slot<T>>) -> Self {
        TaskHandle { slot }
    }

    /// The task's id, as its errors name it.
    pub fn id(&self) -> TaskId {
        self.slot.id
    }

    /// True once the task has a result or an error (it finished, failed or was cancelled).
    pub fn is_finished(&self) -> bool {
        self.slot.is_done()
    }

    /// Waits for the task and returns its value, or the [`TaskError`] that says why there is none.
    pub fn join(self) -> Result<T, TaskError> {
        let mut state = self.slot.lock();
        loop {
            if let Some(outcome) = state.result.take() {
                return outcome;
            }
            state = self
                .slot
                .ready
                .wait(state)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }

    /// Waits until the task is finished or `timeout` has passed; true if it finished.
    /// Unlike [`join_timeout`](Self::join_timeout) this gives up nothing: wait again or join.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = self.slot.lock();
        while state.result.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            state = self
                .slot
                .ready
                .wait_timeout(state, left)
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .0;
        }
        true
    }

    /// Waits at most `timeout` for the task's value. On time-out the task is cancelled and
    /// [`TaskError::TimedOut`] returned.
    ///
    /// What cancelling stops depends on the pool: a queued task never starts; a running
    /// process-pool task has its worker killed (and replaced); a running thread-pool task cannot
    /// be stopped from outside its thread, so it runs to its end and its value is discarded.
    pub fn join_timeout(self, timeout: Duration) -> Result<T, TaskError> {
        if self.wait_timeout(timeout) {
            return self.join();
        }
        self.cancel();
        Err(TaskError::TimedOut {
            task: self.slot.id,
            after: timeout,
        })
    }

    /// Cancels the task. A queued task is withdrawn and never runs; its handle (and any `join`)
    /// returns [`TaskError::Cancelled`]. A running process-pool task is stopped by killing its
    /// worker. Returns true if the task was stopped, false if it had already finished or is a
    /// running thread-pool task (those run to their end).
    pub fn cancel(&self) -> bool {
        let task = self.slot.id;
        if self.slot.withdraw(TaskError::Cancelled { task }) {
            return true;
        }
        let abort = self.slot.lock().abort.take();
        match abort {
            Some(abort) => {
                abort();
                true
            }
            None => false,
        }
    }
}

impl<T> std::future::IntoFuture for TaskHandle<T> {
    type Output = Result<T, TaskError>;
    type IntoFuture = Joined<T>;

    /// `.await` on a handle waits for the task without blocking the async runtime.
    fn into_future(self) -> Joined<T> {
        Joined { slot: self.slot }
    }
}

/// The future of a [`TaskHandle`] being awaited: resolves to the task's value or error.
#[must_use = "futures do nothing unless awaited"]
pub struct Joined<T> {
    slot: Arc<Slot<T>>,
}

impl<T> std::fmt::Debug for Joined<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Joined")
            .field("task", &self.slot.id)
            .finish()
    }
}

impl<T> Future for Joined<T> {
    type Output = Result<T, TaskError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.slot.lock();
        match state.result.take() {
            Some(outcome) => Poll::Ready(outcome),
            None => {
                match &state.waker {
                    Some(waker) if waker.will_wake(cx.waker()) => {}
                    _ => state.waker = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
        }
    }
}

/// Yields results from `handles` in the order the tasks finish, the way
/// `concurrent.futures.as_completed` does. Each item is the handle's index in `handles` and its
/// outcome. Works with handles from any pool; each call to `next` blocks until one more task ends.
pub fn as_completed<T, I>(handles: I) -> AsCompleted<T>
where
    I: IntoIterator<Item = TaskHandle<T>>,
{
    let finished = Arc::new(FinishedQueue::default());
    let pending: Vec<Option<TaskHandle<T>>> = handles.into_iter().map(Some).collect();
    for (index, handle) in pending.iter().enumerate() {
        let slot = &handle.as_ref().expect("just filled").slot;
        let mut state = slot.lock();
        if state.result.is_some() {
            drop(state);
            finished.push(index);
        } else {
            let waker = FinishedWaker {
                index,
                queue: Arc::clone(&finished),
            };
            state.waker = Some(Waker::from(Arc::new(waker)));
        }
    }
    let left = pending.len();
    AsCompleted {
        pending,
        finished,
        left,
    }
}

/// Indices of tasks that have finished and not been yielded yet.
#[derive(Default)]
struct FinishedQueue {
    indices: Mutex<std::collections::VecDeque<usize>>,
    changed: Condvar,
}

impl FinishedQueue {
    fn push(&self, index: usize) {
        self.indices
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push_back(index);
        self.changed.notify_one();
    }

    fn pop(&self) -> usize {
        let mut indices = self.indices.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(index) = indices.pop_front() {
                return index;
            }
            indices = self
                .changed
                .wait(indices)
                .unwrap_or_else(|p| p.into_inner());
        }
    }
}

/// Wakes [`AsCompleted`] by queueing the index of the task that finished.
struct FinishedWaker {
    index: usize,
    queue: Arc<FinishedQueue>,
}

impl std::task::Wake for FinishedWaker {
    fn wake(self: Arc<Self>) {
        self.queue.push(self.index);
    }
}

/// The iterator returned by [`as_completed`].
pub struct AsCompleted<T> {
    pending: Vec<Option<TaskHandle<T>>>,
    finished: Arc<FinishedQueue>,
    left: usize,
}

impl<T> std::fmt::Debug for AsCompleted<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsCompleted")
            .field("left", &self.left)
            .finish()
    }
}

impl<T> Iterator for AsCompleted<T> {
    type Item = (usize, Result<T, TaskError>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let index = self.finished.pop();
        let handle = self.pending[index].take().expect("each task finishes once");
        Some((index, handle.join()))
    }
}

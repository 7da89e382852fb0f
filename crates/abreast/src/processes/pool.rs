//! The process pool itself: its builder, `submit`, the watchdog for timeouts, and shutdown.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::lane::{AffineQueues, Item, ItemSink, Job, Lane, StartError, run_lane};
use super::registry::{Registration, Task, registry};
use crate::error::{CodecStage, TaskError, TaskId};
use crate::handle::{Counters, PoolStats, Slot, TaskHandle};
use crate::panic;

/// The pool could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The operating system refused to start a worker process (or a thread to drive it).
    #[error(
        "could not start process pool worker {index}: {source}; check the process limit (ulimit -u) and free memory"
    )]
    Spawn {
        /// Which worker (from 0) failed to start.
        index: usize,
        /// The error from the operating system.
        source: std::io::Error,
    },
    /// A worker started but did not complete the handshake (different build, no `init()`, …).
    #[error("process pool worker {index} did not start: {reason}")]
    Handshake {
        /// Which worker (from 0) failed.
        index: usize,
        /// What went wrong, and what to do about it.
        reason: String,
    },
    /// The initializer failed in a worker (it panicked, or its argument could not be encoded).
    #[error("the process pool initializer failed in worker {index}: {error}")]
    Initializer {
        /// Which worker (from 0) failed.
        index: usize,
        /// How it failed.
        error: TaskError,
    },
    /// This process was started as a worker of another pool but did not run
    /// [`init`](super::init), so it ran `main` instead of serving tasks.
    #[error(
        "this process was started as a process-pool worker but did not call abreast::processes::init() first in main (or enable the default `auto-init` feature); it must not start pools of its own"
    )]
    WorkerWithoutInit,
    /// A task given to the builder is not in this executable's registry.
    #[error(
        "task `{name}` is not registered in this executable; mark it #[abreast::task] and make sure its crate is linked"
    )]
    NotRegistered {
        /// The task's name.
        name: &'static str,
    },
}

/// The initializer a builder was given, ready for the wire.
pub(crate) struct Initializer {
    pub(crate) task: u32,
    pub(crate) registration: &'static Registration,
    pub(crate) arg: Vec<u8>,
}

/// Settings every lane reads.
pub(crate) struct Config {
    pub(crate) workers: usize,
    pub(crate) initializer: Option<Initializer>,
    pub(crate) max_tasks_per_worker: Option<u64>,
    pub(crate) task_timeout: Option<Duration>,
    pub(crate) memory_limit: Option<u64>,
    pub(crate) retries: u32,
    pub(crate) prefetch: usize,
    pub(crate) startup_timeout: Duration,
    pub(crate) worker_command: Option<WorkerCommand>,
}

/// How a worker process is started when it is not this executable started again: a program and
/// the arguments it gets before `--abreast-worker`.
///
/// A host whose own executable does not link abreast needs one, as a Python interpreter that
/// loads abreast in an extension module does: its workers are the interpreter again, told to
/// load that same module and call [`init`](crate::processes::init). The program must load this
/// very build of the code: the pool's handshake refuses a worker whose task registry differs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerCommand {
    /// The executable to start.
    pub program: std::path::PathBuf,
    /// Its arguments, before the `--abreast-worker` the pool adds.
    pub args: Vec<std::ffi::OsString>,
    /// The worker calls [`init`](crate::processes::init) itself once abreast is loaded, and
    /// the `auto-init` constructor leaves it alone. Needed where abreast is a library loaded at
    /// run time (`dlopen`, as Python loads an extension module): a constructor runs inside the
    /// loader's lock, and a worker serving from there deadlocks as soon as a task starts a
    /// thread. `false` (the default): the constructor makes the process a worker, as it does
    /// in an executable that links abreast.
    pub explicit_init: bool,
}

impl WorkerCommand {
    /// `program` started with `args`.
    pub fn new(
        program: impl Into<std::path::PathBuf>,
        args: impl IntoIterator<Item = impl Into<std::ffi::OsString>>,
    ) -> Self {
        WorkerCommand {
            program: program.into(),
            args: args.into_iter().map(Into::into).collect(),
            explicit_init: false,
        }
    }

    /// The same command, for a worker that calls [`init`](crate::processes::init) itself (see
    /// [`explicit_init`](Self::explicit_init)).
    pub fn with_explicit_init(mut self) -> Self {
        self.explicit_init = true;
        self
    }
}

/// What the lanes of a pool share with it: the settings, the counters, the queue they take jobs
/// from, and the flag that stops them now. The pool and each of its lanes hold it; it holds no
/// lane and nothing else of the pool's, so ownership runs one way (pool -> lanes -> context) and
/// a dropped pool frees it once its lane threads have ended.
pub(crate) struct LaneContext {
    pub(crate) config: Config,
    pub(crate) counters: Arc<Counters>,
    pub(crate) jobs: flume::Receiver<Job>,
    /// Which lane took each affinity key last.
    pub(crate) affinity: AffinityTable,
    /// The tasks kept for each lane for their affinity key.
    pub(crate) affine: AffineQueues,
    /// `shutdown_now` (or a second Ctrl-C): cancel everything, restart nothing.
    stopping_now: AtomicBool,
}

impl LaneContext {
    pub(crate) fn stopping_now(&self) -> bool {
        self.stopping_now.load(Ordering::Acquire)
    }
}

/// Which lane last took a task of each affinity key, for up to [`AFFINITY_KEYS`] keys: once
/// that many are known the table starts again empty, which costs each key its preference once.
pub(crate) struct AffinityTable {
    lanes: Mutex<HashMap<u64, usize>>,
}

/// How many keys an [`AffinityTable`] holds at most.
pub(crate) const AFFINITY_KEYS: usize = 65_536;

impl AffinityTable {
    fn new() -> AffinityTable {
        AffinityTable {
            lanes: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, usize>> {
        self.lanes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The lane that last took a task of `key`, if one did.
    fn preferred(&self, key: u64) -> Option<usize> {
        self.lock().get(&key).copied()
    }

    /// Lane `lane` takes a task of `key`.
    pub(crate) fn remember(&self, key: u64, lane: usize) {
        let mut lanes = self.lock();
        if lanes.len() >= AFFINITY_KEYS && !lanes.contains_key(&key) {
            lanes.clear();
        }
        lanes.insert(key, lane);
    }
}

/// The pool's own state: its lanes and what they share. Held by the [`ProcessPool`] alone
/// (a [`CtrlC`](super::CtrlC) that watches the pool keeps only a `Weak`).
pub(crate) struct PoolShared {
    pub(crate) context: Arc<LaneContext>,
    /// A first Ctrl-C: take no new tasks, finish those already given.
    draining: AtomicBool,
    lanes: Vec<Arc<Lane>>,
}

impl PoolShared {
    pub(crate) fn draining(&self) -> bool {
        self.draining.load(Ordering::Acquire) || self.context.stopping_now()
    }

    /// Stops taking new tasks; those already submitted still run (the first Ctrl-C).
    pub(crate) fn drain(&self) {
        self.draining.store(true, Ordering::Release);
    }

    /// Cancels every queued task and kills every worker (shutdown_now, second Ctrl-C).
    pub(crate) fn stop_now(&self) {
        self.context.stopping_now.store(true, Ordering::Release);
        while let Ok(job) = self.context.jobs.try_recv() {
            job.fail_all(|task| TaskError::Cancelled { task });
        }
        for lane in &self.lanes {
            lane.kill_worker();
        }
    }
}

/// Configures and builds a [`ProcessPool`]: `ProcessPool::builder().workers(4).build()?`.
#[must_use = "a builder does nothing until .build() is called"]
pub struct ProcessPoolBuilder {
    workers: Option<usize>,
    initializer: Option<Result<Initializer, BuildError>>,
    max_tasks_per_worker: Option<u64>,
    task_timeout: Option<Duration>,
    memory_limit: Option<u64>,
    retries: u32,
    prefetch: usize,
    queue_bound: Option<usize>,
    startup_timeout: Duration,
    worker_command: Option<WorkerCommand>,
}

impl std::fmt::Debug for ProcessPoolBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessPoolBuilder")
            .field("workers", &self.workers)
            .field("max_tasks_per_worker", &self.max_tasks_per_worker)
            .field("task_timeout", &self.task_timeout)
            .field("memory_limit", &self.memory_limit)
            .field("retries", &self.retries)
            .field("prefetch", &self.prefetch)
            .field("queue_bound", &self.queue_bound)
            .field("worker_command", &self.worker_command)
            .finish_non_exhaustive()
    }
}

impl Default for ProcessPoolBuilder {
    fn default() -> Self {
        ProcessPoolBuilder {
            workers: None,
            initializer: None,
            max_tasks_per_worker: None,
            task_timeout: None,
            memory_limit: None,
            retries: 0,
            prefetch: 32,
            queue_bound: None,
            startup_timeout: Duration::from_secs(30),
            worker_command: None,
        }
    }
}

impl ProcessPoolBuilder {
    /// The number of worker processes. Default: the number of CPUs available
    /// (`std::thread::available_parallelism`). 0 means the default.
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = (workers > 0).then_some(workers);
        self
    }

    /// Runs `task(arg)` once in every worker, before it takes any task (Python's `initializer`
    /// and `initargs`). If it panics, `build` fails; if it fails in a replacement worker later,
    /// the pool keeps trying and fails queued tasks with [`TaskError::Io`] meanwhile.
    pub fn initializer<T: Task<Output = ()>>(mut self, task: T, arg: T::Arg) -> Self {
        let _ = task;
        let registration = registry()
            .id_of(T::NAME)
            .map(|id| (id, registry().entries[id as usize]));
        self.initializer = Some(match registration {
            None => Err(BuildError::NotRegistered { name: T::NAME }),
            Some((id, registration)) => match postcard::to_allocvec(&arg) {
                Ok(arg) => Ok(Initializer {
                    task: id,
                    registration,
                    arg,
                }),
                Err(error) => Err(BuildError::Initializer {
                    index: 0,
                    error: TaskError::Codec {
                        task: TaskId::named(0, T::NAME),
                        stage: CodecStage::Argument,
                        type_name: std::any::type_name::<T::Arg>(),
                        message: error.to_string(),
                    },
                }),
            },
        });
        self
    }

    /// Replaces a worker after it has run this many tasks (Python's `maxtasksperchild`), to
    /// bound leaks. Default: never. A chunk is not split for it, so a worker may run up to a
    /// chunk more. 0 is taken as 1.
    pub fn max_tasks_per_worker(mut self, tasks: u64) -> Self {
        self.max_tasks_per_worker = Some(tasks.max(1));
        self
    }

    /// Kills a worker whose task runs longer than this; the task fails with
    /// [`TaskError::TimedOut`] and the worker is replaced. Default: no limit. Checked every
    /// few milliseconds (a twentieth of the limit, at least 1 ms, at most 50 ms).
    pub fn task_timeout(mut self, timeout: Duration) -> Self {
        self.task_timeout = Some(timeout);
        self
    }

    /// Limits each worker's address space to `bytes` (`RLIMIT_AS`). A task that allocates past
    /// it aborts its worker, and fails with [`TaskError::WorkerLost`]. Default: no limit; 0
    /// means no limit. Leave room for the executable and its libraries (tens of MiB).
    pub fn memory_limit(mut self, bytes: u64) -> Self {
        self.memory_limit = (bytes > 0).then_some(bytes);
        self
    }

    /// How many times a task whose worker died under it is run again on a new worker before it
    /// fails with [`TaskError::WorkerLost`]. Default: 0. Panics, timeouts and codec errors are
    /// never retried.
    pub fn retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// At most how many frames (tasks, or chunks of a map) each worker may have in its pipe,
    /// counting the one it runs, so it never waits for the parent between short tasks. The lane
    /// keeps about 2 ms of work (as the worker measures it) in the pipe, within this bound: one
    /// frame at a time for tasks of 2 ms or more (and until the first one is measured), so no
    /// task waits behind a long one while another worker is idle. Default: 32. 0 is taken as 1.
    pub fn prefetch(mut self, frames: usize) -> Self {
        self.prefetch = frames.max(1);
        self
    }

    /// How many submitted frames may wait in the pool's queue before `submit` waits for room.
    /// Default: 64 per worker. 0 means the default.
    pub fn queue_bound(mut self, bound: usize) -> Self {
        self.queue_bound = (bound > 0).then_some(bound);
        self
    }

    /// How long a new worker may take to start and run its initializer. Default: 30 s.
    pub fn startup_timeout(mut self, timeout: Duration) -> Self {
        self.startup_timeout = timeout;
        self
    }

    /// Starts each worker with `command` instead of this executable (see [`WorkerCommand`]).
    /// Default: this executable, `/proc/self/exe` on Linux.
    pub fn worker_command(mut self, command: WorkerCommand) -> Self {
        self.worker_command = Some(command);
        self
    }

    /// Starts the workers and waits until each has answered (checked its build and run the
    /// initializer).
    pub fn build(self) -> Result<ProcessPool, BuildError> {
        if super::worker::started_as_worker_without_init() {
            return Err(BuildError::WorkerWithoutInit);
        }
        panic::install_hook();
        let workers = self
            .workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from));
        let initializer = self.initializer.transpose()?;
        let queue_bound = self.queue_bound.unwrap_or(64 * workers);
        let (sender, jobs) = flume::bounded(queue_bound);
        let context = Arc::new(LaneContext {
            config: Config {
                workers,
                initializer,
                max_tasks_per_worker: self.max_tasks_per_worker,
                task_timeout: self.task_timeout,
                memory_limit: self.memory_limit,
                retries: self.retries,
                prefetch: self.prefetch,
                startup_timeout: self.startup_timeout,
                worker_command: self.worker_command,
            },
            counters: Arc::new(Counters::default()),
            jobs,
            affinity: AffinityTable::new(),
            affine: AffineQueues::new(workers),
            stopping_now: AtomicBool::new(false),
        });
        let lanes: Vec<Arc<Lane>> = (0..workers)
            .map(|index| Lane::new(index, Arc::clone(&context)))
            .collect();
        let mut pool = ProcessPool {
            sender: Some(sender),
            shared: Arc::new(PoolShared {
                context,
                draining: AtomicBool::new(false),
                lanes: lanes.clone(),
            }),
            threads: Vec::with_capacity(workers),
            watchdog: None,
        };
        let mut starting = Vec::with_capacity(workers);
        for (index, lane) in lanes.iter().enumerate() {
            let lane = Arc::clone(lane);
            let (started, receiver) = flume::bounded(1);
            let thread = std::thread::Builder::new()
                .name(format!("abreast-proc-{index}"))
                .spawn(move || run_lane(&lane, started))
                .map_err(|source| BuildError::Spawn { index, source })?;
            pool.threads.push(thread);
            starting.push(receiver);
        }
        for (index, receiver) in starting.into_iter().enumerate() {
            match receiver.recv() {
                Ok(Ok(())) => {}
                Ok(Err(error)) => {
                    pool.stop(true);
                    return Err(match error {
                        StartError::Spawn(source) => BuildError::Spawn { index, source },
                        StartError::Handshake(reason) => BuildError::Handshake { index, reason },
                        StartError::Initializer(error) => BuildError::Initializer { index, error },
                    });
                }
                Err(_) => {
                    pool.stop(true);
                    return Err(BuildError::Handshake {
                        index,
                        reason: "the thread starting it ended unexpectedly".into(),
                    });
                }
            }
        }
        if let Some(timeout) = pool.shared.context.config.task_timeout {
            pool.watchdog = Some(Watchdog::start(lanes, timeout)?);
        }
        Ok(pool)
    }
}

/// The thread that kills workers whose task ran past the timeout.
struct Watchdog {
    stop: flume::Sender<()>,
    thread: JoinHandle<()>,
}

impl Watchdog {
    /// Watches `lanes` (the pool's, shared with it) until the pool drops `stop`.
    fn start(lanes: Vec<Arc<Lane>>, timeout: Duration) -> Result<Self, BuildError> {
        let (stop, stopped) = flume::bounded::<()>(0);
        let tick = (timeout / 20).clamp(Duration::from_millis(1), Duration::from_millis(50));
        let thread = std::thread::Builder::new()
            .name("abreast-proc-watchdog".into())
            .spawn(move || {
                while let Err(flume::RecvTimeoutError::Timeout) = stopped.recv_timeout(tick) {
                    let now = Instant::now();
                    for lane in &lanes {
                        lane.check_timeout(timeout, now);
                    }
                }
            })
            .map_err(|source| BuildError::Spawn { index: 0, source })?;
        Ok(Watchdog { stop, thread })
    }
}

/// A pool of worker processes that run registered functions on serialized arguments: see the
/// [module docs](super).
pub struct ProcessPool {
    /// `None` once shutting down.
    sender: Option<flume::Sender<Job>>,
    pub(crate) shared: Arc<PoolShared>,
    threads: Vec<JoinHandle<()>>,
    watchdog: Option<Watchdog>,
}

impl std::fmt::Debug for ProcessPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessPool")
            .field("workers", &self.workers())
            .field("stats", &self.stats())
            .finish()
    }
}

/// A task ready to queue with its handle, or the handle of a task that failed before queueing.
type Prepared<R> = Result<(Job, TaskHandle<R>), TaskHandle<R>>;

/// Delivers a submitted task's outcome to its handle's slot.
struct SlotSink<R> {
    slot: Arc<Slot<R>>,
}

impl<R: serde::de::DeserializeOwned + Send + 'static> ItemSink for SlotSink<R> {
    fn start(&mut self, lane: &Arc<Lane>, id: TaskId) -> bool {
        if !self.slot.start() {
            return false;
        }
        // Weak: a handle kept after its pool is gone must not keep the pool's lane alive.
        let lane = Arc::downgrade(lane);
        let slot = Arc::clone(&self.slot);
        self.slot.set_abort(Box::new(move || {
            if let Some(lane) = lane.upgrade() {
                lane.cancel_running(id.seq);
            }
            slot.finish(Err(TaskError::Cancelled { task: id }));
        }));
        true
    }

    fn is_settled(&self) -> bool {
        self.slot.is_done()
    }

    fn deliver(self: Box<Self>, outcome: Result<&[u8], TaskError>, started: bool) {
        let id = self.slot.id();
        let outcome = outcome.and_then(|bytes| decode::<R>(bytes, id));
        if started {
            self.slot.finish(outcome);
        } else if let Err(error) = outcome {
            self.slot.withdraw(error);
        }
    }
}

/// Decodes a task's result.
pub(crate) fn decode<R: serde::de::DeserializeOwned>(
    bytes: &[u8],
    task: TaskId,
) -> Result<R, TaskError> {
    postcard::from_bytes(bytes).map_err(|error| TaskError::Codec {
        task,
        stage: CodecStage::Result,
        type_name: std::any::type_name::<R>(),
        message: error.to_string(),
    })
}

/// Encodes a task's argument.
pub(crate) fn encode<A: serde::Serialize>(arg: &A, task: TaskId) -> Result<Vec<u8>, TaskError> {
    let mut bytes = Vec::new();
    encode_into(arg, task, &mut bytes)?;
    Ok(bytes)
}

/// Appends a task's encoded argument to `buffer`; on failure leaves `buffer` as it was.
pub(crate) fn encode_into<A: serde::Serialize>(
    arg: &A,
    task: TaskId,
    buffer: &mut Vec<u8>,
) -> Result<(), TaskError> {
    let start = buffer.len();
    postcard::to_io(arg, &mut *buffer)
        .map(drop)
        .map_err(|error| {
            buffer.truncate(start);
            TaskError::Codec {
                task,
                stage: CodecStage::Argument,
                type_name: std::any::type_name::<A>(),
                message: error.to_string(),
            }
        })
}

/// The wire id and registration of task `T`, or the error that says it is missing.
pub(crate) fn lookup<T: Task>(task: TaskId) -> Result<(u32, &'static Registration), TaskError> {
    let registry = registry();
    match registry.id_of(T::NAME) {
        Some(id) => Ok((id, registry.entries[id as usize])),
        None => Err(TaskError::Io {
            task,
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!(
                    "task `{}` is not registered in this executable; mark it #[abreast::task] and make sure its crate is linked",
                    T::NAME
                ),
            ),
        }),
    }
}

impl ProcessPool {
    /// A builder with the documented defaults.
    pub fn builder() -> ProcessPoolBuilder {
        ProcessPoolBuilder::default()
    }

    /// A pool with one worker per CPU and the default settings.
    pub fn new() -> Result<Self, BuildError> {
        Self::builder().build()
    }

    /// The number of worker processes.
    pub fn workers(&self) -> usize {
        self.shared.context.config.workers
    }

    /// The pids of the worker processes alive now (for diagnostics and tests).
    pub fn worker_pids(&self) -> Vec<u32> {
        self.shared
            .lanes
            .iter()
            .filter_map(|lane| lane.pid())
            .collect()
    }

    /// The pool's counters now: queued, running, completed, failed, cancelled, workers replaced.
    /// `running` counts the tasks sent to workers, including those waiting in a worker's pipe
    /// behind the one it runs (see [`prefetch`](ProcessPoolBuilder::prefetch)).
    pub fn stats(&self) -> PoolStats {
        self.shared.context.counters.snapshot()
    }

    /// Stops taking new tasks: from now on `submit` returns handles that are already
    /// [`Cancelled`](TaskError::Cancelled) and `map` pulls no more input; tasks already
    /// submitted still run. This is what the first Ctrl-C does under [`CtrlC`](super::CtrlC).
    pub fn drain(&self) {
        self.shared.drain();
    }

    /// True once [`drain`](Self::drain) was called (or a Ctrl-C asked for it).
    pub fn is_draining(&self) -> bool {
        self.shared.draining()
    }

    /// Makes the job for one task and its handle; Err(handle) when it failed before queueing.
    fn prepare<T: Task>(&self, arg: &T::Arg) -> Prepared<T::Output> {
        let counters = &self.shared.context.counters;
        let id = TaskId::named(counters.next_seq(), T::NAME);
        let slot = Slot::new(id, Arc::clone(counters));
        let handle = TaskHandle::new(Arc::clone(&slot));
        if self.shared.draining() {
            slot.withdraw(TaskError::Cancelled { task: id });
            return Err(handle);
        }
        let prepared = lookup::<T>(id).and_then(|(task, registration)| {
            encode(arg, id).map(|bytes| (task, registration, bytes))
        });
        match prepared {
            Ok((task, registration, bytes)) => {
                let item = Item {
                    id,
                    range: 0..bytes.len(),
                    args: Arc::new(bytes),
                    sink: Box::new(SlotSink { slot }),
                    retries_left: self.shared.context.config.retries,
                    started: false,
                };
                let job = Job {
                    task,
                    registration,
                    items: VecDeque::from([item]),
                    size: 1,
                    clock: None,
                    affinity: None,
                };
                Ok((job, handle))
            }
            Err(error) => {
                slot.withdraw(error);
                Err(handle)
            }
        }
    }

    fn sender(&self) -> &flume::Sender<Job> {
        self.sender
            .as_ref()
            .expect("the sender is only taken by shutdown, which consumes the pool")
    }

    /// Queues a job, waiting for room.
    pub(crate) fn enqueue(&self, job: Job) {
        if let Err(flume::SendError(job)) = self.sender().send(job) {
            job.fail_all(|task| TaskError::Cancelled { task });
        }
    }

    /// Runs `task(arg)` on a worker and returns its handle at once, unless the queue is full:
    /// then it waits for room. The handle's `join`, `join_timeout` and `cancel` behave as the
    /// thread pool's, except that cancelling a running task kills (and replaces) its worker.
    ///
    /// If `arg` cannot be serialized the handle holds [`TaskError::Codec`] at once.
    pub fn submit<T: Task>(&self, task: T, arg: T::Arg) -> TaskHandle<T::Output> {
        let _ = task;
        self.submit_keyed::<T>(None, &arg)
    }

    /// Like [`submit`](Self::submit), but waits for room in the queue without blocking an async
    /// runtime. Await the returned handle for the result.
    pub fn submit_async<T: Task>(
        &self,
        task: T,
        arg: T::Arg,
    ) -> impl Future<Output = TaskHandle<T::Output>> + Send + '_ {
        let _ = task;
        self.submit_keyed_async::<T>(None, &arg)
    }

    /// Like [`submit`](Self::submit), with an affinity `key`: tasks that share a key go to the
    /// worker that last took one of them, so what that worker kept from it (its open connections
    /// to a host, a cache) serves the next. Only a preference:
    ///
    /// - The task is kept for that worker when at most one task (or `map` chunk) is ahead of it
    ///   there, running or waiting; a task kept so is taken before the pool's queue. Otherwise
    ///   it joins the queue like any other task.
    /// - A kept task that still waits after four times as long as that worker's tasks usually
    ///   take (at least 20 ms) goes to the next worker with nothing to do (an idle worker looks
    ///   at least every 50 ms), so it never waits long behind a slow task while another worker
    ///   is free.
    /// - The worker that takes the task becomes the key's.
    ///
    /// The pool remembers up to 65,536 keys, then forgets them all and starts again, which costs
    /// each key its preference once.
    ///
    /// `abreast fetch --mode processes` keys a page by its host when no other request to the
    /// host is in flight, so one worker's connection serves the host's pages, as one
    /// `requests.Session` would.
    pub fn submit_with_affinity<T: Task>(
        &self,
        key: u64,
        task: T,
        arg: T::Arg,
    ) -> TaskHandle<T::Output> {
        let _ = task;
        self.submit_keyed::<T>(Some(key), &arg)
    }

    /// [`submit_with_affinity`](Self::submit_with_affinity) for async code: waits for room in
    /// the queue without blocking the runtime, as [`submit_async`](Self::submit_async) does.
    pub fn submit_async_with_affinity<T: Task>(
        &self,
        key: u64,
        task: T,
        arg: T::Arg,
    ) -> impl Future<Output = TaskHandle<T::Output>> + Send + '_ {
        let _ = task;
        self.submit_keyed_async::<T>(Some(key), &arg)
    }

    /// Submits a task, to the lane of its affinity `key` if that lane takes it, else to the
    /// queue (waiting for room).
    fn submit_keyed<T: Task>(&self, key: Option<u64>, arg: &T::Arg) -> TaskHandle<T::Output> {
        match self.prepare::<T>(arg) {
            Ok((job, handle)) => {
                if let Err(job) = self.offer(key, job) {
                    self.enqueue(job);
                }
                handle
            }
            Err(handle) => handle,
        }
    }

    /// [`submit_keyed`](Self::submit_keyed), waiting for room in the queue asynchronously.
    #[allow(clippy::async_yields_async)] // yielding the handle, to await later, is the point
    fn submit_keyed_async<'pool, T: Task>(
        &'pool self,
        key: Option<u64>,
        arg: &T::Arg,
    ) -> impl Future<Output = TaskHandle<T::Output>> + Send + use<'pool, T> {
        let prepared = self.prepare::<T>(arg);
        async move {
            match prepared {
                Ok((job, handle)) => {
                    if let Err(job) = self.offer(key, job)
                        && let Err(flume::SendError(job)) = self.sender().send_async(job).await
                    {
                        job.fail_all(|task| TaskError::Cancelled { task });
                    }
                    handle
                }
                Err(handle) => handle,
            }
        }
    }

    /// Gives `job` the affinity `key` and hands it to the key's lane if that lane takes it;
    /// else gives it back, for the queue.
    fn offer(&self, key: Option<u64>, mut job: Job) -> Result<(), Job> {
        job.affinity = key;
        match key.and_then(|key| self.shared.context.affinity.preferred(key)) {
            Some(lane) => self.shared.lanes[lane].offer(job),
            None => Err(job),
        }
    }

    /// Waits for every queued and running task to finish, then lets the workers exit and reaps
    /// them.
    pub fn shutdown(mut self) {
        self.stop(false);
    }

    /// Cancels every queued task, kills the workers (their running tasks fail with
    /// [`TaskError::Cancelled`]) and reaps them.
    pub fn shutdown_now(mut self) {
        self.stop(true);
    }

    fn stop(&mut self, now: bool) {
        if now {
            self.shared.stop_now();
        }
        self.sender = None;
        // A lane blocked in a select over the queue and its wake-up channel is not always woken
        // by the queue's closing alone: wake each one.
        for lane in &self.shared.lanes {
            lane.wake_up();
        }
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
        if let Some(watchdog) = self.watchdog.take() {
            drop(watchdog.stop);
            let _ = watchdog.thread.join();
        }
    }
}

impl Drop for ProcessPool {
    /// Same as [`shutdown`](ProcessPool::shutdown): finishes the queue, then ends and reaps
    /// every worker. No worker outlives the pool.
    fn drop(&mut self) {
        self.stop(false);
    }
}

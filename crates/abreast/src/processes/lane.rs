//! A lane: one worker slot of a pool, with the two threads that keep its worker process busy.
//!
//! The lane thread (long-lived, so the worker's `PR_SET_PDEATHSIG` stays armed) starts the worker,
//! takes jobs from the pool's queue and writes them to the worker, keeping up to `prefetch` frames
//! in flight so the worker never waits for the parent. A reader thread per worker process reads
//! the results and completes the tasks; when the socket closes it reaps the process, decides whose
//! fault the death was, fails that one task and hands the others back to be sent again. Reading
//! and writing on separate threads is what lets a 100 MB argument and a 100 MB result cross at
//! the same time without either side blocking the other.
//!
//! Ownership runs one way. The pool owns its lanes (through `PoolShared`) and joins their threads
//! when it stops; a lane holds only the pool's [`LaneContext`] (settings, counters, the queue, the
//! stop flag), never the pool, and a lane thread joins its reader threads before it ends. A task
//! handle that can cancel a running task holds its lane weakly. So a dropped pool frees all it
//! had: threads, worker processes, sockets and memory.
//!
//! This file holds the lane's state and its thread; [`start`] starts a worker and [`reader`] is
//! the reader thread.

use std::collections::VecDeque;
use std::io::{self, BufWriter, Write};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

mod reader;
mod start;

use start::start_worker;

use super::pool::LaneContext;
use super::registry::Registration;
use super::wire;
use crate::error::{TaskError, TaskId};

/// Where one task's outcome goes: a [`TaskHandle`](crate::TaskHandle)'s slot or a map's channel.
pub(crate) trait ItemSink: Send {
    /// The task leaves the queue for a worker. False if it was cancelled meanwhile: drop it.
    fn start(&mut self, lane: &Arc<Lane>, id: TaskId) -> bool;
    /// True if the task already has its outcome (it was cancelled while in a worker's pipe):
    /// running it would be wasted.
    fn is_settled(&self) -> bool {
        false
    }
    /// The task's outcome (its result still encoded). `started` says whether `start` said yes.
    fn deliver(self: Box<Self>, outcome: Result<&[u8], TaskError>, started: bool);
}

/// One task: its encoded argument and where its outcome goes.
pub(crate) struct Item {
    pub(crate) id: TaskId,
    /// The encoded arguments of the frame the item was made in (shared by its items)…
    pub(crate) args: Arc<Vec<u8>>,
    /// …and where this item's argument lies in them.
    pub(crate) range: std::ops::Range<usize>,
    pub(crate) sink: Box<dyn ItemSink>,
    pub(crate) retries_left: u32,
    pub(crate) started: bool,
}

/// Measures how long a map's items take in the worker, for automatic chunking.
#[derive(Debug, Default)]
pub(crate) struct ChunkClock {
    /// Smoothed nanoseconds per item; 0 until the first frame reports.
    pub(crate) nanos_per_item: AtomicU64,
}

impl ChunkClock {
    fn record(&self, nanos: u64, items: usize) {
        let sample = (nanos / items.max(1) as u64).max(1);
        let old = self.nanos_per_item.load(Ordering::Relaxed);
        let new = if old == 0 {
            sample
        } else {
            (old * 3 + sample) / 4
        };
        self.nanos_per_item.store(new, Ordering::Relaxed);
    }
}

/// One frame: items of one task function, sent and answered together.
pub(crate) struct Job {
    pub(crate) task: u32,
    pub(crate) registration: &'static Registration,
    pub(crate) items: VecDeque<Item>,
    /// Items in the frame when it was sent (for the chunk clock).
    pub(crate) size: usize,
    pub(crate) clock: Option<Arc<ChunkClock>>,
    /// The key of a task submitted with an affinity: the lane that takes it becomes the key's.
    pub(crate) affinity: Option<u64>,
}

impl Job {
    /// Splits a frame into one frame per item, so a fault can be pinned on one of them.
    fn split(self) -> impl DoubleEndedIterator<Item = Job> {
        let Job {
            task,
            registration,
            items,
            clock,
            affinity,
            ..
        } = self;
        items.into_iter().map(move |item| Job {
            task,
            registration,
            items: VecDeque::from([item]),
            size: 1,
            clock: clock.clone(),
            affinity,
        })
    }

    /// Fails every item with `error(id)`.
    pub(crate) fn fail_all(self, mut error: impl FnMut(TaskId) -> TaskError) {
        for item in self.items {
            let outcome = Err(error(item.id));
            item.sink.deliver(outcome, item.started);
        }
    }

    /// How long the front frame may run: the timeout for each of its items.
    fn allowed(&self, timeout: Duration) -> Duration {
        timeout.saturating_mul(u32::try_from(self.size.max(1)).unwrap_or(u32::MAX))
    }
}

/// Why the pool killed a worker, so its death is blamed right.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kill {
    /// Task `seq` ran past the timeout.
    Timeout(u64),
    /// Task `seq` was cancelled while it ran.
    Cancel(u64),
    /// The pool is stopping now.
    Shutdown,
}

struct LaneState {
    /// The worker's pid while it is alive and not reaped: only then may it be signalled.
    pid: Option<u32>,
    /// Frames written to the worker, oldest (the running one) first.
    in_flight: VecDeque<Job>,
    /// Frames to send again (their worker died before running them), before any new job.
    resend: VecDeque<Job>,
    /// When the front frame last made progress (started, or an item finished).
    front_since: Instant,
    kill: Option<Kill>,
    /// The reader saw the current worker's socket close.
    dead: bool,
    /// The lane thread waits on `changed`.
    waiting: bool,
    /// A lane waiting for room wants waking only once `in_flight` is down to this, so it
    /// refills several frames with one write.
    low_water: usize,
    /// EXIT was sent to recycle the worker: its death is expected.
    recycling: bool,
    /// EXIT was sent because the pool is closing: the worker is not replaced.
    retiring: bool,
    /// Smoothed time the worker spent per frame, in nanoseconds; 0 until one was answered.
    frame_nanos: u64,
}

/// How much work (by the worker's own measure) a lane keeps queued in its worker's pipe: enough
/// that the worker never waits for the parent, little enough that no task waits long behind
/// others in one worker while another worker is idle.
const PIPELINE_NANOS: u64 = 2_000_000;

impl LaneState {
    /// How many frames may be in flight now: about [`PIPELINE_NANOS`] of work, at least one
    /// (and only one until a frame was measured), at most `prefetch`.
    fn depth(&self, prefetch: usize) -> usize {
        if self.frame_nanos == 0 {
            return 1;
        }
        usize::try_from(PIPELINE_NANOS / self.frame_nanos)
            .unwrap_or(usize::MAX)
            .clamp(1, prefetch)
    }
}

/// How many frames (running, in the pipe or waiting) may be ahead of a task that [`Lane::offer`]
/// takes for its affinity key.
const MOST_AHEAD_OF_AN_AFFINE_TASK: usize = 1;

/// How long a task kept for its affinity key waits for its lane before a free lane may take it:
/// four times as long as the lane's frames take, and at least this.
const AFFINE_PATIENCE: Duration = Duration::from_millis(20);

/// Per lane, the tasks kept for it for their affinity key ([`Lane::offer`]), each with the time
/// from which another lane may take it. A lane takes its own after the frames it must send again
/// and before the pool's queue; a lane with nothing to do takes another's that waited past that
/// time, so a task is never stuck behind a slow one while a worker is free.
pub(crate) struct AffineQueues {
    lanes: Box<[Mutex<KeptTasks>]>,
}

/// The tasks kept for one lane, each with when another lane may take it.
type KeptTasks = VecDeque<(Instant, Job)>;

impl AffineQueues {
    pub(crate) fn new(lanes: usize) -> AffineQueues {
        AffineQueues {
            lanes: (0..lanes).map(|_| Mutex::new(VecDeque::new())).collect(),
        }
    }

    fn lock(&self, lane: usize) -> MutexGuard<'_, KeptTasks> {
        self.lanes[lane].lock().unwrap_or_else(|p| p.into_inner())
    }

    fn len(&self, lane: usize) -> usize {
        self.lock(lane).len()
    }

    /// The oldest task kept for `lane`.
    fn take(&self, lane: usize) -> Option<Job> {
        self.lock(lane).pop_front().map(|(_, job)| job)
    }

    /// A task kept for another lane than `lane` that waited past its patience.
    fn take_stale(&self, lane: usize) -> Option<Job> {
        (0..self.lanes.len())
            .filter(|&other| other != lane)
            .find_map(|other| {
                let mut queue = self.lock(other);
                let stale = queue
                    .front()
                    .is_some_and(|(free_from, _)| *free_from <= Instant::now());
                stale
                    .then(|| queue.pop_front())
                    .flatten()
                    .map(|(_, job)| job)
            })
    }
}

/// One worker slot of a pool.
pub(crate) struct Lane {
    index: usize,
    state: Mutex<LaneState>,
    changed: Condvar,
    wake: flume::Sender<()>,
    woken: flume::Receiver<()>,
    /// What the lane needs of its pool (never the pool itself, which owns the lane).
    context: Arc<LaneContext>,
}

/// Why a worker could not be started.
#[derive(Debug)]
pub(crate) enum StartError {
    Spawn(io::Error),
    Handshake(String),
    Initializer(TaskError),
}

impl Lane {
    pub(crate) fn new(index: usize, context: Arc<LaneContext>) -> Arc<Lane> {
        let (wake, woken) = flume::bounded(1);
        Arc::new(Lane {
            index,
            state: Mutex::new(LaneState {
                pid: None,
                in_flight: VecDeque::new(),
                resend: VecDeque::new(),
                front_since: Instant::now(),
                kill: None,
                dead: true,
                waiting: false,
                low_water: 0,
                recycling: false,
                retiring: false,
                frame_nanos: 0,
            }),
            changed: Condvar::new(),
            wake,
            woken,
            context,
        })
    }

    fn lock(&self) -> MutexGuard<'_, LaneState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Wakes the lane thread if it waits for room and enough frames were answered.
    fn notify_progress(&self, state: &LaneState) {
        if state.waiting && state.in_flight.len() <= state.low_water {
            self.changed.notify_all();
        }
    }

    /// Wakes the lane thread wherever it waits (its worker died).
    fn notify(&self, state: &LaneState) {
        if state.waiting {
            self.changed.notify_all();
        }
        let _ = self.wake.try_send(());
    }

    /// Wakes the lane thread to look at the pool again (it is closing).
    pub(crate) fn wake_up(&self) {
        let state = self.lock();
        self.changed.notify_all();
        drop(state);
        let _ = self.wake.try_send(());
    }

    /// Keeps `job` (a task whose affinity key names this lane) for this lane if its worker is
    /// alive and at most one frame is ahead of it here; else gives it back, for the pool's queue.
    pub(crate) fn offer(&self, job: Job) -> Result<(), Job> {
        let state = self.lock();
        let affine = &self.context.affine;
        let ahead = state.in_flight.len() + state.resend.len() + affine.len(self.index);
        if state.dead || state.recycling || ahead > MOST_AHEAD_OF_AN_AFFINE_TASK {
            return Err(job);
        }
        let frame = Duration::from_nanos(state.frame_nanos.saturating_mul(4));
        let free_from = Instant::now() + frame.max(AFFINE_PATIENCE);
        affine.lock(self.index).push_back((free_from, job));
        drop(state);
        // The lane thread may be waiting for the pool's queue: have it look here.
        let _ = self.wake.try_send(());
        Ok(())
    }

    /// Takes every frame this lane holds to send: those to send again, then those kept for it.
    fn take_held(&self) -> Vec<Job> {
        let mut held: Vec<Job> = self.lock().resend.drain(..).collect();
        held.extend(std::iter::from_fn(|| self.context.affine.take(self.index)));
        held
    }

    /// The pid of the live worker, if any.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.lock().pid
    }

    /// Kills the worker if task `seq` is the one it is running (a cancelled running task).
    pub(crate) fn cancel_running(&self, seq: u64) {
        let mut state = self.lock();
        let running = state
            .in_flight
            .front()
            .and_then(|job| job.items.front())
            .is_some_and(|item| item.id.seq == seq);
        if running {
            kill_locked(&mut state, Kill::Cancel(seq));
        }
    }

    /// Kills the worker, whatever it runs (shutdown_now, second Ctrl-C).
    pub(crate) fn kill_worker(&self) {
        kill_locked(&mut self.lock(), Kill::Shutdown);
    }

    /// Kills the worker if its running task is past the deadline.
    pub(crate) fn check_timeout(&self, timeout: Duration, now: Instant) {
        let mut state = self.lock();
        let Some(front) = state.in_flight.front() else {
            return;
        };
        let Some(item) = front.items.front() else {
            return;
        };
        let seq = item.id.seq;
        let allowed = front.allowed(timeout);
        if now.saturating_duration_since(state.front_since) > allowed {
            kill_locked(&mut state, Kill::Timeout(seq));
        }
    }
}

/// Sends SIGKILL to the lane's worker, once, recording why.
fn kill_locked(state: &mut LaneState, kill: Kill) {
    if state.kill.is_some() {
        return;
    }
    if let Some(pid) = state.pid {
        state.kill = Some(kill);
        // SAFETY: `pid` is our child and not yet reaped (the reader clears `pid` before waiting),
        // so it cannot name another process.
        unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
    }
}

/// The worker process of a lane, as the lane thread holds it.
struct Worker {
    writer: BufWriter<UnixStream>,
    reader: JoinHandle<()>,
    /// Items sent to this process, for recycling.
    sent: u64,
}

/// What ended a lane's feeding of one worker.
enum Fed {
    /// The worker died (or was recycled): start another.
    Died,
    /// The queue is closed and every task is done: the worker was told to exit.
    Finished,
}

/// The lane thread: start a worker, feed it, replace it when it dies, until the pool closes.
pub(crate) fn run_lane(lane: &Arc<Lane>, started: flume::Sender<Result<(), StartError>>) {
    let mut worker = match start_worker(lane) {
        Ok(worker) => {
            let _ = started.send(Ok(()));
            worker
        }
        Err(error) => {
            let _ = started.send(Err(error));
            return;
        }
    };
    drop(started);
    loop {
        let fed = feed(lane, &mut worker);
        let _ = worker.writer.flush();
        drop(worker.writer);
        let _ = worker.reader.join();
        if matches!(fed, Fed::Finished) {
            return;
        }
        if lane.context.stopping_now() {
            cancel_everything(lane);
            return;
        }
        match restart(lane) {
            Some(next) => worker = next,
            None => return,
        }
    }
}

/// Starts a replacement worker, retrying with a growing pause. While it keeps failing, one task
/// per attempt is failed with the reason, so nothing waits forever on a pool that cannot work.
/// None when the pool is closed or stopping meanwhile.
fn restart(lane: &Arc<Lane>) -> Option<Worker> {
    let mut pause = Duration::from_millis(5);
    loop {
        match start_worker(lane) {
            Ok(worker) => return Some(worker),
            Err(error) => {
                let message = match error {
                    StartError::Spawn(error) => format!("could not start a worker: {error}"),
                    StartError::Handshake(message) => message,
                    StartError::Initializer(error) => {
                        format!("the worker initializer failed: {error}")
                    }
                };
                let job = {
                    let mut state = lane.lock();
                    state.resend.pop_front()
                }
                .or_else(|| lane.context.affine.take(lane.index))
                .or_else(|| lane.context.jobs.try_recv().ok());
                let fail = |job: Job| {
                    job.fail_all(|task| TaskError::Io {
                        task,
                        source: io::Error::other(message.clone()),
                    });
                };
                if let Some(job) = job {
                    fail(job);
                } else if lane.context.jobs.is_disconnected() {
                    return None;
                }
                if lane.context.jobs.is_disconnected() {
                    // The pool is closing and this lane cannot get a worker: fail what is left
                    // rather than leave it waiting.
                    let left = lane.take_held();
                    left.into_iter().for_each(fail);
                    while let Ok(job) = lane.context.jobs.try_recv() {
                        fail(job);
                    }
                    return None;
                }
                if lane.context.stopping_now() {
                    cancel_everything(lane);
                    return None;
                }
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_secs(1));
            }
        }
    }
}

/// After `shutdown_now`: cancels what this lane holds and every job still queued.
fn cancel_everything(lane: &Lane) {
    let jobs = lane.take_held();
    for job in jobs {
        job.fail_all(|task| TaskError::Cancelled { task });
    }
    // Keep cancelling until the pool closes its queue, so a late submit never waits forever.
    while let Ok(job) = lane.context.jobs.recv() {
        job.fail_all(|task| TaskError::Cancelled { task });
    }
}

/// Sends jobs to `worker` until it dies or the pool's queue is closed and drained.
fn feed(lane: &Arc<Lane>, worker: &mut Worker) -> Fed {
    let context = &lane.context;
    let prefetch = context.config.prefetch;
    loop {
        let mut state = lane.lock();
        // Room for one more frame, and a worker to send it to.
        loop {
            if state.dead {
                return Fed::Died;
            }
            let depth = state.depth(prefetch);
            let full = state.in_flight.len() >= depth;
            if !full && !state.recycling {
                break;
            }
            if full {
                // Whatever waits in the buffer must reach the worker before we sleep.
                drop(state);
                let _ = worker.writer.flush();
                state = lane.lock();
            }
            // Sleep until half the frames are answered (or the worker is gone), then refill.
            state.low_water = depth / 2;
            while !state.dead && (state.in_flight.len() > state.low_water || state.recycling) {
                state.waiting = true;
                state = lane.changed.wait(state).unwrap_or_else(|p| p.into_inner());
                state.waiting = false;
            }
        }
        // Tasks kept for this lane come next, from `next_job`.
        let resent = state.resend.pop_front();
        drop(state);
        let mut job = match resent {
            Some(job) => job,
            None => {
                match next_job(lane, worker) {
                    Next::Job(job) => job,
                    Next::Recheck => continue,
                    Next::Closed => {
                        // Nothing more will come: once every frame is answered, let it go. The
                        // frames written last may still sit in the buffer (the queue was found
                        // closed without waiting, so nothing flushed them): send them first, or
                        // they are never answered and the lane waits here forever.
                        let _ = worker.writer.flush();
                        let mut state = lane.lock();
                        if !state.resend.is_empty() || context.affine.len(lane.index) > 0 {
                            continue;
                        }
                        if state.in_flight.is_empty() && !state.dead {
                            state.retiring = true;
                            drop(state);
                            let _ = worker.writer.write_all(&[wire::EXIT]);
                            let _ = worker.writer.flush();
                            return Fed::Finished;
                        }
                        if state.dead {
                            return Fed::Died;
                        }
                        state.waiting = true;
                        state.low_water = 0;
                        let mut state = lane
                            .changed
                            .wait_timeout(state, Duration::from_millis(50))
                            .unwrap_or_else(|p| p.into_inner())
                            .0;
                        state.waiting = false;
                        continue;
                    }
                }
            }
        };
        if context.stopping_now() {
            job.fail_all(|task| TaskError::Cancelled { task });
            continue;
        }
        // Tasks cancelled while queued are dropped here (their handles already say so).
        let mut kept = VecDeque::with_capacity(job.items.len());
        for mut item in job.items.drain(..) {
            if item.started || item.sink.start(lane, item.id) {
                item.started = true;
                kept.push_back(item);
            }
        }
        job.items = kept;
        if job.items.is_empty() {
            continue;
        }
        if let Some(key) = job.affinity {
            context.affinity.remember(key, lane.index);
        }
        let args: Vec<(Arc<Vec<u8>>, std::ops::Range<usize>)> = job
            .items
            .iter()
            .map(|item| (Arc::clone(&item.args), item.range.clone()))
            .collect();
        let task = job.task;
        {
            let mut state = lane.lock();
            if state.dead {
                state.resend.push_front(job);
                return Fed::Died;
            }
            if state.in_flight.is_empty() {
                state.front_since = Instant::now();
            }
            state.in_flight.push_back(job);
        }
        worker.sent += args.len() as u64;
        // A failed write means the worker died; the reader notices and reports it.
        let _ = write_run(&mut worker.writer, task, &args);
        if context
            .config
            .max_tasks_per_worker
            .is_some_and(|max| worker.sent >= max)
        {
            let _ = worker.writer.write_all(&[wire::EXIT]);
            let _ = worker.writer.flush();
            lane.lock().recycling = true;
        }
    }
}

enum Next {
    Job(Job),
    /// Woken without a job (the worker died, or a result arrived): look at the state again.
    Recheck,
    /// The pool's queue is closed and empty.
    Closed,
}

/// Takes the next job, flushing what was written before waiting for one: one kept for this
/// lane, else the pool's next, else one kept too long for a busy lane.
fn next_job(lane: &Lane, worker: &mut Worker) -> Next {
    let (jobs, affine) = (&lane.context.jobs, &lane.context.affine);
    let next = || {
        if let Some(job) = affine.take(lane.index) {
            return Some(Next::Job(job));
        }
        match jobs.try_recv() {
            Ok(job) => Some(Next::Job(job)),
            Err(error) => match affine.take_stale(lane.index) {
                Some(job) => Some(Next::Job(job)),
                None if error == flume::TryRecvError::Disconnected => Some(Next::Closed),
                None => None,
            },
        }
    };
    if let Some(next) = next() {
        return next;
    }
    let _ = worker.writer.flush();
    // Forget stale wake-ups, then look again: whatever happens after this wakes the select.
    let _ = lane.woken.try_recv();
    if let Some(next) = next() {
        return next;
    }
    if lane.lock().dead {
        return Next::Recheck;
    }
    // The wait is bounded: a wake-up that flume's select loses (seen once in about ten runs of
    // the test suite: a lane slept in here while its worker was dead, and the pool hung) then
    // costs at most this long instead of forever. It also bounds how long a task kept for a
    // busy lane waits past its patience before this one takes it.
    flume::Selector::new()
        .recv(jobs, |job| match job {
            Ok(job) => Next::Job(job),
            Err(flume::RecvError::Disconnected) => Next::Closed,
        })
        .recv(&lane.woken, |_| Next::Recheck)
        .wait_timeout(LOST_WAKE_UP_BOUND)
        .unwrap_or(Next::Recheck)
}

/// The longest a lane sleeps without looking at its worker and the queue again.
const LOST_WAKE_UP_BOUND: Duration = Duration::from_millis(50);

fn write_run(
    writer: &mut impl Write,
    task: u32,
    args: &[(Arc<Vec<u8>>, std::ops::Range<usize>)],
) -> io::Result<()> {
    writer.write_all(&[wire::RUN])?;
    writer.write_all(&task.to_le_bytes())?;
    writer.write_all(&(args.len() as u32).to_le_bytes())?;
    for (bytes, range) in args {
        wire::write_bytes(writer, &bytes[range.clone()])?;
    }
    Ok(())
}

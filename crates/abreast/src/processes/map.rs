//! `map` and `map_unordered` on a process pool: lazy, bounded, chunked.
//!
//! Items are pulled from the input only as results are consumed (at most `window` frames ahead),
//! so memory stays flat however long the input is. Several items travel in one frame when
//! chunking is on: a fixed [`chunksize`](Map::chunksize), or by default a size chosen from the
//! time the workers report per item, aiming at about 2 ms of work per frame. A fault inside a
//! chunk is pinned on its item by running the chunk's items again one by one.

use std::collections::VecDeque;
use std::iter::Fuse;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::lane::{ChunkClock, Item, ItemSink, Job, Lane};
use super::pool::{ProcessPool, decode, encode_into, lookup};
use super::registry::{Registration, Task};
use crate::error::{TaskError, TaskId};
use crate::handle::Counters;

/// How much work an automatic chunk aims at.
const CHUNK_TARGET_NANOS: u64 = 2_000_000;
/// The largest automatic chunk.
const MAX_AUTO_CHUNK: usize = 1024;

type Outcome<R> = (usize, Result<R, TaskError>);

/// Encoded arguments a map keeps in flight at most (beyond its first frame), so a map over
/// large values stays within memory even when its window of items is wide.
const MAX_ARG_BYTES: usize = 64 << 20;

/// What every item of one map shares: the way back, the pool's counters, and the size of the
/// encoded arguments not yet answered.
struct MapShared<R> {
    results: flume::Sender<Outcome<R>>,
    counters: Arc<Counters>,
    arg_bytes: AtomicUsize,
}

/// Delivers one map item's outcome to the map's channel.
struct MapSink<R> {
    index: usize,
    id: TaskId,
    /// The size of its encoded argument, counted in `arg_bytes` until delivery.
    bytes: usize,
    shared: Arc<MapShared<R>>,
}

impl<R: serde::de::DeserializeOwned + Send + 'static> ItemSink for MapSink<R> {
    fn start(&mut self, _lane: &Arc<Lane>, _id: TaskId) -> bool {
        self.shared.counters.started();
        true
    }

    fn deliver(self: Box<Self>, outcome: Result<&[u8], TaskError>, started: bool) {
        self.shared
            .arg_bytes
            .fetch_sub(self.bytes, Ordering::Relaxed);
        let outcome = outcome.and_then(|bytes| decode::<R>(bytes, self.id));
        if started {
            self.shared.counters.finished(&outcome);
        } else {
            self.shared.counters.withdrawn(&outcome);
        }
        // The consumer may have dropped the map: then nobody wants the result.
        let _ = self.shared.results.send((self.index, outcome));
    }
}

/// Pulls items, sends them in frames, receives their outcomes: the engine under both iterators.
struct Window<'pool, T: Task, I: Iterator> {
    pool: &'pool ProcessPool,
    items: Fuse<I>,
    shared: Arc<MapShared<T::Output>>,
    receiver: flume::Receiver<Outcome<T::Output>>,
    /// Frames in flight at most, if the caller chose; else see [`Window::limit`].
    window: Option<usize>,
    workers: usize,
    prefetch: usize,
    /// `None`: automatic.
    chunksize: Option<usize>,
    clock: Arc<ChunkClock>,
    task: Result<(u32, &'static Registration), TaskError>,
    /// Items pulled so far.
    submitted: usize,
}

impl<'pool, T, I> Window<'pool, T, I>
where
    T: Task,
    I: Iterator<Item = T::Arg>,
{
    fn new(pool: &'pool ProcessPool, items: I) -> Self {
        let (results, receiver) = flume::unbounded();
        let config = &pool.shared.context.config;
        Window {
            pool,
            items: items.fuse(),
            shared: Arc::new(MapShared {
                results,
                counters: Arc::clone(&pool.shared.context.counters),
                arg_bytes: AtomicUsize::new(0),
            }),
            receiver,
            window: None,
            workers: config.workers,
            prefetch: config.prefetch,
            chunksize: None,
            clock: Arc::new(ChunkClock::default()),
            task: lookup::<T>(TaskId::named(0, T::NAME)),
            submitted: 0,
        }
    }

    /// The size of the next frame.
    fn chunk(&self) -> usize {
        match self.chunksize {
            Some(size) => size,
            None => match self.clock.nanos_per_item.load(Ordering::Relaxed) {
                0 => 1,
                nanos => usize::try_from(CHUNK_TARGET_NANOS / nanos)
                    .unwrap_or(MAX_AUTO_CHUNK)
                    .clamp(1, MAX_AUTO_CHUNK),
            },
        }
    }

    /// How many items may be outstanding with frames of `chunk` items: the chosen window of
    /// frames, or by default enough to fill every worker's pipeline with single items, and four
    /// chunks per worker.
    fn limit(&self, chunk: usize) -> usize {
        match self.window {
            Some(frames) => frames.saturating_mul(chunk),
            None => (2 * self.workers * self.prefetch).max(4 * self.workers * chunk),
        }
    }

    /// Sends frames until `outstanding` items (pulled, not yet yielded) fill the window.
    /// Returns how many items were pulled.
    fn fill(&mut self, outstanding: usize) -> usize {
        let before = self.submitted;
        let mut outstanding = outstanding;
        loop {
            if self.pool.shared.draining() {
                break;
            }
            let chunk = self.chunk();
            if outstanding >= self.limit(chunk)
                || outstanding > 0 && self.shared.arg_bytes.load(Ordering::Relaxed) >= MAX_ARG_BYTES
            {
                break;
            }
            let before_chunk = self.submitted;
            // Every argument of the frame is encoded into one buffer.
            let mut encoded = Vec::new();
            let mut pending = Vec::with_capacity(chunk);
            let counters = &self.pool.shared.context.counters;
            for arg in self.items.by_ref().take(chunk) {
                let index = self.submitted;
                self.submitted += 1;
                outstanding += 1;
                let id = TaskId::named(counters.next_seq(), T::NAME);
                counters.enqueued();
                let start = encoded.len();
                let result = match &self.task {
                    Ok(_) => encode_into(&arg, id, &mut encoded),
                    Err(error) => Err(renamed(error, id)),
                };
                let bytes = encoded.len() - start;
                self.shared.arg_bytes.fetch_add(bytes, Ordering::Relaxed);
                let sink = Box::new(MapSink {
                    index,
                    id,
                    bytes,
                    shared: Arc::clone(&self.shared),
                });
                match result {
                    Ok(()) => pending.push((id, start..encoded.len(), sink)),
                    Err(error) => ItemSink::deliver(sink, Err(error), false),
                }
            }
            let encoded = Arc::new(encoded);
            let retries = self.pool.shared.context.config.retries;
            let items: VecDeque<Item> = pending
                .into_iter()
                .map(|(id, range, sink)| Item {
                    id,
                    args: Arc::clone(&encoded),
                    range,
                    sink: sink as Box<dyn ItemSink>,
                    retries_left: retries,
                    started: false,
                })
                .collect();
            let pulled = self.submitted - before_chunk;
            if let (Ok((task, registration)), false) = (&self.task, items.is_empty()) {
                let size = items.len();
                self.pool.enqueue(Job {
                    task: *task,
                    registration,
                    items,
                    size,
                    clock: Some(Arc::clone(&self.clock)),
                    affinity: None,
                });
            }
            if pulled < chunk {
                break; // the input ran dry
            }
        }
        self.submitted - before
    }

    fn receive(&self) -> Outcome<T::Output> {
        self.receiver
            .recv()
            .expect("the map holds a sender, so the channel stays open")
    }
}

/// The registry error for one more item (the same error, naming this item).
fn renamed(error: &TaskError, task: TaskId) -> TaskError {
    TaskError::Io {
        task,
        source: std::io::Error::new(std::io::ErrorKind::NotFound, error.to_string()),
    }
}

/// The iterator returned by [`ProcessPool::map`]: results in input order.
pub struct Map<'pool, T: Task, I: Iterator> {
    engine: Window<'pool, T, I>,
    /// Outcomes of items `yielded..submitted`, `None` until they arrive.
    pending: VecDeque<Option<Result<T::Output, TaskError>>>,
}

impl<T: Task, I: Iterator> std::fmt::Debug for Map<'_, T, I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Map")
            .field("task", &T::NAME)
            .field("window", &self.engine.window)
            .field("chunksize", &self.engine.chunksize)
            .field("submitted", &self.engine.submitted)
            .field("outstanding", &self.pending.len())
            .finish()
    }
}

impl<'pool, T, I> Map<'pool, T, I>
where
    T: Task,
    I: Iterator<Item = T::Arg>,
{
    /// At most `window` frames (single items, or chunks) are pulled from the input ahead of the
    /// consumer. Default: as many items as fill every worker's pipeline (2 × workers × prefetch),
    /// or four chunks per worker, whichever is more. Whatever the window, no more is pulled
    /// while 64 MiB of encoded arguments are in flight. Set it before the first `next()`; 0 is
    /// taken as 1.
    pub fn window(mut self, window: usize) -> Self {
        self.engine.window = Some(window.max(1));
        self
    }

    /// Sends `size` items per frame (Python's `chunksize`). 1 turns chunking off. Default:
    /// automatic, from the time the workers report per item (about 2 ms of work per frame, at
    /// most 1,024 items). 0 is taken as 1.
    pub fn chunksize(mut self, size: usize) -> Self {
        self.engine.chunksize = Some(size.max(1));
        self
    }
}

impl<T, I> Iterator for Map<'_, T, I>
where
    T: Task,
    I: Iterator<Item = T::Arg>,
{
    type Item = Result<T::Output, TaskError>;

    fn next(&mut self) -> Option<Self::Item> {
        let added = self.engine.fill(self.pending.len());
        self.pending
            .extend(std::iter::repeat_with(|| None).take(added));
        let first_index = self.engine.submitted - self.pending.len();
        while matches!(self.pending.front(), Some(None)) {
            let (index, outcome) = self.engine.receive();
            self.pending[index - first_index] = Some(outcome);
        }
        self.pending.pop_front().flatten()
    }
}

/// The iterator returned by [`ProcessPool::map_unordered`]: results as they finish.
pub struct MapUnordered<'pool, T: Task, I: Iterator> {
    engine: Window<'pool, T, I>,
    in_flight: usize,
}

impl<T: Task, I: Iterator> std::fmt::Debug for MapUnordered<'_, T, I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MapUnordered")
            .field("task", &T::NAME)
            .field("window", &self.engine.window)
            .field("chunksize", &self.engine.chunksize)
            .field("submitted", &self.engine.submitted)
            .field("in_flight", &self.in_flight)
            .finish()
    }
}

impl<'pool, T, I> MapUnordered<'pool, T, I>
where
    T: Task,
    I: Iterator<Item = T::Arg>,
{
    /// As [`Map::window`].
    pub fn window(mut self, window: usize) -> Self {
        self.engine.window = Some(window.max(1));
        self
    }

    /// As [`Map::chunksize`].
    pub fn chunksize(mut self, size: usize) -> Self {
        self.engine.chunksize = Some(size.max(1));
        self
    }

    /// Like the iterator, but each result comes with the position of its item in the input.
    pub fn indexed(self) -> impl Iterator<Item = (usize, Result<T::Output, TaskError>)> {
        std::iter::from_fn({
            let mut map = self;
            move || map.next_indexed()
        })
    }

    fn next_indexed(&mut self) -> Option<Outcome<T::Output>> {
        self.in_flight += self.engine.fill(self.in_flight);
        if self.in_flight == 0 {
            return None;
        }
        self.in_flight -= 1;
        Some(self.engine.receive())
    }
}

impl<T, I> Iterator for MapUnordered<'_, T, I>
where
    T: Task,
    I: Iterator<Item = T::Arg>,
{
    type Item = Result<T::Output, TaskError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_indexed().map(|(_, outcome)| outcome)
    }
}

impl ProcessPool {
    /// Applies `task` to every item on the workers and yields the results in input order
    /// (Python's `Pool.imap`, lazily).
    ///
    /// At most a window of frames is pulled ahead of the consumer ([`Map::window`]); items are
    /// chunked automatically unless [`Map::chunksize`] says otherwise. A failed item (panic,
    /// lost worker, timeout, codec) yields its [`TaskError`] in its place and the map goes on.
    /// Dropping the iterator stops pulling items; those already sent still run.
    pub fn map<T, I>(&self, task: T, items: I) -> Map<'_, T, I::IntoIter>
    where
        T: Task,
        I: IntoIterator<Item = T::Arg>,
    {
        let _ = task;
        Map {
            engine: Window::new(self, items.into_iter()),
            pending: VecDeque::new(),
        }
    }

    /// Like [`map`](Self::map) but yields results as they finish (Python's
    /// `Pool.imap_unordered`); use [`MapUnordered::indexed`] to learn which input each
    /// belongs to.
    pub fn map_unordered<T, I>(&self, task: T, items: I) -> MapUnordered<'_, T, I::IntoIter>
    where
        T: Task,
        I: IntoIterator<Item = T::Arg>,
    {
        let _ = task;
        MapUnordered {
            engine: Window::new(self, items.into_iter()),
            in_flight: 0,
        }
    }
}

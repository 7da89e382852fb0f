//! `map` and `map_unordered`: lazy, bounded-window mapping over an iterator on the pool.
//!
//! Python's `Executor.map` submits every item before yielding the first result, so a huge
//! iterator fills memory. Here at most `window` items are pulled from the iterator ahead of the
//! consumer (submitted, running, or finished and waiting to be yielded in order), so memory
//! stays flat however long the input is. Results travel back on one channel per map, without a
//! per-item handle.

use std::collections::VecDeque;
use std::iter::Fuse;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use super::pool::{Disposition, Job, ThreadPool};
use crate::error::{TaskError, TaskId};
use crate::panic;

/// How long one job of a map should run, when items are cheap enough to be batched.
const TARGET_CHUNK_NANOS: u64 = 50_000;

/// The results of one chunk: each item's position in the input and its outcome.
type ChunkResults<T> = Vec<(usize, Result<T, TaskError>)>;

/// What every job of one map shares: the function, the way back, and the cost estimate.
struct MapShared<F, T> {
    function: F,
    results: flume::Sender<ChunkResults<T>>,
    /// Moving estimate of one item's run time in nanoseconds (0 until the first chunk ends).
    nanos_per_item: AtomicU64,
}

/// How a map groups items into jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunking {
    /// Measure item run times and batch cheap items so each job runs about 50 µs.
    Auto,
    /// Exactly this many items per job.
    Fixed(usize),
}

/// Pulls items, submits them in chunks, and receives their outcomes: the engine under both
/// iterators.
struct Window<'pool, I: Iterator, F, T> {
    pool: &'pool ThreadPool,
    items: Fuse<I>,
    shared: Arc<MapShared<F, T>>,
    receiver: flume::Receiver<ChunkResults<T>>,
    window: usize,
    chunking: Chunking,
    /// Items pulled and submitted so far.
    submitted: usize,
}

impl<'pool, I, F, T> Window<'pool, I, F, T>
where
    I: Iterator,
    I::Item: Send + 'static,
    F: Fn(I::Item) -> T + Send + Sync + 'static,
    T: Send + 'static,
{
    fn new(pool: &'pool ThreadPool, function: F, items: I) -> Self {
        let (results, receiver) = flume::unbounded();
        Window {
            pool,
            items: items.fuse(),
            shared: Arc::new(MapShared {
                function,
                results,
                nanos_per_item: AtomicU64::new(0),
            }),
            receiver,
            window: pool.queue_bound().max(1),
            chunking: Chunking::Auto,
            submitted: 0,
        }
    }

    /// Items per job now: fixed, or enough cheap items for about 50 µs of work, but never so
    /// many that the window holds fewer than two jobs per thread.
    fn chunk_size(&self) -> usize {
        match self.chunking {
            Chunking::Fixed(size) => size,
            Chunking::Auto => {
                let nanos = self.shared.nanos_per_item.load(Ordering::Relaxed);
                if nanos == 0 {
                    return 1;
                }
                let wanted = (TARGET_CHUNK_NANOS / nanos).max(1) as usize;
                let most = (self.window / (2 * self.pool.num_threads())).max(1);
                wanted.min(most)
            }
        }
    }

    /// Submits items until `outstanding` (pulled and not yet yielded) reaches the window.
    /// Returns how many items it submitted.
    fn fill(&mut self, outstanding: usize) -> usize {
        let mut added = 0;
        while outstanding + added < self.window {
            let room = self.window - outstanding - added;
            let size = self.chunk_size();
            if size > room && outstanding + added > 0 {
                // Wait for a whole chunk's room rather than send slivers.
                break;
            }
            let size = size.min(room);
            let chunk: Vec<(usize, I::Item)> = self
                .items
                .by_ref()
                .take(size)
                .enumerate()
                .map(|(offset, item)| (self.submitted + offset, item))
                .collect();
            if chunk.is_empty() {
                break;
            }
            self.submitted += chunk.len();
            added += chunk.len();
            self.pool.enqueue(self.chunk_job(chunk));
        }
        added
    }

    /// The job that runs (or, on `shutdown_now`, cancels) one chunk and sends back its results.
    fn chunk_job(&self, chunk: Vec<(usize, I::Item)>) -> Job {
        let counters = Arc::clone(&self.pool.shared.counters);
        let first_seq = counters.next_seqs(chunk.len() as u64);
        counters.enqueued_many(chunk.len() as u64);
        let shared = Arc::clone(&self.shared);
        Box::new(move |disposition| {
            let started = Instant::now();
            let count = chunk.len() as u64;
            // Counters move once per chunk, not per item: the whole chunk counts as running
            // while it runs, which keeps the counters off the hot path.
            if disposition == Disposition::Run {
                counters.started_many(count);
            }
            let results: ChunkResults<T> = chunk
                .into_iter()
                .zip(first_seq..)
                .map(|((index, item), seq)| {
                    let id = TaskId::new(seq);
                    let outcome = match disposition {
                        Disposition::Cancel => Err(TaskError::Cancelled { task: id }),
                        Disposition::Run => panic::catch(|| (shared.function)(item))
                            .map_err(|report| report.into_error(id)),
                    };
                    (index, outcome)
                })
                .collect();
            let outcomes = results.iter().map(|(_, outcome)| outcome);
            match disposition {
                Disposition::Run => counters.finished_many(count, outcomes),
                Disposition::Cancel => counters.withdrawn_many(count, outcomes),
            }
            if disposition == Disposition::Run {
                let nanos = (started.elapsed().as_nanos() as u64 / count).max(1);
                let old = shared.nanos_per_item.load(Ordering::Relaxed);
                let estimate = if old == 0 {
                    nanos
                } else {
                    (old * 3 + nanos) / 4
                };
                shared
                    .nanos_per_item
                    .store(estimate.max(1), Ordering::Relaxed);
            }
            // The consumer may have dropped the map: then nobody wants the results.
            let _ = shared.results.send(results);
        })
    }

    fn receive(&self) -> ChunkResults<T> {
        self.receiver
            .recv()
            .expect("the map holds a sender, so the channel stays open")
    }
}

/// The iterator returned by [`ThreadPool::map`]: results in input order.
pub struct Map<'pool, I: Iterator, F, T> {
    engine: Window<'pool, I, F, T>,
    /// Outcomes of items `yielded..submitted`, `None` until they arrive.
    pending: VecDeque<Option<Result<T, TaskError>>>,
}

impl<I: Iterator, F, T> std::fmt::Debug for Map<'_, I, F, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Map")
            .field("window", &self.engine.window)
            .field("submitted", &self.engine.submitted)
            .field("outstanding", &self.pending.len())
            .finish()
    }
}

impl<'pool, I, F, T> Map<'pool, I, F, T>
where
    I: Iterator,
    I::Item: Send + 'static,
    F: Fn(I::Item) -> T + Send + Sync + 'static,
    T: Send + 'static,
{
    pub(crate) fn new(pool: &'pool ThreadPool, function: F, items: I) -> Self {
        Map {
            engine: Window::new(pool, function, items),
            pending: VecDeque::new(),
        }
    }

    /// At most `window` items are pulled from the input ahead of the consumer. Default: the
    /// pool's queue bound. Set it before the first `next()`; 0 is taken as 1.
    pub fn window(mut self, window: usize) -> Self {
        self.engine.window = window.max(1);
        self
    }

    /// Sends exactly `size` items to each job instead of sizing chunks automatically (the
    /// default measures item run times and batches cheap items into jobs of about 50 µs).
    /// 1 turns batching off. 0 is taken as 1.
    pub fn chunksize(mut self, size: usize) -> Self {
        self.engine.chunking = Chunking::Fixed(size.max(1));
        self
    }
}

impl<I, F, T> Iterator for Map<'_, I, F, T>
where
    I: Iterator,
    I::Item: Send + 'static,
    F: Fn(I::Item) -> T + Send + Sync + 'static,
    T: Send + 'static,
{
    type Item = Result<T, TaskError>;

    fn next(&mut self) -> Option<Self::Item> {
        let added = self.engine.fill(self.pending.len());
        self.pending
            .extend(std::iter::repeat_with(|| None).take(added));
        let first_index = self.engine.submitted - self.pending.len();
        while matches!(self.pending.front(), Some(None)) {
            for (index, outcome) in self.engine.receive() {
                self.pending[index - first_index] = Some(outcome);
            }
        }
        self.pending.pop_front().flatten()
    }
}

/// The iterator returned by [`ThreadPool::map_unordered`]: results as they finish.
pub struct MapUnordered<'pool, I: Iterator, F, T> {
    engine: Window<'pool, I, F, T>,
    in_flight: usize,
    /// Results received and not yet yielded.
    ready: Vec<(usize, Result<T, TaskError>)>,
}

impl<I: Iterator, F, T> std::fmt::Debug for MapUnordered<'_, I, F, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MapUnordered")
            .field("window", &self.engine.window)
            .field("submitted", &self.engine.submitted)
            .field("in_flight", &self.in_flight)
            .finish()
    }
}

impl<'pool, I, F, T> MapUnordered<'pool, I, F, T>
where
    I: Iterator,
    I::Item: Send + 'static,
    F: Fn(I::Item) -> T + Send + Sync + 'static,
    T: Send + 'static,
{
    pub(crate) fn new(pool: &'pool ThreadPool, function: F, items: I) -> Self {
        MapUnordered {
            engine: Window::new(pool, function, items),
            in_flight: 0,
            ready: Vec::new(),
        }
    }

    /// At most `window` items are in flight at once. Default: the pool's queue bound. Set it
    /// before the first `next()`; 0 is taken as 1.
    pub fn window(mut self, window: usize) -> Self {
        self.engine.window = window.max(1);
        self
    }

    /// Sends exactly `size` items to each job; see [`Map::chunksize`].
    pub fn chunksize(mut self, size: usize) -> Self {
        self.engine.chunking = Chunking::Fixed(size.max(1));
        self
    }

    /// Like the iterator, but each result comes with the position of its item in the input.
    pub fn indexed(self) -> impl Iterator<Item = (usize, Result<T, TaskError>)> {
        IndexedUnordered(self)
    }

    fn next_indexed(&mut self) -> Option<(usize, Result<T, TaskError>)> {
        self.in_flight += self.engine.fill(self.in_flight);
        if self.ready.is_empty() {
            if self.in_flight == 0 {
                return None;
            }
            self.ready = self.engine.receive();
            self.ready.reverse();
        }
        self.in_flight -= 1;
        self.ready.pop()
    }
}

impl<I, F, T> Iterator for MapUnordered<'_, I, F, T>
where
    I: Iterator,
    I::Item: Send + 'static,
    F: Fn(I::Item) -> T + Send + Sync + 'static,
    T: Send + 'static,
{
    type Item = Result<T, TaskError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_indexed().map(|(_, outcome)| outcome)
    }
}

struct IndexedUnordered<'pool, I: Iterator, F, T>(MapUnordered<'pool, I, F, T>);

impl<I, F, T> Iterator for IndexedUnordered<'_, I, F, T>
where
    I: Iterator,
    I::Item: Send + 'static,
    F: Fn(I::Item) -> T + Send + Sync + 'static,
    T: Send + 'static,
{
    type Item = (usize, Result<T, TaskError>);

    fn next(&mut self) -> Option<Self::Item> {
        self.0.next_indexed()
    }
}

impl ThreadPool {
    /// Applies `function` to every item on the pool and yields the results in input order.
    ///
    /// Lazy: nothing runs until the first `next()`, and at most a window of items (default: the
    /// queue bound; see [`Map::window`]) is pulled ahead of the consumer. A panicking item
    /// yields [`TaskError::Panicked`] in its place and the map goes on. Dropping the iterator
    /// stops pulling items; those already submitted still run.
    pub fn map<I, F, T>(&self, function: F, items: I) -> Map<'_, I::IntoIter, F, T>
    where
        I: IntoIterator,
        I::Item: Send + 'static,
        F: Fn(I::Item) -> T + Send + Sync + 'static,
        T: Send + 'static,
    {
        Map::new(self, function, items.into_iter())
    }

    /// Like [`map`](Self::map) but yields results as they finish, not in input order; use
    /// [`MapUnordered::indexed`] to learn which input each belongs to.
    pub fn map_unordered<I, F, T>(
        &self,
        function: F,
        items: I,
    ) -> MapUnordered<'_, I::IntoIter, F, T>
    where
        I: IntoIterator,
        I::Item: Send + 'static,
        F: Fn(I::Item) -> T + Send + Sync + 'static,
        T: Send + 'static,
    {
        MapUnordered::new(self, function, items.into_iter())
    }
}

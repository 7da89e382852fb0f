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

use super::pool::{Disposition, Job, ThreadPool};
use crate::error::{TaskError, TaskId};
use crate::panic;

/// What every job of one map shares: the function and the way back.
struct MapShared<F, T> {
    function: F,
    results: flume::Sender<(usize, Result<T, TaskError>)>,
}

/// Pulls items, submits them, and receives their outcomes: the engine under both iterators.
struct Window<'pool, I: Iterator, F, T> {
    pool: &'pool ThreadPool,
    items: Fuse<I>,
    shared: Arc<MapShared<F, T>>,
    receiver: flume::Receiver<(usize, Result<T, TaskError>)>,
    window: usize,
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
            shared: Arc::new(MapShared { function, results }),
            receiver,
            window: pool.queue_bound().max(1),
            submitted: 0,
        }
    }

    /// Submits items until `outstanding` (pulled and not yet yielded) reaches the window.
    fn fill(&mut self, outstanding: usize) {
        let mut outstanding = outstanding;
        while outstanding < self.window {
            let Some(item) = self.items.next() else { break };
            let index = self.submitted;
            self.submitted += 1;
            outstanding += 1;
            let counters = Arc::clone(&self.pool.shared.counters);
            let id = TaskId::new(counters.next_seq());
            counters.enqueued();
            let shared = Arc::clone(&self.shared);
            let job: Job = Box::new(move |disposition| {
                let outcome = match disposition {
                    Disposition::Cancel => {
                        let outcome = Err(TaskError::Cancelled { task: id });
                        counters.withdrawn(&outcome);
                        outcome
                    }
                    Disposition::Run => {
                        counters.started();
                        let outcome = panic::catch(|| (shared.function)(item))
                            .map_err(|report| report.into_error(id));
                        counters.finished(&outcome);
                        outcome
                    }
                };
                // The consumer may have dropped the map: then nobody wants the result.
                let _ = shared.results.send((index, outcome));
            });
            self.pool.enqueue(job);
        }
    }

    fn receive(&self) -> (usize, Result<T, TaskError>) {
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
        let before = self.engine.submitted;
        self.engine.fill(self.pending.len());
        let added = self.engine.submitted - before;
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

/// The iterator returned by [`ThreadPool::map_unordered`]: results as they finish.
pub struct MapUnordered<'pool, I: Iterator, F, T> {
    engine: Window<'pool, I, F, T>,
    in_flight: usize,
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
        }
    }

    /// At most `window` items are in flight at once. Default: the pool's queue bound. Set it
    /// before the first `next()`; 0 is taken as 1.
    pub fn window(mut self, window: usize) -> Self {
        self.engine.window = window.max(1);
        self
    }

    /// Like the iterator, but each result comes with the position of its item in the input.
    pub fn indexed(self) -> impl Iterator<Item = (usize, Result<T, TaskError>)> {
        IndexedUnordered(self)
    }

    fn next_indexed(&mut self) -> Option<(usize, Result<T, TaskError>)> {
        let before = self.engine.submitted;
        self.engine.fill(self.in_flight);
        self.in_flight += self.engine.submitted - before;
        if self.in_flight == 0 {
            return None;
        }
        self.in_flight -= 1;
        Some(self.engine.receive())
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

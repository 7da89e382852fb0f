//! [`TaskGroup`]: structured concurrency on tokio, with cancel-on-first-error and every error
//! returned, as Python 3.11's `asyncio.TaskGroup` does (and `asyncio.gather` does not).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::error::{TaskError, TaskId};
use crate::panic;

/// Why a [`TaskGroup`] produced no values: every task failure, in task order.
#[derive(Debug, thiserror::Error)]
#[error("{} of the group's {total} tasks failed ({cancelled} cancelled as a result); first: {}", errors.len(), errors.first().map(ToString::to_string).unwrap_or_default())]
pub struct GroupError {
    /// Every task failure (panic, error, time-out), ordered by task number. Never empty.
    pub errors: Vec<TaskError>,
    /// How many sibling tasks were cancelled because of the failures.
    pub cancelled: usize,
    /// How many tasks the group had.
    pub total: usize,
}

type Outcome<T> = (u64, Result<T, TaskError>);

/// Structured concurrency: tasks spawned in a group are all awaited by [`join`](Self::join);
/// the first failure cancels the rest and every failure comes back in a [`GroupError`].
///
/// Tasks are real tokio tasks (they run in parallel on a multi-thread runtime), so they must be
/// `Send + 'static`. Dropping a group without joining it cancels its tasks.
///
/// ```
/// use abreast::coroutines::{run, TaskGroup};
///
/// let sums = run(async {
///     let mut group = TaskGroup::new();
///     for n in 1..=3u64 {
///         group.spawn(async move { Ok::<_, std::io::Error>((1..=n).sum::<u64>()) });
///     }
///     group.join().await
/// })?;
/// assert_eq!(sums?, [1, 3, 6]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct TaskGroup<T> {
    tasks: JoinSet<Outcome<T>>,
    /// tokio's id of each task, to name a task whose join fails outside our control.
    seq_of: HashMap<tokio::task::Id, u64>,
    spawned: u64,
    deadline: Option<(Instant, Duration)>,
}

impl<T> std::fmt::Debug for TaskGroup<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskGroup")
            .field("spawned", &self.spawned)
            .field("running", &self.tasks.len())
            .finish()
    }
}

impl<T: Send + 'static> Default for TaskGroup<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Send + 'static> TaskGroup<T> {
    /// An empty group with no time limit.
    pub fn new() -> Self {
        panic::install_hook();
        TaskGroup {
            tasks: JoinSet::new(),
            seq_of: HashMap::new(),
            spawned: 0,
            deadline: None,
        }
    }

    /// An empty group that must be done within `limit` from now: at the deadline every task
    /// still running is cancelled and reported as [`TaskError::TimedOut`].
    pub fn with_timeout(limit: Duration) -> Self {
        let mut group = Self::new();
        group.deadline = Some((Instant::now() + limit, limit));
        group
    }

    /// The number of tasks spawned so far.
    pub fn len(&self) -> usize {
        self.spawned as usize
    }

    /// True if no task was spawned.
    pub fn is_empty(&self) -> bool {
        self.spawned == 0
    }

    /// Spawns `task` on the current tokio runtime. Its `Err` fails the group. Must be called
    /// from inside a runtime (for example within [`run`](super::run)).
    pub fn spawn<F, E>(&mut self, task: F) -> TaskId
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        self.spawn_inner(None, task)
    }

    /// Like [`spawn`](Self::spawn), but the task fails with [`TaskError::TimedOut`] (and is
    /// dropped, so its work stops) if it runs longer than `limit`.
    pub fn spawn_with_timeout<F, E>(&mut self, limit: Duration, task: F) -> TaskId
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        self.spawn_inner(Some(limit), task)
    }

    fn spawn_inner<F, E>(&mut self, limit: Option<Duration>, task: F) -> TaskId
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let id = TaskId::new(self.spawned);
        self.spawned += 1;
        let abort = self.tasks.spawn(async move {
            let caught = CatchPanic { inner: task };
            let outcome = match limit {
                None => caught.await,
                Some(after) => match tokio::time::timeout(after, caught).await {
                    Ok(outcome) => outcome,
                    Err(_) => return (id.seq, Err(TaskError::TimedOut { task: id, after })),
                },
            };
            let outcome = match outcome {
                Ok(Ok(value)) => Ok(value),
                Ok(Err(error)) => Err(TaskError::Failed {
                    task: id,
                    source: error.into(),
                }),
                Err(report) => Err(report.into_error(id)),
            };
            (id.seq, outcome)
        });
        self.seq_of.insert(abort.id(), id.seq);
        id
    }

    /// Waits for every task. Returns their values in spawn order, or, if any failed, a
    /// [`GroupError`] with every failure; the first failure cancels the tasks still running.
    pub async fn join(mut self) -> Result<Vec<T>, GroupError> {
        let total = self.spawned as usize;
        let mut values: Vec<Option<T>> = std::iter::repeat_with(|| None).take(total).collect();
        let mut errors = Vec::new();
        let mut cancelled = 0;
        loop {
            let next = match self.deadline {
                Some((deadline, _)) => {
                    match tokio::time::timeout_at(deadline, self.tasks.join_next_with_id()).await {
                        Ok(next) => next,
                        Err(_) => break,
                    }
                }
                None => self.tasks.join_next_with_id().await,
            };
            let Some(joined) = next else { break };
            match joined {
                Ok((_, (seq, Ok(value)))) => values[seq as usize] = Some(value),
                Ok((_, (_, Err(error)))) => {
                    if errors.is_empty() {
                        self.tasks.abort_all();
                    }
                    errors.push(error);
                }
                Err(join_error) if join_error.is_cancelled() => cancelled += 1,
                Err(join_error) => {
                    // CatchPanic catches panics, so only a panic escaping tokio itself gets here.
                    if errors.is_empty() {
                        self.tasks.abort_all();
                    }
                    let seq = self
                        .seq_of
                        .get(&join_error.id())
                        .copied()
                        .unwrap_or_default();
                    errors.push(TaskError::Panicked {
                        task: TaskId::new(seq),
                        message: join_error.to_string(),
                        location: None,
                    });
                }
            }
        }
        if !self.tasks.is_empty() {
            // The group's deadline passed: every unfinished task timed out.
            let after = self.deadline.map(|(_, limit)| limit).unwrap_or_default();
            self.tasks.abort_all();
            for (seq, value) in values.iter().enumerate() {
                if value.is_none() && !errors.iter().any(|e| e.task().seq == seq as u64) {
                    errors.push(TaskError::TimedOut {
                        task: TaskId::new(seq as u64),
                        after,
                    });
                }
            }
            while self.tasks.join_next().await.is_some() {}
        }
        if errors.is_empty() {
            return Ok(values.into_iter().flatten().collect());
        }
        errors.sort_by_key(|error| error.task().seq);
        Err(GroupError {
            errors,
            cancelled,
            total,
        })
    }
}

pin_project_lite::pin_project! {
    /// Polls the inner future under [`panic::catch`], so a panic becomes a report with its
    /// location.
    struct CatchPanic<F> {
        #[pin]
        inner: F,
    }
}

impl<F: Future> Future for CatchPanic<F> {
    type Output = Result<F::Output, panic::PanicReport>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.project().inner;
        match panic::catch(|| inner.poll(cx)) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(value)) => Poll::Ready(Ok(value)),
            Err(report) => Poll::Ready(Err(report)),
        }
    }
}

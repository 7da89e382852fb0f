//! The one error type every mechanism reports a failed task with.
//!
//! A [`TaskError`] always names the task it belongs to (its [`TaskId`]) and says what happened
//! to it: it panicked, ran out of time, was cancelled, lost its worker process, could not be
//! (de)serialized, or returned an error of its own. The query methods (`is_panic()`,
//! `is_timeout()`, …) let callers branch on the kind without matching every field.

use std::fmt;
use std::time::Duration;

/// Identifies one task within the pool or group that ran it, for error messages and logs.
///
/// `seq` counts the tasks a pool was given, from 0; `name` is the registered function name
/// for process-pool tasks and `None` for closures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TaskId {
    /// The task's sequence number within its pool or group, starting at 0.
    pub seq: u64,
    /// The task function's registered name, where there is one.
    pub name: Option<&'static str>,
}

impl TaskId {
    /// A task known by its sequence number alone.
    pub const fn new(seq: u64) -> Self {
        TaskId { seq, name: None }
    }

    /// A task known by its sequence number and function name.
    pub const fn named(seq: u64, name: &'static str) -> Self {
        TaskId {
            seq,
            name: Some(name),
        }
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name {
            Some(name) => write!(f, "task #{} ({name})", self.seq),
            None => write!(f, "task #{}", self.seq),
        }
    }
}

/// How a worker process ended, as the operating system reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WorkerExit {
    /// The worker exited on its own with this status code (for example `std::process::exit(3)`).
    Code(i32),
    /// The worker was killed by this signal (for example 9 for SIGKILL, 11 for SIGSEGV).
    Signal(i32),
    /// The worker's end could not be observed (its pipe closed but no status was collected).
    Unknown,
}

impl fmt::Display for WorkerExit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            WorkerExit::Code(code) => write!(f, "exited with status {code}"),
            WorkerExit::Signal(signal) => match signal_name(signal) {
                Some(name) => write!(f, "was killed by signal {signal} ({name})"),
                None => write!(f, "was killed by signal {signal}"),
            },
            WorkerExit::Unknown => f.write_str("ended in a way that could not be observed"),
        }
    }
}

/// The conventional name of a Unix signal number, for messages.
fn signal_name(signal: i32) -> Option<&'static str> {
    Some(match signal {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        4 => "SIGILL",
        5 => "SIGTRAP",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        14 => "SIGALRM",
        15 => "SIGTERM",
        24 => "SIGXCPU",
        25 => "SIGXFSZ",
        _ => return None,
    })
}

/// Which way a value was travelling when it failed to (de)serialize.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CodecStage {
    /// The task's argument, on its way to the worker.
    Argument,
    /// The task's result, on its way back.
    Result,
}

impl fmt::Display for CodecStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CodecStage::Argument => "argument",
            CodecStage::Result => "result",
        })
    }
}

/// Why a task produced no value. Shared by the thread pool, coroutines and the process pool.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TaskError {
    /// The task panicked; the pool and every other task went on.
    #[error("{task} panicked at {}: {message}", location.as_deref().unwrap_or("an unknown location"))]
    Panicked {
        /// The task that panicked.
        task: TaskId,
        /// The panic message (`"Box<dyn Any>"` when the payload was not a string).
        message: String,
        /// `file:line:column` of the panic, when the panic hook could record it.
        location: Option<String>,
    },
    /// The task ran past its time limit and was stopped (or, for a running thread-pool task,
    /// abandoned: see [`TaskHandle::join_timeout`](crate::TaskHandle::join_timeout)).
    #[error("{task} timed out after {after:?}; raise the timeout or make the task faster")]
    TimedOut {
        /// The task that timed out.
        task: TaskId,
        /// The limit it ran past.
        after: Duration,
    },
    /// The task was cancelled before it produced a value.
    #[error("{task} was cancelled before it finished")]
    Cancelled {
        /// The task that was cancelled.
        task: TaskId,
    },
    /// The worker process running the task died; the pool replaced it.
    #[error(
        "{task} lost its worker process (pid {pid}), which {exit}; the pool replaced the worker"
    )]
    WorkerLost {
        /// The task whose worker died.
        task: TaskId,
        /// The process id of the worker that died.
        pid: u32,
        /// How the worker ended.
        exit: WorkerExit,
    },
    /// The task's argument or result could not be serialized or deserialized.
    #[error("{task}: could not (de)serialize its {stage} of type `{type_name}`: {message}")]
    Codec {
        /// The task whose value failed.
        task: TaskId,
        /// Whether it was the argument or the result.
        stage: CodecStage,
        /// The Rust type that failed.
        type_name: &'static str,
        /// What the codec said.
        message: String,
    },
    /// The task ran and returned an error of its own.
    #[error("{task} failed: {source}")]
    Failed {
        /// The task that failed.
        task: TaskId,
        /// The error it returned.
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    /// An I/O error stopped the task from being run (for example a worker could not be started).
    #[error("{task} could not be run: {source}")]
    Io {
        /// The task that could not run.
        task: TaskId,
        /// The underlying I/O error.
        source: std::io::Error,
    },
}

impl TaskError {
    /// The task this error belongs to.
    pub fn task(&self) -> TaskId {
        match self {
            TaskError::Panicked { task, .. }
            | TaskError::TimedOut { task, .. }
            | TaskError::Cancelled { task }
            | TaskError::WorkerLost { task, .. }
            | TaskError::Codec { task, .. }
            | TaskError::Failed { task, .. }
            | TaskError::Io { task, .. } => *task,
        }
    }

    /// True if the task panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self, TaskError::Panicked { .. })
    }

    /// True if the task ran past its time limit.
    pub fn is_timeout(&self) -> bool {
        matches!(self, TaskError::TimedOut { .. })
    }

    /// True if the task was cancelled.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, TaskError::Cancelled { .. })
    }

    /// True if the task's worker process died under it.
    pub fn is_worker_lost(&self) -> bool {
        matches!(self, TaskError::WorkerLost { .. })
    }

    /// True if the task's argument or result could not be (de)serialized.
    pub fn is_codec(&self) -> bool {
        matches!(self, TaskError::Codec { .. })
    }

    /// True if the task ran and returned an error of its own.
    pub fn is_failed(&self) -> bool {
        matches!(self, TaskError::Failed { .. })
    }

    /// The panic message, if the task panicked.
    pub fn panic_message(&self) -> Option<&str> {
        match self {
            TaskError::Panicked { message, .. } => Some(message),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_task_and_what_happened() {
        let panicked = TaskError::Panicked {
            task: TaskId::new(7),
            message: "boom".into(),
            location: Some("src/x.rs:1:2".into()),
        };
        assert_eq!(
            panicked.to_string(),
            "task #7 panicked at src/x.rs:1:2: boom"
        );
        let lost = TaskError::WorkerLost {
            task: TaskId::named(3, "extract_meta"),
            pid: 42,
            exit: WorkerExit::Signal(9),
        };
        assert_eq!(
            lost.to_string(),
            "task #3 (extract_meta) lost its worker process (pid 42), which was killed by signal 9 (SIGKILL); the pool replaced the worker"
        );
        assert!(lost.is_worker_lost() && !lost.is_panic());
        assert_eq!(lost.task().seq, 3);
        let codec = TaskError::Codec {
            task: TaskId::new(1),
            stage: CodecStage::Result,
            type_name: "u8",
            message: "eof".into(),
        };
        assert!(codec.to_string().contains("its result of type `u8`"));
    }
}

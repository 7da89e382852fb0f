//! The reader thread of a worker: completes tasks as their results arrive, and when the worker's
//! socket closes, reaps the process and decides whose fault its death was.

use std::collections::VecDeque;
use std::io::{self, BufReader};
use std::os::unix::net::UnixStream;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ExitStatus};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::{Job, Kill, Lane, kill_locked};
use crate::error::{CodecStage, TaskError, TaskId, WorkerExit};
use crate::processes::registry::{ItemOutcome, Registration, RemoteError};
use crate::processes::wire;

/// A worker's report of a failed item as the task's error.
pub(super) fn task_error(
    outcome: ItemOutcome,
    task: TaskId,
    registration: &Registration,
) -> TaskError {
    match outcome {
        ItemOutcome::Value(_) => TaskError::Io {
            task,
            source: io::Error::other("a worker reported success where a failure was expected"),
        },
        ItemOutcome::Panicked { message, location } => TaskError::Panicked {
            task,
            message,
            location,
        },
        ItemOutcome::ArgumentCodec(message) => TaskError::Codec {
            task,
            stage: CodecStage::Argument,
            type_name: (registration.arg_type)(),
            message,
        },
        ItemOutcome::ResultCodec(message) => TaskError::Codec {
            task,
            stage: CodecStage::Result,
            type_name: (registration.output_type)(),
            message,
        },
        ItemOutcome::Failed { type_name, message } => TaskError::Failed {
            task,
            source: Box::new(RemoteError::new(type_name, message)),
        },
    }
}

pub(super) fn exit_of(status: ExitStatus) -> WorkerExit {
    match (status.code(), status.signal()) {
        (Some(code), _) => WorkerExit::Code(code),
        (None, Some(signal)) => WorkerExit::Signal(signal),
        _ => WorkerExit::Unknown,
    }
}

/// The reader thread: completes tasks as results arrive; on the socket's end, handles the death.
pub(super) fn read_results(lane: &Arc<Lane>, input: UnixStream, mut child: Child) {
    let mut reader = BufReader::with_capacity(64 * 1024, input);
    let ended = read_until_closed(lane, &mut reader);
    let pid = child.id();
    lane.lock().pid = None; // from here on nobody may signal the pid: it is about to be reaped
    if ended.is_err() {
        // A protocol error: the worker is alive but cannot be trusted. (On a clean close this
        // is a no-op on an exiting process.)
        let _ = child.kill();
    }
    let exit = reap(&mut child);
    drop(reader);
    handle_death(lane, pid, exit);
}

/// Reads ITEM and END records until the socket closes (Ok) or the stream is garbled (Err).
fn read_until_closed(lane: &Lane, reader: &mut BufReader<UnixStream>) -> Result<(), ()> {
    // Results are read into one reused buffer and decoded from it.
    let mut value = Vec::new();
    loop {
        let Ok(tag) = wire::read_u8(reader) else {
            return Ok(());
        };
        if tag == wire::END {
            let Ok(nanos) = wire::read_u64(reader) else {
                return Ok(());
            };
            let job = {
                let mut state = lane.lock();
                let job = state.in_flight.pop_front();
                state.front_since = Instant::now();
                state.frame_nanos = if state.frame_nanos == 0 {
                    nanos.max(1)
                } else {
                    (state.frame_nanos * 3 + nanos.max(1)) / 4
                };
                // A task cancelled while it waited in the pipe is next: do not let it run.
                let skip = state.in_flight.front().and_then(|next| {
                    let settled = next.items.iter().all(|item| item.sink.is_settled());
                    settled.then(|| next.items.front().map(|item| item.id.seq))?
                });
                if let Some(seq) = skip {
                    kill_locked(&mut state, Kill::Cancel(seq));
                }
                lane.notify_progress(&state);
                job
            };
            match job {
                Some(job) if job.items.is_empty() => {
                    if let Some(clock) = &job.clock {
                        clock.record(nanos, job.size);
                    }
                }
                _ => return Err(()),
            }
            continue;
        }
        let outcome = if tag == wire::VALUE {
            if wire::read_bytes_into(reader, &mut value).is_err() {
                return Err(());
            }
            None
        } else {
            match wire::read_outcome_after_tag(reader, tag) {
                Ok(outcome) => Some(outcome),
                Err(_) => return Err(()),
            }
        };
        let (item, registration) = {
            let mut state = lane.lock();
            let Some(front) = state.in_flight.front_mut() else {
                return Err(());
            };
            let Some(item) = front.items.pop_front() else {
                return Err(());
            };
            (item, front.registration)
        };
        let result = match outcome {
            None => Ok(value.as_slice()),
            Some(outcome) => Err(task_error(outcome, item.id, registration)),
        };
        item.sink.deliver(result, item.started);
    }
}

/// Waits for the child to end; if it closed its socket without exiting, kills it after a while.
fn reap(child: &mut Child) -> WorkerExit {
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut pause = Duration::from_micros(50);
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return exit_of(status),
            Ok(None) if Instant::now() < deadline => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(20));
            }
            Ok(None) => {
                let _ = child.kill();
                return child.wait().map_or(WorkerExit::Unknown, exit_of);
            }
            Err(_) => return WorkerExit::Unknown,
        }
    }
}

/// Blames the death on the right task, fails it, and queues the rest to be sent again.
fn handle_death(lane: &Lane, pid: u32, exit: WorkerExit) {
    let context = &lane.context;
    let stopping_now = context.stopping_now();
    // Frames of one item each, with the error that item failed with.
    let mut failures: Vec<(Job, TaskError)> = Vec::new();
    let mut cancelled: Vec<Job> = Vec::new();
    {
        let mut state = lane.lock();
        state.dead = true;
        let kill = state.kill.take();
        state.recycling = false;
        let retiring = std::mem::take(&mut state.retiring);
        if !stopping_now && !retiring && kill != Some(Kill::Shutdown) {
            // Counted now, before any task hears of the death; the lane thread starts the new one.
            context
                .counters
                .workers_replaced
                .fetch_add(1, Ordering::Relaxed);
        }
        let mut in_flight = std::mem::take(&mut state.in_flight);
        let culprit = in_flight.pop_front().filter(|job| !job.items.is_empty());
        // Frames behind the culprit never started: send them again, in order, first.
        while let Some(job) = in_flight.pop_back() {
            if !job.items.is_empty() {
                state.resend.push_front(job);
            }
        }
        if let Some(job) = culprit {
            let seq = job.items.front().map(|item| item.id.seq);
            match kill {
                _ if stopping_now => cancelled.push(job),
                Some(Kill::Shutdown) => cancelled.push(job),
                Some(Kill::Timeout(target)) if Some(target) == seq => {
                    if job.items.len() == 1 {
                        let after = context.config.task_timeout.unwrap_or_default();
                        let error = TaskError::TimedOut {
                            task: job.items[0].id,
                            after,
                        };
                        failures.push((job, error));
                    } else {
                        // Which item of the chunk was slow is unknown: run each on its own.
                        for single in job.split().rev() {
                            state.resend.push_front(single);
                        }
                    }
                }
                Some(Kill::Cancel(target)) if Some(target) == seq => {
                    let mut rest = job;
                    let item = rest.items.pop_front().expect("checked non-empty");
                    let error = TaskError::Cancelled { task: item.id };
                    let single = Job {
                        task: rest.task,
                        registration: rest.registration,
                        items: VecDeque::from([item]),
                        size: 1,
                        clock: None,
                        affinity: rest.affinity,
                    };
                    if !rest.items.is_empty() {
                        state.resend.push_front(rest);
                    }
                    failures.push((single, error));
                }
                // Killed for another task (that finished meanwhile): not its fault, run it again.
                // (A recycled worker reads EXIT only after answering every frame, so a death
                // with a frame unanswered is that frame's fault, recycling or not.)
                Some(_) => state.resend.push_front(job),
                None if job.items.len() > 1 => {
                    // A crash inside a chunk: run each item alone to find the one at fault.
                    for single in job.split().rev() {
                        state.resend.push_front(single);
                    }
                }
                None => {
                    let mut job = job;
                    let item = job.items.front_mut().expect("checked non-empty");
                    if item.retries_left > 0 {
                        item.retries_left -= 1;
                        state.resend.push_front(job);
                    } else {
                        let error = TaskError::WorkerLost {
                            task: item.id,
                            pid,
                            exit,
                        };
                        failures.push((job, error));
                    }
                }
            }
        }
        lane.notify(&state);
    }
    for (job, error) in failures {
        let mut error = Some(error);
        job.fail_all(|task| {
            error.take().unwrap_or(TaskError::Cancelled { task }) // never: these frames hold one item
        });
    }
    for job in cancelled {
        job.fail_all(|task| TaskError::Cancelled { task });
    }
}

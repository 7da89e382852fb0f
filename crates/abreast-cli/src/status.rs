//! `abreast status`: the jobs on a broker with their counts (lines, done, waiting, in flight,
//! redelivered, gave up), the workers seen with their last heartbeat, and `--delete NAME` for
//! a finished job. `--format json` gives one JSON object; with `--job NAME` it is that job's
//! counts (`done` an integer) with the workers beside them.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use abreast_queue::{BrokerUrl, JobName, JobStatus, Queue, QueueError, RedisQueue, WorkerBeat};
use anyhow::{Context as _, bail};
use clap::{Args, ValueEnum};

/// Arguments of `abreast status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The broker: redis://[:PASSWORD@]HOST:PORT[/DB], or rediss:// for TLS.
    /// (Not parsed by clap, whose errors would echo it, password and all.)
    #[arg(long, value_name = "URL")]
    broker: String,
    /// Only this job.
    #[arg(long, value_name = "NAME", value_parser = crate::broker::parse_job)]
    job: Option<JobName>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = StatusFormat::Text)]
    format: StatusFormat,
    /// Delete this job and everything of it from the broker (its results too: collect it
    /// first).
    #[arg(long, value_name = "NAME", value_parser = crate::broker::parse_job, conflicts_with_all = ["job", "format"])]
    delete: Option<JobName>,
    /// With --delete: delete the job even while a collector is writing its records (that
    /// collector then stops with an error).
    #[arg(long, requires = "delete")]
    force: bool,
}

/// How `abreast status` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatusFormat {
    /// A table for people.
    Text,
    /// One JSON object.
    Json,
}

/// How long `--delete` holds the job's collector claim: the deletion takes one round trip.
const DELETE_CLAIM: Duration = Duration::from_secs(10);

/// Runs `abreast status`.
pub fn run(args: &StatusArgs) -> anyhow::Result<ExitCode> {
    let broker = crate::broker::parse_broker(&args.broker)?;
    let runtime = crate::broker::runtime()?;
    runtime.block_on(async {
        let queue = connect(&broker).await?;
        if let Some(job) = &args.delete {
            // The collector's claim, taken for the time of the deletion: a collector at work
            // holds it (renewed every few seconds), and none can start meanwhile.
            let holder = crate::broker::process_id("status");
            if !queue.claim_collector(job, &holder, DELETE_CLAIM).await? && !args.force {
                eprintln!(
                    "abreast status: job {job} is being collected now: stop that collector \
                     (Ctrl-C; --resume continues it) or let it finish, then delete the job; \
                     --force deletes it anyway"
                );
                return Ok(ExitCode::from(1));
            }
            return if queue.delete_job(job).await? {
                eprintln!("abreast status: deleted job {job}");
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!("abreast status: there is no job {job} on {broker}");
                Ok(ExitCode::from(1))
            };
        }
        let names = match &args.job {
            Some(job) => vec![job.clone()],
            None => queue.jobs().await?,
        };
        let mut jobs = Vec::new();
        for name in &names {
            match queue.job(name).await? {
                Some(info) => jobs.push(info.status),
                None if args.job.is_some() => {
                    eprintln!("abreast status: there is no job {name} on {broker}");
                    return Ok(ExitCode::from(1));
                }
                None => {}
            }
        }
        let workers = queue.workers().await?;
        match args.format {
            StatusFormat::Json => {
                let value = match (&args.job, jobs.first()) {
                    (Some(_), Some(job)) => {
                        let mut object = serde_json::to_value(job)?;
                        object["workers"] = serde_json::to_value(&workers)?;
                        object
                    }
                    _ => serde_json::json!({ "jobs": jobs, "workers": workers }),
                };
                println!("{value}");
            }
            StatusFormat::Text => print_text(&broker, &jobs, &workers),
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// Connects, trying again for a few seconds while the broker is unreachable (one restarting):
/// a status is a question asked now, so it ends with the cause rather than waiting for ever. The
/// retry is said once.
async fn connect(url: &BrokerUrl) -> anyhow::Result<RedisQueue> {
    let started = Instant::now();
    let mut failures = 0;
    loop {
        match RedisQueue::connect(url).await {
            Ok(queue) => return Ok(queue),
            Err(error) if error.is_transient() && started.elapsed() < STATUS_RETRY_FOR => {
                failures += 1;
                if failures == 1 {
                    eprintln!("abreast status: {error}; trying again for a few seconds");
                }
                tokio::time::sleep(crate::broker::backoff(failures + 2)).await;
            }
            Err(error @ QueueError::Unreachable { .. }) => {
                return Err(error).context("is the broker running, and is --broker right?");
            }
            Err(error) => bail!(error),
        }
    }
}

/// A worker not heard from for this long is marked silent in the list.
const SILENT_AFTER: Duration = Duration::from_secs(10);

/// How long a status tries to reach the broker before it gives the cause.
const STATUS_RETRY_FOR: Duration = Duration::from_secs(5);

fn print_text(url: &BrokerUrl, jobs: &[JobStatus], workers: &[WorkerBeat]) {
    println!("broker {url}");
    if jobs.is_empty() {
        println!("no jobs");
    } else {
        println!(
            "{:<24} {:>10} {:>10} {:>10} {:>10} {:>10} {:>11} {:>8} {:>8}",
            "job",
            "lines",
            "done",
            "collected",
            "waiting",
            "in flight",
            "redelivered",
            "gave up",
            "foreign"
        );
        for job in jobs {
            let lines = if job.sealed {
                job.lines.to_string()
            } else {
                format!("{}+", job.lines)
            };
            println!(
                "{:<24} {:>10} {:>10} {:>10} {:>10} {:>10} {:>11} {:>8} {:>8}",
                job.job,
                lines,
                job.done,
                job.collected,
                job.waiting,
                job.in_flight,
                job.redelivered,
                job.gave_up,
                job.foreign
            );
        }
    }
    if workers.is_empty() {
        println!("no workers seen");
    } else {
        println!(
            "{:<48} {:>8} {:>10} {:>10}  last heartbeat",
            "worker", "pid", "held", "records"
        );
        for worker in workers {
            println!("{}", worker_line(worker));
        }
    }
}

/// A worker's line in the text status. A worker beats every 2 s, and one that stops cleanly
/// leaves the list: a long silence is a worker killed, or cut off from the broker (its leases
/// run out), and says so.
fn worker_line(worker: &WorkerBeat) -> String {
    let silent = if worker.seen_ms_ago >= SILENT_AFTER.as_millis() as u64 {
        " (silent: killed, or cut off from the broker)"
    } else {
        ""
    };
    format!(
        "{:<48} {:>8} {:>10} {:>10}  {} ago{silent}",
        worker.id,
        worker.pid,
        worker.held,
        worker.completed,
        humantime::format_duration(Duration::from_secs(worker.seen_ms_ago / 1000))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_worker_long_silent_is_marked_so() {
        let beat = |seen_ms_ago| WorkerBeat {
            id: "worker-a".into(),
            host: "a".into(),
            pid: 7,
            held: 0,
            completed: 3,
            seen_ms_ago,
        };
        assert!(worker_line(&beat(1_500)).ends_with(" 1s ago"));
        assert!(
            worker_line(&beat(42_000))
                .ends_with("42s ago (silent: killed, or cut off from the broker)")
        );
    }
}

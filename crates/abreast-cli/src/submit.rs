//! The input's submission for `abreast fetch --broker`, on a thread of its own beside the
//! collector: records are written as soon as the workers have them, while a slow producer
//! (`tail -f log | abreast fetch - --broker ...`) is still writing lines, and each of its lines
//! goes to the broker within [`abreast_queue::PACE`] of being read, not with the next full
//! batch.
//!
//! The collector starts once the job is known to hold this input (`Queue::submit`'s
//! `verified`), so a name taken by another input never has that input's records written here.
//! If the broker goes away in the middle, the submission starts again from the input's first
//! line (only what the job lacks is added): a file is read again, standard input (or a pipe)
//! from the copy kept of it (a [`Spool`]).

use std::io::BufReader;
use std::path::{Path, PathBuf};

use abreast_fetch::StopSignal;
use abreast_queue::{BrokerUrl, JobName, JobSpec, Queue, QueueError, RedisQueue, Spool};

use crate::broker::OutageNote;

/// The input's submission, on a thread of its own; `Submission::finish` gives its failure.
pub type Submission = abreast_queue::Submission<anyhow::Error>;

/// Where the input's lines come from, opened before anything else is done, so that a missing
/// file is said at once (not after the broker answers).
pub enum Source {
    /// A regular file: read again, from its start, by each attempt.
    File(PathBuf),
    /// Standard input, or a pipe named as the input (`<(producer)`, a FIFO, `/dev/stdin`):
    /// read once, as it comes, and kept in a [`Spool`] for another attempt.
    Stream(Box<dyn std::io::Read + Send>),
}

impl Source {
    /// Opens `input` (`None` or `-`: standard input).
    pub fn open(input: Option<&Path>) -> anyhow::Result<Source> {
        let Some(path) = input.filter(|path| path.as_os_str() != "-") else {
            return Ok(Source::Stream(Box::new(std::io::stdin())));
        };
        let file = crate::fetch::open_url_list(path)?;
        if file.metadata().is_ok_and(|metadata| metadata.is_file()) {
            Ok(Source::File(path.to_owned()))
        } else {
            Ok(Source::Stream(Box::new(file)))
        }
    }
}

/// Starts submitting `source` as `job`, for the run whose collector claim is `collector`.
pub fn start(
    url: &BrokerUrl,
    job: &JobName,
    spec: &JobSpec,
    source: Source,
    collector: &str,
) -> anyhow::Result<Submission> {
    let (url, job, spec) = (url.clone(), job.clone(), spec.clone());
    let collector = collector.to_owned();
    let quit = StopSignal::new();
    let submission = Submission::start(quit.flag(), move |verified| {
        let to = Target {
            job: &job,
            spec: &spec,
            collector: &collector,
        };
        crate::broker::runtime()?.block_on(submit(&url, to, source, &quit, verified))
    })?;
    Ok(submission)
}

/// What a submission adds to: the job, its spec, and the collector claim of the run it is for.
#[derive(Clone, Copy)]
struct Target<'a> {
    job: &'a JobName,
    spec: &'a JobSpec,
    collector: &'a str,
}

/// Connects and submits until the input's end (the job's lines) or `quit` (`None`), retrying
/// through outages, and while another run collects the job (its collector says that it waits);
/// says how many lines went on the job.
async fn submit(
    url: &BrokerUrl,
    to: Target<'_>,
    source: Source,
    quit: &StopSignal,
    verified: &(dyn Fn() + Sync),
) -> anyhow::Result<Option<u64>> {
    let job = to.job;
    /// Where the lines come from.
    enum Input<I> {
        File(PathBuf),
        Stream(Spool<I>),
    }
    let Some(queue) = crate::broker::connect(url, "fetch", quit).await? else {
        return Ok(None);
    };
    let mut input = match source {
        Source::File(path) => Input::File(path),
        Source::Stream(stream) => {
            // The reading thread is left: it may wait in `read` until the stream ends, and it
            // ends with the process.
            let lines = crate::collect::submitted_lines(BufReader::new(stream));
            let (lines, _reader) = abreast_queue::paced(lines, quit.flag())?;
            Input::Stream(Spool::new(lines, job)?)
        }
    };
    let mut note = OutageNote::new("fetch");
    let mut failures = 0;
    loop {
        let outcome = match &mut input {
            Input::Stream(spool) => {
                let mut lines = spool.lines()?;
                submit_until(&queue, to, &mut lines, verified, quit).await
            }
            Input::File(path) => {
                let file = crate::fetch::open_url_list(path)?;
                let mut lines =
                    until_quit(crate::collect::submitted_lines(BufReader::new(file)), quit);
                submit_until(&queue, to, &mut lines, verified, quit).await
            }
        };
        match outcome {
            None => return Ok(None),
            Some(Ok(submitted)) => {
                note.recovered();
                if submitted.added > 0 {
                    eprintln!(
                        "abreast fetch: job {job}: {} lines submitted ({} new)",
                        submitted.lines, submitted.added
                    );
                }
                return Ok(Some(submitted.lines));
            }
            // An outage is said here; another run collecting the job, by the collector.
            Some(Err(error)) if error.resubmit_later() => {
                if error.is_transient() {
                    note.report(&error);
                }
                failures += 1;
                if quit.sleep(crate::broker::backoff(failures)).await {
                    return Ok(None);
                }
            }
            Some(Err(error)) => return Err(error.into()),
        }
    }
}

/// One attempt at the submission; `None` once `quit` is raised (the call under way dropped, or
/// the input stopped by it: the job is left unsealed, as an interrupted submission is).
async fn submit_until(
    queue: &RedisQueue,
    to: Target<'_>,
    lines: &mut (dyn Iterator<Item = std::io::Result<String>> + Send),
    verified: &(dyn Fn() + Sync),
    quit: &StopSignal,
) -> Option<Result<abreast_queue::Submitted, QueueError>> {
    let outcome = tokio::select! {
        biased;
        () = quit.raised() => return None,
        outcome = queue.submit(to.job, to.spec, lines, to.collector, verified) => outcome,
    };
    match outcome {
        Err(QueueError::Input(_)) if quit.is_raised() => None,
        outcome => Some(outcome),
    }
}

/// `lines` until `quit` is raised, then an input error, so that the submission stops where it
/// is and the job is not sealed short.
fn until_quit(
    lines: impl Iterator<Item = std::io::Result<String>> + Send,
    quit: &StopSignal,
) -> impl Iterator<Item = std::io::Result<String>> + Send {
    let quit = quit.clone();
    lines.map(move |line| {
        if quit.is_raised() {
            Err(std::io::Error::other("the submission was stopped"))
        } else {
            line
        }
    })
}

//! `abreast fetch INPUT --broker URL --job NAME`: submits INPUT as a job (on a thread of its
//! own, [`crate::submit`]) and, as soon as the job is known to hold it, collects its records
//! from the workers into the output while the rest is submitted, exactly one per input line,
//! the same records a plain `fetch` writes.
//!
//! Collecting is crash-safe. Before writing a batch, the collector tells the broker which
//! results it is about to write and at which file offset; it writes and flushes them, then acks
//! them, which removes them from the broker. A collector killed anywhere in between is rerun
//! with `--resume`: the file is trimmed to its last whole line, the lines past the announced
//! offset tell which results of the open batch were written, and the rest are handed out
//! again. Lines already collected are dropped if a worker's result comes twice.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use abreast_fetch::{ErrorInfo, ErrorKind, Format, Record, RecordWriter, StopSignal, Summary};
use abreast_queue::{
    BrokerUrl, JobName, JobSpec, JobStatus, Progress, Queue, QueueError, RedisQueue,
};
use anyhow::{Context as _, bail};

use crate::broker::{JobSettings, OutageNote, retry};
use crate::fetch::FetchArgs;
use crate::submit::Submission;

/// Results read per batch at most (16 of the broker's entries of up to 256 results: about
/// 10 MB of records).
const BATCH: usize = 4096;
/// How long the collector lets results gather after a small batch.
const COLLECT_LINGER: Duration = Duration::from_millis(10);
/// How long a read of the results waits for some to come: the collector looks whether the
/// submission ended between two reads, so this is how late it may notice its job is done.
const RESULTS_WAIT: Duration = Duration::from_millis(100);
/// How long a collector's claim on its job lasts unless renewed.
const CLAIM_TTL: Duration = Duration::from_secs(6);
/// A job no live worker serves for this long gets a line on stderr.
const NO_WORKER_NOTE: Duration = Duration::from_secs(10);

/// A writer that counts the bytes it passes on, so the collector knows its file offset.
struct Counted<W> {
    inner: W,
    written: Arc<AtomicU64>,
}

impl<W: Write> Write for Counted<W> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(bytes)?;
        self.written.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Where the collector writes: JSON lines as the workers encoded them (the bytes
/// `RecordWriter` would write for the same record, so the record need not be decoded and encoded
/// again), or CSV through `RecordWriter`.
enum Output<W: Write> {
    Jsonl(Counted<W>),
    Csv(RecordWriter<Counted<W>>),
}

impl<W: Write> Output<W> {
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Output::Jsonl(out) => out.flush(),
            Output::Csv(writer) => writer.flush(),
        }
    }
}

/// The fields of a record the summary counts: all a JSON line is decoded into.
#[derive(serde::Deserialize)]
struct LineCounts {
    url: String,
    error: Option<ErrorInfo>,
    elapsed_ms: u64,
    attempts: u32,
    bytes: u64,
    truncated: bool,
}

impl LineCounts {
    /// A record with these fields, for the summary.
    fn record(self) -> Record {
        let mut record = Record::empty(self.url);
        record.ok = self.error.is_none();
        record.error = self.error;
        record.elapsed_ms = self.elapsed_ms;
        record.attempts = self.attempts;
        record.bytes = self.bytes;
        record.truncated = self.truncated;
        record
    }
}

/// Whether a worker's record is one JSON object on one line, as far as a cheap look tells: it
/// opens and closes a brace and holds no line break (JSON escapes those in strings).
fn is_one_object(body: &str) -> bool {
    body.starts_with('{')
        && body.ends_with('}')
        && memchr::memchr2(b'\n', b'\r', body.as_bytes()).is_none()
}

/// Runs `abreast fetch --broker`.
pub fn run(args: &FetchArgs, url: &BrokerUrl, job: &JobName) -> anyhow::Result<ExitCode> {
    let stop = crate::fetch::stop_on_ctrl_c()?;
    let runtime = crate::broker::runtime()?;
    runtime.block_on(submit_and_collect(args, url, job, &stop))
}

async fn submit_and_collect(
    args: &FetchArgs,
    url: &BrokerUrl,
    job: &JobName,
    stop: &StopSignal,
) -> anyhow::Result<ExitCode> {
    let settings = JobSettings {
        http: args.http_settings(),
        per_host: args.per_host as usize,
        rate: args.rate,
    };
    let spec = JobSpec {
        settings: settings.encode(),
        lease: args.lease,
        max_deliveries: args.max_deliveries,
    };
    let source = crate::submit::Source::open(args.input.as_deref())?;
    let Some(queue) = crate::broker::connect(url, "fetch", stop).await? else {
        return Ok(ExitCode::from(130));
    };
    let note = OutageNote::new("fetch");
    let holder = crate::broker::process_id("collector");
    let mut submission = crate::submit::start(url, job, &spec, source, &holder)?;
    let progress = tokio::select! {
        biased;
        () = stop.raised() => Progress::Stopped,
        progress = submission.verified() => progress,
    };
    match progress {
        Progress::Stopped => return Ok(ExitCode::from(130)),
        Progress::Failed => {
            submission.finish()?;
            bail!("the submission of job {job} ended without a cause");
        }
        Progress::Started | Progress::Verified | Progress::Done { .. } => {}
    }
    let run = Run {
        args,
        url,
        job,
        stop,
        queue: &queue,
        holder: &holder,
        submission: &submission,
    };
    let outcome = claim_and_collect(run, note).await;
    // The collector is done: a submission still under way stops (only after a stop or a
    // failure: a job is collected whole only once all its lines are on it). A submission's
    // failure (another input under this name, an unreadable input) is the cause of the run's
    // end, whatever the collector then said.
    submission.finish()?;
    outcome
}

/// What the collector works with.
#[derive(Clone, Copy)]
struct Run<'a> {
    args: &'a FetchArgs,
    url: &'a BrokerUrl,
    job: &'a JobName,
    stop: &'a StopSignal,
    queue: &'a RedisQueue,
    /// This run's collector claim, which its submission adds lines under too.
    holder: &'a str,
    /// The input's submission, under way while the records are collected.
    submission: &'a Submission,
}

/// Takes the job's collector claim (waiting while another collector holds it) and collects.
async fn claim_and_collect(run: Run<'_>, mut note: OutageNote) -> anyhow::Result<ExitCode> {
    let Run {
        job,
        stop,
        queue,
        holder,
        submission,
        ..
    } = run;
    let mut waiting_said = false;
    loop {
        match retry(&mut note, Some(stop), || {
            queue.claim_collector(job, holder, CLAIM_TTL)
        })
        .await?
        {
            None => return Ok(ExitCode::from(130)),
            Some(true) => break,
            // A submission that failed meanwhile (another input, told once the other run
            // sealed the job) is the run's error.
            Some(false) if matches!(submission.progress(), Progress::Failed) => {
                return Ok(ExitCode::from(130));
            }
            Some(false) => {
                if !waiting_said {
                    eprintln!(
                        "abreast fetch: another collector holds job {job}; waiting until it ends \
                         or its claim lapses ({} s after it stops)",
                        CLAIM_TTL.as_secs()
                    );
                    waiting_said = true;
                }
                if stop.sleep(Duration::from_millis(500)).await {
                    eprintln!(
                        "abreast fetch: stopped while another collector held job {job}; this run \
                         wrote nothing"
                    );
                    return Ok(ExitCode::from(130));
                }
            }
        }
    }

    let outcome = collect_claimed(run, note).await;
    // The next collector of this job need not wait for the claim to lapse.
    let _ = queue.release_collector(job, holder).await;
    outcome
}

/// Collects the job's records into the output, holding the job's collector claim, while the
/// rest of the input is submitted.
async fn collect_claimed(run: Run<'_>, mut note: OutageNote) -> anyhow::Result<ExitCode> {
    let Run {
        args,
        job,
        stop,
        queue,
        holder,
        submission,
        ..
    } = run;
    let format = Format::from(args.format);
    let status = match retry(&mut note, Some(stop), || queue.job(job)).await? {
        None => return Ok(ExitCode::from(130)),
        Some(None) => {
            bail!("job {job} was deleted from the broker before this run could collect it")
        }
        Some(Some(info)) => info.status,
    };
    // A job sealed by another run while this one waited for its claim: this input is known to
    // be the job's only once its submission has read it to its end (or it fails, as another
    // input does, and that failure is the run's error).
    // The claim is renewed meanwhile: reading a long input again outlasts it.
    if status.sealed && !matches!(submission.progress(), Progress::Done { .. }) {
        let ended = loop {
            tokio::select! {
                biased;
                () = stop.raised() => break Progress::Stopped,
                ended = submission.ended() => break ended,
                () = tokio::time::sleep(Duration::from_secs(1)) => {
                    if !keep_claim(run, &mut note).await? {
                        break Progress::Stopped;
                    }
                }
            }
        };
        if !matches!(ended, Progress::Done { .. }) {
            return Ok(ExitCode::from(130));
        }
    }
    let written = Arc::new(AtomicU64::new(0));
    let (out, header): (Box<dyn Write>, bool) = match &args.output {
        None => {
            refuse_collected(job, &status)?;
            (Box::new(std::io::stdout().lock()), true)
        }
        Some(path) if args.resume => {
            let file = reopen(run, path, status.collected, &mut note).await?;
            let length = file.metadata().map(|m| m.len()).unwrap_or(0);
            written.store(length, Ordering::Relaxed);
            (Box::new(file), length == 0)
        }
        Some(path) => {
            refuse_collected(job, &status)?;
            // A collector that stopped before writing anything may have left a batch open.
            retry(&mut note, Some(stop), || {
                queue.ack_results(job, holder, &[])
            })
            .await?;
            let file = File::create(path)
                .with_context(|| format!("could not create the output {}", path.display()))?;
            (Box::new(file), true)
        }
    };
    let counted = Counted {
        inner: BufWriter::with_capacity(256 * 1024, out),
        written: Arc::clone(&written),
    };
    let mut writer = match format {
        Format::Jsonl => Output::Jsonl(counted),
        _ => Output::Csv(
            RecordWriter::new(counted, format, header).context("could not write the output")?,
        ),
    };

    let collected = match retry(&mut note, Some(stop), || queue.collected(job)).await? {
        None => return Ok(ExitCode::from(130)),
        Some(bits) => bits,
    };
    let mut collector = Collector {
        run,
        bits: collected,
        summary: Summary::default(),
        note,
        started: Instant::now(),
    };
    let interrupted = collector.collect(&mut writer, &written).await?;
    writer.flush().context("could not write the output")?;
    let mut summary = collector.summary;
    summary.interrupted = interrupted;
    if interrupted {
        // The job's lines submitted that have no record in the output yet: they stay on the
        // broker for `--resume` (one quick look; a broker out of reach leaves the count out).
        let look = tokio::time::timeout(Duration::from_secs(2), queue.job(job)).await;
        if let Ok(Ok(Some(info))) = look {
            summary.abandoned = info.status.lines.saturating_sub(info.status.collected);
        }
    }
    summary.finish(collector.started.elapsed());
    eprintln!("abreast fetch: {summary}");
    Ok(if interrupted {
        ExitCode::from(130)
    } else if summary.failures() > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The input lines to submit, as text: blanks and comments skipped. Lines are read as bytes:
/// one that is not UTF-8 goes on the job with those bytes percent-encoded, so the workers
/// request what a local run would.
pub(crate) fn submitted_lines(
    reader: impl BufRead + Send + 'static,
) -> impl Iterator<Item = std::io::Result<String>> + Send {
    reader
        .split(b'\n')
        .enumerate()
        .filter_map(|(n, line)| match line {
            Err(error) => Some(Err(error)),
            Ok(line) if n == 0 => {
                abreast_fetch::job_line(abreast_fetch::without_bom(&line)).map(Ok)
            }
            Ok(line) => abreast_fetch::job_line(&line).map(Ok),
        })
}

/// Refuses to collect a job afresh when some of its records were collected before (into a
/// file this run cannot know): they would be missing from this output.
fn refuse_collected(job: &JobName, status: &JobStatus) -> anyhow::Result<()> {
    let (collected, lines) = (status.collected, status.lines);
    if collected == 0 {
        return Ok(());
    }
    if status.is_finished() {
        bail!(
            "job {job} was collected already (all {lines} lines), into an earlier run's output \
             (with --resume and -o naming it, a run finds it complete; standard output \
             redirected to a file works too); to fetch its URLs again, delete it with `abreast \
             status --delete {job}` or name another --job"
        );
    }
    // A job whose submission stopped early counts only the lines submitted so far.
    let of = if status.sealed { "" } else { "the first " };
    bail!(
        "job {job} was partly collected already ({collected} of {of}{lines} lines), into an \
         earlier run's output: rerun with --resume and -o naming it (standard output redirected \
         to a file works too) to continue it, or delete the job with `abreast status --delete \
         {job}` to start over"
    )
}

/// Opens the output for `--resume`: trims a cut last line, settles the batch that was open when
/// the last collector stopped, and positions the file at its end.
async fn reopen(
    run: Run<'_>,
    path: &Path,
    collected: u64,
    note: &mut OutageNote,
) -> anyhow::Result<File> {
    let Run {
        queue,
        job,
        stop,
        holder,
        ..
    } = run;
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .with_context(|| format!("could not open {} to resume", path.display()))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)
        .with_context(|| format!("could not read {} to resume", path.display()))?;
    let whole = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    file.set_len(whole as u64)
        .with_context(|| format!("could not trim the cut last line of {}", path.display()))?;
    file.seek(SeekFrom::End(0))?;
    let open = retry(note, Some(stop), || queue.open_batch(job))
        .await?
        .flatten();
    match open {
        Some(batch) => {
            let Some(after) = bytes[..whole].get(batch.offset as usize..) else {
                bail!(
                    "{} is shorter than when job {job} last wrote to it; resume with the file \
                     it wrote, or delete the job with `abreast status --delete {job}` to start \
                     over",
                    path.display()
                );
            };
            let lines = after.iter().filter(|&&b| b == b'\n').count();
            let (done, _) = batch.entries.split_at(lines.min(batch.entries.len()));
            retry(note, Some(stop), || queue.ack_results(job, holder, done)).await?;
        }
        None if collected > 0 && whole == 0 => {
            bail!(
                "{} has no records, and {collected} lines of job {job} were collected already, \
                 into another file: resume with that file as -o, or delete the job with \
                 `abreast status --delete {job}` to start over",
                path.display()
            );
        }
        None if collected == 0 && whole > 0 => {
            bail!(
                "{} already has records, and job {job} has none collected: it was written by \
                 another run; pick another -o file",
                path.display()
            );
        }
        None => {}
    }
    Ok(file)
}

/// Renews the run's collector claim: false if the run was stopped first, the take-over
/// ([`taken_over`]) if another collector holds it now.
async fn keep_claim(run: Run<'_>, note: &mut OutageNote) -> anyhow::Result<bool> {
    let renewed = retry(note, Some(run.stop), || {
        run.queue.claim_collector(run.job, run.holder, CLAIM_TTL)
    })
    .await?;
    match renewed {
        None => Ok(false),
        Some(true) => Ok(true),
        Some(false) => Err(taken_over(run.job)),
    }
}

/// A claim of the collector's own that another collector holds now: it lapsed while this one
/// was stalled (such as by a broker out of reach longer than the claim lasts).
fn taken_over(job: &JobName) -> anyhow::Error {
    anyhow::anyhow!(
        "another collector took job {job} over while this one was stalled (its claim lapsed): the \
         records not written here go to that run's output (the last few written here may be there \
         too); see `abreast status --job {job}`"
    )
}

/// A broker call's error as the collector says it: the broker's refusal of a claim that lapsed
/// ([`QueueError::OtherCollector`]) is a take-over.
fn or_taken_over(job: &JobName) -> impl Fn(QueueError) -> anyhow::Error + '_ {
    move |error| match error {
        QueueError::OtherCollector { .. } => taken_over(job),
        other => other.into(),
    }
}

/// The collecting loop's state.
struct Collector<'a> {
    run: Run<'a>,
    /// The lines already collected (bit `n` of byte `n / 8`, highest bit first).
    bits: Vec<u8>,
    summary: Summary,
    note: OutageNote,
    started: Instant,
}

impl Collector<'_> {
    fn is_collected(&self, line: u64) -> bool {
        self.bits
            .get((line / 8) as usize)
            .is_some_and(|byte| byte & (0x80 >> (line % 8)) != 0)
    }

    fn mark(&mut self, line: u64) {
        let index = (line / 8) as usize;
        if self.bits.len() <= index {
            self.bits.resize(index + 1, 0);
        }
        self.bits[index] |= 0x80 >> (line % 8);
    }

    /// Collects until every line has its record; true if a stop came first.
    async fn collect<W: Write>(
        &mut self,
        writer: &mut Output<W>,
        written: &AtomicU64,
    ) -> anyhow::Result<bool> {
        let run = self.run;
        let (queue, job, stop, holder) = (run.queue, run.job, run.stop, run.holder);
        let mut last_check = Instant::now() - Duration::from_secs(60);
        let mut last_progress = Instant::now();
        let mut noted_idle = false;
        let mut foreign = 0u64;
        // The job's lines collected, as the last ack counted them.
        let mut collected: u64 = self
            .bits
            .iter()
            .map(|byte| u64::from(byte.count_ones()))
            .sum();
        loop {
            if stop.is_raised() {
                return Ok(true);
            }
            match run.submission.progress() {
                // Done once every line is collected: known here once the submission has ended
                // (the job's last records may have come before its end), else at the next look
                // at the job.
                Progress::Done { lines } if collected >= lines => return Ok(false),
                // A submission that failed ends the collection at once; its cause is the run's
                // error (`Submission::finish`).
                Progress::Failed | Progress::Stopped => return Ok(true),
                Progress::Started | Progress::Verified | Progress::Done { .. } => {}
            }
            if last_check.elapsed() >= Duration::from_secs(1) {
                last_check = Instant::now();
                if !keep_claim(run, &mut self.note).await? {
                    return Ok(true);
                }
                let Some(info) = retry(&mut self.note, Some(stop), || queue.job(job)).await? else {
                    return Ok(true);
                };
                let Some(info) = info else {
                    bail!("job {job} was deleted from the broker while it was collected");
                };
                if info.status.is_finished() {
                    return Ok(false);
                }
                if last_progress.elapsed() >= NO_WORKER_NOTE && !noted_idle {
                    let live = retry(&mut self.note, Some(stop), || queue.workers())
                        .await?
                        .unwrap_or_default()
                        .iter()
                        .any(|w| w.seen_ms_ago < NO_WORKER_NOTE.as_millis() as u64);
                    if !live {
                        eprintln!(
                            "abreast fetch: no worker has served job {job} for {} s; start one, \
                             here or on any machine that reaches the broker: abreast worker \
                             --broker {}",
                            NO_WORKER_NOTE.as_secs(),
                            run.url
                        );
                        noted_idle = true;
                    }
                }
            }
            let Some(batch) = retry(&mut self.note, Some(stop), || {
                queue.read_results(job, BATCH, RESULTS_WAIT)
            })
            .await?
            else {
                return Ok(true);
            };
            if batch.foreign > 0 {
                foreign += batch.foreign;
                eprintln!(
                    "abreast fetch: skipped {} entries on job {job}'s results that abreast did \
                     not write ({foreign} so far)",
                    batch.foreign
                );
            }
            if batch.entries.is_empty() {
                continue;
            }
            last_progress = Instant::now();
            noted_idle = false;
            let mut fresh: Vec<(String, u64)> = Vec::new();
            let mut repeats: Vec<(String, u64)> = Vec::new();
            let mut records = Vec::new();
            let mut in_batch = std::collections::HashSet::new();
            for entry in batch.entries {
                if self.is_collected(entry.line) || !in_batch.insert(entry.line) {
                    repeats.push((entry.id, entry.line));
                    continue;
                }
                let decoded = match writer {
                    // The worker's summary has what the summary counts; the line is written
                    // as the worker encoded it, once a cheap look says it is one line holding
                    // an object (the workers encode records with serde_json, as `fetch` does).
                    Output::Jsonl(_) => match crate::broker::summarized_record(&entry.summary)
                        .filter(|_| is_one_object(&entry.body))
                    {
                        Some(record) => Ok((record, Some(entry.body))),
                        // The whole line is checked; only the counted fields are kept.
                        None => serde_json::from_str::<LineCounts>(&entry.body)
                            .map(|counted| (counted.record(), Some(entry.body))),
                    },
                    Output::Csv(_) => {
                        serde_json::from_str::<Record>(&entry.body).map(|record| (record, None))
                    }
                };
                let record = decoded.unwrap_or_else(|error| {
                    // A worker of another version, or a damaged entry: the line still gets
                    // its one record.
                    let record = Record::failed(
                        format!("(line {} of job {job})", entry.line + 1),
                        ErrorInfo::new(
                            ErrorKind::Internal,
                            format!(
                                "the worker's record did not parse ({error}); are the workers \
                                 running the same abreast version as this collector?"
                            ),
                        ),
                    );
                    (record, None)
                });
                fresh.push((entry.id, entry.line));
                records.push(record);
            }
            if !fresh.is_empty() {
                let offset = written.load(Ordering::Relaxed);
                let announced = retry(&mut self.note, Some(stop), || {
                    queue.begin_batch(job, holder, offset, &fresh)
                })
                .await
                .map_err(or_taken_over(job))?;
                if announced.is_none() {
                    return Ok(true);
                }
                for (record, line) in &records {
                    match (&mut *writer, line) {
                        (Output::Jsonl(out), line) => {
                            let encoded;
                            let line = match line {
                                Some(line) => line,
                                None => {
                                    encoded = serde_json::to_string(record)
                                        .context("encoding a record")?;
                                    &encoded
                                }
                            };
                            out.write_all(line.as_bytes())
                                .and_then(|()| out.write_all(b"\n"))
                                .context("could not write the output")?;
                        }
                        (Output::Csv(csv), _) => {
                            csv.write(record).context("could not write the output")?;
                        }
                    }
                    self.summary.count(record);
                }
                writer.flush().context("could not write the output")?;
            }
            let mut acked = fresh.clone();
            acked.extend(repeats);
            // Acked even through a stop: what was written must not come again.
            let acked = retry(&mut self.note, None, || {
                queue.ack_results(job, holder, &acked)
            })
            .await
            .map_err(or_taken_over(job))?;
            for (_, line) in &fresh {
                self.mark(*line);
            }
            collected = acked.unwrap_or(collected);
            // A small batch means the results trickle in: let more gather before the next
            // read, so that the reads, announcements and acks are paid per batch, not per line.
            if fresh.len() < BATCH / 4 && stop.sleep(COLLECT_LINGER).await {
                return Ok(true);
            }
        }
    }
}

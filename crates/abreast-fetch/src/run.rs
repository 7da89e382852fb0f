//! A run: input -> shard filter -> resume skip -> a mechanism's driver -> [`Records`], the
//! stream of records as they complete; and [`run`], which writes them.
//!
//! The driver runs on a thread of its own; whichever thread finishes a URL (a pool thread, a
//! coroutine, a worker's reply) sends its `(sequence, Record)` pair over a bounded channel, and
//! [`Records`] hands them out in completion order (or in input order with
//! [`FetchConfig::ordered`]), counts them, and watches the stop signal. On the first stop it
//! lets the driver take no new URL, and a URL taken but still waiting for its host's slot or
//! rate never starts its request; it waits up to the grace period for the requests under way.
//! What is still in flight then is abandoned (no record, so `--resume` fetches it again). Every
//! URL taken either gets exactly one record or is counted as abandoned.
//!
//! Ownership runs one way: the run owns the driver thread, which owns the mechanism (pool,
//! runtime, worker processes); the mechanism's tasks hold only a sender of the channel and the
//! shared [`Intake`] counters. Dropping [`Records`] cancels the driver and joins it, which frees
//! all of it.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::config::{FetchConfig, FetchError, StopSignal};
use crate::drive::{Intake, Job, Jobs, drive};
use crate::http::body::SparesFreedAtEnd;
use crate::input::{IntoUrlLine, targets};
use crate::output::{RecordWriter, ResumeLedger};
use crate::record::Record;
use crate::summary::Summary;

/// What a run is given besides its configuration and input.
#[derive(Debug, Default)]
pub struct RunOptions {
    /// A stop request (the CLI raises it on Ctrl-C): once raised, no new URL is taken, no
    /// request still waiting for its host's slot or rate starts, the requests under way get
    /// [`FetchConfig::grace`] to finish, and the rest are abandoned. [`Records::stop`] raises it
    /// too.
    pub stop: Option<StopSignal>,
    /// URLs already done by an earlier run (`--resume`): as many occurrences of each are
    /// skipped.
    pub done: ResumeLedger,
    /// With `--robots obey`: where the run gets hosts' robots.txt files other runs fetched,
    /// and leaves those it fetches (a broker job's workers share one). `None`: the run
    /// fetches each host's file itself, once.
    pub robots: Option<std::sync::Arc<dyn crate::SharedRobots>>,
    /// Per-host limits shared with other runs (a broker job's, across its workers): each
    /// request also waits for its place there. `None`: the run's own `--per-host` and
    /// `--rate` are the only limits.
    pub hosts: Option<std::sync::Arc<dyn crate::SharedHosts>>,
}

/// What [`Records::next_timeout`] found.
#[derive(Debug)]
#[expect(
    clippy::large_enum_variant,
    reason = "moved straight out once per record; a box would cost an allocation per record"
)]
pub enum Next {
    /// The next record.
    Record(Record),
    /// None came within the time given; the run goes on.
    Pending,
    /// The run is over: every record has been handed out (or, after a stop, the rest were
    /// abandoned). [`Records::finish`] gives the summary.
    End,
}

/// The records of a running fetch, handed out as they complete: an [`Iterator`], and
/// [`next_timeout`](Records::next_timeout) for callers that must stay responsive (a progress
/// bar, Ctrl-C in Python).
///
/// Made by [`fetch`]. Memory stays bounded whatever the input's length: the input is read
/// lazily, at most about `2 × -j` records wait here, and nothing else is kept but the counts.
/// (With [`FetchConfig::ordered`], records that finished early wait until those before them
/// are out.)
///
/// Dropping it stops the run at once: no new URL is taken, fetches in flight are cancelled
/// (async and hybrid drop their tasks, processes kills its workers; in threads mode a request
/// in flight ends within its time limit), and it waits for the driver to end, so the threads,
/// runtimes, worker processes and sockets of the run are all freed when the drop returns. The
/// driver reads the input on its own thread: if pulling the next URL needs a lock the dropping
/// thread holds (Python's GIL, for one), release it around the drop.
pub struct Records {
    receiver: Option<flume::Receiver<(u64, Record)>>,
    intake: Arc<Intake>,
    driver: Option<JoinHandle<Result<(), FetchError>>>,
    cancel: CancellationToken,
    stop: StopSignal,
    mode: crate::config::Mode,
    grace: Duration,
    grace_deadline: Option<Instant>,
    ordered: bool,
    reorder: BTreeMap<u64, Record>,
    next_sequence: u64,
    summary: Summary,
    started: Instant,
    ended: bool,
    _spares: SparesFreedAtEnd,
}

impl std::fmt::Debug for Records {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Records")
            .field("mode", &self.mode)
            .field("summary", &self.summary)
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}

/// Starts fetching `urls` with `config` and returns their [`Records`] as they complete.
///
/// `urls` is any iterator of [`IntoUrlLine`] items (`String`s, [`url::Url`]s, the lines of a
/// reader from [`lines`](crate::input::lines)); it is read lazily, on the run's own thread, as
/// room frees up. Each item yields exactly one record: a page, or an error for a line that is
/// not an http(s) URL or could not be fetched. Blank items and `#` comments are skipped. An
/// input error ends the input; [`Records::finish`] reports it. Settings no request can go out
/// with (a header value with a line break, a `--cacert` that holds no certificate; see
/// [`HttpSettings::check`](crate::HttpSettings::check)) are refused at once, in every mode, as
/// [`FetchError::Settings`].
///
/// ```no_run
/// use abreast_fetch::{FetchConfig, Mode, RunOptions, fetch};
///
/// let urls = (0..1000).map(|i| format!("http://127.0.0.1:8080/page/{i}"));
/// let mut config = FetchConfig::default();
/// (config.mode, config.concurrency) = (Mode::Hybrid, Some(100));
/// let mut records = fetch(&config, urls, RunOptions::default())?;
/// for record in records.by_ref() {
///     match &record.error {
///         None => println!("{}: {:?}", record.url, record.page.title),
///         Some(error) => eprintln!("{}: {error}", record.url),
///     }
/// }
/// let summary = records.finish()?;
/// eprintln!("{summary}");
/// # Ok::<(), abreast_fetch::FetchError>(())
/// ```
pub fn fetch<I>(config: &FetchConfig, urls: I, options: RunOptions) -> Result<Records, FetchError>
where
    I: IntoIterator,
    I::IntoIter: Send + 'static,
    I::Item: IntoUrlLine,
{
    config.http.check()?;
    let started = Instant::now();
    let spares = SparesFreedAtEnd;
    let intake = Arc::new(Intake::default());
    let jobs = Jobs {
        inner: Box::new(numbered_jobs(
            urls.into_iter(),
            config,
            options.done,
            &intake,
        )),
        intake: Arc::clone(&intake),
    };
    let (sender, receiver) = flume::bounded::<(u64, Record)>(2 * config.concurrency());
    let cancel = CancellationToken::new();
    let driver = {
        let (driver_config, cancel) = (config.clone(), cancel.clone());
        let (shared_robots, shared_hosts) = (options.robots.clone(), options.hosts.clone());
        std::thread::Builder::new()
            .name("abreast-fetch-driver".into())
            .spawn(move || {
                drive(
                    &driver_config,
                    jobs,
                    &sender,
                    &cancel,
                    shared_robots,
                    shared_hosts,
                )
            })
            .map_err(|error| FetchError::setup(config.mode, "the driver thread", error))?
    };
    Ok(Records {
        receiver: Some(receiver),
        intake,
        driver: Some(driver),
        cancel,
        stop: options.stop.unwrap_or_default(),
        mode: config.mode,
        grace: config.grace,
        grace_deadline: None,
        ordered: config.ordered,
        reorder: BTreeMap::new(),
        next_sequence: 0,
        summary: Summary::default(),
        started,
        ended: false,
        _spares: spares,
    })
}

/// The input's targets, sharded, with those already done skipped, numbered in input order. The
/// first input error is kept in `intake` and ends the input.
fn numbered_jobs<I>(
    urls: I,
    config: &FetchConfig,
    mut done: ResumeLedger,
    intake: &Arc<Intake>,
) -> impl Iterator<Item = Job> + Send + 'static
where
    I: Iterator + Send + 'static,
    I::Item: IntoUrlLine,
{
    let (intake, shard) = (Arc::clone(intake), config.shard);
    let mut sequence = 0u64;
    targets(urls)
        .map_while(move |target| match target {
            Ok(target) => {
                if shard.is_some_and(|shard| !shard.contains(&target)) {
                    intake.other_shards.fetch_add(1, Ordering::Relaxed);
                    return Some(None);
                }
                if done.take(&target.line) {
                    intake.resumed.fetch_add(1, Ordering::Relaxed);
                    return Some(None);
                }
                sequence += 1;
                Some(Some((sequence - 1, target)))
            }
            Err(error) => {
                *intake.input_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(error);
                None
            }
        })
        .flatten()
}

impl Records {
    /// The next record, waiting at most `timeout` for it; with a zero timeout, one already
    /// waiting (so a loop of them drains what is ready without blocking).
    pub fn next_timeout(&mut self, timeout: Duration) -> Next {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(record) = self.reorder.remove(&self.next_sequence) {
                return self.hand_out(record);
            }
            if self.ended {
                return Next::End;
            }
            let now = Instant::now();
            if self.grace_deadline.is_none() && self.stop.is_raised() {
                self.intake.close();
                self.grace_deadline = Some(now + self.grace);
            }
            if self.grace_deadline.is_some_and(|end| now >= end) {
                // The grace period is over: what is still in flight is abandoned.
                self.end();
                continue;
            }
            if self.grace_deadline.is_some() && self.nothing_in_flight() {
                // Stopped with every URL taken answered: no grace to wait (the input may be a
                // pipe that has nothing more to say for a long while).
                self.end();
                continue;
            }
            // Wake at least every 100 ms to see a stop request.
            let mut wait = deadline
                .saturating_duration_since(now)
                .min(Duration::from_millis(100));
            if let Some(end) = self.grace_deadline {
                wait = wait.min(end.saturating_duration_since(now));
            }
            let receiver = self
                .receiver
                .as_ref()
                .expect("a run not ended has its receiver");
            // A record already waiting is taken even when the time is up (a zero timeout
            // drains what is ready).
            let received = if wait.is_zero() {
                receiver.try_recv().map_err(|error| match error {
                    flume::TryRecvError::Empty => flume::RecvTimeoutError::Timeout,
                    flume::TryRecvError::Disconnected => flume::RecvTimeoutError::Disconnected,
                })
            } else {
                receiver.recv_timeout(wait)
            };
            match received {
                Ok((sequence, record)) if self.ordered => {
                    self.reorder.insert(sequence, record);
                    // Records out of order that keep coming do not hold the caller past its
                    // time.
                    if Instant::now() >= deadline && !self.reorder.contains_key(&self.next_sequence)
                    {
                        return Next::Pending;
                    }
                }
                Ok((_, record)) => return self.hand_out(record),
                Err(flume::RecvTimeoutError::Timeout) if Instant::now() >= deadline => {
                    return Next::Pending;
                }
                Err(flume::RecvTimeoutError::Timeout) => {}
                Err(flume::RecvTimeoutError::Disconnected) => self.end(),
            }
        }
    }

    /// True when no record is waiting to be handed out right now (a writer's moment to flush).
    pub fn is_idle(&self) -> bool {
        !self.reorder.contains_key(&self.next_sequence)
            && self.receiver.as_ref().is_none_or(flume::Receiver::is_empty)
    }

    /// Asks the run to stop, as a first Ctrl-C does: no new URL is taken, no request still
    /// waiting for its host starts, the requests under way get the grace period
    /// ([`FetchConfig::grace`]), then the records end.
    pub fn stop(&self) {
        self.stop.raise();
    }

    /// The counts so far: records handed out, by outcome.
    pub fn summary(&self) -> &Summary {
        &self.summary
    }

    /// The counts so far with the wall time and latency percentiles filled in, as if the run
    /// ended now: for a caller that stops it without [`finish`](Self::finish) (which waits for
    /// the grace period).
    pub fn summary_now(&self) -> Summary {
        let mut summary = self.summary.clone();
        summary.finish(self.started.elapsed());
        summary
    }

    /// Ends the run and gives its summary: the records not yet handed out are counted, not
    /// returned, so call it once [`Next::End`] (or the iterator's `None`) came. An error if the
    /// input could not be read to its end or the mechanism could not be set up.
    ///
    /// After a stop, the requests that outlived the grace period are cancelled and their
    /// threads joined in the background (each ends within its time limit), so this returns at
    /// once; dropping [`Records`] instead waits for them.
    pub fn finish(mut self) -> Result<Summary, FetchError> {
        while let Next::Record(_) = self.next_timeout(Duration::from_secs(3600)) {}
        let interrupted = self.grace_deadline.is_some();
        let driver = self.driver.take().expect("finish runs once");
        // Nothing waits for a first permit any more, whether or not the records came to their
        // end, so the driver can be joined.
        self.intake.close();
        self.cancel.cancel();
        let outcome = if interrupted {
            // Joined by a thread of its own, so an interrupted program exits promptly.
            let _ = std::thread::Builder::new()
                .name("abreast-fetch-join".into())
                .spawn(move || driver.join());
            Ok(())
        } else {
            join_driver(driver, self.mode)
        };
        outcome?;
        if !interrupted {
            let error = self
                .intake
                .input_error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take();
            if let Some(error) = error {
                return Err(FetchError::Input(error));
            }
        }
        let mut summary = std::mem::take(&mut self.summary);
        summary.interrupted = interrupted;
        summary.abandoned = self.intake.taken.load(Ordering::SeqCst) - summary.records;
        summary.resumed = self.intake.resumed.load(Ordering::Relaxed);
        summary.other_shards = self.intake.other_shards.load(Ordering::Relaxed);
        summary.finish(self.started.elapsed());
        Ok(summary)
    }

    fn hand_out(&mut self, record: Record) -> Next {
        self.next_sequence += 1;
        self.summary.count(&record);
        Next::Record(record)
    }

    /// True when every URL taken has had its record handed out: none is under way. (A URL
    /// taken as the intake closed is not started, and is counted as abandoned.)
    fn nothing_in_flight(&self) -> bool {
        self.reorder.is_empty()
            && self.receiver.as_ref().is_none_or(flume::Receiver::is_empty)
            && self.intake.taken.load(Ordering::SeqCst) <= self.summary.records
    }

    /// No more records: the channel is dropped, so tasks still in flight stop sending.
    fn end(&mut self) {
        self.ended = true;
        self.receiver = None;
    }
}

impl Iterator for Records {
    type Item = Record;

    /// The next record, waiting as long as it takes; `None` at the end of the run.
    fn next(&mut self) -> Option<Record> {
        loop {
            match self.next_timeout(Duration::from_secs(3600)) {
                Next::Record(record) => return Some(record),
                Next::Pending => {}
                Next::End => return None,
            }
        }
    }
}

impl Drop for Records {
    fn drop(&mut self) {
        self.intake.close();
        self.cancel.cancel();
        self.receiver = None;
        if let Some(driver) = self.driver.take() {
            let _ = driver.join();
        }
    }
}

/// Waits for the driver thread and passes on its error.
fn join_driver(
    driver: JoinHandle<Result<(), FetchError>>,
    mode: crate::config::Mode,
) -> Result<(), FetchError> {
    driver.join().unwrap_or_else(|payload| {
        let message = crate::drive::panic_message(payload.as_ref());
        Err(FetchError::DriverPanicked { mode, message })
    })
}

/// How long the writer lets records gather once it has written every waiting one: each record
/// reaches the output at most this much later.
const WRITER_GATHER: Duration = Duration::from_millis(1);

/// Fetches the URLs of `input` (one per line) and writes each record to `writer` as it
/// completes: the `abreast fetch` command. `on_record` sees each record after it is written
/// (progress bars hook in here). The output is flushed whenever no further record is waiting,
/// so a crash or Ctrl-C leaves only whole lines.
pub fn run<R, W>(
    config: &FetchConfig,
    input: R,
    done: ResumeLedger,
    writer: &mut RecordWriter<W>,
    stop: &StopSignal,
    on_record: &mut dyn FnMut(&Record, &Summary),
) -> Result<Summary, FetchError>
where
    R: BufRead + Send + 'static,
    W: Write,
{
    let options = RunOptions {
        stop: Some(stop.clone()),
        done,
        ..RunOptions::default()
    };
    let mut records = fetch(config, crate::input::lines(input), options)?;
    loop {
        match records.next_timeout(Duration::from_secs(3600)) {
            Next::Record(record) => {
                writer.write(&record).map_err(FetchError::Output)?;
                on_record(&record, records.summary());
                if records.is_idle() {
                    writer.flush().map_err(FetchError::Output)?;
                    // Let records gather before waiting for the next: woken once per batch
                    // instead of once per record, this thread costs fewer context switches.
                    std::thread::sleep(WRITER_GATHER);
                }
            }
            Next::Pending => {}
            Next::End => break,
        }
    }
    writer.flush().map_err(FetchError::Output)?;
    records.finish()
}

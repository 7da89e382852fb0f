//! `abreast worker`: serves the jobs on a broker until SIGTERM or Ctrl-C.
//!
//! The worker is one more consumer of `abreast_fetch::fetch()`. For each job it serves it runs
//! one fetch whose input is a channel: the lines it leases (whole entries of the job's lines
//! stream) are fed in at once, and each request waits in the fetch for its host's permits, its
//! run's own and then the job-wide one ([`JobHosts`]: `--per-host` and `--rate` kept on the
//! broker, redirect hops included). A request that ends hands its job-wide permit to its host's
//! next request on the spot. Each record that comes out is matched back to its lease by URL (a
//! multiset: a URL may be on several lines), appended to the job's results and, with the last
//! line of its entry, the entry acked, in one step. The step is taken for a batch: the records
//! that come within 5 ms (at most 256; at once when no other line is in flight) go in one
//! transaction, so the broker's cost is paid per batch rather than per line; the records
//! waiting are completed before any new lease, so a suspect entry that kills the worker takes
//! none of them with it. A suspect's lines are fed one at a time, each completed before the
//! next starts; past the job's `--max-deliveries`, the first line its last worker left undone
//! (the one it died on) gets a `gave_up` record instead of another try.
//!
//! An idle worker reads the job list every 20 ms (and asks a job that had no lines again after
//! 20 to 100 ms), and leases at once when a submitter announces new lines
//! ([`RedisQueue::watch_new_lines`]). A job's fetch (its threads, its connections) starts with
//! the first lines this worker leases from it and ends after 5 s without any, so finished jobs
//! left on the broker cost an idle worker nothing. Leases are extended every third of the job's
//! lease while held. On SIGTERM or Ctrl-C the worker takes no new lease, lets the fetches in
//! flight finish within `--grace`, hands back the rest (others take them at once), and exits 0;
//! a second signal exits at once with 130 (what it held goes to others when the leases run
//! out).

use std::collections::{HashMap, HashSet, VecDeque};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use abreast_fetch::{
    ErrorInfo, ErrorKind, FetchConfig, Mode, Next, Record, RobotsFile, RobotsPolicy, RunOptions,
    SharedHosts, SharedRobots, StopSignal,
};
use abreast_queue::{
    Completion, JobName, Lease, NEW_LINES_CHANNEL, Queue, QueueError, RedisQueue, RobotsEntry,
    WorkerBeat,
};
use anyhow::Context as _;
use clap::Args;
use tokio::sync::mpsc;
use tokio_util::task::AbortOnDropHandle;

use crate::broker::{JobSettings, OutageNote, backoff, retry};
use crate::job_hosts::JobHosts;

/// Arguments of `abreast worker`.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// The broker: redis://[:PASSWORD@]HOST:PORT[/DB], or rediss:// for TLS.
    /// (Not parsed by clap, whose errors would echo it, password and all.)
    #[arg(long, value_name = "URL")]
    broker: String,
    /// The mechanism this worker fetches with.
    #[arg(long, default_value = "hybrid", value_parser = crate::fetch::parse_mode)]
    mode: Mode,
    /// Lines held (and requests in flight) at once by this worker [default: the mode's, as in
    /// `abreast fetch`].
    #[arg(short = 'j', long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=100_000))]
    jobs: Option<u64>,
    /// Extraction threads (hybrid mode); default one per two CPUs.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=4096))]
    workers: Option<u64>,
    /// Threads doing network I/O in hybrid mode; default one per two CPUs.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1024))]
    io_threads: Option<u64>,
    /// After SIGTERM or Ctrl-C, how long to let the fetches in flight finish before handing
    /// the rest back.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = crate::fetch::parse_duration)]
    grace: Duration,
}

/// What the worker's loop hears from its fetches.
enum Event {
    /// Records came out of a job's fetch (those ready at once go together: one wake-up).
    Records(JobName, Vec<Record>),
    /// A job's fetch ended (its input closed, or it failed to start).
    Ended(JobName, Option<String>),
}

/// What woke the worker's loop.
enum Pass {
    /// Records came (or waited their time) and were taken.
    Records,
    /// The tick: heartbeats, the job list, extensions, and leases when there is room.
    Tick,
    /// New lines were announced: an idle worker takes it as a tick and leases now (and the job
    /// list is read again if the job is new to the worker).
    NewLines(JobName),
}

/// A lease the worker holds.
struct Held {
    lease: Lease,
    /// Fed to the job's fetch (where it waits for its host's permits); until then (a suspect's
    /// line) it waits for the line before it.
    fed: bool,
}

/// An entry of which the worker holds lines: it is acked with the last of them.
#[derive(Default)]
struct HeldEntry {
    /// Lines of it held.
    lines: usize,
    /// Some of its lines were handed back: another worker may hold the entry now, so it is not
    /// acked from here.
    handed_back: bool,
}

/// A record whose request is over, waiting to be appended with its lease acked.
struct Done {
    job: JobName,
    lease: Lease,
    /// Where the record's JSON is in its batch's [`Batch::bodies`].
    body: std::ops::Range<usize>,
    /// What the collector counts of it ([`crate::broker::record_summary`]).
    summary: String,
    /// Ack the lease's entry with it.
    ack: bool,
    /// A suspect's line: completed at once, before its entry's next line starts.
    urgent: bool,
}

/// Records waiting to be completed together (one script a batch), and when the oldest of them
/// has waited [`RECORD_LINGER`].
#[derive(Default)]
struct Batch {
    done: Vec<Done>,
    /// The records' JSON one after the other, in one buffer kept from batch to batch rather
    /// than one allocation per record.
    bodies: Vec<u8>,
    due: Option<tokio::time::Instant>,
}

impl Batch {
    fn push(&mut self, done: Done) {
        if self.due.is_none() {
            self.due = Some(tokio::time::Instant::now() + RECORD_LINGER);
        }
        self.done.push(done);
    }

    /// Full, or holding a suspect's line: to complete now.
    fn is_due(&self) -> bool {
        self.done.len() >= RECORD_BATCH || self.done.iter().any(|d| d.urgent)
    }

    /// Empties the batch once its records are completed, keeping the buffer (up to a size).
    fn clear(&mut self) {
        self.done.clear();
        self.bodies.clear();
        self.bodies.shrink_to(BODIES_KEPT);
        self.due = None;
    }
}

/// The bytes of records' JSON a batch's buffer keeps between batches, at most.
const BODIES_KEPT: usize = 4 << 20;

/// One job this worker serves: its running fetch, the lines it holds, its hosts' permits.
struct JobRun {
    lease: Duration,
    max_deliveries: u32,
    feed: Option<flume::Sender<String>>,
    stop: StopSignal,
    reader: Option<std::thread::JoinHandle<()>>,
    /// The lines held, by number.
    held: HashMap<u64, Held>,
    /// The entries of the lines held, by id.
    entries: HashMap<String, HeldEntry>,
    /// A suspect entry's lines not fed yet, fed one at a time in order, each completed before
    /// the next starts ([`abreast_queue::Lease::alone`]).
    serial: VecDeque<Lease>,
    /// One of the suspect's lines is being fetched.
    serial_busy: bool,
    /// Fed URLs -> the numbers of their lines, oldest first.
    fed: HashMap<String, VecDeque<u64>>,
    /// The job-wide permits of the hosts, which the fetch waits for before each request.
    hosts: Arc<JobHosts>,
    /// Job-wide permits no request wants any more, to give back to the broker.
    releasing: Vec<(String, String)>,
    last_used: Instant,
    last_extended: Instant,
}

impl JobRun {
    /// Counts a line of `lease`'s entry as held.
    fn hold(&mut self, lease: &Lease) {
        self.entries.entry(lease.id.clone()).or_default().lines += 1;
    }

    /// Counts a line of `lease`'s entry as no longer held: true if it was the last, and the
    /// entry is to be acked with it.
    fn release(&mut self, lease: &Lease) -> bool {
        let Some(entry) = self.entries.get_mut(&lease.id) else {
            return false;
        };
        entry.lines = entry.lines.saturating_sub(1);
        if entry.lines > 0 {
            return false;
        }
        let acked = !entry.handed_back;
        self.entries.remove(&lease.id);
        acked
    }

    /// Counts `lease`'s line as handed back: its entry is no longer acked from here.
    fn handed_back(&mut self, lease: &Lease) {
        if let Some(entry) = self.entries.get_mut(&lease.id) {
            entry.handed_back = true;
        }
        self.release(lease);
    }

    /// Ends the fetch's input and its hosts' permits (kept to give back).
    fn close(&mut self) {
        self.feed = None;
        let held = self.hosts.end();
        self.releasing.extend(held);
    }

    /// Feeds a held line to the job's fetch, where it waits for its host's permits; its record
    /// is matched to it by URL.
    fn feed_line(&mut self, line: u64, crash_on: Option<&str>) {
        let Some(held) = self.held.get_mut(&line) else {
            return;
        };
        held.fed = true;
        if let Some(needle) = crash_on
            && !needle.is_empty()
            && held.lease.text.contains(needle)
        {
            // The tests' poison line: this worker dies as a crashing fetch would.
            eprintln!(
                "abreast worker: ABREAST_TEST_CRASH_ON matched {}; aborting",
                held.lease.text
            );
            std::process::abort();
        }
        self.fed
            .entry(held.lease.text.clone())
            .or_default()
            .push_back(line);
        if let Some(feed) = &self.feed {
            // Unbounded: it holds at most the lines this worker holds.
            let _ = feed.send(held.lease.text.clone());
        }
    }
}

/// Records completed in one script, at most.
const RECORD_BATCH: usize = 256;
/// How long the thread reading a job's records lets others gather after the first, before it
/// hands them to the loop together.
const RECORD_GATHER: Duration = Duration::from_millis(2);
/// How long a record waits for others to be completed with it. The broker's cost is mostly
/// per round trip: a batch of records costs little more than one.
const RECORD_LINGER: Duration = Duration::from_millis(5);

/// The worker's state.
struct Worker {
    queue: RedisQueue,
    id: String,
    config: FetchConfig,
    capacity: usize,
    events: mpsc::UnboundedSender<Event>,
    runs: HashMap<JobName, JobRun>,
    jobs: Vec<JobName>,
    /// Jobs whose settings this worker cannot read (a newer abreast's): skipped while listed.
    unreadable: HashSet<JobName>,
    /// Jobs whose last lease brought nothing (finished, or waiting for their producer): when
    /// each is looked at again, and how many looks in a row found nothing. An announcement of
    /// new lines in one clears it.
    quiet: HashMap<JobName, (Instant, u32)>,
    next_job: usize,
    completed: u64,
    note: OutageNote,
    #[cfg(debug_assertions)]
    crash_on: Option<String>,
}

/// Runs `abreast worker`.
pub fn run(args: &WorkerArgs) -> anyhow::Result<ExitCode> {
    let stop = crate::fetch::stop_on_ctrl_c()?;
    let runtime = crate::broker::runtime()?;
    runtime.block_on(serve(args, &stop))
}

async fn serve(args: &WorkerArgs, stop: &StopSignal) -> anyhow::Result<ExitCode> {
    let broker = crate::broker::parse_broker(&args.broker)?;
    let Some(queue) = crate::broker::connect(&broker, "worker", stop).await? else {
        return Ok(ExitCode::SUCCESS);
    };
    let mut config = FetchConfig::default();
    config.mode = args.mode;
    config.concurrency = args.jobs.map(|j| j as usize);
    config.workers = args.workers.map(|w| w as usize);
    config.io_threads = args.io_threads.map(|n| n as usize);
    // The worker ends its fetches itself, at the end of its own grace.
    config.grace = Duration::ZERO;
    let capacity = config.concurrency();
    let (events, mut incoming) = mpsc::unbounded_channel();
    let mut worker = Worker {
        queue,
        id: crate::broker::process_id("worker"),
        config,
        capacity,
        events,
        runs: HashMap::new(),
        jobs: Vec::new(),
        unreadable: HashSet::new(),
        quiet: HashMap::new(),
        next_job: 0,
        completed: 0,
        note: OutageNote::new("worker"),
        #[cfg(debug_assertions)]
        crash_on: std::env::var("ABREAST_TEST_CRASH_ON").ok(),
    };
    eprintln!(
        "abreast worker: {} serving the jobs on {} ({} mode, {} at once)",
        worker.id, broker, args.mode, capacity
    );
    let mut next_lease = Instant::now();
    let mut lease_failures = 0u32;
    // The last lease failed for the broker's trouble: its back-off stands.
    let mut broker_trouble = false;
    let mut next_beat = Instant::now();
    let mut next_jobs = Instant::now();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut batch = Batch::default();
    // New lines announced wake the loop at once: a new job starts without waiting for the tick.
    let (announce, mut announced) = mpsc::unbounded_channel();
    let watcher = AbortOnDropHandle::new(tokio::spawn(watch_new_lines(
        worker.queue.clone(),
        announce,
    )));
    while !stop.is_raised() {
        let due = batch.due;
        let linger = async {
            match due {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        let pass = tokio::select! {
            event = incoming.recv() => {
                // The events waiting are taken together; a fetch's end waits until its
                // records are completed.
                let mut ended = Vec::new();
                let mut next = event;
                while let Some(event) = next.take() {
                    match event {
                        Event::Records(job, ready) => {
                            worker.take_records(&job, &ready, &mut batch)?;
                        }
                        Event::Ended(job, error) => ended.push((job, error)),
                    }
                    if !batch.is_due() {
                        next = incoming.try_recv().ok();
                    }
                }
                // With no line left in flight no other record is coming to join the batch.
                if batch.is_due() || !ended.is_empty() || worker.held() == 0 {
                    worker.complete(&mut batch).await?;
                }
                worker.advance_serial();
                for (job, error) in ended {
                    worker.ended(&job, error).await;
                }
                Pass::Records
            }
            () = linger => {
                worker.complete(&mut batch).await?;
                Pass::Records
            }
            _ = tick.tick() => Pass::Tick,
            Some(job) = announced.recv() => Pass::NewLines(job),
        };
        let now = Instant::now();
        let mut woken = false;
        if let Pass::NewLines(job) = &pass {
            // The job list is read again on the next tick only for a job the worker does not
            // know yet; the announcements waiting come to the same.
            let mut new_job = !worker.jobs.contains(job);
            worker.quiet.remove(job);
            while let Ok(job) = announced.try_recv() {
                new_job |= !worker.jobs.contains(&job);
                worker.quiet.remove(&job);
            }
            if new_job {
                next_jobs = now;
            }
            // An idle worker leases at once, as on a tick. A busy one leases as its room frees,
            // and a broker in trouble keeps its back-off.
            if worker.held() == 0 && !broker_trouble {
                next_lease = now;
                lease_failures = 0;
                woken = true;
            }
        }
        let ticked = matches!(pass, Pass::Tick) || woken;
        if ticked {
            if now >= next_beat {
                worker.beat().await;
                next_beat = now + Duration::from_secs(2);
            }
            if now >= next_jobs {
                match worker.queue.jobs().await {
                    Ok(jobs) => {
                        // A new job is leased from at once, not after the idle back-off.
                        if jobs.iter().any(|job| !worker.jobs.contains(job)) {
                            next_lease = now;
                            lease_failures = 0;
                        }
                        worker.unreadable.retain(|job| jobs.contains(job));
                        worker.quiet.retain(|job, _| jobs.contains(job));
                        worker.jobs = jobs;
                    }
                    Err(error) => worker.note.report(&error),
                }
                // An idle worker looks on every tick, so a new job starts at once (SMEMBERS is
                // cheap); a busy one every quarter second.
                next_jobs = if worker.held() == 0 {
                    now
                } else {
                    now + Duration::from_millis(250)
                };
            }
            worker.extend_due().await;
            worker.release_permits().await;
            worker.close_idle_runs();
        }
        // Lines are leased on the tick, and at once when half the capacity is free, so a
        // fast job never waits for the tick. A suspect (a line whose workers died, on its last
        // delivery) is fetched with nothing new beside it.
        let room = worker.capacity - worker.held().min(worker.capacity);
        let wanted = ticked && room > 0 || room >= worker.capacity.div_ceil(2);
        if wanted && now >= next_lease && !worker.holds_suspect() {
            // The records waiting go first: a lease may bring a suspect, and a worker that it
            // kills must not take the lines it had finished down with it.
            worker.complete(&mut batch).await?;
            match worker.lease_some().await {
                Ok(0) => {
                    broker_trouble = false;
                    // Nothing to lease: ask again on a later tick, then every 100 ms.
                    lease_failures = lease_failures.saturating_add(1).min(5);
                    next_lease =
                        Instant::now() + Duration::from_millis(20 * u64::from(lease_failures));
                }
                Ok(_) => {
                    lease_failures = 0;
                    broker_trouble = false;
                    worker.note.recovered();
                }
                Err(error) if error.is_transient() => {
                    broker_trouble = true;
                    worker.note.report(&error);
                    lease_failures = lease_failures.saturating_add(1);
                    next_lease = Instant::now() + backoff(lease_failures);
                }
                Err(error) => return Err(error).context("the worker could not lease lines"),
            }
        }
    }
    drop(watcher);
    worker.complete(&mut batch).await?;
    worker.shut_down(&mut incoming, args.grace).await?;
    Ok(ExitCode::SUCCESS)
}

/// Tells the worker's loop of each batch of new lines announced on the broker (the job's
/// name), watching again 2 s after the connection is lost (the loop's tick stands in meanwhile,
/// and the loop's own calls report the outage). A broker whose ACL does not permit this user
/// the channel is said once, and asked again only every [`REFUSED_WATCH_RETRY`], in case the
/// right is granted: until then new jobs are found on the tick.
async fn watch_new_lines(queue: RedisQueue, announce: mpsc::UnboundedSender<JobName>) {
    let mut said_refused = false;
    loop {
        let wait = match queue.watch_new_lines().await {
            Ok(mut watch) => {
                said_refused = false;
                while let Some(job) = watch.next().await {
                    if announce.send(job).is_err() {
                        return;
                    }
                }
                WATCH_RETRY
            }
            Err(QueueError::NotPermitted { detail, .. }) => {
                if !said_refused {
                    said_refused = true;
                    eprintln!("{}", refused_watch_message(&detail));
                }
                refused_watch_retry()
            }
            Err(_) => WATCH_RETRY,
        };
        tokio::time::sleep(wait).await;
    }
}

/// How often the worker's loop ticks: heartbeats, the job list (new jobs where no announcement
/// came), extensions, and leases when there is room.
const TICK: Duration = Duration::from_millis(20);

/// How often a job whose leases keep bringing nothing is looked at, at least: a lease that ran
/// out (its worker died) is taken over within it; new lines announced are leased at once.
const QUIET_LOOK: Duration = Duration::from_secs(1);

/// How long the watch waits before it subscribes again after its connection was lost.
const WATCH_RETRY: Duration = Duration::from_secs(2);
/// How long it waits after the broker refused the subscription.
const REFUSED_WATCH_RETRY: Duration = Duration::from_secs(60);

/// [`REFUSED_WATCH_RETRY`]; in a debug build, `ABREAST_TEST_WATCH_RETRY_MS` when set, so that
/// the tests see several refusals.
fn refused_watch_retry() -> Duration {
    #[cfg(debug_assertions)]
    if let Some(ms) = std::env::var("ABREAST_TEST_WATCH_RETRY_MS")
        .ok()
        .and_then(|ms| ms.parse().ok())
    {
        return Duration::from_millis(ms);
    }
    REFUSED_WATCH_RETRY
}

/// What a worker says once when the broker refuses it the announcements' channel.
fn refused_watch_message(detail: &str) -> String {
    format!(
        "abreast worker: the broker does not permit this user the channel {NEW_LINES_CHANNEL} \
         ({detail}); new jobs are found when the worker next reads the job list instead (every \
         {} ms while it is idle), a little later. To have them announced, grant it: ACL SETUSER \
         <user> &{NEW_LINES_CHANNEL}",
        TICK.as_millis()
    )
}

impl Worker {
    fn held(&self) -> usize {
        self.runs.values().map(|run| run.held.len()).sum()
    }

    /// True while a suspect is held: a line taken over from a worker that died, on its last
    /// delivery ([`abreast_queue::Lease::alone`]).
    fn holds_suspect(&self) -> bool {
        self.runs
            .values()
            .any(|run| run.held.values().any(|held| held.lease.alone))
    }

    async fn beat(&mut self) {
        let beat = WorkerBeat {
            id: self.id.clone(),
            host: crate::broker::host_name(),
            pid: std::process::id(),
            held: self.held() as u64,
            completed: self.completed,
            seen_ms_ago: 0,
        };
        match self.queue.heartbeat(&beat).await {
            Ok(()) => self.note.recovered(),
            Err(error) => self.note.report(&error),
        }
    }

    /// Leases lines of the next job that has some; how many it got. A job whose leases keep
    /// bringing nothing is looked at less often, down to once a [`QUIET_LOOK`]: a broker that
    /// keeps many finished jobs costs an idle worker a call per job and second, not per tick.
    async fn lease_some(&mut self) -> Result<usize, QueueError> {
        let now = Instant::now();
        for _ in 0..self.jobs.len() {
            let job = self.jobs[self.next_job % self.jobs.len()].clone();
            self.next_job = self.next_job.wrapping_add(1);
            if self.unreadable.contains(&job)
                || self.quiet.get(&job).is_some_and(|(next, _)| *next > now)
            {
                continue;
            }
            let fresh = match self.runs.get(&job) {
                // Its fetch is ending (idle); it is started again once it has.
                Some(run) if run.feed.is_none() => continue,
                Some(_) => false,
                None => true,
            };
            let room = (self.capacity - self.held()).min(256);
            let leased = match self.queue.lease(&job, &self.id, room).await {
                Err(QueueError::NoSuchJob { .. }) => {
                    self.drop_run(&job);
                    continue;
                }
                other => other?,
            };
            if leased.foreign > 0 {
                eprintln!(
                    "abreast worker: skipped {} entries on job {job}'s lines that abreast did not write",
                    leased.foreign
                );
            }
            if leased.leases.is_empty() {
                let misses = self.quiet.get(&job).map_or(0, |(_, misses)| *misses) + 1;
                let wait = (TICK * 2u32.saturating_pow(misses.min(8))).min(QUIET_LOOK);
                self.quiet.insert(job, (now + wait, misses));
                continue;
            }
            self.quiet.remove(&job);
            // A job's fetch starts once it has lines for this worker: a broker full of finished
            // jobs costs an idle worker no thread.
            if fresh && !self.open_run(&job).await? {
                // Gone, or settings this worker cannot read: the lines go to others at once.
                match self
                    .queue
                    .hand_back(&job, &self.id, &leased.leases, &[])
                    .await
                {
                    Ok(()) | Err(QueueError::NoSuchJob { .. }) => continue,
                    Err(error) => return Err(error),
                }
            }
            let run = self.runs.get_mut(&job).expect("leased for a running job");
            // An entry of this worker's own can come back to it (its leases ran out while the
            // broker was away): the lines it still holds stay as they are.
            let (suspects, leases): (Vec<Lease>, Vec<Lease>) = leased
                .leases
                .into_iter()
                .filter(|lease| !run.held.contains_key(&lease.line))
                .partition(|lease| lease.alone);
            let count = suspects.len() + leases.len();
            for lease in suspects.iter().chain(&leases) {
                run.hold(lease);
            }
            for lease in leases {
                self.admit(&job, lease);
            }
            if !suspects.is_empty() {
                // A suspect entry (it comes alone): its lines one at a time, in order.
                self.take_suspect(&job, suspects).await?;
            }
            if count == 0 {
                continue;
            }
            return Ok(count);
        }
        Ok(0)
    }

    /// Starts serving `job`: reads its settings and starts its fetch. False if it is gone.
    async fn open_run(&mut self, job: &JobName) -> Result<bool, QueueError> {
        let Some(info) = self.queue.job(job).await? else {
            return Ok(false);
        };
        let settings = match JobSettings::decode(&info.spec.settings) {
            Ok(settings) => settings,
            Err(error) => {
                eprintln!("abreast worker: skipping job {job}: {error:#}");
                self.unreadable.insert(job.clone());
                return Ok(false);
            }
        };
        let mut config = self.config.clone();
        config.per_host = settings.per_host.max(1);
        // The job-wide rate is kept on the broker, and taken before each request (JobHosts).
        config.rate = None;
        config.http = settings.http.clone();
        let (feed, lines) = flume::unbounded::<String>();
        let stop = StopSignal::new();
        // With `--robots obey` each host's file is fetched once for the job, by whichever
        // worker comes first, and kept on the broker for the others.
        let robots = (config.http.robots == RobotsPolicy::Obey).then(|| {
            Arc::new(JobRobots {
                queue: self.queue.clone(),
                job: job.clone(),
                holder: self.id.clone(),
                runtime: tokio::runtime::Handle::current(),
            }) as Arc<dyn SharedRobots>
        });
        // Each request, redirect hops included, takes its host's job-wide permit (and, under
        // `--rate`, its start) once it holds the fetch's own per-host slot.
        let hosts = Arc::new(JobHosts::new(
            self.queue.clone(),
            job.clone(),
            self.id.clone(),
            settings.per_host,
            settings.rate,
            info.spec.lease,
            tokio::runtime::Handle::current(),
        ));
        let options = RunOptions {
            stop: Some(stop.clone()),
            robots,
            hosts: Some(Arc::clone(&hosts) as Arc<dyn SharedHosts>),
            ..RunOptions::default()
        };
        let events = self.events.clone();
        let name = job.clone();
        let reader = std::thread::Builder::new()
            .name(format!("abreast-worker-{job}"))
            .spawn(move || {
                let mut records = match abreast_fetch::fetch(&config, lines, options) {
                    Ok(records) => records,
                    Err(error) => {
                        let _ = events.send(Event::Ended(name, Some(error.to_string())));
                        return;
                    }
                };
                let mut ended = false;
                while !ended {
                    let mut ready = match records.next_timeout(Duration::from_millis(200)) {
                        Next::Record(record) => vec![record],
                        Next::Pending => continue,
                        Next::End => break,
                    };
                    // The records that end meanwhile come along: one wake-up of the loop for
                    // them all, rather than one each.
                    std::thread::sleep(RECORD_GATHER);
                    while ready.len() < RECORD_BATCH {
                        match records.next_timeout(Duration::ZERO) {
                            Next::Record(record) => ready.push(record),
                            Next::Pending => break,
                            Next::End => {
                                ended = true;
                                break;
                            }
                        }
                    }
                    if events.send(Event::Records(name.clone(), ready)).is_err() {
                        break;
                    }
                }
                let error = records.finish().err().map(|e| e.to_string());
                let _ = events.send(Event::Ended(name, error));
            })
            .map_err(|error| QueueError::Input(std::io::Error::other(error)))?;
        let now = Instant::now();
        self.runs.insert(
            job.clone(),
            JobRun {
                lease: info.spec.lease,
                max_deliveries: info.spec.max_deliveries,
                feed: Some(feed),
                stop,
                reader: Some(reader),
                held: HashMap::new(),
                entries: HashMap::new(),
                serial: VecDeque::new(),
                serial_busy: false,
                fed: HashMap::new(),
                hosts,
                releasing: Vec::new(),
                last_used: now,
                last_extended: now,
            },
        );
        Ok(true)
    }

    /// Takes a suspect entry's lines in (in order): when the entry was delivered more than
    /// the job's `--max-deliveries` times, its first line left undone is the one its last
    /// worker was fetching when it died (its lines are fetched one at a time): that line is
    /// given up. The others wait to be fed one at a time ([`Worker::advance_serial`]).
    async fn take_suspect(&mut self, job: &JobName, leases: Vec<Lease>) -> Result<(), QueueError> {
        let run = self.runs.get_mut(job).expect("leased for a running job");
        let max_deliveries = run.max_deliveries;
        let mut leases = leases.into_iter();
        if let Some(first) = leases.next() {
            if first.deliveries > u64::from(max_deliveries) {
                self.give_up(job, first).await?;
            } else {
                run.serial.push_back(first);
            }
        }
        let run = self.runs.get_mut(job).expect("leased for a running job");
        run.serial.extend(leases);
        for lease in &run.serial {
            run.held.insert(
                lease.line,
                Held {
                    lease: lease.clone(),
                    fed: false,
                },
            );
        }
        self.advance_serial();
        Ok(())
    }

    /// Writes a `gave_up` record for a line delivered more than `--max-deliveries` times.
    async fn give_up(&mut self, job: &JobName, lease: Lease) -> Result<(), QueueError> {
        let run = self.runs.get_mut(job).expect("leased for a running job");
        let ack = run.release(&lease);
        let record = Record::failed(
            lease.text.clone(),
            ErrorInfo::new(
                ErrorKind::GaveUp,
                format!(
                    "gave up after {} deliveries (--max-deliveries {}): each worker that took \
                     this line died or lost its lease before writing its record; fetch it \
                     alone to see why",
                    lease.deliveries - 1,
                    run.max_deliveries
                ),
            ),
        );
        let body = serde_json::to_string(&record).expect("records serialize");
        let mut note = OutageNote::new("worker");
        retry(&mut note, None, || {
            self.queue.complete(job, &lease, &body, true, ack)
        })
        .await?;
        self.completed += 1;
        Ok(())
    }

    /// Gives back the job-wide permits no request has wanted for a while (one round trip a
    /// job).
    async fn release_permits(&mut self) {
        for (job, run) in &mut self.runs {
            run.releasing.extend(run.hosts.take_idle());
            if run.releasing.is_empty() {
                continue;
            }
            let permits = std::mem::take(&mut run.releasing);
            if let Err(error) = self.queue.hand_back(job, &self.id, &[], &permits).await {
                // Unreleased, a permit runs out with the job's lease.
                self.note.report(&error);
            }
        }
    }

    /// Feeds the next line of each suspect entry whose line before it is completed.
    fn advance_serial(&mut self) {
        let ready: Vec<JobName> = self
            .runs
            .iter()
            .filter(|(_, run)| !run.serial_busy && !run.serial.is_empty() && run.feed.is_some())
            .map(|(job, _)| job.clone())
            .collect();
        for job in ready {
            let run = self.runs.get_mut(&job).expect("listed above");
            if let Some(lease) = run.serial.pop_front() {
                run.serial_busy = true;
                self.admit(&job, lease);
            }
        }
    }

    /// Takes a new lease in and feeds it to the job's fetch, where it waits for its host's
    /// permits.
    fn admit(&mut self, job: &JobName, lease: Lease) {
        let crash_on = self.crash_on();
        let run = self.runs.get_mut(job).expect("leased for a running job");
        run.last_used = Instant::now();
        let line = lease.line;
        run.held.insert(line, Held { lease, fed: false });
        run.feed_line(line, crash_on.as_deref());
    }

    /// The tests' poison needle (debug builds only).
    fn crash_on(&self) -> Option<String> {
        #[cfg(debug_assertions)]
        return self.crash_on.clone();
        #[cfg(not(debug_assertions))]
        None
    }

    /// A job's fetch ended: what the run still held goes back to the others.
    async fn ended(&mut self, job: &JobName, error: Option<String>) {
        if let Some(error) = error {
            eprintln!("abreast worker: the fetch of job {job} failed: {error}");
        }
        if let Some(mut run) = self.runs.remove(job) {
            let leases: Vec<Lease> = run.held.values().map(|h| h.lease.clone()).collect();
            run.close();
            let permits = std::mem::take(&mut run.releasing);
            let mut note = OutageNote::new("worker");
            let _ = retry(&mut note, None, || {
                self.queue.hand_back(job, &self.id, &leases, &permits)
            })
            .await;
            if let Some(reader) = run.reader.take() {
                let _ = tokio::task::spawn_blocking(move || reader.join()).await;
            }
        }
    }

    /// [`Worker::take_record`] for each record, into `batch`.
    fn take_records(
        &mut self,
        job: &JobName,
        records: &[Record],
        batch: &mut Batch,
    ) -> anyhow::Result<()> {
        for record in records {
            if let Some(done) = self.take_record(job, record, &mut batch.bodies)? {
                batch.push(done);
            }
        }
        Ok(())
    }

    /// Takes a record's lease off the held ones and encodes the record at the end of `bodies`,
    /// to be completed. Its request's permits were freed when it ended, in the fetch.
    fn take_record(
        &mut self,
        job: &JobName,
        record: &Record,
        bodies: &mut Vec<u8>,
    ) -> anyhow::Result<Option<Done>> {
        let Some(run) = self.runs.get_mut(job) else {
            return Ok(None);
        };
        let Some(line) = run.fed.get_mut(&record.url).and_then(VecDeque::pop_front) else {
            eprintln!(
                "abreast worker: a record for {} matched no lease of job {job} (a bug in abreast; please report it)",
                record.url
            );
            return Ok(None);
        };
        if run.fed.get(&record.url).is_some_and(VecDeque::is_empty) {
            run.fed.remove(&record.url);
        }
        let Some(held) = run.held.remove(&line) else {
            return Ok(None);
        };
        let ack = run.release(&held.lease);
        let urgent = held.lease.alone;
        if urgent {
            run.serial_busy = false;
        }
        run.last_used = Instant::now();
        let start = bodies.len();
        if let Err(error) = serde_json::to_writer(&mut *bodies, record) {
            bodies.truncate(start);
            return Err(error).context("could not encode a record");
        }
        Ok(Some(Done {
            job: job.clone(),
            lease: held.lease,
            body: start..bodies.len(),
            summary: crate::broker::record_summary(record),
            ack,
            urgent,
        }))
    }

    /// Appends the batch's records to their jobs' results and acks their leases (one round trip
    /// per job), then empties the batch.
    async fn complete(&mut self, batch: &mut Batch) -> anyhow::Result<()> {
        let done = &batch.done;
        let bodies =
            std::str::from_utf8(&batch.bodies).context("a record encoded to invalid UTF-8")?;
        let mut jobs: Vec<JobName> = Vec::new();
        for d in done {
            if !jobs.contains(&d.job) {
                jobs.push(d.job.clone());
            }
        }
        for job in jobs {
            let completions: Vec<Completion<'_>> = done
                .iter()
                .filter(|d| d.job == job)
                .map(|d| Completion {
                    lease: &d.lease,
                    result: &bodies[d.body.clone()],
                    summary: &d.summary,
                    gave_up: false,
                    ack: d.ack,
                })
                .collect();
            let outcome = retry(&mut self.note, None, || {
                self.queue.complete_many(&job, &completions)
            })
            .await;
            match outcome {
                Ok(_) => self.completed += completions.len() as u64,
                Err(QueueError::NoSuchJob { .. }) => self.drop_run(&job),
                Err(error) => return Err(error).context("the worker could not write a record"),
            }
        }
        batch.clear();
        Ok(())
    }

    /// Extends the leases and permits of every job whose third of a lease has passed.
    async fn extend_due(&mut self) {
        let now = Instant::now();
        let due: Vec<JobName> = self
            .runs
            .iter()
            .filter(|(_, run)| !run.held.is_empty() && now - run.last_extended >= run.lease / 3)
            .map(|(job, _)| job.clone())
            .collect();
        for job in due {
            let run = self.runs.get_mut(&job).expect("listed above");
            run.last_extended = now;
            let ids: Vec<String> = run.held.values().map(|h| h.lease.id.clone()).collect();
            let permits = run.hosts.holders();
            match self.queue.extend(&job, &self.id, &ids, &permits).await {
                Ok(()) => {}
                // Deleted: its lines (maybe all waiting for permits that will never come)
                // are let go, and the fetch with them.
                Err(QueueError::NoSuchJob { .. }) => self.drop_run(&job),
                Err(error) => self.note.report(&error),
            }
        }
    }

    /// Ends the fetches of jobs this worker has not served for a while, freeing their threads.
    fn close_idle_runs(&mut self) {
        for run in self.runs.values_mut() {
            if run.held.is_empty()
                && run.feed.is_some()
                && run.last_used.elapsed() > Duration::from_secs(5)
            {
                // The fetch ends once its input closes; `Ended` then removes the run.
                run.close();
            }
        }
    }

    fn drop_run(&mut self, job: &JobName) {
        if let Some(mut run) = self.runs.remove(job) {
            run.stop.raise();
            run.close();
            // The reader ends at once (the fetch's grace is zero) and is not waited for.
        }
    }

    /// After a stop: no new lease; the fetches in flight get `grace`; the rest is handed back.
    async fn shut_down(
        &mut self,
        incoming: &mut mpsc::UnboundedReceiver<Event>,
        grace: Duration,
    ) -> anyhow::Result<()> {
        // No request starts any more: the lines whose requests have not started (waiting for
        // their hosts' permits in the fetch, or a suspect's lines not fed yet) go back below.
        let jobs: Vec<JobName> = self.runs.keys().cloned().collect();
        for job in &jobs {
            self.hand_back_where(job, |held| !held.fed).await;
            if let Some(run) = self.runs.get_mut(job) {
                let free = run.hosts.close();
                run.releasing.extend(free);
            }
        }
        // The requests under way get the grace period. Once none is, the records of those
        // that just ended are waited for while they keep coming.
        let deadline = Instant::now() + grace;
        let mut batch = Batch::default();
        while self.held() > 0 && Instant::now() < deadline {
            let mut wait = deadline.saturating_duration_since(Instant::now());
            if self.runs.values().all(|run| run.hosts.in_use() == 0) {
                wait = wait.min(SETTLE);
            }
            match tokio::time::timeout(wait, incoming.recv()).await {
                Ok(Some(Event::Records(job, ready))) => {
                    self.take_records(&job, &ready, &mut batch)?;
                    self.complete(&mut batch).await?;
                }
                Ok(Some(Event::Ended(..))) => {}
                Ok(None) | Err(_) => break,
            }
            // The permits that the requests just ended freed go back now, for the others.
            for run in self.runs.values_mut() {
                let free = run.hosts.close();
                run.releasing.extend(free);
            }
            self.release_permits().await;
        }
        for job in &jobs {
            if let Some(run) = self.runs.get_mut(job) {
                // The requests still under way are abandoned: their permits go back too.
                run.stop.raise();
                run.close();
            }
            self.hand_back_where(job, |_| true).await;
        }
        let handed: Vec<JobName> = self.runs.keys().cloned().collect();
        for job in handed {
            self.drop_run(&job);
        }
        if let Err(error) = self.queue.retire(&self.id).await {
            eprintln!("abreast worker: could not remove itself from the workers' list: {error}");
        }
        eprintln!(
            "abreast worker: stopped after {} records; what it held went back to the queue",
            self.completed
        );
        Ok(())
    }

    async fn hand_back_where(&mut self, job: &JobName, pick: impl Fn(&Held) -> bool) {
        let Some(run) = self.runs.get_mut(job) else {
            return;
        };
        let lines: Vec<u64> = run
            .held
            .iter()
            .filter(|(_, held)| pick(held))
            .map(|(line, _)| *line)
            .collect();
        if lines.is_empty() && run.releasing.is_empty() {
            return;
        }
        let mut leases = Vec::new();
        let permits = std::mem::take(&mut run.releasing);
        for line in lines {
            if let Some(held) = run.held.remove(&line) {
                run.handed_back(&held.lease);
                leases.push(held.lease);
            }
        }
        run.serial
            .retain(|lease| run.held.contains_key(&lease.line));
        let mut note = OutageNote::new("worker");
        // A broker that stays away: the leases run out by themselves.
        let stop = StopSignal::new();
        let give_up = stop.clone();
        let timer = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(5)).await;
            give_up.raise();
        });
        let _ = retry(&mut note, Some(&stop), || {
            self.queue.hand_back(job, &self.id, &leases, &permits)
        })
        .await;
        timer.abort();
    }
}

/// At a stop, once no request is under way, how long the worker waits for more records of
/// those that just ended (their pages being read) before it hands back the rest.
const SETTLE: Duration = Duration::from_millis(200);

/// How long a worker may take to fetch a host's robots.txt before another may take over (its
/// time limits and retries fit well within it).
const ROBOTS_CLAIM: Duration = Duration::from_secs(120);
/// How often a worker asks whether the robots.txt another fetches has come.
const ROBOTS_POLL: Duration = Duration::from_millis(50);

/// A boxed future, as [`SharedRobots`] returns them.
type Boxed<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// A job's robots.txt files on the broker, shared by the runs of every worker that serves it.
/// The run's threads call it; the broker is asked on the worker's own runtime.
#[derive(Debug)]
struct JobRobots {
    queue: RedisQueue,
    job: JobName,
    holder: String,
    runtime: tokio::runtime::Handle,
}

impl SharedRobots for JobRobots {
    fn load<'a>(&'a self, origin: &'a str) -> Boxed<'a, Option<RobotsFile>> {
        let (queue, job, holder) = (self.queue.clone(), self.job.clone(), self.holder.clone());
        let origin = origin.to_owned();
        let asked = self.runtime.spawn(async move {
            // A claim whose worker died runs out, and a later ask takes it over.
            let deadline = Instant::now() + ROBOTS_CLAIM + ROBOTS_CLAIM / 4;
            loop {
                match queue.robots(&job, &origin, &holder, ROBOTS_CLAIM).await {
                    // Bytes abreast did not write: fetched again.
                    Ok(RobotsEntry::Stored(bytes)) => return RobotsFile::from_bytes(&bytes),
                    Ok(RobotsEntry::Busy) if Instant::now() < deadline => {
                        tokio::time::sleep(ROBOTS_POLL).await;
                    }
                    // Ours to fetch; or the broker cannot say: fetched here rather than waited.
                    _ => return None,
                }
            }
        });
        Box::pin(async move { asked.await.ok().flatten() })
    }

    fn store<'a>(&'a self, origin: &'a str, file: RobotsFile) -> Boxed<'a, ()> {
        let (queue, job) = (self.queue.clone(), self.job.clone());
        let origin = origin.to_owned();
        let stored = self.runtime.spawn(async move {
            // Unstored, the claim runs out and another worker fetches the file again.
            let _ = queue.store_robots(&job, &origin, &file.to_bytes()).await;
        });
        Box::pin(async move {
            let _ = stored.await;
        })
    }

    fn pace<'a>(&'a self, host: &'a str, delay: Duration) -> Boxed<'a, ()> {
        let (queue, job) = (self.queue.clone(), self.job.clone());
        let host = host.to_owned();
        // The host's next start job-wide, the one `--rate` reserves too: a request reserves
        // there once more, at its Crawl-delay, after its permit (and its `--rate` start) came,
        // so the starts of all the workers are that far apart at least.
        let paced = self.runtime.spawn(async move {
            let per_second = 1.0 / delay.as_secs_f64().max(1e-3);
            // Unreachable, the broker cannot say: the worker's own pace holds meanwhile.
            if let Ok(wait) = queue.reserve_start(&job, &host, per_second).await {
                tokio::time::sleep(wait).await;
            }
        });
        Box::pin(async move {
            let _ = paced.await;
        })
    }
}

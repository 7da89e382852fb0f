//! A fetch job on a broker: the input lines of a job leased out to any number of workers, their
//! records gathered in a result log for one collector, and nothing lost when a worker, the
//! collector or the broker dies.
//!
//! ```text
//! submitter --submit--> lines (entries of up to 16 input lines, numbered)
//!                          |  lease whole entries (with a delivery count) / extend / hand back
//!                          v
//!                       workers --complete: append the record, then ack the lease, at once-->
//!                          results --read / ack (after the collector wrote and flushed)--> FILE
//! ```
//!
//! [`Queue`] is the small trait the front ends use; [`RedisQueue`] is its first backend, on
//! Redis Streams with consumer groups (Redis 6.2 or later: `XAUTOCLAIM`). The trait knows
//! nothing of HTTP or records: a line is a string, a result is a string (the record's JSON), and
//! the job's settings are a string the submitter wrote, so another broker (NATS JetStream) can
//! follow without changing the command line.
//!
//! The guarantees, each kept by the backend rather than by its callers:
//! - **A lease is a pending entry.** A job's lines travel in entries of several lines (Redis:
//!   [`LINES_PER_ENTRY`]), so the broker's cost is paid per entry, not per line. An entry not
//!   completed within the job's lease goes to the next worker that asks ([`Queue::lease`]),
//!   with only its lines that have no result yet; a worker on a long fetch keeps its leases
//!   with [`Queue::extend`]. Every lease carries its delivery count, so a line that keeps
//!   killing its workers can be given up instead of looping: an entry on its last delivery
//!   comes alone, its worker fetches its lines one at a time, and the line it leaves undone
//!   when it dies again is the one given up.
//! - **Append then ack, atomically.** [`Queue::complete`] appends the result and acks the lease
//!   in one step, and appends only the first result of each line: a line fetched twice (its
//!   lease ran out while the first worker was still at it) has one result.
//! - **Results stay until collected.** [`Queue::read_results`] hands out results; they leave the
//!   broker only at [`Queue::ack_results`], which the collector calls after its file is flushed.
//!   A batch is announced first ([`Queue::begin_batch`]), so a collector killed between its
//!   flush and its ack finds out, on `--resume`, which of the batch's records its file holds.
//! - **Submitting is idempotent.** [`Queue::submit`] adds only the lines not added before, and
//!   refuses a different input (or other settings) under an existing name.
//! - **Submitting streams.** A front end submits on a thread of its own ([`Submission`]) and
//!   collects once the job is known to hold its input; [`paced`] sends a slow producer's lines
//!   within [`PACE`] of their reading, so records come back while the input is still written.
//! - **Bounded.** Acked lines and collected results are deleted from the broker; a finished job
//!   is removed with [`Queue::delete_job`].
//!
//! Names are validated ([`JobName`]), entries abreast did not write are skipped and counted, and
//! the broker's address is a [`BrokerUrl`], whose `Display` and `Debug` never show a password.
#![deny(missing_docs)]

mod error;
pub mod local;
mod names;
mod paced;
mod redis_streams;
mod spool;
mod submission;

use std::future::Future;
use std::time::Duration;

pub use error::QueueError;
pub use local::LocalRedis;
pub use names::{BrokerUrl, JobName, host_name, process_id};
pub use paced::{PACE, paced};
pub use redis_streams::{LINES_PER_ENTRY, NEW_LINES_CHANNEL, NewLines, RedisQueue};
pub use spool::Spool;
pub use submission::{Progress, Submission};

/// What a job is, besides its lines: fixed when it is first submitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobSpec {
    /// The settings every worker applies to the job's lines, as the submitter encoded them
    /// (abreast writes JSON). A resubmission with other settings is refused.
    pub settings: String,
    /// How long a worker may hold a line without extending it before another may take it.
    pub lease: Duration,
    /// Deliveries of one line after which it is given up (its workers kept dying).
    pub max_deliveries: u32,
}

/// What [`Queue::submit`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Submitted {
    /// Lines in the job.
    pub lines: u64,
    /// Lines this call added (0 when the job was submitted whole before).
    pub added: u64,
}

/// One line held by a worker until it completes it, hands it back, or lets its lease run out.
/// The lines of one entry share its lease: they are leased, extended and handed back together,
/// and the entry is acked with the last of them ([`Completion::ack`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The broker's id of the entry that holds the line.
    pub id: String,
    /// The line's number in the job, from 0.
    pub line: u64,
    /// The line itself (a URL, or whatever the input held).
    pub text: String,
    /// How many times the line's entry has been delivered, this delivery included (1 the first
    /// time).
    pub deliveries: u64,
    /// A suspect: its entry was taken over from a worker that died or stalled, on its last
    /// delivery before it is given up. Its worker should lease nothing more until it is done,
    /// and fetch the entry's lines one at a time in order, each completed before the next
    /// starts: if one of them kills its workers, it takes no other line down with it, and it
    /// is the first line of the entry left undone at the next delivery.
    pub alone: bool,
}

/// What [`Queue::lease`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Leased {
    /// The leases now held, those taken over from dead or slow workers first.
    pub leases: Vec<Lease>,
    /// Of these, how many were taken over from another worker (their lease had run out).
    pub reclaimed: u64,
    /// Entries skipped because abreast did not write them (acked, deleted and counted).
    pub foreign: u64,
}

/// One lease to complete with [`Queue::complete_many`].
#[derive(Debug, Clone, Copy)]
pub struct Completion<'a> {
    /// The lease.
    pub lease: &'a Lease,
    /// The line's result.
    pub result: &'a str,
    /// What a collector counts of the result, so that it need not decode the result (abreast:
    /// a record's error kind, time, attempts, bytes and truncation); empty for none. It must not
    /// hold a comma.
    pub summary: &'a str,
    /// Whether the line is given up.
    pub gave_up: bool,
    /// Ack the lease's entry with it: the worker completes the last line it held of the entry
    /// (the others were completed before, or in the same call).
    pub ack: bool,
}

/// One result in a job's log, not yet collected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultEntry {
    /// The broker's id of the entry that holds it (the results of a worker's batch may share
    /// one), as [`Queue::ack_results`] takes it back.
    pub id: String,
    /// The line the result is for.
    pub line: u64,
    /// The result as the worker wrote it (abreast: the record's JSON).
    pub body: String,
    /// The worker's summary of the result ([`Completion::summary`]); empty for none.
    pub summary: String,
}

/// What [`Queue::read_results`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResultBatch {
    /// The results, in the log's order.
    pub entries: Vec<ResultEntry>,
    /// Entries skipped because abreast did not write them (acked, deleted and counted).
    pub foreign: u64,
}

/// A collector's batch that was announced but not acked: it was being written when the
/// collector stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenBatch {
    /// The output file's length, in bytes, before the batch was written.
    pub offset: u64,
    /// The batch's results, in the order they were written: `(entry id, line)`.
    pub entries: Vec<(String, u64)>,
}

/// A job's counts, as `abreast status` shows them.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct JobStatus {
    /// The job's name.
    pub job: String,
    /// Lines submitted so far.
    pub lines: u64,
    /// True once the whole input was submitted.
    pub sealed: bool,
    /// Lines with a result (collected or not).
    pub done: u64,
    /// Lines whose result the collector wrote.
    pub collected: u64,
    /// Lines no worker holds yet.
    pub waiting: u64,
    /// Lines held by a worker now, without a result yet (lines handed back are waiting, not in
    /// flight; Redis looks at the first 10,000 entries held).
    pub in_flight: u64,
    /// Leases taken over from a worker that died or was too slow.
    pub redelivered: u64,
    /// Lines given up after too many deliveries.
    pub gave_up: u64,
    /// Entries skipped because abreast did not write them.
    pub foreign: u64,
    /// The job's lease, in milliseconds.
    pub lease_ms: u64,
    /// Deliveries after which a line is given up.
    pub max_deliveries: u32,
}

impl JobStatus {
    /// True when every line has a result and the collector wrote them all.
    pub fn is_finished(&self) -> bool {
        self.sealed && self.collected >= self.lines
    }
}

/// A job as a worker needs it: its spec and counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobInfo {
    /// The spec it was submitted with.
    pub spec: JobSpec,
    /// Its counts.
    pub status: JobStatus,
}

/// A worker as it last reported itself ([`Queue::heartbeat`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WorkerBeat {
    /// The worker's id (host, process and a random part).
    pub id: String,
    /// The host it runs on.
    pub host: String,
    /// Its process id.
    pub pid: u32,
    /// Leases it held.
    pub held: u64,
    /// Records it completed since it started.
    pub completed: u64,
    /// Milliseconds since its last heartbeat, by the broker's clock (filled in when read).
    #[serde(default)]
    pub seen_ms_ago: u64,
}

/// What [`Queue::robots`] found for a host's robots.txt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RobotsEntry {
    /// A worker fetched it: the bytes it stored.
    Stored(Vec<u8>),
    /// Nobody has: the caller holds the claim to fetch it, then [`Queue::store_robots`].
    Yours,
    /// Another worker holds the claim and is fetching it: ask again shortly.
    Busy,
}

/// The line that asks [`Queue::submit`] to add the lines read so far at once (a job's lines are
/// never empty: blank lines are skipped before they are submitted).
pub const PAUSE: &str = "";

/// The operations of a fetch job on a broker. Every method is one round trip or a few, and
/// safe to retry after an error: a retried call never adds a line or a result twice.
pub trait Queue: Send + Sync {
    /// Submits `lines` as job `job`, idempotently: a job submitted before gets only the lines
    /// it does not have yet (an interrupted submission continues), and the same input again
    /// adds nothing. A different input, or other settings, under an existing name is
    /// [`QueueError::DifferentInput`] or [`QueueError::DifferentSettings`]. The lines are read
    /// once, streamed in batches of up to 512; an empty line is not a line of the job but a
    /// [`PAUSE`]: the lines read since the last batch are added at once, so a slow producer's
    /// lines need not wait for a full batch. An input error stops the submission where it was.
    ///
    /// `verified` is called once the job is known to hold this input: its settings match, and
    /// the lines it had are this input's first lines (at once for a new job). From then on its
    /// records can be collected while the rest is submitted.
    ///
    /// `collector` is the collector claim ([`Queue::claim_collector`]) of the run this
    /// submission belongs to: lines are added, and the job sealed, only while no other run holds
    /// the job's claim, else [`QueueError::OtherCollector`] (the batch refused is not added).
    /// So two runs of one job never mix their inputs: the second waits for the first to end, then
    /// finds the job sealed with the first one's lines.
    fn submit(
        &self,
        job: &JobName,
        spec: &JobSpec,
        lines: &mut (dyn Iterator<Item = std::io::Result<String>> + Send),
        collector: &str,
        verified: &(dyn Fn() + Sync),
    ) -> impl Future<Output = Result<Submitted, QueueError>> + Send;

    /// The names of the jobs on the broker.
    fn jobs(&self) -> impl Future<Output = Result<Vec<JobName>, QueueError>> + Send;

    /// The job's spec and counts; `None` if there is no such job.
    fn job(
        &self,
        job: &JobName,
    ) -> impl Future<Output = Result<Option<JobInfo>, QueueError>> + Send;

    /// Removes the job and everything of it from the broker; false if there was none.
    fn delete_job(&self, job: &JobName) -> impl Future<Output = Result<bool, QueueError>> + Send;

    /// Leases about `max` lines of `job` to `worker`, in whole entries (at least one, so a `max`
    /// under an entry's size gets one entry): first entries handed back, then entries whose lease
    /// ran out (taken over, their delivery count raised), then entries never delivered. An entry
    /// taken over brings only its lines without a result. Entries taken over come in bulk while
    /// they have a delivery to spare (most of a dead worker's lines did not kill it); one on its
    /// last delivery before it is given up is a suspect ([`Lease::alone`]): at most one comes per
    /// call, with no other entry (handed back, taken over or new) beside it, and a worker holding
    /// one should lease nothing more until it is done and fetch its lines one at a time, so a line
    /// that kills its workers is given up alone, not with the lines that happened to share its
    /// worker or its entry.
    fn lease(
        &self,
        job: &JobName,
        worker: &str,
        max: usize,
    ) -> impl Future<Output = Result<Leased, QueueError>> + Send;

    /// Renews `worker`'s leases on these entries (those it still holds; one another worker
    /// took over stays with that worker; an id may come more than once), and its host permits
    /// (see [`Queue::acquire_host`]). [`QueueError::NoSuchJob`] once the job is deleted.
    fn extend(
        &self,
        job: &JobName,
        worker: &str,
        ids: &[String],
        permits: &[(String, String)],
    ) -> impl Future<Output = Result<(), QueueError>> + Send;

    /// Appends `result` for the lease's line and, with `ack`, acks the lease's entry, in one
    /// atomic step. Only a line's first result is appended: true if this one was. `gave_up`
    /// counts the line as given up. [`Queue::complete_many`] with one lease.
    fn complete(
        &self,
        job: &JobName,
        lease: &Lease,
        result: &str,
        gave_up: bool,
        ack: bool,
    ) -> impl Future<Output = Result<bool, QueueError>> + Send {
        async move {
            let completion = Completion {
                lease,
                result,
                summary: "",
                gave_up,
                ack,
            };
            let fresh = self.complete_many(job, &[completion]).await?;
            Ok(fresh.first().copied().unwrap_or(false))
        }
    }

    /// [`Queue::complete`] for many leases of one job, in as few steps as the broker allows,
    /// each atomic (Redis: one script and one entry of the results per 256 leases; a worker
    /// completes its records in batches, so the broker's cost is mostly per batch, not per
    /// line); what each returned, in order.
    fn complete_many(
        &self,
        job: &JobName,
        completions: &[Completion<'_>],
    ) -> impl Future<Output = Result<Vec<bool>, QueueError>> + Send;

    /// Hands these leases' entries back so that other workers take them at once, without their
    /// delivery counts growing (lines of an entry completed before stay done); releases the
    /// permits too.
    fn hand_back(
        &self,
        job: &JobName,
        worker: &str,
        leases: &[Lease],
        permits: &[(String, String)],
    ) -> impl Future<Output = Result<(), QueueError>> + Send;

    /// Reads up to `max` results not yet collected (Redis: whole entries, at least one, so a
    /// `max` under 256 may get up to 256): first those handed to this collector before and never
    /// acked (a collector that was killed), then new ones, waiting at most `wait`.
    fn read_results(
        &self,
        job: &JobName,
        max: usize,
        wait: Duration,
    ) -> impl Future<Output = Result<ResultBatch, QueueError>> + Send;

    /// Announces that the collector whose claim is `collector` ([`Queue::claim_collector`]) is
    /// about to write these results at file offset `offset`; [`QueueError::OtherCollector`] if
    /// another holds the job's claim (this one's lapsed: it took too long to renew it).
    fn begin_batch(
        &self,
        job: &JobName,
        collector: &str,
        offset: u64,
        entries: &[(String, u64)],
    ) -> impl Future<Output = Result<(), QueueError>> + Send;

    /// The batch announced and not acked, if the last collector stopped inside one.
    fn open_batch(
        &self,
        job: &JobName,
    ) -> impl Future<Output = Result<Option<OpenBatch>, QueueError>> + Send;

    /// Marks these results collected (their lines written and flushed), removes them from
    /// the broker (an entry shared by several results once all of them are collected), and
    /// closes the announced batch. Returns how many lines are collected. Only while no other
    /// collector than `collector` holds the job's claim, else [`QueueError::OtherCollector`]:
    /// a collector whose claim lapsed (a broker out of reach longer than it lasts) and was taken
    /// over marks nothing, so the one that took the job over writes every record it lacks.
    fn ack_results(
        &self,
        job: &JobName,
        collector: &str,
        entries: &[(String, u64)],
    ) -> impl Future<Output = Result<u64, QueueError>> + Send;

    /// The lines of the job already collected, as a bitmap (bit `n` of byte `n / 8`, the
    /// highest bit first).
    fn collected(&self, job: &JobName) -> impl Future<Output = Result<Vec<u8>, QueueError>> + Send;

    /// Takes the job's collector claim for `holder` (so two collectors never split one job),
    /// or renews it; the claim lapses after `ttl` unless renewed. False if another holds it.
    fn claim_collector(
        &self,
        job: &JobName,
        holder: &str,
        ttl: Duration,
    ) -> impl Future<Output = Result<bool, QueueError>> + Send;

    /// Gives up `holder`'s collector claim (a collector that ends), so the next starts at once.
    fn release_collector(
        &self,
        job: &JobName,
        holder: &str,
    ) -> impl Future<Output = Result<(), QueueError>> + Send;

    /// Takes one of the job's `limit` permits for `host` for `holder`, for at most `ttl`
    /// unless extended: false when all are held. This makes `--per-host` hold job-wide.
    /// [`Queue::acquire_hosts`] with one holder.
    fn acquire_host(
        &self,
        job: &JobName,
        host: &str,
        holder: &str,
        limit: usize,
        ttl: Duration,
    ) -> impl Future<Output = Result<bool, QueueError>> + Send {
        async move {
            let holders = [holder.to_owned()];
            Ok(self.acquire_hosts(job, host, &holders, limit, ttl).await? == 1)
        }
    }

    /// Takes permits of `host` for as many of `holders` as the job's `limit` leaves free, in
    /// order, in one step: how many took one (the first that many holders).
    fn acquire_hosts(
        &self,
        job: &JobName,
        host: &str,
        holders: &[String],
        limit: usize,
        ttl: Duration,
    ) -> impl Future<Output = Result<usize, QueueError>> + Send;

    /// Reserves the next request start to `host` at `per_second` starts per second, job-wide,
    /// and says how long to wait before it.
    fn reserve_start(
        &self,
        job: &JobName,
        host: &str,
        per_second: f64,
    ) -> impl Future<Output = Result<Duration, QueueError>> + Send;

    /// A host's robots.txt for the job (`origin` is `https://host:port`): stored by the worker
    /// that fetched it, or the claim to fetch it for `holder` (kept `ttl`, then another may
    /// take it), or busy. So each host's file is fetched once per job, whatever the workers.
    fn robots(
        &self,
        job: &JobName,
        origin: &str,
        holder: &str,
        ttl: Duration,
    ) -> impl Future<Output = Result<RobotsEntry, QueueError>> + Send;

    /// Stores a host's robots.txt for the job (as `abreast_fetch::RobotsFile::to_bytes`
    /// wrote it) and drops the claim; it goes with the job.
    fn store_robots(
        &self,
        job: &JobName,
        origin: &str,
        file: &[u8],
    ) -> impl Future<Output = Result<(), QueueError>> + Send;

    /// Records that `beat.id` is alive and what it holds.
    fn heartbeat(&self, beat: &WorkerBeat) -> impl Future<Output = Result<(), QueueError>> + Send;

    /// Removes a worker that stops cleanly from the list.
    fn retire(&self, worker: &str) -> impl Future<Output = Result<(), QueueError>> + Send;

    /// The workers seen, with how long ago each was last heard from; those silent for more
    /// than an hour are dropped from the list.
    fn workers(&self) -> impl Future<Output = Result<Vec<WorkerBeat>, QueueError>> + Send;
}

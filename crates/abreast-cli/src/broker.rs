//! What the broker's three commands share: the job's settings as they travel to the workers
//! ([`JobSettings`]), the summary of a record that travels beside it ([`record_summary`]),
//! connecting with a retry that says what it waits for, and retrying a
//! broker call through an outage.

use std::future::Future;
use std::time::{Duration, Instant};

use abreast_fetch::{ErrorInfo, ErrorKind, HttpSettings, Record, StopSignal};
use abreast_queue::{BrokerUrl, QueueError, RedisQueue};
use anyhow::Context as _;

/// The fetch settings of a job: written by the submitter as JSON, applied by every worker, so
/// all fetch alike.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct JobSettings {
    /// How each request is made (timeouts, `--max-bytes`, `--head-only`, `--no-extract`, `-H`,
    /// retries, redirects, `--insecure`).
    pub http: HttpSettings,
    /// Requests in flight at once to one host, across all workers.
    pub per_host: usize,
    /// Request starts per second to one host, across all workers.
    pub rate: Option<f64>,
}

impl JobSettings {
    /// The settings as they travel.
    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("settings serialize")
    }

    /// Settings read from a job; an error if another program (or version) wrote them.
    pub fn decode(text: &str) -> anyhow::Result<JobSettings> {
        serde_json::from_str(text).context(
            "the job's settings are not ones this abreast understands (written by another \
             version?); resubmit the job with this version",
        )
    }
}

/// What the collector counts of a record ([`abreast_fetch::Summary::count`]), sent by the
/// worker beside the record's JSON so that the collector need not decode the record:
/// `kind:elapsed_ms:attempts:bytes:truncated`, the kind empty for a record without error and
/// truncated `1` or `0`.
pub fn record_summary(record: &Record) -> String {
    format!(
        "{}:{}:{}:{}:{}",
        record.error_kind().map_or("", ErrorKind::as_str),
        record.elapsed_ms,
        record.attempts,
        record.bytes,
        u8::from(record.truncated)
    )
}

/// A record with the fields that [`record_summary`] gave (an error's message left empty);
/// `None` if `summary` is not one.
pub fn summarized_record(summary: &str) -> Option<Record> {
    use serde::Deserialize as _;
    use serde::de::IntoDeserializer as _;
    let mut fields = summary.split(':');
    let mut next = || fields.next();
    let (kind, elapsed, attempts, bytes, truncated) = (next()?, next()?, next()?, next()?, next()?);
    if next().is_some() {
        return None;
    }
    let mut record = Record::empty("");
    if !kind.is_empty() {
        let kind = ErrorKind::deserialize(kind.into_deserializer())
            .map_err(|_: serde::de::value::Error| ())
            .ok()?;
        record.ok = false;
        record.error = Some(ErrorInfo::new(kind, ""));
    }
    record.elapsed_ms = elapsed.parse().ok()?;
    record.attempts = attempts.parse().ok()?;
    record.bytes = bytes.parse().ok()?;
    record.truncated = match truncated {
        "1" => true,
        "0" => false,
        _ => return None,
    };
    Some(record)
}

/// Parses `--broker` (after clap, so that no error shows the password).
pub fn parse_broker(text: &str) -> anyhow::Result<BrokerUrl> {
    Ok(BrokerUrl::parse(text)?)
}

/// Parses `--job`, for clap.
pub fn parse_job(text: &str) -> Result<abreast_queue::JobName, String> {
    abreast_queue::JobName::new(text).map_err(|error| error.to_string())
}

/// A current-thread runtime for a broker command.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("could not start the broker's runtime")
}

/// The delay before the next try after `failures` failures in a row: 200 ms doubling to 1.6 s.
/// Well under a collector's claim (6 s): one back after a broker restart renews its claim
/// before another run waiting for the job can take it over (with waits up to 5 s, the first
/// collector came back after the claim had lapsed).
pub fn backoff(failures: u32) -> Duration {
    Duration::from_millis(100u64 << failures.min(4))
}

/// Says on stderr that the broker is out of reach, at most every 30 s, and that abreast keeps
/// trying. The notes of one process share when they last said so: the parts of a command that
/// meet the same outage (a fetch's submission and its collector, a worker's leases and
/// heartbeat) say it once between them.
#[derive(Debug)]
pub struct OutageNote {
    who: &'static str,
}

/// When this process last said that the broker is out of reach; `None` while it answers.
static OUTAGE_SAID: std::sync::Mutex<Option<Instant>> = std::sync::Mutex::new(None);

impl OutageNote {
    /// A note for the command `who`.
    pub fn new(who: &'static str) -> OutageNote {
        OutageNote { who }
    }

    /// Reports `error` (unless it was reported less than 30 s ago).
    pub fn report(&mut self, error: &QueueError) {
        let mut said = OUTAGE_SAID
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if said.is_none_or(|at| at.elapsed() >= Duration::from_secs(30)) {
            eprintln!(
                "abreast {}: {error}; retrying with backoff (nothing is lost meanwhile)",
                self.who
            );
            *said = Some(Instant::now());
        }
    }

    /// The broker answers again.
    pub fn recovered(&mut self) {
        let was_out = OUTAGE_SAID
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
            .is_some();
        if was_out {
            eprintln!("abreast {}: the broker answers again", self.who);
        }
    }
}

/// Connects to `url`, retrying while the broker is unreachable (a bad address or refused
/// credentials end it at once). `None` if `stop` was raised while waiting.
pub async fn connect(
    url: &BrokerUrl,
    who: &'static str,
    stop: &StopSignal,
) -> anyhow::Result<Option<RedisQueue>> {
    let mut note = OutageNote::new(who);
    let mut failures = 0;
    loop {
        let attempt = tokio::select! {
            biased;
            () = stop.raised() => return Ok(None),
            attempt = RedisQueue::connect(url) => attempt,
        };
        match attempt {
            Ok(queue) => {
                note.recovered();
                return Ok(Some(queue));
            }
            Err(error) if error.is_transient() => {
                note.report(&error);
                failures += 1;
                if stop.sleep(backoff(failures)).await {
                    return Ok(None);
                }
            }
            Err(error) => return Err(error.into()),
        }
    }
}

/// Runs `call` until it succeeds or fails for good, sleeping through outages. `None` if `stop`
/// was raised while waiting, or while a call waited for the broker's answer (that call is
/// dropped: to the broker it is as if this process had died there, which each caller's next
/// run takes in its stride, as it does a crash).
pub async fn retry<T, F, Fut>(
    note: &mut OutageNote,
    stop: Option<&StopSignal>,
    mut call: F,
) -> Result<Option<T>, QueueError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, QueueError>>,
{
    let mut failures = 0;
    loop {
        let outcome = match stop {
            Some(stop) => tokio::select! {
                biased;
                () = stop.raised() => return Ok(None),
                outcome = call() => outcome,
            },
            None => call().await,
        };
        match outcome {
            Ok(value) => {
                note.recovered();
                return Ok(Some(value));
            }
            Err(error) if error.is_transient() => {
                note.report(&error);
                failures += 1;
                let wait = backoff(failures);
                match stop {
                    Some(stop) if stop.sleep(wait).await => return Ok(None),
                    Some(_) => {}
                    None => tokio::time::sleep(wait).await,
                }
            }
            Err(error) => return Err(error),
        }
    }
}

pub use abreast_queue::{host_name, process_id};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_s_summary_gives_back_what_the_collector_counts() {
        let mut ok = Record::empty("http://a.test/");
        (ok.elapsed_ms, ok.attempts, ok.bytes, ok.truncated) = (12, 1, 65_536, true);
        let failed = Record::failed(
            "http://b.test/",
            ErrorInfo::new(ErrorKind::Dns, "no such name"),
        );
        for record in [ok, failed] {
            let summary = record_summary(&record);
            assert!(!summary.contains(','), "{summary}");
            let back = summarized_record(&summary).unwrap();
            assert_eq!(
                (
                    back.error_kind(),
                    back.ok,
                    back.elapsed_ms,
                    back.attempts,
                    back.bytes,
                    back.truncated
                ),
                (
                    record.error_kind(),
                    record.ok,
                    record.elapsed_ms,
                    record.attempts,
                    record.bytes,
                    record.truncated
                )
            );
        }
        for bad in [
            "",
            "dns:1:1:1",
            "dns:1:1:1:0:9",
            "nonsense:1:1:1:0",
            ":x:1:1:0",
            ":1:1:1:2",
        ] {
            assert!(summarized_record(bad).is_none(), "{bad:?}");
        }
    }
}

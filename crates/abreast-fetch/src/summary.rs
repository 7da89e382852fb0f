//! The end-of-run summary: counts by outcome, pages per second, bytes, latency percentiles.
//!
//! Latencies go into a fixed histogram (1 ms buckets up to 10 s, then 100 ms buckets up to
//! 10 minutes), so a run of a million pages keeps a few kilobytes, not a million numbers.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::Serialize;

use crate::record::Record;

const FINE_BUCKETS: usize = 10_000; // 1 ms each, up to 10 s
const COARSE_BUCKETS: usize = 5_900; // 100 ms each, 10 s to 10 min
const COARSE_MS: u64 = 100;

/// Latency percentiles from a fixed histogram.
#[derive(Debug, Clone)]
pub struct LatencyHistogram {
    counts: Vec<u64>,
    total: u64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram {
            counts: vec![0; FINE_BUCKETS + COARSE_BUCKETS + 1],
            total: 0,
        }
    }
}

impl LatencyHistogram {
    fn bucket(ms: u64) -> usize {
        if ms < FINE_BUCKETS as u64 {
            ms as usize
        } else {
            let coarse = ((ms - FINE_BUCKETS as u64) / COARSE_MS) as usize;
            FINE_BUCKETS + coarse.min(COARSE_BUCKETS)
        }
    }

    fn bucket_ms(bucket: usize) -> u64 {
        if bucket < FINE_BUCKETS {
            bucket as u64
        } else {
            FINE_BUCKETS as u64 + (bucket - FINE_BUCKETS) as u64 * COARSE_MS
        }
    }

    /// Records one latency.
    pub fn record(&mut self, ms: u64) {
        self.counts[Self::bucket(ms)] += 1;
        self.total += 1;
    }

    /// The latency at quantile `q` (0.0 to 1.0), in milliseconds; `None` with no samples.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        if self.total == 0 {
            return None;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (bucket, count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return Some(Self::bucket_ms(bucket));
            }
        }
        None
    }
}

/// Counts and figures of one run, printed on stderr at its end and serializable for the bench.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// Records written.
    pub records: u64,
    /// Records with a page.
    pub ok: u64,
    /// Records with an error, by error kind.
    pub failed: BTreeMap<&'static str, u64>,
    /// Pages cut at `--max-bytes` or at the end of `<head>`.
    pub truncated: u64,
    /// Body bytes kept, summed.
    pub bytes: u64,
    /// Input lines skipped because `--resume` found them already done.
    pub resumed: u64,
    /// Input lines left to other shards.
    pub other_shards: u64,
    /// URLs read from the input but not finished when the run was interrupted (rerun with
    /// --resume); the lines not yet read are not counted.
    pub abandoned: u64,
    /// True if the run was interrupted (Ctrl-C).
    pub interrupted: bool,
    /// Wall time of the run, in seconds.
    pub seconds: f64,
    /// Median record latency in milliseconds.
    pub p50_ms: Option<u64>,
    /// 95th percentile record latency in milliseconds.
    pub p95_ms: Option<u64>,
    #[serde(skip)]
    latencies: LatencyHistogram,
}

impl Summary {
    /// Counts one written record.
    pub fn count(&mut self, record: &Record) {
        self.records += 1;
        self.bytes += record.bytes;
        self.truncated += u64::from(record.truncated);
        match record.error_kind() {
            None => self.ok += 1,
            Some(kind) => *self.failed.entry(kind.as_str()).or_default() += 1,
        }
        if record.attempts > 0 {
            self.latencies.record(record.elapsed_ms);
        }
    }

    /// Fixes the figures that depend on the whole run.
    pub fn finish(&mut self, wall: Duration) {
        self.seconds = wall.as_secs_f64();
        self.p50_ms = self.latencies.quantile(0.50);
        self.p95_ms = self.latencies.quantile(0.95);
    }

    /// Records with an error.
    pub fn failures(&self) -> u64 {
        self.failed.values().sum()
    }

    /// Records per second of wall time.
    pub fn pages_per_second(&self) -> f64 {
        if self.seconds > 0.0 {
            self.records as f64 / self.seconds
        } else {
            0.0
        }
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} record{} in {:.2}s ({:.0} pages/s): {} ok",
            self.records,
            if self.records == 1 { "" } else { "s" },
            self.seconds,
            self.pages_per_second(),
            self.ok
        )?;
        for (kind, count) in &self.failed {
            write!(f, ", {count} {kind}")?;
        }
        write!(f, "; {:.1} MiB", self.bytes as f64 / (1024.0 * 1024.0))?;
        if self.truncated > 0 {
            write!(f, ", {} truncated", self.truncated)?;
        }
        if let (Some(p50), Some(p95)) = (self.p50_ms, self.p95_ms) {
            write!(f, "; latency p50 {p50} ms, p95 {p95} ms")?;
        }
        if self.resumed > 0 {
            write!(f, "; {} already done (--resume)", self.resumed)?;
        }
        if self.other_shards > 0 {
            write!(f, "; {} left to other shards", self.other_shards)?;
        }
        if self.interrupted {
            write!(
                f,
                "; interrupted: {} of the URLs read got no record (not started, or past the \
                 grace), nor did the lines not yet read; to finish, rerun with --resume and -o naming \
                 this run's output (standard output redirected to a file works too)",
                self.abandoned
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_from_the_histogram() {
        let mut histogram = LatencyHistogram::default();
        assert_eq!(histogram.quantile(0.5), None);
        for ms in 1..=100 {
            histogram.record(ms);
        }
        assert_eq!(histogram.quantile(0.5), Some(50));
        assert_eq!(histogram.quantile(0.95), Some(95));
        histogram.record(25_000);
        histogram.record(10_000_000);
        assert_eq!(histogram.quantile(1.0), Some(10_000 + 5_900 * 100));
    }
}

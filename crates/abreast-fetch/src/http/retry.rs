//! When to try a request again, and how long to wait first.
//!
//! Connect errors, 429 and 5xx answers are retried up to `retries` times with exponential
//! backoff and full jitter (a random wait between zero and `base * 2^attempt`, capped), so many
//! clients that failed together do not return together. A `Retry-After` header (seconds or an
//! HTTP date) is honoured when it asks for no more than `max_wait`; a server asking for longer
//! is not retried, and the record says so.

use std::time::{Duration, SystemTime};

/// The retry policy of one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (so `retries + 1` attempts at most).
    pub retries: u32,
    /// The backoff before the first retry; it doubles with each further retry.
    pub base: Duration,
    /// The longest wait between attempts, whether from backoff or from `Retry-After`.
    pub max_wait: Duration,
}

impl Default for RetryPolicy {
    /// 2 retries, 200 ms base backoff, 10 s longest wait.
    fn default() -> Self {
        RetryPolicy {
            retries: 2,
            base: Duration::from_millis(200),
            max_wait: Duration::from_secs(10),
        }
    }
}

/// True for HTTP statuses worth another attempt: 429 and 5xx (except 501, which will not change).
pub fn is_retryable_status(status: u16) -> bool {
    status == 429 || (status >= 500 && status != 501)
}

impl RetryPolicy {
    /// How long to wait before retry number `retry` (1 for the first retry), given the
    /// server's `Retry-After` header if any. `None`: do not retry (out of retries, or the
    /// server asked to wait longer than `max_wait`).
    pub fn wait_before(&self, retry: u32, retry_after: Option<&str>) -> Option<Duration> {
        if retry > self.retries {
            return None;
        }
        if let Some(asked) = retry_after.and_then(parse_retry_after) {
            return (asked <= self.max_wait).then_some(asked);
        }
        let ceiling = self
            .base
            .saturating_mul(1u32 << (retry - 1).min(20))
            .min(self.max_wait);
        let jittered = ceiling.as_secs_f64() * fastrand::f64();
        Some(Duration::from_secs_f64(jittered))
    }
}

/// Parses `Retry-After`: a number of seconds or an HTTP date (then the time left until it).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(
        when.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_jittered_and_capped() {
        let policy = RetryPolicy {
            retries: 10,
            base: Duration::from_millis(100),
            max_wait: Duration::from_secs(1),
        };
        for retry in 1..=10 {
            let ceiling = Duration::from_millis(100 * (1 << (retry - 1))).min(policy.max_wait);
            for _ in 0..50 {
                let wait = policy.wait_before(retry, None).unwrap();
                assert!(wait <= ceiling, "retry {retry}: {wait:?} > {ceiling:?}");
            }
        }
        assert_eq!(policy.wait_before(11, None), None);
    }

    #[test]
    fn retry_after_is_honoured_within_the_limit() {
        let policy = RetryPolicy::default();
        assert_eq!(
            policy.wait_before(1, Some("3")),
            Some(Duration::from_secs(3))
        );
        assert_eq!(
            policy.wait_before(1, Some("3600")),
            None,
            "too long: give up"
        );
        let soon = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(2));
        let wait = policy.wait_before(1, Some(&soon)).unwrap();
        assert!(wait <= Duration::from_secs(2));
        let past = httpdate::fmt_http_date(SystemTime::now() - Duration::from_secs(60));
        assert_eq!(policy.wait_before(1, Some(&past)), Some(Duration::ZERO));
        // Garbage falls back to backoff.
        assert!(policy.wait_before(1, Some("soon-ish")).unwrap() <= policy.base);
    }

    #[test]
    fn retryable_statuses() {
        assert!(is_retryable_status(429) && is_retryable_status(503) && is_retryable_status(500));
        assert!(
            !is_retryable_status(404) && !is_retryable_status(501) && !is_retryable_status(200)
        );
    }
}

//! The site's configuration: how many pages, how big, how slow, where to listen, and the seed that
//! makes every "random" choice repeatable; plus the parsers for latencies ("50ms",
//! "uniform:20ms..80ms") and byte sizes ("64KiB", "2G") that the CLI and the fault routes share.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use crate::error::{LatencyParseError, SizeParseError};

/// The default body size of `/page/N`: 64 KiB.
pub const DEFAULT_PAGE_SIZE: usize = 64 * 1024;

/// The default number of pages: `/page/0` to `/page/999`.
pub const DEFAULT_PAGES: u64 = 1000;

/// Everything [`Site::start`](crate::Site::start) needs to know.
///
/// Build it with struct update syntax from [`SiteConfig::default`], or with the chained setters:
///
/// ```
/// use abreast_site::{Latency, SiteConfig};
/// let config = SiteConfig::default()
///     .pages(50)
///     .page_size(4096)
///     .latency("uniform:1ms..3ms".parse::<Latency>().unwrap());
/// assert_eq!(config.pages, 50);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteConfig {
    /// How many pages exist: `/page/N` for `N >= pages` answers 404.
    pub pages: u64,
    /// The exact size in bytes of every `/page/N` body. It must hold a page's head (about 850
    /// bytes; [`Site::start`](crate::Site::start) says how many if not); pages of at least
    /// [`FULL_PAGE_SIZE`](crate::FULL_PAGE_SIZE) carry every feature.
    pub page_size: usize,
    /// How long the site waits before answering each request.
    pub latency: Latency,
    /// Where to listen; port 0 picks a free port (read it back with
    /// [`RunningSite::addr`](crate::RunningSite::addr)).
    pub addr: SocketAddr,
    /// The seed of every deterministic choice: page topics, filler text, sampled latencies.
    pub seed: u64,
    /// Serve HTTPS too, on the same port: a connection that opens with a TLS handshake gets
    /// HTTPS (a leaf certificate for whatever name it asks for, signed by a CA the site makes
    /// at start: [`RunningSite::ca_pem`](crate::RunningSite::ca_pem); ALPN `h2` or
    /// `http/1.1`), any other gets plain HTTP as without it.
    pub tls: bool,
    /// Where to run the site's DNS server (UDP and TCP on one port; port 0 picks a free one),
    /// or `None` for none. It answers `A 127.0.0.1` and `AAAA ::1` for [`domain`](Self::domain)
    /// and every name under it, NXDOMAIN for other names, and counts the queries.
    pub dns: Option<SocketAddr>,
    /// The domain of the site's names: `https://h17.site.test:PORT/` with the default
    /// `site.test`. The DNS server answers for it;
    /// [`RunningSite::https_base_url`](crate::RunningSite::https_base_url) names it.
    pub domain: String,
}

/// The default [`SiteConfig::domain`]: `site.test` (`.test` is reserved for testing, RFC 2606).
pub const DEFAULT_DOMAIN: &str = "site.test";

impl Default for SiteConfig {
    fn default() -> Self {
        Self {
            pages: DEFAULT_PAGES,
            page_size: DEFAULT_PAGE_SIZE,
            latency: Latency::None,
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            seed: 0,
            tls: false,
            dns: None,
            domain: DEFAULT_DOMAIN.to_owned(),
        }
    }
}

impl SiteConfig {
    /// Sets [`pages`](Self::pages).
    #[must_use]
    pub fn pages(mut self, pages: u64) -> Self {
        self.pages = pages;
        self
    }

    /// Sets [`page_size`](Self::page_size).
    #[must_use]
    pub fn page_size(mut self, page_size: usize) -> Self {
        self.page_size = page_size;
        self
    }

    /// Sets [`latency`](Self::latency).
    #[must_use]
    pub fn latency(mut self, latency: Latency) -> Self {
        self.latency = latency;
        self
    }

    /// Sets [`addr`](Self::addr).
    #[must_use]
    pub fn addr(mut self, addr: SocketAddr) -> Self {
        self.addr = addr;
        self
    }

    /// Sets [`seed`](Self::seed).
    #[must_use]
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Sets [`tls`](Self::tls).
    #[must_use]
    pub fn tls(mut self, tls: bool) -> Self {
        self.tls = tls;
        self
    }

    /// Sets [`dns`](Self::dns): where the DNS server listens (`127.0.0.1:0` for any free port).
    #[must_use]
    pub fn dns(mut self, addr: Option<SocketAddr>) -> Self {
        self.dns = addr;
        self
    }

    /// Sets [`domain`](Self::domain).
    #[must_use]
    pub fn domain(mut self, domain: impl Into<String>) -> Self {
        self.domain = domain.into();
        self
    }
}

/// How long the site waits before it answers a request (every route, faults included).
///
/// Parses from `"0"` or `"none"` (no wait), a duration such as `"50ms"`, `"1s"`, `"250us"`,
/// `"1.5s"` (fixed), or `"uniform:20ms..80ms"` (drawn uniformly per request from the seed and
/// the request's sequence number, so a run is repeatable).
///
/// ```
/// use std::time::Duration;
/// use abreast_site::Latency;
/// assert_eq!("0".parse::<Latency>().unwrap(), Latency::None);
/// assert_eq!("50ms".parse::<Latency>().unwrap(), Latency::Fixed(Duration::from_millis(50)));
/// assert_eq!(
///     "uniform:20ms..80ms".parse::<Latency>().unwrap(),
///     Latency::Uniform(Duration::from_millis(20), Duration::from_millis(80)),
/// );
/// assert!("uniform:80ms..20ms".parse::<Latency>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Latency {
    /// Answer at once.
    #[default]
    None,
    /// Wait exactly this long.
    Fixed(Duration),
    /// Wait between the two bounds (inclusive), uniformly distributed.
    Uniform(Duration, Duration),
}

impl Latency {
    /// The wait for the request with this sequence number, drawn deterministically from `seed`.
    pub fn sample(&self, seed: u64, request_number: u64) -> Duration {
        match *self {
            Latency::None => Duration::ZERO,
            Latency::Fixed(wait) => wait,
            Latency::Uniform(low, high) => {
                let span = (high - low).as_nanos() as u64;
                if span == 0 {
                    return low;
                }
                let draw = mix(seed ^ mix(request_number)) % (span + 1);
                low + Duration::from_nanos(draw)
            }
        }
    }

    /// The shortest wait this latency can produce: tests assert at least this much.
    pub fn minimum(&self) -> Duration {
        match *self {
            Latency::None => Duration::ZERO,
            Latency::Fixed(wait) | Latency::Uniform(wait, _) => wait,
        }
    }
}

impl fmt::Display for Latency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Latency::None => f.write_str("0"),
            Latency::Fixed(wait) => write!(f, "{wait:?}"),
            Latency::Uniform(low, high) => write!(f, "uniform:{low:?}..{high:?}"),
        }
    }
}

impl FromStr for Latency {
    type Err = LatencyParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if let Some(range) = text.strip_prefix("uniform:") {
            let (low, high) = range.split_once("..").ok_or_else(|| LatencyParseError {
                input: text.to_owned(),
                reason: "a uniform latency needs two bounds, as in uniform:20ms..80ms".to_owned(),
            })?;
            let low = parse_duration(low).map_err(|reason| LatencyParseError {
                input: text.to_owned(),
                reason,
            })?;
            let high = parse_duration(high).map_err(|reason| LatencyParseError {
                input: text.to_owned(),
                reason,
            })?;
            if low > high {
                return Err(LatencyParseError {
                    input: text.to_owned(),
                    reason: "the lower bound is above the upper bound; write the smaller one first"
                        .to_owned(),
                });
            }
            return Ok(Latency::Uniform(low, high));
        }
        if text == "none" {
            return Ok(Latency::None);
        }
        let wait = parse_duration(text).map_err(|reason| LatencyParseError {
            input: text.to_owned(),
            reason,
        })?;
        Ok(if wait.is_zero() {
            Latency::None
        } else {
            Latency::Fixed(wait)
        })
    }
}

/// Parses "0", "250us", "50ms", "1.5s", "2m" into a duration; the error is the reason.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| format!("`{text}` has no unit; write it as 50ms, 1s, 250us or 2m"))?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` does not start with a number; write it as 50ms or 1.5s"))?;
    let seconds_per_unit = match unit {
        "ns" => 1e-9,
        "us" | "µs" => 1e-6,
        "ms" => 1e-3,
        "s" => 1.0,
        "m" | "min" => 60.0,
        _ => {
            return Err(format!(
                "`{unit}` in `{text}` is not a time unit; use ns, us, ms, s or m"
            ));
        }
    };
    Duration::try_from_secs_f64(number * seconds_per_unit)
        .map_err(|_| format!("`{text}` is out of range for a duration"))
}

/// Parses a byte size: a plain number of bytes, or a number with a unit `K`, `M`, `G`, `T`
/// (powers of 1024, also written `KiB`, `MiB`, ... or `KB`, `MB`, ...; case does not matter).
///
/// ```
/// assert_eq!(abreast_site::parse_size("64KiB").unwrap(), 65536);
/// assert_eq!(abreast_site::parse_size("2G").unwrap(), 2 << 30);
/// assert_eq!(abreast_site::parse_size("1000").unwrap(), 1000);
/// assert!(abreast_site::parse_size("lots").is_err());
/// ```
pub fn parse_size(text: &str) -> Result<u64, SizeParseError> {
    let trimmed = text.trim();
    let error = |reason: &str| SizeParseError {
        input: text.to_owned(),
        reason: reason.to_owned(),
    };
    let split = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| error("it does not start with a whole number; write it as 1000, 64K or 2G"))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => {
            return Err(error(
                "the unit is not one of B, K, M, G, T (or KiB, MiB, ...)",
            ));
        }
    };
    number
        .checked_mul(1 << shift)
        .ok_or_else(|| error("it does not fit in 64 bits"))
}

/// A 64-bit mixing function (SplitMix64's finalizer): a cheap, well-spread hash of one number,
/// used for every deterministic choice the site makes.
pub(crate) fn mix(mut value: u64) -> u64 {
    value = value.wrapping_add(0x9E37_79B9_7F4A_7C15);
    value = (value ^ (value >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    value = (value ^ (value >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    value ^ (value >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_parses_every_documented_form() {
        assert_eq!("none".parse::<Latency>().unwrap(), Latency::None);
        assert_eq!("0ms".parse::<Latency>().unwrap(), Latency::None);
        assert_eq!(
            "1s".parse::<Latency>().unwrap(),
            Latency::Fixed(Duration::from_secs(1))
        );
        assert_eq!(
            "1.5s".parse::<Latency>().unwrap(),
            Latency::Fixed(Duration::from_millis(1500))
        );
        assert_eq!(
            "250us".parse::<Latency>().unwrap(),
            Latency::Fixed(Duration::from_micros(250))
        );
    }

    #[test]
    fn latency_errors_say_what_to_write() {
        let error = "50".parse::<Latency>().unwrap_err().to_string();
        assert!(error.contains("no unit"), "{error}");
        let error = "50 parsecs".parse::<Latency>().unwrap_err().to_string();
        assert!(error.contains("not a time unit"), "{error}");
        let error = "uniform:20ms".parse::<Latency>().unwrap_err().to_string();
        assert!(error.contains("two bounds"), "{error}");
        let error = "uniform:9ms..1ms"
            .parse::<Latency>()
            .unwrap_err()
            .to_string();
        assert!(error.contains("smaller one first"), "{error}");
    }

    #[test]
    fn uniform_latency_stays_in_bounds_and_repeats() {
        let latency = Latency::Uniform(Duration::from_millis(20), Duration::from_millis(80));
        let mut distinct = std::collections::HashSet::new();
        for request in 0..1000 {
            let wait = latency.sample(7, request);
            assert!(wait >= Duration::from_millis(20) && wait <= Duration::from_millis(80));
            assert_eq!(wait, latency.sample(7, request));
            distinct.insert(wait);
        }
        assert!(distinct.len() > 900, "draws are spread out");
    }

    #[test]
    fn latency_display_round_trips() {
        for text in ["0", "50ms", "uniform:20ms..80ms"] {
            let latency: Latency = text.parse().unwrap();
            assert_eq!(latency.to_string().parse::<Latency>().unwrap(), latency);
        }
    }

    #[test]
    fn sizes_parse_with_binary_units() {
        assert_eq!(parse_size("1k").unwrap(), 1024);
        assert_eq!(parse_size("3MB").unwrap(), 3 << 20);
        assert_eq!(parse_size(" 7 ").unwrap(), 7);
        assert!(parse_size("99999999999T").is_err());
        assert!(parse_size("1.5G").is_err());
    }
}

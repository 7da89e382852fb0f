//! What both HTTP stacks share: the settings of a run, the outcome of one fetch, and turning
//! that outcome into a [`Record`].
//!
//! The blocking stack ([`blocking`], ureq) serves the `threads` and `processes` modes; the
//! async stack ([`asynchronous`], reqwest on hyper) serves `async` and `hybrid`. Both send
//! the same headers, follow the same redirect rules, retry by the same [`RetryPolicy`], decode
//! bodies through the same [`BodySink`](crate::http::body::BodySink), and end in the same
//! [`finish_record`], so every mode writes the same records for the same input.

use std::time::Duration;

use abreast_meta::Extractor;
use serde::{Deserialize, Serialize};

pub mod asynchronous;
pub mod blocking;
pub mod body;
pub mod dns;
mod first_connection;
pub mod retry;
pub mod tls;
pub(crate) mod words;

use crate::page::{Body, Extraction};
use crate::record::{ErrorInfo, ErrorKind};
use retry::RetryPolicy;

/// The User-Agent both stacks send unless `--user-agent` or `-H User-Agent:` gives another:
/// `abreast/VERSION (+HOME)`, HOME being the project's home (the workspace's `repository`).
pub const USER_AGENT: &str = concat!(
    "abreast/",
    env!("CARGO_PKG_VERSION"),
    " (+",
    env!("CARGO_PKG_REPOSITORY"),
    ")"
);

/// How every request of a run is made. Serializable: the process pool ships it to workers.
/// `#[non_exhaustive]`: start from [`HttpSettings::default`] and set what differs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct HttpSettings {
    /// Time limit to establish a connection (TCP and TLS).
    pub connect_timeout: Duration,
    /// Time limit of one attempt, from its start to the last body byte.
    pub timeout: Duration,
    /// Decoded body bytes kept at most; a longer body is cut and marked truncated.
    pub max_bytes: usize,
    /// What is extracted of each page, and so how much of its body is read and kept: all of
    /// it, its head, or nothing (the body is then read and counted, not kept).
    pub extraction: Extraction,
    /// Accept invalid TLS certificates.
    pub insecure: bool,
    /// Extra request headers (`-H "Name: value"`); a `User-Agent` here replaces the default.
    pub headers: Vec<(String, String)>,
    /// Redirects followed at most (only to http or https).
    pub max_redirects: u32,
    /// Retries of connect errors, 429 and 5xx.
    pub retries: u32,
    /// Backoff before the first retry, in milliseconds; it doubles for each further one.
    pub retry_base_ms: u64,
    /// Longest wait between attempts, in milliseconds (a longer Retry-After is not honoured).
    pub retry_max_wait_ms: u64,
    /// Name servers to ask instead of the system's (`--dns-server IP[:PORT]`).
    #[serde(default)]
    pub dns_servers: Vec<std::net::SocketAddr>,
    /// PEM certificates to trust beside the platform's roots (`--cacert FILE`, its contents, so
    /// workers elsewhere need no copy of the file); see [`HttpSettings::set_cacert`].
    #[serde(default)]
    pub cacert: Option<Vec<u8>>,
    /// Speak HTTP/1.1 only (`--http1.1`): no HTTP/2 by ALPN. The blocking client (threads and
    /// processes modes) speaks HTTP/1.1 only anyway.
    #[serde(default)]
    pub http1_only: bool,
    /// The User-Agent (`--user-agent`); `None`: `abreast/VERSION (+HOME)`. A `User-Agent` in
    /// [`headers`](Self::headers) wins over both.
    #[serde(default)]
    pub user_agent: Option<String>,
    /// Whether each host's robots.txt is fetched and obeyed (`--robots`).
    #[serde(default)]
    pub robots: crate::robots::RobotsPolicy,
}

/// Settings that no request could go out with, found by [`HttpSettings::check`] before a run
/// starts.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SettingsError {
    /// A header that HTTP cannot carry.
    #[error(transparent)]
    Header(#[from] HeaderError),
    /// `--cacert` holds something other than certificates.
    #[error("--cacert: {0}")]
    Ca(#[from] tls::CaError),
}

/// A request header that HTTP cannot carry (by the rules of the `http` crate, which both HTTP
/// stacks follow).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderError {
    /// The name is empty or holds a character a header name cannot.
    #[error(
        "{name:?} is not a header name: a name is letters, digits and !#$%&'*+-.^_`|~, with no \
         spaces"
    )]
    Name {
        /// The name given.
        name: String,
    },
    /// The value holds a control character.
    #[error(
        "the {name} header cannot be sent: its value holds {character} at byte {at}; a header \
         value is text on one line, without control characters"
    )]
    Value {
        /// The header's name.
        name: String,
        /// The character, in words.
        character: String,
        /// Its offset in the value, from 0.
        at: usize,
    },
}

/// Checks that `name: value` is a request header HTTP can carry: a token as the name, and a
/// value of text, spaces and tabs (bytes from 0x80 up are taken as they are, as the `http`
/// crate takes them). The CLI checks `-H` and `--user-agent` with it as it reads them.
pub fn check_header(name: &str, value: &str) -> Result<(), HeaderError> {
    if ::http::HeaderName::from_bytes(name.as_bytes()).is_err() {
        return Err(HeaderError::Name {
            name: name.to_owned(),
        });
    }
    let refused = |byte: u8| byte != b'\t' && (byte < 0x20 || byte == 0x7f);
    if let Some(at) = value.bytes().position(refused) {
        let character = match value.as_bytes()[at] {
            b'\n' => "a line break (\\n)".to_owned(),
            b'\r' => "a carriage return (\\r)".to_owned(),
            byte => format!("the control character {byte:#04x}"),
        };
        return Err(HeaderError::Value {
            name: name.to_owned(),
            character,
            at,
        });
    }
    debug_assert!(::http::HeaderValue::from_str(value).is_ok());
    Ok(())
}

impl Default for HttpSettings {
    /// 10 s to connect, 30 s per attempt, 10 MiB per body, 10 redirects, 2 retries.
    fn default() -> Self {
        let retry = RetryPolicy::default();
        HttpSettings {
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(30),
            max_bytes: 10 * 1024 * 1024,
            extraction: Extraction::Full,
            insecure: false,
            headers: Vec::new(),
            max_redirects: 10,
            retries: retry.retries,
            retry_base_ms: retry.base.as_millis() as u64,
            retry_max_wait_ms: retry.max_wait.as_millis() as u64,
            dns_servers: Vec::new(),
            cacert: None,
            http1_only: false,
            user_agent: None,
            robots: crate::robots::RobotsPolicy::Ignore,
        }
    }
}

impl HttpSettings {
    /// The retry policy these settings describe.
    pub fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy {
            retries: self.retries,
            base: Duration::from_millis(self.retry_base_ms),
            max_wait: Duration::from_millis(self.retry_max_wait_ms),
        }
    }

    /// The User-Agent to send: the one given with `-H`, else `--user-agent`'s, else abreast's.
    /// Its first word (the product token) also names the run's group in robots.txt.
    pub fn user_agent(&self) -> &str {
        self.headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("user-agent"))
            .map(|(_, value)| value.as_str())
            .or(self.user_agent.as_deref())
            .unwrap_or(USER_AGENT)
    }

    /// Trusts the PEM certificates of `pem` (the contents of `--cacert FILE`) beside the
    /// platform's roots, after checking that it holds at least one.
    pub fn set_cacert(&mut self, pem: Vec<u8>) -> Result<(), tls::CaError> {
        tls::certificates(&pem)?;
        self.cacert = Some(pem);
        Ok(())
    }

    /// Checks, before any request goes out, what every request would be refused for: each
    /// header (`-H` and the User-Agent) must be one that HTTP can carry, and `--cacert`'s
    /// certificates must parse. A run checks its settings first, so every mode refuses them
    /// alike, with the same message.
    pub fn check(&self) -> Result<(), SettingsError> {
        for (name, value) in &self.headers {
            check_header(name, value)?;
        }
        if let Some(user_agent) = &self.user_agent {
            check_header("User-Agent", user_agent)?;
        }
        if let Some(pem) = &self.cacert {
            tls::certificates(pem)?;
        }
        Ok(())
    }

    /// The caching resolver these settings describe: their name servers, the connect time
    /// limit (or `--timeout`, if shorter) as each name's deadline.
    pub(crate) fn resolver(&self) -> dns::Resolver {
        // A lookup is part of an attempt: it ends within `--timeout` too.
        let (deadline, deadline_flag) = if self.timeout < self.connect_timeout {
            (self.timeout, "--timeout")
        } else {
            (self.connect_timeout, "--connect-timeout")
        };
        dns::Resolver::new(dns::DnsConfig {
            servers: self.dns_servers.clone(),
            deadline,
            deadline_flag,
        })
    }

    /// The extra headers other than User-Agent.
    pub fn extra_headers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.headers
            .iter()
            .filter(|(name, _)| !name.eq_ignore_ascii_case("user-agent"))
            .map(|(name, value)| (name.as_str(), value.as_str()))
    }

    /// The extra headers to send on a request of a redirect chain: all of them until the chain
    /// leaves its first host (`left_host`), then those that carry no credentials, as the HTTP
    /// libraries do when they follow redirects themselves (reqwest drops these four).
    pub(crate) fn hop_headers(&self, left_host: bool) -> impl Iterator<Item = (&str, &str)> {
        const CREDENTIALS: [&str; 4] = [
            "authorization",
            "cookie",
            "proxy-authorization",
            "www-authenticate",
        ];
        self.extra_headers().filter(move |(name, _)| {
            !left_host || !CREDENTIALS.iter().any(|c| name.eq_ignore_ascii_case(c))
        })
    }

    /// Whether the HTTP library follows redirects by itself. Not with `--robots obey`: each
    /// hop's target is then checked against its host's robots.txt before it is requested, so
    /// the client stops at every redirect and the run follows it ([`Hops`]). Nor with a
    /// `-H Cookie`, which ureq drops on every redirect: the run follows them, and the cookie
    /// goes with each hop until the chain leaves its first host ([`HttpSettings::hop_headers`]),
    /// in every mode alike.
    pub(crate) fn follows_redirects(&self) -> bool {
        self.robots == crate::robots::RobotsPolicy::Ignore
            && !self
                .extra_headers()
                .any(|(name, _)| name.eq_ignore_ascii_case("cookie"))
    }

    /// The extractor matching these settings; none when they extract nothing.
    pub fn extractor(&self) -> Option<Extractor> {
        let head_only = match self.extraction {
            Extraction::Full => false,
            Extraction::HeadOnly => true,
            Extraction::Off => return None,
        };
        Some(
            Extractor::new()
                .head_only(head_only)
                .max_bytes(self.max_bytes),
        )
    }
}

/// What one URL's fetch produced, before extraction. Serializable, so the hybrid mode can hand
/// it to extraction workers and the process pool can send it back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fetched {
    /// The input line.
    pub url: String,
    /// The URL after redirects, if a response came.
    pub final_url: Option<String>,
    /// The final status, if a response came.
    pub status: Option<u16>,
    /// The Content-Type header.
    pub content_type: Option<String>,
    /// The body, for a 2xx answer; why there is none otherwise.
    pub body: Result<Body, ErrorInfo>,
    /// Requests made.
    pub attempts: u32,
    /// Milliseconds from the first attempt's start to the end of the last.
    pub elapsed_ms: u64,
    /// The HTTP version of the final response (`"HTTP/1.1"`, `"HTTP/2"`), if one came.
    pub http_version: Option<String>,
    /// Where the answer redirects to, when the client stops at redirects
    /// ([`HttpSettings::follows_redirects`]) and the answer was one: the run checks that URL
    /// before it asks for it ([`Hops`]).
    #[serde(default)]
    pub redirect_to: Option<String>,
}

impl Fetched {
    /// The outcome of a fetch of `url` whose host name did not resolve (`error`), `elapsed`
    /// after it began: one attempt, no answer, an error of kind `dns`.
    pub(crate) fn unresolved(url: String, error: &dns::DnsError, elapsed: Duration) -> Fetched {
        Attempt::Failed(ErrorInfo::new(ErrorKind::Dns, error.to_string()))
            .into_fetched(url, 1, elapsed)
    }
}

/// The name a record gives an HTTP version.
pub(crate) fn version_name(version: ::http::Version) -> &'static str {
    match version {
        ::http::Version::HTTP_09 => "HTTP/0.9",
        ::http::Version::HTTP_10 => "HTTP/1.0",
        ::http::Version::HTTP_2 => "HTTP/2",
        ::http::Version::HTTP_3 => "HTTP/3",
        _ => "HTTP/1.1",
    }
}

/// One attempt's result, as the retry loop sees it.
#[derive(Debug)]
pub(crate) enum Attempt {
    /// A complete answer, good or bad: stop here.
    Answered {
        final_url: String,
        status: u16,
        version: &'static str,
        content_type: Option<String>,
        body: Result<Body, ErrorInfo>,
    },
    /// A 429 or 5xx answer: retry if the policy allows.
    Retryable {
        final_url: String,
        status: u16,
        version: &'static str,
        content_type: Option<String>,
        retry_after: Option<String>,
    },
    /// A redirect the client stopped at ([`HttpSettings::follows_redirects`]): to `to`.
    Redirected {
        final_url: String,
        status: u16,
        version: &'static str,
        to: String,
    },
    /// No answer: retry if the failure is transient.
    Failed(ErrorInfo),
}

impl Attempt {
    /// How long to wait before retry number `retry`, or `None` to stop with this attempt.
    pub(crate) fn wait_before_retry(&self, policy: &RetryPolicy, retry: u32) -> Option<Duration> {
        match self {
            Attempt::Answered { .. } | Attempt::Redirected { .. } => None,
            Attempt::Retryable { retry_after, .. } => {
                policy.wait_before(retry, retry_after.as_deref())
            }
            Attempt::Failed(error) if error.is_transient() => policy.wait_before(retry, None),
            Attempt::Failed(..) => None,
        }
    }

    /// The final attempt as the fetch's outcome.
    pub(crate) fn into_fetched(self, url: String, attempts: u32, elapsed: Duration) -> Fetched {
        let mut redirect_to = None;
        let (final_url, status, version, content_type, body) = match self {
            Attempt::Answered {
                final_url,
                status,
                version,
                content_type,
                body,
            } => (
                Some(final_url),
                Some(status),
                Some(version),
                content_type,
                body,
            ),
            Attempt::Retryable {
                final_url,
                status,
                version,
                content_type,
                ..
            } => (
                Some(final_url),
                Some(status),
                Some(version),
                content_type,
                Err(ErrorInfo::new(
                    ErrorKind::Status,
                    status_message(status, attempts),
                )),
            ),
            Attempt::Redirected {
                final_url,
                status,
                version,
                to,
            } => {
                let error = ErrorInfo::new(
                    ErrorKind::Redirect,
                    format!("HTTP {status}: a redirect to {to}, not followed"),
                );
                redirect_to = Some(to);
                (
                    Some(final_url),
                    Some(status),
                    Some(version),
                    None,
                    Err(error),
                )
            }
            Attempt::Failed(error) => (None, None, None, None, Err(error)),
        };
        Fetched {
            url,
            final_url,
            status,
            content_type,
            body,
            attempts,
            elapsed_ms: elapsed.as_millis() as u64,
            http_version: version.map(str::to_owned),
            redirect_to,
        }
    }
}

/// What the head of a response decides.
#[derive(Debug)]
pub(crate) enum Head {
    /// No body to read: the attempt ends here (a status to retry, or not 2xx).
    Done(Attempt),
    /// A 2xx answer: read its body.
    ReadBody(BodyToRead),
}

/// A 2xx answer whose body is still to be read: what its attempt will report around the body.
#[derive(Debug)]
pub(crate) struct BodyToRead {
    final_url: String,
    status: u16,
    version: &'static str,
    content_type: Option<String>,
    /// The Content-Encoding to decode, or why it cannot be.
    encoding: Result<crate::http::body::Encoding, crate::http::body::UnsupportedEncoding>,
}

impl BodyToRead {
    /// The Content-Encoding to decode the body with; an unsupported one fails the body.
    pub(crate) fn encoding(&self) -> Result<crate::http::body::Encoding, ErrorInfo> {
        self.encoding
            .clone()
            .map_err(|error| ErrorInfo::new(ErrorKind::Decode, error.to_string()))
    }

    /// The attempt's outcome once the body was read (or failed).
    pub(crate) fn answered(self, body: Result<crate::page::Body, ErrorInfo>) -> Attempt {
        Attempt::Answered {
            final_url: self.final_url,
            status: self.status,
            version: self.version,
            content_type: self.content_type,
            body,
        }
    }
}

impl Head {
    /// Judges a response's status and headers, the same way for both HTTP stacks. A client
    /// that stops at redirects (`stops_at_redirects`) sees them here, and a redirect with a
    /// `Location` ends the attempt with the URL to go to next.
    pub(crate) fn judge(
        final_url: String,
        status: u16,
        version: ::http::Version,
        headers: &::http::HeaderMap,
        attempt: u32,
        stops_at_redirects: bool,
    ) -> Head {
        let version = version_name(version);
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned)
        };
        let content_type = header("content-type");
        if stops_at_redirects
            && matches!(status, 301 | 302 | 303 | 307 | 308)
            && let Some(location) = header("location")
        {
            return Head::Done(redirect(final_url, status, version, &location));
        }
        if crate::http::retry::is_retryable_status(status) {
            return Head::Done(Attempt::Retryable {
                final_url,
                status,
                version,
                content_type,
                retry_after: header("retry-after"),
            });
        }
        if !(200..300).contains(&status) {
            return Head::Done(Attempt::Answered {
                final_url,
                status,
                version,
                content_type,
                body: Err(ErrorInfo::new(
                    ErrorKind::Status,
                    status_message(status, attempt),
                )),
            });
        }
        Head::ReadBody(BodyToRead {
            final_url,
            status,
            version,
            content_type,
            encoding: crate::http::body::Encoding::from_header(
                header("content-encoding").as_deref(),
            ),
        })
    }
}

/// The attempt that stopped at a `status` redirect from `from` to `location`: where to go next,
/// or why not (a `Location` that is no URL, or not an http or https one).
fn redirect(from: String, status: u16, version: &'static str, location: &str) -> Attempt {
    let refused = |message: String| Attempt::Answered {
        final_url: from.clone(),
        status,
        version,
        content_type: None,
        body: Err(ErrorInfo::new(ErrorKind::Redirect, message)),
    };
    let target = url::Url::parse(&from).and_then(|base| base.join(location));
    match target {
        Err(error) => refused(format!(
            "HTTP {status}: the redirect's Location `{location}` is no URL ({error})"
        )),
        Ok(to) if !matches!(to.scheme(), "http" | "https") => {
            refused(words::redirect_scheme(to.scheme()))
        }
        Ok(to) => Attempt::Redirected {
            final_url: from,
            status,
            version,
            to: to.into(),
        },
    }
}

/// How a request of a redirect chain is made: with the credentials of `-H` while the chain is
/// on its first host (`left_host` false), and, past the first request, within what is left of
/// the chain's `--timeout` (`time_left`), as when the HTTP library follows the chain itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct HopTerms {
    pub(crate) left_host: bool,
    pub(crate) time_left: Option<Duration>,
}

/// Following a URL's redirects hop by hop, for a client that stops at them
/// ([`HttpSettings::follows_redirects`]): the caller fetches each hop and checks each target
/// (against its host's robots.txt) before it asks for it; this counts the hops against
/// `--max-redirects`, adds up their requests and time, and makes the one outcome of the chain.
#[derive(Debug)]
pub(crate) struct Hops {
    /// The URL the chain started from.
    first: url::Url,
    max: u32,
    /// The chain's time limit (`--timeout`), shared by its requests.
    timeout: Duration,
    followed: u32,
    attempts: u32,
    elapsed_ms: u64,
    /// The redirect the chain stopped at last, for the outcome of a refused hop.
    last: Option<Fetched>,
    left_host: bool,
}

impl Hops {
    /// A chain from `first` that follows at most `--max-redirects` redirects, all within one
    /// `--timeout` (`settings`').
    pub(crate) fn new(first: &url::Url, settings: &HttpSettings) -> Hops {
        Hops {
            first: first.clone(),
            max: settings.max_redirects,
            timeout: settings.timeout,
            followed: 0,
            attempts: 0,
            elapsed_ms: 0,
            last: None,
            left_host: false,
        }
    }

    /// Takes the outcome of the hop just fetched: the chain's outcome if it ends here, or the
    /// URL to check and fetch next.
    pub(crate) fn after(&mut self, mut fetched: Fetched) -> Result<Fetched, url::Url> {
        self.count(&fetched);
        let next = fetched
            .redirect_to
            .as_deref()
            .and_then(|to| url::Url::parse(to).ok());
        match next {
            Some(next) if self.followed < self.max => {
                self.followed += 1;
                self.left_host |= next.host() != self.first.host()
                    || next.port_or_known_default() != self.first.port_or_known_default();
                self.last = Some(fetched);
                Err(next)
            }
            next => {
                if next.is_some() {
                    // As the HTTP libraries say it when they follow the chain: no answer.
                    let message = words::too_many_redirects(self.max);
                    fetched.body = Err(ErrorInfo::new(ErrorKind::Redirect, message));
                    fetched.final_url = None;
                    fetched.status = None;
                    fetched.content_type = None;
                    fetched.http_version = None;
                }
                Ok(self.outcome(fetched))
            }
        }
    }

    /// The chain's outcome when it ends with `fetched`, a hop that got no answer to follow.
    pub(crate) fn end(mut self, fetched: Fetched) -> Fetched {
        self.count(&fetched);
        self.outcome(fetched)
    }

    /// Adds a hop's time and tries to the chain's ([`chain_attempts`]).
    fn count(&mut self, fetched: &Fetched) {
        self.attempts = chain_attempts(self.attempts, fetched.attempts);
        self.elapsed_ms += fetched.elapsed_ms;
    }

    /// The attempts ([`chain_attempts`]) and milliseconds of the hops taken so far.
    pub(crate) fn so_far(&self) -> (u32, u64) {
        (self.attempts, self.elapsed_ms)
    }

    /// The terms of the chain's next request: whether the chain went to another host than its
    /// first (credentials are then no longer sent: [`HttpSettings::hop_headers`]), and the time
    /// its requests so far left of its limit.
    pub(crate) fn terms(&self) -> HopTerms {
        HopTerms {
            left_host: self.left_host,
            time_left: Some(
                self.timeout
                    .saturating_sub(Duration::from_millis(self.elapsed_ms))
                    .max(Duration::from_millis(1)),
            ),
        }
    }

    /// The chain's outcome when the hop to `next` is refused (`why`): the redirect it stopped
    /// at, with that error.
    pub(crate) fn refused(mut self, next: &url::Url, why: ErrorInfo) -> Fetched {
        let mut last = self.last.take().unwrap_or_else(|| {
            Attempt::Failed(why.clone()).into_fetched(self.first.to_string(), 0, Duration::ZERO)
        });
        last.body = Err(ErrorInfo::new(
            why.kind,
            format!("the redirect to {next} was not followed: {}", why.message),
        ));
        self.outcome(last)
    }

    /// A hop's outcome as the chain's: the first URL's, with every hop's requests and time.
    fn outcome(&self, mut fetched: Fetched) -> Fetched {
        fetched.url = self.first.to_string();
        fetched.attempts = self.attempts;
        fetched.elapsed_ms = self.elapsed_ms;
        fetched.redirect_to = None;
        fetched
    }
}

/// The attempts of a redirect chain whose hops so far took `so_far` (0 before the first) when
/// the next hop took `hop` tries, counted as when the HTTP library follows the chain within one
/// request: one, and one more for each retry of any hop (a chain whose hops each took one try is
/// one attempt).
pub(crate) fn chain_attempts(so_far: u32, hop: u32) -> u32 {
    if so_far == 0 {
        hop
    } else {
        so_far + hop.saturating_sub(1)
    }
}

/// The message of a record whose final status was not 2xx.
pub(crate) fn status_message(status: u16, attempts: u32) -> String {
    let reason = http_reason(status);
    if attempts > 1 {
        format!("HTTP {status} {reason} (after {attempts} attempts)")
    } else {
        format!("HTTP {status} {reason}")
    }
}

fn http_reason(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        410 => "Gone",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "",
    }
}

/// The message of a connection the server closed before its answer's head was complete (an
/// empty reply, curl's error 52): kind `http`, not retried, in every mode.
pub(crate) const CLOSED_BEFORE_ANSWER: &str =
    "the server closed the connection before its answer was complete (an empty reply)";

/// Classifies an I/O error met while connecting or reading.
pub(crate) fn io_error_kind(error: &std::io::Error) -> ErrorKind {
    use std::io::ErrorKind as Io;
    match error.kind() {
        Io::ConnectionRefused | Io::NotConnected | Io::AddrNotAvailable => ErrorKind::Connect,
        Io::TimedOut | Io::WouldBlock => ErrorKind::Timeout,
        _ => ErrorKind::Body,
    }
}

#[cfg(test)]
mod tests {
    use super::chain_attempts;

    #[test]
    fn a_chain_counts_one_attempt_and_one_more_per_retry_of_any_hop() {
        // Three hops of one try each: one attempt, as the HTTP library counts the chain.
        assert_eq!([1, 1, 1].into_iter().fold(0, chain_attempts), 1);
        // The second hop retried twice: three.
        assert_eq!([1, 3, 1].into_iter().fold(0, chain_attempts), 3);
        assert_eq!([2, 2].into_iter().fold(0, chain_attempts), 3);
    }
}

//! The blocking HTTP stack (ureq): one request at a time on the calling thread. It serves the
//! `threads` mode (the explainer's first program) and the workers of the `processes` mode.

use std::io::Read;
use std::time::Instant;

use ureq::ResponseExt;

use crate::http::body::{
    ACCEPT_ENCODING, BodySink, Encoding, Flow, HEAD_ONLY_DRAIN, worth_draining,
};
use crate::http::dns::{DnsError, ForUreq, Resolver};
use crate::http::tls::CaError;
use crate::http::{Attempt, Fetched, Head, HopTerms, Hops, HttpSettings, io_error_kind, words};
use crate::page::Extraction;
use crate::record::{ErrorInfo, ErrorKind};

/// Idle connections a blocking client keeps for reuse to one host: enough for the requests a
/// run has in flight at once (`-j`, default 64 threads).
const IDLE_CONNECTIONS_PER_HOST: usize = 256;
/// The read buffer of each connection (ureq keeps one for the socket and one for TLS above
/// it). A response's header must fit in it, and ureq refuses a header over 64 KiB only once it
/// holds more than that: 1 KiB more than 64 KiB, so an over-long header is that error (kind
/// `http`, not retried), not a full buffer read as a closed connection. ureq's default is
/// 128 KiB.
const INPUT_BUFFER: usize = 65 * 1024;
/// The write buffer of each connection (again one for the socket and one for TLS), beside the
/// run's own headers (`-H`, the User-Agent), which are added to it: ureq writes a request a line
/// at a time, and each line (the request line with its URL, each header) must fit in it. ureq's
/// default is 128 KiB. ureq fills both buffers with zeros when a connection first uses them, so
/// on a crawl of many hosts their size is paid in page faults and zeroing once per host, and
/// kept in memory for each pooled connection: 512 KiB a connection with the defaults, 162 KiB
/// here.
const OUTPUT_BUFFER: usize = 16 * 1024;

/// The write buffer for `settings`: [`OUTPUT_BUFFER`] and room for the run's own headers.
fn output_buffer(settings: &HttpSettings) -> usize {
    let own: usize = settings
        .headers
        .iter()
        .map(|(name, value)| name.len() + value.len() + 4)
        .sum();
    OUTPUT_BUFFER + own + settings.user_agent().len()
}

/// Hosts whose agents (and idle connections) a client keeps; past this an arbitrary one is
/// dropped for each new host, so memory stays bounded on a list of millions of hosts.
const HOSTS_KEPT: usize = 4096;

/// A blocking client for one run's settings. Share it between threads: it pools connections.
///
/// Connections are pooled per host, in an agent of each host's own. ureq's pool recounts
/// every idle connection per host each time one is taken or given back, which takes time that
/// grows with the square of the hosts pooled: one shared pool of a thousand hosts' connections
/// cost milliseconds of CPU a request. The agents share one connector, so the TLS
/// configuration (the roots) and its session cache are made once.
#[derive(Debug, Clone)]
pub struct BlockingClient {
    agents: std::sync::Arc<Agents>,
    resolver: Resolver,
    settings: HttpSettings,
}

/// The agents of a client, one per origin (scheme, host and port).
#[derive(Debug)]
struct Agents {
    config: ureq::config::Config,
    connector: SharedConnector,
    resolver: ForUreq,
    by_origin: std::sync::Mutex<std::collections::HashMap<String, ureq::Agent>>,
}

impl Agents {
    /// The agent for `url`'s origin, made on first use (`None`: a URL that does not parse,
    /// whose request ureq refuses, saying why).
    fn for_url(&self, url: Option<&url::Url>) -> ureq::Agent {
        let origin = url.map_or_else(String::new, |url| url.origin().ascii_serialization());
        let mut agents = self
            .by_origin
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(agent) = agents.get(&origin) {
            return agent.clone();
        }
        if agents.len() >= HOSTS_KEPT
            && let Some(dropped) = agents.keys().next().cloned()
        {
            agents.remove(&dropped);
        }
        let agent = ureq::Agent::with_parts(
            self.config.clone(),
            self.connector.clone(),
            self.resolver.clone(),
        );
        agents.insert(origin, agent.clone());
        agent
    }
}

/// ureq's default connector (TCP, then rustls), shared by a client's agents.
#[derive(Debug, Clone)]
struct SharedConnector(std::sync::Arc<ureq::unversioned::transport::DefaultConnector>);

impl ureq::unversioned::transport::Connector for SharedConnector {
    type Out = Box<dyn ureq::unversioned::transport::Transport>;

    fn connect(
        &self,
        details: &ureq::unversioned::transport::ConnectionDetails<'_>,
        chained: Option<()>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        self.0.connect(details, chained)
    }
}

impl BlockingClient {
    /// A client with connection reuse, the run's time limits, redirect limit, TLS policy and
    /// name servers. It speaks HTTP/1.1 only (ureq has no HTTP/2). Fails only on a `--cacert`
    /// that holds no certificate.
    ///
    /// ureq's own resolver does every lookup on a thread it starts for it, even of
    /// `127.0.0.1`, and looks up every request's host, pooled connection or not (a threads-mode
    /// run of 5,000 pages started 8,000 threads); the run's caching resolver takes an address
    /// as it is and looks each name up once.
    pub fn new(settings: HttpSettings) -> Result<BlockingClient, CaError> {
        crate::install_tls_crypto_provider();
        let mut tls = ureq::tls::TlsConfig::builder().disable_verification(settings.insecure);
        if let Some(pem) = &settings.cacert {
            tls = tls.root_certs(crate::http::tls::ureq_roots(pem)?);
        }
        let tls = tls.build();
        let config = ureq::Agent::config_builder()
            .timeout_connect(Some(settings.connect_timeout))
            .timeout_global(Some(settings.timeout))
            // With `--robots obey` the client stops at every redirect: the run checks each hop's
            // target before it follows it (`fetch_hops`).
            .max_redirects(if settings.follows_redirects() {
                settings.max_redirects
            } else {
                0
            })
            // `-H Authorization` stays on a redirect to the same host and scheme, as reqwest
            // keeps it (ureq drops it by default). ureq drops a `-H Cookie` on every redirect,
            // so with one the client stops at redirects and the run follows them.
            .redirect_auth_headers(ureq::config::RedirectAuthHeaders::SameHost)
            // Keep every connection a run can have open to a host, so none is closed only for
            // want of an idle slot (ureq keeps 3 per host by default).
            .max_idle_connections(IDLE_CONNECTIONS_PER_HOST)
            .max_idle_connections_per_host(IDLE_CONNECTIONS_PER_HOST)
            .input_buffer_size(INPUT_BUFFER)
            .output_buffer_size(output_buffer(&settings))
            .http_status_as_error(false)
            .user_agent(settings.user_agent())
            .tls_config(tls)
            .build();
        let resolver = settings.resolver();
        let agents = Agents {
            config,
            connector: SharedConnector(std::sync::Arc::new(
                ureq::unversioned::transport::DefaultConnector::new(),
            )),
            resolver: ForUreq(resolver.clone()),
            by_origin: std::sync::Mutex::default(),
        };
        Ok(BlockingClient {
            agents: std::sync::Arc::new(agents),
            resolver,
            settings,
        })
    }

    /// Takes `addresses` as the answer for `host` (see [`crate::http::dns::Resolver::seed`]).
    pub(crate) fn seed(&self, host: &str, addresses: &[std::net::IpAddr]) {
        self.resolver.seed(host, addresses);
    }

    /// The settings this client was made with.
    pub fn settings(&self) -> &HttpSettings {
        &self.settings
    }

    /// Fetches `url` with retries; never panics, never returns without an outcome. A client
    /// that stops at redirects ([`HttpSettings::follows_redirects`]) follows each hop only once
    /// `check` allowed its target; a refused hop is the outcome, with `check`'s error.
    pub(crate) fn fetch_hops(
        &self,
        url: &url::Url,
        check: impl Fn(&url::Url) -> Result<(), ErrorInfo>,
    ) -> Fetched {
        let limits = (self.settings.max_bytes, self.settings.extraction);
        self.follow(url, limits, check)
    }

    /// One hop of a chain (the whole chain if the client follows redirects), on the `terms` of
    /// its place in the chain: a process worker's fetch, its parent following the redirects it
    /// stops at.
    pub(crate) fn fetch_hop(&self, url: &str, terms: HopTerms) -> Fetched {
        let limits = (self.settings.max_bytes, self.settings.extraction);
        self.fetch_within(url, limits, terms)
    }

    /// Fetches a robots.txt, its body kept whole up to `max_bytes`, its redirects followed.
    pub(crate) fn fetch_robots(&self, url: &str, max_bytes: usize) -> Fetched {
        let limits = (max_bytes, Extraction::Full);
        match url::Url::parse(url) {
            Ok(parsed) => self.follow(&parsed, limits, |_| Ok(())),
            Err(_) => self.fetch_within(url, limits, HopTerms::default()),
        }
    }

    /// Fetches `url` and the redirects after it that `check` allows, if the client stops at
    /// them (else ureq followed them within the one fetch).
    fn follow(
        &self,
        url: &url::Url,
        limits: (usize, Extraction),
        check: impl Fn(&url::Url) -> Result<(), ErrorInfo>,
    ) -> Fetched {
        let mut hops = Hops::new(url, &self.settings);
        let mut fetched = self.fetch_within(url.as_str(), limits, HopTerms::default());
        loop {
            let next = match hops.after(fetched) {
                Ok(outcome) => return outcome,
                Err(next) => next,
            };
            if let Err(refused) = check(&next) {
                return hops.refused(&next, refused);
            }
            fetched = self.fetch_within(next.as_str(), limits, hops.terms());
        }
    }

    /// Fetches `url` with retries, its body read within `limits` (the cap, and how much is
    /// kept), on the `terms` of its place in its redirect chain.
    /// Its host is looked up first: a name that does not resolve is an error of kind `dns` at
    /// once, never a time-out of the connection.
    fn fetch_within(&self, url: &str, limits: (usize, Extraction), terms: HopTerms) -> Fetched {
        let start = Instant::now();
        let parsed = url::Url::parse(url).ok();
        if let Some(url::Host::Domain(host)) = parsed.as_ref().and_then(url::Url::host)
            && let Err(error) = self.resolver.lookup_blocking(host)
        {
            return Fetched::unresolved(url.to_owned(), &error, start.elapsed());
        }
        let agent = self.agents.for_url(parsed.as_ref());
        let policy = self.settings.retry_policy();
        let mut attempts = 0;
        loop {
            attempts += 1;
            let attempt = self.attempt(&agent, url, attempts, limits, terms);
            match attempt.wait_before_retry(&policy, attempts) {
                Some(wait) => std::thread::sleep(wait),
                None => return attempt.into_fetched(url.to_owned(), attempts, start.elapsed()),
            }
        }
    }

    fn attempt(
        &self,
        agent: &ureq::Agent,
        url: &str,
        attempt: u32,
        limits: (usize, Extraction),
        terms: HopTerms,
    ) -> Attempt {
        let mut request = agent.get(url).header("Accept-Encoding", ACCEPT_ENCODING);
        for (name, value) in self.settings.hop_headers(terms.left_host) {
            request = request.header(name, value);
        }
        if let Some(time_left) = terms.time_left {
            request = request.config().timeout_global(Some(time_left)).build();
        }
        let response = match request.call() {
            Ok(response) => response,
            Err(error) => {
                return Attempt::Failed(classify(&error, &self.settings));
            }
        };
        let head = Head::judge(
            response.get_uri().to_string(),
            response.status().as_u16(),
            response.version(),
            response.headers(),
            attempt,
            !self.settings.follows_redirects(),
        );
        let to_read = match head {
            Head::Done(attempt) => {
                // A small body (an error page, a redirect's note) is read to its end, so that
                // the connection goes back to the pool for the next request.
                if worth_draining(response.body().content_length()) {
                    let mut reader = response.into_body().into_reader();
                    drain(&mut reader, &mut [0; 8 * 1024]);
                }
                return attempt;
            }
            Head::ReadBody(to_read) => to_read,
        };
        let body = to_read.encoding().and_then(|encoding| {
            let length = response.body().content_length();
            let reader = response.into_body().into_reader();
            read_body(reader, length, encoding, limits, &self.settings)
        });
        to_read.answered(body)
    }
}

/// Reads a body of `length` raw bytes (if known) through a [`BodySink`] until its end, the cap,
/// or the end of `<head>`; stopped early, it reads on to the end if that is cheap
/// ([`worth_draining`]), so the connection is kept.
fn read_body(
    mut reader: impl Read,
    length: Option<u64>,
    encoding: Encoding,
    (max_bytes, extraction): (usize, Extraction),
    settings: &HttpSettings,
) -> Result<crate::page::Body, ErrorInfo> {
    let mut sink = BodySink::new(encoding, max_bytes, extraction);
    let mut buffer = vec![0; 64 * 1024];
    let mut consumed = 0u64;
    loop {
        let read = match reader.read(&mut buffer) {
            Ok(0) => {
                return sink
                    .finish(true)
                    .map_err(|m| ErrorInfo::new(ErrorKind::Decode, m));
            }
            Ok(read) => read,
            Err(error) => {
                // ureq reports its own failures (a time-out) inside the I/O error.
                let kind = match error
                    .get_ref()
                    .and_then(|e| e.downcast_ref::<ureq::Error>())
                {
                    Some(inner) => classify(inner, settings).kind,
                    None => io_error_kind(&error),
                };
                return Err(if kind == ErrorKind::Timeout {
                    ErrorInfo::new(kind, words::timed_out(settings, true))
                } else {
                    ErrorInfo::new(ErrorKind::Body, words::body_cut(length))
                });
            }
        };
        consumed += read as u64;
        match sink.push(&buffer[..read]) {
            Err(message) => return Err(ErrorInfo::new(ErrorKind::Decode, message)),
            Ok(Flow::More) => {}
            Ok(Flow::Enough) => {
                if worth_draining(length.map(|length| length.saturating_sub(consumed))) {
                    drain(&mut reader, &mut buffer);
                }
                return sink
                    .finish(false)
                    .map_err(|m| ErrorInfo::new(ErrorKind::Decode, m));
            }
        }
    }
}

/// Reads and drops the rest of a body, at most [`HEAD_ONLY_DRAIN`] bytes: reaching its end
/// returns the connection to the pool; anything else (more bytes, an error) leaves it to be
/// closed.
fn drain(reader: &mut impl Read, buffer: &mut [u8]) {
    let mut left = HEAD_ONLY_DRAIN;
    while left > 0 {
        let room = buffer
            .len()
            .min(usize::try_from(left).unwrap_or(usize::MAX));
        match reader.read(&mut buffer[..room]) {
            Ok(0) | Err(_) => return,
            Ok(read) => left = left.saturating_sub(read as u64),
        }
    }
}

/// Maps a ureq error to a record's error kind and message, in the words every mode uses
/// ([`words`]) where it has them.
fn classify(error: &ureq::Error, settings: &HttpSettings) -> ErrorInfo {
    use ureq::Error as E;
    match error {
        E::Timeout(ureq::Timeout::Connect) => {
            return ErrorInfo::new(ErrorKind::Timeout, words::connect_timed_out(settings));
        }
        E::Timeout(_) => {
            return ErrorInfo::new(ErrorKind::Timeout, words::timed_out(settings, false));
        }
        E::TooManyRedirects => {
            let message = words::too_many_redirects(settings.max_redirects);
            return ErrorInfo::new(ErrorKind::Redirect, message);
        }
        // ureq's words for a redirect to another scheme than http or https.
        E::BadUri(why) if why.starts_with("unknown scheme: ") => {
            let scheme = why.trim_start_matches("unknown scheme: ");
            return ErrorInfo::new(ErrorKind::Redirect, words::redirect_scheme(scheme));
        }
        // The run's resolver failed (a redirect to a host that does not resolve).
        E::Other(inner) => {
            if let Some(dns) = inner.downcast_ref::<DnsError>() {
                return ErrorInfo::new(ErrorKind::Dns, dns.to_string());
            }
        }
        E::Rustls(tls) => return ErrorInfo::new(ErrorKind::Tls, crate::http::tls::in_words(tls)),
        // ureq's words for a request whose line and headers overflow its write buffer.
        E::Protocol(protocol) if protocol.to_string().starts_with("output too small") => {
            return ErrorInfo::new(
                ErrorKind::Http,
                format!(
                    "the request's URL (or a redirect's target) is longer than the threads and \
                     processes modes send ({} KiB beside the -H headers): shorten it, or use \
                     --mode async or hybrid (for a broker job, on its workers: abreast worker \
                     --mode async)",
                    OUTPUT_BUFFER / 1024
                ),
            );
        }
        E::Io(io) => {
            if let Some(cause) = crate::http::tls::describe(io) {
                return ErrorInfo::new(ErrorKind::Tls, cause);
            }
            // ureq's words for a connection that ended before the answer's head did.
            if io.kind() == std::io::ErrorKind::UnexpectedEof
                && io.to_string() == "Peer disconnected"
            {
                return ErrorInfo::new(ErrorKind::Http, crate::http::CLOSED_BEFORE_ANSWER);
            }
            return match io_error_kind(io) {
                ErrorKind::Timeout => {
                    ErrorInfo::new(ErrorKind::Timeout, words::timed_out(settings, false))
                }
                ErrorKind::Connect => {
                    ErrorInfo::new(ErrorKind::Connect, words::could_not_connect(io))
                }
                // Made, then broken before the answer (a reset while the request was sent).
                _ => ErrorInfo::new(ErrorKind::Connect, format!("the connection failed: {io}")),
            };
        }
        _ => {}
    }
    let kind = match error {
        E::HostNotFound => ErrorKind::Dns,
        E::ConnectionFailed => ErrorKind::Connect,
        E::RedirectFailed | E::BadUri(_) => ErrorKind::Redirect,
        E::Tls(_) | E::Rustls(_) => ErrorKind::Tls,
        _ => ErrorKind::Http,
    };
    ErrorInfo::new(kind, error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ureq::unversioned::resolver::Resolver as _;
    use ureq::unversioned::transport::NextTimeout;

    fn resolve(uri: &str) -> Vec<std::net::SocketAddr> {
        let config = ureq::Agent::config_builder().build();
        let timeout = NextTimeout {
            after: ureq::unversioned::transport::time::Duration::Exact(
                std::time::Duration::from_secs(30),
            ),
            reason: ureq::Timeout::Resolve,
            ..NextTimeout::default()
        };
        let uri: ::http::Uri = uri.parse().unwrap();
        let resolver = crate::http::dns::Resolver::new(crate::http::dns::DnsConfig::default());
        ForUreq(resolver)
            .resolve(&uri, &config, timeout)
            .unwrap()
            .iter()
            .copied()
            .collect()
    }

    #[test]
    fn an_address_is_its_own_resolution_with_the_scheme_s_port_by_default() {
        assert_eq!(
            resolve("http://127.0.0.1:18080/page/1"),
            ["127.0.0.1:18080".parse().unwrap()]
        );
        assert_eq!(
            resolve("http://127.0.0.1/"),
            ["127.0.0.1:80".parse().unwrap()]
        );
        assert_eq!(resolve("https://[::1]/x"), ["[::1]:443".parse().unwrap()]);
    }
}

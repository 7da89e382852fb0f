//! The async HTTP stack (reqwest on hyper, rustls): thousands of requests in flight on one
//! runtime. It serves the `async` mode (the explainer's second program) and the `hybrid` mode.

use std::sync::Arc;
use std::time::Instant;

use url::Url;

use crate::http::body::{ACCEPT_ENCODING, BodySink, Flow, HEAD_ONLY_DRAIN, worth_draining};
use crate::http::dns::{DnsError, ForReqwest, Resolver};
use crate::http::first_connection::FirstConnections;
use crate::http::{Attempt, Fetched, Head, HopTerms, Hops, HttpSettings, words};
use crate::page::Extraction;
use crate::record::{ErrorInfo, ErrorKind};

/// How much of a response an HTTP/2 server may send before the client asks for more: a page
/// of the common sizes fits in one window, so it comes without a round trip for credit (h2's
/// default, 64 KiB less a byte, stops a 64 KiB page short of its last bytes).
const H2_STREAM_WINDOW: u32 = 1 << 20;
/// The same for all of a connection's responses together: room for several pages at once.
const H2_CONNECTION_WINDOW: u32 = 4 << 20;

/// The longest a request waits for the first answer of its origin (see [`FirstConnections`]),
/// unless the connect time limit is shorter.
const FIRST_ANSWER_WAIT_AT_MOST: std::time::Duration = std::time::Duration::from_secs(1);

/// An async client for one run's settings. Clone it freely: clones share the connection pool
/// and the name cache.
#[derive(Debug, Clone)]
pub struct AsyncClient {
    client: reqwest::Client,
    resolver: Resolver,
    settings: HttpSettings,
    /// The extra headers of each request, when the client stops at redirects (reqwest then
    /// has no chain to drop credentials from): on the chain's first host, and after it left.
    hop_headers: Option<Arc<[reqwest::header::HeaderMap; 2]>>,
    /// The HTTPS origins with no connection yet: a request waits for its origin's first
    /// answer, so that an HTTP/2 server gets one connection, not one per request.
    first_connections: Option<Arc<FirstConnections>>,
}

/// The client could not be built (for example the TLS set-up failed).
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// reqwest refused the configuration.
    #[error("could not set up the HTTP client: {0}")]
    Reqwest(#[from] reqwest::Error),
    /// `--cacert` could not be used.
    #[error("could not use --cacert: {0}")]
    Ca(#[from] crate::http::tls::CaError),
}

impl AsyncClient {
    /// A client with keep-alive and HTTP/2 where offered (ALPN `h2`, unless `--http1.1`), the
    /// run's time limits and name servers, at most `max_redirects` redirects and only to http
    /// or https; or, with `--robots obey`, none: it stops at each ([`AsyncClient::fetch_hops`]).
    pub fn new(settings: HttpSettings) -> Result<AsyncClient, ClientError> {
        crate::install_tls_crypto_provider();
        let max_redirects = settings.max_redirects as usize;
        let redirects = if settings.follows_redirects() {
            reqwest::redirect::Policy::custom(move |attempt| {
                if !matches!(attempt.url().scheme(), "http" | "https") {
                    let refused = words::redirect_scheme(attempt.url().scheme());
                    attempt.error(refused)
                } else if attempt.previous().len() > max_redirects {
                    attempt.error(words::too_many_redirects(max_redirects as u32))
                } else {
                    attempt.follow()
                }
            })
        } else {
            reqwest::redirect::Policy::none()
        };
        let header_map = |left_host: bool| {
            let mut headers = reqwest::header::HeaderMap::new();
            for (name, value) in settings.hop_headers(left_host) {
                if let (Ok(name), Ok(value)) = (
                    reqwest::header::HeaderName::from_bytes(name.as_bytes()),
                    reqwest::header::HeaderValue::from_str(value),
                ) {
                    headers.append(name, value);
                }
            }
            headers
        };
        let hop_headers = (!settings.follows_redirects())
            .then(|| Arc::new([header_map(false), header_map(true)]));
        let mut headers = match hop_headers {
            Some(_) => reqwest::header::HeaderMap::new(),
            None => header_map(false),
        };
        headers.insert(
            reqwest::header::ACCEPT_ENCODING,
            reqwest::header::HeaderValue::from_static(ACCEPT_ENCODING),
        );
        let resolver = settings.resolver();
        let mut builder = reqwest::Client::builder()
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.timeout)
            .redirect(redirects)
            .user_agent(settings.user_agent())
            .default_headers(headers)
            .dns_resolver(Arc::new(ForReqwest(resolver.clone())))
            .tls_danger_accept_invalid_certs(settings.insecure)
            .http2_initial_stream_window_size(H2_STREAM_WINDOW)
            .http2_initial_connection_window_size(H2_CONNECTION_WINDOW);
        if settings.http1_only {
            builder = builder.http1_only();
        }
        if let Some(pem) = &settings.cacert {
            for der in crate::http::tls::certificates(pem)? {
                builder = builder.add_root_certificate(reqwest::Certificate::from_der(&der)?);
            }
        }
        let client = builder.build()?;
        // With `--http1.1` there is no HTTP/2 to share: each request goes on at once.
        let first_connections = (!settings.http1_only).then(|| {
            FirstConnections::new(settings.connect_timeout.min(FIRST_ANSWER_WAIT_AT_MOST))
        });
        Ok(AsyncClient {
            client,
            resolver,
            settings,
            hop_headers,
            first_connections,
        })
    }

    /// Fetches `url`, already parsed (the HTTP client takes it as it is instead of parsing its
    /// text again), with retries; never panics, never returns without an outcome. A client
    /// that stops at redirects ([`HttpSettings::follows_redirects`]) follows each hop only once
    /// `check` allowed its target; a refused hop is the outcome, with `check`'s error.
    pub(crate) async fn fetch_hops<F>(&self, url: &Url, check: impl Fn(Url) -> F) -> Fetched
    where
        F: Future<Output = Result<(), ErrorInfo>>,
    {
        let limits = (self.settings.max_bytes, self.settings.extraction);
        self.follow(url, limits, check).await
    }

    /// Fetches a robots.txt, its body kept whole up to `max_bytes`, its redirects followed.
    pub(crate) async fn fetch_robots(&self, url: &str, max_bytes: usize) -> Fetched {
        match Url::parse(url) {
            Ok(parsed) => {
                let limits = (max_bytes, Extraction::Full);
                self.follow(&parsed, limits, |_| std::future::ready(Ok(())))
                    .await
            }
            Err(error) => Attempt::Failed(ErrorInfo::new(ErrorKind::InvalidUrl, error.to_string()))
                .into_fetched(url.to_owned(), 0, std::time::Duration::ZERO),
        }
    }

    /// Fetches `url` and the redirects after it that `check` allows, if the client stops at
    /// them (else reqwest followed them within the one fetch).
    async fn follow<F>(
        &self,
        url: &Url,
        limits: (usize, Extraction),
        check: impl Fn(Url) -> F,
    ) -> Fetched
    where
        F: Future<Output = Result<(), ErrorInfo>>,
    {
        let mut hops = Hops::new(url, &self.settings);
        let mut fetched = self.fetch_with(url, limits, HopTerms::default()).await;
        loop {
            let next = match hops.after(fetched) {
                Ok(outcome) => return outcome,
                Err(next) => next,
            };
            if let Err(refused) = check(next.clone()).await {
                return hops.refused(&next, refused);
            }
            fetched = self.fetch_with(&next, limits, hops.terms()).await;
        }
    }

    /// Fetches `target` with retries, its body read within `limits` (the cap, and how much is
    /// kept), on the `terms` of its place in its redirect chain.
    /// Its host is looked up first: a name that does not resolve is an error of kind `dns` at
    /// once, never a time-out of the connection.
    async fn fetch_with(
        &self,
        target: &Url,
        limits: (usize, Extraction),
        terms: HopTerms,
    ) -> Fetched {
        let url = target.as_str();
        let start = Instant::now();
        if let Some(url::Host::Domain(host)) = target.host()
            && let Err(error) = self.resolver.lookup(host).await
        {
            return Fetched::unresolved(url.to_owned(), &error, start.elapsed());
        }
        let policy = self.settings.retry_policy();
        let mut attempts = 0;
        loop {
            attempts += 1;
            let attempt = self.attempt(target.clone(), attempts, limits, terms).await;
            match attempt.wait_before_retry(&policy, attempts) {
                Some(wait) => tokio::time::sleep(wait).await,
                None => return attempt.into_fetched(url.to_owned(), attempts, start.elapsed()),
            }
        }
    }

    async fn attempt(
        &self,
        url: Url,
        attempt: u32,
        limits: (usize, Extraction),
        terms: HopTerms,
    ) -> Attempt {
        let opening = match &self.first_connections {
            Some(first) => first.enter(&url).await,
            None => None,
        };
        let mut request = self.client.get(url);
        if let Some(headers) = &self.hop_headers {
            request = request.headers(headers[usize::from(terms.left_host)].clone());
        }
        if let Some(time_left) = terms.time_left {
            request = request.timeout(time_left);
        }
        let mut response = match request.send().await {
            Ok(response) => response,
            Err(error) => {
                return Attempt::Failed(classify(&error, &self.settings));
            }
        };
        if let Some(opening) = opening {
            opening.answered();
        }
        let head = Head::judge(
            response.url().to_string(),
            response.status().as_u16(),
            response.version(),
            response.headers(),
            attempt,
            !self.settings.follows_redirects(),
        );
        let to_read = match head {
            Head::Done(attempt) => {
                // A small body (an error page, a redirect's note) is read to its end, so that
                // an HTTP/1.1 connection goes back to the pool for the next request.
                if worth_draining(response.content_length()) {
                    drain(&mut response).await;
                }
                return attempt;
            }
            Head::ReadBody(to_read) => to_read,
        };
        let body = match to_read.encoding() {
            Err(error) => Err(error),
            Ok(encoding) => {
                let mut sink = BodySink::new(encoding, limits.0, limits.1);
                let length = response.content_length();
                let mut consumed = 0u64;
                loop {
                    let chunk = response.chunk().await;
                    if let Ok(Some(chunk)) = &chunk {
                        consumed += chunk.len() as u64;
                    }
                    match chunk {
                        Ok(None) => {
                            break sink
                                .finish(true)
                                .map_err(|m| ErrorInfo::new(ErrorKind::Decode, m));
                        }
                        Ok(Some(chunk)) => match sink.push_shared(chunk) {
                            Err(message) => break Err(ErrorInfo::new(ErrorKind::Decode, message)),
                            Ok(Flow::More) => {}
                            Ok(Flow::Enough) => {
                                let remaining =
                                    length.map(|length| length.saturating_sub(consumed));
                                if worth_draining(remaining) {
                                    drain(&mut response).await;
                                }
                                break sink
                                    .finish(false)
                                    .map_err(|m| ErrorInfo::new(ErrorKind::Decode, m));
                            }
                        },
                        Err(error) => {
                            break Err(if error.is_timeout() {
                                let message = words::timed_out(&self.settings, true);
                                ErrorInfo::new(ErrorKind::Timeout, message)
                            } else {
                                ErrorInfo::new(ErrorKind::Body, words::body_cut(length))
                            });
                        }
                    }
                }
            }
        };
        to_read.answered(body)
    }
}

/// Reads and drops the rest of a body, at most [`HEAD_ONLY_DRAIN`] bytes: reaching its end
/// returns the connection to the pool; anything else (more bytes, an error) leaves it to be
/// closed.
async fn drain(response: &mut reqwest::Response) {
    let mut left = HEAD_ONLY_DRAIN;
    while let Ok(Some(chunk)) = response.chunk().await {
        left = match left.checked_sub(chunk.len() as u64) {
            Some(left) => left,
            None => return,
        };
    }
}

/// The last of `error`'s sources, if it has any.
fn innermost<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a (dyn std::error::Error + 'static)> {
    let mut last = None;
    let mut next = error.source();
    while let Some(cause) = next {
        last = Some(cause);
        next = cause.source();
    }
    last
}

/// The error and its sources, joined: reqwest's own message is terse. Its "for url (URL)" is
/// left out: the record has the URL.
fn chain(error: &reqwest::Error) -> String {
    let mut message = error.to_string();
    if let Some(url) = error.url() {
        message = message.replace(&format!(" for url ({url})"), "");
    }
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

/// The first error of type `T` in `error`'s chain (itself, then its sources), if there is one:
/// the run's own lookup error (a redirect to a host that does not resolve), the system's I/O
/// error under a connection that failed.
fn cause<'a, T: std::error::Error + 'static>(
    error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    let mut next = Some(error);
    while let Some(error) = next {
        if let Some(found) = error.downcast_ref::<T>() {
            return Some(found);
        }
        next = error.source();
    }
    None
}

/// Maps a reqwest error to a record's error kind and message, in the words every mode uses
/// ([`words`]) where it has them.
fn classify(error: &reqwest::Error, settings: &HttpSettings) -> ErrorInfo {
    if let Some(dns) = cause::<DnsError>(error) {
        return ErrorInfo::new(ErrorKind::Dns, dns.to_string());
    }
    if let Some(cause) = crate::http::tls::describe(error) {
        return ErrorInfo::new(ErrorKind::Tls, cause);
    }
    let message = chain(error);
    let lower = message.to_ascii_lowercase();
    // hyper's words for a connection that ended before the answer's head did.
    if lower.contains("connection closed before message completed") && !error.is_body() {
        return ErrorInfo::new(ErrorKind::Http, crate::http::CLOSED_BEFORE_ANSWER);
    }
    if error.is_timeout() {
        let message = if error.is_connect() {
            words::connect_timed_out(settings)
        } else {
            words::timed_out(settings, error.is_body())
        };
        return ErrorInfo::new(ErrorKind::Timeout, message);
    }
    // The redirect policy's own refusal (a scheme, the limit), in its words already.
    if error.is_redirect()
        && let Some(refusal) = innermost(error)
    {
        return ErrorInfo::new(ErrorKind::Redirect, refusal.to_string());
    }
    if error.is_connect()
        && let Some(io) = cause::<std::io::Error>(error)
    {
        return ErrorInfo::new(ErrorKind::Connect, words::could_not_connect(io));
    }
    let kind = if error.is_redirect() {
        ErrorKind::Redirect
    } else if lower.contains("dns error") || lower.contains("failed to lookup address") {
        ErrorKind::Dns
    } else if lower.contains("certificate") || lower.contains("tls") {
        ErrorKind::Tls
    } else if error.is_connect() {
        ErrorKind::Connect
    } else if error.is_body() || error.is_decode() {
        ErrorKind::Body
    } else {
        ErrorKind::Http
    };
    ErrorInfo::new(kind, message)
}

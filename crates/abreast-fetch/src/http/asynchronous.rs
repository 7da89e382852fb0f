//! The async HTTP stack (reqwest on hyper, rustls): thousands of requests in flight on one
//! runtime. It serves the `async` mode (the explainer's second program) and the `hybrid` mode.

use std::time::Instant;

use url::Url;

use crate::http::body::{ACCEPT_ENCODING, BodySink, Flow, HEAD_ONLY_DRAIN, worth_draining};
use crate::http::{Attempt, Fetched, Head, HttpSettings};
use crate::record::{ErrorInfo, ErrorKind};

/// An async client for one run's settings. Clone it freely: clones share the connection pool.
#[derive(Debug, Clone)]
pub struct AsyncClient {
    client: reqwest::Client,
    settings: HttpSettings,
}

/// The client could not be built (for example the TLS set-up failed).
#[derive(Debug, thiserror::Error)]
#[error("could not set up the HTTP client: {0}")]
pub struct ClientError(#[from] reqwest::Error);

impl AsyncClient {
    /// A client with keep-alive and HTTP/2 where offered, the run's time limits, at most
    /// `max_redirects` redirects and only to http or https.
    pub fn new(settings: HttpSettings) -> Result<AsyncClient, ClientError> {
        crate::install_crypto_provider();
        let max_redirects = settings.max_redirects as usize;
        let redirects = reqwest::redirect::Policy::custom(move |attempt| {
            if !matches!(attempt.url().scheme(), "http" | "https") {
                let scheme = attempt.url().scheme().to_owned();
                attempt.error(format!("refused a redirect to a {scheme}: URL"))
            } else if attempt.previous().len() > max_redirects {
                attempt.error(format!("too many redirects (more than {max_redirects})"))
            } else {
                attempt.follow()
            }
        });
        let mut headers = reqwest::header::HeaderMap::new();
        for (name, value) in settings.extra_headers() {
            if let (Ok(name), Ok(value)) = (
                reqwest::header::HeaderName::from_bytes(name.as_bytes()),
                reqwest::header::HeaderValue::from_str(value),
            ) {
                headers.append(name, value);
            }
        }
        headers.insert(
            reqwest::header::ACCEPT_ENCODING,
            reqwest::header::HeaderValue::from_static(ACCEPT_ENCODING),
        );
        let client = reqwest::Client::builder()
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.timeout)
            .redirect(redirects)
            .user_agent(settings.user_agent())
            .default_headers(headers)
            .tls_danger_accept_invalid_certs(settings.insecure)
            .build()?;
        Ok(AsyncClient { client, settings })
    }

    /// Fetches `url`, already parsed (the HTTP client takes it as it is instead of parsing its
    /// text again), with retries; never panics, never returns without an outcome.
    pub async fn fetch_url(&self, url: &Url) -> Fetched {
        self.fetch_with(url.as_str(), url).await
    }

    /// Fetches `target` (whose text is `url`) with retries.
    async fn fetch_with<U>(&self, url: &str, target: &U) -> Fetched
    where
        U: reqwest::IntoUrl + Clone,
    {
        let policy = self.settings.retry_policy();
        let start = Instant::now();
        let mut attempts = 0;
        loop {
            attempts += 1;
            let attempt = self.attempt(target.clone(), attempts).await;
            match attempt.wait_before_retry(&policy, attempts) {
                Some(wait) => tokio::time::sleep(wait).await,
                None => return attempt.into_fetched(url.to_owned(), attempts, start.elapsed()),
            }
        }
    }

    async fn attempt(&self, url: impl reqwest::IntoUrl, attempt: u32) -> Attempt {
        let mut response = match self.client.get(url).send().await {
            Ok(response) => response,
            Err(error) => {
                return Attempt::Failed(classify(&error));
            }
        };
        let head = Head::judge(
            response.url().to_string(),
            response.status().as_u16(),
            response.headers(),
            attempt,
        );
        let to_read = match head {
            Head::Done(attempt) => return attempt,
            Head::ReadBody(to_read) => to_read,
        };
        let body = match to_read.encoding() {
            Err(error) => Err(error),
            Ok(encoding) => {
                let mut sink =
                    BodySink::new(encoding, self.settings.max_bytes, self.settings.extraction);
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
                            let kind = if error.is_timeout() {
                                ErrorKind::Timeout
                            } else {
                                ErrorKind::Body
                            };
                            break Err(ErrorInfo::new(
                                kind,
                                format!("the body broke off: {}", chain(&error)),
                            ));
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

/// The error and its sources, joined: reqwest's own message is terse.
fn chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

/// Maps a reqwest error to a record's error kind and message.
fn classify(error: &reqwest::Error) -> ErrorInfo {
    let message = chain(error);
    let lower = message.to_ascii_lowercase();
    let kind = if error.is_timeout() {
        ErrorKind::Timeout
    } else if error.is_redirect() {
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

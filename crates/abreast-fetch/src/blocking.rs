//! The blocking HTTP stack (ureq): one request at a time on the calling thread. It serves the
//! `threads` mode (the explainer's first program) and the workers of the `processes` mode.

use std::io::Read;
use std::time::Instant;

use ureq::ResponseExt;

use crate::body::{ACCEPT_ENCODING, BodySink, Encoding, Flow};
use crate::http::{Attempt, Fetched, Head, HttpSettings, io_error_kind};
use crate::record::ErrorKind;

/// A blocking client for one run's settings. Share it between threads: it pools connections.
#[derive(Debug, Clone)]
pub struct BlockingClient {
    agent: ureq::Agent,
    settings: HttpSettings,
}

impl BlockingClient {
    /// A client with connection reuse, the run's time limits, redirect limit and TLS policy.
    pub fn new(settings: HttpSettings) -> BlockingClient {
        crate::install_crypto_provider();
        let tls = ureq::tls::TlsConfig::builder()
            .disable_verification(settings.insecure)
            .build();
        let agent = ureq::Agent::config_builder()
            .timeout_connect(Some(settings.connect_timeout))
            .timeout_global(Some(settings.timeout))
            .max_redirects(settings.max_redirects)
            .http_status_as_error(false)
            .user_agent(settings.user_agent())
            .tls_config(tls)
            .build()
            .new_agent();
        BlockingClient { agent, settings }
    }

    /// The settings this client was made with.
    pub fn settings(&self) -> &HttpSettings {
        &self.settings
    }

    /// Fetches `url` with retries; never panics, never returns without an outcome.
    pub fn fetch(&self, url: &str) -> Fetched {
        let policy = self.settings.retry_policy();
        let start = Instant::now();
        let mut attempts = 0;
        loop {
            attempts += 1;
            let attempt = self.attempt(url, attempts);
            match attempt.wait_before_retry(&policy, attempts) {
                Some(wait) => std::thread::sleep(wait),
                None => return attempt.into_fetched(url.to_owned(), attempts, start.elapsed()),
            }
        }
    }

    fn attempt(&self, url: &str, attempt: u32) -> Attempt {
        let mut request = self
            .agent
            .get(url)
            .header("Accept-Encoding", ACCEPT_ENCODING);
        for (name, value) in self.settings.extra_headers() {
            request = request.header(name, value);
        }
        let response = match request.call() {
            Ok(response) => response,
            Err(error) => {
                let (kind, message) = classify(&error);
                return Attempt::Failed(kind, message);
            }
        };
        let head = Head::judge(
            response.get_uri().to_string(),
            response.status().as_u16(),
            response.headers(),
            attempt,
        );
        let (final_url, status, content_type, encoding) = match head {
            Head::Done(attempt) => return attempt,
            Head::ReadBody {
                final_url,
                status,
                content_type,
                encoding,
            } => (final_url, status, content_type, encoding),
        };
        let body = match encoding {
            Err(message) => Err((ErrorKind::Decode, message)),
            Ok(encoding) => read_body(response.into_body().into_reader(), encoding, &self.settings),
        };
        Attempt::Answered {
            final_url,
            status,
            content_type,
            body,
        }
    }
}

/// Reads a body through a [`BodySink`] until its end, the cap, or the end of `<head>`.
fn read_body(
    mut reader: impl Read,
    encoding: Encoding,
    settings: &HttpSettings,
) -> Result<crate::body::Body, (ErrorKind, String)> {
    let mut sink = BodySink::new(encoding, settings.max_bytes, settings.head_only);
    let mut buffer = vec![0; 64 * 1024];
    loop {
        let read = match reader.read(&mut buffer) {
            Ok(0) => return sink.finish(true).map_err(|m| (ErrorKind::Decode, m)),
            Ok(read) => read,
            Err(error) => {
                // ureq reports its own failures (a time-out) inside the I/O error.
                let kind = match error
                    .get_ref()
                    .and_then(|e| e.downcast_ref::<ureq::Error>())
                {
                    Some(inner) => match classify(inner).0 {
                        ErrorKind::Timeout => ErrorKind::Timeout,
                        _ => ErrorKind::Body,
                    },
                    None => match io_error_kind(&error) {
                        ErrorKind::Timeout => ErrorKind::Timeout,
                        _ => ErrorKind::Body,
                    },
                };
                return Err((kind, format!("the body broke off: {error}")));
            }
        };
        match sink.push(&buffer[..read]) {
            Err(message) => return Err((ErrorKind::Decode, message)),
            Ok(Flow::More) => {}
            Ok(Flow::Enough) => return sink.finish(false).map_err(|m| (ErrorKind::Decode, m)),
        }
    }
}

/// Maps a ureq error to a record's error kind and message.
fn classify(error: &ureq::Error) -> (ErrorKind, String) {
    use ureq::Error as E;
    let kind = match error {
        E::Timeout(_) => ErrorKind::Timeout,
        E::HostNotFound => ErrorKind::Dns,
        E::ConnectionFailed => ErrorKind::Connect,
        E::TooManyRedirects | E::RedirectFailed => ErrorKind::Redirect,
        E::BadUri(_) => ErrorKind::Redirect,
        E::Tls(_) | E::Rustls(_) => ErrorKind::Tls,
        E::Io(io) => match io_error_kind(io) {
            ErrorKind::Body => ErrorKind::Connect,
            other => other,
        },
        _ => ErrorKind::Http,
    };
    (kind, error.to_string())
}

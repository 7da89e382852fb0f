//! [`Record`]: the one output line each input line yields, a page or an error.

use abreast_meta::PageMeta;
use serde::{Deserialize, Serialize};

/// What kind of failure a record reports. Serialized in snake_case (`"connect"`, `"status"`…).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The input line is not a URL.
    InvalidUrl,
    /// The URL's scheme is not http or https (file:, ftp:, data:, javascript: …).
    UnsupportedScheme,
    /// The host name could not be resolved.
    Dns,
    /// The connection was refused or could not be made.
    Connect,
    /// The TLS handshake failed (for example an invalid certificate; see `--insecure`).
    Tls,
    /// The connect or total time limit ran out.
    Timeout,
    /// Too many redirects, a redirect loop, or a redirect to a scheme other than http/https.
    Redirect,
    /// The server answered with a status other than 2xx.
    Status,
    /// The connection broke while reading the body (reset, wrong Content-Length, …).
    Body,
    /// The body's Content-Encoding could not be decoded.
    Decode,
    /// Any other HTTP-level failure.
    Http,
    /// The host's robots.txt disallows the URL (or could not be fetched), and the run obeys it
    /// (`--robots obey`): no request was made.
    Robots,
    /// A page on disk could not be read (`abreast extract`).
    Read,
    /// A bug in abreast: a step panicked, or a worker's record did not parse. Please report it.
    Internal,
    /// A job on a broker gave the line up: it was delivered `--max-deliveries` times and each
    /// worker that took it died or lost its lease before writing its record.
    GaveUp,
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl ErrorKind {
    /// The snake_case name used in JSON and CSV.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidUrl => "invalid_url",
            ErrorKind::UnsupportedScheme => "unsupported_scheme",
            ErrorKind::Dns => "dns",
            ErrorKind::Connect => "connect",
            ErrorKind::Tls => "tls",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Redirect => "redirect",
            ErrorKind::Status => "status",
            ErrorKind::Body => "body",
            ErrorKind::Decode => "decode",
            ErrorKind::Http => "http",
            ErrorKind::Robots => "robots",
            ErrorKind::Read => "read",
            ErrorKind::Internal => "internal",
            ErrorKind::GaveUp => "gave_up",
        }
    }

    /// True for failures worth another attempt: connect errors and time-outs to connect.
    pub fn is_transient(self) -> bool {
        matches!(self, ErrorKind::Connect | ErrorKind::Dns)
    }
}

/// Why a record has no page: a kind to branch on and a message for people. It is an
/// [`std::error::Error`], so a caller can `?` it or wrap it with context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message} ({kind})")]
pub struct ErrorInfo {
    /// What kind of failure.
    pub kind: ErrorKind,
    /// What happened, in words.
    pub message: String,
}

impl ErrorInfo {
    /// An error of `kind` saying `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> ErrorInfo {
        ErrorInfo {
            kind,
            message: message.into(),
        }
    }

    /// True for failures worth another attempt later (see [`ErrorKind::is_transient`]).
    pub fn is_transient(&self) -> bool {
        self.kind.is_transient()
    }
}

/// The outcome of one input line: a fetched page with its metadata, or an error.
///
/// Field names are the JSON keys; every record has every key (`null` where unknown).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// The input line, as read (trimmed).
    pub url: String,
    /// The URL after redirects.
    pub final_url: Option<String>,
    /// The final HTTP status.
    pub status: Option<u16>,
    /// True if a 2xx page was read (possibly truncated at `--max-bytes`).
    pub ok: bool,
    /// Why there is no page, when `ok` is false.
    pub error: Option<ErrorInfo>,
    /// Milliseconds from the first attempt's start to the end, retries and waits included.
    pub elapsed_ms: u64,
    /// How many requests were made (1 plus the retries).
    pub attempts: u32,
    /// Body bytes read, after decompression (kept for extraction unless it is off).
    pub bytes: u64,
    /// True if the body was cut at `--max-bytes` (or at the end of `<head>` with `--head-only`).
    pub truncated: bool,
    /// The Content-Type header.
    pub content_type: Option<String>,
    /// The HTTP version of the final response (`"HTTP/1.1"`, `"HTTP/2"`), if one came.
    pub http_version: Option<String>,
    /// What the page says about itself: the same fields, under the same names, as
    /// [`abreast_meta::extract`] gives (`charset`, `title`, `meta`, `og`, `json_ld`, `preview`,
    /// `capped`…), written inline in the record. Empty (charset `null`) when no page was read.
    #[serde(flatten)]
    pub page: PageMeta,
}

impl Record {
    /// A record for `url` that failed with `error` before any page was read.
    pub fn failed(url: impl Into<String>, error: ErrorInfo) -> Self {
        Record {
            error: Some(error),
            ..Record::empty(url)
        }
    }

    /// A record for `url` with nothing known yet: no page, no error.
    pub fn empty(url: impl Into<String>) -> Self {
        Record {
            url: url.into(),
            final_url: None,
            status: None,
            ok: false,
            error: None,
            elapsed_ms: 0,
            attempts: 0,
            bytes: 0,
            truncated: false,
            content_type: None,
            http_version: None,
            page: PageMeta::default(),
        }
    }

    /// The error kind, if the record failed.
    pub fn error_kind(&self) -> Option<ErrorKind> {
        self.error.as_ref().map(|error| error.kind)
    }
}

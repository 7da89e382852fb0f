//! The errors this crate returns: a site that cannot start, and the parsers' complaints about a
//! latency or size they cannot read. Each message says what went wrong and what to do instead.

use std::io;
use std::net::SocketAddr;

use thiserror::Error;

/// Why a site could not start.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SiteError {
    /// The listening socket could not be bound.
    #[error("cannot listen on {addr}: {source}; pick another address or port 0 for any free port")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// What the operating system said.
        source: io::Error,
    },
    /// The page size is too small to hold a page's head (its meta tags, title and links).
    #[error(
        "a page size of {page_size} bytes cannot hold page {page}'s head, which needs {needed} bytes; \
         use a page size of at least {needed} bytes"
    )]
    PageTooSmall {
        /// The configured page size.
        page_size: usize,
        /// The page whose head did not fit (the one with the longest number).
        page: u64,
        /// The smallest page size that fits it.
        needed: usize,
    },
    /// A page could not be written to disk by [`export_pages`](crate::export_pages).
    #[error("cannot write {}: {source}; check that the folder is writable and the disk has room", path.display())]
    Export {
        /// The file that could not be written (or the folder that could not be made).
        path: std::path::PathBuf,
        /// What the operating system said.
        source: io::Error,
    },
    /// The site's TLS (its CA, its server configuration) could not be set up.
    #[error("cannot set up the site's TLS: {0}; this is a bug in abreast-site, please report it")]
    Tls(String),
    /// The configured domain is not a usable DNS name.
    #[error("invalid domain `{domain}`: {reason}; use a name such as `site.test`")]
    Domain {
        /// The domain as configured.
        domain: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The background thread or its tokio runtime could not be started.
    #[error("cannot start the site's background runtime: {0}; the system may be out of threads")]
    Runtime(#[source] io::Error),
}

/// A name that is not one of those a parser knows: an encoding (`/fault/bomb?encoding=`,
/// `/fault/encoding/NAME`) or a charset declaration (`declare=`).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("unknown {what} `{name}`; use {choices}")]
pub struct UnknownName {
    /// What kind of name was expected ("encoding", "declaration").
    pub what: &'static str,
    /// The name given.
    pub name: String,
    /// The names that are known, in words.
    pub choices: String,
}

/// A latency that could not be parsed (see [`Latency`](crate::Latency) for the accepted forms).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("invalid latency `{input}`: {reason}")]
pub struct LatencyParseError {
    pub(crate) input: String,
    pub(crate) reason: String,
}

/// A byte size that could not be parsed (see [`parse_size`](crate::parse_size)).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("invalid size `{input}`: {reason}")]
pub struct SizeParseError {
    pub(crate) input: String,
    pub(crate) reason: String,
}

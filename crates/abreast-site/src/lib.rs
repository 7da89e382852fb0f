//! abreast-site is the local test web site behind `abreast serve`, the fetch tests and the bench:
//! a fast HTTP/1.1 keep-alive server (hyper) of deterministic synthetic pages, plus fault routes
//! that misbehave on purpose so that a fetcher's error handling can be tested without the internet.
//! On request it also serves HTTPS for any host name (HTTP/2 or HTTP/1.1) and runs a name server
//! for its domain, so that a client meets thousands of hosts, TLS and DNS offline.
//!
//! # Starting a site
//!
//! [`Site::start`] serves on the caller's tokio runtime and returns a [`RunningSite`];
//! [`Site::start_in_background`] runs its own runtime on a thread, for synchronous code. Both
//! listen on `127.0.0.1:0` by default and report the base URL they got.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use abreast_site::{RouteKind, Site, SiteConfig};
//! let site = Site::start(SiteConfig::default().pages(10).page_size(4096)).await.unwrap();
//! let url = format!("{}/page/3", site.base_url());
//! // ... fetch `url` with the client under test ...
//! # let _ = url;
//! assert_eq!(site.counters().route(RouteKind::Page), 0);
//! site.shutdown().await;
//! # }
//! ```
//!
//! # Pages
//!
//! `/page/N` (for `N` below [`SiteConfig::pages`]) is valid HTML5 of exactly
//! [`SiteConfig::page_size`] bytes: a head with a charset, a title `Page N`, a description,
//! keywords, OpenGraph (`og:title`, `og:description`, `og:type`, `og:url`, `og:image`) and
//! Twitter tags, a canonical link to `{base_url}/page/N`; from [`FULL_PAGE_SIZE`] bytes up also
//! author, robots, JSON-LD, a style block and two decoy `<meta name="decoy">` tags, one inside a
//! script string and one inside an HTML comment, which a correct extractor skips. The body is
//! paragraphs with links to other pages. [`page_html`] computes any page without a server, and
//! [`export_pages`] writes them all to a folder, for any web server to serve.
//!
//! # Routes
//!
//! Every route waits the configured [`Latency`] first. Parameters are optional unless marked.
//! Sizes accept units (`64K`, `2G`; see [`parse_size`]).
//!
//! | route | what it does |
//! |---|---|
//! | `/` | an index page linking to the first 100 pages |
//! | `/health` | `200 ok`, the smallest response |
//! | `/page/N` | the synthetic page `N`; 404 when `N >= pages` |
//! | `/fault/trickle?bytes_per_sec=64&size=1K` | a small HTML page of `size` bytes (at most 16M; Content-Length set), sent at `bytes_per_sec` |
//! | `/fault/reset?after=HALF` | headers with page 0's Content-Length, its first `after` bytes (default half; fewer than all), then a TCP reset (RST) |
//! | `/fault/stall?after=0` | headers with page 0's Content-Length, its first `after` bytes (fewer than all), then nothing until shutdown |
//! | `/fault/stall-headers` | reads the request, then sends nothing at all until shutdown |
//! | `/fault/close` | reads the request, then closes the connection without a response |
//! | `/fault/status/CODE?retry_after=V` | status `CODE` (200 to 599) with a short text body, and `Retry-After: V` when given |
//! | `/fault/flaky/KEY?fail=2&status=503&retry_after=V` | the first `fail` requests for `KEY` get `status`, later ones page 0 |
//! | `/fault/redirect-loop` | `302` to itself, forever |
//! | `/fault/redirect/N?to=0&status=302` | a chain of `N` redirects ending at `/page/{to}` (`N = 0` serves that page at once) |
//! | `/fault/redirect-to?url=U&status=302` | one redirect to `U` (required), e.g. `ftp://example.invalid/` |
//! | `/fault/bomb?encoding=gzip&size=1G` | a small body with `Content-Encoding` (`gzip`, `br`, `zstd`, `deflate`) that inflates to `size` zero bytes (at most 8G) |
//! | `/fault/huge?size=2G&chunked=0` | a `size`-byte HTML body generated as it is sent (Content-Length, or chunked with `chunked=1`) |
//! | `/fault/encoding/NAME?declare=header` | a page whose title and description are in encoding `NAME` (see [`LegacyEncoding`]), declared by `header`, `meta` or `none` |
//! | `/fault/invalid-bytes` | a page declared UTF-8 that holds invalid UTF-8 (title decodes to [`INVALID_BYTES_TITLE`]) |
//! | `/fault/wrong-length?missing=1000` | page 0 with a Content-Length `missing` bytes too large, then the connection closes |
//! | `/fault/empty` | `200` with `Content-Length: 0` and no body |
//! | `/fault/compressed?encoding=gzip&page=0` | page `page`, properly compressed with `encoding` |
//!
//! A malformed parameter gets a `400` whose body says what to send instead; another method than
//! GET or HEAD gets a `405`. [`Counters`] count connections, requests and requests per
//! [`RouteKind`]. Refusing a connection needs no route: see [`refused_url`].
//!
//! # HTTPS and DNS
//!
//! With [`SiteConfig::tls`], the same port serves HTTPS beside plain HTTP (a connection that
//! opens with a TLS handshake gets TLS). The site makes a CA at start ([`RunningSite::ca_pem`])
//! and, for each name a client asks for by SNI, a leaf certificate signed by it (cached, at most
//! 16,384). ALPN offers `h2` and `http/1.1`. Names starting with [`EXPIRED_PREFIX`] get an
//! expired certificate, names starting with [`WRONG_NAME_PREFIX`] a certificate for another
//! name. [`Counters`] count handshakes per SNI name ([`Counters::tls_connections_for`]),
//! resumed sessions, failed handshakes and HTTP/2 connections.
//!
//! With [`SiteConfig::dns`], a name server (UDP and TCP on one port, [`RunningSite::dns_addr`])
//! answers `A 127.0.0.1` and `AAAA ::1` (TTL [`DNS_TTL`]) for [`SiteConfig::domain`] (default
//! `site.test`) and every name under it, and NXDOMAIN for other names; it counts queries per
//! name and type ([`Counters::dns_queries_for`]). The site then also listens on `[::1]` at its
//! port, when it can, so that a client trying the AAAA answer first gets through.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use std::net::SocketAddr;
//! use abreast_site::{Site, SiteConfig};
//! let any_port: SocketAddr = "127.0.0.1:0".parse().unwrap();
//! let site = Site::start(SiteConfig::default().tls(true).dns(Some(any_port))).await.unwrap();
//! let port = site.addr().port();
//! assert_eq!(site.https_base_url(), Some(format!("https://site.test:{port}").as_str()));
//! assert!(site.ca_pem().unwrap().starts_with("-----BEGIN CERTIFICATE-----"));
//! // A client resolving through `site.dns_addr()` and trusting `site.ca_pem()` can now fetch
//! // `https://h17.site.test:{port}/page/3`.
//! site.shutdown().await;
//! # }
//! ```
//!
//! # Memory
//!
//! Every response is bounded: page bodies share one precomputed filler pool, `/fault/huge`
//! repeats one 64 KiB chunk, bombs are cached (at most 8, compressed), `/fault/flaky` remembers
//! at most a million keys.
#![deny(missing_docs)]

mod body;
mod compress;
mod config;
mod dns;
mod error;
mod legacy;
mod page;
mod routes;
mod server;
mod tls;

pub use compress::ContentEncoding;
pub use config::{
    DEFAULT_DOMAIN, DEFAULT_PAGE_SIZE, DEFAULT_PAGES, Latency, SiteConfig, parse_size,
};
pub use dns::DNS_TTL;
pub use error::{LatencyParseError, SiteError, SizeParseError, UnknownName};
pub use legacy::{
    Declaration, EncodedPage, INVALID_BYTES_TITLE, LegacyEncoding, invalid_bytes_page, legacy_page,
};
pub use page::{FULL_PAGE_SIZE, export_pages, page_html};
pub use server::{BackgroundSite, Counters, MAX_COUNTED_NAMES, RouteKind, RunningSite, Site};
pub use tls::{EXPIRED_PREFIX, WRONG_NAME_PREFIX};

/// A URL on `127.0.0.1` where nothing listens, for testing a refused connection: it binds a
/// free port and releases it at once. Another program could take the port in between, so a test
/// should accept "refused" and treat anything else as a failed precondition, not a bug.
pub fn refused_url() -> std::io::Result<String> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    let addr = listener.local_addr()?;
    drop(listener);
    Ok(format!("http://{addr}/"))
}

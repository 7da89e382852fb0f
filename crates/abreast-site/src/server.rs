//! Starting, observing and stopping a site: the accept loop (one hyper HTTP/1.1 keep-alive
//! connection task per socket; with TLS on, a connection that opens with a handshake gets HTTPS
//! and HTTP/2 or HTTP/1.1 by ALPN), the DNS server's tasks, the counters, graceful shutdown, and
//! a background variant with its own runtime thread for synchronous tests and benches.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::{Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::HandshakeKind;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::compress::BombCache;
use crate::config::SiteConfig;
use crate::dns;
use crate::error::SiteError;
use crate::page::PageSet;
use crate::routes;
use crate::tls::Tls;

/// How long a connection may take to finish its response once shutdown begins.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// How long a TLS handshake may take before the connection is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The first byte of a TLS connection (a handshake record).
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// The most distinct SNI names, and (name, type) pairs of DNS queries, counted one by one; past
/// it, new ones count only in the totals.
pub const MAX_COUNTED_NAMES: usize = 1 << 20;

/// The kinds of route the site counts requests by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RouteKind {
    /// `/`: the index page.
    Index,
    /// `/health`: a tiny `ok`.
    Health,
    /// `/page/N` for an existing page.
    Page,
    /// Any path that does not exist (including `/page/N` past the last page).
    NotFound,
    /// `/fault/trickle`.
    Trickle,
    /// `/fault/reset`.
    Reset,
    /// `/fault/stall`.
    Stall,
    /// `/fault/stall-headers`.
    StallHeaders,
    /// `/fault/close`.
    Close,
    /// `/fault/status/CODE`.
    Status,
    /// `/fault/flaky/KEY`.
    Flaky,
    /// `/fault/redirect-loop`.
    RedirectLoop,
    /// `/fault/redirect/N`.
    Redirect,
    /// `/fault/redirect-to`.
    RedirectTo,
    /// `/fault/bomb`.
    Bomb,
    /// `/fault/huge`.
    Huge,
    /// `/fault/encoding/NAME`.
    Encoding,
    /// `/fault/invalid-bytes`.
    InvalidBytes,
    /// `/fault/wrong-length`.
    WrongLength,
    /// `/fault/empty`.
    Empty,
    /// `/fault/compressed`.
    Compressed,
}

impl RouteKind {
    /// Every kind, in declaration order.
    pub const ALL: [RouteKind; 21] = [
        Self::Index,
        Self::Health,
        Self::Page,
        Self::NotFound,
        Self::Trickle,
        Self::Reset,
        Self::Stall,
        Self::StallHeaders,
        Self::Close,
        Self::Status,
        Self::Flaky,
        Self::RedirectLoop,
        Self::Redirect,
        Self::RedirectTo,
        Self::Bomb,
        Self::Huge,
        Self::Encoding,
        Self::InvalidBytes,
        Self::WrongLength,
        Self::Empty,
        Self::Compressed,
    ];

    /// A short stable name, as used in reports: `page`, `not-found`, `trickle`, ...
    pub fn name(self) -> &'static str {
        match self {
            Self::Index => "index",
            Self::Health => "health",
            Self::Page => "page",
            Self::NotFound => "not-found",
            Self::Trickle => "trickle",
            Self::Reset => "reset",
            Self::Stall => "stall",
            Self::StallHeaders => "stall-headers",
            Self::Close => "close",
            Self::Status => "status",
            Self::Flaky => "flaky",
            Self::RedirectLoop => "redirect-loop",
            Self::Redirect => "redirect",
            Self::RedirectTo => "redirect-to",
            Self::Bomb => "bomb",
            Self::Huge => "huge",
            Self::Encoding => "encoding",
            Self::InvalidBytes => "invalid-bytes",
            Self::WrongLength => "wrong-length",
            Self::Empty => "empty",
            Self::Compressed => "compressed",
        }
    }

    fn index(self) -> usize {
        Self::ALL
            .iter()
            .position(|kind| *kind == self)
            .expect("ALL lists every kind")
    }
}

impl fmt::Display for RouteKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What the site has seen so far: connections accepted, requests, requests per route kind,
/// and with TLS and DNS on, handshakes per SNI name and queries per (name, type).
///
/// Tests read it to check that retries happened (`route(RouteKind::Flaky)`), that a client
/// reused its connections (`connections()` well below `requests()`), or that it opened about
/// one connection per host (`tls_connections_for("h17.site.test")`) and asked the name server
/// once per name and type (`dns_queries_for("h17.site.test", "A")`).
#[derive(Debug, Default)]
pub struct Counters {
    connections: AtomicU64,
    requests: AtomicU64,
    routes: [AtomicU64; RouteKind::ALL.len()],
    tls_handshakes: AtomicU64,
    tls_resumed: AtomicU64,
    tls_failures: AtomicU64,
    h2_connections: AtomicU64,
    tls_hosts: Mutex<HashMap<String, u64>>,
    dns_queries: AtomicU64,
    dns_names: Mutex<HashMap<(String, String), u64>>,
    in_flight: AtomicU64,
    most_in_flight: AtomicU64,
}

/// A request being answered: counted in [`Counters::most_in_flight`] until dropped.
pub(crate) struct InFlight<'a>(&'a Counters);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Counters {
    /// TCP connections accepted (HTTP and HTTPS).
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::Relaxed)
    }

    /// HTTPS connections: TLS handshakes completed.
    pub fn tls_handshakes(&self) -> u64 {
        self.tls_handshakes.load(Ordering::Relaxed)
    }

    /// Completed handshakes that resumed an earlier session instead of a full handshake.
    pub fn tls_resumed(&self) -> u64 {
        self.tls_resumed.load(Ordering::Relaxed)
    }

    /// TLS handshakes that failed or timed out (a client that refused the certificate, say).
    pub fn tls_failures(&self) -> u64 {
        self.tls_failures.load(Ordering::Relaxed)
    }

    /// HTTPS connections that negotiated HTTP/2 by ALPN.
    pub fn h2_connections(&self) -> u64 {
        self.h2_connections.load(Ordering::Relaxed)
    }

    /// HTTPS connections whose handshake named this host by SNI (case-insensitive; `""` counts
    /// those without SNI, such as a client connecting to `127.0.0.1`).
    pub fn tls_connections_for(&self, host: &str) -> u64 {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let hosts = self.tls_hosts.lock().expect("counter lock");
        hosts.get(&host).copied().unwrap_or(0)
    }

    /// HTTPS connections per SNI name (lowercase, `""` for none), sorted by name.
    pub fn tls_hosts(&self) -> Vec<(String, u64)> {
        let hosts = self.tls_hosts.lock().expect("counter lock");
        let mut hosts: Vec<_> = hosts.iter().map(|(h, n)| (h.clone(), *n)).collect();
        hosts.sort_unstable();
        hosts
    }

    /// DNS queries answered (or refused) by the site's name server.
    pub fn dns_queries(&self) -> u64 {
        self.dns_queries.load(Ordering::Relaxed)
    }

    /// DNS queries for this name (case-insensitive, with or without the final dot) and record
    /// type (`"A"`, `"AAAA"`, `"MX"`, ...).
    pub fn dns_queries_for(&self, name: &str, record_type: &str) -> u64 {
        let key = (
            name.trim_end_matches('.').to_ascii_lowercase(),
            record_type.to_ascii_uppercase(),
        );
        let names = self.dns_names.lock().expect("counter lock");
        names.get(&key).copied().unwrap_or(0)
    }

    /// DNS queries per (name, record type), sorted.
    pub fn dns_query_counts(&self) -> Vec<(String, String, u64)> {
        let names = self.dns_names.lock().expect("counter lock");
        let mut counts: Vec<_> = names
            .iter()
            .map(|((name, kind), n)| (name.clone(), kind.clone(), *n))
            .collect();
        counts.sort_unstable();
        counts
    }

    fn count_tls(&self, host: &str, h2: bool, resumed: bool) {
        self.tls_handshakes.fetch_add(1, Ordering::Relaxed);
        if h2 {
            self.h2_connections.fetch_add(1, Ordering::Relaxed);
        }
        if resumed {
            self.tls_resumed.fetch_add(1, Ordering::Relaxed);
        }
        let mut hosts = self.tls_hosts.lock().expect("counter lock");
        if let Some(count) = hosts.get_mut(host) {
            *count += 1;
        } else if hosts.len() < MAX_COUNTED_NAMES {
            hosts.insert(host.to_owned(), 1);
        }
    }

    pub(crate) fn count_dns_query(&self, name: &str, record_type: &str) {
        self.dns_queries.fetch_add(1, Ordering::Relaxed);
        let key = (name.to_owned(), record_type.to_owned());
        let mut names = self.dns_names.lock().expect("counter lock");
        if let Some(count) = names.get_mut(&key) {
            *count += 1;
        } else if names.len() < MAX_COUNTED_NAMES {
            names.insert(key, 1);
        }
    }

    /// HTTP requests received (counted when their head has been read).
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Requests routed to this kind of route.
    pub fn route(&self, kind: RouteKind) -> u64 {
        self.routes[kind.index()].load(Ordering::Relaxed)
    }

    /// Every route kind with a nonzero count.
    pub fn routes(&self) -> Vec<(RouteKind, u64)> {
        RouteKind::ALL
            .into_iter()
            .map(|kind| (kind, self.route(kind)))
            .filter(|(_, count)| *count > 0)
            .collect()
    }

    /// The most requests that were being answered at once (from the start of their latency to
    /// their response's headers): a test of a client's concurrency caps reads it.
    pub fn most_in_flight(&self) -> u64 {
        self.most_in_flight.load(Ordering::SeqCst)
    }

    /// Counts a request as being answered until the guard is dropped.
    pub(crate) fn enter(&self) -> InFlight<'_> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_in_flight.fetch_max(now, Ordering::SeqCst);
        InFlight(self)
    }

    /// Counts a request and returns its sequence number (0 for the first).
    pub(crate) fn count_request(&self) -> u64 {
        self.requests.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn count_route(&self, kind: RouteKind) {
        self.routes[kind.index()].fetch_add(1, Ordering::Relaxed);
    }
}

/// Everything the request handlers share for one site.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: SiteConfig,
    pub(crate) pages: PageSet,
    pub(crate) counters: Counters,
    pub(crate) bombs: BombCache,
    /// Requests seen per `/fault/flaky/KEY`, bounded by [`routes::MAX_FLAKY_KEYS`].
    pub(crate) flaky: Mutex<HashMap<String, u64>>,
    pub(crate) shutdown: CancellationToken,
    /// The CA and acceptor, when the site serves HTTPS.
    pub(crate) tls: Option<Tls>,
}

/// Where a started site can be reached, kept by both handles.
#[derive(Debug, Clone)]
struct Endpoints {
    addr: SocketAddr,
    base_url: String,
    https_base_url: Option<String>,
    dns_addr: Option<SocketAddr>,
}

/// The entry point: start a site on the current runtime or on a background thread.
#[derive(Debug)]
pub struct Site;

impl Site {
    /// Binds `config.addr`, builds the page set and starts serving on the current tokio runtime.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use abreast_site::{Site, SiteConfig};
    /// let site = Site::start(SiteConfig::default()).await.unwrap();
    /// assert!(site.base_url().starts_with("http://127.0.0.1:"));
    /// site.shutdown().await;
    /// # }
    /// ```
    pub async fn start(mut config: SiteConfig) -> Result<RunningSite, SiteError> {
        config.domain = dns::normalize_domain(&config.domain)?;
        let listener = listen(config.addr).map_err(|source| SiteError::Bind {
            addr: config.addr,
            source,
        })?;
        let addr = listener.local_addr().map_err(|source| SiteError::Bind {
            addr: config.addr,
            source,
        })?;
        let base_url = format!("http://{addr}");
        let pages = PageSet::new(&config, &base_url)?;
        let tls = if config.tls { Some(Tls::new()?) } else { None };
        let https_base_url = tls
            .as_ref()
            .map(|_| format!("https://{}:{}", config.domain, addr.port()));
        let dns_sockets = match config.dns {
            Some(dns_addr) => Some(dns::bind(dns_addr).await?),
            None => None,
        };
        let dns_addr = match &dns_sockets {
            Some((udp, _)) => Some(udp.local_addr().map_err(|source| SiteError::Bind {
                addr: config.dns.unwrap_or(addr),
                source,
            })?),
            None => None,
        };
        // Names resolve to ::1 as well as 127.0.0.1: listen there too, when the site is on
        // 127.0.0.1 with its own name server, so a client that tries IPv6 first gets through.
        // Best effort: a host without IPv6, or with the port taken there, skips it.
        let ipv6 = if dns_sockets.is_some() && addr.ip().is_loopback() && addr.is_ipv4() {
            listen((Ipv6Addr::LOCALHOST, addr.port()).into()).ok()
        } else {
            None
        };
        let shutdown = CancellationToken::new();
        let shared = Arc::new(Shared {
            config,
            pages,
            counters: Counters::default(),
            bombs: BombCache::default(),
            flaky: Mutex::default(),
            shutdown: shutdown.clone(),
            tls,
        });
        let tracker = TaskTracker::new();
        let mut tasks = vec![tokio::spawn(accept_loop(
            listener,
            Arc::clone(&shared),
            tracker.clone(),
        ))];
        if let Some(ipv6) = ipv6 {
            tasks.push(tokio::spawn(accept_loop(
                ipv6,
                Arc::clone(&shared),
                tracker.clone(),
            )));
        }
        if let Some((udp, tcp)) = dns_sockets {
            tasks.push(tokio::spawn(dns::serve_udp(udp, Arc::clone(&shared))));
            tasks.push(tokio::spawn(dns::serve_tcp(
                tcp,
                Arc::clone(&shared),
                tracker.clone(),
            )));
        }
        Ok(RunningSite {
            endpoints: Endpoints {
                addr,
                base_url,
                https_base_url,
                dns_addr,
            },
            shared,
            tracker,
            tasks,
        })
    }

    /// Starts the site on its own thread with its own single-threaded tokio runtime (measured
    /// faster than two workers on two cores; see the README), for synchronous tests and benches.
    /// Returns once the site is listening; dropping the handle stops it.
    pub fn start_in_background(config: SiteConfig) -> Result<BackgroundSite, SiteError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(SiteError::Runtime)?;
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let stop = CancellationToken::new();
        let stop_signal = stop.clone();
        let thread = std::thread::Builder::new()
            .name("abreast-site".to_owned())
            .spawn(move || {
                runtime.block_on(async move {
                    match Site::start(config).await {
                        Ok(site) => {
                            let handle = (site.endpoints.clone(), Arc::clone(&site.shared));
                            if started_tx.send(Ok(handle)).is_ok() {
                                stop_signal.cancelled().await;
                            }
                            site.shutdown().await;
                        }
                        Err(error) => {
                            let _ = started_tx.send(Err(error));
                        }
                    }
                });
                // A bomb still being compressed on the blocking pool must not hold up the drop.
                runtime.shutdown_timeout(SHUTDOWN_GRACE);
            })
            .map_err(SiteError::Runtime)?;
        match started_rx.recv() {
            Ok(Ok((endpoints, shared))) => Ok(BackgroundSite {
                endpoints,
                shared,
                stop,
                thread: Some(thread),
            }),
            Ok(Err(error)) => {
                let _ = thread.join();
                Err(error)
            }
            Err(_) => {
                let _ = thread.join();
                Err(SiteError::Runtime(io::Error::other(
                    "the site's thread ended before it started listening",
                )))
            }
        }
    }
}

/// A site serving on the caller's runtime. Stop it with [`shutdown`](Self::shutdown) (graceful:
/// waits for connections to finish) or by dropping it (stops accepting at once; connections end
/// as soon as their current response is done).
#[derive(Debug)]
pub struct RunningSite {
    endpoints: Endpoints,
    shared: Arc<Shared>,
    tracker: TaskTracker,
    tasks: Vec<JoinHandle<()>>,
}

/// The accessors both handles share.
macro_rules! endpoint_accessors {
    () => {
        /// The base URL, `http://127.0.0.1:PORT`, with no trailing slash.
        pub fn base_url(&self) -> &str {
            &self.endpoints.base_url
        }

        /// The address the site listens on.
        pub fn addr(&self) -> SocketAddr {
            self.endpoints.addr
        }

        /// With [`SiteConfig::tls`]: the HTTPS base URL on the site's domain,
        /// `https://site.test:PORT` (no trailing slash). Any name under the domain works the
        /// same (`https://h17.site.test:PORT`) once it resolves to the site: through the site's
        /// DNS server ([`SiteConfig::dns`]) or the client's own override (curl's `--resolve`).
        pub fn https_base_url(&self) -> Option<&str> {
            self.endpoints.https_base_url.as_deref()
        }

        /// With [`SiteConfig::tls`]: the PEM of the CA that signs every certificate the site
        /// serves, for the client to trust (curl's `--cacert`).
        pub fn ca_pem(&self) -> Option<&str> {
            self.shared.tls.as_ref().map(|tls| tls.ca_pem.as_str())
        }

        /// With [`SiteConfig::dns`]: the address of the site's DNS server (UDP and TCP).
        pub fn dns_addr(&self) -> Option<SocketAddr> {
            self.endpoints.dns_addr
        }

        /// The site's domain, lowercased, without a final dot: `site.test` by default.
        pub fn domain(&self) -> &str {
            &self.shared.config.domain
        }
    };
}

impl RunningSite {
    endpoint_accessors!();

    /// The request and connection counters.
    pub fn counters(&self) -> &Counters {
        &self.shared.counters
    }

    /// How many requests `/fault/flaky/KEY` has seen for this key.
    pub fn flaky_attempts(&self, key: &str) -> u64 {
        routes::flaky_attempts(&self.shared, key)
    }

    /// Stops accepting (the port is free when this returns), ends the stalled and trickling
    /// responses, lets every other response finish (for at most a second) and waits for every
    /// connection to close.
    pub async fn shutdown(mut self) {
        self.shared.shutdown.cancel();
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
        self.tracker.close();
        self.tracker.wait().await;
    }
}

impl Drop for RunningSite {
    fn drop(&mut self) {
        self.shared.shutdown.cancel();
    }
}

/// A site running on its own thread and runtime; dropping it shuts the site down and joins the
/// thread.
#[derive(Debug)]
pub struct BackgroundSite {
    endpoints: Endpoints,
    shared: Arc<Shared>,
    stop: CancellationToken,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl BackgroundSite {
    endpoint_accessors!();

    /// The request and connection counters.
    pub fn counters(&self) -> &Counters {
        &self.shared.counters
    }

    /// How many requests `/fault/flaky/KEY` has seen for this key.
    pub fn flaky_attempts(&self, key: &str) -> u64 {
        routes::flaky_attempts(&self.shared, key)
    }
}

impl Drop for BackgroundSite {
    fn drop(&mut self) {
        self.stop.cancel();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, tracker: TaskTracker) {
    loop {
        let accepted = tokio::select! {
            _ = shared.shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(_) => {
                // Out of file descriptors or a connection that died in the backlog: wait a
                // little rather than spin, then keep serving.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        shared.counters.connections.fetch_add(1, Ordering::Relaxed);
        let _ = stream.set_nodelay(true);
        tracker.spawn(serve_connection(stream, Arc::clone(&shared)));
    }
}

async fn serve_connection(stream: TcpStream, shared: Arc<Shared>) {
    if let Some(tls) = &shared.tls {
        let mut first = [0u8; 1];
        let peeked = tokio::select! {
            _ = shared.shutdown.cancelled() => return,
            peeked = stream.peek(&mut first) => peeked,
        };
        match peeked {
            Ok(1..) if first[0] == TLS_HANDSHAKE_RECORD => {
                return serve_tls(stream, tls, &shared).await;
            }
            Ok(1..) => {}
            // Closed before it said anything.
            Ok(0) | Err(_) => return,
        }
    }
    let reset = Arc::new(AtomicBool::new(false));
    let io = SiteStream {
        inner: stream,
        reset: Arc::clone(&reset),
    };
    serve_http1(io, reset, shared).await;
}

/// Drives a hyper connection until it ends, or until shutdown and then its grace period.
macro_rules! drive {
    ($connection:expr, $shared:expr) => {{
        let connection = $connection;
        tokio::pin!(connection);
        tokio::select! {
            _ = connection.as_mut() => {}
            _ = $shared.shutdown.cancelled() => {
                connection.as_mut().graceful_shutdown();
                let _ = tokio::time::timeout(SHUTDOWN_GRACE, connection).await;
            }
        }
    }};
}

async fn serve_http1<I>(io: I, reset: Arc<AtomicBool>, shared: Arc<Shared>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = {
        let shared = Arc::clone(&shared);
        service_fn(move |request| routes::handle(Arc::clone(&shared), Arc::clone(&reset), request))
    };
    drive!(
        http1::Builder::new()
            .keep_alive(true)
            .serve_connection(TokioIo::new(io), service),
        shared
    );
}

/// The TLS handshake (bounded in time), counted per SNI name, then HTTP/2 or HTTP/1.1 as ALPN
/// chose.
async fn serve_tls(stream: TcpStream, tls: &Tls, shared: &Arc<Shared>) {
    let reset = Arc::new(AtomicBool::new(false));
    let io = SiteStream {
        inner: stream,
        reset: Arc::clone(&reset),
    };
    let handshake = tokio::select! {
        _ = shared.shutdown.cancelled() => return,
        handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.acceptor.accept(io)) => handshake,
    };
    let Ok(Ok(stream)) = handshake else {
        shared.counters.tls_failures.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let connection = stream.get_ref().1;
    let host = connection
        .server_name()
        .unwrap_or("")
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let h2 = connection.alpn_protocol() == Some(b"h2");
    let resumed = connection.handshake_kind() == Some(HandshakeKind::Resumed);
    shared.counters.count_tls(&host, h2, resumed);
    if !h2 {
        return serve_http1(stream, reset, Arc::clone(shared)).await;
    }
    let service = {
        let shared = Arc::clone(shared);
        service_fn(move |request| routes::handle(Arc::clone(&shared), Arc::clone(&reset), request))
    };
    drive!(
        http2::Builder::new(TokioExecutor::new()).serve_connection(TokioIo::new(stream), service),
        shared
    );
}

/// The accepted socket, with a flag that the `/fault/reset` body raises: when hyper drops the
/// connection after that body's error, the socket is closed with a zero linger, which sends a
/// TCP RST instead of a FIN.
#[derive(Debug)]
struct SiteStream {
    inner: TcpStream,
    reset: Arc<AtomicBool>,
}

impl Drop for SiteStream {
    fn drop(&mut self) {
        if self.reset.load(Ordering::Acquire) {
            let _ = self.inner.set_zero_linger();
        }
    }
}

impl AsyncRead for SiteStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for SiteStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Connections the kernel holds for the site before it accepts them (the kernel caps it at
/// `net.core.somaxconn`, 4096 by default). Clients that open hundreds of connections at once
/// (several workers starting on one job, each with 256 requests in flight) overflow the 128 of
/// tokio's `TcpListener::bind` (the standard library's value); an overflowed connection waits
/// for a retransmission, 200 ms to 1 s.
const ACCEPT_BACKLOG: u32 = 4096;

/// A listener on `addr` with [`ACCEPT_BACKLOG`].
fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    // As tokio's own bind: a port left in TIME_WAIT by the last run can be bound again (not on
    // Windows, where it would let another program take a port in use).
    #[cfg(not(windows))]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(ACCEPT_BACKLOG)
}

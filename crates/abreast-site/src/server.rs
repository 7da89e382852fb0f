//! Starting, observing and stopping a site: the accept loop (one hyper HTTP/1.1 keep-alive
//! connection task per socket), the request counters, graceful shutdown, and a background variant
//! with its own runtime thread for synchronous tests and benches.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::compress::BombCache;
use crate::config::SiteConfig;
use crate::error::SiteError;
use crate::page::PageSet;
use crate::routes;

/// How long a connection may take to finish its response once shutdown begins.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

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

/// What the site has seen so far: connections accepted, requests, requests per route kind.
///
/// Tests read it to check that retries happened (`route(RouteKind::Flaky)`) or that a client
/// reused its connections (`connections()` well below `requests()`).
#[derive(Debug, Default)]
pub struct Counters {
    connections: AtomicU64,
    requests: AtomicU64,
    routes: [AtomicU64; RouteKind::ALL.len()],
}

impl Counters {
    /// TCP connections accepted.
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::Relaxed)
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
    pub async fn start(config: SiteConfig) -> Result<RunningSite, SiteError> {
        let listener = TcpListener::bind(config.addr)
            .await
            .map_err(|source| SiteError::Bind {
                addr: config.addr,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| SiteError::Bind {
            addr: config.addr,
            source,
        })?;
        let base_url = format!("http://{addr}");
        let pages = PageSet::new(&config, &base_url)?;
        let shutdown = CancellationToken::new();
        let shared = Arc::new(Shared {
            config,
            pages,
            counters: Counters::default(),
            bombs: BombCache::default(),
            flaky: Mutex::default(),
            shutdown: shutdown.clone(),
        });
        let tracker = TaskTracker::new();
        let accept = tokio::spawn(accept_loop(listener, Arc::clone(&shared), tracker.clone()));
        Ok(RunningSite {
            addr,
            base_url,
            shared,
            tracker,
            accept: Some(accept),
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
                            let handle =
                                (site.addr, site.base_url.clone(), Arc::clone(&site.shared));
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
            Ok(Ok((addr, base_url, shared))) => Ok(BackgroundSite {
                addr,
                base_url,
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
    addr: SocketAddr,
    base_url: String,
    shared: Arc<Shared>,
    tracker: TaskTracker,
    accept: Option<JoinHandle<()>>,
}

impl RunningSite {
    /// The base URL, `http://127.0.0.1:PORT`, with no trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The address the site listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

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
        if let Some(accept) = self.accept.take() {
            let _ = accept.await;
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
    addr: SocketAddr,
    base_url: String,
    shared: Arc<Shared>,
    stop: CancellationToken,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl BackgroundSite {
    /// The base URL, `http://127.0.0.1:PORT`, with no trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The address the site listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

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
    let reset = Arc::new(AtomicBool::new(false));
    let io = TokioIo::new(SiteStream {
        inner: stream,
        reset: Arc::clone(&reset),
    });
    let service = {
        let shared = Arc::clone(&shared);
        service_fn(move |request| routes::handle(Arc::clone(&shared), Arc::clone(&reset), request))
    };
    let connection = http1::Builder::new()
        .keep_alive(true)
        .serve_connection(io, service);
    tokio::pin!(connection);
    tokio::select! {
        _ = connection.as_mut() => {}
        _ = shared.shutdown.cancelled() => {
            connection.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(SHUTDOWN_GRACE, connection).await;
        }
    }
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

//! Name lookups for both HTTP stacks: one caching resolver per run, on hickory-resolver.
//!
//! reqwest's default resolver runs each `getaddrinfo` on a blocking thread and caches nothing;
//! ureq's starts a thread per lookup. On a list of thousands of hosts the lookups then queue
//! behind the request's time limit and fail as time-outs. [`Resolver`] instead:
//!
//! - looks names up asynchronously with hickory-resolver (the system's name servers from
//!   `/etc/resolv.conf` and its hosts file, or those of `--dns-server`), on one thread of its
//!   own that starts with the first name to look up (a run of IP addresses never starts it);
//! - makes one lookup at a time per name: requests for a name being looked up wait for that
//!   lookup instead of starting their own;
//! - keeps each answer until its TTL runs out, and each failure for [`FAILURE_TTL`];
//! - gives up after the run's `--connect-timeout` with a [`DnsError`] that says so, so a name
//!   server that never answers costs each of its hosts that long and no more, while the other
//!   hosts go on.
//!
//! The async stack uses it through reqwest's resolver hook ([`ForReqwest`]), the blocking stack
//! through ureq's resolver trait ([`ForUreq`]); both stacks also look a URL's host up before
//! the request ([`Resolver::lookup`], [`Resolver::lookup_blocking`]), so a name that does not
//! resolve is a record of kind `dns`, never a time-out.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hickory_resolver::config::{LookupIpStrategy, NameServerConfig, ResolverConfig};
use hickory_resolver::net::NetError;
use hickory_resolver::net::runtime::iocompat::AsyncIoTokioAsStd;
use hickory_resolver::net::runtime::{
    DnsUdpSocket, RuntimeProvider, TokioHandle, TokioRuntimeProvider, TokioTime,
};
use hickory_resolver::proto::rr::Name;
use tokio::io::Interest;

/// hickory's resolver on [`ConnectedUdp`] sockets.
type HickoryResolver = hickory_resolver::Resolver<ConnectedUdp>;

/// How long a failed lookup is remembered: the URLs of a name that does not resolve fail at
/// once for this long instead of asking again.
pub const FAILURE_TTL: Duration = Duration::from_secs(10);

/// Names remembered at most; past this, expired entries are dropped, then the oldest half.
const CACHE_ENTRIES: usize = 65_536;

/// Why a name did not resolve. Its message names the host and the cause.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("could not resolve {host}: {cause}")]
pub struct DnsError {
    /// The name looked up.
    pub host: String,
    /// What went wrong, in words.
    pub cause: String,
}

impl DnsError {
    fn new(host: &str, cause: impl Into<String>) -> DnsError {
        DnsError {
            host: host.to_owned(),
            cause: cause.into(),
        }
    }
}

/// How long an answer given by [`Resolver::seed`] is kept: the parent sends it again with
/// each job for the host, fresh from its own cache.
pub const SEEDED_TTL: Duration = Duration::from_secs(30);

/// The addresses of one name, as looked up (port 0: the caller adds its own).
pub type Addresses = Arc<[IpAddr]>;

type Outcome = Result<Addresses, DnsError>;

/// One name in the cache: answered (until a time), or being looked up (with whoever waits).
enum Entry {
    Answered { outcome: Outcome, until: Instant },
    Pending(Vec<flume::Sender<Outcome>>),
}

/// The answers of a run, shared by the lookup thread and every caller.
#[derive(Default)]
struct Cache {
    entries: Mutex<HashMap<String, Entry>>,
}

/// What a caller must do for a name.
enum Claim {
    /// The answer is known.
    Known(Outcome),
    /// Another caller is looking it up: wait on this.
    Wait(flume::Receiver<Outcome>),
    /// Nobody is: this caller starts the lookup, then waits on this.
    Start(flume::Receiver<Outcome>),
}

impl Cache {
    fn claim(&self, host: &str) -> Claim {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        match entries.get_mut(host) {
            Some(Entry::Answered { outcome, until }) if *until > Instant::now() => {
                Claim::Known(outcome.clone())
            }
            Some(Entry::Pending(waiters)) => {
                let (sender, receiver) = flume::bounded(1);
                waiters.push(sender);
                Claim::Wait(receiver)
            }
            _ => {
                if entries.len() >= CACHE_ENTRIES {
                    shrink(&mut entries);
                }
                let (sender, receiver) = flume::bounded(1);
                entries.insert(host.to_owned(), Entry::Pending(vec![sender]));
                Claim::Start(receiver)
            }
        }
    }

    /// Records the outcome of the lookup of `host` and hands it to everyone waiting for it.
    fn answer(&self, host: &str, outcome: Outcome, until: Instant) {
        let waiters = {
            let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            let entry = Entry::Answered {
                outcome: outcome.clone(),
                until,
            };
            match entries.insert(host.to_owned(), entry) {
                Some(Entry::Pending(waiters)) => waiters,
                _ => Vec::new(),
            }
        };
        for waiter in waiters {
            let _ = waiter.send(outcome.clone());
        }
    }
}

/// Makes room in a full cache: drops the expired answers, and if that is not enough, half of
/// the answers, soonest to expire first. Lookups in flight are kept.
fn shrink(entries: &mut HashMap<String, Entry>) {
    let now = Instant::now();
    entries.retain(|_, entry| match entry {
        Entry::Answered { until, .. } => *until > now,
        Entry::Pending(_) => true,
    });
    if entries.len() < CACHE_ENTRIES {
        return;
    }
    let mut ends: Vec<Instant> = entries
        .values()
        .filter_map(|entry| match entry {
            Entry::Answered { until, .. } => Some(*until),
            Entry::Pending(_) => None,
        })
        .collect();
    ends.sort_unstable();
    if let Some(&cut) = ends.get(ends.len() / 2) {
        entries.retain(|_, entry| match entry {
            Entry::Answered { until, .. } => *until > cut,
            Entry::Pending(_) => true,
        });
    }
}

/// How a run looks names up.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DnsConfig {
    /// Name servers to ask instead of the system's (`--dns-server`); empty: the system's.
    pub servers: Vec<SocketAddr>,
    /// How long one name may take, all its queries and retries together (the run's
    /// `--connect-timeout`, or its `--timeout` if shorter).
    pub deadline: Duration,
    /// The flag that set `deadline`, for the message of a name that got no answer in time.
    pub deadline_flag: &'static str,
}

/// The caching resolver of one run. Clones share the cache and the lookup thread.
#[derive(Clone)]
pub struct Resolver {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolver")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

struct Inner {
    config: DnsConfig,
    cache: Arc<Cache>,
    /// The lookup thread's queue and handle, once started; or why it could not start.
    thread: Mutex<Option<Result<LookupThread, DnsError>>>,
}

struct LookupThread {
    queue: flume::Sender<String>,
    handle: std::thread::JoinHandle<()>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let thread = self
            .thread
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(Ok(LookupThread { queue, handle })) = thread {
            // The closed queue ends the thread; its lookups in flight are dropped with its
            // runtime.
            drop(queue);
            if handle.thread().id() != std::thread::current().id() {
                let _ = handle.join();
            }
        }
    }
}

impl Resolver {
    /// A resolver for `config`. Nothing starts until the first name is looked up.
    pub fn new(config: DnsConfig) -> Resolver {
        Resolver {
            inner: Arc::new(Inner {
                config,
                cache: Arc::new(Cache::default()),
                thread: Mutex::new(None),
            }),
        }
    }

    /// The addresses of `host`, waiting without blocking the runtime. A host written as an IP
    /// address is its own answer.
    pub async fn lookup(&self, host: &str) -> Outcome {
        match self.claim(host) {
            Claim::Known(outcome) => outcome,
            Claim::Wait(receiver) | Claim::Start(receiver) => receiver
                .recv_async()
                .await
                .unwrap_or_else(|_| Err(stopped(host))),
        }
    }

    /// Takes `addresses` as `host`'s answer for [`SEEDED_TTL`]: a process worker's resolver is
    /// given each job's answer by its parent, which looked the name up once for all workers.
    pub fn seed(&self, host: &str, addresses: &[IpAddr]) {
        let until = Instant::now() + SEEDED_TTL;
        let answer = Ok(Arc::from(addresses));
        self.inner
            .cache
            .answer(&host.to_ascii_lowercase(), answer, until);
    }

    /// [`lookup`](Self::lookup), blocking the calling thread.
    pub fn lookup_blocking(&self, host: &str) -> Outcome {
        match self.claim(host) {
            Claim::Known(outcome) => outcome,
            Claim::Wait(receiver) | Claim::Start(receiver) => {
                receiver.recv().unwrap_or_else(|_| Err(stopped(host)))
            }
        }
    }

    /// What the caller must do for `host`; a lookup to start is handed to the lookup thread.
    fn claim(&self, host: &str) -> Claim {
        let bare = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        if let Ok(ip) = bare.parse::<IpAddr>() {
            return Claim::Known(Ok(Arc::from([ip])));
        }
        // Both clients hand names lowercased already; a copy only for one that is not.
        let host: std::borrow::Cow<'_, str> = if host.bytes().any(|b| b.is_ascii_uppercase()) {
            host.to_ascii_lowercase().into()
        } else {
            host.into()
        };
        let claim = self.inner.cache.claim(&host);
        if let Claim::Start(_) = &claim
            && let Err(error) = self.start(&host)
        {
            let until = Instant::now() + FAILURE_TTL;
            self.inner.cache.answer(&host, Err(error), until);
        }
        claim
    }

    /// Hands `host` to the lookup thread, starting it first if need be.
    fn start(&self, host: &str) -> Result<(), DnsError> {
        let mut thread = self.inner.thread.lock().unwrap_or_else(|p| p.into_inner());
        let started = thread.get_or_insert_with(|| {
            LookupThread::start(self.inner.config.clone(), Arc::clone(&self.inner.cache))
        });
        match started {
            Ok(running) => running
                .queue
                .send(host.to_owned())
                .map_err(|_| stopped(host)),
            Err(error) => Err(DnsError::new(host, error.cause.clone())),
        }
    }
}

fn stopped(host: &str) -> DnsError {
    DnsError::new(
        host,
        "the lookup thread stopped (a bug in abreast; please report it)",
    )
}

impl LookupThread {
    /// Starts the thread that looks names up: a current-thread runtime running hickory, one task
    /// per name.
    fn start(config: DnsConfig, cache: Arc<Cache>) -> Result<LookupThread, DnsError> {
        let resolver = build(&config)?;
        let (queue, names) = flume::unbounded::<String>();
        let handle = std::thread::Builder::new()
            .name("abreast-dns".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(error) => {
                        let cause = format!("could not start the lookup runtime: {error}");
                        for name in names.drain() {
                            let until = Instant::now() + FAILURE_TTL;
                            cache.answer(&name, Err(DnsError::new(&name, cause.clone())), until);
                        }
                        return;
                    }
                };
                let config = Arc::new(config);
                runtime.block_on(async move {
                    while let Ok(name) = names.recv_async().await {
                        let (resolver, cache) = (resolver.clone(), Arc::clone(&cache));
                        let config = Arc::clone(&config);
                        tokio::spawn(async move {
                            let (outcome, until) = resolve(&resolver, &name, &config).await;
                            cache.answer(&name, outcome, until);
                        });
                    }
                });
            })
            .map_err(|error| {
                DnsError::new("", format!("could not start the lookup thread: {error}"))
            })?;
        Ok(LookupThread { queue, handle })
    }
}

/// hickory's tokio runtime, with each query's UDP socket connected to its name server.
///
/// hickory sends each query from an unconnected socket, which the kernel never tells of an
/// ICMP "port unreachable": a `--dns-server` where nothing listens then costs each name the
/// whole `--connect-timeout`. A connected socket hears the refusal at once (its next read
/// fails with `ConnectionRefused`), so such a name fails as fast as the server refuses; the
/// kernel also drops datagrams from any other address before hickory reads them.
#[derive(Clone, Default)]
struct ConnectedUdp(TokioRuntimeProvider);

impl RuntimeProvider for ConnectedUdp {
    type Handle = TokioHandle;
    type Timer = TokioTime;
    type Udp = ConnectedSocket;
    type Tcp = AsyncIoTokioAsStd<tokio::net::TcpStream>;

    fn create_handle(&self) -> Self::Handle {
        self.0.create_handle()
    }

    fn connect_tcp(
        &self,
        server: SocketAddr,
        bind: Option<SocketAddr>,
        wait_for: Option<Duration>,
    ) -> Pin<Box<dyn Send + Future<Output = io::Result<Self::Tcp>>>> {
        self.0.connect_tcp(server, bind, wait_for)
    }

    fn bind_udp(
        &self,
        local: SocketAddr,
        server: SocketAddr,
    ) -> Pin<Box<dyn Send + Future<Output = io::Result<Self::Udp>>>> {
        Box::pin(async move {
            let socket = tokio::net::UdpSocket::bind(local).await?;
            socket.connect(server).await?;
            Ok(ConnectedSocket(socket))
        })
    }
}

/// A UDP socket connected to one name server: it sends only there, whatever address hickory
/// names (always that server), and reads only what comes from there.
struct ConnectedSocket(tokio::net::UdpSocket);

impl DnsUdpSocket for ConnectedSocket {
    type Time = TokioTime;

    /// Waits for an answer or a refusal. The kernel signals a refusal as an error alone
    /// (`EPOLLERR`, never readable), which a wait for readability would sleep through: this
    /// waits for either, then reads, and the read returns the refusal.
    ///
    /// The trait is `#[async_trait]`; this is its expansion, written out.
    fn recv_from<'socket, 'buffer, 'future>(
        &'socket self,
        buf: &'buffer mut [u8],
    ) -> Pin<Box<dyn Future<Output = io::Result<(usize, SocketAddr)>> + Send + 'future>>
    where
        'socket: 'future,
        'buffer: 'future,
        Self: 'future,
    {
        Box::pin(async move {
            loop {
                let ready = self.0.ready(Interest::READABLE | Interest::ERROR).await?;
                if ready.is_error() {
                    // Reading the socket's error clears it; finding none clears the readiness,
                    // so the next wait sleeps instead of spinning.
                    let refusal = self.0.try_io(Interest::ERROR, || {
                        self.0
                            .take_error()?
                            .ok_or_else(|| io::ErrorKind::WouldBlock.into())
                    });
                    if let Ok(refusal) = refusal {
                        return Err(refusal);
                    }
                }
                if ready.is_readable() {
                    match self.0.try_recv_from(buf) {
                        Err(error) if error.kind() == io::ErrorKind::WouldBlock => continue,
                        read => return read,
                    }
                }
            }
        })
    }

    fn poll_recv_from(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<(usize, SocketAddr)>> {
        let mut buf = tokio::io::ReadBuf::new(buf);
        let from = std::task::ready!(self.0.poll_recv_from(cx, &mut buf))?;
        Poll::Ready(Ok((buf.filled().len(), from)))
    }

    fn poll_send_to(
        &self,
        cx: &mut Context<'_>,
        buf: &[u8],
        _server: SocketAddr,
    ) -> Poll<io::Result<usize>> {
        self.0.poll_send(cx, buf)
    }
}

/// The hickory resolver for `config`: the given name servers, or the system's.
fn build(config: &DnsConfig) -> Result<HickoryResolver, DnsError> {
    let provider = ConnectedUdp::default();
    let mut builder = if config.servers.is_empty() {
        HickoryResolver::builder(provider).map_err(|error| {
            DnsError::new(
                "",
                format!(
                    "could not read the system's DNS configuration ({error}); \
                     name a server with --dns-server IP[:PORT]"
                ),
            )
        })?
    } else {
        let servers = config
            .servers
            .iter()
            .map(|server| {
                let mut name_server = NameServerConfig::udp_and_tcp(server.ip());
                for connection in &mut name_server.connections {
                    connection.port = server.port();
                }
                name_server
            })
            .collect();
        HickoryResolver::builder_with_config(ResolverConfig::from_name_servers(servers), provider)
    };
    let options = builder.options_mut();
    // A first, and AAAA only for a name with no A record: one query for most names (each
    // query is a fresh UDP socket, whose set-up is most of a lookup's CPU), and a host with
    // only IPv6 is still reached. Most hosts with both are reached on either, and many
    // networks have no IPv6 route.
    options.ip_strategy = LookupIpStrategy::Ipv4thenIpv6;
    // Each query may take a third of the deadline, so a lost packet is asked again in time.
    options.timeout =
        (config.deadline / 3).clamp(Duration::from_millis(100), Duration::from_secs(5));
    options.attempts = 2;
    // This cache is the one that counts; hickory's own stays small.
    options.cache_size = 1024;
    builder
        .build()
        .map_err(|error| DnsError::new("", format!("could not set up the resolver: {error}")))
}

/// Looks `name` up within the run's deadline: its outcome and until when to keep it.
async fn resolve(resolver: &HickoryResolver, name: &str, config: &DnsConfig) -> (Outcome, Instant) {
    let deadline = config.deadline;
    let failed = |cause: String| {
        (
            Err(DnsError::new(name, cause)),
            Instant::now() + FAILURE_TTL,
        )
    };
    let silent = || {
        failed(format!(
            "no answer from the name servers within {} ({})",
            crate::http::words::in_seconds(deadline),
            config.deadline_flag
        ))
    };
    // The URL parser has made the host ASCII (an international name is in punycode); taken as
    // ASCII, a name may hold `_`, as many do (`_dmarc`, hosts of old intranets), where hickory's
    // reading of text as UTF-8 (IDNA rules) refuses it.
    let dns_name = match Name::from_ascii(name) {
        Ok(dns_name) => dns_name,
        Err(error) => return failed(format!("not a name DNS can look up: {error}")),
    };
    match tokio::time::timeout(deadline, resolver.lookup_ip(dns_name)).await {
        // hickory's own time limits (a third of the deadline per query) may end it first.
        Err(_) | Ok(Err(NetError::Timeout)) => silent(),
        Ok(Err(error)) if error.is_nx_domain() => failed("no such domain (NXDOMAIN)".into()),
        Ok(Err(error)) if error.is_no_records_found() => {
            failed("the name has no A or AAAA record".into())
        }
        // A name server refused the query (nothing listens on its port) or its connection
        // failed; hickory then says "no connections available" for all of them.
        Ok(Err(NetError::Io(error))) => failed(unreachable(&config.servers, &error.to_string())),
        Ok(Err(NetError::NoConnections)) => {
            failed(unreachable(&config.servers, "refused or failed"))
        }
        Ok(Err(error)) => failed(error.to_string()),
        Ok(Ok(answer)) => {
            let addresses: Addresses = answer.iter().collect();
            if addresses.is_empty() {
                failed("the name has no A or AAAA record".into())
            } else {
                (Ok(addresses), answer.valid_until())
            }
        }
    }
}

/// Why no name server answered when each refused or failed, naming them and what to check.
fn unreachable(servers: &[SocketAddr], why: &str) -> String {
    if servers.is_empty() {
        format!(
            "the system's name servers (/etc/resolv.conf) could not be reached ({why}); check \
             this machine's DNS set-up, or name a server with --dns-server IP[:PORT]"
        )
    } else {
        let (noun, there) = match servers.len() {
            1 => ("name server", "there"),
            _ => ("name servers", "at one of them"),
        };
        let servers: Vec<String> = servers.iter().map(SocketAddr::to_string).collect();
        format!(
            "the {noun} {} could not be reached ({why}); check that a DNS server listens \
             {there} (--dns-server)",
            servers.join(", ")
        )
    }
}

/// Parses `--dns-server IP[:PORT]`: `192.0.2.1`, `192.0.2.1:5353`, `2001:db8::1` or
/// `[2001:db8::1]:5353`; the port is 53 when not given.
pub fn parse_server(text: &str) -> Result<SocketAddr, String> {
    let text = text.trim();
    if let Ok(address) = text.parse::<SocketAddr>() {
        if address.port() == 0 {
            return Err(format!(
                "{text:?} names port 0, where no name server listens: give the server's port, \
                 or none for 53 (192.0.2.1, 192.0.2.1:5353)"
            ));
        }
        return Ok(address);
    }
    let bare = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(text);
    bare.parse::<IpAddr>()
        .map(|ip| SocketAddr::new(ip, 53))
        .map_err(|_| {
            format!(
                "{text:?} is not a name server address: give an IP address, with a port if not \
                 53 (192.0.2.1, 192.0.2.1:5353, [2001:db8::1]:5353)"
            )
        })
}

/// The resolver in reqwest's hook, for the async stack.
#[derive(Debug, Clone)]
pub struct ForReqwest(pub Resolver);

impl reqwest::dns::Resolve for ForReqwest {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let resolver = self.0.clone();
        Box::pin(async move {
            let addresses = resolver.lookup(name.as_str()).await?;
            let addresses: Vec<SocketAddr> =
                addresses.iter().map(|ip| SocketAddr::new(*ip, 0)).collect();
            Ok(Box::new(addresses.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The resolver as ureq's, for the blocking stack: a host written as an IP address is taken as
/// it is, any other is looked up in the run's cache.
#[derive(Debug, Clone)]
pub struct ForUreq(pub Resolver);

impl ureq::unversioned::resolver::Resolver for ForUreq {
    fn resolve(
        &self,
        uri: &::http::Uri,
        _config: &ureq::config::Config,
        _timeout: ureq::unversioned::transport::NextTimeout,
    ) -> Result<ureq::unversioned::resolver::ResolvedSocketAddrs, ureq::Error> {
        let host = uri.host().ok_or(ureq::Error::HostNotFound)?;
        let port = uri
            .port_u16()
            .or(match uri.scheme_str() {
                Some("http") => Some(80),
                Some("https") => Some(443),
                _ => None,
            })
            .ok_or_else(|| ureq::Error::BadUri(format!("{uri} has no port and no known scheme")))?;
        let found = self
            .0
            .lookup_blocking(host)
            .map_err(|error| ureq::Error::Other(Box::new(error)))?;
        let mut addresses = self.empty();
        // ureq keeps at most its array's worth of addresses.
        for ip in found.iter() {
            if addresses.try_push(SocketAddr::new(*ip, port)).is_err() {
                break;
            }
        }
        Ok(addresses)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_addresses_parse_with_and_without_ports() {
        assert_eq!(
            parse_server("192.0.2.1").unwrap(),
            "192.0.2.1:53".parse().unwrap()
        );
        assert_eq!(
            parse_server("127.0.0.1:5353").unwrap(),
            "127.0.0.1:5353".parse().unwrap()
        );
        assert_eq!(parse_server("::1").unwrap(), "[::1]:53".parse().unwrap());
        assert_eq!(
            parse_server("[::1]:54").unwrap(),
            "[::1]:54".parse().unwrap()
        );
        assert_eq!(parse_server("[::1]").unwrap(), "[::1]:53".parse().unwrap());
        let error = parse_server("dns.example").unwrap_err();
        assert!(error.contains("not a name server address"), "{error}");
    }

    #[test]
    fn addresses_are_their_own_answers_and_start_no_thread() {
        let resolver = Resolver::new(DnsConfig {
            servers: vec!["127.0.0.1:9".parse().unwrap()],
            deadline: Duration::from_secs(1),
            deadline_flag: "--connect-timeout",
        });
        assert_eq!(
            resolver.lookup_blocking("127.0.0.1").unwrap().as_ref(),
            ["127.0.0.1".parse::<IpAddr>().unwrap()]
        );
        assert_eq!(
            resolver.lookup_blocking("[::1]").unwrap().as_ref(),
            ["::1".parse::<IpAddr>().unwrap()]
        );
        assert!(resolver.inner.thread.lock().unwrap().is_none());
    }

    #[test]
    fn waiters_share_one_answer_and_failures_are_kept() {
        let cache = Cache::default();
        let Claim::Start(first) = cache.claim("a.test") else {
            panic!("the first caller starts the lookup");
        };
        let Claim::Wait(second) = cache.claim("a.test") else {
            panic!("the second caller waits for it");
        };
        let failure = Err(DnsError::new("a.test", "no such domain (NXDOMAIN)"));
        cache.answer("a.test", failure.clone(), Instant::now() + FAILURE_TTL);
        assert_eq!(first.recv().unwrap(), failure);
        assert_eq!(second.recv().unwrap(), failure);
        assert!(matches!(cache.claim("a.test"), Claim::Known(Err(_))));
        // An expired answer is looked up again.
        cache.answer("a.test", failure, Instant::now());
        assert!(matches!(cache.claim("a.test"), Claim::Start(_)));
    }
}

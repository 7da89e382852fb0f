//! The fetch suites over HTTPS on many host names (`abreast bench fetch --tls --hosts N`): the
//! open web's costs, offline. The built-in test site serves HTTPS for any name under `site.test`
//! (its own CA) and runs a name server for them; the clients trust that CA and resolve through
//! that server, as a crawler meets a thousand sites.
//!
//! Three parts, each on a fresh site: `fetch-tls-hosts` (the pages with no added latency,
//! `https://hN.site.test:PORT/page/M` with the host names interleaved, page `M` on host
//! `M mod N`), `fetch-tls-one-host` (the same pages from one host name: the baseline of the
//! per-page CPU), and `fetch-tls-latency` (pages behind latency across the hosts, where the
//! handshakes' round trips add to the wait). Rows: abreast's modes, curl (`-Z --parallel-max 100`
//! with one `--resolve` line per host and `--cacert`, the URLs in the same order), and with the
//! Python rows the explainer's aiohttp program with a resolver pointed at the site's name server
//! and an SSL context trusting its CA, and `abreast.fetch` from Python with `cacert=` and
//! `dns_servers=`. Each row's note gives what the site counted during it,
//! per run: connections opened per host (TLS handshakes; how many negotiated h2) and DNS
//! queries per host name and type.
//!
//! Across the hosts with no added latency, one more row, `handshakes alone`, bounds what the
//! rows can reach: a bare client that only looks each name up, connects and completes a TLS
//! handshake, with no request and no page. Its CPU is counted per page of the part, so one
//! host's CPU per page plus that row's is the least a page across the hosts can cost.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use abreast_fetch::{Extraction, FetchConfig, Mode};
use abreast_site::{Latency, RunningSite, SiteConfig};
use anyhow::Context as _;

use crate::fetch::{BenchSite, concurrency, fetch_all_with, mechanism};
use crate::python::{self, Program, PythonCase};
use crate::report::{Implementation, Mechanism, Row, SuiteReport};
use crate::{Sizes, Timing};

/// What the site counted, at one moment.
#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    handshakes: u64,
    h2: u64,
    dns_a: u64,
    dns_aaaa: u64,
}

impl Counts {
    fn of(site: &RunningSite) -> Counts {
        let counters = site.counters();
        let (mut dns_a, mut dns_aaaa) = (0, 0);
        for (_, kind, count) in counters.dns_query_counts() {
            match kind.as_str() {
                "A" => dns_a += count,
                "AAAA" => dns_aaaa += count,
                _ => {}
            }
        }
        Counts {
            handshakes: counters.tls_handshakes(),
            h2: counters.h2_connections(),
            dns_a,
            dns_aaaa,
        }
    }

    /// The note for a row that ran `runs` times across `hosts` host names, from the counts
    /// before it (`self`) and after it.
    fn note(self, after: Counts, runs: u64, hosts: u64) -> String {
        let per = |before: u64, after: u64| (after - before) as f64 / (runs * hosts) as f64;
        format!(
            "per host and run: {:.2} connections ({} of {} h2), DNS {:.2} A, {:.2} AAAA",
            per(self.handshakes, after.handshakes),
            after.h2 - self.h2,
            after.handshakes - self.handshakes,
            per(self.dns_a, after.dns_a),
            per(self.dns_aaaa, after.dns_aaaa),
        )
    }
}

/// Adds `note` to the row's note (after what the row says already, such as `skipped: ...`).
fn with_note(mut row: Row, note: String) -> Row {
    row.note = Some(match row.note.take() {
        Some(first) => format!("{first}; {note}"),
        None => note,
    });
    row
}

/// The host names `pages` pages reach: `hN.{domain}` for each `N` below `hosts` (page `M` goes
/// to host `M mod hosts`, so with fewer pages than hosts only as many names as pages), or
/// `{domain}` itself for one host.
fn host_names(domain: &str, hosts: Option<u64>, pages: u64) -> Vec<String> {
    match hosts {
        Some(hosts) => (0..hosts.min(pages))
            .map(|n| format!("h{n}.{domain}"))
            .collect(),
        None => vec![domain.to_owned()],
    }
}

/// The URLs of `pages` pages under `https://{name}:{port}`, page `M` on the name `M mod
/// names` (interleaved).
fn urls(names: &[String], port: u16, pages: u64) -> String {
    (0..pages)
        .map(|page| {
            let name = &names[(page % names.len() as u64) as usize];
            format!("https://{name}:{port}/page/{page}\n")
        })
        .collect()
}

/// A fetch configuration that trusts the site's CA (`--cacert`) and resolves through its name
/// server (`--dns-server`).
fn open_web(ca_pem: &str, dns: SocketAddr) -> anyhow::Result<FetchConfig> {
    let mut config = FetchConfig::default();
    config.http.dns_servers = vec![dns];
    config
        .http
        .set_cacert(ca_pem.as_bytes().to_vec())
        .context("the test site's CA was refused")?;
    Ok(config)
}

/// `row` with what the site counted since `before` in its note, if it ran (`runs` times).
fn counted(row: Row, before: Counts, site: &RunningSite, runs: u64, hosts: u64) -> Row {
    if row.wall.is_none() {
        return row;
    }
    // Every run opens at least one connection to each host. The site counts a handshake when
    // its task gets to the connection, which on a busy machine can be a moment after the
    // client closed it: the counts are read once they hold that many (or after 5 s).
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut after = Counts::of(site);
    while after.handshakes < before.handshakes + runs * hosts && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
        after = Counts::of(site);
    }
    with_note(row, before.note(after, runs, hosts))
}

/// The Python case's row (none without the Python rows), with the site's counts in its note
/// when it ran (Python cases have no warm-up).
fn python_row(
    bench: &Timing<'_>,
    case: &PythonCase,
    site: &RunningSite,
    hosts: u64,
) -> Option<Row> {
    let before = Counts::of(site);
    let row = bench.python_row(case, Duration::from_secs(600))?;
    Some(counted(row, before, site, bench.bench.runs, hosts))
}

/// One part: abreast's modes, curl and (with the Python rows) the aiohttp program on `pages`
/// pages across `hosts` host names (`None`: one).
fn part(
    bench: &Timing<'_>,
    sizes: &Sizes,
    pages: u64,
    hosts: Option<u64>,
    latency: Duration,
) -> anyhow::Result<Vec<Row>> {
    let site_latency = if latency.is_zero() {
        Latency::None
    } else {
        Latency::Fixed(latency)
    };
    let loopback = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    let bench_site = BenchSite::start(
        SiteConfig::default()
            .pages(pages)
            .page_size(usize::try_from(sizes.page_size)?)
            .latency(site_latency)
            .tls(true)
            .dns(Some(loopback)),
    )?;
    let site = bench_site.site();
    let server = Some(&*bench_site.threads);
    let port = site.addr().port();
    let dns = site
        .dns_addr()
        .context("the test site's name server did not start")?;
    let names = host_names(site.domain(), hosts, pages);
    let host_count = names.len() as u64;
    let urls = urls(&names, port, pages);
    let dir = tempfile::tempdir().context("could not make a temporary folder")?;
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, site.ca_pem().unwrap_or_default())
        .context("could not write the test site's CA")?;
    let every_run = bench.bench.warmup + bench.bench.runs;

    let config = open_web(site.ca_pem().unwrap_or_default(), dns);
    let mut rows = Vec::new();
    for mode in Mode::ALL {
        let label = format!("fetch {mode}");
        let workers = concurrency(mode, latency);
        let row = match &config {
            Err(why) => Row::skipped(
                mechanism(mode),
                Implementation::Rust,
                workers,
                pages,
                format!("skipped: {why:#}"),
            ),
            Ok(config) => {
                let before = Counts::of(site);
                let row =
                    bench.row_beside(server, mechanism(mode), workers, pages, &label, || {
                        fetch_all_with(
                            config.clone(),
                            mode,
                            Extraction::Full,
                            workers,
                            &urls,
                            pages,
                            sizes.threads_given(),
                        )
                    })?;
                counted(row, before, site, every_run, host_count)
            }
        };
        rows.push(row);
    }
    if let (Some(_), true, Ok(_)) = (hosts, latency.is_zero(), &config) {
        // Measured before the row's counts start: its lookups reach the site's name server.
        let parts = NewHostParts::measure(site, dns, &names)?;
        let before = Counts::of(site);
        let row = handshakes_alone(bench, site, dns, server, &names, pages)?;
        let row = with_note(row, parts.note());
        rows.push(counted(row, before, site, every_run, host_count));
    }
    if bench.bench.curl {
        let mut options = format!(
            "cacert = {}\n",
            crate::curl::quote(&ca_file.to_string_lossy())
        );
        for name in &names {
            options.push_str(&format!("resolve = \"{name}:{port}:127.0.0.1\"\n"));
        }
        let before = Counts::of(site);
        let row = crate::curl::row_with(bench, dir.path(), &urls, pages, server, &options)?;
        rows.push(counted(row, before, site, every_run, host_count));
    }
    if bench.python_rows() {
        let list = dir.path().join("urls.txt");
        std::fs::write(&list, &urls).context("could not write the URL list")?;
        // Both programs trust the site's CA and ask its name server.
        let open_web = || {
            python::args([
                "--cafile".into(),
                ca_file.as_os_str().to_owned(),
                "--dns-server".into(),
                dns.to_string().into(),
            ])
        };
        let case = PythonCase::fetching(
            Program::AsyncFetch,
            Mechanism::Async,
            100,
            &list,
            pages,
            open_web(),
        );
        rows.extend(python_row(bench, &case, site, host_count));
        // The explainer's readers with abreast: the hybrid mode from Python.
        let case = PythonCase::fetching(
            Program::AbreastFetch,
            Mechanism::Hybrid,
            concurrency(Mode::Hybrid, latency),
            &list,
            pages,
            open_web(),
        )
        .with_variant("with abreast");
        rows.extend(python_row(bench, &case, site, host_count));
    }
    Ok(rows)
}

/// The `handshakes alone` row: for each of the `names` the pages reach, one `A` query to the
/// site's name server at `dns` (a new UDP socket, as a resolver asks), a TCP connection, a TLS
/// handshake with abreast's crypto provider and ALPN (the site's CA as the only root), then
/// close: the least a new host costs any client, with no request. The row counts `pages` tasks,
/// so its CPU per page is what the handshakes alone add to each page of the part.
fn handshakes_alone(
    bench: &Timing<'_>,
    site: &RunningSite,
    dns: SocketAddr,
    server: Option<&crate::cputime::ThreadClocks>,
    names: &[String],
    pages: u64,
) -> anyhow::Result<Row> {
    use rustls::pki_types::pem::PemObject as _;
    let ca = site.ca_pem().context("the test site serves no HTTPS")?;
    let mut roots = rustls::RootCertStore::empty();
    for certificate in rustls::pki_types::CertificateDer::pem_slice_iter(ca.as_bytes()) {
        roots
            .add(certificate.context("the test site's CA is not PEM")?)
            .context("the test site's CA was refused")?;
    }
    let mut config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        abreast_fetch::tls_crypto_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    // Every run shakes hands in full, as a run of abreast does with each new host: no session
    // is kept from an earlier run's visit to the same name.
    config.resumption = rustls::client::Resumption::disabled();
    let config = std::sync::Arc::new(config);
    let row = bench.row_beside(
        server,
        Mechanism::Sequential,
        1,
        pages,
        "handshakes alone",
        || {
            for name in names {
                let addr = lookup(dns, name)?;
                handshake(&config, name, SocketAddr::from((addr, site.addr().port())))?;
            }
            Ok(())
        },
    )?;
    let per_host = row
        .cpu_per_task()
        .map(|seconds| seconds * pages as f64 / names.len() as f64);
    let note = match per_host {
        Some(seconds) => format!(
            "no pages: a lookup, a connection and a TLS handshake per host name, {:.0} µs of \
             CPU each; one host's CPU/page plus this row's is the least a page here can cost",
            seconds * 1e6
        ),
        None => "no pages: a lookup, a connection and a TLS handshake per host name".into(),
    };
    Ok(with_note(
        row.with_variant("handshakes alone").as_lower_bound(),
        note,
    ))
}

/// What the parts of a new host's cost come to alone, each repeated once per host name and
/// timed on this thread's CPU clock: the handshake's public-key work (ECDSA P-256
/// verification, X25519 key share and agreement, with abreast's crypto provider), a TCP
/// connection to the site opened and closed, and a lookup from a new UDP socket.
struct NewHostParts {
    /// CPU seconds of one ECDSA P-256 signature verification (a handshake makes two: the
    /// certificate's and the handshake's).
    p256_verify: f64,
    /// CPU seconds of one X25519 key share and agreement.
    x25519: f64,
    /// CPU seconds of one TCP connection opened and closed.
    connect: f64,
    /// CPU seconds of one `A` query and its answer.
    lookup: f64,
}

impl NewHostParts {
    /// The parts, each repeated once for each of `names` (looked up at the name server `dns`).
    fn measure(
        site: &RunningSite,
        dns: SocketAddr,
        names: &[String],
    ) -> anyhow::Result<NewHostParts> {
        use rustls::SignatureScheme;
        use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
        let clock = crate::cputime::current_thread_clock().context("no thread CPU clock")?;
        let cpu = || crate::cputime::read_clock(clock).unwrap_or_default();
        let hosts = names.len();
        let per = |started: f64| (cpu() - started) / hosts as f64;
        let provider = abreast_fetch::tls_crypto_provider();

        let key = rcgen::KeyPair::generate().context("could not make a P-256 key")?;
        let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let signing = provider
            .key_provider
            .load_private_key(der)
            .context("the crypto provider refused a P-256 key")?;
        let scheme = SignatureScheme::ECDSA_NISTP256_SHA256;
        let signer = signing
            .choose_scheme(&[scheme])
            .context("the P-256 key does not sign ECDSA P-256 SHA-256")?;
        let message = [0x5a_u8; 130];
        let signature = signer.sign(&message)?;
        let verifier = provider
            .signature_verification_algorithms
            .mapping
            .iter()
            .find(|(each, _)| *each == scheme)
            .and_then(|(_, algorithms)| algorithms.first())
            .context("the crypto provider verifies no ECDSA P-256")?;
        let started = cpu();
        for _ in 0..hosts {
            verifier
                .verify_signature(key.public_key_raw(), &message, &signature)
                .map_err(|_| anyhow::anyhow!("a P-256 signature did not verify"))?;
        }
        let p256_verify = per(started);

        let group = *provider
            .kx_groups
            .first()
            .context("the crypto provider has no key exchange")?;
        let peer = group.start()?.pub_key().to_vec();
        let started = cpu();
        for _ in 0..hosts {
            group.start()?.complete(&peer)?;
        }
        let x25519 = per(started);

        // To the site, which lets a connection that sends nothing go (it counts no handshake).
        let started = cpu();
        for _ in 0..hosts {
            let connection = std::net::TcpStream::connect(site.addr())?;
            connection.set_nodelay(true)?;
        }
        let connect = per(started);

        let started = cpu();
        for name in names {
            lookup(dns, name)?;
        }
        let lookup = per(started);
        Ok(NewHostParts {
            p256_verify,
            x25519,
            connect,
            lookup,
        })
    }

    /// The parts in the row's note.
    fn note(&self) -> String {
        let us = |seconds: f64| format!("{:.0} µs", seconds * 1e6);
        format!(
            "alone, per host: 2 ECDSA P-256 verifications {}, an X25519 key share and agreement \
             {}, a connection opened and closed {}, a lookup {}",
            us(2.0 * self.p256_verify),
            us(self.x25519),
            us(self.connect),
            us(self.lookup)
        )
    }
}

/// The first `A` record of `name` from the name server at `dns`, asked over UDP from a new
/// socket.
fn lookup(dns: SocketAddr, name: &str) -> anyhow::Result<Ipv4Addr> {
    use hickory_proto::op::{Message, Query};
    use hickory_proto::rr::{Name, RData, RecordType};
    let mut query = Message::query();
    query.add_query(Query::query(Name::from_ascii(name)?, RecordType::A));
    let socket = std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
    socket.set_read_timeout(Some(Duration::from_secs(10)))?;
    socket.send_to(&query.to_vec()?, dns)?;
    let mut answer = [0u8; 512];
    let length = socket
        .recv(&mut answer)
        .with_context(|| format!("the name server did not answer for {name}"))?;
    Message::from_vec(&answer[..length])?
        .answers
        .iter()
        .find_map(|record| match &record.data {
            RData::A(address) => Some(address.0),
            _ => None,
        })
        .with_context(|| format!("no A record for {name}"))
}

/// Connects to `addr` and completes a TLS handshake for `name`, then closes the connection.
fn handshake(
    config: &std::sync::Arc<rustls::ClientConfig>,
    name: &str,
    addr: SocketAddr,
) -> anyhow::Result<()> {
    let server_name = rustls::pki_types::ServerName::try_from(name.to_owned())?;
    let mut tls = rustls::ClientConnection::new(config.clone(), server_name)?;
    let mut tcp = std::net::TcpStream::connect(addr)?;
    tcp.set_nodelay(true)?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
    while tls.is_handshaking() {
        tls.complete_io(&mut tcp)
            .with_context(|| format!("the TLS handshake with {name} failed"))?;
    }
    Ok(())
}

/// Runs the HTTPS suites: `fetch-tls-hosts` and `fetch-tls-one-host` on [`Sizes::tls_pages`]
/// pages with no added latency, then `fetch-tls-latency` on [`Sizes::pages`] behind
/// [`Sizes::latency`], across [`Sizes::tls_hosts`] host names.
pub(crate) fn suites(
    bench: &Timing<'_>,
    sizes: &Sizes,
    hosts: u64,
) -> anyhow::Result<Vec<SuiteReport>> {
    anyhow::ensure!(hosts > 0, "--hosts must be at least 1");
    let kib = sizes.page_size / 1024;
    let pages = sizes.tls_pages;
    Ok(vec![
        SuiteReport {
            name: "fetch-tls-hosts".into(),
            description: format!(
                "{pages} pages of {kib} KiB over HTTPS across {hosts} host names \
                 (https://hN.site.test, interleaved), no added latency; names resolved by the \
                 test site's name server"
            ),
            unit: "pages".into(),
            rows: part(bench, sizes, pages, Some(hosts), Duration::ZERO)?,
        },
        SuiteReport {
            name: "fetch-tls-one-host".into(),
            description: format!(
                "the same {pages} pages of {kib} KiB over HTTPS from one host name"
            ),
            unit: "pages".into(),
            rows: part(bench, sizes, pages, None, Duration::ZERO)?,
        },
        SuiteReport {
            name: "fetch-tls-latency".into(),
            description: format!(
                "{} pages of {kib} KiB over HTTPS across {hosts} host names behind {} of latency",
                sizes.pages,
                humantime::format_duration(sizes.latency)
            ),
            unit: "pages".into(),
            rows: part(bench, sizes, sizes.pages, Some(hosts), sizes.latency)?,
        },
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_interleave_the_hosts() {
        let names = host_names("site.test", Some(2), 3);
        assert_eq!(names, ["h0.site.test", "h1.site.test"]);
        assert_eq!(
            urls(&names, 8443, 3),
            "https://h0.site.test:8443/page/0\nhttps://h1.site.test:8443/page/1\n\
             https://h0.site.test:8443/page/2\n"
        );
        assert_eq!(host_names("site.test", Some(1000), 3).len(), 3);
        let one = host_names("site.test", None, 1);
        assert_eq!(urls(&one, 8443, 1), "https://site.test:8443/page/0\n");
    }

    #[test]
    fn the_note_counts_per_host_and_run() {
        let before = Counts::default();
        let after = Counts {
            handshakes: 4000,
            h2: 4000,
            dns_a: 4000,
            dns_aaaa: 0,
        };
        assert_eq!(
            before.note(after, 4, 1000),
            "per host and run: 1.00 connections (4000 of 4000 h2), DNS 1.00 A, 0.00 AAAA"
        );
    }
}

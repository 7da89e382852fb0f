//! The open web, offline: names looked up through the test site's name server (cached, one
//! query per name, NXDOMAIN fast, a silent server bounded by the connect time limit, a refused
//! one failing at once), HTTPS with the site's CA (`--cacert`), refused certificates named by
//! their cause, HTTP/2 by ALPN and `--http1.1`, TLS sessions resumed, and input lines that are
//! not UTF-8.

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use abreast_fetch::ResumeLedger;
use abreast_fetch::{ErrorKind, FetchConfig, Mode, Record, RobotsPolicy};
use abreast_site::{BackgroundSite, Site, SiteConfig};

use crate::support::{MODES, by_url, config, fetch_lines};

/// A site serving HTTP and HTTPS on one port, with its name server for `*.site.test`.
fn open_site() -> BackgroundSite {
    let config = SiteConfig::default()
        .pages(50)
        .page_size(4 * 1024)
        .tls(true)
        .dns(Some("127.0.0.1:0".parse().unwrap()));
    Site::start_in_background(config).unwrap()
}

/// [`config`] of `mode` asking `site`'s name server and trusting its CA.
fn open_config(mode: Mode, site: &BackgroundSite) -> FetchConfig {
    let mut config = config(mode);
    config.http.dns_servers = vec![site.dns_addr().unwrap()];
    config.http.cacert = Some(site.ca_pem().unwrap().as_bytes().to_vec());
    config
}

fn kind(record: &Record) -> Option<ErrorKind> {
    record.error.as_ref().map(|error| error.kind)
}

#[test]
fn names_are_looked_up_once_and_pages_come_over_https_in_every_mode() {
    let site = open_site();
    let port = site.addr().port();
    for mode in MODES {
        let urls: Vec<String> = (0..40)
            .map(|i| format!("https://{mode}-h{}.site.test:{port}/page/{i}", i % 8))
            .collect();
        let (records, _) = fetch_lines(&open_config(mode, &site), &urls);
        for record in &records {
            assert!(record.ok, "{mode} {}: {:?}", record.url, record.error);
        }
        let versions: Vec<&str> = records
            .iter()
            .filter_map(|r| r.http_version.as_deref())
            .collect();
        let expected = if matches!(mode, Mode::Threads | Mode::Processes) {
            "HTTP/1.1"
        } else {
            "HTTP/2"
        };
        assert!(
            versions.len() == urls.len() && versions.iter().all(|v| *v == expected),
            "{mode}: {versions:?}"
        );
        // Processes mode too: the parent looks each name up for all its workers.
        for host in 0..8 {
            let name = format!("{mode}-h{host}.site.test");
            let queries = site.counters().dns_queries_for(&name, "A");
            assert_eq!(queries, 1, "{mode} {name}: {queries} A queries");
        }
    }
}

/// The connections `mode` with `-j concurrency` opens to fetch `rounds` pages of each of `hosts`
/// names (`NAME-hN.site.test`), every host's pages far apart: each request comes back to a host
/// after all the others. Every page must come.
fn connections_across_hosts(mode: Mode, concurrency: usize, hosts: usize, rounds: usize) -> u64 {
    let site = open_site();
    let port = site.addr().port();
    let urls: Vec<String> = (0..rounds * hosts)
        .map(|i| {
            let host = i % hosts;
            format!("https://{mode}-h{host}.site.test:{port}/page/{}", i % 50)
        })
        .collect();
    let mut config = open_config(mode, &site);
    config.concurrency = Some(concurrency);
    let before = site.counters().connections();
    let (records, _) = fetch_lines(&config, &urls);
    let failed: Vec<_> = records.iter().filter(|r| !r.ok).collect();
    assert!(failed.is_empty(), "{failed:?}");
    site.counters().connections() - before
}

#[test]
fn threads_mode_keeps_each_hosts_connection_across_many_hosts() {
    assert_eq!(connections_across_hosts(Mode::Threads, 1, 60, 3), 60);
}

#[test]
fn processes_mode_sends_a_host_s_pages_to_the_worker_holding_its_connection() {
    // Four workers: without affinity a host's four pages would land on 2.7 workers on average
    // (each opening its own connection), with it on one. 40 to 50 here, loaded or not; 110 to
    // 120 with plain submits.
    let hosts = 40;
    let opened = connections_across_hosts(Mode::Processes, 4, hosts, 4);
    assert!(
        opened < 2 * hosts as u64,
        "{opened} connections for {hosts} hosts"
    );
}

#[test]
fn a_burst_to_a_new_http2_host_shares_one_connection() {
    let site = open_site();
    let port = site.addr().port();
    for mode in [Mode::Async, Mode::Hybrid] {
        let urls: Vec<String> = (0..40)
            .map(|i| format!("https://burst-{mode}.site.test:{port}/page/{i}"))
            .collect();
        let mut config = open_config(mode, &site);
        config.concurrency = Some(32);
        config.per_host = 32;
        let before = (
            site.counters().connections(),
            site.counters().h2_connections(),
        );
        let (records, _) = fetch_lines(&config, &urls);
        assert!(records.iter().all(|r| r.ok), "{mode}");
        let opened = (
            site.counters().connections() - before.0,
            site.counters().h2_connections() - before.1,
        );
        assert_eq!(
            opened,
            (1, 1),
            "{mode}: 32 requests at once, one connection"
        );
    }
    // Over HTTP/1.1 the requests go on at once, each on a connection of its own.
    let urls: Vec<String> = (0..40)
        .map(|i| format!("https://burst-h1.site.test:{port}/page/{i}"))
        .collect();
    let mut config = open_config(Mode::Async, &site);
    config.concurrency = Some(32);
    config.per_host = 32;
    config.http.http1_only = true;
    let before = site.counters().connections();
    let (records, _) = fetch_lines(&config, &urls);
    assert!(records.iter().all(|r| r.ok));
    assert!(site.counters().connections() - before > 1);
}

#[test]
fn http1_1_is_forced_on_request() {
    let site = open_site();
    let base = site.https_base_url().unwrap().to_owned();
    let mut config = open_config(Mode::Async, &site);
    config.http.http1_only = true;
    let (records, _) = fetch_lines(&config, &[format!("{base}/page/1")]);
    assert_eq!(
        records[0].http_version.as_deref(),
        Some("HTTP/1.1"),
        "{:?}",
        records[0].error
    );
    assert_eq!(site.counters().h2_connections(), 0);
}

#[test]
fn refused_certificates_are_tls_records_naming_the_cause_in_both_stacks() {
    let site = open_site();
    let port = site.addr().port();
    for mode in [Mode::Threads, Mode::Async] {
        let wrong = format!("https://wrong-name.site.test:{port}/page/1");
        let expired = format!("https://expired.site.test:{port}/page/1");
        let records =
            by_url(fetch_lines(&open_config(mode, &site), &[wrong.clone(), expired.clone()]).0);
        let message = |url: &str| {
            let record = &records[url];
            assert_eq!(
                kind(record),
                Some(ErrorKind::Tls),
                "{mode} {url}: {:?}",
                record.error
            );
            record.error.as_ref().unwrap().message.clone()
        };
        assert!(
            message(&wrong).contains("for another name"),
            "{mode}: {}",
            message(&wrong)
        );
        assert!(
            message(&expired).contains("has expired"),
            "{mode}: {}",
            message(&expired)
        );
        // Without the site's CA, its certificates come from an unknown authority.
        let mut untrusting = open_config(mode, &site);
        untrusting.http.cacert = None;
        let url = format!("https://h1.site.test:{port}/page/1");
        let (records, _) = fetch_lines(&untrusting, std::slice::from_ref(&url));
        assert_eq!(
            kind(&records[0]),
            Some(ErrorKind::Tls),
            "{mode}: {:?}",
            records[0].error
        );
        let text = &records[0].error.as_ref().unwrap().message;
        assert!(
            text.contains("unknown authority") && text.contains("--cacert"),
            "{mode}: {text}"
        );
    }
}

#[test]
fn tls_sessions_are_resumed_on_new_connections() {
    let site = open_site();
    let base = site.https_base_url().unwrap().to_owned();
    for mode in [Mode::Threads, Mode::Async] {
        let before = (
            site.counters().tls_handshakes(),
            site.counters().tls_resumed(),
        );
        let mut config = open_config(mode, &site);
        config.concurrency = Some(1);
        // Each answer closes its connection, so every request makes a new one.
        config.http.headers = vec![("Connection".into(), "close".into())];
        config.http.http1_only = true;
        let urls: Vec<String> = (0..4).map(|i| format!("{base}/page/{i}")).collect();
        let (records, _) = fetch_lines(&config, &urls);
        assert!(records.iter().all(|r| r.ok), "{mode}");
        let handshakes = site.counters().tls_handshakes() - before.0;
        let resumed = site.counters().tls_resumed() - before.1;
        assert!(
            handshakes >= 2 && resumed >= handshakes - 1,
            "{mode}: {handshakes} handshakes, {resumed} resumed"
        );
    }
}

#[test]
fn names_with_an_underscore_are_looked_up_in_every_mode() {
    let site = open_site();
    let port = site.addr().port();
    for mode in MODES {
        let name = format!("{mode}_x.site.test");
        let url = format!("http://{name}:{port}/page/1");
        let (records, _) = fetch_lines(&open_config(mode, &site), std::slice::from_ref(&url));
        assert!(records[0].ok, "{mode}: {:?}", records[0].error);
        assert_eq!(site.counters().dns_queries_for(&name, "A"), 1, "{mode}");
    }
}

#[test]
fn names_that_do_not_exist_are_dns_records_at_once() {
    let site = open_site();
    for (mode, count) in [(Mode::Async, 2000), (Mode::Threads, 200)] {
        let urls: Vec<String> = (0..count)
            .map(|i| format!("http://{mode}-n{i}.nowhere.test/"))
            .collect();
        let mut config = open_config(mode, &site);
        config.concurrency = Some(if mode == Mode::Async { 256 } else { 64 });
        let start = Instant::now();
        let (records, summary) = fetch_lines(&config, &urls);
        let took = start.elapsed();
        assert_eq!(summary.records, count as u64);
        for record in &records {
            let error = record.error.as_ref().unwrap();
            assert_eq!(
                error.kind,
                ErrorKind::Dns,
                "{mode} {}: {error:?}",
                record.url
            );
            assert!(error.message.contains("NXDOMAIN"), "{}", error.message);
        }
        eprintln!("{mode}: {count} NXDOMAIN names in {took:?}");
    }
    // Obeying robots.txt, such a host's URLs still say `dns`, not `robots`.
    for mode in [Mode::Threads, Mode::Hybrid] {
        let mut obeying = open_config(mode, &site);
        obeying.http.robots = RobotsPolicy::Obey;
        let urls = [
            "http://r1.nowhere.test/".to_owned(),
            "http://r1.nowhere.test/x".to_owned(),
        ];
        for record in fetch_lines(&obeying, &urls).0 {
            assert_eq!(
                kind(&record),
                Some(ErrorKind::Dns),
                "{mode}: {:?}",
                record.error
            );
        }
    }
}

#[test]
fn a_silent_name_server_costs_its_names_the_connect_time_limit_and_no_more() {
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let site = crate::support::site();
    for mode in [Mode::Threads, Mode::Hybrid] {
        let mut config = config(mode);
        config.http.dns_servers = vec![silent.local_addr().unwrap()];
        config.http.connect_timeout = Duration::from_millis(800);
        let named: Vec<String> = (0..3)
            .map(|i| format!("http://{mode}-s{i}.quiet.test/"))
            .collect();
        let direct: Vec<String> = (0..10)
            .map(|i| format!("{}/page/{i}", site.base_url()))
            .collect();
        let urls: Vec<String> = named.iter().chain(&direct).cloned().collect();
        let records = by_url(fetch_lines(&config, &urls).0);
        for url in &named {
            let error = records[url].error.as_ref().unwrap();
            assert_eq!(error.kind, ErrorKind::Dns, "{mode} {url}: {error:?}");
            assert!(
                error
                    .message
                    .contains("no answer from the name servers within 800 ms (--connect-timeout)"),
                "{}",
                error.message
            );
        }
        assert!(
            direct.iter().all(|url| records[url].ok),
            "{mode}: other hosts go on"
        );
        // A lookup is part of an attempt: a shorter --timeout bounds it too.
        config.http.connect_timeout = Duration::from_secs(120);
        config.http.timeout = Duration::from_millis(700);
        let late = format!("http://{mode}-t.quiet.test/");
        let records = fetch_lines(&config, std::slice::from_ref(&late)).0;
        let error = records[0].error.as_ref().unwrap();
        assert!(
            error
                .message
                .contains("no answer from the name servers within 700 ms (--timeout)"),
            "{mode}: {}",
            error.message
        );
    }
}

#[test]
fn a_name_server_port_where_nothing_listens_fails_its_names_at_once_in_every_mode() {
    // A port just freed: the kernel answers each query with ICMP "port unreachable".
    let refused = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let site = crate::support::site();
    for mode in MODES {
        let mut config = config(mode);
        config.http.dns_servers = vec![refused];
        // Far longer than the refusal takes: a run that waited for it would say "no answer".
        config.http.connect_timeout = Duration::from_secs(120);
        let named = format!("http://{mode}-r.refused.test/");
        let direct = format!("{}/page/1", site.base_url());
        let records = by_url(fetch_lines(&config, &[named.clone(), direct.clone()]).0);
        let error = records[&named].error.as_ref().unwrap();
        assert_eq!(error.kind, ErrorKind::Dns, "{mode}: {error:?}");
        assert!(
            error
                .message
                .contains(&format!("name server {refused} could not be reached")),
            "{mode}: {}",
            error.message
        );
        assert!(records[&direct].ok, "{mode}: other hosts go on");
    }
}

#[test]
fn lines_that_are_not_utf8_get_their_own_records_in_every_mode() {
    let site = crate::support::site();
    let base = site.base_url();
    let mut input = Vec::new();
    input.extend_from_slice(format!("{base}/page/1?q=caf").as_bytes());
    input.extend_from_slice(b"\xe9\n");
    input.extend_from_slice(b"http://caf\xe9.example/x\n");
    input.extend_from_slice(format!("{base}/page/2\n").as_bytes());
    for mode in MODES {
        let (records, summary) =
            crate::support::fetch_bytes(&config(mode), &input, ResumeLedger::default());
        assert_eq!(
            summary.records, 3,
            "{mode}: one record per line, and the run goes on"
        );
        let records = by_url(records);
        let encoded = &records[&format!("{base}/page/1?q=caf%E9")];
        assert!(encoded.ok, "{mode}: {:?}", encoded.error);
        assert_eq!(
            encoded.final_url.as_deref(),
            Some(format!("{base}/page/1?q=caf%E9").as_str())
        );
        let bad_host = &records["http://caf%E9.example/x"];
        assert_eq!(kind(bad_host), Some(ErrorKind::InvalidUrl), "{mode}");
        assert!(records[&format!("{base}/page/2")].ok, "{mode}");
    }
}

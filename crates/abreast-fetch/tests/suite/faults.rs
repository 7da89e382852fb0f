//! Every fault of the test site, in every mode: each input line yields exactly one record with
//! the expected outcome, no run hangs, and every mode writes the same records.

use std::collections::BTreeMap;

use abreast_fetch::{ErrorKind, Extraction, FetchError, Mode, Record};
use abreast_site::{INVALID_BYTES_TITLE, LegacyEncoding, refused_url};

use crate::support::{MODES, by_url, config, fetch_lines, site, timing_out_config};

/// What one URL must give.
#[derive(Debug, Clone)]
enum Expect {
    /// A page with this title (and, with `truncated`, cut short).
    Page {
        title: Option<String>,
        truncated: bool,
    },
    /// An error of this kind.
    Error(ErrorKind),
}

fn page(title: &str) -> Expect {
    Expect::Page {
        title: Some(title.to_owned()),
        truncated: false,
    }
}

/// The fault list, with what each line must give; `key` keeps flaky counters apart per run.
fn cases(base: &str, key: &str, refused: &str) -> Vec<(String, Expect)> {
    let mut cases = vec![
        (format!("{base}/page/3"), page("Page 3")),
        (
            format!("{base}/page/99999"),
            Expect::Error(ErrorKind::Status),
        ),
        (refused.to_owned(), Expect::Error(ErrorKind::Connect)),
        // Closed before any answer: kind http, one attempt, in every mode.
        (
            format!("{base}/fault/close"),
            Expect::Error(ErrorKind::Http),
        ),
        (
            format!("{base}/fault/reset"),
            Expect::Error(ErrorKind::Body),
        ),
        (
            format!("{base}/fault/stall"),
            Expect::Error(ErrorKind::Timeout),
        ),
        (
            format!("{base}/fault/stall-headers"),
            Expect::Error(ErrorKind::Timeout),
        ),
        (
            format!("{base}/fault/trickle?bytes_per_sec=64&size=1K"),
            Expect::Error(ErrorKind::Timeout),
        ),
        (
            format!("{base}/fault/trickle?bytes_per_sec=1000000&size=4K"),
            Expect::Page {
                title: None,
                truncated: false,
            },
        ),
        (
            format!("{base}/fault/status/503?retry_after=0"),
            Expect::Error(ErrorKind::Status),
        ),
        (
            format!("{base}/fault/status/429"),
            Expect::Error(ErrorKind::Status),
        ),
        (
            format!("{base}/fault/flaky/{key}?fail=2&status=503"),
            page("Page 0"),
        ),
        (
            format!("{base}/fault/redirect-loop"),
            Expect::Error(ErrorKind::Redirect),
        ),
        (format!("{base}/fault/redirect/3?to=5"), page("Page 5")),
        (
            format!("{base}/fault/redirect-to?url=ftp://example.invalid/"),
            Expect::Error(ErrorKind::Redirect),
        ),
        (
            format!("{base}/fault/invalid-bytes"),
            page(INVALID_BYTES_TITLE),
        ),
        (
            format!("{base}/fault/wrong-length"),
            Expect::Error(ErrorKind::Body),
        ),
        (
            format!("{base}/fault/empty"),
            Expect::Page {
                title: None,
                truncated: false,
            },
        ),
        (
            format!("{base}/fault/huge?size=2G"),
            Expect::Page {
                title: None,
                truncated: true,
            },
        ),
        (
            "not a url at all".to_owned(),
            Expect::Error(ErrorKind::InvalidUrl),
        ),
        // Longer than any request can carry: one record, worded alike in every mode.
        (
            format!("{base}/page/1?{}", "q".repeat(66_000)),
            Expect::Error(ErrorKind::InvalidUrl),
        ),
        (
            "ftp://example.invalid/x".to_owned(),
            Expect::Error(ErrorKind::UnsupportedScheme),
        ),
        (
            "file:///etc/passwd".to_owned(),
            Expect::Error(ErrorKind::UnsupportedScheme),
        ),
    ];
    for encoding in ["gzip", "br", "zstd", "deflate"] {
        cases.push((
            format!("{base}/fault/compressed?encoding={encoding}&page=7"),
            page("Page 7"),
        ));
        cases.push((
            format!("{base}/fault/bomb?encoding={encoding}&size=64M"),
            Expect::Page {
                title: None,
                truncated: true,
            },
        ));
    }
    for encoding in LegacyEncoding::ALL {
        for declare in ["header", "meta", "none"] {
            cases.push((
                format!(
                    "{base}/fault/encoding/{}?declare={declare}",
                    encoding.path_name()
                ),
                page(encoding.title()),
            ));
        }
    }
    cases
}

fn check(mode: Mode, url: &str, record: &Record, expect: &Expect) {
    match expect {
        Expect::Page { title, truncated } => {
            assert!(
                record.ok,
                "{mode} {url}: expected a page, got {:?}",
                record.error
            );
            if let Some(title) = title {
                assert_eq!(
                    record.page.title.as_deref(),
                    Some(title.as_str()),
                    "{mode} {url}"
                );
            }
            assert_eq!(record.truncated, *truncated, "{mode} {url}: truncated");
        }
        Expect::Error(kind) => {
            assert!(!record.ok, "{mode} {url}: expected {kind:?}, got a page");
            assert_eq!(
                record.error_kind(),
                Some(*kind),
                "{mode} {url}: {:?}",
                record.error
            );
        }
    }
}

#[test]
fn every_fault_in_every_mode_gives_exactly_one_expected_record() {
    let site = site();
    let refused = refused_url().unwrap();
    let mut per_mode: Vec<(Mode, BTreeMap<String, Record>)> = Vec::new();
    for mode in MODES {
        let cases = cases(site.base_url(), mode.name(), &refused);
        // The URLs that must time out run with a short limit; the others with limits that only
        // a hang reaches, so a slow machine cannot turn a page into a time-out.
        let (timing_out, others): (Vec<_>, Vec<_>) = cases
            .iter()
            .map(|(url, expect)| (url.clone(), expect))
            .partition(|(_, expect)| matches!(expect, Expect::Error(ErrorKind::Timeout)));
        let mut records = Vec::new();
        for (config, part) in [
            (timing_out_config(mode), timing_out),
            (config(mode), others),
        ] {
            let lines: Vec<String> = part.into_iter().map(|(url, _)| url).collect();
            let (part_records, summary) = fetch_lines(&config, &lines);
            assert_eq!(
                part_records.len(),
                lines.len(),
                "{mode}: one record per line"
            );
            assert_eq!(summary.records as usize, lines.len());
            records.extend(part_records);
        }
        let records = by_url(records);
        for (url, expect) in &cases {
            let record = records
                .get(url)
                .unwrap_or_else(|| panic!("{mode}: no record for {url}"));
            check(mode, url, record, expect);
        }
        // Retries happened where they should.
        let flaky = records
            .values()
            .find(|r| r.url.contains("/fault/flaky/"))
            .unwrap();
        assert_eq!(flaky.attempts, 3, "{mode}: two failures, then the page");
        assert_eq!(site.flaky_attempts(mode.name()), 3);
        let unavailable = records
            .values()
            .find(|r| r.url.contains("status/503"))
            .unwrap();
        assert_eq!(unavailable.attempts, 3, "{mode}: 503 is retried twice");
        let redirected = records
            .values()
            .find(|r| r.url.contains("redirect/3"))
            .unwrap();
        assert!(
            redirected
                .final_url
                .as_deref()
                .unwrap()
                .ends_with("/page/5")
        );
        let bomb = records
            .values()
            .find(|r| r.url.contains("bomb?encoding=br"))
            .unwrap();
        assert_eq!(bomb.bytes, 1 << 20, "{mode}: the bomb stops at --max-bytes");
        per_mode.push((
            mode,
            records
                .into_values()
                .map(|r| (strip_keyed(&r.url), r))
                .collect(),
        ));
    }
    // Every mode writes the same records, messages included, but for timings.
    let (first_mode, first) = &per_mode[0];
    for (mode, records) in &per_mode[1..] {
        for (url, record) in records {
            let other = &first[url];
            assert_eq!(
                comparable(record),
                comparable(other),
                "{mode} vs {first_mode}: {url}"
            );
        }
    }
}

/// The URL with the per-mode flaky key removed, to match records across modes.
fn strip_keyed(url: &str) -> String {
    match url.find("/fault/flaky/") {
        Some(at) => url[..at].to_owned() + "/fault/flaky",
        None => url.to_owned(),
    }
}

/// A record without what legitimately differs between modes and runs.
fn comparable(record: &Record) -> Record {
    let mut record = record.clone();
    record.url = strip_keyed(&record.url);
    record.final_url = record.final_url.map(|u| strip_keyed(&u));
    record.elapsed_ms = 0;
    record
}

#[test]
fn many_pages_with_head_only_and_ordered_output() {
    let site = site();
    let lines: Vec<String> = (0..300)
        .map(|n| format!("{}/page/{}", site.base_url(), n % 100))
        .collect();
    for mode in MODES {
        let mut config = config(mode);
        config.ordered = true;
        config.http.extraction = Extraction::HeadOnly;
        let (records, summary) = fetch_lines(&config, &lines);
        let urls: Vec<&str> = records.iter().map(|r| r.url.as_str()).collect();
        assert_eq!(urls, lines, "{mode}: --ordered keeps input order");
        assert_eq!(summary.ok, 300);
        for (n, record) in records.iter().enumerate() {
            assert_eq!(
                record.page.title.as_deref(),
                Some(format!("Page {}", n % 100).as_str())
            );
            assert!(
                record.page.og.entries.contains_key("title"),
                "{mode}: {:?}",
                record.page.og
            );
            assert!(record.truncated, "{mode}: head-only stops early");
        }
    }
}

#[test]
fn connections_are_reused() {
    for mode in MODES {
        let site = site();
        let lines: Vec<String> = (0..200)
            .map(|n| format!("{}/page/{}", site.base_url(), n % 100))
            .collect();
        let (records, _) = fetch_lines(&config(mode), &lines);
        assert!(records.iter().all(|r| r.ok));
        let (connections, requests) = (site.counters().connections(), site.counters().requests());
        assert!(
            connections * 4 < requests,
            "{mode}: {connections} connections for {requests} requests"
        );
    }
}

#[test]
fn answers_that_are_not_pages_keep_their_connection() {
    // A 404, a 503 (retried), and a redirect the client stops at (`--robots obey`: the site has
    // no robots.txt, a 404 that is itself such an answer): each small body is read to its end so
    // the next request goes on the same connection.
    for mode in [Mode::Threads, Mode::Async] {
        let site = site();
        let base = site.base_url();
        let lines = [
            format!("{base}/fault/status/404"),
            format!("{base}/fault/status/503?retry_after=0"),
            format!("{base}/fault/redirect/2?to=3"),
            format!("{base}/fault/status/410"),
        ];
        let mut config = config(mode);
        config.concurrency = Some(1);
        config.http.robots = abreast_fetch::RobotsPolicy::Obey;
        let records = by_url(fetch_lines(&config, &lines).0);
        assert!(records[&lines[2]].ok, "{mode}: {:?}", records[&lines[2]]);
        let (connections, requests) = (site.counters().connections(), site.counters().requests());
        assert_eq!(
            (connections, requests),
            (1, 1 + 1 + 3 + 3 + 1),
            "{mode}: robots.txt, 404, 503 three times, three hops, 410"
        );
    }
}

#[test]
fn long_headers_fit_and_an_over_long_url_says_what_to_do() {
    let site = site();
    // A 20 KiB header of the run's own: every mode sends it.
    let big = "b".repeat(20 * 1024);
    let page = format!("{}/page/1", site.base_url());
    for mode in [Mode::Threads, Mode::Processes, Mode::Async] {
        let mut config = config(mode);
        config.http.headers.push(("X-Big".into(), big.clone()));
        let (records, _) = fetch_lines(&config, std::slice::from_ref(&page));
        assert!(records[0].ok, "{mode}: {:?}", records[0].error);
    }
    // A 20 KiB URL: more than the blocking client writes, said in words; async sends it.
    let long = format!("{page}?q={}", "q".repeat(20 * 1024));
    for mode in [Mode::Threads, Mode::Async] {
        let (records, _) = fetch_lines(&config(mode), std::slice::from_ref(&long));
        let record = &records[0];
        if mode == Mode::Async {
            assert!(record.ok, "{mode}: {:?}", record.error);
            continue;
        }
        let error = record.error.as_ref().expect("refused");
        assert_eq!(error.kind, ErrorKind::Http, "{mode}: {error:?}");
        assert!(error.message.contains("--mode async"), "{mode}: {error:?}");
    }
}

#[test]
fn a_header_http_cannot_carry_stops_every_mode_before_any_request() {
    let site = site();
    let page = format!("{}/page/1", site.base_url());
    for mode in MODES {
        let mut config = config(mode);
        config.http.headers.push(("X-A".into(), "a\nb".into()));
        let refused = abreast_fetch::fetch(&config, [page.clone()], Default::default());
        let error = refused.expect_err("refused before the run");
        assert!(
            matches!(error, FetchError::Settings(_)),
            "{mode}: {error:?}"
        );
        assert!(
            error.to_string().contains("X-A header cannot be sent"),
            "{error}"
        );
        let mut config = self::config(mode);
        config.http.user_agent = Some("bot\u{7f}".into());
        let error = abreast_fetch::fetch(&config, [page.clone()], Default::default())
            .expect_err("refused before the run");
        assert!(error.to_string().contains("0x7f"), "{mode}: {error}");
    }
    assert_eq!(site.counters().requests(), 0, "no request went out");
}

/// A server on 127.0.0.1 that answers each of `headers`' connections in turn with a 200 whose
/// header has a field of that many bytes, and an empty body; its URL.
fn big_header_server(headers: Vec<usize>) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for size in headers {
            let Ok((mut stream, _)) = listener.accept() else {
                return;
            };
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let answer = format!(
                "HTTP/1.1 200 OK\r\nX-Big: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                "h".repeat(size)
            );
            let _ = stream.write_all(answer.as_bytes());
        }
    });
    url
}

#[test]
fn a_response_header_up_to_64_kib_reads_and_a_longer_one_is_refused_at_once() {
    // Threads mode: a header just under ureq's 64 KiB limit is read; one just over it is an
    // error of kind `http`, not a closed connection retried.
    let under = big_header_server(vec![60 * 1024]);
    let (records, _) = fetch_lines(&config(Mode::Threads), &[under]);
    assert!(records[0].ok, "{:?}", records[0].error);
    let over = big_header_server(vec![66 * 1024; 4]);
    let (records, _) = fetch_lines(&config(Mode::Threads), &[over]);
    let error = records[0].error.as_ref().expect("refused");
    assert_eq!(error.kind, ErrorKind::Http, "{error:?}");
    assert_eq!(records[0].attempts, 1, "{error:?}");
}

/// The credentials a request carried: its `Authorization` and `Cookie` headers.
type Credentials = (Option<String>, Option<String>);

/// A server that answers `/a` with a redirect to `/b` on the same host, and `/b` with a page,
/// and hands over the credentials each `/b` request carried.
fn same_host_redirect_server() -> (String, std::sync::mpsc::Receiver<Credentials>) {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (seen, heard) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            let _ = reader.read_line(&mut request_line);
            let mut credentials: Credentials = (None, None);
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                    break;
                }
                if let Some((name, value)) = line.split_once(':') {
                    if name.eq_ignore_ascii_case("authorization") {
                        credentials.0 = Some(value.trim().to_owned());
                    } else if name.eq_ignore_ascii_case("cookie") {
                        credentials.1 = Some(value.trim().to_owned());
                    }
                }
            }
            let answer = if request_line.starts_with("GET /a ") {
                "HTTP/1.1 302 Found\r\nLocation: /b\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            } else {
                let _ = seen.send(credentials);
                "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
            };
            let _ = stream.write_all(answer.as_bytes());
        }
    });
    (base, heard)
}

#[test]
fn credentials_stay_on_a_redirect_to_the_same_host_in_every_mode() {
    let (base, heard) = same_host_redirect_server();
    for mode in MODES {
        let mut config = config(mode);
        config.http.headers.extend([
            ("Authorization".into(), "Bearer t0ken".into()),
            ("Cookie".into(), "session=s3cret".into()),
        ]);
        let (records, _) = fetch_lines(&config, &[format!("{base}/a")]);
        assert!(records[0].ok, "{mode}: {:?}", records[0].error);
        assert!(
            records[0].final_url.as_deref().unwrap().ends_with("/b"),
            "{mode}: {:?}",
            records[0].final_url
        );
        assert_eq!(
            heard
                .recv_timeout(std::time::Duration::from_secs(60))
                .unwrap(),
            (
                Some("Bearer t0ken".to_owned()),
                Some("session=s3cret".to_owned())
            ),
            "{mode}"
        );
    }
}

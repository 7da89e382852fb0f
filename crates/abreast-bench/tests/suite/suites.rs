//! Tiny runs of the suites through the library: every row measured, with its CPU time, and the
//! fetch suites' server CPU apart from the client's.

use std::time::Duration;

use abreast_bench::{Bench, Implementation, NoProgress, Row, Sizes, SuiteName};

fn tiny() -> Sizes {
    Sizes {
        pages: 30,
        latency: Duration::from_millis(2),
        page_size: 8 * 1024,
        throughput_pages: 30,
        cpu_pages: 10,
        square_tasks: 2,
        square_size: 1000,
        tasks: 500,
        waiting: 500,
        ..Sizes::default()
    }
}

#[test]
fn the_fetch_suites_measure_client_and_server_cpu_apart_and_compare_with_curl() {
    let bench = Bench::new(0, 1);
    let report = abreast_bench::run(&bench, &[SuiteName::Fetch], &tiny(), &NoProgress).unwrap();
    let names: Vec<&str> = report.suites.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["fetch", "fetch-throughput"]);
    for suite in &report.suites {
        for row in suite.rows.iter().filter(|row| row.wall.is_some()) {
            assert!(row.cpu.is_some_and(|cpu| cpu.median > 0.0), "{row:?}");
            assert!(row.server_cpu.is_some(), "{row:?}");
        }
        let curl = suite
            .rows
            .iter()
            .find(|row| row.implementation == Implementation::Curl)
            .expect("a curl row, timed or skipped");
        // Beside curl, the async mode doing curl's work.
        let bare = suite
            .rows
            .iter()
            .filter(|row| row.variant.as_deref() == Some("no extraction"))
            .count();
        assert_eq!(bare, 1, "{suite:?}");
        if curl.wall.is_some() {
            // Every mode's row and the one without extraction.
            assert_eq!(suite.cpu_summary().len(), 5, "{:?}", suite.cpu_summary());
        } else {
            assert!(curl.note.as_deref().unwrap().contains("curl"), "{curl:?}");
        }
    }
}

#[test]
fn the_https_suites_fetch_across_host_names_and_note_the_site_counts() {
    let sizes = Sizes {
        pages: 6,
        tls_hosts: Some(3),
        tls_pages: 12,
        ..tiny()
    };
    let bench = Bench::new(0, 1);
    let report = abreast_bench::run(&bench, &[SuiteName::Fetch], &sizes, &NoProgress).unwrap();
    let names: Vec<&str> = report.suites.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        ["fetch-tls-hosts", "fetch-tls-one-host", "fetch-tls-latency"]
    );
    for suite in &report.suites {
        // Every mode's row (timed, or skipped with its reason) and curl's; across the hosts
        // with no latency, the handshakes alone too.
        let bounds: Vec<&Row> = suite.rows.iter().filter(|row| row.lower_bound).collect();
        let across_hosts = suite.name == "fetch-tls-hosts";
        assert_eq!(bounds.len(), usize::from(across_hosts), "{suite:?}");
        assert_eq!(suite.rows.len(), 5 + bounds.len(), "{suite:?}");
        if let Some(bound) = bounds.first() {
            assert_eq!(bound.variant.as_deref(), Some("handshakes alone"));
            assert_eq!(bound.tasks, 12, "counted per page of the part");
            assert!(bound.cpu.is_some_and(|cpu| cpu.median > 0.0), "{bound:?}");
            let note = bound.note.as_deref().unwrap();
            assert!(note.contains("a TLS handshake per host name"), "{note}");
            assert!(
                note.contains("alone, per host: 2 ECDSA P-256 verifications"),
                "{note}"
            );
            // Each of the 3 names once a run, as the site counted (the one run, no warm-up).
            assert!(
                note.contains("per host and run: 1.00 connections") && note.contains("DNS 1.00 A"),
                "{note}"
            );
            // Left out of the comparisons: it fetched no page.
            let cpu_lines = suite.cpu_summary();
            assert!(
                !cpu_lines.iter().any(|line| line.contains("handshakes")),
                "{cpu_lines:?}"
            );
            let lines = suite.summary();
            assert!(
                !lines.iter().any(|line| line.contains("handshakes")),
                "{lines:?}"
            );
        }
        for row in suite.rows.iter().filter(|row| !row.lower_bound) {
            let note = row.note.as_deref().unwrap_or_default();
            if row.wall.is_some() {
                // Curl resolves with --resolve lines: it asks the name server nothing.
                assert!(note.contains("per host and run: "), "{row:?}");
                assert!(row.cpu.is_some_and(|cpu| cpu.median > 0.0), "{row:?}");
            } else {
                assert!(note.starts_with("skipped: "), "{row:?}");
            }
            if row.implementation == Implementation::Curl && row.wall.is_some() {
                assert!(note.ends_with("DNS 0.00 A, 0.00 AAAA"), "{row:?}");
            }
        }
    }
}

#[test]
fn an_external_server_is_fetched_at_base_page_n() {
    let site = abreast_site::Site::start_in_background(
        abreast_site::SiteConfig::default()
            .pages(20)
            .page_size(4096),
    )
    .unwrap();
    let sizes = Sizes {
        pages: 20,
        base_url: Some(format!("{}/", site.base_url())),
        ..tiny()
    };
    let mut bench = Bench::new(0, 1);
    bench.curl = false;
    let report = abreast_bench::run(&bench, &[SuiteName::Fetch], &sizes, &NoProgress).unwrap();
    assert_eq!(report.suites.len(), 1);
    let suite = &report.suites[0];
    assert_eq!(suite.name, "fetch-external");
    assert_eq!(suite.rows.len(), 4);
    for row in &suite.rows {
        assert!(row.cpu.is_some() && row.server_cpu.is_none(), "{row:?}");
    }
    assert_eq!(site.counters().route(abreast_site::RouteKind::Page), 4 * 20);
}

#[test]
fn too_few_pages_on_an_external_server_fail_the_case() {
    let site = abreast_site::Site::start_in_background(
        abreast_site::SiteConfig::default().pages(5).page_size(4096),
    )
    .unwrap();
    let sizes = Sizes {
        pages: 8,
        base_url: Some(site.base_url().to_owned()),
        ..tiny()
    };
    let mut bench = Bench::new(0, 1);
    bench.curl = false;
    let error = abreast_bench::run(&bench, &[SuiteName::Fetch], &sizes, &NoProgress).unwrap_err();
    let chain = anyhow_like(&error);
    assert!(chain.contains("only 5 of 8 pages came back"), "{chain}");
}

/// The error with its chain of causes, as `anyhow`'s `{:#}` prints it.
fn anyhow_like(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[test]
fn the_cpu_suites_time_every_mechanism_with_its_cpu() {
    let bench = Bench::new(0, 1);
    let report = abreast_bench::run(&bench, &[SuiteName::Cpu], &tiny(), &NoProgress).unwrap();
    let names: Vec<&str> = report.suites.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["cpu", "cpu-compute"]);
    for row in report.suites.iter().flat_map(|s| &s.rows) {
        assert!(row.wall.is_some() && row.cpu.is_some(), "{row:?}");
        assert!(row.server_cpu.is_none(), "{row:?}");
    }
}

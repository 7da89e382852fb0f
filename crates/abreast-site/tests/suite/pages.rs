//! `/page/N`, the index and `/health`: bytes identical to `page_html` and to the files
//! `export_pages` writes, exact sizes, 404s past the last page, keep-alive reuse visible in the
//! counters, and latency honoured.

use std::time::{Duration, Instant};

use abreast_site::{Latency, RouteKind, Site, SiteConfig, SiteError, export_pages, page_html};

use crate::client::{Connection, End, get};

#[test]
fn pages_are_the_documented_bytes_of_the_exact_size() {
    for page_size in [1024, 4096, 64 * 1024] {
        let config = SiteConfig::default().pages(20).page_size(page_size);
        let site = Site::start_in_background(config.clone()).unwrap();
        for n in [0, 7, 19] {
            let reply = get(site.addr(), &format!("/page/{n}"));
            assert_eq!(reply.status, Some(200));
            assert_eq!(reply.end, End::Complete);
            assert_eq!(
                reply.header("content-type"),
                Some("text/html; charset=utf-8")
            );
            assert_eq!(reply.body.len(), page_size);
            assert_eq!(reply.body, page_html(&config, site.base_url(), n).unwrap());
            let canonical = format!(
                r#"<link rel="canonical" href="{}/page/{n}">"#,
                site.base_url()
            );
            assert!(reply.text().contains(&canonical));
        }
    }
}

#[test]
fn exported_pages_are_the_bytes_the_site_serves() {
    let config = SiteConfig::default().pages(12).page_size(8192);
    let site = Site::start_in_background(config.clone()).unwrap();
    let dir = std::env::temp_dir().join(format!("abreast-site-export-{}", std::process::id()));
    let written = export_pages(&config, &format!("{}/", site.base_url()), &dir).unwrap();
    assert_eq!(written, 12 * 8192);
    for n in 0..12 {
        let reply = get(site.addr(), &format!("/page/{n}"));
        let file = std::fs::read(dir.join(format!("page/{n}"))).unwrap();
        assert_eq!(reply.body, file, "page {n}");
    }
    assert!(!dir.join("page/12").exists());
    std::fs::remove_dir_all(&dir).unwrap();
    let blocked = tempfile_like_file();
    let error = export_pages(&config, site.base_url(), &blocked).unwrap_err();
    assert!(matches!(error, SiteError::Export { .. }), "{error:?}");
    assert!(error.to_string().contains("cannot write"), "{error}");
    std::fs::remove_file(&blocked).unwrap();
}

/// A plain file where export_pages wants a folder, so that making `page/` fails.
fn tempfile_like_file() -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("abreast-site-blocked-{}", std::process::id()));
    std::fs::write(&path, b"not a folder").unwrap();
    path
}

#[test]
fn pages_past_the_last_and_unknown_paths_are_not_found() {
    let site = Site::start_in_background(SiteConfig::default().pages(5)).unwrap();
    for path in [
        "/page/5",
        "/page/x",
        "/nothing",
        "/fault/nothing",
        "/fault/trickle/extra",
    ] {
        assert_eq!(get(site.addr(), path).status, Some(404), "{path}");
    }
    assert_eq!(site.counters().route(RouteKind::NotFound), 5);
    assert_eq!(site.counters().route(RouteKind::Page), 0);
}

#[test]
fn health_index_and_methods() {
    let site = Site::start_in_background(SiteConfig::default().pages(3)).unwrap();
    let health = get(site.addr(), "/health");
    assert_eq!((health.status, health.text().as_str()), (Some(200), "ok\n"));
    let index = get(site.addr(), "/");
    assert!(index.text().contains(r#"<a href="/page/2">"#));
    assert!(!index.text().contains(r#"<a href="/page/3">"#));
    let mut connection = Connection::open(site.addr(), Duration::from_secs(60));
    let post = connection.request("POST", "/page/0");
    assert_eq!(post.status, Some(405));
    let head = connection.request("HEAD", "/page/0");
    assert_eq!(head.status, Some(200));
    assert_eq!(head.header("content-length"), Some("65536"));
    assert!(head.body.is_empty());
}

#[test]
fn one_connection_serves_many_requests() {
    let site = Site::start_in_background(SiteConfig::default().page_size(2048)).unwrap();
    let mut connection = Connection::open(site.addr(), Duration::from_secs(60));
    for n in 0..10 {
        let reply = connection.get(&format!("/page/{n}"));
        assert_eq!((reply.status, reply.end), (Some(200), End::Complete));
    }
    assert_eq!(site.counters().connections(), 1);
    assert_eq!(site.counters().requests(), 10);
    assert_eq!(site.counters().route(RouteKind::Page), 10);
    assert_eq!(site.counters().routes(), vec![(RouteKind::Page, 10)]);
}

#[test]
fn fixed_latency_delays_every_response() {
    let wait = Duration::from_millis(60);
    let site =
        Site::start_in_background(SiteConfig::default().latency(Latency::Fixed(wait))).unwrap();
    let mut connection = Connection::open(site.addr(), Duration::from_secs(60));
    for path in ["/health", "/page/1", "/fault/empty"] {
        let started = Instant::now();
        let reply = connection.get(path);
        assert_eq!(reply.status, Some(200));
        assert!(
            started.elapsed() >= wait,
            "{path} answered before the latency"
        );
    }
}

#[test]
fn uniform_latency_waits_at_least_its_lower_bound() {
    let latency: Latency = "uniform:40ms..60ms".parse().unwrap();
    let site = Site::start_in_background(SiteConfig::default().latency(latency)).unwrap();
    let started = Instant::now();
    assert_eq!(get(site.addr(), "/health").status, Some(200));
    assert!(started.elapsed() >= latency.minimum());
}

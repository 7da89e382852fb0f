//! Starting and stopping: the async API on the caller's runtime, shutdown that frees the port
//! even with stalled connections open, start-up errors, and refused connections.

use std::time::Duration;

use abreast_site::{RouteKind, Site, SiteConfig, SiteError, refused_url};

use crate::client::{Connection, End, get};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_async_site_serves_counts_and_frees_its_port_on_shutdown() {
    let site = Site::start(SiteConfig::default().page_size(2048))
        .await
        .unwrap();
    let addr = site.addr();
    assert_eq!(site.base_url(), format!("http://{addr}"));
    let replies = tokio::task::spawn_blocking(move || {
        let mut connection = Connection::open(addr, Duration::from_secs(60));
        let first = connection.get("/page/1");
        let second = get(addr, "/fault/flaky/k?fail=1");
        let third = get(addr, "/fault/flaky/k?fail=1");
        (first.status, second.status, third.status)
    })
    .await
    .unwrap();
    assert_eq!(replies, (Some(200), Some(503), Some(200)));
    assert_eq!(site.counters().connections(), 3);
    assert_eq!(site.counters().requests(), 3);
    assert_eq!(site.counters().route(RouteKind::Flaky), 2);
    assert_eq!(site.flaky_attempts("k"), 2);
    assert_eq!(site.flaky_attempts("other"), 0);
    site.shutdown().await;
    let rebound = std::net::TcpListener::bind(addr);
    assert!(
        rebound.is_ok(),
        "the port is free after shutdown: {rebound:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_stalled_and_trickling_responses() {
    let site = Site::start(SiteConfig::default()).await.unwrap();
    let addr = site.addr();
    let clients = tokio::task::spawn_blocking(move || {
        let mut stalled = Connection::open(addr, Duration::from_secs(30));
        let mut headerless = Connection::open(addr, Duration::from_secs(30));
        let mut trickle = Connection::open(addr, Duration::from_secs(30));
        let handles = [
            std::thread::spawn(move || stalled.get("/fault/stall").end),
            std::thread::spawn(move || headerless.get("/fault/stall-headers").end),
            std::thread::spawn(move || trickle.get("/fault/trickle?bytes_per_sec=1").end),
        ];
        handles.map(|handle| handle.join().unwrap())
    });
    while site.counters().requests() < 3 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    site.shutdown().await;
    let ends = clients.await.unwrap();
    assert!(
        ends.iter()
            .all(|end| *end != End::Complete && *end != End::TimedOut),
        "{ends:?}"
    );
}

#[test]
fn dropping_a_background_site_stops_it() {
    let site = Site::start_in_background(SiteConfig::default()).unwrap();
    let addr = site.addr();
    assert_eq!(get(addr, "/health").status, Some(200));
    drop(site);
    assert!(std::net::TcpStream::connect(addr).is_err());
}

#[tokio::test]
async fn dropping_a_running_site_stops_accepting() {
    let site = Site::start(SiteConfig::default()).await.unwrap();
    let addr = site.addr();
    drop(site);
    // The accept loop notices on its next poll; wait for it (a minute only a hang reaches).
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut rebound = std::net::TcpListener::bind(addr);
    while rebound.is_err() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
        rebound = std::net::TcpListener::bind(addr);
    }
    assert!(
        rebound.is_ok(),
        "the port is free after the drop: {rebound:?}"
    );
}

#[tokio::test]
async fn start_up_errors_say_what_to_do() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let error = Site::start(SiteConfig::default().addr(addr))
        .await
        .unwrap_err();
    assert!(matches!(error, SiteError::Bind { .. }), "{error}");
    assert!(error.to_string().contains("port 0"), "{error}");

    let error = Site::start(SiteConfig::default().page_size(100))
        .await
        .unwrap_err();
    assert!(
        matches!(error, SiteError::PageTooSmall { page_size: 100, .. }),
        "{error}"
    );
    assert!(error.to_string().contains("at least"), "{error}");
}

#[test]
fn refused_url_refuses() {
    let url = refused_url().unwrap();
    let addr = url.trim_start_matches("http://").trim_end_matches('/');
    let error = std::net::TcpStream::connect(addr).unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::ConnectionRefused);
}

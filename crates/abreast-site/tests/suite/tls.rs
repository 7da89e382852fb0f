//! HTTPS: a client that trusts the site's CA fetches `https://h17.site.test:PORT/page/3` over
//! HTTP/2 (ALPN) and over HTTP/1.1, the site counts connections per SNI name, resumes sessions,
//! still serves plain HTTP on the same port, and gives the `expired.` and `wrong-name.` names
//! certificates a client must refuse.

use std::sync::Arc;
use std::time::Duration;

use abreast_site::{RunningSite, Site, SiteConfig};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::client::get;

const PAGE_SIZE: usize = 4096;

async fn tls_site() -> RunningSite {
    Site::start(SiteConfig::default().page_size(PAGE_SIZE).tls(true))
        .await
        .unwrap()
}

/// A client configuration that trusts only the site's CA and offers these ALPN protocols.
fn client_config(site: &RunningSite, alpn: &[&[u8]]) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    let pem = site.ca_pem().expect("a TLS site has a CA");
    for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

async fn connect(
    site: &RunningSite,
    config: &Arc<rustls::ClientConfig>,
    host: &str,
) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(site.addr()).await?;
    let name = ServerName::try_from(host.to_owned()).unwrap();
    TlsConnector::from(Arc::clone(config))
        .connect(name, tcp)
        .await
}

/// GETs `path` over a fresh HTTP/2 connection `count` times; returns the last body.
async fn h2_get(stream: TlsStream<TcpStream>, host: &str, path: &str, count: usize) -> Bytes {
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(connection);
    let mut last = Bytes::new();
    for _ in 0..count {
        let request = http::Request::get(format!("https://{host}{path}"))
            .body(Empty::<Bytes>::new())
            .unwrap();
        let response = sender.send_request(request).await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.version(), http::Version::HTTP_2);
        last = response.into_body().collect().await.unwrap().to_bytes();
    }
    last
}

async fn wait_for(what: &str, condition: impl Fn() -> bool) {
    tokio::time::timeout(Duration::from_secs(30), async {
        while !condition() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out waiting for {what}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_any_name_over_h2_and_counts_connections_per_host() {
    let site = tls_site().await;
    let port = site.addr().port();
    assert_eq!(
        site.https_base_url(),
        Some(format!("https://site.test:{port}").as_str())
    );
    let h2 = client_config(&site, &[b"h2", b"http/1.1"]);

    let stream = connect(&site, &h2, "h17.site.test").await.unwrap();
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let body = h2_get(stream, "h17.site.test", "/page/3", 5).await;
    assert_eq!(body.len(), PAGE_SIZE);
    let text = String::from_utf8_lossy(&body);
    assert!(text.contains("<title>Page 3</title>"), "{text}");

    // The same name in capitals is the same host to the counters.
    let stream = connect(&site, &h2, "H18.Site.Test").await.unwrap();
    h2_get(stream, "h18.site.test", "/page/1", 1).await;

    let counters = site.counters();
    assert_eq!(counters.tls_connections_for("h17.site.test"), 1);
    assert_eq!(counters.tls_connections_for("h18.site.test"), 1);
    assert_eq!(counters.tls_connections_for("h19.site.test"), 0);
    assert_eq!(counters.tls_handshakes(), 2);
    assert_eq!(counters.h2_connections(), 2);
    assert_eq!(counters.requests(), 6);
    assert_eq!(
        counters.tls_hosts(),
        vec![
            ("h17.site.test".to_owned(), 1),
            ("h18.site.test".to_owned(), 1)
        ]
    );
    site.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_http1_over_tls_resumes_sessions_and_plain_http_on_the_same_port() {
    let site = tls_site().await;
    let http1 = client_config(&site, &[b"http/1.1"]);
    for round in 0..2 {
        let mut stream = connect(&site, &http1, "h1.site.test").await.unwrap();
        assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
        stream
            .write_all(b"GET /page/2 HTTP/1.1\r\nHost: h1.site.test\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.unwrap_or_default();
        let response = String::from_utf8_lossy(&response);
        assert!(
            response.starts_with("HTTP/1.1 200"),
            "round {round}: {response}"
        );
        assert!(response.contains("<title>Page 2</title>"));
    }
    let counters = site.counters();
    assert_eq!(counters.tls_connections_for("h1.site.test"), 2);
    assert_eq!(counters.h2_connections(), 0);
    assert_eq!(counters.tls_resumed(), 1, "the second handshake resumes");

    // Plain HTTP on the same port, as without TLS.
    let addr = site.addr();
    let reply = tokio::task::spawn_blocking(move || get(addr, "/page/4"))
        .await
        .unwrap();
    assert_eq!(reply.status, Some(200));
    assert_eq!(reply.body.len(), PAGE_SIZE);
    assert_eq!(counters.tls_handshakes(), 2);
    assert_eq!(counters.connections(), 3);
    site.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_and_wrong_name_certificates_are_refused_by_a_client() {
    let site = tls_site().await;
    let config = client_config(&site, &[b"http/1.1"]);
    let expired = connect(&site, &config, "expired.site.test")
        .await
        .unwrap_err();
    assert!(
        expired.to_string().to_lowercase().contains("expired"),
        "{expired}"
    );
    let wrong = connect(&site, &config, "wrong-name.site.test")
        .await
        .unwrap_err();
    assert!(wrong.to_string().contains("not valid for name"), "{wrong}");
    // A client that does not trust the CA refuses every certificate.
    let roots = rustls::RootCertStore::empty();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let untrusting = Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    );
    let unknown = connect(&site, &untrusting, "h1.site.test")
        .await
        .unwrap_err();
    let message = unknown.to_string().to_lowercase().replace(' ', "");
    assert!(message.contains("unknownissuer"), "{unknown}");
    wait_for("three failed handshakes", || {
        site.counters().tls_failures() == 3
    })
    .await;
    assert_eq!(site.counters().tls_handshakes(), 0);
    site.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_site_without_tls_has_no_ca_and_no_https_url() {
    let site = Site::start(SiteConfig::default().page_size(PAGE_SIZE))
        .await
        .unwrap();
    assert_eq!(site.ca_pem(), None);
    assert_eq!(site.https_base_url(), None);
    assert_eq!(site.dns_addr(), None);
    site.shutdown().await;
}

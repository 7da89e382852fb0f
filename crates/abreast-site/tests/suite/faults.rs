//! Every `/fault/...` route, checked on the wire: what arrives, and how the exchange ends (a
//! reset must look like a reset, a stall like silence, a short body like an early EOF).

use std::io::Read;
use std::time::{Duration, Instant};

use abreast_site::{
    BackgroundSite, ContentEncoding, Declaration, INVALID_BYTES_TITLE, LegacyEncoding, RouteKind,
    Site, SiteConfig, legacy_page, page_html,
};

use crate::client::{Connection, End, get};

fn site() -> (BackgroundSite, SiteConfig) {
    let config = SiteConfig::default().pages(10).page_size(8192);
    (Site::start_in_background(config.clone()).unwrap(), config)
}

fn inflate(encoding: &str, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match encoding {
        "gzip" => flate2::read::GzDecoder::new(data).read_to_end(&mut out),
        "deflate" => flate2::read::ZlibDecoder::new(data).read_to_end(&mut out),
        "br" => brotli::Decompressor::new(data, 4096).read_to_end(&mut out),
        "zstd" => zstd::stream::read::Decoder::new(data)
            .unwrap()
            .read_to_end(&mut out),
        other => panic!("unexpected encoding {other}"),
    }
    .expect("the body decompresses");
    out
}

#[test]
fn trickle_sends_the_whole_body_slowly() {
    let (site, _) = site();
    let started = Instant::now();
    let reply = get(site.addr(), "/fault/trickle?bytes_per_sec=1000&size=500");
    assert_eq!((reply.status, reply.end), (Some(200), End::Complete));
    assert_eq!(reply.body.len(), 500);
    assert!(reply.text().ends_with("</html>\n"));
    // Five ticks of 100 bytes, 100 ms apart: at least 400 ms.
    assert!(started.elapsed() >= Duration::from_millis(400));
}

#[test]
fn reset_sends_part_of_the_body_then_an_rst() {
    let (site, _) = site();
    let reply = get(site.addr(), "/fault/reset?after=1000");
    assert_eq!(reply.status, Some(200));
    assert_eq!(reply.header("content-length"), Some("8192"));
    assert_eq!(
        reply.end,
        End::Reset,
        "the client must see a reset, not a clean end"
    );
    assert!(reply.body.len() <= 1000);
}

#[test]
fn stall_sends_headers_then_nothing() {
    let (site, _) = site();
    // The stall never ends: a limit of a few seconds only has to outlast the first 100 bytes.
    let mut connection = Connection::open(site.addr(), Duration::from_secs(5));
    let reply = connection.get("/fault/stall?after=100");
    assert_eq!(reply.status, Some(200));
    assert_eq!(reply.header("content-length"), Some("8192"));
    assert_eq!(reply.body.len(), 100);
    assert_eq!(reply.end, End::TimedOut);
}

#[test]
fn stall_headers_sends_nothing_at_all() {
    let (site, _) = site();
    let mut connection = Connection::open(site.addr(), Duration::from_secs(5));
    let reply = connection.get("/fault/stall-headers");
    assert_eq!((reply.status, reply.end), (None, End::TimedOut));
    assert_eq!(site.counters().route(RouteKind::StallHeaders), 1);
}

#[test]
fn close_ends_the_connection_without_a_response() {
    let (site, _) = site();
    let mut connection = Connection::open(site.addr(), Duration::from_secs(60));
    let reply = connection.get("/fault/close");
    assert_eq!(reply.status, None);
    assert_ne!(reply.end, End::TimedOut);
}

#[test]
fn status_routes_answer_the_code_and_retry_after() {
    let (site, _) = site();
    let reply = get(site.addr(), "/fault/status/503");
    assert_eq!(reply.status, Some(503));
    assert_eq!(reply.header("retry-after"), None);
    let reply = get(site.addr(), "/fault/status/429?retry_after=1");
    assert_eq!(reply.status, Some(429));
    assert_eq!(reply.header("retry-after"), Some("1"));
    let date = "Wed, 21 Oct 2015 07:28:00 GMT";
    let reply = get(
        site.addr(),
        "/fault/status/503?retry_after=Wed%2C%2021%20Oct%202015%2007%3A28%3A00%20GMT",
    );
    assert_eq!(reply.header("retry-after"), Some(date));
    assert_eq!(get(site.addr(), "/fault/status/204").body_len, 0);
    for bad in ["/fault/status/99", "/fault/status/600", "/fault/status/x"] {
        assert_eq!(get(site.addr(), bad).status, Some(400), "{bad}");
    }
}

#[test]
fn flaky_fails_the_first_requests_per_key_then_serves_page_zero() {
    let (site, config) = site();
    let mut connection = Connection::open(site.addr(), Duration::from_secs(60));
    let path = "/fault/flaky/alpha?fail=2&status=429&retry_after=0";
    let first = connection.get(path);
    assert_eq!(
        (first.status, first.header("retry-after")),
        (Some(429), Some("0"))
    );
    assert_eq!(connection.get(path).status, Some(429));
    let third = connection.get(path);
    assert_eq!(third.status, Some(200));
    assert_eq!(third.body, page_html(&config, site.base_url(), 0).unwrap());
    assert_eq!(connection.get("/fault/flaky/beta").status, Some(503));
    assert_eq!(site.counters().route(RouteKind::Flaky), 4);
    assert_eq!(
        (site.flaky_attempts("alpha"), site.flaky_attempts("beta")),
        (3, 1)
    );
}

#[test]
fn redirects_loop_chain_and_leave_http() {
    let (site, config) = site();
    let reply = get(site.addr(), "/fault/redirect-loop");
    assert_eq!(reply.status, Some(302));
    assert_eq!(reply.header("location"), Some("/fault/redirect-loop"));

    let mut connection = Connection::open(site.addr(), Duration::from_secs(60));
    let mut path = "/fault/redirect/3?to=4&status=301".to_owned();
    let mut hops = 0;
    let final_reply = loop {
        let reply = connection.get(&path);
        match reply.status {
            Some(301) => {
                path = reply.header("location").unwrap().to_owned();
                hops += 1;
            }
            _ => break reply,
        }
    };
    assert_eq!((hops, path.as_str()), (3, "/page/4"));
    assert_eq!(
        final_reply.body,
        page_html(&config, site.base_url(), 4).unwrap()
    );
    assert_eq!(connection.get("/fault/redirect/0?to=2").body.len(), 8192);

    let reply = get(
        site.addr(),
        "/fault/redirect-to?url=ftp%3A%2F%2Fexample.invalid%2Ffile",
    );
    assert_eq!(reply.status, Some(302));
    assert_eq!(reply.header("location"), Some("ftp://example.invalid/file"));
    assert_eq!(get(site.addr(), "/fault/redirect-to").status, Some(400));
    assert_eq!(
        get(site.addr(), "/fault/redirect/2?status=200").status,
        Some(400)
    );
}

#[test]
fn bombs_are_small_and_inflate_to_the_size_asked() {
    let (site, _) = site();
    let size = 32 << 20;
    for encoding in ContentEncoding::ALL {
        let token = encoding.token();
        let reply = get(
            site.addr(),
            &format!("/fault/bomb?encoding={token}&size=32M"),
        );
        assert_eq!(reply.status, Some(200));
        assert_eq!(reply.header("content-encoding"), Some(token));
        assert!(
            reply.body.len() < size / 500,
            "{token}: {}",
            reply.body.len()
        );
        let inflated = inflate(token, &reply.body);
        assert_eq!(inflated.len(), size);
        assert!(inflated.iter().all(|&byte| byte == 0));
    }
    assert_eq!(
        get(site.addr(), "/fault/bomb?encoding=lzma").status,
        Some(400)
    );
    assert_eq!(get(site.addr(), "/fault/bomb?size=100G").status, Some(400));
}

#[test]
fn huge_streams_exactly_the_size_asked() {
    let (site, _) = site();
    let mut connection = Connection::open(site.addr(), Duration::from_secs(60));
    connection.discard_bodies = true;
    let reply = connection.get("/fault/huge?size=100M");
    assert_eq!(reply.header("content-length"), Some("104857600"));
    assert_eq!((reply.end, reply.body_len), (End::Complete, 100 << 20));
    let reply = connection.get("/fault/huge?size=5M&chunked=1");
    assert_eq!(reply.header("transfer-encoding"), Some("chunked"));
    assert_eq!((reply.end, reply.body_len), (End::Complete, 5 << 20));
    let small = get(site.addr(), "/fault/huge?size=10");
    assert_eq!(small.text(), "<!DOCTYPE ");
}

#[test]
fn legacy_encodings_arrive_as_documented() {
    let (site, _) = site();
    let mut connection = Connection::open(site.addr(), Duration::from_secs(60));
    for encoding in LegacyEncoding::ALL {
        for (declare, declaration) in [
            ("header", Declaration::Header),
            ("meta", Declaration::Meta),
            ("none", Declaration::None),
        ] {
            let name = encoding.path_name();
            let reply = connection.get(&format!("/fault/encoding/{name}?declare={declare}"));
            let expected = legacy_page(encoding, declaration);
            assert_eq!(reply.status, Some(200));
            assert_eq!(
                reply.header("content-type"),
                Some(expected.content_type.as_str())
            );
            assert_eq!(reply.body, expected.body);
            let (text, _, errors) = encoding.encoding().decode(&reply.body);
            assert!(!errors && text.contains(encoding.title()), "{name}");
        }
    }
    assert_eq!(connection.get("/fault/encoding/ebcdic").status, Some(400));
    assert_eq!(
        connection.get("/fault/encoding/big5?declare=guess").status,
        Some(400)
    );
}

#[test]
fn invalid_bytes_are_declared_utf8_but_are_not() {
    let (site, _) = site();
    let reply = get(site.addr(), "/fault/invalid-bytes");
    assert_eq!(
        reply.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(std::str::from_utf8(&reply.body).is_err());
    assert!(reply.text().contains(INVALID_BYTES_TITLE));
}

#[test]
fn wrong_length_promises_more_than_it_sends() {
    let (site, _) = site();
    let reply = get(site.addr(), "/fault/wrong-length?missing=500");
    assert_eq!(reply.header("content-length"), Some("8692"));
    assert_eq!((reply.end, reply.body.len()), (End::EarlyEof, 8192));
}

#[test]
fn empty_is_a_200_without_a_body() {
    let (site, _) = site();
    let reply = get(site.addr(), "/fault/empty");
    assert_eq!(reply.status, Some(200));
    assert_eq!(reply.header("content-length"), Some("0"));
    assert_eq!((reply.end, reply.body_len), (End::Complete, 0));
}

#[test]
fn compressed_pages_inflate_to_the_page() {
    let (site, config) = site();
    let expected = page_html(&config, site.base_url(), 3).unwrap();
    for encoding in ContentEncoding::ALL {
        let token = encoding.token();
        let reply = get(
            site.addr(),
            &format!("/fault/compressed?encoding={token}&page=3"),
        );
        assert_eq!(reply.header("content-encoding"), Some(token));
        assert!(reply.body.len() < expected.len() / 2, "{token}");
        assert_eq!(inflate(token, &reply.body), expected, "{token}");
    }
}

#[test]
fn malformed_parameters_get_a_400_that_explains() {
    let (site, _) = site();
    let reply = get(site.addr(), "/fault/trickle?bytes_per_sec=fast");
    assert_eq!(reply.status, Some(400));
    assert!(
        reply.text().contains("not a whole number"),
        "{}",
        reply.text()
    );
    let reply = get(site.addr(), "/fault/huge?size=lots");
    assert_eq!(reply.status, Some(400));
    assert!(reply.text().contains("invalid size"), "{}", reply.text());
}

#[test]
fn partial_routes_refuse_to_send_the_whole_page() {
    let (site, _) = site();
    for path in [
        "/fault/reset?after=8192",
        "/fault/stall?after=9K",
        "/fault/trickle?size=17M",
    ] {
        let reply = get(site.addr(), path);
        assert_eq!(reply.status, Some(400), "{path}");
        assert!(reply.text().contains("ask for"), "{}", reply.text());
    }
}

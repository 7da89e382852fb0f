//! The library API: any iterator of URLs in, records out as they complete; a dropped run frees
//! its threads and worker processes; input errors and stops reach the caller.

use std::sync::Arc;
use std::time::Duration;

use abreast_fetch::{
    Extraction, FetchError, Mode, Next, RunOptions, SharedHosts, SharedPermit, StopSignal, fetch,
};
use abreast_site::{Site, SiteConfig};
use futures::future::BoxFuture;

use crate::support::{MODES, config, every_config, site};

#[test]
fn any_iterator_of_urls_gives_one_record_each_as_they_complete() {
    let site = site();
    for (mode, config) in every_config() {
        let base = site.base_url().to_owned();
        // A lazy iterator of Strings, with a bad line and a comment among them.
        let urls = (0..40)
            .map(move |n| format!("{base}/page/{n}"))
            .chain(["not a url".to_owned(), "# a comment".to_owned()]);
        let mut records = fetch(&config, urls, RunOptions::default()).unwrap();
        let mut seen = Vec::new();
        for record in records.by_ref() {
            seen.push(record);
        }
        let summary = records.finish().unwrap();
        assert_eq!(seen.len(), 41, "{mode}: one record per URL line");
        assert_eq!((summary.records, summary.ok), (41, 40), "{mode}");
        let bad = seen.iter().find(|r| r.url == "not a url").unwrap();
        assert_eq!(
            bad.error.as_ref().unwrap().kind,
            abreast_fetch::ErrorKind::InvalidUrl
        );
        assert!(seen.iter().filter(|r| r.ok).all(|r| r.page.title.is_some()));
    }
}

#[test]
fn a_record_is_handed_out_before_the_input_ends() {
    let site = site();
    for (mode, config) in every_config() {
        let (lines, input) = flume::unbounded::<String>();
        let mut records = fetch(&config, input, RunOptions::default()).unwrap();
        lines.send(format!("{}/page/1", site.base_url())).unwrap();
        let record = match records.next_timeout(Duration::from_secs(60)) {
            Next::Record(record) => record,
            Next::Pending => panic!("{mode}: no record within a minute"),
            Next::End => panic!("{mode}: the run ended with its input still open"),
        };
        assert!(record.ok, "{mode}: {:?}", record.error);
        assert!(matches!(
            records.next_timeout(Duration::from_millis(50)),
            Next::Pending
        ));
        drop(lines);
        assert!(records.next().is_none(), "{mode}: the input ended");
        assert_eq!(records.finish().unwrap().records, 1);
    }
}

#[test]
fn a_zero_timeout_hands_out_the_records_already_waiting() {
    let site = site();
    for (mode, config) in every_config() {
        let (lines, input) = flume::unbounded::<String>();
        let mut records = fetch(&config, input, RunOptions::default()).unwrap();
        for n in 0..3 {
            lines.send(format!("{}/page/{n}", site.base_url())).unwrap();
        }
        // The first record is waited for; the other two then come without waiting, once ready.
        let first = records.next_timeout(Duration::from_secs(60));
        let mut drained = Vec::new();
        let hang_limit = std::time::Instant::now() + Duration::from_secs(60);
        while drained.len() < 2 && std::time::Instant::now() < hang_limit {
            if records.is_idle() {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            }
            drained.push(records.next_timeout(Duration::ZERO));
        }
        // The input ends before any assertion: a run still reading it would hang its drop.
        drop(lines);
        assert!(
            matches!(first, Next::Record(_)),
            "{mode}: no record within a minute"
        );
        assert_eq!(drained.len(), 2, "{mode}: the records did not come");
        for next in drained {
            assert!(
                matches!(next, Next::Record(_)),
                "{mode}: a record was ready, yet a zero timeout gave {next:?}"
            );
        }
        assert!(records.next().is_none(), "{mode}: the input ended");
    }
}

#[test]
fn a_stop_ends_the_records_and_counts_the_abandoned() {
    let slow = Site::start_in_background(
        SiteConfig::default()
            .pages(1000)
            .page_size(4096)
            .latency(abreast_site::Latency::Fixed(Duration::from_millis(100))),
    )
    .unwrap();
    for mode in MODES {
        let base = slow.base_url().to_owned();
        let urls = (0..1000).map(move |n| format!("{base}/page/{n}"));
        let stop = StopSignal::new();
        let mut config = config(mode);
        config.grace = Duration::from_millis(0);
        let options = RunOptions {
            stop: Some(stop.clone()),
            ..RunOptions::default()
        };
        let mut records = fetch(&config, urls, options).unwrap();
        assert!(records.next().is_some(), "{mode}");
        records.stop();
        assert!(stop.is_raised(), "{mode}: stop() raises the run's signal");
        let handed_out = 1 + records.by_ref().count() as u64;
        let summary = records.finish().unwrap();
        assert!(summary.interrupted, "{mode}");
        assert_eq!(summary.records, handed_out, "{mode}");
        assert!(
            summary.records < 1000,
            "{mode}: the stop ended the run early"
        );
    }
}

/// Shared limits that never give a place: every request waits for one.
#[derive(Debug)]
struct NoPlace;

impl SharedHosts for NoPlace {
    fn acquire<'a>(&'a self, _host: &'a str) -> BoxFuture<'a, SharedPermit> {
        Box::pin(std::future::pending())
    }
}

#[test]
fn a_request_waiting_for_a_shared_place_when_the_run_stops_is_never_made() {
    let site = site();
    for (mode, mut config) in every_config() {
        config.grace = Duration::ZERO;
        let before = site.counters().requests();
        let base = site.base_url().to_owned();
        let urls = (0..4).map(move |n| format!("{base}/page/{n}"));
        let options = RunOptions {
            hosts: Some(Arc::new(NoPlace)),
            ..RunOptions::default()
        };
        let mut records = fetch(&config, urls, options).unwrap();
        assert!(matches!(
            records.next_timeout(Duration::from_millis(200)),
            Next::Pending
        ));
        records.stop();
        // Dropped, the run waits for its threads: each must stop waiting for its place.
        let (dropped, done) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            drop(records);
            let _ = dropped.send(());
        });
        done.recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("{mode}: the run's drop hung on a waiting request"));
        assert_eq!(
            site.counters().requests(),
            before,
            "{mode}: a request was made without its place"
        );
    }
}

#[test]
fn a_stopped_run_starts_none_of_the_requests_waiting_for_their_host() {
    let site = site();
    for (mode, mut config) in every_config() {
        // One request at a time to the host and one start every 30 s: the first starts at
        // once, the second holds the host's slot waiting for its start, the rest wait for the
        // slot. The grace is long enough for them to start if the stop let them.
        config.per_host = 1;
        config.rate = Some(1.0 / 30.0);
        config.grace = Duration::from_secs(120);
        let before = site.counters().requests();
        let base = site.base_url().to_owned();
        let urls = (0..6).map(move |n| format!("{base}/page/{n}"));
        let mut records = fetch(&config, urls, RunOptions::default()).unwrap();
        assert!(
            matches!(
                records.next_timeout(Duration::from_secs(60)),
                Next::Record(_)
            ),
            "{mode}: the first page comes"
        );
        records.stop();
        assert_eq!(
            records.by_ref().count(),
            0,
            "{mode}: a request waiting for its host started after the stop"
        );
        let summary = records.finish().unwrap();
        // The URLs taken before the stop are abandoned; one the driver had not taken yet when
        // the stop came (on a busy machine the first page can come back first) is not taken.
        assert_eq!(summary.records, 1, "{mode}");
        assert!(summary.abandoned <= 5, "{mode}: {summary:?}");
        assert_eq!(site.counters().requests() - before, 1, "{mode}");
    }
}

#[test]
fn an_input_error_is_reported_after_the_records_before_it() {
    let site = site();
    let base = site.base_url().to_owned();
    let input = vec![
        Ok(format!("{base}/page/1")),
        Err(std::io::Error::other("the disk went away")),
        Ok(format!("{base}/page/2")),
    ];
    let mut records = fetch(&config(Mode::Hybrid), input, RunOptions::default()).unwrap();
    assert_eq!(
        records.by_ref().count(),
        1,
        "the line before the error is fetched"
    );
    match records.finish() {
        Err(FetchError::Input(error)) => assert!(error.to_string().contains("disk went away")),
        other => panic!("expected the input error, got {other:?}"),
    }
}

#[test]
fn without_extraction_records_carry_the_fetch_fields_and_the_same_sizes() {
    let site = site();
    let base = site.base_url();
    let urls: Vec<String> = (0..20)
        .map(|n| format!("{base}/page/{n}"))
        .chain([
            format!("{base}/fault/compressed?encoding=gzip&page=3"),
            format!("{base}/fault/status/404"),
        ])
        .collect();
    let by_url = |records: Vec<abreast_fetch::Record>| {
        let mut records = records;
        records.sort_by(|a, b| a.url.cmp(&b.url));
        records
    };
    for mode in MODES {
        let full = by_url(
            fetch(&config(mode), urls.clone(), RunOptions::default())
                .unwrap()
                .collect(),
        );
        let mut config = config(mode);
        config.http.extraction = Extraction::Off;
        let bare = by_url(
            fetch(&config, urls.clone(), RunOptions::default())
                .unwrap()
                .collect(),
        );
        assert_eq!(bare.len(), urls.len(), "{mode}");
        for (full, bare) in full.iter().zip(&bare) {
            assert_eq!(full.url, bare.url);
            let same_fetch = (full.ok, full.status, full.bytes, &full.final_url);
            assert_eq!(
                same_fetch,
                (bare.ok, bare.status, bare.bytes, &bare.final_url),
                "{mode}: {}",
                bare.url
            );
            assert_eq!(full.error.is_some(), bare.error.is_some(), "{mode}");
            assert!(!bare.truncated, "{mode}: {}", bare.url);
            assert!(
                bare.page.title.is_none()
                    && bare.page.meta.is_empty()
                    && bare.page.charset.is_empty(),
                "{mode}: {} was extracted",
                bare.url
            );
        }
        assert!(
            full.iter()
                .filter(|r| r.ok)
                .all(|r| r.page.title.is_some() && r.bytes > 0),
            "{mode}: the full run extracted every page"
        );
        assert_eq!(
            bare.iter().filter(|r| r.ok).count(),
            urls.len() - 1,
            "{mode}"
        );
    }
}

#[test]
fn head_only_keeps_connections_where_the_rest_is_small() {
    for mode in MODES {
        let site = Site::start_in_background(SiteConfig::default().pages(100).page_size(64 * 1024))
            .unwrap();
        let base = site.base_url().to_owned();
        let urls: Vec<String> = (0..200)
            .map(|n| format!("{base}/page/{}", n % 100))
            .collect();
        let mut config = config(mode);
        config.http.extraction = Extraction::HeadOnly;
        let records: Vec<_> = fetch(&config, urls, RunOptions::default())
            .unwrap()
            .collect();
        assert!(records.iter().all(|r| r.ok && r.truncated), "{mode}");
        let (connections, requests) = (site.counters().connections(), site.counters().requests());
        assert!(
            connections * 4 < requests,
            "{mode}: {connections} connections for {requests} head-only requests"
        );
    }
}

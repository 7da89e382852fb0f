//! Running the pipeline on a list of URLs and reading back its records.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::time::Duration;

use abreast_fetch::ResumeLedger;
use abreast_fetch::{
    FetchConfig, Format, HttpSettings, Mode, Record, RecordWriter, StopSignal, Summary, run,
};
use abreast_site::{BackgroundSite, Site, SiteConfig};

/// The modes every fault test runs in.
pub const MODES: [Mode; 4] = [Mode::Threads, Mode::Async, Mode::Hybrid, Mode::Processes];

/// A site with small pages for fast tests.
pub fn site() -> BackgroundSite {
    Site::start_in_background(SiteConfig::default().pages(100).page_size(8 * 1024)).unwrap()
}

/// Settings for tests: time limits that only a hang reaches, however slow or busy the machine
/// (a compression bomb's first request waits while the site builds it), fast retries, a 1 MiB
/// body cap.
pub fn test_settings() -> HttpSettings {
    let mut settings = HttpSettings::default();
    settings.connect_timeout = Duration::from_secs(60);
    settings.timeout = Duration::from_secs(60);
    settings.max_bytes = 1 << 20;
    settings.retries = 2;
    settings.retry_base_ms = 10;
    settings.retry_max_wait_ms = 1500;
    settings
}

/// A configuration for `mode` with the test settings.
pub fn config(mode: Mode) -> FetchConfig {
    let mut config = FetchConfig::default();
    config.mode = mode;
    config.concurrency = Some(16);
    config.workers = Some(2);
    config.http = test_settings();
    config
}

/// [`config`] of every mode, named, and the hybrid mode's with two I/O threads: with one (the
/// tests' default, and any machine's up to three CPUs) it runs on a current-thread runtime,
/// with more on a multi-thread one.
pub fn every_config() -> Vec<(String, FetchConfig)> {
    let mut configs: Vec<(String, FetchConfig)> = MODES
        .iter()
        .map(|&mode| (mode.name().to_owned(), config(mode)))
        .collect();
    let mut threaded = config(Mode::Hybrid);
    threaded.io_threads = Some(2);
    configs.push(("hybrid, 2 I/O threads".to_owned(), threaded));
    configs
}

/// A configuration for the URLs that must time out (a stalled or trickling server): a short
/// limit, which such a server always exceeds, so the test does not wait a minute for each.
pub fn timing_out_config(mode: Mode) -> FetchConfig {
    let mut config = config(mode);
    config.http.timeout = Duration::from_millis(1500);
    config
}

/// Runs the pipeline over `lines` and returns the records (in output order) and the summary.
pub fn fetch_lines(config: &FetchConfig, lines: &[String]) -> (Vec<Record>, Summary) {
    fetch_text(config, &lines.join("\n"), ResumeLedger::default())
}

/// Runs the pipeline over `input` with `done` already done.
pub fn fetch_text(config: &FetchConfig, input: &str, done: ResumeLedger) -> (Vec<Record>, Summary) {
    fetch_bytes(config, input.as_bytes(), done)
}

/// Runs the pipeline over `input`, bytes in any encoding, with `done` already done.
pub fn fetch_bytes(
    config: &FetchConfig,
    input: &[u8],
    done: ResumeLedger,
) -> (Vec<Record>, Summary) {
    let mut out = Vec::new();
    let summary = {
        let mut writer = RecordWriter::new(&mut out, Format::Jsonl, true).unwrap();
        run(
            config,
            Cursor::new(input.to_vec()),
            done,
            &mut writer,
            &StopSignal::new(),
            &mut |_, _| {},
        )
        .unwrap()
    };
    let records = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).expect("each line is one whole record"))
        .collect();
    (records, summary)
}

/// Records keyed by URL (the URLs of a test are distinct).
pub fn by_url(records: Vec<Record>) -> BTreeMap<String, Record> {
    let count = records.len();
    let map: BTreeMap<String, Record> = records.into_iter().map(|r| (r.url.clone(), r)).collect();
    assert_eq!(map.len(), count, "a URL got two records");
    map
}

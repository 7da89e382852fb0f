//! `--resume` (none twice, none missing) and `--shard K/N` (disjoint, covering the input).

use std::collections::BTreeMap;

use abreast_fetch::{Format, Mode, Resumed, Shard, open_for_resume};

use crate::support::{config, fetch_lines, fetch_text, site};

#[test]
fn shards_are_disjoint_and_their_union_is_the_input() {
    let site = site();
    let mut lines: Vec<String> = (0..60)
        .map(|n| format!("{}/page/{n}", site.base_url()))
        .collect();
    // Other hosts that all resolve to the site (127.0.0.x is loopback), so shards differ by host.
    let port = site.addr().port();
    for n in 0..40 {
        lines.push(format!("http://127.0.0.{}:{port}/page/{n}", 2 + n % 7));
    }
    lines.push("not a url".to_owned());
    let count = 3;
    let mut seen: BTreeMap<String, u64> = BTreeMap::new();
    for index in 0..count {
        let mut config = config(Mode::Async);
        config.shard = Some(Shard { index, count });
        let (records, summary) = fetch_lines(&config, &lines);
        assert_eq!(summary.records + summary.other_shards, lines.len() as u64);
        for record in records {
            *seen.entry(record.url).or_default() += 1;
        }
    }
    assert_eq!(seen.len(), lines.len(), "the shards cover the input");
    assert!(seen.values().all(|&n| n == 1), "no URL is in two shards");
}

#[test]
fn resume_fetches_each_remaining_url_once() {
    let site = site();
    let lines: Vec<String> = (0..50)
        .map(|n| format!("{}/page/{}", site.base_url(), n % 40))
        .collect();
    let dir = std::env::temp_dir().join(format!("abreast-fetch-resume-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("pages.jsonl");
    // A first run that wrote 20 records and a cut line, as a crash would leave it.
    let (first, _) = fetch_lines(&config(Mode::Threads), &lines[..20]);
    let mut text: String = first
        .iter()
        .map(|r| serde_json::to_string(r).unwrap() + "\n")
        .collect();
    text.push_str("{\"url\":\"cut");
    std::fs::write(&path, text).unwrap();

    let Resumed {
        file, ledger: done, ..
    } = open_for_resume(&path, Format::Jsonl).unwrap();
    assert_eq!(done.len(), 20);
    drop(file);
    let (rest, summary) = fetch_text(&config(Mode::Hybrid), &lines.join("\n"), done);
    assert_eq!(summary.resumed, 20);
    assert_eq!(rest.len(), 30);
    let mut all: Vec<String> = first.into_iter().chain(rest).map(|r| r.url).collect();
    all.sort();
    let mut expected = lines.clone();
    expected.sort();
    assert_eq!(all, expected, "none twice, none missing");
    std::fs::remove_dir_all(&dir).unwrap();
}

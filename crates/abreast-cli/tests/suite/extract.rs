//! `abreast extract`: records of pages on disk, in input order, with the fetch's fields and exit
//! codes.

use std::io::Write;
use std::process::Stdio;

use crate::util::{abreast, run_expecting};

const PAGE: &str = r#"<!doctype html><html lang=fr><head>
<meta charset=utf-8><title>Sur disque</title>
<meta name=description content="Une page lue sur disque">
<link rel=canonical href="/articles/1">
</head><body></body></html>"#;

fn records(stdout: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON record per line"))
        .collect()
}

#[test]
fn files_and_directories_give_one_record_each_in_input_order() {
    let dir = tempfile::tempdir().unwrap();
    let nested = dir.path().join("site");
    std::fs::create_dir_all(nested.join("deeper")).unwrap();
    std::fs::write(nested.join("b.html"), PAGE).unwrap();
    std::fs::write(nested.join("deeper").join("a.html"), PAGE).unwrap();
    let single = dir.path().join("single.html");
    std::fs::write(&single, PAGE).unwrap();
    let (stdout, _) = run_expecting(
        abreast().arg("extract").arg(&single).arg(&nested).args([
            "--url",
            "https://example.com/base/page.html",
            "-j",
            "2",
        ]),
        0,
    );
    let records = records(&stdout);
    let names: Vec<&str> = records.iter().map(|r| r["url"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 3);
    assert!(names[0].ends_with("single.html"), "{names:?}");
    assert!(names[1].ends_with("b.html"), "{names:?}");
    assert!(names[2].ends_with("a.html"), "{names:?}");
    for record in &records {
        assert_eq!(record["ok"], true);
        assert_eq!(record["title"], "Sur disque");
        assert_eq!(record["lang"], "fr");
        assert_eq!(record["final_url"], "https://example.com/base/page.html");
        assert_eq!(record["description"], "Une page lue sur disque");
    }
}

#[test]
fn standard_input_and_csv() {
    let mut child = abreast()
        .args(["extract", "-", "--format", "csv"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(PAGE.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    let text = String::from_utf8(output.stdout).unwrap();
    let mut lines = text.lines();
    assert!(lines.next().unwrap().starts_with("url,final_url,status,ok"));
    let row = lines.next().unwrap();
    assert!(row.starts_with("-,,,true,"), "{row}");
    assert!(row.contains("Sur disque"), "{row}");
}

#[test]
fn an_unreadable_page_is_an_error_record_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.html");
    std::fs::write(&good, PAGE).unwrap();
    let missing = dir.path().join("missing.html");
    let (stdout, stderr) = run_expecting(abreast().arg("extract").arg(&good).arg(&missing), 1);
    let records = records(&stdout);
    assert_eq!(records.len(), 2);
    assert_eq!(records[0]["ok"], true);
    assert_eq!(records[1]["ok"], false);
    assert_eq!(records[1]["error"]["kind"], "read");
    assert!(stderr.contains("1 read"), "the summary counts it: {stderr}");
}

#[test]
fn a_url_list_gives_each_page_its_address_and_bad_usage_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("p.html");
    std::fs::write(&page, PAGE).unwrap();
    let list = dir.path().join("urls.tsv");
    std::fs::write(
        &list,
        format!("{}\thttps://example.org/x\n", page.display()),
    )
    .unwrap();
    let (stdout, _) = run_expecting(
        abreast()
            .arg("extract")
            .arg(&page)
            .arg("--url-list")
            .arg(&list),
        0,
    );
    assert_eq!(records(&stdout)[0]["final_url"], "https://example.org/x");
    std::fs::write(&list, "no tab here\n").unwrap();
    let (_, stderr) = run_expecting(
        abreast()
            .arg("extract")
            .arg(&page)
            .arg("--url-list")
            .arg(&list),
        2,
    );
    assert!(stderr.contains("PATH<TAB>URL"), "{stderr}");
    std::fs::write(&list, format!("{}\tnot a url\n", page.display())).unwrap();
    let (_, stderr) = run_expecting(
        abreast()
            .arg("extract")
            .arg(&page)
            .arg("--url-list")
            .arg(&list),
        2,
    );
    assert!(
        stderr.contains("urls.tsv:1: \"not a url\" is not an absolute URL"),
        "{stderr}"
    );
    let (_, stderr) = run_expecting(
        abreast().arg("extract").arg(&page).args(["--url", "/a/b"]),
        2,
    );
    assert!(stderr.contains("is not an absolute URL"), "{stderr}");
    run_expecting(abreast().args(["extract", "-", "-"]), 2);
}

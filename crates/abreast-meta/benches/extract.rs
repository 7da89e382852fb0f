//! Measures extraction throughput in MB/s on a realistic synthetic 64 KiB
//! page, in one run: `extract()` (whole page), the explainer's regex
//! `<meta .*?>` (Rust `regex`), `head_only` extraction, encoding sniffing
//! alone, and the page in an undeclared legacy encoding (the statistical
//! guess's cost); then the test site's 64 KiB page (what the fetch bench
//! extracts) and the realistic page stripped of JSON-LD and `<link>`s (the
//! fast path). Run: `cargo bench -p abreast-meta --bench extract`.

use std::hint::black_box;
use std::time::Duration;

use abreast_meta::encoding_rs::WINDOWS_1251;
use abreast_meta::{Extractor, extract, sniff_encoding};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use regex::bytes::Regex;

/// The page size the issue names.
const PAGE_BYTES: usize = 64 * 1024;

/// A page shaped like a news article: a head with a dozen metas, OpenGraph,
/// Twitter, canonical, styles, scripts and JSON-LD, then a body of
/// navigation, paragraphs, links, images and inline scripts, to 64 KiB.
fn realistic_page() -> Vec<u8> {
    let mut page = String::from(
        r##"<!DOCTYPE html>
<html lang="en-GB" class="no-js">
<head>
<meta charset="utf-8">
<meta http-equiv="X-UA-Compatible" content="IE=edge">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Concurrency in practice: threads, coroutines &amp; processes | The Example Times</title>
<meta name="description" content="How to fetch many pages at once, and what each mechanism costs.">
<meta name="keywords" content="concurrency, threads, asyncio, multiprocessing">
<meta name="author" content="A. Writer">
<meta name="robots" content="index, follow, max-image-preview:large">
<meta name="theme-color" content="#ffffff">
<meta property="og:type" content="article">
<meta property="og:title" content="Concurrency in practice">
<meta property="og:description" content="How to fetch many pages at once.">
<meta property="og:url" content="https://news.example.com/2026/concurrency">
<meta property="og:image" content="https://cdn.example.com/img/concurrency-1200x630.jpg">
<meta property="og:site_name" content="The Example Times">
<meta name="twitter:card" content="summary_large_image">
<meta name="twitter:site" content="@example">
<meta name="twitter:title" content="Concurrency in practice">
<link rel="canonical" href="https://news.example.com/2026/concurrency">
<link rel="preconnect" href="https://cdn.example.com">
<link rel="stylesheet" href="https://cdn.example.com/css/site.4f3a9c.css">
<link rel="icon" href="/favicon.ico" sizes="any">
<style>body{margin:0;font-family:system-ui,sans-serif}.nav a{color:#333;text-decoration:none}.hero{display:grid;grid-template-columns:1fr 2fr}</style>
<script async src="https://cdn.example.com/js/analytics.js"></script>
<script>window.dataLayer=window.dataLayer||[];function gtag(){dataLayer.push(arguments)}gtag('js',new Date());gtag('config','G-XXXX');</script>
<script type="application/ld+json">{"@context":"https://schema.org","@type":"NewsArticle","headline":"Concurrency in practice","datePublished":"2026-11-24T08:00:00Z","author":{"@type":"Person","name":"A. Writer"}}</script>
</head>
<body class="article">
<header class="site-header"><nav class="nav"><a href="/">Home</a> <a href="/world">World</a> <a href="/tech">Technology</a> <a href="/science">Science</a> <a href="/opinion">Opinion</a></nav></header>
<main id="content">
<article>
<h1 class="headline">Concurrency in practice</h1>
"##,
    );
    let mut section = 0;
    while page.len() < PAGE_BYTES - 700 {
        section += 1;
        let paragraph = format!(
            r##"<div class="section" id="s{section}"><h2>Section {section}</h2>
<p>Fetching a page is mostly waiting: the request goes out, and the answer comes back when the network allows. <a href="/articles/{section}/threads" class="inline">Threads</a> let those waits overlap, and <em>coroutines</em> do it with less memory per wait.</p>
<p>Parsing is the opposite: it is all work. <strong>Processes</strong> run it in parallel where a global lock would not; see <a href="https://docs.example.org/{section}">the documentation</a> &mdash; or the <a href="/faq#q{section}">FAQ</a>.</p>
<figure><img src="https://cdn.example.com/img/fig{section}.png" alt="Figure {section}: timeline" width="640" height="360" loading="lazy"><figcaption>Figure {section}.</figcaption></figure>
<script>if(window.ads){{ads.slot("s{section}",{{sizes:[[300,250]]}});}}</script>
</div>
"##
        );
        page.push_str(&paragraph);
    }
    page.push_str(
        "</article></main><footer><p>&copy; The Example Times</p></footer></body></html>\n",
    );
    let mut bytes = page.into_bytes();
    bytes.resize(PAGE_BYTES, b' ');
    bytes
}

/// The same page in windows-1251 with no declaration anywhere, so the
/// encoding comes from the statistical guess (chardetng).
fn undeclared_legacy_page() -> Vec<u8> {
    let page = String::from_utf8(realistic_page()).expect("the page is ASCII");
    let page = page.replace("<meta charset=\"utf-8\">\n", "").replace(
        "Fetching a page is mostly waiting",
        "Загрузка страницы — это в основном ожидание",
    );
    let (bytes, _, unmappable) = WINDOWS_1251.encode(&page);
    assert!(!unmappable);
    let mut bytes = bytes.into_owned();
    bytes.truncate(PAGE_BYTES);
    bytes
}

fn throughput(criterion: &mut Criterion) {
    let page = realistic_page();
    let meta_regex = Regex::new("<meta .*?>").expect("the explainer's regex compiles");
    let head_only = Extractor::new().head_only(true);
    // Sanity: every contender sees the page as it should, before timing.
    let full = extract(&page, None);
    assert_eq!(full.meta.len(), 17);
    assert_eq!(head_only.extract(&page, None).meta, full.meta);
    assert_eq!(meta_regex.find_iter(&page).count(), 17);

    let mut group = criterion.benchmark_group("64KiB_page");
    group.throughput(Throughput::Bytes(page.len() as u64));
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(3));
    group.bench_function("extract", |bench| {
        bench.iter(|| extract(black_box(&page), black_box(None)))
    });
    group.bench_function("explainer_regex", |bench| {
        bench.iter(|| {
            meta_regex
                .find_iter(black_box(&page))
                .map(|found| String::from_utf8_lossy(found.as_bytes()).into_owned())
                .collect::<Vec<_>>()
        })
    });
    group.bench_function("extract_head_only", |bench| {
        bench.iter(|| head_only.extract(black_box(&page), black_box(None)))
    });
    group.bench_function("sniff_encoding", |bench| {
        bench.iter(|| sniff_encoding(black_box(&page), black_box(None)))
    });
    let legacy = undeclared_legacy_page();
    let legacy_page = extract(&legacy, None);
    assert_eq!(legacy_page.charset, "windows-1251");
    assert_eq!(legacy_page.meta.len(), 16);
    group.bench_function("extract_undeclared_windows_1251", |bench| {
        bench.iter(|| extract(black_box(&legacy), black_box(None)))
    });
    group.finish();
}

/// The realistic page without its JSON-LD block and `<link>` elements:
/// what a page pays that declares none of the linked resources.
fn plain_page() -> Vec<u8> {
    let page = String::from_utf8(realistic_page()).expect("the page is ASCII");
    let plain: String = page
        .split_inclusive('\n')
        .filter(|line| !line.starts_with("<link") && !line.contains("ld+json"))
        .collect();
    let mut bytes = plain.into_bytes();
    bytes.resize(PAGE_BYTES, b' ');
    bytes
}

fn site_and_plain(criterion: &mut Criterion) {
    let config = abreast_site::SiteConfig::default().page_size(PAGE_BYTES);
    let site_page = abreast_site::page_html(&config, "http://127.0.0.1:8080", 7)
        .expect("the test site builds its page");
    let plain = plain_page();
    assert!(extract(&site_page, None).title.is_some());
    assert_eq!(extract(&plain, None).meta.len(), 17);

    let mut group = criterion.benchmark_group("64KiB_page");
    group.throughput(Throughput::Bytes(PAGE_BYTES as u64));
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(3));
    group.bench_function("extract_test_site_page", |bench| {
        bench.iter(|| extract(black_box(&site_page), black_box(None)))
    });
    let head_only = Extractor::new().head_only(true);
    assert_eq!(
        head_only.extract(&site_page, None).meta,
        extract(&site_page, None).meta
    );
    group.bench_function("extract_test_site_page_head_only", |bench| {
        bench.iter(|| head_only.extract(black_box(&site_page), black_box(None)))
    });
    group.bench_function("extract_no_json_ld_no_links", |bench| {
        bench.iter(|| extract(black_box(&plain), black_box(None)))
    });
    group.finish();
}

criterion_group!(benches, throughput, site_and_plain);
criterion_main!(benches);

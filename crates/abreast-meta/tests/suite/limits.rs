//! The limits: `max_bytes` bounds what is read, `memory_limit` what is held,
//! whatever the input; both keep what was read before them.

use abreast_meta::{End, Extractor};

#[test]
fn max_bytes_reads_a_prefix() {
    let body = b"<meta name=a><meta name=b><meta name=c>";
    let page = Extractor::new().max_bytes(26).extract(body, None);
    let names: Vec<_> = page
        .meta
        .iter()
        .filter_map(|meta| meta.get("name"))
        .collect();
    assert_eq!(names, ["a", "b"]);
    assert_eq!(page.end, End::ByteLimit);
    let exact = Extractor::new().max_bytes(body.len()).extract(body, None);
    assert_eq!((exact.meta.len(), exact.end), (3, End::Complete));
}

#[test]
fn a_huge_attribute_hits_the_memory_limit() {
    let mut body = b"<meta name=a><meta name=b content=\"".to_vec();
    body.resize(body.len() + (8 << 20), b'x');
    body.extend_from_slice(b"\">");
    let page = Extractor::new().memory_limit(1 << 20).extract(&body, None);
    assert_eq!(page.end, End::MemoryLimit);
    assert_eq!(page.meta.len(), 1);
}

#[test]
fn many_metas_hit_the_memory_limit() {
    let body = "<meta name=n content=c>".repeat(100_000);
    let page = Extractor::new()
        .memory_limit(64 << 10)
        .extract(body.as_bytes(), None);
    assert_eq!(page.end, End::MemoryLimit);
    let held: usize = page
        .meta
        .iter()
        .flat_map(|meta| &meta.attrs)
        .map(|(name, value)| name.len() + value.len())
        .sum();
    assert!(held <= 32 << 10, "held {held} bytes");
    assert!(!page.meta.is_empty());
}

#[test]
fn a_huge_title_hits_the_memory_limit() {
    let body = format!("<title>{}</title>", "word ".repeat(1 << 20));
    let page = Extractor::new()
        .memory_limit(1 << 20)
        .extract(body.as_bytes(), None);
    assert_eq!(page.end, End::MemoryLimit);
}

#[test]
fn a_huge_json_ld_block_is_counted_and_skipped_and_reading_goes_on() {
    let body = format!(
        "<script type=application/ld+json>[{}1]</script>\
         <script type=application/ld+json>{{\"a\":1}}</script><meta name=after content=x>",
        "\"word\",".repeat(1 << 18)
    );
    let page = Extractor::new()
        .memory_limit(1 << 20)
        .extract(body.as_bytes(), None);
    assert_eq!(page.end, End::Complete);
    assert_eq!(page.json_ld, vec![serde_json::json!({"a": 1})]);
    assert_eq!(page.json_ld_errors.len(), 1);
    assert_eq!(page.json_ld_errors[0].block, 0);
    assert!(
        page.json_ld_errors[0].reason.starts_with("too large: "),
        "{:?}",
        page.json_ld_errors
    );
    assert_eq!(page.meta.len(), 1);
}

#[test]
fn tiny_memory_limits_are_honoured_without_panicking() {
    for limit in [0, 1, 16] {
        let page = Extractor::new()
            .memory_limit(limit)
            .extract(b"<title>A title</title><meta name=a content=b>", None);
        assert_eq!(page.end, End::MemoryLimit, "limit {limit}");
    }
}

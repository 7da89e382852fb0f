//! The limits: `max_bytes` bounds what is read, `memory_limit` what is held,
//! whatever the input; both keep what was read before them.

use abreast_meta::{End, Extractor};

#[test]
fn max_bytes_reads_a_prefix() {
    let body = b"<meta name=a><meta name=b><meta name=c>";
    let page = Extractor::new().max_bytes(26).extract(body, None);
    let names: Vec<_> = page
        .metas
        .iter()
        .filter_map(|meta| meta.get("name"))
        .collect();
    assert_eq!(names, ["a", "b"]);
    assert_eq!(page.end, End::ByteLimit);
    let exact = Extractor::new().max_bytes(body.len()).extract(body, None);
    assert_eq!((exact.metas.len(), exact.end), (3, End::Complete));
}

#[test]
fn a_huge_attribute_hits_the_memory_limit() {
    let mut body = b"<meta name=a><meta name=b content=\"".to_vec();
    body.resize(body.len() + (8 << 20), b'x');
    body.extend_from_slice(b"\">");
    let page = Extractor::new().memory_limit(1 << 20).extract(&body, None);
    assert_eq!(page.end, End::MemoryLimit);
    assert_eq!(page.metas.len(), 1);
}

#[test]
fn many_metas_hit_the_memory_limit() {
    let body = "<meta name=n content=c>".repeat(100_000);
    let page = Extractor::new()
        .memory_limit(64 << 10)
        .extract(body.as_bytes(), None);
    assert_eq!(page.end, End::MemoryLimit);
    let held: usize = page
        .metas
        .iter()
        .flat_map(|meta| &meta.attrs)
        .map(|(name, value)| name.len() + value.len())
        .sum();
    assert!(held <= 32 << 10, "held {held} bytes");
    assert!(!page.metas.is_empty());
}

#[test]
fn a_huge_title_or_json_ld_hits_the_memory_limit() {
    for (open, close) in [
        ("<title>", "</title>"),
        ("<script type=application/ld+json>", "</script>"),
    ] {
        let body = format!("{open}{}{close}", "word ".repeat(1 << 20));
        let page = Extractor::new()
            .memory_limit(1 << 20)
            .extract(body.as_bytes(), None);
        assert_eq!(page.end, End::MemoryLimit, "{open}");
    }
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

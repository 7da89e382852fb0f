//! Memory stays under the configured cap whatever the input size: a counting
//! allocator measures the peak heap growth while extracting from large,
//! adversarial bodies. Its own test binary, so no other test allocates
//! while it measures.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use abreast_meta::{End, Extractor};

/// The system allocator, counting the bytes live now and the peak.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call forwards to `System` with the same arguments; the
// counters only observe.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(live, Ordering::Relaxed);
        // SAFETY: forwarded as is; the caller upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded as is; the caller upholds `dealloc`'s contract.
        unsafe { System.dealloc(pointer, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Peak heap growth, in bytes, while `extractor` reads `body`.
fn peak_growth(extractor: &Extractor, body: &[u8], content_type: Option<&str>) -> (usize, End) {
    let before = LIVE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let url = abreast_meta::url::Url::parse("https://example.com/a/b").expect("a valid URL");
    let page = extractor.extract_at(body, content_type, Some(&url));
    let peak = PEAK.load(Ordering::Relaxed) - before;
    (peak, page.end)
}

#[test]
fn memory_stays_under_the_cap_whatever_the_input() {
    const CAP: usize = 1 << 20;
    /// Slack for what the cap does not count: the extraction's own small
    /// structures and the allocator's rounding.
    const FIXED: usize = 256 << 10;
    let size = 32 << 20;
    let mut huge_attribute = b"<meta name=a content=\"".to_vec();
    huge_attribute.resize(size, b'x');
    let many_metas = "<meta property=og:x content=y>"
        .repeat(size / 30)
        .into_bytes();
    let huge_title = format!("<title>{}", "word ".repeat(size / 5)).into_bytes();
    let unclosed_tags = "<a b=c ".repeat(size / 7).into_bytes();
    let utf16: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain(
            "<meta name=a content=\""
                .repeat(size / 44)
                .encode_utf16()
                .flat_map(u16::to_le_bytes),
        )
        .collect();
    // NUL becomes the 3-byte U+FFFD: text that grows when normalized.
    let nuls = |open: &str, close: &str, count: usize| {
        let mut body = open.as_bytes().to_vec();
        body.resize(body.len() + count, 0);
        body.extend_from_slice(close.as_bytes());
        body
    };
    let nul_json_ld = nuls("<script type=application/ld+json>", "</script>", CAP / 2);
    let nul_name = nuls("<meta ", ">", CAP / 2);
    let nul_value = nuls("<meta name=a content=\"", "\">", CAP / 4);
    let nul_title = nuls("<title>", "</title>", CAP / 8);
    let many_attributes = format!(
        "<meta {}>",
        (0..100_000)
            .map(|n| format!("a{n}=&amp;{n} "))
            .collect::<String>()
    )
    .into_bytes();
    let million_icons = "<link rel=icon href=/i.png>".repeat(size / 27).into_bytes();
    let many_languages = "<link rel=alternate hreflang=fr href=/fr/x>"
        .repeat(size / 42)
        .into_bytes();
    let many_images = "<meta property=og:image content=/i.png>"
        .repeat(size / 39)
        .into_bytes();
    let deep_json_ld = format!(
        "<script type=application/ld+json>{}</script>",
        "[".repeat(size)
    )
    .into_bytes();
    let shallow_deep_json_ld = format!(
        "<script type=application/ld+json>{}{}</script>",
        "[".repeat(100_000),
        "]".repeat(100_000)
    )
    .repeat(8)
    .into_bytes();
    // Small values, each a node: as many as the bound lets parse.
    let wide_json_ld = format!(
        "<script type=application/ld+json>[{}0]</script>",
        "0,".repeat(CAP / 512)
    )
    .repeat(64)
    .into_bytes();
    let all_json_ld = "<script type=application/ld+json>{\"a\":[1,2,{\"b\":\"c\"}]}</script>"
        .repeat(size / 64)
        .into_bytes();
    let invalid_urls = "<base href='http://[::1'><link rel=icon href='http://exa mple/'>\
                        <link rel=alternate type=application/rss+xml href='https://x:99999/'>"
        .repeat(size / 120)
        .into_bytes();
    let extractor = Extractor::new().max_bytes(usize::MAX).memory_limit(CAP);
    for (name, body) in [
        ("huge attribute", &huge_attribute),
        ("many metas", &many_metas),
        ("huge title", &huge_title),
        ("unclosed tags", &unclosed_tags),
        ("utf-16", &utf16),
        ("NUL JSON-LD", &nul_json_ld),
        ("NUL attribute name", &nul_name),
        ("NUL attribute value", &nul_value),
        ("NUL title", &nul_title),
        ("many attributes", &many_attributes),
        ("a million icon links", &million_icons),
        ("many hreflang alternates", &many_languages),
        ("many og:image", &many_images),
        ("JSON-LD 32 MiB deep", &deep_json_ld),
        ("JSON-LD 100,000 deep, 8 blocks", &shallow_deep_json_ld),
        ("JSON-LD of many small values", &wide_json_ld),
        ("all JSON-LD", &all_json_ld),
        ("invalid URLs everywhere", &invalid_urls),
    ] {
        let (peak, end) = peak_growth(&extractor, body, None);
        println!("{name}: peak {peak} bytes, end {end:?}");
        // What the new fields hold is capped by count, not by the budget:
        // these read to the end.
        if name.starts_with("a million")
            || name.starts_with("many hreflang")
            || name.starts_with("JSON-LD")
            || name.starts_with("all JSON-LD")
            || name.starts_with("invalid URLs")
        {
            assert_eq!(end, End::Complete, "{name}");
        }
        assert!(peak <= CAP + FIXED, "{name}: peak {peak} bytes");
    }
}

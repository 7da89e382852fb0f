//! Fuzzes extraction: any bytes, under any Content-Type and options, with or
//! without a document URL, must not panic, must give the same output twice,
//! must survive a JSON round trip (JSON-LD values, cards, links, preview),
//! and `head_only` must see a prefix of the metas the full read sees.

#![no_main]

use abreast_meta::url::Url;
use abreast_meta::{Extractor, PageMeta};
use libfuzzer_sys::fuzz_target;

/// Content-Type headers the first byte chooses from, one per decoding path.
const CONTENT_TYPES: [Option<&str>; 6] = [
    None,
    Some("text/html; charset=utf-8"),
    Some("text/html; charset=shift_jis"),
    Some("text/html; charset=utf-16be"),
    Some("text/html; charset=iso-2022-jp"),
    Some("text/html; charset=replacement"),
];

fuzz_target!(|data: &[u8]| {
    let Some((&choice, body)) = data.split_first() else {
        return;
    };
    let content_type = CONTENT_TYPES[usize::from(choice) % CONTENT_TYPES.len()];
    // A small memory limit sometimes, to reach the limit paths too.
    let memory_limit = if choice & 0x80 != 0 { 256 } else { 1 << 20 };
    let full = Extractor::new().memory_limit(memory_limit);
    // A document URL sometimes, to reach URL resolution and the preview's
    // fallbacks.
    let url = (choice & 0x40 != 0).then(|| Url::parse("https://example.com/a/b?c").unwrap());
    let page = full.extract_at(body, content_type, url.as_ref());
    assert_eq!(page, full.extract_at(body, content_type, url.as_ref()));
    let json = serde_json::to_string(&page).unwrap();
    let back: PageMeta = serde_json::from_str(&json).unwrap();
    assert_eq!(back, page);
    let head = full.clone().head_only(true).extract(body, content_type);
    assert!(page.meta.starts_with(&head.meta));
});

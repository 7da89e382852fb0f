//! Property tests: any bytes, with any Content-Type, never panic, give the
//! same output twice, survive a JSON round trip, and `head_only` sees a
//! prefix of what the full read sees.

use abreast_meta::url::Url;
use abreast_meta::{Extractor, PageMeta, extract, extract_at};
use proptest::prelude::*;

/// Pieces of markup that reach the tokenizer's corners when shuffled.
const PIECES: &[&str] = &[
    "<meta",
    "<META ",
    " name=",
    " content=",
    "charset=",
    "utf-16",
    "shift_jis",
    " http-equiv=content-type",
    "\"",
    "'",
    "=",
    ">",
    "/>",
    "/",
    " ",
    "\n",
    "<!--",
    "-->",
    "<!",
    "<![CDATA[",
    "]]>",
    "<?",
    "<script>",
    "</script>",
    "<script type=application/ld+json>",
    "<style>",
    "</style>",
    "<title>",
    "</title>",
    "<textarea>",
    "</textarea>",
    "<template>",
    "</template>",
    "<noscript>",
    "</noscript>",
    "<svg>",
    "</svg>",
    "<math>",
    "<plaintext>",
    "<html lang=x>",
    "<link rel=canonical href=",
    "<head>",
    "</head>",
    "<body>",
    "<p>",
    "</div>",
    "og:x",
    "&amp;",
    "&",
    "&#",
    "&#x",
    "&#0;",
    "&copy",
    "é",
    "\u{0}",
    "\u{FEFF}",
    "\r",
    "\u{FFFD}",
    "<base href=",
    "<link rel=icon href=",
    "<link rel=\"shortcut icon\" sizes=32x32 href=",
    "<link rel=alternate hreflang=fr href=",
    "<link rel=alternate type=application/rss+xml href=",
    "<link rel=alternate type=application/json+oembed href=",
    "<link rel=amphtml href=",
    "<meta property=og:image content=",
    "<meta property=og:image:width content=",
    "<meta name=twitter:image content=",
    "<meta name=robots content=",
    "<meta property=article:published_time content=2026-01-02T03:04:05+0100>",
    "javascript:",
    "//x/",
    "/a/../b",
    "http://[::1",
    "{",
    "}",
    "[",
    "]",
    ",",
    ";",
    ":",
    "//",
    "/*",
    "*/",
    "\"@graph\":",
    "\"headline\":\"h\"",
];

fn markup() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            4 => prop::sample::select(PIECES).prop_map(|piece| piece.as_bytes().to_vec()),
            1 => prop::collection::vec(any::<u8>(), 0..4),
        ],
        0..80,
    )
    .prop_map(|pieces| pieces.concat())
}

fn content_type() -> impl Strategy<Value = Option<String>> {
    prop::option::of(prop_oneof![
        Just("text/html; charset=utf-8".to_owned()),
        Just("text/html; charset=utf-16".to_owned()),
        Just("text/html; charset=\"iso-2022-jp\"".to_owned()),
        Just("text/html; charset=replacement".to_owned()),
        Just("text/html; charset=gb18030".to_owned()),
        ".{0,30}",
    ])
}

fn check(body: &[u8], content_type: Option<&str>) -> Result<(), TestCaseError> {
    let page = extract(body, content_type);
    prop_assert_eq!(&page, &extract(body, content_type));
    let json = serde_json::to_string(&page).expect("serializes");
    let back: PageMeta = serde_json::from_str(&json).expect("deserializes");
    prop_assert_eq!(back, crate::tricky::without_diagnostics(page.clone()));
    // With a document URL: the same tags, every icon and feed URL absolute
    // unless it does not parse, the preview's URL and icon always there. A
    // `<base>` may name a URL nothing resolves against (`og:x`, which has an
    // opaque path): as in a browser, relative hrefs then stay as written, so
    // the check is made only on pages without one.
    let at = extract_at(body, content_type, Some("https://example.com/dir/page"));
    prop_assert_eq!(&at.meta, &page.meta);
    prop_assert_eq!(at.icons.len(), page.icons.len());
    let has_base = body
        .windows(5)
        .any(|window| window.eq_ignore_ascii_case(b"<base"));
    for href in at
        .icons
        .iter()
        .map(|icon| &icon.href)
        .chain(at.feeds.iter().map(|feed| &feed.href))
    {
        let resolves = Url::parse("https://example.com/dir/page")
            .unwrap()
            .join(href)
            .is_ok();
        prop_assert!(has_base || !resolves || Url::parse(href).is_ok(), "{href}");
    }
    prop_assert!(at.preview.url.is_some());
    prop_assert!(at.preview.icon.is_some());
    let json = serde_json::to_string(&at).expect("serializes");
    let back: PageMeta = serde_json::from_str(&json).expect("deserializes");
    prop_assert_eq!(back, crate::tricky::without_diagnostics(at.clone()));
    let head = Extractor::new().head_only(true).extract(body, content_type);
    prop_assert!(page.meta.starts_with(&head.meta));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes(body in prop::collection::vec(any::<u8>(), 0..2048), content_type in content_type()) {
        check(&body, content_type.as_deref())?;
    }

    #[test]
    fn shuffled_markup(body in markup(), content_type in content_type()) {
        check(&body, content_type.as_deref())?;
    }
}

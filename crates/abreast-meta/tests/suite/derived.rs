//! What the tags mean: OpenGraph and Twitter cards with their arrays,
//! icons, feeds, alternates, oEmbed, robots, JSON-LD tolerant of what real
//! pages ship, URLs resolved against `<base>` and the document URL, and
//! each chain of the preview.

use abreast_meta::url::Url;
use abreast_meta::{Extractor, PageMeta, extract, extract_at};
use serde_json::{Value, json};

const PAGE_URL: &str = "https://example.com/news/story.html?id=1";

fn at(html: &str) -> PageMeta {
    extract_at(
        html.as_bytes(),
        Some("text/html; charset=utf-8"),
        Some(PAGE_URL),
    )
}

#[test]
fn open_graph_arrays_attach_structured_properties_to_the_item_they_follow() {
    let page = at(r#"<meta property=og:title content=T>
        <meta property=og:image content=/a.jpg>
        <meta property=og:image:width content=1200>
        <meta property=og:image:height content=630>
        <meta property=og:image content=b.jpg>
        <meta property=og:image:alt content=B>
        <meta property=og:image:url content=c.jpg>
        <meta property=og:image:secure_url content=https://cdn.example.net/c.jpg>
        <meta property=og:video content=v.mp4><meta property=og:video:type content=video/mp4>
        <meta property=og:audio:type content=audio/mpeg>
        <meta property=og:locale content=en_GB>
        <meta property=og:locale:alternate content=fr_FR>
        <meta property=og:locale:alternate content=de_DE>
        <meta property=og:url content=/canonical>"#);
    assert_eq!(
        serde_json::to_value(&page.og).unwrap(),
        json!({
            "title": ["T"],
            "image": [
                {"url": "https://example.com/a.jpg", "width": "1200", "height": "630"},
                {"url": "https://example.com/news/b.jpg", "alt": "B"},
                {"url": "https://example.com/news/c.jpg", "secure_url": "https://cdn.example.net/c.jpg"},
            ],
            "video": [{"url": "https://example.com/news/v.mp4", "type": "video/mp4"}],
            "audio": [{"type": "audio/mpeg"}],
            "locale": ["en_GB"],
            "locale:alternate": ["fr_FR", "de_DE"],
            "url": ["https://example.com/canonical"],
        })
    );
    assert_eq!(page.og.first("title"), Some("T"));
    assert_eq!(page.og.items("image").len(), 3);
    // The same shape round-trips.
    let back: abreast_meta::Card =
        serde_json::from_value(serde_json::to_value(&page.og).unwrap()).unwrap();
    assert_eq!(back, page.og);
}

#[test]
fn twitter_cards_have_image_and_player_items() {
    let page = at(r#"<meta name=twitter:card content=player>
        <meta name=twitter:image content=i.png><meta name=twitter:image:alt content=I>
        <meta name=twitter:player content=https://p.example/embed>
        <meta name=twitter:player:width content=480><meta name=twitter:player:stream content=s.mp4>
        <meta name="twitter:site" property="twitter:site" content=@x>"#);
    assert_eq!(
        serde_json::to_value(&page.twitter).unwrap(),
        json!({
            "card": ["player"],
            "image": [{"url": "https://example.com/news/i.png", "alt": "I"}],
            "player": [{"url": "https://p.example/embed", "width": "480", "stream": "https://example.com/news/s.mp4"}],
            "site": ["@x"],
        })
    );
}

#[test]
fn icons_feeds_alternates_oembed_and_robots() {
    let page = at(r#"<head>
        <link rel=icon href=/favicon-32.png sizes=32x32 type=image/png>
        <link rel="Shortcut Icon" href=/favicon.ico>
        <link rel=apple-touch-icon href=/apple.png>
        <link rel=mask-icon href=/mask.svg color=#000>
        <link rel=manifest href=/site.webmanifest>
        <link rel=stylesheet href=/s.css>
        <link rel=alternate type=application/rss+xml title=RSS href=/feed.rss>
        <link rel=alternate type="Application/Atom+XML" href=atom.xml>
        <link rel=alternate type=application/feed+json href=/feed.json>
        <link rel=alternate hreflang=fr href=/fr/>
        <link rel=alternate hreflang=x-default href=https://example.org/>
        <link rel=amphtml href=/amp/story>
        <link rel=alternate type=application/json+oembed href="/oembed?url=x&amp;format=json" title=O>
        <link rel=alternate type=text/xml+oembed href=/oembed.xml>
        <meta name=robots content="NoIndex, nofollow,, max-image-preview:large">
        <meta name=ROBOTS content=noarchive>"#);
    let icons = serde_json::to_value(&page.icons).unwrap();
    assert_eq!(
        icons,
        json!([
            {"href": "https://example.com/favicon-32.png", "rel": "icon", "sizes": "32x32", "type": "image/png"},
            {"href": "https://example.com/favicon.ico", "rel": "shortcut icon"},
            {"href": "https://example.com/apple.png", "rel": "apple-touch-icon"},
            {"href": "https://example.com/mask.svg", "rel": "mask-icon", "color": "#000"},
            {"href": "https://example.com/site.webmanifest", "rel": "manifest"},
        ])
    );
    assert_eq!(
        serde_json::to_value(&page.feeds).unwrap(),
        json!([
            {"href": "https://example.com/feed.rss", "type": "application/rss+xml", "title": "RSS"},
            {"href": "https://example.com/news/atom.xml", "type": "application/atom+xml"},
            {"href": "https://example.com/feed.json", "type": "application/feed+json"},
        ])
    );
    assert_eq!(
        serde_json::to_value(&page.alternates).unwrap(),
        json!({
            "languages": [
                {"hreflang": "fr", "href": "https://example.com/fr/"},
                {"hreflang": "x-default", "href": "https://example.org/"},
            ],
            "amp": "https://example.com/amp/story",
        })
    );
    assert_eq!(
        serde_json::to_value(&page.oembed).unwrap(),
        json!([
            {"href": "https://example.com/oembed?url=x&format=json", "type": "application/json+oembed", "title": "O"},
            {"href": "https://example.com/oembed.xml", "type": "text/xml+oembed"},
        ])
    );
    assert_eq!(
        page.robots,
        [
            "noindex",
            "nofollow",
            "max-image-preview:large",
            "noarchive"
        ]
    );
    // The best icon: apple-touch-icon (180 when undeclared) over 32x32.
    assert_eq!(
        page.preview.icon.as_deref(),
        Some("https://example.com/apple.png")
    );
}

#[test]
fn urls_resolve_against_the_first_valid_base_then_the_document() {
    let resolve = |html: &str| at(html).icons[0].href.clone();
    assert_eq!(
        resolve("<base href=https://cdn.example.net/x/><link rel=icon href=i.png>"),
        "https://cdn.example.net/x/i.png"
    );
    // Relative base against the document URL; a base in the body counts.
    assert_eq!(
        resolve("<link rel=icon href=i.png><body><base href=/assets/>"),
        "https://example.com/assets/i.png"
    );
    // javascript: and data: bases are ignored, and so is one that does not
    // parse; the next valid one is used.
    assert_eq!(
        resolve(
            "<base href='javascript:alert(1)'><base href=data:text/html,x><base href='http://[::1'><base href=/b/><link rel=icon href=i.png>"
        ),
        "https://example.com/b/i.png"
    );
    // A base without href does not count.
    assert_eq!(
        resolve("<base target=_top><link rel=icon href=i.png>"),
        "https://example.com/news/i.png"
    );
    // Invalid hrefs stay as written.
    assert_eq!(
        resolve("<link rel=icon href='http://exa mple.com/'>"),
        "http://exa mple.com/"
    );
    // With no document URL, relative URLs stay as written, absolute ones
    // are normalized.
    let page = extract(
        b"<link rel=icon href=i.png><link rel=icon href=HTTPS://A.example>",
        None,
    );
    assert_eq!(page.icons[0].href, "i.png");
    assert_eq!(page.icons[1].href, "https://a.example/");
    assert_eq!(page.preview.icon.as_deref(), Some("i.png"));
    assert_eq!(page.preview.url, None);
}

fn json_ld(block: &str) -> PageMeta {
    at(&format!(
        "<script type=application/ld+json>{block}</script>"
    ))
}

#[test]
fn json_ld_tolerates_what_real_pages_ship() {
    let cases: [(&str, &str, Value); 12] = [
        (
            "valid",
            r#"{"@type":"Thing","name":"x"}"#,
            json!([{"@type": "Thing", "name": "x"}]),
        ),
        (
            "array stays an array",
            r#"[{"a":1},{"b":2}]"#,
            json!([[{"a": 1}, {"b": 2}]]),
        ),
        ("comment wrapper", "<!-- {\"a\":1} -->", json!([{"a": 1}])),
        (
            "CDATA wrapper",
            "<![CDATA[ {\"a\":1} ]]>",
            json!([{"a": 1}]),
        ),
        (
            "CDATA in comments",
            "//<![CDATA[\n{\"a\":1}\n//]]>",
            json!([{"a": 1}]),
        ),
        (
            "trailing commas",
            r#"{"a":[1,2,],"b":{"c":3,},}"#,
            json!([{"a": [1, 2], "b": {"c": 3}}]),
        ),
        ("trailing semicolon", r#"{"a":1};"#, json!([{"a": 1}])),
        (
            "comments",
            "/* lead */ {\"a\": 1, // one\n \"b\": \"//not a comment /* nor */\"}",
            json!([{"a": 1, "b": "//not a comment /* nor */"}]),
        ),
        (
            "several values",
            r#"{"a":1} {"b":2}; [3]"#,
            json!([{"a": 1}, {"b": 2}, [3]]),
        ),
        (
            "raw control characters",
            "{\"a\":\"line\nbreak\ttab\"}",
            json!([{"a": "line\nbreak\ttab"}]),
        ),
        (
            "HTML references",
            "{&quot;a&quot;:&quot;b&amp;c&quot;}",
            json!([{"a": "b&c"}]),
        ),
        (
            "@graph as written",
            r#"{"@context":"https://schema.org","@graph":[{"@type":"WebSite"},{"@type":"Article"}]}"#,
            json!([{"@context": "https://schema.org", "@graph": [{"@type": "WebSite"}, {"@type": "Article"}]}]),
        ),
    ];
    for (what, block, expected) in cases {
        let page = json_ld(block);
        assert_eq!(Value::Array(page.json_ld.clone()), expected, "{what}");
        assert!(
            page.json_ld_errors.is_empty(),
            "{what}: {:?}",
            page.json_ld_errors
        );
    }
}

#[test]
fn broken_json_ld_is_counted_with_its_reason_and_its_siblings_kept() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let page = at(&format!(
        "<script type=application/ld+json>{{\"a\":1}}</script>\
         <script type=application/ld+json>{{\"a\": }}</script>\
         <script type=application/ld+json>  </script>\
         <script type=application/ld+json>{deep}</script>\
         <script type=application/ld+json>{{\"s\":\"\0\u{FFFD}\"}}</script>\
         <script type=application/ld+json>[\"unterminated</script>"
    ));
    assert_eq!(
        page.json_ld,
        vec![json!({"a": 1}), json!({"s": "\u{FFFD}\u{FFFD}"})]
    );
    let errors: Vec<(usize, &str)> = page
        .json_ld_errors
        .iter()
        .map(|error| (error.block, error.reason.as_str()))
        .collect();
    assert_eq!(errors.len(), 4, "{errors:?}");
    assert_eq!(errors[0].0, 1);
    assert!(errors[0].1.starts_with("expected value"), "{errors:?}");
    assert_eq!(errors[1], (2, "empty block"));
    assert_eq!(errors[2].0, 3);
    assert!(
        errors[2].1.starts_with("recursion limit exceeded"),
        "{errors:?}"
    );
    // Nested deeper than 128 but small: serde_json's own message.
    let page = json_ld(&format!("{}{}", "[".repeat(200), "]".repeat(200)));
    assert!(
        page.json_ld_errors[0]
            .reason
            .starts_with("recursion limit exceeded")
    );
    assert_eq!(errors[3].0, 5);
    assert!(errors[3].1.starts_with("EOF while parsing"), "{errors:?}");
}

#[test]
fn invalid_utf8_in_json_ld_strings_becomes_replacement_characters() {
    let mut body = b"<script type=application/ld+json>{\"a\":\"x".to_vec();
    body.extend_from_slice(&[0xFF, 0xC3]);
    body.extend_from_slice(b"y\"}</script>");
    let page = extract(&body, Some("text/html; charset=utf-8"));
    assert_eq!(page.json_ld, vec![json!({"a": "x\u{FFFD}\u{FFFD}y"})]);
}

#[test]
fn the_preview_takes_the_first_source_of_each_chain() {
    let full = r#"<html lang=en-GB><head>
        <title>Title tag</title>
        <meta name=description content="Meta description">
        <meta name=author content="Meta Author">
        <meta name=application-name content=App>
        <meta property=og:title content="OG title">
        <meta property=og:description content="OG description">
        <meta property=og:image content=/og.jpg>
        <meta property=og:url content=/og-url>
        <meta property=og:site_name content="OG site">
        <meta property=og:type content=article>
        <meta property=og:locale content=en_GB>
        <meta property=article:published_time content="2026-11-24T08:00:00+0100">
        <meta property=article:modified_time content="2026-11-25 09:30Z">
        <meta name=twitter:title content="Twitter title">
        <link rel=canonical href=/canonical>
        <link rel=icon href=/icon.svg sizes=any>
        <link rel=icon href=/icon-64.png sizes=64x64>
        <script type=application/ld+json>{"@graph":[{"@type":"WebSite","name":"Site"},
          {"@type":"NewsArticle","headline":"LD headline","datePublished":"2026-01-01T00:00:00Z",
           "author":{"@type":"Person","name":"LD Author"},"image":["/ld.jpg"],"inLanguage":"de"}]}</script>
        </head>"#;
    let page = at(full);
    assert_eq!(
        serde_json::to_value(&page.preview).unwrap(),
        json!({
            "title": "OG title",
            "description": "OG description",
            "image": "https://example.com/og.jpg",
            "url": "https://example.com/canonical",
            "site_name": "OG site",
            "type": "article",
            "author": "Meta Author",
            "published": "2026-11-24T08:00:00+01:00",
            "modified": "2026-11-25T09:30:00Z",
            "lang": "en-GB",
            "locale": "en_GB",
            "icon": "https://example.com/icon.svg",
        })
    );

    // Each chain one step down: the first source removed.
    let drop = |html: &str, gone: &[&str]| -> PageMeta {
        let kept: String = html
            .lines()
            .filter(|line| !gone.iter().any(|marker| line.contains(marker)))
            .collect::<Vec<_>>()
            .join("\n");
        at(&kept)
    };
    let page = drop(
        full,
        &[
            "og:title",
            "og:description",
            "og:image",
            "og:url\"",
            "rel=canonical",
            "og:site_name",
            "og:type",
            "name=author",
            "published_time",
            "modified_time",
            "lang=en-GB",
        ],
    );
    let preview = &page.preview;
    assert_eq!(preview.title.as_deref(), Some("Twitter title"));
    assert_eq!(preview.description.as_deref(), Some("Meta description"));
    assert_eq!(preview.image.as_deref(), Some("https://example.com/ld.jpg"));
    assert_eq!(preview.url.as_deref(), Some("https://example.com/og-url"));
    assert_eq!(preview.site_name.as_deref(), Some("App"));
    assert_eq!(preview.kind.as_deref(), Some("NewsArticle"));
    assert_eq!(preview.author.as_deref(), Some("LD Author"));
    assert_eq!(preview.published.as_deref(), Some("2026-01-01T00:00:00Z"));
    assert_eq!(preview.modified, None);
    assert_eq!(preview.lang.as_deref(), Some("de"));

    let page = drop(
        full,
        &[
            "og:",
            "twitter:",
            "rel=canonical",
            "name=description",
            "application-name",
            "ld+json",
            "rel=icon",
            "lang=en-GB",
        ],
    );
    let preview = &page.preview;
    assert_eq!(preview.title.as_deref(), Some("Title tag"));
    assert_eq!(preview.description, None);
    assert_eq!(preview.url.as_deref(), Some(PAGE_URL));
    assert_eq!(preview.site_name, None);
    assert_eq!(preview.kind, None);
    assert_eq!(preview.lang, None);
    assert_eq!(
        preview.icon.as_deref(),
        Some("https://example.com/favicon.ico")
    );

    // JSON-LD name when there is no headline; the site's own nodes skipped.
    let page = at(
        r#"<title>T</title><script type=application/ld+json>[{"@type":"Organization","name":"Org"},{"@type":"Product","name":"Widget","description":"D","publisher":"Pub","dateModified":"2026-02-30T00:00:00Z"}]</script>"#,
    );
    assert_eq!(page.preview.title.as_deref(), Some("Widget"));
    assert_eq!(page.preview.description.as_deref(), Some("D"));
    assert_eq!(page.preview.site_name.as_deref(), Some("Pub"));
    // Not a date: kept as written.
    assert_eq!(
        page.preview.modified.as_deref(),
        Some("2026-02-30T00:00:00Z")
    );
    // og:locale gives the language last, as a language tag.
    let page = at("<meta property=og:locale content=pt_BR>");
    assert_eq!(page.preview.lang.as_deref(), Some("pt-BR"));
    // image_src, twitter:image, and the date meta.
    let page = at("<link rel=image_src href=/src.png><meta name=date content=2020-05-01>");
    assert_eq!(
        page.preview.image.as_deref(),
        Some("https://example.com/src.png")
    );
    assert_eq!(page.preview.published.as_deref(), Some("2020-05-01"));
    let page = at("<link rel=image_src href=/src.png><meta name=twitter:image content=/tw.png>");
    assert_eq!(
        page.preview.image.as_deref(),
        Some("https://example.com/tw.png")
    );
}

#[test]
fn caps_cut_lists_and_say_so() {
    let icons = "<link rel=icon href=/i.png>".repeat(1_000);
    let page = at(&format!("{icons}<meta name=after content=x>"));
    assert_eq!(page.icons.len(), abreast_meta::MAX_ICONS);
    assert_eq!(page.capped, ["icons"]);
    assert_eq!(page.meta.len(), 1);
    let blocks = "<script type=application/ld+json>1</script>".repeat(300);
    let page = at(&blocks);
    assert_eq!(page.json_ld.len(), abreast_meta::MAX_JSON_LD_BLOCKS);
    assert_eq!(page.capped, ["json_ld"]);
    let images = "<meta property=og:image content=x>".repeat(600);
    let page = at(&images);
    assert_eq!(page.og.items("image").len(), abreast_meta::MAX_CARD_VALUES);
    assert_eq!(page.capped, ["og"]);
}

#[test]
fn a_million_icon_links_stay_within_the_memory_cap() {
    let icons = "<link rel=icon href=/i.png>".repeat(1_000_000);
    let page = Extractor::new()
        .max_bytes(usize::MAX)
        .memory_limit(1 << 20)
        .extract_at(icons.as_bytes(), None, Some(&Url::parse(PAGE_URL).unwrap()));
    assert_eq!(page.icons.len(), abreast_meta::MAX_ICONS);
    assert!(page.end.is_complete());
    assert_eq!(page.capped, ["icons"]);
}

#[test]
fn the_record_serializes_with_every_new_field() {
    let page = at("<title>x</title>");
    let value = serde_json::to_value(&page).unwrap();
    for field in [
        "json_ld",
        "json_ld_errors",
        "og",
        "twitter",
        "icons",
        "feeds",
        "alternates",
        "oembed",
        "robots",
        "preview",
        "capped",
    ] {
        assert!(value.get(field).is_some(), "{field}");
    }
    let back: PageMeta = serde_json::from_value(value).unwrap();
    assert_eq!(back, crate::tricky::without_diagnostics(page));
}

#[test]
fn the_test_sites_page_gives_a_full_preview() {
    let config = abreast_site::SiteConfig::default().page_size(64 << 10);
    let page = abreast_site::page_html(&config, "http://127.0.0.1:8080", 7).unwrap();
    let page = extract_at(&page, None, Some("http://127.0.0.1:8080/page/7"));
    assert!(page.json_ld_errors.is_empty(), "{:?}", page.json_ld_errors);
    assert_eq!(page.json_ld.len(), 1);
    assert_eq!(page.preview.title.as_deref(), Some("Page 7"));
    assert_eq!(
        page.preview.url.as_deref(),
        Some("http://127.0.0.1:8080/page/7")
    );
    assert_eq!(page.preview.kind.as_deref(), Some("article"));
    assert!(page.preview.image.is_some());
    assert!(page.capped.is_empty());
}

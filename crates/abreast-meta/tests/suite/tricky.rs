//! A table of tricky documents, one or more per rule of the HTML Standard
//! that a regex gets wrong, each with the expected output written as the
//! JSON the fetch tool would print (only the fields named are compared).

use abreast_meta::{End, Extractor, extract};
use serde_json::{Value, json};

/// `(rule, document, expected fields of the PageMeta JSON)`.
fn table() -> Vec<(&'static str, &'static str, Value)> {
    vec![
        (
            "no meta from inside a script",
            r#"<script>document.write("<meta name=a content=b>")</script><meta name=real>"#,
            json!({"meta": [{"name": "real"}]}),
        ),
        (
            "no meta from inside a style",
            "<style>/* <meta name=a> */</style><meta name=real>",
            json!({"meta": [{"name": "real"}]}),
        ),
        (
            "no meta from inside a textarea",
            "<textarea><meta name=a></textarea>",
            json!({"meta": []}),
        ),
        (
            "no meta from inside a title; the title keeps the text",
            "<title>a <meta name=a> b</title>",
            json!({"meta": [], "title": "a <meta name=a> b"}),
        ),
        (
            "no meta from inside a comment",
            "<!-- <meta name=a> --><meta name=real>",
            json!({"meta": [{"name": "real"}]}),
        ),
        (
            "script data: an escaped `<script>` inside `<!--` keeps `</script>` from ending it",
            "<script><!--<script></script><meta name=a></script><meta name=real>",
            json!({"meta": [{"name": "real"}]}),
        ),
        (
            "RCDATA and RAWTEXT end at their end tag, comments or not",
            "<title><!--</title><meta name=a>--><style><!--</style><meta name=b>",
            json!({"meta": [{"name": "a"}, {"name": "b"}], "title": "<!--"}),
        ),
        (
            "no meta from inside xmp, iframe, noembed or noframes",
            "<xmp><meta name=a></xmp><iframe><meta name=b></iframe><noembed><meta name=c></noembed><noframes><meta name=d></noframes>",
            json!({"meta": []}),
        ),
        (
            "an end tag `</meta>` is not a meta; `<?…>` is a bogus comment",
            "</meta name=a><?xml version=\"1.0\"?><meta name=real>",
            json!({"meta": [{"name": "real"}]}),
        ),
        (
            "`<!-->` is a whole (empty) comment",
            "<!--><meta name=real>",
            json!({"meta": [{"name": "real"}]}),
        ),
        (
            "CDATA in HTML content is a bogus comment that ends at the first `>`",
            "<![CDATA[ <meta name=a> ]]>",
            json!({"meta": []}),
        ),
        (
            "CDATA in SVG is text",
            "<svg><![CDATA[ <meta name=a> ]]></svg>",
            json!({"meta": []}),
        ),
        (
            "noscript is raw text to a browser with scripting on",
            "<noscript><meta http-equiv=refresh content=0></noscript><meta name=real>",
            json!({"meta": [{"name": "real"}]}),
        ),
        (
            "template contents are not in the document",
            "<template><meta name=a><title>no</title></template><meta name=real>",
            json!({"meta": [{"name": "real"}], "title": null}),
        ),
        (
            "plaintext makes the rest text",
            "<plaintext><meta name=a>",
            json!({"meta": []}),
        ),
        (
            "a tag inside another tag's attribute value is not a tag",
            r#"<a title="<meta name=a>">x</a>"#,
            json!({"meta": []}),
        ),
        (
            "any case; names lowercased, values kept",
            "<META NAME=Description CONTENT=\"Hello\">",
            json!({"meta": [{"name": "Description", "content": "Hello"}], "description": "Hello"}),
        ),
        (
            "attributes in any order, double, single and no quotes",
            r#"<meta content='single' name=bare property="double">"#,
            json!({"meta": [{"content": "single", "name": "bare", "property": "double"}]}),
        ),
        (
            "`>` inside a quoted value",
            r#"<meta name="a>b" content='c>d'>"#,
            json!({"meta": [{"name": "a>b", "content": "c>d"}]}),
        ),
        (
            "duplicate attributes: the first wins",
            "<meta name=first content=x NAME=second>",
            json!({"meta": [{"name": "first", "content": "x"}]}),
        ),
        (
            "`/>` closes; a slash after an unquoted value belongs to it",
            r#"<meta name="a"/><meta name=b content=c/><meta name=d />"#,
            json!({"meta": [{"name": "a"}, {"name": "b", "content": "c/"}, {"name": "d"}]}),
        ),
        (
            "a slash between attributes separates them; after an unquoted value it is the value's",
            r#"<meta/name="a"/content=b/>"#,
            json!({"meta": [{"name": "a", "content": "b/"}]}),
        ),
        (
            "character references decoded by the attribute rules",
            r#"<meta name=x content="Fish &amp; chips &copy; &#x263A;&#9731; ?a=1&copy=2 &notit;">"#,
            json!({"meta": [{"name": "x", "content": "Fish & chips © ☺☃ ?a=1&copy=2 &notit;"}]}),
        ),
        (
            "a tag cut by the end of input is dropped",
            r#"<meta name=ok><meta name=a content="unterminated"#,
            json!({"meta": [{"name": "ok"}]}),
        ),
        (
            "meta in the body is still a meta element",
            "<body><p>text</p><meta itemprop=price content=3></body>",
            json!({"meta": [{"itemprop": "price", "content": "3"}]}),
        ),
        (
            "meta breaks out of SVG",
            "<svg><meta name=a></svg>",
            json!({"meta": [{"name": "a"}]}),
        ),
        (
            "an SVG title is not the document title",
            "<svg><title>icon</title></svg><title>Real</title>",
            json!({"title": "Real"}),
        ),
        (
            "a title inside foreignObject is HTML, so it is the document's",
            "<svg><foreignObject><title>Real</title></foreignObject></svg><title>second</title>",
            json!({"title": "Real"}),
        ),
        (
            "`<svg/>` is closed at once: what follows is HTML again",
            "<svg/><style><meta name=a></style><title>T</title>",
            json!({"meta": [], "title": "T"}),
        ),
        (
            "only `</template>` ends a template: an end tag of its parent does not",
            "<div><template></div><meta name=a></template><meta name=b>",
            json!({"meta": [{"name": "b"}]}),
        ),
        (
            "a `<template>` inside SVG is an SVG element, with no template contents",
            "<svg><template><meta name=a></template></svg>",
            json!({"meta": [{"name": "a"}]}),
        ),
        (
            "inside SVG, `</template>` closes the SVG template, not the HTML one",
            "<template><svg><template></template><meta name=a></template><meta name=b>",
            json!({"meta": [{"name": "b"}]}),
        ),
        (
            "`</template>` closes the SVG left open inside the template",
            "<template><svg></template><style><meta name=a></style>",
            json!({"meta": []}),
        ),
        (
            "U+FEFF at the start of a value is text, not a byte order mark",
            "<meta name=a content=\"\u{FEFF}x\">",
            json!({"meta": [{"name": "a", "content": "\u{FEFF}x"}]}),
        ),
        (
            "title: references decoded, whitespace collapsed, the first one wins",
            "<title>\n  Fish &amp;\tchips  &lt;3 </title><title>second</title>",
            json!({"title": "Fish & chips <3"}),
        ),
        (
            "an empty title is an empty title",
            "<title></title><title>second</title>",
            json!({"title": ""}),
        ),
        (
            "html lang, the first one",
            "<HTML LANG=pt-BR><html lang=en>",
            json!({"lang": "pt-BR"}),
        ),
        (
            "canonical: rel tokens, any case, several per attribute",
            r#"<link rel=canonicalish href=/no><link rel="alternate  CANONICAL" href=" /yes?a=1&amp;b=2 "><link rel=canonical href=/later>"#,
            json!({"canonical": "/yes?a=1&b=2"}),
        ),
        (
            "OpenGraph and Twitter cards: keys lowercased, repeats kept in order",
            r#"<meta property=og:title content=A><meta property="OG:TITLE" content=B><meta name="twitter:card" property="og:type" content=summary>"#,
            json!({
                "og": {"title": ["A", "B"], "type": ["summary"]},
                "twitter": {"card": ["summary"]},
            }),
        ),
        (
            "description needs a content attribute",
            "<meta name=description><meta name=DESCRIPTION content=second>",
            json!({"description": "second"}),
        ),
        (
            "JSON-LD: parsed as written (no references in script text), type in any case, other scripts ignored",
            r#"<script type="APPLICATION/LD+JSON">{"a":"<meta name=x> &amp;"}</script><script type=text/javascript>1</script><script type=" application/ld+json ">[]</script><script type=application/ld+json></script>"#,
            json!({
                "json_ld": [{"a": "<meta name=x> &amp;"}, []],
                "json_ld_errors": [{"block": 2, "reason": "empty block"}],
                "meta": [],
            }),
        ),
        (
            "binary garbage gives what can be read",
            "\u{0}\u{1}<meta name=a>\u{7f}<\u{0}meta>",
            json!({"meta": [{"name": "a"}]}),
        ),
    ]
}

/// Compares each field of `expected` with the page's JSON.
fn check(rule: &str, html: &str, expected: &Value, actual: &Value) {
    for (field, value) in expected.as_object().expect("expected fields are an object") {
        assert_eq!(
            &actual[field], value,
            "rule: {rule}\ndocument: {html}\nfield: {field}\nwhole output: {actual}"
        );
    }
}

#[test]
fn tricky_documents_give_what_a_browser_builds() {
    for (rule, html, expected) in table() {
        let page = extract(html.as_bytes(), Some("text/html; charset=utf-8"));
        let actual = serde_json::to_value(&page).expect("PageMeta serializes");
        check(rule, html, &expected, &actual);
        assert_eq!(page.end, End::Complete, "rule: {rule}");
    }
}

#[test]
fn metas_keep_document_order_and_attribute_order() {
    let page = extract(
        b"<meta b=1 a=2><p><meta c=3></p><!-- x --><meta d=4 c=5>",
        None,
    );
    let attrs: Vec<_> = page.meta.iter().map(|meta| meta.attrs.clone()).collect();
    let pairs = |list: &[(&str, &str)]| -> Vec<(String, String)> {
        list.iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect()
    };
    assert_eq!(
        attrs,
        vec![
            pairs(&[("b", "1"), ("a", "2")]),
            pairs(&[("c", "3")]),
            pairs(&[("d", "4"), ("c", "5")])
        ]
    );
}

#[test]
fn head_only_stops_where_the_head_ends() {
    let head_only = Extractor::new().head_only(true);
    let cases: [(&str, &str, &[&str]); 6] = [
        (
            "at the body tag",
            "<html><head><meta name=a></head><body><meta name=b>",
            &["a"],
        ),
        (
            "at the first body element, without a body tag",
            "<meta name=a><title>t</title><div><meta name=b>",
            &["a"],
        ),
        (
            "at the first text that is not whitespace",
            "<title>t</title>\n  hello <meta name=b>",
            &[],
        ),
        (
            "not at </head>: a meta after it still goes in the head",
            "<head></head>\n<meta name=a><body><meta name=b>",
            &["a"],
        ),
        (
            "not at markup inside noscript, template, script or style",
            "<noscript><img src=x></noscript><template><div>x</div></template><script>if (a<b) {}</script><style>p{}</style><meta name=a><p>",
            &["a"],
        ),
        (
            "not inside the title",
            "<title>a <b>bold</b> title</title><meta name=a><p><meta name=b>",
            &["a"],
        ),
    ];
    for (rule, html, names) in cases {
        let page = head_only.extract(html.as_bytes(), None);
        let found: Vec<_> = page
            .meta
            .iter()
            .filter_map(|meta| meta.get("name"))
            .collect();
        assert_eq!(found, names, "rule: {rule}");
        assert_eq!(page.end, End::HeadEnd, "rule: {rule}");
        // The full read sees at least as much, in the same order.
        let full = extract(html.as_bytes(), None);
        assert!(full.meta.starts_with(&page.meta), "rule: {rule}");
    }
    let no_body = head_only.extract(b"<meta name=a>", None);
    assert_eq!(no_body.end, End::Complete);
}

#[test]
fn page_meta_round_trips_through_json() {
    let page = extract(
        br#"<html lang=en><title>T</title><meta name=b a="1" property=og:x content=y><link rel=canonical href=/c><script type=application/ld+json>{}</script>"#,
        None,
    );
    let json = serde_json::to_string(&page).expect("serializes");
    assert!(json.contains(r#""charset":"windows-1252""#), "{json}");
    // The Rust-only diagnostics are not part of the record's shape.
    assert!(
        !json.contains("charset_source") && !json.contains(r#""end""#),
        "{json}"
    );
    assert!(
        json.contains(r#"{"name":"b","a":"1","property":"og:x","content":"y"}"#),
        "{json}"
    );
    let back: abreast_meta::PageMeta = serde_json::from_str(&json).expect("deserializes");
    assert_eq!(back, without_diagnostics(page));
}

#[test]
fn results_and_extractors_cross_threads_and_processes() {
    fn send_sync_serde<T: Send + Sync + serde::Serialize + serde::de::DeserializeOwned>() {}
    fn send_sync<T: Send + Sync>() {}
    send_sync_serde::<abreast_meta::PageMeta>();
    send_sync_serde::<abreast_meta::EncodingSource>();
    send_sync_serde::<abreast_meta::End>();
    send_sync::<Extractor>();
}

/// `page` with the fields that are not serialized (`charset_source`, `end`) at their defaults:
/// what a JSON round trip gives back.
pub(crate) fn without_diagnostics(page: abreast_meta::PageMeta) -> abreast_meta::PageMeta {
    abreast_meta::PageMeta {
        charset_source: Default::default(),
        end: Default::default(),
        ..page
    }
}

//! Differential tests: the engine under test, [`crate::Extractor`], against
//! the lol_html extractor kept in [`crate::reference`], on the same input,
//! for the full read and for `head_only`, comparing the whole [`PageMeta`].
//! A table of short documents aims each at one tokenizer state or one piece
//! of tree-builder feedback, and is also read cut at every byte (so that
//! the input ends in every state); a realistic 64 KiB page follows; then a
//! property test compares tag soups made of the markup that reaches the
//! tokenizer's corners. The engine under test deliberately follows the
//! browser in three places where lol_html does not (see
//! [`lol_html_agrees_with_the_browser`]): the table stays clear of them, and
//! the property test skips the soups that could reach them. On a mismatch
//! the input is printed, escaped, with both outputs.

use std::fmt::Write as _;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;

use crate::Extractor;
use crate::page::{EncodingSource, End, PageMeta};
use crate::reference::{self, Options};
use crate::sniff::{bom_length, sniff_encoding};

/// Runs both engines on `body` with the same options and says how they
/// differ, if they do.
fn compare(body: &[u8], content_type: Option<&str>, options: &Options) -> Result<(), String> {
    let engine = Extractor::new()
        .head_only(options.head_only)
        .max_bytes(options.max_bytes)
        .memory_limit(options.memory_limit)
        .extract(body, content_type);
    // A late `<meta charset>` makes the engine read again in the declared
    // encoding; the oracle is told the outcome and reads with it.
    let forced = (engine.charset_source == EncodingSource::LateMeta)
        .then(|| encoding_rs::Encoding::for_label(engine.charset.as_bytes()))
        .flatten()
        .map(|encoding| (encoding, EncodingSource::LateMeta));
    let oracle = reference::extract(options, body, content_type, forced);
    let differing = differing_fields(&engine, &oracle);
    if differing.is_empty() {
        return Ok(());
    }
    let mut report = format!(
        "the engine and lol_html differ in {differing:?}\n\
         input ({} bytes, content type {content_type:?}, {options:?}):\n\
         b\"{}\"\n",
        body.len(),
        body.escape_ascii(),
    );
    // Writing to a String cannot fail.
    let _ = write!(report, "engine: {engine:#?}\nlol_html: {oracle:#?}");
    Err(report)
}

/// The fields of the two results that differ, by name (none: they agree).
///
/// lol_html and the engine under test account for memory differently: when
/// the oracle ended with [`End::MemoryLimit`], how far each engine got
/// is not comparable, so `end` and the content are not compared, only the
/// encoding (which does not depend on the engine).
fn differing_fields(engine: &PageMeta, oracle: &PageMeta) -> Vec<&'static str> {
    let encoding = [
        ("charset", engine.charset == oracle.charset),
        (
            "charset_source",
            engine.charset_source == oracle.charset_source,
        ),
    ];
    let content = [
        ("end", engine.end == oracle.end),
        ("meta", engine.meta == oracle.meta),
        ("title", engine.title == oracle.title),
        ("lang", engine.lang == oracle.lang),
        ("canonical", engine.canonical == oracle.canonical),
        ("description", engine.description == oracle.description),
        ("og", engine.og == oracle.og),
        ("twitter", engine.twitter == oracle.twitter),
        ("json_ld", engine.json_ld == oracle.json_ld),
        (
            "json_ld_errors",
            engine.json_ld_errors == oracle.json_ld_errors,
        ),
        ("icons", engine.icons == oracle.icons),
        ("feeds", engine.feeds == oracle.feeds),
        ("alternates", engine.alternates == oracle.alternates),
        ("oembed", engine.oembed == oracle.oembed),
        ("robots", engine.robots == oracle.robots),
        ("preview", engine.preview == oracle.preview),
        ("capped", engine.capped == oracle.capped),
    ];
    let mut differing: Vec<&'static str> = encoding
        .iter()
        .chain(&content)
        .filter(|(_, same)| !same)
        .map(|(name, _)| *name)
        .collect();
    if oracle.end == End::MemoryLimit {
        differing.retain(|name| encoding.iter().any(|(field, _)| field == name));
    } else if differing.is_empty() && engine != oracle {
        // A field added to PageMeta and not to the lists above.
        differing.push("a field not listed here");
    }
    differing
}

/// Whether `haystack` contains `needle`, ignoring ASCII case (give `needle`
/// in lowercase).
fn contains_ignoring_case(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window.eq_ignore_ascii_case(needle))
}

/// Whether `soup` has SVG or MathML in it.
fn has_foreign_content(soup: &[u8]) -> bool {
    contains_ignoring_case(soup, b"<svg") || contains_ignoring_case(soup, b"<math")
}

/// Whether `soup` keeps clear of the known divergences: the four places
/// where the engine under test deliberately follows the HTML Standard and
/// lol_html departs from it. It is false for
/// anything that could reach one of them:
///
/// 1. Template contents: in a browser only `</template>` ends an HTML
///    `<template>`; lol_html's element stack lets the end tag of any element
///    opened before the template close it (`<div><template></div>`), and
///    what follows is then read as part of the document.
/// 2. `<svg/>` and `<math/>`: a self-closing `<svg>` or `<math>` is closed at
///    once and does not put the tokenizer in foreign content; lol_html
///    enters foreign content anyway.
/// 3. Titles in foreign content: a `<title>` counts when the tree builder
///    creates it in the HTML namespace, which it does inside the integration
///    points (`<foreignObject>`, `<desc>`, an SVG `<title>`, `<mi>`, …);
///    lol_html's `svg title, math title` selector rejects any `<title>`
///    with an `<svg>` or `<math>` ancestor in its element stack.
/// 4. A byte order mark at the start of an attribute name or value: it is
///    text (U+FEFF, or what its bytes are in the page's encoding); lol_html
///    decodes names and values with `Encoding::decode`, which takes it for
///    a byte order mark, drops it, and may switch to UTF-16.
///
/// And one quirk of the oracle itself: an empty JSON-LD script inside an
/// SVG or MathML `<script type=application/ld+json>` (whose element matches
/// the oracle's selector too, and stays open) leaves its entry open, and the
/// outer element's later text is appended to it.
///
/// The test is coarse so that it is obviously safe: it is false when the
/// soup contains `template` in any case (1), or contains `<svg` or `<math`
/// in any case together with `/>` (2) or `title` in any case (3), or a
/// byte order mark's bytes anywhere but at its start (4), or foreign content
/// with `ld+json` twice (the quirk). Soups with `<svg`
/// or `<math` but neither `/>` nor `title` are still compared.
/// Callers apply it to the bytes and to the text decoded as the engines
/// decode it (see [`decoded`]), since lol_html reads one or the other.
fn lol_html_agrees_with_the_browser(soup: &[u8]) -> bool {
    let contains = |needle: &[u8]| contains_ignoring_case(soup, needle);
    let inner_bom = [&b"\xEF\xBB\xBF"[..], b"\xFF\xFE", b"\xFE\xFF"]
        .iter()
        .any(|bom| {
            soup.get(1..)
                .is_some_and(|rest| contains_ignoring_case(rest, bom))
        });
    let json_ld_twice = soup
        .windows(b"ld+json".len())
        .filter(|window| window.eq_ignore_ascii_case(b"ld+json"))
        .nth(1)
        .is_some();
    !(contains(b"template")
        || has_foreign_content(soup) && (contains(b"/>") || contains(b"title") || json_ld_twice)
        || inner_bom)
}

/// `body` decoded as both engines decode it (the encoding sniffed the same
/// way, the byte order mark removed): what lol_html tokenizes when the
/// encoding is not ASCII-compatible (UTF-16, ISO-2022-JP, replacement).
fn decoded(body: &[u8], content_type: Option<&str>) -> String {
    let (encoding, _) = sniff_encoding(body, content_type);
    encoding
        .decode_without_bom_handling(&body[bom_length(body)..])
        .0
        .into_owned()
}

/// Whether both engines should agree on `soup` read under `content_type`:
/// [`lol_html_agrees_with_the_browser`] on its bytes and on its text.
fn comparable(soup: &[u8], content_type: Option<&str>) -> bool {
    lol_html_agrees_with_the_browser(soup)
        && lol_html_agrees_with_the_browser(decoded(soup, content_type).as_bytes())
}

/// One document of the table: what it aims at, its bytes, and the
/// Content-Type header it comes with.
struct Case {
    /// The tokenizer state or tree-builder feedback it reaches.
    aim: &'static str,
    /// The body.
    body: Vec<u8>,
    /// The Content-Type header, if any.
    content_type: Option<&'static str>,
}

/// A [`Case`] of text in UTF-8, without a Content-Type header.
fn case(aim: &'static str, body: &str) -> Case {
    Case {
        aim,
        body: body.as_bytes().to_vec(),
        content_type: None,
    }
}

/// `text` in UTF-16 with a byte order mark, big- or little-endian.
fn utf16_with_bom(text: &str, big_endian: bool) -> Vec<u8> {
    let units = std::iter::once(0xFEFF).chain(text.encode_utf16());
    if big_endian {
        units.flat_map(u16::to_be_bytes).collect()
    } else {
        units.flat_map(u16::to_le_bytes).collect()
    }
}

/// `text` in a legacy encoding, every character of which it can encode.
fn legacy(text: &str, encoding: &'static encoding_rs::Encoding) -> Vec<u8> {
    let (bytes, _, unmappable) = encoding.encode(text);
    assert!(!unmappable, "{} cannot encode {text:?}", encoding.name());
    bytes.into_owned()
}

/// Documents cut short, each inside one tokenizer state: `(state,
/// document)`. (The table is also read cut at every byte, see
/// `corpus_cut_at_every_byte_agrees_with_lol_html`.)
const CUT_SHORT: [(&str, &str); 29] = [
    ("tag open", "<meta name=a><"),
    ("end tag open", "<meta name=a></"),
    ("tag name", "<meta name=a><meta"),
    ("end tag name", "<meta name=a></met"),
    ("before attribute name", "<meta name=a><meta "),
    ("attribute name", "<meta name=a><meta name"),
    ("after attribute name", "<meta name=a><meta name "),
    ("before attribute value", "<meta name=a><meta name="),
    ("double-quoted value", "<meta name=a><meta name=\"b"),
    ("single-quoted value", "<meta name=a><meta name='b"),
    ("unquoted value", "<meta name=a><meta name=b"),
    (
        "character reference in a value",
        "<meta name=a><meta name=\"&am",
    ),
    ("after a quoted value", "<meta name=a><meta name=\"b\""),
    ("self-closing start tag", "<meta name=a><meta name=b /"),
    ("markup declaration open", "<meta name=a><!-"),
    ("comment", "<meta name=a><!-- <meta name=b>"),
    ("comment end dash", "<meta name=a><!-- x -"),
    ("comment end bang", "<meta name=a><!-- x --!"),
    ("bogus comment", "<meta name=a><?php <meta name=b"),
    ("DOCTYPE name", "<!DOCTYPE ht"),
    ("after DOCTYPE name", "<!DOCTYPE html "),
    (
        "DOCTYPE public identifier",
        "<!DOCTYPE html PUBLIC \"<meta name=a>",
    ),
    ("script data", "<meta name=a><script><meta name=b>"),
    (
        "script data escaped",
        "<meta name=a><script><!-- <meta name=b>",
    ),
    (
        "script data double escaped",
        "<meta name=a><script><!--<script></script",
    ),
    ("RCDATA, in a character reference", "<title>abc &amp"),
    ("RCDATA end tag name", "<title>abc</title"),
    ("RAWTEXT less-than sign", "<meta name=a><style>p{}<"),
    (
        "CDATA section",
        "<meta name=a><svg><![CDATA[<meta name=b>]]",
    ),
];

/// The table: each short document aims at one tokenizer state or one piece
/// of tree-builder feedback, then a realistic page.
fn corpus() -> Vec<Case> {
    let mut cases = vec![
        case(
            "tag open: a `<` not followed by a letter is text",
            "a < b <3 <-><=<meta name=a><<meta name=b>",
        ),
        case(
            "end tag open: `</>` vanishes, `</ x>` and `</3 …>` are bogus comments to the first `>`",
            "</><meta name=a></ x><meta name=b></3 <meta name=c>><meta name=d>",
        ),
        case(
            "bogus comments from `<?`, to the first `>` whatever the quotes",
            "<?xml version=\"1.0\"?><meta name=a><?php echo \"<meta name=b>\"; ?><meta name=c>",
        ),
        case(
            "DOCTYPE: a `>` inside a quoted identifier ends it anyway",
            "<!DOCTYPE html PUBLIC \"-//W3C//DTD>x\" '<meta name=a>'><meta name=b>\
             <!doctype html SYSTEM 'about:legacy-compat' junk \"<meta name=c>\"><!DOCTYPE><!doctypehtml><meta name=d>",
        ),
        case(
            "comments: `<!-->` and `<!--->` are whole, `--!>` and `---->` end one",
            "<!--><meta name=a><!---><meta name=b><!-- x --!><meta name=c>\
             <!-- y ----><meta name=d><!--x--!-><meta name=e>--><meta name=f>",
        ),
        case(
            "comments: nested openings, `<!` and `<!-` near-misses",
            "<!--<!--><meta name=a><!--<!-- x --><meta name=b><!-x><meta name=c><!x<meta name=d>>\
             <!--->--><meta name=e><!-- - -- --- --><meta name=f>",
        ),
        case(
            "unquoted values hold quotes, `=` and `<`",
            "<meta name=a\"b content=c'd=e property=og:<x>",
        ),
        case(
            "an attribute name may start with `=` and hold quotes",
            "<meta =\"x>\"><meta name=after n\"m=1 n'm=2 n<m=3>",
        ),
        case(
            "an attribute without a value; `/` inside an unquoted value",
            "<meta a b=c/d=e><meta name=x content=y/>",
        ),
        case(
            "`/` between attributes, spaces around `=`",
            "<meta/name=a/content=b / property = og:x\t/ \n><meta name = \"c\" / >",
        ),
        case(
            "duplicate attributes in any case: the first wins",
            "<META NAME=a Name=b CONTENT=c content=d nAmE=e>",
        ),
        case(
            "no space between attributes after a quoted value",
            "<meta name=\"a\"content=\"b\"property='og:c'content=x>",
        ),
        case(
            "`>` inside quotes",
            "<meta name='a>b' content=\"c>d\" property=\"og:>\">",
        ),
        case(
            "values with character references, CR, LF and NUL",
            "<meta name=x content=\"a&amp;b &lt &notin; &noti; &notit; &#x0; &#xD800; &#128; &#1114112; \
             &#65;&#X42;&#x43 ?a=1&copy=2\r\n\0 x\ry\">",
        ),
        case(
            "NUL and other oddities in tag and attribute names",
            "<me\0ta name=a><meta\0 name=b><meta na\0me=c n&amp;m=d><meta name=e\0>",
        ),
        case(
            "non-ASCII in attribute names: only ASCII letters are lowercased",
            "<meta NÄME=a İD=b name=c ÉTÉ=d>",
        ),
        case(
            "CR and form feed are whitespace in tags, as after newline normalization",
            "<meta\rname=a><meta name=b\rcontent=c><meta\x0cname=d><meta name\r=\re>\
             <script>x</script\r><meta name=f><style>x</style\x0c><meta name=g>\
             <!--x--\r><meta name=h>--><!DOCTYPE\rhtml><meta name=i>",
        ),
        case(
            "a `<` inside an unquoted value does not open a tag",
            "<a href=x<meta name=a><meta name=b><img alt=<meta name=c>>",
        ),
        case(
            "RCDATA: near-miss end tags do not end a title",
            "<title>a</titlex>b</ title>c</title\0>d</TITLE >e</title/><meta name=a>",
        ),
        case(
            "RCDATA: textarea, references in it, mixed-case end tag",
            "<textarea><meta name=a>&lt;<!--</TexTarea><meta name=b>-->",
        ),
        case(
            "RAWTEXT: style, xmp, iframe, noembed, noframes in mixed case",
            "<sTyLe>a</stylex><meta name=a></STYLE ><meta name=b><XMP><meta name=c></xmp>\
             <IFrame><meta name=d></iframe><noEmbed><meta name=e></NOEMBED><noframes><meta name=f></noframes><meta name=g>",
        ),
        case(
            "script data: near-miss end tags",
            "<SCRIPT>x</scriptx><meta name=a></SCRIPT ><meta name=b><script>y</script/><meta name=c>\
             <script>z</script\t\n><meta name=d><script type=module>if (a</script.length) {}</script><meta name=e>",
        ),
        case(
            "script data escaped: `<!--` then `</script>` still ends the script",
            "<script><!-- <meta name=a> </script><meta name=b><script>--><!--<meta name=c>--></script><meta name=d>",
        ),
        case(
            "script data double escaped: `<script>` inside `<!--` hides `</script>`",
            "<script><!--<script></script><meta name=a></script><meta name=b>\
             <script><!--<SCRIPT >--></script><meta name=c>",
        ),
        case(
            "script data: `<!-->` and `<!--->` do not escape",
            "<script><!--><script></script><meta name=a><script><!---><script></script><meta name=b>\
             <script><!--<script/></script>-->x</script><meta name=c>",
        ),
        case(
            "PLAINTEXT: the rest is text, end tags included",
            "<meta name=a><PlainText></plaintext><meta name=b></body>",
        ),
        case(
            "CDATA: a bogus comment in HTML, text in SVG and MathML",
            "<![CDATA[<meta name=a>]]><meta name=b><svg><![CDATA[<meta name=c>]]></svg><meta name=d>\
             <math><![CDATA[x]]]]><meta name=e>]]></math><![CDATA[]]><meta name=f>",
        ),
        case(
            "foreign content: `<meta>` breaks out of SVG, a style in SVG is not raw text",
            "<svg><style><meta name=a></style><g><meta name=b></g></svg><style><meta name=c></style>",
        ),
        case(
            "foreign content: `<font>` breaks out only with color, face or size",
            "<svg><font><style><meta name=a></style><font color=x><style><meta name=b></style>\
             <math><font FACE=y><textarea><meta name=c></textarea><svg><font size><xmp><meta name=d></xmp>",
        ),
        case(
            "foreign content: `<p>`, `<b>`, `<table>` and friends break out",
            "<svg><p><style><meta name=a></style><math><b><style><meta name=b></style>\
             <svg><table><style><meta name=c></style><svg><h1><style><meta name=d></style>",
        ),
        case(
            "foreign content: `</p>` and `</br>` break out",
            "<svg></p><style><meta name=a></style><math></br><style><meta name=b></style>\
             <svg></P ><textarea><meta name=c></textarea>",
        ),
        case(
            "foreign content: `</svg>` and `</math>` leave it, in any case",
            "<SVG><g></SVG><style><meta name=a></style><MaTh></mAtH><textarea><meta name=b></textarea>",
        ),
        case(
            "integration points: foreignObject and desc hold HTML",
            "<svg><foreignObject><style><meta name=a></style></foreignObject><style><meta name=b></style>\
             <desc><textarea><meta name=c></textarea></desc><FOREIGNOBJECT><xmp><meta name=d></xmp></svg>",
        ),
        case(
            "integration points: MathML text integration points and annotation-xml",
            "<math><mi><style><meta name=a></style></mi><mtext><xmp><meta name=b></xmp></mtext>\
             <annotation-xml encoding=TEXT/HTML><style><meta name=c></style></annotation-xml>\
             <annotation-xml encoding=\"application/xhtml+xml\"><textarea><meta name=d></textarea></annotation-xml>\
             <annotation-xml><style><meta name=e></style></annotation-xml></math>",
        ),
        case(
            "noscript is raw text (scripting on), in the head and in the body",
            "<head><noscript><meta name=a><link rel=canonical href=/no></noscript><meta name=b></head>\
             <body><NOSCRIPT><meta name=c></NoScript><meta name=d>",
        ),
        case(
            "JSON-LD: type trimmed and in any case, raw text kept, other types ignored",
            "<script type=\" Application/LD+JSON \">{\"a\": \"&amp; </scrip\"}</script>\
             <script type=\"application/ld+json; charset=utf-8\">x</script>\
             <SCRIPT TYPE='application/ld+json'>\r\n[1]\0</SCRIPT><script type=application/ld+jsonx>y</script>\
             <script type=application/ld+json>",
        ),
        case(
            "link rel: tokens split on ASCII whitespace, any case, the first canonical wins",
            "<link rel=canonical-x href=/no><link href=/no rel=\"canonical\u{A0}\">\
             <link rel=\"stylesheet\tCANONICAL\" href=\"\n /a?b=1&amp;c&copy=2 \t\"><link rel=canonical href=/second>",
        ),
        case(
            "html lang: the first, references decoded, later html tags too",
            "<!doctype html><body><html lang=\"&amp;en\r\n\"><html lang=fr><HTML LANG=de>",
        ),
        case(
            "titles: references decoded, whitespace collapsed, the first wins",
            "<body><p>x</p><TITLE>  A &amp; B &lt\n\tC&nbsp;D &#x1F600;&notit; &#0; </title><title>second</title>",
        ),
        case(
            "titles: an empty title counts, markup in it is text",
            "<title></title><title><meta name=a><!-- x --></title>",
        ),
        case(
            "head_only: text before the body ends the head",
            "<meta name=a>text<meta name=b>",
        ),
        case(
            "head_only: whitespace and comments do not end the head, a body tag does",
            "<meta name=a> \n\t\r\x0c<!-- <p> --><meta name=b><body><meta name=c>",
        ),
        case(
            "head_only: an unknown tag ends the head, head elements do not",
            "<html><head><base href=/><link rel=canonical href=/c><style>p{}</style><script>1</script>\
             <noframes><p></noframes><foo><meta name=a>",
        ),
        case(
            "head_only: a reference is text, `</head>` does not end the head",
            "<head></head>\n<meta name=a>&nbsp;<meta name=b>",
        ),
        case(
            "head_only: well-formed template contents are not the body",
            "<template><div>x</div><meta name=a></template><meta name=b><div><meta name=c>",
        ),
        case(
            "head_only: the first element of SVG ends the head",
            "<meta name=a><svg><meta name=b></svg>",
        ),
        Case {
            aim: "Shift_JIS from a meta charset, trail bytes in the ASCII range",
            body: legacy(
                "<meta charset=shift_jis><title>表示ソフト『予定表』</title>\
                 <meta name=description content=\"表示ソフトの説明ア\">\
                 <meta property=og:title content='ソ>表'>",
                encoding_rs::SHIFT_JIS,
            ),
            content_type: None,
        },
        Case {
            aim: "windows-1251 from a meta http-equiv",
            body: legacy(
                "<meta http-equiv=\"Content-Type\" content=\"text/html; charset=windows-1251\">\
                 <title>Заголовок &laquo;страницы&raquo;</title><meta name=description content=\"Описание — ёЁ\">",
                encoding_rs::WINDOWS_1251,
            ),
            content_type: None,
        },
        Case {
            aim: "UTF-16LE with a byte order mark",
            body: utf16_with_bom(
                "<html lang=ja><title>日本語 ☺</title><meta name=description content='𝄞'>",
                false,
            ),
            content_type: None,
        },
        Case {
            aim: "UTF-16BE with a byte order mark that overrides the header",
            body: utf16_with_bom(
                "<meta charset=utf-8><meta property=og:title content=\"Ünïcödé\"><script>x</script>",
                true,
            ),
            content_type: Some("text/html; charset=iso-8859-1"),
        },
        Case {
            aim: "the Content-Type charset, then a legacy encoding the tokenizer reads as bytes",
            body: legacy(
                "<meta charset=utf-8><title>Ça coûte 5 €</title><meta name=a content='é'>",
                encoding_rs::WINDOWS_1252,
            ),
            content_type: Some("text/html; charset=ISO-8859-1"),
        },
        Case {
            aim: "a realistic 64 KiB page",
            body: realistic_page(),
            content_type: Some("text/html; charset=utf-8"),
        },
    ];
    for (state, document) in CUT_SHORT {
        cases.push(case(state, document));
    }
    cases
}

/// A page shaped like a shop's product listing, to 64 KiB: a head with
/// metas, OpenGraph, Twitter, a canonical link, styles, an escaped script,
/// JSON-LD and a noscript; then a body with inline SVG icons, microdata
/// metas, a template, a form with a textarea, comments and product cards.
fn realistic_page() -> Vec<u8> {
    const PAGE_BYTES: usize = 64 * 1024;
    let mut page = String::from(
        r#"<!doctype html>
<html lang="fr-CA" dir="ltr">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width,initial-scale=1">
  <title>Vélos &amp; accessoires — Boutique du Quai</title>
  <meta name="description" content="Vélos de ville, pièces &amp; réparations à Montréal.">
  <meta property="og:type" content="website">
  <meta property="og:title" content="Boutique du Quai">
  <meta property="og:image" content="https://img.quai.example/og.jpg?w=1200&amp;h=630">
  <meta name="twitter:card" content="summary">
  <meta name="twitter:creator" content="@quai">
  <link rel="preload" href="/fonts/inter.woff2" as="font" crossorigin>
  <link rel="alternate canonical" href="https://quai.example/velos/">
  <style>
    .card > h3 { font: 600 1rem/1.2 Inter, sans-serif } a[href^="http"]::after { content: "<meta name=fake>" }
  </style>
  <script>
    <!--
    var markup = "<script>window.x = 1</script>"; if (a < b && c > d) { document.write('<meta name=fake-in-script>') }
    -->
  </script>
  <script type="application/ld+json">
  {"@context": "https://schema.org", "@type": "Store", "name": "Boutique du Quai",
   "description": "Vélos <b>&amp;</b> pièces", "url": "https://quai.example/"}
  </script>
  <noscript><link rel="stylesheet" href="/no-js.css"><meta name="noscript-fake"></noscript>
  <!-- <meta name="commented-out"> -->
</head>
<body class="listing">
<header>
  <a href="/" class="logo"><svg viewBox="0 0 24 24" aria-hidden="true" width="24" height="24"><g fill="none" stroke="currentColor"><circle cx="6" cy="17" r="4"></circle><circle cx="18" cy="17" r="4"></circle><path d="M6 17l4-9h5l3 9"></path></g></svg> Quai</a>
  <nav><ul><li><a href="/velos/">Vélos</a></li><li><a href="/pieces/">Pièces</a></li><li><a href="/atelier/">Atelier</a></li></ul></nav>
  <form action="/recherche" role="search"><input name="q" placeholder="Chercher…"><button>OK</button></form>
</header>
<template id="card-skeleton"><div class="card skeleton"><meta name="in-template"><h3></h3></div></template>
<main>
<h1>Vélos de ville</h1>
"#,
    );
    let colours = ["rouge", "bleu", "vert", "noir", "crème"];
    let mut item = 0;
    while page.len() < PAGE_BYTES - 1200 {
        item += 1;
        let colour = colours[item % colours.len()];
        let price = 400 + item * 37 % 900;
        let card = format!(
            r#"<article class="card" itemscope itemtype="https://schema.org/Product" data-id="{item}">
  <!-- card {item} -->
  <h3 itemprop="name">Vélo urbain n° {item} &ndash; {colour}</h3>
  <img src="/img/velo-{item}.webp" alt="Vélo {item}, cadre {colour}" width=320 height=240 loading=lazy>
  <p itemprop="description">Cadre en acier, 7 vitesses, garde-boue &amp; porte-bagages. Livré monté; essai en boutique <em>gratuit</em>.</p>
  <div itemprop="offers" itemscope itemtype="https://schema.org/Offer">
    <meta itemprop="priceCurrency" content="CAD"><meta itemprop=price content="{price}.00">
    <span class="price">{price},00&nbsp;$</span>
    <button class="add" data-sku='SKU-{item}' onclick="add('{item}') && track(&quot;cart&quot;)"><svg viewBox="0 0 16 16" width="16" height="16"><path d="M1 1h2l2 9h8l2-6H4"></path></svg>Ajouter</button>
  </div>
  <script>window.cards && cards.push({{id: {item}, html: "<div class=\"card\"><\/div>"}});</script>
</article>
"#
        );
        page.push_str(&card);
    }
    page.push_str(
        r#"</main>
<footer>
  <form method="post" action="/avis"><label>Votre avis <textarea name="avis" rows=3><meta name="in-textarea"> vos mots ici</textarea></label></form>
  <p>&copy; 2026 Boutique du Quai &middot; <a href="/confidentialite">Confidentialité</a></p>
</footer>
<script async src="https://stats.quai.example/s.js"></script>
</body>
</html>
"#,
    );
    let mut bytes = page.into_bytes();
    bytes.resize(PAGE_BYTES, b'\n');
    bytes
}

/// The options both engines are compared under: the defaults, for the full
/// read and for `head_only`.
fn both_reads() -> [Options; 2] {
    [false, true].map(|head_only| Options {
        head_only,
        ..Options::default()
    })
}

/// Compares both engines on every case under every options of `options`
/// and panics with the report of every difference.
fn compare_all(cases: &[Case], options: impl Fn(&Case) -> Vec<Options>) {
    let mut failures = Vec::new();
    let mut comparisons = 0;
    for case in cases {
        for options in options(case) {
            comparisons += 1;
            if let Err(report) = compare(&case.body, case.content_type, &options) {
                failures.push(format!("case: {}\n{report}", case.aim));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {comparisons} comparisons differ:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// Every document of the table, full read and `head_only`.
#[test]
fn corpus_agrees_with_lol_html() {
    compare_all(&corpus(), |_| both_reads().to_vec());
}

/// Cases no longer than this are also read cut short at every byte.
const CUT_AT_EVERY_BYTE: usize = 512;

/// Every short document of the table, cut at every byte.
#[test]
fn corpus_cut_at_every_byte_agrees_with_lol_html() {
    // `max_bytes` makes each prefix the whole input: the end of the input
    // then falls in every state the document goes through.
    let cases: Vec<Case> = corpus()
        .into_iter()
        .filter(|case| case.body.len() <= CUT_AT_EVERY_BYTE)
        .collect();
    compare_all(&cases, |case| {
        (0..case.body.len())
            .flat_map(|max_bytes| {
                both_reads().map(|options| Options {
                    max_bytes,
                    ..options
                })
            })
            .collect()
    });
}

/// The realistic page is what it says: 64 KiB, read to the end, with what
/// its head declares and none of the metas it hides.
#[test]
fn realistic_page_is_what_it_says() {
    let page = realistic_page();
    assert_eq!(page.len(), 64 * 1024);
    let meta = reference::extract(
        &Options::default(),
        &page,
        Some("text/html; charset=utf-8"),
        None,
    );
    assert_eq!(meta.end, End::Complete);
    assert_eq!(meta.lang.as_deref(), Some("fr-CA"));
    assert_eq!(
        meta.canonical.as_deref(),
        Some("https://quai.example/velos/")
    );
    assert_eq!(meta.json_ld.len(), 1);
    assert!(meta.meta.len() > 40, "{} metas", meta.meta.len());
    assert!(
        meta.meta.iter().all(
            |tag| tag.get("name").is_none_or(|name| !name.contains("fake")
                && !name.starts_with("in-")
                && name != "commented-out")
        ),
        "{:?}",
        meta.meta
    );
}

/// Markup of HTML content: tags in mixed case, attributes in every quoting,
/// raw-text elements and near-misses of their end tags, markup declarations,
/// character references, whitespace, NUL and non-ASCII text. None of it
/// reaches a known divergence by itself.
const HTML_PIECES: &[&str] = &[
    "<",
    "</",
    ">",
    "<meta",
    "<META ",
    "<mEtA\t",
    "</meta>",
    "</ x>",
    "<?x>",
    "<?",
    "<!",
    " name=",
    " NAME=",
    " content=",
    " property=og:t",
    " name=twitter:c",
    " name=description",
    " charset=shift_jis",
    " http-equiv=content-type content='text/html; charset=windows-1251'",
    " a",
    " =",
    "=",
    "\"",
    "'",
    "x=\"1\"",
    "y='2'z",
    " ",
    "\n",
    "\t",
    "\r",
    "\r\n",
    "\u{c}",
    "\u{0}",
    "/",
    "&amp;",
    "&",
    "&#",
    "&#x",
    "&#0;",
    "&#x110000;",
    "&copy",
    "&lt;",
    "&notin;",
    "&noti",
    "é",
    "Ä",
    "İ",
    "日本",
    "\u{FEFF}",
    "\u{FFFD}",
    "<html lang=en>",
    "<HTML LANG=",
    "<link rel=canonical href=/c>",
    "<link rel='alternate CANONICAL' href=",
    "<script type=application/ld+json>",
    "<SCRIPT TYPE=' Application/LD+JSON '>",
    "<head>",
    "</head>",
    "<body>",
    "</body>",
    "<div>",
    "</div>",
    "<span>",
    "<foo>",
    "<img src=x>",
    "<table>",
    "<!--",
    "-->",
    "--!>",
    "-",
    "--",
    "<!-->",
    "<!--->",
    "<!DOCTYPE",
    "<!doctype html>",
    " PUBLIC \"",
    "<![CDATA[",
    "]]>",
    "]",
    "<script>",
    "<SCRIPT>",
    "<sCrIpT type=x>",
    "</script>",
    "</script ",
    "</SCRIPT >",
    "</scriptx>",
    "<style>",
    "</Style>",
    "</style",
    "<textarea>",
    "</TEXTAREA>",
    "<xmp>",
    "</XMP>",
    "<iframe>",
    "</iframe>",
    "<NoEmbed>",
    "</noembed>",
    "<noframes>",
    "</noframes>",
    "<noscript>",
    "</NOSCRIPT>",
    "<plaintext>",
];

/// Markup that is harmless in HTML content but can reach a known divergence
/// in foreign content: titles (3), and `/>` (2).
const HTML_ONLY_PIECES: &[&str] = &[
    "</>",
    "<title>",
    "<TiTlE>",
    "</title>",
    "</title",
    "</titlex>",
    "/>",
    "<meta/>",
    "</script/>",
];

/// Markup of foreign content: SVG and MathML, their integration points, the
/// tags that break out of them, and CDATA.
const FOREIGN_PIECES: &[&str] = &[
    "<svg>",
    "<SVG ",
    "</svg>",
    "<math>",
    "<MATH>",
    "</math>",
    "<foreignObject>",
    "<FOREIGNOBJECT>",
    "</foreignObject>",
    "<desc>",
    "</desc>",
    "<mi>",
    "</mi>",
    "<mo>",
    "<mn>",
    "<ms>",
    "<mtext>",
    "<mglyph>",
    "<annotation-xml encoding=text/html>",
    "<annotation-xml encoding='APPLICATION/XHTML+XML'>",
    "<annotation-xml>",
    "</annotation-xml>",
    "<g>",
    "</g>",
    "<path d=x>",
    "<font color=x>",
    "<font FACE=y>",
    "<font size",
    "<font>",
    "</font>",
    "<p>",
    "</p>",
    "</br>",
    "<b>",
    "<ul>",
    "<h1>",
    "<pre>",
    "<![CDATA[",
    "]]>",
];

/// Templates (1): soups with one are skipped, so they are rare.
const TEMPLATE_PIECES: &[&str] = &["<template>", "</TEMPLATE>"];

/// One piece from `pieces`, as bytes.
fn piece(pieces: &'static [&'static str]) -> impl Strategy<Value = Vec<u8>> {
    prop::sample::select(pieces).prop_map(|piece| piece.as_bytes().to_vec())
}

/// Up to three random bytes.
fn random_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..4)
}

/// Tag soups of up to 60 pieces: two in five of HTML content (with titles,
/// `/>` and, rarely, templates), three in five that may enter foreign
/// content (without titles or `/>`, which would get them skipped), both with
/// random bytes. About 8% of soups are skipped, and about 40% of the
/// compared ones have SVG or MathML (see
/// `the_generator_keeps_most_soups_and_foreign_content`).
fn soup() -> impl Strategy<Value = Vec<u8>> {
    let html = prop::collection::vec(
        prop_oneof![
            100 => piece(HTML_PIECES),
            12 => piece(HTML_ONLY_PIECES),
            1 => piece(TEMPLATE_PIECES),
            8 => random_bytes(),
        ],
        0..60,
    );
    let foreign = prop::collection::vec(
        prop_oneof![
            70 => piece(HTML_PIECES),
            40 => piece(FOREIGN_PIECES),
            8 => random_bytes(),
        ],
        0..60,
    );
    prop_oneof![2 => html, 3 => foreign].prop_map(|pieces| pieces.concat())
}

/// The Content-Type header: mostly none, so the encoding is sniffed from
/// the soup, sometimes one that takes each decoding path.
fn content_type() -> impl Strategy<Value = Option<&'static str>> {
    prop_oneof![
        6 => Just(None),
        1 => Just(Some("text/html; charset=utf-8")),
        1 => Just(Some("text/html; charset=shift_jis")),
        1 => Just(Some("text/html; charset=windows-1251")),
        1 => Just(Some("text/html; charset=utf-16le")),
        1 => Just(Some("text/html; charset=iso-2022-jp")),
    ]
}

/// Cases per property test, compared (skipped soups do not count).
const SOUPS: u32 = 2_000;

/// The property tests' configuration: [`SOUPS`] compared cases, and room for
/// the skipped ones.
fn soup_config() -> ProptestConfig {
    ProptestConfig {
        cases: SOUPS,
        max_global_rejects: 4 * SOUPS,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(soup_config())]

    /// Tag soups, full read.
    #[test]
    fn soups_agree_with_lol_html(body in soup(), content_type in content_type()) {
        prop_assume!(comparable(&body, content_type));
        let [full, _] = both_reads();
        compare(&body, content_type, &full).map_err(TestCaseError::fail)?;
    }

    /// Tag soups, `head_only`.
    #[test]
    fn soups_agree_with_lol_html_head_only(body in soup(), content_type in content_type()) {
        prop_assume!(comparable(&body, content_type));
        let [_, head_only] = both_reads();
        compare(&body, content_type, &head_only).map_err(TestCaseError::fail)?;
    }
}

/// The filter skips an example of each known divergence, in any case and
/// in UTF-16, and keeps foreign content without `/>` or `title`.
#[test]
fn the_filter_skips_the_known_divergences_and_keeps_foreign_content() {
    let divergent: [&[u8]; 6] = [
        b"<div><template></div><meta name=a>",
        b"<svg/><style><meta name=a></style>",
        b"<MATH/><style><meta name=a></style>",
        b"<svg><foreignObject><title>x</title>",
        b"<math><mi><TITLE>x</TITLE>",
        b"<TeMpLaTe>",
    ];
    for soup in divergent {
        assert!(
            !lol_html_agrees_with_the_browser(soup),
            "{}",
            soup.escape_ascii()
        );
    }
    let compared: [&[u8]; 4] = [
        b"<svg><style><meta name=a></style></svg>",
        b"<math><mi><style><meta name=a></style>",
        b"<title>x</title><meta name=a/>",
        b"<svg></p><p>/<b>",
    ];
    for soup in compared {
        assert!(
            lol_html_agrees_with_the_browser(soup),
            "{}",
            soup.escape_ascii()
        );
    }
    // UTF-16 hides the markup from a test of the bytes, not of the text.
    let hidden = utf16_with_bom("<svg/>", false);
    assert!(lol_html_agrees_with_the_browser(&hidden));
    assert!(!comparable(&hidden, None));
}

/// The share of soups the property tests skip, and of the compared ones
/// with foreign content, over `count` soups drawn deterministically.
fn skip_ratio(count: usize) -> (f64, f64) {
    let mut runner = TestRunner::deterministic();
    let strategy = (soup(), content_type());
    let (mut skipped, mut foreign) = (0, 0);
    for _ in 0..count {
        let (body, content_type) = strategy
            .new_tree(&mut runner)
            .expect("the strategies do not reject")
            .current();
        if !comparable(&body, content_type) {
            skipped += 1;
        } else if has_foreign_content(&body) {
            foreign += 1;
        }
    }
    let share = |part: usize, whole: usize| part as f64 / whole as f64;
    (share(skipped, count), share(foreign, count - skipped))
}

/// At most 40% of soups are skipped, and at least a fifth of the compared
/// ones have foreign content.
#[test]
fn the_generator_keeps_most_soups_and_foreign_content() {
    let (skipped, foreign) = skip_ratio(4_000);
    println!("skipped {skipped:.3} of soups; {foreign:.3} of compared ones have foreign content");
    assert!(skipped <= 0.4, "{skipped:.3} of soups are skipped");
    assert!(
        foreign >= 0.2,
        "{foreign:.3} of compared soups have SVG or MathML"
    );
}

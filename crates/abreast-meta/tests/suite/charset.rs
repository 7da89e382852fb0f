//! The encoding order, step by step: BOM, Content-Type charset, the `<meta>`
//! prescan, the statistical guess, windows-1252. Each input is made with
//! encoding_rs encoders here, so the bytes are exactly those of the encoding.

use abreast_meta::encoding_rs::{
    EUC_JP, Encoding, GB18030, SHIFT_JIS, UTF_8, WINDOWS_1251, WINDOWS_1252,
};
use abreast_meta::{EncodingSource, extract, sniff_encoding};

/// `html` encoded in `encoding` (which must be able to encode it all).
fn encoded(html: &str, encoding: &'static Encoding) -> Vec<u8> {
    let (bytes, _, unmappable) = encoding.encode(html);
    assert!(!unmappable, "{} cannot encode {html}", encoding.name());
    bytes.into_owned()
}

/// Extracts and checks the encoding, its source, and that the title and a
/// meta came through the decoding intact.
fn assert_decoded(
    body: &[u8],
    content_type: Option<&str>,
    encoding: &'static Encoding,
    source: EncodingSource,
    title: &str,
) {
    let page = extract(body, content_type);
    assert_eq!(
        (page.charset.as_str(), page.charset_source),
        (encoding.name(), source)
    );
    assert_eq!(page.title.as_deref(), Some(title));
    assert_eq!(sniff_encoding(body, content_type), (encoding, source));
}

const JAPANESE: &str = "日本語のページ、東京の天気";
const CHINESE: &str = "中文网页：北京天气预报";
const RUSSIAN: &str = "Прогноз погоды в Москве на неделю";

#[test]
fn a_byte_order_mark_wins_over_everything() {
    let mut body = b"\xEF\xBB\xBF".to_vec();
    body.extend_from_slice("<meta charset=koi8-r><title>café</title>".as_bytes());
    assert_decoded(
        &body,
        Some("text/html; charset=windows-1251"),
        UTF_8,
        EncodingSource::Bom,
        "café",
    );
}

#[test]
fn utf16_with_a_byte_order_mark_in_both_byte_orders() {
    let html = format!("<meta charset=utf-8><title>{JAPANESE}</title><meta name=a content=é>");
    for (bom, big_endian, encoding) in [
        ([0xFF, 0xFE], false, abreast_meta::encoding_rs::UTF_16LE),
        ([0xFE, 0xFF], true, abreast_meta::encoding_rs::UTF_16BE),
    ] {
        let mut body = bom.to_vec();
        for unit in html.encode_utf16() {
            let bytes = if big_endian {
                unit.to_be_bytes()
            } else {
                unit.to_le_bytes()
            };
            body.extend_from_slice(&bytes);
        }
        assert_decoded(&body, None, encoding, EncodingSource::Bom, JAPANESE);
        let page = extract(&body, None);
        assert_eq!(page.meta[1].get("content"), Some("é"));
    }
}

#[test]
fn the_content_type_charset_comes_next() {
    let html = format!("<meta charset=utf-8><title>{JAPANESE}</title>");
    assert_decoded(
        &encoded(&html, SHIFT_JIS),
        Some("text/html; charset=\"Shift_JIS\""),
        SHIFT_JIS,
        EncodingSource::ContentType,
        JAPANESE,
    );
    // iso-8859-1 is windows-1252, so 0x80 is the euro sign.
    assert_decoded(
        b"<title>\x80 5</title>",
        Some("text/html; charset=ISO-8859-1"),
        WINDOWS_1252,
        EncodingSource::ContentType,
        "€ 5",
    );
    // A label that is not an encoding is skipped: the prescan decides.
    let html = format!("<meta charset=euc-jp><title>{JAPANESE}</title>");
    assert_decoded(
        &encoded(&html, EUC_JP),
        Some("text/html; charset=no-such-thing"),
        EUC_JP,
        EncodingSource::MetaPrescan,
        JAPANESE,
    );
}

#[test]
fn the_meta_prescan_finds_charset_and_http_equiv() {
    let html = format!("<!doctype html><META CHARSET='EUC-JP'><title>{JAPANESE}</title>");
    assert_decoded(
        &encoded(&html, EUC_JP),
        Some("text/html"),
        EUC_JP,
        EncodingSource::MetaPrescan,
        JAPANESE,
    );
    let html = format!(
        r#"<meta http-equiv="Content-Type" content="text/html; charset=gb18030"><title>{CHINESE}</title>"#
    );
    assert_decoded(
        &encoded(&html, GB18030),
        None,
        GB18030,
        EncodingSource::MetaPrescan,
        CHINESE,
    );
    let html = format!("<meta charset=windows-1251><title>{RUSSIAN}</title>");
    assert_decoded(
        &encoded(&html, WINDOWS_1251),
        None,
        WINDOWS_1251,
        EncodingSource::MetaPrescan,
        RUSSIAN,
    );
    // `utf-16` in a meta means UTF-8 (the bytes are ASCII-compatible).
    let html = format!("<meta charset=utf-16><title>{RUSSIAN}</title>");
    assert_decoded(
        html.as_bytes(),
        None,
        UTF_8,
        EncodingSource::MetaPrescan,
        RUSSIAN,
    );
}

#[test]
fn the_prescan_looks_at_the_first_1024_bytes_only() {
    let padding = format!("<!-- {} -->", "x".repeat(1100));
    let html = format!("{padding}<meta charset=windows-1251><title>{RUSSIAN} {RUSSIAN}</title>");
    let page = extract(&encoded(&html, WINDOWS_1251), None);
    // Not the prescan; the statistical guess reads Russian all the same.
    assert_eq!(page.charset_source, EncodingSource::Statistical);
    assert_eq!(page.charset, "windows-1251");
}

#[test]
fn without_declarations_the_bytes_are_guessed() {
    let cases = [
        (SHIFT_JIS, JAPANESE),
        (EUC_JP, JAPANESE),
        (GB18030, CHINESE),
        (WINDOWS_1251, RUSSIAN),
        (UTF_8, RUSSIAN),
    ];
    for (encoding, text) in cases {
        let html = format!("<title>{text}</title><p>{text}. {text}</p>");
        let page = extract(&encoded(&html, encoding), None);
        let guessed = page.charset.as_str();
        // chardetng calls GB18030 text GBK, its subset; both decode it alike.
        let expected = if encoding == GB18030 {
            "GBK"
        } else {
            encoding.name()
        };
        assert_eq!(guessed, expected, "text: {text}");
        assert_eq!(page.charset_source, EncodingSource::Statistical);
        assert_eq!(page.title.as_deref(), Some(text));
    }
}

#[test]
fn pure_ascii_falls_back_to_windows_1252() {
    assert_decoded(
        b"<title>plain</title>",
        None,
        WINDOWS_1252,
        EncodingSource::Default,
        "plain",
    );
    let page = extract(b"", None);
    assert_eq!(page.charset, "windows-1252");
    assert_eq!(page.charset_source, EncodingSource::Default);
}

/// The HTML Standard's "change the encoding": a `<meta charset>` in the
/// head past the prescan's 1024 bytes, with the encoding still tentative,
/// makes the page be read again in the declared encoding.
#[test]
fn a_late_meta_in_the_head_changes_a_tentative_encoding() {
    for comment in [2 << 10, 4 << 10, 8 << 10] {
        let padding = format!("<!-- {} -->", "x".repeat(comment));
        // Pure ASCII: the tentative encoding is the default, windows-1252.
        let html = format!("<head>{padding}<meta charset=utf-8><title>ascii</title>");
        let page = extract(html.as_bytes(), None);
        assert_eq!(page.charset, "UTF-8", "{comment}-byte comment");
        assert_eq!(page.charset_source, EncodingSource::LateMeta);
        // Russian in ISO-8859-5: decoded in the declared encoding (which
        // the guess may have found already).
        let html = format!(
            "<head>{padding}<meta http-equiv=Content-Type content='text/html; charset=iso-8859-5'>\
             <title>{RUSSIAN}</title></head><body><p>{RUSSIAN}</p>"
        );
        let bytes = encoded(&html, abreast_meta::encoding_rs::ISO_8859_5);
        let page = extract(&bytes, None);
        assert_eq!(page.charset, "ISO-8859-5", "{comment}-byte comment");
        assert_eq!(page.title.as_deref(), Some(RUSSIAN));
        // Japanese in Shift_JIS, guessed as such, declared EUC-JP: the
        // declaration wins, as in a browser, mojibake and all.
        let html = format!(
            "<head>{padding}<meta charset=euc-jp><title>{JAPANESE}</title></head><body><p>{JAPANESE}</p>"
        );
        let bytes = encoded(&html, SHIFT_JIS);
        let page = extract(&bytes, None);
        assert_eq!(
            (page.charset.as_str(), page.charset_source),
            ("EUC-JP", EncodingSource::LateMeta),
            "{comment}-byte comment"
        );
        let japanese = encoded(JAPANESE, SHIFT_JIS);
        let (title, _) = EUC_JP.decode_without_bom_handling(&japanese);
        assert_eq!(page.title.as_deref(), Some(title.trim()));
    }
}

#[test]
fn a_late_meta_changes_nothing_when_the_encoding_is_certain_or_past_the_head() {
    let padding = format!("<!-- {} -->", "x".repeat(2048));
    // The Content-Type charset is certain.
    let html = format!("{padding}<meta charset=utf-8><title>t</title>");
    let page = extract(html.as_bytes(), Some("text/html; charset=iso-8859-2"));
    assert_eq!(
        (page.charset.as_str(), page.charset_source),
        ("ISO-8859-2", EncodingSource::ContentType)
    );
    // In the body, as Chromium's scan stops where the head ends.
    let html = format!("<body>{padding}<meta charset=utf-8>");
    let page = extract(html.as_bytes(), None);
    assert_eq!(page.charset_source, EncodingSource::Default);
    // A UTF-16 label means UTF-8; x-user-defined means windows-1252, the
    // default itself, so nothing changes.
    let html = format!("{padding}<meta charset=utf-16le>");
    assert_eq!(extract(html.as_bytes(), None).charset, "UTF-8");
    let html = format!("{padding}<meta charset=x-user-defined>");
    let page = extract(html.as_bytes(), None);
    assert_eq!(
        (page.charset.as_str(), page.charset_source),
        ("windows-1252", EncodingSource::Default)
    );
    // Only the first declaration counts: once certain, no second change.
    let html = format!("{padding}<meta charset=windows-1252><meta charset=utf-8>");
    let page = extract(html.as_bytes(), None);
    assert_eq!(page.charset, "windows-1252");
}

/// The `http-equiv` value is compared as the prescan (and the tree builder) does: ASCII
/// case-insensitively, with no trimming, so a padded value is no pragma and its content's
/// charset does not count. Both in the first 1024 bytes and past them (a late meta).
#[test]
fn http_equiv_is_compared_case_insensitively_and_untrimmed() {
    let padding = format!("<!-- {} -->", "x".repeat(2048));
    for before in ["", padding.as_str()] {
        let source = if before.is_empty() {
            EncodingSource::MetaPrescan
        } else {
            EncodingSource::LateMeta
        };
        let declared = format!(
            "<head>{before}<meta http-equiv=CONTENT-type content='text/html; charset=koi8-r'><title>t</title>"
        );
        let page = extract(declared.as_bytes(), None);
        assert_eq!(
            (page.charset.as_str(), page.charset_source),
            ("KOI8-R", source),
            "any case counts ({} bytes before)",
            before.len()
        );
        for padded in [
            " content-type",
            "content-type ",
            "\tcontent-type",
            "content-type\n",
        ] {
            let html = format!(
                "<head>{before}<meta http-equiv='{padded}' content='text/html; charset=koi8-r'><title>t</title>"
            );
            let page = extract(html.as_bytes(), None);
            assert_eq!(
                (page.charset.as_str(), page.charset_source),
                ("windows-1252", EncodingSource::Default),
                "{padded:?} is no pragma ({} bytes before)",
                before.len()
            );
        }
    }
}

/// A quoted attribute value may hold `>`: the tag goes on past it, in the prescan and in the
/// tokenizer, and the charset after it counts.
#[test]
fn a_quoted_value_may_contain_a_greater_than_sign() {
    let padding = format!("<!-- {} -->", "x".repeat(2048));
    for before in ["", padding.as_str()] {
        for html in [
            format!("<head>{before}<meta name=\"a>b\" charset=koi8-r><title>t</title>"),
            format!("<head>{before}<meta content='x > y' charset=koi8-r><title>t</title>"),
            format!(
                "<head>{before}<meta content='text/html>; charset=koi8-r' http-equiv=content-type><title>t</title>"
            ),
            format!(
                "<head>{before}<link title=\"<meta charset=big5>\"><meta charset=koi8-r><title>t</title>"
            ),
        ] {
            let page = extract(html.as_bytes(), None);
            assert_eq!(page.charset, "KOI8-R", "{html:.80}");
            assert_eq!(page.title.as_deref(), Some("t"), "{html:.80}");
        }
    }
}

//! Turning raw markup text into what the DOM holds: newlines normalized, NUL
//! replaced, character references decoded (by htmlize, which follows the
//! standard's tables and its attribute-value rules), and title whitespace
//! collapsed. Each step is separate, so that the extractor can charge what
//! a step allocates before it allocates it.

use std::borrow::Cow;

/// The length of `text` after [`normalize_input`], or `None` when it has
/// nothing to change (no CR, no NUL): the common case, found with `memchr2`.
pub(crate) fn normalized_length(text: &str) -> Option<usize> {
    memchr::memchr2(b'\r', b'\0', text.as_bytes())?;
    let bytes = text.as_bytes();
    let nuls = memchr::memchr_iter(b'\0', bytes).count();
    let crlfs = memchr::memmem::find_iter(bytes, b"\r\n").count();
    // NUL (1 byte) becomes U+FFFD (3 bytes); CR LF becomes LF.
    Some(text.len() + 2 * nuls - crlfs)
}

/// The standard's input stream preprocessing, as far as it shows in text:
/// CR LF and lone CR become LF, and NUL becomes U+FFFD. No allocation when
/// there is nothing to change.
#[cfg(test)]
pub(crate) fn normalize_input(text: String) -> String {
    match normalized_length(&text) {
        Some(length) => normalize_into(&text, length),
        None => text,
    }
}

/// [`normalize_input`] of `text` into a new string of `length` bytes, the
/// length [`normalized_length`] gave: one pass, one allocation.
pub(crate) fn normalize_into(text: &str, length: usize) -> String {
    let mut normalized = String::with_capacity(length);
    let mut chars = text.chars().peekable();
    while let Some(char) = chars.next() {
        match char {
            '\r' => {
                chars.next_if_eq(&'\n');
                normalized.push('\n');
            }
            '\0' => normalized.push('\u{FFFD}'),
            char => normalized.push(char),
        }
    }
    normalized
}

/// The most bytes decoding the character references of `text` can give:
/// no reference's replacement is longer than 6/5 of it (`&nGt;`, 5 bytes,
/// is 6).
pub(crate) fn unescaped_bound(text: &str) -> usize {
    text.len() + text.len() / 5 + 1
}

/// Character references decoded, by the attribute-value rule (a reference
/// not terminated by `;` stays as written before `=` or an alphanumeric:
/// `?a=1&copy=2`) or the text rule.
pub(crate) fn unescape(text: &str, attribute: bool) -> Cow<'_, str> {
    if !text.contains('&') {
        Cow::Borrowed(text)
    } else if attribute {
        htmlize::unescape_attribute(text)
    } else {
        htmlize::unescape(text)
    }
}

/// ASCII whitespace stripped and collapsed to single spaces, as
/// `document.title` does.
pub(crate) fn collapse_whitespace(text: &str) -> String {
    let mut collapsed = String::with_capacity(text.len());
    for word in text
        .split(|char: char| char.is_ascii_whitespace())
        .filter(|word| !word.is_empty())
    {
        if !collapsed.is_empty() {
            collapsed.push(' ');
        }
        collapsed.push_str(word);
    }
    collapsed
}

/// A raw attribute value as the DOM holds it: normalized, then `&amp;`
/// becomes `&` by the attribute rule.
#[cfg(test)]
pub(crate) fn attribute_value(raw: String) -> String {
    let normalized = normalize_input(raw);
    unescape(&normalized, true).into_owned()
}

/// The text of a `<title>` as `document.title` gives it: normalized,
/// references decoded, whitespace collapsed.
#[cfg(test)]
pub(crate) fn title_text(raw: String) -> String {
    collapse_whitespace(&unescape(&normalize_input(raw), false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_references_follow_the_attribute_rules() {
        assert_eq!(attribute_value("a &amp; b".into()), "a & b");
        assert_eq!(attribute_value("?x=1&copy=2".into()), "?x=1&copy=2");
        assert_eq!(
            attribute_value("&copy 2024 &#x41;&#66;".into()),
            "© 2024 AB"
        );
        assert_eq!(attribute_value("a\r\nb\0".into()), "a\nb\u{FFFD}");
    }

    #[test]
    fn titles_are_decoded_then_collapsed() {
        assert_eq!(title_text("  A\t&amp;\n\n B  ".into()), "A & B");
        assert_eq!(title_text("A&nbsp;B".into()), "A\u{A0}B");
        assert_eq!(title_text(" \r\n ".into()), "");
    }

    #[test]
    fn normalizing_knows_its_length_beforehand() {
        for text in ["", "plain", "a\r\nb", "\r\r\n\n\r", "\0\0x\r", "é\0\r\nü"] {
            let normalized = normalize_input(text.to_owned());
            let expected = text
                .replace("\r\n", "\n")
                .replace('\r', "\n")
                .replace('\0', "\u{FFFD}");
            assert_eq!(normalized, expected);
            let length = normalized_length(text).unwrap_or(text.len());
            assert_eq!(length, normalized.len(), "{text:?}");
        }
    }

    #[test]
    fn unescaping_stays_within_its_bound() {
        for text in [
            "&nGt;",
            "&nGt;&nLt;",
            "&amp;&lt;",
            "&#x10FFFF;",
            "&NotNestedGreaterGreater;",
        ] {
            assert!(
                unescape(text, false).len() <= unescaped_bound(text),
                "{text}"
            );
            assert!(
                unescape(text, true).len() <= unescaped_bound(text),
                "{text}"
            );
        }
    }
}

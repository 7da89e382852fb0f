//! Turning raw markup text into what the DOM holds: newlines normalized, NUL
//! replaced, character references decoded (by htmlize, which follows the
//! standard's tables and its attribute-value rules), and title whitespace
//! collapsed.

use std::borrow::Cow;

/// A raw attribute value as the DOM holds it: `&amp;` becomes `&`, and a
/// reference that is not terminated by `;` is left alone where the standard
/// says so for attributes (`?a=1&copy=2`).
pub(crate) fn attribute_value(raw: String) -> String {
    let normalized = normalize_input(raw);
    if normalized.contains('&') {
        htmlize::unescape_attribute(normalized).into_owned()
    } else {
        normalized
    }
}

/// The text of an element whose content may hold character references
/// (`<title>`), references decoded and ASCII whitespace stripped and
/// collapsed to single spaces, as `document.title` does.
pub(crate) fn title_text(raw: String) -> String {
    let normalized = normalize_input(raw);
    let decoded: Cow<'_, str> = if normalized.contains('&') {
        htmlize::unescape(normalized.as_str())
    } else {
        Cow::Borrowed(normalized.as_str())
    };
    let mut collapsed = String::with_capacity(decoded.len());
    for word in decoded
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

/// The standard's input stream preprocessing, as far as it shows in text:
/// CR LF and lone CR become LF, and NUL becomes U+FFFD.
pub(crate) fn normalize_input(raw: String) -> String {
    if memchr::memchr2(b'\r', b'\0', raw.as_bytes()).is_none() {
        return raw;
    }
    raw.replace("\r\n", "\n")
        .replace('\r', "\n")
        .replace('\0', "\u{FFFD}")
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
}

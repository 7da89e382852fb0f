//! Encoding sniffing in the HTML Standard's order: byte order mark, the
//! Content-Type charset, the prescan of the first 1024 bytes for a `<meta>`
//! declaration, a statistical guess (chardetng), and windows-1252.
//!
//! Labels go through [`Encoding::for_label`], so they map as the Encoding
//! Standard says (`iso-8859-1` and `ascii` are windows-1252, and so on).

use encoding_rs::{Encoding, UTF_8, UTF_16BE, UTF_16LE, WINDOWS_1252, X_USER_DEFINED};

use crate::page::EncodingSource;

/// How many bytes the `<meta>` prescan looks at, as the standard suggests.
const PRESCAN_BYTES: usize = 1024;

/// How many bytes, from the first non-ASCII one, the statistical guess reads.
const GUESS_BYTES: usize = 4 * 1024;

/// Chooses the encoding of `body` the way a browser does, without parsing
/// the page: cheap enough to call on its own.
///
/// Returns the encoding and the rule that chose it. A byte order mark, when
/// present, is part of `body` and must be skipped when decoding (the
/// extractor does that; `Encoding::decode` does it too).
///
/// ```
/// use abreast_meta::{sniff_encoding, EncodingSource};
///
/// let (encoding, source) = sniff_encoding(b"<meta charset=sjis>", None);
/// assert_eq!((encoding.name(), source), ("Shift_JIS", EncodingSource::MetaPrescan));
///
/// let (encoding, source) = sniff_encoding(b"<p>hi", Some("text/html; charset=ISO-8859-1"));
/// assert_eq!((encoding.name(), source), ("windows-1252", EncodingSource::ContentType));
/// ```
pub fn sniff_encoding(
    body: &[u8],
    content_type: Option<&str>,
) -> (&'static Encoding, EncodingSource) {
    if let Some((encoding, _)) = Encoding::for_bom(body) {
        return (encoding, EncodingSource::Bom);
    }
    if let Some(encoding) = content_type.and_then(charset_from_content_type) {
        return (encoding, EncodingSource::ContentType);
    }
    if let Some(encoding) = prescan(&body[..body.len().min(PRESCAN_BYTES)]) {
        return (encoding, EncodingSource::MetaPrescan);
    }
    guess(body)
}

/// The length of the byte order mark at the start of `body` (0 if none).
pub(crate) fn bom_length(body: &[u8]) -> usize {
    Encoding::for_bom(body).map_or(0, |(_, length)| length)
}

/// The statistical step. Valid UTF-8 that is not pure ASCII is what chardetng
/// answers for it too, found much faster; pure ASCII gives no evidence at all,
/// so the default applies; anything else goes to chardetng, which reads
/// [`GUESS_BYTES`] from the first non-ASCII byte.
fn guess(body: &[u8]) -> (&'static Encoding, EncodingSource) {
    let non_ascii_at = Encoding::ascii_valid_up_to(body);
    if non_ascii_at == body.len() {
        return (WINDOWS_1252, EncodingSource::Default);
    }
    let rest = &body[non_ascii_at..];
    let utf8_valid = match std::str::from_utf8(rest) {
        Ok(_) => true,
        // A body cut in the middle of a character is still UTF-8.
        Err(error) => error.error_len().is_none(),
    };
    if utf8_valid {
        return (UTF_8, EncodingSource::Statistical);
    }
    // chardetng reads non-ASCII text at about 20 MB/s: a sample of the text
    // decides as well as the whole page, at a fraction of the cost.
    let sample = &rest[..rest.len().min(GUESS_BYTES)];
    let mut detector = chardetng::EncodingDetector::new();
    detector.feed(sample, true);
    (detector.guess(None, true), EncodingSource::Statistical)
}

/// The `charset` parameter of a MIME type such as `text/html; charset="utf-8"`,
/// if it names an encoding.
fn charset_from_content_type(content_type: &str) -> Option<&'static Encoding> {
    let mut rest = content_type.split_once(';')?.1;
    loop {
        let trimmed = rest.trim_start_matches(is_http_whitespace);
        let name_end = trimmed.find([';', '=']).unwrap_or(trimmed.len());
        let name = trimmed[..name_end].trim_end_matches(is_http_whitespace);
        let after_name = &trimmed[name_end..];
        let Some(after_equals) = after_name.strip_prefix('=') else {
            rest = after_name.strip_prefix(';')?;
            continue;
        };
        let (value, after_value) = if let Some(quoted) = after_equals.strip_prefix('"') {
            parse_quoted_string(quoted)
        } else {
            let end = after_equals.find(';').unwrap_or(after_equals.len());
            let value = after_equals[..end].trim_end_matches(is_http_whitespace);
            (value.to_owned(), &after_equals[end..])
        };
        if name.eq_ignore_ascii_case("charset") {
            // The first charset parameter decides, even if it is not a label.
            return Encoding::for_label(value.as_bytes());
        }
        rest = after_value.split_once(';')?.1;
    }
}

/// Reads an HTTP quoted-string whose opening quote is already consumed;
/// returns its value (backslash escapes resolved) and what follows it.
fn parse_quoted_string(input: &str) -> (String, &str) {
    let mut value = String::new();
    let mut chars = input.char_indices();
    while let Some((index, char)) = chars.next() {
        match char {
            '"' => return (value, &input[index + 1..]),
            '\\' => match chars.next() {
                Some((_, escaped)) => value.push(escaped),
                None => value.push('\\'),
            },
            other => value.push(other),
        }
    }
    (value, "")
}

fn is_http_whitespace(char: char) -> bool {
    matches!(char, ' ' | '\t' | '\n' | '\r')
}

fn is_space(byte: u8) -> bool {
    matches!(byte, b'\t' | b'\n' | b'\x0C' | b'\r' | b' ')
}

/// The HTML Standard's "prescan a byte stream to determine its encoding".
fn prescan(bytes: &[u8]) -> Option<&'static Encoding> {
    let mut position = 0;
    while position < bytes.len() {
        let rest = &bytes[position..];
        if rest.starts_with(b"<!--") {
            // The `-->` may share its dashes with the opening `<!--`.
            position += 2 + find(&rest[2..], b"-->")? + 3;
        } else if starts_with_ignore_case(rest, b"<meta")
            && rest
                .get(5)
                .is_some_and(|&byte| is_space(byte) || byte == b'/')
        {
            position += 6;
            if let Some(encoding) = prescan_meta(bytes, &mut position)? {
                return Some(encoding);
            }
        } else if rest.len() >= 2
            && rest[0] == b'<'
            && (rest[1].is_ascii_alphabetic()
                || (rest[1] == b'/' && rest.get(2).is_some_and(u8::is_ascii_alphabetic)))
        {
            position += rest[1..]
                .iter()
                .position(|&byte| is_space(byte) || byte == b'>')
                .map_or(rest.len(), |offset| offset + 1);
            while get_attribute(bytes, &mut position).is_some() {}
            position += 1;
        } else if rest.starts_with(b"<!") || rest.starts_with(b"</") || rest.starts_with(b"<?") {
            position += find(rest, b">")? + 1;
        } else {
            position += 1;
        }
    }
    None
}

/// The attribute loop of one `<meta` in the prescan, `position` just after
/// `<meta` and its space or slash. `None`: the input ended; `Some(None)`: this
/// meta declares nothing usable, go on.
fn prescan_meta(bytes: &[u8], position: &mut usize) -> Option<Option<&'static Encoding>> {
    let mut seen: Vec<Vec<u8>> = Vec::new();
    let mut got_pragma = false;
    let mut need_pragma: Option<bool> = None;
    let mut charset: Option<Option<&'static Encoding>> = None;
    while let Some((name, value)) = get_attribute(bytes, position) {
        if seen.contains(&name) {
            continue;
        }
        match name.as_slice() {
            b"http-equiv" => got_pragma |= value == b"content-type",
            b"content" if charset.is_none() => {
                if let Some(label) = charset_from_meta_content(&value) {
                    charset = Some(Encoding::for_label(label));
                    need_pragma = Some(true);
                }
            }
            b"charset" => {
                charset = Some(Encoding::for_label(&value));
                need_pragma = Some(false);
            }
            _ => {}
        }
        seen.push(name);
    }
    if *position >= bytes.len() {
        // The tag was cut by the end of the prescanned bytes.
        return None;
    }
    *position += 1;
    let declared = match (need_pragma, charset) {
        (Some(true), _) if !got_pragma => None,
        (Some(_), Some(Some(encoding))) => Some(encoding),
        _ => None,
    };
    Some(declared.map(|encoding| {
        if encoding == UTF_16BE || encoding == UTF_16LE {
            UTF_8
        } else if encoding == X_USER_DEFINED {
            WINDOWS_1252
        } else {
            encoding
        }
    }))
}

/// The standard's "get an attribute" for the prescan: lowercased name and
/// value bytes, or `None` at `>` or the end of input.
fn get_attribute(bytes: &[u8], position: &mut usize) -> Option<(Vec<u8>, Vec<u8>)> {
    while bytes
        .get(*position)
        .is_some_and(|&byte| is_space(byte) || byte == b'/')
    {
        *position += 1;
    }
    if *bytes.get(*position)? == b'>' {
        return None;
    }
    let mut name = Vec::new();
    let mut value = Vec::new();
    // The name.
    loop {
        let byte = *bytes.get(*position)?;
        match byte {
            b'=' if !name.is_empty() => {
                *position += 1;
                break;
            }
            _ if is_space(byte) => {
                while bytes.get(*position).copied().is_some_and(is_space) {
                    *position += 1;
                }
                if *bytes.get(*position)? != b'=' {
                    return Some((name, value));
                }
                *position += 1;
                break;
            }
            b'/' | b'>' => return Some((name, value)),
            _ => name.push(byte.to_ascii_lowercase()),
        }
        *position += 1;
    }
    while bytes.get(*position).copied().is_some_and(is_space) {
        *position += 1;
    }
    // The value.
    let first = *bytes.get(*position)?;
    match first {
        b'"' | b'\'' => loop {
            *position += 1;
            let byte = *bytes.get(*position)?;
            if byte == first {
                *position += 1;
                return Some((name, value));
            }
            value.push(byte.to_ascii_lowercase());
        },
        b'>' => return Some((name, value)),
        _ => value.push(first.to_ascii_lowercase()),
    }
    loop {
        *position += 1;
        let byte = *bytes.get(*position)?;
        if is_space(byte) || byte == b'>' {
            return Some((name, value));
        }
        value.push(byte.to_ascii_lowercase());
    }
}

/// The standard's "extracting a character encoding from a meta element",
/// on the `content` attribute value: the label after `charset=`, if any.
pub(crate) fn charset_from_meta_content(content: &[u8]) -> Option<&[u8]> {
    let mut position = 0;
    loop {
        position += find_ignore_case(&content[position..], b"charset")? + b"charset".len();
        let after = &content[position..];
        let spaces = after.iter().take_while(|&&byte| is_space(byte)).count();
        if after.get(spaces) != Some(&b'=') {
            position += spaces;
            continue;
        }
        let value = &after[spaces + 1..];
        let value = &value[value.iter().take_while(|&&byte| is_space(byte)).count()..];
        return match *value.first()? {
            quote @ (b'"' | b'\'') => {
                let end = value[1..].iter().position(|&byte| byte == quote)?;
                Some(&value[1..1 + end])
            }
            _ => {
                let end = value
                    .iter()
                    .position(|&byte| is_space(byte) || byte == b';')
                    .unwrap_or(value.len());
                Some(&value[..end])
            }
        };
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

fn find_ignore_case(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window.eq_ignore_ascii_case(needle))
}

fn starts_with_ignore_case(haystack: &[u8], prefix: &[u8]) -> bool {
    haystack.len() >= prefix.len() && haystack[..prefix.len()].eq_ignore_ascii_case(prefix)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prescanned(html: &str) -> Option<&'static str> {
        prescan(html.as_bytes()).map(Encoding::name)
    }

    #[test]
    fn prescan_follows_the_standard() {
        assert_eq!(prescanned("<meta charset=utf-8>"), Some("UTF-8"));
        assert_eq!(prescanned("<META CHARSET='EUC-JP'>"), Some("EUC-JP"));
        assert_eq!(
            prescanned(r#"<meta http-equiv="Content-Type" content="text/html; charset=gb2312">"#),
            Some("GBK")
        );
        // A content charset without the pragma does not count.
        assert_eq!(
            prescanned(r#"<meta content="text/html; charset=gbk">"#),
            None
        );
        // Inside a comment, nothing; `<!-->` closes the comment at once.
        assert_eq!(prescanned("<!-- <meta charset=koi8-r> -->"), None);
        assert_eq!(prescanned("<!--><meta charset=koi8-r>"), Some("KOI8-R"));
        // A `<meta` inside another tag's attribute value is not a tag.
        assert_eq!(prescanned(r#"<a title="<meta charset=big5>">"#), None);
        assert_eq!(prescanned("<meta charset=utf-16>"), Some("UTF-8"));
        assert_eq!(
            prescanned("<meta charset=x-user-defined>"),
            Some("windows-1252")
        );
        assert_eq!(
            prescanned("<meta charset=bogus><meta charset=latin2>"),
            Some("ISO-8859-2")
        );
        // Cut by the end of the scanned bytes: nothing.
        assert_eq!(prescanned("<meta charset=\"utf-8"), None);
        // The first of duplicate attributes wins.
        assert_eq!(
            prescanned("<meta charset=sjis charset=utf-8>"),
            Some("Shift_JIS")
        );
    }

    #[test]
    fn content_type_charset() {
        let charset = |header| charset_from_content_type(header).map(Encoding::name);
        assert_eq!(charset("text/html; charset=UTF-8"), Some("UTF-8"));
        assert_eq!(
            charset("text/html;charset=\"shift_jis\""),
            Some("Shift_JIS")
        );
        assert_eq!(
            charset("text/html; q=\"a;b\"; charset=latin1"),
            Some("windows-1252")
        );
        assert_eq!(charset("text/html; charset=nonsense"), None);
        assert_eq!(charset("text/html"), None);
        assert_eq!(charset("text/html; charset"), None);
    }

    #[test]
    fn meta_content_charset() {
        fn label(content: &str) -> Option<&[u8]> {
            charset_from_meta_content(content.as_bytes())
        }
        assert_eq!(label("text/html; charset=utf-8"), Some(&b"utf-8"[..]));
        assert_eq!(
            label("text/html; charset = 'koi8-r' "),
            Some(&b"koi8-r"[..])
        );
        assert_eq!(label("charsetcharset=x"), Some(&b"x"[..]));
        assert_eq!(label("charset=\"unclosed"), None);
        assert_eq!(label("text/html"), None);
    }
}

//! Reading the input: one URL per line, streamed, never loaded whole.
//!
//! Blank lines and `#` comments are skipped. Every other line becomes a [`Target`]: a URL the
//! pipeline may fetch, or the reason it may not (not a URL, or a scheme other than http/https),
//! which becomes an error record. A line is never dropped and never crashes the run.
//!
//! The input of a run is any iterator of [`IntoUrlLine`] items: strings, bytes, URLs, or the
//! lines of a reader ([`lines`]), which are read as bytes: lists from the web are not always
//! UTF-8. A line that is not UTF-8 is still a line of its own ([`Target::parse_bytes`]): it is
//! read as text with each byte that is not UTF-8 percent-encoded, as browsers send raw bytes in
//! a path or query, and one whose host holds such bytes becomes an `invalid_url` record.

use std::io::BufRead;

use url::Url;

use crate::record::{ErrorInfo, ErrorKind, Record};

/// The longest URL a request can carry: the `http` crate's limit on a URI (65,534 bytes), which
/// both HTTP stacks build their requests with. A longer one is an `invalid_url` record, the
/// same in every mode, where the libraries refused it each in their own words.
pub(crate) const MAX_URL_BYTES: usize = u16::MAX as usize - 1;

/// One input line to process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Position among the input's URL lines (blank lines and comments not counted), from 0.
    pub index: u64,
    /// The line, trimmed.
    pub line: String,
    /// The parsed URL, or why the line cannot be fetched.
    pub url: Result<Url, ErrorInfo>,
}

impl Target {
    /// Parses one trimmed, non-blank, non-comment line.
    pub fn parse(index: u64, line: &str) -> Target {
        let url = match Url::parse(line) {
            // Invisible, so said by name: only a file's first line loses it.
            Err(_) if line.starts_with('\u{feff}') => Err(ErrorInfo::new(
                ErrorKind::InvalidUrl,
                "the line begins with a byte order mark (U+FEFF), which only a file's first \
                 line may have (two files joined?); remove it",
            )),
            Err(url::ParseError::IdnaError) if authority(line).contains('%') => {
                Err(ErrorInfo::new(
                    ErrorKind::InvalidUrl,
                    "the host is not UTF-8 text (a line in another encoding, such as Latin-1?); \
                     give the URL in UTF-8, or its host in punycode",
                ))
            }
            Err(error) => Err(ErrorInfo::new(
                ErrorKind::InvalidUrl,
                format!("not a URL ({error}); give one absolute http:// or https:// URL per line"),
            )),
            Ok(url) if !matches!(url.scheme(), "http" | "https") => Err(ErrorInfo::new(
                ErrorKind::UnsupportedScheme,
                format!(
                    "the {}: scheme is not fetched; only http and https URLs are",
                    url.scheme()
                ),
            )),
            Ok(url) if url.host_str().is_none_or(str::is_empty) => {
                Err(ErrorInfo::new(ErrorKind::InvalidUrl, "the URL has no host"))
            }
            Ok(url) if url.as_str().len() > MAX_URL_BYTES => Err(ErrorInfo::new(
                ErrorKind::InvalidUrl,
                format!(
                    "the URL is {} bytes long, more than the {MAX_URL_BYTES} an HTTP request \
                     can carry (the http crate's limit, in every mode); shorten it",
                    url.as_str().len()
                ),
            )),
            Ok(url) => Ok(url),
        };
        Target {
            index,
            line: line.to_owned(),
            url,
        }
    }

    /// Parses one trimmed, non-blank, non-comment line that may not be UTF-8, as
    /// [`parse`](Self::parse) parses its text ([`line_as_text`]): in a line that is not UTF-8,
    /// each byte that is not ASCII is percent-encoded (`caf\xE9` becomes `caf%E9`, as a browser
    /// sends it), and a host with such bytes is refused. The target's line, and so its record's
    /// `url`, is that text: exact where U+FFFD would make two lines one, and the very text a
    /// broker job carries, so a run, a resumed run and a job's workers key the line alike.
    pub fn parse_bytes(index: u64, line: &[u8]) -> Target {
        Target::parse(index, &line_as_text(line))
    }

    /// The URL's host, lowercased, if the line is a fetchable URL.
    pub fn host(&self) -> Option<&str> {
        self.url.as_ref().ok().and_then(Url::host_str)
    }

    /// The line and its URL, if the line can be fetched; else the line's error record.
    #[expect(
        clippy::result_large_err,
        reason = "the error is the line's own record, made once and moved straight out"
    )]
    pub fn fetchable(self) -> Result<(String, Url), Record> {
        match self.url {
            Ok(url) => Ok((self.line, url)),
            Err(error) => Err(Record::failed(self.line, error)),
        }
    }
}

/// The authority of a URL's text (what lies between `://` and the path, query or fragment);
/// empty when it has no `://`.
fn authority(line: &str) -> &str {
    let Some((_, rest)) = line.split_once("://") else {
        return "";
    };
    rest.split(['/', '?', '#']).next().unwrap_or(rest)
}

/// An input line as text: a UTF-8 line as it is; in any other, each byte that is not ASCII
/// percent-encoded (`caf\xE9` becomes `caf%E9`), as a browser sends such a path or query. For
/// carrying a line where only text goes (a broker job's lines): a run given the result requests
/// what it would for the line itself, and a host with such bytes is still refused.
pub fn line_as_text(line: &[u8]) -> std::borrow::Cow<'_, str> {
    if let Ok(text) = std::str::from_utf8(line) {
        return text.into();
    }
    let mut encoded = String::with_capacity(line.len() + 16);
    for &byte in line {
        if byte.is_ascii() {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded.into()
}

/// An input line as a broker job carries it: as text ([`line_as_text`]) and trimmed; `None`
/// for a blank line or a `#` comment, which a job skips as a run does.
pub fn job_line(line: &[u8]) -> Option<String> {
    let line = line_as_text(line);
    let line = line.trim();
    (!line.is_empty() && !line.starts_with('#')).then(|| line.to_owned())
}

/// One item of a run's input: a line that may hold a URL, or the error that ended the input.
///
/// Implemented for `String`, `&str`, `Vec<u8>`, `&[u8]`, [`Url`], and `io::Result` of a
/// `String` or of a `Vec<u8>` (the lines of a reader), so a run takes a `Vec<String>`, lines of
/// bytes in any encoding, a generator of URLs or the lines of a reader alike.
pub trait IntoUrlLine {
    /// The line's bytes (UTF-8, or not), or the input's error.
    fn into_url_line(self) -> std::io::Result<Vec<u8>>;
}

impl IntoUrlLine for String {
    fn into_url_line(self) -> std::io::Result<Vec<u8>> {
        Ok(self.into_bytes())
    }
}

impl IntoUrlLine for &str {
    fn into_url_line(self) -> std::io::Result<Vec<u8>> {
        Ok(self.as_bytes().to_vec())
    }
}

impl IntoUrlLine for Vec<u8> {
    fn into_url_line(self) -> std::io::Result<Vec<u8>> {
        Ok(self)
    }
}

impl IntoUrlLine for &[u8] {
    fn into_url_line(self) -> std::io::Result<Vec<u8>> {
        Ok(self.to_vec())
    }
}

impl IntoUrlLine for Url {
    fn into_url_line(self) -> std::io::Result<Vec<u8>> {
        Ok(String::from(self).into_bytes())
    }
}

impl IntoUrlLine for std::io::Result<String> {
    fn into_url_line(self) -> std::io::Result<Vec<u8>> {
        self.map(String::into_bytes)
    }
}

impl IntoUrlLine for std::io::Result<Vec<u8>> {
    fn into_url_line(self) -> std::io::Result<Vec<u8>> {
        self
    }
}

/// The lines of `reader` as bytes, streamed, for a run's input: a line that is not UTF-8 is
/// read like any other (and a `\r` before the `\n` is trimmed with the other white space).
pub fn lines<R: BufRead>(reader: R) -> std::io::Split<R> {
    reader.split(b'\n')
}

/// The first line of a list without the UTF-8 byte order mark that Windows editors (Notepad)
/// write at the start of a file.
pub fn without_bom(first_line: &[u8]) -> &[u8] {
    first_line
        .strip_prefix(b"\xEF\xBB\xBF")
        .unwrap_or(first_line)
}

/// Streams the targets of `input`, item by item: blank lines and `#` comments are skipped, the
/// rest trimmed and numbered; the first line loses a UTF-8 byte order mark. An input error
/// ends the stream with that error.
pub fn targets<I>(input: I) -> impl Iterator<Item = std::io::Result<Target>>
where
    I: IntoIterator,
    I::Item: IntoUrlLine,
{
    let mut index = 0;
    let mut first = true;
    input
        .into_iter()
        .filter_map(move |line| match line.into_url_line() {
            Err(error) => Some(Err(error)),
            Ok(line) => {
                let line = if std::mem::take(&mut first) {
                    without_bom(&line)
                } else {
                    &line
                };
                let line = line.trim_ascii();
                if line.is_empty() || line.starts_with(b"#") {
                    return None;
                }
                let target = Target::parse_bytes(index, line);
                index += 1;
                Some(Ok(target))
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_byte_order_mark_before_the_first_line_is_dropped_and_nowhere_else() {
        let input: &[u8] = b"\xEF\xBB\xBFhttp://a.test/\n\xEF\xBB\xBFhttp://b.test/\n";
        let targets: Vec<Target> = targets(lines(input)).map(Result::unwrap).collect();
        assert_eq!(targets[0].line, "http://a.test/");
        assert!(targets[0].url.is_ok());
        let second = targets[1].url.as_ref().unwrap_err();
        assert_eq!(second.kind, ErrorKind::InvalidUrl);
        assert!(second.message.contains("byte order mark"), "{second:?}");
    }

    #[test]
    fn blank_lines_and_comments_are_skipped_and_bad_lines_kept() {
        let input = "\n# a comment\nhttp://a.test/x\n  https://B.test/y  \nnot a url\nftp://c.test/\njavascript:alert(1)\nhttp://\n";
        let targets: Vec<Target> = targets(input.as_bytes().lines())
            .map(Result::unwrap)
            .collect();
        let summary: Vec<(u64, &str, Option<ErrorKind>)> = targets
            .iter()
            .map(|t| {
                (
                    t.index,
                    t.line.as_str(),
                    t.url.as_ref().err().map(|e| e.kind),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                (0, "http://a.test/x", None),
                (1, "https://B.test/y", None),
                (2, "not a url", Some(ErrorKind::InvalidUrl)),
                (3, "ftp://c.test/", Some(ErrorKind::UnsupportedScheme)),
                (4, "javascript:alert(1)", Some(ErrorKind::UnsupportedScheme)),
                (5, "http://", Some(ErrorKind::InvalidUrl)),
            ]
        );
        assert_eq!(targets[1].host(), Some("b.test"));
    }

    #[test]
    fn data_and_file_urls_are_refused() {
        for line in ["data:text/html,<meta>", "file:///etc/passwd"] {
            let target = Target::parse(0, line);
            assert_eq!(
                target.url.unwrap_err().kind,
                ErrorKind::UnsupportedScheme,
                "{line}"
            );
        }
    }

    #[test]
    fn lines_that_are_not_utf8_are_encoded_or_refused_by_their_host() {
        let path = Target::parse_bytes(0, b"http://a.test/caf\xe9?q=\xe9t\xe9");
        assert_eq!(path.line, "http://a.test/caf%E9?q=%E9t%E9");
        assert_eq!(path.url.unwrap().as_str(), "http://a.test/caf%E9?q=%E9t%E9");
        // Two lines that U+FFFD would make one stay two.
        let other = Target::parse_bytes(0, b"http://a.test/caf\xe8?q=\xe9t\xe9");
        assert_ne!(other.line, path.line);
        let host = Target::parse_bytes(1, b"http://caf\xe9.example/x");
        assert_eq!(host.line, "http://caf%E9.example/x");
        let refused = host.url.unwrap_err();
        assert_eq!(refused.kind, ErrorKind::InvalidUrl);
        assert!(refused.message.contains("not UTF-8"), "{refused}");
        // Lines with no host: refused by their scheme, or as no URL, not for a host.
        let script = Target::parse_bytes(2, b"javascript:alert(\xe9)");
        assert_eq!(script.url.unwrap_err().kind, ErrorKind::UnsupportedScheme);
        let words = Target::parse_bytes(3, b"not a url \xe9").url.unwrap_err();
        assert_eq!(words.kind, ErrorKind::InvalidUrl);
        assert!(words.message.starts_with("not a URL"), "{words}");
        // As text (a broker job's line), the same requests result.
        let text = line_as_text(b"http://caf\xe9.example/x?q=\xe9");
        assert_eq!(text, "http://caf%E9.example/x?q=%E9");
        assert_eq!(
            Target::parse(1, &text).url.unwrap_err().kind,
            ErrorKind::InvalidUrl
        );
        assert_eq!(
            line_as_text("https://é.test/".as_bytes()),
            "https://é.test/"
        );
        // A UTF-8 line with a non-ASCII host is an IDN, parsed as text.
        let idn = Target::parse_bytes(2, "http://café.example/".as_bytes());
        assert_eq!(idn.host(), Some("xn--caf-dma.example"));
        let input: &[u8] = b"http://a.test/1\r\nhttp://b.test/\xff\n\nhttp://c.test/3";
        let lines: Vec<String> = targets(lines(input)).map(|t| t.unwrap().line).collect();
        assert_eq!(
            lines,
            ["http://a.test/1", "http://b.test/%FF", "http://c.test/3"]
        );
    }
}

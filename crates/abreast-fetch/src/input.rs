//! Reading the input: one URL per line, streamed, never loaded whole.
//!
//! Blank lines and `#` comments are skipped. Every other line becomes a [`Target`]: a URL the
//! pipeline may fetch, or the reason it may not (not a URL, or a scheme other than http/https),
//! which becomes an error record. A line is never dropped and never crashes the run.
//!
//! The input of a run is any iterator of [`IntoUrlLine`] items: strings, URLs, or the
//! `io::Result<String>` lines of a reader ([`lines`]).

use std::io::BufRead;

use url::Url;

use crate::record::{ErrorInfo, ErrorKind, Record};

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
            Ok(url) => Ok(url),
        };
        Target {
            index,
            line: line.to_owned(),
            url,
        }
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

/// One item of a run's input: a line that may hold a URL, or the error that ended the input.
///
/// Implemented for `String`, `&'static str`, [`Url`] and `io::Result<String>` (the lines of a
/// reader), so a run takes a `Vec<String>`, a generator of URLs or [`lines`] alike.
pub trait IntoUrlLine {
    /// The line, or the input's error.
    fn into_url_line(self) -> std::io::Result<String>;
}

impl IntoUrlLine for String {
    fn into_url_line(self) -> std::io::Result<String> {
        Ok(self)
    }
}

impl IntoUrlLine for &'static str {
    fn into_url_line(self) -> std::io::Result<String> {
        Ok(self.to_owned())
    }
}

impl IntoUrlLine for Url {
    fn into_url_line(self) -> std::io::Result<String> {
        Ok(self.into())
    }
}

impl IntoUrlLine for std::io::Result<String> {
    fn into_url_line(self) -> std::io::Result<String> {
        self
    }
}

/// The lines of `reader`, streamed, for a run's input.
pub fn lines<R: BufRead>(reader: R) -> std::io::Lines<R> {
    reader.lines()
}

/// Streams the targets of `input`, item by item: blank lines and `#` comments are skipped, the
/// rest trimmed and numbered. An input error ends the stream with that error.
pub fn targets<I>(input: I) -> impl Iterator<Item = std::io::Result<Target>>
where
    I: IntoIterator,
    I::Item: IntoUrlLine,
{
    let mut index = 0;
    input
        .into_iter()
        .filter_map(move |line| match line.into_url_line() {
            Err(error) => Some(Err(error)),
            Ok(line) => {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    return None;
                }
                let target = Target::parse(index, line);
                index += 1;
                Some(Ok(target))
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

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
}

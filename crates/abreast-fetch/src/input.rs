//! Reading the input: one URL per line, streamed, never loaded whole.
//!
//! Blank lines and `#` comments are skipped. Every other line becomes a [`Target`]: a URL the
//! pipeline may fetch, or the reason it may not (not a URL, or a scheme other than http/https),
//! which becomes an error record. A line is never dropped and never crashes the run.

use std::io::BufRead;

use url::Url;

use crate::record::ErrorKind;

/// One input line to process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Position among the input's URL lines (blank lines and comments not counted), from 0.
    pub index: u64,
    /// The line, trimmed.
    pub line: String,
    /// The parsed URL, or why the line cannot be fetched.
    pub url: Result<Url, (ErrorKind, String)>,
}

impl Target {
    /// Parses one trimmed, non-blank, non-comment line.
    pub fn parse(index: u64, line: &str) -> Target {
        let url = match Url::parse(line) {
            Err(error) => Err((
                ErrorKind::InvalidUrl,
                format!("not a URL ({error}); give one absolute http:// or https:// URL per line"),
            )),
            Ok(url) if !matches!(url.scheme(), "http" | "https") => Err((
                ErrorKind::UnsupportedScheme,
                format!(
                    "the {}: scheme is not fetched; only http and https URLs are",
                    url.scheme()
                ),
            )),
            Ok(url) if url.host_str().is_none_or(str::is_empty) => {
                Err((ErrorKind::InvalidUrl, "the URL has no host".to_owned()))
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
}

/// Streams the targets of `reader`, line by line. An I/O error ends the stream with that error.
pub fn targets<R: BufRead>(reader: R) -> impl Iterator<Item = std::io::Result<Target>> {
    let mut index = 0;
    reader.lines().filter_map(move |line| match line {
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
        let targets: Vec<Target> = targets(input.as_bytes()).map(Result::unwrap).collect();
        let summary: Vec<(u64, &str, Option<ErrorKind>)> = targets
            .iter()
            .map(|t| (t.index, t.line.as_str(), t.url.as_ref().err().map(|e| e.0)))
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
                target.url.unwrap_err().0,
                ErrorKind::UnsupportedScheme,
                "{line}"
            );
        }
    }
}

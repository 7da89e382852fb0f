//! The page a fetch kept, and the record made of it: what a run extracts of each page
//! ([`Extraction`]), the body's bytes ([`Body`]), and the last step of every mode,
//! [`finish_record`], which runs [`abreast_meta::Extractor`] on a body and fills the [`Record`].
//!
//! The HTTP stacks (`crate::http`) produce a [`Fetched`]; whichever thread a mode extracts on
//! turns it into a record here, so every mode writes the same records for the same input.
//! [`extract_record`] does the same for a page already in hand (`abreast extract`).

use abreast_meta::Extractor;

use crate::http::Fetched;
use crate::record::Record;

/// What a run does with the pages it fetches, and so what a [`BodySink`] keeps of each body.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Extraction {
    /// Read every body to its end (or the cap) and extract the whole page.
    #[default]
    Full,
    /// Stop reading a page once its `<head>` is complete, and extract that.
    HeadOnly,
    /// Extract nothing: bodies are read to their end (or the cap) and decoded, so a record's
    /// `bytes`, `truncated` and decode errors are those of a full fetch, but no byte is kept
    /// and records carry only the fetch's fields (status, final URL, timing, size).
    Off,
}

/// A body's decoded bytes: a buffer of their own, or, where a response's body came whole in
/// one piece of the HTTP client's read buffer and needed no decoding, that piece, not copied.
/// Reads as a byte slice; serializes as a sequence of bytes, as a `Vec<u8>` does.
#[derive(Debug, Clone)]
pub(crate) enum BodyBytes {
    /// Bytes in a buffer of their own (reused for a later body once extracted).
    Owned(Vec<u8>),
    /// A piece of the HTTP client's read buffer.
    Shared(bytes::Bytes),
}

impl std::ops::Deref for BodyBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            BodyBytes::Owned(bytes) => bytes,
            BodyBytes::Shared(bytes) => bytes,
        }
    }
}

impl PartialEq for BodyBytes {
    fn eq(&self, other: &BodyBytes) -> bool {
        **self == **other
    }
}

impl Eq for BodyBytes {}

impl serde::Serialize for BodyBytes {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

impl<'de> serde::Deserialize<'de> for BodyBytes {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Vec::<u8>::deserialize(deserializer).map(BodyBytes::Owned)
    }
}

impl BodyBytes {
    /// Hands the buffer back for a later body ([`recycle`]), if it is one of its own.
    pub(crate) fn recycle(self) {
        if let BodyBytes::Owned(bytes) = self {
            crate::http::body::recycle(bytes);
        }
    }
}

/// The decoded body and how it ended.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Body {
    /// The decoded bytes, at most the cap; empty when the run extracts nothing
    /// ([`Extraction::Off`]).
    pub(crate) bytes: BodyBytes,
    /// How many decoded bytes were read: `bytes.len()` where they were kept.
    pub(crate) length: usize,
    /// True if reading stopped before the end: at the cap, or at the end of `<head>`.
    pub(crate) truncated: bool,
}

impl Body {
    /// A body whose bytes are all kept.
    pub(crate) fn kept(bytes: Vec<u8>, truncated: bool) -> Body {
        Body {
            length: bytes.len(),
            bytes: BodyBytes::Owned(bytes),
            truncated,
        }
    }
}

/// Extracts the page's metadata (for a 2xx body) and makes the record of input line `line`:
/// the last step of every mode.
pub(crate) fn finish_record(line: String, fetched: Fetched, extractor: &Extractor) -> Record {
    finish_record_at(line, fetched, None, Some(extractor))
}

/// [`finish_record`] knowing the URL that was requested, already parsed: when no redirect
/// changed it, the final URL that relative URLs resolve against is that one, not parsed again.
/// With no extractor ([`Extraction::Off`]) the record has the fetch's fields only.
pub(crate) fn finish_record_at(
    line: String,
    fetched: Fetched,
    requested: Option<url::Url>,
    extractor: Option<&Extractor>,
) -> Record {
    let mut record = Record::empty(line);
    record.final_url = fetched.final_url;
    record.status = fetched.status;
    record.content_type = fetched.content_type;
    record.attempts = fetched.attempts;
    record.elapsed_ms = fetched.elapsed_ms;
    record.http_version = fetched.http_version;
    match fetched.body {
        Ok(body) => {
            record.ok = true;
            record.bytes = body.length as u64;
            record.truncated = body.truncated;
            let Some(extractor) = extractor else {
                return record;
            };
            let url = record.final_url.as_deref().and_then(|url| match requested {
                // Parsing a parsed URL's own text gives that URL back.
                Some(requested) if requested.as_str() == url => Some(requested),
                _ => url::Url::parse(url).ok(),
            });
            let page =
                extractor.extract_at(&body.bytes, record.content_type.as_deref(), url.as_ref());
            record.truncated |= !page.end.is_complete();
            record.page = page;
            body.bytes.recycle();
        }
        Err(error) => record.error = Some(error),
    }
    record
}

/// The record of a page already in hand (a file on disk, a body fetched by other means): the
/// same record a fetch of it would give, made by the same steps. `line` names the page in the
/// record's `url` field; `url`, where known, is the address its relative URLs resolve against
/// (the record's `final_url`); `truncated` says the page was cut before it was handed over.
///
/// ```
/// use abreast_fetch::extract_record;
/// use abreast_meta::Extractor;
///
/// let html = b"<title>Hi</title><link rel=icon href=/i.png>".to_vec();
/// let record = extract_record(
///     "page.html".into(),
///     html,
///     false,
///     Some("text/html".into()),
///     Some("https://example.com/a/".into()),
///     &Extractor::new(),
/// );
/// assert!(record.ok);
/// assert_eq!(record.page.title.as_deref(), Some("Hi"));
/// assert_eq!(record.page.icons[0].href, "https://example.com/i.png");
/// ```
pub fn extract_record(
    line: String,
    bytes: Vec<u8>,
    truncated: bool,
    content_type: Option<String>,
    url: Option<String>,
    extractor: &Extractor,
) -> Record {
    let body = Body::kept(bytes, truncated);
    let fetched = Fetched {
        url: url.clone().unwrap_or_else(|| line.clone()),
        final_url: url,
        status: None,
        content_type,
        body: Ok(body),
        attempts: 0,
        elapsed_ms: 0,
        http_version: None,
        redirect_to: None,
    };
    finish_record(line, fetched, extractor)
}

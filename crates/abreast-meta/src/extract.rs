//! The extractor: sniffs the encoding, runs the tokenizer over the body,
//! and collects what the page says about itself from the elements a browser
//! would build: `<meta>`, the first `<title>`, `<html lang>`,
//! `<link rel=canonical>` and JSON-LD scripts, in the HTML namespace and
//! outside template contents. Values are decoded from the page's encoding,
//! character references resolved, and every collected byte is charged
//! against the memory budget before it is allocated.

use std::borrow::Cow;
use std::collections::HashSet;
use std::ops::ControlFlow;

use encoding_rs::{CoderResult, Encoding, UTF_8, WINDOWS_1252, X_USER_DEFINED};
use url::Url;

use crate::derive::{Found, JsonLdText, LinkAttrs, LinkRel, file_link, finish};
use crate::jsonld::{parsed_bound, too_deep};
use crate::page::{EncodingSource, End, MetaTag, PageMeta};
use crate::sniff::{bom_length, charset_from_meta_content, sniff_encoding};
use crate::text::{
    collapse_whitespace, normalize_into, normalized_length, unescape, unescaped_bound,
};
use crate::tokenizer::{Kind, Reply, Sink, StartTag, tokenize};

/// Reads metadata out of HTML pages; holds the options, reusable, cheap to
/// clone, and shareable across threads.
///
/// ```
/// use abreast_meta::{End, Extractor};
///
/// let extractor = Extractor::new().head_only(true).memory_limit(1 << 20);
/// let page = extractor.extract(b"<title>Hi</title><body><meta name=x>", None);
/// assert_eq!(page.title.as_deref(), Some("Hi"));
/// assert!(page.meta.is_empty());
/// assert_eq!(page.end, End::HeadEnd);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Extractor {
    head_only: bool,
    max_bytes: usize,
    memory_limit: usize,
}

impl Default for Extractor {
    fn default() -> Self {
        Self::new()
    }
}

impl Extractor {
    /// Reads the whole page (up to 16 MiB) within 4 MiB of working memory.
    pub fn new() -> Self {
        Extractor {
            head_only: false,
            max_bytes: 16 << 20,
            memory_limit: 4 << 20,
        }
    }

    /// Stop where the `<head>` ends: at the first start tag or text that the
    /// tree builder would put in the body. Metadata in the body (rare, but a
    /// browser keeps it) is then missed; the result says [`End::HeadEnd`].
    pub fn head_only(mut self, head_only: bool) -> Self {
        self.head_only = head_only;
        self
    }

    /// Read at most this many bytes of the body (the encoding is sniffed from
    /// them too); a longer body gives [`End::ByteLimit`].
    pub fn max_bytes(mut self, max_bytes: usize) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    /// Cap on the memory extraction uses besides the body itself: half for
    /// the tokenizer (its stacks and one tag's attribute list, and the body
    /// decoded to UTF-8 when its encoding is not ASCII-compatible, as UTF-16
    /// is), half for the collected strings. Reaching it keeps what was read
    /// and gives [`End::MemoryLimit`].
    pub fn memory_limit(mut self, bytes: usize) -> Self {
        self.memory_limit = bytes;
        self
    }

    /// Extracts the metadata of one page. Never fails: malformed, truncated
    /// or binary input gives whatever can be read. With no document URL,
    /// relative URLs resolve only against an absolute `<base href>`; see
    /// [`Extractor::extract_at`].
    pub fn extract(&self, body: &[u8], content_type: Option<&str>) -> PageMeta {
        self.extract_at(body, content_type, None)
    }

    /// Extracts the metadata of one page fetched from `url` (the final URL,
    /// after redirects): relative URLs resolve against the first valid
    /// `<base href>`, then `url`, and the preview's `url` and `icon` fall
    /// back on it. Never fails.
    pub fn extract_at(
        &self,
        body: &[u8],
        content_type: Option<&str>,
        url: Option<&Url>,
    ) -> PageMeta {
        let (body, cut) = match body.get(..self.max_bytes) {
            Some(prefix) if prefix.len() < body.len() => (prefix, true),
            _ => (body, false),
        };
        let (encoding, encoding_source) = sniff_encoding(body, content_type);
        let tentative = matches!(
            encoding_source,
            EncodingSource::Statistical | EncodingSource::Default
        );
        let reading = self
            .read(body, encoding, encoding_source, tentative)
            .or_else(|declared| {
                // The standard's "change the encoding": read again, with
                // the declared encoding, now certain (so never again).
                self.read(body, declared, EncodingSource::LateMeta, false)
            });
        let Ok(Reading {
            mut page,
            found,
            mut budget,
            end,
        }) = reading
        else {
            unreachable!("a reading with a certain encoding never asks for another")
        };
        page.end = match end {
            End::Complete if cut => End::ByteLimit,
            end => end,
        };
        finish(&mut page, found, url, &mut budget);
        page
    }

    /// One reading of `body` in `encoding`: what was found, the budget
    /// left, and why it stopped; or (the error), when `tentative`, the
    /// encoding a `<meta>` in the head declares instead.
    fn read(
        &self,
        body: &[u8],
        encoding: &'static Encoding,
        charset_source: EncodingSource,
        tentative: bool,
    ) -> Result<Reading, &'static Encoding> {
        let content = &body[bom_length(body)..];
        let tokenizer_budget = self.memory_limit / 2;
        let mut collector = Collector {
            page: PageMeta {
                charset: encoding.name().to_owned(),
                charset_source,
                ..PageMeta::default()
            },
            found: Found::default(),
            encoding,
            budget: self.memory_limit / 2,
            head_only: self.head_only,
            pending: Pending::Nothing,
            tentative: tentative.then_some(encoding),
            past_head: false,
            restart: None,
        };
        let end = if encoding.is_ascii_compatible() {
            tokenize(content, tokenizer_budget, &mut collector)
        } else {
            // UTF-16 and the like: decoded first, as far as the budget holds.
            let (decoded, complete) = decode_bounded(encoding, content, tokenizer_budget);
            collector.encoding = UTF_8;
            let end = tokenize(
                &decoded,
                tokenizer_budget - decoded.capacity(),
                &mut collector,
            );
            if end == End::Complete && !complete {
                End::MemoryLimit
            } else {
                end
            }
        };
        if let Some(declared) = collector.restart {
            return Err(declared);
        }
        Ok(Reading {
            page: collector.page,
            found: collector.found,
            budget: collector.budget,
            end,
        })
    }
}

/// What one reading of a page gave.
#[derive(Debug)]
struct Reading {
    /// The fields filled while reading.
    page: PageMeta,
    /// What the other fields are made of.
    found: Found,
    /// Bytes of the budget left.
    budget: usize,
    /// Why reading stopped.
    end: End,
}

/// `body` decoded to UTF-8, at most `limit` bytes of it, and whether that
/// is all of it.
fn decode_bounded(encoding: &'static Encoding, body: &[u8], limit: usize) -> (Vec<u8>, bool) {
    let mut decoder = encoding.new_decoder_without_bom_handling();
    let needed = decoder
        .max_utf8_buffer_length(body.len())
        .unwrap_or(usize::MAX);
    let mut decoded = vec![0; needed.min(limit)];
    let (result, _, written, _) = decoder.decode_to_utf8(body, &mut decoded, true);
    decoded.truncate(written);
    (decoded, result == CoderResult::InputEmpty)
}

/// Extracts the metadata of one page with the default [`Extractor`]: the
/// whole page, up to 16 MiB, within 4 MiB of working memory.
///
/// `content_type` is the Content-Type header, if known; its charset comes
/// right after a byte order mark in choosing the encoding.
pub fn extract(body: &[u8], content_type: Option<&str>) -> PageMeta {
    Extractor::new().extract(body, content_type)
}

/// Everything a page says about itself, in one call, with the default
/// [`Extractor`]: the body bytes, the Content-Type header if known, and
/// the document's URL (the final URL after redirects) if known, which
/// relative URLs resolve against. A `url` that does not parse counts as
/// none.
///
/// ```
/// let page = abreast_meta::extract_at(
///     b"<link rel=icon href=/i.png><meta property=og:image content=a.jpg>",
///     Some("text/html"),
///     Some("https://example.com/news/1"),
/// );
/// assert_eq!(page.icons[0].href, "https://example.com/i.png");
/// assert_eq!(page.preview.image.as_deref(), Some("https://example.com/news/a.jpg"));
/// assert_eq!(page.preview.url.as_deref(), Some("https://example.com/news/1"));
/// ```
pub fn extract_at(body: &[u8], content_type: Option<&str>, url: Option<&str>) -> PageMeta {
    let url = url.and_then(|url| Url::parse(url).ok());
    Extractor::new().extract_at(body, content_type, url.as_ref())
}

/// What collecting costs besides the bytes of the strings, charged against
/// the budget so that it bounds the heap, not just the text: a `MetaTag` in
/// a `Vec` that may be mid-reallocation (old and doubled buffers both live)…
pub(crate) const META_COST: usize = 3 * size_of::<MetaTag>();
/// …one attribute's pair (the list of a `<meta>` is made to its length)…
pub(crate) const ATTRIBUTE_COST: usize = size_of::<(String, String)>();
/// …a JSON-LD entry in its `Vec`…
pub(crate) const JSON_LD_COST: usize = 3 * size_of::<String>();
/// …and a name in the set that finds duplicate attributes, with its share
/// of the table.
const SET_ENTRY_COST: usize = 2 * size_of::<String>();

/// Attribute lists longer than this find duplicates with a hash set rather
/// than by looking back, so a tag with many attributes costs linear time.
const LINEAR_DEDUP_LIMIT: usize = 16;

/// Which element's text the tokenizer is about to hand over.
#[derive(Debug)]
enum Pending {
    Nothing,
    Title,
    JsonLd,
}

/// Takes `bytes` from `budget`, or ends extraction when it holds fewer.
fn take(budget: &mut usize, bytes: usize) -> ControlFlow<End> {
    match budget.checked_sub(bytes) {
        Some(left) => {
            *budget = left;
            ControlFlow::Continue(())
        }
        None => ControlFlow::Break(End::MemoryLimit),
    }
}

/// Files a `<meta>` in `page` (the cards, robots and description are
/// made from the metas when the page is finished). Shared with the
/// lol_html oracle, so that both engines file alike.
pub(crate) fn file_meta(
    page: &mut PageMeta,
    _budget: &mut usize,
    meta: MetaTag,
) -> ControlFlow<End> {
    page.meta.push(meta);
    ControlFlow::Continue(())
}

/// The encoding a `<meta>` declares, by its `charset` or its
/// `http-equiv=content-type` `content`, as the HTML Standard's "change the
/// encoding" takes it: a UTF-16 label means UTF-8, `x-user-defined`
/// windows-1252.
pub(crate) fn declared_encoding(meta: &MetaTag) -> Option<&'static Encoding> {
    let label = match meta.get("charset") {
        Some(charset) => charset.as_bytes(),
        None => {
            // ASCII case-insensitive, and not trimmed: `" content-type"` is no pragma, in the
            // prescan (the Encoding Standard) as in the tree builder (the HTML Standard).
            let content_type = meta
                .get("http-equiv")
                .is_some_and(|equiv| equiv.eq_ignore_ascii_case("content-type"));
            charset_from_meta_content(meta.get("content").filter(|_| content_type)?.as_bytes())?
        }
    };
    let encoding = Encoding::for_label(label)?;
    Some(
        if encoding == encoding_rs::UTF_16BE || encoding == encoding_rs::UTF_16LE {
            UTF_8
        } else if encoding == X_USER_DEFINED {
            WINDOWS_1252
        } else {
            encoding
        },
    )
}

/// The state of one extraction: what was found, and what may still be
/// allocated.
#[derive(Debug)]
struct Collector {
    page: PageMeta,
    /// What attribute values and text are decoded from.
    encoding: &'static Encoding,
    /// Bytes of strings that may still be collected.
    budget: usize,
    head_only: bool,
    pending: Pending,
    /// What the new fields are made of, finished after reading.
    found: Found,
    /// While the encoding is tentative, the one being read with: a
    /// `<meta>` in the head that declares another restarts the reading.
    tentative: Option<&'static Encoding>,
    /// Whether a start tag the head cannot hold has been seen.
    past_head: bool,
    /// The encoding to read again with, once declared.
    restart: Option<&'static Encoding>,
}

impl Sink for Collector {
    fn wants_everything(&self) -> bool {
        // While the encoding is tentative, every start tag, to know where
        // the head ends (the data callback stays `head_only`'s).
        self.head_only || (self.tentative.is_some() && !self.past_head)
    }

    fn wants_data(&self) -> bool {
        self.head_only
    }

    fn start_tag(&mut self, tag: &StartTag<'_>) -> Reply {
        if tag.in_template {
            return Reply::Continue;
        }
        if self.head_only && !(tag.html && tag.kind.stays_in_head()) {
            return Reply::Stop(End::HeadEnd);
        }
        if !(tag.html && tag.kind.stays_in_head()) {
            self.past_head = true;
        }
        if !tag.html {
            return Reply::Continue;
        }
        let read = match tag.kind {
            Kind::Meta => self.on_meta(tag),
            Kind::Title if self.page.title.is_none() => {
                self.pending = Pending::Title;
                return Reply::TakeText;
            }
            Kind::Script => self.on_script(tag),
            Kind::Html => self.on_html(tag),
            Kind::Link => self.on_link(tag),
            Kind::Base => self.on_base(tag),
            _ => ControlFlow::Continue(()),
        };
        match read {
            ControlFlow::Continue(()) if !matches!(self.pending, Pending::Nothing) => {
                Reply::TakeText
            }
            ControlFlow::Continue(()) => Reply::Continue,
            ControlFlow::Break(why) => Reply::Stop(why),
        }
    }

    fn text(&mut self, text: &[u8]) -> ControlFlow<End> {
        match std::mem::replace(&mut self.pending, Pending::Nothing) {
            Pending::Nothing => ControlFlow::Continue(()),
            Pending::Title => {
                // Each step may hold its input and its output at once, and
                // decoding may triple the bytes: a title the budget cannot
                // hold is cut to what it can.
                let affordable = self.budget / 8;
                let (text, cut) = match text.get(..affordable) {
                    Some(prefix) if prefix.len() < text.len() => (prefix, true),
                    _ => (text, false),
                };
                let raw = self.decoded(text)?;
                let raw = self.normalized(raw)?;
                let unescaped = self.unescaped(raw, false)?;
                self.spend(unescaped.len())?;
                let title = collapse_whitespace(&unescaped);
                self.recharge(unescaped.len(), title.capacity())?;
                self.release(unescaped);
                self.page.title = Some(title);
                if cut {
                    ControlFlow::Break(End::MemoryLimit)
                } else {
                    ControlFlow::Continue(())
                }
            }
            Pending::JsonLd => {
                // A block the budget cannot hold, parsed, is counted and
                // skipped; reading goes on.
                let bound = parsed_bound(text).saturating_add(3 * text.len());
                if bound > self.budget {
                    self.found.json_ld.push(if too_deep(text) {
                        JsonLdText::TooDeep
                    } else {
                        JsonLdText::TooLarge(text.len())
                    });
                    return ControlFlow::Continue(());
                }
                let text = self.json_ld_text(text)?;
                self.found.json_ld.push(JsonLdText::Text(text));
                ControlFlow::Continue(())
            }
        }
    }

    /// `head_only`: the first text outside an element of the head that is
    /// not ASCII whitespace ends the head.
    fn data(&mut self, text: &[u8], in_template: bool) -> ControlFlow<End> {
        if !in_template && !text.iter().all(u8::is_ascii_whitespace) {
            return ControlFlow::Break(End::HeadEnd);
        }
        ControlFlow::Continue(())
    }
}

impl Collector {
    /// Spends `bytes` of the budget, or stops extraction when it is spent.
    fn spend(&mut self, bytes: usize) -> ControlFlow<End> {
        take(&mut self.budget, bytes)
    }

    fn decode<'a>(&self, raw: &'a [u8]) -> Cow<'a, str> {
        self.encoding.decode_without_bom_handling(raw).0
    }

    /// `raw` decoded, paid for: the most it could take is checked against
    /// the budget before decoding, and what it took is charged.
    fn decoded(&mut self, raw: &[u8]) -> ControlFlow<End, String> {
        // Valid UTF-8 (nearly every value of nearly every page) is copied
        // as it is, validated once.
        let valid = (self.encoding == UTF_8).then(|| std::str::from_utf8(raw).ok());
        let bound = match valid {
            Some(Some(text)) => text.len(),
            _ => self
                .encoding
                .new_decoder_without_bom_handling()
                .max_utf8_buffer_length(raw.len())
                .unwrap_or(usize::MAX),
        };
        if bound > self.budget {
            return ControlFlow::Break(End::MemoryLimit);
        }
        let decoded = match valid {
            Some(Some(text)) => text.to_owned(),
            _ => self.decode(raw).into_owned(),
        };
        self.spend(decoded.capacity())?;
        ControlFlow::Continue(decoded)
    }

    /// Adjusts the budget when a string charged `charged` bytes was
    /// replaced by one of `kept` bytes.
    fn recharge(&mut self, charged: usize, kept: usize) -> ControlFlow<End> {
        match kept.checked_sub(charged) {
            Some(more) => self.spend(more),
            None => {
                self.budget += charged - kept;
                ControlFlow::Continue(())
            }
        }
    }

    /// `text` after the input stream's preprocessing, paid for: the new
    /// string is charged before it is made, the old one then given back.
    fn normalized(&mut self, text: String) -> ControlFlow<End, String> {
        let Some(length) = normalized_length(&text) else {
            return ControlFlow::Continue(text);
        };
        self.spend(length)?;
        let normalized = normalize_into(&text, length);
        self.release(text);
        self.recharge(length, normalized.capacity())?;
        ControlFlow::Continue(normalized)
    }

    /// `text` with its character references decoded (by the attribute rule
    /// or the text rule), paid for like [`Collector::normalized`].
    fn unescaped(&mut self, text: String, attribute: bool) -> ControlFlow<End, String> {
        if !text.contains('&') {
            return ControlFlow::Continue(text);
        }
        let bound = unescaped_bound(&text);
        self.spend(bound)?;
        let unescaped = unescape(&text, attribute).into_owned();
        self.release(text);
        self.recharge(bound, unescaped.capacity())?;
        ControlFlow::Continue(unescaped)
    }

    /// The text of a JSON-LD script as the DOM holds it (no references in
    /// script text), paid for.
    fn json_ld_text(&mut self, raw: &[u8]) -> ControlFlow<End, String> {
        let decoded = self.decoded(raw)?;
        self.normalized(decoded)
    }

    /// An attribute value as the DOM holds it, paid for.
    fn value(&mut self, raw: &[u8]) -> ControlFlow<End, String> {
        let decoded = self.decoded(raw)?;
        let normalized = self.normalized(decoded)?;
        self.unescaped(normalized, true)
    }

    /// Gives back what a string no longer held was charged.
    fn release(&mut self, string: String) {
        self.budget += string.capacity();
    }

    /// An attribute name as the DOM holds it (lowercased), paid for.
    fn name(&mut self, raw: &[u8]) -> ControlFlow<End, String> {
        let mut decoded = self.decoded(raw)?;
        decoded.make_ascii_lowercase();
        self.normalized(decoded)
    }

    /// Reads the attributes of a `<meta>` into `attrs`: names lowercased,
    /// the first of duplicates kept (found through `seen` past a few), each
    /// paid for (the list itself the caller made and paid for).
    fn meta_attributes(
        &mut self,
        tag: &StartTag<'_>,
        attrs: &mut Vec<(String, String)>,
        seen: &mut HashSet<String>,
        seen_cost: &mut usize,
    ) -> ControlFlow<End> {
        for attribute in tag.attributes {
            let name = self.name(&tag.input[attribute.name.clone()])?;
            if attrs.len() == LINEAR_DEDUP_LIMIT && seen.is_empty() {
                for (name, _) in attrs.iter() {
                    self.spend(SET_ENTRY_COST + name.len())?;
                    *seen_cost += SET_ENTRY_COST + name.len();
                    seen.insert(name.clone());
                }
            }
            let duplicate = if seen.is_empty() {
                attrs.iter().any(|(seen, _)| *seen == name)
            } else {
                seen.contains(&name)
            };
            if duplicate {
                self.release(name);
                continue;
            }
            if !seen.is_empty() {
                self.spend(SET_ENTRY_COST + name.len())?;
                *seen_cost += SET_ENTRY_COST + name.len();
                seen.insert(name.clone());
            }
            let value = self.value(&tag.input[attribute.value.clone()])?;
            attrs.push((name, value));
        }
        ControlFlow::Continue(())
    }

    fn on_meta(&mut self, tag: &StartTag<'_>) -> ControlFlow<End> {
        // The list is made as long as the tag's attributes, charged at once.
        self.spend(META_COST + ATTRIBUTE_COST * tag.attributes.len())?;
        let mut attrs: Vec<(String, String)> = Vec::with_capacity(tag.attributes.len());
        // Past a few attributes, the names seen so far, to find duplicates
        // in constant time (each charged: a second copy and its header).
        let mut seen: HashSet<String> = HashSet::new();
        let mut seen_cost = 0;
        let read = self.meta_attributes(tag, &mut attrs, &mut seen, &mut seen_cost);
        // The set is dropped here: what it was charged comes back.
        drop(seen);
        self.budget += seen_cost;
        read?;
        let meta = MetaTag { attrs };
        if let Some(current) = self.tentative
            && !self.past_head
            && let Some(declared) = declared_encoding(&meta)
        {
            if declared == current {
                self.tentative = None;
            } else {
                self.restart = Some(declared);
                return ControlFlow::Break(End::Complete);
            }
        }
        file_meta(&mut self.page, &mut self.budget, meta)
    }

    fn on_script(&mut self, tag: &StartTag<'_>) -> ControlFlow<End> {
        let Some(kind) = tag.attribute("type") else {
            return ControlFlow::Continue(());
        };
        let kind = self.value(kind)?;
        let is_json_ld = kind
            .trim_matches(|char: char| char.is_ascii_whitespace())
            .eq_ignore_ascii_case("application/ld+json");
        self.release(kind);
        if is_json_ld && self.found.wants_json_ld() {
            self.spend(JSON_LD_COST)?;
            self.pending = Pending::JsonLd;
        }
        ControlFlow::Continue(())
    }

    fn on_html(&mut self, tag: &StartTag<'_>) -> ControlFlow<End> {
        // Later `<html>` tags only add attributes the root lacks: first wins.
        if self.page.lang.is_none()
            && let Some(lang) = tag.attribute("lang")
        {
            self.page.lang = Some(self.value(lang)?);
        }
        ControlFlow::Continue(())
    }

    fn on_link(&mut self, tag: &StartTag<'_>) -> ControlFlow<End> {
        let Some(rel) = tag.attribute("rel") else {
            return ControlFlow::Continue(());
        };
        let rel = self.value(rel)?;
        let is_canonical = rel
            .split(|char: char| char.is_ascii_whitespace())
            .any(|token| token.eq_ignore_ascii_case("canonical"));
        let relations = LinkRel::of(&rel);
        self.release(rel);
        if self.page.canonical.is_none()
            && let Some(href) = tag.attribute("href").filter(|_| is_canonical)
        {
            let href = self.value(href)?;
            let trimmed = href
                .trim_matches(|char: char| char.is_ascii_whitespace())
                .to_owned();
            self.recharge(href.capacity(), trimmed.capacity())?;
            self.page.canonical = Some(trimmed);
        }
        let Some(relations) = relations else {
            return ControlFlow::Continue(());
        };
        self.spend(relations.tokens.capacity())?;
        let mut attrs = LinkAttrs::default();
        for (name, slot) in [
            ("href", &mut attrs.href),
            ("type", &mut attrs.kind),
            ("sizes", &mut attrs.sizes),
            ("hreflang", &mut attrs.hreflang),
            ("title", &mut attrs.title),
            ("color", &mut attrs.color),
        ] {
            if relations.wants(name)
                && let Some(raw) = tag.attribute(name)
            {
                *slot = Some(self.value(raw)?);
            }
        }
        file_link(
            &mut self.page,
            &mut self.found,
            &mut self.budget,
            &relations,
            attrs,
        )
    }

    fn on_base(&mut self, tag: &StartTag<'_>) -> ControlFlow<End> {
        if let Some(href) = tag.attribute("href") {
            let href = self.value(href)?;
            let trimmed = href
                .trim_matches(|char: char| char.is_ascii_whitespace())
                .to_owned();
            self.recharge(href.capacity(), trimmed.capacity())?;
            self.found.file_base(trimmed, &mut self.budget);
        }
        ControlFlow::Continue(())
    }
}

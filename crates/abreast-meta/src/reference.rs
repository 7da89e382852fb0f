//! The lol_html extractor, kept as a test oracle. The crate's first
//! [`crate::Extractor`] fed the body to lol_html's streaming rewriter with
//! the selectors and handlers below; this module keeps that code with its
//! behaviour unchanged (same selectors, same handling of `<template>`
//! contents, foreign titles and `head_only`, same limits), so that the
//! differential tests can hold whatever engine the crate uses to it. It
//! reuses the crate's own encoding sniffing, text normalization and result
//! types, so what the tests compare is the tokenizing and the tree-builder
//! feedback. It is built for tests only, and is meant to be the crate's only
//! user of lol_html.
//!
//! lol_html lexes in full only the tags our selectors name and follows the
//! tokenizer state changes of the tree builder (`<script>`, `<style>`,
//! `<title>`, `<textarea>`, `<noscript>` as a browser with scripting on,
//! comments, CDATA, foreign content), so markup inside those is never mistaken
//! for a tag. What it does not do, this module does: skip `<template>`
//! contents (not part of the document), take only HTML-namespace elements,
//! keep the first of duplicate attributes, decode character references, and
//! find where the head ends.

use std::borrow::Cow;
use std::cell::RefCell;
use std::error::Error;
use std::fmt;
use std::sync::LazyLock;

use encoding_rs::{CoderResult, Encoding};
use lol_html::errors::RewritingError;
use lol_html::html_content::{Element, TextChunk, TextType};
use lol_html::{
    AsciiCompatibleEncoding, ElementContentHandlers, HtmlRewriter, MemorySettings, Selector,
    Settings, doc_text,
};

use crate::derive::{Found, JsonLdText, LinkAttrs, LinkRel, file_link, finish};
use crate::extract::{ATTRIBUTE_COST, JSON_LD_COST, META_COST, file_meta};
use crate::page::{EncodingSource, End, MetaTag, PageMeta};
use crate::sniff::{bom_length, sniff_encoding};
use crate::text::{attribute_value, normalize_input, title_text};

/// Bytes handed to the tokenizer at a time (and the size of the buffer that
/// decodes UTF-16 and other encodings lol_html cannot read directly).
const CHUNK_BYTES: usize = 64 * 1024;

const HTML_NAMESPACE: &str = "http://www.w3.org/1999/xhtml";

/// The elements we read, as lol_html selectors: `<meta>`, `<title>`,
/// `<html lang>`, `<link rel>`, JSON-LD scripts and `<base href>`.
const READ: [&str; 6] = [
    "meta",
    "title",
    "html[lang]",
    "link[rel]",
    r#"script[type*="ld+json" i]"#,
    "base[href]",
];

/// The selectors, parsed once (parsing them costs more than a small page).
static SELECTORS: LazyLock<Selectors> = LazyLock::new(|| {
    let parse = |selector: &str| {
        selector
            .parse::<Selector>()
            .expect("the selectors are constants that lol_html parses")
    };
    Selectors {
        read: READ.map(parse),
        in_template: READ.map(|selector| parse(&format!("template {selector}"))),
        any: parse("*"),
        any_in_template: parse("template *"),
        template: parse("template"),
        foreign_title: parse("svg title, math title"),
    }
});

/// See [`SELECTORS`].
struct Selectors {
    /// [`READ`].
    read: [Selector; 6],
    /// [`READ`] inside template contents, to skip them.
    in_template: [Selector; 6],
    /// Every element, for `head_only`.
    any: Selector,
    /// Every element inside template contents, for `head_only`.
    any_in_template: Selector,
    /// Template elements, whose text (theirs and their descendants'),
    /// `head_only` skips.
    template: Selector,
    /// SVG and MathML titles: lol_html reports them in the HTML namespace
    /// (they are integration points), so we tell them apart by ancestry.
    foreign_title: Selector,
}

/// Start tags that the tree builder handles without leaving the head.
const HEAD_ELEMENTS: [&str; 13] = [
    "html", "head", "base", "basefont", "bgsound", "link", "meta", "title", "noscript", "noframes",
    "style", "script", "template",
];

/// The options of [`extract`], those of [`crate::Extractor`]: stop where the
/// head ends, read at most `max_bytes`, use at most `memory_limit`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Options {
    /// Stop at the first start tag or text that the tree builder would put in
    /// the body ([`End::HeadEnd`]).
    pub(crate) head_only: bool,
    /// Read at most this many bytes of the body ([`End::ByteLimit`]).
    pub(crate) max_bytes: usize,
    /// Cap on working memory: half for lol_html's buffers, half for the
    /// collected strings ([`End::MemoryLimit`]).
    pub(crate) memory_limit: usize,
}

impl Default for Options {
    /// The defaults of [`crate::Extractor::new`]: the whole page, up to
    /// 16 MiB, within 4 MiB of working memory.
    fn default() -> Self {
        Options {
            head_only: false,
            max_bytes: 16 << 20,
            memory_limit: 4 << 20,
        }
    }
}

/// Extracts the metadata of one page with lol_html, as the crate's first
/// extractor did. Never fails: malformed, truncated or binary input gives
/// whatever can be read.
/// With `forced`, that encoding and source instead of sniffing (the engine
/// under test reads again with a late `<meta charset>`; the oracle is told
/// the outcome).
pub(crate) fn extract(
    options: &Options,
    body: &[u8],
    content_type: Option<&str>,
    forced: Option<(&'static Encoding, EncodingSource)>,
) -> PageMeta {
    let (body, cut) = match body.get(..options.max_bytes) {
        Some(prefix) if prefix.len() < body.len() => (prefix, true),
        _ => (body, false),
    };
    let (encoding, encoding_source) = forced.unwrap_or_else(|| sniff_encoding(body, content_type));
    let collector = RefCell::new(Collector {
        page: PageMeta {
            charset: encoding.name().to_owned(),
            charset_source: encoding_source,
            ..PageMeta::default()
        },
        budget: options.memory_limit / 2,
        ..Collector::default()
    });
    let end = tokenize(options, &collector, encoding, &body[bom_length(body)..]);
    let mut collector = collector.into_inner();
    collector.close_title();
    collector.close_json_ld();
    let mut page = collector.page;
    page.end = match end {
        End::Complete if cut => End::ByteLimit,
        end => end,
    };
    finish(&mut page, collector.found, None, &mut collector.budget);
    page
}

/// Runs lol_html over `body` (BOM removed) with our handlers.
fn tokenize(
    options: &Options,
    collector: &RefCell<Collector>,
    encoding: &'static Encoding,
    body: &[u8],
) -> End {
    let tokenizer_memory = options.memory_limit / 2;
    // lol_html insists (in debug builds) that its first buffer fits the limit.
    let memory = MemorySettings::new()
        .with_max_allowed_memory_usage(tokenizer_memory)
        .with_preallocated_parsing_buffer_size(tokenizer_memory.min(1024));
    // What lol_html cannot decode itself, we decode to UTF-8 for it.
    let tokenizer_encoding = AsciiCompatibleEncoding::new(encoding);
    let mut settings = Settings::new()
        .with_encoding(tokenizer_encoding.unwrap_or_else(AsciiCompatibleEncoding::utf_8))
        .with_memory_settings(memory)
        .with_strict(false);
    let selectors = &*SELECTORS;
    let in_template = |_: &mut Element<'_, '_>| {
        collector.borrow_mut().in_template = true;
        Ok(())
    };
    // Registered before the handlers they guard, so they run first.
    for selector in &selectors.in_template {
        settings = settings.append_element_content_handler((
            Cow::Borrowed(selector),
            ElementContentHandlers::default().element(in_template),
        ));
    }
    if options.head_only {
        settings = settings
            .append_element_content_handler((
                Cow::Borrowed(&selectors.any_in_template),
                ElementContentHandlers::default().element(|_: &mut Element<'_, '_>| {
                    collector.borrow_mut().in_template_any = true;
                    Ok(())
                }),
            ))
            .append_element_content_handler((
                Cow::Borrowed(&selectors.template),
                ElementContentHandlers::default().text(|_: &mut TextChunk<'_>| {
                    collector.borrow_mut().in_template_text = true;
                    Ok(())
                }),
            ))
            .append_element_content_handler((
                Cow::Borrowed(&selectors.any),
                ElementContentHandlers::default().element(|element: &mut Element<'_, '_>| {
                    collector.borrow_mut().on_any_element(element)
                }),
            ))
            .append_document_content_handler(doc_text!(|chunk| {
                collector.borrow_mut().on_any_text(chunk)
            }));
    }
    let [meta, title, html_lang, link, json_ld, base] = &selectors.read;
    settings = settings
        .append_element_content_handler((
            Cow::Borrowed(&selectors.foreign_title),
            ElementContentHandlers::default().element(|_: &mut Element<'_, '_>| {
                collector.borrow_mut().foreign_title = true;
                Ok(())
            }),
        ))
        .append_element_content_handler((
            Cow::Borrowed(meta),
            ElementContentHandlers::default()
                .element(|element: &mut Element<'_, '_>| collector.borrow_mut().on_meta(element)),
        ))
        .append_element_content_handler((
            Cow::Borrowed(title),
            ElementContentHandlers::default()
                .element(|element: &mut Element<'_, '_>| collector.borrow_mut().on_title(element))
                .text(|chunk: &mut TextChunk<'_>| collector.borrow_mut().on_title_text(chunk)),
        ))
        .append_element_content_handler((
            Cow::Borrowed(html_lang),
            ElementContentHandlers::default()
                .element(|element: &mut Element<'_, '_>| collector.borrow_mut().on_html(element)),
        ))
        .append_element_content_handler((
            Cow::Borrowed(link),
            ElementContentHandlers::default()
                .element(|element: &mut Element<'_, '_>| collector.borrow_mut().on_link(element)),
        ))
        .append_element_content_handler((
            Cow::Borrowed(json_ld),
            ElementContentHandlers::default()
                .element(|element: &mut Element<'_, '_>| collector.borrow_mut().on_json_ld(element))
                .text(|chunk: &mut TextChunk<'_>| collector.borrow_mut().on_json_ld_text(chunk)),
        ))
        .append_element_content_handler((
            Cow::Borrowed(base),
            ElementContentHandlers::default()
                .element(|element: &mut Element<'_, '_>| collector.borrow_mut().on_base(element)),
        ));

    let mut rewriter = HtmlRewriter::new(settings, |_: &[u8]| {});
    let written = if tokenizer_encoding.is_some() {
        body.chunks(CHUNK_BYTES)
            .try_for_each(|chunk| rewriter.write(chunk))
    } else {
        write_decoded(&mut rewriter, encoding, body)
    };
    let result = written.and_then(|()| rewriter.end());
    match result {
        Ok(()) => End::Complete,
        Err(RewritingError::MemoryLimitExceeded(_)) => End::MemoryLimit,
        Err(RewritingError::ContentHandlerError(_)) => collector.borrow().stopped_by,
        // Parsing ambiguity errors come only in strict mode, which is off;
        // any other error is, like the memory limit, an early end.
        Err(_) => End::MemoryLimit,
    }
}

/// Decodes `body` from `encoding` to UTF-8 a chunk at a time and writes it.
fn write_decoded<O: lol_html::OutputSink>(
    rewriter: &mut HtmlRewriter<'_, O>,
    encoding: &'static Encoding,
    mut body: &[u8],
) -> Result<(), RewritingError> {
    let mut decoder = encoding.new_decoder_without_bom_handling();
    let mut buffer = vec![0; CHUNK_BYTES];
    loop {
        let (result, read, written, _) = decoder.decode_to_utf8(body, &mut buffer, true);
        body = &body[read..];
        rewriter.write(&buffer[..written])?;
        if result == CoderResult::InputEmpty {
            return Ok(());
        }
    }
}

/// The error a handler returns to stop the tokenizer; why is in
/// [`Collector::stopped_by`].
#[derive(Debug)]
struct Stop;

impl fmt::Display for Stop {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("extraction stopped early")
    }
}

impl Error for Stop {}

/// What collecting costs besides the bytes of the strings: the extractor's
/// costs (`META_COST` and the rest), and text that grows by appending
/// (title, JSON-LD), whose buffer may be up to twice its length, and which
/// is copied once when it is finished.
const TEXT_COST_FACTOR: usize = 3;

/// What a content handler returns: an error stops lol_html.
type HandlerResult = Result<(), Box<dyn Error + Send + Sync>>;

/// Where the first `<title>` stands.
#[derive(Debug, Default)]
enum TitleState {
    /// None yet.
    #[default]
    NotSeen,
    /// Inside it: its raw text so far.
    Open(String),
    /// Finished, in [`PageMeta::title`].
    Done,
}

/// The state the handlers share while one page is tokenized.
#[derive(Debug, Default)]
struct Collector {
    /// What has been collected so far.
    page: PageMeta,
    /// Bytes of strings that may still be collected.
    budget: usize,
    /// Set by a `template …` handler for the element the next handler sees.
    in_template: bool,
    /// The same, for the head-end check of elements…
    in_template_any: bool,
    /// …and of text (lol_html runs element text handlers before document ones).
    in_template_text: bool,
    /// Set by the `svg title, math title` handler for the title handler.
    foreign_title: bool,
    /// The first HTML `<title>`.
    title: TitleState,
    /// The JSON-LD block being read, while its text chunks come.
    json_ld_open: Option<String>,
    /// What the new fields are made of.
    found: Found,
    stopped_by: End,
}

impl Collector {
    /// Spends `bytes` of the budget, or stops extraction when it is spent.
    fn spend(&mut self, bytes: usize) -> HandlerResult {
        match self.budget.checked_sub(bytes) {
            Some(left) => {
                self.budget = left;
                Ok(())
            }
            None => self.stop(End::MemoryLimit),
        }
    }

    /// Stops extraction, recording `why`.
    fn stop(&mut self, why: End) -> HandlerResult {
        self.stopped_by = why;
        Err(Box::new(Stop))
    }

    /// Whether the element is one we read: in the document (not in template
    /// contents) and in the HTML namespace.
    fn counts(&mut self, element: &Element<'_, '_>) -> bool {
        !std::mem::take(&mut self.in_template) && element.namespace_uri() == HTML_NAMESPACE
    }

    /// A `<meta>`: its attributes, and the OpenGraph, Twitter and
    /// description entries it makes.
    fn on_meta(&mut self, element: &Element<'_, '_>) -> HandlerResult {
        if !self.counts(element) {
            return Ok(());
        }
        self.spend(META_COST)?;
        let mut attrs: Vec<(String, String)> = Vec::with_capacity(element.attributes().len());
        for attribute in element.attributes() {
            let name = normalize_input(attribute.name());
            if attrs.iter().any(|(seen, _)| *seen == name) {
                continue;
            }
            let value = attribute_value(attribute.value());
            self.spend(ATTRIBUTE_COST + name.capacity() + value.capacity())?;
            attrs.push((name, value));
        }
        if file_meta(&mut self.page, &mut self.budget, MetaTag { attrs }).is_break() {
            return self.stop(End::MemoryLimit);
        }
        Ok(())
    }

    /// A `<title>` start: the first HTML one opens [`Collector::title`].
    fn on_title(&mut self, element: &Element<'_, '_>) -> HandlerResult {
        // Titles do not nest, so a title start means any open one has ended.
        self.close_title();
        let foreign = std::mem::take(&mut self.foreign_title);
        if self.counts(element) && !foreign && matches!(self.title, TitleState::NotSeen) {
            self.title = TitleState::Open(String::new());
        }
        Ok(())
    }

    /// Text of a `<title>`: appended to the first one while it is open.
    fn on_title_text(&mut self, chunk: &TextChunk<'_>) -> HandlerResult {
        if let TitleState::Open(text) = &mut self.title {
            let piece = chunk.as_str();
            if let Some(left) = self.budget.checked_sub(TEXT_COST_FACTOR * piece.len()) {
                text.push_str(piece);
                self.budget = left;
            } else {
                self.close_title();
                return self.stop(End::MemoryLimit);
            }
            if chunk.last_in_text_node() {
                self.close_title();
            }
        }
        Ok(())
    }

    /// Finishes the first title, if it is open.
    fn close_title(&mut self) {
        if let TitleState::Open(raw) = &mut self.title {
            let raw = std::mem::take(raw);
            self.title = TitleState::Done;
            self.page.title = Some(title_text(raw));
        }
    }

    /// An `<html lang>`: the first `lang` wins.
    fn on_html(&mut self, element: &Element<'_, '_>) -> HandlerResult {
        // Later `<html>` tags only add attributes the root lacks: first wins.
        if self.counts(element)
            && self.page.lang.is_none()
            && let Some(lang) = element.get_attribute("lang")
        {
            let lang = attribute_value(lang);
            self.spend(lang.len())?;
            self.page.lang = Some(lang);
        }
        Ok(())
    }

    /// A `<link rel>`: the first whose `rel` tokens include `canonical`
    /// gives the canonical URL; icons, feeds and alternates are filed.
    fn on_link(&mut self, element: &Element<'_, '_>) -> HandlerResult {
        if !self.counts(element) {
            return Ok(());
        }
        let Some(rel) = element.get_attribute("rel") else {
            return Ok(());
        };
        let rel = attribute_value(rel);
        let is_canonical = rel
            .split(|char: char| char.is_ascii_whitespace())
            .any(|token| token.eq_ignore_ascii_case("canonical"));
        if self.page.canonical.is_none()
            && let Some(href) = element.get_attribute("href").filter(|_| is_canonical)
        {
            let href = attribute_value(href);
            let href = href.trim_matches(|char: char| char.is_ascii_whitespace());
            self.spend(href.len())?;
            self.page.canonical = Some(href.to_owned());
        }
        let Some(relations) = LinkRel::of(&rel) else {
            return Ok(());
        };
        self.spend(relations.tokens.len())?;
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
                && let Some(value) = element.get_attribute(name)
            {
                let value = attribute_value(value);
                self.spend(value.len())?;
                *slot = Some(value);
            }
        }
        if file_link(
            &mut self.page,
            &mut self.found,
            &mut self.budget,
            &relations,
            attrs,
        )
        .is_break()
        {
            return self.stop(End::MemoryLimit);
        }
        Ok(())
    }

    /// A `<base href>`: kept for resolving URLs.
    fn on_base(&mut self, element: &Element<'_, '_>) -> HandlerResult {
        if !self.counts(element) {
            return Ok(());
        }
        if let Some(href) = element.get_attribute("href") {
            let href = attribute_value(href);
            let href = href.trim_matches(|char: char| char.is_ascii_whitespace());
            self.spend(href.len())?;
            self.found.file_base(href.to_owned(), &mut self.budget);
        }
        Ok(())
    }

    /// A `<script>` whose type mentions `ld+json`: opens a JSON-LD block if
    /// the type is exactly `application/ld+json` (any case, trimmed).
    fn on_json_ld(&mut self, element: &Element<'_, '_>) -> HandlerResult {
        self.close_json_ld();
        let is_json_ld = element.get_attribute("type").is_some_and(|kind| {
            attribute_value(kind)
                .trim_matches(|char: char| char.is_ascii_whitespace())
                .eq_ignore_ascii_case("application/ld+json")
        });
        if self.counts(element) && is_json_ld && self.found.wants_json_ld() {
            self.spend(JSON_LD_COST)?;
            self.json_ld_open = Some(String::new());
        }
        Ok(())
    }

    /// Text of a JSON-LD script: appended to the open block.
    fn on_json_ld_text(&mut self, chunk: &TextChunk<'_>) -> HandlerResult {
        if self.json_ld_open.is_none() {
            return Ok(());
        }
        let piece = chunk.as_str();
        self.spend(TEXT_COST_FACTOR * piece.len())?;
        if let Some(text) = &mut self.json_ld_open {
            text.push_str(piece);
        }
        if chunk.last_in_text_node() {
            self.close_json_ld();
        }
        Ok(())
    }

    /// Files the open JSON-LD block, if any.
    fn close_json_ld(&mut self) {
        if let Some(text) = self.json_ld_open.take() {
            self.found
                .json_ld
                .push(JsonLdText::Text(normalize_input(text)));
        }
    }

    /// `head_only`: stops at the first start tag the head cannot hold.
    fn on_any_element(&mut self, element: &Element<'_, '_>) -> HandlerResult {
        if std::mem::take(&mut self.in_template_any) {
            return Ok(());
        }
        let in_head = element.namespace_uri() == HTML_NAMESPACE
            && HEAD_ELEMENTS.contains(&element.tag_name().as_str());
        if in_head {
            Ok(())
        } else {
            self.stop(End::HeadEnd)
        }
    }

    /// `head_only`: stops at the first text outside an element of the head
    /// that is not ASCII whitespace.
    fn on_any_text(&mut self, chunk: &TextChunk<'_>) -> HandlerResult {
        let is_content = !std::mem::take(&mut self.in_template_text)
            && chunk.text_type() == TextType::Data
            && !chunk
                .as_str()
                .bytes()
                .all(|byte| byte.is_ascii_whitespace());
        if is_content {
            self.stop(End::HeadEnd)
        } else {
            Ok(())
        }
    }
}

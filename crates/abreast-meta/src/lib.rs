//! Spec-correct HTML metadata extraction, at the speed of a regex.
//!
//! The explainer of Python concurrency pulls meta tags out of pages with the
//! regex `<meta .*?>` and admits that is not the right way. This crate reads
//! them the way a browser does: it chooses the encoding in the HTML
//! Standard's order, tokenizes following the standard's tokenizer states and
//! the tree builder's feedback on them, and collects from the elements a
//! browser would build. The tokenizer is this crate's own, made for this job:
//! it walks an index of the bytes that can end text or a tag (`<`, `>`,
//! quotes) instead of reading every byte, and is tested against [lol_html]'s.
//!
//! # A tour
//!
//! [`extract`] takes the body bytes and, if known, the Content-Type header,
//! and gives a [`PageMeta`]:
//!
//! ```
//! use abreast_meta::{extract, EncodingSource};
//!
//! let html = br#"<!doctype html><html lang=en><head>
//!   <META NAME=description CONTENT='Fish &amp; chips'>
//!   <meta property="og:title" content="Chips">
//!   <title>  The
//!     shop </title>
//!   <link rel="Canonical Alternate" href="https://example.com/">
//!   <script>document.write("<meta name=fake>")</script>
//! </head><body><!-- <meta name=commented> --></body></html>"#;
//!
//! let page = extract(html, Some("text/html; charset=utf-8"));
//! assert_eq!(page.encoding, "UTF-8");
//! assert_eq!(page.encoding_source, EncodingSource::ContentType);
//! assert_eq!(page.title.as_deref(), Some("The shop"));
//! assert_eq!(page.lang.as_deref(), Some("en"));
//! assert_eq!(page.canonical.as_deref(), Some("https://example.com/"));
//! assert_eq!(page.description.as_deref(), Some("Fish & chips"));
//! assert_eq!(page.og.first("title"), Some("Chips"));
//! assert_eq!(page.metas.len(), 2); // not the one in the script, nor the comment
//! assert_eq!(page.metas[0].get("name"), Some("description"));
//! ```
//!
//! An [`Extractor`] carries options: [`Extractor::head_only`] stops where the
//! head ends, [`Extractor::max_bytes`] bounds the input read and
//! [`Extractor::memory_limit`] the memory used, whatever the input.
//! [`sniff_encoding`] only chooses the encoding, cheaply.
//!
//! # The rules
//!
//! * Encoding: byte order mark, then the Content-Type charset, then the
//!   prescan of the first 1024 bytes for `<meta charset>` or
//!   `<meta http-equiv=content-type>`, then a statistical guess (chardetng),
//!   then windows-1252; labels as the Encoding Standard maps them. The
//!   reported source says which rule decided ([`EncodingSource`]).
//! * No metadata from inside `<script>`, `<style>`, `<textarea>`, `<title>`,
//!   `<noscript>` (read as a browser with scripting on reads it), comments,
//!   CDATA, or `<template>` contents; only HTML-namespace elements (a `<meta>`
//!   inside `<svg>` breaks out of it and counts, as in a browser).
//! * Tags in any case, attributes in any order and quoting, `>` inside quoted
//!   values, `/>`; attribute names lowercased; of duplicate attributes the
//!   first wins; character references decoded by the attribute rules.
//! * Malformed, truncated or binary input never panics; it gives whatever can
//!   be read, and [`PageMeta::end`] says whether and why reading stopped early.
//!
//! # Speed
//!
//! `cargo bench -p abreast-meta --bench extract` compares, in one run, on a
//! realistic 64 KiB page with 2,062 tags: [`extract`] about 2.3 GB/s per core
//! (the target is 300 MB/s; the lol_html extractor it replaced ran at 440),
//! `head_only` 5.8× faster than that, as fast as the explainer's regex
//! `<meta .*?>` compiled by Rust (12.4 GB/s), which is a literal search that
//! gets most tricky cases wrong. Python's `re` runs that regex at 2.95 GB/s on
//! this page; on the test site's pages, in one run of `abreast bench cpu`,
//! [`extract`] is 1.8× faster than it. A page in a legacy encoding with no
//! declaration extracts at about 570 MB/s, the statistical guess costing more
//! than the tokenizing. The README has the table and what it means.
//!
//! [lol_html]: https://docs.rs/lol_html
#![deny(missing_docs)]

mod derive;
#[cfg(test)]
mod differential;
mod extract;
mod jsonld;
mod page;
#[cfg(test)]
mod reference;
mod sniff;
mod specials;
mod text;
mod tokenizer;

pub use derive::{
    MAX_CARD_VALUES, MAX_FEEDS, MAX_ICONS, MAX_JSON_LD_BLOCKS, MAX_LANGUAGES, MAX_OEMBED,
    MAX_ROBOTS,
};
pub use encoding_rs;
pub use extract::{Extractor, extract, extract_at};
pub use page::{
    Alternates, Card, CardEntry, EncodingSource, End, Feed, Icon, JsonLdError, LanguageAlternate,
    MetaTag, OEmbed, PageMeta, Preview,
};
pub use sniff::sniff_encoding;
pub use url;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

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
//! assert_eq!(page.charset, "UTF-8");
//! assert_eq!(page.charset_source, EncodingSource::ContentType);
//! assert_eq!(page.title.as_deref(), Some("The shop"));
//! assert_eq!(page.lang.as_deref(), Some("en"));
//! assert_eq!(page.canonical.as_deref(), Some("https://example.com/"));
//! assert_eq!(page.description.as_deref(), Some("Fish & chips"));
//! assert_eq!(page.og.first("title"), Some("Chips"));
//! assert_eq!(page.meta.len(), 2); // not the one in the script, nor the comment
//! assert_eq!(page.meta[0].get("name"), Some("description"));
//! ```
//!
//! An [`Extractor`] carries options: [`Extractor::head_only`] stops where the
//! head ends, [`Extractor::max_bytes`] bounds the input read and
//! [`Extractor::memory_limit`] the memory used, whatever the input.
//! [`sniff_encoding`] only chooses the encoding, cheaply.
//!
//! # What the tags mean
//!
//! Beside the tags as written, one pass gives what they mean, with every URL
//! absolute: [`extract_at`] (or [`Extractor::extract_at`]) takes the document's
//! URL, the final one after redirects.
//!
//! | field | what | JSON shape |
//! |---|---|---|
//! | `json_ld` | every `<script type="application/ld+json">` block in document order, parsed (an array stays an array, `@graph` as written, object keys sorted); a block with several top-level values gives several entries | `[{"@context":"https://schema.org","@type":"NewsArticle",…}]` |
//! | `json_ld_errors` | the blocks left out, by position among the page's blocks (from 0), with the reason | `[{"block":1,"reason":"expected value at line 1 column 7"}]` |
//! | `og`, `twitter` | every `og:*` / `twitter:*` property (from `property` or `name`, lowercased, prefix dropped), repeats kept in order; media items (`og:image`, `og:video`, `og:audio`; `twitter:image`, `twitter:player`) as arrays of objects, each structured property attached to the item it follows | `{"title":["A"],"image":[{"url":"https://…/a.jpg","width":"1200"}]}` |
//! | `icons` | `icon`, `shortcut icon`, `apple-touch-icon(-precomposed)`, `mask-icon` and `manifest` links | `[{"href":"https://…/i.png","rel":"icon","sizes":"32x32","type":"image/png"}]` |
//! | `feeds` | `<link rel=alternate>` of type `application/rss+xml`, `application/atom+xml` or `application/feed+json` | `[{"href":"https://…/feed","type":"application/rss+xml","title":"News"}]` |
//! | `alternates` | `hreflang` alternates and the first `<link rel=amphtml>` | `{"languages":[{"hreflang":"fr","href":"https://…/fr/"}],"amp":"https://…/amp"}` |
//! | `oembed` | `<link rel=alternate>` of type `application/json+oembed` or `text/xml+oembed` | `[{"href":"https://…/oembed?url=…","type":"application/json+oembed"}]` |
//! | `robots` | the directives of every `<meta name=robots>`, split on commas, trimmed, lowercased | `["noindex","max-image-preview:large"]` |
//! | `preview` | one object for a link preview or an index (below) | `{"title":"…","image":"https://…","url":"https://…",…}` |
//! | `capped` | the fields that lost entries to a cap | `["icons"]` |
//!
//! Absent optional attributes (`sizes`, `type`, `title`, `color`) are left out of
//! the objects; absent preview fields are `null`.
//!
//! **OpenGraph arrays.** As the protocol defines them: `og:image` starts an item
//! (its content under `url`), `og:image:width`, `:height`, `:alt`, `:type`,
//! `:secure_url` (and any other structured property) go to the last item of
//! their kind, `og:image:url` sets the last item's `url` or starts an item if it
//! has one, and a structured property before any root starts an item without a
//! `url`. Of a structured property repeated within one item, the first counts.
//! Other repeated properties (`og:locale:alternate`) keep every value. Twitter
//! cards have the same shape, with `image` and `player` as the media kinds
//! (`twitter:image:src` is read as the image's `url`).
//!
//! ```json
//! {"title": ["Chips"], "type": ["article"], "locale:alternate": ["fr_FR", "de_DE"],
//!  "image": [{"url": "https://example.com/a.jpg", "width": "1200", "height": "630"},
//!            {"url": "https://example.com/b.jpg", "alt": "B"}]}
//! ```
//!
//! **JSON-LD, tolerant of what real pages ship.** A block is first given to
//! serde_json as it is; only if that fails is it cleaned up in one linear pass:
//! surrounding `<!-- -->` and `<![CDATA[ ]]>` wrappers removed, `//` and `/* */`
//! comments outside strings removed, trailing commas before `]` or `}` dropped,
//! a `;` between or after top-level values ignored, raw control characters in
//! strings escaped; then every top-level value in it is read. A block still
//! failing that contains `&` is tried once more with its HTML character
//! references decoded (`&quot;`). A block that still does not parse is left out
//! and counted in `json_ld_errors` with serde_json's message; its siblings are
//! kept. Invalid bytes and NUL were already U+FFFD in the decoded text.
//!
//! **URLs.** Every URL in `og` and `twitter` (items' `url`, `secure_url`, `src`,
//! `stream`, and plain `url`), `icons`, `feeds`, `alternates`, `oembed` and the
//! preview is resolved, by the WHATWG URL Standard (the `url` crate), against the
//! document's base URL: the first `<base href>` anywhere in the document
//! (in the body too) that parses against the document URL and is neither
//! `javascript:` nor `data:`, else the document URL. A value that does not
//! resolve stays as written; with no base and no document URL, absolute URLs are
//! normalized and relative ones stay as written. `canonical` stays as written
//! (the preview's `url` is its resolved form).
//!
//! **The preview's chains** (the first source that has a value wins):
//!
//! | field | chain |
//! |---|---|
//! | `title` | `og:title`, `twitter:title`, the JSON-LD main entity's `headline`, then its `name`, `<title>` |
//! | `description` | `og:description`, `twitter:description`, `<meta name=description>`, the main entity's `description` |
//! | `image` | the first `og:image` item's `url` (or `secure_url`), the first `twitter:image`, the main entity's `image` (a string, an object's `url` or `contentUrl`, or a list's first), `<link rel=image_src>` |
//! | `url` | `<link rel=canonical>`, `og:url`, the document URL |
//! | `site_name` | `og:site_name`, `<meta name=application-name>`, the main entity's `publisher` (a string or its `name`) |
//! | `type` | `og:type`, the main entity's `@type` (the first, if a list) |
//! | `author` | `<meta name=author>`, `article:author`, the main entity's `author` (a string, its `name`, or a list's first), `twitter:creator` |
//! | `published` | `article:published_time`, the main entity's `datePublished`, `<meta name=date>` |
//! | `modified` | `article:modified_time`, `og:updated_time`, the main entity's `dateModified` |
//! | `lang` | `<html lang>`, `<meta http-equiv=content-language>`, the main entity's `inLanguage`, `og:locale` with `_` made `-` |
//! | `locale` | `og:locale` |
//! | `icon` | the best declared icon (the largest declared `sizes`, `any` counting as the largest, an `apple-touch-icon` without sizes as 180×180, others without as 0; the first of equals; `mask-icon` and `manifest` are not candidates), else `/favicon.ico` at the document URL's origin (http and https only) |
//!
//! The JSON-LD *main entity* is the first node (top-level objects, the elements
//! of top-level arrays, the objects of each `@graph`) with a `headline`, else the
//! first whose `@type` is not one that describes the site rather than the page
//! (`WebSite`, `Organization`, `NewsMediaOrganization`, `BreadcrumbList`,
//! `ListItem`, `Person`, `ImageObject`, `SearchAction`, `SiteNavigationElement`,
//! `WPHeader`, `WPFooter`, `Brand`). Dates are given as RFC 3339
//! (`2026-11-24T08:00:00+01:00`) when they are an ISO 8601 date-time with an
//! offset (a `T` or a space between date and time, seconds optional, offsets `Z`,
//! `±HH`, `±HHMM` or `±HH:MM`), else as written.
//!
//! **Caps**, each documented as a constant; what is cut is named in `capped`
//! (the extraction goes on):
//!
//! | cap | value |
//! |---|---|
//! | JSON-LD blocks read ([`MAX_JSON_LD_BLOCKS`]) | 256 (later ones are not read) |
//! | JSON-LD nesting | 128 levels (serde_json's recursion limit): a deeper block is an error, `recursion limit exceeded…` |
//! | JSON-LD block size | its text plus 128 bytes for each `,` `:` `[` `{` in it must fit the memory budget left; else an error, `too large: N bytes…` |
//! | icons ([`MAX_ICONS`]), feeds ([`MAX_FEEDS`]), oEmbed links ([`MAX_OEMBED`]) | 64, 64, 16 |
//! | `hreflang` alternates ([`MAX_LANGUAGES`]) | 512 |
//! | values per card, items' properties included ([`MAX_CARD_VALUES`]) | 512 each for `og` and `twitter` |
//! | robots directives ([`MAX_ROBOTS`]) | 64 |
//!
//! Everything these fields hold is charged to the memory budget before it is
//! allocated, like the rest: a field that no longer fits is cut and named in
//! `capped`, and reading goes on.
//!
//! **Change the encoding.** When no byte order mark, Content-Type charset or
//! prescanned `<meta>` decided the encoding (it came from the statistical guess
//! or the default, so it is *tentative*), a `<meta charset>` or
//! `<meta http-equiv=content-type>` that the tokenizer meets in the head —
//! before the first start tag the head cannot hold, however far into the page —
//! and that names another encoding makes the page be read again in it, as the
//! HTML Standard's "change the encoding" step (and Chromium's scan to the end
//! of the head) does: `charset_source` is then `LateMeta`. A UTF-16 label
//! means UTF-8 and `x-user-defined` windows-1252, as the standard says; a
//! declaration naming the tentative encoding makes it certain, so later ones
//! are ignored. A meta after a 2, 4 or 8 KiB comment is read this way.
//!
//! # The rules
//!
//! * Encoding: byte order mark, then the Content-Type charset, then the
//!   prescan of the first 1024 bytes for `<meta charset>` or
//!   `<meta http-equiv=content-type>`, then a statistical guess (chardetng),
//!   then windows-1252; labels as the Encoding Standard maps them; a late
//!   `<meta charset>` in the head changes a guessed encoding (above). The
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
//! (the target is 300 MB/s), `head_only` 5.8× faster than that, as fast as the
//! explainer's regex `<meta .*?>` compiled by Rust, which is a literal search
//! that gets most tricky cases wrong. Python's `re` runs that regex a little
//! faster than [`extract`] on this dense page, and at about its speed on the
//! test site's pages (`abreast bench cpu`). A page in a legacy encoding with
//! no declaration extracts at about 570 MB/s, the statistical guess costing
//! more than the tokenizing. The figures on each machine, with the commands
//! behind them, are in docs/BENCHMARKS.md; the README has the table and what
//! it means.
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

//! The result of extraction: [`PageMeta`] and the small types it is made of.
//! All of them are plain data (Send + Sync) that serialize with serde, so a
//! process pool can ship them and the fetch tool can write them as JSON lines.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Everything one page says about itself in its markup.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageMeta {
    /// Name of the encoding the body was decoded with, as the Encoding
    /// Standard spells it (`"UTF-8"`, `"Shift_JIS"`, `"windows-1252"`).
    /// Serialized as `null` when empty (a record with no page).
    #[serde(with = "empty_as_null")]
    pub charset: String,
    /// Which step of the standard's order chose [`PageMeta::charset`].
    /// Not serialized: a diagnostic for Rust callers.
    #[serde(skip)]
    pub charset_source: EncodingSource,
    /// Text of the first `<title>`, character references decoded and ASCII
    /// whitespace stripped and collapsed, as `document.title` gives it.
    pub title: Option<String>,
    /// The `lang` attribute of the `<html>` element.
    pub lang: Option<String>,
    /// `href` of the first `<link>` whose `rel` contains `canonical`.
    pub canonical: Option<String>,
    /// `content` of the first `<meta name="description">`.
    pub description: Option<String>,
    /// Every `<meta>` element in document order.
    pub meta: Vec<MetaTag>,
    /// OpenGraph: every `og:*` property in document order, the media ones
    /// (`og:image`, `og:video`, `og:audio`) as arrays of items with their
    /// structured properties; see [`Card`].
    pub og: Card,
    /// Twitter cards: every `twitter:*` property, `twitter:image` and
    /// `twitter:player` as items; see [`Card`].
    pub twitter: Card,
    /// Every `<script type="application/ld+json">` block in document order,
    /// parsed to JSON values (a block holding several top-level values gives
    /// several entries). Blocks that do not parse are in
    /// [`PageMeta::json_ld_errors`].
    pub json_ld: Vec<serde_json::Value>,
    /// The JSON-LD blocks left out of [`PageMeta::json_ld`], and why.
    pub json_ld_errors: Vec<JsonLdError>,
    /// Icon links (`icon`, `shortcut icon`, `apple-touch-icon`,
    /// `apple-touch-icon-precomposed`, `mask-icon`) and the web-app
    /// `manifest` link, in document order.
    pub icons: Vec<Icon>,
    /// RSS, Atom and JSON Feed alternates, in document order.
    pub feeds: Vec<Feed>,
    /// Language alternates and the AMP version.
    pub alternates: Alternates,
    /// oEmbed discovery links, in document order.
    pub oembed: Vec<OEmbed>,
    /// The directives of every `<meta name="robots">`, lowercased, in order.
    pub robots: Vec<String>,
    /// One object for a link preview, each field from its chain of sources.
    pub preview: Preview,
    /// The fields that lost entries to a cap (count or memory), by name
    /// (`"icons"`, `"og"`…); empty when nothing was cut.
    pub capped: Vec<String>,
    /// Why reading stopped: the whole input, or which limit ended it early.
    /// Not serialized: a record says it as `truncated`.
    #[serde(skip)]
    pub end: End,
}

/// Serializes an empty string as `null` and reads `null` back as empty: a record whose page
/// was never read has no charset.
mod empty_as_null {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(text: &str, serializer: S) -> Result<S::Ok, S::Error> {
        if text.is_empty() {
            serializer.serialize_none()
        } else {
            serializer.serialize_some(text)
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<String, D::Error> {
        Ok(Option::<String>::deserialize(deserializer)?.unwrap_or_default())
    }
}

/// The step of the HTML Standard's encoding sniffing that chose the encoding.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EncodingSource {
    /// A byte order mark at the start of the body.
    Bom,
    /// The `charset` parameter of the Content-Type header.
    ContentType,
    /// `<meta charset>` or `<meta http-equiv="content-type">` found by the
    /// prescan of the first 1024 bytes.
    MetaPrescan,
    /// `<meta charset>` or `<meta http-equiv="content-type">` met by the
    /// tokenizer in the head after the prescan found none, with the encoding
    /// still tentative: the page is decoded again with it, as the HTML
    /// Standard's "change the encoding" step does.
    LateMeta,
    /// A statistical guess from the bytes (chardetng).
    Statistical,
    /// Nothing to go on (for instance, the body is pure ASCII): windows-1252.
    #[default]
    Default,
}

/// How far the input was read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum End {
    /// The whole body was read.
    #[default]
    Complete,
    /// `head_only` was set and reading stopped where the `<head>` ends.
    HeadEnd,
    /// The body was longer than `max_bytes`; the rest was not read.
    ByteLimit,
    /// The memory cap was reached; what was read before it is kept.
    MemoryLimit,
}

impl End {
    /// Whether the page was read to its end (nothing was skipped).
    pub fn is_complete(self) -> bool {
        self == End::Complete
    }
}

/// One `<meta>` element: its attributes in source order, names lowercased,
/// values with character references decoded; a repeated name keeps the first.
///
/// Serializes as a JSON object that keeps the source order:
/// `{"name":"description","content":"…"}`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MetaTag {
    /// `(name, value)` pairs in source order, names unique.
    pub attrs: Vec<(String, String)>,
}

impl MetaTag {
    /// The value of attribute `name` (give it lowercase), if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(attr, _)| attr == name)
            .map(|(_, value)| value.as_str())
    }
}

impl Serialize for MetaTag {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.attrs.len()))?;
        for (name, value) in &self.attrs {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for MetaTag {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct AttrsVisitor;

        impl<'de> Visitor<'de> for AttrsVisitor {
            type Value = MetaTag;

            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("a map of attribute names to values")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<MetaTag, A::Error> {
                let mut attrs = Vec::with_capacity(access.size_hint().unwrap_or(0));
                while let Some(entry) = access.next_entry()? {
                    attrs.push(entry);
                }
                Ok(MetaTag { attrs })
            }
        }

        deserializer.deserialize_map(AttrsVisitor)
    }
}

/// OpenGraph or Twitter card properties, as the OpenGraph protocol defines
/// arrays: a property that repeats keeps every value in order, and the
/// structured properties of a media item (`og:image:width`) belong to the
/// item they follow.
///
/// Keys are lowercased and lose their prefix (`og:`, `twitter:`). Plain
/// properties map to the list of their values; the media kinds (`image`,
/// `video`, `audio` for OpenGraph; `image`, `player` for Twitter) map to a
/// list of items, each an object of its structured properties, the root
/// property's own content under `url`. A `:url` (or Twitter's `:src`) on an
/// item that has one, or a structured property before any root, starts a
/// new item. URLs (`url`, `secure_url`, `src`, `stream`, and plain `url`)
/// are resolved to absolute ones where they can be. As JSON:
///
/// ```json
/// {"title": ["Chips"], "type": ["article"], "locale:alternate": ["fr_FR", "de_DE"],
///  "image": [{"url": "https://example.com/a.jpg", "width": "1200", "height": "630"},
///            {"url": "https://example.com/b.jpg", "alt": "B"}]}
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Card {
    /// Key (lowercase, no prefix) to its values or items.
    pub entries: BTreeMap<String, CardEntry>,
}

/// The values of one card key: plain values, or media items.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum CardEntry {
    /// A plain property's values in document order.
    Values(Vec<String>),
    /// A media kind's items in document order, each structured property
    /// name (`url`, `width`, `alt`…) to its value.
    Items(Vec<BTreeMap<String, String>>),
}

impl Card {
    /// The first value of plain property `key` (lowercase, no prefix).
    pub fn first(&self, key: &str) -> Option<&str> {
        match self.entries.get(key) {
            Some(CardEntry::Values(values)) => values.first().map(String::as_str),
            _ => None,
        }
    }

    /// The media items of kind `kind` (`image`, `video`…); empty if none.
    pub fn items(&self, kind: &str) -> &[BTreeMap<String, String>] {
        match self.entries.get(kind) {
            Some(CardEntry::Items(items)) => items,
            _ => &[],
        }
    }

    /// The card as the flat map this crate gave before cards had arrays:
    /// each key with `prefix` and a colon put back (`og:title`), to its
    /// first value; a media kind to its first item's `url` (`og:image`),
    /// and each structured property of that first item under its full key
    /// (`og:image:width`).
    ///
    /// ```
    /// let page = abreast_meta::extract(
    ///     b"<meta property=og:image content=a.jpg><meta property=og:image:width content=8>\
    ///       <meta property=og:image content=b.jpg><meta property=og:title content=T>",
    ///     None,
    /// );
    /// let flat = page.og.flat("og");
    /// assert_eq!(flat["og:image"], "a.jpg");
    /// assert_eq!(flat["og:image:width"], "8");
    /// assert_eq!(flat["og:title"], "T");
    /// ```
    pub fn flat(&self, prefix: &str) -> BTreeMap<String, String> {
        let mut flat = BTreeMap::new();
        for (key, entry) in &self.entries {
            match entry {
                CardEntry::Values(values) => {
                    if let Some(first) = values.first() {
                        flat.insert(format!("{prefix}:{key}"), first.clone());
                    }
                }
                CardEntry::Items(items) => {
                    for (name, value) in items.first().into_iter().flatten() {
                        let full = if name == "url" {
                            format!("{prefix}:{key}")
                        } else {
                            format!("{prefix}:{key}:{name}")
                        };
                        flat.insert(full, value.clone());
                    }
                }
            }
        }
        flat
    }

    /// Whether the card has no property at all.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// A JSON-LD block left out of [`PageMeta::json_ld`].
///
/// As JSON: `{"block": 1, "reason": "expected `,` or `}` at line 1 column 12"}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JsonLdError {
    /// Its position among the page's JSON-LD blocks, from 0.
    pub block: usize,
    /// Why it was left out: serde_json's message after the tolerant
    /// clean-up, `too large: N bytes` when the memory cap cannot hold it,
    /// or `too many blocks`.
    pub reason: String,
}

/// An icon or manifest link.
///
/// As JSON: `{"href": "https://example.com/icon.png", "rel": "apple-touch-icon", "sizes": "180x180", "type": "image/png"}`
/// (absent attributes are left out).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Icon {
    /// The `href`, absolute where it resolves.
    pub href: String,
    /// The `rel` tokens, lowercased, joined by one space (`shortcut icon`).
    pub rel: String,
    /// The `sizes` attribute as written (`16x16 32x32`, `any`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sizes: Option<String>,
    /// The `type` attribute (`image/png`).
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "type")]
    pub kind: Option<String>,
    /// The `color` attribute of a `mask-icon`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
}

/// A feed alternate: `<link rel=alternate>` with the type of RSS
/// (`application/rss+xml`), Atom (`application/atom+xml`) or JSON Feed
/// (`application/feed+json`).
///
/// As JSON: `{"href": "https://example.com/feed.xml", "type": "application/rss+xml", "title": "News"}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Feed {
    /// The `href`, absolute where it resolves.
    pub href: String,
    /// The `type`, lowercased.
    #[serde(rename = "type")]
    pub kind: String,
    /// The `title` attribute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

/// Alternate versions of the page.
///
/// As JSON: `{"languages": [{"hreflang": "fr", "href": "https://example.com/fr/"}], "amp": "https://example.com/amp/"}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alternates {
    /// `<link rel=alternate hreflang>` in document order.
    pub languages: Vec<LanguageAlternate>,
    /// `href` of the first `<link rel=amphtml>`, absolute where it resolves.
    pub amp: Option<String>,
}

/// One `hreflang` alternate.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LanguageAlternate {
    /// The `hreflang` attribute as written (`fr`, `en-GB`, `x-default`).
    pub hreflang: String,
    /// The `href`, absolute where it resolves.
    pub href: String,
}

/// An oEmbed discovery link: `<link rel=alternate>` of type
/// `application/json+oembed` or `text/xml+oembed`.
///
/// As JSON: `{"href": "https://example.com/oembed?url=…", "type": "application/json+oembed"}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OEmbed {
    /// The `href`, absolute where it resolves.
    pub href: String,
    /// The `type`, lowercased.
    #[serde(rename = "type")]
    pub kind: String,
    /// The `title` attribute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

/// What a link preview or an index needs, each field from the first source
/// of its chain that has it (the chains are in the crate docs). URLs are
/// absolute where they resolve; dates are RFC 3339 where they parse.
///
/// As JSON, with absent fields `null`:
/// `{"title": "…", "description": "…", "image": "https://…", "url": "https://…", "site_name": "…", "type": "article", "author": "…", "published": "2026-11-24T08:00:00Z", "modified": null, "lang": "en", "locale": "en_GB", "icon": "https://…/favicon.ico"}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preview {
    /// og:title, twitter:title, the JSON-LD main entity's headline or name, `<title>`.
    pub title: Option<String>,
    /// og:description, twitter:description, `<meta name=description>`, JSON-LD description.
    pub description: Option<String>,
    /// og:image, twitter:image, JSON-LD image, `<link rel=image_src>`.
    pub image: Option<String>,
    /// The canonical link, og:url, the document URL.
    pub url: Option<String>,
    /// og:site_name, `<meta name=application-name>`, JSON-LD publisher name.
    pub site_name: Option<String>,
    /// og:type, the JSON-LD main entity's `@type`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// `<meta name=author>`, article:author, JSON-LD author name, twitter:creator.
    pub author: Option<String>,
    /// article:published_time, JSON-LD datePublished, `<meta name=date>`.
    pub published: Option<String>,
    /// article:modified_time, og:updated_time, JSON-LD dateModified.
    pub modified: Option<String>,
    /// `<html lang>`, `<meta http-equiv=content-language>`, JSON-LD inLanguage, og:locale.
    pub lang: Option<String>,
    /// og:locale.
    pub locale: Option<String>,
    /// The best declared icon, else `/favicon.ico` at the document's origin.
    pub icon: Option<String>,
}

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
    pub encoding: String,
    /// Which step of the standard's order chose [`PageMeta::encoding`].
    pub encoding_source: EncodingSource,
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
    pub metas: Vec<MetaTag>,
    /// OpenGraph: `og:*` property (lowercased) to content; the first wins.
    pub og: BTreeMap<String, String>,
    /// Twitter cards: `twitter:*` name (lowercased) to content; the first wins.
    pub twitter: BTreeMap<String, String>,
    /// Raw text of each `<script type="application/ld+json">`, in order.
    pub json_ld: Vec<String>,
    /// Why reading stopped: the whole input, or which limit ended it early.
    pub end: End,
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

//! What the collected elements mean: link relations filed as icons, feeds,
//! alternates and oEmbed links; `<meta>` properties made into OpenGraph and
//! Twitter cards and robots directives; JSON-LD blocks parsed; every URL
//! resolved against the document's base URL; and the preview's chains.
//! Both engines (the tokenizer and the lol_html oracle) collect into
//! [`Found`] and a [`PageMeta`], and finish through [`finish`], so they
//! differ only in what they read.

use std::collections::BTreeMap;
use std::ops::ControlFlow;

use serde_json::Value;
use url::Url;

use crate::jsonld::{TOO_DEEP, parse_block, parsed_bound, too_deep, value_cost};
use crate::page::{
    Card, CardEntry, End, Feed, Icon, JsonLdError, LanguageAlternate, OEmbed, PageMeta, Preview,
};

/// At most this many JSON-LD blocks are read; later ones are skipped and
/// `json_ld` is listed in [`PageMeta::capped`].
pub const MAX_JSON_LD_BLOCKS: usize = 256;
/// At most this many icon and manifest links.
pub const MAX_ICONS: usize = 64;
/// At most this many feed links.
pub const MAX_FEEDS: usize = 64;
/// At most this many `hreflang` alternates.
pub const MAX_LANGUAGES: usize = 512;
/// At most this many oEmbed links.
pub const MAX_OEMBED: usize = 16;
/// At most this many values (plain values and items' properties) per card.
pub const MAX_CARD_VALUES: usize = 512;
/// At most this many robots directives.
pub const MAX_ROBOTS: usize = 64;
/// At most this many `<base href>` candidates are kept (the first valid
/// one is used).
const MAX_BASES: usize = 8;

/// What a link, icon, feed or other entry costs besides its strings: the
/// struct in a `Vec` that may be mid-reallocation.
pub(crate) const ENTRY_COST: usize = 3 * 8 * size_of::<String>();

/// The text of one JSON-LD block, or its length when the memory cap could
/// not hold it.
#[derive(Debug)]
pub(crate) enum JsonLdText {
    Text(String),
    TooLarge(usize),
    /// Too large to hold, and nested deeper than serde_json reads anyway.
    TooDeep,
}

/// What the engines collect besides the [`PageMeta`] fields they fill:
/// `<base href>` values, JSON-LD texts, the `image_src` link, and which
/// fields were cut.
#[derive(Debug, Default)]
pub(crate) struct Found {
    /// `href` of the first few `<base>` elements, trimmed, as written.
    pub(crate) bases: Vec<String>,
    /// JSON-LD blocks in document order.
    pub(crate) json_ld: Vec<JsonLdText>,
    /// `href` of the first `<link rel=image_src>`.
    pub(crate) image_src: Option<String>,
    /// Names of the fields that lost entries, in the order first cut.
    pub(crate) truncated: Vec<&'static str>,
}

impl Found {
    /// Records that `field` lost entries.
    pub(crate) fn cut(&mut self, field: &'static str) {
        if !self.truncated.contains(&field) {
            self.truncated.push(field);
        }
    }

    /// Files a `<base href>` value (the caller paid for it; past the first
    /// few, it is dropped and what it cost given back).
    pub(crate) fn file_base(&mut self, href: String, budget: &mut usize) {
        if self.bases.len() < MAX_BASES {
            self.bases.push(href);
        } else {
            *budget += href.capacity();
        }
    }

    /// Whether another JSON-LD block may be read; if not, records the cut.
    pub(crate) fn wants_json_ld(&mut self) -> bool {
        if self.json_ld.len() < MAX_JSON_LD_BLOCKS {
            true
        } else {
            self.cut("json_ld");
            false
        }
    }
}

/// The relations of a `<link>` that this crate files, from its `rel`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct LinkRel {
    /// `icon`, `apple-touch-icon(-precomposed)`, `mask-icon`, `manifest`.
    pub(crate) icon: bool,
    pub(crate) alternate: bool,
    pub(crate) amphtml: bool,
    pub(crate) image_src: bool,
    /// The tokens, lowercased, joined by one space.
    pub(crate) tokens: String,
}

impl LinkRel {
    /// The relations of `rel` (tokens split on ASCII whitespace, any case),
    /// or `None` when it has none this crate files.
    pub(crate) fn of(rel: &str) -> Option<LinkRel> {
        let mut found = LinkRel::default();
        for token in rel.split(|char: char| char.is_ascii_whitespace()) {
            let is = |name: &str| token.eq_ignore_ascii_case(name);
            if is("icon")
                || is("apple-touch-icon")
                || is("apple-touch-icon-precomposed")
                || is("mask-icon")
                || is("manifest")
            {
                found.icon = true;
            } else if is("alternate") {
                found.alternate = true;
            } else if is("amphtml") {
                found.amphtml = true;
            } else if is("image_src") {
                found.image_src = true;
            }
        }
        if !(found.icon || found.alternate || found.amphtml || found.image_src) {
            return None;
        }
        let mut tokens = String::new();
        for token in rel
            .split(|char: char| char.is_ascii_whitespace())
            .filter(|token| !token.is_empty())
        {
            if !tokens.is_empty() {
                tokens.push(' ');
            }
            tokens.push_str(&token.to_ascii_lowercase());
        }
        found.tokens = tokens;
        Some(found)
    }

    /// The attributes worth reading for these relations.
    pub(crate) fn wants(&self, attribute: &str) -> bool {
        match attribute {
            "href" => true,
            "type" | "title" => self.alternate || self.icon,
            "hreflang" => self.alternate,
            "sizes" | "color" => self.icon,
            _ => false,
        }
    }
}

/// The attributes of a `<link>` that [`file_link`] reads, decoded and paid
/// for by the engine.
#[derive(Debug, Default)]
pub(crate) struct LinkAttrs {
    pub(crate) href: Option<String>,
    pub(crate) kind: Option<String>,
    pub(crate) sizes: Option<String>,
    pub(crate) hreflang: Option<String>,
    pub(crate) title: Option<String>,
    pub(crate) color: Option<String>,
}

/// Takes `bytes` from `budget`, or says the memory cap is reached.
fn take(budget: &mut usize, bytes: usize) -> ControlFlow<End> {
    match budget.checked_sub(bytes) {
        Some(left) => {
            *budget = left;
            ControlFlow::Continue(())
        }
        None => ControlFlow::Break(End::MemoryLimit),
    }
}

/// Files a `<link>` with relations `rel` and attributes `attrs` (whose
/// strings the engine has paid for) as an icon, feed, language alternate,
/// oEmbed link, AMP link or `image_src`. Entries past a field's cap are
/// dropped and the field listed as cut.
pub(crate) fn file_link(
    page: &mut PageMeta,
    found: &mut Found,
    budget: &mut usize,
    rel: &LinkRel,
    attrs: LinkAttrs,
) -> ControlFlow<End> {
    // The engine paid for the relations' tokens and the attributes; what is
    // kept below is copied and paid for again, so those come back.
    *budget += rel.tokens.capacity()
        + [
            &attrs.href,
            &attrs.kind,
            &attrs.sizes,
            &attrs.hreflang,
            &attrs.title,
            &attrs.color,
        ]
        .iter()
        .map(|value| value.as_ref().map_or(0, String::capacity))
        .sum::<usize>();
    let Some(href) = attrs.href.map(|href| {
        href.trim_matches(|char: char| char.is_ascii_whitespace())
            .to_owned()
    }) else {
        return ControlFlow::Continue(());
    };
    let kind = attrs.kind.map(|kind| {
        kind.trim_matches(|char: char| char.is_ascii_whitespace())
            .to_ascii_lowercase()
    });
    if rel.icon {
        if page.icons.len() < MAX_ICONS {
            let strings = [&attrs.sizes, &kind, &attrs.color]
                .iter()
                .map(|value| value.as_ref().map_or(0, String::len))
                .sum::<usize>();
            take(budget, ENTRY_COST + rel.tokens.len() + href.len() + strings)?;
            page.icons.push(Icon {
                href: href.clone(),
                rel: rel.tokens.clone(),
                sizes: attrs.sizes.clone(),
                kind: kind.clone(),
                color: attrs.color.clone(),
            });
        } else {
            found.cut("icons");
        }
    }
    if rel.alternate {
        let kind_is = |name: &str| kind.as_deref() == Some(name);
        if kind_is("application/rss+xml")
            || kind_is("application/atom+xml")
            || kind_is("application/feed+json")
        {
            if page.feeds.len() < MAX_FEEDS {
                take(
                    budget,
                    ENTRY_COST + href.len() + 32 + attrs.title.as_ref().map_or(0, String::len),
                )?;
                page.feeds.push(Feed {
                    href: href.clone(),
                    kind: kind.clone().unwrap_or_default(),
                    title: attrs.title.clone(),
                });
            } else {
                found.cut("feeds");
            }
        } else if kind_is("application/json+oembed") || kind_is("text/xml+oembed") {
            if page.oembed.len() < MAX_OEMBED {
                take(
                    budget,
                    ENTRY_COST + href.len() + 32 + attrs.title.as_ref().map_or(0, String::len),
                )?;
                page.oembed.push(OEmbed {
                    href: href.clone(),
                    kind: kind.clone().unwrap_or_default(),
                    title: attrs.title.clone(),
                });
            } else {
                found.cut("oembed");
            }
        }
        if let Some(hreflang) = attrs.hreflang {
            let hreflang = hreflang
                .trim_matches(|char: char| char.is_ascii_whitespace())
                .to_owned();
            if page.alternates.languages.len() < MAX_LANGUAGES {
                take(budget, ENTRY_COST + href.len() + hreflang.len())?;
                page.alternates.languages.push(LanguageAlternate {
                    hreflang,
                    href: href.clone(),
                });
            } else {
                found.cut("alternates");
            }
        }
    }
    if rel.amphtml && page.alternates.amp.is_none() {
        take(budget, href.len())?;
        page.alternates.amp = Some(href.clone());
    }
    if rel.image_src && found.image_src.is_none() {
        take(budget, href.len())?;
        found.image_src = Some(href);
    }
    ControlFlow::Continue(())
}

/// The base URL links resolve against: the first `<base href>` that
/// resolves against the document URL and is not `javascript:` or `data:`,
/// else the document URL.
fn base_url(bases: &[String], document: Option<&Url>) -> Option<Url> {
    for href in bases {
        let parsed = match document {
            Some(document) => document.join(href),
            None => Url::parse(href),
        };
        if let Ok(url) = parsed
            && !matches!(url.scheme(), "javascript" | "data")
        {
            return Some(url);
        }
    }
    document.cloned()
}

/// Whether `href` is an absolute http(s) URL exactly as `Url` would
/// serialize it, so that parsing it again would change nothing: the common
/// case (`https://cdn.example.com/a.jpg`), found without parsing. Anything
/// unusual (upper case in the scheme or host, a default or odd port, a
/// numeric host not in dotted-decimal form, dot segments, characters the
/// URL Standard percent-encodes, no path) answers `false` and is parsed.
pub(crate) fn is_normal_absolute(href: &str) -> bool {
    let (rest, default_port) = if let Some(rest) = href.strip_prefix("https://") {
        (rest, "443")
    } else if let Some(rest) = href.strip_prefix("http://") {
        (rest, "80")
    } else {
        return false;
    };
    let Some(slash) = rest.find('/') else {
        return false;
    };
    let (authority, path) = rest.split_at(slash);
    let (host, port) = match authority.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    };
    if let Some(port) = port {
        let canonical = !port.is_empty()
            && port.len() <= 5
            && port.bytes().all(|byte| byte.is_ascii_digit())
            && !port.starts_with('0')
            && port.parse::<u32>().is_ok_and(|number| number <= 65535)
            && port != default_port;
        if !canonical {
            return false;
        }
    }
    if host.is_empty() || host.len() > 253 {
        return false;
    }
    let labels_ok = host.split('.').all(|label| {
        !label.is_empty()
            && label
                .bytes()
                .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-')
    });
    if !labels_ok {
        return false;
    }
    // A last label that starts with a digit makes the host an IPv4
    // address to the URL Standard: only the canonical form passes.
    let last = host.rsplit('.').next().unwrap_or(host);
    if last.starts_with(|char: char| char.is_ascii_digit()) {
        let parts: Vec<&str> = host.split('.').collect();
        let canonical = parts.len() == 4
            && parts.iter().all(|part| {
                part.bytes().all(|byte| byte.is_ascii_digit())
                    && (part.len() == 1 || !part.starts_with('0'))
                    && part.parse::<u16>().is_ok_and(|number| number <= 255)
            });
        if !canonical {
            return false;
        }
    }
    // Characters kept as they are in path, query and fragment alike.
    let plain = path.bytes().all(|byte| {
        byte.is_ascii_alphanumeric()
            || matches!(
                byte,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
                    | b':'
                    | b'@'
                    | b'/'
                    | b'?'
                    | b'#'
                    | b'%'
            )
    });
    if !plain {
        return false;
    }
    // Dot segments (also percent-encoded ones) are removed by parsing.
    let path_only = path.split(['?', '#']).next().unwrap_or(path);
    !path_only.split('/').any(|segment| {
        [".", "..", "%2e", ".%2e", "%2e.", "%2e%2e"]
            .iter()
            .any(|dots| segment.eq_ignore_ascii_case(dots))
    })
}

/// `href` made absolute against `base`, as `Url` serializes it; as written
/// when it does not resolve.
fn resolve(base: Option<&Url>, href: &str) -> Option<String> {
    if is_normal_absolute(href) {
        return Some(href.to_owned());
    }
    let url = match base {
        Some(base) => base.join(href),
        None => Url::parse(href),
    };
    url.ok().map(String::from)
}

/// Resolves `href` in place, paying for the difference.
fn resolve_in_place(
    base: Option<&Url>,
    href: &mut String,
    budget: &mut usize,
    found: &mut Found,
    field: &'static str,
) {
    if is_normal_absolute(href) {
        return;
    }
    if let Some(resolved) = resolve(base, href)
        && resolved != *href
    {
        let grows = resolved.len().saturating_sub(href.len());
        if take(budget, grows).is_continue() {
            *budget += href.len().saturating_sub(resolved.len());
            *href = resolved;
        } else {
            found.cut(field);
        }
    }
}

/// The card keys whose items are media (`og:image`…), per prefix.
fn media_kinds(prefix: &str) -> &'static [&'static str] {
    if prefix == "og" {
        &["image", "video", "audio"]
    } else {
        &["image", "player"]
    }
}

/// Structured properties of an item that hold URLs.
fn is_url_property(name: &str) -> bool {
    matches!(name, "url" | "secure_url" | "src" | "stream")
}

/// Files `key` (lowercased, prefix removed) = `value` in `card`.
fn file_card_value(card: &mut Card, prefix: &str, key: &str, value: &str) {
    let (root, sub) = match key.split_once(':') {
        Some((root, sub)) => (root, Some(sub)),
        None => (key, None),
    };
    if media_kinds(prefix).contains(&root) {
        if !card.entries.contains_key(root) {
            card.entries
                .insert(root.to_owned(), CardEntry::Items(Vec::new()));
        }
        let Some(CardEntry::Items(items)) = card.entries.get_mut(root) else {
            return;
        };
        let url_like = matches!(sub, Some("url") | Some("src"));
        let new_item = match sub {
            None => true,
            Some(_) if url_like => items.last().is_none_or(|item| item.contains_key("url")),
            Some(_) => items.is_empty(),
        };
        if new_item {
            items.push(BTreeMap::new());
        }
        let name = match sub {
            None => "url",
            Some(_) if url_like => "url",
            Some(name) => name,
        };
        if let Some(item) = items.last_mut() {
            item.entry(name.to_owned())
                .or_insert_with(|| value.to_owned());
        }
    } else {
        match card.entries.get_mut(key) {
            Some(CardEntry::Values(values)) => values.push(value.to_owned()),
            Some(CardEntry::Items(_)) => {}
            None => {
                card.entries
                    .insert(key.to_owned(), CardEntry::Values(vec![value.to_owned()]));
            }
        }
    }
}

/// The `<meta>` values the preview's chains read, the first of each.
#[derive(Debug, Default)]
struct MetaSources<'a> {
    application_name: Option<&'a str>,
    author: Option<&'a str>,
    date: Option<&'a str>,
    content_language: Option<&'a str>,
    published_time: Option<&'a str>,
    modified_time: Option<&'a str>,
    article_author: Option<&'a str>,
}

/// Builds the cards, robots and description from the metas, and gathers
/// the values the preview reads.
fn read_metas<'a>(
    metas: &'a [crate::page::MetaTag],
    og: &mut Card,
    twitter: &mut Card,
    robots: &mut Vec<String>,
    description: &mut Option<String>,
    budget: &mut usize,
    found: &mut Found,
) -> MetaSources<'a> {
    let mut sources = MetaSources::default();
    let mut og_count = 0;
    let mut twitter_count = 0;
    for meta in metas {
        let Some(content) = meta.get("content") else {
            continue;
        };
        let property = meta.get("property");
        let name = meta.get("name");
        for (index, key) in [property, name].into_iter().enumerate() {
            let Some(key) = key else { continue };
            if index == 1 && property.is_some_and(|property| property.eq_ignore_ascii_case(key)) {
                continue;
            }
            let has_prefix = |prefix: &str| {
                key.get(..prefix.len())
                    .is_some_and(|start| start.eq_ignore_ascii_case(prefix))
            };
            let (card, count, prefix, rest) = if has_prefix("og:") {
                (&mut *og, &mut og_count, "og", &key[3..])
            } else if has_prefix("twitter:") {
                (&mut *twitter, &mut twitter_count, "twitter", &key[8..])
            } else {
                let first = |slot: &mut Option<&'a str>| {
                    slot.get_or_insert(content);
                };
                if key.eq_ignore_ascii_case("article:published_time") {
                    first(&mut sources.published_time);
                } else if key.eq_ignore_ascii_case("article:modified_time") {
                    first(&mut sources.modified_time);
                } else if key.eq_ignore_ascii_case("article:author") {
                    first(&mut sources.article_author);
                }
                continue;
            };
            if *count >= MAX_CARD_VALUES {
                found.cut(prefix);
                continue;
            }
            if take(budget, 4 * size_of::<String>() + key.len() + content.len()).is_break() {
                found.cut(prefix);
                continue;
            }
            *count += 1;
            if rest.bytes().any(|byte| byte.is_ascii_uppercase()) {
                file_card_value(card, prefix, &rest.to_ascii_lowercase(), content);
            } else {
                file_card_value(card, prefix, rest, content);
            }
        }
        if let Some(name) = name {
            let name_is = |wanted: &str| name.eq_ignore_ascii_case(wanted);
            if name_is("description") && description.is_none() {
                if take(budget, content.len()).is_continue() {
                    *description = Some(content.to_owned());
                } else {
                    found.cut("description");
                }
            } else if name_is("robots") {
                for directive in content.split(',') {
                    let directive = directive.trim_matches(|char: char| char.is_ascii_whitespace());
                    if directive.is_empty() {
                        continue;
                    }
                    if robots.len() >= MAX_ROBOTS
                        || take(budget, size_of::<String>() + directive.len()).is_break()
                    {
                        found.cut("robots");
                        break;
                    }
                    robots.push(directive.to_ascii_lowercase());
                }
            } else if name_is("application-name") {
                sources.application_name.get_or_insert(content);
            } else if name_is("author") {
                sources.author.get_or_insert(content);
            } else if name_is("date") {
                sources.date.get_or_insert(content);
            }
        }
        if meta
            .get("http-equiv")
            .is_some_and(|equiv| equiv.eq_ignore_ascii_case("content-language"))
        {
            sources.content_language.get_or_insert(content);
        }
    }
    sources
}

/// Resolves the URLs of a card's items and of its plain `url`.
fn resolve_card(
    card: &mut Card,
    base: Option<&Url>,
    budget: &mut usize,
    found: &mut Found,
    field: &'static str,
) {
    for (key, entry) in &mut card.entries {
        match entry {
            CardEntry::Items(items) => {
                for item in items {
                    for (name, value) in item.iter_mut() {
                        if is_url_property(name) {
                            resolve_in_place(base, value, budget, found, field);
                        }
                    }
                }
            }
            CardEntry::Values(values) if key == "url" => {
                for value in values {
                    resolve_in_place(base, value, budget, found, field);
                }
            }
            CardEntry::Values(_) => {}
        }
    }
}

/// Parses the JSON-LD blocks into `page`, each paid for: its bound before
/// parsing, then what it holds.
fn parse_json_ld(page: &mut PageMeta, found: &mut Found, budget: &mut usize) {
    for (block, text) in std::mem::take(&mut found.json_ld).into_iter().enumerate() {
        let text = match text {
            JsonLdText::Text(text) => text,
            JsonLdText::TooDeep => {
                page.json_ld_errors.push(JsonLdError {
                    block,
                    reason: TOO_DEEP.to_owned(),
                });
                continue;
            }
            JsonLdText::TooLarge(length) => {
                page.json_ld_errors.push(JsonLdError {
                    block,
                    reason: format!(
                        "too large: {length} bytes, more than the memory cap can hold; raise Extractor::memory_limit to read it"
                    ),
                });
                continue;
            }
        };
        let bound = parsed_bound(text.as_bytes());
        let reason = if too_deep(text.as_bytes()) {
            TOO_DEEP.to_owned()
        } else if take(budget, bound).is_break() {
            format!(
                "too large: {} bytes, more than the memory cap can hold once parsed; raise Extractor::memory_limit to read it",
                text.len()
            )
        } else {
            match parse_block(&text) {
                Ok(values) => {
                    let cost: usize = values.iter().map(value_cost).sum::<usize>()
                        + values.len() * size_of::<Value>();
                    *budget += bound.saturating_sub(cost);
                    page.json_ld.extend(values);
                    *budget += text.capacity();
                    continue;
                }
                Err(reason) => {
                    *budget += bound;
                    reason
                }
            }
        };
        *budget += text.capacity();
        page.json_ld_errors.push(JsonLdError { block, reason });
    }
}

/// The JSON-LD nodes in order: top-level objects, the elements of
/// top-level arrays, and the objects of each `@graph`.
fn json_ld_nodes(values: &[Value]) -> Vec<&serde_json::Map<String, Value>> {
    fn walk<'v>(
        value: &'v Value,
        nodes: &mut Vec<&'v serde_json::Map<String, Value>>,
        depth: usize,
    ) {
        match value {
            Value::Array(items) if depth < 2 => {
                for item in items {
                    walk(item, nodes, depth + 1);
                }
            }
            Value::Object(map) => {
                nodes.push(map);
                if let Some(graph) = map.get("@graph")
                    && depth < 2
                {
                    walk(graph, nodes, depth + 1);
                }
            }
            _ => {}
        }
    }
    let mut nodes = Vec::new();
    for value in values {
        walk(value, &mut nodes, 0);
    }
    nodes
}

/// Types of nodes that describe the site or its parts rather than the page.
const SUPPORTING_TYPES: [&str; 12] = [
    "WebSite",
    "Organization",
    "NewsMediaOrganization",
    "BreadcrumbList",
    "ListItem",
    "Person",
    "ImageObject",
    "SearchAction",
    "SiteNavigationElement",
    "WPHeader",
    "WPFooter",
    "Brand",
];

/// A node's `@type`, the first when it is a list.
fn node_type(node: &serde_json::Map<String, Value>) -> Option<&str> {
    match node.get("@type")? {
        Value::String(kind) => Some(kind),
        Value::Array(kinds) => kinds.first()?.as_str(),
        _ => None,
    }
}

/// The JSON-LD node the preview reads: the first with a `headline`, else
/// the first whose type is not one of [`SUPPORTING_TYPES`].
fn main_node<'v>(
    nodes: &[&'v serde_json::Map<String, Value>],
) -> Option<&'v serde_json::Map<String, Value>> {
    nodes
        .iter()
        .find(|node| node.contains_key("headline"))
        .or_else(|| {
            nodes
                .iter()
                .find(|node| node_type(node).is_none_or(|kind| !SUPPORTING_TYPES.contains(&kind)))
        })
        .copied()
}

/// A text value: a string, or (for an object) its `name`, or (for a list)
/// its first element's; `key` is `name` or `url`.
fn text_of<'v>(value: &'v Value, key: &str) -> Option<&'v str> {
    match value {
        Value::String(text) => Some(text),
        Value::Object(map) => match map.get(key) {
            Some(Value::String(text)) => Some(text),
            _ if key == "url" => map.get("contentUrl").and_then(Value::as_str),
            _ => None,
        },
        Value::Array(items) => items.first().and_then(|first| match first {
            Value::Array(_) => None,
            value => text_of(value, key),
        }),
        _ => None,
    }
}

/// A date as RFC 3339 (`YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`) when it is
/// an ISO 8601 date-time with an offset (`T` or a space between, seconds
/// optional, `±HHMM` or `±HH` offsets accepted); else as written, trimmed.
pub(crate) fn normalize_date(text: &str) -> String {
    let text = text.trim();
    rfc3339(text).unwrap_or_else(|| text.to_owned())
}

fn rfc3339(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        let part = bytes.get(range)?;
        if part.iter().all(u8::is_ascii_digit) {
            std::str::from_utf8(part).ok()?.parse().ok()
        } else {
            None
        }
    };
    let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    if bytes.get(4) != Some(&b'-') || bytes.get(7) != Some(&b'-') {
        return None;
    }
    if !matches!(bytes.get(10), Some(b'T' | b't' | b' ')) {
        return None;
    }
    let (hour, minute) = (digits(11..13)?, digits(14..16)?);
    if bytes.get(13) != Some(&b':') {
        return None;
    }
    let mut at = 16;
    let mut second = 0;
    if bytes.get(at) == Some(&b':') {
        second = digits(17..19)?;
        at = 19;
    }
    let mut fraction = "";
    if bytes.get(at) == Some(&b'.') {
        let length = bytes[at + 1..]
            .iter()
            .take_while(|byte| byte.is_ascii_digit())
            .count();
        if length == 0 {
            return None;
        }
        fraction = &text[at..at + 1 + length];
        at += 1 + length;
    }
    let offset = match bytes.get(at..)? {
        b"Z" | b"z" => "Z".to_owned(),
        [sign @ (b'+' | b'-'), rest @ ..] => {
            let (hours, minutes) = match rest {
                [h1, h2] => ([*h1, *h2], [b'0', b'0']),
                [h1, h2, m1, m2] => ([*h1, *h2], [*m1, *m2]),
                [h1, h2, b':', m1, m2] => ([*h1, *h2], [*m1, *m2]),
                _ => return None,
            };
            if !hours.iter().chain(&minutes).all(u8::is_ascii_digit) {
                return None;
            }
            let hours = std::str::from_utf8(&hours).ok()?;
            let minutes = std::str::from_utf8(&minutes).ok()?;
            if hours > "23" || minutes > "59" {
                return None;
            }
            format!("{}{hours}:{minutes}", char::from(*sign))
        }
        _ => return None,
    };
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if day == 0 || day > days || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    Some(format!(
        "{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}{fraction}{offset}"
    ))
}

/// How good an icon is for a preview: its largest declared size (`any`,
/// a scalable icon, counts as the largest), an `apple-touch-icon` without
/// sizes as 180; `mask-icon` and `manifest` are not candidates.
fn icon_score(icon: &Icon) -> Option<u32> {
    let rel_has = |name: &str| icon.rel.split(' ').any(|token| token == name);
    if rel_has("manifest") && !rel_has("icon") || rel_has("mask-icon") && !rel_has("icon") {
        return None;
    }
    let declared = icon.sizes.as_deref().and_then(|sizes| {
        sizes
            .split(|char: char| char.is_ascii_whitespace())
            .filter_map(|size| {
                if size.eq_ignore_ascii_case("any") {
                    return Some(u32::MAX);
                }
                let (width, height) = size.split_once(['x', 'X'])?;
                Some(width.parse::<u32>().ok()?.max(height.parse::<u32>().ok()?))
            })
            .max()
    });
    Some(declared.unwrap_or(
        if rel_has("apple-touch-icon") || rel_has("apple-touch-icon-precomposed") {
            180
        } else {
            0
        },
    ))
}

/// Finishes a page: parses JSON-LD, builds the cards and robots from the
/// metas, resolves every URL of the new fields against the base URL, and
/// fills the preview. Whatever does not fit `budget` is left out and its
/// field listed in [`PageMeta::capped`].
pub(crate) fn finish(
    page: &mut PageMeta,
    mut found: Found,
    document: Option<&Url>,
    budget: &mut usize,
) {
    parse_json_ld(page, &mut found, budget);
    let mut og = Card::default();
    let mut twitter = Card::default();
    let mut robots = Vec::new();
    let mut description = None;
    let metas = std::mem::take(&mut page.meta);
    let sources = read_metas(
        &metas,
        &mut og,
        &mut twitter,
        &mut robots,
        &mut description,
        budget,
        &mut found,
    );
    let base = base_url(&found.bases, document);
    let base = base.as_ref();
    resolve_card(&mut og, base, budget, &mut found, "og");
    resolve_card(&mut twitter, base, budget, &mut found, "twitter");
    for icon in &mut page.icons {
        resolve_in_place(base, &mut icon.href, budget, &mut found, "icons");
    }
    for feed in &mut page.feeds {
        resolve_in_place(base, &mut feed.href, budget, &mut found, "feeds");
    }
    for link in &mut page.oembed {
        resolve_in_place(base, &mut link.href, budget, &mut found, "oembed");
    }
    for language in &mut page.alternates.languages {
        resolve_in_place(base, &mut language.href, budget, &mut found, "alternates");
    }
    if let Some(amp) = &mut page.alternates.amp {
        resolve_in_place(base, amp, budget, &mut found, "alternates");
    }

    let nodes = json_ld_nodes(&page.json_ld);
    let main = main_node(&nodes);
    let from_main = |key: &str, inner: &str| {
        main.and_then(|node| node.get(key))
            .and_then(|value| text_of(value, inner))
    };
    let og_image = og
        .items("image")
        .first()
        .and_then(|item| item.get("url").or_else(|| item.get("secure_url")));
    let twitter_image = twitter
        .items("image")
        .first()
        .and_then(|item| item.get("url"));
    let image = og_image
        .map(String::as_str)
        .or(twitter_image.map(String::as_str))
        .or_else(|| from_main("image", "url"))
        .or(found.image_src.as_deref());
    let canonical = page.canonical.as_deref();
    let preview = Preview {
        title: og
            .first("title")
            .or(twitter.first("title"))
            .or_else(|| from_main("headline", "name"))
            .or_else(|| from_main("name", "name"))
            .or(page.title.as_deref())
            .map(str::to_owned),
        description: og
            .first("description")
            .or(twitter.first("description"))
            .or(description.as_deref())
            .or_else(|| from_main("description", "name"))
            .map(str::to_owned),
        image: image.map(|image| resolve(base, image).unwrap_or_else(|| image.to_owned())),
        url: canonical
            .or(og.first("url"))
            .map(|url| resolve(base, url).unwrap_or_else(|| url.to_owned()))
            .or_else(|| document.map(Url::to_string)),
        site_name: og
            .first("site_name")
            .or(sources.application_name)
            .or_else(|| from_main("publisher", "name"))
            .map(str::to_owned),
        kind: og
            .first("type")
            .or_else(|| main.and_then(node_type))
            .map(str::to_owned),
        author: sources
            .author
            .or(sources.article_author)
            .or_else(|| from_main("author", "name"))
            .or(twitter.first("creator"))
            .map(str::to_owned),
        published: sources
            .published_time
            .or_else(|| from_main("datePublished", "name"))
            .or(sources.date)
            .map(normalize_date),
        modified: sources
            .modified_time
            .or(og.first("updated_time"))
            .or_else(|| from_main("dateModified", "name"))
            .map(normalize_date),
        lang: page
            .lang
            .as_deref()
            .or(sources.content_language)
            .or_else(|| from_main("inLanguage", "name"))
            .map(str::to_owned)
            .or_else(|| og.first("locale").map(|locale| locale.replace('_', "-"))),
        locale: og.first("locale").map(str::to_owned),
        icon: page
            .icons
            .iter()
            .filter_map(|icon| Some((icon_score(icon)?, icon)))
            .fold(
                None,
                |best: Option<(u32, &Icon)>, (score, icon)| match best {
                    Some((best_score, _)) if best_score >= score => best,
                    _ => Some((score, icon)),
                },
            )
            .map(|(_, icon)| icon.href.clone())
            .or_else(|| {
                document
                    .filter(|url| matches!(url.scheme(), "http" | "https"))
                    .and_then(|url| url.join("/favicon.ico").ok())
                    .map(String::from)
            }),
    };
    drop(nodes);
    let preview_cost = [
        &preview.title,
        &preview.description,
        &preview.image,
        &preview.url,
        &preview.site_name,
        &preview.kind,
        &preview.author,
        &preview.published,
        &preview.modified,
        &preview.lang,
        &preview.locale,
        &preview.icon,
    ]
    .iter()
    .map(|field| field.as_ref().map_or(0, String::len))
    .sum::<usize>();
    if take(budget, preview_cost).is_continue() {
        page.preview = preview;
    } else {
        found.cut("preview");
    }
    page.meta = metas;
    page.og = og;
    page.twitter = twitter;
    page.robots = robots;
    if page.description.is_none() {
        page.description = description;
    }
    page.capped = found
        .truncated
        .iter()
        .map(|field| (*field).to_owned())
        .collect();
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use url::Url;

    use super::is_normal_absolute;

    /// The fast path claims only what `Url` would write the same.
    fn agrees(href: &str) -> Result<(), TestCaseError> {
        if is_normal_absolute(href) {
            let parsed = Url::parse(href).map(String::from);
            prop_assert_eq!(parsed.as_deref(), Ok(href));
        }
        Ok(())
    }

    #[test]
    fn the_fast_path_takes_the_common_urls_and_only_normal_ones() {
        for href in [
            "https://cdn.example.com/img/a-1200x630.jpg",
            "http://127.0.0.1:8080/page/7",
            "https://example.com/?q=a&b=c#top",
            "https://xn--bcher-kva.example/",
        ] {
            assert!(is_normal_absolute(href), "{href}");
            agrees(href).unwrap();
        }
        for href in [
            "HTTPS://example.com/",
            "https://Example.com/",
            "https://example.com",
            "https://example.com:443/",
            "http://example.com:80/",
            "https://example.com:0443/",
            "http://127.1/",
            "http://0x7f.0.0.1/",
            "http://010.0.0.1/",
            "https://example.com/a/../b",
            "https://example.com/a/%2E/b",
            "https://example.com/a b",
            "https://example.com/it's",
            "https://user@example.com/",
            "https://example.com./",
            "https://[::1]/",
            "//example.com/a",
            "/a",
            "javascript:x",
        ] {
            assert!(!is_normal_absolute(href), "{href}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        #[test]
        fn the_fast_path_agrees_with_the_url_crate(
            href in "https?://[a-zA-Z0-9.:\\-]{0,12}(/[a-zA-Z0-9.%2eE_~!$&'()*+,;=:@/?#\\[\\] -]{0,16})?"
        ) {
            agrees(&href)?;
        }
    }
}

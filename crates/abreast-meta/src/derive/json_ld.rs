//! JSON-LD in the page: the blocks the engines collected, parsed within
//! the memory cap (the parsing itself is [`crate::jsonld`]'s), each failure
//! kept with its reason; and the main node, the one node the preview reads,
//! with the text of its values.

use serde_json::Value;

use super::{Found, take};
use crate::jsonld::{TOO_DEEP, parse_block, parsed_bound, too_deep, value_cost};
use crate::page::{JsonLdError, PageMeta};

/// The text of one JSON-LD block, or its length when the memory cap could
/// not hold it.
#[derive(Debug)]
pub(crate) enum JsonLdText {
    Text(String),
    TooLarge(usize),
    /// Too large to hold, and nested deeper than serde_json reads anyway.
    TooDeep,
}

/// Parses the JSON-LD blocks into `page`, each paid for: its bound before
/// parsing, then what it holds.
pub(super) fn parse_json_ld(page: &mut PageMeta, found: &mut Found, budget: &mut usize) {
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
pub(super) fn json_ld_nodes(values: &[Value]) -> Vec<&serde_json::Map<String, Value>> {
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
pub(super) fn node_type(node: &serde_json::Map<String, Value>) -> Option<&str> {
    match node.get("@type")? {
        Value::String(kind) => Some(kind),
        Value::Array(kinds) => kinds.first()?.as_str(),
        _ => None,
    }
}

/// The JSON-LD node the preview reads: the first with a `headline`, else
/// the first whose type is not one of [`SUPPORTING_TYPES`].
pub(super) fn main_node<'v>(
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
pub(super) fn text_of<'v>(value: &'v Value, key: &str) -> Option<&'v str> {
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

//! The `<meta>` tags read for what they mean: OpenGraph and Twitter
//! properties filed into cards (media as items, structured properties
//! attached to their item), robots directives, the description, and the
//! values the preview reads; and the URLs in the cards resolved.

use std::collections::BTreeMap;

use url::Url;

use super::links::resolve_in_place;
use super::{Found, MAX_CARD_VALUES, MAX_ROBOTS, take};
use crate::page::{Card, CardEntry};

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
pub(super) struct MetaSources<'a> {
    pub(super) application_name: Option<&'a str>,
    pub(super) author: Option<&'a str>,
    pub(super) date: Option<&'a str>,
    pub(super) content_language: Option<&'a str>,
    pub(super) published_time: Option<&'a str>,
    pub(super) modified_time: Option<&'a str>,
    pub(super) article_author: Option<&'a str>,
}

/// Builds the cards, robots and description from the metas, and gathers
/// the values the preview reads.
pub(super) fn read_metas<'a>(
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
pub(super) fn resolve_card(
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

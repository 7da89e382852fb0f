//! The preview: one title, description, image, URL, site name, type,
//! author, dates, language, locale and icon for a link preview or an index,
//! each the first value found along its chain: the OpenGraph and Twitter
//! cards, the `<meta>` values the preview reads, JSON-LD's main node, and
//! the page's own elements (`<title>`, `lang`, icons, `image_src`). The
//! chains are listed on [`Preview`]'s fields.

use url::Url;

use super::Found;
use super::cards::MetaSources;
use super::dates::normalize_date;
use super::icons::preview_icon;
use super::json_ld::{json_ld_nodes, main_node, node_type, text_of};
use super::links::resolve;
use crate::page::{PageMeta, Preview};

/// The page's preview: each field the first value found along its chain
/// of sources (the cards, the `<meta>` values in `sources`, JSON-LD's main
/// node, the page's own elements), URLs resolved against `base`.
pub(super) fn build(
    page: &PageMeta,
    description: Option<&str>,
    sources: &MetaSources<'_>,
    found: &Found,
    base: Option<&Url>,
    document: Option<&Url>,
) -> Preview {
    let (og, twitter) = (&page.og, &page.twitter);
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
    Preview {
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
            .or(description)
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
        icon: preview_icon(&page.icons, document),
    }
}

/// What the preview's strings cost against the memory cap.
pub(super) fn cost(preview: &Preview) -> usize {
    [
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
    .sum::<usize>()
}

//! What the collected elements mean: link relations filed as icons, feeds,
//! alternates and oEmbed links; `<meta>` properties made into OpenGraph and
//! Twitter cards and robots directives; JSON-LD blocks parsed; every URL
//! resolved against the document's base URL; and the preview's chains.
//! Both engines (the tokenizer and the lol_html oracle) collect into
//! [`Found`] and a [`PageMeta`], and finish through [`finish`], so they
//! differ only in what they read.
//!
//! This module holds what the engines collect ([`Found`]), the caps, and
//! [`finish`], which takes the steps in order; each concern has a file:
//! `links` (`<link>` relations filed, and every URL resolved), `cards`
//! (OpenGraph and Twitter cards, robots, the `<meta>` values the preview
//! reads), `json_ld` (the blocks parsed, and the main node), `dates`,
//! `icons` (which icon the preview shows) and `preview` (the chains).

use std::ops::ControlFlow;

use url::Url;

use crate::page::{Card, End, PageMeta};

mod cards;
mod dates;
mod icons;
mod json_ld;
mod links;
mod preview;

use cards::{read_metas, resolve_card};
pub(crate) use json_ld::JsonLdText;
use json_ld::parse_json_ld;
pub(crate) use links::{LinkAttrs, LinkRel, file_link};
use links::{base_url, resolve_in_place};

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

    // The preview reads the cards where the page keeps them.
    page.og = og;
    page.twitter = twitter;
    let preview = preview::build(
        page,
        description.as_deref(),
        &sources,
        &found,
        base,
        document,
    );
    if take(budget, preview::cost(&preview)).is_continue() {
        page.preview = preview;
    } else {
        found.cut("preview");
    }
    page.meta = metas;
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

//! Which icon a preview shows: each `<link>` icon scored by its declared
//! size and kind, the best one kept, and `/favicon.ico` when the page
//! declares none. Filing the icon links themselves is `links`' work.

use url::Url;

use crate::page::Icon;

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

/// The icon a preview shows: the best of `icons` by [`icon_score`] (the
/// first of equals), else `/favicon.ico` at the document's origin when it
/// is http(s).
pub(super) fn preview_icon(icons: &[Icon], document: Option<&Url>) -> Option<String> {
    icons
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
        })
}

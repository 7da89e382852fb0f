//! `<link>` elements filed by relation (icons, feeds, `hreflang`
//! alternates, oEmbed and AMP links, `image_src`), each field within its
//! cap; and URLs: the base URL links resolve against, and every URL made
//! absolute, with a fast path for those already in the form `Url` writes.

use std::ops::ControlFlow;

use url::Url;

use super::{ENTRY_COST, Found, MAX_FEEDS, MAX_ICONS, MAX_LANGUAGES, MAX_OEMBED, take};
use crate::page::{End, Feed, Icon, LanguageAlternate, OEmbed, PageMeta};

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
pub(super) fn base_url(bases: &[String], document: Option<&Url>) -> Option<Url> {
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
pub(super) fn resolve(base: Option<&Url>, href: &str) -> Option<String> {
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
pub(super) fn resolve_in_place(
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

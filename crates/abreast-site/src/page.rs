//! The synthetic pages behind `/page/N`: valid HTML5 with a realistic head (a dozen meta tags,
//! OpenGraph and Twitter cards, a canonical link, JSON-LD) and a body of paragraphs and links,
//! padded to exactly the configured size.
//!
//! Serving must be cheap, so the expensive part is built once: a pool of filler paragraphs
//! (deterministic from the seed) that every page shows a window of. A page is three pieces: its
//! head (rendered per request, about a kilobyte), a zero-copy slice of the pool, and a short tail
//! that pads to the exact size. [`page_html`] joins the same pieces, so tests can compute any
//! page without a server.

use bytes::Bytes;

use crate::config::{SiteConfig, mix};
use crate::error::SiteError;

/// Pages at least this large carry every feature: JSON-LD, a style block, scripts, navigation
/// and the decoy `<meta name="decoy">` tags inside a script string and an HTML comment.
/// Smaller pages keep the whole head of meta tags and drop those extras, so that a 1 KiB page
/// is possible; [`Site::start`](crate::Site::start) refuses a size that cannot hold the head.
pub const FULL_PAGE_SIZE: usize = 2048;

/// Topics that vary the title, description and keywords from page to page.
const TOPICS: [&str; 12] = [
    "thread pools",
    "coroutines",
    "process pools",
    "bounded queues",
    "backpressure",
    "work stealing",
    "cancellation",
    "timeouts",
    "retries",
    "rate limits",
    "connection reuse",
    "graceful shutdown",
];

/// Words of the filler paragraphs.
const WORDS: [&str; 48] = [
    "the",
    "a",
    "of",
    "and",
    "to",
    "in",
    "is",
    "that",
    "for",
    "with",
    "as",
    "on",
    "worker",
    "task",
    "queue",
    "future",
    "thread",
    "process",
    "request",
    "response",
    "page",
    "header",
    "socket",
    "buffer",
    "latency",
    "throughput",
    "scheduler",
    "runtime",
    "channel",
    "result",
    "error",
    "timeout",
    "retry",
    "limit",
    "memory",
    "cache",
    "stream",
    "batch",
    "window",
    "signal",
    "measure",
    "wait",
    "run",
    "fetch",
    "parse",
    "join",
    "spawn",
    "yield",
];

/// Bytes of filler paragraphs that page windows start in; pages start at different paragraphs
/// of this cycle, so neighbouring pages read differently.
const FILLER_CYCLE_BYTES: usize = 16 * 1024;

/// The three pieces of one page; their concatenation is exactly the page size.
#[derive(Debug)]
pub(crate) struct PageParts {
    /// Everything before the filler: doctype, head, the body's opening.
    pub(crate) head: Bytes,
    /// A window of the shared filler pool (a zero-copy slice).
    pub(crate) filler: Bytes,
    /// Padding to the exact size, then the closing tags.
    pub(crate) tail: Bytes,
}

impl PageParts {
    /// The whole page as one buffer.
    pub(crate) fn concat(&self) -> Vec<u8> {
        let mut page = Vec::with_capacity(self.head.len() + self.filler.len() + self.tail.len());
        page.extend_from_slice(&self.head);
        page.extend_from_slice(&self.filler);
        page.extend_from_slice(&self.tail);
        page
    }
}

/// Everything needed to render any page of one site quickly: built once per site.
#[derive(Debug)]
pub(crate) struct PageSet {
    base_url: String,
    pages: u64,
    page_size: usize,
    seed: u64,
    full: bool,
    /// Filler paragraphs, at least `FILLER_CYCLE_BYTES + page_size` long.
    pool: Bytes,
    /// Offsets in `pool` where a paragraph starts (and the pool's end).
    boundaries: Vec<usize>,
    /// How many of `boundaries` a page window may start at.
    cycle_paragraphs: usize,
    /// Plain words for the final, cut-to-size paragraph.
    pad_text: String,
}

impl PageSet {
    /// Builds the filler pool and checks that the page with the longest number fits the size.
    pub(crate) fn new(config: &SiteConfig, base_url: &str) -> Result<Self, SiteError> {
        let full = config.page_size >= FULL_PAGE_SIZE;
        let mut pool = String::new();
        let mut boundaries = vec![0];
        let mut cycle_paragraphs = 0;
        let mut paragraph = 0u64;
        while pool.len() < FILLER_CYCLE_BYTES + config.page_size {
            write_paragraph(&mut pool, config.seed, paragraph, config.pages);
            boundaries.push(pool.len());
            if pool.len() <= FILLER_CYCLE_BYTES {
                cycle_paragraphs += 1;
            }
            paragraph += 1;
        }
        let longest_paragraph = boundaries
            .windows(2)
            .map(|pair| pair[1] - pair[0])
            .max()
            .unwrap_or(0);
        let mut pad_text = String::new();
        let mut word = 0u64;
        while pad_text.len() < longest_paragraph + 16 {
            pad_text.push_str(WORDS[(mix(config.seed ^ 0xFEED ^ word) % 48) as usize]);
            pad_text.push(' ');
            word += 1;
        }
        let set = Self {
            base_url: base_url.to_owned(),
            pages: config.pages,
            page_size: config.page_size,
            seed: config.seed,
            full,
            pool: Bytes::from(pool),
            boundaries,
            cycle_paragraphs: cycle_paragraphs.max(1),
            pad_text,
        };
        let longest = config.pages.saturating_sub(1);
        set.parts(longest)?;
        Ok(set)
    }

    /// The pieces of page `n`, or an error if its head does not fit the page size.
    pub(crate) fn parts(&self, n: u64) -> Result<PageParts, SiteError> {
        let mut head = String::with_capacity(if self.full { 2048 } else { 1024 });
        self.write_head(&mut head, n);
        let closing = self.closing(n);
        let core = head.len() + closing.len();
        let Some(filler_len) = self.page_size.checked_sub(core) else {
            return Err(SiteError::PageTooSmall {
                page_size: self.page_size,
                page: n,
                needed: core,
            });
        };
        let start_index = (mix(self.seed ^ mix(n)) % self.cycle_paragraphs as u64) as usize;
        let start = self.boundaries[start_index];
        // The last whole paragraph that fits, then one cut-to-size paragraph or whitespace.
        let limit = start + filler_len;
        let end_index = match self.boundaries.binary_search(&limit) {
            Ok(index) => index,
            Err(index) => index - 1,
        };
        let end = self.boundaries[end_index].max(start);
        let remainder = filler_len - (end - start);
        let mut tail = String::with_capacity(remainder + closing.len());
        const EMPTY_PARAGRAPH: usize = "<p></p>\n".len();
        if remainder > EMPTY_PARAGRAPH {
            tail.push_str("<p>");
            tail.push_str(&self.pad_text[..remainder - EMPTY_PARAGRAPH]);
            tail.push_str("</p>\n");
        } else {
            tail.extend(std::iter::repeat_n('\n', remainder));
        }
        tail.push_str(&closing);
        Ok(PageParts {
            head: Bytes::from(head),
            filler: self.pool.slice(start..end),
            tail: Bytes::from(tail),
        })
    }

    fn write_head(&self, out: &mut String, n: u64) {
        let number = n.to_string();
        let number = number.as_str();
        let base = self.base_url.as_str();
        let topic = TOPICS[(mix(self.seed ^ n) % TOPICS.len() as u64) as usize];
        let description = [
            "Page ",
            number,
            " of the abreast test site, on ",
            topic,
            ".",
        ];
        out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
        out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
        push_all(out, &["<title>Page ", number, "</title>\n"]);
        out.push_str("<meta name=\"description\" content=\"");
        push_all(out, &description);
        push_all(
            out,
            &[
                "\">\n<meta name=\"keywords\" content=\"abreast, ",
                topic,
                ", page ",
                number,
                "\">\n",
            ],
        );
        if self.full {
            out.push_str("<meta name=\"author\" content=\"The abreast developers\">\n");
            out.push_str("<meta name=\"robots\" content=\"index, follow\">\n");
            out.push_str("<meta name=\"generator\" content=\"abreast-site\">\n");
            out.push_str("<meta name=\"theme-color\" content=\"#336699\">\n");
        }
        push_all(
            out,
            &[
                "<meta property=\"og:title\" content=\"Page ",
                number,
                "\">\n",
            ],
        );
        out.push_str("<meta property=\"og:description\" content=\"");
        push_all(out, &description);
        out.push_str("\">\n<meta property=\"og:type\" content=\"article\">\n");
        push_all(
            out,
            &[
                "<meta property=\"og:url\" content=\"",
                base,
                "/page/",
                number,
                "\">\n",
            ],
        );
        push_all(
            out,
            &[
                "<meta property=\"og:image\" content=\"",
                base,
                "/images/",
                number,
                ".png\">\n",
            ],
        );
        if self.full {
            out.push_str("<meta property=\"og:site_name\" content=\"abreast test site\">\n");
        }
        out.push_str("<meta name=\"twitter:card\" content=\"summary\">\n");
        push_all(
            out,
            &[
                "<meta name=\"twitter:title\" content=\"Page ",
                number,
                "\">\n",
            ],
        );
        push_all(
            out,
            &[
                "<link rel=\"canonical\" href=\"",
                base,
                "/page/",
                number,
                "\">\n",
            ],
        );
        if self.full {
            out.push_str("<script type=\"application/ld+json\">{\"@context\":\"https://schema.org\",\"@type\":\"Article\",\"headline\":\"Page ");
            push_all(
                out,
                &[
                    number,
                    "\",\"url\":\"",
                    base,
                    "/page/",
                    number,
                    "\",\"about\":\"",
                    topic,
                    "\"}</script>\n",
                ],
            );
            out.push_str("<style>body{font-family:sans-serif;max-width:42em;margin:auto}p{line-height:1.5}</style>\n");
            out.push_str("<script>var template = '<meta name=\"decoy\" content=\"inside a script string\">';</script>\n");
            out.push_str("<!-- <meta name=\"decoy\" content=\"inside a comment\"> -->\n");
        }
        out.push_str("</head>\n<body>\n");
        if self.full {
            let next = if self.pages == 0 {
                0
            } else {
                (n + 1) % self.pages
            };
            push_all(
                out,
                &[
                    "<header><nav><a href=\"/\">Home</a> <a href=\"/page/",
                    &next.to_string(),
                    "\">Next page</a></nav></header>\n<main>\n<article>\n",
                ],
            );
        }
        push_all(out, &["<h1>Page ", number, "</h1>\n"]);
    }

    fn closing(&self, n: u64) -> String {
        if self.full {
            format!(
                "</article>\n</main>\n<footer><p>The abreast test site.</p></footer>\n\
                 <script>document.documentElement.dataset.page = \"{n}\";</script>\n</body>\n</html>\n"
            )
        } else {
            "</body>\n</html>\n".to_owned()
        }
    }
}

fn push_all(out: &mut String, pieces: &[&str]) {
    for piece in pieces {
        out.push_str(piece);
    }
}

/// Appends filler paragraph number `index`: 30 to 80 words, most with a link to another page.
fn write_paragraph(out: &mut String, seed: u64, index: u64, pages: u64) {
    let state = mix(seed ^ mix(index ^ 0xF111E5));
    let words = 30 + state % 51;
    let link_at = if pages > 0 && !state.is_multiple_of(4) {
        Some(state % words)
    } else {
        None
    };
    out.push_str("<p>");
    for word in 0..words {
        if word > 0 {
            out.push(' ');
        }
        if Some(word) == link_at {
            let target = mix(state ^ word) % pages;
            out.push_str(&format!("<a href=\"/page/{target}\">page {target}</a>"));
        } else {
            let pick = mix(state ^ word.wrapping_mul(0x9E37)) % WORDS.len() as u64;
            out.push_str(WORDS[pick as usize]);
        }
    }
    out.push_str(".</p>\n");
}

/// The body of `/page/N` exactly as a site with this configuration serves it at `base_url`
/// (for example `"http://127.0.0.1:8080"`, as [`RunningSite::base_url`](crate::RunningSite::base_url)
/// returns): tests compute the expected title, metas and bytes without a server.
///
/// Page `n` has the title `Page n`, the description `Page n of the abreast test site, on
/// <topic>.`, and a canonical link to `{base_url}/page/n`. Each call builds the filler pool
/// anew; a running site builds it once.
///
/// ```
/// use abreast_site::{SiteConfig, page_html};
/// let config = SiteConfig::default().page_size(4096);
/// let page = page_html(&config, "http://127.0.0.1:8080", 7).unwrap();
/// assert_eq!(page.len(), 4096);
/// let text = String::from_utf8(page).unwrap();
/// assert!(text.contains("<title>Page 7</title>"));
/// assert!(text.contains(r#"<link rel="canonical" href="http://127.0.0.1:8080/page/7">"#));
/// ```
pub fn page_html(config: &SiteConfig, base_url: &str, n: u64) -> Result<Vec<u8>, SiteError> {
    let set = PageSet::new(config, base_url)?;
    Ok(set.parts(n)?.concat())
}

/// Writes pages `0..config.pages` to `dir/page/0`, `dir/page/1`, … (creating `dir/page`), each
/// exactly the bytes a site with this configuration serves at `base_url` (the canonical link
/// names `{base_url}/page/N`, so give the URL the files will be served under). Any web server can
/// then serve the test site's pages (as `text/html; charset=utf-8`: the files have no
/// extension). Returns the number of bytes written.
///
/// ```
/// use abreast_site::{SiteConfig, export_pages, page_html};
/// let dir = std::env::temp_dir().join(format!("abreast-site-doc-{}", std::process::id()));
/// let config = SiteConfig::default().pages(3).page_size(4096);
/// assert_eq!(export_pages(&config, "http://127.0.0.1:8080/", &dir).unwrap(), 3 * 4096);
/// let page = std::fs::read(dir.join("page/2")).unwrap();
/// assert_eq!(page, page_html(&config, "http://127.0.0.1:8080", 2).unwrap());
/// std::fs::remove_dir_all(&dir).unwrap();
/// ```
///
/// # Errors
///
/// [`SiteError::PageTooSmall`] when the page size cannot hold a page's head, and
/// [`SiteError::Export`] when a file cannot be written.
pub fn export_pages(
    config: &SiteConfig,
    base_url: &str,
    dir: &std::path::Path,
) -> Result<u64, SiteError> {
    let base_url = base_url.trim_end_matches('/');
    let set = PageSet::new(config, base_url)?;
    let folder = dir.join("page");
    let failed = |path: &std::path::Path| {
        let path = path.to_owned();
        move |source| SiteError::Export { path, source }
    };
    std::fs::create_dir_all(&folder).map_err(failed(&folder))?;
    let mut written = 0;
    for n in 0..config.pages {
        let path = folder.join(n.to_string());
        let page = set.parts(n)?.concat();
        std::fs::write(&path, &page).map_err(failed(&path))?;
        written += page.len() as u64;
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "http://127.0.0.1:65535";

    #[test]
    fn every_page_is_exactly_the_size_and_ends_properly() {
        for page_size in [1024, 1500, 2047, 2048, 3000, 64 * 1024, 100_000] {
            let config = SiteConfig::default().page_size(page_size).pages(10_000);
            let set = PageSet::new(&config, BASE).unwrap();
            for n in [0, 1, 9, 10, 99, 123, 9_999] {
                let page = set.parts(n).unwrap().concat();
                assert_eq!(page.len(), page_size, "page {n} of size {page_size}");
                let text = std::str::from_utf8(&page).unwrap();
                assert!(text.ends_with("</body>\n</html>\n"));
                assert!(text.contains(&format!("<title>Page {n}</title>")));
            }
        }
    }

    #[test]
    fn a_one_kib_page_fits_for_a_million_pages() {
        let config = SiteConfig::default().page_size(1024).pages(1_000_000);
        assert!(PageSet::new(&config, BASE).is_ok());
    }

    #[test]
    fn the_full_head_fits_the_full_size_for_any_number() {
        let config = SiteConfig::default()
            .page_size(FULL_PAGE_SIZE)
            .pages(u64::MAX);
        for base in [BASE, "http://[::1]:65535"] {
            let result = PageSet::new(&config, base);
            assert!(result.is_ok(), "{result:?}");
        }
    }

    #[test]
    fn too_small_a_page_is_refused_with_the_size_needed() {
        let config = SiteConfig::default().page_size(300);
        let error = PageSet::new(&config, BASE).unwrap_err();
        assert!(matches!(error, SiteError::PageTooSmall { needed, .. } if needed > 300));
    }

    #[test]
    fn full_pages_carry_decoys_and_json_ld_small_ones_do_not() {
        let full = page_html(&SiteConfig::default(), BASE, 5).unwrap();
        let full = String::from_utf8(full).unwrap();
        assert!(full.contains("application/ld+json"));
        assert_eq!(full.matches("name=\"decoy\"").count(), 2);
        let small = page_html(&SiteConfig::default().page_size(1024), BASE, 5).unwrap();
        let small = String::from_utf8(small).unwrap();
        assert!(!small.contains("decoy"));
        assert!(small.contains("twitter:title"));
    }

    #[test]
    fn pages_differ_and_repeat() {
        let config = SiteConfig::default();
        let one = page_html(&config, BASE, 1).unwrap();
        assert_eq!(one, page_html(&config, BASE, 1).unwrap());
        assert_ne!(one, page_html(&config, BASE, 2).unwrap());
        assert_ne!(one, page_html(&config.clone().seed(9), BASE, 1).unwrap());
    }
}

//! What the three example programs share: the site they fetch from and its page URLs.

use std::time::{Duration, Instant};

use abreast_site::{BackgroundSite, Latency, Site, SiteConfig};

/// The base URL given as the first argument, or the local test site started here with 50 ms
/// of latency (kept running as long as the returned site lives).
pub fn site_or_argument() -> Result<(Option<BackgroundSite>, String), Box<dyn std::error::Error>> {
    if let Some(base) = std::env::args().nth(1) {
        return Ok((None, base));
    }
    let config = SiteConfig::default().latency(Latency::Fixed(Duration::from_millis(50)));
    let site = Site::start_in_background(config)?;
    let base = site.base_url().to_owned();
    Ok((Some(site), base))
}

/// The URLs of the first thousand pages under `base`, as the explainer's programs fetch.
pub fn sites(base: &str) -> Vec<String> {
    (0..1000).map(|n| format!("{base}/page/{n}")).collect()
}

/// Prints the explainer's closing line.
pub fn report(downloaded: usize, total: usize, start: Instant) {
    println!(
        "Downloaded {downloaded} of {total} sites in {:.2} seconds",
        start.elapsed().as_secs_f64()
    );
}

//! The explainer's asyncio program, written with abreast: one async client (one connection
//! pool), and `gather_bounded` over every URL on one thread, at most 256 at once.
//!
//! Run it against the local test site (started here, with 50 ms of latency, when no base URL is
//! given): `cargo run --release -p abreast-fetch --example async_fetch [BASE_URL]`.

mod support;

use std::time::Instant;

use abreast::coroutines::{gather_bounded, run};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (_site, base) = support::site_or_argument()?;
    let sites = support::sites(&base);

    let start = Instant::now();
    let downloaded = run(async {
        // reqwest is built with rustls and no crypto provider of its own: give it ring's.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder().build()?;
        let download_site = |url: &String| {
            let request = client.get(url.as_str());
            async move {
                match request.send().await {
                    Ok(response) => response.bytes().await.is_ok(),
                    Err(_) => false,
                }
            }
        };
        let results = gather_bounded(256, sites.iter().map(download_site)).await;
        Ok::<_, Box<dyn std::error::Error>>(results.into_iter().filter(|ok| *ok).count())
    })??;
    support::report(downloaded, sites.len(), start);
    Ok(())
}

//! The explainer's threading program, written with abreast: a thread pool maps
//! `download_site` over the URLs, each thread with the same pooled blocking client (ureq, as
//! the explainer's `requests.Session`). `abreast fetch --mode threads` is the same shape with
//! limits, retries and extraction.
//!
//! Run it against the local test site (started here, with 50 ms of latency, when no base URL is
//! given): `cargo run --release -p abreast-fetch --example threads_fetch [BASE_URL]`.

mod support;

use std::sync::Arc;
use std::time::Instant;

use abreast::threads::ThreadPool;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (_site, base) = support::site_or_argument()?;
    let sites = support::sites(&base);

    let start = Instant::now();
    let agent: Arc<ureq::Agent> = Arc::new(ureq::Agent::config_builder().build().into());
    let pool = ThreadPool::builder().num_threads(64).build()?;
    let download_site = move |url: String| {
        let mut response = agent.get(&url).call()?;
        response.body_mut().read_to_vec().map(|body| body.len())
    };
    let mut downloaded = 0;
    for outcome in pool.map(download_site, sites.clone()) {
        if outcome?.is_ok() {
            downloaded += 1;
        }
    }
    support::report(downloaded, sites.len(), start);
    Ok(())
}

//! The explainer's multiprocessing program, written with abreast: a process pool maps
//! `download_site` over the URLs; each worker process keeps its own client (the explainer's
//! pool initializer) and sends back how many bytes it read.
//!
//! Run it against the local test site (started here, with 50 ms of latency, when no base URL is
//! given): `cargo run --release -p abreast-fetch --example processes_fetch [BASE_URL]`.

mod support;

use std::sync::OnceLock;
use std::time::Instant;

use abreast::processes::ProcessPool;

/// This worker process's client (ureq), made on its first task, so its connections are reused.
static CLIENT: OnceLock<ureq::Agent> = OnceLock::new();

/// Fetches one page in a worker process; its body size, or `None` if it failed.
#[abreast::task]
fn download_site(url: String) -> Option<usize> {
    let agent = CLIENT.get_or_init(|| ureq::Agent::config_builder().build().into());
    let mut response = agent.get(&url).call().ok()?;
    response
        .body_mut()
        .read_to_vec()
        .ok()
        .map(|body| body.len())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Worker processes are this program started again: they stop here and serve tasks.
    abreast::processes::init();
    let (_site, base) = support::site_or_argument()?;
    let sites = support::sites(&base);

    let start = Instant::now();
    let pool = ProcessPool::builder().workers(32).build()?;
    let mut downloaded = 0;
    for outcome in pool.map(download_site, sites.clone()).chunksize(1) {
        if outcome?.is_some() {
            downloaded += 1;
        }
    }
    support::report(downloaded, sites.len(), start);
    Ok(())
}

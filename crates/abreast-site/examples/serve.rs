//! Starts a site and prints its base URL as the first line of stdout, then serves until killed:
//! the tool behind the throughput figures in the README (`wrk` against it).
//!
//! ```text
//! cargo run --release -p abreast-site --example serve -- --page-size 1K --runtime current
//! ```
//! Options: `--pages N`, `--page-size SIZE`, `--latency L`, `--addr A`, `--seed S`,
//! `--runtime current|multi` (a current-thread runtime, or a multi-thread one with 2 workers).

use std::error::Error;

use abreast_site::{Site, SiteConfig, parse_size};

fn main() -> Result<(), Box<dyn Error>> {
    let mut config = SiteConfig::default();
    let mut multi_thread = false;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--pages" => config.pages = value.parse()?,
            "--page-size" => config.page_size = usize::try_from(parse_size(&value)?)?,
            "--latency" => config.latency = value.parse()?,
            "--addr" => config.addr = value.parse()?,
            "--seed" => config.seed = value.parse()?,
            "--runtime" => {
                multi_thread = match value.as_str() {
                    "current" => false,
                    "multi" => true,
                    other => return Err(format!("--runtime {other}: use current or multi").into()),
                }
            }
            other => return Err(format!("unknown option {other}").into()),
        }
    }
    let runtime = if multi_thread {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    };
    runtime.block_on(async {
        let site = Site::start(config).await?;
        println!("{}", site.base_url());
        tokio::signal::ctrl_c().await?;
        site.shutdown().await;
        Ok(())
    })
}

//! `abreast bench broker`: what the broker costs, and how the workers scale.
//!
//! Two suites, each on the built-in test site (in this process) and a `redis-server` of the
//! bench's own (`abreast_queue::LocalRedis`, on a free port; it must be installed):
//!
//! - `broker`: `pages` pages with no added latency, fetched by a plain `abreast fetch` and by
//!   `abreast fetch --broker` with one local `abreast worker`, alternately, in the same run.
//!   Every program is this executable started again, so both rows pay the same start-up. A
//!   row's CPU is every process of it: the plain fetch; or the collector, the worker's share
//!   (its CPU clock across the run) and redis-server's. The broker row's note gives the wall
//!   ratio and the CPU per URL the broker adds.
//! - `broker-scaling`: `pages` pages behind `latency`, through 1, 2 and 4 workers: pages per
//!   second as workers are added.
//!
//! The workers run for the whole suite (started, then warmed by the warm-up runs); each run is
//! a job of its own, deleted after it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use abreast_bench::cputime::{process_seconds, reaped_children_seconds};
use abreast_bench::{Implementation, Mechanism, Report, Row, SuiteReport};
use abreast_queue::LocalRedis;
use abreast_site::{Latency, Site, SiteConfig};
use anyhow::{Context as _, bail, ensure};

/// What the broker suites measure with.
#[derive(Debug)]
pub struct BrokerSizes {
    /// Pages of the cost suite (no latency).
    pub pages: u64,
    /// Their size.
    pub page_size: u64,
    /// Pages of the scaling suite.
    pub scaling_pages: u64,
    /// The latency of the scaling suite's site.
    pub latency: Duration,
    /// Unmeasured runs before the measured ones.
    pub warmup: u64,
    /// Measured runs.
    pub runs: u64,
}

/// An `abreast worker` of the bench's, stopped (SIGTERM) when dropped.
struct Worker(Child);

impl Worker {
    fn start(exe: &Path, broker: &str) -> anyhow::Result<Worker> {
        let child = Command::new(exe)
            .args(["worker", "--broker", broker])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("could not start an abreast worker")?;
        Ok(Worker(child))
    }

    fn cpu(&self) -> anyhow::Result<f64> {
        process_cpu(self.0.id())
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // SAFETY: kill(2) on the pid of a child this struct started and has not reaped.
        unsafe {
            libc::kill(self.0.id() as libc::pid_t, libc::SIGTERM);
        }
        let _ = self.0.wait();
    }
}

/// CPU seconds of the running process `pid`.
fn process_cpu(pid: u32) -> anyhow::Result<f64> {
    process_seconds(pid).with_context(|| format!("could not read the CPU time of process {pid}"))
}

/// CPU seconds of this process's children that have been waited for.
fn children_cpu() -> f64 {
    reaped_children_seconds().unwrap_or(0.0)
}

/// Runs `command` to its end; an error unless it exits 0.
fn run_quietly(command: &mut Command, what: &str) -> anyhow::Result<()> {
    let output = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .with_context(|| format!("could not run {what}"))?;
    if !output.status.success() {
        bail!(
            "{what} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

/// One timed run: wall seconds and CPU seconds.
struct Sample {
    wall: f64,
    cpu: f64,
    parts: [f64; 3],
}

/// The bench's world: this executable and a redis-server (whose folder holds the inputs).
struct World {
    exe: PathBuf,
    redis: LocalRedis,
    jobs: u64,
}

impl World {
    fn new() -> anyhow::Result<World> {
        Ok(World {
            exe: std::env::current_exe().context("could not find the abreast executable")?,
            redis: LocalRedis::start().context("the broker bench needs redis-server")?,
            jobs: 0,
        })
    }

    fn input(&self, name: &str, base: &str, pages: u64) -> anyhow::Result<PathBuf> {
        // The server's temporary folder, removed with it.
        let path = self.redis.dir().join(name);
        std::fs::write(&path, abreast_bench::page_urls(base, pages))
            .context("could not write the bench's input")?;
        Ok(path)
    }

    fn plain(&self, input: &Path) -> anyhow::Result<Sample> {
        let cpu = children_cpu();
        let start = Instant::now();
        run_quietly(
            Command::new(&self.exe)
                .arg("fetch")
                .arg(input)
                .args(["-o", "/dev/null"]),
            "abreast fetch",
        )?;
        let wall = start.elapsed().as_secs_f64();
        let cpu = children_cpu() - cpu;
        Ok(Sample {
            wall,
            cpu,
            parts: [cpu, 0.0, 0.0],
        })
    }

    /// A job through the broker, collected by `abreast fetch --broker`, then deleted.
    /// `extra` are more options of the submitter (`--per-host`).
    fn through_broker(
        &mut self,
        input: &Path,
        workers: &[Worker],
        extra: &[&str],
    ) -> anyhow::Result<Sample> {
        self.jobs += 1;
        let job = format!("bench-{}-{}", std::process::id(), self.jobs);
        let url = self.redis.url();
        let redis_pid = self.redis.pid().context("redis-server is not running")?;
        let before_workers: f64 = workers
            .iter()
            .map(Worker::cpu)
            .sum::<anyhow::Result<f64>>()?;
        let before_redis = process_cpu(redis_pid)?;
        let before_children = children_cpu();
        let start = Instant::now();
        run_quietly(
            Command::new(&self.exe)
                .arg("fetch")
                .arg(input)
                .args(["--broker", &url, "--job", &job, "-o", "/dev/null"])
                .args(extra),
            "abreast fetch --broker",
        )?;
        let wall = start.elapsed().as_secs_f64();
        let collector = children_cpu() - before_children;
        let worker = workers
            .iter()
            .map(Worker::cpu)
            .sum::<anyhow::Result<f64>>()?
            - before_workers;
        let redis = process_cpu(redis_pid)? - before_redis;
        run_quietly(
            Command::new(&self.exe).args(["status", "--broker", &url, "--delete", &job]),
            "abreast status --delete",
        )?;
        Ok(Sample {
            wall,
            cpu: collector + worker + redis,
            parts: [collector, worker, redis],
        })
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

/// Runs both broker suites.
pub fn run(sizes: &BrokerSizes) -> anyhow::Result<Report> {
    let mut report = Report::new(sizes.warmup, sizes.runs);
    let mut world = World::new()?;
    report.suites.push(cost(&mut world, sizes)?);
    report.suites.push(scaling(&mut world, sizes)?);
    Ok(report)
}

fn cost(world: &mut World, sizes: &BrokerSizes) -> anyhow::Result<SuiteReport> {
    let site = Site::start_in_background(
        SiteConfig::default()
            .pages(sizes.pages)
            .page_size(usize::try_from(sizes.page_size).unwrap_or(usize::MAX)),
    )
    .context("could not start the test site")?;
    let input = world.input("cost.txt", site.base_url(), sizes.pages)?;
    let workers = vec![Worker::start(&world.exe, &world.redis.url())?];
    let (mut plain, mut broker) = (Vec::new(), Vec::new());
    for round in 0..sizes.warmup + sizes.runs {
        // Alternately, so that a slow moment of the machine falls on both.
        let a = world.plain(&input)?;
        let b = world.through_broker(&input, &workers, &[])?;
        if round >= sizes.warmup {
            plain.push(a);
            broker.push(b);
        }
    }
    drop(workers);
    let row = |samples: &[Sample], variant: &str, workers: usize| -> anyhow::Result<Row> {
        let walls: Vec<f64> = samples.iter().map(|s| s.wall).collect();
        let cpus: Vec<f64> = samples.iter().map(|s| s.cpu).collect();
        Ok(Row::timed(
            Mechanism::Hybrid,
            Implementation::Rust,
            workers,
            sizes.pages,
            &walls,
        )
        .context("no timed runs")?
        .with_variant(variant)
        .with_cpu(&cpus))
    };
    let plain_row = row(&plain, "plain fetch", 1)?;
    let mut broker_row = row(&broker, "broker, 1 worker", 1)?;
    let ratio = median(&mut broker.iter().map(|s| s.wall).collect::<Vec<_>>())
        / median(&mut plain.iter().map(|s| s.wall).collect::<Vec<_>>()).max(1e-9);
    let added = (median(&mut broker.iter().map(|s| s.cpu).collect::<Vec<_>>())
        - median(&mut plain.iter().map(|s| s.cpu).collect::<Vec<_>>()))
        / sizes.pages as f64;
    let part =
        |index: usize| median(&mut broker.iter().map(|s| s.parts[index]).collect::<Vec<_>>());
    broker_row.note = Some(format!(
        "wall {ratio:.2}x plain fetch; CPU {:+.1} us per URL above it (collector {:.2} s, worker {:.2} s, redis-server {:.2} s)",
        added * 1e6,
        part(0),
        part(1),
        part(2)
    ));
    Ok(SuiteReport {
        name: "broker".into(),
        description: format!(
            "{} pages of {} bytes, no latency: plain abreast fetch against the same through Redis Streams with one local worker (each row's CPU: all its processes)",
            sizes.pages, sizes.page_size
        ),
        unit: "pages".into(),
        rows: vec![plain_row, broker_row],
    })
}

fn scaling(world: &mut World, sizes: &BrokerSizes) -> anyhow::Result<SuiteReport> {
    let latency: Latency = format!("{}ms", sizes.latency.as_millis())
        .parse()
        .context("the latency")?;
    let site = Site::start_in_background(
        SiteConfig::default()
            .pages(sizes.scaling_pages)
            .page_size(usize::try_from(sizes.page_size).unwrap_or(usize::MAX))
            .latency(latency),
    )
    .context("could not start the test site")?;
    let input = world.input("scaling.txt", site.base_url(), sizes.scaling_pages)?;
    let mut rows = Vec::new();
    for count in [1usize, 2, 4] {
        let workers = (0..count)
            .map(|_| Worker::start(&world.exe, &world.redis.url()))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let mut samples = Vec::new();
        for round in 0..sizes.warmup + sizes.runs {
            // The site is one host: the job-wide --per-host would be the limit, not the workers.
            let sample = world.through_broker(&input, &workers, &["--per-host", "10000"])?;
            if round >= sizes.warmup {
                samples.push(sample);
            }
        }
        ensure!(!samples.is_empty(), "no timed runs");
        let walls: Vec<f64> = samples.iter().map(|s| s.wall).collect();
        let cpus: Vec<f64> = samples.iter().map(|s| s.cpu).collect();
        rows.push(
            Row::timed(
                Mechanism::Hybrid,
                Implementation::Rust,
                count,
                sizes.scaling_pages,
                &walls,
            )
            .context("no timed runs")?
            .with_variant(format!(
                "broker, {count} worker{}",
                if count == 1 { "" } else { "s" }
            ))
            .with_cpu(&cpus),
        );
    }
    Ok(SuiteReport {
        name: "broker-scaling".into(),
        description: format!(
            "{} pages behind {} ms of latency through Redis Streams, 1, 2 and 4 local workers (256 requests in flight each, --per-host 10000)",
            sizes.scaling_pages,
            sizes.latency.as_millis()
        ),
        unit: "pages".into(),
        rows,
    })
}

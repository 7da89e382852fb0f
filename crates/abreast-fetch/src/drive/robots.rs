//! The robots.txt step of every mode (`--robots obey`): before a URL's request, its host's
//! robots.txt is fetched (once per run, whichever task asks first; the others wait for that
//! fetch; or once for several runs, those that share a [`SharedRobots`], as a broker job's
//! workers do) and the URL checked against it. A disallowed URL becomes a record of kind `robots`
//! and no request is made; an allowed one goes on, at no more than the file's `Crawl-delay`.
//!
//! The file is fetched with the run's own client, time limits and retries, following redirects,
//! its body cut at [`MAX_ROBOTS_BYTES`]; its outcome is read as RFC 9309 asks
//! ([`Rules::from_outcome`]): a 2xx body is parsed; a 4xx answer or a redirect chain that does
//! not end allows everything; a 5xx answer (after the retries, 429 included) or no answer at
//! all disallows everything for the run.

use std::sync::Arc;
use std::time::Duration;

use url::Url;

use crate::http::Fetched;
use crate::http::asynchronous::AsyncClient;
use crate::http::blocking::BlockingClient;
use crate::record::{ErrorInfo, ErrorKind};
use crate::robots::{
    Claim, MAX_ROBOTS_BYTES, RobotsCache, RobotsFile, Rules, SharedRobots, product_token,
};

/// The robots.txt rules of a run's hosts, for the crawler named by the run's User-Agent.
#[derive(Debug)]
pub(crate) struct RobotsGate {
    cache: Arc<RobotsCache>,
    token: String,
    /// Files shared with other runs (a broker job's workers), asked before a fetch.
    shared: Option<Arc<dyn SharedRobots>>,
}

/// May this URL be fetched: at what pace (the host's `Crawl-delay`, if any), or why not.
pub(crate) type Verdict = Result<Option<Duration>, ErrorInfo>;

impl RobotsGate {
    /// A gate for the crawler whose User-Agent is `user_agent`.
    pub(crate) fn new(user_agent: &str, shared: Option<Arc<dyn SharedRobots>>) -> RobotsGate {
        RobotsGate {
            cache: RobotsCache::new(),
            token: product_token(user_agent).to_ascii_lowercase(),
            shared,
        }
    }

    /// Checks `url` against its host's robots.txt, fetching the file with `client` if no task
    /// has yet.
    pub(crate) async fn check_async(&self, url: &Url, client: &AsyncClient) -> Verdict {
        let origin = url.origin().ascii_serialization();
        let robots_url = format!("{origin}/robots.txt");
        loop {
            let rules = match self.cache.claim(&origin) {
                Claim::Known(rules) => rules,
                Claim::Wait(receiver) => match receiver.recv_async().await {
                    Ok(rules) => rules,
                    Err(_) => continue, // that fetch was abandoned: claim again
                },
                Claim::Fetch(fetching) => {
                    let fetch = client.fetch_robots(&robots_url, MAX_ROBOTS_BYTES);
                    let file = self.file(&origin, fetch).await;
                    fetching.complete(Rules::from_outcome(file.outcome(), &self.token))
                }
            };
            return verdict(&rules, url, &robots_url);
        }
    }

    /// [`check_async`](Self::check_async) on the calling thread, with the blocking client.
    pub(crate) fn check_blocking(&self, url: &Url, client: &BlockingClient) -> Verdict {
        let origin = url.origin().ascii_serialization();
        let robots_url = format!("{origin}/robots.txt");
        loop {
            let rules = match self.cache.claim(&origin) {
                Claim::Known(rules) => rules,
                Claim::Wait(receiver) => match receiver.recv() {
                    Ok(rules) => rules,
                    Err(_) => continue,
                },
                Claim::Fetch(fetching) => {
                    // The fetch itself blocks this thread, as every request of this step does.
                    let fetch = async { client.fetch_robots(&robots_url, MAX_ROBOTS_BYTES) };
                    let file = futures::executor::block_on(self.file(&origin, fetch));
                    fetching.complete(Rules::from_outcome(file.outcome(), &self.token))
                }
            };
            return verdict(&rules, url, &robots_url);
        }
    }

    /// Waits for a job-wide start of a request to `host` at its `Crawl-delay` (`floor`), when
    /// the files are shared with other runs; at once otherwise (the run's own pace holds).
    pub(crate) async fn pace(&self, host: &str, floor: Option<Duration>) {
        if let (Some(shared), Some(delay)) = (&self.shared, floor) {
            shared.pace(host, delay).await;
        }
    }

    /// `origin`'s file as the runs it is shared with have it; else fetched by `fetch`, then
    /// shared with them.
    async fn file(&self, origin: &str, fetch: impl Future<Output = Fetched>) -> RobotsFile {
        if let Some(shared) = &self.shared
            && let Some(file) = shared.load(origin).await
        {
            return file;
        }
        let file = file_of(fetch.await);
        if let Some(shared) = &self.shared {
            shared.store(origin, file.clone()).await;
        }
        file
    }
}

/// What a fetch of robots.txt gives, as RFC 9309 §2.3.1 sorts outcomes.
fn file_of(fetched: Fetched) -> RobotsFile {
    match (fetched.body, fetched.status) {
        (Ok(body), _) => RobotsFile::Body(body.bytes.to_vec()),
        // 429 asks the crawler to slow down: like a 5xx, it is no leave to crawl.
        (Err(error), Some(status)) if (300..500).contains(&status) && status != 429 => {
            RobotsFile::Unavailable(error.message)
        }
        (Err(error), _) if error.kind == ErrorKind::Redirect => {
            RobotsFile::Unavailable(error.message)
        }
        (Err(error), _) if error.kind == ErrorKind::Dns => RobotsFile::Unresolved(error.message),
        // `--robots ignore` helps a host that answered its robots.txt (a 5xx, a 429, a body cut
        // short) or was too slow to; one that could not be reached at all (a refused
        // connection, an untrusted certificate) would fail its pages alike.
        (Err(error), status) => {
            let advice = if status.is_some() || error.kind == ErrorKind::Timeout {
                "use --robots ignore to fetch it anyway"
            } else {
                "its pages would meet the same failure"
            };
            RobotsFile::Unreachable(format!("{}; {advice}", error.message))
        }
    }
}

/// The verdict of `rules` on `url`, whose robots.txt is `robots_url`.
fn verdict(rules: &Rules, url: &Url, robots_url: &str) -> Verdict {
    let path = match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    };
    // A host whose name does not resolve is a `dns` record, as without robots.txt.
    let kind = if rules.is_unresolved() {
        ErrorKind::Dns
    } else {
        ErrorKind::Robots
    };
    rules
        .check(&path, robots_url)
        .map(|()| rules.crawl_delay())
        .map_err(|refusal| ErrorInfo::new(kind, refusal.message))
}

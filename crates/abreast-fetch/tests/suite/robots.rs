//! `--robots obey` against a small server of this module whose robots.txt each test chooses:
//! group and rule matching in every mode, one fetch of the file per host, the file's outcomes
//! as RFC 9309 reads them (4xx, 5xx, huge, binary, slow, an endless redirect chain), the
//! `Crawl-delay` floor, the User-Agent the requests carry, and redirects whose targets are
//! checked against their own host's file before they are followed.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use abreast_fetch::{ErrorKind, Mode, RobotsPolicy};

use crate::support::{MODES, by_url, config, fetch_lines};

/// What the server answers for `/robots.txt`.
#[derive(Clone)]
pub enum RobotsReply {
    /// 200 with this body.
    Body(Vec<u8>),
    /// This status, no body.
    Status(u16),
    /// 200, the head at once, then one byte a second.
    Slow,
    /// A redirect to `/robots.txt?n+1`, for ever.
    RedirectLoop,
}

/// One request the server saw.
#[derive(Debug, Clone)]
pub struct Seen {
    /// The path and query, as sent.
    pub target: String,
    /// The User-Agent header.
    pub user_agent: String,
    /// The Authorization header, if one came.
    pub authorization: Option<String>,
    /// When it came.
    pub at: Instant,
}

/// A plain HTTP/1.1 server on 127.0.0.1: `/robots.txt` as told, every other path a small page.
/// Each connection is served on a thread of its own and closed after one answer.
pub struct LocalServer {
    /// Its address.
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl LocalServer {
    /// Starts a server whose robots.txt answers `robots`.
    pub fn start(robots: RobotsReply) -> LocalServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (robots, log) = (robots.clone(), Arc::clone(&log));
                std::thread::spawn(move || serve(stream, &robots, &log));
            }
        });
        LocalServer { addr, seen }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The requests seen so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// How many requests were for a target starting with `prefix`.
    pub fn hits(&self, prefix: &str) -> usize {
        self.seen()
            .iter()
            .filter(|seen| seen.target.starts_with(prefix))
            .count()
    }
}

fn serve(stream: TcpStream, robots: &RobotsReply, log: &Mutex<Vec<Seen>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let target = request_line.split(' ').nth(1).unwrap_or("").to_owned();
    let mut user_agent = String::new();
    let mut authorization = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("user-agent") {
                user_agent = value.trim().to_owned();
            } else if name.eq_ignore_ascii_case("authorization") {
                authorization = Some(value.trim().to_owned());
            }
        }
    }
    log.lock().unwrap().push(Seen {
        target: target.clone(),
        user_agent,
        authorization,
        at: Instant::now(),
    });
    let mut stream = stream;
    let answer = |status: &str, headers: &str, body: &[u8]| {
        let mut reply = format!(
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n{headers}\r\n",
            body.len()
        )
        .into_bytes();
        reply.extend_from_slice(body);
        reply
    };
    let reply = if target.starts_with("/robots.txt") {
        match robots {
            RobotsReply::Body(body) => answer("200 OK", "Content-Type: text/plain\r\n", body),
            RobotsReply::Status(code) => answer(&format!("{code} Status"), "", b""),
            RobotsReply::RedirectLoop => {
                // A new URL each time: the chain never repeats itself.
                let location = format!("Location: {target}x\r\n");
                answer("302 Found", &location, b"")
            }
            RobotsReply::Slow => {
                let head = "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n";
                if stream.write_all(head.as_bytes()).is_err() {
                    return;
                }
                for _ in 0..1000 {
                    std::thread::sleep(Duration::from_secs(1));
                    if stream.write_all(b"#").is_err() {
                        return;
                    }
                }
                return;
            }
        }
    } else if let Some(to) = target.strip_prefix("/go/") {
        // `/go/HOST:PORT/PATH` redirects to `http://HOST:PORT/PATH`.
        answer("302 Found", &format!("Location: http://{to}\r\n"), b"")
    } else {
        let page = format!("<html><head><title>{target}</title></head><body>x</body></html>");
        answer("200 OK", "Content-Type: text/html\r\n", page.as_bytes())
    };
    let _ = stream.write_all(&reply);
}

/// A configuration of `mode` that obeys robots.txt.
fn obeying(mode: Mode) -> abreast_fetch::FetchConfig {
    let mut config = config(mode);
    config.http.robots = RobotsPolicy::Obey;
    config
}

const RULES: &str = "# the site's rules\n\
    User-agent: *\n\
    Disallow: /\n\
    \n\
    User-agent: OtherBot\n\
    Disallow: /other-only\n\
    \n\
    User-agent: ABREAST\n\
    Disallow: /private\n\
    Allow: /private/open\n\
    Disallow: /*.gif$\n";

#[test]
fn rules_decide_each_url_in_every_mode_with_one_fetch_of_the_file() {
    for mode in MODES {
        let server = LocalServer::start(RobotsReply::Body(RULES.as_bytes().to_vec()));
        let base = server.base();
        let mut urls = Vec::new();
        for i in 0..6 {
            for path in [
                "/public",
                "/private/x",
                "/private/open/y",
                "/a.gif",
                "/a.gif?v",
            ] {
                urls.push(format!(
                    "{base}{path}{}",
                    if path.contains('?') {
                        format!("={i}")
                    } else {
                        format!("#{i}")
                    }
                ));
            }
        }
        let (records, summary) = fetch_lines(&obeying(mode), &urls);
        assert_eq!(summary.records, urls.len() as u64, "{mode}");
        for record in records {
            let refused = record.url.contains("/private/x") || record.url.contains(".gif#");
            match &record.error {
                Some(error) if refused => {
                    assert_eq!(error.kind, ErrorKind::Robots, "{mode} {}", record.url);
                    assert!(
                        error.message.contains("/robots.txt disallows it"),
                        "{}",
                        error.message
                    );
                    assert_eq!(record.attempts, 0, "{mode}: no request for {}", record.url);
                }
                None if !refused => assert!(record.ok, "{mode} {}", record.url),
                other => panic!("{mode} {}: {other:?}", record.url),
            }
        }
        assert_eq!(
            server.hits("/robots.txt"),
            1,
            "{mode}: the file is fetched once"
        );
        assert_eq!(
            server.hits("/private/x"),
            0,
            "{mode}: a disallowed URL is not requested"
        );
        let gifs = server
            .seen()
            .iter()
            .filter(|s| s.target == "/a.gif")
            .count();
        assert_eq!(gifs, 0, "{mode}: /a.gif is disallowed, /a.gif?v is not");
    }
}

#[test]
fn the_user_agent_names_the_group_and_is_sent() {
    let server = LocalServer::start(RobotsReply::Body(RULES.as_bytes().to_vec()));
    let base = server.base();
    let urls = vec![format!("{base}/other-only"), format!("{base}/public")];
    // Another crawler's token picks its own group.
    let mut config = obeying(Mode::Async);
    config.http.user_agent = Some("OtherBot/2.0 (+https://example.org/bot)".into());
    let records = by_url(fetch_lines(&config, &urls).0);
    assert_eq!(
        records[&urls[0]].error.as_ref().unwrap().kind,
        ErrorKind::Robots
    );
    assert!(records[&urls[1]].ok);
    let agents: Vec<String> = server.seen().into_iter().map(|s| s.user_agent).collect();
    assert!(
        agents
            .iter()
            .all(|a| a == "OtherBot/2.0 (+https://example.org/bot)"),
        "{agents:?}"
    );
    // The default names abreast, its version and its home, in both stacks.
    for mode in [Mode::Threads, Mode::Async] {
        let server = LocalServer::start(RobotsReply::Status(404));
        fetch_lines(
            &crate::support::config(mode),
            &[format!("{}/x", server.base())],
        );
        let expected = format!(
            "abreast/{} (+{})",
            env!("CARGO_PKG_VERSION"),
            env!("CARGO_PKG_REPOSITORY")
        );
        assert_eq!(server.seen()[0].user_agent, expected, "{mode}");
        assert_eq!(server.hits("/robots.txt"), 0, "{mode}: ignored by default");
    }
}

#[test]
fn the_file_s_outcomes_as_the_rfc_reads_them_in_both_stacks() {
    let mut huge = b"User-agent: *\nDisallow: /early\n".to_vec();
    huge.resize(2 << 20, b'#');
    huge.extend_from_slice(b"\nDisallow: /late\n");
    let binary: Vec<u8> = (0..=255u8).cycle().take(64 * 1024).collect();
    for mode in [Mode::Threads, Mode::Hybrid] {
        // (reply, path, allowed)
        let cases: Vec<(RobotsReply, &str, bool)> = vec![
            (RobotsReply::Status(404), "/any", true),
            (RobotsReply::Status(403), "/any", true),
            (RobotsReply::Status(503), "/any", false),
            (RobotsReply::Body(huge.clone()), "/early", false),
            (RobotsReply::Body(huge.clone()), "/late", true),
            (RobotsReply::Body(binary.clone()), "/any", true),
            (RobotsReply::RedirectLoop, "/any", true),
            (RobotsReply::Slow, "/any", false),
        ];
        let servers: Vec<LocalServer> = cases
            .iter()
            .map(|(reply, ..)| LocalServer::start(reply.clone()))
            .collect();
        let urls: Vec<String> = servers
            .iter()
            .zip(&cases)
            .map(|(server, (_, path, _))| format!("{}{path}", server.base()))
            .collect();
        let mut config = obeying(mode);
        config.http.retries = 0;
        config.http.timeout = Duration::from_millis(1500);
        let records = by_url(fetch_lines(&config, &urls).0);
        for ((url, (_, _, allowed)), server) in urls.iter().zip(&cases).zip(&servers) {
            let record = &records[url];
            if *allowed {
                assert!(record.ok, "{mode} {url}: {:?}", record.error);
            } else {
                let error = record.error.as_ref().unwrap();
                assert_eq!(error.kind, ErrorKind::Robots, "{mode} {url}: {error:?}");
                assert_eq!(server.hits("/robots.txt").min(1), 1);
            }
        }
        // A server that answered its robots.txt with a 5xx, or slowly, may serve its pages:
        // ignoring the file is the way (one that cannot be reached would fail its pages alike).
        let unreachable = &records[&urls[2]].error.as_ref().unwrap().message;
        assert!(
            unreachable.contains("(RFC 9309): HTTP 503")
                && unreachable.ends_with("; use --robots ignore to fetch it anyway"),
            "{unreachable}"
        );
        let refused = format!("{}/page", abreast_site::refused_url().unwrap());
        let unreached = fetch_lines(&config, std::slice::from_ref(&refused)).0;
        let unreached = &unreached[0].error.as_ref().unwrap().message;
        assert!(
            unreached.contains("(RFC 9309): could not connect")
                && unreached.ends_with("; its pages would meet the same failure"),
            "{mode}: {unreached}"
        );
        let slow = &records[&urls[7]].error.as_ref().unwrap().message;
        assert!(
            slow.contains("(RFC 9309): no complete answer within")
                && slow.ends_with("; use --robots ignore to fetch it anyway"),
            "{slow}"
        );
    }
}

#[test]
fn a_redirect_s_target_is_checked_against_its_own_host_s_file_in_every_mode() {
    for mode in MODES {
        // `from` allows everything (no file); `to` disallows /private to abreast.
        let from = LocalServer::start(RobotsReply::Status(404));
        let to = LocalServer::start(RobotsReply::Body(RULES.as_bytes().to_vec()));
        let (from_base, to_host) = (from.base(), to.addr.to_string());
        let mut urls = Vec::new();
        for i in 0..3 {
            urls.push(format!("{from_base}/go/{to_host}/private/x?{i}"));
            urls.push(format!("{from_base}/go/{to_host}/public?{i}"));
        }
        let mut config = obeying(mode);
        config
            .http
            .headers
            .push(("Authorization".into(), "Bearer for-the-first-host".into()));
        let records = by_url(fetch_lines(&config, &urls).0);
        for url in &urls {
            let record = &records[url];
            if url.contains("/private/") {
                let error = record.error.as_ref().expect("refused");
                assert_eq!(error.kind, ErrorKind::Robots, "{mode} {url}: {error:?}");
                let target = url.replacen(&format!("{from_base}/go/"), "http://", 1);
                assert!(
                    error
                        .message
                        .contains(&format!("the redirect to {target} was not followed"))
                        && error.message.contains("/robots.txt disallows it"),
                    "{mode}: {}",
                    error.message
                );
                assert_eq!(record.status, Some(302), "{mode} {url}");
                assert_eq!(record.final_url.as_deref(), Some(url.as_str()), "{mode}");
                assert_eq!(record.attempts, 1, "{mode}: the redirect was asked for");
            } else {
                assert!(record.ok, "{mode} {url}: {:?}", record.error);
                let target = url.replacen(&format!("{from_base}/go/"), "http://", 1);
                assert_eq!(record.final_url.as_deref(), Some(target.as_str()), "{mode}");
                assert_eq!(
                    record.attempts, 1,
                    "{mode}: each hop asked once, as the HTTP library counts a chain"
                );
            }
        }
        assert_eq!(
            to.hits("/private"),
            0,
            "{mode}: a refused hop is no request"
        );
        assert_eq!(to.hits("/public"), 3, "{mode}");
        assert_eq!(to.hits("/robots.txt"), 1, "{mode}: the target's file, once");
        assert_eq!(from.hits("/robots.txt"), 1, "{mode}");
        // Credentials stay with the first host, as when the HTTP library follows redirects.
        let sent = |server: &LocalServer| {
            server
                .seen()
                .iter()
                .filter(|seen| !seen.target.starts_with("/robots.txt"))
                .map(|seen| seen.authorization.clone())
                .collect::<Vec<_>>()
        };
        assert!(
            sent(&from)
                .iter()
                .all(|a| a.as_deref() == Some("Bearer for-the-first-host")),
            "{mode}: {:?}",
            sent(&from)
        );
        assert!(
            sent(&to).iter().all(Option::is_none),
            "{mode}: {:?}",
            sent(&to)
        );
    }
}

#[test]
fn followed_hop_by_hop_redirects_keep_their_limits_in_every_mode() {
    let site = crate::support::site();
    let base = format!("http://{}", site.addr());
    let (looping, chain, ftp) = (
        format!("{base}/fault/redirect-loop"),
        format!("{base}/fault/redirect/3?to=5"),
        format!("{base}/fault/redirect-to?url=ftp://example.invalid/"),
    );
    for mode in MODES {
        let mut config = obeying(mode);
        config.http.max_redirects = 4;
        let urls = [looping.clone(), chain.clone(), ftp.clone()];
        let records = by_url(fetch_lines(&config, &urls).0);
        let error = |url: &String| records[url].error.clone().expect("an error");
        let too_many = error(&looping);
        assert_eq!(too_many.kind, ErrorKind::Redirect, "{mode}");
        assert_eq!(
            too_many.message, "too many redirects (more than 4, the --max-redirects limit)",
            "{mode}"
        );
        // As when the HTTP library follows the chain: no answer, one attempt.
        assert_eq!(
            (records[&looping].attempts, records[&looping].status),
            (1, None),
            "{mode}"
        );
        assert_eq!(records[&looping].final_url, None, "{mode}");
        assert!(records[&chain].ok, "{mode}: {:?}", records[&chain].error);
        assert_eq!(
            records[&chain].final_url.as_deref(),
            Some(format!("{base}/page/5").as_str()),
            "{mode}"
        );
        assert_eq!(records[&chain].attempts, 1, "{mode}");
        let refused = error(&ftp);
        assert_eq!(refused.kind, ErrorKind::Redirect, "{mode}");
        assert_eq!(
            refused.message,
            "refused a redirect to a URL of scheme ftp: (only http and https are followed)",
            "{mode}"
        );
    }
}

#[test]
fn a_redirect_chain_keeps_one_time_limit_followed_hop_by_hop_or_not() {
    // Three requests of 400 ms each against a limit of 1 s: the chain runs out of time whether
    // the HTTP library follows it or the run does, hop by hop (`--robots obey`).
    let site = abreast_site::Site::start_in_background(
        abreast_site::SiteConfig::default()
            .pages(10)
            .page_size(1024)
            .latency(abreast_site::Latency::Fixed(Duration::from_millis(400))),
    )
    .unwrap();
    let chain = format!("http://{}/fault/redirect/2?to=3", site.addr());
    for mode in [Mode::Threads, Mode::Async] {
        for robots in [RobotsPolicy::Ignore, RobotsPolicy::Obey] {
            let mut config = crate::support::config(mode);
            config.http.robots = robots;
            config.http.retries = 0;
            config.http.timeout = Duration::from_secs(1);
            let records = fetch_lines(&config, std::slice::from_ref(&chain)).0;
            let error = records[0].error.as_ref().expect("out of time");
            assert_eq!(
                error.kind,
                ErrorKind::Timeout,
                "{mode} {robots:?}: {error:?}"
            );
        }
    }
}

#[test]
fn crawl_delay_spaces_out_a_host_s_requests() {
    let body = b"User-agent: *\nCrawl-delay: 0.3\n".to_vec();
    for mode in [Mode::Threads, Mode::Async] {
        let server = LocalServer::start(RobotsReply::Body(body.clone()));
        let urls: Vec<String> = (0..3).map(|i| format!("{}/p{i}", server.base())).collect();
        let began = Instant::now();
        let (records, _) = fetch_lines(&obeying(mode), &urls);
        assert!(records.iter().all(|r| r.ok), "{mode}");
        let last = server
            .seen()
            .into_iter()
            .filter(|s| s.target.starts_with("/p"))
            .map(|s| s.at)
            .max()
            .unwrap();
        // The third start is granted two delays after the first at the earliest, which is after
        // the run began: a lower bound that no slowness can break.
        assert!(
            last - began >= Duration::from_millis(600),
            "{mode}: {:?}",
            last - began
        );
    }
}

#[test]
fn a_redirect_waits_for_the_crawl_delay_of_the_host_it_leads_to_in_every_mode() {
    // Two names for 127.0.0.1 from the test site's name server, so the hosts are two.
    let names = abreast_site::Site::start_in_background(
        abreast_site::SiteConfig::default()
            .pages(1)
            .dns(Some("127.0.0.1:0".parse().unwrap())),
    )
    .unwrap();
    let paced = b"User-agent: *\nCrawl-delay: 0.5\n".to_vec();
    for mode in MODES {
        let target = LocalServer::start(RobotsReply::Body(paced.clone()));
        let start = LocalServer::start(RobotsReply::Status(404));
        // Three pages of a host without rules, each redirecting to the paced host.
        let (from, to) = (start.addr.port(), target.addr.port());
        let urls: Vec<String> = (0..3)
            .map(|i| format!("http://start.site.test:{from}/go/paced.site.test:{to}/p{i}"))
            .collect();
        let mut config = obeying(mode);
        config.http.dns_servers = vec![names.dns_addr().unwrap()];
        let began = Instant::now();
        let (records, _) = fetch_lines(&config, &urls);
        assert!(records.iter().all(|r| r.ok), "{mode}: {records:?}");
        let starts: Vec<Instant> = target
            .seen()
            .into_iter()
            .filter(|s| s.target.starts_with("/p"))
            .map(|s| s.at)
            .collect();
        assert_eq!(starts.len(), 3, "{mode}");
        // As above: the third start to the paced host is two delays after the first at the
        // earliest, whichever host's page led there.
        let last = starts.into_iter().max().unwrap();
        assert!(
            last - began >= Duration::from_millis(1000),
            "{mode}: {:?}",
            last - began
        );
    }
}

//! robots.txt, as RFC 9309 reads it: which of a host's URLs a crawler may fetch.
//!
//! With `--robots obey`, each host's `/robots.txt` is fetched once per run, before the host's
//! first URL, and every URL of the host is checked against it; a disallowed URL gets a record of
//! kind `robots` and no request. This module is the parser and the matcher ([`Rules`]), the
//! reading of a fetch's outcome as RFC 9309 §2.3.1 asks ([`Rules::from_outcome`]), and the
//! run's cache of hosts' rules, which makes one fetch per host however many URLs wait for it
//! ([`RobotsCache`]).
//!
//! The parser keeps only what the crawler needs: the rules of the groups that name its product
//! token (the User-Agent's first word, case-insensitively; `abreast` by default), merged, or
//! else those of the `*` groups, merged; rules outside any group are ignored. It reads at most
//! [`MAX_ROBOTS_BYTES`] (the RFC's minimum, 500 KiB), any bytes (a line that is not UTF-8 or not
//! a rule is skipped), and lines ended by CR, LF or both. Matching uses the rule with the most
//! octets, `Allow` winning a tie; `*` matches any run of characters and a final `$` the end of
//! the URL; paths are compared percent-encoded alike (non-ASCII bytes encoded, unreserved
//! characters decoded). `/robots.txt` itself is always allowed. `Crawl-delay` (not in the RFC,
//! widely published) is read from the same groups and capped at [`MAX_CRAWL_DELAY`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The most of a robots.txt read: RFC 9309 asks crawlers to parse at least 500 KiB.
pub const MAX_ROBOTS_BYTES: usize = 500 * 1024;

/// The longest `Crawl-delay` honoured; a longer one is taken as this.
pub const MAX_CRAWL_DELAY: Duration = Duration::from_secs(60);

/// Hosts whose rules a run keeps at most; past this, the rules of half of them are dropped
/// (and fetched again if their hosts come back).
const CACHE_HOSTS: usize = 100_000;

/// Whether a run reads robots.txt (`--robots`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RobotsPolicy {
    /// Fetch every URL given, as wget and curl do for a list the user chose: the default.
    #[default]
    Ignore,
    /// Fetch each host's robots.txt first and skip the URLs it disallows.
    Obey,
}

impl std::str::FromStr for RobotsPolicy {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "obey" => Ok(RobotsPolicy::Obey),
            "ignore" => Ok(RobotsPolicy::Ignore),
            other => Err(format!(
                "unknown robots policy {other:?}: use obey or ignore"
            )),
        }
    }
}

/// The product token of a User-Agent: its first word, up to the first character that is not a
/// letter, `_` or `-` (`MyBot` for `MyBot/2.0 (+https://example.org/bot)`).
pub fn product_token(user_agent: &str) -> &str {
    let user_agent = user_agent.trim_start();
    let end = user_agent
        .find(|c: char| !(c.is_ascii_alphabetic() || c == '_' || c == '-'))
        .unwrap_or(user_agent.len());
    &user_agent[..end]
}

/// One `Allow` or `Disallow` line of the groups that apply.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    allow: bool,
    /// The path pattern, normalized (see [`normalize`]).
    pattern: Vec<u8>,
}

/// What a host's robots.txt says to this crawler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    /// Everything allowed, everything disallowed, or these rules.
    verdict: Base,
    rules: Vec<Rule>,
    crawl_delay: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Base {
    /// Apply the rules (none: everything is allowed).
    Rules,
    /// The file is unavailable (4xx, too many redirects): everything is allowed.
    Unavailable(String),
    /// The file is unreachable (5xx, no connection): everything is disallowed.
    Unreachable(String),
    /// The host's name does not resolve: nothing of it can be fetched.
    Unresolved(String),
}

/// Why a URL may not be fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// What the record says.
    pub message: String,
}

/// How a fetch of robots.txt ended, as RFC 9309 §2.3.1 sorts outcomes.
#[derive(Debug, Clone, Copy)]
pub enum Outcome<'a> {
    /// A 2xx answer with this body (at most [`MAX_ROBOTS_BYTES`] of it are read).
    Body(&'a [u8]),
    /// A 4xx answer, or a redirect chain that did not end: the file is unavailable.
    Unavailable(&'a str),
    /// A 5xx answer after the retries, or no answer at all: the file is unreachable.
    Unreachable(&'a str),
    /// The host's name did not resolve (why): neither the file nor any URL of the host can be
    /// fetched, and the URLs' records say so.
    Unresolved(&'a str),
}

impl Rules {
    /// Everything allowed: no rules.
    pub fn allow_all() -> Rules {
        Rules {
            verdict: Base::Rules,
            rules: Vec::new(),
            crawl_delay: None,
        }
    }

    /// The rules of a fetch's `outcome` for the crawler whose product token is `token`: the
    /// parsed body; everything allowed when the file is unavailable; everything disallowed
    /// when it is unreachable. `why` describes the outcome for the records' messages.
    pub fn from_outcome(outcome: Outcome<'_>, token: &str) -> Rules {
        match outcome {
            Outcome::Body(body) => Rules::parse(body, token),
            Outcome::Unavailable(why) => Rules {
                verdict: Base::Unavailable(why.to_owned()),
                ..Rules::allow_all()
            },
            Outcome::Unreachable(why) => Rules {
                verdict: Base::Unreachable(why.to_owned()),
                ..Rules::allow_all()
            },
            Outcome::Unresolved(why) => Rules {
                verdict: Base::Unresolved(why.to_owned()),
                ..Rules::allow_all()
            },
        }
    }

    /// True when the host's name did not resolve: a refusal then reports that lookup's error.
    pub fn is_unresolved(&self) -> bool {
        matches!(self.verdict, Base::Unresolved(_))
    }

    /// Parses `body` for the crawler whose product token is `token`, keeping only the rules of
    /// the groups that apply to it.
    pub fn parse(body: &[u8], token: &str) -> Rules {
        let body = &body[..body.len().min(MAX_ROBOTS_BYTES)];
        let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
        let mut mine = Groups::default();
        let mut anyone = Groups::default();
        // Whether the current group names this crawler, or `*`; and whether the last line was
        // a user-agent line (consecutive ones open one group together).
        let (mut names_me, mut names_anyone, mut in_agents) = (false, false, false);
        for line in body.split(|&byte| byte == b'\n' || byte == b'\r') {
            let line = match line.iter().position(|&byte| byte == b'#') {
                Some(hash) => &line[..hash],
                None => line,
            };
            let Some(colon) = line.iter().position(|&byte| byte == b':') else {
                continue;
            };
            let key = line[..colon].trim_ascii();
            let value = line[colon + 1..].trim_ascii();
            if key.eq_ignore_ascii_case(b"user-agent") {
                if !in_agents {
                    names_me = false;
                    names_anyone = false;
                    in_agents = true;
                }
                if value.starts_with(b"*") {
                    names_anyone = true;
                } else {
                    let named = std::str::from_utf8(value).map(product_token).unwrap_or("");
                    names_me |= !named.is_empty() && named.eq_ignore_ascii_case(token);
                }
                continue;
            }
            in_agents = false;
            let target = if names_me {
                mine.seen = true;
                &mut mine
            } else if names_anyone {
                anyone.seen = true;
                &mut anyone
            } else {
                continue;
            };
            if key.eq_ignore_ascii_case(b"allow") || key.eq_ignore_ascii_case(b"disallow") {
                // An empty path matches nothing: `Disallow:` allows everything.
                if !value.is_empty() {
                    target.rules.push(Rule {
                        allow: key.eq_ignore_ascii_case(b"allow"),
                        pattern: normalize(value),
                    });
                }
            } else if key.eq_ignore_ascii_case(b"crawl-delay")
                && let Some(delay) = std::str::from_utf8(value)
                    .ok()
                    .and_then(|text| text.parse::<f64>().ok())
                    .filter(|seconds| seconds.is_finite() && *seconds >= 0.0)
            {
                let delay = Duration::from_secs_f64(delay.min(MAX_CRAWL_DELAY.as_secs_f64()));
                target.crawl_delay = Some(target.crawl_delay.map_or(delay, |d| d.max(delay)));
            }
        }
        // A group naming this crawler, even an empty one, is obeyed instead of `*`'s.
        let chosen = if mine.seen || names_me { mine } else { anyone };
        Rules {
            verdict: Base::Rules,
            rules: chosen.rules,
            crawl_delay: chosen.crawl_delay,
        }
    }

    /// The `Crawl-delay` of the groups that apply, if any (at most [`MAX_CRAWL_DELAY`]).
    pub fn crawl_delay(&self) -> Option<Duration> {
        self.crawl_delay
    }

    /// Whether `path` (the URL's path and query, as sent: `/a/b?c=d`) may be fetched; if not,
    /// why. `robots_url` names the file in the message.
    pub fn check(&self, path: &str, robots_url: &str) -> Result<(), Refusal> {
        if path == "/robots.txt" {
            return Ok(());
        }
        match &self.verdict {
            Base::Unavailable(_) => return Ok(()),
            Base::Unreachable(why) => {
                return Err(Refusal {
                    message: format!(
                        "{robots_url} could not be fetched, so the host allows nothing for this \
                         run (RFC 9309): {why}"
                    ),
                });
            }
            Base::Unresolved(why) => {
                return Err(Refusal {
                    message: why.clone(),
                });
            }
            Base::Rules => {}
        }
        let path = normalize(path.as_bytes());
        let mut best: Option<&Rule> = None;
        for rule in &self.rules {
            if !matches(&rule.pattern, &path) {
                continue;
            }
            let better = match best {
                None => true,
                Some(best) => {
                    rule.pattern.len() > best.pattern.len()
                        || (rule.pattern.len() == best.pattern.len() && rule.allow && !best.allow)
                }
            };
            if better {
                best = Some(rule);
            }
        }
        match best {
            Some(rule) if !rule.allow => Err(Refusal {
                message: format!(
                    "{robots_url} disallows it (Disallow: {}); use --robots ignore to fetch it \
                     anyway",
                    String::from_utf8_lossy(&rule.pattern)
                ),
            }),
            _ => Ok(()),
        }
    }
}

/// The rules gathered for one kind of group (this crawler's, or `*`).
#[derive(Default)]
struct Groups {
    seen: bool,
    rules: Vec<Rule>,
    crawl_delay: Option<Duration>,
}

/// A path in the one form both sides are compared in (RFC 9309 §2.2.2): bytes outside ASCII
/// percent-encoded, escapes of unreserved characters (`A-Z a-z 0-9 - . _ ~`) decoded, and the
/// other escapes' hex digits in upper case.
fn normalize(path: &[u8]) -> Vec<u8> {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = Vec::with_capacity(path.len());
    let mut i = 0;
    while i < path.len() {
        let byte = path[i];
        if byte == b'%'
            && let (Some(high), Some(low)) = (
                path.get(i + 1).and_then(|b| (*b as char).to_digit(16)),
                path.get(i + 2).and_then(|b| (*b as char).to_digit(16)),
            )
        {
            let decoded = (high * 16 + low) as u8;
            if decoded.is_ascii_alphanumeric() || b"-._~".contains(&decoded) {
                out.push(decoded);
            } else {
                out.extend_from_slice(&[b'%', HEX[high as usize], HEX[low as usize]]);
            }
            i += 3;
            continue;
        }
        if byte.is_ascii() {
            out.push(byte);
        } else {
            out.extend_from_slice(&[b'%', HEX[(byte >> 4) as usize], HEX[(byte & 15) as usize]]);
        }
        i += 1;
    }
    out
}

/// Whether `pattern` matches the start of `path`: `*` matches any run of bytes, a final `$`
/// anchors the end. Greedy with one backtrack point, so linear in practice and at worst
/// `pattern × path`.
fn matches(pattern: &[u8], path: &[u8]) -> bool {
    let (pattern, anchored) = match pattern.strip_suffix(b"$") {
        Some(rest) => (rest, true),
        None => (pattern, false),
    };
    let (mut p, mut s) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    loop {
        if p == pattern.len() {
            if !anchored || s == path.len() {
                return true;
            }
        } else if pattern[p] == b'*' {
            star = Some((p, s));
            p += 1;
            continue;
        } else if s < path.len() && pattern[p] == path[s] {
            p += 1;
            s += 1;
            continue;
        }
        // Mismatch (or an anchored end not reached): let the last `*` take one more byte.
        match star {
            Some((star_p, star_s)) if star_s < path.len() => {
                star = Some((star_p, star_s + 1));
                p = star_p + 1;
                s = star_s + 1;
            }
            _ => return false,
        }
    }
}

/// A host's robots.txt as a fetch of it ended, owned: what [`SharedRobots`] passes between the
/// runs that share files (the workers of one broker job), so that each host's file is fetched
/// once for all of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RobotsFile {
    /// A 2xx answer with this body (at most [`MAX_ROBOTS_BYTES`]).
    Body(Vec<u8>),
    /// A 4xx answer, or a redirect chain that did not end (why): everything is allowed.
    Unavailable(String),
    /// A 5xx answer after the retries, or no answer at all (why): everything is disallowed.
    Unreachable(String),
    /// The host's name did not resolve (why).
    Unresolved(String),
}

impl RobotsFile {
    /// The outcome it records, to read rules from.
    pub(crate) fn outcome(&self) -> Outcome<'_> {
        match self {
            RobotsFile::Body(body) => Outcome::Body(body),
            RobotsFile::Unavailable(why) => Outcome::Unavailable(why),
            RobotsFile::Unreachable(why) => Outcome::Unreachable(why),
            RobotsFile::Unresolved(why) => Outcome::Unresolved(why),
        }
    }

    /// The file as bytes, for a store: a tag byte, then the body or the reason.
    pub fn to_bytes(&self) -> Vec<u8> {
        let (tag, rest) = match self {
            RobotsFile::Body(body) => (b'B', body.as_slice()),
            RobotsFile::Unavailable(why) => (b'A', why.as_bytes()),
            RobotsFile::Unreachable(why) => (b'R', why.as_bytes()),
            RobotsFile::Unresolved(why) => (b'D', why.as_bytes()),
        };
        let mut bytes = Vec::with_capacity(1 + rest.len());
        bytes.push(tag);
        bytes.extend_from_slice(rest);
        bytes
    }

    /// The file [`RobotsFile::to_bytes`] wrote; `None` for bytes it did not write.
    pub fn from_bytes(bytes: &[u8]) -> Option<RobotsFile> {
        let (tag, rest) = bytes.split_first()?;
        let text = || String::from_utf8(rest.to_vec()).ok();
        Some(match tag {
            b'B' => RobotsFile::Body(rest[..rest.len().min(MAX_ROBOTS_BYTES)].to_vec()),
            b'A' => RobotsFile::Unavailable(text()?),
            b'R' => RobotsFile::Unreachable(text()?),
            b'D' => RobotsFile::Unresolved(text()?),
            _ => return None,
        })
    }
}

/// robots.txt files shared by several runs: with it in [`RunOptions`](crate::RunOptions), a run
/// asks it for a host's file before fetching the file itself, and hands it what it fetched. The
/// broker's workers share one per job, so a host's file is fetched once per job, and a host's
/// `Crawl-delay` spaces the requests of all of them ([`SharedRobots::pace`]).
///
/// An implementation that sees another run fetching the file waits for it (within reason);
/// when it cannot tell (its store is unreachable), it answers `None` and the run fetches the
/// file itself: a file fetched twice is better than a run that stalls.
pub trait SharedRobots: Send + Sync + std::fmt::Debug {
    /// The file of `origin` (`https://host:port`) as another run fetched it, or `None`: this
    /// run fetches it, then calls [`SharedRobots::store`].
    fn load<'a>(&'a self, origin: &'a str) -> futures::future::BoxFuture<'a, Option<RobotsFile>>;

    /// Keeps `file` as `origin`'s, for the other runs.
    fn store<'a>(&'a self, origin: &'a str, file: RobotsFile)
    -> futures::future::BoxFuture<'a, ()>;

    /// Waits until a request to `host` may start at least `delay` (its `Crawl-delay`) after the
    /// last one that any of the runs started to it, and reserves that start. A run calls it
    /// once it holds the host's permit, before each request to a host with a `Crawl-delay`.
    /// When it cannot tell (its store is unreachable) it returns at once: the run's own pace
    /// still holds.
    fn pace<'a>(&'a self, host: &'a str, delay: Duration) -> futures::future::BoxFuture<'a, ()>;
}

/// What a caller must do for a host's rules.
#[derive(Debug)]
pub enum Claim {
    /// The rules are known.
    Known(Arc<Rules>),
    /// Another caller is fetching them: wait on this (a closed channel: that fetch was
    /// abandoned; claim again).
    Wait(flume::Receiver<Arc<Rules>>),
    /// Nobody is: fetch them, then hand them to the [`Fetching`].
    Fetch(Fetching),
}

/// The duty to fetch one host's robots.txt. Completing it hands the rules to every waiter;
/// dropping it unfinished (a cancelled task) lets the next caller fetch instead.
#[derive(Debug)]
pub struct Fetching {
    cache: Arc<RobotsCache>,
    origin: String,
    done: bool,
}

impl Fetching {
    /// The host's rules are `rules`: keep them and wake the waiters.
    pub fn complete(mut self, rules: Rules) -> Arc<Rules> {
        let rules = Arc::new(rules);
        self.cache.answer(&self.origin, Some(Arc::clone(&rules)));
        self.done = true;
        rules
    }
}

impl Drop for Fetching {
    fn drop(&mut self) {
        if !self.done {
            self.cache.answer(&self.origin, None);
        }
    }
}

enum Entry {
    Known(Arc<Rules>),
    Pending(Vec<flume::Sender<Arc<Rules>>>),
}

/// The robots.txt rules of a run's hosts, each fetched once: concurrent URLs of a new host
/// wait for the one fetch of its file. Hosts are keyed by origin (`https://host:port`).
#[derive(Default)]
pub struct RobotsCache {
    entries: Mutex<HashMap<String, Entry>>,
}

impl std::fmt::Debug for RobotsCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RobotsCache").finish_non_exhaustive()
    }
}

impl RobotsCache {
    /// An empty cache.
    pub fn new() -> Arc<RobotsCache> {
        Arc::new(RobotsCache::default())
    }

    /// What to do for `origin`'s rules.
    pub fn claim(self: &Arc<Self>, origin: &str) -> Claim {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        match entries.get_mut(origin) {
            Some(Entry::Known(rules)) => Claim::Known(Arc::clone(rules)),
            Some(Entry::Pending(waiters)) => {
                let (sender, receiver) = flume::bounded(1);
                waiters.push(sender);
                Claim::Wait(receiver)
            }
            None => {
                if entries.len() >= CACHE_HOSTS {
                    let mut dropped = 0;
                    entries.retain(|_, entry| {
                        let keep = matches!(entry, Entry::Pending(_)) || dropped >= CACHE_HOSTS / 2;
                        dropped += usize::from(!keep);
                        keep
                    });
                }
                entries.insert(origin.to_owned(), Entry::Pending(Vec::new()));
                Claim::Fetch(Fetching {
                    cache: Arc::clone(self),
                    origin: origin.to_owned(),
                    done: false,
                })
            }
        }
    }

    /// Ends the fetch of `origin`'s rules: keeps them and wakes the waiters, or (with `None`)
    /// forgets the fetch, so the waiters, woken by their closed channels, claim again.
    fn answer(&self, origin: &str, rules: Option<Arc<Rules>>) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let previous = match &rules {
            Some(rules) => entries.insert(origin.to_owned(), Entry::Known(Arc::clone(rules))),
            None => entries.remove(origin),
        };
        drop(entries);
        if let (Some(Entry::Pending(waiters)), Some(rules)) = (previous, rules) {
            for waiter in waiters {
                let _ = waiter.send(Arc::clone(&rules));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "https://www.example.com/robots.txt";

    #[test]
    fn a_shared_file_comes_back_as_it_went_and_foreign_bytes_are_refused() {
        let files = [
            RobotsFile::Body(b"User-agent: *\nDisallow: /\xff\n".to_vec()),
            RobotsFile::Unavailable("404 Not Found".into()),
            RobotsFile::Unreachable("503 Service Unavailable".into()),
            RobotsFile::Unresolved("no such name".into()),
            RobotsFile::Body(Vec::new()),
        ];
        for file in files {
            assert_eq!(RobotsFile::from_bytes(&file.to_bytes()), Some(file));
        }
        assert_eq!(RobotsFile::from_bytes(b""), None);
        assert_eq!(RobotsFile::from_bytes(b"Xwhatever"), None);
        assert_eq!(RobotsFile::from_bytes(b"A\xff"), None);
    }

    fn allowed(rules: &Rules, path: &str) -> bool {
        rules.check(path, URL).is_ok()
    }

    /// The robots.txt of RFC 9309 §5.1.
    const RFC_EXAMPLE: &str = "User-Agent: *\n\
        Disallow: *.gif$\n\
        Disallow: /example/\n\
        Allow: /publications/\n\
        \n\
        User-Agent: foobot\n\
        Disallow:/\n\
        Allow:/example/page.html\n\
        Allow:/example/allowed.gif\n\
        \n\
        User-Agent: barbot\n\
        User-Agent: bazbot\n\
        Disallow: /example/page.html\n\
        \n\
        User-Agent: quxbot\n\
        \n\
        EOF\n";

    #[test]
    fn the_rfc_example_for_each_of_its_crawlers() {
        let body = RFC_EXAMPLE.as_bytes();
        // foobot: everything is disallowed but two pages.
        let foobot = Rules::parse(body, "foobot");
        assert!(allowed(&foobot, "/example/page.html"));
        assert!(allowed(&foobot, "/example/allowed.gif"));
        assert!(!allowed(&foobot, "/example/other.html"));
        assert!(!allowed(&foobot, "/"));
        // barbot and bazbot share a group.
        for bot in ["barbot", "BazBot"] {
            let rules = Rules::parse(body, bot);
            assert!(!allowed(&rules, "/example/page.html"), "{bot}");
            assert!(allowed(&rules, "/example/other.html"), "{bot}");
            assert!(
                allowed(&rules, "/x.gif"),
                "{bot}: the * group is not theirs"
            );
        }
        // quxbot's group is empty: it may fetch everything, the * group notwithstanding.
        let quxbot = Rules::parse(body, "quxbot");
        assert!(allowed(&quxbot, "/example/") && allowed(&quxbot, "/a.gif"));
        // Any other crawler gets the * group.
        let other = Rules::parse(body, "abreast");
        assert!(!allowed(&other, "/images/a.gif"));
        assert!(allowed(&other, "/images/a.gift"), "$ anchors the end");
        assert!(!allowed(&other, "/example/"));
        assert!(allowed(&other, "/publications/"));
        assert!(allowed(&other, "/elsewhere"));
    }

    #[test]
    fn the_longest_match_wins_and_allow_wins_a_tie() {
        // RFC 9309 §5.2.
        let body =
            b"User-Agent: foobot\nAllow: /example/page/\nDisallow: /example/page/disallowed.gif\n";
        let rules = Rules::parse(body, "foobot");
        assert!(allowed(&rules, "/example/page/"));
        assert!(allowed(&rules, "/example/page/other.gif"));
        assert!(!allowed(&rules, "/example/page/disallowed.gif"));
        let tie = Rules::parse(b"user-agent: *\ndisallow: /page\nallow: /page\n", "abreast");
        assert!(allowed(&tie, "/page"));
        let longer_disallow =
            Rules::parse(b"user-agent: *\nallow: /p\ndisallow: /page\n", "abreast");
        assert!(!allowed(&longer_disallow, "/page/1"));
        assert!(allowed(&longer_disallow, "/p/1"));
    }

    #[test]
    fn groups_for_one_crawler_are_merged_and_matched_by_product_token() {
        // RFC 9309 §2.2.1: two groups naming ExampleBot are one.
        let body = b"user-agent: ExampleBot\ndisallow: /foo\ndisallow: /bar\n\n\
            user-agent: *\ndisallow: /everyone\n\n\
            user-agent: ExampleBot\ndisallow: /baz\n";
        let rules = Rules::parse(
            body,
            product_token("ExampleBot/1.2 (+https://example.org/bot)"),
        );
        for path in ["/foo", "/bar/x", "/baz"] {
            assert!(!allowed(&rules, path), "{path}");
        }
        assert!(
            allowed(&rules, "/everyone"),
            "the * group is not ExampleBot's"
        );
        let lower = Rules::parse(body, "examplebot");
        assert!(!allowed(&lower, "/baz"), "matched case-insensitively");
        assert_eq!(
            product_token("abreast/0.1.0 (+https://example.invalid/abreast)"),
            "abreast"
        );
        assert_eq!(product_token("My_Bot-2"), "My_Bot-");
    }

    #[test]
    fn wildcards_and_end_anchors() {
        let body = b"user-agent: *\n\
            disallow: /*.php$\n\
            disallow: /private*/secret\n\
            disallow: /fish*\n\
            allow: /fish/ok$\n";
        let rules = Rules::parse(body, "abreast");
        assert!(!allowed(&rules, "/index.php"));
        assert!(!allowed(&rules, "/a/b/c.php"));
        assert!(
            allowed(&rules, "/index.php?x=1"),
            "$: the query is part of the URL"
        );
        assert!(allowed(&rules, "/index.phps"));
        assert!(!allowed(&rules, "/private-area/x/secret/y"));
        assert!(allowed(&rules, "/private-area/x/public"));
        assert!(!allowed(&rules, "/fish.html") && !allowed(&rules, "/fishheads"));
        assert!(allowed(&rules, "/fish/ok"), "a longer allow");
        assert!(!allowed(&rules, "/fish/ok/more"));
        assert!(allowed(&rules, "/Fish.html"), "paths are case-sensitive");
        assert!(allowed(&rules, "/robots.txt"));
        assert!(matches(b"*", b""));
        assert!(matches(b"/a*b*c$", b"/axxbyyc"));
        assert!(!matches(b"/a*b*c$", b"/axxbyycd"));
    }

    #[test]
    fn percent_encoding_is_compared_alike() {
        // RFC 9309 §2.2.2's table: a path written in UTF-8 or percent-encoded is the same path,
        // and escapes of unreserved characters are their characters.
        let body = "user-agent: *\ndisallow: /foo/bar/ツ\ndisallow: /foo/bar/%62%61%7A\ndisallow: /q?baz=quz\n";
        let rules = Rules::parse(body.as_bytes(), "abreast");
        assert!(!allowed(&rules, "/foo/bar/%E3%83%84"));
        assert!(!allowed(&rules, "/foo/bar/%e3%83%84"));
        assert!(!allowed(&rules, "/foo/bar/baz"));
        assert!(!allowed(&rules, "/q?baz=quz"));
        assert!(allowed(&rules, "/foo/bar/qux"));
        assert_eq!(normalize(b"/%7e%2F"), b"/~%2F");
    }

    #[test]
    fn what_is_not_a_rule_is_skipped() {
        let mut body = b"\xEF\xBB\xBFuser-agent: *\r\ndisallow: /a # comment\r\n".to_vec();
        body.extend_from_slice(b"\xff\xfe\x00binary\x00: junk\nno colon here\nsitemap: /s.xml\r");
        body.extend_from_slice(b"disallow: /b\rcrawl-delay: 2.5\ncrawl-delay: soon\n");
        let rules = Rules::parse(&body, "abreast");
        assert!(!allowed(&rules, "/a") && !allowed(&rules, "/b"));
        assert!(allowed(&rules, "/c"));
        assert_eq!(rules.crawl_delay(), Some(Duration::from_millis(2500)));
        // Rules before any user-agent line belong to no group.
        let orphan = Rules::parse(b"disallow: /\nuser-agent: other\ndisallow: /\n", "abreast");
        assert!(allowed(&orphan, "/x"));
        // An empty Disallow allows everything; a huge delay is capped.
        let empty = Rules::parse(b"user-agent: *\ndisallow:\ncrawl-delay: 99999\n", "abreast");
        assert!(allowed(&empty, "/x"));
        assert_eq!(empty.crawl_delay(), Some(MAX_CRAWL_DELAY));
    }

    #[test]
    fn only_the_first_500_kib_are_read() {
        let mut body = b"user-agent: *\ndisallow: /early\n".to_vec();
        body.resize(MAX_ROBOTS_BYTES, b'\n');
        body.extend_from_slice(b"disallow: /late\n");
        let rules = Rules::parse(&body, "abreast");
        assert!(!allowed(&rules, "/early"));
        assert!(allowed(&rules, "/late"));
    }

    #[test]
    fn unavailable_allows_all_and_unreachable_disallows_all() {
        let gone = Rules::from_outcome(Outcome::Unavailable("HTTP 404"), "abreast");
        assert!(allowed(&gone, "/anything"));
        let down =
            Rules::from_outcome(Outcome::Unreachable("HTTP 503 after 3 attempts"), "abreast");
        let refusal = down.check("/anything", URL).unwrap_err();
        assert!(
            refusal.message.contains("HTTP 503 after 3 attempts"),
            "{}",
            refusal.message
        );
        assert!(allowed(&down, "/robots.txt"));
    }

    #[test]
    fn one_fetch_per_host_and_waiters_get_its_rules() {
        let cache = RobotsCache::new();
        let Claim::Fetch(fetching) = cache.claim("https://a.test") else {
            panic!("the first caller fetches");
        };
        let Claim::Wait(waiter) = cache.claim("https://a.test") else {
            panic!("the second waits");
        };
        fetching.complete(Rules::parse(b"user-agent: *\ndisallow: /x\n", "abreast"));
        assert!(!allowed(&waiter.recv().unwrap(), "/x"));
        assert!(matches!(cache.claim("https://a.test"), Claim::Known(_)));
        // An abandoned fetch wakes its waiters with a closed channel, and the next caller
        // fetches.
        let Claim::Fetch(abandoned) = cache.claim("https://b.test") else {
            panic!("fetch");
        };
        let Claim::Wait(waiter) = cache.claim("https://b.test") else {
            panic!("wait");
        };
        drop(abandoned);
        assert!(waiter.recv().is_err());
        assert!(matches!(cache.claim("https://b.test"), Claim::Fetch(_)));
    }
}

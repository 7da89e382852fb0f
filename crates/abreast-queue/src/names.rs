//! The two names a job on a broker is reached by: the broker's address ([`BrokerUrl`], whose
//! password is never shown) and the job's name ([`JobName`], checked so it cannot reach into
//! another key); and the names a process goes by on the broker ([`process_id`]: a worker's, a
//! collector's claim).

use std::fmt;
use std::str::FromStr;

use crate::QueueError;

/// A job's name: 1 to 128 of `A-Z a-z 0-9 . _ -`. Keys are made from it, so nothing else is
/// accepted (no spaces, braces, colons or wildcards).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobName(String);

impl JobName {
    /// Checks `name`.
    pub fn new(name: &str) -> Result<JobName, QueueError> {
        let valid = !name.is_empty()
            && name.len() <= 128
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if valid {
            Ok(JobName(name.to_owned()))
        } else {
            Err(QueueError::InvalidJobName(name.chars().take(160).collect()))
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for JobName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for JobName {
    type Err = QueueError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        JobName::new(text)
    }
}

/// The broker's address: `redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]`, or `rediss://` for
/// TLS. It prints (Display and Debug) with the password replaced by `***`, so no message,
/// status or log shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct BrokerUrl {
    full: String,
    shown: String,
}

impl BrokerUrl {
    /// Checks `text`: a `redis://` or `rediss://` URL with a host, and a database number if a
    /// path is given. The error shows the URL with its password hidden.
    pub fn parse(text: &str) -> Result<BrokerUrl, QueueError> {
        let invalid = |why: &str| QueueError::InvalidUrl {
            url: redact(text),
            why: why.to_owned(),
        };
        let url = url::Url::parse(text).map_err(|error| invalid(&error.to_string()))?;
        if !matches!(url.scheme(), "redis" | "rediss") {
            return Err(invalid(
                "the scheme must be redis:// (or rediss:// for TLS)",
            ));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(invalid("it names no host"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(invalid(
                "it has a ?query or #fragment, and abreast takes no options in the broker's \
                 address; remove them",
            ));
        }
        let path = url.path().trim_start_matches('/');
        if !path.is_empty() && path.parse::<u32>().is_err() {
            return Err(invalid("the path must be a database number, as in /0"));
        }
        Ok(BrokerUrl {
            full: text.to_owned(),
            shown: redact(text),
        })
    }

    /// The URL with its password, for the client only: never print it.
    pub(crate) fn secret(&self) -> &str {
        &self.full
    }

    /// The URL with its password hidden (as Display shows it).
    pub fn redacted(&self) -> &str {
        &self.shown
    }

    /// True for `rediss://` (TLS).
    pub fn is_tls(&self) -> bool {
        self.full.starts_with("rediss:")
    }
}

impl fmt::Display for BrokerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

impl fmt::Debug for BrokerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("BrokerUrl").field(&self.shown).finish()
    }
}

impl FromStr for BrokerUrl {
    type Err = QueueError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        BrokerUrl::parse(text)
    }
}

/// `text` with anything between `://` and the last `@` of the authority replaced by the user
/// name and `***`; text that does not parse keeps only its scheme.
pub(crate) fn redact(text: &str) -> String {
    let Some((scheme, rest)) = text.split_once("://") else {
        // Not a URL at all: it may still hold a password, so show none of it.
        return "(an address that is not a URL)".to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rfind('@') {
        None => format!("{scheme}://{authority}{tail}"),
        Some(at) => {
            let user = authority[..at].split(':').next().unwrap_or("");
            format!("{scheme}://{user}:***@{}{tail}", &authority[at + 1..])
        }
    }
}

/// This machine's name, for worker ids and the status list.
pub fn host_name() -> String {
    let mut buffer = [0u8; 256];
    // SAFETY: gethostname writes at most `len` bytes into the buffer it is given.
    let ok = unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len()) } == 0;
    let end = buffer.iter().position(|&b| b == 0).unwrap_or(buffer.len());
    match std::str::from_utf8(&buffer[..end]) {
        Ok(name) if ok && !name.is_empty() => name.to_owned(),
        _ => "unknown-host".to_owned(),
    }
}

/// A name unique to this process: host, pid and a random part.
pub fn process_id(kind: &str) -> String {
    format!(
        "{kind}-{}-{}-{:08x}",
        host_name(),
        std::process::id(),
        random_u32()
    )
}

fn random_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    hasher.finish() as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_names_are_checked() {
        for good in ["a", "crawl-2026.12_01", &"x".repeat(128)] {
            assert!(JobName::new(good).is_ok(), "{good}");
        }
        for bad in ["", "a b", "a:b", "{a}", "a*", "ä", &"x".repeat(129), "a\nb"] {
            assert!(JobName::new(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn passwords_are_never_shown() {
        let url = BrokerUrl::parse("redis://:s3cret@127.0.0.1:6390/2").unwrap();
        assert_eq!(url.to_string(), "redis://:***@127.0.0.1:6390/2");
        assert!(!format!("{url:?}").contains("s3cret"));
        let url = BrokerUrl::parse("rediss://bob:pa:ss@redis.example:6380").unwrap();
        assert_eq!(url.to_string(), "rediss://bob:***@redis.example:6380");
        assert!(url.is_tls());
        for bad in [
            "http://:s3cret@127.0.0.1/",
            "redis://:s3cret@127.0.0.1/x",
            "s3cret",
            "redis://:s3cret@",
            "redis://:s3cret@127.0.0.1/?protocol=resp3",
            "rediss://:s3cret@127.0.0.1#insecure",
        ] {
            let error = BrokerUrl::parse(bad).unwrap_err().to_string();
            assert!(!error.contains("s3cret"), "{error}");
        }
    }
}

//! `--shard K/N`: split one URL list across N machines with no coordinator.
//!
//! A URL belongs to shard `xxh3(host) mod N`, so every URL of one host lands on the same
//! machine (per-host limits still hold) and the shards are disjoint and cover the input. A line
//! that is not a fetchable URL has no host; it is placed by the hash of the whole line, so its
//! error record is written by exactly one shard. The hash is xxh3-64, whose output is fixed by
//! its specification, so shards agree across machines, builds and versions.

use std::fmt;
use std::str::FromStr;

use xxhash_rust::xxh3::xxh3_64;

use crate::input::Target;

/// Shard `index` of `count` (0 ≤ index < count): `--shard 0/4` … `--shard 3/4`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This shard's number, from 0 (Kubernetes Indexed Jobs number their pods the same way).
    pub index: u64,
    /// How many shards share the input.
    pub count: u64,
}

impl Shard {
    /// True if `target` belongs to this shard.
    pub fn contains(&self, target: &Target) -> bool {
        let key = target.host().unwrap_or(&target.line);
        xxh3_64(key.as_bytes()) % self.count == self.index
    }
}

/// A `--shard` value that is not `K/N` with `0 <= K < N`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid shard {given:?}: expected K/N with 0 <= K < N, for example 0/4")]
pub struct ShardParseError {
    given: String,
}

impl FromStr for Shard {
    type Err = ShardParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = || ShardParseError {
            given: text.to_owned(),
        };
        let (index, count) = text.split_once('/').ok_or_else(error)?;
        let index: u64 = index.trim().parse().map_err(|_| error())?;
        let count: u64 = count.trim().parse().map_err(|_| error())?;
        if count == 0 || index >= count {
            return Err(error());
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects() {
        assert_eq!(
            "1/4".parse::<Shard>().unwrap(),
            Shard { index: 1, count: 4 }
        );
        for bad in ["4/4", "1", "a/b", "0/0", "-1/3"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
        assert!(
            "4/4"
                .parse::<Shard>()
                .unwrap_err()
                .to_string()
                .contains("0 <= K < N")
        );
    }

    #[test]
    fn shards_are_disjoint_cover_everything_and_keep_hosts_together() {
        let lines: Vec<String> = (0..500)
            .map(|n| format!("http://host{}.test/page/{n}", n % 37))
            .chain(["not a url".to_owned(), "ftp://x.test/".to_owned()])
            .collect();
        let targets: Vec<Target> = lines
            .iter()
            .enumerate()
            .map(|(i, line)| Target::parse(i as u64, line))
            .collect();
        let count = 5;
        for target in &targets {
            let owners = (0..count)
                .filter(|&index| Shard { index, count }.contains(target))
                .count();
            assert_eq!(owners, 1, "{}", target.line);
        }
        let shard_of = |host: &str| {
            (0..count)
                .find(|&index| {
                    Shard { index, count }.contains(&Target::parse(0, &format!("http://{host}/a")))
                })
                .unwrap()
        };
        assert_eq!(shard_of("host3.test"), shard_of("HOST3.test"));
        // The hash is fixed by the xxh3 specification: this value must never change, or machines
        // running different versions would disagree on the shards.
        assert_eq!(xxh3_64(b"example.com"), 0x8b66_107e_8045_bb73);
        let shard = Shard { index: 3, count: 4 };
        assert!(shard.contains(&Target::parse(0, "https://example.com/any/path")));
    }
}

//! The fetch pipeline of abreast: read many URLs, fetch them at once, extract each page's
//! metadata, and write one record per input line, with any of abreast's mechanisms.
//!
//! ```text
//! input lines (bytes) -> parse URL -> shard filter (--shard K/N) -> skip done (--resume)
//!   -> driver: threads | async | processes | hybrid   (global cap -j, per-host cap)
//!   -> robots.txt (--robots obey) -> DNS (cached) -> TLS -> HTTP/1.1 or HTTP/2 GET within limits
//!   -> abreast-meta -> Record -> ordered writer -> summary
//! ```
//!
//! Every input line yields exactly one [`Record`], a page or an error, whatever the servers
//! do; a stopped run leaves only whole lines and says how many URLs it abandoned.
//!
//! | mode | fetch | extract |
//! |---|---|---|
//! | `threads` | blocking client (ureq) on a [`ThreadPool`](abreast::threads::ThreadPool) of `-j` threads | on the same thread |
//! | `async` | async client (reqwest on hyper) on one thread, `-j` coroutines | on the same thread |
//! | `processes` | blocking client in each worker of a process pool | in the worker |
//! | `hybrid` (default) | async client, `-j` fetches as tasks on one thread per two CPUs (a current-thread runtime when that is one, a multi-thread one when more) | on a thread pool, one thread per two CPUs, which hands each record to the writer |
//!
//! # As a library
//!
//! [`fetch`] takes a configuration and any iterator of URLs and hands back [`Records`], an
//! iterator of records as they complete; [`run`] writes them as JSON lines or CSV, which is all
//! the `abreast fetch` command does. Dropping [`Records`] stops the run and frees its threads,
//! runtimes and worker processes.
//!
//! ```no_run
//! use abreast_fetch::{FetchConfig, Mode, RunOptions, fetch};
//!
//! let urls = vec!["https://example.com/".to_string(), "not a url".to_string()];
//! let mut config = FetchConfig::default();
//! config.mode = Mode::Async;
//! let mut records = fetch(&config, urls, RunOptions::default())?;
//! for record in records.by_ref() {
//!     println!("{} ok={} title={:?}", record.url, record.ok, record.page.title);
//! }
//! eprintln!("{}", records.finish()?);
//! # Ok::<(), abreast_fetch::FetchError>(())
//! ```
//!
//! # The public API
//!
//! Everything a front end needs is at the crate root; the modules behind it are private, so
//! the CLI, the bench, the Python package and the broker's worker all go through the same
//! door.
//!
//! | item | what |
//! |---|---|
//! | [`fetch`], [`Records`], [`Next`], [`RunOptions`] | a run: URLs in, records out as they complete |
//! | [`run`], [`RecordWriter`], [`Format`], [`CSV_COLUMNS`] | a run written as JSON lines or CSV |
//! | [`ResumeLedger`], [`open_for_resume`], [`Resumed`] | `--resume`: what an earlier run's output already has |
//! | [`FetchConfig`], [`HttpSettings`], [`Mode`], [`Extraction`], [`Shard`], [`StopSignal`], [`RobotsPolicy`] | what a run is told |
//! | [`SharedRobots`], [`RobotsFile`] | robots.txt files shared by several runs (a broker job's workers) |
//! | [`SharedHosts`], [`SharedPermit`] | per-host limits shared by several runs (a broker job's `--per-host` and `--rate`) |
//! | [`parse_dns_server`], [`CaError`], [`check_header`], [`HeaderError`], [`SettingsError`] | `--dns-server`'s parser; why `--cacert`, a header or the User-Agent was refused |
//! | [`Record`], [`ErrorInfo`], [`ErrorKind`] | the one record each input line yields |
//! | [`extract_record`] | the same record for a page already in hand |
//! | [`Summary`] | a run's counts |
//! | [`IntoUrlLine`], [`line_as_text`], [`job_line`] | what an input item may be; a line of bytes as text; as a broker job carries it |
//! | [`FetchError`], [`ModeParseError`], [`ShardParseError`] | why a run could not start or finish |
//!
//! # Where things are
//!
//! | module (private) | what |
//! |---|---|
//! | `config` | [`Mode`], [`FetchConfig`], [`StopSignal`], [`FetchError`] |
//! | `input` | input lines to targets; [`IntoUrlLine`] |
//! | `run` | [`fetch`], [`Records`], [`run`]: the stop, the counts |
//! | `drive` | one module per mode (`threads`, `async`, `hybrid`, `processes`), the intake and the per-URL steps they share |
//! | `http` | [`HttpSettings`], the blocking and async clients, the caching resolver (`dns`), roots and certificate errors (`tls`), body limits and decoding, retries |
//! | `robots` | robots.txt per RFC 9309: the parser, the matcher, the run's cache of hosts' rules (the step itself is `drive/robots.rs`) |
//! | `page` | [`Extraction`], the kept body, and making a record of it |
//! | `hosts` | per-host caps and rates; [`SharedHosts`] |
//! | `record`, `output`, `summary`, `shard` | the record, its writers and the resume ledger, the counts, `--shard` |
#![deny(missing_docs)]

mod config;
mod drive;
mod hosts;
mod http;
mod input;
mod output;
mod page;
mod record;
mod robots;
mod run;
mod shard;
mod summary;

pub use config::{FetchConfig, FetchError, Mode, ModeParseError, SLOWEST_RATE, StopSignal};
pub use hosts::{SharedHosts, SharedPermit};
pub use http::dns::parse_server as parse_dns_server;
pub use http::tls::CaError;
pub use http::{HeaderError, HttpSettings, SettingsError, check_header};
pub use input::{IntoUrlLine, job_line, line_as_text, without_bom};
pub use output::{CSV_COLUMNS, Format, RecordWriter, ResumeLedger, Resumed, open_for_resume};
pub use page::{Extraction, extract_record};
pub use record::{ErrorInfo, ErrorKind, Record};
pub use robots::{RobotsFile, RobotsPolicy, SharedRobots};
pub use run::{Next, Records, RunOptions, fetch, run};
pub use shard::{Shard, ShardParseError};
pub use summary::Summary;

/// The rustls crypto provider of abreast's clients: ring's, with the choices browsers make
/// stated rather than left to ring's defaults, which have changed between rustls releases.
///
/// - AES-128-GCM is offered first, in TLS 1.3 and 1.2 alike (ring's own order puts AES-256
///   first). A server that follows the client's order, as most do, then runs the key schedule
///   on SHA-256, which the CPU's SHA extensions compute, where SHA-384 runs in software: a
///   handshake costs less, and so does each body's decryption.
/// - X25519 is the key share a TLS 1.3 ClientHello carries, then P-256 and P-384 (rustls
///   0.23.48 moved P-384 first for ring, whose P-384 runs on generic big-number code: a
///   handshake's key exchange there costs several times X25519's).
pub fn tls_crypto_provider() -> rustls::crypto::CryptoProvider {
    use rustls::crypto::ring::kx_group;
    let mut provider = rustls::crypto::ring::default_provider();
    let rank = |suite: &rustls::SupportedCipherSuite| match suite.suite() {
        rustls::CipherSuite::TLS13_AES_128_GCM_SHA256 => 0,
        rustls::CipherSuite::TLS13_AES_256_GCM_SHA384 => 1,
        rustls::CipherSuite::TLS13_CHACHA20_POLY1305_SHA256 => 2,
        rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
        | rustls::CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 => 3,
        _ => 4,
    };
    // A stable sort: within a rank, ring's order stands.
    provider.cipher_suites.sort_by_key(rank);
    provider.kx_groups = vec![kx_group::X25519, kx_group::SECP256R1, kx_group::SECP384R1];
    provider
}

/// Installs [`tls_crypto_provider`] as the process's rustls provider, once. Both HTTP stacks
/// call it when their client is made; a program that may open another TLS connection first (a
/// broker's, whose client installs ring's defaults where none is installed) calls it at start.
/// A provider another part of the program installed before is kept.
pub fn install_tls_crypto_provider() {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        let _ = tls_crypto_provider().install_default();
    });
}

#[cfg(test)]
mod tests {
    use rustls::{CipherSuite, NamedGroup};

    #[test]
    fn the_installed_provider_is_abreasts() {
        super::install_tls_crypto_provider();
        let installed = rustls::crypto::CryptoProvider::get_default().expect("installed");
        assert_eq!(installed.kx_groups[0].name(), NamedGroup::X25519);
        assert_eq!(
            installed.cipher_suites[0].suite(),
            CipherSuite::TLS13_AES_128_GCM_SHA256
        );
    }

    #[test]
    fn the_tls_provider_offers_aes_128_and_x25519_first() {
        let provider = super::tls_crypto_provider();
        assert_eq!(
            provider.cipher_suites[0].suite(),
            CipherSuite::TLS13_AES_128_GCM_SHA256
        );
        let groups: Vec<NamedGroup> = provider
            .kx_groups
            .iter()
            .map(|group| group.name())
            .collect();
        assert_eq!(
            groups,
            [
                NamedGroup::X25519,
                NamedGroup::secp256r1,
                NamedGroup::secp384r1
            ]
        );
    }
}

//! The fetch pipeline of abreast: read many URLs, fetch them at once, extract each page's
//! metadata, and write one record per input line, with any of abreast's mechanisms.
//!
//! ```text
//! input lines -> parse URL -> shard filter (--shard K/N) -> skip done (--resume)
//!   -> driver: threads | async | processes | hybrid   (global cap -j, per-host cap)
//!   -> HTTP GET within limits -> abreast-meta -> Record -> ordered writer -> summary
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
//! | `hybrid` (default) | async client, `-j` fetches as tasks on a multi-thread runtime (one thread per two CPUs) | on a thread pool, one thread per two CPUs, which hands each record to the writer |
//!
//! ```no_run
//! use abreast_fetch::{FetchConfig, Format, Mode, RecordWriter, StopSignal, run, output::Done};
//!
//! let input = std::io::Cursor::new("https://example.com/\n");
//! let mut writer = RecordWriter::new(std::io::stdout(), Format::Jsonl, true)?;
//! let config = FetchConfig { mode: Mode::Async, ..FetchConfig::default() };
//! let summary = run(&config, input, Done::default(), &mut writer, &StopSignal::new(), &mut |_, _| {})?;
//! eprintln!("{summary}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

pub mod asynchronous;
pub mod blocking;
pub mod body;
pub mod hosts;
pub mod http;
pub mod input;
pub mod output;
mod pipeline;
pub mod processes;
pub mod record;
pub mod retry;
pub mod shard;
pub mod summary;

pub use http::{Fetched, HttpSettings, finish_record};
pub use output::{Format, RecordWriter};
pub use pipeline::{FetchConfig, FetchError, Mode, ModeParseError, StopSignal, run};
pub use record::{ErrorInfo, ErrorKind, Record};
pub use shard::Shard;
pub use summary::Summary;

/// Installs rustls's ring crypto provider for the process, once (both HTTP stacks use rustls).
pub(crate) fn install_crypto_provider() {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        // Another part of the program may have installed one already: that one is kept.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

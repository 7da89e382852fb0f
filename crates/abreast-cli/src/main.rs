//! The `abreast` command-line tool: run the example job and measure the mechanisms.
//!
//! Each subcommand lives in its own module; `main` parses the arguments, runs one, and maps
//! the outcome to the exit codes of the design: 0 all good, 1 some inputs failed, 2 usage or
//! setup error, 130 interrupted.

mod bench;
mod broker;
mod collect;
mod extract;
mod fetch;
mod job_hosts;
mod progress;
mod serve;
mod status;
mod submit;
mod worker;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Run many tasks side by side: fetch pages and extract their metadata with threads, coroutines
/// or processes, and measure which mechanism wins for which work.
#[derive(Debug, Parser)]
#[command(name = "abreast", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Fetch many pages at once and write the metadata of each as one record per line.
    Fetch(fetch::FetchArgs),
    /// Extract the records of pages already on disk, without fetching them.
    Extract(extract::ExtractArgs),
    /// Serve the local test site: synthetic pages and fault routes on 127.0.0.1.
    Serve(serve::ServeArgs),
    /// Measure the mechanisms side by side.
    Bench(bench::BenchArgs),
    /// Serve the fetch jobs on a broker (submitted with `abreast fetch --broker`) until SIGTERM
    /// or Ctrl-C.
    Worker(worker::WorkerArgs),
    /// Show the jobs on a broker and the workers serving them; delete a finished job.
    Status(status::StatusArgs),
}

fn main() -> ExitCode {
    // A worker of a process pool is this binary started again: it must become one before
    // anything else runs (the `auto-init` feature already did; this call is then a no-op).
    abreast::processes::init();
    restore_default_sigpipe();
    // abreast's TLS choices for every connection, the broker's too (a worker connects to the
    // broker before it makes an HTTP client, and the broker's client would install ring's
    // defaults).
    abreast_fetch::install_tls_crypto_provider();
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Fetch(args) => fetch::run(&args),
        Command::Extract(args) => extract::run(&args),
        Command::Serve(args) => serve::run(&args),
        Command::Bench(args) => bench::run(&args),
        Command::Worker(args) => worker::run(&args),
        Command::Status(args) => status::run(&args),
    };
    match outcome {
        Ok(code) => code,
        Err(error) => {
            eprintln!("abreast: error: {}", in_words(&error));
            ExitCode::from(2)
        }
    }
}

/// `error` and its causes on one line, each said once. Several libraries (and ours) put their
/// cause's words in their own message as well as behind `source()`, where `{:#}` would print
/// them twice ("Is a directory (os error 21): Is a directory (os error 21)").
fn in_words(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let words = cause.to_string();
        if text.contains(&words) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&words);
    }
    text
}

/// Lets a closed stdout pipe (`abreast … | head`) end the program quietly, as Unix tools do,
/// instead of panicking on the failed write.
fn restore_default_sigpipe() {
    // SAFETY: called first thing in main, before any other thread exists; SIG_DFL is a valid
    // disposition for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cause_already_in_the_message_is_said_once() {
        let cause = std::io::Error::from(std::io::ErrorKind::IsADirectory);
        let error = anyhow::Error::new(cause).context(format!(
            "could not read the input: {}",
            std::io::Error::from(std::io::ErrorKind::IsADirectory)
        ));
        let words = in_words(&error);
        assert_eq!(words.matches("directory").count(), 1, "{words}");
        let error = anyhow::anyhow!("no answer").context("could not look up h1.site.test");
        assert_eq!(
            in_words(&error),
            "could not look up h1.site.test: no answer"
        );
    }
}

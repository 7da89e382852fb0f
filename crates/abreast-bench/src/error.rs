//! The error a bench run or an export returns: which case or which step failed, and why.

use std::path::PathBuf;

use thiserror::Error;

/// A boxed cause, with its own chain of causes.
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a bench run or an export failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum BenchError {
    /// A case failed, or did not do all its work (a fetch that did not get every page, a sum
    /// that came out wrong), or what it needs could not be made (a pool, the test site, a
    /// temporary folder). The cause names the case and says what went wrong.
    #[error("the bench stopped")]
    Case(#[source] Cause),
    /// A report could not be written where the user asked.
    #[error("could not write the {what} to {}: {source}; check that the folder exists and is writable", destination.display())]
    Export {
        /// What was being written (`JSON report`, `SVG chart`, …).
        what: String,
        /// The file asked for (`-` is stdout).
        destination: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
}

impl BenchError {
    /// A failed run, keeping the chain of context its steps added.
    pub(crate) fn from_run(error: anyhow::Error) -> BenchError {
        BenchError::Case(error.into())
    }
}

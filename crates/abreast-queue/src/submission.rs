//! [`Submission`]: a job's input submitted on a thread of its own, beside the collector that
//! writes its records, with the collector told when it may start ([`Progress::Verified`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use tokio::sync::watch;

/// Where a submission is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Reading the input; the job is not yet known to hold it.
    Started,
    /// The job holds this input as far as it goes: its records can be collected.
    Verified,
    /// Every line is on the job.
    Done {
        /// The job's lines.
        lines: u64,
    },
    /// Stopped before the input's end.
    Stopped,
    /// Failed for good; [`Submission::finish`] gives the cause.
    Failed,
}

/// A submission under way on its thread. Dropped, it is told to quit and joined.
pub struct Submission<E> {
    progress: watch::Receiver<Progress>,
    failure: Arc<Mutex<Option<E>>>,
    quit: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl<E> std::fmt::Debug for Submission<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Submission")
            .field("progress", &*self.progress.borrow())
            .finish_non_exhaustive()
    }
}

impl<E: Send + 'static> Submission<E> {
    /// Runs `submit` on a thread named `abreast-submit`, with the `verified` to pass to
    /// [`crate::Queue::submit`]; it returns the job's lines once all are on it, `None` if it
    /// stopped, or its failure. `quit` is set once this side is done with it (the flag of the
    /// stop `submit` looks at): it should stop soon, leaving the job unsealed.
    pub fn start<F>(quit: Arc<AtomicBool>, submit: F) -> std::io::Result<Submission<E>>
    where
        F: FnOnce(&(dyn Fn() + Sync)) -> Result<Option<u64>, E> + Send + 'static,
    {
        let (tell, progress) = watch::channel(Progress::Started);
        let failure = Arc::new(Mutex::new(None));
        let thread = {
            let failure = Arc::clone(&failure);
            std::thread::Builder::new()
                .name("abreast-submit".into())
                .spawn(move || {
                    let verified = || {
                        tell.send_if_modified(|progress| {
                            let first = *progress == Progress::Started;
                            *progress = Progress::Verified;
                            first
                        });
                    };
                    let end = match submit(&verified) {
                        Ok(Some(lines)) => Progress::Done { lines },
                        Ok(None) => Progress::Stopped,
                        Err(error) => {
                            *failure.lock().unwrap_or_else(PoisonError::into_inner) = Some(error);
                            Progress::Failed
                        }
                    };
                    tell.send_replace(end);
                })?
        };
        Ok(Submission {
            progress,
            failure,
            quit,
            thread: Some(thread),
        })
    }

    /// Waits until the job is known to hold this input, or the submission ended first.
    pub async fn verified(&mut self) -> Progress {
        match self.progress.wait_for(|p| *p != Progress::Started).await {
            Ok(progress) => *progress,
            Err(_) => Progress::Failed,
        }
    }

    /// Waits until the submission ended: all its lines are on the job, it stopped, or it failed.
    pub async fn ended(&self) -> Progress {
        let ended = |p: &Progress| {
            matches!(
                p,
                Progress::Done { .. } | Progress::Stopped | Progress::Failed
            )
        };
        match self.progress.clone().wait_for(ended).await {
            Ok(progress) => *progress,
            Err(_) => Progress::Failed,
        }
    }

    /// Where the submission is now.
    pub fn progress(&self) -> Progress {
        *self.progress.borrow()
    }

    /// Tells the submission to quit if it is still under way, waits for its thread, and gives
    /// where it ended, or its failure.
    pub fn finish(mut self) -> Result<Progress, E> {
        self.join();
        let progress = self.progress();
        match self
            .failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            Some(error) => Err(error),
            None => Ok(progress),
        }
    }
}

impl<E> Submission<E> {
    fn join(&mut self) {
        self.quit.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl<E> Drop for Submission<E> {
    fn drop(&mut self) {
        self.join();
    }
}

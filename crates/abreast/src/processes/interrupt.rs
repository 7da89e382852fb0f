//! [`CtrlC`]: what Ctrl-C means for a program with process pools, decided by the parent alone.
//!
//! Workers ignore SIGINT, so a Ctrl-C in the terminal reaches the parent only (in Python every
//! worker prints a `KeyboardInterrupt` traceback and the pool may hang). The first Ctrl-C drains
//! the watched pools: no new tasks, the running and queued ones finish, and the program sees
//! [`CtrlC::interrupted`] and winds down. A second Ctrl-C kills every worker of the watched pools
//! and exits with status 130.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use super::pool::{PoolShared, ProcessPool};

/// The Ctrl-C handler could not be installed.
#[derive(Debug, thiserror::Error)]
#[error(
    "could not install the Ctrl-C handler: {0}; another SIGINT handler (ctrlc, signal-hook, tokio::signal) may own it"
)]
pub struct CtrlCError(#[source] ctrlc::Error);

struct CtrlCState {
    presses: AtomicUsize,
    pools: Mutex<Vec<Weak<PoolShared>>>,
}

impl CtrlCState {
    fn pools(&self) -> Vec<Arc<PoolShared>> {
        let mut pools = self.pools.lock().unwrap_or_else(|p| p.into_inner());
        pools.retain(|pool| pool.strong_count() > 0);
        pools.iter().filter_map(Weak::upgrade).collect()
    }

    fn on_signal(&self) {
        let presses = self.presses.fetch_add(1, Ordering::SeqCst) + 1;
        if presses == 1 {
            eprintln!(
                "abreast: interrupted; finishing the tasks already given (press Ctrl-C again to stop now)"
            );
            for pool in self.pools() {
                pool.drain();
            }
        } else {
            eprintln!("abreast: interrupted again; stopping the workers");
            for pool in self.pools() {
                pool.stop_now();
            }
            std::process::exit(130);
        }
    }
}

/// The parent's Ctrl-C policy: first press drains, second kills the workers and exits 130.
///
/// ```no_run
/// use abreast::processes::{CtrlC, ProcessPool};
///
/// #[abreast::task]
/// fn square(n: u64) -> u64 {
///     n * n
/// }
///
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     abreast::processes::init();
///     let ctrl_c = CtrlC::install()?;
///     let pool = ProcessPool::builder().workers(4).build()?;
///     ctrl_c.watch(&pool);
///     for result in pool.map(square, 0..1_000_000) {
///         let _ = result?; // after a first Ctrl-C the map stops pulling input and ends
///     }
///     if ctrl_c.interrupted() {
///         std::process::exit(130);
///     }
///     Ok(())
/// }
/// ```
#[derive(Clone)]
pub struct CtrlC {
    state: Arc<CtrlCState>,
}

impl std::fmt::Debug for CtrlC {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CtrlC")
            .field("presses", &self.presses())
            .finish_non_exhaustive()
    }
}

static INSTALLED: OnceLock<Result<Arc<CtrlCState>, String>> = OnceLock::new();

impl CtrlC {
    /// Installs the SIGINT handler (once per process: later calls return the same policy).
    /// Fails if another SIGINT handler was installed through the `ctrlc` crate.
    pub fn install() -> Result<CtrlC, CtrlCError> {
        let mut failure = None;
        let installed = INSTALLED.get_or_init(|| {
            let state = Arc::new(CtrlCState {
                presses: AtomicUsize::new(0),
                pools: Mutex::new(Vec::new()),
            });
            let handler_state = Arc::clone(&state);
            match ctrlc::set_handler(move || handler_state.on_signal()) {
                Ok(()) => Ok(state),
                Err(error) => {
                    let message = error.to_string();
                    failure = Some(error);
                    Err(message)
                }
            }
        });
        match (installed, failure) {
            (Ok(state), _) => Ok(CtrlC {
                state: Arc::clone(state),
            }),
            (Err(_), Some(error)) => Err(CtrlCError(error)),
            (Err(message), None) => Err(CtrlCError(ctrlc::Error::System(std::io::Error::other(
                message.clone(),
            )))),
        }
    }

    /// Puts `pool` under this policy: drained by the first Ctrl-C, killed by the second.
    pub fn watch(&self, pool: &ProcessPool) {
        let mut pools = self.state.pools.lock().unwrap_or_else(|p| p.into_inner());
        // Forget the pools dropped since, so watching one pool after another keeps no husks.
        pools.retain(|pool| pool.strong_count() > 0);
        pools.push(Arc::downgrade(&pool.shared));
        drop(pools);
        if self.interrupted() {
            pool.drain();
        }
    }

    /// True once Ctrl-C was pressed: stop giving the pools work and wind down.
    pub fn interrupted(&self) -> bool {
        self.presses() > 0
    }

    /// How many times Ctrl-C was pressed since [`install`](Self::install).
    pub fn presses(&self) -> usize {
        self.state.presses.load(Ordering::SeqCst)
    }
}

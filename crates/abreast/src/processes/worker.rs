//! The worker side: how the same executable, started again by a pool, becomes a worker.
//!
//! A pool starts `/proc/self/exe --abreast-worker` with [`WORKER_ENV`] naming the inherited socket.
//! [`init`] (run automatically before `main` with the default `auto-init` feature) sees the
//! variable, serves tasks on the socket until it closes, and exits; in any other process it
//! returns at once. The worker ignores SIGINT and SIGTERM (the parent decides what Ctrl-C and a
//! SIGTERM to the process group mean, and stops its workers with SIGKILL), dies with
//! its parent (`PR_SET_PDEATHSIG`), and never touches stdin, stdout or stderr itself, so task
//! code may print freely.

use std::io::{BufReader, BufWriter, Read, Write};
use std::os::fd::{FromRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::time::Instant;

use super::registry::{ItemOutcome, registry};
use super::wire;
use crate::panic;

/// The environment variable that makes a process a worker: `FD:MEMORY_LIMIT:PARENT_PID`.
pub(crate) const WORKER_ENV: &str = "ABREAST_WORKER";
/// Set for a worker that calls [`init`] itself (`WorkerCommand::explicit_init`): the
/// `auto-init` constructor then does nothing.
pub(crate) const EXPLICIT_INIT_ENV: &str = "ABREAST_WORKER_EXPLICIT_INIT";
/// The argument a worker is started with: harmless to `main`, and visible in `ps`.
pub(crate) const WORKER_ARG: &str = "--abreast-worker";

/// Turns this process into a process-pool worker if a pool started it; otherwise returns at once.
///
/// With the default `auto-init` feature this runs by itself before `main` (test binaries
/// included), so calling it is only needed without that feature; calling it anyway is harmless.
/// Call it first thing in `main`, before any other thread starts:
///
/// ```no_run
/// // The first line of `main`:
/// abreast::processes::init();
/// // … then the program proper, which may build a ProcessPool.
/// ```
pub fn init() {
    let Some(config) = std::env::var_os(WORKER_ENV) else {
        return;
    };
    let config = config.to_string_lossy().into_owned();
    // SAFETY: a worker runs this before `main` (or first in `main`), while it has one thread, so
    // nothing reads the environment concurrently. The variable must not leak into processes the
    // task starts, or they would take themselves for workers.
    unsafe {
        std::env::remove_var(WORKER_ENV);
        std::env::remove_var(EXPLICIT_INIT_ENV);
    }
    let code = match serve(&config) {
        Ok(()) => 0,
        Err(message) => {
            eprintln!("abreast worker {}: {message}", std::process::id());
            70 // EX_SOFTWARE
        }
    };
    let _ = std::io::stdout().flush();
    std::process::exit(code);
}

// SAFETY: a constructor runs before `main`, with one thread, while the standard library may not
// be fully set up; this one only reads an environment variable and, in a worker, serves tasks
// and exits without returning (`init`), touching no state another constructor could be making.
// In any other process it returns at once. `unsafe fn` is what `ctor` requires of it.
#[cfg(feature = "auto-init")]
#[ctor::ctor]
unsafe fn auto_init() {
    // A worker that calls init itself may be loading abreast as a library: serving from the
    // loader's constructor would hold the loader's lock, which a new thread needs.
    if std::env::var_os(EXPLICIT_INIT_ENV).is_none() {
        init();
    }
}

/// True in a process that a pool started as a worker but that did not run [`init`]: it must
/// not start pools of its own (each of its workers would do the same, without end).
pub(crate) fn started_as_worker_without_init() -> bool {
    std::env::var_os(WORKER_ENV).is_some()
}

/// Parses `FD:MEMORY_LIMIT:PARENT_PID`.
fn parse_config(config: &str) -> Option<(RawFd, u64, u32)> {
    let mut parts = config.split(':');
    let fd = parts.next()?.parse().ok()?;
    let memory_limit = parts.next()?.parse().ok()?;
    let parent = parts.next()?.parse().ok()?;
    Some((fd, memory_limit, parent))
}

/// Why a worker process stopped serving its pool before the pool let it go. Printed on the
/// worker's stderr before it exits with status 70; the pool sees the worker lost.
#[derive(Debug, thiserror::Error)]
enum WorkerError {
    /// The variable that makes a process a worker does not say `FD:MEMORY_LIMIT:PARENT_PID`.
    #[error(
        "malformed {WORKER_ENV}={0:?} (expected FD:MEMORY_LIMIT:PARENT_PID; only a process pool sets it)"
    )]
    MalformedConfig(String),
    /// The process that started this worker has exited.
    #[error("the pool that started this worker is gone")]
    Orphaned,
    /// `setrlimit` refused the pool's memory limit.
    #[error("could not set the memory limit: {0}")]
    MemoryLimit(#[source] std::io::Error),
    /// Reading or writing the pool's socket failed.
    #[error("lost the pool's socket: {0}")]
    Socket(#[from] std::io::Error),
    /// The pool sent a record this worker does not know: parent and worker are different
    /// builds, or the stream is corrupt.
    #[error("unexpected record {tag} from the pool (expected {expected})")]
    UnexpectedRecord {
        /// The record's tag.
        tag: u8,
        /// What was expected instead.
        expected: &'static str,
    },
    /// The pool named an initializer this build does not register.
    #[error("unknown initializer task {0}: parent and worker are different builds")]
    UnknownInitializer(u32),
}

/// Sets up the process, then answers the pool's records until the socket closes or EXIT.
fn serve(config: &str) -> Result<(), WorkerError> {
    let (fd, memory_limit, parent) =
        parse_config(config).ok_or_else(|| WorkerError::MalformedConfig(config.to_owned()))?;
    // SAFETY: plain libc calls with valid constants; no Rust state is involved.
    unsafe {
        // Ctrl-C, and a SIGTERM sent to the whole group (by `timeout`, systemd, an init that
        // forwards to the group), are the parent's to act on: it stops its pool itself.
        libc::signal(libc::SIGINT, libc::SIG_IGN);
        libc::signal(libc::SIGTERM, libc::SIG_IGN);
        // What Rust's runtime does before `main` (which a worker never reaches): a write to a
        // closed pipe is an error, not a silent death.
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
        #[cfg(target_os = "linux")]
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
    }
    // SAFETY: getppid cannot fail.
    if unsafe { libc::getppid() } as u32 != parent {
        return Err(WorkerError::Orphaned);
    }
    if memory_limit > 0 {
        let limit = libc::rlimit {
            rlim_cur: memory_limit as libc::rlim_t,
            rlim_max: memory_limit as libc::rlim_t,
        };
        // SAFETY: `limit` is a valid rlimit for the duration of the call.
        if unsafe { libc::setrlimit(libc::RLIMIT_AS, &limit) } != 0 {
            return Err(WorkerError::MemoryLimit(std::io::Error::last_os_error()));
        }
    }
    panic::install_hook();
    // SAFETY: the pool passed this descriptor, open and not CLOEXEC, for this process alone.
    let stream = unsafe { UnixStream::from_raw_fd(fd) };
    let input = stream.try_clone()?;
    let mut reader = BufReader::with_capacity(64 * 1024, input);
    let mut writer = BufWriter::with_capacity(64 * 1024, stream);

    let registry = registry();
    writer.write_all(&wire::MAGIC.to_le_bytes())?;
    writer.write_all(&registry.build_hash.to_le_bytes())?;
    writer.flush()?;

    // INIT: the initializer, if any, then one outcome.
    let Ok(tag) = wire::read_u8(&mut reader) else {
        return Ok(()); // the pool went away during the handshake
    };
    if tag != wire::INIT {
        return Err(WorkerError::UnexpectedRecord {
            tag,
            expected: "INIT",
        });
    }
    let task = wire::read_u32(&mut reader)?;
    let arg = wire::read_bytes(&mut reader)?;
    let outcome = if task == wire::NO_TASK {
        ItemOutcome::Value(Vec::new())
    } else {
        let entry = registry
            .entries
            .get(task as usize)
            .ok_or(WorkerError::UnknownInitializer(task))?;
        (entry.run)(&arg)
    };
    wire::write_outcome(&mut writer, &outcome)?;
    writer.flush()?;

    loop {
        let tag = match wire::read_u8(&mut reader) {
            Ok(tag) => tag,
            // The pool closed the socket (shut down, or died): nothing more to do.
            Err(_) => return Ok(()),
        };
        match tag {
            wire::RUN => run_frame(&mut reader, &mut writer)?,
            wire::EXIT => return Ok(()),
            other => {
                return Err(WorkerError::UnexpectedRecord {
                    tag: other,
                    expected: "RUN or EXIT",
                });
            }
        }
    }
}

/// Runs one RUN record's items in order, writing each outcome, then END; flushes once.
fn run_frame(reader: &mut impl Read, writer: &mut impl Write) -> std::io::Result<()> {
    let task = wire::read_u32(reader)?;
    let count = wire::read_u32(reader)?;
    let entry = registry().entries.get(task as usize).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("unknown task {task}"),
        )
    })?;
    let started = Instant::now();
    let mut arg = Vec::new();
    for _ in 0..count {
        wire::read_bytes_into(reader, &mut arg)?;
        let outcome = (entry.run)(&arg);
        wire::write_outcome(writer, &outcome)?;
    }
    let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
    writer.write_all(&[wire::END])?;
    writer.write_all(&nanos.to_le_bytes())?;
    writer.flush()
}

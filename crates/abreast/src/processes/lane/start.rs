//! Starting a worker process: the exec, the inherited socket, the signals it is born with, and
//! the handshake that checks its build and runs its initializer.

use std::io::{self, BufWriter, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use super::reader::{exit_of, read_results, task_error};
use super::{Lane, StartError, Worker};
use crate::error::{TaskError, TaskId};
use crate::processes::pool::Config;
use crate::processes::registry::{ItemOutcome, registry};
use crate::processes::wire;
use crate::processes::worker::{EXPLICIT_INIT_ENV, WORKER_ARG, WORKER_ENV};

/// The executable a worker runs: this very file, even if it was replaced on disk since.
fn worker_executable() -> io::Result<std::path::PathBuf> {
    if cfg!(target_os = "linux") {
        Ok("/proc/self/exe".into())
    } else {
        std::env::current_exe()
    }
}

/// Starts one worker process and completes the handshake (build check, initializer).
pub(super) fn start_worker(lane: &Arc<Lane>) -> Result<Worker, StartError> {
    let config = &lane.context.config;
    let (parent_end, child_end) = UnixStream::pair().map_err(StartError::Spawn)?;
    let child_fd = child_end.as_raw_fd();
    let parent_pid = std::process::id();
    let mut command = match &config.worker_command {
        Some(worker) => {
            let mut command = Command::new(&worker.program);
            command.args(&worker.args);
            if worker.explicit_init {
                command.env(EXPLICIT_INIT_ENV, "1");
            }
            command
        }
        None => Command::new(worker_executable().map_err(StartError::Spawn)?),
    };
    command
        .arg(WORKER_ARG)
        .env(
            WORKER_ENV,
            format!(
                "{child_fd}:{}:{parent_pid}",
                config.memory_limit.unwrap_or(0)
            ),
        )
        .stdin(Stdio::null());
    // SAFETY: the closure runs in the forked child before exec and only makes async-signal-safe
    // calls (fcntl, prctl, getppid, signal) on values copied in.
    unsafe {
        command.pre_exec(move || {
            // Let the child keep its end of the socket across exec (it was made CLOEXEC so that
            // no other child inherits it).
            if libc::fcntl(child_fd, libc::F_SETFD, 0) != 0 {
                return Err(io::Error::last_os_error());
            }
            #[cfg(target_os = "linux")]
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(io::Error::last_os_error());
            }
            if libc::getppid() as u32 != parent_pid {
                // The pool exited while starting this worker. (No allocation here: after a
                // fork in a threaded process only async-signal-safe calls are allowed.)
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
            // Ctrl-C goes to the whole foreground process group, and `timeout` or systemd may
            // send SIGTERM to all of it; only the parent decides.
            libc::signal(libc::SIGINT, libc::SIG_IGN);
            libc::signal(libc::SIGTERM, libc::SIG_IGN);
            Ok(())
        });
    }
    let mut child = command.spawn().map_err(StartError::Spawn)?;
    drop(child_end);
    let pid = child.id();
    match handshake(&parent_end, config) {
        Ok(()) => {}
        Err(error) => {
            let _ = child.kill();
            let status = child.wait();
            return Err(match error {
                HandshakeError::Io(message) => StartError::Handshake(match status {
                    Ok(status) => format!(
                        "{message}; the worker (pid {pid}) {}. If this executable does not run \
                         abreast::processes::init() first (the default `auto-init` feature does it \
                         before main), add that call",
                        exit_of(status)
                    ),
                    Err(_) => message,
                }),
                HandshakeError::Initializer(error) => StartError::Initializer(error),
            });
        }
    }
    let input = parent_end.try_clone().map_err(StartError::Spawn)?;
    {
        let mut state = lane.lock();
        state.pid = Some(pid);
        state.dead = false;
        state.kill = None;
        state.recycling = false;
        state.front_since = Instant::now();
    }
    let reader_lane = Arc::clone(lane);
    let reader = std::thread::Builder::new()
        .name(format!("abreast-proc-read-{}", lane.index))
        .spawn(move || read_results(&reader_lane, input, child))
        .map_err(StartError::Spawn)?;
    Ok(Worker {
        writer: BufWriter::with_capacity(64 * 1024, parent_end),
        reader,
        sent: 0,
    })
}

/// Why a handshake failed: the worker misbehaved, or its initializer failed.
enum HandshakeError {
    Io(String),
    Initializer(TaskError),
}

/// Reads HELLO (checking the build), sends INIT, reads its outcome.
fn handshake(stream: &UnixStream, config: &Config) -> Result<(), HandshakeError> {
    let io = |what: &str, error: io::Error| {
        HandshakeError::Io(match error.kind() {
            io::ErrorKind::UnexpectedEof => {
                format!("worker handshake failed while {what}: the worker ended before answering")
            }
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => format!(
                "worker handshake failed while {what}: no answer within the startup timeout \
                 ({:?}); raise ProcessPoolBuilder::startup_timeout if the initializer is slow",
                config.startup_timeout
            ),
            _ => format!("worker handshake failed while {what}: {error}"),
        })
    };
    stream
        .set_read_timeout(Some(config.startup_timeout))
        .map_err(|e| io("setting a timeout", e))?;
    let mut reader = stream;
    let magic = wire::read_u64(&mut reader).map_err(|e| io("waiting for HELLO", e))?;
    let hash = wire::read_u64(&mut reader).map_err(|e| io("waiting for HELLO", e))?;
    if magic != wire::MAGIC {
        return Err(HandshakeError::Io(
            "the worker did not speak the abreast protocol".into(),
        ));
    }
    if hash != registry().build_hash {
        return Err(HandshakeError::Io(
            "the worker is a different build of this program (its task registry differs); \
             rebuild and restart"
                .into(),
        ));
    }
    let mut writer = BufWriter::new(stream);
    let (task, arg): (u32, &[u8]) = match &config.initializer {
        Some(init) => (init.task, &init.arg),
        None => (wire::NO_TASK, &[]),
    };
    let sent = writer
        .write_all(&[wire::INIT])
        .and_then(|()| writer.write_all(&task.to_le_bytes()))
        .and_then(|()| wire::write_bytes(&mut writer, arg))
        .and_then(|()| writer.flush());
    sent.map_err(|e| io("sending INIT", e))?;
    drop(writer);
    let outcome = wire::read_outcome(&mut reader).map_err(|e| io("running the initializer", e))?;
    stream
        .set_read_timeout(None)
        .map_err(|e| io("clearing the timeout", e))?;
    match (outcome, &config.initializer) {
        (ItemOutcome::Value(_), _) => Ok(()),
        (failure, Some(init)) => Err(HandshakeError::Initializer(task_error(
            failure,
            TaskId::named(0, init.registration.name),
            init.registration,
        ))),
        (_, None) => Err(HandshakeError::Io(
            "the worker reported a failure with no initializer".into(),
        )),
    }
}

//! Running the explainer's Python programs next to abreast, for `abreast bench --with-python`.
//!
//! The programs live in `crates/abreast-bench/python/` and are built into this library, so an
//! installed `abreast` can run them from any folder: [`Python::find`] writes them to a temporary
//! folder. Each program prints one JSON line ([`ProgramOutput`]) with the wall time it measured
//! itself, around the work only, as the explainer's programs do (interpreter start-up and
//! imports are left out). [`Python::measure`] runs one warm-up and timed runs under a time limit
//! and turns them into a report [`Row`], or into a skipped row with the reason when Python or a
//! module is missing, or a failed row when the program failed.
//!
//! Peak memory is sampled by [`TreeSampler`](crate::memory::TreeSampler): the largest sum of the
//! resident sets of the Python process and its worker processes. CPU time is the program's own
//! figure (`cpu_seconds`, from `getrusage` over the same span as its wall time, its pool's
//! workers included), so that interpreter start-up and imports count for neither.

use std::ffi::{OsStr, OsString};
use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde::Deserialize;

use crate::report::{Implementation, Mechanism, Row};

/// The environment variable that names the Python interpreter to use instead of `python3`.
pub const PYTHON_ENV_VAR: &str = "ABREAST_PYTHON";

/// One of the Python programs of `crates/abreast-bench/python/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Program {
    /// `threads_fetch.py URLS_FILE --workers N`: `ThreadPoolExecutor` and `requests`.
    ThreadsFetch,
    /// `async_fetch.py URLS_FILE --workers N`: `asyncio.gather` and `aiohttp`.
    AsyncFetch,
    /// `processes_fetch.py URLS_FILE --workers N`: `multiprocessing.Pool.map` and `requests`.
    ProcessesFetch,
    /// `cpu_regex.py PAGES_DIR --mode loop|pool --workers N`: the regex over pages on disk.
    CpuRegex,
    /// `cpu_squares.py --tasks N --size SIZE --mode loop|pool --workers N`: the explainer's
    /// pure compute task, `sum(i * i for i in range(SIZE))`.
    CpuSquares,
    /// `abreast_fetch.py URLS_FILE --workers N`: the same job from Python through the `abreast`
    /// package (`pip install ./crates/abreast-py`).
    AbreastFetch,
    /// `cpu_extruct.py PAGES_DIR`: JSON-LD and OpenGraph by extruct, in a loop on one core.
    CpuExtruct,
}

impl Program {
    /// Every program.
    pub const ALL: [Program; 7] = [
        Program::ThreadsFetch,
        Program::AsyncFetch,
        Program::ProcessesFetch,
        Program::CpuRegex,
        Program::CpuSquares,
        Program::AbreastFetch,
        Program::CpuExtruct,
    ];

    /// The explainer's own programs (not [`Program::AbreastFetch`] nor [`Program::CpuExtruct`],
    /// which need packages the bench only uses where they are installed).
    pub const EXPLAINER: [Program; 5] = [
        Program::ThreadsFetch,
        Program::AsyncFetch,
        Program::ProcessesFetch,
        Program::CpuRegex,
        Program::CpuSquares,
    ];

    /// The program's file name in `crates/abreast-bench/python/`.
    pub fn file_name(self) -> &'static str {
        match self {
            Program::ThreadsFetch => "threads_fetch.py",
            Program::AsyncFetch => "async_fetch.py",
            Program::ProcessesFetch => "processes_fetch.py",
            Program::CpuRegex => "cpu_regex.py",
            Program::CpuSquares => "cpu_squares.py",
            Program::AbreastFetch => "abreast_fetch.py",
            Program::CpuExtruct => "cpu_extruct.py",
        }
    }

    /// The program's source, built into the binary.
    pub fn source(self) -> &'static str {
        match self {
            Program::ThreadsFetch => include_str!("../python/threads_fetch.py"),
            Program::AsyncFetch => include_str!("../python/async_fetch.py"),
            Program::ProcessesFetch => include_str!("../python/processes_fetch.py"),
            Program::CpuRegex => include_str!("../python/cpu_regex.py"),
            Program::CpuSquares => include_str!("../python/cpu_squares.py"),
            Program::AbreastFetch => include_str!("../python/abreast_fetch.py"),
            Program::CpuExtruct => include_str!("../python/cpu_extruct.py"),
        }
    }

    /// The modules beyond the standard library the program imports.
    pub fn required_modules(self) -> &'static [&'static str] {
        match self {
            Program::ThreadsFetch | Program::ProcessesFetch => &["requests"],
            Program::AsyncFetch => &["aiohttp"],
            Program::CpuRegex | Program::CpuSquares => &[],
            Program::AbreastFetch => &["abreast"],
            Program::CpuExtruct => &["extruct"],
        }
    }
}

/// Why a Python row could not run, as the row's note says it: `skipped: …`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skip(pub String);

impl std::fmt::Display for Skip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "skipped: {}", self.0)
    }
}

/// The JSON line every program prints.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ProgramOutput {
    /// The program's name, such as `threads_fetch`.
    pub program: String,
    /// `loop` or `pool`, for the cpu programs only.
    #[serde(default)]
    pub mode: Option<String>,
    /// Worker threads, processes, or concurrent connections.
    pub workers: usize,
    /// Tasks given: pages (printed as `pages`), or numbers for `cpu_squares`.
    #[serde(alias = "pages")]
    pub tasks: u64,
    /// Tasks done: pages fetched (or read) and searched, or sums computed.
    pub ok: u64,
    /// `<meta>` tags found on all pages together (0 for `cpu_squares`).
    #[serde(default)]
    pub metas: u64,
    /// Wall time of the work, as the program measured it.
    pub seconds: f64,
    /// CPU time (user + system) of the program and its worker processes over the same span.
    #[serde(default)]
    pub cpu_seconds: Option<f64>,
    /// For `abreast_fetch`: how the abreast module it imported was built (`release` or
    /// `debug`).
    #[serde(default)]
    pub build: Option<String>,
}

/// The note of a row measured on a debug build of the abreast module.
pub const DEBUG_BUILD_NOTE: &str = "the abreast module is a debug build (`maturin develop` without \
     `--release`), many times slower than abreast: install a release build to measure it";

/// One run of a program.
#[derive(Debug, Clone, PartialEq)]
pub struct PythonRun {
    /// What the program printed.
    pub output: ProgramOutput,
    /// The largest resident set of the program or any worker process it waited for, in bytes.
    pub peak_memory_bytes: u64,
    /// Wall time of the whole child process, start-up included.
    pub process_wall: Duration,
}

/// A Python row to measure: the program, its arguments, and how the row is labelled.
#[derive(Debug, Clone)]
pub struct PythonCase {
    /// The program to run.
    pub program: Program,
    /// Arguments after the script's path, such as `[urls_file, "--workers", "64"]`.
    pub args: Vec<OsString>,
    /// The row's mechanism.
    pub mechanism: Mechanism,
    /// The row's variant, if any.
    pub variant: Option<String>,
    /// The row's workers (as passed in `args`).
    pub workers: usize,
    /// Tasks (pages or numbers) the program is given: a run that does fewer fails.
    pub tasks: u64,
}

impl PythonCase {
    /// A case of one of the fetch programs: it reads the `pages` URLs of the file `list`, with
    /// `workers` at once (`--workers`), then takes the arguments `extra`.
    pub fn fetching(
        program: Program,
        mechanism: Mechanism,
        workers: usize,
        list: &std::path::Path,
        pages: u64,
        extra: impl IntoIterator<Item = OsString>,
    ) -> PythonCase {
        let mut args = args([
            list.as_os_str().to_owned(),
            "--workers".into(),
            workers.to_string().into(),
        ]);
        args.extend(extra);
        PythonCase {
            program,
            args,
            mechanism,
            variant: None,
            workers,
            tasks: pages,
        }
    }

    /// The same case, as a variant row (`with abreast`).
    pub fn with_variant(mut self, variant: &str) -> PythonCase {
        self.variant = Some(variant.to_owned());
        self
    }

    /// The row for this case when it cannot run.
    pub fn skipped_row(&self, note: impl Into<String>) -> Row {
        let row = Row::skipped(
            self.mechanism,
            Implementation::Python,
            self.workers,
            self.tasks,
            note,
        );
        match &self.variant {
            Some(variant) => row.with_variant(variant.clone()),
            None => row,
        }
    }
}

/// A Python interpreter with the programs written out where it can run them.
#[derive(Debug)]
pub struct Python {
    interpreter: PathBuf,
    version: String,
    scripts: tempfile::TempDir,
}

impl Python {
    /// Finds the interpreter named by `ABREAST_PYTHON`, or `python3` on the `PATH`, and writes
    /// the programs to a temporary folder. `Err` says why Python rows are skipped.
    pub fn find() -> Result<Python, Skip> {
        Python::find_interpreter(std::env::var_os(PYTHON_ENV_VAR))
    }

    /// As [`Python::find`], with the interpreter given (`None`: `python3`).
    pub fn find_interpreter(interpreter: Option<OsString>) -> Result<Python, Skip> {
        let (interpreter, named) = match interpreter {
            Some(path) if !path.is_empty() => (PathBuf::from(path), true),
            _ => (PathBuf::from("python3"), false),
        };
        let not_found = |why: String| {
            Skip(if named {
                format!(
                    "{} (from {PYTHON_ENV_VAR}) does not run: {why}; set {PYTHON_ENV_VAR} to a \
                     Python 3 interpreter",
                    interpreter.display()
                )
            } else {
                format!(
                    "python3 was not found ({why}); install Python 3 or set {PYTHON_ENV_VAR} to \
                     its path"
                )
            })
        };
        let output = Command::new(&interpreter)
            .arg("--version")
            .stdin(Stdio::null())
            .output()
            .map_err(|error| not_found(error.to_string()))?;
        let version = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        if !output.status.success() || !version.starts_with("Python 3") {
            return Err(not_found(format!("`--version` printed {version:?}")));
        }
        let scripts = tempfile::Builder::new()
            .prefix("abreast-python-")
            .tempdir()
            .map_err(|error| Skip(format!("could not make a temporary folder: {error}")))?;
        for program in Program::ALL {
            std::fs::write(scripts.path().join(program.file_name()), program.source()).map_err(
                |error| Skip(format!("could not write {}: {error}", program.file_name())),
            )?;
        }
        Ok(Python {
            interpreter,
            version,
            scripts,
        })
    }

    /// The interpreter's version, such as `Python 3.11.7`.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// `Err` naming the first module `program` needs that does not import, and how to
    /// install it.
    pub fn check(&self, program: Program) -> Result<(), Skip> {
        self.check_modules(program.required_modules())
    }

    /// `Err` naming the first of `modules` that does not import, and how to install it.
    pub fn check_modules(&self, modules: &[&str]) -> Result<(), Skip> {
        for module in modules {
            let imports = Command::new(&self.interpreter)
                .args(["-c", &format!("import {module}")])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|status| status.success());
            if !imports {
                // abreast's own package is built from this repository, not the index.
                let package = match *module {
                    "abreast" => "./crates/abreast-py",
                    other => other,
                };
                return Err(Skip(format!(
                    "{module} is not installed; python3 -m pip install {package}"
                )));
            }
        }
        Ok(())
    }

    /// Runs `program` once with `args`, killing it (and its worker processes) after `timeout`.
    pub fn run(
        &self,
        program: Program,
        args: &[OsString],
        timeout: Duration,
    ) -> anyhow::Result<PythonRun> {
        let script = self.scripts.path().join(program.file_name());
        let mut command = Command::new(&self.interpreter);
        command
            .arg(&script)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group, so a timeout kills the worker processes too.
            .process_group(0);
        let start = Instant::now();
        let mut child = command
            .spawn()
            .with_context(|| format!("could not start {}", self.interpreter.display()))?;
        let stdout = read_in_background(child.stdout.take());
        let stderr = read_in_background(child.stderr.take());
        let pid = libc::pid_t::try_from(child.id()).context("process id out of range")?;
        let sampler = crate::memory::TreeSampler::start(child.id());
        let exit = wait_with_timeout(pid, timeout);
        let peak_memory_bytes = sampler.finish().unwrap_or(0);
        let exit = exit?.map(|exit| exit.status);
        let process_wall = start.elapsed();
        let (stdout, stderr) = (stdout.join(), stderr.join());
        let (stdout, stderr) = (
            stdout.unwrap_or_default(),
            String::from_utf8_lossy(&stderr.unwrap_or_default()).into_owned(),
        );
        let Some(status) = exit else {
            bail!(
                "{} did not finish within {timeout:?} and was killed{}",
                program.file_name(),
                last_line(&stderr)
            );
        };
        if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
            bail!(
                "{} failed ({}){}",
                program.file_name(),
                describe_status(status),
                last_line(&stderr)
            );
        }
        let output = serde_json::from_slice(&stdout).with_context(|| {
            format!(
                "{} printed {:?}, not its JSON line",
                program.file_name(),
                String::from_utf8_lossy(&stdout)
            )
        })?;
        Ok(PythonRun {
            output,
            peak_memory_bytes,
            process_wall,
        })
    }

    /// Measures a case as the Rust rows are: `warmup` untimed runs, then `runs` timed ones,
    /// each within `timeout`. The row's wall times are the programs' own timings; its peak
    /// memory is the largest over the runs. A missing module gives a skipped row; a run that
    /// fails, times out, or handles fewer pages than given gives a row with a `failed: …` note.
    pub fn measure(&self, case: &PythonCase, warmup: u64, runs: u64, timeout: Duration) -> Row {
        if let Err(skip) = self.check(case.program) {
            return case.skipped_row(skip.to_string());
        }
        match self.measure_runs(case, warmup, runs, timeout) {
            Ok(row) => row,
            Err(error) => case.skipped_row(format!("failed: {error:#}")),
        }
    }

    fn measure_runs(
        &self,
        case: &PythonCase,
        warmup: u64,
        runs: u64,
        timeout: Duration,
    ) -> anyhow::Result<Row> {
        let mut seconds = Vec::new();
        let mut cpu = Vec::new();
        let mut peak_memory_bytes = 0;
        let mut debug_build = false;
        for run in 0..warmup + runs {
            let PythonRun {
                output,
                peak_memory_bytes: peak,
                ..
            } = self.run(case.program, &case.args, timeout)?;
            if output.ok != case.tasks {
                bail!(
                    "{} did {} of {} tasks",
                    case.program.file_name(),
                    output.ok,
                    case.tasks
                );
            }
            debug_build |= output.build.as_deref() == Some("debug");
            if run >= warmup {
                seconds.push(output.seconds);
                cpu.extend(output.cpu_seconds);
                peak_memory_bytes = peak_memory_bytes.max(peak);
            }
        }
        let row = Row::timed(
            case.mechanism,
            Implementation::Python,
            case.workers,
            case.tasks,
            &seconds,
        )
        .context("no timed runs: --runs must be at least 1")?
        .with_cpu(&cpu)
        .with_peak_memory(Some(peak_memory_bytes));
        let mut row = match &case.variant {
            Some(variant) => row.with_variant(variant.clone()),
            None => row,
        };
        if debug_build {
            row.note = Some(DEBUG_BUILD_NOTE.to_owned());
        }
        Ok(row)
    }

    /// The folder the programs were written to.
    pub fn scripts_dir(&self) -> &std::path::Path {
        self.scripts.path()
    }
}

/// Reads a child's pipe to its end on another thread, so neither pipe can fill and stall it.
pub(crate) fn read_in_background(
    pipe: Option<impl std::io::Read + Send + 'static>,
) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        bytes
    })
}

/// How a child ended: its wait status and the resources the kernel accounted to it (and to the
/// children it reaped).
pub(crate) struct Exit {
    /// The wait status.
    pub(crate) status: i32,
    /// Its resource usage, CPU time included.
    pub(crate) usage: libc::rusage,
}

/// Waits for the child `pid`, returning how it ended, or `None` after killing its process group
/// when `timeout` passed first.
///
/// Polling (every 1 to 20 ms) keeps the timeout free of races: the process group is killed
/// only while the child is known not to have been reaped.
pub(crate) fn wait_with_timeout(
    pid: libc::pid_t,
    timeout: Duration,
) -> anyhow::Result<Option<Exit>> {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(1);
    loop {
        let flags = if Instant::now() >= deadline {
            // SAFETY: kill has no memory preconditions; -pid names the child's own process
            // group, which exists until the child (its leader) is reaped below.
            unsafe { libc::kill(-pid, libc::SIGKILL) };
            0
        } else {
            libc::WNOHANG
        };
        let mut status = 0;
        // SAFETY: an all-zero rusage is a valid value of the plain C struct.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: status and usage are valid and writable through the call.
        let reaped = unsafe { libc::wait4(pid, &mut status, flags, &mut usage) };
        if reaped == pid {
            if flags == 0 {
                return Ok(None);
            }
            return Ok(Some(Exit { status, usage }));
        }
        if reaped == -1 {
            let error = std::io::Error::last_os_error();
            if error.kind() != std::io::ErrorKind::Interrupted {
                return Err(error).context("could not wait for the Python process");
            }
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

/// A wait status in words: `exit code 1` or `killed by signal 9`.
pub(crate) fn describe_status(status: i32) -> String {
    if libc::WIFEXITED(status) {
        format!("exit code {}", libc::WEXITSTATUS(status))
    } else if libc::WIFSIGNALED(status) {
        format!("killed by signal {}", libc::WTERMSIG(status))
    } else {
        format!("wait status {status}")
    }
}

/// The last line of a program's stderr, introduced for an error message, or nothing.
pub(crate) fn last_line(stderr: &str) -> String {
    stderr
        .lines()
        .rev()
        .find(|line| !line.trim().is_empty())
        .map(|line| format!(": {}", line.trim()))
        .unwrap_or_default()
}

/// The arguments of a program as `OsString`s, for [`PythonCase::args`].
pub fn args<I, S>(args: I) -> Vec<OsString>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    args.into_iter()
        .map(|arg| arg.as_ref().to_owned())
        .collect()
}

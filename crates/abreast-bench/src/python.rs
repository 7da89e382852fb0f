//! Running the explainer's Python programs next to abreast, for `abreast bench --with-python`.
//!
//! The programs live in `python/` at the repository root and are built into the binary, so an
//! installed `abreast` can run them from any folder: [`Python::find`] writes them to a temporary
//! folder. Each program prints one JSON line ([`ProgramOutput`]) with the wall time it measured
//! itself, around the work only, as the explainer's programs do (interpreter start-up and
//! imports are left out). [`Python::measure`] runs one warm-up and timed runs under a time limit
//! and turns them into a report [`Row`], or into a skipped row with the reason when Python or a
//! module is missing, or a failed row when the program failed.
//!
//! Peak memory is sampled by [`TreeSampler`](super::memory::TreeSampler): the largest sum of the
//! resident sets of the Python process and its worker processes.

use std::ffi::{OsStr, OsString};
use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde::Deserialize;

use super::report::{Implementation, Mechanism, Row};

/// The environment variable that names the Python interpreter to use instead of `python3`.
pub const PYTHON_ENV_VAR: &str = "ABREAST_PYTHON";

/// One of the Python programs of `python/`.
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
}

impl Program {
    /// Every program.
    pub const ALL: [Program; 5] = [
        Program::ThreadsFetch,
        Program::AsyncFetch,
        Program::ProcessesFetch,
        Program::CpuRegex,
        Program::CpuSquares,
    ];

    /// The program's file name in `python/`.
    pub fn file_name(self) -> &'static str {
        match self {
            Program::ThreadsFetch => "threads_fetch.py",
            Program::AsyncFetch => "async_fetch.py",
            Program::ProcessesFetch => "processes_fetch.py",
            Program::CpuRegex => "cpu_regex.py",
            Program::CpuSquares => "cpu_squares.py",
        }
    }

    /// The program's source, built into the binary.
    pub fn source(self) -> &'static str {
        match self {
            Program::ThreadsFetch => include_str!("../../../../python/threads_fetch.py"),
            Program::AsyncFetch => include_str!("../../../../python/async_fetch.py"),
            Program::ProcessesFetch => include_str!("../../../../python/processes_fetch.py"),
            Program::CpuRegex => include_str!("../../../../python/cpu_regex.py"),
            Program::CpuSquares => include_str!("../../../../python/cpu_squares.py"),
        }
    }

    /// The modules beyond the standard library the program imports.
    pub fn required_modules(self) -> &'static [&'static str] {
        match self {
            Program::ThreadsFetch | Program::ProcessesFetch => &["requests"],
            Program::AsyncFetch => &["aiohttp"],
            Program::CpuRegex | Program::CpuSquares => &[],
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
}

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

    fn check_modules(&self, modules: &[&str]) -> Result<(), Skip> {
        for module in modules {
            let imports = Command::new(&self.interpreter)
                .args(["-c", &format!("import {module}")])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|status| status.success());
            if !imports {
                return Err(Skip(format!(
                    "{module} is not installed; pip install {module}"
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
        let sampler = super::memory::TreeSampler::start(child.id());
        let exit = wait_with_timeout(pid, timeout);
        let peak_memory_bytes = sampler.finish().unwrap_or(0);
        let exit = exit?;
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
        let mut peak_memory_bytes = 0;
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
            if run >= warmup {
                seconds.push(output.seconds);
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
        .with_peak_memory(Some(peak_memory_bytes));
        Ok(match &case.variant {
            Some(variant) => row.with_variant(variant.clone()),
            None => row,
        })
    }

    /// The folder the programs were written to.
    #[cfg(test)]
    pub fn scripts_dir(&self) -> &std::path::Path {
        self.scripts.path()
    }
}

/// Reads a child's pipe to its end on another thread, so neither pipe can fill and stall it.
fn read_in_background(
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

/// Waits for the child `pid`, returning its wait status, or `None` after killing its process
/// group when `timeout` passed first.
///
/// Polling (every 1 to 20 ms) keeps the timeout free of races: the process group is killed
/// only while the child is known not to have been reaped.
fn wait_with_timeout(pid: libc::pid_t, timeout: Duration) -> anyhow::Result<Option<i32>> {
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
        // SAFETY: status is valid and writable through the call.
        let reaped = unsafe { libc::waitpid(pid, &mut status, flags) };
        if reaped == pid {
            if flags == 0 {
                return Ok(None);
            }
            return Ok(Some(status));
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
fn describe_status(status: i32) -> String {
    if libc::WIFEXITED(status) {
        format!("exit code {}", libc::WEXITSTATUS(status))
    } else if libc::WIFSIGNALED(status) {
        format!("killed by signal {}", libc::WTERMSIG(status))
    } else {
        format!("wait status {status}")
    }
}

/// The last line of a program's stderr, introduced for an error message, or nothing.
fn last_line(stderr: &str) -> String {
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

#[cfg(test)]
mod tests {
    use std::io::{BufRead as _, BufReader, Write as _};
    use std::net::{TcpListener, TcpStream};

    use super::*;

    /// A page with two `<meta>` tags, as the test site serves it.
    const PAGE: &str = "<html><head><meta charset=\"utf-8\">\n\
                        <meta name=\"description\" content=\"a test page\">\n\
                        </head><body>hello</body></html>";

    /// Serves `PAGE` on 127.0.0.1 (a free port) to every request, one thread per connection,
    /// for the rest of the test process. Returns the base URL.
    fn serve_pages() -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                std::thread::spawn(move || respond(stream));
            }
        });
        format!("http://{address}")
    }

    /// Answers every request on the connection with `PAGE` until the client closes it.
    fn respond(stream: TcpStream) {
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut writer = stream;
        loop {
            let mut line = String::new();
            // Skip the request line and headers.
            loop {
                line.clear();
                match reader.read_line(&mut line) {
                    Ok(0) | Err(_) => return,
                    Ok(_) if line == "\r\n" => break,
                    Ok(_) => {}
                }
            }
            let response = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\r\n{PAGE}",
                PAGE.len()
            );
            if writer.write_all(response.as_bytes()).is_err() {
                return;
            }
        }
    }

    fn urls_file(dir: &std::path::Path, base: &str, count: usize) -> OsString {
        let path = dir.join("urls.txt");
        let lines: String = (0..count).map(|n| format!("{base}/page/{n}\n")).collect();
        std::fs::write(&path, lines).unwrap();
        path.into_os_string()
    }

    /// The Python found here, or `None` (after checking the skip reason) where there is none.
    fn python() -> Option<Python> {
        match Python::find() {
            Ok(python) => Some(python),
            Err(skip) => {
                assert!(skip.to_string().starts_with("skipped: "), "{skip}");
                eprintln!("no Python here, only the skip path is tested: {skip}");
                None
            }
        }
    }

    #[test]
    fn a_missing_interpreter_or_module_is_a_skip_with_a_remedy() {
        let skip = Python::find_interpreter(Some("/no/such/python3".into())).unwrap_err();
        assert!(skip.to_string().contains(PYTHON_ENV_VAR), "{skip}");
        let Some(python) = python() else { return };
        assert!(python.version().starts_with("Python 3"));
        let skip = python
            .check_modules(&["abreast_no_such_module"])
            .unwrap_err();
        assert_eq!(
            skip.to_string(),
            "skipped: abreast_no_such_module is not installed; pip install abreast_no_such_module"
        );
        for program in Program::ALL {
            let source = std::fs::read_to_string(python.scripts_dir().join(program.file_name()));
            assert_eq!(source.unwrap(), program.source());
        }
    }

    #[test]
    fn cpu_regex_counts_metas_in_a_loop_and_in_a_pool() {
        let Some(python) = python() else { return };
        let pages = tempfile::tempdir().unwrap();
        for n in 0..6 {
            std::fs::write(pages.path().join(format!("{n}.html")), PAGE).unwrap();
        }
        for (mode, mechanism) in [
            ("loop", Mechanism::Sequential),
            ("pool", Mechanism::Processes),
        ] {
            let case = PythonCase {
                program: Program::CpuRegex,
                args: args([
                    pages.path().as_os_str(),
                    "--mode".as_ref(),
                    mode.as_ref(),
                    "--workers".as_ref(),
                    "2".as_ref(),
                ]),
                mechanism,
                variant: Some("regex".to_owned()),
                workers: if mode == "loop" { 1 } else { 2 },
                tasks: 6,
            };
            let run = python
                .run(case.program, &case.args, Duration::from_secs(60))
                .unwrap();
            assert_eq!(run.output.metas, 12, "{run:?}");
            assert_eq!(run.output.mode.as_deref(), Some(mode));
            assert!(run.peak_memory_bytes > 1024 * 1024, "{run:?}");
            let row = python.measure(&case, 0, 2, Duration::from_secs(60));
            assert_eq!(row.wall.map(|wall| wall.runs), Some(2), "{row:?}");
            assert_eq!(row.label(), format!("python {mechanism} regex"));
            assert!(row.peak_memory_bytes.is_some_and(|bytes| bytes > 0));
        }
    }

    #[test]
    fn cpu_squares_sums_in_a_loop_and_in_a_pool() {
        let Some(python) = python() else { return };
        for (mode, mechanism) in [
            ("loop", Mechanism::Sequential),
            ("pool", Mechanism::Processes),
        ] {
            let case = PythonCase {
                program: Program::CpuSquares,
                args: args([
                    "--tasks",
                    "4",
                    "--size",
                    "1000",
                    "--mode",
                    mode,
                    "--workers",
                    "2",
                ]),
                mechanism,
                variant: Some("squares".to_owned()),
                workers: if mode == "loop" { 1 } else { 2 },
                tasks: 4,
            };
            let run = python
                .run(case.program, &case.args, Duration::from_secs(60))
                .unwrap();
            assert_eq!((run.output.tasks, run.output.ok), (4, 4), "{run:?}");
            let row = python.measure(&case, 1, 1, Duration::from_secs(60));
            assert_eq!(row.note, None, "{row:?}");
            assert_eq!(row.label(), format!("python {mechanism} squares"));
        }
    }

    #[test]
    fn fetch_programs_fetch_every_page_or_say_what_is_missing() {
        let Some(python) = python() else { return };
        let base = serve_pages();
        let dir = tempfile::tempdir().unwrap();
        let urls = urls_file(dir.path(), &base, 20);
        for (program, mechanism) in [
            (Program::ThreadsFetch, Mechanism::Threads),
            (Program::AsyncFetch, Mechanism::Async),
            (Program::ProcessesFetch, Mechanism::Processes),
        ] {
            let case = PythonCase {
                program,
                args: args([urls.as_os_str(), "--workers".as_ref(), "4".as_ref()]),
                mechanism,
                variant: None,
                workers: 4,
                tasks: 20,
            };
            let row = python.measure(&case, 1, 1, Duration::from_secs(60));
            if let Err(skip) = python.check(program) {
                assert_eq!(row.note, Some(skip.to_string()));
                assert!(row.note.unwrap().contains("pip install"));
                continue;
            }
            assert_eq!(row.note, None, "{row:?}");
            assert!(row.throughput.is_some_and(|rate| rate > 0.0), "{row:?}");
            let run = python
                .run(program, &case.args, Duration::from_secs(60))
                .unwrap();
            assert_eq!((run.output.ok, run.output.metas), (20, 40), "{run:?}");
        }
    }

    #[test]
    fn measured_rows_go_through_every_exporter() {
        use crate::bench::report::{Report, SuiteReport};
        use crate::bench::{chart, export};

        let Some(python) = python() else { return };
        let case = PythonCase {
            program: Program::CpuSquares,
            args: args(["--tasks", "2", "--size", "1000", "--mode", "loop"]),
            mechanism: Mechanism::Sequential,
            variant: Some("squares".to_owned()),
            workers: 1,
            tasks: 2,
        };
        let missing = PythonCase {
            program: Program::CpuRegex,
            variant: Some("regex".to_owned()),
            ..case.clone()
        };
        let mut report = Report::new(1, 2);
        report.suites.push(SuiteReport {
            name: "cpu".to_owned(),
            description: "a tiny run".to_owned(),
            unit: "tasks".to_owned(),
            rows: vec![
                python.measure(&case, 1, 2, Duration::from_secs(60)),
                missing.skipped_row(Skip("abreast_test is not installed".to_owned()).to_string()),
            ],
        });
        let dir = tempfile::tempdir().unwrap();
        let path = |name: &str| dir.path().join(name);
        export::export_json(&report, &path("r.json")).unwrap();
        export::export_markdown(&report, &path("r.md")).unwrap();
        export::export_csv(&report, &path("r.csv")).unwrap();
        chart::export_svg(&report, &path("r.svg")).unwrap();
        let json = std::fs::read_to_string(path("r.json")).unwrap();
        assert_eq!(serde_json::from_str::<Report>(&json).unwrap(), report);
        let markdown = std::fs::read_to_string(path("r.md")).unwrap();
        assert!(
            markdown.contains("| python sequential squares | 1 | 2 |"),
            "{markdown}"
        );
        assert!(
            markdown.contains("skipped: abreast\\_test is not installed"),
            "{markdown}"
        );
        assert_eq!(
            std::fs::read_to_string(path("r.csv"))
                .unwrap()
                .lines()
                .count(),
            3
        );
        let svg = std::fs::read_to_string(path("r.svg")).unwrap();
        assert!(svg.contains("python sequential squares"), "{svg}");
    }

    #[test]
    fn a_program_past_its_timeout_is_killed_with_its_workers() {
        let Some(python) = python() else { return };
        if python.check(Program::ProcessesFetch).is_err() {
            return;
        }
        // A server that accepts connections (in the backlog) but never answers.
        let silent = TcpListener::bind("127.0.0.1:0").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let urls = urls_file(
            dir.path(),
            &format!("http://{}", silent.local_addr().unwrap()),
            2,
        );
        let start = Instant::now();
        let error = python
            .run(
                Program::ProcessesFetch,
                &args([urls.as_os_str(), "--workers".as_ref(), "2".as_ref()]),
                Duration::from_millis(1500),
            )
            .unwrap_err()
            .to_string();
        assert!(error.contains("did not finish within"), "{error}");
        // The pipes closed, so the worker processes are gone too (else this would wait 30 s).
        assert!(start.elapsed() < Duration::from_secs(20));
    }

    #[test]
    fn a_failing_program_gives_a_failed_row() {
        let Some(python) = python() else { return };
        let case = PythonCase {
            program: Program::CpuRegex,
            args: args(["--no-such-option"]),
            mechanism: Mechanism::Sequential,
            variant: None,
            workers: 1,
            tasks: 1,
        };
        let row = python.measure(&case, 0, 1, Duration::from_secs(60));
        let note = row.note.unwrap();
        assert!(
            note.starts_with("failed: cpu_regex.py failed (exit code 2)"),
            "{note}"
        );
        assert!(row.wall.is_none());
    }
}

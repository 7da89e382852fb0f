//! `abreast.fetch` and `abreast.afetch`: a run of abreast's fetch pipeline
//! ([`abreast_fetch::fetch`]) fed from a Python iterable and read from Python.
//!
//! The URLs are pulled from the Python iterator by the pipeline's input thread ([`PyUrls`]):
//! a batch per GIL acquisition from a list, tuple, range, set or dict, which cannot block, and
//! one at a time from anything else (a generator, a file, a queue's iterator), so each URL goes
//! into the run as soon as the iterable gives it. Records are awaited with the GIL released, a
//! short wait at a time so that Ctrl-C is seen within a second ([`FetchRun::__next__`]);
//! `afetch` waits on an executor thread ([`FetchRun::wait`]) and converts one record per step on
//! the event loop ([`FetchRun::pop`]), so the loop never holds the GIL for more than one record.
//!
//! Locks: `records` is only ever locked with the GIL released (its holder may wait for records
//! for up to [`WAIT`], and the input thread needs the GIL meanwhile); the other locks are held
//! for a few instructions and never across a GIL acquisition.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use abreast::processes::WorkerCommand;
use abreast_fetch::{
    Extraction, FetchConfig, HttpSettings, Mode, Next, Record, Records, RunOptions, StopSignal,
    Summary,
};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{
    PyBytes, PyDict, PyFrozenSet, PyIterator, PyList, PyRange, PySet, PyString, PyTuple,
};

use crate::convert::to_python;

pyo3::create_exception!(
    _abreast,
    FetchError,
    pyo3::exceptions::PyRuntimeError,
    "A fetch run could not start or could not read its input (never raised for a page that fails)."
);

/// The longest wait for records with the GIL released before signals are checked again.
const WAIT: Duration = Duration::from_millis(100);
/// URLs pulled per GIL acquisition from a container that cannot block (a list, tuple...).
const INPUT_BATCH: usize = 256;

/// Locks `mutex`, taking over a lock whose holder panicked (the data stays consistent: every
/// critical section here is a single push, pop or take).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The URLs of a Python iterable, as the pipeline's input, pulled with the GIL held; a Python
/// exception (or an item that is not a str or bytes) ends the input and is kept in `error` to
/// be raised after the records of the URLs before it.
pub(crate) struct PyUrls {
    source: Option<Py<PyIterator>>,
    /// URLs pulled per GIL acquisition: [`INPUT_BATCH`] from a container, else 1. An iterable
    /// that may block (a generator waiting for the URLs that records reveal, a pipe) must not
    /// hold back the URLs it already gave while it waits for the next.
    batch: usize,
    buffer: VecDeque<Vec<u8>>,
    read: u64,
    error: Arc<Mutex<Option<PyErr>>>,
    /// The input error, given to the pipeline once the URLs read before it have been.
    failed: Option<std::io::Error>,
    /// The run's stop: once raised, no further URL is pulled.
    stop: StopSignal,
    /// Told when this is dropped: no thread of the run is in the iterable any more.
    gone: InputGone,
}

/// Set once a run's [`PyUrls`] is dropped, so that closing the run can wait for the thread
/// that reads the iterable to have left it: a thread still in the iterable's Python code when
/// the interpreter exits aborts it ("PyGILState_Release: thread state must be current"). It
/// also knows the thread inside the iterable's call, if any, so that closing can interrupt a
/// generator that waits (for a record the closed run will never give: a crawler's).
#[derive(Clone, Default)]
pub(crate) struct InputGone(Arc<InputState>);

#[derive(Default)]
struct InputState {
    gone: Mutex<bool>,
    changed: std::sync::Condvar,
    /// The Python thread id of the thread inside the iterable's `next`, 0 when none; changed
    /// and read only with the GIL held.
    calling: std::sync::atomic::AtomicU64,
}

impl InputGone {
    fn set(&self) {
        *lock(&self.0.gone) = true;
        self.0.changed.notify_all();
    }

    /// Interrupts the iterable's call under way, if any, as `generator.close()` would: a
    /// `GeneratorExit` raised in its thread at its next Python instruction (a generator
    /// blocked inside one C call, such as `queue.get()` without a timeout, gets it when that
    /// call returns). Called once the run is stopped; the reading thread takes that
    /// `GeneratorExit` as the input's end.
    pub(crate) fn interrupt(&self, _py: Python<'_>) {
        let thread = self.0.calling.load(Ordering::SeqCst);
        if thread != 0 {
            // SAFETY: the id is that of a thread inside a call into Python, whose state exists
            // until the call returns, which needs the GIL (held: `_py`).
            unsafe { set_async_exception(thread, pyo3::ffi::PyExc_GeneratorExit) };
        }
    }

    /// Waits, with the GIL released, until the input is gone: at most the iterable's call under
    /// way, since a stopped run pulls no further URL. Ctrl-C ends the wait with
    /// `KeyboardInterrupt` when `interruptible`.
    pub(crate) fn wait(&self, py: Python<'_>, interruptible: bool) -> PyResult<()> {
        loop {
            let gone = py.detach(|| {
                let gone = lock(&self.0.gone);
                let (gone, _) = self
                    .0
                    .changed
                    .wait_timeout_while(gone, WAIT, |gone| !*gone)
                    .unwrap_or_else(PoisonError::into_inner);
                *gone
            });
            if gone {
                return Ok(());
            }
            if interruptible {
                py.check_signals()?;
            }
        }
    }
}

/// Sets the exception that Python raises in `thread` (a `PyThread_get_thread_ident`) at its
/// next instruction, or clears it (`exception` null).
///
/// # Safety
/// The GIL is held, and `thread`'s state exists (its thread is in Python, or is this one).
unsafe fn set_async_exception(thread: u64, exception: *mut pyo3::ffi::PyObject) {
    // SAFETY: as the caller promised; the exception, if any, is a live type object.
    unsafe { pyo3::ffi::PyThreadState_SetAsyncExc(thread as std::os::raw::c_long, exception) };
}

impl PyUrls {
    /// The URLs of `urls`, read lazily; a Python exception it raises is kept in `error`.
    /// Pulls nothing more once `stop` is raised; `gone` is told when it is dropped.
    pub(crate) fn new(
        urls: &Bound<'_, PyAny>,
        error: Arc<Mutex<Option<PyErr>>>,
        stop: StopSignal,
        gone: InputGone,
    ) -> PyResult<PyUrls> {
        let cannot_block = urls.is_instance_of::<PyList>()
            || urls.is_instance_of::<PyTuple>()
            || urls.is_instance_of::<PyRange>()
            || urls.is_instance_of::<PySet>()
            || urls.is_instance_of::<PyFrozenSet>()
            || urls.is_instance_of::<PyDict>();
        Ok(PyUrls {
            source: Some(urls.try_iter()?.unbind()),
            batch: if cannot_block { INPUT_BATCH } else { 1 },
            buffer: VecDeque::new(),
            read: 0,
            error,
            failed: None,
            stop,
            gone,
        })
    }

    /// Pulls up to `batch` URLs; on an error keeps it and ends the input.
    fn refill(&mut self) -> Result<(), std::io::Error> {
        let Some(source) = self.source.take() else {
            return Ok(());
        };
        // A stopped run's input ends with an error, not an end: a broker job must not take it
        // for the input's end (and be sealed short).
        let stopped = || std::io::Error::other("the run was closed");
        if self.stop.is_raised() {
            Python::attach(move |_| drop(source));
            return Err(stopped());
        }
        let mut interrupted = false;
        let outcome = Python::attach(|py| {
            let iterator = source.bind(py);
            // SAFETY: a plain query of this thread's id.
            let thread = unsafe { pyo3::ffi::PyThread_get_thread_ident() } as u64;
            for _ in 0..self.batch {
                self.gone.0.calling.store(thread, Ordering::SeqCst);
                // Looked at after `calling` is set, as `interrupt` is called after the stop is
                // raised: either this sees the stop, or the closing side sees this call.
                if self.stop.is_raised() {
                    self.gone.0.calling.store(0, Ordering::SeqCst);
                    interrupted = true;
                    return Ok(false);
                }
                let next = iterator.clone().next();
                self.gone.0.calling.store(0, Ordering::SeqCst);
                if self.stop.is_raised() {
                    // An interruption that came as the call returned is dropped, not left to
                    // go off in whatever Python this thread runs next.
                    // SAFETY: this thread's own id, the GIL held (in `Python::attach`).
                    unsafe { set_async_exception(thread, std::ptr::null_mut()) };
                }
                let item = match next {
                    None => return Ok(false),
                    // The run's close interrupted the iterable ([`InputGone::interrupt`]).
                    Some(Err(error))
                        if self.stop.is_raised()
                            && error.is_instance_of::<pyo3::exceptions::PyGeneratorExit>(py) =>
                    {
                        interrupted = true;
                        return Ok(false);
                    }
                    Some(item) => item?,
                };
                // A str is UTF-8; bytes may be in any encoding (a line of a list read from
                // the web), and the pipeline reads them as it reads a file's lines.
                let url = if let Ok(text) = item.cast::<PyString>() {
                    text.to_cow()?.into_owned().into_bytes()
                } else if let Ok(bytes) = item.cast::<PyBytes>() {
                    bytes.as_bytes().to_vec()
                } else {
                    return Err(PyTypeError::new_err(format!(
                        "fetch: URL {} must be a str or bytes, e.g. \"https://example.com/\"; got {}",
                        self.read,
                        item.repr()
                            .map(|r| r.to_string())
                            .unwrap_or_else(|_| "an object".into())
                    )));
                };
                self.buffer.push_back(url);
                self.read += 1;
            }
            Ok::<bool, PyErr>(true)
        });
        match outcome {
            Ok(_) if interrupted => {
                Python::attach(move |_| drop(source));
                Err(stopped())
            }
            Ok(more) => {
                if more {
                    self.source = Some(source);
                }
                Ok(())
            }
            Err(error) => {
                let message = Python::attach(|py| error.value(py).to_string());
                *lock(&self.error) = Some(error);
                Err(std::io::Error::other(message))
            }
        }
    }
}

impl Iterator for PyUrls {
    type Item = Result<Vec<u8>, std::io::Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.buffer.is_empty()
            && self.failed.is_none()
            && let Err(error) = self.refill()
        {
            self.failed = Some(error);
        }
        match self.buffer.pop_front() {
            Some(url) => Some(Ok(url)),
            None => self.failed.take().map(Err),
        }
    }
}

impl Drop for PyUrls {
    fn drop(&mut self) {
        // Dropping a Python reference without the GIL defers it to PyO3's pool; take the GIL
        // if the interpreter is still there so the iterator (a generator, a file) is closed now.
        if let Some(source) = self.source.take() {
            Python::attach(move |_| drop(source));
        }
        self.gone.set();
    }
}

/// How a run ended, once it has.
enum Outcome {
    /// Not yet.
    Running,
    /// Every record was delivered.
    Done,
    /// The input raised (kept in the run's error slot) or the run failed to start.
    Failed(PyErr),
}

/// The iterator behind `abreast.fetch` (and the engine of `abreast.afetch`).
#[pyclass(module = "abreast._abreast")]
pub(crate) struct FetchRun {
    /// The run; `None` once it ended or was closed. Locked only with the GIL released.
    records: Mutex<Option<Records>>,
    /// Records taken from the run, not yet handed to Python.
    buffer: Mutex<VecDeque<Record>>,
    /// How the run ended.
    outcome: Mutex<Outcome>,
    /// The exception the URL iterable raised, if it did.
    input_error: Arc<Mutex<Option<PyErr>>>,
    /// The run's summary when it ended.
    summary: Mutex<Option<Summary>>,
    /// Stops the run from any thread, even while another waits on `records`.
    stop: StopSignal,
    /// Set once `records` was taken (the run ended or was closed), so that it can be known
    /// without its lock.
    ended: AtomicBool,
    /// Told once no thread of the run is in the URL iterable any more.
    input_gone: InputGone,
}

/// What one wait for records found.
enum Waited {
    Records(Vec<Record>),
    Pending,
    Ended(Result<Summary, abreast_fetch::FetchError>),
    Closed,
}

impl FetchRun {
    /// Waits up to `timeout` for records (up to `max`), with the GIL released, and buffers them.
    fn wait_for_records(&self, py: Python<'_>, max: usize, timeout: Duration) -> PyResult<()> {
        let waited = py.detach(|| {
            let mut guard = lock(&self.records);
            let Some(run) = guard.as_mut() else {
                return Waited::Closed;
            };
            let mut got = Vec::new();
            let mut wait = timeout;
            while got.len() < max.max(1) {
                match run.next_timeout(wait) {
                    Next::Record(record) => got.push(record),
                    Next::Pending => break,
                    Next::End => {
                        if !got.is_empty() {
                            // Deliver these first; the end is seen on the next wait.
                            break;
                        }
                        let run = guard.take().expect("checked above");
                        self.ended.store(true, Ordering::SeqCst);
                        return Waited::Ended(run.finish());
                    }
                }
                wait = Duration::ZERO;
            }
            if got.is_empty() {
                Waited::Pending
            } else {
                Waited::Records(got)
            }
        });
        match waited {
            Waited::Records(records) => lock(&self.buffer).extend(records),
            Waited::Pending | Waited::Closed => {}
            Waited::Ended(result) => {
                let outcome = match (result, lock(&self.input_error).take()) {
                    // The iterable raised: that exception, as Python code would expect.
                    (_, Some(error)) => Outcome::Failed(error),
                    (Ok(summary), None) => {
                        *lock(&self.summary) = Some(summary);
                        Outcome::Done
                    }
                    (Err(error), None) => Outcome::Failed(FetchError::new_err(error.to_string())),
                };
                *lock(&self.outcome) = outcome;
            }
        }
        Ok(())
    }

    /// True once the run has ended; raises its error the first time, if it failed.
    fn take_end(&self) -> PyResult<bool> {
        let mut outcome = lock(&self.outcome);
        match std::mem::replace(&mut *outcome, Outcome::Done) {
            Outcome::Running => {
                *outcome = Outcome::Running;
                Ok(self.ended.load(Ordering::SeqCst))
            }
            Outcome::Done => Ok(true),
            Outcome::Failed(error) => Err(error),
        }
    }

    /// Stops the run and frees its threads, with the GIL released (the input thread may be
    /// waiting for the GIL to read the next URLs), then waits for the input thread to leave the
    /// URL iterable (at most its call under way); Ctrl-C ends that wait.
    fn shut(&self, py: Python<'_>) -> PyResult<()> {
        self.stop.raise();
        self.input_gone.interrupt(py);
        let run = py.detach(|| {
            let run = lock(&self.records).take();
            self.ended.store(true, Ordering::SeqCst);
            run
        });
        if let Some(run) = run {
            let summary = py.detach(move || {
                let summary = run.summary_now();
                drop(run);
                summary
            });
            lock(&self.summary).get_or_insert(summary);
        }
        lock(&self.buffer).clear();
        self.input_gone.wait(py, true)
    }
}

/// The command line's options as a record's message names them, each with the keyword argument
/// that is the same setting here: the messages are made for `abreast fetch` (some by CLI
/// workers of a broker job), and Python is told in its own words. A flag comes before any
/// shorter one it holds, so a flag with its value goes before the flag alone.
const PYTHON_WORDS: [(&str, &str); 16] = [
    ("--dns-server IP[:PORT]", "dns_servers=[\"IP[:PORT]\"]"),
    ("--mode async or hybrid", "mode=\"async\" or \"hybrid\""),
    ("--connect-timeout", "connect_timeout"),
    ("--max-redirects", "max_redirects"),
    ("--timeout", "timeout"),
    ("--max-deliveries ", "max_deliveries="),
    ("--max-deliveries", "max_deliveries"),
    ("--lease", "lease"),
    ("--robots ignore", "robots=\"ignore\""),
    ("--cacert FILE", "cacert=PATH"),
    ("--dns-server", "dns_servers"),
    ("--insecure", "insecure=True"),
    ("--cacert", "cacert"),
    ("--job name", "job name"),
    ("in --broker", "in broker="),
    ("-H headers", "headers"),
];

/// `record` with its error's message in Python's words ([`PYTHON_WORDS`]).
pub(crate) fn in_python_words(mut record: Record) -> Record {
    if let Some(error) = record.error.as_mut() {
        python_words(&mut error.message);
    }
    record
}

/// `message` (a record's, or an error's to raise) in Python's words ([`PYTHON_WORDS`]).
pub(crate) fn python_words(message: &mut String) {
    if !message.contains('-') {
        return;
    }
    for (flag, keyword) in PYTHON_WORDS {
        if message.contains(flag) {
            *message = message.replace(flag, keyword);
        }
    }
}

/// The program a worker process of `mode="processes"` runs: it loads this extension module by
/// its path, with no other import, and calls [`serve_as_worker`].
const WORKER_PROGRAM: &str = "import importlib.machinery as m, importlib.util as u, sys; \
    loader = m.ExtensionFileLoader('abreast._abreast', sys.argv[1]); \
    module = u.module_from_spec(u.spec_from_loader(loader.name, loader)); \
    loader.exec_module(module); module._serve_as_worker()";

/// How a worker process of `mode="processes"` starts: this interpreter again (`-I -S`: no
/// `site`, no user site, no `PYTHON*` variables), running [`WORKER_PROGRAM`]. The worker
/// calls `init` itself once the module is loaded, rather than from abreast's constructor
/// during the load, where the tasks' threads would wait for the loader's lock forever.
fn python_worker_command(py: Python<'_>) -> PyResult<WorkerCommand> {
    let executable: Option<String> = py.import("sys")?.getattr("executable")?.extract()?;
    let executable = executable.filter(|path| !path.is_empty()).ok_or_else(|| {
        PyValueError::new_err(
            "mode=\"processes\" starts worker interpreters from sys.executable, and this Python \
             has none (an embedded interpreter?); use mode=\"hybrid\", which extracts on threads \
             in parallel",
        )
    })?;
    let module: String = py
        .import("abreast._abreast")?
        .getattr("__file__")?
        .extract()?;
    let args = ["-I", "-S", "-c", WORKER_PROGRAM, module.as_str()];
    Ok(WorkerCommand::new(executable, args).with_explicit_init())
}

/// Sets the open-web options of `abreast.fetch` (types checked in Python) on `http`: the CA
/// file's PEM, the name servers, HTTP/1.1 only, the User-Agent, the robots.txt policy; then
/// checks every header, the ones set before too (`ValueError`).
pub(crate) fn open_web_settings(
    http: &mut HttpSettings,
    cacert: Option<Vec<u8>>,
    dns_servers: &[String],
    http1_1: bool,
    user_agent: Option<String>,
    robots: &str,
) -> PyResult<()> {
    if let Some(pem) = cacert {
        http.set_cacert(pem)
            .map_err(|error| PyValueError::new_err(format!("cacert: {error}")))?;
    }
    http.dns_servers = dns_servers
        .iter()
        .map(|server| {
            abreast_fetch::parse_dns_server(server)
                .map_err(|error| PyValueError::new_err(format!("dns_servers: {error}")))
        })
        .collect::<PyResult<_>>()?;
    http.http1_only = http1_1;
    http.user_agent = user_agent;
    http.robots = robots
        .parse()
        .map_err(|error: String| PyValueError::new_err(format!("robots: {error}")))?;
    // The headers were set before: a value with a control character is refused here, not by
    // the run, naming the keyword argument it came with.
    for (name, value) in &http.headers {
        abreast_fetch::check_header(name, value)
            .map_err(|error| PyValueError::new_err(format!("headers: {error}")))?;
    }
    if let Some(user_agent) = &http.user_agent {
        abreast_fetch::check_header("User-Agent", user_agent)
            .map_err(|error| PyValueError::new_err(format!("user_agent: {error}")))?;
    }
    Ok(())
}

/// Serves as a worker of a `mode="processes"` run, in a process that run started, then exits
/// the process; anywhere else it returns at once. Internal: the worker program calls it.
#[pyfunction]
#[pyo3(name = "_serve_as_worker")]
pub(crate) fn serve_as_worker(py: Python<'_>) {
    py.detach(abreast::processes::init);
}

#[pymethods]
impl FetchRun {
    /// Starts a run over `urls` (options already checked by `abreast.fetch`).
    #[new]
    #[pyo3(signature = (urls, *, mode, jobs, per_host, rate, timeout, connect_timeout, retries,
        max_bytes, max_redirects, headers, head_only, extract, ordered, insecure, cacert,
        dns_servers, http1_1, user_agent, robots))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        urls: &Bound<'_, PyAny>,
        mode: &str,
        jobs: Option<usize>,
        per_host: usize,
        rate: Option<f64>,
        timeout: f64,
        connect_timeout: f64,
        retries: u32,
        max_bytes: usize,
        max_redirects: u32,
        headers: Vec<(String, String)>,
        head_only: bool,
        extract: bool,
        ordered: bool,
        insecure: bool,
        cacert: Option<Vec<u8>>,
        dns_servers: Vec<String>,
        http1_1: bool,
        user_agent: Option<String>,
        robots: &str,
    ) -> PyResult<Self> {
        let mode: Mode = mode
            .parse()
            .map_err(|error| PyValueError::new_err(format!("{error}")))?;
        let seconds = |value: f64, name: &str| {
            Duration::try_from_secs_f64(value).map_err(|_| {
                PyValueError::new_err(format!(
                    "{name} must be a finite number of seconds > 0, e.g. 10.0"
                ))
            })
        };
        let worker_command = match mode {
            Mode::Processes => Some(python_worker_command(py)?),
            _ => None,
        };
        let extraction = match (extract, head_only) {
            (true, false) => Extraction::Full,
            (true, true) => Extraction::HeadOnly,
            (false, false) => Extraction::Off,
            (false, true) => {
                return Err(PyValueError::new_err(
                    "head_only=True reads each page to the end of its head to extract \
                     it, and extract=False extracts nothing: pass one or the other",
                ));
            }
        };
        let mut config = FetchConfig::default();
        config.mode = mode;
        config.worker_command = worker_command;
        config.concurrency = jobs;
        config.per_host = per_host;
        config.rate = rate;
        config.ordered = ordered;
        config.http.connect_timeout = seconds(connect_timeout, "connect_timeout")?;
        config.http.timeout = seconds(timeout, "timeout")?;
        config.http.max_bytes = max_bytes;
        config.http.extraction = extraction;
        config.http.insecure = insecure;
        config.http.headers = headers;
        config.http.max_redirects = max_redirects;
        config.http.retries = retries;
        open_web_settings(
            &mut config.http,
            cacert,
            &dns_servers,
            http1_1,
            user_agent,
            robots,
        )?;
        let input_error = Arc::new(Mutex::new(None));
        let stop = StopSignal::new();
        let input_gone = InputGone::default();
        let input = PyUrls::new(
            urls,
            Arc::clone(&input_error),
            stop.clone(),
            input_gone.clone(),
        )?;
        let options = RunOptions {
            stop: Some(stop.clone()),
            ..RunOptions::default()
        };
        let records = py
            .detach(|| abreast_fetch::fetch(&config, input, options))
            .map_err(|error| FetchError::new_err(error.to_string()))?;
        Ok(FetchRun {
            records: Mutex::new(Some(records)),
            buffer: Mutex::new(VecDeque::new()),
            outcome: Mutex::new(Outcome::Running),
            input_error,
            summary: Mutex::new(None),
            stop,
            input_gone,
            ended: AtomicBool::new(false),
        })
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        loop {
            if let Some(record) = lock(&self.buffer).pop_front() {
                return to_python(py, &in_python_words(record)).map(Some);
            }
            if self.take_end()? {
                return Ok(None);
            }
            self.wait_for_records(py, 64, WAIT)?;
            if let Err(interrupt) = py.check_signals() {
                self.shut(py)?;
                return Err(interrupt);
            }
        }
    }

    /// For `afetch`, on an executor thread: waits up to `timeout` seconds for records (at most
    /// `max`) with the GIL released and keeps them for [`pop`](Self::pop).
    #[pyo3(signature = (max = 256, timeout = 0.1))]
    fn wait(&self, py: Python<'_>, max: usize, timeout: f64) -> PyResult<()> {
        let timeout = Duration::try_from_secs_f64(timeout).unwrap_or(WAIT);
        self.wait_for_records(py, max, timeout)
    }

    /// For `afetch`: the next record already waited for, or None.
    fn pop<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        match lock(&self.buffer).pop_front() {
            Some(record) => to_python(py, &in_python_words(record)).map(Some),
            None => Ok(None),
        }
    }

    /// For `afetch`: True once every record was delivered; raises the run's error, if any.
    fn finished(&self) -> PyResult<bool> {
        if !lock(&self.buffer).is_empty() {
            return Ok(false);
        }
        self.take_end()
    }

    /// Stops the run now and frees its threads; records not yet taken are dropped.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        self.shut(py)
    }

    /// The run's counts (records, ok, failed by kind, bytes, seconds, p50_ms, p95_ms...): final
    /// once the run ended, None before.
    #[getter]
    fn summary<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        match lock(&self.summary).as_ref() {
            Some(summary) => to_python(py, summary).map(Some),
            None => Ok(None),
        }
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    #[pyo3(signature = (*_exc_info))]
    fn __exit__(&self, py: Python<'_>, _exc_info: &Bound<'_, PyTuple>) -> PyResult<()> {
        self.shut(py)
    }
}

impl Drop for FetchRun {
    fn drop(&mut self) {
        self.stop.raise();
        Python::attach(|py| self.input_gone.interrupt(py));
        if let Some(run) = self
            .records
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            // The run's input thread may be waiting for the GIL: release it while the run is
            // torn down (called from a deallocation, which holds the GIL).
            Python::attach(|py| py.detach(move || drop(run)));
        }
        // Not interruptible: a deallocation cannot raise.
        let _ = Python::attach(|py| self.input_gone.wait(py, false));
    }
}

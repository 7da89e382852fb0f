//! `abreast.fetch(urls, broker=..., job=...)` and `afetch`: submit the URLs as a job on a broker
//! and collect its records from the `abreast worker`s, as `abreast fetch --broker` does.
//!
//! A thread of its own runs the broker's client: it submits the URLs (read from the Python
//! iterable a batch per GIL acquisition, as a plain fetch reads them), takes the job's collector
//! claim, and reads the results a batch at a time. A batch is handed to Python whole; once
//! Python has taken every record of it (it asks for the next), the thread acks the batch, which
//! removes it from the broker, and reads the next; `close()` acks the records of the batch taken
//! so far. So the next call with the same job yields the records not taken yet. (A Python
//! process killed outright has its last batch, taken or not, given again.) The job's settings are the same JSON the CLI writes, so a job submitted from
//! Python is served by `abreast worker` like any other.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use abreast_fetch::{ErrorInfo, ErrorKind, Extraction, HttpSettings, Record, StopSignal, Summary};
use abreast_queue::{
    BrokerUrl, JobName, JobSpec, Progress, Queue, QueueError, RedisQueue, Spool, Submission,
};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::convert::to_python;
use crate::fetch::{FetchError, InputGone, PyUrls, lock};

/// The longest wait with the GIL released before signals are checked again.
const WAIT: Duration = Duration::from_millis(100);
/// Results read per batch at most (16 of the broker's entries of up to 256 results).
const BATCH: usize = 4096;
/// How long the collector claim lasts unless renewed.
const CLAIM_TTL: Duration = Duration::from_secs(6);

/// The job's settings as they travel to the workers: the JSON `abreast fetch --broker` writes
/// (`JobSettings` in the CLI), field for field.
#[derive(serde::Serialize)]
struct JobSettings<'a> {
    http: &'a HttpSettings,
    per_host: usize,
    rate: Option<f64>,
}

/// What the broker's thread sends to Python.
enum Message {
    /// Records to hand out; acked once all are taken.
    Batch(Vec<Record>),
    /// Every line has its record.
    Done,
    /// The job could not be submitted or collected.
    Failed(String),
}

/// The iterator behind `abreast.fetch(urls, broker=..., job=...)` (and its `afetch`).
#[pyclass(module = "abreast._abreast")]
pub(crate) struct BrokerRun {
    messages: flume::Receiver<Message>,
    /// How many records of the batch handed out were taken (all of it, or fewer when the
    /// collection is closed): the thread then acks those.
    taken: flume::Sender<usize>,
    /// The size of the batch handed out.
    batch_len: std::sync::atomic::AtomicUsize,
    buffer: Mutex<VecDeque<Record>>,
    /// A batch was handed out and its "taken" not yet sent.
    outstanding: AtomicBool,
    ended: Mutex<Option<Result<(), String>>>,
    summary: Mutex<Summary>,
    started: std::time::Instant,
    stop: StopSignal,
    /// The thread in the URL iterable, interrupted when the run is closed.
    input_gone: InputGone,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// The exception the URL iterable raised, if it did: raised as it is, as a local run does.
    input_error: Arc<Mutex<Option<PyErr>>>,
}

#[pymethods]
impl BrokerRun {
    /// Submits `urls` as job `job` on `broker` and starts collecting (options already checked
    /// by `abreast.fetch`).
    #[new]
    #[pyo3(signature = (urls, *, broker, job, lease, max_deliveries, per_host, rate, timeout,
        connect_timeout, retries, max_bytes, max_redirects, headers, head_only, extract, insecure,
        cacert, dns_servers, http1_1, user_agent, robots))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        urls: &Bound<'_, PyAny>,
        broker: &str,
        job: &str,
        lease: f64,
        max_deliveries: u32,
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
        insecure: bool,
        cacert: Option<Vec<u8>>,
        dns_servers: Vec<String>,
        http1_1: bool,
        user_agent: Option<String>,
        robots: &str,
    ) -> PyResult<Self> {
        let value_error = |error: QueueError| {
            let mut message = error.to_string();
            crate::fetch::python_words(&mut message);
            PyValueError::new_err(message)
        };
        let url = BrokerUrl::parse(broker).map_err(value_error)?;
        let job = JobName::new(job).map_err(value_error)?;
        let seconds = |value: f64, name: &str| {
            Duration::try_from_secs_f64(value).map_err(|_| {
                PyValueError::new_err(format!(
                    "{name} must be a finite number of seconds > 0, e.g. 10.0"
                ))
            })
        };
        let mut http = HttpSettings::default();
        http.connect_timeout = seconds(connect_timeout, "connect_timeout")?;
        http.timeout = seconds(timeout, "timeout")?;
        http.max_bytes = max_bytes;
        http.extraction = match (extract, head_only) {
            (true, false) => Extraction::Full,
            (true, true) => Extraction::HeadOnly,
            (false, false) => Extraction::Off,
            (false, true) => {
                return Err(PyValueError::new_err(
                    "head_only=True and extract=False contradict each other: pass one or the other",
                ));
            }
        };
        http.insecure = insecure;
        http.headers = headers;
        http.max_redirects = max_redirects;
        http.retries = retries;
        crate::fetch::open_web_settings(
            &mut http,
            cacert,
            &dns_servers,
            http1_1,
            user_agent,
            robots,
        )?;
        let settings = JobSettings {
            http: &http,
            per_host,
            rate,
        };
        let spec = JobSpec {
            settings: serde_json::to_string(&settings)
                .map_err(|e| PyValueError::new_err(e.to_string()))?,
            lease: seconds(lease, "lease")?,
            max_deliveries,
        };
        let input_error = Arc::new(Mutex::new(None));
        let stop = StopSignal::new();
        // This run joins the thread that owns the input, so it needs no word of its end; it
        // interrupts the iterable's call under way when it is closed.
        let input_gone = InputGone::default();
        let input = PyUrls::new(
            urls,
            Arc::clone(&input_error),
            stop.clone(),
            input_gone.clone(),
        )?;
        let (send, messages) = flume::bounded(1);
        let (taken, taken_rx) = flume::bounded(1);
        let thread = {
            let stop = stop.clone();
            let input = (input, input_gone.clone());
            let input_error = Arc::clone(&input_error);
            std::thread::Builder::new()
                .name("abreast-broker".into())
                .spawn(move || {
                    let outcome = match tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    {
                        Ok(runtime) => runtime
                            .block_on(collect(&url, &job, &spec, input, &send, &taken_rx, &stop)),
                        Err(error) => Err(format!("could not start the broker's runtime: {error}")),
                    };
                    // The exception stays for Python to raise as it is (`finished`).
                    let input_error = lock(&input_error)
                        .as_ref()
                        .map(|error| Python::attach(|py| error.value(py).to_string()));
                    let message = match (outcome, input_error) {
                        (_, Some(error)) => {
                            Message::Failed(format!("reading the URLs failed: {error}"))
                        }
                        (Ok(()), None) => Message::Done,
                        (Err(error), None) => Message::Failed(error),
                    };
                    let _ = send.send(message);
                })
                .map_err(|error| FetchError::new_err(error.to_string()))?
        };
        Ok(BrokerRun {
            messages,
            taken,
            buffer: Mutex::new(VecDeque::new()),
            outstanding: AtomicBool::new(false),
            batch_len: std::sync::atomic::AtomicUsize::new(0),
            ended: Mutex::new(None),
            summary: Mutex::new(Summary::default()),
            started: std::time::Instant::now(),
            stop,
            input_gone,
            thread: Mutex::new(Some(thread)),
            input_error,
        })
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        loop {
            if let Some(record) = self.pop(py)? {
                return Ok(Some(record));
            }
            if self.finished()? {
                return Ok(None);
            }
            self.wait(py, BATCH, WAIT.as_secs_f64());
            if let Err(interrupt) = py.check_signals() {
                self.close(py);
                return Err(interrupt);
            }
        }
    }

    /// For `afetch`, on an executor thread: waits up to `timeout` seconds for the next batch,
    /// with the GIL released (`max` is the batch's size, fixed here).
    #[pyo3(signature = (max = 256, timeout = 0.1))]
    fn wait(&self, py: Python<'_>, max: usize, timeout: f64) {
        let _ = max;
        if !lock(&self.buffer).is_empty() || lock(&self.ended).is_some() {
            return;
        }
        if self.outstanding.swap(false, Ordering::SeqCst) {
            let _ = self.taken.send(self.batch_len.load(Ordering::SeqCst));
        }
        let timeout = Duration::try_from_secs_f64(timeout).unwrap_or(WAIT);
        let message = py.detach(|| self.messages.recv_timeout(timeout));
        match message {
            Ok(Message::Batch(records)) => {
                self.batch_len.store(records.len(), Ordering::SeqCst);
                self.outstanding.store(true, Ordering::SeqCst);
                lock(&self.buffer).extend(records);
            }
            Ok(Message::Done) => *lock(&self.ended) = Some(Ok(())),
            Ok(Message::Failed(error)) => *lock(&self.ended) = Some(Err(error)),
            Err(flume::RecvTimeoutError::Timeout) => {}
            Err(flume::RecvTimeoutError::Disconnected) => {
                lock(&self.ended).get_or_insert(Ok(()));
            }
        }
    }

    /// For `afetch`: the next record already waited for, or None.
    fn pop<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let record = lock(&self.buffer).pop_front();
        match record {
            Some(record) => {
                lock(&self.summary).count(&record);
                to_python(py, &crate::fetch::in_python_words(record)).map(Some)
            }
            None => Ok(None),
        }
    }

    /// For `afetch`: True once every record was delivered; raises the job's error, if any.
    fn finished(&self) -> PyResult<bool> {
        if !lock(&self.buffer).is_empty() {
            return Ok(false);
        }
        match lock(&self.ended).as_ref() {
            None => Ok(false),
            Some(Ok(())) => Ok(true),
            Some(Err(error)) => match lock(&self.input_error).take() {
                Some(raised) => Err(raised),
                None => {
                    let mut message = error.clone();
                    crate::fetch::python_words(&mut message);
                    Err(FetchError::new_err(message))
                }
            },
        }
    }

    /// Stops collecting now: records taken so far stay collected; the rest stay on the broker
    /// for the next call with the same job.
    fn close(&self, py: Python<'_>) {
        // The records of the batch already taken are acked; the rest stay on the broker.
        let left = std::mem::take(&mut *lock(&self.buffer)).len();
        if self.outstanding.swap(false, Ordering::SeqCst) {
            let taken = self.batch_len.load(Ordering::SeqCst).saturating_sub(left);
            let _ = self.taken.send(taken);
        }
        self.stop.raise();
        self.input_gone.interrupt(py);
        let thread = lock(&self.thread).take();
        if let Some(thread) = thread {
            py.detach(move || {
                // The thread may wait to hand a batch over: take it off its hands.
                while !thread.is_finished() {
                    let _ = self.messages.recv_timeout(Duration::from_millis(20));
                }
                let _ = thread.join();
            });
        }
        lock(&self.ended).get_or_insert(Ok(()));
    }

    /// The counts of the records handed out so far (records, ok, failed by kind...).
    #[getter]
    fn summary<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let mut summary = lock(&self.summary).clone();
        summary.finish(self.started.elapsed());
        to_python(py, &summary).map(Some)
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    #[pyo3(signature = (*_exc_info))]
    fn __exit__(&self, py: Python<'_>, _exc_info: &Bound<'_, pyo3::types::PyTuple>) {
        self.close(py);
    }
}

impl Drop for BrokerRun {
    fn drop(&mut self) {
        self.stop.raise();
        Python::attach(|py| self.input_gone.interrupt(py));
        if let Some(thread) = lock(&self.thread).take() {
            let messages = self.messages.clone();
            // The thread may need the GIL to finish (reading the URLs): release it meanwhile.
            Python::attach(|py| {
                py.detach(move || {
                    while !thread.is_finished() {
                        let _ = messages.recv_timeout(Duration::from_millis(20));
                    }
                    let _ = thread.join();
                });
            });
        }
    }
}

/// Retries `call` through broker outages until it succeeds, fails for good, or `stop` is raised
/// (`None`).
async fn retry<T, Fut>(
    stop: &StopSignal,
    mut call: impl FnMut() -> Fut,
) -> Result<Option<T>, String>
where
    Fut: std::future::Future<Output = Result<T, QueueError>>,
{
    let mut failures = 0u32;
    loop {
        // A call waiting on an unanswering broker is dropped at the stop: to the broker it is
        // as if this process had died there.
        let outcome = tokio::select! {
            biased;
            () = stop.raised() => return Ok(None),
            outcome = call() => outcome,
        };
        match outcome {
            Ok(value) => return Ok(Some(value)),
            Err(error) if error.is_transient() => {
                failures += 1;
                if failures == 1 || failures.is_multiple_of(30) {
                    eprintln!("abreast: {error}; retrying with backoff");
                }
                if stop.sleep(backoff(failures)).await {
                    return Ok(None);
                }
            }
            Err(QueueError::OtherCollector { job }) => return Err(taken_over(&job)),
            Err(error) => return Err(error.to_string()),
        }
    }
}

/// A collector's claim that another holds now: it lapsed while this one was stalled (such as
/// by a broker out of reach longer than the claim lasts), and another run took the job over.
fn taken_over(job: &str) -> String {
    format!(
        "another run took job {job} over while this one was stalled; it gives the job's records \
         from here on (the last few given here among them)"
    )
}

/// The wait after `failures` failed tries in a row: 200 ms, doubling, at most 1.6 s: well under
/// the collector claim's 6 s, so a collector back after a broker restart renews its claim
/// before another run waiting for the job takes it over.
fn backoff(failures: u32) -> Duration {
    Duration::from_millis(100u64 << failures.clamp(1, 4))
}

/// Submits and collects; records go to Python through `send`, each batch acked once `taken`
/// says Python has all of it.
#[allow(clippy::too_many_arguments)]
async fn collect(
    url: &BrokerUrl,
    job: &JobName,
    spec: &JobSpec,
    input: (PyUrls, InputGone),
    send: &flume::Sender<Message>,
    taken: &flume::Receiver<usize>,
    stop: &StopSignal,
) -> Result<(), String> {
    let Some(queue) = retry(stop, || RedisQueue::connect(url)).await? else {
        return Ok(());
    };
    // The URLs are submitted on a thread of their own, and their records collected here as
    // soon as the job is known to hold them: a generator's URLs go to the broker as it yields
    // them, and their records come back while it still runs.
    // Host, pid and a random part: two containers running the same script share a pid.
    let holder = abreast_queue::process_id("python");
    let mut submission = {
        let (url, job, spec, stop) = (url.clone(), job.clone(), spec.clone(), stop.clone());
        let collector = holder.clone();
        let quit = StopSignal::new();
        Submission::start(quit.flag(), move |verified| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|error| format!("could not start the submission's runtime: {error}"))?
                .block_on(submit(
                    &url,
                    (&job, &spec, &collector),
                    input,
                    [&quit, &stop],
                    verified,
                ))
        })
        .map_err(|error| format!("could not start the submission's thread: {error}"))?
    };
    let progress = tokio::select! {
        biased;
        () = stop.raised() => Progress::Stopped,
        progress = submission.verified() => progress,
    };
    if matches!(progress, Progress::Stopped | Progress::Failed) {
        return submission.finish().map(|_| ());
    }
    // A submission that fails meanwhile (another input, told once the other run sealed the job)
    // raises the stop: its failure is then the run's error.
    let mut waiting_said = false;
    let claimed = loop {
        match retry(stop, || queue.claim_collector(job, &holder, CLAIM_TTL)).await? {
            None => break false,
            Some(true) => break true,
            Some(false) => {
                if !waiting_said {
                    eprintln!(
                        "abreast: another run is collecting job {job}; waiting until it ends or \
                         its claim lapses ({} s after it stops)",
                        CLAIM_TTL.as_secs()
                    );
                    waiting_said = true;
                }
                if stop.sleep(Duration::from_millis(500)).await {
                    break false;
                }
            }
        }
    };
    let outcome = if claimed {
        let outcome = collect_claimed(&queue, job, &holder, send, taken, stop, &submission).await;
        let _ = queue.release_collector(job, &holder).await;
        outcome
    } else {
        Ok(())
    };
    // The collector is done: a submission still under way stops (only after a stop or a
    // failure: a job is collected whole only once all its lines are on it). A submission's
    // failure (another input under this name) is the cause of the run's end, whatever the
    // collector then said.
    submission.finish()?;
    outcome
}

/// Submits `input` as `job` (again, after an outage, or once another run that collected the
/// job ended: only what the job lacks) until its end (the job's lines) or `quit` (`None`), its
/// lines added under the run's `collector` claim. The run's `stop` ends it too: the input then
/// ends with an error (the job stays unsealed), which is no failure.
async fn submit(
    url: &BrokerUrl,
    (job, spec, collector): (&JobName, &JobSpec, &str),
    (input, input_gone): (PyUrls, InputGone),
    [quit, stop]: [&StopSignal; 2],
    verified: &(dyn Fn() + Sync),
) -> Result<Option<u64>, String> {
    let Some(queue) = retry(quit, || RedisQueue::connect(url)).await? else {
        return Ok(None);
    };
    // A job's lines are text: one that is not UTF-8 goes with those bytes percent-encoded, so
    // the workers request what a local run would. The first loses a byte order mark, as in a
    // local run.
    let lines = input.enumerate().filter_map(|(n, line)| match line {
        Err(error) => Some(Err(error)),
        Ok(line) if n == 0 => abreast_fetch::job_line(abreast_fetch::without_bom(&line)).map(Ok),
        Ok(line) => abreast_fetch::job_line(&line).map(Ok),
    });
    let (lines, reader) = abreast_queue::paced(lines, quit.flag())
        .map_err(|error| format!("could not start the thread that reads the URLs: {error}"))?;
    // The URLs are read once; a copy kept on disk lets a submission the broker interrupted
    // start again from the first (only what the job lacks is added).
    let mut spool = Spool::new(lines, job).map_err(|error| error.to_string())?;
    let mut failures = 0u32;
    let outcome = loop {
        let mut lines = spool.lines().map_err(|error| {
            format!("could not read the copy of the URLs kept while they are submitted: {error}")
        })?;
        let submitted = tokio::select! {
            biased;
            () = quit.raised() => break Ok(None),
            submitted = queue.submit(job, spec, &mut lines, collector, verified) => submitted,
        };
        match submitted {
            Ok(submitted) => break Ok(Some(submitted.lines)),
            Err(QueueError::Input(_)) if quit.is_raised() || stop.is_raised() => break Ok(None),
            // An outage is said here; another run collecting the job, by the collector.
            Err(error) if error.resubmit_later() => {
                failures += 1;
                if error.is_transient() && (failures == 1 || failures.is_multiple_of(30)) {
                    eprintln!("abreast: {error}; submitting again with backoff");
                }
                if quit.sleep(backoff(failures)).await {
                    break Ok(None);
                }
            }
            Err(error) => break Err(error.to_string()),
        }
    };
    // The thread that reads the iterable is waited for, so that none of this run is left in
    // Python code. It ended with the iterable, or ends at its next URL; a submission that ends
    // early (stopped, or failed: another input under the job's name) ends the run and
    // interrupts the iterable's call under way, which may wait for a record that will not come.
    if !matches!(outcome, Ok(Some(_))) {
        stop.raise();
        Python::attach(|py| input_gone.interrupt(py));
    }
    drop(spool);
    let _ = reader.join();
    outcome
}

/// Renews the collector claim `holder` has on `job`; the take-over ([`taken_over`]) if another
/// holds it now (a stop meanwhile is left to the caller's next look at it).
async fn keep_claim(
    queue: &RedisQueue,
    job: &JobName,
    holder: &str,
    stop: &StopSignal,
) -> Result<(), String> {
    match retry(stop, || queue.claim_collector(job, holder, CLAIM_TTL)).await? {
        Some(false) => Err(taken_over(job.as_str())),
        Some(true) | None => Ok(()),
    }
}

async fn collect_claimed(
    queue: &RedisQueue,
    job: &JobName,
    holder: &str,
    send: &flume::Sender<Message>,
    taken: &flume::Receiver<usize>,
    stop: &StopSignal,
    submission: &Submission<String>,
) -> Result<(), String> {
    // A job sealed by another run while this one waited for its claim: this input is known to
    // be the job's only once its submission has read it to its end (or it fails, as another
    // input does, and that failure is the run's error).
    if !matches!(submission.progress(), Progress::Done { .. }) {
        let Some(info) = retry(stop, || queue.job(job)).await? else {
            return Ok(());
        };
        // The claim is renewed meanwhile: reading a long input again outlasts it.
        if info.is_some_and(|info| info.status.sealed) {
            loop {
                tokio::select! {
                    biased;
                    () = stop.raised() => return Ok(()),
                    _ = submission.ended() => break,
                    () = tokio::time::sleep(Duration::from_secs(1)) => {
                        keep_claim(queue, job, holder, stop).await?;
                    }
                }
            }
        }
    }
    let Some(mut bits) = retry(stop, || queue.collected(job)).await? else {
        return Ok(());
    };
    // A batch announced by an earlier collector with a file is not this one's: start afresh.
    retry(stop, || queue.ack_results(job, holder, &[])).await?;
    let is_set = |bits: &[u8], line: u64| {
        bits.get((line / 8) as usize)
            .is_some_and(|byte| byte & (0x80 >> (line % 8)) != 0)
    };
    // When to look at the job again: whether another collector took it, or it ended.
    let mut next_check = std::time::Instant::now();
    let mut submitted = false;
    loop {
        if stop.is_raised() {
            return Ok(());
        }
        // A submission that failed ends the collection at once; its cause is the run's error
        // (`Submission::finish`).
        if matches!(submission.progress(), Progress::Failed | Progress::Stopped) {
            return Ok(());
        }
        // The submission's end may make the job finished (its last records came before it):
        // look at once, not a second later.
        if !submitted && matches!(submission.progress(), Progress::Done { .. }) {
            submitted = true;
            next_check = std::time::Instant::now();
        }
        if std::time::Instant::now() >= next_check {
            next_check = std::time::Instant::now() + Duration::from_secs(1);
            keep_claim(queue, job, holder, stop).await?;
            match retry(stop, || queue.job(job)).await? {
                None => return Ok(()),
                Some(None) => return Err(format!("job {job} was deleted while it was collected")),
                Some(Some(info)) if info.status.is_finished() => return Ok(()),
                Some(Some(_)) => {}
            }
        }
        let Some(batch) = retry(stop, || {
            queue.read_results(job, BATCH, Duration::from_millis(200))
        })
        .await?
        else {
            return Ok(());
        };
        let mut acked: Vec<(String, u64)> = Vec::new();
        let mut fresh: Vec<(String, u64)> = Vec::new();
        let mut records = Vec::new();
        let mut in_batch = std::collections::HashSet::new();
        for entry in batch.entries {
            if is_set(&bits, entry.line) || !in_batch.insert(entry.line) {
                acked.push((entry.id, entry.line));
                continue;
            }
            fresh.push((entry.id.clone(), entry.line));
            records.push(serde_json::from_str::<Record>(&entry.body).unwrap_or_else(|error| {
                Record::failed(
                    format!("(line {} of job {job})", entry.line + 1),
                    ErrorInfo::new(
                        ErrorKind::Internal,
                        format!("the worker's record did not parse ({error}); do the workers run this abreast version?"),
                    ),
                )
            }));
        }
        if acked.is_empty() && fresh.is_empty() {
            continue;
        }
        if !records.is_empty() {
            if send.send_async(Message::Batch(records)).await.is_err() {
                return Ok(());
            }
            // Acked once Python took every record of it, or those it took before closing.
            let count = loop {
                match tokio::time::timeout(Duration::from_millis(100), taken.recv_async()).await {
                    Ok(Ok(count)) => break count,
                    Ok(Err(_)) => return Ok(()),
                    Err(_) if stop.is_raised() => return Ok(()),
                    Err(_) => {}
                }
            };
            fresh.truncate(count);
        }
        acked.extend(fresh);
        retry(&StopSignal::new(), || {
            queue.ack_results(job, holder, &acked)
        })
        .await?;
        for (_, line) in acked {
            let index = (line / 8) as usize;
            if bits.len() <= index {
                bits.resize(index + 1, 0);
            }
            bits[index] |= 0x80 >> (line % 8);
        }
        // That batch may have been the job's last: look at once, not a second later.
        next_check = std::time::Instant::now();
    }
}

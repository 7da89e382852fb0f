//! The process pool, end to end: this test binary is its own worker (the `auto-init` feature
//! turns it into one before the harness starts), and every fault a worker can suffer has a test
//! that checks the task's error and that the pool goes on.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use abreast::processes::{BuildError, ProcessPool, WorkerCommand};
use abreast::{TaskError, WorkerExit};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[abreast::task]
fn square(n: u64) -> u64 {
    n * n
}

/// Two arguments travel as a tuple.
#[abreast::task]
fn add(a: u64, b: u64) -> u64 {
    a + b
}

#[abreast::task]
fn worker_pid() -> u32 {
    std::process::id()
}

#[abreast::task]
fn sleep_ms(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

#[abreast::task]
fn chatty(n: u32) -> u32 {
    for line in 0..3 {
        println!("stdout line {line} of task {n}: task code may print freely");
        eprintln!("stderr line {line} of task {n}");
    }
    n
}

#[abreast::task]
fn string_len_and_echo(text: String) -> String {
    text.to_ascii_uppercase()
}

/// Every way a task can go wrong, chosen by `kind`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
enum Fault {
    None,
    Panic,
    Abort,
    Segfault,
    Exit(i32),
    SigKill,
}

#[abreast::task]
fn faulty(fault: Fault, n: u64) -> u64 {
    match fault {
        Fault::None => n,
        Fault::Panic => panic!("task {n} panicked on purpose"),
        Fault::Abort => std::process::abort(),
        Fault::Segfault => {
            // SAFETY: deliberately not: this address is never mapped, the point is the SIGSEGV.
            unsafe { std::ptr::write_volatile(std::ptr::dangling_mut::<u64>(), n) };
            n
        }
        Fault::Exit(code) => std::process::exit(code),
        Fault::SigKill => {
            // SAFETY: plain libc calls on this process.
            unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
            std::thread::sleep(Duration::from_secs(10));
            n
        }
    }
}

#[abreast::task]
fn allocate_mib(mib: usize) -> usize {
    let block = vec![1u8; mib << 20];
    block.iter().step_by(4096).map(|&b| b as usize).sum()
}

/// Serializes only when asked to.
#[derive(Debug, Deserialize)]
struct Stubborn(bool);

impl Serialize for Stubborn {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.0 {
            serializer.serialize_bool(true)
        } else {
            Err(serde::ser::Error::custom(
                "Stubborn(false) refuses to be serialized",
            ))
        }
    }
}

/// Deserializes anything but 13.
#[derive(Debug, Serialize)]
struct Picky(u32);

impl<'de> Deserialize<'de> for Picky {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = u32::deserialize(deserializer)?;
        if value == 13 {
            return Err(serde::de::Error::custom("13 is unlucky"));
        }
        Ok(Picky(value))
    }
}

#[abreast::task]
fn stubborn_result(ok: bool) -> Stubborn {
    Stubborn(ok)
}

#[abreast::task]
fn stubborn_arg(value: Stubborn) -> bool {
    value.0
}

#[abreast::task]
fn picky_arg(value: Picky) -> u32 {
    value.0
}

#[abreast::task]
fn picky_result(value: u32) -> Picky {
    Picky(value)
}

static MARK: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

#[abreast::task]
fn set_mark(value: u64) {
    MARK.store(value, std::sync::atomic::Ordering::SeqCst);
}

#[abreast::task]
fn read_mark() -> u64 {
    MARK.load(std::sync::atomic::Ordering::SeqCst)
}

#[abreast::task]
fn pause(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

#[abreast::task]
fn refuse_to_start(_value: u64) {
    panic!("initializer refuses");
}

/// An `Err` of a fallible task is the task's `TaskError::Failed`.
#[abreast::task(fallible)]
fn parse_number(text: String) -> Result<u64, std::num::ParseIntError> {
    text.trim().parse()
}

/// Waits until the file `gate` exists, then returns the length of `text`.
#[abreast::task]
fn gated_len(gate: String, text: String) -> usize {
    while !std::path::Path::new(&gate).exists() {
        std::thread::sleep(Duration::from_millis(5));
    }
    text.len()
}

/// Waits until the file `gate` exists, then returns `value`.
#[abreast::task]
fn gated(gate: String, value: u64) -> u64 {
    while !std::path::Path::new(&gate).exists() {
        std::thread::sleep(Duration::from_millis(5));
    }
    value
}

/// Creates the file `mark` (so the test knows the task is running), then sleeps `ms`.
#[abreast::task]
fn mark_then_sleep(mark: String, ms: u64) -> u64 {
    std::fs::write(&mark, b"").expect("the mark file can be written");
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

/// A path in the temporary directory for one test's gate or mark file, not there yet.
fn scratch_file(name: &str) -> String {
    let path = std::env::temp_dir().join(format!("abreast-{name}-{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path.to_string_lossy().into_owned()
}

/// Waits until `condition` holds; the limit is there only to turn a hang into a failure.
fn wait_until(what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Waits until the file at `path` exists (a task made it).
fn wait_for_file(path: &str) {
    wait_until(&format!("{path} exists"), || {
        std::path::Path::new(path).exists()
    });
}

#[abreast::task]
fn refuse_if_marked(marker: String) {
    if std::path::Path::new(&marker).exists() {
        panic!("marker present: refusing to start");
    }
}

fn pool(workers: usize) -> ProcessPool {
    ProcessPool::builder()
        .workers(workers)
        .build()
        .expect("pool starts")
}

/// True if `pid` is still a child of this process (alive or zombie).
fn is_my_child(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let after_name = &stat[stat.rfind(')').expect("stat has (comm)") + 2..];
    let ppid: u32 = after_name
        .split(' ')
        .nth(1)
        .and_then(|field| field.parse().ok())
        .expect("stat has ppid");
    ppid == std::process::id()
}

fn assert_gone(pids: &[u32]) {
    for &pid in pids {
        assert!(!is_my_child(pid), "worker {pid} outlived its pool");
    }
}

#[test]
fn submit_map_and_direct_calls() {
    let pool = pool(2);
    assert_eq!(pool.submit(square, 12).join().unwrap(), 144);
    assert_eq!(pool.submit(add, (2, 3)).join().unwrap(), 5);
    // The task is still a plain function.
    assert_eq!(square(7), 49);
    assert_eq!(add(1, 1), 2);
    let squares: Vec<u64> = pool.map(square, 0..1000).collect::<Result<_, _>>().unwrap();
    assert_eq!(squares, (0..1000).map(|n| n * n).collect::<Vec<_>>());
    let chunked: Vec<u64> = pool
        .map(square, 0..1000)
        .chunksize(64)
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(chunked, squares);
    let mut unordered: Vec<(usize, u64)> = pool
        .map_unordered(square, 0..500)
        .chunksize(1)
        .indexed()
        .map(|(index, value)| (index, value.unwrap()))
        .collect();
    unordered.sort_unstable();
    assert_eq!(unordered.len(), 500);
    assert!(unordered.iter().all(|&(i, v)| v == (i as u64) * (i as u64)));
    let stats = pool.stats();
    assert_eq!(stats.completed, 2 + 1000 + 1000 + 500);
    assert_eq!((stats.failed, stats.queued, stats.running), (0, 0, 0));
    let pids = pool.worker_pids();
    assert_eq!(pids.len(), 2);
    drop(pool);
    assert_gone(&pids);
}

#[test]
fn as_completed_and_async() {
    let pool = pool(2);
    // The first task waits for a gate the test opens only once the two others are done, so it
    // finishes last however slow the machine.
    let gate = scratch_file("as-completed-gate");
    let handles = vec![
        pool.submit(gated, (gate.clone(), 1)),
        pool.submit(sleep_ms, 10),
        pool.submit(sleep_ms, 50),
    ];
    let mut order = Vec::new();
    for (index, outcome) in abreast::as_completed(handles) {
        outcome.unwrap();
        order.push(index);
        if order.len() == 2 {
            std::fs::write(&gate, b"").unwrap();
        }
    }
    std::fs::remove_file(&gate).unwrap();
    assert_eq!(order.len(), 3);
    assert_eq!(order[2], 0, "the gated task finishes last: {order:?}");
    let sum = abreast::coroutines::run(async {
        let a = pool.submit_async(square, 3).await;
        let b = pool.submit_async(add, (4, 5)).await;
        a.await.unwrap() + b.await.unwrap()
    })
    .unwrap();
    assert_eq!(sum, 18);
}

#[test]
fn a_panic_fails_only_its_task() {
    let pool = pool(2);
    let pids = pool.worker_pids();
    let error = pool.submit(faulty, (Fault::Panic, 7)).join().unwrap_err();
    assert_eq!(error.panic_message(), Some("task 7 panicked on purpose"));
    match &error {
        TaskError::Panicked { task, location, .. } => {
            assert_eq!(task.name, Some("processes::faulty"));
            assert!(location.as_deref().unwrap().contains("tests/processes.rs"));
        }
        other => panic!("expected a panic, got {other}"),
    }
    assert_eq!(pool.submit(square, 4).join().unwrap(), 16);
    // A panic does not cost the worker.
    assert_eq!(pool.stats().workers_replaced, 0);
    let mut now = pool.worker_pids();
    now.sort_unstable();
    let mut before = pids;
    before.sort_unstable();
    assert_eq!(now, before);
}

fn assert_lost(pool: &ProcessPool, fault: Fault, expected: WorkerExit) {
    let replaced = pool.stats().workers_replaced;
    let handle = pool.submit(faulty, (fault, 1));
    let task = handle.id();
    match handle.join() {
        Err(TaskError::WorkerLost {
            task: lost,
            exit,
            pid,
        }) => {
            assert_eq!(lost, task);
            assert_eq!(exit, expected, "{fault:?}");
            assert!(pid > 0);
        }
        other => panic!("{fault:?}: expected WorkerLost, got {other:?}"),
    }
    // The pool goes on, with a new worker.
    assert_eq!(pool.submit(faulty, (Fault::None, 5)).join().unwrap(), 5);
    assert!(pool.stats().workers_replaced > replaced);
}

#[test]
fn every_kind_of_worker_death_fails_only_its_task() {
    let pool = pool(2);
    assert_lost(&pool, Fault::Abort, WorkerExit::Signal(libc::SIGABRT));
    assert_lost(&pool, Fault::Segfault, WorkerExit::Signal(libc::SIGSEGV));
    assert_lost(&pool, Fault::Exit(3), WorkerExit::Code(3));
    assert_lost(&pool, Fault::Exit(0), WorkerExit::Code(0));
    assert_lost(&pool, Fault::SigKill, WorkerExit::Signal(libc::SIGKILL));
    // Other tasks in flight at the time of a crash all complete.
    let handles: Vec<_> = (0..40)
        .map(|n| {
            let fault = if n == 20 { Fault::Abort } else { Fault::None };
            pool.submit(faulty, (fault, n))
        })
        .collect();
    for (n, handle) in handles.into_iter().enumerate() {
        let outcome = handle.join();
        if n == 20 {
            assert!(outcome.unwrap_err().is_worker_lost());
        } else {
            assert_eq!(outcome.unwrap(), n as u64);
        }
    }
    let stats = pool.stats();
    assert_eq!(stats.failed, 6);
    assert_eq!(stats.completed, 5 + 39);
}

#[test]
fn a_worker_killed_from_outside_fails_its_task() {
    let pool = pool(1);
    let mark = scratch_file("killed-from-outside");
    let handle = pool.submit(mark_then_sleep, (mark.clone(), 10_000));
    wait_for_file(&mark);
    std::fs::remove_file(&mark).unwrap();
    let pid = pool.worker_pids()[0];
    // SAFETY: plain libc call; `pid` is our worker.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    match handle.join() {
        Err(TaskError::WorkerLost {
            pid: lost, exit, ..
        }) => {
            assert_eq!(lost, pid);
            assert_eq!(exit, WorkerExit::Signal(libc::SIGKILL));
        }
        other => panic!("expected WorkerLost, got {other:?}"),
    }
    assert_eq!(pool.submit(square, 3).join().unwrap(), 9);
    assert_gone(&[pid]);
}

#[test]
fn retries_run_a_task_again_on_a_new_worker() {
    let pool = ProcessPool::builder()
        .workers(1)
        .retries(2)
        .build()
        .unwrap();
    let error = pool.submit(faulty, (Fault::Exit(9), 1)).join().unwrap_err();
    assert!(error.is_worker_lost());
    // Three runs: the first and two retries, each on a new worker.
    assert_eq!(pool.stats().workers_replaced, 3);
    assert_eq!(pool.submit(square, 2).join().unwrap(), 4);
}

#[test]
fn a_task_past_its_timeout_is_killed() {
    let pool = ProcessPool::builder()
        .workers(2)
        .task_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    // The quick tasks take at most 19 ms: only a stall of most of a second could time one out.
    let slow = pool.submit(sleep_ms, 60_000);
    let quick: Vec<_> = (0..20).map(|n| pool.submit(sleep_ms, n)).collect();
    let started = Instant::now();
    match slow.join() {
        Err(TaskError::TimedOut { after, task }) => {
            assert_eq!(after, Duration::from_secs(1));
            assert_eq!(task.name, Some("processes::sleep_ms"));
        }
        other => panic!("expected TimedOut, got {other:?}"),
    }
    // Well short of the 60 s the task would take: it was killed.
    assert!(started.elapsed() < Duration::from_secs(50));
    for (n, handle) in quick.into_iter().enumerate() {
        assert_eq!(handle.join().unwrap(), n as u64);
    }
    assert!(pool.stats().workers_replaced >= 1);
    // A chunk with one slow item: only that item times out.
    let outcomes: Vec<_> = pool.map(sleep_ms, [1, 2, 20_000, 3]).chunksize(4).collect();
    assert_eq!(outcomes[0].as_ref().unwrap(), &1);
    assert!(outcomes[2].as_ref().unwrap_err().is_timeout());
    assert_eq!(outcomes[3].as_ref().unwrap(), &3);
}

#[test]
fn cancel_and_join_timeout_kill_a_running_task() {
    let pool = pool(1);
    let mark = scratch_file("cancel-running");
    let running = pool.submit(mark_then_sleep, (mark.clone(), 20_000));
    let queued = pool.submit(sleep_ms, 1);
    wait_for_file(&mark);
    std::fs::remove_file(&mark).unwrap();
    let pid = pool.worker_pids()[0];
    assert!(running.cancel());
    assert!(running.join().unwrap_err().is_cancelled());
    assert_eq!(queued.join().unwrap(), 1);
    assert_gone(&[pid]);
    let slow = pool.submit(sleep_ms, 20_000);
    assert!(
        slow.join_timeout(Duration::from_millis(200))
            .unwrap_err()
            .is_timeout()
    );
    assert_eq!(pool.submit(square, 5).join().unwrap(), 25);
    // A task cancelled while queued (or waiting in the pipe) never runs: the blocker holds the
    // worker until the cancel is done.
    let gate = scratch_file("cancel-queued-gate");
    let blocker = pool.submit(gated, (gate.clone(), 300));
    let never = pool.submit(faulty, (Fault::Abort, 0));
    assert!(never.cancel());
    assert!(never.join().unwrap_err().is_cancelled());
    std::fs::write(&gate, b"").unwrap();
    assert_eq!(blocker.join().unwrap(), 300);
    std::fs::remove_file(&gate).unwrap();
    assert_eq!(pool.stats().cancelled, 3);
}

#[test]
fn codec_errors_name_the_type_and_stage() {
    let pool = pool(1);
    let cases = [
        (
            pool.submit(stubborn_arg, Stubborn(false))
                .join()
                .unwrap_err(),
            abreast::CodecStage::Argument,
            "Stubborn",
        ),
        (
            pool.submit(picky_arg, Picky(13)).join().unwrap_err(),
            abreast::CodecStage::Argument,
            "Picky",
        ),
        (
            pool.submit(stubborn_result, false)
                .join()
                .map(|_| ())
                .unwrap_err(),
            abreast::CodecStage::Result,
            "Stubborn",
        ),
        (
            pool.submit(picky_result, 13)
                .join()
                .map(|_| ())
                .unwrap_err(),
            abreast::CodecStage::Result,
            "Picky",
        ),
    ];
    for (error, expected_stage, expected_type) in cases {
        match error {
            TaskError::Codec {
                stage, type_name, ..
            } => {
                assert_eq!(stage, expected_stage);
                assert!(type_name.ends_with(expected_type), "{type_name}");
            }
            other => panic!("expected a codec error, got {other}"),
        }
    }
    assert!(pool.submit(stubborn_arg, Stubborn(true)).join().unwrap());
    assert_eq!(pool.submit(picky_result, 12).join().unwrap().0, 12);
    assert_eq!(pool.stats().workers_replaced, 0);
}

#[test]
fn a_memory_limit_fails_the_task_that_passes_it() {
    let pool = ProcessPool::builder()
        .workers(1)
        .memory_limit(512 << 20)
        .build()
        .unwrap();
    match pool.submit(allocate_mib, 2048).join() {
        Err(TaskError::WorkerLost { exit, .. }) => {
            assert_eq!(exit, WorkerExit::Signal(libc::SIGABRT));
        }
        other => panic!("expected WorkerLost, got {other:?}"),
    }
    assert_eq!(pool.submit(allocate_mib, 16).join().unwrap(), 16 * 256);
}

#[test]
fn task_output_on_stdout_does_not_disturb_the_channel() {
    let pool = pool(2);
    let values: Vec<u32> = pool.map(chatty, 0..4).collect::<Result<_, _>>().unwrap();
    assert_eq!(values, [0, 1, 2, 3]);
}

#[test]
fn hundred_megabyte_argument_and_result() {
    let pool = pool(2);
    let big = "x".repeat(100 << 20);
    let handles: Vec<_> = (0..2)
        .map(|_| pool.submit(string_len_and_echo, big.clone()))
        .collect();
    for handle in handles {
        let back = handle.join().unwrap();
        assert_eq!(back.len(), 100 << 20);
        assert!(back.bytes().all(|b| b == b'X'));
    }
}

#[test]
fn initializer_runs_once_per_worker() {
    let pool = ProcessPool::builder()
        .workers(2)
        .initializer(set_mark, 41)
        .max_tasks_per_worker(3)
        .build()
        .unwrap();
    let marks: Vec<u64> = pool
        .map(read_mark, (0..20).map(|_| ()))
        .chunksize(1)
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(marks.iter().all(|&mark| mark == 41), "{marks:?}");
    // Recycling: each worker runs at most 3 tasks, then is replaced (with its initializer run).
    let pids: HashSet<u32> = pool
        .map(worker_pid, (0..12).map(|_| ()))
        .chunksize(1)
        .map(Result::unwrap)
        .collect();
    assert!(pids.len() >= 4, "{pids:?}");
    assert!(pool.stats().workers_replaced >= 8);
    let error = ProcessPool::builder()
        .workers(1)
        .initializer(refuse_to_start, 0)
        .build()
        .unwrap_err();
    match error {
        BuildError::Initializer { error, .. } => {
            assert_eq!(error.panic_message(), Some("initializer refuses"));
        }
        other => panic!("expected an initializer error, got {other}"),
    }
}

#[test]
fn shutdown_now_cancels_queued_and_running_tasks() {
    let pool = pool(1);
    let pids = pool.worker_pids();
    let mark = scratch_file("shutdown-now-running");
    let running = pool.submit(mark_then_sleep, (mark.clone(), 20_000));
    let queued: Vec<_> = (0..5).map(|_| pool.submit(sleep_ms, 20_000)).collect();
    wait_for_file(&mark);
    std::fs::remove_file(&mark).unwrap();
    let started = Instant::now();
    pool.shutdown_now();
    assert!(started.elapsed() < Duration::from_secs(19));
    assert!(running.join().unwrap_err().is_cancelled());
    for handle in queued {
        assert!(handle.join().unwrap_err().is_cancelled());
    }
    assert_gone(&pids);
}

#[test]
fn drain_stops_taking_work() {
    let pool = pool(1);
    let before = pool.submit(square, 3);
    pool.drain();
    assert!(pool.is_draining());
    assert!(pool.submit(square, 4).join().unwrap_err().is_cancelled());
    assert_eq!(before.join().unwrap(), 9);
    assert_eq!(pool.map(square, 0..10).count(), 0);
}

/// 100,000 tasks, one in 500 failing in one of five ways: none lost, each failure reported.
#[test]
fn stress_random_crashes_lose_nothing() {
    const TASKS: u64 = 100_000;
    let pool = ProcessPool::builder()
        .workers(2)
        .prefetch(8)
        .build()
        .unwrap();
    let fault_of = |n: u64| {
        // A fixed pseudo-random choice, so the test is the same every run.
        let hash = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
        if !hash.is_multiple_of(500) {
            return Fault::None;
        }
        match (hash / 500) % 5 {
            0 => Fault::Panic,
            1 => Fault::Abort,
            2 => Fault::Segfault,
            3 => Fault::Exit(4),
            _ => Fault::SigKill,
        }
    };
    let mut seen = 0;
    let mut crashes = 0;
    for (n, outcome) in pool
        .map(faulty, (0..TASKS).map(|n| (fault_of(n), n)))
        .chunksize(1)
        .enumerate()
    {
        let n = n as u64;
        match (fault_of(n), outcome) {
            (Fault::None, Ok(value)) => assert_eq!(value, n),
            (Fault::Panic, Err(error)) => assert!(error.is_panic(), "{error}"),
            (_, Err(TaskError::WorkerLost { .. })) => crashes += 1,
            (fault, outcome) => panic!("task {n} ({fault:?}) gave {outcome:?}"),
        }
        seen += 1;
    }
    assert_eq!(seen, TASKS);
    let stats = pool.stats();
    let faults = (0..TASKS).filter(|&n| fault_of(n) != Fault::None).count() as u64;
    assert!(faults > 100, "{faults}");
    assert_eq!(stats.failed, faults);
    assert_eq!(stats.completed, TASKS - faults);
    assert_eq!(stats.workers_replaced, crashes);
    assert_eq!((stats.queued, stats.running), (0, 0));
}

#[test]
fn a_fallible_task_error_is_failed() {
    let pool = pool(1);
    assert_eq!(pool.submit(parse_number, " 42 ".into()).join().unwrap(), 42);
    match pool.submit(parse_number, "forty-two".into()).join() {
        Err(TaskError::Failed { task, source }) => {
            assert_eq!(task.name, Some("processes::parse_number"));
            let remote = source
                .downcast_ref::<abreast::processes::RemoteError>()
                .expect("a RemoteError");
            assert!(remote.type_name().ends_with("ParseIntError"));
            assert_eq!(remote.message(), "invalid digit found in string");
        }
        other => panic!("expected Failed, got {other:?}"),
    }
    // Called directly, it is the plain function.
    assert!(parse_number("x".into()).is_err());
    let stats = pool.stats();
    assert_eq!(
        (stats.completed, stats.failed, stats.workers_replaced),
        (1, 1, 0)
    );
}

#[test]
fn a_task_cancelled_in_a_worker_pipe_never_runs() {
    let pool = pool(1);
    // Short tasks first, so the worker is given several frames at once.
    assert_eq!(pool.map(square, 0..200).chunksize(1).count(), 200);
    let running = pool.submit(sleep_ms, 300);
    let piped = pool.submit(sleep_ms, 60_000);
    std::thread::sleep(Duration::from_millis(50));
    let started = Instant::now();
    assert!(piped.cancel());
    assert!(piped.join().unwrap_err().is_cancelled());
    assert_eq!(running.join().unwrap(), 300);
    // The worker would reach the cancelled task next: it is stopped instead of running it.
    assert_eq!(pool.submit(square, 6).join().unwrap(), 36);
    // Well short of the 60 s the cancelled task would take: it never ran.
    assert!(started.elapsed() < Duration::from_secs(50));
}

/// A crash in a worker that was already told to retire (recycling) is still the task's fault:
/// it fails once, and is not run again and again.
#[test]
fn a_crash_while_recycling_fails_the_task_once() {
    let pool = ProcessPool::builder()
        .workers(1)
        .max_tasks_per_worker(3)
        .build()
        .unwrap();
    assert_eq!(pool.map(square, 0..3).chunksize(1).count(), 3);
    let handles: Vec<_> = [Fault::None, Fault::Exit(2), Fault::None]
        .into_iter()
        .map(|fault| pool.submit(faulty, (fault, 1)))
        .collect();
    let outcomes: Vec<_> = handles.into_iter().map(abreast::TaskHandle::join).collect();
    assert_eq!(outcomes[0].as_ref().unwrap(), &1);
    assert!(outcomes[1].as_ref().unwrap_err().is_worker_lost());
    assert_eq!(outcomes[2].as_ref().unwrap(), &1);
    // One for the recycling after the first three tasks, one for the crash: no second run.
    assert_eq!(pool.stats().workers_replaced, 2, "{:?}", pool.stats());
}

/// When a replacement worker cannot start, tasks fail with the reason instead of waiting, and
/// the pool starts working again once a worker can start.
#[test]
fn a_replacement_that_cannot_start_fails_tasks_instead_of_hanging() {
    let marker = std::env::temp_dir().join(format!("abreast-marker-{}", std::process::id()));
    let _ = std::fs::remove_file(&marker);
    let pool = ProcessPool::builder()
        .workers(1)
        .initializer(refuse_if_marked, marker.to_string_lossy().into_owned())
        .build()
        .unwrap();
    std::fs::write(&marker, b"").unwrap();
    let crashed = pool.submit(faulty, (Fault::Exit(1), 0)).join();
    assert!(crashed.unwrap_err().is_worker_lost());
    match pool.submit(square, 2).join() {
        Err(TaskError::Io { source, .. }) => {
            assert!(source.to_string().contains("marker present"), "{source}");
        }
        other => panic!("expected an Io error, got {other:?}"),
    }
    std::fs::remove_file(&marker).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match pool.submit(square, 3).join() {
            Ok(value) => {
                assert_eq!(value, 9);
                break;
            }
            Err(error) => {
                assert!(matches!(error, TaskError::Io { .. }), "{error}");
                assert!(Instant::now() < deadline, "no worker started again");
            }
        }
    }
}

/// A map over large values pulls only about 64 MiB of them ahead, whatever its window.
#[test]
fn map_bounds_the_bytes_in_flight() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let pool = pool(2);
    let marker = std::env::temp_dir().join(format!("abreast-gate-{}", std::process::id()));
    let _ = std::fs::remove_file(&marker);
    let gate = marker.to_string_lossy().into_owned();
    let pulled = AtomicUsize::new(0);
    let items = (0..24).map(|_| {
        pulled.fetch_add(1, Ordering::SeqCst);
        (gate.clone(), "x".repeat(8 << 20))
    });
    std::thread::scope(|scope| {
        let consumer = scope.spawn(|| pool.map(gated_len, items).chunksize(1).count());
        // No task can finish before the gate opens: the map pulls its 64 MiB (8 items), then
        // must stop. Wait for those, then give it a while to overshoot if it would.
        wait_until("the map pulls 8 items", || {
            pulled.load(Ordering::SeqCst) >= 8
        });
        std::thread::sleep(Duration::from_millis(200));
        let ahead = pulled.load(Ordering::SeqCst);
        std::fs::write(&marker, b"").unwrap();
        assert_eq!(consumer.join().unwrap(), 24);
        assert!(ahead <= 9, "pulled {ahead} items of 8 MiB ahead");
    });
    std::fs::remove_file(&marker).unwrap();
    assert_eq!(pulled.load(Ordering::SeqCst), 24);
}

/// A worker that dies inside a chunk: the chunk's items run again one by one, so only the item
/// at fault fails, with the right error; a panic inside a chunk fails only its item at once.
#[test]
fn a_crash_inside_a_chunk_fails_only_its_item() {
    let pool = pool(2);
    let fault_of = |n: u64| match n % 1000 {
        500 => Fault::Abort,
        700 => Fault::Panic,
        _ => Fault::None,
    };
    let outcomes: Vec<_> = pool
        .map(faulty, (0..5000).map(|n| (fault_of(n), n)))
        .chunksize(100)
        .collect();
    assert_eq!(outcomes.len(), 5000);
    for (n, outcome) in outcomes.iter().enumerate() {
        let n = n as u64;
        match fault_of(n) {
            Fault::None => assert_eq!(outcome.as_ref().unwrap(), &n),
            Fault::Abort => assert!(outcome.as_ref().unwrap_err().is_worker_lost()),
            _ => assert!(outcome.as_ref().unwrap_err().is_panic()),
        }
    }
    let stats = pool.stats();
    assert_eq!((stats.completed, stats.failed), (4990, 10));
}

#[test]
fn a_worker_that_does_not_start_in_time_fails_the_build() {
    let started = Instant::now();
    let error = ProcessPool::builder()
        .workers(1)
        .initializer(pause, 120_000)
        .startup_timeout(Duration::from_millis(300))
        .build()
        .unwrap_err();
    // Well short of the 120 s the initializer would take: the build gave up on it.
    assert!(started.elapsed() < Duration::from_secs(60));
    match error {
        BuildError::Handshake { reason, .. } => {
            assert!(reason.contains("startup timeout"), "{reason}");
        }
        other => panic!("expected a handshake error, got {other}"),
    }
}

#[test]
fn workers_start_with_the_worker_command_when_one_is_given() {
    // A shell that execs this test binary: the workers are another program at first, as a
    // Python interpreter that loads abreast is, and serve tasks once they have loaded it.
    let this = std::env::current_exe().unwrap();
    let command = WorkerCommand::new(
        "/bin/sh",
        [
            "-c".into(),
            r#"exec "$0" "$@""#.into(),
            this.into_os_string(),
        ],
    );
    let pool = ProcessPool::builder()
        .workers(2)
        .worker_command(command)
        .build()
        .unwrap();
    let handles: Vec<_> = (0..20u64).map(|n| pool.submit(square, n)).collect();
    let squares: Vec<u64> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(squares, (0..20u64).map(|n| n * n).collect::<Vec<_>>());
    pool.shutdown();
}

#[test]
fn a_worker_command_that_is_not_this_build_fails_the_build() {
    let error = ProcessPool::builder()
        .workers(1)
        .worker_command(WorkerCommand::new("/bin/true", Vec::<String>::new()))
        .build()
        .unwrap_err();
    match error {
        BuildError::Handshake { reason, .. } => {
            assert!(reason.contains("ended before answering"), "{reason}");
        }
        other => panic!("expected a handshake error, got {other}"),
    }
}

/// Runs `body` on a thread of its own and fails if it does not end within 60 s: the limit only
/// turns a hang into a failure (the stuck thread is left behind; the harness still exits).
fn without_hanging(what: &'static str, body: impl FnOnce() + Send + 'static) {
    let (done, finished) = std::sync::mpsc::channel();
    let runner = std::thread::spawn(move || {
        body();
        let _ = done.send(());
    });
    match finished.recv_timeout(Duration::from_secs(60)) {
        // Ended (or panicked, which `join` passes on).
        Ok(()) | Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            if let Err(panic) = runner.join() {
                std::panic::resume_unwind(panic);
            }
        }
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("{what}: still running after 60 s, a pool hangs while stopping")
        }
    }
}

#[test]
fn a_pool_dropped_right_after_a_submit_sends_the_last_frame_and_stops() {
    // The lane writes a frame into its buffer, then finds the queue closed without waiting on it
    // (the pool was dropped right after the submit). Unless it flushes before waiting for the
    // answers, the frame is never sent and the pool's drop waits forever. It is a race, so each
    // ending is run many times, with one worker and with two.
    without_hanging("pools dropped right after a submit", || {
        for round in 0..120u64 {
            let workers = 1 + (round % 2) as usize;
            let pool = ProcessPool::builder().workers(workers).build().unwrap();
            match round % 3 {
                // A handle kept past the pool's drop gets its result.
                0 => {
                    let kept = pool.submit(square, round);
                    drop(pool);
                    assert_eq!(kept.join().unwrap(), round * round);
                }
                // A warmed lane (its frame clock set, so it keeps several frames in flight),
                // then a task whose handle is dropped at once, then the pool.
                1 => {
                    assert_eq!(pool.submit(square, 3).join().unwrap(), 9);
                    drop(pool.submit(square, round));
                    drop(pool);
                }
                // A few tasks in flight on every lane, handles dropped, then shut down.
                _ => {
                    let handles: Vec<_> = (0..4).map(|n| pool.submit(square, n)).collect();
                    drop(handles);
                    pool.shutdown();
                }
            }
        }
    });
}

/// Creates the file `mark`, waits until the file `gate` exists, then returns its worker's pid.
#[abreast::task]
fn mark_then_gated_pid(mark: String, gate: String) -> u32 {
    std::fs::write(&mark, b"").expect("the mark file can be written");
    while !std::path::Path::new(&gate).exists() {
        std::thread::sleep(Duration::from_millis(5));
    }
    std::process::id()
}

#[test]
fn tasks_sharing_an_affinity_key_go_to_the_worker_that_took_the_last() {
    let pool = pool(3);
    // Three keys' first tasks run at once, so each is on a worker of its own.
    let gate = scratch_file("affinity-gate");
    let marks: Vec<String> = (0..3)
        .map(|key| scratch_file(&format!("affinity-mark-{key}")))
        .collect();
    let first: Vec<_> = (0..3u64)
        .map(|key| {
            let arg = (marks[key as usize].clone(), gate.clone());
            pool.submit_with_affinity(key, mark_then_gated_pid, arg)
        })
        .collect();
    marks.iter().for_each(|mark| wait_for_file(mark));
    std::fs::write(&gate, b"").unwrap();
    let owners: Vec<u32> = first.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(owners.iter().collect::<HashSet<_>>().len(), 3, "{owners:?}");
    // Then, one at a time, each key's tasks go back to its worker.
    for round in 0..4 {
        for key in 0..3u64 {
            let pid = pool
                .submit_with_affinity(key, worker_pid, ())
                .join()
                .unwrap();
            assert_eq!(pid, owners[key as usize], "round {round}, key {key}");
        }
    }
    for path in marks.iter().chain([&gate]) {
        let _ = std::fs::remove_file(path);
    }
}

#[test]
fn a_task_kept_for_its_key_s_busy_worker_goes_to_a_free_one() {
    let pool = pool(2);
    let (mark, gate) = (scratch_file("affine-mark"), scratch_file("affine-gate"));
    let running = pool.submit_with_affinity(7, mark_then_gated_pid, (mark.clone(), gate.clone()));
    wait_for_file(&mark);
    // The key's worker is busy for as long as the gate stays shut: the next task of the key is
    // kept for it, then taken by the free worker.
    let other = pool
        .submit_with_affinity(7, worker_pid, ())
        .join_timeout(Duration::from_secs(60));
    let next = other
        .is_ok()
        .then(|| pool.submit_with_affinity(7, worker_pid, ()).join());
    let busy_meanwhile = !running.is_finished();
    // The gate opens before any assertion, so a failure cannot leave the pool waiting on it.
    std::fs::write(&gate, b"").unwrap();
    let other = other.expect("done while the key's worker is busy");
    assert!(busy_meanwhile);
    // The key is now the free worker's.
    assert_eq!(next.unwrap().unwrap(), other);
    assert_ne!(running.join().unwrap(), other);
    for path in [mark, gate] {
        let _ = std::fs::remove_file(path);
    }
}

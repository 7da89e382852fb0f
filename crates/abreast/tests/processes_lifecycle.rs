//! Process lifetimes: no orphan and no zombie after any fault, workers die with their parent,
//! and Ctrl-C is decided by the parent (first press drains, second kills and exits 130).
//!
//! One test runs everything in order, because it checks that this process has no child left,
//! which tests running side by side would disturb. The child programs are this same test binary,
//! run again with `CHILD_ROLE` set, through the ignored test `child_program`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use abreast::processes::{CtrlC, ProcessPool};

const CHILD_ROLE: &str = "ABREAST_LIFECYCLE_CHILD";

#[abreast::task]
fn sleep_ms(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

#[abreast::task]
fn exit_with(code: i32) -> i32 {
    if code >= 0 {
        std::process::exit(code);
    }
    code
}

/// The pids of this process's children (alive or zombie), from /proc.
fn children() -> Vec<u32> {
    let me = std::process::id();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if parent_and_state(pid).is_some_and(|(ppid, _)| ppid == me) {
            found.push(pid);
        }
    }
    found
}

/// A process's parent pid and state letter, or None if it no longer exists.
fn parent_and_state(pid: u32) -> Option<(u32, char)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split(' ');
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((ppid, state))
}

/// True once `pid` is gone or a zombie (dead, waiting for whoever adopted it to reap it).
fn is_dead(pid: u32) -> bool {
    parent_and_state(pid).is_none_or(|(_, state)| state == 'Z' || state == 'X')
}

fn wait_until(what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn child(role: &str) -> Command {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "--exact",
            "child_program",
            "--ignored",
            "--nocapture",
            "--quiet",
        ])
        .env(CHILD_ROLE, role)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Reads lines from the child's stdout until one starts with `prefix`; returns the rest.
fn expect_line(lines: &mut impl Iterator<Item = std::io::Result<String>>, prefix: &str) -> String {
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix(prefix) {
            return rest.trim().to_owned();
        }
    }
    panic!("the child ended without printing {prefix:?}");
}

fn pids(text: &str) -> Vec<u32> {
    text.split_whitespace()
        .map(|pid| pid.parse().unwrap())
        .collect()
}

#[test]
fn no_worker_outlives_anything() {
    assert_eq!(children(), Vec::<u32>::new(), "children before the test");

    // Faults of every kind, timeouts, cancellation, recycling; then Drop.
    let pool = ProcessPool::builder()
        .workers(2)
        .task_timeout(Duration::from_secs(1))
        .max_tasks_per_worker(5)
        .build()
        .unwrap();
    let mut handles: Vec<_> = (0..20).map(|n| pool.submit(exit_with, n % 3 - 1)).collect();
    handles.push(pool.submit(exit_with, 7));
    let slow = pool.submit(sleep_ms, 10_000);
    let cancelled = pool.submit(sleep_ms, 10_000);
    std::thread::sleep(Duration::from_millis(50));
    cancelled.cancel();
    assert!(slow.join().unwrap_err().is_timeout());
    for handle in handles {
        let _ = handle.join();
    }
    drop(pool);
    assert_eq!(children(), Vec::<u32>::new(), "children after Drop");

    // shutdown_now with tasks running and queued.
    let pool = ProcessPool::builder().workers(2).build().unwrap();
    let running: Vec<_> = (0..6).map(|_| pool.submit(sleep_ms, 10_000)).collect();
    std::thread::sleep(Duration::from_millis(100));
    pool.shutdown_now();
    for handle in running {
        assert!(handle.join().unwrap_err().is_cancelled());
    }
    assert_eq!(children(), Vec::<u32>::new(), "children after shutdown_now");

    parent_death_kills_the_workers();
    ctrl_c_drains_then_kills();
    assert_eq!(children(), Vec::<u32>::new(), "children at the end");
}

/// A parent killed with SIGKILL (no chance to clean up) still takes its workers with it.
fn parent_death_kills_the_workers() {
    let mut parent = child("parent_death").spawn().unwrap();
    let mut lines = BufReader::new(parent.stdout.take().unwrap()).lines();
    let workers = pids(&expect_line(&mut lines, "workers:"));
    assert_eq!(workers.len(), 2);
    parent.kill().unwrap();
    parent.wait().unwrap();
    wait_until("the dead parent's workers die", || {
        workers.iter().all(|&pid| is_dead(pid))
    });
}

/// First Ctrl-C (sent to the whole process group, as a terminal does): the workers ignore it,
/// the pool drains and the running tasks finish. Second: the workers are killed, exit 130.
fn ctrl_c_drains_then_kills() {
    let mut command = child("ctrl_c");
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let mut program = command.spawn().unwrap();
    let group = program.id() as i32;
    let mut lines = BufReader::new(program.stdout.take().unwrap()).lines();
    let workers = pids(&expect_line(&mut lines, "ready:"));
    // SAFETY: plain libc call; the group is the child's own.
    unsafe { libc::kill(-group, libc::SIGINT) };
    assert_eq!(
        expect_line(&mut lines, "drained:"),
        "2 finished, new task cancelled"
    );
    assert!(
        workers.iter().all(|&pid| !is_dead(pid)),
        "workers ignore SIGINT"
    );
    expect_line(&mut lines, "waiting");
    // SAFETY: as above.
    unsafe { libc::kill(-group, libc::SIGINT) };
    let status = program.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut program.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(stderr.contains("interrupted; finishing"), "{stderr}");
    assert!(stderr.contains("interrupted again"), "{stderr}");
    wait_until("the interrupted program's workers die", || {
        workers.iter().all(|&pid| is_dead(pid))
    });
}

/// The child programs (run only through `child` above).
#[test]
#[ignore = "a helper program for no_worker_outlives_anything"]
fn child_program() {
    let Ok(role) = std::env::var(CHILD_ROLE) else {
        return;
    };
    match role.as_str() {
        "parent_death" => {
            let pool = ProcessPool::builder().workers(2).build().unwrap();
            let _busy = pool.submit(sleep_ms, 60_000);
            let pids: Vec<String> = pool.worker_pids().iter().map(u32::to_string).collect();
            println!("workers: {}", pids.join(" "));
            std::thread::sleep(Duration::from_secs(60));
        }
        "ctrl_c" => {
            let ctrl_c = CtrlC::install().unwrap();
            let pool = ProcessPool::builder().workers(2).build().unwrap();
            ctrl_c.watch(&pool);
            let tasks: Vec<_> = (0..2).map(|_| pool.submit(sleep_ms, 1_000)).collect();
            let pids: Vec<String> = pool.worker_pids().iter().map(u32::to_string).collect();
            println!("ready: {}", pids.join(" "));
            while !ctrl_c.interrupted() {
                std::thread::sleep(Duration::from_millis(5));
            }
            let finished = tasks
                .into_iter()
                .map(abreast::TaskHandle::join)
                .filter(Result::is_ok)
                .count();
            let refused = pool.submit(sleep_ms, 1).join().is_err();
            println!(
                "drained: {finished} finished, new task {}",
                if refused { "cancelled" } else { "ran" }
            );
            let _long = pool.submit(sleep_ms, 60_000);
            println!("waiting");
            std::thread::sleep(Duration::from_secs(60));
            unreachable!("the second Ctrl-C exits");
        }
        other => panic!("unknown child role {other}"),
    }
}

//! A dropped pool frees everything it held: 300 process pools and 300 thread pools are made,
//! given work and dropped (or shut down), and the heap, the open file descriptors, the threads
//! and the child processes of this process are the same afterwards as after a warm-up.
//!
//! The heap is measured by a counting `#[global_allocator]` (live bytes and live allocations),
//! which is why this is a test binary of its own, with a single test: anything else running
//! beside it would move the counts. Process-pool workers are this same binary, re-executed (the
//! `auto-init` feature serves tasks before the test harness starts).
//!
//! The allowances are small and fixed, not proportional to the number of pools: a pool that left
//! even one allocation behind would exceed them 300 times over.

use std::alloc::{GlobalAlloc, Layout, System};
use std::future::IntoFuture;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use abreast::TaskError;
use abreast::processes::ProcessPool;
use abreast::threads::ThreadPool;

/// The system allocator, counting what is live.
struct Counting;

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);
static LIVE_ALLOCATIONS: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded to `System` unchanged; only counters are updated beside it.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let pointer = unsafe { System.alloc(layout) };
        if !pointer.is_null() {
            LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
            LIVE_ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        pointer
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let pointer = unsafe { System.alloc_zeroed(layout) };
        if !pointer.is_null() {
            LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
            LIVE_ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        pointer
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(pointer, layout) };
        LIVE_BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        LIVE_ALLOCATIONS.fetch_sub(1, Ordering::Relaxed);
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let moved = unsafe { System.realloc(pointer, layout, new_size) };
        if !moved.is_null() {
            LIVE_BYTES.fetch_add(
                new_size as isize - layout.size() as isize,
                Ordering::Relaxed,
            );
        }
        moved
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

#[abreast::task]
fn double(n: u64) -> u64 {
    n * 2
}

#[abreast::task]
fn crash(code: i32) -> i32 {
    std::process::exit(code)
}

#[abreast::task]
fn nap(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

/// What this process holds now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Footprint {
    live_bytes: isize,
    live_allocations: isize,
    fds: usize,
    threads: usize,
    children: usize,
}

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

fn fds() -> usize {
    // The directory's own descriptor is counted every time alike.
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// This process's children, alive or zombie (found by their parent pid in /proc).
fn children() -> usize {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|entry| {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if !name.bytes().all(|b| b.is_ascii_digit()) {
                return false;
            }
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{name}/stat")) else {
                return false;
            };
            // After "pid (comm) ": the state, then the parent pid.
            let Some(close) = stat.rfind(')') else {
                return false;
            };
            stat[close + 1..].split_whitespace().nth(1) == Some(me.as_str())
        })
        .count()
}

/// Reads the counters after the threads of dropped pools are gone (a joined thread may stay
/// listed in /proc for a moment after `join` returns) and no child is left. Waits on the
/// condition, up to a limit only a hang reaches.
fn footprint(threads_expected: usize) -> Footprint {
    let deadline = Instant::now() + Duration::from_secs(60);
    while (threads() > threads_expected || children() > 0) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    // Read the heap last, with nothing allocating in between.
    let fds = fds();
    let threads = threads();
    let children = children();
    Footprint {
        live_bytes: LIVE_BYTES.load(Ordering::SeqCst),
        live_allocations: LIVE_ALLOCATIONS.load(Ordering::SeqCst),
        fds,
        threads,
        children,
    }
}

/// One process pool's life, the `i`-th kind of six: every path that ends a pool or a worker.
fn process_pool_life(i: usize) {
    let workers = 1 + i % 2;
    match i % 6 {
        // Submit and join, then dropped.
        0 => {
            let pool = ProcessPool::builder().workers(workers).build().unwrap();
            let handles: Vec<_> = (0..3).map(|n| pool.submit(double, n)).collect();
            for (n, handle) in (0..3).zip(handles) {
                assert_eq!(handle.join().unwrap(), n * 2);
            }
        }
        // A map, then shut down.
        1 => {
            let pool = ProcessPool::builder().workers(workers).build().unwrap();
            let sum: u64 = pool.map(double, 0..20).map(Result::unwrap).sum();
            assert_eq!(sum, 380);
            pool.shutdown();
        }
        // A timeout (so a watchdog thread) and a task that outlives its handle's interest.
        2 => {
            let pool = ProcessPool::builder()
                .workers(workers)
                .task_timeout(Duration::from_secs(60))
                .build()
                .unwrap();
            assert_eq!(pool.submit(double, 4).join().unwrap(), 8);
            drop(pool.submit(double, 5));
        }
        // Recycled workers (a new one every two tasks), and submit_async.
        3 => {
            let pool = ProcessPool::builder()
                .workers(workers)
                .max_tasks_per_worker(2)
                .build()
                .unwrap();
            for n in 0..5 {
                let handle = futures::executor::block_on(pool.submit_async(double, n));
                assert_eq!(
                    futures::executor::block_on(handle.into_future()).unwrap(),
                    n * 2
                );
            }
        }
        // A running task cancelled, others queued, then shut down now.
        4 => {
            let pool = ProcessPool::builder().workers(workers).build().unwrap();
            assert_eq!(pool.submit(double, 1).join().unwrap(), 2);
            let running = pool.submit(nap, 60_000);
            let queued: Vec<_> = (0..4).map(|_| pool.submit(nap, 60_000)).collect();
            running.cancel();
            pool.shutdown_now();
            for handle in queued {
                assert!(matches!(handle.join(), Err(TaskError::Cancelled { .. })));
            }
        }
        // A worker crash (the worker is replaced), then dropped with a handle kept past it.
        _ => {
            let pool = ProcessPool::builder().workers(workers).build().unwrap();
            assert!(matches!(
                pool.submit(crash, 3).join(),
                Err(TaskError::WorkerLost { .. })
            ));
            let kept = pool.submit(double, 7);
            drop(pool);
            assert_eq!(kept.join().unwrap(), 14);
        }
    }
}

/// One thread pool's life: submitted tasks, a map-free scope of work, then dropped or shut down.
fn thread_pool_life(i: usize) {
    let pool = ThreadPool::builder()
        .num_threads(1 + i % 3)
        .build()
        .unwrap();
    let handles: Vec<_> = (0..4u64).map(|n| pool.submit(move || n * 3)).collect();
    for (n, handle) in (0..4u64).zip(handles) {
        assert_eq!(handle.join().unwrap(), n * 3);
    }
    let kept = pool.submit(|| 11);
    match i % 3 {
        0 => drop(pool),
        1 => pool.shutdown(),
        _ => pool.shutdown_now(),
    }
    // Queued or run, it has its outcome once the pool is gone.
    let _ = kept.join();
}

/// Checks that `after` holds no more than `before` plus a small fixed allowance.
fn assert_flat(what: &str, before: Footprint, after: Footprint, pools: usize) {
    eprintln!("{what}: after warm-up {before:?}; after {pools} more pools {after:?}");
    // Room for what the standard library and flume keep lazily (a few buffers), nothing like a
    // pool's worth: one leaked lane per pool would be 300 allocations and tens of KiB.
    const BYTES: isize = 16 * 1024;
    const ALLOCATIONS: isize = 64;
    let bytes = after.live_bytes - before.live_bytes;
    let allocations = after.live_allocations - before.live_allocations;
    assert!(
        bytes <= BYTES,
        "{what}: {bytes} more bytes live after {pools} pools were dropped (allowed: {BYTES})"
    );
    assert!(
        allocations <= ALLOCATIONS,
        "{what}: {allocations} more allocations live after {pools} pools were dropped (allowed: {ALLOCATIONS})"
    );
    assert_eq!(after.fds, before.fds, "{what}: file descriptors left open");
    assert_eq!(
        after.threads, before.threads,
        "{what}: threads left running"
    );
    assert_eq!(after.children, 0, "{what}: child processes left");
}

#[test]
fn dropped_pools_free_their_heap_threads_fds_and_workers() {
    const POOLS: usize = 300;
    // A pool that hangs while stopping would hang the test: end the process instead, after a
    // limit only a hang reaches (the whole test takes seconds).
    let (finished, done) = std::sync::mpsc::channel::<()>();
    let guard = std::thread::spawn(move || {
        if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
            done.recv_timeout(Duration::from_secs(600))
        {
            eprintln!("pools_teardown: still running after 10 minutes: a pool hangs; aborting");
            std::process::abort();
        }
    });
    // The harness's main thread, the test thread and the guard.
    let threads_idle = threads();

    // Warm-up: whatever the first pools set up once per process (the panic hook, the task
    // registry, lazily made buffers) is set up here.
    for i in 0..24 {
        process_pool_life(i);
    }
    let before = footprint(threads_idle);
    for i in 0..POOLS {
        process_pool_life(i);
    }
    let after = footprint(threads_idle);
    assert_flat("process pools", before, after, POOLS);

    for i in 0..12 {
        thread_pool_life(i);
    }
    let before = footprint(threads_idle);
    for i in 0..POOLS {
        thread_pool_life(i);
    }
    let after = footprint(threads_idle);
    assert_flat("thread pools", before, after, POOLS);

    // And no child is left to reap: waitpid finds none at all.
    // SAFETY: waitpid with WNOHANG and a null status pointer only queries.
    let reaped = unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) };
    assert_eq!(reaped, -1, "a child process was left to reap");
    assert_eq!(
        std::io::Error::last_os_error().raw_os_error(),
        Some(libc::ECHILD),
        "waitpid found a child process"
    );
    drop(finished);
    guard.join().unwrap();
}

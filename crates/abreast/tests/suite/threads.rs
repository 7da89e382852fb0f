//! The thread pool: order, laziness, panics, cancellation, time-outs, shutdown, threads.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, mpsc};
use std::thread;
use std::time::Duration;

use abreast::threads::ThreadPool;
use abreast::{TaskError, as_completed};

fn pool(threads: usize) -> ThreadPool {
    ThreadPool::builder().num_threads(threads).build().unwrap()
}

/// A task that blocks its thread until the returned sender sends (or is dropped).
fn gate() -> (mpsc::Sender<()>, impl FnOnce() + Send + 'static) {
    let (open, wait) = mpsc::channel::<()>();
    (open, move || {
        let _ = wait.recv();
    })
}

#[test]
fn submit_join_returns_each_value() {
    let pool = pool(3);
    let handles: Vec<_> = (0..100u64).map(|n| pool.submit(move || n * 2)).collect();
    let values: Vec<u64> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(values, (0..100).map(|n| n * 2).collect::<Vec<_>>());
    assert_eq!(pool.stats().completed, 100);
}

#[test]
fn map_keeps_input_order_whatever_the_finish_order() {
    let pool = pool(4);
    let values: Vec<u64> = pool
        .map(
            |n: u64| {
                // Early items sleep longest, so they finish last.
                thread::sleep(Duration::from_micros((50 - n % 50) * 20));
                n
            },
            0..200,
        )
        .chunksize(1)
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(values, (0..200).collect::<Vec<_>>());
}

#[test]
fn map_with_automatic_chunks_keeps_order_and_counts() {
    let pool = pool(2);
    let sum: u64 = pool.map(|n: u64| n, 0..100_000).map(Result::unwrap).sum();
    assert_eq!(sum, 100_000 * 99_999 / 2);
    let stats = pool.stats();
    assert_eq!(
        (stats.completed, stats.queued, stats.running),
        (100_000, 0, 0)
    );
}

#[test]
fn map_pulls_at_most_a_window_ahead_of_the_consumer() {
    let pool = pool(2);
    let pulled = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&pulled);
    let items = (0..10_000usize).inspect(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    let window = 16;
    let mut yielded = 0;
    for outcome in pool.map(|n: usize| n, items).window(window) {
        assert_eq!(outcome.unwrap(), yielded);
        yielded += 1;
        let ahead = pulled.load(Ordering::SeqCst) - yielded;
        assert!(
            ahead <= window,
            "{ahead} items pulled ahead of the consumer, window {window}"
        );
    }
    assert_eq!(yielded, 10_000);
}

#[test]
fn map_is_lazy_until_first_next() {
    let pool = pool(2);
    let pulled = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&pulled);
    let mut results = pool.map(
        |n: usize| n,
        (0..100usize).inspect(move |_| {
            counter.fetch_add(1, Ordering::SeqCst);
        }),
    );
    assert_eq!(
        pulled.load(Ordering::SeqCst),
        0,
        "nothing is pulled before next()"
    );
    assert_eq!(results.next().unwrap().unwrap(), 0);
}

#[test]
fn map_unordered_yields_every_result_once() {
    let pool = pool(3);
    let mut seen: Vec<(usize, usize)> = pool
        .map_unordered(|n: usize| n * 3, 0..1_000)
        .window(8)
        .indexed()
        .map(|(index, outcome)| (index, outcome.unwrap()))
        .collect();
    seen.sort_unstable();
    assert_eq!(seen, (0..1_000).map(|n| (n, n * 3)).collect::<Vec<_>>());
}

#[test]
fn a_panic_fails_only_its_own_task() {
    let pool = pool(2);
    let good = pool.submit(|| 1);
    let bad = pool.submit(|| -> u32 { panic!("page {} is broken", 7) });
    let after = pool.submit(|| 2);
    let error = bad.join().unwrap_err();
    match &error {
        TaskError::Panicked {
            message, location, ..
        } => {
            assert_eq!(message, "page 7 is broken");
            let location = location.as_deref().expect("location recorded");
            assert!(location.contains("tests/suite/threads.rs"), "{location}");
        }
        other => panic!("expected a panic, got {other:?}"),
    }
    assert!(error.to_string().contains("panicked at"), "{error}");
    assert_eq!(good.join().unwrap() + after.join().unwrap(), 3);
    // A panicking map item becomes an error in its place.
    let outcomes: Vec<_> = pool
        .map(|n: u32| if n == 3 { panic!("three") } else { n }, 0..6)
        .collect();
    assert!(outcomes[3].as_ref().unwrap_err().is_panic());
    assert_eq!(outcomes.iter().filter(|o| o.is_ok()).count(), 5);
    assert_eq!(pool.stats().failed, 2);
}

#[test]
fn cancel_withdraws_a_queued_task() {
    let pool = pool(1);
    let (open, blocker) = gate();
    let running = pool.submit(blocker);
    while pool.stats().running == 0 {
        thread::yield_now();
    }
    let ran = Arc::new(AtomicUsize::new(0));
    let flag = Arc::clone(&ran);
    let queued = pool.submit(move || flag.fetch_add(1, Ordering::SeqCst));
    assert!(queued.cancel(), "a queued task can be cancelled");
    assert!(queued.is_finished());
    assert!(!running.cancel(), "a running thread task cannot be stopped");
    open.send(()).unwrap();
    running.join().unwrap();
    assert!(queued.join().unwrap_err().is_cancelled());
    pool.shutdown();
    assert_eq!(
        ran.load(Ordering::SeqCst),
        0,
        "the cancelled task never ran"
    );
}

#[test]
fn join_timeout_gives_up_and_cancels_a_queued_task() {
    let pool = pool(1);
    let (open, blocker) = gate();
    let running = pool.submit(blocker);
    let queued = pool.submit(|| 5);
    let error = queued.join_timeout(Duration::from_millis(20)).unwrap_err();
    assert!(error.is_timeout(), "{error}");
    assert!(!running.wait_timeout(Duration::from_millis(1)));
    open.send(()).unwrap();
    assert!(running.join_timeout(Duration::from_secs(30)).is_ok());
    assert_eq!(pool.stats().cancelled, 1);
}

#[test]
fn shutdown_waits_for_queued_work() {
    let pool = pool(1);
    let done = Arc::new(AtomicUsize::new(0));
    for _ in 0..20 {
        let done = Arc::clone(&done);
        let _ = pool.submit(move || {
            thread::sleep(Duration::from_millis(1));
            done.fetch_add(1, Ordering::SeqCst);
        });
    }
    pool.shutdown();
    assert_eq!(done.load(Ordering::SeqCst), 20);
}

#[test]
fn shutdown_now_cancels_the_queue_and_waits_for_running_tasks() {
    let pool = pool(1);
    let started = Arc::new(Barrier::new(2));
    let (open, blocker) = gate();
    let signal = Arc::clone(&started);
    let running = pool.submit(move || {
        signal.wait();
        blocker();
        "finished"
    });
    let queued: Vec<_> = (0..10).map(|n| pool.submit(move || n)).collect();
    started.wait();
    // The running task is let go only once shutdown_now has settled the queue, so no queued
    // task can slip in before the cancel however the threads are scheduled.
    let opener = thread::spawn(move || {
        for handle in &queued {
            assert!(
                handle.wait_timeout(Duration::from_secs(60)),
                "queue not settled"
            );
        }
        open.send(()).unwrap();
        queued
    });
    pool.shutdown_now();
    let queued = opener.join().unwrap();
    assert_eq!(running.join().unwrap(), "finished");
    for handle in queued {
        assert!(handle.join().unwrap_err().is_cancelled());
    }
}

#[test]
fn submit_waits_when_the_queue_is_full() {
    let queue_bound = 2;
    let pool = Arc::new(
        ThreadPool::builder()
            .num_threads(1)
            .queue_bound(queue_bound)
            .build()
            .unwrap(),
    );
    let (open_small, small_blocker) = gate();
    let _blocked = pool.submit(small_blocker);
    // Let the worker take the blocker off the queue, then fill the queue.
    while pool.stats().running == 0 {
        thread::yield_now();
    }
    let _fill: Vec<_> = (0..queue_bound).map(|_| pool.submit(|| ())).collect();
    let submitted = Arc::new(AtomicUsize::new(0));
    let (flag, submitter_pool) = (Arc::clone(&submitted), Arc::clone(&pool));
    let submitter = thread::spawn(move || {
        let handle = submitter_pool.submit(|| ());
        flag.store(1, Ordering::SeqCst);
        handle.join().unwrap();
    });
    thread::sleep(Duration::from_millis(50));
    assert_eq!(
        submitted.load(Ordering::SeqCst),
        0,
        "submit must wait for room"
    );
    open_small.send(()).unwrap();
    submitter.join().unwrap();
    assert_eq!(submitted.load(Ordering::SeqCst), 1);
}

#[test]
fn scoped_tasks_borrow_from_the_stack() {
    let pool = pool(2);
    let pages = [String::from("<meta a>"), String::from("<meta b><meta c>")];
    let mut counts = vec![0; pages.len()];
    pool.scope(|scope| {
        let handles: Vec<_> = pages
            .iter()
            .map(|page| scope.submit(move || page.matches("<meta").count()))
            .collect();
        for (count, handle) in counts.iter_mut().zip(handles) {
            *count = handle.join().unwrap();
        }
    });
    assert_eq!(counts, [1, 2]);
    // Tasks whose handles are dropped still finish before the scope returns.
    let total = AtomicUsize::new(0);
    pool.scope(|scope| {
        for n in 0..50 {
            let total = &total;
            let _ = scope.submit(move || total.fetch_add(n, Ordering::SeqCst));
        }
    });
    assert_eq!(total.load(Ordering::SeqCst), 1225);
}

#[test]
fn as_completed_yields_in_finish_order() {
    let pool = pool(3);
    // Each gate opens when the task before it in the intended order has been yielded, so the
    // finish order is fixed however the threads are scheduled.
    let (open_last, last) = gate();
    let (open_second, second) = gate();
    let handles = vec![
        pool.submit(move || {
            last();
            300u64
        }),
        pool.submit(|| 1u64),
        pool.submit(move || {
            second();
            150u64
        }),
    ];
    let mut order: Vec<(usize, u64)> = Vec::new();
    for (index, outcome) in as_completed(handles) {
        order.push((index, outcome.unwrap()));
        match order.len() {
            1 => open_second.send(()).unwrap(),
            2 => open_last.send(()).unwrap(),
            _ => {}
        }
    }
    assert_eq!(order, [(1, 1), (2, 150), (0, 300)]);
}

#[test]
fn stats_count_every_outcome() {
    let pool = pool(2);
    let ok = pool.submit(|| ());
    let failed = pool.submit(|| panic!("counted"));
    ok.join().unwrap();
    failed.join().unwrap_err();
    let stats = pool.stats();
    assert_eq!(
        (stats.completed, stats.failed, stats.queued, stats.running),
        (1, 1, 0, 0)
    );
}

/// Waits until `condition` holds; the limit is there only to turn a hang into a failure.
fn wait_until(what: &str, condition: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !condition() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        thread::sleep(Duration::from_millis(1));
    }
}

/// Names of this process's threads that start with `prefix` (Linux: /proc/self/task).
fn live_threads_named(prefix: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|entry| std::fs::read_to_string(entry.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with(prefix))
        .count()
}

#[test]
fn no_thread_outlives_its_pool() {
    for (stop, prefix) in [("drop", "lkdrop"), ("shutdown", "lkshut"), ("now", "lknow")] {
        let pool = ThreadPool::builder()
            .num_threads(4)
            .thread_name(move |i| format!("{prefix}-{i}"))
            .build()
            .unwrap();
        let _ = pool.submit(|| thread::sleep(Duration::from_millis(5)));
        // Each thread names itself as it starts: wait until all four have.
        wait_until("four threads are named", || live_threads_named(prefix) == 4);
        match stop {
            "drop" => drop(pool),
            "shutdown" => pool.shutdown(),
            _ => pool.shutdown_now(),
        }
        // A joined thread may stay listed in /proc for a moment after `join` returns: wait for it
        // to go (a thread left running never would).
        wait_until(&format!("no thread is left after {stop}"), || {
            live_threads_named(prefix) == 0
        });
    }
}

#[test]
fn handles_are_futures() {
    let pool = pool(2);
    let value = abreast::coroutines::run(async { pool.submit(|| 40 + 2).await }).unwrap();
    assert_eq!(value.unwrap(), 42);
}

#[test]
fn a_million_tasks_through_map() {
    let pool = pool(2);
    let count = pool
        .map(|n: u64| n & 1, 0..1_000_000)
        .filter(|o| o.is_ok())
        .count();
    assert_eq!(count, 1_000_000);
}

//! Coroutines: gather, bounded gather, as_completed, TaskGroup, time-outs, bridging.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use abreast::coroutines::{self, TaskGroup, as_completed, gather, gather_bounded, run, timeout};
use abreast::threads::ThreadPool;
use futures::StreamExt;
use tokio::time::sleep;

/// Sets its flag when dropped: shows that cancelled work was really dropped.
struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[derive(Debug, thiserror::Error)]
#[error("page {0} is missing")]
struct Missing(u32);

#[test]
fn gather_returns_outputs_in_input_order() {
    let outputs = run(gather([30u64, 1, 15].map(|ms| async move {
        sleep(Duration::from_millis(ms)).await;
        ms
    })))
    .unwrap();
    assert_eq!(outputs, [30, 1, 15]);
}

#[test]
fn gather_bounded_keeps_the_limit_and_pulls_lazily() {
    let in_flight = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let pulled = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(AtomicUsize::new(0));
    let limit = 10;
    let futures = (0..200u64).map(|n| {
        pulled.fetch_add(1, Ordering::SeqCst);
        // Never more pulled than finished plus the limit: the iterator is read lazily.
        assert!(pulled.load(Ordering::SeqCst) <= finished.load(Ordering::SeqCst) + limit);
        let (in_flight, most, finished) = (in_flight.clone(), most.clone(), finished.clone());
        async move {
            let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            sleep(Duration::from_millis(1 + n % 3)).await;
            in_flight.fetch_sub(1, Ordering::SeqCst);
            finished.fetch_add(1, Ordering::SeqCst);
            n
        }
    });
    let outputs = run(gather_bounded(limit, futures)).unwrap();
    assert_eq!(outputs, (0..200).collect::<Vec<_>>());
    assert_eq!(most.load(Ordering::SeqCst), limit);
}

#[test]
fn as_completed_yields_in_finish_order() {
    // Each future waits for a gate opened when the one before it in the intended order has been
    // yielded, so the finish order is fixed however the runtime is scheduled.
    let order = run(async {
        let (open_second, second) = tokio::sync::oneshot::channel::<()>();
        let (open_last, last) = tokio::sync::oneshot::channel::<()>();
        let futures: Vec<futures::future::BoxFuture<'static, u64>> = vec![
            Box::pin(async move {
                let _ = last.await;
                40
            }),
            Box::pin(async { 1 }),
            Box::pin(async move {
                let _ = second.await;
                20
            }),
        ];
        let mut gates = [Some(open_second), Some(open_last)].into_iter();
        let mut stream = std::pin::pin!(as_completed(8, futures));
        let mut order = Vec::new();
        while let Some(value) = stream.next().await {
            order.push(value);
            if let Some(Some(gate)) = gates.next() {
                let _ = gate.send(());
            }
        }
        order
    })
    .unwrap();
    assert_eq!(order, [1, 20, 40]);
}

#[test]
fn task_group_returns_values_in_spawn_order() {
    let values = run(async {
        let mut group = TaskGroup::new();
        for ms in [20u64, 1, 10] {
            group.spawn(async move {
                sleep(Duration::from_millis(ms)).await;
                Ok::<_, Missing>(ms)
            });
        }
        assert_eq!(group.len(), 3);
        group.join().await
    })
    .unwrap()
    .unwrap();
    assert_eq!(values, [20, 1, 10]);
}

#[test]
fn task_group_cancels_siblings_on_the_first_failure() {
    let dropped = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&dropped);
    let error = run(async move {
        let mut group = TaskGroup::new();
        group.spawn(async move {
            let _guard = DropFlag(flag);
            sleep(Duration::from_secs(3600)).await;
            Ok::<_, Missing>(0)
        });
        group.spawn(async {
            sleep(Duration::from_millis(5)).await;
            Err(Missing(404))
        });
        group.join().await
    })
    .unwrap()
    .unwrap_err();
    assert!(
        dropped.load(Ordering::SeqCst),
        "the sleeping sibling was dropped"
    );
    assert_eq!(error.errors.len(), 1);
    assert_eq!(error.cancelled, 1);
    assert!(error.errors[0].is_failed());
    assert_eq!(error.errors[0].task().seq, 1);
    assert!(error.to_string().contains("page 404 is missing"), "{error}");
}

#[test]
fn task_group_reports_every_failure() {
    let error = run(async {
        let mut group = TaskGroup::<u32>::new();
        // All three fail in the same instant, before any cancellation can reach them.
        let start = Arc::new(tokio::sync::Barrier::new(3));
        for n in 0..3u32 {
            let start = Arc::clone(&start);
            group.spawn(async move {
                start.wait().await;
                if n == 1 {
                    panic!("task one panics");
                }
                Err(Missing(n))
            });
        }
        group.join().await
    })
    .unwrap()
    .unwrap_err();
    let kinds: Vec<_> = error
        .errors
        .iter()
        .map(|e| (e.task().seq, e.is_panic(), e.is_failed()))
        .collect();
    assert_eq!(
        kinds,
        [(0, false, true), (1, true, false), (2, false, true)]
    );
    let location = match &error.errors[1] {
        abreast::TaskError::Panicked { location, .. } => location.clone().unwrap(),
        other => panic!("{other:?}"),
    };
    assert!(location.contains("tests/suite/coroutines.rs"), "{location}");
}

#[test]
fn per_task_timeout_stops_the_work() {
    let dropped = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&dropped);
    let error = run(async move {
        let mut group = TaskGroup::new();
        group.spawn_with_timeout(Duration::from_millis(10), async move {
            let _guard = DropFlag(flag);
            sleep(Duration::from_secs(3600)).await;
            Ok::<_, Missing>(())
        });
        group.join().await
    })
    .unwrap()
    .unwrap_err();
    assert!(error.errors[0].is_timeout());
    assert!(dropped.load(Ordering::SeqCst));
}

#[test]
fn group_timeout_times_out_every_unfinished_task() {
    let error = run(async {
        // Long enough that the quick task is done before it however busy the machine.
        let mut group = TaskGroup::with_timeout(Duration::from_secs(1));
        group.spawn(async { Ok::<_, Missing>(1) });
        for _ in 0..2 {
            group.spawn(async {
                sleep(Duration::from_secs(3600)).await;
                Ok::<_, Missing>(2)
            });
        }
        group.join().await
    })
    .unwrap()
    .unwrap_err();
    let timed_out: Vec<u64> = error.errors.iter().map(|e| e.task().seq).collect();
    assert_eq!(timed_out, [1, 2]);
    assert!(error.errors.iter().all(|e| e.is_timeout()));
}

#[test]
fn timeout_drops_the_future() {
    let dropped = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&dropped);
    let outcome = run(timeout(Duration::from_millis(5), async move {
        let _guard = DropFlag(flag);
        sleep(Duration::from_secs(3600)).await;
    }))
    .unwrap();
    assert!(outcome.unwrap_err().is_timeout());
    assert!(dropped.load(Ordering::SeqCst));
    let quick = run(timeout(Duration::from_secs(5), async { 7 })).unwrap();
    assert_eq!(quick.unwrap(), 7);
}

#[test]
fn run_blocking_does_not_block_the_runtime() {
    let pool = ThreadPool::builder().num_threads(1).build().unwrap();
    let (tick_done, ticked) = std::sync::mpsc::channel::<()>();
    let (ticker_done, blocking_done) = run(async {
        // On this one-thread runtime the ticker can only finish first if the blocking closure
        // runs elsewhere: on the pool, not on the runtime's thread.
        let ticker = async {
            for _ in 0..5 {
                sleep(Duration::from_millis(2)).await;
            }
            let now = std::time::Instant::now();
            tick_done.send(()).unwrap();
            now
        };
        let blocking = async {
            // It waits for the ticker: were it run on the runtime's thread it would wait in vain.
            let outcome = coroutines::run_blocking(&pool, move || {
                match ticked.recv_timeout(Duration::from_secs(60)) {
                    Ok(()) => "done",
                    Err(_) => "the ticker never finished",
                }
            })
            .await;
            assert_eq!(outcome.unwrap(), "done");
            std::time::Instant::now()
        };
        tokio::join!(ticker, blocking)
    })
    .unwrap();
    assert!(
        ticker_done < blocking_done,
        "the runtime kept ticking while the pool worked"
    );
}

#[test]
fn a_group_runs_on_a_multi_thread_runtime() {
    let sum = coroutines::run_multi_thread(2, async {
        let mut group = TaskGroup::new();
        for n in 0..100u64 {
            group.spawn(async move { Ok::<_, Missing>(n) });
        }
        group.join().await.unwrap().into_iter().sum::<u64>()
    })
    .unwrap();
    assert_eq!(sum, 4950);
}

#[test]
fn a_million_coroutines_waiting_at_once() {
    let released = Arc::new(tokio::sync::Notify::new());
    let waiting = Arc::new(AtomicUsize::new(0));
    let total = run(async {
        let futures = (0..1_000_000u64).map(|n| {
            let (released, waiting) = (Arc::clone(&released), Arc::clone(&waiting));
            async move {
                let notified = released.notified();
                waiting.fetch_add(1, Ordering::Relaxed);
                notified.await;
                n & 1
            }
        });
        let all = gather_bounded(1_000_000, futures);
        let release = async {
            while waiting.load(Ordering::Relaxed) < 1_000_000 {
                tokio::task::yield_now().await;
            }
            released.notify_waiters();
        };
        tokio::join!(all, release).0.into_iter().sum::<u64>()
    })
    .unwrap();
    assert_eq!(total, 500_000);
}

//! Per-task overhead of each mechanism on trivial tasks: the criterion twin of
//! `abreast bench overhead`. Each iteration pushes `TASKS` trivial tasks through one operation
//! (thread pool submit+join and map; coroutine spawn+join and gather_bounded), and criterion
//! reports time per task through `Throughput::Elements`.

use std::hint::black_box;

use abreast::coroutines;
use abreast::threads::ThreadPool;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const TASKS: u64 = 10_000;

fn threads(c: &mut Criterion) {
    let pool = ThreadPool::new().expect("thread pool");
    let mut group = c.benchmark_group("threads");
    group.throughput(Throughput::Elements(TASKS));
    group.bench_function("submit+join", |b| {
        b.iter(|| {
            let handles: Vec<_> = (0..TASKS)
                .map(|n| pool.submit(move || black_box(n)))
                .collect();
            for handle in handles {
                handle.join().expect("trivial task");
            }
        });
    });
    group.bench_function("map", |b| {
        b.iter(|| pool.map(black_box::<u64>, 0..TASKS).for_each(drop));
    });
    group.finish();
}

fn coroutines(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("async");
    group.throughput(Throughput::Elements(TASKS));
    group.bench_function("spawn+join", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let handles: Vec<_> = (0..TASKS)
                    .map(|n| tokio::spawn(async move { black_box(n) }))
                    .collect();
                for handle in handles {
                    handle.await.expect("trivial task");
                }
            });
        });
    });
    group.bench_function("gather_bounded", |b| {
        b.iter(|| {
            runtime.block_on(coroutines::gather_bounded(
                1024,
                (0..TASKS).map(|n| async move { black_box(n) }),
            ))
        });
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2));
    targets = threads, coroutines
}
criterion_main!(benches);

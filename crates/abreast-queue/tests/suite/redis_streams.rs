//! The Redis Streams backend: idempotent submission, leases with delivery counts, hand-back,
//! append-then-ack with one result per line, the collector's batches, foreign entries,
//! permits, and the errors a bad address or password gets.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use abreast_queue::{BrokerUrl, JobName, JobSpec, LocalRedis, Queue, QueueError, RedisQueue};

fn redis() -> LocalRedis {
    LocalRedis::start().expect("redis-server starts (install it: apt-get install redis-server)")
}

/// A queue that submits one line per entry, so that each line is leased on its own.
async fn connect(redis: &LocalRedis) -> RedisQueue {
    RedisQueue::connect(&BrokerUrl::parse(&redis.url()).unwrap())
        .await
        .expect("the local broker answers")
        .with_lines_per_entry(1)
}

fn spec(lease_ms: u64) -> JobSpec {
    JobSpec {
        settings: r#"{"per_host":8}"#.into(),
        lease: Duration::from_millis(lease_ms),
        max_deliveries: 3,
    }
}

fn lines(n: usize) -> Vec<std::io::Result<String>> {
    (0..n).map(|i| Ok(format!("http://a.test/{i}"))).collect()
}

async fn submit(
    queue: &RedisQueue,
    job: &JobName,
    spec: &JobSpec,
    input: Vec<std::io::Result<String>>,
) -> Result<abreast_queue::Submitted, QueueError> {
    queue
        .submit(job, spec, &mut input.into_iter(), "collector", &|| {})
        .await
}

/// Submits `input` for the run whose collector claim is `collector`.
async fn submit_as(
    queue: &RedisQueue,
    job: &JobName,
    collector: &str,
    input: Vec<std::io::Result<String>>,
) -> Result<abreast_queue::Submitted, QueueError> {
    queue
        .submit(
            job,
            &spec(60_000),
            &mut input.into_iter(),
            collector,
            &|| {},
        )
        .await
}

/// Only the run holding a job's collector claim adds lines to it or seals it: another run's
/// input, even one that begins with the job's lines, waits, and the job is then sealed with the
/// collecting run's lines alone, so another input is told, not mixed in.
#[tokio::test]
async fn only_the_run_collecting_a_job_adds_lines_to_it() {
    let redis = redis();
    let queue = connect(&redis).await;
    let job = JobName::new("two-runs").unwrap();
    // The first run's producer has written 2 lines so far: the job is not sealed.
    let mut so_far = lines(2);
    so_far.push(Ok(abreast_queue::PAUSE.to_owned()));
    so_far.push(Err(std::io::Error::other("the producer writes more later")));
    let error = submit_as(&queue, &job, "first", so_far).await.unwrap_err();
    assert!(matches!(error, QueueError::Input(_)), "{error}");
    assert!(
        queue
            .claim_collector(&job, "first", Duration::from_secs(60))
            .await
            .unwrap()
    );

    // A second run, with more lines or the same 2, neither adds nor seals.
    for input in [lines(3), lines(2)] {
        let error = submit_as(&queue, &job, "second", input).await.unwrap_err();
        assert!(
            matches!(error, QueueError::OtherCollector { .. }),
            "{error}"
        );
        assert!(
            error.to_string().contains("wait until that run ends"),
            "{error}"
        );
        let status = queue.job(&job).await.unwrap().unwrap().status;
        assert_eq!((status.lines, status.sealed), (2, false));
    }

    // The collecting run's producer writes its third and last line.
    let done = submit_as(&queue, &job, "first", lines(3)).await.unwrap();
    assert_eq!((done.lines, done.added), (3, 1));
    queue.release_collector(&job, "first").await.unwrap();
    let error = submit_as(&queue, &job, "second", lines(4))
        .await
        .unwrap_err();
    assert!(
        matches!(error, QueueError::DifferentInput { .. }),
        "{error}"
    );
    let status = queue.job(&job).await.unwrap().unwrap().status;
    assert_eq!((status.lines, status.sealed), (3, true));
}

#[tokio::test]
async fn submitting_again_adds_nothing_and_another_input_is_refused() {
    let redis = redis();
    let queue = connect(&redis).await;
    let job = JobName::new("idem").unwrap();
    let first = submit(&queue, &job, &spec(60_000), lines(1200))
        .await
        .unwrap();
    assert_eq!((first.lines, first.added), (1200, 1200));
    let again = submit(&queue, &job, &spec(60_000), lines(1200))
        .await
        .unwrap();
    assert_eq!((again.lines, again.added), (1200, 0));
    let status = queue.job(&job).await.unwrap().unwrap().status;
    assert_eq!(
        (status.lines, status.waiting, status.sealed),
        (1200, 1200, true)
    );

    let mut other = lines(1200);
    other[700] = Ok("http://b.test/".into());
    let error = submit(&queue, &job, &spec(60_000), other)
        .await
        .unwrap_err();
    assert!(
        matches!(error, QueueError::DifferentInput { .. }),
        "{error}"
    );
    for shorter_or_longer in [lines(1199), lines(1201)] {
        let error = submit(&queue, &job, &spec(60_000), shorter_or_longer)
            .await
            .unwrap_err();
        assert!(
            matches!(error, QueueError::DifferentInput { .. }),
            "{error}"
        );
    }
    let error = submit(&queue, &job, &spec(1000), lines(1200))
        .await
        .unwrap_err();
    assert!(
        matches!(error, QueueError::DifferentSettings { .. }),
        "{error}"
    );
    assert!(
        error.to_string().contains("abreast status --delete idem"),
        "{error}"
    );

    assert!(queue.delete_job(&job).await.unwrap());
    assert!(queue.job(&job).await.unwrap().is_none());
    assert!(queue.jobs().await.unwrap().is_empty());
}

/// Submits `input`, and gives how many of its lines had been read each time `verified` was
/// called, and in all.
async fn submit_telling(
    queue: &RedisQueue,
    job: &JobName,
    input: Vec<std::io::Result<String>>,
) -> (
    Result<abreast_queue::Submitted, QueueError>,
    Vec<usize>,
    usize,
) {
    let read = AtomicUsize::new(0);
    let told_at = std::sync::Mutex::new(Vec::new());
    let tell = || told_at.lock().unwrap().push(read.load(Ordering::SeqCst));
    let mut lines = input.into_iter().inspect(|line| {
        if matches!(line, Ok(text) if text != abreast_queue::PAUSE) {
            read.fetch_add(1, Ordering::SeqCst);
        }
    });
    let outcome = queue
        .submit(job, &spec(60_000), &mut lines, "collector", &tell)
        .await;
    drop(lines);
    (outcome, told_at.into_inner().unwrap(), read.into_inner())
}

/// A pause adds the lines read so far at once, and `verified` says when the job is known to
/// hold this input: before the first line of a new job, after the lines an unfinished job had,
/// at the end of a finished one, never for another input.
#[tokio::test]
async fn a_pause_adds_what_was_read_and_verified_comes_once_the_job_is_this_input_s() {
    let redis = redis();
    let queue = connect(&redis).await;
    let job = JobName::new("paced").unwrap();
    // Stopped by an input error after a pause: what was read before it is on the job.
    let mut cut = lines(5);
    cut.push(Ok(abreast_queue::PAUSE.to_owned()));
    cut.extend(lines(6).into_iter().skip(5));
    cut.push(Err(std::io::Error::other("cut")));
    let (outcome, told_at, _) = submit_telling(&queue, &job, cut).await;
    assert!(matches!(outcome, Err(QueueError::Input(_))), "{outcome:?}");
    assert_eq!(queue.job(&job).await.unwrap().unwrap().status.lines, 5);
    assert_eq!(told_at, [0], "a new job is this input's at once");

    // Another input is told at its first line, not after the 5 the job has: a generator that
    // waits for its first record before it yields the next would wait for ever.
    let mut other = lines(8);
    other[0] = Ok("http://b.test/".into());
    let (outcome, told_at, read) = submit_telling(&queue, &job, other).await;
    assert!(
        matches!(outcome, Err(QueueError::DifferentInput { .. })),
        "{outcome:?}"
    );
    assert_eq!((told_at.len(), read), (0, 1));

    let (outcome, told_at, _) = submit_telling(&queue, &job, lines(8)).await;
    let done = outcome.unwrap();
    assert_eq!((done.lines, done.added), (8, 3));
    assert_eq!(told_at, [5], "after the 5 lines the job had");

    let (outcome, told_at, _) = submit_telling(&queue, &job, lines(8)).await;
    outcome.unwrap();
    assert_eq!(told_at, [8], "a finished job, once the input ended");

    let mut other = lines(8);
    other[2] = Ok("http://b.test/".into());
    let (outcome, told_at, _) = submit_telling(&queue, &job, other).await;
    assert!(
        matches!(outcome, Err(QueueError::DifferentInput { .. })),
        "{outcome:?}"
    );
    assert!(told_at.is_empty(), "never for another input");
}

#[tokio::test]
async fn an_interrupted_submission_continues_where_it_stopped() {
    let redis = redis();
    let queue = connect(&redis).await;
    let job = JobName::new("partial").unwrap();
    let mut input = lines(1100);
    input[600] = Err(std::io::Error::other("disk gone"));
    let error = submit(&queue, &job, &spec(60_000), input)
        .await
        .unwrap_err();
    assert!(matches!(error, QueueError::Input(_)), "{error}");
    let status = queue.job(&job).await.unwrap().unwrap().status;
    assert_eq!(
        (status.lines, status.sealed),
        (512, false),
        "whole batches only"
    );
    let done = submit(&queue, &job, &spec(60_000), lines(1100))
        .await
        .unwrap();
    assert_eq!((done.lines, done.added), (1100, 588));
    let mut seen = Vec::new();
    loop {
        let leased = queue.lease(&job, "w", 500).await.unwrap();
        if leased.leases.is_empty() {
            break;
        }
        seen.extend(leased.leases.into_iter().map(|l| (l.line, l.text)));
    }
    let expected: Vec<(u64, String)> = (0..1100)
        .map(|i| (i, format!("http://a.test/{i}")))
        .collect();
    assert_eq!(seen, expected, "each line once, numbered in input order");
}

/// Leases for `taker` until it gets lines whose lease ran out, `holder` meanwhile renewing
/// `keep`; what that lease got.
async fn until_taken_over(
    queue: &RedisQueue,
    job: &JobName,
    holder: &str,
    keep: &[String],
    (taker, max): (&str, usize),
) -> abreast_queue::Leased {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        queue.extend(job, holder, keep, &[]).await.unwrap();
        let leased = queue.lease(job, taker, max).await.unwrap();
        if !leased.leases.is_empty() {
            return leased;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the leases never ran out"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn lines_on_their_last_delivery_come_alone_the_others_in_bulk() {
    let redis = redis();
    let queue = connect(&redis).await;
    let job = JobName::new("suspects").unwrap();
    let lease = Duration::from_millis(200);
    submit(&queue, &job, &spec(200), lines(6)).await.unwrap();
    // Four lines die with "a" (their lease runs out: idle by the broker's clock for longer
    // than the lease once this much time has passed), then with "b", which takes them over in
    // bulk (their second delivery) ...
    assert_eq!(queue.lease(&job, "a", 4).await.unwrap().leases.len(), 4);
    tokio::time::sleep(lease + Duration::from_millis(50)).await;
    let second = queue.lease(&job, "b", 4).await.unwrap();
    assert_eq!(
        (second.leases.len(), second.reclaimed),
        (4, 4),
        "{second:?}"
    );
    assert!(second.leases.iter().all(|l| !l.alone && l.deliveries == 2));
    // ... so their third delivery is their last (max_deliveries 3): one at a time, alone, with
    // no new line beside it.
    tokio::time::sleep(lease + Duration::from_millis(50)).await;
    let mut last = Vec::new();
    for _ in 0..4 {
        let leased = queue.lease(&job, "c", 10).await.unwrap();
        assert_eq!(leased.leases.len(), 1, "a suspect comes alone: {leased:?}");
        assert_eq!(leased.reclaimed, 1);
        let lease = &leased.leases[0];
        assert!(lease.alone && lease.deliveries == 3, "{lease:?}");
        last.push(lease.line);
        queue
            .complete(&job, lease, "{}", false, true)
            .await
            .unwrap();
    }
    last.sort();
    assert_eq!(last, [0, 1, 2, 3]);
    // Then the new lines, none a suspect.
    let fresh = queue.lease(&job, "c", 10).await.unwrap();
    let mut fresh_lines: Vec<u64> = fresh.leases.iter().map(|l| l.line).collect();
    fresh_lines.sort();
    assert_eq!(fresh_lines, [4, 5]);
    assert!(fresh.leases.iter().all(|l| !l.alone && l.deliveries == 1));
    assert_eq!(
        queue.job(&job).await.unwrap().unwrap().status.redelivered,
        8
    );
}

#[tokio::test]
async fn entries_of_several_lines_are_leased_whole_and_taken_over_without_their_done_lines() {
    let redis = redis();
    let queue = connect(&redis).await.with_lines_per_entry(4);
    let job = JobName::new("entries").unwrap();
    let lease = Duration::from_millis(200);
    let mut input = lines(128);
    input[5] = Ok("http://a.test/é,\u{1F600}".into());
    submit(&queue, &job, &spec(200), input).await.unwrap();
    let numbers = |leased: &abreast_queue::Leased| -> Vec<u64> {
        leased.leases.iter().map(|l| l.line).collect()
    };
    let status = || async { queue.job(&job).await.unwrap().unwrap().status };
    // 32 entries of 4 lines: a lease of one line gets a whole entry, of 8 two.
    let first = queue.lease(&job, "a", 1).await.unwrap();
    assert_eq!(numbers(&first), [0, 1, 2, 3]);
    assert!(
        first
            .leases
            .iter()
            .all(|l| l.id == first.leases[0].id && l.deliveries == 1)
    );
    let second = queue.lease(&job, "a", 8).await.unwrap();
    assert_eq!(numbers(&second), (4..12).collect::<Vec<u64>>());
    assert_eq!(second.leases[1].text, "http://a.test/é,\u{1F600}");
    let now = status().await;
    assert_eq!((now.in_flight, now.waiting), (12, 116));
    // Lines 0 and 1 get their results, not acked (their entry is not done); 4 to 7 get theirs,
    // the entry acked with the last.
    for (k, lease) in first.leases[..2].iter().enumerate() {
        queue
            .complete(&job, lease, "{}", false, false)
            .await
            .unwrap();
        assert_eq!(status().await.in_flight, 11 - k as u64);
    }
    for (k, lease) in second.leases[..4].iter().enumerate() {
        queue
            .complete(&job, lease, "{}", false, k == 3)
            .await
            .unwrap();
    }
    let now = status().await;
    assert_eq!((now.done, now.in_flight, now.waiting), (6, 6, 116));
    // "a" dies. "b" takes over what has no result, in bulk: lines 2, 3 and 8 to 11.
    tokio::time::sleep(lease + Duration::from_millis(50)).await;
    let taken = queue.lease(&job, "b", 6).await.unwrap();
    assert_eq!(numbers(&taken), [2, 3, 8, 9, 10, 11], "{taken:?}");
    assert_eq!(taken.reclaimed, 6);
    assert!(taken.leases.iter().all(|l| l.deliveries == 2 && !l.alone));
    // "b" completes line 2 and hands the rest back: the next lease gets lines 3 and 8 to 11,
    // their count as it was.
    queue
        .complete(&job, &taken.leases[0], "{}", false, false)
        .await
        .unwrap();
    queue
        .hand_back(&job, "b", &taken.leases[1..], &[])
        .await
        .unwrap();
    let now = status().await;
    assert_eq!((now.done, now.in_flight, now.waiting), (7, 0, 121));
    let back = queue.lease(&job, "c", 5).await.unwrap();
    assert_eq!(numbers(&back), [3, 8, 9, 10, 11]);
    assert!(back.leases.iter().all(|l| l.deliveries == 2));
    // "c" dies too: the entries' third delivery is their last, so each comes alone, its lines
    // marked to be fetched one at a time.
    tokio::time::sleep(lease + Duration::from_millis(50)).await;
    let suspect = queue.lease(&job, "d", 100).await.unwrap();
    assert_eq!(numbers(&suspect), [3], "one entry, alone: {suspect:?}");
    assert!(suspect.leases.iter().all(|l| l.alone && l.deliveries == 3));
    queue
        .complete(&job, &suspect.leases[0], "{}", false, true)
        .await
        .unwrap();
    let suspect = queue.lease(&job, "d", 100).await.unwrap();
    assert_eq!(numbers(&suspect), [8, 9, 10, 11]);
    assert!(suspect.leases.iter().all(|l| l.alone && l.deliveries == 3));
    // All its lines done but the entry not acked ("d" died just then): the next lease acks and
    // deletes it instead of handing it out, and goes on to new entries.
    for lease in &suspect.leases {
        queue
            .complete(&job, lease, "{}", false, false)
            .await
            .unwrap();
    }
    tokio::time::sleep(lease + Duration::from_millis(50)).await;
    let fresh = queue.lease(&job, "e", 4).await.unwrap();
    assert_eq!(numbers(&fresh), [12, 13, 14, 15]);
    let now = status().await;
    assert_eq!((now.done, now.in_flight, now.waiting), (12, 4, 112));
    let left: u64 = redis::cmd("XLEN")
        .arg("abreast:{entries}:lines")
        .query_async(&mut raw_connection(&redis).await)
        .await
        .unwrap();
    assert_eq!(left, 29, "the three entries done are acked and deleted");
}

#[tokio::test]
async fn a_suspect_comes_alone_even_beside_lines_handed_back() {
    let redis = redis();
    let queue = connect(&redis).await;
    let job = JobName::new("alone").unwrap();
    let lease = Duration::from_millis(200);
    submit(&queue, &job, &spec(200), lines(3)).await.unwrap();
    // Lines 0 and 1 die with "a", then with "b": their next delivery is their last.
    assert_eq!(queue.lease(&job, "a", 2).await.unwrap().leases.len(), 2);
    tokio::time::sleep(lease + Duration::from_millis(50)).await;
    assert_eq!(queue.lease(&job, "b", 2).await.unwrap().reclaimed, 2);
    // Line 2 is handed back meanwhile.
    let third = queue.lease(&job, "c", 1).await.unwrap();
    assert_eq!(third.leases[0].line, 2);
    queue
        .hand_back(&job, "c", &third.leases, &[])
        .await
        .unwrap();
    tokio::time::sleep(lease + Duration::from_millis(50)).await;
    let mut lines = Vec::new();
    for _ in 0..2 {
        let leased = queue.lease(&job, "d", 10).await.unwrap();
        assert_eq!(leased.leases.len(), 1, "a suspect alone: {leased:?}");
        assert!(leased.leases[0].alone && leased.leases[0].deliveries == 3);
        lines.push(leased.leases[0].line);
        queue
            .complete(&job, &leased.leases[0], "{}", false, true)
            .await
            .unwrap();
    }
    lines.sort();
    assert_eq!(lines, [0, 1]);
    let back = queue.lease(&job, "d", 10).await.unwrap();
    assert_eq!(back.leases.len(), 1);
    assert!(back.leases[0].line == 2 && !back.leases[0].alone);
}

#[tokio::test]
async fn leases_run_out_go_elsewhere_with_their_count_and_one_result_per_line() {
    let redis = redis();
    let queue = connect(&redis).await;
    let job = JobName::new("leases").unwrap();
    submit(&queue, &job, &spec(200), lines(3)).await.unwrap();
    let first = queue.lease(&job, "a", 10).await.unwrap();
    assert_eq!(first.leases.len(), 3);
    assert!(first.leases.iter().all(|l| l.deliveries == 1));
    assert!(
        queue.lease(&job, "b", 10).await.unwrap().leases.is_empty(),
        "all held"
    );

    // "a" keeps line 0 alive by extending; lines 1 and 2 run out and go elsewhere together:
    // each has a delivery to spare.
    let keep = vec![first.leases[0].id.clone()];
    let taken = until_taken_over(&queue, &job, "a", &keep, ("b", 10)).await;
    assert_eq!(taken.leases.len(), 2, "taken over in bulk: {taken:?}");
    assert_eq!(taken.reclaimed, 2);
    let mut taken = taken.leases;
    taken.sort_by_key(|l| l.line);
    assert_eq!(taken.iter().map(|l| l.line).collect::<Vec<_>>(), [1, 2]);
    assert!(taken.iter().all(|l| l.deliveries == 2 && !l.alone));

    // The old and the new holder both complete line 1: one result.
    let retaken = taken.iter().find(|l| l.line == 1).unwrap();
    let one = queue
        .complete(&job, retaken, "{\"b\":1}", false, true)
        .await
        .unwrap();
    let two = queue
        .complete(&job, &first.leases[1], "{\"a\":1}", false, true)
        .await
        .unwrap();
    assert!(one && !two, "only the first result is appended");
    // "b" hands line 2 back: the next lease gets it at once, its count unchanged.
    let back = taken.iter().find(|l| l.line == 2).unwrap().clone();
    queue
        .hand_back(&job, "b", std::slice::from_ref(&back), &[])
        .await
        .unwrap();
    let again = queue.lease(&job, "c", 10).await.unwrap();
    assert_eq!(again.leases.len(), 1);
    assert_eq!((again.leases[0].line, again.leases[0].deliveries), (2, 2));
    assert_eq!(again.reclaimed, 0, "a line handed back is no suspect");
    queue
        .complete(&job, &again.leases[0], "{\"c\":1}", true, true)
        .await
        .unwrap();
    queue
        .complete(&job, &first.leases[0], "{\"a\":0}", false, true)
        .await
        .unwrap();

    let status = queue.job(&job).await.unwrap().unwrap().status;
    assert_eq!(
        (
            status.done,
            status.gave_up,
            status.in_flight,
            status.waiting
        ),
        (3, 1, 0, 0)
    );
    assert_eq!(status.redelivered, 2);

    // The collector: three results, one per line; acked ones leave the broker.
    let batch = queue
        .read_results(&job, 4096, Duration::from_millis(100))
        .await
        .unwrap();
    let mut got: Vec<u64> = batch.entries.iter().map(|e| e.line).collect();
    got.sort();
    assert_eq!(got, [0, 1, 2]);
    let pairs: Vec<(String, u64)> = batch
        .entries
        .iter()
        .map(|e| (e.id.clone(), e.line))
        .collect();
    queue
        .begin_batch(&job, "collector", 42, &pairs)
        .await
        .unwrap();
    let open = queue.open_batch(&job).await.unwrap().unwrap();
    assert_eq!((open.offset, open.entries.clone()), (42, pairs.clone()));
    // A collector that died before its ack (the next one connects afresh) gets the same
    // results again.
    let queue = connect(&redis).await;
    let again = queue
        .read_results(&job, 4096, Duration::from_millis(100))
        .await
        .unwrap();
    assert_eq!(again.entries, batch.entries);
    // While another collector holds the job's claim (this one's lapsed and was taken over),
    // nothing is announced or marked collected: the one holding it writes these records.
    assert!(
        queue
            .claim_collector(&job, "took over", Duration::from_secs(60))
            .await
            .unwrap()
    );
    for refused in [
        queue.begin_batch(&job, "collector", 0, &pairs).await.err(),
        queue.ack_results(&job, "collector", &pairs).await.err(),
    ] {
        assert!(
            matches!(refused, Some(QueueError::OtherCollector { .. })),
            "{refused:?}"
        );
    }
    assert_eq!(queue.job(&job).await.unwrap().unwrap().status.collected, 0);
    queue.release_collector(&job, "took over").await.unwrap();
    assert_eq!(
        queue.ack_results(&job, "collector", &pairs).await.unwrap(),
        3
    );
    assert!(queue.open_batch(&job).await.unwrap().is_none());
    assert!(
        queue
            .read_results(&job, 4096, Duration::from_millis(50))
            .await
            .unwrap()
            .entries
            .is_empty()
    );
    let status = queue.job(&job).await.unwrap().unwrap().status;
    assert!(status.is_finished());
    let bits = queue.collected(&job).await.unwrap();
    assert_eq!(bits.first().copied(), Some(0b1110_0000));
}

#[tokio::test]
async fn entries_abreast_did_not_write_are_skipped_and_counted() {
    let redis = redis();
    let queue = connect(&redis).await;
    let job = JobName::new("foreign").unwrap();
    submit(&queue, &job, &spec(60_000), lines(1)).await.unwrap();
    queue
        .add_raw_entry(&job, false, &[("hello", "world")])
        .await
        .unwrap();
    queue
        .add_raw_entry(&job, false, &[("n", "x"), ("u", "http://a.test/")])
        .await
        .unwrap();
    let leased = queue.lease(&job, "w", 10).await.unwrap();
    assert_eq!((leased.leases.len(), leased.foreign), (1, 2));
    queue
        .complete(&job, &leased.leases[0], "{}", false, true)
        .await
        .unwrap();
    queue
        .add_raw_entry(&job, true, &[("n", "0")])
        .await
        .unwrap();
    let batch = queue
        .read_results(&job, 4096, Duration::from_millis(100))
        .await
        .unwrap();
    assert_eq!((batch.entries.len(), batch.foreign), (1, 1));
    let status = queue.job(&job).await.unwrap().unwrap().status;
    assert_eq!(
        (status.foreign, status.waiting, status.in_flight),
        (3, 0, 0)
    );
}

#[tokio::test]
async fn host_permits_and_starts_hold_across_holders() {
    let redis = redis();
    let queue = connect(&redis).await;
    let job = JobName::new("polite").unwrap();
    submit(&queue, &job, &spec(60_000), lines(1)).await.unwrap();
    let ttl = Duration::from_secs(60);
    for holder in ["a", "b"] {
        assert!(
            queue
                .acquire_host(&job, "h.test", holder, 2, ttl)
                .await
                .unwrap()
        );
    }
    assert!(
        !queue
            .acquire_host(&job, "h.test", "c", 2, ttl)
            .await
            .unwrap()
    );
    assert!(
        queue
            .acquire_host(&job, "other.test", "c", 2, ttl)
            .await
            .unwrap()
    );
    let permit = [("h.test".to_owned(), "a".to_owned())];
    queue.hand_back(&job, "w", &[], &permit).await.unwrap();
    assert!(
        queue
            .acquire_host(&job, "h.test", "c", 2, ttl)
            .await
            .unwrap(),
        "given back"
    );
    // Expired holders free their permits.
    assert!(
        queue
            .acquire_host(&job, "x.test", "a", 1, Duration::from_millis(50))
            .await
            .unwrap()
    );
    tokio::time::sleep(Duration::from_millis(80)).await;
    assert!(
        queue
            .acquire_host(&job, "x.test", "b", 1, ttl)
            .await
            .unwrap()
    );
    // Many holders at once take what the limit leaves, in order.
    let holders: Vec<String> = ["d", "e", "f", "g"].map(String::from).to_vec();
    assert_eq!(
        queue
            .acquire_hosts(&job, "y.test", &holders, 3, ttl)
            .await
            .unwrap(),
        3
    );
    assert_eq!(
        queue
            .acquire_hosts(&job, "y.test", &holders[3..], 3, ttl)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        queue
            .hand_back(&job, "w", &[], &[("y.test".into(), "e".into())])
            .await
            .ok(),
        Some(())
    );
    assert_eq!(
        queue
            .acquire_hosts(&job, "y.test", &holders[3..], 3, ttl)
            .await
            .unwrap(),
        1,
        "the permit given back is free again"
    );

    let waits: Vec<Duration> = {
        let mut waits = Vec::new();
        for _ in 0..3 {
            waits.push(queue.reserve_start(&job, "h.test", 10.0).await.unwrap());
        }
        waits
    };
    assert_eq!(waits[0], Duration::ZERO);
    assert!(
        waits[2] > Duration::from_millis(150) && waits[2] <= Duration::from_millis(200),
        "{waits:?}"
    );
}

#[tokio::test]
async fn bad_passwords_and_dead_brokers_are_told_apart() {
    let redis = LocalRedis::start_with_password("s3cret-pw").expect("redis-server starts");
    let good = BrokerUrl::parse(&redis.url()).unwrap();
    let queue = RedisQueue::connect(&good).await.unwrap();
    queue
        .heartbeat(&abreast_queue::WorkerBeat {
            id: "w1".into(),
            host: "h".into(),
            pid: 1,
            held: 2,
            completed: 3,
            seen_ms_ago: 0,
        })
        .await
        .unwrap();
    let workers = queue.workers().await.unwrap();
    assert_eq!(workers.len(), 1);
    assert!(workers[0].seen_ms_ago < 5_000);
    queue.retire("w1").await.unwrap();
    assert!(queue.workers().await.unwrap().is_empty());

    for wrong in [
        format!("redis://:nope@127.0.0.1:{}", redis.port()),
        format!("redis://127.0.0.1:{}", redis.port()),
    ] {
        let error = RedisQueue::connect(&BrokerUrl::parse(&wrong).unwrap())
            .await
            .unwrap_err();
        assert!(
            error.is_usage() && matches!(error, QueueError::Auth { .. }),
            "{error}"
        );
        assert!(!error.to_string().contains("nope"), "{error}");
    }
    let port = redis.port();
    drop(redis);
    let error = RedisQueue::connect(
        &BrokerUrl::parse(&format!("redis://:s3cret-pw@127.0.0.1:{port}")).unwrap(),
    )
    .await
    .unwrap_err();
    assert!(error.is_transient(), "{error}");
    assert!(!error.to_string().contains("s3cret-pw"), "{error}");
}

#[tokio::test]
async fn each_batch_of_new_lines_is_announced_until_the_connection_is_lost() {
    let mut redis = redis();
    let queue = connect(&redis).await;
    let mut watch = queue.watch_new_lines().await.unwrap();
    let hang = Duration::from_secs(60);
    let mut next = async || {
        tokio::time::timeout(hang, watch.next())
            .await
            .expect("an announcement or the connection's end")
    };
    let (first, second) = (
        JobName::new("first").unwrap(),
        JobName::new("second").unwrap(),
    );
    // 600 lines go in two batches (512 a round trip): two announcements.
    submit(&queue, &first, &spec(60_000), lines(600))
        .await
        .unwrap();
    assert_eq!(next().await.as_ref(), Some(&first));
    assert_eq!(next().await.as_ref(), Some(&first));
    // The same input again adds nothing, so announces nothing; another program's message on
    // the channel is passed over. What comes next is the second job's one batch.
    submit(&queue, &first, &spec(60_000), lines(600))
        .await
        .unwrap();
    let mut raw = raw_connection(&redis).await;
    let subscribers: u64 = redis::cmd("PUBLISH")
        .arg("abreast:new-lines")
        .arg("not a job name")
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(subscribers, 1, "one subscriber: this watch");
    submit(&queue, &second, &spec(60_000), lines(3))
        .await
        .unwrap();
    assert_eq!(next().await.as_ref(), Some(&second));
    // A restarted broker ends the watch, which then says so instead of waiting for ever.
    redis.restart().unwrap();
    assert_eq!(next().await, None);
}

#[tokio::test]
async fn a_broker_that_refuses_the_announcements_still_takes_the_lines() {
    let redis = redis();
    // A user with every command but no pub/sub channel (as Redis 7's ACLs give by default).
    let url = redis
        .add_user_without_channels("quiet", "quiet-secret")
        .unwrap();
    let queue = RedisQueue::connect(&BrokerUrl::parse(&url).unwrap())
        .await
        .unwrap();
    let job = JobName::new("quiet").unwrap();
    let submitted = submit(&queue, &job, &spec(60_000), lines(600))
        .await
        .unwrap();
    assert_eq!((submitted.lines, submitted.added), (600, 600));
    let status = queue.job(&job).await.unwrap().unwrap().status;
    assert_eq!((status.lines, status.sealed), (600, true));
    // Watching is refused with an error, not a hang: a worker then leases on its tick.
    let watched = tokio::time::timeout(Duration::from_secs(60), queue.watch_new_lines()).await;
    assert!(
        matches!(watched, Ok(Err(QueueError::NotPermitted { .. }))),
        "{watched:?}"
    );
}

#[tokio::test]
async fn a_watch_whose_broker_stops_answering_says_so() {
    let redis = redis();
    let queue = connect(&redis).await;
    let mut watch = queue
        .watch_new_lines()
        .await
        .unwrap()
        .ping_every(Duration::from_millis(50));
    // Pings answered: the watch goes on waiting (nothing is announced).
    let quiet = tokio::time::timeout(Duration::from_millis(500), watch.next()).await;
    assert!(quiet.is_err(), "the watch ended: {quiet:?}");
    // A broker that holds every command (as one behind a cut network would answer none): the
    // next ping goes unanswered, and the watch says so.
    let _: () = redis::cmd("CLIENT")
        .arg(&["PAUSE", "10000", "ALL"])
        .query_async(&mut raw_connection(&redis).await)
        .await
        .unwrap();
    let lost = tokio::time::timeout(Duration::from_secs(60), watch.next()).await;
    assert_eq!(lost.ok(), Some(None));
}

/// A plain connection to the test's broker, for what the queue does not offer.
async fn raw_connection(redis: &LocalRedis) -> redis::aio::MultiplexedConnection {
    redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_restarted_broker_keeps_the_job_and_the_client_reconnects() {
    let mut redis = redis();
    let queue = connect(&redis).await;
    let job = JobName::new("restart").unwrap();
    submit(&queue, &job, &spec(60_000), lines(5)).await.unwrap();
    let leased = queue.lease(&job, "w", 2).await.unwrap();
    queue
        .complete(&job, &leased.leases[0], "{}", false, true)
        .await
        .unwrap();
    redis.restart().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let status = loop {
        match queue.job(&job).await {
            Ok(status) => break status.unwrap().status,
            Err(error) => {
                assert!(error.is_transient(), "{error}");
                assert!(
                    std::time::Instant::now() < deadline,
                    "no reconnection: {error}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    assert_eq!(
        (status.lines, status.done, status.in_flight, status.waiting),
        (5, 1, 1, 3)
    );
}

#[tokio::test]
async fn a_batch_s_results_share_one_entry_which_leaves_once_all_are_collected() {
    let redis = redis();
    let queue = connect(&redis).await;
    let job = JobName::new("shared").unwrap();
    submit(&queue, &job, &spec(60_000), lines(4)).await.unwrap();
    let leased = queue.lease(&job, "w", 10).await.unwrap();
    let results = ["{\"a\":\"é\"}", "{\"b\":2}", "{\"c\":\"line\\nbreak\"}"];
    let completions: Vec<abreast_queue::Completion<'_>> = leased
        .leases
        .iter()
        .zip(results)
        .map(|(lease, result)| abreast_queue::Completion {
            lease,
            result,
            summary: "",
            gave_up: false,
            ack: true,
        })
        .collect();
    assert_eq!(
        queue.complete_many(&job, &completions).await.unwrap(),
        [true, true, true]
    );
    // A batch with a repeat (line 1, fetched twice) keeps only the new result.
    let mixed = [
        abreast_queue::Completion {
            lease: &leased.leases[1],
            result: "{\"b\":\"again\"}",
            summary: "",
            gave_up: false,
            ack: true,
        },
        abreast_queue::Completion {
            lease: &leased.leases[3],
            result: "{\"d\":4}",
            summary: "",
            gave_up: false,
            ack: true,
        },
    ];
    assert_eq!(
        queue.complete_many(&job, &mixed).await.unwrap(),
        [false, true]
    );
    // A batch of repeats only leaves no entry.
    assert_eq!(
        queue.complete_many(&job, &mixed[..1]).await.unwrap(),
        [false]
    );
    let mut batch = queue
        .read_results(&job, 4096, Duration::from_millis(100))
        .await
        .unwrap();
    let last = batch.entries.pop().unwrap();
    assert_eq!((last.line, last.body.as_str()), (3, "{\"d\":4}"));
    queue
        .ack_results(&job, "collector", &[(last.id.clone(), last.line)])
        .await
        .unwrap();
    let got: Vec<(u64, &str)> = batch
        .entries
        .iter()
        .map(|e| (e.line, e.body.as_str()))
        .collect();
    assert_eq!(got, [(0, results[0]), (1, results[1]), (2, results[2])]);
    assert!(batch.entries.iter().all(|e| e.id == batch.entries[0].id));
    // Two of the three collected (a Python caller that stopped taking records): the entry
    // stays, and a collector after it gets the third line again.
    let pairs: Vec<(String, u64)> = batch
        .entries
        .iter()
        .map(|e| (e.id.clone(), e.line))
        .collect();
    assert_eq!(
        queue
            .ack_results(&job, "collector", &pairs[..2])
            .await
            .unwrap(),
        3
    );
    let queue = connect(&redis).await;
    let again = queue
        .read_results(&job, 4096, Duration::from_millis(100))
        .await
        .unwrap();
    assert_eq!(
        again.entries.len(),
        3,
        "the entry stays until all is collected"
    );
    assert_eq!(
        queue
            .ack_results(&job, "collector", &pairs[2..])
            .await
            .unwrap(),
        4
    );
    assert!(
        queue
            .read_results(&job, 4096, Duration::from_millis(50))
            .await
            .unwrap()
            .entries
            .is_empty(),
        "the entry left once its last line was collected"
    );
    // Lengths that do not add up make an entry foreign, not a crash.
    queue
        .add_raw_entry(&job, true, &[("n", "0,1"), ("l", "3,9"), ("r", "{}{}")])
        .await
        .unwrap();
    let foreign = queue
        .read_results(&job, 4096, Duration::from_millis(100))
        .await
        .unwrap();
    assert_eq!((foreign.entries.len(), foreign.foreign), (0, 1));
}

#[tokio::test]
async fn lines_far_apart_and_a_line_twice_in_one_batch_are_each_counted_once() {
    let redis = redis();
    let queue = connect(&redis).await.with_lines_per_entry(16);
    let job = JobName::new("spans").unwrap();
    submit(&queue, &job, &spec(60_000), lines(1200))
        .await
        .unwrap();
    let leased = queue.lease(&job, "w", 1200).await.unwrap().leases;
    assert_eq!(leased.len(), 1200);
    let lease = |line: u64| leased.iter().find(|l| l.line == line).unwrap();
    let completion = |line: u64, result: &'static str| abreast_queue::Completion {
        lease: lease(line),
        result,
        summary: &result[5..result.len() - 1],
        gave_up: false,
        ack: false,
    };
    // Line 0 and lines 1100 and 1199 lie over 130 bytes apart: spans of their own. Line 5
    // comes twice.
    let first = [
        completion(0, "{\"n\":0}"),
        completion(5, "{\"n\":5}"),
        completion(1100, "{\"n\":1100}"),
        completion(1199, "{\"n\":1199}"),
        completion(5, "{\"n\":\"5+\"}"),
    ];
    assert_eq!(
        queue.complete_many(&job, &first).await.unwrap(),
        [true, true, true, true, false]
    );
    // Next to lines done before: only line 7 is new.
    let second = [
        completion(5, "{\"n\":\"5++\"}"),
        completion(7, "{\"n\":7}"),
        completion(1100, "{\"n\":\"1100+\"}"),
    ];
    assert_eq!(
        queue.complete_many(&job, &second).await.unwrap(),
        [false, true, false]
    );
    assert_eq!(queue.job(&job).await.unwrap().unwrap().status.done, 5);

    let batch = queue
        .read_results(&job, 4096, Duration::from_millis(100))
        .await
        .unwrap();
    let got: Vec<(u64, &str, &str)> = batch
        .entries
        .iter()
        .map(|e| (e.line, e.body.as_str(), e.summary.as_str()))
        .collect();
    // Each with its own summary, also where the entry was cut to the new results.
    assert_eq!(
        got,
        [
            (0, "{\"n\":0}", "0"),
            (5, "{\"n\":5}", "5"),
            (1100, "{\"n\":1100}", "1100"),
            (1199, "{\"n\":1199}", "1199"),
            (7, "{\"n\":7}", "7")
        ]
    );
    // Acked with a line twice: five lines collected.
    let mut pairs: Vec<(String, u64)> = batch
        .entries
        .iter()
        .map(|e| (e.id.clone(), e.line))
        .collect();
    pairs.insert(1, pairs[0].clone());
    assert_eq!(
        queue.ack_results(&job, "collector", &pairs).await.unwrap(),
        5
    );
    // Acked again (a collector rerun after its ack): nothing more.
    assert_eq!(
        queue.ack_results(&job, "collector", &pairs).await.unwrap(),
        5
    );
    let bits = queue.collected(&job).await.unwrap();
    let set: Vec<u64> = (0..bits.len() as u64 * 8)
        .filter(|n| bits[(n / 8) as usize] & (0x80 >> (n % 8)) != 0)
        .collect();
    assert_eq!(set, [0, 5, 7, 1100, 1199]);
    // A batch wider than one Lua call takes as one span (lines every 500, over 9 KB of the
    // bitmap), over bytes that hold bits already set: one line old, 149 new.
    let wide: Vec<(String, u64)> = (0..150u64)
        .map(|k| ("0-1#150".to_owned(), 1100 + k * 500))
        .collect();
    assert_eq!(
        queue.ack_results(&job, "collector", &wide).await.unwrap(),
        5 + 149
    );
}

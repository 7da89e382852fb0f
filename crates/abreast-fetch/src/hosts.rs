//! Per-host limits: at most `per_host` requests to one host at once, and optionally at most
//! `rate` request starts per second to it.
//!
//! One [`HostLimits`] serves every mode: async drivers await a permit, blocking drivers (threads,
//! and the parent of the process pool) wait for one on their thread. Entries of idle hosts are
//! dropped, so a list of a million distinct hosts does not keep a million entries.
//!
//! Limits kept outside the run ([`SharedHosts`]: a broker job's, across its workers) come on
//! top: a request holds its run's permit and then the shared one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

struct HostEntry {
    slots: Arc<Semaphore>,
    /// The earliest time the next request to this host may start (rate limit).
    next_start: Mutex<Instant>,
}

/// The per-host caps of one run. Cheap to share: clone the `Arc`.
pub struct HostLimits {
    per_host: usize,
    interval: Option<Duration>,
    hosts: Mutex<HashMap<String, Arc<HostEntry>>>,
}

impl std::fmt::Debug for HostLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostLimits")
            .field("per_host", &self.per_host)
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}

/// Limits on each host's requests that a run shares with other runs (a broker job's workers
/// share one per job, kept on the broker): with it in [`RunOptions`](crate::RunOptions), every
/// request, redirect hops included, waits for its place here once it holds its own run's
/// per-host slot, and keeps it until the request is over.
pub trait SharedHosts: Send + Sync + std::fmt::Debug {
    /// Waits until a request to `host` may start under the shared limits, and holds its place
    /// there until the returned permit is dropped.
    fn acquire<'a>(&'a self, host: &'a str) -> futures::future::BoxFuture<'a, SharedPermit>;
}

/// A request's place under a [`SharedHosts`]'s limits: dropping it frees the place.
pub struct SharedPermit {
    /// Kept only to be dropped with the permit.
    _held: Box<dyn Send + Sync>,
}

impl SharedPermit {
    /// A permit that frees its place when `held` is dropped.
    pub fn new(held: impl Send + Sync + 'static) -> SharedPermit {
        SharedPermit {
            _held: Box::new(held),
        }
    }
}

impl std::fmt::Debug for SharedPermit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedPermit")
    }
}

/// Held while a request to a host is in flight; dropping it frees the host's slot (and its
/// place under the shared limits, if any).
pub struct HostPermit {
    limits: Arc<HostLimits>,
    host: String,
    permit: Option<OwnedSemaphorePermit>,
    shared: Option<SharedPermit>,
}

impl std::fmt::Debug for HostPermit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostPermit")
            .field("host", &self.host)
            .finish()
    }
}

impl HostPermit {
    /// Holds `shared` (the request's place under the shared limits) with this permit.
    pub(crate) fn with_shared(mut self, shared: SharedPermit) -> HostPermit {
        self.shared = Some(shared);
        self
    }

    /// True if no other request to this host is in flight now: a connection left by the last
    /// one is then idle.
    pub fn alone(&self) -> bool {
        self.permit.as_ref().is_some_and(|permit| {
            permit.semaphore().available_permits() + 1 == self.limits.per_host
        })
    }
}

impl Drop for HostPermit {
    fn drop(&mut self) {
        drop(self.shared.take());
        drop(self.permit.take());
        self.limits.forget_if_idle(&self.host);
    }
}

impl HostLimits {
    /// At most `per_host` requests at once per host (0 is taken as 1) and, with `rate`, at
    /// most that many request starts per second per host (at least [`crate::SLOWEST_RATE`]).
    pub fn new(per_host: usize, rate: Option<f64>) -> Arc<HostLimits> {
        Arc::new(HostLimits {
            per_host: per_host.max(1),
            interval: rate
                .filter(|rate| *rate > 0.0)
                .map(|rate| Duration::from_secs_f64(1.0 / rate.max(crate::SLOWEST_RATE))),
            hosts: Mutex::new(HashMap::new()),
        })
    }

    fn entry(&self, host: &str) -> Arc<HostEntry> {
        let mut hosts = self.hosts.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(hosts.entry(host.to_owned()).or_insert_with(|| {
            Arc::new(HostEntry {
                slots: Arc::new(Semaphore::new(self.per_host)),
                next_start: Mutex::new(Instant::now()),
            })
        }))
    }

    /// Drops the entry of `host` if nobody holds or awaits it and its rate slot has passed.
    fn forget_if_idle(&self, host: &str) {
        let mut hosts = self.hosts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(entry) = hosts.get(host) {
            let idle = Arc::strong_count(entry) == 1
                && entry.slots.available_permits() == self.per_host
                && *entry.next_start.lock().unwrap_or_else(|p| p.into_inner()) <= Instant::now();
            if idle {
                hosts.remove(host);
            }
        }
    }

    /// How long to wait for this host's next rate slot, reserving it; `floor` (the host's
    /// robots.txt `Crawl-delay`) is the least time between two starts, whatever `--rate` says.
    fn reserve_start(&self, entry: &HostEntry, floor: Option<Duration>) -> Duration {
        let Some(interval) = self.interval.max(floor) else {
            return Duration::ZERO;
        };
        let mut next = entry.next_start.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let start = (*next).max(now);
        *next = start + interval;
        start - now
    }

    /// Waits (asynchronously) for a slot and a rate slot of `host`, with at least `floor` (a
    /// robots.txt `Crawl-delay`) between two starts to it.
    pub async fn acquire(self: &Arc<Self>, host: &str, floor: Option<Duration>) -> HostPermit {
        let entry = self.entry(host);
        let permit = Arc::clone(&entry.slots)
            .acquire_owned()
            .await
            .expect("host semaphores are never closed");
        let wait = self.reserve_start(&entry, floor);
        drop(entry);
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        HostPermit {
            limits: Arc::clone(self),
            host: host.to_owned(),
            permit: Some(permit),
            shared: None,
        }
    }

    /// Waits (blocking this thread) for a slot and a rate slot of `host`, with at least `floor`
    /// between two starts to it; `None` if `until` fires first (the rate slot it reserved then
    /// goes unused).
    pub fn acquire_blocking(
        self: &Arc<Self>,
        host: &str,
        floor: Option<Duration>,
        until: &CancellationToken,
    ) -> Option<HostPermit> {
        let entry = self.entry(host);
        let permit = block_on_unless(Arc::clone(&entry.slots).acquire_owned(), until)?
            .expect("host semaphores are never closed");
        let wait = self.reserve_start(&entry, floor);
        drop(entry);
        if !sleep_unless(wait, until) {
            return None;
        }
        Some(HostPermit {
            limits: Arc::clone(self),
            host: host.to_owned(),
            permit: Some(permit),
            shared: None,
        })
    }

    /// How many hosts have an entry now (for tests of the clean-up).
    #[cfg(test)]
    pub fn tracked_hosts(&self) -> usize {
        self.hosts.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

/// Waits on this thread for `future`; `None` if `until` fires first (a token already fired
/// wins, even over a future that is ready).
pub(crate) fn block_on_unless<T>(
    future: impl std::future::Future<Output = T>,
    until: &CancellationToken,
) -> Option<T> {
    futures::executor::block_on(async {
        tokio::select! {
            biased;
            () = until.cancelled() => None,
            value = future => Some(value),
        }
    })
}

/// Sleeps `wait` on this thread; false if `until` fires first. The thread parks until the
/// time is up, and the token's firing wakes it at once (its waker unparks the thread), so the
/// wait costs no wake-ups in between.
fn sleep_unless(wait: Duration, until: &CancellationToken) -> bool {
    /// Wakes the parked thread that waits on the token.
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.0.unpark();
        }
    }
    let end = Instant::now() + wait;
    let waker = std::task::Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut context = std::task::Context::from_waker(&waker);
    let mut fired = std::pin::pin!(until.cancelled());
    loop {
        // Polled each time round: it registers the waker, and a token already fired wins.
        if fired.as_mut().poll(&mut context).is_ready() {
            return false;
        }
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return true;
        }
        // Parking may end early (an unpark meant for something else): the loop looks again.
        std::thread::park_timeout(left);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A slot and a rate slot of `host`, waited for with nothing to stop the wait.
    fn acquire(limits: &Arc<HostLimits>, host: &str) -> HostPermit {
        limits
            .acquire_blocking(host, None, &CancellationToken::new())
            .expect("nothing stops the wait")
    }

    #[test]
    fn at_most_per_host_at_once_and_idle_hosts_forgotten() {
        let limits = HostLimits::new(2, None);
        let active = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        std::thread::scope(|scope| {
            for _ in 0..8 {
                let (limits, active, most) = (&limits, &active, &most);
                scope.spawn(move || {
                    for _ in 0..20 {
                        let _permit = acquire(limits, "a.test");
                        let now = active.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_micros(200));
                        active.fetch_sub(1, Ordering::SeqCst);
                    }
                });
            }
        });
        assert_eq!(most.load(Ordering::SeqCst), 2);
        assert_eq!(limits.tracked_hosts(), 0);
    }

    #[test]
    fn a_permit_knows_whether_others_to_its_host_are_in_flight() {
        let limits = HostLimits::new(4, None);
        let first = acquire(&limits, "a.test");
        let elsewhere = acquire(&limits, "b.test");
        assert!(first.alone() && elsewhere.alone());
        let second = acquire(&limits, "a.test");
        assert!(!first.alone() && !second.alone());
        drop(second);
        assert!(first.alone());
    }

    #[test]
    fn rate_spaces_out_request_starts() {
        let limits = HostLimits::new(8, Some(100.0));
        let start = Instant::now();
        let permits: Vec<_> = (0..5).map(|_| acquire(&limits, "r.test")).collect();
        // Five starts at 100 per second: the fifth waits at least 40 ms after the first.
        assert!(start.elapsed() >= Duration::from_millis(40));
        drop(permits);
    }

    #[test]
    fn a_blocking_sleep_lasts_its_time_unless_its_token_fires() {
        let stop = CancellationToken::new();
        let start = Instant::now();
        assert!(sleep_unless(Duration::from_millis(30), &stop));
        assert!(start.elapsed() >= Duration::from_millis(30));
        // A sleep of an hour ends when another thread fires the token.
        std::thread::scope(|scope| {
            let sleeper = scope.spawn(|| sleep_unless(Duration::from_secs(3600), &stop));
            stop.cancel();
            assert!(!sleeper.join().unwrap());
        });
        // A token that fired already wins, even over no wait at all.
        assert!(!sleep_unless(Duration::ZERO, &stop));
    }

    #[test]
    fn a_blocking_wait_for_a_slot_or_a_rate_slot_ends_when_its_token_fires() {
        // One start a minute: the second waits for a rate slot a minute away.
        let limits = HostLimits::new(1, Some(1.0 / 60.0));
        let stop = CancellationToken::new();
        let first = limits.acquire_blocking("s.test", None, &stop).unwrap();
        std::thread::scope(|scope| {
            // Waiting for the slot the first holds.
            let for_slot = scope.spawn(|| limits.acquire_blocking("s.test", None, &stop));
            stop.cancel();
            assert!(for_slot.join().unwrap().is_none());
        });
        drop(first);
        let stop = CancellationToken::new();
        std::thread::scope(|scope| {
            // Holding the slot, sleeping until the rate slot.
            let for_rate = scope.spawn(|| limits.acquire_blocking("s.test", None, &stop));
            while limits
                .hosts
                .lock()
                .unwrap()
                .get("s.test")
                .is_some_and(|entry| entry.slots.available_permits() == 1)
            {
                std::thread::yield_now();
            }
            stop.cancel();
            assert!(for_rate.join().unwrap().is_none());
        });
    }
}

//! A broker job's per-host limits in one worker: the job-wide permits (`--per-host`, and each
//! start under `--rate`) that the worker's fetch waits for before each request, redirect hops
//! included ([`abreast_fetch::SharedHosts`]).
//!
//! A permit is a holder's name in the host's set on the broker. A request that finishes hands
//! its permit straight to the next request of its host waiting in this worker, on the thread
//! that finished it: no round trip, no hop through the worker's loop. Only a host short of
//! permits asks the broker, from one task per host ([`PermitTask`]) that answers the asks
//! waiting together. A permit no request has wanted for a while goes back to the broker, for
//! the other workers ([`JobHosts::take_idle`]).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use abreast_fetch::{SharedHosts, SharedPermit};
use abreast_queue::{JobName, Queue, QueueError, RedisQueue};
use tokio::sync::{mpsc, oneshot};

use crate::broker::{OutageNote, retry};

/// How long a free permit stays with a worker that no request of its host wants before it goes
/// back to the broker.
pub const IDLE_PERMIT: Duration = Duration::from_millis(20);

/// Permits given out so far by this process: each holder is unique.
static PERMITS: AtomicU64 = AtomicU64::new(0);

/// One job's hosts in this worker: what its fetch asks before each request.
#[derive(Debug)]
pub struct JobHosts {
    broker: Broker,
    runtime: tokio::runtime::Handle,
    state: Arc<Mutex<State>>,
}

/// Where and how this worker takes a job's permits.
#[derive(Debug, Clone)]
struct Broker {
    queue: RedisQueue,
    job: JobName,
    worker: String,
    per_host: usize,
    rate: Option<f64>,
    /// How long a permit lives on the broker unless renewed (the job's lease).
    ttl: Duration,
}

/// The hosts' permits, shared by the fetch's requests, the permit tasks and the worker's loop.
#[derive(Debug, Default)]
struct State {
    hosts: HashMap<String, HostShare>,
    /// No request may start any more (the worker is stopping): those that ask wait until the
    /// run is cancelled, and never start.
    closed: bool,
    /// The run is over: no permit is kept or handed out any more, and a permit task that
    /// brings one gives it back itself.
    ended: bool,
}

/// One host's permits in this worker.
#[derive(Debug, Default)]
struct HostShare {
    /// Permits held and free, with when each went free.
    spare: Vec<(String, Instant)>,
    /// Requests waiting for a permit, oldest first.
    waiters: VecDeque<oneshot::Sender<String>>,
    /// Permits that requests hold now.
    in_use: HashSet<String>,
    /// Asks sent to the host's task and not answered yet.
    asked: usize,
    /// What to ask the host's permit task, once started. The task ends once this is dropped
    /// and it has handed in what it was bringing; it is never aborted, since it may hold
    /// permits taken on the broker that it has not handed in yet.
    task: Option<mpsc::UnboundedSender<()>>,
}

impl HostShare {
    fn is_idle(&self) -> bool {
        self.spare.is_empty() && self.waiters.is_empty() && self.in_use.is_empty()
    }

    /// Hands `holder` to the oldest request still waiting; gives it back if none is.
    fn hand_to_waiter(&mut self, mut holder: String) -> Result<(), String> {
        while let Some(waiter) = self.waiters.pop_front() {
            self.in_use.insert(holder.clone());
            match waiter.send(holder) {
                Ok(()) => return Ok(()),
                // That request was cancelled: the next one gets it.
                Err(back) => {
                    self.in_use.remove(&back);
                    holder = back;
                }
            }
        }
        Err(holder)
    }
}

/// A request's job-wide permit: dropping it frees the permit for the host's next request.
struct JobPermit {
    state: Arc<Mutex<State>>,
    host: String,
    holder: String,
    /// Without `--rate` a freed permit goes straight to a waiting request; with it, each start
    /// is reserved on the broker by the host's task, which takes spares first.
    hand_over: bool,
}

impl Drop for JobPermit {
    fn drop(&mut self) {
        let mut state = lock(&self.state);
        if state.ended {
            return;
        }
        let closed = state.closed;
        let Some(share) = state.hosts.get_mut(&self.host) else {
            return;
        };
        if !share.in_use.remove(&self.holder) {
            return;
        }
        let holder = std::mem::take(&mut self.holder);
        let holder = if self.hand_over && !closed {
            match share.hand_to_waiter(holder) {
                // That request's ask to the host's task is answered.
                Ok(()) => {
                    share.asked = share.asked.saturating_sub(1);
                    return;
                }
                Err(holder) => holder,
            }
        } else {
            holder
        };
        share.spare.push((holder, Instant::now()));
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl JobHosts {
    /// The hosts of `job` for worker `worker`, whose permit tasks run on `runtime`.
    pub fn new(
        queue: RedisQueue,
        job: JobName,
        worker: String,
        per_host: usize,
        rate: Option<f64>,
        ttl: Duration,
        runtime: tokio::runtime::Handle,
    ) -> JobHosts {
        JobHosts {
            broker: Broker {
                queue,
                job,
                worker,
                per_host: per_host.max(1),
                rate,
                ttl,
            },
            runtime,
            state: Arc::default(),
        }
    }

    /// Every permit held, free or in use, as `(host, holder)`: to renew.
    pub fn holders(&self) -> Vec<(String, String)> {
        let state = lock(&self.state);
        let mut held = Vec::new();
        for (host, share) in &state.hosts {
            let free = share.spare.iter().map(|(holder, _)| holder);
            for holder in share.in_use.iter().chain(free) {
                held.push((host.clone(), holder.clone()));
            }
        }
        held
    }

    /// The permits free for at least [`IDLE_PERMIT`] with no request of their host waiting,
    /// taken out: to give back to the broker. A host left with nothing is forgotten, and its
    /// task ends.
    pub fn take_idle(&self) -> Vec<(String, String)> {
        let mut state = lock(&self.state);
        let now = Instant::now();
        let mut idle = Vec::new();
        state.hosts.retain(|host, share| {
            if share.waiters.is_empty() {
                share.spare.retain(|(holder, since)| {
                    let keep = now.duration_since(*since) < IDLE_PERMIT;
                    if !keep {
                        idle.push((host.clone(), holder.clone()));
                    }
                    keep
                });
            }
            let forget = share.is_idle() && share.asked == 0;
            !forget
        });
        idle
    }

    /// Lets no request start any more: those that ask from now on, and those waiting, never
    /// start (the run cancels them). The free permits are taken out, to give back. The permit
    /// tasks are not aborted, since one may have taken permits on the broker that it has not
    /// handed in yet: each sees the gate closed and gives those back itself.
    pub fn close(&self) -> Vec<(String, String)> {
        let mut state = lock(&self.state);
        state.closed = true;
        let mut free = Vec::new();
        for (host, share) in &mut state.hosts {
            share.task = None;
            share.asked = 0;
            free.extend(
                share
                    .spare
                    .drain(..)
                    .map(|(holder, _)| (host.clone(), holder)),
            );
        }
        free
    }

    /// Requests holding a permit now.
    pub fn in_use(&self) -> usize {
        let state = lock(&self.state);
        state.hosts.values().map(|share| share.in_use.len()).sum()
    }

    /// The run is over: every permit held is taken out, to give back; the permit tasks end
    /// (giving back themselves what they bring after this), and a request still waiting never
    /// starts (it is cancelled with the run).
    pub fn end(&self) -> Vec<(String, String)> {
        let mut state = lock(&self.state);
        state.ended = true;
        let mut held = Vec::new();
        for (host, share) in state.hosts.drain() {
            let free = share.spare.into_iter().map(|(holder, _)| holder);
            held.extend(
                share
                    .in_use
                    .into_iter()
                    .chain(free)
                    .map(|h| (host.clone(), h)),
            );
        }
        held
    }

    /// Asks `host`'s task for one more permit, starting the task if it has none.
    fn ask(&self, host: &str, share: &mut HostShare) {
        let ask = share.task.get_or_insert_with(|| {
            let (ask, asks) = mpsc::unbounded_channel();
            let task = PermitTask {
                broker: self.broker.clone(),
                host: host.to_owned(),
                state: Arc::clone(&self.state),
            };
            self.runtime.spawn(task.run(asks));
            ask
        });
        if ask.send(()).is_ok() {
            share.asked += 1;
        }
    }
}

impl SharedHosts for JobHosts {
    fn acquire<'a>(
        &'a self,
        host: &'a str,
    ) -> std::pin::Pin<Box<dyn Future<Output = SharedPermit> + Send + 'a>> {
        let hand_over = self.broker.rate.is_none();
        let waiting = {
            let mut state = lock(&self.state);
            if state.ended {
                return Box::pin(std::future::pending());
            }
            let closed = state.closed;
            let share = state.hosts.entry(host.to_owned()).or_default();
            let (send, receive) = oneshot::channel();
            if !closed {
                if hand_over && let Some((holder, _)) = share.spare.pop() {
                    share.in_use.insert(holder.clone());
                    return Box::pin(std::future::ready(self.permit(host, holder)));
                }
                share.waiters.push_back(send);
                if share.asked < share.waiters.len() {
                    self.ask(host, share);
                }
            } else {
                // It never starts: the run cancels it at its end.
                share.waiters.push_back(send);
            }
            receive
        };
        Box::pin(async move {
            match waiting.await {
                Ok(holder) => self.permit(host, holder),
                // The run ended while it waited: the request never starts.
                Err(_) => std::future::pending().await,
            }
        })
    }
}

impl JobHosts {
    fn permit(&self, host: &str, holder: String) -> SharedPermit {
        SharedPermit::new(JobPermit {
            state: Arc::clone(&self.state),
            host: host.to_owned(),
            holder,
            hand_over: self.broker.rate.is_none(),
        })
    }
}

/// One host's job-wide permits from the broker: each ask is answered with a permit whose start
/// is reserved under the job's `--rate`: one of the host's spares if there is one, else a new
/// one from the broker, those of all the asks waiting taken in one round trip. A task of its
/// own, so a host at its limit holds back only its own requests.
struct PermitTask {
    broker: Broker,
    host: String,
    state: Arc<Mutex<State>>,
}

impl PermitTask {
    async fn run(self, mut asks: mpsc::UnboundedReceiver<()>) {
        let Broker {
            queue,
            job,
            worker,
            per_host,
            rate,
            ttl,
        } = &self.broker;
        let mut note = OutageNote::new("worker");
        let mut wanted = 0usize;
        let mut wait = Duration::from_millis(5);
        let mut said: Option<Instant> = None;
        loop {
            if wanted == 0 {
                match asks.recv().await {
                    Some(()) => wanted = 1,
                    None => return,
                }
            }
            // Every ask waiting is answered together: one round trip for all of them.
            while asks.try_recv().is_ok() {
                wanted += 1;
            }
            // Only as many as requests still wait for (a request that ended may have handed
            // its permit to one), and none once the gate is closed.
            wanted = self.still_wanted(wanted);
            if wanted == 0 {
                continue;
            }
            let mut holders = self.spares(wanted);
            if holders.len() < wanted {
                let fresh: Vec<String> = (holders.len()..wanted)
                    .map(|_| {
                        let n = PERMITS.fetch_add(1, Ordering::Relaxed);
                        format!("{worker}/{n}")
                    })
                    .collect();
                let taken = retry(&mut note, None, || {
                    queue.acquire_hosts(job, &self.host, &fresh, *per_host, *ttl)
                })
                .await;
                match taken {
                    Ok(Some(taken)) => holders.extend(fresh.into_iter().take(taken)),
                    Ok(None) => {}
                    // The job is gone: the worker drops its run.
                    Err(QueueError::NoSuchJob { .. }) => return,
                    // Any other refusal is said (every 30 s at most) and tried again below, so
                    // the host's requests are not left waiting for a task that ended.
                    Err(error) => {
                        if said.is_none_or(|at: Instant| at.elapsed() > Duration::from_secs(30)) {
                            eprintln!(
                                "abreast worker: could not take a permit of {} for job {}: {error}; trying again",
                                self.host, job
                            );
                            said = Some(Instant::now());
                        }
                    }
                }
            }
            wanted -= holders.len();
            for holder in holders {
                if let Some(rate) = *rate {
                    let reserved = retry(&mut note, None, || {
                        queue.reserve_start(job, &self.host, rate)
                    })
                    .await;
                    if let Ok(Some(wait)) = reserved {
                        tokio::time::sleep(wait).await;
                    }
                }
                if let Err(late) = self.deliver(holder) {
                    // The gate closed meanwhile: this task gives it back itself.
                    let permit = [(self.host.clone(), late)];
                    let _ = retry(&mut note, None, || {
                        queue.hand_back(job, worker, &[], &permit)
                    })
                    .await;
                }
            }
            if wanted > 0 {
                // The host is at its limit: ask again later, or take a permit a request freed.
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_millis(100));
            } else {
                wait = Duration::from_millis(5);
            }
        }
    }

    /// Up to `wanted` of the host's free permits, taken out.
    fn spares(&self, wanted: usize) -> Vec<String> {
        let mut state = lock(&self.state);
        let Some(share) = state.hosts.get_mut(&self.host) else {
            return Vec::new();
        };
        let keep = share.spare.len().saturating_sub(wanted);
        share
            .spare
            .drain(keep..)
            .map(|(holder, _)| holder)
            .collect()
    }

    /// How many of `wanted` permits requests still wait for: at most one per waiting request,
    /// none once the gate is closed.
    fn still_wanted(&self, wanted: usize) -> usize {
        let mut state = lock(&self.state);
        if state.closed || state.ended {
            return 0;
        }
        let Some(share) = state.hosts.get_mut(&self.host) else {
            return 0;
        };
        let wanted = wanted.min(share.waiters.len());
        share.asked = wanted;
        wanted
    }

    /// Hands a permit to the host's oldest waiting request, or keeps it free; once the gate is
    /// closed, it comes back, to give back to the broker.
    fn deliver(&self, holder: String) -> Result<(), String> {
        let mut state = lock(&self.state);
        if state.closed || state.ended {
            return Err(holder);
        }
        let share = state.hosts.entry(self.host.clone()).or_default();
        share.asked = share.asked.saturating_sub(1);
        if let Err(holder) = share.hand_to_waiter(holder) {
            share.spare.push((holder, Instant::now()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use abreast_queue::{BrokerUrl, LocalRedis};
    use tokio::time::timeout;

    /// Long enough to see that a request waits; the checks that must succeed wait much longer.
    const WAITS: Duration = Duration::from_millis(100);
    const HANG_LIMIT: Duration = Duration::from_secs(30);

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_freed_permit_goes_to_the_next_request_and_a_closed_gate_starts_none() {
        let redis = LocalRedis::start().expect("redis-server starts (install it)");
        let queue = RedisQueue::connect(&BrokerUrl::parse(&redis.url()).unwrap())
            .await
            .unwrap();
        let job = JobName::new("hosts").unwrap();
        let ttl = Duration::from_secs(60);
        let hosts = JobHosts::new(
            queue.clone(),
            job.clone(),
            "w".into(),
            2,
            None,
            ttl,
            tokio::runtime::Handle::current(),
        );
        let first = timeout(HANG_LIMIT, hosts.acquire("h.test")).await.unwrap();
        let second = timeout(HANG_LIMIT, hosts.acquire("h.test")).await.unwrap();
        // Both job-wide permits are this worker's: none is left on the broker, and a third
        // request waits.
        let probe = |holder: &'static str| queue.acquire_host(&job, "h.test", holder, 2, ttl);
        assert!(!probe("probe-1").await.unwrap());
        let mut third = hosts.acquire("h.test");
        assert!(timeout(WAITS, &mut third).await.is_err());
        // A request that ends hands its permit to the one waiting, with no round trip.
        drop(first);
        let third = timeout(HANG_LIMIT, third).await.expect("handed over");
        assert_eq!(hosts.holders().len(), 2);
        assert_eq!(hosts.in_use(), 2);
        // Closed, the gate starts no request, even with a permit free.
        assert!(hosts.close().is_empty());
        drop(second);
        assert!(timeout(WAITS, hosts.acquire("h.test")).await.is_err());
        // At the end every permit held comes out, and given back, frees the broker's.
        let held = hosts.end();
        assert_eq!(held.len(), 2, "{held:?}");
        drop(third);
        queue.hand_back(&job, "w", &[], &held).await.unwrap();
        assert!(probe("probe-2").await.unwrap());
        assert!(probe("probe-3").await.unwrap());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_permit_nobody_wants_goes_back_to_the_broker() {
        let redis = LocalRedis::start().expect("redis-server starts (install it)");
        let queue = RedisQueue::connect(&BrokerUrl::parse(&redis.url()).unwrap())
            .await
            .unwrap();
        let job = JobName::new("idle").unwrap();
        let hosts = JobHosts::new(
            queue.clone(),
            job.clone(),
            "w".into(),
            1,
            None,
            Duration::from_secs(60),
            tokio::runtime::Handle::current(),
        );
        drop(timeout(HANG_LIMIT, hosts.acquire("h.test")).await.unwrap());
        // Free, it stays a while for this worker's next request.
        assert_eq!(hosts.holders().len(), 1);
        tokio::time::sleep(IDLE_PERMIT).await;
        let idle = hosts.take_idle();
        assert_eq!(idle.len(), 1);
        assert!(hosts.holders().is_empty());
        queue.hand_back(&job, "w", &[], &idle).await.unwrap();
        let free = queue.acquire_host(&job, "h.test", "other", 1, Duration::from_secs(60));
        assert!(free.await.unwrap());
    }
}

//! One connection first: the requests to an HTTPS origin the client has not reached yet wait
//! for the first one's answer, which tells whether the server speaks HTTP/2 (ALPN). If it does,
//! they all share that one connection; if not, they go on at once, each on a connection of its
//! own, as before. Without this, a burst of requests to a new origin opens a connection each
//! (hyper's pool learns the protocol only once a connection is up) and throws all but one away:
//! a run of 100 requests in flight opened 100 TLS connections to one HTTP/2 host. Browsers,
//! curl (`CURLOPT_PIPEWAIT`) and undici wait the same way.
//!
//! A request waits at most [`FirstConnections::new`]'s limit: a first answer slower than that
//! (an HTTP/1.1 server that takes its time) costs the others no more. A first request that
//! fails, or is dropped, hands the first place to one of those waiting.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Semaphore;
use url::Url;

/// Origins a client remembers; past this, origins already open are forgotten (one of them may
/// then wait for a first answer again, harmlessly).
const ORIGINS_KEPT: usize = 4096;

/// The state of one origin.
#[derive(Debug)]
enum Origin {
    /// Its first request is on its way; the semaphore is closed when its answer came (or it
    /// failed), which wakes those waiting.
    Opening(Arc<Semaphore>),
    /// It answered: the pool knows its protocol.
    Open,
}

/// The origins of a client, and the longest a request waits for an origin's first answer.
#[derive(Debug)]
pub(crate) struct FirstConnections {
    origins: Mutex<HashMap<String, Origin>>,
    wait_at_most: Duration,
}

/// The first request to an origin, on its way: [`Opening::answered`] once its answer came;
/// dropped without that, it hands the first place to the next request.
#[derive(Debug)]
pub(crate) struct Opening {
    connections: Arc<FirstConnections>,
    origin: String,
    gate: Arc<Semaphore>,
    answered: bool,
}

impl FirstConnections {
    /// Origins none of which has a connection yet; a request waits at most `wait_at_most` for
    /// its origin's first answer.
    pub(crate) fn new(wait_at_most: Duration) -> Arc<FirstConnections> {
        Arc::new(FirstConnections {
            origins: Mutex::default(),
            wait_at_most,
        })
    }

    /// Before a request to `url`: `Some` if it is the first to its origin (the others wait for
    /// its answer), `None` once it may go (its origin answered before, the wait ran out, or
    /// the URL is not HTTPS, where there is no HTTP/2 to share).
    pub(crate) async fn enter(self: &Arc<Self>, url: &Url) -> Option<Opening> {
        if url.scheme() != "https" {
            return None;
        }
        let origin = url.origin().ascii_serialization();
        let deadline = tokio::time::Instant::now() + self.wait_at_most;
        loop {
            let gate = {
                let mut origins = self.origins.lock().unwrap_or_else(PoisonError::into_inner);
                match origins.get(&origin) {
                    Some(Origin::Open) => return None,
                    Some(Origin::Opening(gate)) => Arc::clone(gate),
                    None => {
                        if origins.len() >= ORIGINS_KEPT {
                            let open = origins
                                .iter()
                                .find(|(_, state)| matches!(state, Origin::Open))
                                .map(|(origin, _)| origin.clone());
                            // Thousands of first requests at once: this one goes unwatched.
                            origins.remove(&open?);
                        }
                        let gate = Arc::new(Semaphore::new(0));
                        origins.insert(origin.clone(), Origin::Opening(Arc::clone(&gate)));
                        return Some(Opening {
                            connections: Arc::clone(self),
                            origin,
                            gate,
                            answered: false,
                        });
                    }
                }
            };
            // The gate is closed when the first request is done: the wait ends with an error.
            if tokio::time::timeout_at(deadline, gate.acquire())
                .await
                .is_err()
            {
                return None;
            }
        }
    }
}

impl Opening {
    /// The first request's answer came: its connection is in the pool, with its protocol
    /// known; those waiting go on.
    pub(crate) fn answered(mut self) {
        self.answered = true;
    }
}

impl Drop for Opening {
    fn drop(&mut self) {
        let mut origins = self
            .connections
            .origins
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let ours = matches!(
            origins.get(&self.origin),
            Some(Origin::Opening(gate)) if Arc::ptr_eq(gate, &self.gate)
        );
        if ours {
            if self.answered {
                origins.insert(std::mem::take(&mut self.origin), Origin::Open);
            } else {
                origins.remove(&self.origin);
            }
        }
        drop(origins);
        self.gate.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    #[tokio::test]
    async fn the_others_wait_for_the_first_answer_and_a_failed_first_hands_its_place_on() {
        let connections = FirstConnections::new(Duration::from_secs(30));
        assert!(connections.enter(&url("http://a.test/")).await.is_none());
        let first = connections.enter(&url("https://a.test/1")).await.unwrap();
        let waiting = tokio::spawn({
            let connections = Arc::clone(&connections);
            async move { connections.enter(&url("https://a.test/2")).await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "the second waits for the first");
        // The first failed: the second is the first now.
        drop(first);
        let second = waiting.await.unwrap().expect("it takes the first place");
        second.answered();
        assert!(connections.enter(&url("https://a.test/3")).await.is_none());
        // Another port is another origin.
        assert!(
            connections
                .enter(&url("https://a.test:8443/"))
                .await
                .is_some()
        );
    }

    #[tokio::test]
    async fn a_slow_first_answer_holds_the_others_up_no_longer_than_the_limit() {
        let connections = FirstConnections::new(Duration::from_millis(20));
        let _first = connections.enter(&url("https://slow.test/")).await.unwrap();
        assert!(
            connections
                .enter(&url("https://slow.test/2"))
                .await
                .is_none()
        );
    }
}

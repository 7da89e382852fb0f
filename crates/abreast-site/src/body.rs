//! The response body type: a few ready chunks for ordinary responses, and the misbehaving
//! streams behind the fault routes (trickle, stall, reset mid-body, a body shorter than its
//! Content-Length, a huge body generated on the fly). Each holds a bounded amount of memory, and
//! the ones that wait end when the site shuts down.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::Sleep;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

/// How long a resetting body waits after its last bytes before the reset, so that hyper has
/// flushed them and the client sees a partial body, then the reset.
const RESET_FLUSH_DELAY: Duration = Duration::from_millis(50);

/// The body of every response the site sends.
#[derive(Debug)]
pub(crate) struct SiteBody {
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    /// Ready chunks, sent in order; the length is known.
    Chunks { chunks: VecDeque<Bytes>, left: u64 },
    /// `prefix`, then `chunk` over and over, `left` bytes in all; `known_length` false sends
    /// it chunked.
    Repeat {
        prefix: Option<Bytes>,
        chunk: Bytes,
        left: u64,
        known_length: bool,
        shutdown: CancellationToken,
    },
    /// `data` a few bytes per tick.
    Trickle {
        data: Bytes,
        per_tick: usize,
        interval: Duration,
        sleep: Pin<Box<Sleep>>,
        shutdown: Pin<Box<WaitForCancellationFutureOwned>>,
    },
    /// `first`, then nothing until shutdown; claims `declared` bytes.
    Stall {
        first: Option<Bytes>,
        declared: u64,
        shutdown: Pin<Box<WaitForCancellationFutureOwned>>,
    },
    /// `first`, a pause, then a TCP reset (through the connection's reset flag) and an error
    /// that makes hyper drop the connection; claims `declared` bytes.
    Reset {
        first: Option<Bytes>,
        declared: u64,
        sleep: Pin<Box<Sleep>>,
        reset: Arc<AtomicBool>,
    },
    /// `data`, then the end, although the handler declared a longer Content-Length: hyper sees
    /// the shortfall and closes the connection.
    Short { data: Option<Bytes> },
}

impl SiteBody {
    /// A body of these chunks, sent in order.
    pub(crate) fn chunks(chunks: impl IntoIterator<Item = Bytes>) -> Self {
        let chunks: VecDeque<Bytes> = chunks.into_iter().filter(|c| !c.is_empty()).collect();
        let left = chunks.iter().map(|c| c.len() as u64).sum();
        Self {
            kind: Kind::Chunks { chunks, left },
        }
    }

    /// A body of one buffer.
    pub(crate) fn full(data: impl Into<Bytes>) -> Self {
        Self::chunks([data.into()])
    }

    /// No body at all.
    pub(crate) fn empty() -> Self {
        Self::chunks([])
    }

    /// `size` bytes: `prefix`, then `chunk` repeated, generated as the client reads.
    pub(crate) fn repeat(
        prefix: Bytes,
        chunk: Bytes,
        size: u64,
        known_length: bool,
        shutdown: CancellationToken,
    ) -> Self {
        assert!(!chunk.is_empty(), "a repeated chunk must not be empty");
        Self {
            kind: Kind::Repeat {
                prefix: Some(prefix),
                chunk,
                left: size,
                known_length,
                shutdown,
            },
        }
    }

    /// `data` at about `bytes_per_sec`, in ticks of at least a byte.
    pub(crate) fn trickle(data: Bytes, bytes_per_sec: u64, shutdown: CancellationToken) -> Self {
        let bytes_per_sec = bytes_per_sec.max(1);
        let (per_tick, interval) = if bytes_per_sec >= 10 {
            ((bytes_per_sec / 10) as usize, Duration::from_millis(100))
        } else {
            (1, Duration::from_secs(1) / bytes_per_sec as u32)
        };
        Self {
            kind: Kind::Trickle {
                data,
                per_tick,
                interval,
                sleep: Box::pin(tokio::time::sleep(Duration::ZERO)),
                shutdown: Box::pin(shutdown.cancelled_owned()),
            },
        }
    }

    /// `first`, then silence until the site shuts down, under a Content-Length of `declared`.
    pub(crate) fn stall(first: Bytes, declared: u64, shutdown: CancellationToken) -> Self {
        Self {
            kind: Kind::Stall {
                first: Some(first).filter(|first| !first.is_empty()),
                declared,
                shutdown: Box::pin(shutdown.cancelled_owned()),
            },
        }
    }

    /// `first`, then a TCP reset, under a Content-Length of `declared`.
    pub(crate) fn reset(first: Bytes, declared: u64, reset: Arc<AtomicBool>) -> Self {
        Self {
            kind: Kind::Reset {
                first: Some(first).filter(|first| !first.is_empty()),
                declared,
                sleep: Box::pin(tokio::time::sleep(RESET_FLUSH_DELAY)),
                reset,
            },
        }
    }

    /// `data` with no length of its own: the handler sets a longer Content-Length header.
    pub(crate) fn short(data: Bytes) -> Self {
        Self {
            kind: Kind::Short { data: Some(data) },
        }
    }
}

fn shut_down_error() -> io::Error {
    io::Error::new(io::ErrorKind::Interrupted, "the site is shutting down")
}

impl Body for SiteBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match &mut self.kind {
            Kind::Chunks { chunks, left } => Poll::Ready(chunks.pop_front().map(|chunk| {
                *left -= chunk.len() as u64;
                Ok(Frame::data(chunk))
            })),
            Kind::Repeat {
                prefix,
                chunk,
                left,
                shutdown,
                ..
            } => {
                if *left == 0 {
                    return Poll::Ready(None);
                }
                if shutdown.is_cancelled() {
                    return Poll::Ready(Some(Err(shut_down_error())));
                }
                let source = prefix.take().unwrap_or_else(|| chunk.clone());
                let step = source
                    .len()
                    .min(usize::try_from(*left).unwrap_or(usize::MAX));
                *left -= step as u64;
                Poll::Ready(Some(Ok(Frame::data(source.slice(..step)))))
            }
            Kind::Trickle {
                data,
                per_tick,
                interval,
                sleep,
                shutdown,
            } => {
                if data.is_empty() {
                    return Poll::Ready(None);
                }
                if shutdown.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Some(Err(shut_down_error())));
                }
                ready!(sleep.as_mut().poll(cx));
                let deadline = sleep.deadline() + *interval;
                sleep.as_mut().reset(deadline);
                let step = (*per_tick).min(data.len());
                Poll::Ready(Some(Ok(Frame::data(data.split_to(step)))))
            }
            Kind::Stall {
                first, shutdown, ..
            } => {
                if let Some(first) = first.take() {
                    return Poll::Ready(Some(Ok(Frame::data(first))));
                }
                ready!(shutdown.as_mut().poll(cx));
                Poll::Ready(Some(Err(shut_down_error())))
            }
            Kind::Reset {
                first,
                sleep,
                reset,
                ..
            } => {
                if let Some(first) = first.take() {
                    return Poll::Ready(Some(Ok(Frame::data(first))));
                }
                ready!(sleep.as_mut().poll(cx));
                reset.store(true, Ordering::Release);
                Poll::Ready(Some(Err(io::Error::new(
                    io::ErrorKind::ConnectionReset,
                    "the /fault/reset route resets the connection mid-body",
                ))))
            }
            Kind::Short { data } => Poll::Ready(data.take().map(|data| Ok(Frame::data(data)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Chunks { chunks, .. } => chunks.is_empty(),
            Kind::Repeat { left, .. } => *left == 0,
            Kind::Trickle { data, .. } => data.is_empty(),
            Kind::Stall { .. } | Kind::Reset { .. } => false,
            Kind::Short { data } => data.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Chunks { left, .. } => SizeHint::with_exact(*left),
            Kind::Repeat {
                left, known_length, ..
            } => {
                if *known_length {
                    SizeHint::with_exact(*left)
                } else {
                    SizeHint::default()
                }
            }
            Kind::Trickle { data, .. } => SizeHint::with_exact(data.len() as u64),
            Kind::Stall { declared, .. } | Kind::Reset { declared, .. } => {
                SizeHint::with_exact(*declared)
            }
            Kind::Short { .. } => SizeHint::default(),
        }
    }
}

//! [`paced`]: a one-pass input read on a thread of its own, with a [`PAUSE`] whenever it keeps
//! the submission waiting, so a slow producer's lines go to the broker as they come.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::PAUSE;

/// How long a line read waits for others before the lines read are sent without them.
pub const PACE: Duration = Duration::from_millis(100);

/// Lines read ahead of the submission, at most.
const READ_AHEAD: usize = 4096;

/// `source`'s lines, read on a thread of their own, for [`crate::Queue::submit`]: after the
/// lines read, a [`PAUSE`] whenever no other line follows within [`PACE`], so they go to the
/// broker at once rather than with the next full batch. Once `quit` is set, an input error
/// (the submission stops where it is; the job is not sealed short).
///
/// The reading thread ends with `source`, or at its next line once the iterator is dropped;
/// the handle is for a caller that must know it ended (one whose `source` calls into a host
/// language). A caller whose `source` can block for ever (standard input) leaves it: it ends
/// with the process.
pub fn paced<I>(
    source: I,
    quit: Arc<AtomicBool>,
) -> std::io::Result<(
    impl Iterator<Item = std::io::Result<String>> + Send,
    JoinHandle<()>,
)>
where
    I: Iterator<Item = std::io::Result<String>> + Send + 'static,
{
    let (send, lines) = flume::bounded(READ_AHEAD);
    let reader = std::thread::Builder::new()
        .name("abreast-input".into())
        .spawn(move || {
            for line in source {
                if send.send(line).is_err() {
                    break;
                }
            }
        })?;
    let mut unsent = false;
    let lines = std::iter::from_fn(move || {
        loop {
            if quit.load(Ordering::SeqCst) {
                return Some(Err(std::io::Error::other("the submission was stopped")));
            }
            match lines.recv_timeout(PACE) {
                Ok(line) => {
                    unsent = true;
                    return Some(line);
                }
                Err(flume::RecvTimeoutError::Timeout) if unsent => {
                    unsent = false;
                    return Some(Ok(PAUSE.to_owned()));
                }
                Err(flume::RecvTimeoutError::Timeout) => {}
                Err(flume::RecvTimeoutError::Disconnected) => return None,
            }
        }
    });
    Ok((lines, reader))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_that_keep_the_reader_waiting_are_followed_by_a_pause() {
        let (send, source) = std::sync::mpsc::channel::<std::io::Result<String>>();
        let quit = Arc::new(AtomicBool::new(false));
        let (mut lines, reader) = paced(source.into_iter(), Arc::clone(&quit)).unwrap();
        send.send(Ok("a".into())).unwrap();
        send.send(Ok("b".into())).unwrap();
        assert_eq!(lines.next().unwrap().unwrap(), "a");
        assert_eq!(lines.next().unwrap().unwrap(), "b");
        assert_eq!(
            lines.next().unwrap().unwrap(),
            PAUSE,
            "nothing more for a while"
        );
        send.send(Ok("c".into())).unwrap();
        assert_eq!(lines.next().unwrap().unwrap(), "c");
        drop(send);
        assert_eq!(lines.next().map(Result::unwrap), None, "the source ended");
        reader.join().unwrap();

        let (_send, source) = std::sync::mpsc::channel::<std::io::Result<String>>();
        let (mut lines, _) = paced(source.into_iter(), Arc::clone(&quit)).unwrap();
        quit.store(true, Ordering::SeqCst);
        assert!(
            lines.next().unwrap().is_err(),
            "an error once quit, never an end"
        );
    }
}

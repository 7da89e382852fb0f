//! A failure's message in the same words in every mode. The HTTP libraries describe a time-out,
//! a refused connection, a redirect they will not follow or a body cut short each in their own
//! words (reqwest in the async and hybrid modes, ureq in the threads and processes modes), often
//! with the URL again and the whole chain of causes; a record says it once, the same way in
//! every mode, naming the limit involved and what to do about it.

use std::time::Duration;

use super::HttpSettings;

/// `--timeout` ran out: before the answer's head, or while its body came (`in_body`).
pub(crate) fn timed_out(settings: &HttpSettings, in_body: bool) -> String {
    let so_far = if in_body {
        ", in the middle of the body"
    } else {
        ", before the answer's head"
    };
    format!(
        "no complete answer within --timeout ({}){so_far}; a slow server needs a longer \
         --timeout",
        in_seconds(settings.timeout)
    )
}

/// `--connect-timeout` ran out before the connection was made.
pub(crate) fn connect_timed_out(settings: &HttpSettings) -> String {
    format!(
        "could not connect within --connect-timeout ({}); is the server up, and does this \
         network reach it?",
        in_seconds(settings.connect_timeout)
    )
}

/// The connection could not be made: the system's `error`.
pub(crate) fn could_not_connect(error: &std::io::Error) -> String {
    match error.kind() {
        std::io::ErrorKind::ConnectionRefused => {
            "could not connect: the connection was refused (nothing listens on that port; is \
             the server up, and is the port right?)"
                .to_owned()
        }
        _ => format!("could not connect: {error}"),
    }
}

/// More redirects than `--max-redirects` allows.
pub(crate) fn too_many_redirects(max: u32) -> String {
    format!("too many redirects (more than {max}, the --max-redirects limit)")
}

/// A redirect to a URL of another `scheme` than http or https.
pub(crate) fn redirect_scheme(scheme: &str) -> String {
    format!("refused a redirect to a URL of scheme {scheme}: (only http and https are followed)")
}

/// The connection ended before the body did: `length` is its Content-Length, if it had one.
pub(crate) fn body_cut(length: Option<u64>) -> String {
    match length {
        Some(length) => format!(
            "the connection ended before the end of the body (its Content-Length said {length} \
             bytes)"
        ),
        None => "the connection ended before the end of the body".to_owned(),
    }
}

/// `duration` as a person writes it: `30 s`, `1.5 s`, `250 ms`.
pub(crate) fn in_seconds(duration: Duration) -> String {
    if duration < Duration::from_secs(1) {
        format!("{} ms", duration.as_millis())
    } else if duration.subsec_millis() == 0 {
        format!("{} s", duration.as_secs())
    } else {
        format!("{} s", duration.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_said_as_a_person_writes_them() {
        assert_eq!(in_seconds(Duration::from_secs(30)), "30 s");
        assert_eq!(in_seconds(Duration::from_millis(1500)), "1.5 s");
        assert_eq!(in_seconds(Duration::from_millis(250)), "250 ms");
        let settings = HttpSettings {
            timeout: Duration::from_secs(2),
            ..HttpSettings::default()
        };
        assert!(
            timed_out(&settings, true).starts_with(
                "no complete answer within --timeout (2 s), in the middle of the body"
            )
        );
    }
}

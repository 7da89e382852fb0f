//! [`QueueError`]: why a broker operation failed, in words that say what to do, and whether
//! retrying can help.

/// A broker operation failed. Messages never hold the broker's password.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueueError {
    /// The `--broker` address is not one abreast can use.
    #[error(
        "the broker address {url} is not usable: {why}; write it as redis://[:PASSWORD@]HOST:PORT[/DB] (rediss:// for TLS)"
    )]
    InvalidUrl {
        /// The address, password hidden.
        url: String,
        /// What is wrong with it.
        why: String,
    },
    /// The job name has characters that are not allowed.
    #[error("the job name {0:?} is not allowed: use 1 to 128 of A-Z, a-z, 0-9, '.', '_' and '-'")]
    InvalidJobName(String),
    /// The broker refused the password (or asked for one that was not given).
    #[error(
        "the broker at {url} refused the credentials: {detail}; check the password in --broker"
    )]
    Auth {
        /// The address, password hidden.
        url: String,
        /// The broker's words.
        detail: String,
    },
    /// The broker's ACL does not let this user run a command, touch a key or use a channel
    /// that abreast needs (`NOPERM`).
    #[error(
        "the broker at {url} does not permit this user what abreast asked: {detail}; grant it the \
         commands, the keys (abreast:*) and the channel (abreast:new-lines) abreast uses, with \
         ACL SETUSER, or give another user in --broker"
    )]
    NotPermitted {
        /// The address, password hidden.
        url: String,
        /// The broker's words.
        detail: String,
    },
    /// The broker's TLS certificate was refused (`rediss://`): an unknown authority, another
    /// host's name, expired. Retrying cannot help.
    #[error(
        "the broker at {url} presented a certificate abreast does not trust: {detail}; for a \
         private CA, give its PEM file in SSL_CERT_FILE, and check that --broker names the host \
         the certificate is for"
    )]
    Untrusted {
        /// The address, password hidden.
        url: String,
        /// rustls's words.
        detail: String,
    },
    /// The broker's host name does not exist: the name server answered that it knows no such
    /// name (not that it could not be asked). Said of the first connection only, where the
    /// address was just given; a name that disappears later is an outage, retried.
    #[error("the broker's host in {url} does not exist: {detail}; check the host name in --broker")]
    UnknownHost {
        /// The address, password hidden.
        url: String,
        /// The resolver's words.
        detail: String,
    },
    /// The broker could not be reached or the connection broke: worth retrying.
    #[error("the broker at {url} cannot be reached: {detail}")]
    Unreachable {
        /// The address, password hidden.
        url: String,
        /// Why.
        detail: String,
    },
    /// The broker answered with an error (out of memory, a read-only replica, a server too
    /// old for streams…).
    #[error("the broker at {url} failed: {detail}")]
    Broker {
        /// The address, password hidden.
        url: String,
        /// The broker's words.
        detail: String,
    },
    /// A job of this name exists with another input.
    #[error(
        "job {job} already exists with another input ({why}); pick another --job name, or delete the old job with `abreast status --delete {job}`"
    )]
    DifferentInput {
        /// The job.
        job: String,
        /// How the inputs differ.
        why: String,
    },
    /// A job of this name exists with other settings (fetch settings, lease or deliveries).
    #[error(
        "job {job} already exists with other {which}; rerun it with the settings it was submitted with, pick another --job name, or delete it with `abreast status --delete {job}`"
    )]
    DifferentSettings {
        /// The job.
        job: String,
        /// What differs: `fetch settings`, `--lease`, `--max-deliveries`, joined by "and".
        which: String,
    },
    /// Another submitter is adding lines to the same job at the same moment.
    #[error(
        "job {job} is being submitted by another process at the same time; wait for it, then rerun"
    )]
    ConcurrentSubmit {
        /// The job.
        job: String,
    },
    /// Another run holds the job's collector claim: only the run that collects a job adds lines
    /// to it, seals it or marks its records collected. A submission's new lines wait until that
    /// run ends or its claim lapses; a collector whose own claim lapsed and was taken over stops.
    #[error(
        "job {job} is being collected by another run, and only the run collecting a job adds lines to it; wait until that run ends, then rerun"
    )]
    OtherCollector {
        /// The job.
        job: String,
    },
    /// The job was deleted while it was in use.
    #[error(
        "job {job} is not on the broker: it was deleted, or the broker restarted without its data (give Redis appendonly yes to keep jobs through a restart)"
    )]
    NoSuchJob {
        /// The job.
        job: String,
    },
    /// Reading the input failed.
    #[error("could not read the input: {0}")]
    Input(#[source] std::io::Error),
}

impl QueueError {
    /// True for failures that may pass if the same call is made again later: the broker is
    /// unreachable, restarting, or loading its data.
    pub fn is_transient(&self) -> bool {
        matches!(self, QueueError::Unreachable { .. })
    }

    /// True for failures after which a submission is made again, from its input's first line,
    /// after a wait: the broker out of reach ([`QueueError::is_transient`]), another run
    /// collecting the job (its lines wait for it), or a count another submitter made stale.
    pub fn resubmit_later(&self) -> bool {
        self.is_transient()
            || matches!(
                self,
                QueueError::OtherCollector { .. } | QueueError::ConcurrentSubmit { .. }
            )
    }

    /// True for a bad address, a bad name, refused credentials or a user the broker's ACL does
    /// not permit what abreast needs: the command line (or the broker's set-up) is wrong.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            QueueError::InvalidUrl { .. }
                | QueueError::InvalidJobName(_)
                | QueueError::Auth { .. }
                | QueueError::NotPermitted { .. }
                | QueueError::Untrusted { .. }
                | QueueError::UnknownHost { .. }
        )
    }

    /// This error of a first connection, with an unreachable broker whose host name the
    /// resolver says does not exist made [`QueueError::UnknownHost`]. The system's resolver
    /// hands its answer on as text ("Name or service not known", glibc's words for
    /// `EAI_NONAME`; "No address associated with hostname" for `EAI_NODATA`; macOS's
    /// "nodename nor servname provided"), so its words are matched; a temporary failure
    /// (`EAI_AGAIN`: no name server answered) stays unreachable.
    pub(crate) fn on_first_connection(self) -> QueueError {
        match self {
            QueueError::Unreachable { url, detail }
                if [
                    "Name or service not known",
                    "No address associated with hostname",
                    "nodename nor servname provided",
                ]
                .iter()
                .any(|words| detail.contains(words)) =>
            {
                QueueError::UnknownHost { url, detail }
            }
            other => other,
        }
    }

    /// Sorts a client error into the kinds above; `url` is the redacted address.
    pub(crate) fn from_redis(url: &str, error: &redis::RedisError) -> QueueError {
        use redis::ErrorKind;
        let code = error.code().unwrap_or("");
        let detail = describe(error);
        let url = url.to_owned();
        if code == "NOPERM" {
            return QueueError::NotPermitted { url, detail };
        }
        if error.kind() == ErrorKind::AuthenticationFailed || matches!(code, "NOAUTH" | "WRONGPASS")
        {
            return QueueError::Auth { url, detail };
        }
        if let Some(why) = refused_certificate(error) {
            return QueueError::Untrusted { url, detail: why };
        }
        // The server's words when the URL's /DB is past its `databases` setting.
        if detail.contains("DB index is out of range") {
            return QueueError::InvalidUrl {
                url,
                why: "the broker has no database of that number (a Redis has 16, /0 to /15, \
                      unless its `databases` setting says more)"
                    .into(),
            };
        }
        let transient = error.is_io_error()
            || error.is_timeout()
            || error.is_connection_dropped()
            || error.is_connection_refusal()
            || matches!(
                code,
                "LOADING" | "MASTERDOWN" | "TRYAGAIN" | "BUSY" | "READONLY"
            )
            || matches!(error.kind(), ErrorKind::Client | ErrorKind::Parse);
        if transient {
            QueueError::Unreachable { url, detail }
        } else if error.kind() == ErrorKind::InvalidClientConfig {
            QueueError::InvalidUrl { url, why: detail }
        } else {
            QueueError::Broker { url, detail }
        }
    }
}

/// rustls's refusal of the broker's certificate, if that is what `error` is. redis-rs hands
/// the handshake's error on as text ("invalid peer certificate: UnknownIssuer"), not as the
/// rustls error: its words are matched.
fn refused_certificate(error: &redis::RedisError) -> Option<String> {
    let text = error.to_string();
    let (_, why) = text.split_once("invalid peer certificate: ")?;
    Some(
        why.split([';', '\n'])
            .next()
            .unwrap_or(why)
            .trim()
            .to_owned(),
    )
}

/// The client error in one line (the client never puts the password in its messages; the
/// address is added by the caller, redacted).
fn describe(error: &redis::RedisError) -> String {
    error.to_string().replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unreachable(detail: &str) -> QueueError {
        QueueError::Unreachable {
            url: "redis://broker.example:6379".into(),
            detail: detail.into(),
        }
    }

    #[test]
    fn a_first_connection_to_a_name_that_does_not_exist_is_a_usage_error() {
        let gone = unreachable("failed to lookup address information: Name or service not known")
            .on_first_connection();
        assert!(matches!(gone, QueueError::UnknownHost { .. }), "{gone:?}");
        assert!(gone.is_usage() && !gone.is_transient());
        assert!(gone.to_string().contains("check the host name"), "{gone}");
        for passing in [
            "failed to lookup address information: Temporary failure in name resolution",
            "Connection refused (os error 111)",
            "timed out",
        ] {
            let error = unreachable(passing).on_first_connection();
            assert!(error.is_transient(), "{passing}: {error:?}");
        }
    }
}

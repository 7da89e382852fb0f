//! TLS for both HTTP stacks: the roots a run trusts, and a failed handshake in words.
//!
//! Both stacks use rustls with ring. The async stack (reqwest) verifies with the platform's
//! verifier, to which `--cacert FILE` adds its certificates as extra roots; the blocking stack
//! (ureq) uses Mozilla's roots (webpki-roots) by default, and with `--cacert` the platform's
//! roots (rustls-native-certs) plus the file's. Each client keeps one rustls configuration for
//! all its connections, so a second connection to a host resumes the first one's TLS session
//! (rustls's in-memory session cache, 256 hosts) instead of a full handshake. `--insecure`
//! turns verification off in both.
//!
//! A certificate that fails verification is a record of kind `tls` whose message names the
//! cause in words ([`describe`]): a certificate for another name, an expired one, or one from
//! an unknown authority, with what to do about it.

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// `--cacert` could not be used.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    /// A PEM block of the file is not well formed.
    #[error(
        "block {number} of the CA file is not valid PEM ({why}): give PEM certificates, each \
         between -----BEGIN CERTIFICATE----- and -----END CERTIFICATE-----"
    )]
    Pem {
        /// Its place in the file, from 1.
        number: usize,
        /// What is wrong with it, in words.
        why: String,
    },
    /// A PEM block of the file is a key or a certificate request, not a certificate.
    #[error(
        "block {number} of the CA file is a {label}, not a certificate: give CA certificates \
         only, each between -----BEGIN CERTIFICATE----- and -----END CERTIFICATE-----"
    )]
    NotCertificate {
        /// Its place in the file, from 1.
        number: usize,
        /// Its kind, as its BEGIN line names it (`PRIVATE KEY`).
        label: String,
    },
    /// The file holds no certificate.
    #[error("the CA file holds no certificate: give one or more PEM certificates")]
    Empty,
    /// A PEM block of the file is not an X.509 certificate.
    #[error(
        "certificate {number} of the CA file is not an X.509 certificate ({why}): give PEM \
         certificates, each between -----BEGIN CERTIFICATE----- and -----END CERTIFICATE-----"
    )]
    Certificate {
        /// Its place in the file, from 1.
        number: usize,
        /// What rustls found wrong with it.
        why: String,
    },
}

/// The certificates of a PEM file (`--cacert`), in DER.
pub fn certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, CaError> {
    // Blocks of another kind are skipped (a CRL, OpenSSL's TRUSTED CERTIFICATE, as system
    // bundles hold them), but a key or a certificate request given by mistake is said.
    let text = String::from_utf8_lossy(pem);
    let labels = text.lines().filter_map(|line| {
        line.trim()
            .strip_prefix("-----BEGIN ")?
            .strip_suffix("-----")
    });
    for (index, label) in labels.enumerate() {
        if label.ends_with("KEY") || label.contains("REQUEST") {
            return Err(CaError::NotCertificate {
                number: index + 1,
                label: label.to_owned(),
            });
        }
    }
    let mut certificates = Vec::new();
    for block in CertificateDer::pem_slice_iter(pem) {
        use rustls::pki_types::pem::Error as E;
        let why = match block {
            Ok(certificate) => {
                certificates.push(certificate);
                continue;
            }
            Err(E::Base64Decode(_)) => "its text between the lines is not base64".to_owned(),
            Err(E::MissingSectionEnd { .. }) => "it has no -----END line".to_owned(),
            Err(E::IllegalSectionStart { .. }) => "its -----BEGIN line is malformed".to_owned(),
            Err(other) => other.to_string(),
        };
        return Err(CaError::Pem {
            number: certificates.len() + 1,
            why,
        });
    }
    if certificates.is_empty() {
        return Err(CaError::Empty);
    }
    // Each must parse as a trust anchor: reqwest refuses a bad one only when its client is
    // built, and ureq not at all (it would trust the rest and say nothing).
    for (index, certificate) in certificates.iter().enumerate() {
        rustls::RootCertStore::empty()
            .add(certificate.clone())
            .map_err(|error| CaError::Certificate {
                number: index + 1,
                why: match error {
                    rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding) => {
                        "its DER encoding does not parse".to_owned()
                    }
                    other => other.to_string(),
                },
            })?;
    }
    Ok(certificates)
}

/// The roots of the blocking stack with `--cacert`: the platform's, then the file's.
pub(crate) fn ureq_roots(pem: &[u8]) -> Result<ureq::tls::RootCerts, CaError> {
    let extra = certificates(pem)?;
    // A platform without a readable store still trusts the given file.
    let platform = rustls_native_certs::load_native_certs().certs;
    let all = platform
        .into_iter()
        .chain(extra)
        .map(|der| ureq::tls::Certificate::from_der(der.as_ref()).to_owned());
    Ok(ureq::tls::RootCerts::from(all))
}

/// The cause of a TLS failure somewhere in `error`'s chain, in words, if there is one.
pub fn describe(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut next = Some(error);
    while let Some(error) = next {
        if let Some(tls) = error.downcast_ref::<rustls::Error>() {
            return Some(in_words(tls));
        }
        // An I/O error carries the TLS error inside it (sometimes inside another I/O error),
        // not as its source.
        next = match error.downcast_ref::<std::io::Error>() {
            Some(io) => match io.get_ref() {
                Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
                None => error.source(),
            },
            None => error.source(),
        };
    }
    None
}

/// A rustls error as a record's message says it.
pub(crate) fn in_words(error: &rustls::Error) -> String {
    use rustls::CertificateError as C;
    // What can be done differs by cause: --cacert helps only an authority not trusted yet.
    let trust = "(--cacert FILE trusts another CA; --insecure skips verification)";
    let name = "(the URL's host must be a name the certificate lists; --insecure skips \
                verification)";
    let clock = "(check this machine's clock too; --insecure skips verification)";
    let skip = "(--insecure skips verification)";
    match error {
        rustls::Error::InvalidCertificate(certificate) => match certificate {
            C::NotValidForNameContext {
                expected,
                presented,
            } => {
                let listed = match presented.as_slice() {
                    [] => "no name".to_owned(),
                    names => names
                        .iter()
                        .map(|presented| bare_name(presented))
                        .collect::<Vec<_>>()
                        .join(", "),
                };
                format!(
                    "the server's certificate is for another name: it lists {listed}, not {} \
                     {name}",
                    expected.to_str()
                )
            }
            C::NotValidForName => format!("the server's certificate is for another name {name}"),
            C::ExpiredContext { not_after, .. } => format!(
                "the server's certificate has expired: it was valid until {} {clock}",
                date(*not_after)
            ),
            C::Expired => format!("the server's certificate has expired {clock}"),
            C::NotValidYetContext { not_before, .. } => format!(
                "the server's certificate is not valid yet: it is valid from {} {clock}",
                date(*not_before)
            ),
            C::NotValidYet => format!("the server's certificate is not valid yet {clock}"),
            C::UnknownIssuer => {
                format!("the server's certificate is signed by an unknown authority {trust}")
            }
            C::Revoked => format!("the server's certificate was revoked {skip}"),
            other => format!("the server's certificate was refused: {other} {trust}"),
        },
        other => format!("the TLS handshake failed: {other}"),
    }
}

/// A name as webpki presents it (`DnsName("a.example")`, `IpAddress(192.0.2.1)`), bare.
fn bare_name(presented: &str) -> &str {
    ["DnsName(\"", "IpAddress("]
        .iter()
        .find_map(|prefix| presented.strip_prefix(prefix))
        .map_or(presented, |inner| {
            inner.trim_end_matches(')').trim_end_matches('"')
        })
}

/// `time` as an HTTP date (`Sat, 01 Jan 2000 00:00:00 GMT`).
fn date(time: rustls::pki_types::UnixTime) -> String {
    httpdate::fmt_http_date(std::time::UNIX_EPOCH + std::time::Duration::from_secs(time.as_secs()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_with_no_certificate_is_refused() {
        assert!(matches!(certificates(b"just text\n"), Err(CaError::Empty)));
        let key_first = b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n\
            -----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let error = certificates(key_first).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("block 1 of the CA file is a PRIVATE KEY, not a certificate"),
            "{error}"
        );
        // A CRL, as system bundles hold them beside their certificates, is skipped.
        let crl_first = b"-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n";
        assert!(matches!(certificates(crl_first), Err(CaError::Empty)));
        let broken = b"-----BEGIN CERTIFICATE-----\n@@@\n-----END CERTIFICATE-----\n";
        assert!(matches!(
            certificates(broken),
            Err(CaError::Pem { number: 1, .. })
        ));
        // The second block broken: named, in words.
        let well_formed = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let error = certificates(&[&well_formed[..], broken].concat()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "block 2 of the CA file is not valid PEM (its text between the lines is not base64): \
             give PEM certificates, each between -----BEGIN CERTIFICATE----- and -----END \
             CERTIFICATE-----"
        );
        // Base64 that decodes, to bytes that are no certificate.
        let not_der = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let error = certificates(not_der).unwrap_err();
        assert!(
            matches!(error, CaError::Certificate { number: 1, .. }),
            "{error}"
        );
        assert!(error.to_string().contains("DER encoding"), "{error}");
    }

    #[test]
    fn certificate_errors_are_named_in_words() {
        let expired = rustls::Error::InvalidCertificate(rustls::CertificateError::Expired);
        let inner = std::io::Error::new(std::io::ErrorKind::InvalidData, expired);
        let wrapped = std::io::Error::other(inner);
        let message = describe(&wrapped).unwrap();
        assert!(message.contains("has expired"), "{message}");
        let unknown = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        assert!(in_words(&unknown).contains("unknown authority"));
        assert!(in_words(&unknown).contains("--cacert"));
        let other_name =
            rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName);
        assert!(!in_words(&other_name).contains("--cacert"));
        let io = std::io::Error::other("plain");
        assert_eq!(describe(&io), None);
        // The cause once, in words: the names the certificate lists, the date it ran out.
        let wrong =
            rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForNameContext {
                expected: rustls::pki_types::ServerName::try_from("a.example").unwrap(),
                presented: vec![
                    "DnsName(\"b.example\")".into(),
                    "IpAddress(192.0.2.1)".into(),
                ],
            });
        assert!(
            in_words(&wrong).starts_with(
                "the server's certificate is for another name: it lists b.example, 192.0.2.1, \
                 not a.example (the URL's host"
            ),
            "{}",
            in_words(&wrong)
        );
        let expired = rustls::Error::InvalidCertificate(rustls::CertificateError::ExpiredContext {
            time: rustls::pki_types::UnixTime::since_unix_epoch(std::time::Duration::from_secs(
                1_796_678_971,
            )),
            not_after: rustls::pki_types::UnixTime::since_unix_epoch(
                std::time::Duration::from_secs(946_684_800),
            ),
        });
        assert!(
            in_words(&expired).starts_with(
                "the server's certificate has expired: it was valid until Sat, 01 Jan 2000 \
                 00:00:00 GMT (check"
            ),
            "{}",
            in_words(&expired)
        );
    }
}

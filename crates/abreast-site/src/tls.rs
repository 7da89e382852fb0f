//! HTTPS for any host name: the site makes its own certificate authority when it starts (rcgen,
//! ECDSA P-256 on ring) and, during each handshake, a leaf certificate for the name the client
//! asked for by SNI, signed by that CA and cached, so `https://h17.site.test:PORT/` and a
//! thousand other names verify against the one CA a client is told to trust. ALPN offers `h2`
//! and `http/1.1`.
//!
//! Two prefixes give certificates that a client must refuse, for its error tests:
//! `expired.` (a leaf that expired in 2000) and `wrong-name.` (a leaf for `wrong-name.invalid`
//! only). A handshake without SNI (a client that connects to `127.0.0.1`) gets a leaf for
//! `localhost`, `127.0.0.1` and `::1`.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, Mutex};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::{ClientHello, ResolvesServerCert, ServerSessionMemoryCache};
use rustls::sign::{CertifiedKey, SigningKey};
use tokio_rustls::TlsAcceptor;

use crate::error::SiteError;

/// The most leaf certificates kept; past it, one cached leaf is dropped for each new name (it is
/// minted again if asked for: about 50 microseconds).
pub(crate) const MAX_CACHED_LEAVES: usize = 16_384;

/// The most TLS sessions the server remembers for resumption (enough for every host of a
/// thousand-host run).
const SESSION_CACHE: usize = 16_384;

/// The prefix of names that get an expired certificate.
pub const EXPIRED_PREFIX: &str = "expired.";

/// The prefix of names that get a certificate for another name (`wrong-name.invalid`).
pub const WRONG_NAME_PREFIX: &str = "wrong-name.";

/// The site's TLS: the acceptor (with the per-name certificate resolver) and the CA's PEM.
pub(crate) struct Tls {
    pub(crate) acceptor: TlsAcceptor,
    pub(crate) ca_pem: String,
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tls").finish_non_exhaustive()
    }
}

impl Tls {
    /// Makes a fresh CA and the server configuration that mints leaves from it.
    pub(crate) fn new() -> Result<Self, SiteError> {
        let ca_key = KeyPair::generate().map_err(tls_error)?;
        let mut params = CertificateParams::default();
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, "abreast test site CA");
        name.push(DnType::OrganizationName, "abreast");
        params.distinguished_name = name;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = params.self_signed(&ca_key).map_err(tls_error)?;
        let ca_pem = ca_cert.pem();
        let ca_der = ca_cert.der().clone();
        let issuer = Issuer::new(params, ca_key);

        // One key for every leaf: minting a leaf is then one signature, not a key generation.
        let leaf_key = KeyPair::generate().map_err(tls_error)?;
        let signing_key = rustls::crypto::ring::sign::any_ecdsa_type(&PrivateKeyDer::Pkcs8(
            PrivatePkcs8KeyDer::from(leaf_key.serialize_der()),
        ))
        .map_err(tls_error)?;
        let resolver = LeafResolver {
            issuer,
            ca_der,
            leaf_key,
            signing_key,
            cache: Mutex::default(),
        };

        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(tls_error)?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(resolver));
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        config.session_storage = ServerSessionMemoryCache::new(SESSION_CACHE);
        Ok(Self {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            ca_pem,
        })
    }
}

fn tls_error(error: impl fmt::Display) -> SiteError {
    SiteError::Tls(error.to_string())
}

/// Answers each handshake with a leaf for its SNI name, minted on first use and cached.
struct LeafResolver {
    issuer: Issuer<'static, KeyPair>,
    ca_der: CertificateDer<'static>,
    leaf_key: KeyPair,
    signing_key: Arc<dyn SigningKey>,
    cache: Mutex<HashMap<String, Arc<CertifiedKey>>>,
}

impl fmt::Debug for LeafResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LeafResolver").finish_non_exhaustive()
    }
}

impl LeafResolver {
    fn mint(&self, name: &str) -> Option<Arc<CertifiedKey>> {
        let mut params = CertificateParams::default();
        let mut subject = DistinguishedName::new();
        if name.is_empty() {
            subject.push(DnType::CommonName, "localhost");
            params.subject_alt_names = vec![
                SanType::DnsName("localhost".try_into().ok()?),
                SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)),
                SanType::IpAddress(IpAddr::V6(Ipv6Addr::LOCALHOST)),
            ];
        } else {
            let certified = if name.starts_with(WRONG_NAME_PREFIX) {
                "wrong-name.invalid"
            } else {
                name
            };
            subject.push(DnType::CommonName, certified);
            params.subject_alt_names = vec![SanType::DnsName(certified.try_into().ok()?)];
            if name.starts_with(EXPIRED_PREFIX) {
                params.not_before = rcgen::date_time_ymd(1999, 1, 1);
                params.not_after = rcgen::date_time_ymd(2000, 1, 1);
            }
        }
        params.distinguished_name = subject;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let leaf = params.signed_by(&self.leaf_key, &self.issuer).ok()?;
        Some(Arc::new(CertifiedKey::new(
            vec![leaf.der().clone(), self.ca_der.clone()],
            Arc::clone(&self.signing_key),
        )))
    }
}

impl ResolvesServerCert for LeafResolver {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let name = client_hello
            .server_name()
            .unwrap_or("")
            .trim_end_matches('.')
            .to_ascii_lowercase();
        if let Some(found) = self.cache.lock().expect("cache lock").get(&name) {
            return Some(Arc::clone(found));
        }
        // Minted outside the lock: two handshakes for one new name may both mint; one wins.
        let minted = self.mint(&name)?;
        let mut cache = self.cache.lock().expect("cache lock");
        if cache.len() >= MAX_CACHED_LEAVES {
            let evicted = cache.keys().next().cloned();
            if let Some(evicted) = evicted {
                cache.remove(&evicted);
            }
        }
        cache.insert(name, Arc::clone(&minted));
        Some(minted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mints_a_leaf_per_name_and_caches_it() {
        let tls = Tls::new().unwrap();
        assert!(tls.ca_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        let resolver = LeafResolver {
            issuer: Issuer::new(CertificateParams::default(), KeyPair::generate().unwrap()),
            ca_der: CertificateDer::from(vec![1, 2, 3]),
            leaf_key: KeyPair::generate().unwrap(),
            signing_key: rustls::crypto::ring::sign::any_ecdsa_type(&PrivateKeyDer::Pkcs8(
                PrivatePkcs8KeyDer::from(KeyPair::generate().unwrap().serialize_der()),
            ))
            .unwrap(),
            cache: Mutex::default(),
        };
        for name in [
            "h1.site.test",
            "",
            "expired.site.test",
            "wrong-name.site.test",
        ] {
            let leaf = resolver.mint(name).unwrap();
            assert_eq!(leaf.cert.len(), 2, "{name}: the leaf and the CA");
        }
        assert!(resolver.mint("caf\u{e9}.site.test").is_none(), "not ASCII");
    }
}

//! The site's name server: a small authoritative DNS server (UDP and TCP on one port) that
//! answers `A 127.0.0.1` and `AAAA ::1` for the site's domain and every name under it, so a
//! client can fetch `https://h17.site.test:PORT/` with no network and no hosts file. Other
//! names get NXDOMAIN; other record types under the domain get an empty answer. Every query is
//! counted per (name, type), so tests and the bench can check a client's DNS caching.
//!
//! Messages are read and written with hickory-proto; answers carry [`DNS_TTL`], and negative
//! answers under the domain carry an SOA whose minimum is that TTL too.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, SOA};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio_util::task::TaskTracker;

use crate::error::SiteError;
use crate::server::Shared;

/// The time to live of every answer, in seconds: five minutes.
pub const DNS_TTL: u32 = 300;

/// How many times binding UDP and TCP to one free port is tried before giving up (another
/// program may take the TCP port between the two binds).
const BIND_TRIES: usize = 20;

/// Checks a domain and returns it lowercased, without a trailing dot.
pub(crate) fn normalize_domain(domain: &str) -> Result<String, SiteError> {
    let trimmed = domain.trim().trim_end_matches('.').to_ascii_lowercase();
    let invalid = |reason: &str| SiteError::Domain {
        domain: domain.to_owned(),
        reason: reason.to_owned(),
    };
    if trimmed.is_empty() {
        return Err(invalid("it is empty"));
    }
    if !trimmed
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    {
        return Err(invalid(
            "only ASCII letters, digits, '-' and '.' may appear in it",
        ));
    }
    if trimmed.split('.').any(str::is_empty) {
        return Err(invalid(
            "a label is empty (two dots together, or a leading dot)",
        ));
    }
    if let Some(label) = trimmed.split('.').find(|label| label.len() > 63) {
        return Err(invalid(&format!(
            "the label {label:?} is longer than the 63 bytes a label may have"
        )));
    }
    Name::from_ascii(&trimmed).map_err(|error| invalid(&error.to_string()))?;
    Ok(trimmed)
}

/// Binds UDP and TCP on the same port of `addr` (a free one for port 0).
pub(crate) async fn bind(addr: SocketAddr) -> Result<(UdpSocket, TcpListener), SiteError> {
    let error = |source| SiteError::Bind { addr, source };
    let mut last = None;
    for _ in 0..BIND_TRIES {
        let udp = UdpSocket::bind(addr).await.map_err(error)?;
        let bound = udp.local_addr().map_err(error)?;
        match TcpListener::bind(bound).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(source) if addr.port() == 0 => last = Some(source),
            Err(source) => return Err(error(source)),
        }
    }
    Err(error(last.expect("tried at least once")))
}

/// Answers UDP queries until shutdown.
pub(crate) async fn serve_udp(socket: UdpSocket, shared: Arc<Shared>) {
    let mut buffer = vec![0u8; 4096];
    loop {
        let received = tokio::select! {
            _ = shared.shutdown.cancelled() => return,
            received = socket.recv_from(&mut buffer) => received,
        };
        let Ok((length, peer)) = received else {
            continue;
        };
        if let Some(mut reply) = answer(&buffer[..length], &shared) {
            if reply.len() > 512 {
                reply = truncated(&buffer[..length]).unwrap_or_default();
            }
            let _ = socket.send_to(&reply, peer).await;
        }
    }
}

/// Accepts TCP connections until shutdown; each carries length-prefixed queries.
pub(crate) async fn serve_tcp(listener: TcpListener, shared: Arc<Shared>, tracker: TaskTracker) {
    loop {
        let accepted = tokio::select! {
            _ = shared.shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        if let Ok((stream, _)) = accepted {
            tracker.spawn(serve_tcp_connection(stream, Arc::clone(&shared)));
        }
    }
}

async fn serve_tcp_connection(mut stream: TcpStream, shared: Arc<Shared>) {
    let mut buffer = Vec::new();
    loop {
        let mut length = [0u8; 2];
        let read = tokio::select! {
            _ = shared.shutdown.cancelled() => return,
            read = stream.read_exact(&mut length) => read,
        };
        if read.is_err() {
            return;
        }
        buffer.resize(usize::from(u16::from_be_bytes(length)), 0);
        if stream.read_exact(&mut buffer).await.is_err() {
            return;
        }
        let Some(reply) = answer(&buffer, &shared) else {
            return;
        };
        let Ok(reply_length) = u16::try_from(reply.len()) else {
            return;
        };
        let mut framed = Vec::with_capacity(reply.len() + 2);
        framed.extend_from_slice(&reply_length.to_be_bytes());
        framed.extend_from_slice(&reply);
        if stream.write_all(&framed).await.is_err() {
            return;
        }
    }
}

/// The reply to one query message, or `None` for bytes too short to hold a DNS header.
fn answer(query: &[u8], shared: &Shared) -> Option<Vec<u8>> {
    let Ok(request) = Message::from_vec(query) else {
        return error_reply(query, ResponseCode::FormErr);
    };
    if request.metadata.message_type != MessageType::Query {
        return None;
    }
    let mut reply = Message::response(request.metadata.id, request.metadata.op_code);
    reply.metadata.recursion_desired = request.metadata.recursion_desired;
    reply.metadata.authoritative = true;
    if request.metadata.op_code != OpCode::Query {
        reply.metadata.response_code = ResponseCode::NotImp;
        return reply.to_vec().ok();
    }
    let [question] = request.queries.as_slice() else {
        reply.metadata.response_code = ResponseCode::FormErr;
        return reply.to_vec().ok();
    };
    reply.add_query(question.clone());
    let name = question.name.to_lowercase().to_ascii();
    let name = name.trim_end_matches('.');
    let domain = shared.config.domain.as_str();
    shared
        .counters
        .count_dns_query(name, &question.query_type.to_string());
    let inside = name == domain
        || (name.ends_with(domain) && name[..name.len() - domain.len()].ends_with('.'));
    if !inside {
        reply.metadata.response_code = ResponseCode::NXDomain;
        return reply.to_vec().ok();
    }
    let data = match question.query_type {
        RecordType::A => Some(RData::A(A::from(Ipv4Addr::LOCALHOST))),
        RecordType::AAAA => Some(RData::AAAA(AAAA::from(Ipv6Addr::LOCALHOST))),
        _ => None,
    };
    match data {
        Some(data) => {
            reply.add_answer(Record::from_rdata(question.name.clone(), DNS_TTL, data));
        }
        None => {
            // No data of this type: say so, with the SOA that tells how long to remember it.
            let zone = Name::from_ascii(domain).ok()?;
            let soa = SOA::new(
                Name::from_ascii(format!("ns.{domain}")).ok()?,
                Name::from_ascii(format!("hostmaster.{domain}")).ok()?,
                1,
                DNS_TTL as i32,
                DNS_TTL as i32,
                DNS_TTL as i32 * 10,
                DNS_TTL,
            );
            reply.add_authority(Record::from_rdata(zone, DNS_TTL, RData::SOA(soa)));
        }
    }
    reply.to_vec().ok()
}

/// An empty reply with this code to a message that could not be read, if it has an id.
fn error_reply(query: &[u8], code: ResponseCode) -> Option<Vec<u8>> {
    let id = u16::from_be_bytes([*query.first()?, *query.get(1)?]);
    query.get(11)?;
    Message::error_msg(id, OpCode::Query, code).to_vec().ok()
}

/// The truncated form of the reply (TC set, no records), telling the client to ask over TCP.
fn truncated(query: &[u8]) -> Option<Vec<u8>> {
    let request = Message::from_vec(query).ok()?;
    let mut reply = Message::response(request.metadata.id, request.metadata.op_code);
    reply.metadata.truncation = true;
    reply.metadata.authoritative = true;
    reply.add_queries(request.queries);
    reply.to_vec().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_and_checks_the_domain() {
        assert_eq!(normalize_domain("Site.Test.").unwrap(), "site.test");
        assert!(normalize_domain("").is_err());
        assert!(normalize_domain("caf\u{e9}.test").is_err());
        assert!(normalize_domain("a b.test").is_err());
        let error = normalize_domain("bad..name").unwrap_err().to_string();
        assert!(error.contains("a label is empty"), "{error}");
    }
}

//! The site's name server: A and AAAA answers with the loopback address for every name under
//! the domain (any case), an empty answer with an SOA for other types there, NXDOMAIN outside
//! it, the same over TCP, and the per-(name, type) counts.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use abreast_site::{DNS_TTL, RunningSite, Site, SiteConfig, SiteError};
use hickory_proto::op::{Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

async fn dns_site(domain: &str) -> RunningSite {
    let loopback = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    Site::start(
        SiteConfig::default()
            .page_size(2048)
            .dns(Some(loopback))
            .domain(domain),
    )
    .await
    .unwrap()
}

fn query(name: &str, record_type: RecordType) -> Message {
    let mut message = Message::query();
    message.metadata.recursion_desired = true;
    message.add_query(Query::query(Name::from_ascii(name).unwrap(), record_type));
    message
}

async fn ask_udp(server: SocketAddr, name: &str, record_type: RecordType) -> Message {
    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let sent = query(name, record_type);
    socket
        .send_to(&sent.to_vec().unwrap(), server)
        .await
        .unwrap();
    let mut buffer = [0u8; 1500];
    let (length, _) = socket.recv_from(&mut buffer).await.unwrap();
    let reply = Message::from_vec(&buffer[..length]).unwrap();
    assert_eq!(reply.metadata.id, sent.metadata.id);
    assert!(reply.metadata.authoritative);
    assert_eq!(reply.queries, sent.queries, "the question is echoed");
    reply
}

fn addresses(reply: &Message) -> Vec<IpAddr> {
    reply
        .answers
        .iter()
        .map(|record| {
            assert_eq!(record.ttl, DNS_TTL);
            match &record.data {
                RData::A(a) => IpAddr::V4(Ipv4Addr::from(*a)),
                RData::AAAA(aaaa) => IpAddr::V6(Ipv6Addr::from(*aaaa)),
                other => panic!("unexpected record {other:?}"),
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_loopback_under_the_domain_and_nxdomain_outside_it() {
    let site = dns_site("site.test").await;
    let server = site.dns_addr().expect("the DNS server runs");
    assert_eq!(server.ip(), IpAddr::V4(Ipv4Addr::LOCALHOST));

    let a = ask_udp(server, "h17.site.test.", RecordType::A).await;
    assert_eq!(a.metadata.response_code, ResponseCode::NoError);
    assert_eq!(addresses(&a), [IpAddr::V4(Ipv4Addr::LOCALHOST)]);
    let aaaa = ask_udp(server, "h17.site.test.", RecordType::AAAA).await;
    assert_eq!(addresses(&aaaa), [IpAddr::V6(Ipv6Addr::LOCALHOST)]);
    // Any case, and the domain itself.
    let upper = ask_udp(server, "H17.SITE.TEST.", RecordType::A).await;
    assert_eq!(addresses(&upper), [IpAddr::V4(Ipv4Addr::LOCALHOST)]);
    let apex = ask_udp(server, "site.test.", RecordType::A).await;
    assert_eq!(addresses(&apex), [IpAddr::V4(Ipv4Addr::LOCALHOST)]);

    // No MX under the domain: an empty answer, with the SOA that says how long to remember it.
    let mx = ask_udp(server, "h17.site.test.", RecordType::MX).await;
    assert_eq!(mx.metadata.response_code, ResponseCode::NoError);
    assert!(mx.answers.is_empty());
    assert!(matches!(mx.authorities[0].data, RData::SOA(_)));

    for outside in ["h1.example.invalid.", "notsite.test.", "site.test.example."] {
        let reply = ask_udp(server, outside, RecordType::A).await;
        assert_eq!(
            reply.metadata.response_code,
            ResponseCode::NXDomain,
            "{outside}"
        );
        assert!(reply.answers.is_empty());
    }

    let counters = site.counters();
    assert_eq!(counters.dns_queries_for("h17.site.test", "A"), 2);
    assert_eq!(counters.dns_queries_for("H17.site.test.", "a"), 2);
    assert_eq!(counters.dns_queries_for("h17.site.test", "AAAA"), 1);
    assert_eq!(counters.dns_queries_for("h17.site.test", "MX"), 1);
    assert_eq!(counters.dns_queries_for("h1.example.invalid", "A"), 1);
    assert_eq!(counters.dns_queries(), 8);
    assert_eq!(counters.dns_query_counts().len(), 7);
    site.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_over_tcp_for_a_configured_domain() {
    let site = dns_site("Corp.Test.").await;
    assert_eq!(site.domain(), "corp.test");
    let mut stream = TcpStream::connect(site.dns_addr().unwrap()).await.unwrap();
    for (name, code) in [
        ("a.b.corp.test.", ResponseCode::NoError),
        ("a.site.test.", ResponseCode::NXDomain),
    ] {
        let sent = query(name, RecordType::A).to_vec().unwrap();
        let mut framed = u16::try_from(sent.len()).unwrap().to_be_bytes().to_vec();
        framed.extend_from_slice(&sent);
        stream.write_all(&framed).await.unwrap();
        let length = stream.read_u16().await.unwrap();
        let mut reply = vec![0u8; usize::from(length)];
        stream.read_exact(&mut reply).await.unwrap();
        let reply = Message::from_vec(&reply).unwrap();
        assert_eq!(reply.metadata.response_code, code, "{name}");
    }
    assert_eq!(site.counters().dns_queries_for("a.b.corp.test", "A"), 1);
    site.shutdown().await;
}

#[tokio::test]
async fn refuses_a_domain_that_is_not_a_name() {
    for domain in ["", "caf\u{e9}.test", "a b"] {
        let error = Site::start(SiteConfig::default().domain(domain))
            .await
            .unwrap_err();
        assert!(
            matches!(error, SiteError::Domain { .. }),
            "{domain}: {error}"
        );
        assert!(error.to_string().contains("site.test"), "{error}");
    }
}

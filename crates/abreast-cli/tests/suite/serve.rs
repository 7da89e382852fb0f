//! `abreast serve`: prints its base URL first, serves pages, and stops on Ctrl-C.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

#[test]
fn serves_pages_until_ctrl_c() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_abreast"))
        .args([
            "serve",
            "--pages",
            "10",
            "--page-size",
            "4K",
            "--threads",
            "1",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut base = String::new();
    stdout.read_line(&mut base).unwrap();
    let base = base.trim();
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    let address = base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .write_all(b"GET /page/3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("<title>Page 3</title>"));
    // SAFETY: kill has no memory-safety preconditions; the pid is our own child's.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(stderr.contains("stopped after"), "{stderr}");
}

/// Sends SIGINT to the child and waits for it; returns its stderr.
fn interrupt(mut child: std::process::Child) -> String {
    // SAFETY: kill has no memory-safety preconditions; the pid is our own child's.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    stderr
}

/// A TLS connection to `addr` for `host`, trusting the CA in `ca_pem`, offering `alpn`.
fn tls_connect(
    addr: std::net::SocketAddr,
    host: &str,
    ca_pem: &[u8],
    alpn: &[u8],
) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![alpn.to_vec()];
    let name = rustls::pki_types::ServerName::try_from(host.to_owned()).unwrap();
    let mut connection = rustls::ClientConnection::new(std::sync::Arc::new(config), name).unwrap();
    let mut tcp = TcpStream::connect(addr).unwrap();
    while connection.is_handshaking() {
        connection.complete_io(&mut tcp).unwrap();
    }
    rustls::StreamOwned::new(connection, tcp)
}

/// Asks the DNS server at `server` for `name`'s records of `record_type` over UDP.
fn dns_query(
    server: std::net::SocketAddr,
    name: &str,
    record_type: hickory_proto::rr::RecordType,
) -> hickory_proto::op::Message {
    use hickory_proto::op::{Message, Query};
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    let mut query = Message::query();
    query.add_query(Query::query(
        hickory_proto::rr::Name::from_ascii(name).unwrap(),
        record_type,
    ));
    socket.send_to(&query.to_vec().unwrap(), server).unwrap();
    let mut buffer = [0u8; 1500];
    let (length, _) = socket.recv_from(&mut buffer).unwrap();
    Message::from_vec(&buffer[..length]).unwrap()
}

#[test]
fn serves_https_for_any_name_with_its_own_ca_and_dns() {
    use hickory_proto::op::ResponseCode;
    use hickory_proto::rr::{RData, RecordType};
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    let mut child = Command::new(env!("CARGO_BIN_EXE_abreast"))
        .args([
            "serve",
            "--pages",
            "10",
            "--page-size",
            "4K",
            "--threads",
            "1",
        ])
        .args(["--tls", "--dns", "0", "--ca-out"])
        .arg(&ca)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut lines = Vec::new();
    for _ in 0..3 {
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        lines.push(line.trim().to_owned());
    }
    let port: u16 = lines[0]
        .strip_prefix("https://site.test:")
        .unwrap_or_else(|| panic!("{lines:?}"))
        .parse()
        .unwrap();
    let dns: std::net::SocketAddr = lines[1].strip_prefix("dns ").unwrap().parse().unwrap();
    assert_eq!(lines[2], format!("ca {}", ca.display()));
    let ca_pem = std::fs::read(&ca).unwrap();
    let site = std::net::SocketAddr::from(([127, 0, 0, 1], port));

    // The names resolve to the site through its DNS server; others do not.
    let a = dns_query(dns, "h17.site.test.", RecordType::A);
    assert!(matches!(&a.answers[..], [record] if matches!(record.data, RData::A(_))));
    let aaaa = dns_query(dns, "h17.site.test.", RecordType::AAAA);
    assert!(matches!(&aaaa.answers[..], [record] if matches!(record.data, RData::AAAA(_))));
    let outside = dns_query(dns, "h17.example.invalid.", RecordType::A);
    assert_eq!(outside.metadata.response_code, ResponseCode::NXDomain);

    // h2 is negotiated when offered.
    let h2 = tls_connect(site, "h17.site.test", &ca_pem, b"h2");
    assert_eq!(h2.conn.alpn_protocol(), Some(&b"h2"[..]));
    drop(h2);
    // A page over HTTPS, HTTP/1.1.
    let mut stream = tls_connect(site, "h17.site.test", &ca_pem, b"http/1.1");
    stream
        .write_all(b"GET /page/3 HTTP/1.1\r\nHost: h17.site.test\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut response = Vec::new();
    // The site closes the connection after the response (Connection: close); whether it sends
    // TLS's close_notify first does not matter here, so the read's end is kept only to say
    // what happened if the response is not there.
    let ended = stream.read_to_end(&mut response);
    let response = String::from_utf8_lossy(&response);
    assert!(
        response.starts_with("HTTP/1.1 200"),
        "the read ended with {ended:?} after {} bytes: {response}",
        response.len()
    );
    assert!(response.contains("<title>Page 3</title>"));

    let stderr = interrupt(child);
    assert!(
        stderr.contains("2 TLS connections to 1 host names, 3 DNS queries"),
        "{stderr}"
    );
}

#[test]
fn ca_out_needs_tls() {
    let output = Command::new(env!("CARGO_BIN_EXE_abreast"))
        .args(["serve", "--ca-out", "ca.pem"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--tls"), "{stderr}");
}

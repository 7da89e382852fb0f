//! The integration tests of abreast-site: one binary that starts real sites on 127.0.0.1:0 and
//! talks to them with a small raw HTTP/1.1 client, so that every byte (and every reset) the
//! server sends is visible; over TLS with rustls and hyper's HTTP/2 client; and to the site's
//! name server with hickory-proto messages over UDP and TCP.

mod client;
mod dns;
mod faults;
mod lifecycle;
mod pages;
mod tls;

//! The integration tests of abreast-site: one binary that starts real sites on 127.0.0.1:0 and
//! talks to them with a small raw HTTP/1.1 client, so that every byte (and every reset) the
//! server sends is visible.

mod client;
mod faults;
mod lifecycle;
mod pages;

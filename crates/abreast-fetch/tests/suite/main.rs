//! Integration tests of the fetch pipeline against the local test site (abreast-site) on
//! 127.0.0.1: every fault in every mode, the nothing-lost invariant, resume and shards, HTTPS,
//! DNS and HTTP/2 through the site's CA and name server, robots.txt.

mod faults;
mod library;
mod open_web;
mod resume_and_shards;
mod robots;
mod support;

//! Integration tests of the fetch pipeline against the local test site (abreast-site) on
//! 127.0.0.1: every fault in every mode, the nothing-lost invariant, resume and shards.

mod faults;
mod library;
mod resume_and_shards;
mod support;

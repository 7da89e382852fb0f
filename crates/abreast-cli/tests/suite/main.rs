//! End-to-end tests of the `abreast` binary: one test binary, one module per subcommand, and
//! helpers that run the binary and capture what it prints.

mod bench;
mod broker;
mod extract;
mod fetch;
mod open_web;
mod serve;
mod util;

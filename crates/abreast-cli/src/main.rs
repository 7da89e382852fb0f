//! The `abreast` command-line tool.
fn main() {}

//! abreast's criterion benchmarks live in `benches/`; this library is empty on purpose.
//!
//! Run them with `cargo bench -p abreast-benches`. Each bench file opens with a note on what it
//! measures; `abreast bench` measures the same cases from the command line.

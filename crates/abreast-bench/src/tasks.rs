//! The process-pool tasks of the bench: the same work the other mechanisms do in-process,
//! registered with `#[abreast::task]` so worker processes (this binary, started again) can run
//! them.

/// A trivial task, for per-task overhead.
#[abreast::task]
pub fn echo(number: u64) -> u64 {
    std::hint::black_box(number)
}

/// The metadata extraction of the cpu suite, on a page sent to the worker (as bytes, not as a
/// sequence of numbers: serde_bytes lets the codec copy it whole).
#[abreast::task]
pub fn count_metas_task(page: serde_bytes::ByteBuf) -> usize {
    crate::cpu::count_metas(&page)
}

/// The compute task of the cpu suite.
#[abreast::task]
pub fn sum_of_squares_task(number: u64) -> u64 {
    crate::cpu::sum_of_squares(number)
}

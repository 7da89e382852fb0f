//! Integration tests of abreast's thread pool and coroutines: one test binary, one module per
//! mechanism (the process pool has its own binary, since the binary is also its worker).

mod coroutines;
mod threads;

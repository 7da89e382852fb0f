//! abreast runs many tasks side by side: threads, coroutines and processes.
#![deny(missing_docs)]

//! Integration tests of abreast-meta, one binary: the table of tricky
//! documents, the charset order, limits, and property tests.

mod charset;
mod derived;
mod limits;
mod properties;
mod tricky;

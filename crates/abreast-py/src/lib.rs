//! `abreast._abreast`, the native half of the Python package `abreast`: abreast's fetch
//! pipeline, its metadata extractor and its test site, callable from Python with the GIL released
//! whenever Rust works or waits.
//!
//! The Python half (`python/abreast/`) checks the options and gives the friendly signatures;
//! this module does the work:
//!
//! | Python | here |
//! |---|---|
//! | `abreast.extract(html, url=, content_type=)` | [`extract::extract`] |
//! | `abreast.extract_many(pages, workers=)` | [`extract::ExtractMany`], on an [`abreast::threads::ThreadPool`] |
//! | `abreast.fetch(urls, ...)`, `abreast.afetch(urls, ...)` | [`fetch::FetchRun`], on [`abreast_fetch::fetch`] |
//! | `abreast.fetch(urls, broker=..., job=...)` (and `afetch`) | [`broker::BrokerRun`], on [`abreast_queue`] |
//! | `abreast.testing.TestSite` | [`site::TestSite`], an [`abreast_site::BackgroundSite`] |
//!
//! Results reach Python through serde ([`convert`]), so a field added to a page's metadata
//! or to a fetch record appears in the Python dicts with no change here.

mod broker;
mod convert;
mod extract;
mod fetch;
mod site;

use pyo3::prelude::*;

/// The native part of abreast; import `abreast`, not this module.
#[pymodule]
fn _abreast(module: &Bound<'_, PyModule>) -> PyResult<()> {
    // abreast's TLS choices for every connection, a broker's too (see the CLI's `main`).
    abreast_fetch::install_tls_crypto_provider();
    module.add_function(wrap_pyfunction!(extract::extract, module)?)?;
    module.add_class::<extract::ExtractMany>()?;
    module.add_class::<fetch::FetchRun>()?;
    module.add_class::<broker::BrokerRun>()?;
    module.add_function(wrap_pyfunction!(fetch::serve_as_worker, module)?)?;
    module.add("FetchError", module.py().get_type::<fetch::FetchError>())?;
    module.add_class::<site::TestSite>()?;
    module.add("__version__", env!("CARGO_PKG_VERSION"))?;
    // How this module was built: `maturin develop` makes a debug build, many times slower,
    // which `abreast bench --with-python` notes beside its figures.
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    module.add("BUILD_PROFILE", profile)?;
    Ok(())
}

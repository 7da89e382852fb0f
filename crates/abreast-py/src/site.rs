//! `abreast.testing.TestSite`'s native half: abreast's test web site
//! ([`abreast_site::BackgroundSite`]) on 127.0.0.1, on its own thread and runtime, with its
//! optional HTTPS for any host name and its name server for the site's domain.

use std::sync::Mutex;
use std::time::Duration;

use abreast_site::{BackgroundSite, Latency, Site, SiteConfig};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

/// The test site: deterministic pages at `/page/N` and fault routes under `/fault/`.
#[pyclass(module = "abreast._abreast")]
pub(crate) struct TestSite {
    site: Mutex<Option<BackgroundSite>>,
    base_url: String,
}

impl TestSite {
    /// Runs `f` on the running site, or says that it was closed.
    fn with_site<T>(&self, f: impl FnOnce(&BackgroundSite) -> T) -> PyResult<T> {
        let site = self.site.lock().unwrap_or_else(|p| p.into_inner());
        match site.as_ref() {
            Some(site) => Ok(f(site)),
            None => Err(PyRuntimeError::new_err(
                "the test site is closed; start a new TestSite",
            )),
        }
    }
}

/// Seconds as a [`Duration`], or a ValueError naming `what`.
fn seconds(value: f64, what: &str) -> PyResult<Duration> {
    Duration::try_from_secs_f64(value).map_err(|_| {
        PyValueError::new_err(format!(
            "TestSite: {what} must be a finite number of seconds >= 0, e.g. 0.05; got {value}"
        ))
    })
}

#[pymethods]
impl TestSite {
    /// Starts the site on 127.0.0.1 (port `port`, 0 for any free one). Each request waits
    /// between `latency_low` and `latency_high` seconds first (uniformly drawn; equal bounds
    /// give a fixed wait).
    ///
    /// With `tls`, the same port serves HTTPS for any host name (a CA made at start, h2 and
    /// http/1.1 by ALPN); with `dns`, a name server on another free port of 127.0.0.1 answers
    /// `A 127.0.0.1` and `AAAA ::1` for `domain` and every name under it.
    #[new]
    #[pyo3(signature = (pages, page_size, latency_low, latency_high, seed, port, tls=false, dns=false, domain="site.test"))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        pages: u64,
        page_size: usize,
        latency_low: f64,
        latency_high: f64,
        seed: u64,
        port: u16,
        tls: bool,
        dns: bool,
        domain: &str,
    ) -> PyResult<Self> {
        let low = seconds(latency_low, "latency")?;
        let high = seconds(latency_high, "latency")?;
        let latency = if high.is_zero() {
            Latency::None
        } else if low == high {
            Latency::Fixed(low)
        } else if low < high {
            Latency::Uniform(low, high)
        } else {
            return Err(PyValueError::new_err(format!(
                "TestSite: latency=(low, high) needs low <= high, e.g. (0.02, 0.08); got \
                 ({latency_low}, {latency_high})"
            )));
        };
        let config = SiteConfig::default()
            .pages(pages)
            .page_size(page_size)
            .latency(latency)
            .seed(seed)
            .addr(std::net::SocketAddr::from(([127, 0, 0, 1], port)))
            .tls(tls)
            .dns(dns.then(|| std::net::SocketAddr::from(([127, 0, 0, 1], 0))))
            .domain(domain);
        let site = py
            .detach(|| Site::start_in_background(config))
            .map_err(|error| PyRuntimeError::new_err(format!("TestSite: {error}")))?;
        Ok(TestSite {
            base_url: site.base_url().to_owned(),
            site: Mutex::new(Some(site)),
        })
    }

    /// `http://127.0.0.1:PORT`, with no trailing slash.
    #[getter]
    fn base_url(&self) -> &str {
        &self.base_url
    }

    /// With TLS: `https://DOMAIN:PORT`, with no trailing slash; `None` without.
    #[getter]
    fn https_base_url(&self) -> PyResult<Option<String>> {
        self.with_site(|site| site.https_base_url().map(str::to_owned))
    }

    /// With TLS: the PEM of the CA that signs the site's certificates; `None` without.
    #[getter]
    fn ca_pem(&self) -> PyResult<Option<String>> {
        self.with_site(|site| site.ca_pem().map(str::to_owned))
    }

    /// With DNS: the name server's `(host, port)` (UDP and TCP); `None` without.
    #[getter]
    fn dns_address<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyTuple>>> {
        let addr = self.with_site(|site| site.dns_addr())?;
        addr.map(|addr| {
            PyTuple::new(
                py,
                [
                    addr.ip().to_string().into_pyobject(py)?.into_any(),
                    addr.port().into_pyobject(py)?.into_any(),
                ],
            )
        })
        .transpose()
    }

    /// The site's domain, lowercased, without a final dot.
    #[getter]
    fn domain(&self) -> PyResult<String> {
        self.with_site(|site| site.domain().to_owned())
    }

    /// TLS connections (completed handshakes) per SNI host name.
    fn tls_connections<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let hosts = self.with_site(|site| site.counters().tls_hosts())?;
        let dict = PyDict::new(py);
        for (host, count) in hosts {
            dict.set_item(host, count)?;
        }
        Ok(dict)
    }

    /// DNS queries per `(name, type)`, e.g. `{("h1.site.test", "A"): 1}`.
    fn dns_queries<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let counts = self.with_site(|site| site.counters().dns_query_counts())?;
        let dict = PyDict::new(py);
        for (name, kind, count) in counts {
            dict.set_item((name, kind), count)?;
        }
        Ok(dict)
    }

    /// Requests served so far.
    fn requests(&self) -> PyResult<u64> {
        self.with_site(|site| site.counters().requests())
    }

    /// Connections accepted so far.
    fn connections(&self) -> PyResult<u64> {
        self.with_site(|site| site.counters().connections())
    }

    /// Requests served so far per route kind (`"page"`, `"fault_stall"`, ...).
    fn route_counts<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let routes = self.with_site(|site| site.counters().routes())?;
        let dict = PyDict::new(py);
        for (kind, count) in routes {
            dict.set_item(kind.name(), count)?;
        }
        Ok(dict)
    }

    /// How many requests `/fault/flaky/KEY` has seen for `key`.
    fn flaky_attempts(&self, key: &str) -> PyResult<u64> {
        self.with_site(|site| site.flaky_attempts(key))
    }

    /// Stops the site and joins its thread; closing twice is harmless.
    fn close(&self, py: Python<'_>) {
        let site = self.site.lock().unwrap_or_else(|p| p.into_inner()).take();
        py.detach(move || drop(site));
    }
}

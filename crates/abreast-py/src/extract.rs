//! Extraction from Python: one page with [`extract`], many on a thread pool with
//! [`ExtractMany`]. Both read `bytes` (the encoding is sniffed as a browser does) or `str`
//! (already decoded: read as UTF-8), and release the GIL while the extractor runs.

use std::collections::VecDeque;
use std::sync::Mutex;

use abreast::TaskHandle;
use abreast::threads::ThreadPool;
use abreast_meta::PageMeta;
use pyo3::exceptions::{PyRuntimeError, PyTypeError};
use pyo3::prelude::*;
use pyo3::pybacked::{PyBackedBytes, PyBackedStr};
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyIterator, PyString, PyTuple};

use crate::convert::to_python;

/// The content type a `str` page is read with: its text is already decoded, and is handed to
/// the extractor as UTF-8.
const UTF8_HTML: &str = "text/html; charset=utf-8";

/// A page's body as the extractor takes it: the Python object's own bytes, held without a
/// copy (a `bytearray`, which may change, is copied once), so that it can cross to another
/// thread while the GIL is released.
struct PageInput {
    body: PageBody,
    content_type: Option<String>,
}

/// The bytes of a page given as `bytes`/`bytearray`, or the UTF-8 of one given as `str`.
enum PageBody {
    Bytes(PyBackedBytes),
    Text(PyBackedStr),
}

impl PageBody {
    fn as_bytes(&self) -> &[u8] {
        match self {
            PageBody::Bytes(bytes) => bytes,
            PageBody::Text(text) => text.as_bytes(),
        }
    }
}

/// Reads `html` (bytes, bytearray or str) into a body the extractor can read without the GIL,
/// with the content type to use.
fn page_input(
    html: &Bound<'_, PyAny>,
    content_type: Option<String>,
    what: impl Fn() -> String,
) -> PyResult<PageInput> {
    if html.is_instance_of::<PyBytes>() || html.is_instance_of::<PyByteArray>() {
        return Ok(PageInput {
            body: PageBody::Bytes(html.extract()?),
            content_type,
        });
    }
    if html.is_instance_of::<PyString>() {
        if content_type.is_some() {
            return Err(PyTypeError::new_err(format!(
                "{}: content_type applies to bytes only (a str is already decoded and is read \
                 as UTF-8); pass the body as bytes, e.g. response.content, to have its charset used",
                what()
            )));
        }
        return Ok(PageInput {
            body: PageBody::Text(html.extract()?),
            content_type: Some(UTF8_HTML.to_owned()),
        });
    }
    Err(PyTypeError::new_err(format!(
        "{}: html must be bytes or str, e.g. b\"<title>Hi</title>\", not {}",
        what(),
        html.get_type().name()?
    )))
}

/// The dict of one page: its metadata's fields under the names every abreast record uses,
/// plus `url` (the page's address as given, or None) and `truncated` (reading stopped before
/// the end of the page), the two record fields that apply to a page handed over in memory.
fn page_dict<'py>(
    py: Python<'py>,
    page: &PageMeta,
    url: Option<&str>,
) -> PyResult<Bound<'py, PyAny>> {
    let object = to_python(py, page)?;
    let dict = object.cast::<PyDict>()?;
    dict.set_item("url", url)?;
    dict.set_item("truncated", !page.end.is_complete())?;
    Ok(object)
}

/// Extracts one page's metadata (see `abreast.extract`).
#[pyfunction]
#[pyo3(signature = (html, *, url = None, content_type = None))]
pub(crate) fn extract<'py>(
    py: Python<'py>,
    html: &Bound<'py, PyAny>,
    url: Option<String>,
    content_type: Option<String>,
) -> PyResult<Bound<'py, PyAny>> {
    let page = if let Ok(bytes) = html.cast::<PyBytes>() {
        // No copy: the bytes object is immutable and held alive by `html` while the GIL is
        // released.
        let body = bytes.as_bytes();
        let (content_type, url) = (content_type.as_deref(), url.as_deref());
        py.detach(|| abreast_meta::extract_at(body, content_type, url))
    } else {
        let input = page_input(html, content_type, || "extract".to_owned())?;
        let url = url.as_deref();
        py.detach(|| {
            abreast_meta::extract_at(input.body.as_bytes(), input.content_type.as_deref(), url)
        })
    };
    page_dict(py, &page, url.as_deref())
}

/// One place in the ordered window of [`ExtractMany`]: a page being extracted, or the error
/// that its input item raised, delivered in its turn.
enum Pending {
    Page {
        /// The page's metadata, and its input handed back to be dropped with the GIL held.
        task: TaskHandle<(PageMeta, PageInput)>,
        url: Option<String>,
    },
    Failed(PyErr),
}

/// The iterator behind `abreast.extract_many`: reads `(html, url)` items from a Python
/// iterable a window ahead, extracts them on a thread pool with the GIL released, and yields
/// the dicts in input order.
#[pyclass(module = "abreast._abreast")]
pub(crate) struct ExtractMany {
    /// The items still to read; `None` once exhausted or failed.
    source: Option<Py<PyIterator>>,
    /// `None` once the iterator has ended.
    pool: Option<ThreadPool>,
    /// Started pages (and errors) in input order.
    window: Mutex<VecDeque<Pending>>,
    /// How many pages may be in the window at once.
    ahead: usize,
    /// Items read so far, to name a bad one by its index.
    read: usize,
    /// Pages already turned into dicts, to be freed on the pool's threads a batch at a time:
    /// their strings were allocated there, and freeing them on the consuming thread, which
    /// holds the GIL, was a sixth of its time.
    spent: Vec<PageMeta>,
}

/// Spent pages freed per task on the pool.
const SPENT_BATCH: usize = 16;

impl ExtractMany {
    /// Reads items until the window is full or the input ends.
    fn fill(&mut self, py: Python<'_>) {
        let window = self.window.get_mut().unwrap_or_else(|p| p.into_inner());
        let Some(pool) = self.pool.as_ref() else {
            return;
        };
        while window.len() < self.ahead {
            let Some(source) = self.source.as_ref() else {
                return;
            };
            let item = match source.bind(py).clone().next() {
                None => {
                    self.source = None;
                    return;
                }
                Some(Err(error)) => Err(error),
                Some(Ok(item)) => read_item(&item, self.read),
            };
            self.read += 1;
            match item {
                Ok((input, url)) => {
                    let address = url.clone();
                    let task = pool.submit(move || {
                        let content_type = input.content_type.as_deref();
                        let body = input.body.as_bytes();
                        let page = abreast_meta::extract_at(body, content_type, address.as_deref());
                        (page, input)
                    });
                    window.push_back(Pending::Page { task, url });
                }
                Err(error) => {
                    // Raised in its turn; nothing after it is read.
                    window.push_back(Pending::Failed(error));
                    self.source = None;
                    return;
                }
            }
        }
    }

    /// Keeps `page` to be freed on the pool with the next batch.
    fn free_later(&mut self, page: PageMeta) {
        self.spent.push(page);
        if self.spent.len() >= SPENT_BATCH
            && let Some(pool) = &self.pool
        {
            let batch = std::mem::take(&mut self.spent);
            // Not awaited: the task only drops the batch.
            let _freed = pool.submit(move || drop(batch));
        }
    }

    /// Ends the iteration: nothing more is read, pages not started are withdrawn, and the
    /// threads are joined (each finishes at most the page it is on).
    fn end(&mut self) {
        self.source = None;
        let window = std::mem::take(self.window.get_mut().unwrap_or_else(|p| p.into_inner()));
        stop(window, self.pool.take());
    }
}

/// Withdraws the pages of `window` not started yet and shuts `pool` down.
fn stop(window: VecDeque<Pending>, pool: Option<ThreadPool>) {
    for pending in window {
        if let Pending::Page { task, .. } = pending {
            task.cancel();
        }
    }
    if let Some(pool) = pool {
        pool.shutdown_now();
    }
}

/// Reads one item of `extract_many`'s input: `(html, url)`, `(html, url, content_type)`, or a
/// bare `html`.
fn read_item(item: &Bound<'_, PyAny>, index: usize) -> PyResult<(PageInput, Option<String>)> {
    // Made only for a message: formatting it for every page would cost more than the rest.
    let what = || format!("extract_many: item {index}");
    let Ok(tuple) = item.cast::<PyTuple>() else {
        return Ok((page_input(item, None, what)?, None));
    };
    let bad_shape = || {
        PyTypeError::new_err(format!(
            "{}: expected (html, url) or (html, url, content_type), e.g. \
             (b\"<title>Hi</title>\", \"https://example.com/\"), got a tuple of {}",
            what(),
            tuple.len()
        ))
    };
    if !(2..=3).contains(&tuple.len()) {
        return Err(bad_shape());
    }
    let url: Option<String> = tuple.get_item(1)?.extract().map_err(|_| {
        PyTypeError::new_err(format!(
            "{}: the url must be a str or None, e.g. \"https://example.com/\"",
            what()
        ))
    })?;
    let content_type: Option<String> = if tuple.len() == 3 {
        tuple.get_item(2)?.extract().map_err(|_| {
            PyTypeError::new_err(format!(
                "{}: the content_type must be a str or None, e.g. \"text/html; charset=utf-8\"",
                what()
            ))
        })?
    } else {
        None
    };
    Ok((page_input(&tuple.get_item(0)?, content_type, what)?, url))
}

#[pymethods]
impl ExtractMany {
    /// Starts extracting `pages` on `workers` threads, `ahead` pages at most in flight.
    #[new]
    #[pyo3(signature = (pages, workers, ahead))]
    fn new(pages: &Bound<'_, PyAny>, workers: usize, ahead: usize) -> PyResult<Self> {
        let source = pages.try_iter()?.unbind();
        let pool = ThreadPool::builder()
            .num_threads(workers.max(1))
            .thread_name(|index| format!("abreast-extract-{index}"))
            .build()
            .map_err(|error| PyRuntimeError::new_err(format!("extract_many: {error}")))?;
        Ok(ExtractMany {
            source: Some(source),
            pool: Some(pool),
            window: Mutex::new(VecDeque::new()),
            ahead: ahead.max(1),
            read: 0,
            spent: Vec::new(),
        })
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&mut self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.fill(py);
        let next = self
            .window
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .pop_front();
        match next {
            None => {
                self.close(py);
                Ok(None)
            }
            Some(Pending::Failed(error)) => {
                self.close(py);
                Err(error)
            }
            Some(Pending::Page { task, url }) => match py.detach(|| task.join()) {
                Ok((page, _input)) => {
                    let dict = page_dict(py, &page, url.as_deref());
                    self.free_later(page);
                    dict.map(Some)
                }
                Err(error) => {
                    self.close(py);
                    Err(PyRuntimeError::new_err(format!(
                        "extract_many: extracting a page failed: {error}"
                    )))
                }
            },
        }
    }

    /// Stops the iteration now: no more items are read and the threads are freed.
    fn close(&mut self, py: Python<'_>) {
        self.source = None;
        let window = std::mem::take(self.window.get_mut().unwrap_or_else(|p| p.into_inner()));
        let pool = self.pool.take();
        py.detach(move || stop(window, pool));
    }
}

impl Drop for ExtractMany {
    fn drop(&mut self) {
        self.end();
    }
}

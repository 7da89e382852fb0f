//! Rust values to Python objects through serde: a struct becomes a dict whose keys are its
//! serialized field names, so what the command line writes as JSON, Python gets as a dict.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use serde::Serialize;

/// Converts any serde value to the Python object its JSON would load as (dicts, lists, str,
/// int, float, bool, None).
pub(crate) fn to_python<'py, T: Serialize>(
    py: Python<'py>,
    value: &T,
) -> PyResult<Bound<'py, PyAny>> {
    pythonize::pythonize(py, value).map_err(|error| {
        PyValueError::new_err(format!(
            "abreast could not convert a result to Python: {error}"
        ))
    })
}

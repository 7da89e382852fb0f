//! Rust values to Python objects through serde: a struct becomes a dict whose keys are its
//! serialized field names, so what the command line writes as JSON, Python gets as a dict.
//!
//! The converter is a serde [`Serializer`](ser::Serializer) that builds the Python objects
//! directly, in the shapes `json.loads` would give for the command line's JSON: maps and
//! structs are dicts, sequences and tuples lists, `None` and unit `None`, a unit variant its
//! name, a variant with data `{name: data}`. It is written for the records' sizes and numbers:
//! a record is about a hundred keys around a hundred values, and the dict is built with the
//! GIL held, so on `extract_many`'s consuming thread it is the part that cannot run in
//! parallel. The keys are therefore made once and reused ([`Keys`]): a struct's field names
//! (static strings) and short map keys (`name`, `content`, `property`, the OpenGraph and
//! JSON-LD property names) are interned Python strings kept for the life of the module, so a
//! record's dict allocates, decodes and hashes only its values.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, TryLockError};

use pyo3::IntoPyObjectExt;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyList, PyString};
use serde::Serialize;
use serde::ser::{self, Impossible};

/// Map keys longer than this are made afresh each time rather than kept.
const LONGEST_KEPT_KEY: usize = 40;
/// At most this many distinct map keys are kept (struct field names are always kept: there
/// are as many as the types have fields).
const KEPT_KEYS: usize = 4096;

/// Converts any serde value to the Python object its JSON would load as (dicts, lists, str,
/// int, float, bool, None).
pub(crate) fn to_python<'py, T: Serialize + ?Sized>(
    py: Python<'py>,
    value: &T,
) -> PyResult<Bound<'py, PyAny>> {
    static KEYS: PyOnceLock<Mutex<Keys>> = PyOnceLock::new();
    let kept = KEYS.get_or_init(py, || Mutex::new(Keys::default()));
    // Taken with the GIL held, so only a conversion re-entered on this thread (a finalizer
    // run by the garbage collector that converts a record) finds it taken: that one converts
    // with keys of its own.
    let mut guard = match kept.try_lock() {
        Ok(guard) => Some(guard),
        // A panic in a conversion leaves the keys whole: each insertion is one call.
        Err(TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
        Err(TryLockError::WouldBlock) => None,
    };
    let mut own = Keys::default();
    let keys = guard.as_deref_mut().unwrap_or(&mut own);
    value
        .serialize(ToPython { py, keys })
        .map_err(ConvertError::into_py_err)
}

/// Python strings made once and reused as dict keys. The maps hash with foldhash: a lookup per
/// key of every record, where std's SipHash was a twentieth of the cost of building a dict; it is
/// seeded per process, so pages cannot choose keys that collide.
#[derive(Default)]
struct Keys {
    /// Struct field and variant names, by the address and length of their static text.
    fields: HashMap<(usize, usize), Py<PyString>, foldhash::fast::RandomState>,
    /// Short map keys, by their text.
    names: HashMap<Box<str>, Py<PyString>, foldhash::fast::RandomState>,
}

impl Keys {
    /// The key for a field or variant name of a type.
    fn field<'py>(&mut self, py: Python<'py>, name: &'static str) -> Bound<'py, PyString> {
        self.fields
            .entry((name.as_ptr() as usize, name.len()))
            .or_insert_with(|| PyString::intern(py, name).unbind())
            .bind(py)
            .clone()
    }

    /// The key for a map key's text: a kept one if it is short, else a new string.
    fn name<'py>(&mut self, py: Python<'py>, text: &str) -> Bound<'py, PyString> {
        if let Some(kept) = self.names.get(text) {
            return kept.bind(py).clone();
        }
        if text.len() > LONGEST_KEPT_KEY || self.names.len() >= KEPT_KEYS {
            return PyString::new(py, text);
        }
        let key = PyString::intern(py, text);
        self.names.insert(text.into(), key.clone().unbind());
        key
    }
}

/// Why a value could not be converted: a Python error, or a shape JSON cannot hold.
#[derive(Debug)]
enum ConvertError {
    Python(PyErr),
    Shape(String),
}

impl ConvertError {
    fn into_py_err(self) -> PyErr {
        match self {
            ConvertError::Python(error) => error,
            ConvertError::Shape(message) => PyValueError::new_err(format!(
                "abreast could not convert a result to Python: {message}"
            )),
        }
    }
}

impl From<PyErr> for ConvertError {
    fn from(error: PyErr) -> Self {
        ConvertError::Python(error)
    }
}

impl fmt::Display for ConvertError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConvertError::Python(error) => write!(formatter, "{error}"),
            ConvertError::Shape(message) => formatter.write_str(message),
        }
    }
}

impl std::error::Error for ConvertError {}

impl ser::Error for ConvertError {
    fn custom<T: fmt::Display>(message: T) -> Self {
        ConvertError::Shape(message.to_string())
    }
}

type Converted<'py> = Result<Bound<'py, PyAny>, ConvertError>;

/// Serializer methods for integer types, alike but for their type: `self` and the value are
/// named in `body`.
macro_rules! integers {
    ($out:ty, |$this:ident, $value:ident| $body:expr; $($method:ident($kind:ty)),*) => {$(
        fn $method(self, $value: $kind) -> $out {
            let $this = self;
            $body
        }
    )*};
}

/// The serializer: one value to one Python object.
struct ToPython<'a, 'py> {
    py: Python<'py>,
    keys: &'a mut Keys,
}

impl<'a, 'py> ToPython<'a, 'py> {
    fn value<T: Serialize + ?Sized>(&mut self, value: &T) -> Converted<'py> {
        value.serialize(ToPython {
            py: self.py,
            keys: &mut *self.keys,
        })
    }

    fn int<T: IntoPyObject<'py>>(self, value: T) -> Converted<'py> {
        Ok(value.into_bound_py_any(self.py)?)
    }

    /// `{variant: value}`, the shape of a variant with data.
    fn tagged(self, variant: &'static str, value: Bound<'py, PyAny>) -> Converted<'py> {
        let dict = PyDict::new(self.py);
        dict.set_item(self.keys.field(self.py, variant), value)?;
        Ok(dict.into_any())
    }
}

/// A list being built.
struct ListBuilder<'a, 'py> {
    to: ToPython<'a, 'py>,
    items: Vec<Bound<'py, PyAny>>,
    /// Set for a tuple variant: the list is wrapped as `{variant: list}`.
    variant: Option<&'static str>,
}

impl<'py> ListBuilder<'_, 'py> {
    fn push<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ConvertError> {
        let item = self.to.value(value)?;
        self.items.push(item);
        Ok(())
    }

    fn finish(self) -> Converted<'py> {
        let list = PyList::new(self.to.py, self.items)?.into_any();
        match self.variant {
            Some(variant) => self.to.tagged(variant, list),
            None => Ok(list),
        }
    }
}

/// A dict being built.
struct DictBuilder<'a, 'py> {
    to: ToPython<'a, 'py>,
    dict: Bound<'py, PyDict>,
    /// The key of the entry whose value comes next.
    key: Option<Bound<'py, PyAny>>,
    /// Set for a struct variant: the dict is wrapped as `{variant: dict}`.
    variant: Option<&'static str>,
}

impl<'py> DictBuilder<'_, 'py> {
    fn field<T: Serialize + ?Sized>(
        &mut self,
        name: &'static str,
        value: &T,
    ) -> Result<(), ConvertError> {
        let value = self.to.value(value)?;
        let key = self.to.keys.field(self.to.py, name);
        self.dict.set_item(key, value)?;
        Ok(())
    }

    fn finish(self) -> Converted<'py> {
        let dict = self.dict.into_any();
        match self.variant {
            Some(variant) => self.to.tagged(variant, dict),
            None => Ok(dict),
        }
    }
}

impl<'a, 'py> ser::Serializer for ToPython<'a, 'py> {
    type Ok = Bound<'py, PyAny>;
    type Error = ConvertError;
    type SerializeSeq = ListBuilder<'a, 'py>;
    type SerializeTuple = ListBuilder<'a, 'py>;
    type SerializeTupleStruct = ListBuilder<'a, 'py>;
    type SerializeTupleVariant = ListBuilder<'a, 'py>;
    type SerializeMap = DictBuilder<'a, 'py>;
    type SerializeStruct = DictBuilder<'a, 'py>;
    type SerializeStructVariant = DictBuilder<'a, 'py>;

    fn serialize_bool(self, value: bool) -> Converted<'py> {
        Ok(PyBool::new(self.py, value).to_owned().into_any())
    }

    integers!(Converted<'py>, |this, value| this.int(value);
        serialize_i8(i8), serialize_i16(i16), serialize_i32(i32), serialize_i64(i64),
        serialize_i128(i128), serialize_u8(u8), serialize_u16(u16), serialize_u32(u32),
        serialize_u64(u64), serialize_u128(u128));

    fn serialize_f32(self, value: f32) -> Converted<'py> {
        Ok(PyFloat::new(self.py, f64::from(value)).into_any())
    }

    fn serialize_f64(self, value: f64) -> Converted<'py> {
        Ok(PyFloat::new(self.py, value).into_any())
    }

    fn serialize_char(self, value: char) -> Converted<'py> {
        Ok(PyString::new(self.py, value.encode_utf8(&mut [0; 4])).into_any())
    }

    fn serialize_str(self, value: &str) -> Converted<'py> {
        Ok(PyString::new(self.py, value).into_any())
    }

    fn serialize_bytes(self, value: &[u8]) -> Converted<'py> {
        Ok(PyBytes::new(self.py, value).into_any())
    }

    fn serialize_none(self) -> Converted<'py> {
        Ok(self.py.None().into_bound(self.py))
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Converted<'py> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Converted<'py> {
        self.serialize_none()
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Converted<'py> {
        self.serialize_none()
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Converted<'py> {
        Ok(self.keys.field(self.py, variant).into_any())
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Converted<'py> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        mut self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Converted<'py> {
        let value = self.value(value)?;
        self.tagged(variant, value)
    }

    fn serialize_seq(self, len: Option<usize>) -> Result<ListBuilder<'a, 'py>, ConvertError> {
        Ok(ListBuilder {
            to: self,
            items: Vec::with_capacity(len.unwrap_or(0)),
            variant: None,
        })
    }

    fn serialize_tuple(self, len: usize) -> Result<ListBuilder<'a, 'py>, ConvertError> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<ListBuilder<'a, 'py>, ConvertError> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<ListBuilder<'a, 'py>, ConvertError> {
        let mut list = self.serialize_seq(Some(len))?;
        list.variant = Some(variant);
        Ok(list)
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<DictBuilder<'a, 'py>, ConvertError> {
        Ok(DictBuilder {
            dict: PyDict::new(self.py),
            to: self,
            key: None,
            variant: None,
        })
    }

    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<DictBuilder<'a, 'py>, ConvertError> {
        self.serialize_map(None)
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<DictBuilder<'a, 'py>, ConvertError> {
        let mut dict = self.serialize_map(None)?;
        dict.variant = Some(variant);
        Ok(dict)
    }
}

/// The four list-shaped serde traits, all alike: an element is pushed, `end` builds the list.
macro_rules! list_traits {
    ($($name:ident :: $push:ident),*) => {$(
        impl<'py> ser::$name for ListBuilder<'_, 'py> {
            type Ok = Bound<'py, PyAny>;
            type Error = ConvertError;

            fn $push<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ConvertError> {
                self.push(value)
            }

            fn end(self) -> Converted<'py> {
                self.finish()
            }
        }
    )*};
}

list_traits!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

impl<'py> ser::SerializeMap for DictBuilder<'_, 'py> {
    type Ok = Bound<'py, PyAny>;
    type Error = ConvertError;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), ConvertError> {
        let key = key.serialize(KeyToPython {
            py: self.to.py,
            keys: &mut *self.to.keys,
        })?;
        self.key = Some(key.into_any());
        Ok(())
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ConvertError> {
        let key = self
            .key
            .take()
            .ok_or_else(|| ConvertError::Shape("a map value came without its key".to_owned()))?;
        let value = self.to.value(value)?;
        self.dict.set_item(key, value)?;
        Ok(())
    }

    fn end(self) -> Converted<'py> {
        self.finish()
    }
}

/// The two struct-shaped serde traits, alike: a field is set under its kept key.
macro_rules! struct_traits {
    ($($name:ident),*) => {$(
        impl<'py> ser::$name for DictBuilder<'_, 'py> {
            type Ok = Bound<'py, PyAny>;
            type Error = ConvertError;

            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                name: &'static str,
                value: &T,
            ) -> Result<(), ConvertError> {
                self.field(name, value)
            }

            fn end(self) -> Converted<'py> {
                self.finish()
            }
        }
    )*};
}

struct_traits!(SerializeStruct, SerializeStructVariant);

/// A map key to a Python `str`, as JSON writes keys: text as it is (kept and reused when
/// short), numbers and booleans as their text; anything else is refused.
struct KeyToPython<'a, 'py> {
    py: Python<'py>,
    keys: &'a mut Keys,
}

impl KeyToPython<'_, '_> {
    fn refused(what: &str) -> ConvertError {
        ConvertError::Shape(format!("a map key must be text or a number, not {what}"))
    }
}

type KeyConverted<'py> = Result<Bound<'py, PyString>, ConvertError>;

impl<'py> ser::Serializer for KeyToPython<'_, 'py> {
    type Ok = Bound<'py, PyString>;
    type Error = ConvertError;
    type SerializeSeq = Impossible<Bound<'py, PyString>, ConvertError>;
    type SerializeTuple = Impossible<Bound<'py, PyString>, ConvertError>;
    type SerializeTupleStruct = Impossible<Bound<'py, PyString>, ConvertError>;
    type SerializeTupleVariant = Impossible<Bound<'py, PyString>, ConvertError>;
    type SerializeMap = Impossible<Bound<'py, PyString>, ConvertError>;
    type SerializeStruct = Impossible<Bound<'py, PyString>, ConvertError>;
    type SerializeStructVariant = Impossible<Bound<'py, PyString>, ConvertError>;

    fn serialize_str(self, value: &str) -> KeyConverted<'py> {
        Ok(self.keys.name(self.py, value))
    }

    fn serialize_char(self, value: char) -> KeyConverted<'py> {
        self.serialize_str(value.encode_utf8(&mut [0; 4]))
    }

    fn serialize_bool(self, value: bool) -> KeyConverted<'py> {
        self.serialize_str(if value { "true" } else { "false" })
    }

    // A number key is its text, as JSON writes it.
    integers!(KeyConverted<'py>, |this, value| this.serialize_str(&value.to_string());
        serialize_i8(i8), serialize_i16(i16), serialize_i32(i32), serialize_i64(i64),
        serialize_u8(u8), serialize_u16(u16), serialize_u32(u32), serialize_u64(u64));

    fn serialize_f32(self, _value: f32) -> KeyConverted<'py> {
        Err(Self::refused("a float"))
    }

    fn serialize_f64(self, _value: f64) -> KeyConverted<'py> {
        Err(Self::refused("a float"))
    }

    fn serialize_bytes(self, _value: &[u8]) -> KeyConverted<'py> {
        Err(Self::refused("bytes"))
    }

    fn serialize_none(self) -> KeyConverted<'py> {
        Err(Self::refused("None"))
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> KeyConverted<'py> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> KeyConverted<'py> {
        Err(Self::refused("a unit"))
    }

    fn serialize_unit_struct(self, _name: &'static str) -> KeyConverted<'py> {
        Err(Self::refused("a unit struct"))
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> KeyConverted<'py> {
        Ok(self.keys.field(self.py, variant))
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> KeyConverted<'py> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> KeyConverted<'py> {
        Err(Self::refused("a variant with data"))
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, ConvertError> {
        Err(Self::refused("a list"))
    }

    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, ConvertError> {
        Err(Self::refused("a tuple"))
    }

    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct, ConvertError> {
        Err(Self::refused("a tuple"))
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, ConvertError> {
        Err(Self::refused("a variant with data"))
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, ConvertError> {
        Err(Self::refused("a map"))
    }

    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStruct, ConvertError> {
        Err(Self::refused("a struct"))
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, ConvertError> {
        Err(Self::refused("a variant with data"))
    }
}

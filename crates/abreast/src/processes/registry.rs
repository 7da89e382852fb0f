//! The link-time table of task functions, and the typed handle a pool accepts.
//!
//! `#[abreast::task]` adds one [`Registration`] per function to [`TASKS`] (a `linkme`
//! distributed slice: the linker gathers the entries, so nothing runs before `main` to fill it and
//! a worker can look a task up the moment it starts). Parent and worker refer to a task by its
//! index in the table sorted by name, and prove they are the same build by comparing a hash of
//! every entry's name and types.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::OnceLock;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::panic;

/// A function registered with `#[abreast::task]`, usable with a
/// [`ProcessPool`](super::ProcessPool). Implemented by the attribute; not meant to be written by
/// hand.
///
/// The attribute turns the function's name into a unit struct implementing this trait (and
/// dereferencing to the function, so it stays directly callable).
pub trait Task: Copy + Send + Sync + 'static {
    /// The argument: the function's parameter, a tuple of its parameters, or `()`.
    type Arg: Serialize + DeserializeOwned + Send + 'static;
    /// The function's return type.
    type Output: Serialize + DeserializeOwned + Send + 'static;
    /// The registered name: `module::path::function`.
    const NAME: &'static str;
    /// Calls the function.
    fn call(arg: Self::Arg) -> Self::Output;
}

/// What a worker reports for one item of a frame.
#[derive(Debug)]
pub(crate) enum ItemOutcome {
    /// The task returned; its result, encoded.
    Value(Vec<u8>),
    /// The task panicked.
    Panicked {
        message: String,
        location: Option<String>,
    },
    /// The argument could not be decoded in the worker.
    ArgumentCodec(String),
    /// The result could not be encoded in the worker.
    ResultCodec(String),
}

/// One entry of [`TASKS`]: a task's name, its erased entry point and its types.
#[doc(hidden)]
#[derive(Debug)]
pub struct Registration {
    pub(crate) name: &'static str,
    pub(crate) run: fn(&[u8]) -> ItemOutcome,
    pub(crate) arg_type: fn() -> &'static str,
    pub(crate) output_type: fn() -> &'static str,
}

impl Registration {
    /// The entry for task `T` (used by the `#[abreast::task]` expansion).
    pub const fn of<T: Task>() -> Self {
        Registration {
            name: T::NAME,
            run: run_erased::<T>,
            arg_type: std::any::type_name::<T::Arg>,
            output_type: std::any::type_name::<T::Output>,
        }
    }
}

/// Decodes the argument, runs the task under `catch_unwind`, encodes the result.
fn run_erased<T: Task>(arg: &[u8]) -> ItemOutcome {
    let arg: T::Arg = match postcard::from_bytes(arg) {
        Ok(arg) => arg,
        Err(error) => return ItemOutcome::ArgumentCodec(error.to_string()),
    };
    match panic::catch(|| T::call(arg)) {
        Ok(value) => match postcard::to_allocvec(&value) {
            Ok(bytes) => ItemOutcome::Value(bytes),
            Err(error) => ItemOutcome::ResultCodec(error.to_string()),
        },
        Err(report) => ItemOutcome::Panicked {
            message: report.message,
            location: report.location,
        },
    }
}

/// Every task of this executable, gathered by the linker.
#[doc(hidden)]
#[linkme::distributed_slice]
pub static TASKS: [Registration];

/// The registry in a fixed order, with the lookups both sides need.
pub(crate) struct Registry {
    /// Sorted by name: a task's wire id is its index here.
    pub(crate) entries: Vec<&'static Registration>,
    by_name: HashMap<&'static str, u32>,
    /// A hash of every entry's name and types: equal in parent and worker of the same build.
    pub(crate) build_hash: u64,
}

/// The registry of this executable.
pub(crate) fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let mut entries: Vec<&'static Registration> = TASKS.iter().collect();
        entries.sort_by_key(|entry| entry.name);
        let mut hasher = DefaultHasher::new();
        env!("CARGO_PKG_VERSION").hash(&mut hasher);
        for entry in &entries {
            entry.name.hash(&mut hasher);
            (entry.arg_type)().hash(&mut hasher);
            (entry.output_type)().hash(&mut hasher);
        }
        let by_name = entries
            .iter()
            .enumerate()
            .map(|(index, entry)| (entry.name, u32::try_from(index).expect("< 4G tasks")))
            .collect();
        Registry {
            entries,
            by_name,
            build_hash: hasher.finish(),
        }
    })
}

impl Registry {
    /// The wire id of the task named `name`, if this executable registered it.
    pub(crate) fn id_of(&self, name: &str) -> Option<u32> {
        self.by_name.get(name).copied()
    }
}

//! The link-time table of task functions, and the typed handle a pool accepts.
//!
//! `#[abreast::task]` adds one `Registration` per function to `TASKS` (a `linkme`
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
///
/// Arguments are checked at compile time:
///
/// ```compile_fail
/// #[abreast::task]
/// fn square(n: u64) -> u64 {
///     n * n
/// }
///
/// let pool = abreast::processes::ProcessPool::new().unwrap();
/// let handle = pool.submit(square, "not a number"); // error: expected `u64`, found `&str`
/// ```
pub trait Task: Copy + Send + Sync + 'static {
    /// The argument: the function's parameter, a tuple of its parameters, or `()`.
    type Arg: Serialize + DeserializeOwned + Send + 'static;
    /// The function's return type.
    type Output: Serialize + DeserializeOwned + Send + 'static;
    /// The registered name: `module::path::function`.
    const NAME: &'static str;
    /// Calls the function. `Err` only for a `#[abreast::task(fallible)]` function that returned
    /// an error.
    fn call(arg: Self::Arg) -> Result<Self::Output, RemoteError>;
}

/// The error a `#[abreast::task(fallible)]` function returned in its worker, as the parent sees
/// it in [`TaskError::Failed`](crate::TaskError::Failed): the error's type and its message (with
/// its chain of causes, where its `{:#}` format shows them, as `anyhow`'s does).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteError {
    type_name: String,
    message: String,
}

impl RemoteError {
    /// The Rust type of the error the task returned.
    pub fn type_name(&self) -> &str {
        &self.type_name
    }

    /// The error's message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl std::fmt::Display for RemoteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for RemoteError {}

/// The return type of a `#[abreast::task(fallible)]` function: a `Result` whose error is sent
/// back as a [`RemoteError`].
#[doc(hidden)]
pub trait Fallible {
    /// The value on success.
    type Ok;
    /// Splits the result for the wire.
    fn into_task_result(self) -> Result<Self::Ok, RemoteError>;
}

impl<T, E: std::fmt::Display> Fallible for Result<T, E> {
    type Ok = T;

    fn into_task_result(self) -> Result<T, RemoteError> {
        self.map_err(|error| RemoteError {
            type_name: std::any::type_name::<E>().to_owned(),
            message: format!("{error:#}"),
        })
    }
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
    /// A fallible task returned an error.
    Failed { type_name: String, message: String },
}

impl RemoteError {
    /// A remote error read back from the wire.
    pub(crate) fn new(type_name: String, message: String) -> Self {
        RemoteError { type_name, message }
    }
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
        Ok(Ok(value)) => match postcard::to_allocvec(&value) {
            Ok(bytes) => ItemOutcome::Value(bytes),
            Err(error) => ItemOutcome::ResultCodec(error.to_string()),
        },
        Ok(Err(RemoteError { type_name, message })) => ItemOutcome::Failed { type_name, message },
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

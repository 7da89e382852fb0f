//! Turning a task's panic into a [`TaskError::Panicked`] with its message and location.
//!
//! `catch_unwind` yields the panic's payload but not where it happened, so abreast installs a
//! panic hook once, chained in front of whatever hook was there. While a thread runs an abreast
//! task, the hook records the location for [`catch`] and prints nothing (the error reaches the
//! task's handle instead); on every other thread it defers to the previous hook unchanged.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

use crate::error::{TaskError, TaskId};

thread_local! {
    static CAPTURING: Cell<bool> = const { Cell::new(false) };
    static LOCATION: RefCell<Option<String>> = const { RefCell::new(None) };
}

static INSTALL_HOOK: Once = Once::new();

/// Installs the capturing hook (once per process). Pools call this when they are built.
pub(crate) fn install_hook() {
    INSTALL_HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if CAPTURING.with(Cell::get) {
                let location = info.location().map(ToString::to_string);
                LOCATION.with(|slot| *slot.borrow_mut() = location);
            } else {
                previous(info);
            }
        }));
    });
}

/// What a caught panic said and where it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PanicReport {
    pub(crate) message: String,
    pub(crate) location: Option<String>,
}

impl PanicReport {
    /// The report as the error of task `task`.
    pub(crate) fn into_error(self, task: TaskId) -> TaskError {
        TaskError::Panicked {
            task,
            message: self.message,
            location: self.location,
        }
    }
}

/// Runs `f`, turning a panic into a [`PanicReport`] instead of unwinding further.
pub(crate) fn catch<T>(f: impl FnOnce() -> T) -> Result<T, PanicReport> {
    let was_capturing = CAPTURING.with(|c| c.replace(true));
    let outcome = panic::catch_unwind(AssertUnwindSafe(f));
    CAPTURING.with(|c| c.set(was_capturing));
    outcome.map_err(|payload| PanicReport {
        message: payload_message(payload.as_ref()),
        location: LOCATION.with(|slot| slot.borrow_mut().take()),
    })
}

/// The text of a panic payload: the `&str` or `String` that `panic!` was given.
pub(crate) fn payload_message(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "Box<dyn Any> (a panic with a non-string payload)".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catch_reports_message_and_location() {
        install_hook();
        let report = catch(|| -> u32 { panic!("broke {}", 42) }).unwrap_err();
        assert_eq!(report.message, "broke 42");
        let location = report.location.expect("hook records the location");
        assert!(
            location.starts_with("crates/abreast/src/panic.rs:"),
            "{location}"
        );
        assert_eq!(catch(|| 5), Ok(5));
    }
}

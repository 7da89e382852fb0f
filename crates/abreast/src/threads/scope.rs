//! Scoped tasks: tasks that borrow from the caller's stack, as `std::thread::scope` allows, run
//! on the pool's threads instead of new ones.

use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::{Arc, Condvar, Mutex};

use super::pool::{Disposition, Job, ThreadPool, run_into_slot};
use crate::error::TaskId;
use crate::handle::{Slot, TaskHandle};

/// Counts a scope's tasks that have not finished (run or cancelled) yet.
#[derive(Default)]
struct Outstanding {
    count: Mutex<usize>,
    zero: Condvar,
}

impl Outstanding {
    fn add(&self) {
        *self.count.lock().unwrap_or_else(|p| p.into_inner()) += 1;
    }

    fn done(&self) {
        let mut count = self.count.lock().unwrap_or_else(|p| p.into_inner());
        *count -= 1;
        if *count == 0 {
            self.zero.notify_all();
        }
    }

    fn wait_for_zero(&self) {
        let mut count = self.count.lock().unwrap_or_else(|p| p.into_inner());
        while *count > 0 {
            count = self.zero.wait(count).unwrap_or_else(|p| p.into_inner());
        }
    }
}

/// Marks one scoped task as finished when dropped, after everything the task owned is gone.
struct FinishGuard(Arc<Outstanding>);

impl Drop for FinishGuard {
    fn drop(&mut self) {
        self.0.done();
    }
}

/// A scope in which tasks may borrow anything that outlives it: see [`ThreadPool::scope`].
pub struct Scope<'scope, 'env: 'scope> {
    pool: &'env ThreadPool,
    outstanding: Arc<Outstanding>,
    scope: PhantomData<&'scope mut &'scope ()>,
    env: PhantomData<&'env mut &'env ()>,
}

impl std::fmt::Debug for Scope<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scope").finish_non_exhaustive()
    }
}

impl<'scope> Scope<'scope, '_> {
    /// Runs `task` on the pool. It may borrow from outside the scope; the scope does not end
    /// until it has finished. Like [`ThreadPool::submit`], this waits if the queue is full.
    pub fn submit<F, T>(&'scope self, task: F) -> TaskHandle<T>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
    {
        let counters = &self.pool.shared.counters;
        let slot = Slot::new(TaskId::new(counters.next_seq()), Arc::clone(counters));
        let handle = TaskHandle::new(Arc::clone(&slot));
        self.outstanding.add();
        let guard = FinishGuard(Arc::clone(&self.outstanding));
        let scoped: Box<dyn FnOnce(Disposition) + Send + 'scope> = Box::new(move |disposition| {
            run_into_slot(task, &slot, disposition);
            // The task, its captures and the pool's reference to the slot are dropped here,
            // before the guard tells the scope that this task is done.
            drop(slot);
            drop(guard);
        });
        // SAFETY: the job only borrows data that lives for 'scope, and `ThreadPool::scope` does
        // not return (nor unwind past its frame) until every job submitted here has been run or
        // cancelled and dropped: the FinishGuard inside the job is dropped last and the scope
        // waits for all guards. Shutting the pool down cannot happen meanwhile, since the scope
        // borrows the pool. So no job outlives the data it borrows.
        let job: Job = unsafe {
            std::mem::transmute::<
                Box<dyn FnOnce(Disposition) + Send + 'scope>,
                Box<dyn FnOnce(Disposition) + Send + 'static>,
            >(scoped)
        };
        self.pool.enqueue(job);
        handle
    }
}

impl ThreadPool {
    /// Runs `body` with a [`Scope`] whose tasks may borrow from the caller's stack, and returns
    /// once every task submitted in it has finished, so the common case needs no `Arc`.
    ///
    /// ```
    /// let pool = abreast::threads::ThreadPool::builder().num_threads(2).build()?;
    /// let words = vec!["many", "tasks", "side", "by", "side"];
    /// let mut total = 0;
    /// pool.scope(|scope| {
    ///     let handles: Vec<_> = words.chunks(2).map(|chunk| scope.submit(move || {
    ///         chunk.iter().map(|w| w.len()).sum::<usize>()
    ///     })).collect();
    ///     total = handles.into_iter().map(|h| h.join().unwrap()).sum();
    /// });
    /// assert_eq!(total, 19);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// A task must not outlive what it borrows, so this does not compile:
    ///
    /// ```compile_fail
    /// let pool = abreast::threads::ThreadPool::new().unwrap();
    /// pool.scope(|scope| {
    ///     let local = String::from("dropped before the scope ends");
    ///     scope.submit(|| local.len());
    /// });
    /// ```
    ///
    /// Do not call `scope` from inside a task of the same pool when every thread may be busy
    /// doing the same: the scope waits for tasks that then have no thread to run on.
    pub fn scope<'env, F, R>(&'env self, body: F) -> R
    where
        F: for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> R,
    {
        let scope = Scope {
            pool: self,
            outstanding: Arc::new(Outstanding::default()),
            scope: PhantomData,
            env: PhantomData,
        };
        let outcome = catch_unwind(AssertUnwindSafe(|| body(&scope)));
        scope.outstanding.wait_for_zero();
        match outcome {
            Ok(value) => value,
            Err(payload) => resume_unwind(payload),
        }
    }
}

//! Parked helper threads that a caller lends borrowed work to: [`Pool`].
//!
//! A query cuts a large read into batches that any thread may claim; the
//! thread running the query works through them and, once the read proves
//! long, asks idle pool threads to help. Starting a thread costs about 100 µs
//! on a machine whose caches are cold, waking a parked one about 25 µs, and a
//! dashboard's query often takes a millisecond in all: hence parked threads
//! rather than a thread per query.
//!
//! Lent work borrows from the caller's stack. [`Pool::scope`] does not return
//! before every helper that started on its work has finished, and help that
//! no thread has started by then is withdrawn: a caller never waits for a
//! busy pool, so a helper is an optional speed-up, never a dependency. A
//! panic in a helper is caught, and reported as [`HelperPanicked`] once the
//! scope is done.
//!
//! ```
//! use std::sync::atomic::{AtomicUsize, Ordering};
//! use pharos_model::pool::Pool;
//! let next = AtomicUsize::new(0);
//! let sum = AtomicUsize::new(0);
//! let work = || {
//!     while let n @ 0..100 = next.fetch_add(1, Ordering::Relaxed) {
//!         sum.fetch_add(n, Ordering::Relaxed);
//!     }
//! };
//! Pool::global().scope(|s| {
//!     s.help(3, &work);
//!     work();
//! }).unwrap();
//! assert_eq!(sum.load(Ordering::Relaxed), 4950);
//! ```

use std::collections::VecDeque;
use std::marker::PhantomData;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};

/// A fixed set of parked threads (see the module documentation).
pub struct Pool {
    shared: Arc<Shared>,
    threads: usize,
}

/// A helper panicked while working for a [`Pool::scope`]; the work it had
/// taken on may be unfinished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HelperPanicked;

impl std::fmt::Display for HelperPanicked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a helper thread panicked")
    }
}

impl std::error::Error for HelperPanicked {}

struct Shared {
    queue: Mutex<VecDeque<Job>>,
    ready: Condvar,
}

/// Work lent by one scope, not yet taken by a helper.
struct Job {
    /// Valid while the owner's `pending` counts this job (see [`Scope::help`]).
    work: *const (dyn Fn() + Sync + 'static),
    owner: Arc<Owner>,
}

// SAFETY: `work` points to a `Sync` closure, which may be called from any
// thread; the scope that lent it outlives every call (see `Scope::help`).
unsafe impl Send for Job {}

#[derive(Default)]
struct Owner {
    state: Mutex<OwnerState>,
    done: Condvar,
}

#[derive(Default)]
struct OwnerState {
    /// Jobs lent and not yet withdrawn or finished.
    pending: usize,
    panicked: bool,
}

/// Locks `m`, ignoring poisoning: no code here panics while holding a lock,
/// and lent work runs outside every lock.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Pool {
    /// A pool of `threads` parked threads named `name`; fewer if the system
    /// refuses to start some.
    pub fn new(threads: usize, name: &str) -> Pool {
        let shared = Arc::new(Shared {
            queue: Mutex::new(VecDeque::new()),
            ready: Condvar::new(),
        });
        let mut started = 0;
        for _ in 0..threads {
            let s = shared.clone();
            let spawned = std::thread::Builder::new()
                .name(name.to_string())
                .spawn(move || helper_loop(&s));
            if spawned.is_ok() {
                started += 1;
            }
        }
        Pool {
            shared,
            threads: started,
        }
    }

    /// The process's pool: one thread fewer than the machine's parallelism
    /// (at most 4 in all), since the caller works too. Started on first use.
    pub fn global() -> &'static Pool {
        static GLOBAL: OnceLock<Pool> = OnceLock::new();
        GLOBAL.get_or_init(|| {
            let n = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
            Pool::new(n - 1, "pharos-helper")
        })
    }

    /// Runs `f`, which may lend work to the pool through its [`Scope`], and
    /// returns once no helper is working for it any more. A panic of `f`
    /// itself is resumed after that; a helper's panic makes the result
    /// [`HelperPanicked`].
    pub fn scope<'env, F, R>(&self, f: F) -> Result<R, HelperPanicked>
    where
        F: for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> R,
    {
        let scope = Scope {
            pool: self,
            owner: Arc::new(Owner::default()),
            _scope: PhantomData,
            _env: PhantomData,
        };
        let got = catch_unwind(AssertUnwindSafe(|| f(&scope)));
        let panicked = scope.finish();
        match got {
            Err(e) => resume_unwind(e),
            Ok(_) if panicked => Err(HelperPanicked),
            Ok(r) => Ok(r),
        }
    }
}

/// What a caller lends work through; see [`Pool::scope`].
pub struct Scope<'scope, 'env: 'scope> {
    pool: &'scope Pool,
    owner: Arc<Owner>,
    _scope: PhantomData<&'scope mut &'scope ()>,
    _env: PhantomData<&'env mut &'env ()>,
}

impl<'scope> Scope<'scope, '_> {
    /// Asks up to `n` pool threads to call `work` once each, alongside the
    /// caller; returns how many were asked (at most the pool's size). Threads
    /// busy elsewhere may start late or not at all: `work` should claim its
    /// share from a common cursor, so that whoever runs does the rest.
    pub fn help(&'scope self, n: usize, work: &'scope (dyn Fn() + Sync + 'scope)) -> usize {
        let n = n.min(self.pool.threads);
        if n == 0 {
            return 0;
        }
        let ptr: *const (dyn Fn() + Sync + 'scope) = work;
        // SAFETY: only the lifetime bound changes. The pointer is called by
        // a helper only while this job is pending, and `Pool::scope` does not
        // return (so 'scope does not end) before `finish` has withdrawn the
        // untaken jobs and seen every taken one finish.
        let ptr: *const (dyn Fn() + Sync + 'static) = unsafe { std::mem::transmute(ptr) };
        lock(&self.owner.state).pending += n;
        {
            let mut q = lock(&self.pool.shared.queue);
            for _ in 0..n {
                q.push_back(Job {
                    work: ptr,
                    owner: self.owner.clone(),
                });
            }
        }
        for _ in 0..n {
            self.pool.shared.ready.notify_one();
        }
        n
    }

    /// Withdraws the jobs no helper has taken and waits for the others;
    /// whether any of them panicked.
    fn finish(&self) -> bool {
        let withdrawn = {
            let mut q = lock(&self.pool.shared.queue);
            let before = q.len();
            q.retain(|j| !Arc::ptr_eq(&j.owner, &self.owner));
            before - q.len()
        };
        let mut st = lock(&self.owner.state);
        st.pending -= withdrawn;
        while st.pending > 0 {
            st = self.owner.done.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        st.panicked
    }
}

fn helper_loop(shared: &Shared) {
    loop {
        let job = {
            let mut q = lock(&shared.queue);
            loop {
                if let Some(j) = q.pop_front() {
                    break j;
                }
                q = shared.ready.wait(q).unwrap_or_else(|e| e.into_inner());
            }
        };
        // SAFETY: the job is pending, so its scope is still waiting in
        // `finish` or running, and the closure is alive (see `Scope::help`).
        let ok = catch_unwind(AssertUnwindSafe(|| unsafe { (*job.work)() })).is_ok();
        let mut st = lock(&job.owner.state);
        st.pending -= 1;
        st.panicked |= !ok;
        if st.pending == 0 {
            job.owner.done.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// Claims numbers below `n` from `next` and sums them into `sum`.
    fn summer<'a>(next: &'a AtomicUsize, sum: &'a AtomicUsize, n: usize) -> impl Fn() + Sync + 'a {
        move || loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            if i >= n {
                break;
            }
            sum.fetch_add(i, Ordering::Relaxed);
        }
    }

    #[test]
    fn helpers_share_the_work_and_the_scope_waits_for_them() {
        let pool = Pool::new(3, "test-helper");
        for _ in 0..200 {
            let (next, sum) = (AtomicUsize::new(0), AtomicUsize::new(0));
            let work = summer(&next, &sum, 10_000);
            let r = pool.scope(|s| {
                assert_eq!(s.help(5, &work), 3, "capped at the pool's size");
                work();
                7
            });
            assert_eq!(r, Ok(7));
            assert_eq!(sum.load(Ordering::Relaxed), 10_000 * 9_999 / 2);
        }
    }

    #[test]
    fn a_pool_without_threads_leaves_the_caller_alone() {
        let pool = Pool::new(0, "test-helper");
        let (next, sum) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let work = summer(&next, &sum, 100);
        let r = pool.scope(|s| {
            assert_eq!(s.help(2, &work), 0);
            work();
        });
        assert_eq!(r, Ok(()));
        assert_eq!(sum.load(Ordering::Relaxed), 4950);
    }

    #[test]
    fn busy_helpers_are_not_waited_for() {
        // The only helper is held by one scope; another scope's request is
        // withdrawn instead of waited for.
        let pool = Pool::new(1, "test-helper");
        let release = AtomicUsize::new(0);
        let started = AtomicUsize::new(0);
        let hold = || {
            started.store(1, Ordering::SeqCst);
            while release.load(Ordering::SeqCst) == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
        };
        std::thread::scope(|t| {
            t.spawn(|| {
                pool.scope(|s| {
                    s.help(1, &hold);
                    // Not withdrawn before the helper has taken it.
                    while started.load(Ordering::SeqCst) == 0 {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                })
            });
            while started.load(Ordering::SeqCst) == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
            let ran = AtomicUsize::new(0);
            let count = || {
                ran.fetch_add(1, Ordering::SeqCst);
            };
            let r = pool.scope(|s| {
                s.help(1, &count);
            });
            assert_eq!(r, Ok(()));
            assert_eq!(ran.load(Ordering::SeqCst), 0, "withdrawn, never run");
            release.store(1, Ordering::SeqCst);
        });
    }

    #[test]
    fn panics_are_reported_and_the_pool_survives() {
        let pool = Pool::new(1, "test-helper");
        let boom = || panic!("helper failure (expected by this test)");
        let mut reported = false;
        // The helper may be too slow to take the job before the scope ends;
        // try until it does.
        for _ in 0..1000 {
            let r = pool.scope(|s| {
                s.help(1, &boom);
                std::thread::sleep(Duration::from_millis(1));
            });
            if r == Err(HelperPanicked) {
                reported = true;
                break;
            }
        }
        assert!(reported);
        let (next, sum) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let work = summer(&next, &sum, 1000);
        let r = pool.scope(|s| {
            s.help(1, &work);
            work();
        });
        assert_eq!(r, Ok(()));
        assert_eq!(sum.load(Ordering::Relaxed), 1000 * 999 / 2);
    }

    #[test]
    fn the_callers_panic_waits_for_helpers_then_resumes() {
        let pool = Pool::new(2, "test-helper");
        let done = AtomicUsize::new(0);
        let slow = || {
            std::thread::sleep(Duration::from_millis(20));
            done.fetch_add(1, Ordering::SeqCst);
        };
        let r = catch_unwind(AssertUnwindSafe(|| {
            pool.scope(|s| {
                s.help(2, &slow);
                // Let the helpers take their jobs before failing.
                std::thread::sleep(Duration::from_millis(5));
                panic!("caller failure (expected by this test)");
            })
        }));
        assert!(r.is_err());
        // Every helper that started had finished when the panic went on.
        let n = done.load(Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(done.load(Ordering::SeqCst), n);
    }
}

//! How many tasks one call of a rule may still ask for
//! (`limits.max_tasks_per_event`). `task(...)` takes one from the budget the
//! engine sets for the call, and fails once it is spent: the rule stops at
//! the call that went over, with an error that names the limit, before the
//! thousands of task maps it would build run into the sandbox's size limits
//! (whose "map grew too large" said nothing about tasks). Outside a call the
//! engine makes (a script evaluated on its own), there is no budget.
//!
//! The budget is per thread: a rule runs on the thread that calls it, one
//! call at a time.

use std::cell::Cell;

thread_local! {
    /// (tasks asked for so far, the most allowed) for the running call.
    static BUDGET: Cell<Option<(usize, usize)>> = const { Cell::new(None) };
}

/// Run `call` (one call of a rule) allowing it `max` calls of `task(...)`;
/// also says whether the call went over (its error is then the limit's).
pub fn with_task_limit<T>(max: usize, call: impl FnOnce() -> T) -> (T, bool) {
    let outer = BUDGET.replace(Some((0, max)));
    let result = call();
    let over = BUDGET.get().is_some_and(|(asked, max)| asked > max);
    BUDGET.set(outer);
    (result, over)
}

/// One more task asked for: an error once more than the limit were.
pub(super) fn take() -> Result<(), Box<rhai::EvalAltResult>> {
    match BUDGET.get() {
        Some((asked, max)) if asked >= max => {
            BUDGET.set(Some((max + 1, max)));
            Err(too_many(max).into())
        }
        Some((asked, max)) => {
            BUDGET.set(Some((asked + 1, max)));
            Ok(())
        }
        None => Ok(()),
    }
}

/// What a rule that asks for more than `max` tasks on one event is told.
pub fn too_many(max: usize) -> String {
    format!("asked for more than {max} tasks on one event (limits.max_tasks_per_event = {max})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_may_ask_for_as_many_tasks_as_the_limit_and_no_more() {
        let asked = |n: usize| with_task_limit(3, || (0..n).map(|_| take()).filter(Result::is_ok).count());
        assert_eq!(asked(3), (3, false));
        let (results, over) = with_task_limit(3, || (0..4).map(|_| take()).collect::<Vec<_>>());
        let err = results.last().unwrap().as_ref().unwrap_err().to_string();
        assert!(over);
        assert!(err.contains("asked for more than 3 tasks on one event (limits.max_tasks_per_event = 3)"), "{err}");
        // Each call starts afresh; outside a call there is no limit.
        assert_eq!(asked(3), (3, false));
        assert!((0..10).all(|_| take().is_ok()));
    }
}

//! The stack rules run on. Rhai evaluates a rule by recursion in Rust: each
//! call level, nested expression and import takes stack. Its limits
//! (`limits.max_call_levels`, at most [`crate::config::MAX_CALL_LEVELS`];
//! expressions 64 deep, 32 in a function; imports [`MAX_IMPORT_DEPTH`] deep)
//! bound how much, and every thread that runs rules gets a stack sized for
//! that bound, so that no rule text can overflow it and abort the process:
//! it fails as a rule error instead.
//!
//! [`MAX_IMPORT_DEPTH`]: crate::rules::modules

/// Bytes of stack for a thread that runs rules. Reserved, not used: only the
/// pages a deep rule touches are ever backed by memory. The deepest rule the
/// limits allow (256 call levels, each an expression as deep as a function
/// may hold, through modules) touched 22 MiB in a debug build: this is ten
/// times that.
pub const STACK_BYTES: usize = 256 << 20;

/// Start `f` on a thread with a stack for rules.
pub fn spawn<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::io::Result<std::thread::JoinHandle<T>> {
    std::thread::Builder::new().name(name.to_string()).stack_size(STACK_BYTES).spawn(f)
}

/// Run `f` to its end on a thread with a stack for rules; a panic in it goes on in the caller.
pub fn run<T: Send + 'static>(name: &str, f: impl FnOnce() -> T + Send + 'static) -> std::io::Result<T> {
    match spawn(name, f)?.join() {
        Ok(v) => Ok(v),
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

//! Stop signals (SIGINT, SIGTERM), caught from the first instant of the process.
//!
//! [`install`] is the first thing `main` does. From then on a stop signal
//! only sets the stop flag, whatever the process is doing: parsing its
//! arguments, loading the rules, opening the store, taking the inbox lock.
//! The commands that stop cleanly (`ingest`, `import`, `run`, `watch`) look at
//! the flag between two steps, so a stop during their start-up is a clean stop
//! with nothing half-done. Every other command calls [`default_action`] once
//! it knows it is not one of them: a signal then does what it does by default
//! (ends the process), and one that came already ends it now.
//!
//! The stop signals are unblocked as well: a process started with them
//! blocked (a child inherits the signal mask of the thread that started it)
//! would otherwise never see them. A signal sent before the process could
//! catch it waits, blocked, until it can, and is then caught like any other.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock};

/// Set by the first stop signal.
static STOP: LazyLock<Arc<AtomicBool>> = LazyLock::new(|| Arc::new(AtomicBool::new(false)));

#[cfg(unix)]
mod unix {
    use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

    /// The signal caught last (0: none yet).
    pub static RECEIVED: AtomicI32 = AtomicI32::new(0);
    /// Set for commands that do not stop cleanly: a signal ends them as it would by default.
    pub static DEFAULT: AtomicBool = AtomicBool::new(false);
    pub const SIGNALS: [i32; 2] = [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM];

    /// Unblock the stop signals in this thread (the threads started later inherit it).
    pub fn unblock() -> std::io::Result<()> {
        // SAFETY: a zeroed sigset_t is a valid argument to sigemptyset, which initialises it;
        // pthread_sigmask only reads the set.
        let rc = unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            for s in SIGNALS {
                libc::sigaddset(&mut set, s);
            }
            libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut())
        };
        if rc == 0 { Ok(()) } else { Err(std::io::Error::from_raw_os_error(rc)) }
    }

    pub fn end_as_by_default(signal: i32) {
        let _ = signal_hook::low_level::emulate_default_handler(signal);
    }

    pub fn register(stop: std::sync::Arc<AtomicBool>) -> std::io::Result<()> {
        for signal in SIGNALS {
            let stop = stop.clone();
            let action = move || {
                RECEIVED.store(signal, Ordering::SeqCst);
                stop.store(true, Ordering::SeqCst);
                if DEFAULT.load(Ordering::SeqCst) {
                    end_as_by_default(signal);
                }
            };
            // SAFETY: the action only stores and loads atomics (through an Arc
            // made before the handler exists) and runs signal-hook's emulation
            // of the default action, which is async-signal-safe.
            unsafe { signal_hook::low_level::register(signal, action) }?;
        }
        Ok(())
    }
}

/// Catch SIGINT and SIGTERM into the stop flag, and unblock them. Call it first thing.
pub fn install() {
    let stop = STOP.clone();
    #[cfg(unix)]
    {
        if let Err(e) = unix::register(stop) {
            eprintln!("warning: cannot catch stop signals ({e}); Ctrl-C ends dealflow at once");
        } else if let Err(e) = unix::unblock() {
            eprintln!("warning: cannot unblock stop signals ({e})");
        }
    }
    #[cfg(not(unix))]
    drop(stop);
}

/// The flag the stop signals set.
pub fn stop_flag() -> Arc<AtomicBool> {
    STOP.clone()
}

/// For a command that does not stop cleanly: from now on a stop signal ends
/// the process as by default, and one that came already ends it now.
pub fn default_action() {
    #[cfg(unix)]
    {
        unix::DEFAULT.store(true, Ordering::SeqCst);
        let caught = unix::RECEIVED.load(Ordering::SeqCst);
        if caught != 0 {
            unix::end_as_by_default(caught);
        }
    }
    #[cfg(not(unix))]
    let _ = STOP.load(Ordering::SeqCst);
}

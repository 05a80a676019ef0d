//! The `dealflow` command. All the work is in the library; this parses
//! arguments, prints, and turns outcomes into exit codes.

mod cli;

fn main() -> std::process::ExitCode {
    // Before anything else: a stop signal from now on is caught, never lost.
    cli::signals::install();
    // `dealflow tasks | head` should end quietly when `head` stops reading.
    #[cfg(unix)]
    // SAFETY: restoring the default SIGPIPE action before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    // Rules run on a stack sized for the deepest rule the limits allow: no rule overflows it.
    dealflow::rules::stack::run("dealflow", cli::main).unwrap_or_else(|e| {
        eprintln!("error: cannot start a thread to run the rules on: {e}");
        std::process::ExitCode::FAILURE
    })
}

//! Warnings and the `RUST_LOG` trace on standard error: one line each, their
//! text escaped like all output ([`super::output::printable`]), coloured only
//! where colour is wanted.
//!
//! Colour follows the same rules as clap's own messages: on when standard
//! error is a terminal that supports it, off for a file or a pipe, off when
//! `NO_COLOR` is set (to anything but the empty string), on when
//! `CLICOLOR_FORCE` is set (not `0`), `NO_COLOR` winning over both.

use std::fmt::Write as _;

use tracing_subscriber::fmt::format::{Writer, debug_fn};

use super::output::printable;

/// Install the subscriber: `warn` and worse unless `RUST_LOG` says otherwise.
pub fn init() {
    // A field's value is written whole, then escaped: a rule's error quoting
    // an event cannot add a line or send ESC to the terminal. The message
    // comes first; the `log.*` fields of a library's `log` records are left
    // out, as the default format does.
    let fields = debug_fn(|w: &mut Writer<'_>, field: &tracing::field::Field, value: &dyn std::fmt::Debug| {
        let mut text = String::new();
        write!(text, "{value:?}")?;
        match field.name() {
            "message" => write!(w, "{}", printable(&text)),
            name if name.starts_with("log.") => Ok(()),
            name => write!(w, " {name}={}", printable(&text)),
        }
    });
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .with_ansi(colour())
        .fmt_fields(fields)
        .with_target(false)
        .without_time()
        .init();
}

/// Whether standard error gets colour: the decision clap makes for its own messages.
fn colour() -> bool {
    anstream::AutoStream::choice(&std::io::stderr()) != anstream::ColorChoice::Never
}

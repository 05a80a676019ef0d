//! `config.toml` as `dealflow check` reads it, from any text. Nothing may
//! panic; a config that does not load says where: each problem is one line,
//! `config.toml:LINE:COL: message`, with a line inside the text.

#![no_main]

use std::path::Path;

use dealflow::config::Config;
use dealflow::error::{Error, Problems};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let problems = match Config::parse(Path::new("."), text) {
        Ok(_) => return,
        Err(Error::Invalid(Problems(problems))) => problems,
        Err(other) => panic!("not a located problem: {other}"),
    };
    assert!(!problems.is_empty());
    let lines = text.split('\n').count();
    for p in problems {
        assert_eq!(p.file, "config.toml");
        assert!((1..=lines).contains(&p.line) && p.col >= 1, "{p} is outside the text of {lines} lines");
        assert!(!p.message.trim().is_empty() && !p.message.contains('\n'), "not one line: {p}");
    }
});

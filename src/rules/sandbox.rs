//! The engine rules run in: limits on operations, call depth, string, array
//! and map sizes; no `eval`; `import` only of the modules checked when the
//! rules loaded (see `modules.rs`); and nothing that makes a rule's answer
//! depend on when or where it runs: Rhai's standard library without its
//! wall clock (`timestamp()`, `elapsed`) and without `sleep`.

use rhai::packages::{
    BasicArrayPackage, BasicBlobPackage, BasicMapPackage, BasicMathPackage, BitFieldPackage, CorePackage, LogicPackage,
    MoreStringPackage, Package,
};
use rhai::{Engine, EvalAltResult};

use crate::config::Limits;

/// Functions of Rhai's standard library rules do not get, and why: each
/// makes the same events and rules give other results on another run.
/// `check` names every call of one of them.
pub const WITHHELD: [(&str, &str); 3] =
    [("timestamp", "reads the wall clock"), ("elapsed", "reads the wall clock"), ("sleep", "waits on the wall clock")];

/// Why a function is withheld from rules, when it is.
pub fn withheld(name: &str) -> Option<&'static str> {
    WITHHELD.iter().find(|(n, _)| *n == name).map(|(_, why)| *why)
}

/// Build the sandboxed engine (its module resolver is set once the modules are loaded).
pub fn engine(limits: &Limits) -> Engine {
    let mut engine = Engine::new_raw();
    // As `Engine::new` does (its `MAX_STRINGS_INTERNED`).
    engine.set_max_strings_interned(256);
    // Rhai's `StandardPackage`, less `BasicTimePackage` (the wall clock).
    for package in [
        CorePackage::new().as_shared_module(),
        BitFieldPackage::new().as_shared_module(),
        LogicPackage::new().as_shared_module(),
        BasicMathPackage::new().as_shared_module(),
        BasicArrayPackage::new().as_shared_module(),
        BasicBlobPackage::new().as_shared_module(),
        BasicMapPackage::new().as_shared_module(),
        MoreStringPackage::new().as_shared_module(),
    ] {
        engine.register_global_module(package);
    }
    // `sleep` comes with the core package: the engine's own functions are
    // found first, so these take its place.
    engine.register_fn("sleep", |_: i64| -> Result<(), Box<EvalAltResult>> { Err(not_in_rules("sleep")) });
    engine.register_fn("sleep", |_: f64| -> Result<(), Box<EvalAltResult>> { Err(not_in_rules("sleep")) });
    engine.set_max_operations(limits.max_operations);
    engine.set_max_call_levels(limits.max_call_levels);
    engine.set_max_expr_depths(64, 32);
    engine.set_max_string_size(limits.max_string_size);
    engine.set_max_array_size(limits.max_collection_size);
    engine.set_max_map_size(limits.max_collection_size);
    engine.set_max_modules(16);
    engine.set_max_variables(1000);
    engine.set_max_functions(10_000);
    engine.disable_symbol("eval");
    engine.set_module_resolver(rhai::module_resolvers::DummyModuleResolver::new());
    engine.on_print(|text| tracing::info!(target: "rules", "{text}"));
    engine.on_debug(|text, source, pos| tracing::debug!(target: "rules", "{}:{pos}: {text}", source.unwrap_or("?")));
    engine
}

fn not_in_rules(name: &str) -> Box<EvalAltResult> {
    let why = withheld(name).unwrap_or("is not available");
    format!("{name}() {why}: rules see business time only (the event's time, dates in the facts)").into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sandbox() -> Engine {
        engine(&Limits::default())
    }

    #[test]
    fn the_wall_clock_and_sleep_are_not_there() {
        let e = sandbox();
        for script in ["timestamp()", "let t = timestamp(); t.elapsed", "sleep(100)", "sleep(100.0)"] {
            let started = std::time::Instant::now();
            let err = e.eval::<rhai::Dynamic>(script).unwrap_err().to_string();
            assert!(started.elapsed() < std::time::Duration::from_secs(5), "{script}");
            assert!(err.contains("timestamp") || err.contains("sleep"), "{script}: {err}");
        }
    }

    #[test]
    fn everything_else_of_the_standard_library_is_there() {
        use rhai::packages::{BasicTimePackage, Package};
        let full: std::collections::BTreeSet<String> = names(&Engine::new());
        let ours = names(&sandbox());
        let mut time = Engine::new_raw();
        time.register_global_module(BasicTimePackage::new().as_shared_module());
        let time = names(&time);
        let missing: Vec<&String> = full.difference(&ours).filter(|n| !time.contains(*n)).collect();
        assert!(missing.is_empty(), "missing from the sandbox: {missing:?}");
        assert!(full.contains("timestamp") && !ours.contains("timestamp"));
        // Every function of the wall clock a rule could call by name, `check` names.
        let callable: Vec<&String> =
            time.iter().filter(|n| n.chars().all(|c| c.is_alphanumeric() || c == '_')).collect();
        assert!(!callable.is_empty() && callable.iter().all(|n| withheld(n).is_some()), "{callable:?}");
    }

    fn names(e: &Engine) -> std::collections::BTreeSet<String> {
        e.gen_fn_signatures(true)
            .into_iter()
            .filter_map(|s| s.split('(').next().map(|n| n.trim_start_matches("get$").to_string()))
            .collect()
    }
}

//! The engine rules run in: limits on operations, call depth, string, array
//! and map sizes; no `eval`; `import` only from the rules folder.

use std::path::{Path, PathBuf};

use rhai::module_resolvers::FileModuleResolver;
use std::sync::Arc;

use rhai::{Engine, EvalAltResult, Module, ModuleResolver, Position};

type SharedModule = Arc<Module>;

use crate::config::Limits;

/// Build the sandboxed engine for the rules in `rules_dir`.
pub fn engine(limits: &Limits, rules_dir: &Path) -> Engine {
    let mut engine = Engine::new();
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
    engine.set_module_resolver(ConfinedResolver::new(rules_dir));
    engine.on_print(|text| tracing::info!(target: "rules", "{text}"));
    engine.on_debug(|text, source, pos| tracing::debug!(target: "rules", "{}:{pos}: {text}", source.unwrap_or("?")));
    engine
}

/// Resolves `import "x"` to `rules/x.rhai`, refusing any path that leaves the
/// rules folder. A fresh resolver (and so a fresh module cache) is made with
/// each engine, so a reload never sees a stale module.
struct ConfinedResolver {
    root: PathBuf,
    inner: FileModuleResolver,
}

impl ConfinedResolver {
    fn new(rules_dir: &Path) -> Self {
        let root = rules_dir.canonicalize().unwrap_or_else(|_| rules_dir.to_path_buf());
        ConfinedResolver { inner: FileModuleResolver::new_with_path(&root), root }
    }
}

impl ModuleResolver for ConfinedResolver {
    fn resolve(
        &self,
        engine: &Engine,
        source: Option<&str>,
        path: &str,
        pos: Position,
    ) -> Result<SharedModule, Box<EvalAltResult>> {
        let file = self.inner.get_file_path(path, None);
        let inside = file.canonicalize().map(|f| f.starts_with(&self.root)).unwrap_or(false);
        if !inside {
            return Err(EvalAltResult::ErrorInModule(
                path.to_string(),
                format!("import {path:?}: only modules inside the rules folder can be imported").into(),
                pos,
            )
            .into());
        }
        self.inner.resolve(engine, source, path, pos)
    }
}

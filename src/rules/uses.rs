//! What `check` reads from the compiled rules beyond their shape: the calls
//! of functions the sandbox withholds, and the settings the rules use as
//! numbers (so that `key_revenue_12m = "lots"` is refused at its line in
//! `config.toml`, not found by a rule on some event later).
//!
//! A setting is used as a number where `settings.NAME` is
//!
//! * an operand of `*`, `/`, `%`, `**`, or of unary `-`;
//! * compared (`<`, `<=`, `>`, `>=`, `==`, `!=`) with, or added to or taken
//!   from, a number: a number written in the rule, arithmetic, another
//!   setting that is a number, or a fact that is a number (`account.revenue_12m`);
//! * the amount of `money(...)`;
//!
//! and as a whole number where it is a number of days: the `n` of
//! `add_days(d, n)` and `add_business_days(d, n)`, or a task's `due_in_days`
//! or `every_days`.

use rhai::{AST, ASTNode, Dynamic, Expr, Map, Stmt};

use super::Fact;
use crate::config::Config;
use crate::error::Located;

/// What kind of number a use needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Need {
    Number,
    Whole,
}

/// One place a rule uses a setting as a number.
#[derive(Debug, Clone)]
pub struct SettingUse {
    pub name: String,
    pub need: Need,
    pub at: Located,
}

/// Every call, in this compiled file, of a function the sandbox withholds:
/// the name called, and the problem to report unless the rules define a
/// function of that name themselves (then the call is theirs).
pub fn withheld_calls(ast: &AST, file: &str) -> Vec<(String, Located)> {
    let mut found = Vec::new();
    ast.walk(&mut |nodes: &[ASTNode]| {
        let call = match nodes.last() {
            Some(ASTNode::Expr(Expr::FnCall(x, pos))) | Some(ASTNode::Stmt(Stmt::FnCall(x, pos)))
                if x.namespace.is_empty() =>
            {
                Some((x, pos))
            }
            Some(ASTNode::Expr(Expr::MethodCall(x, pos))) => Some((x, pos)),
            _ => None,
        };
        if let Some((x, pos)) = call
            && let Some(why) = super::sandbox::withheld(&x.name)
        {
            let (line, col) = super::position(*pos);
            let message = format!(
                "{}() {why}: rules see business time only, so that the same events always give the same result (use event.at and the dates in the facts)",
                x.name
            );
            found.push((x.name.to_string(), Located::new(file, line, col, message)));
        }
        true
    });
    found
}

/// The type of each fact field, read from the facts of an empty record.
pub struct FactShapes {
    facts: Vec<(&'static str, Dynamic)>,
}

impl FactShapes {
    pub fn new(config: &Config) -> FactShapes {
        use crate::model::{Account, AccountStats, Deal, DealStats, Lead};
        let at = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH;
        let facts = vec![
            ("account", crate::facts::account(&Account::default(), &AccountStats::default(), at)),
            ("deal", crate::facts::deal(&Deal::default(), &DealStats::default(), &config.pipeline, None, at)),
            ("lead", crate::facts::lead(&Lead::default())),
            ("event", crate::facts::event("", "", at, &serde_json::Map::new())),
        ];
        FactShapes { facts }
    }

    /// Whether `fact.keys...` is a number in every record.
    fn is_number(&self, fact: &str, keys: &[&str]) -> bool {
        let Some((_, mut value)) = self.facts.iter().find(|(f, _)| *f == fact).map(|(f, v)| (f, v.clone())) else {
            return false;
        };
        for key in keys {
            let next = value.read_lock::<Map>().and_then(|m| m.get(*key).cloned());
            match next {
                Some(v) => value = v,
                None => return false,
            }
        }
        value.is_int() || value.is_float()
    }
}

/// `settings.NAME`: the name and where it is used.
fn setting(e: &Expr) -> Option<(&str, rhai::Position)> {
    let Expr::Dot(x, _, pos) = e else { return None };
    match (&x.lhs, &x.rhs) {
        (Expr::Variable(v, _, _), Expr::Property(p, _)) if v.1 == "settings" && v.2.is_empty() => {
            Some((p.2.as_str(), *pos))
        }
        _ => None,
    }
}

/// `fact.key.key...`: the fact's name and the keys.
fn fact_path(e: &Expr) -> Option<(&str, Vec<&str>)> {
    let Expr::Dot(x, _, _) = e else { return None };
    let Expr::Variable(v, _, _) = &x.lhs else { return None };
    Fact::of(v.1.as_str())?;
    let mut keys = Vec::new();
    let mut rhs = &x.rhs;
    loop {
        match rhs {
            Expr::Property(p, _) => {
                keys.push(p.2.as_str());
                return Some((v.1.as_str(), keys));
            }
            Expr::Dot(d, _, _) => match &d.lhs {
                Expr::Property(p, _) => {
                    keys.push(p.2.as_str());
                    rhs = &d.rhs;
                }
                _ => return None,
            },
            _ => return None,
        }
    }
}

const ARITHMETIC: [&str; 4] = ["*", "/", "%", "**"];
const WITH_A_NUMBER: [&str; 8] = ["+", "-", "<", "<=", ">", ">=", "==", "!="];

/// Whether `e` is certainly a number.
fn is_number(e: &Expr, config: &Config, shapes: &FactShapes) -> bool {
    match e {
        Expr::IntegerConstant(..) | Expr::FloatConstant(..) => true,
        Expr::FnCall(x, _) if x.namespace.is_empty() && x.is_operator_call() => {
            let name = x.name.as_str();
            ARITHMETIC.contains(&name)
                || (x.args.len() == 1 && name == "-")
                || ((name == "+" || name == "-") && x.args.iter().any(|a| is_number(a, config, shapes)))
        }
        _ => {
            if let Some((name, _)) = setting(e) {
                return config.settings.get(name).is_some_and(|v| v.is_integer() || v.is_float());
            }
            fact_path(e).is_some_and(|(fact, keys)| shapes.is_number(fact, &keys))
        }
    }
}

/// Every use of a setting as a number in this compiled file.
pub fn setting_uses(ast: &AST, file: &str, config: &Config, shapes: &FactShapes) -> Vec<SettingUse> {
    let mut uses = Vec::new();
    let mut used = |e: &Expr, need: Need| {
        if let Some((name, pos)) = setting(e) {
            let (line, col) = super::position(pos);
            uses.push(SettingUse { name: name.to_string(), need, at: Located::new(file, line, col, "") });
        }
    };
    ast.walk(&mut |nodes: &[ASTNode]| {
        match nodes.last() {
            Some(ASTNode::Expr(Expr::FnCall(x, _)) | ASTNode::Stmt(Stmt::FnCall(x, _))) if x.namespace.is_empty() => {
                let name = x.name.as_str();
                let args = &x.args;
                if x.is_operator_call() && (ARITHMETIC.contains(&name) || (name == "-" && args.len() == 1)) {
                    args.iter().for_each(|a| used(a, Need::Number));
                } else if x.is_operator_call() && WITH_A_NUMBER.contains(&name) && args.len() == 2 {
                    for (a, b) in [(&args[0], &args[1]), (&args[1], &args[0])] {
                        if is_number(b, config, shapes) {
                            used(a, Need::Number);
                        }
                    }
                } else if name == "money" && args.len() == 1 {
                    used(&args[0], Need::Number);
                } else if (name == "add_days" || name == "add_business_days") && args.len() == 2 {
                    used(&args[1], Need::Whole);
                }
            }
            Some(ASTNode::Expr(Expr::Map(x, _))) => {
                for (key, value) in &x.0 {
                    if key.name == "due_in_days" || key.name == "every_days" {
                        used(value, Need::Whole);
                    }
                }
            }
            _ => {}
        }
        true
    });
    uses
}

/// Each setting used as a number must be one: a problem at its value in `config.toml` when it is not.
pub fn check_settings(config: &Config, mut uses: Vec<SettingUse>, problems: &mut Vec<Located>) {
    // The strictest use of each setting, the first in file and line order.
    uses.sort_by(|a, b| {
        (&a.name, std::cmp::Reverse(a.need), &a.at.file, a.at.line, a.at.col).cmp(&(
            &b.name,
            std::cmp::Reverse(b.need),
            &b.at.file,
            b.at.line,
            b.at.col,
        ))
    });
    uses.dedup_by(|a, b| a.name == b.name);
    for u in uses {
        let Some(value) = config.settings.get(&u.name) else { continue };
        let what = match u.need {
            Need::Number if value.is_integer() || value.is_float() => continue,
            Need::Whole if value.is_integer() => continue,
            Need::Number => "a number",
            Need::Whole => "a whole number",
        };
        let (line, col) = config.setting_place(&u.name);
        problems.push(Located::new(
            crate::config::CONFIG_FILE,
            line,
            col,
            format!(
                "settings.{}: {value} is not {what}, and {}:{}:{} uses it as one",
                u.name, u.at.file, u.at.line, u.at.col
            ),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        let text = "[pipeline]\nstages = [\"lead\", \"won\", \"lost\"]\nwon = [\"won\"]\nlost = [\"lost\"]\n[roles.sales_rep]\n\
                    [settings]\nlimit = 3\nname = \"x\"\n";
        Config::parse(std::path::Path::new("."), text).unwrap()
    }

    fn uses(src: &str) -> Vec<(String, Need)> {
        let config = config();
        let ast = Engine::new_raw().compile(src).unwrap();
        setting_uses(&ast, "rules/t.rhai", &config, &FactShapes::new(&config))
            .into_iter()
            .map(|u| (u.name, u.need))
            .collect()
    }

    use rhai::Engine;

    #[test]
    fn numbers_are_told_by_what_they_meet() {
        let n = |s: &str| (s.to_string(), Need::Number);
        let w = |s: &str| (s.to_string(), Need::Whole);
        assert_eq!(uses("fn f(settings) { settings.a * 2 }"), [n("a")]);
        assert_eq!(uses("fn f(settings) { settings.a > 2 }"), [n("a")]);
        assert_eq!(uses("fn f(settings) { 2.5 <= settings.a }"), [n("a")]);
        assert_eq!(uses("fn f(settings, account) { account.revenue_12m >= settings.a }"), [n("a")]);
        assert_eq!(uses("fn f(settings) { settings.a - settings.limit }"), [n("a")]);
        assert_eq!(uses("fn f(settings) { -settings.a }"), [n("a")]);
        assert_eq!(uses("fn f(settings) { money(settings.a) }"), [n("a")]);
        assert_eq!(uses("fn f(settings) { add_days(\"2026-01-01\", settings.a) }"), [w("a")]);
        assert_eq!(uses("fn f(settings) { #{ due_in_days: settings.a } }"), [w("a")]);
        // Text may meet text, and a setting whose type nothing tells stays free.
        assert!(uses("fn f(settings, deal) { deal.stage == settings.a || settings.b + \"x\" }").is_empty());
        assert!(uses("fn f(settings) { settings.a == settings.name }").is_empty());
        assert!(uses("fn f(settings) { `${settings.a}` }").is_empty());
    }
}

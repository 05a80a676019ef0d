//! The functions rule scripts call: the decisions they return (`move_to`,
//! `refuse`, `key`, `not_key`, `task`, `handover`), the pipeline's shape
//! (`stage`, `at_or_after`, `before`, `is_open`, ...) and date helpers. Each
//! decision is a plain map the engine reads back, so a rule can also build
//! one by hand.

use rhai::{Dynamic, Engine, EvalAltResult, Map};

use crate::config::Pipeline;
use crate::event::parse_date;
use crate::time;

type Fallible<T> = Result<T, Box<EvalAltResult>>;

fn decision(kind: &str, fields: &[(&str, &str)]) -> Map {
    let mut m = Map::new();
    m.insert("decision".into(), kind.into());
    for (k, v) in fields {
        m.insert((*k).into(), (*v).into());
    }
    m
}

/// A decision map with the rule's options laid over it.
fn with_options(mut decision: Map, options: Map) -> Map {
    decision.extend(options);
    decision
}

fn date_arg(s: &str) -> Fallible<chrono::NaiveDate> {
    parse_date(s).ok_or_else(|| format!("{s:?} is not a date (write it like 2026-11-02)").into())
}

/// A stage named in a rule: a part of `[pipeline.parts]` or a stage of the pipeline.
fn stage_arg<'p>(pipeline: &'p Pipeline, name: &str) -> Fallible<&'p str> {
    pipeline.resolve(name).ok_or_else(|| {
        let h = crate::error::hint(name, pipeline.names());
        format!("{name:?} is neither a stage of pipeline.stages nor a part in [pipeline.parts] of config.toml{h}")
            .into()
    })
}

/// A stage-valued fact handed to a helper: `()` (no stage, as
/// `deal.requested_stage` when nothing was asked for) is `None`.
fn stage_fact<'p>(pipeline: &'p Pipeline, value: &Dynamic) -> Fallible<Option<&'p str>> {
    if value.is_unit() {
        return Ok(None);
    }
    match value.clone().into_immutable_string() {
        Ok(s) => stage_arg(pipeline, &s).map(Some),
        Err(kind) => Err(format!("a stage is text, not {kind}").into()),
    }
}

/// Register the stage helpers: the pipeline's shape, so that rules need not
/// list stages by hand and survive a pipeline with other names.
fn register_pipeline(engine: &mut Engine, pipeline: &Pipeline) {
    let p = std::sync::Arc::new(pipeline.clone());
    let q = p.clone();
    engine.register_fn("stage", move |name: &str| -> Fallible<String> { Ok(stage_arg(&q, name)?.to_string()) });
    for (name, at_or_after) in [("at_or_after", true), ("before", false)] {
        let q = p.clone();
        engine.register_fn(name, move |stage: Dynamic, other: &str| -> Fallible<bool> {
            let other = q.index(stage_arg(&q, other)?);
            Ok(match stage_fact(&q, &stage)? {
                None => false,
                Some(s) => (q.index(s) >= other) == at_or_after,
            })
        });
    }
    type Test = fn(&Pipeline, &str) -> bool;
    let tests: [(&str, Test); 4] = [
        ("is_open", |p, s| !p.is_closed(s)),
        ("is_won", Pipeline::is_won),
        ("is_lost", Pipeline::is_lost),
        ("is_closed", Pipeline::is_closed),
    ];
    for (name, test) in tests {
        let q = p.clone();
        engine.register_fn(name, move |stage: Dynamic| -> Fallible<bool> {
            Ok(stage_fact(&q, &stage)?.is_some_and(|s| test(&q, s)))
        });
    }
}

/// Register the rule API on `engine`; date helpers count business days on
/// `calendar`, stage helpers read the order of `pipeline`.
pub fn register(engine: &mut Engine, calendar: &time::Calendar, pipeline: &Pipeline) {
    register_pipeline(engine, pipeline);
    // Stage rules.
    engine
        .register_fn("move_to", |stage: &str, reason: &str| decision("move", &[("stage", stage), ("reason", reason)]));
    engine.register_fn("refuse", |reason: &str| decision("refuse", &[("reason", reason)]));
    // Key-account rules.
    engine.register_fn("key", |reason: &str| decision("key", &[("reason", reason)]));
    engine.register_fn("not_key", |reason: &str| decision("not_key", &[("reason", reason)]));
    // Task rules.
    engine.register_fn("task", |role: &str, title: &str| -> Fallible<Map> {
        super::task_budget::take()?;
        Ok(decision("task", &[("role", role), ("title", title)]))
    });
    engine.register_fn("task", |role: &str, title: &str, options: Map| -> Fallible<Map> {
        super::task_budget::take()?;
        Ok(with_options(decision("task", &[("role", role), ("title", title)]), options))
    });
    engine.register_fn("handover", |role: &str, reason: &str| {
        decision("handover", &[("role", role), ("reason", reason)])
    });
    engine.register_fn("handover", |role: &str, reason: &str, options: Map| {
        with_options(decision("handover", &[("role", role), ("reason", reason)]), options)
    });

    // Dates: strings like "2026-11-02" or full RFC 3339 times.
    engine.register_fn("date", |s: &str| -> Fallible<String> { Ok(date_arg(s)?.to_string()) });
    engine.register_fn("days_between", |a: &str, b: &str| -> Fallible<i64> {
        Ok((date_arg(b)? - date_arg(a)?).num_days())
    });
    engine.register_fn("months_between", |a: &str, b: &str| -> Fallible<i64> {
        Ok(time::months_between(date_arg(a)?, date_arg(b)?))
    });
    engine.register_fn("add_days", |d: &str, n: i64| -> Fallible<String> {
        let date = date_arg(d)?;
        let later = chrono::Duration::try_days(n).and_then(|days| date.checked_add_signed(days));
        Ok(later.ok_or_else(|| format!("add_days({d:?}, {n}) is beyond the calendar"))?.to_string())
    });
    let cal = calendar.clone();
    engine.register_fn("add_business_days", move |d: &str, n: i64| -> Fallible<String> {
        Ok(cal.add_business_days(date_arg(d)?, n).to_string())
    });
    let cal = calendar.clone();
    engine.register_fn("is_business_day", move |d: &str| -> Fallible<bool> { Ok(cal.is_business_day(date_arg(d)?)) });

    // Money, for reasons people read: 1234567 -> "1,234,567".
    engine.register_fn("money", |x: f64| money(x));
    engine.register_fn("money", |x: i64| money(x as f64));
    // A missing value (`()`) reads as zero in arithmetic-minded rules.
    engine.register_fn("or_zero", |x: Dynamic| if x.is_unit() { Dynamic::from(0_i64) } else { x });
}

/// The name of every function [`register`] gives rules: a rule file may not
/// define one of its own (it would change it for every other file).
pub fn names() -> &'static std::collections::BTreeSet<String> {
    static NAMES: std::sync::OnceLock<std::collections::BTreeSet<String>> = std::sync::OnceLock::new();
    NAMES.get_or_init(|| {
        let mut engine = Engine::new_raw();
        register(&mut engine, &time::Calendar::default(), &Pipeline::default());
        engine.gen_fn_signatures(false).iter().filter_map(|s| s.split('(').next()).map(str::to_string).collect()
    })
}

pub fn money(x: f64) -> String {
    let negative = x < 0.0;
    let whole = x.abs().round() as u64;
    let digits = whole.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if negative { format!("-{out}") } else { out }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_names_are_every_registered_function() {
        let names = names();
        for name in ["move_to", "refuse", "key", "not_key", "task", "handover", "money", "or_zero", "add_business_days"]
        {
            assert!(names.contains(name), "{name} in {names:?}");
        }
        assert!(!names.contains("len") && !names.contains("timestamp"), "{names:?}");
    }

    fn pipeline_engine() -> Engine {
        let pipeline = crate::config::pipedrive_pipeline();
        let mut engine = Engine::new();
        register(&mut engine, &time::Calendar::default(), &pipeline);
        engine
    }

    #[test]
    fn stage_helpers_read_parts_and_the_pipelines_order() {
        let engine = pipeline_engine();
        let yes = |src: &str| engine.eval::<bool>(src).unwrap();
        assert_eq!(engine.eval::<String>(r#"stage("qualified")"#).unwrap(), "Contact Made");
        assert_eq!(engine.eval::<String>(r#"stage("Proposal Made")"#).unwrap(), "Proposal Made");
        assert!(yes(r#"at_or_after("Negotiations Started", "negotiation")"#));
        assert!(yes(r#"at_or_after("Won", "negotiation")"#));
        assert!(!yes(r#"at_or_after("Proposal Made", "negotiation")"#));
        assert!(yes(r#"before("Lead In", "qualified")"#));
        assert!(!yes(r#"before("Contact Made", "qualified")"#));
        // No stage (a deal nobody asked to move) is at no place in the pipeline.
        assert!(!yes(r#"at_or_after((), "negotiation")"#) && !yes(r#"before((), "negotiation")"#));
        assert!(yes(r#"is_open("negotiation") && is_won("Won") && is_lost("Lost") && is_closed("Won")"#));
        assert!(!yes(r#"is_open("Won") || is_closed(()) || is_won("Lost")"#));
        let err = engine.eval::<String>(r#"stage("negotation")"#).unwrap_err().to_string();
        assert!(err.contains(r#""negotation" is neither a stage"#) && err.contains("did you mean"), "{err}");
        let err = engine.eval::<bool>(r#"at_or_after(3, "negotiation")"#).unwrap_err().to_string();
        assert!(err.contains("a stage is text"), "{err}");
    }

    #[test]
    fn money_groups_thousands() {
        assert_eq!(money(1234567.4), "1,234,567");
        assert_eq!(money(999.0), "999");
        assert_eq!(money(-1000.0), "-1,000");
    }

    #[test]
    fn helpers_work_from_scripts() {
        let mut engine = Engine::new();
        register(&mut engine, &time::Calendar::default(), &Pipeline::default());
        let n: i64 = engine.eval(r#"days_between("2026-11-01", "2026-11-11T10:00:00Z")"#).unwrap();
        assert_eq!(n, 10);
        let d: String = engine.eval(r#"add_business_days("2026-11-06", 1)"#).unwrap();
        assert_eq!(d, "2026-11-09");
        let t: Map = engine.eval(r#"task("sales_rep", "Call", #{ priority: "high" })"#).unwrap();
        assert_eq!(t["priority"].clone().into_string().unwrap(), "high");
        let err = engine.eval::<i64>(r#"days_between("soon", "2026-11-11")"#).unwrap_err().to_string();
        assert!(err.contains("is not a date"), "{err}");
        // A number from an event can be anything: an error for the rule, never a panic.
        let err = engine.eval::<String>(r#"add_days("2026-11-06", 9223372036854775807)"#).unwrap_err().to_string();
        assert!(err.contains("is beyond the calendar"), "{err}");
        let err = engine.eval::<String>(r#"add_days("2026-11-06", 100000000000)"#).unwrap_err().to_string();
        assert!(err.contains("is beyond the calendar"), "{err}");
        let d: String = engine.eval(r#"add_business_days("2026-11-06", 9223372036854775807)"#).unwrap();
        assert!(d.starts_with("21"), "{d}");
        // Whole and decimal numbers compare as people expect.
        assert!(engine.eval::<bool>("150000.5 >= 150000").unwrap());
    }
}

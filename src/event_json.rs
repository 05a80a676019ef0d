//! Reading the JSON of one event line strictly: a key twice in one object is
//! refused (at any depth, named by its path), and the line's nesting depth
//! and number of values are bounded while it is read, so a hostile line is
//! refused before it takes more memory than [`LineLimits`] allows.
//!
//! Why not `serde_json::from_str::<Value>`: it keeps the last of two equal
//! keys (`{"id": "a", "id": "b"}` is event `b`), and it builds every value of
//! a line before anyone can count them: 7.5 million numbers on a 14 MiB line
//! took gigabytes. Here the values are built by a visitor that counts as it
//! goes and stops at the limit.

use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// The bounds on one line (from `[limits]` of config.toml).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineLimits {
    pub max_bytes: usize,
    pub max_depth: usize,
    pub max_values: usize,
}

impl LineLimits {
    pub fn of(limits: &crate::config::Limits) -> LineLimits {
        LineLimits {
            max_bytes: limits.max_event_line_bytes,
            max_depth: limits.max_event_depth,
            max_values: limits.max_event_values,
        }
    }
}

impl Default for LineLimits {
    fn default() -> Self {
        LineLimits::of(&crate::config::Limits::default())
    }
}

/// Parse `text` as one JSON value within `limits`. The error is the reason a
/// rejected line gives.
pub fn parse(text: &str, limits: &LineLimits) -> Result<Value, String> {
    let values = Cell::new(0);
    let seed = Seed { limits, values: &values, depth: 1, path: None };
    let mut de = serde_json::Deserializer::from_str(text);
    let value = seed.deserialize(&mut de).map_err(|e| reason(&e))?;
    de.end().map_err(|e| reason(&e))?;
    Ok(value)
}

/// A refusal of ours (a duplicate key, a limit) says what it is; anything
/// else is JSON that does not parse.
fn reason(e: &serde_json::Error) -> String {
    match e.classify() {
        serde_json::error::Category::Data => {
            let text = e.to_string();
            // serde_json adds " at line 1 column N": the line is always 1.
            let what = text.rsplit_once(" at line ").map_or(text.as_str(), |(what, _)| what);
            format!("{what} (column {})", e.column())
        }
        _ => format!("not valid JSON: {e}"),
    }
}

/// Where a value is in the line, for naming a duplicate key: `data.contacts[2]`.
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

struct Path<'a> {
    step: Step<'a>,
    parent: Option<&'a Path<'a>>,
}

fn path_text(path: Option<&Path<'_>>, last: &str) -> String {
    let mut steps = vec![last.to_string()];
    let mut at = path;
    while let Some(p) = at {
        steps.push(match &p.step {
            Step::Key(k) => format!("{k}."),
            Step::Index(i) => format!("[{i}]."),
        });
        at = p.parent;
    }
    let mut text: String = steps.into_iter().rev().collect();
    // `a.[2].b` reads `a[2].b`.
    text = text.replace(".[", "[");
    text
}

#[derive(Clone, Copy)]
struct Seed<'a> {
    limits: &'a LineLimits,
    values: &'a Cell<usize>,
    depth: usize,
    path: Option<&'a Path<'a>>,
}

impl Seed<'_> {
    /// Count one more value; refuse the line past the limit.
    fn count<E: de::Error>(&self) -> Result<(), E> {
        let n = self.values.get() + 1;
        self.values.set(n);
        if n > self.limits.max_values {
            return Err(E::custom(format_args!(
                "the line holds more than {} JSON values (limits.max_event_values)",
                self.limits.max_values
            )));
        }
        Ok(())
    }

    /// Enter an object or array.
    fn nest<E: de::Error>(&self) -> Result<(), E> {
        self.count()?;
        if self.depth > self.limits.max_depth {
            return Err(E::custom(format_args!(
                "objects and arrays nest deeper than {} levels (limits.max_event_depth)",
                self.limits.max_depth
            )));
        }
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for Seed<'_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        self.count()?;
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        self.count()?;
        Ok(Value::from(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        self.count()?;
        Ok(Value::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        self.count()?;
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        self.count()?;
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        self.count()?;
        Ok(Value::String(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        self.count()?;
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        self.visit_unit()
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        self.nest()?;
        let mut items = Vec::new();
        loop {
            let path = Path { step: Step::Index(items.len()), parent: self.path };
            let seed = Seed { depth: self.depth + 1, path: Some(&path), ..self };
            match seq.next_element_seed(seed)? {
                Some(v) => items.push(v),
                None => return Ok(Value::Array(items)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        self.nest()?;
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            if map.contains_key(&key) {
                return Err(de::Error::custom(format_args!(
                    "key {:?} appears twice: each key may be given once",
                    path_text(self.path, &key)
                )));
            }
            let path = Path { step: Step::Key(&key), parent: self.path };
            let seed = Seed { depth: self.depth + 1, path: Some(&path), ..self };
            let value = access.next_value_seed(seed)?;
            map.insert(key, value);
        }
        Ok(Value::Object(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_default(text: &str) -> Result<Value, String> {
        parse(text, &LineLimits::default())
    }

    #[test]
    fn reads_what_serde_json_reads() {
        let text = r#"{"id": 7, "x": [1, -2, 3.5, "s", null, true, {"a": {}}], "u": 18446744073709551615}"#;
        assert_eq!(parse_default(text).unwrap(), serde_json::from_str::<Value>(text).unwrap());
    }

    #[test]
    fn a_key_given_twice_is_refused_and_named_at_any_depth() {
        for (text, key) in [
            (r#"{"id": "a", "type": "clock.tick", "id": "b"}"#, "id"),
            (r#"{"id": "a", "data": {"id": "A", "name": "N", "name": "M"}}"#, "data.name"),
            (r#"{"data": {"l": [{}, {"k": 1, "k": 1}]}}"#, "data.l[1].k"),
        ] {
            let err = parse_default(text).unwrap_err();
            assert!(err.starts_with(&format!("key {key:?} appears twice")), "{text}: {err}");
            assert!(err.contains("(column "), "{err}");
        }
        // The same key in two objects is fine.
        assert!(parse_default(r#"{"a": {"k": 1}, "b": {"k": 1}}"#).is_ok());
    }

    #[test]
    fn depth_and_values_are_bounded_as_the_line_is_read() {
        let limits = LineLimits { max_bytes: 1 << 20, max_depth: 3, max_values: 10 };
        assert!(parse(r#"{"a": {"b": [1]}}"#, &limits).is_ok());
        let err = parse(r#"{"a": {"b": [[1]]}}"#, &limits).unwrap_err();
        assert!(err.starts_with("objects and arrays nest deeper than 3 levels (limits.max_event_depth)"), "{err}");
        assert!(parse("[1,2,3,4,5,6,7,8,9]", &limits).is_ok());
        let err = parse("[1,2,3,4,5,6,7,8,9,10]", &limits).unwrap_err();
        assert!(err.starts_with("the line holds more than 10 JSON values (limits.max_event_values)"), "{err}");
        assert!(parse_default("[1,").unwrap_err().starts_with("not valid JSON: "));
        assert!(parse_default("{} x").unwrap_err().starts_with("not valid JSON: trailing characters"));
    }
}

//! Adding people found in an export to the `[[team]]` roster of
//! `config.toml`, with `toml_edit` so every comment and the layout the user
//! chose stay as they were. Names already on the roster are skipped, so
//! adding the same people twice changes nothing.

use std::path::Path;

use serde::Serialize;
use toml_edit::{ArrayOfTables, DocumentMut, InlineTable, Item, Table, Value, value};

use crate::config::{CONFIG_FILE, Config};
use crate::error::{Error, Result};

/// One person of the export, with the role and region they get on the roster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Person {
    pub name: String,
    /// The CRM's user id, when the export gives one (`[[team]] id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub role: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

/// What adding people to the roster did (or would do).
#[derive(Debug, Clone, Default, Serialize)]
pub struct RosterChange {
    /// People added (or, when not written, that would be added).
    pub added: Vec<Person>,
    /// People of the export who were on the roster already.
    pub already_there: usize,
    /// Whether `config.toml` was written.
    pub written: bool,
}

/// `text` (a `config.toml`) with `people` not on its roster yet appended to
/// `[[team]]`, after the last person already there; `None` when nobody is new.
pub fn add_people(text: &str, people: &[Person], note: &str) -> Result<(Option<String>, RosterChange)> {
    let mut doc: DocumentMut = text.parse().map_err(|e: toml_edit::TomlError| {
        Error::Usage(format!("{CONFIG_FILE} cannot be edited: {}", e.message().trim()))
    })?;
    let mut change = RosterChange::default();
    // (name, id) of each person on the roster.
    let entry = |name: Option<&toml_edit::Value>, id: Option<&toml_edit::Value>| {
        let id = id.and_then(|v| v.as_str().map(str::to_string).or_else(|| v.as_integer().map(|i| i.to_string())));
        Some((key(name?.as_str()?), id))
    };
    let existing: Vec<(String, Option<String>)> = match doc.get("team") {
        None => Vec::new(),
        Some(Item::ArrayOfTables(a)) => a
            .iter()
            .filter_map(|t| entry(t.get("name").and_then(Item::as_value), t.get("id").and_then(Item::as_value)))
            .collect(),
        Some(Item::Value(Value::Array(a))) => {
            a.iter().filter_map(|v| v.as_inline_table()).filter_map(|t| entry(t.get("name"), t.get("id"))).collect()
        }
        Some(_) => return Err(Error::Usage(format!("{CONFIG_FILE}: `team` is not a list of people"))),
    };
    // A person with an id is there when their id is (a namesake with
    // another id is someone else), or when their name is there without
    // one; a person without an id is there when their name is.
    fn there<'a>(name: &str, id: Option<&str>, mut list: impl Iterator<Item = (String, Option<&'a str>)>) -> bool {
        list.any(|(n, i)| match (id, i) {
            (Some(id), Some(i)) => id == i,
            _ => n == key(name),
        })
    }
    let mut new: Vec<&Person> = Vec::new();
    for p in people {
        let id = p.id.as_deref();
        if there(&p.name, id, existing.iter().map(|(n, i)| (n.clone(), i.as_deref()))) {
            change.already_there += 1;
        } else if !there(&p.name, id, new.iter().map(|q| (key(&q.name), q.id.as_deref()))) {
            new.push(p);
        }
    }
    if new.is_empty() {
        return Ok((None, change));
    }
    if doc.get("team").is_none() {
        doc.insert("team", Item::ArrayOfTables(ArrayOfTables::new()));
    }
    match doc.get_mut("team") {
        Some(Item::ArrayOfTables(list)) => {
            // Tables are written in position order; sharing the last person's
            // position keeps the new ones right after it, before `[settings]`.
            let last = list.iter().filter_map(Table::position).max();
            for (i, p) in new.iter().enumerate() {
                let mut t = Table::new();
                t["name"] = value(p.name.as_str());
                if let Some(id) = &p.id {
                    t["id"] = value(id.as_str());
                }
                t["role"] = value(p.role.as_str());
                if let Some(r) = &p.region {
                    t["region"] = value(r.as_str());
                }
                let prefix = if i == 0 { format!("\n# {note}\n") } else { "\n".to_string() };
                t.decor_mut().set_prefix(prefix);
                if last.is_some() {
                    t.set_position(last);
                }
                list.push(t);
            }
        }
        Some(Item::Value(Value::Array(list))) => {
            for p in &new {
                let mut t = InlineTable::new();
                t.insert("name", p.name.as_str().into());
                if let Some(id) = &p.id {
                    t.insert("id", id.as_str().into());
                }
                t.insert("role", p.role.as_str().into());
                if let Some(r) = &p.region {
                    t.insert("region", r.as_str().into());
                }
                list.push(t);
            }
            list.fmt();
        }
        _ => unreachable!("checked above"),
    }
    change.added = new.into_iter().cloned().collect();
    Ok((Some(doc.to_string()), change))
}

/// Add `people` to `DIR/config.toml` when some are new. The new text must
/// load as a config (every role known) before it replaces the file, which is
/// replaced whole (a reader never sees half a file).
pub fn write_people(dir: &Path, people: &[Person], note: &str) -> Result<RosterChange> {
    let path = dir.join(CONFIG_FILE);
    let text = std::fs::read_to_string(&path).map_err(|source| Error::Read { path: path.clone(), source })?;
    let (new_text, mut change) = add_people(&text, people, note)?;
    let Some(new_text) = new_text else {
        return Ok(change);
    };
    Config::parse(dir, &new_text).map_err(|e| {
        Error::Usage(format!("adding the export's people to {CONFIG_FILE} would break it, so it was left alone:\n{e}"))
    })?;
    let write_err = |source| Error::Write { path: path.clone(), source };
    let mut tmp =
        tempfile::Builder::new().prefix(".config.toml.").suffix(".tmp").tempfile_in(dir).map_err(write_err)?;
    std::io::Write::write_all(&mut tmp, new_text.as_bytes()).map_err(write_err)?;
    if let Ok(meta) = std::fs::metadata(&path) {
        let _ = std::fs::set_permissions(tmp.path(), meta.permissions());
    }
    tmp.persist(&path).map_err(|e| write_err(e.error))?;
    change.written = true;
    Ok(change)
}

/// Names compare without regard to case or surrounding spaces.
fn key(name: &str) -> String {
    name.trim().to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = r#"# the team
[pipeline]
stages = ["lead", "won", "lost"]
won = ["won"]
lost = ["lost"]

[roles.sales_rep]
[roles.sales_manager]

# Our people.
[[team]]
name = "Ana Ruiz"   # West coast
role = "sales_rep"

# Tune these.
[settings]
x = 1
"#;

    fn person(name: &str, role: &str, region: Option<&str>) -> Person {
        Person { name: name.into(), id: None, role: role.into(), region: region.map(str::to_string) }
    }

    #[test]
    fn namesakes_with_ids_are_two_people_and_an_id_is_added_once() {
        let with_id = |name: &str, id: &str| Person { id: Some(id.into()), ..person(name, "sales_rep", None) };
        let people = [with_id("Alex Kim", "101"), with_id("Alex Kim", "102"), with_id("Alex Kim", "101")];
        let (text, change) = add_people(CONFIG, &people, "n").unwrap();
        let text = text.unwrap();
        assert_eq!(change.added.len(), 2, "{text}");
        let config = Config::parse(Path::new("."), &text).unwrap();
        assert_eq!(config.find_person("102").map(|p| p.name.as_str()), Some("Alex Kim"));
        assert_eq!(config.find_person("Alex Kim"), None, "the name alone is ambiguous now");
        let (again, change) = add_people(&text, &people, "n").unwrap();
        assert!(again.is_none(), "the ids are there: {change:?}");
        // Ana is on the roster without an id: the export's Ana with one is her.
        let (again, change) = add_people(&text, &[with_id("Ana Ruiz", "7")], "n").unwrap();
        assert!(again.is_none() && change.already_there == 1);
    }

    #[test]
    fn adds_new_people_after_the_last_one_and_keeps_comments() {
        let people = [
            person("ana ruiz", "sales_rep", Some("West")),
            person("Moses Frase", "sales_rep", Some("Central")),
            person("Dustin Brinkmann", "sales_manager", Some("Central")),
            person("Moses Frase", "sales_rep", Some("Central")),
        ];
        let (text, change) = add_people(CONFIG, &people, "Added by a test").unwrap();
        let text = text.unwrap();
        assert_eq!(change.already_there, 1, "Ana is there already (case does not matter)");
        assert_eq!(change.added.len(), 2, "Moses is added once");
        for kept in ["# the team", "# West coast", "# Our people.", "# Tune these."] {
            assert!(text.contains(kept), "{kept} lost:\n{text}");
        }
        let moses = text.find("name = \"Moses Frase\"").unwrap();
        assert!(text.find("Ana Ruiz").unwrap() < moses && moses < text.find("[settings]").unwrap(), "{text}");
        assert!(text.contains("# Added by a test\n[[team]]\nname = \"Moses Frase\""), "{text}");
        let config = Config::parse(Path::new("."), &text).unwrap();
        let d = config.find_person("Dustin Brinkmann").unwrap();
        assert_eq!((d.role.as_str(), d.region.as_deref()), ("sales_manager", Some("Central")));

        let (again, change) = add_people(&text, &people, "Added by a test").unwrap();
        assert!(again.is_none(), "nobody new the second time");
        assert_eq!(change.already_there, 4);
    }

    #[test]
    fn starts_a_roster_and_handles_an_inline_list() {
        let bare = CONFIG.replace("[[team]]\nname = \"Ana Ruiz\"   # West coast\nrole = \"sales_rep\"\n", "");
        let (text, _) = add_people(&bare, &[person("Zane Levy", "sales_rep", None)], "n").unwrap();
        assert_eq!(Config::parse(Path::new("."), &text.unwrap()).unwrap().team.len(), 1);
        let inline = CONFIG
            .replace("[[team]]\nname = \"Ana Ruiz\"   # West coast\nrole = \"sales_rep\"\n", "")
            .replace("# the team\n", "team = [{ name = \"Ana Ruiz\", role = \"sales_rep\" }]\n");
        let (text, change) = add_people(&inline, &[person("Zane Levy", "sales_rep", Some("West"))], "n").unwrap();
        assert_eq!(change.added.len(), 1);
        let team = Config::parse(Path::new("."), &text.unwrap()).unwrap().team;
        assert_eq!(team.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["Ana Ruiz", "Zane Levy"]);
    }

    #[test]
    fn refuses_to_write_a_config_that_would_not_load() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(CONFIG_FILE), CONFIG).unwrap();
        let err = write_people(dir.path(), &[person("Hana Sato", "marketing", None)], "n").unwrap_err();
        assert!(err.to_string().contains("not in [roles]"), "{err}");
        assert_eq!(std::fs::read_to_string(dir.path().join(CONFIG_FILE)).unwrap(), CONFIG, "left alone");
        let change = write_people(dir.path(), &[person("Zane Levy", "sales_rep", None)], "n").unwrap();
        assert!(change.written);
        assert!(std::fs::read_to_string(dir.path().join(CONFIG_FILE)).unwrap().contains("Zane Levy"));
    }
}

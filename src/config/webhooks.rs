//! `[webhooks.pipedrive]` and `[webhooks.hubspot]`: which CRM may push
//! changes to `POST /webhooks/...`, how its requests are checked, and how
//! its objects become dealflow events (see [`crate::webhooks`]).
//!
//! ```toml
//! [webhooks]
//! max_body_bytes = 1048576          # a larger request is refused (413)
//!
//! [webhooks.pipedrive]
//! user = "dealflow"                 # HTTP basic auth, as set on the webhook in Pipedrive (optional)
//! password_env = "PIPEDRIVE_WEBHOOK_PASSWORD"   # or password = "..."
//! [webhooks.pipedrive.stages]       # Pipedrive stage_id → a stage (or part) of the pipeline
//! 1 = "lead"
//! 2 = "qualified"
//! [webhooks.pipedrive.activity_kinds]   # Pipedrive activity type → dealflow activity kind
//! lunch = "meeting"
//! [webhooks.pipedrive.deal]         # more fields: dealflow field = Pipedrive field (a path into `data`)
//! product = "custom_fields.9d1e5a"
//!
//! [webhooks.hubspot]
//! secret_env = "HUBSPOT_CLIENT_SECRET"   # the app's client secret, or secret = "..."
//! public_url = "https://dealflow.example.com"   # as HubSpot calls it (the signature covers it)
//! [webhooks.hubspot.stages]         # HubSpot dealstage → a stage of the pipeline
//! appointmentscheduled = "lead"
//! [webhooks.hubspot.deal]           # more fields: dealflow field = HubSpot property
//! product = "product_line"
//! ```

use std::collections::BTreeMap;
use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;

/// The largest request body taken by default: 1 MiB (HubSpot sends at most 100 events a request).
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
/// The largest `max_body_bytes`: 64 MiB.
pub const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWebhooks {
    max_body_bytes: Option<Spanned<usize>>,
    pipedrive: Option<Spanned<RawSource>>,
    hubspot: Option<Spanned<RawSource>>,
}

/// One CRM's table; which keys each CRM takes is checked after reading.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    user: Option<Spanned<String>>,
    password: Option<Spanned<String>>,
    password_env: Option<Spanned<String>>,
    secret: Option<Spanned<String>>,
    secret_env: Option<Spanned<String>>,
    public_url: Option<Spanned<String>>,
    #[serde(default)]
    stages: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    activity_kinds: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    deal: BTreeMap<String, Spanned<String>>,
    #[serde(default, alias = "company")]
    organization: BTreeMap<String, Spanned<String>>,
    #[serde(default, alias = "contact")]
    person: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    activity: BTreeMap<String, Spanned<String>>,
}

/// A secret written in `config.toml`, or the environment variable holding
/// it (read when a request comes, so it need not sit in the file, which the
/// database keeps a copy of with every rules version).
#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    Literal(String),
    Env(String),
}

impl Secret {
    /// The secret's value; `Err` says which variable is unset or empty.
    pub fn value(&self) -> Result<String, String> {
        match self {
            Secret::Literal(s) => Ok(s.clone()),
            Secret::Env(var) => match std::env::var(var) {
                Ok(v) if !v.is_empty() => Ok(v),
                _ => Err(format!("the environment variable {var} (named by config.toml) is not set")),
            },
        }
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Secret::Literal(_) => f.write_str("Secret(..)"),
            Secret::Env(var) => write!(f, "Secret(${var})"),
        }
    }
}

/// HTTP basic auth a Pipedrive webhook sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BasicAuth {
    pub user: String,
    pub password: Secret,
}

/// Extra fields per dealflow object: dealflow field → the CRM's field
/// (Pipedrive: a dotted path into `data`; HubSpot: a property name).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldMaps {
    pub deal: BTreeMap<String, String>,
    pub account: BTreeMap<String, String>,
    pub contact: BTreeMap<String, String>,
    pub activity: BTreeMap<String, String>,
}

/// One CRM's webhook settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceConfig {
    /// Pipedrive: the basic auth its requests must carry, when set.
    pub basic_auth: Option<BasicAuth>,
    /// HubSpot: the app's client secret its signatures are made with.
    pub secret: Option<Secret>,
    /// HubSpot: the scheme and host it calls (`https://dealflow.example.com`);
    /// unset, `https://` and the request's `Host`.
    pub public_url: Option<String>,
    /// The CRM's stage (Pipedrive `stage_id`, HubSpot `dealstage`) → a stage of the pipeline.
    pub stages: BTreeMap<String, String>,
    /// The CRM's activity type → dealflow's activity kind (others are kept as they are).
    pub activity_kinds: BTreeMap<String, String>,
    pub fields: FieldMaps,
}

/// `[webhooks]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhooksConfig {
    pub max_body_bytes: usize,
    /// `None`: not configured, its requests are refused (404).
    pub pipedrive: Option<SourceConfig>,
    pub hubspot: Option<SourceConfig>,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        WebhooksConfig { max_body_bytes: DEFAULT_MAX_BODY_BYTES, pipedrive: None, hubspot: None }
    }
}

/// HubSpot's stages taken without a `[webhooks.hubspot.stages]` entry: those
/// of its default pipeline that close a deal.
const HUBSPOT_STAGES: [(&str, &str); 2] = [("closedwon", "won"), ("closedlost", "lost")];

/// Check `[webhooks]`: each problem goes to `at` with where it is; `stage`
/// resolves a name as config.toml's tables do (`None`: no such stage),
/// `known` lists the names it takes, for hints.
pub(super) fn check(
    raw: &RawWebhooks,
    at: &mut dyn FnMut(Range<usize>, String),
    stage: &dyn Fn(&str) -> Option<String>,
    known: &[&str],
) -> WebhooksConfig {
    let mut config = WebhooksConfig::default();
    if let Some(max) = &raw.max_body_bytes {
        if !(1..=MAX_BODY_BYTES).contains(max.get_ref()) {
            at(max.span(), format!("webhooks.max_body_bytes: from 1 to {MAX_BODY_BYTES} (64 MiB)"));
        }
        config.max_body_bytes = *max.get_ref();
    }
    if let Some(p) = &raw.pipedrive {
        config.pipedrive = Some(source("pipedrive", p, at, stage, known));
    }
    if let Some(h) = &raw.hubspot {
        config.hubspot = Some(source("hubspot", h, at, stage, known));
    }
    config
}

fn source(
    name: &str,
    raw: &Spanned<RawSource>,
    at: &mut dyn FnMut(Range<usize>, String),
    stage: &dyn Fn(&str) -> Option<String>,
    known: &[&str],
) -> SourceConfig {
    let table = raw.span();
    let raw = raw.get_ref();
    let hubspot = name == "hubspot";
    let not_here = |key: &str, v: &Option<Spanned<String>>, at: &mut dyn FnMut(Range<usize>, String), why: &str| {
        if let Some(v) = v {
            at(v.span(), format!("webhooks.{name}.{key}: {why}"));
        }
    };
    let secret_of = |plain: &Option<Spanned<String>>,
                     env: &Option<Spanned<String>>,
                     key: &str,
                     at: &mut dyn FnMut(Range<usize>, String)| {
        match (plain, env) {
            (Some(_), Some(e)) => {
                at(e.span(), format!("webhooks.{name}: give {key} or {key}_env, not both"));
                None
            }
            (Some(p), None) if p.get_ref().is_empty() => {
                at(p.span(), format!("webhooks.{name}.{key}: empty"));
                None
            }
            (Some(p), None) => Some(Secret::Literal(p.get_ref().clone())),
            (None, Some(e)) if !is_env_name(e.get_ref()) => {
                at(
                    e.span(),
                    format!(
                        "webhooks.{name}.{key}_env: {:?} is not an environment variable's name (letters, digits and _)",
                        e.get_ref()
                    ),
                );
                None
            }
            (None, Some(e)) => Some(Secret::Env(e.get_ref().clone())),
            (None, None) => None,
        }
    };
    let mut config = SourceConfig {
        basic_auth: None,
        secret: None,
        public_url: None,
        stages: BTreeMap::new(),
        activity_kinds: BTreeMap::new(),
        fields: FieldMaps::default(),
    };
    if hubspot {
        let why = "Pipedrive's basic auth; HubSpot signs its requests with the app's secret";
        not_here("user", &raw.user, at, why);
        not_here("password", &raw.password, at, why);
        not_here("password_env", &raw.password_env, at, why);
        config.secret = secret_of(&raw.secret, &raw.secret_env, "secret", at);
        if config.secret.is_none() && raw.secret.is_none() && raw.secret_env.is_none() {
            at(
                table,
                "webhooks.hubspot: give the app's client secret: secret_env = \"VARIABLE\" (or secret = \"...\"): \
                 unsigned requests are never taken"
                    .into(),
            );
        }
        if let Some(url) = &raw.public_url {
            let u = url.get_ref().trim_end_matches('/');
            if !(u.starts_with("https://") || u.starts_with("http://")) || u.contains(char::is_whitespace) {
                at(
                    url.span(),
                    "webhooks.hubspot.public_url: the scheme and host HubSpot calls, like \"https://dealflow.example.com\""
                        .into(),
                );
            }
            config.public_url = Some(u.to_string());
        }
    } else {
        let why = "HubSpot's; Pipedrive's webhooks take basic auth (user and password)";
        not_here("secret", &raw.secret, at, why);
        not_here("secret_env", &raw.secret_env, at, why);
        not_here("public_url", &raw.public_url, at, why);
        let password = secret_of(&raw.password, &raw.password_env, "password", at);
        match (&raw.user, password) {
            (Some(user), Some(password)) if !user.get_ref().is_empty() && !user.get_ref().contains(':') => {
                config.basic_auth = Some(BasicAuth { user: user.get_ref().clone(), password })
            }
            (Some(user), Some(_)) => {
                at(user.span(), "webhooks.pipedrive.user: a user name, not empty, without ':'".into())
            }
            (Some(user), None) if raw.password.is_none() && raw.password_env.is_none() => at(
                user.span(),
                "webhooks.pipedrive: a user needs its password (password_env = \"VARIABLE\" or password = \"...\")"
                    .into(),
            ),
            (None, Some(_)) => {
                let span = raw.password.as_ref().or(raw.password_env.as_ref()).map_or(table, |p| p.span());
                at(span, "webhooks.pipedrive: a password needs its user (user = \"...\")".into())
            }
            _ => {}
        }
    }
    if hubspot {
        for (crm, ours) in HUBSPOT_STAGES {
            if let Some(s) = stage(ours) {
                config.stages.insert(crm.to_string(), s);
            }
        }
    }
    for (crm, ours) in &raw.stages {
        match stage(ours.get_ref()) {
            Some(s) => {
                config.stages.insert(crm.clone(), s);
            }
            None => {
                let h = crate::error::hint(ours.get_ref(), known.iter().copied());
                at(
                    ours.span(),
                    format!(
                        "webhooks.{name}.stages.{crm}: {:?} is neither a stage of pipeline.stages nor a part in [pipeline.parts]{h}",
                        ours.get_ref()
                    ),
                );
            }
        }
    }
    if hubspot && let Some((crm, v)) = raw.activity_kinds.iter().next() {
        at(
            v.span(),
            format!("webhooks.hubspot.activity_kinds.{crm}: HubSpot's activities are not taken (Pipedrive's are)"),
        );
    }
    for (crm, kind) in &raw.activity_kinds {
        if kind.get_ref().trim().is_empty() {
            at(kind.span(), format!("webhooks.{name}.activity_kinds.{crm}: empty"));
        }
        config.activity_kinds.insert(crm.clone(), kind.get_ref().trim().to_string());
    }
    let (org, person) = if hubspot { ("company", "contact") } else { ("organization", "person") };
    let maps = [
        ("deal", &raw.deal, &mut config.fields.deal),
        (org, &raw.organization, &mut config.fields.account),
        (person, &raw.person, &mut config.fields.contact),
        ("activity", &raw.activity, &mut config.fields.activity),
    ];
    for (table_name, raw_map, map) in maps {
        if hubspot && table_name == "activity" && !raw_map.is_empty() {
            let (f, v) = raw_map.iter().next().expect("not empty");
            at(
                v.span(),
                format!("webhooks.hubspot.activity.{f}: HubSpot's activities are not taken (Pipedrive's are)"),
            );
            continue;
        }
        for (field, from) in raw_map {
            let what = format!("webhooks.{name}.{table_name}.{field}");
            if field == "id" {
                at(from.span(), format!("{what}: the id is the CRM's own id of the {table_name}; it cannot be mapped"));
            } else if !is_field_name(field) {
                at(from.span(), format!("{what}: a dealflow field name uses lowercase letters, digits and _ only"));
            } else if from.get_ref().trim().is_empty() {
                at(
                    from.span(),
                    format!("{what}: name the {} field it comes from", if hubspot { "HubSpot" } else { "Pipedrive" }),
                );
            } else {
                map.insert(field.clone(), from.get_ref().trim().to_string());
            }
        }
    }
    config
}

fn is_env_name(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with(|c: char| c.is_ascii_digit())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn is_field_name(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::Config;

    const MINIMAL: &str = r#"
[pipeline]
stages = ["lead", "qualified", "won", "lost"]
won = ["won"]
lost = ["lost"]

[roles.sales_rep]
"#;

    fn parse(extra: &str) -> crate::error::Result<Config> {
        Config::parse(Path::new("."), &format!("{MINIMAL}{extra}"))
    }

    fn problems(extra: &str) -> String {
        parse(extra).unwrap_err().to_string()
    }

    #[test]
    fn webhooks_are_off_until_configured_and_take_their_stages_and_secrets() {
        let c = parse("").unwrap();
        assert!(c.webhooks.pipedrive.is_none() && c.webhooks.hubspot.is_none());
        let c = parse(
            "\n[webhooks.pipedrive]\nuser = \"pd\"\npassword_env = \"PD_PASS\"\n[webhooks.pipedrive.stages]\n1 = \"lead\"\n\
             [webhooks.hubspot]\nsecret = \"s3cret\"\n[webhooks.hubspot.stages]\nappointmentscheduled = \"qualified\"\n\
             [webhooks.hubspot.deal]\nproduct = \"product_line\"\n",
        )
        .unwrap();
        let pd = c.webhooks.pipedrive.as_ref().unwrap();
        assert_eq!(pd.stages["1"], "lead");
        let auth = pd.basic_auth.as_ref().unwrap();
        assert_eq!((auth.user.as_str(), &auth.password), ("pd", &super::Secret::Env("PD_PASS".into())));
        let hs = c.webhooks.hubspot.as_ref().unwrap();
        let stages: Vec<(&str, &str)> = hs.stages.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(stages, [("appointmentscheduled", "qualified"), ("closedlost", "lost"), ("closedwon", "won")]);
        assert_eq!(hs.fields.deal["product"], "product_line");
        assert!(!format!("{:?}", c.webhooks).contains("s3cret"), "a secret is not printed with the settings");
    }

    #[test]
    fn webhook_mistakes_are_named_with_their_place() {
        let msg = problems("\n[webhooks.pipedrive.stages]\n1 = \"leed\"\n");
        assert!(
            msg.starts_with("config.toml:10:5: webhooks.pipedrive.stages.1: \"leed\" is neither a stage of pipeline.stages nor a part"),
            "{msg}"
        );
        assert!(msg.contains("did you mean \"lead\""), "{msg}");
        let msg = problems("\n[webhooks.hubspot]\npublic_url = \"https://h\"\n");
        assert!(msg.starts_with("config.toml:9:1: webhooks.hubspot: give the app's client secret"), "{msg}");
        let msg = problems("\n[webhooks.hubspot]\nsecret = \"a\"\nsecret_env = \"B\"\n");
        assert!(msg.starts_with("config.toml:11:14: webhooks.hubspot: give secret or secret_env, not both"), "{msg}");
        let msg = problems("\n[webhooks.hubspot]\nsecret_env = \"no such var\"\n");
        assert!(
            msg.contains("webhooks.hubspot.secret_env: \"no such var\" is not an environment variable's name"),
            "{msg}"
        );
        let msg = problems("\n[webhooks.pipedrive]\nuser = \"pd\"\n");
        assert!(msg.starts_with("config.toml:10:8: webhooks.pipedrive: a user needs its password"), "{msg}");
        let msg = problems("\n[webhooks.pipedrive]\npassword = \"x\"\n");
        assert!(msg.contains("webhooks.pipedrive: a password needs its user"), "{msg}");
        let msg = problems("\n[webhooks.pipedrive]\nsecret = \"x\"\n");
        assert!(msg.contains("webhooks.pipedrive.secret: HubSpot's"), "{msg}");
        let msg = problems("\n[webhooks.pipedrive]\nsecrett = \"x\"\n");
        assert!(msg.starts_with("config.toml:10:1:") && msg.contains("unknown field `secrett`"), "{msg}");
        let msg = problems("\n[webhooks]\nmax_body_bytes = 0\n");
        assert!(msg.starts_with("config.toml:10:18: webhooks.max_body_bytes: from 1 to"), "{msg}");
        let msg = problems("\n[webhooks.pipedrive.deal]\nid = \"x\"\nProduct = \"y\"\n");
        assert!(msg.contains("webhooks.pipedrive.deal.id: the id is the CRM's own id"), "{msg}");
        assert!(msg.contains("webhooks.pipedrive.deal.Product: a dealflow field name uses lowercase"), "{msg}");
        let msg = problems("\n[webhooks.gmail]\n");
        assert!(msg.contains("unknown field `gmail`"), "{msg}");
    }
}

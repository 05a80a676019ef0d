//! What `[[team]]` says about each person's availability: the roles they
//! hold (each with a weight and a cap on open tasks), the days of the week
//! they work, and their time off.

use chrono::{Datelike, Duration, NaiveDate, Weekday};
use serde::Deserialize;
use toml::Spanned;

/// `roles = [{ role = "sales_rep", weight = 2.0, max_open = 20 }]` in a `[[team]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMembership {
    pub role: Spanned<String>,
    #[serde(default)]
    pub weight: Option<Spanned<f64>>,
    #[serde(default)]
    pub max_open: Option<Spanned<i64>>,
}

/// `away = [{ from = "2026-07-01", to = "2026-07-31" }]`: dates inclusive.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAway {
    pub from: Spanned<toml::Value>,
    pub to: Spanned<toml::Value>,
}

/// A role a person holds, with how much of its work they take.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Membership {
    pub role: String,
    /// Their share against others of the role: 2.0 takes twice what 1.0 takes.
    pub weight: f64,
    /// At this many open (or claimed) tasks of the role they get nothing new.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_open: Option<u32>,
}

/// Time off, both days included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct Away {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

/// The days of the week someone works (the team's holidays are off for everyone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkingDays(u8);

const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

impl Default for WorkingDays {
    /// Monday to Friday.
    fn default() -> Self {
        WorkingDays(0b0001_1111)
    }
}

impl WorkingDays {
    pub fn contains(self, d: Weekday) -> bool {
        self.0 & (1 << d.num_days_from_monday()) != 0
    }

    /// How many days a week.
    pub fn per_week(self) -> u32 {
        self.0.count_ones()
    }

    pub fn is_full_week(self) -> bool {
        self == WorkingDays::default()
    }

    /// `"mon"`, `"Monday"`, `"MON"`: the day.
    fn day(name: &str) -> Option<Weekday> {
        let n = name.trim().to_ascii_lowercase();
        let i = DAY_NAMES.iter().position(|d| *d == n || full_name(d) == n)?;
        Weekday::try_from(i as u8).ok()
    }

    /// The day a mistyped name most likely means: `"thurs"`, `"Tues"`, `"we"`.
    fn likely(name: &str) -> Option<&'static str> {
        let n = name.trim().to_ascii_lowercase();
        let found = DAY_NAMES.iter().find(|d| n.starts_with(*d) || (n.len() >= 2 && d.starts_with(n.as_str())));
        found
            .copied()
            .or_else(|| crate::error::did_you_mean(&n, DAY_NAMES.iter().map(|d| full_name(d))).map(|f| &f[..3]))
    }

    pub fn names(self) -> Vec<&'static str> {
        DAY_NAMES.iter().enumerate().filter(|(i, _)| self.0 & (1 << i) != 0).map(|(_, d)| *d).collect()
    }
}

fn full_name(short: &str) -> &'static str {
    match short {
        "mon" => "monday",
        "tue" => "tuesday",
        "wed" => "wednesday",
        "thu" => "thursday",
        "fri" => "friday",
        "sat" => "saturday",
        _ => "sunday",
    }
}

impl serde::Serialize for WorkingDays {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.names().serialize(s)
    }
}

/// The validated availability of one `[[team]]` entry.
pub(super) struct Availability {
    pub roles: Vec<Membership>,
    pub away: Vec<Away>,
    pub days: WorkingDays,
}

/// What a `[[team]]` entry gives about availability, as written.
pub(super) struct Written<'a> {
    pub name: &'a str,
    pub role: Option<&'a Spanned<String>>,
    pub roles: Option<&'a Spanned<Vec<RawMembership>>>,
    pub weight: Option<&'a Spanned<f64>>,
    pub max_open: Option<&'a Spanned<i64>>,
    pub away: &'a [RawAway],
    pub days: Option<&'a Spanned<Vec<Spanned<String>>>>,
    /// Where the entry starts, for what is missing from it.
    pub entry: std::ops::Range<usize>,
}

/// The heaviest weight: a person taking a hundred times another's share is a typo.
const MAX_WEIGHT: f64 = 100.0;

/// Check and resolve one entry; each problem goes to `at` with its place.
pub(super) fn availability(
    w: &Written,
    roles: &std::collections::BTreeMap<String, super::RoleConfig>,
    at: &mut dyn FnMut(std::ops::Range<usize>, String),
) -> Availability {
    let name = w.name;
    let weight_of = |v: Option<&Spanned<f64>>, at: &mut dyn FnMut(std::ops::Range<usize>, String)| -> Option<f64> {
        let v = v?;
        let x = *v.get_ref();
        if !(x.is_finite() && x > 0.0 && x <= MAX_WEIGHT) {
            at(
                v.span(),
                format!(
                    "team: {name:?} has weight = {x}: give a number above 0 and at most {MAX_WEIGHT} (1.0 is an \
                     ordinary share, 2.0 twice that, 0.5 half)"
                ),
            );
            return None;
        }
        Some(x)
    };
    let cap_of = |v: Option<&Spanned<i64>>, at: &mut dyn FnMut(std::ops::Range<usize>, String)| -> Option<u32> {
        let v = v?;
        match u32::try_from(*v.get_ref()) {
            Ok(n) => Some(n),
            Err(_) => {
                at(
                    v.span(),
                    format!("team: {name:?} has max_open = {}: give a number of open tasks, 0 or more", v.get_ref()),
                );
                None
            }
        }
    };
    let weight = weight_of(w.weight, at).unwrap_or(1.0);
    let max_open = cap_of(w.max_open, at);
    let mut memberships = Vec::new();
    let known_role = |role: &Spanned<String>, at: &mut dyn FnMut(std::ops::Range<usize>, String)| -> bool {
        if roles.contains_key(role.get_ref()) {
            return true;
        }
        let h = crate::error::hint(role.get_ref(), roles.keys().map(String::as_str));
        at(role.span(), format!("team: {name:?} has role {:?}, which is not in [roles]{h}", role.get_ref()));
        false
    };
    match (w.role, w.roles) {
        (Some(role), Some(list)) => at(
            list.span(),
            format!(
                "team: {name:?} has both role = {:?} and roles = [...]: give one role with `role`, or every role in \
                 `roles`",
                role.get_ref()
            ),
        ),
        (None, None) => at(
            w.entry.clone(),
            format!("team: {name:?} has no role: give `role = \"sales_rep\"`, or `roles = [{{ role = \"...\" }}]`"),
        ),
        (Some(role), None) => {
            if known_role(role, at) {
                let cap = max_open.or(roles[role.get_ref()].max_open);
                memberships.push(Membership { role: role.get_ref().clone(), weight, max_open: cap });
            }
        }
        (None, Some(list)) => {
            if list.get_ref().is_empty() {
                at(list.span(), format!("team: {name:?} has roles = []: give at least one role"));
            }
            for m in list.get_ref() {
                if memberships.iter().any(|x: &Membership| &x.role == m.role.get_ref()) {
                    at(m.role.span(), format!("team: {name:?} has the role {:?} twice", m.role.get_ref()));
                    continue;
                }
                let own_weight = weight_of(m.weight.as_ref(), at);
                let own_cap = cap_of(m.max_open.as_ref(), at);
                if known_role(&m.role, at) {
                    memberships.push(Membership {
                        role: m.role.get_ref().clone(),
                        weight: own_weight.unwrap_or(weight),
                        max_open: own_cap.or(max_open).or(roles[m.role.get_ref()].max_open),
                    });
                }
            }
        }
    }
    let mut away = Vec::new();
    for a in w.away {
        let (Some(from), Some(to)) = (date(name, "from", &a.from, at), date(name, "to", &a.to, at)) else { continue };
        if to < from {
            at(a.to.span(), format!("team: {name:?} is away from {from} to {to}, which ends before it starts"));
            continue;
        }
        away.push(Away { from, to });
    }
    away.sort();
    let mut days = WorkingDays::default();
    if let Some(list) = w.days {
        days = WorkingDays(0);
        for d in list.get_ref() {
            match WorkingDays::day(d.get_ref()) {
                Some(day) => days.0 |= 1 << day.num_days_from_monday(),
                None => {
                    let h =
                        WorkingDays::likely(d.get_ref()).map(|l| format!(" (did you mean {l:?}?)")).unwrap_or_default();
                    at(
                        d.span(),
                        format!(
                            "team: {name:?} works {:?}, which is not a day of the week: give days as \"mon\", \"tue\", \
                             \"wed\", \"thu\", \"fri\", \"sat\", \"sun\"{h}",
                            d.get_ref()
                        ),
                    )
                }
            }
        }
        if list.get_ref().is_empty() {
            at(
                list.span(),
                format!(
                    "team: {name:?} has days = []: give the days they work (like [\"mon\", \"tue\", \"wed\"]), or set \
                     active = false"
                ),
            );
            days = WorkingDays::default();
        }
    }
    Availability { roles: memberships, away, days }
}

fn date(
    name: &str,
    key: &str,
    v: &Spanned<toml::Value>,
    at: &mut dyn FnMut(std::ops::Range<usize>, String),
) -> Option<NaiveDate> {
    let text = match v.get_ref() {
        toml::Value::String(s) => s.clone(),
        toml::Value::Datetime(d) => d.to_string(),
        other => other.to_string(),
    };
    let parsed = NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").ok();
    if parsed.is_none() {
        at(
            v.span(),
            format!("team: {name:?} has away {key} = {text:?}, which is not a date: give one like \"2026-07-01\""),
        );
    }
    parsed
}

impl super::Person {
    /// Whether they hold `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|m| m.role == role)
    }

    /// Their membership of `role`: its weight and cap.
    pub fn membership(&self, role: &str) -> Option<&Membership> {
        self.roles.iter().find(|m| m.role == role)
    }

    /// The time off that `d` falls in.
    pub fn away_on(&self, d: NaiveDate) -> Option<Away> {
        self.away.iter().find(|a| a.from <= d && d <= a.to).copied()
    }

    /// Time off on some day of `from..=to`, the first such.
    pub fn away_between(&self, from: NaiveDate, to: NaiveDate) -> Option<Away> {
        self.away.iter().find(|a| a.from <= to && a.to >= from).copied()
    }

    /// The first day from `d` on that they are not away (`d` itself when they are in);
    /// periods that touch or overlap count as one.
    pub fn back_on(&self, d: NaiveDate) -> NaiveDate {
        let mut day = d;
        while let Some(a) = self.away_on(day) {
            match a.to.succ_opt() {
                Some(next) => day = next,
                None => return a.to,
            }
        }
        day
    }

    /// Whether `d` is one of their working days: their day of the week and no team holiday.
    pub fn works_on(&self, calendar: &crate::time::Calendar, d: NaiveDate) -> bool {
        self.days.contains(d.weekday()) && !calendar.is_holiday(d)
    }

    /// `date` plus `n` of their working days, as [`crate::time::Calendar::add_business_days`]
    /// counts the team's: 0 days from a day off is their next working day.
    pub fn add_working_days(&self, calendar: &crate::time::Calendar, date: NaiveDate, n: i64) -> NaiveDate {
        if self.days.is_full_week() {
            return calendar.add_business_days(date, n);
        }
        let mut d = date;
        let mut left = n.clamp(0, crate::time::MAX_BUSINESS_DAYS);
        while left > 0 {
            let Some(next) = d.checked_add_signed(Duration::days(1)) else { return d };
            d = next;
            if self.works_on(calendar, d) {
                left -= 1;
            }
        }
        while !self.works_on(calendar, d) {
            let Some(next) = d.succ_opt() else { return d };
            d = next;
        }
        d
    }

    /// Their share of a week's work: weight × working days / 5.
    pub fn capacity(&self, role: &str) -> f64 {
        let weight = self.membership(role).map_or(1.0, |m| m.weight);
        weight * f64::from(self.days.per_week()) / 5.0
    }
}

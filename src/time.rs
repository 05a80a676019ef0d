//! Business time: how times are written in the store, how a person may
//! write one, and calendar helpers (due dates count business days: weekends
//! are skipped).

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, SecondsFormat, Utc, Weekday};

/// The one way times are written in the store and output: RFC 3339, UTC, seconds.
pub fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

pub fn now_stamp() -> String {
    stamp(Utc::now())
}

/// The forms [`parse_time`] reads, for messages that ask for a time.
pub const TIME_FORMS: &str = "a date like 2026-10-30 (the start of that day), \
    or a time like 2026-10-30T09:00:00Z or 2026-10-30T11:00:00+02:00 (without an offset, UTC)";

/// A business time as a person writes it: RFC 3339 (`2026-10-30T09:00:00Z`,
/// any offset), a date and time without an offset (`2026-10-30T09:00`, read
/// as UTC like every business time), or a plain date (`2026-10-30`), which
/// means the start of that day. Business time is UTC and the configuration
/// names no working hours, so a day starts at 00:00Z, business day or not.
pub fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Some(start_of_day(d));
    }
    ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"]
        .iter()
        .find_map(|form| NaiveDateTime::parse_from_str(text, form).ok())
        .map(|t| t.and_utc())
}

/// When business day `d` starts: 00:00 UTC.
pub fn start_of_day(d: NaiveDate) -> DateTime<Utc> {
    d.and_time(chrono::NaiveTime::MIN).and_utc()
}

/// The team's working days: Monday to Friday, less the configured holidays.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Calendar {
    holidays: std::collections::BTreeSet<NaiveDate>,
}

/// The most business days [`Calendar::add_business_days`] counts: a century.
pub const MAX_BUSINESS_DAYS: i64 = 100 * 366;

impl Calendar {
    pub fn new(holidays: impl IntoIterator<Item = NaiveDate>) -> Calendar {
        Calendar { holidays: holidays.into_iter().collect() }
    }

    /// A holiday of `[calendar] holidays`: nobody works it.
    pub fn is_holiday(&self, d: NaiveDate) -> bool {
        self.holidays.contains(&d)
    }

    pub fn is_business_day(&self, d: NaiveDate) -> bool {
        !matches!(d.weekday(), Weekday::Sat | Weekday::Sun) && !self.holidays.contains(&d)
    }

    /// `date` plus `n` business days. Zero days from a day off lands on the
    /// next business day, so nothing is ever due on a weekend or a holiday.
    ///
    /// A rule may pass any number, even one taken from an event: beyond
    /// [`MAX_BUSINESS_DAYS`] the count stops, and the walk stops at the ends of
    /// chrono's calendar, so a hostile number is neither a hang nor a panic.
    pub fn add_business_days(&self, date: NaiveDate, n: i64) -> NaiveDate {
        let mut d = date;
        let step = if n < 0 { -1 } else { 1 };
        let mut left = n.clamp(-MAX_BUSINESS_DAYS, MAX_BUSINESS_DAYS).abs();
        while left > 0 {
            let Some(next) = d.checked_add_signed(Duration::days(step)) else { return d };
            d = next;
            if self.is_business_day(d) {
                left -= 1;
            }
        }
        while !self.is_business_day(d) {
            let Some(next) = d.succ_opt() else { return d };
            d = next;
        }
        d
    }
}

/// Whole months from `a` to `b` (negative when `b` is earlier), counting a
/// month complete on the same day of the month.
pub fn months_between(a: NaiveDate, b: NaiveDate) -> i64 {
    let months = (b.year() as i64 - a.year() as i64) * 12 + (b.month() as i64 - a.month() as i64);
    if months > 0 && b.day() < a.day() {
        months - 1
    } else if months < 0 && b.day() > a.day() {
        months + 1
    } else {
        months
    }
}

/// The first and last day of a target period: `2026`, `2026-H2`, `2026-Q4` or `2026-11`.
pub fn period_range(period: &str) -> Option<(NaiveDate, NaiveDate)> {
    let (year, part) = match period.split_once('-') {
        Some((y, p)) => (y.parse::<i32>().ok()?, Some(p)),
        None => (period.parse::<i32>().ok()?, None),
    };
    let (first_month, months) = match part {
        None => (1, 12),
        Some(p) if p.starts_with(['Q', 'q']) => {
            let q: u32 = p[1..].parse().ok().filter(|q| (1..=4).contains(q))?;
            (3 * q - 2, 3)
        }
        Some(p) if p.starts_with(['H', 'h']) => {
            let h: u32 = p[1..].parse().ok().filter(|h| (1..=2).contains(h))?;
            (6 * h - 5, 6)
        }
        Some(p) => (p.parse::<u32>().ok().filter(|m| (1..=12).contains(m))?, 1),
    };
    let start = NaiveDate::from_ymd_opt(year, first_month, 1)?;
    let end = start.checked_add_months(chrono::Months::new(months))?.pred_opt()?;
    Some((start, end))
}

/// Twelve months before `t`, as a store stamp.
pub fn year_before(t: DateTime<Utc>) -> String {
    stamp(t - Duration::days(365))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn a_time_is_read_in_every_form_a_person_writes_it() {
        let at = |s: &str| parse_time(s).map(stamp);
        assert_eq!(at("2026-10-30").as_deref(), Some("2026-10-30T00:00:00Z"));
        assert_eq!(at("2026-10-30T09:00:00Z").as_deref(), Some("2026-10-30T09:00:00Z"));
        assert_eq!(at("2026-10-30T11:00:00+02:00").as_deref(), Some("2026-10-30T09:00:00Z"));
        assert_eq!(at(" 2026-10-30T09:00 ").as_deref(), Some("2026-10-30T09:00:00Z"));
        assert_eq!(at("2026-10-30 09:00:30").as_deref(), Some("2026-10-30T09:00:30Z"));
        // A day off starts like any other day.
        assert_eq!(at("2026-12-25").as_deref(), Some("2026-12-25T00:00:00Z"));
        for bad in ["", "2026-10-30 9am", "30/10/2026", "2026-13-01", "2026-02-30", "next friday", "1730278800"] {
            assert_eq!(at(bad), None, "{bad}");
        }
    }

    #[test]
    fn business_days_skip_weekends_and_holidays() {
        let plain = Calendar::default();
        // 2026-11-06 is a Friday.
        assert_eq!(plain.add_business_days(d("2026-11-06"), 1), d("2026-11-09"));
        assert_eq!(plain.add_business_days(d("2026-11-06"), 0), d("2026-11-06"));
        assert_eq!(plain.add_business_days(d("2026-11-07"), 0), d("2026-11-09"));
        assert_eq!(plain.add_business_days(d("2026-11-02"), 5), d("2026-11-09"));
        let xmas = Calendar::new([d("2026-12-24"), d("2026-12-25")]);
        // Wednesday 23rd + 1 business day skips Thu 24, Fri 25 and the weekend.
        assert_eq!(xmas.add_business_days(d("2026-12-23"), 1), d("2026-12-28"));
        assert_eq!(xmas.add_business_days(d("2026-12-25"), 0), d("2026-12-28"));
        assert!(!xmas.is_business_day(d("2026-12-24")) && xmas.is_business_day(d("2026-12-23")));
    }

    #[test]
    fn any_number_of_business_days_ends_quickly_without_a_panic() {
        let plain = Calendar::default();
        let far = plain.add_business_days(d("2026-11-06"), i64::MAX);
        assert!(far.year() > 2100 && far.year() < 2200, "{far}");
        let back = plain.add_business_days(d("2026-11-06"), i64::MIN);
        assert!(back.year() < 1950 && back.year() > 1850, "{back}");
        assert_eq!(plain.add_business_days(NaiveDate::MAX, 5), NaiveDate::MAX);
        assert_eq!(plain.add_business_days(NaiveDate::MIN, -5), NaiveDate::MIN);
    }

    #[test]
    fn periods_name_their_days() {
        assert_eq!(period_range("2026-Q4"), Some((d("2026-10-01"), d("2026-12-31"))));
        assert_eq!(period_range("2026"), Some((d("2026-01-01"), d("2026-12-31"))));
        assert_eq!(period_range("2026-H1"), Some((d("2026-01-01"), d("2026-06-30"))));
        assert_eq!(period_range("2026-02"), Some((d("2026-02-01"), d("2026-02-28"))));
        for bad in ["2026-Q5", "Q4", "2026-13", "soon"] {
            assert_eq!(period_range(bad), None, "{bad}");
        }
    }

    #[test]
    fn months_count_whole_months() {
        assert_eq!(months_between(d("2026-01-15"), d("2028-01-15")), 24);
        assert_eq!(months_between(d("2026-01-15"), d("2028-01-14")), 23);
        assert_eq!(months_between(d("2026-03-01"), d("2026-01-01")), -2);
    }
}

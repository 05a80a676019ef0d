//! Business time: how times are written in the store, and calendar helpers
//! (due dates count business days: weekends are skipped).

use chrono::{DateTime, Datelike, Duration, NaiveDate, SecondsFormat, Utc, Weekday};

/// The one way times are written in the store and output: RFC 3339, UTC, seconds.
pub fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

pub fn now_stamp() -> String {
    stamp(Utc::now())
}

/// `date` plus `n` business days (Monday to Friday). Zero days from a
/// weekend day lands on the next Monday, so nothing is ever due on a weekend.
pub fn add_business_days(date: NaiveDate, n: i64) -> NaiveDate {
    let mut d = date;
    let step = if n < 0 { -1 } else { 1 };
    let mut left = n.abs();
    while left > 0 {
        d += Duration::days(step);
        if is_business_day(d) {
            left -= 1;
        }
    }
    while !is_business_day(d) {
        d += Duration::days(1);
    }
    d
}

pub fn is_business_day(d: NaiveDate) -> bool {
    !matches!(d.weekday(), Weekday::Sat | Weekday::Sun)
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
    fn business_days_skip_weekends() {
        // 2026-11-06 is a Friday.
        assert_eq!(add_business_days(d("2026-11-06"), 1), d("2026-11-09"));
        assert_eq!(add_business_days(d("2026-11-06"), 0), d("2026-11-06"));
        assert_eq!(add_business_days(d("2026-11-07"), 0), d("2026-11-09"));
        assert_eq!(add_business_days(d("2026-11-02"), 5), d("2026-11-09"));
    }

    #[test]
    fn months_count_whole_months() {
        assert_eq!(months_between(d("2026-01-15"), d("2028-01-15")), 24);
        assert_eq!(months_between(d("2026-01-15"), d("2028-01-14")), 23);
        assert_eq!(months_between(d("2026-03-01"), d("2026-01-01")), -2);
    }
}

//! What the clock has swept, and up to when. A tick finds what became due
//! since the facts were last swept, and "since" is measured per change, not
//! by business time alone: a deal, an account's contact or key status, a
//! contract, an order or a target carries the sweep generation it was last
//! set in (`meta.sweep_epoch`, one more after each tick), and a task its id.
//! [`Sweeps`] says up to which business time each run of generations (and of
//! task ids) has been swept. A fact set after the last tick has not been
//! swept at all, whatever its business time: the next tick looks at it from
//! its start. So history loaded after a later tick (a `watch` started before
//! an import) is still swept, and a tick older than the last one (the
//! history's own ticks) does for that history what it would have done had
//! it come in order, and nothing for what was swept past it already.
//!
//! In order, the list holds one entry (everything up to the last tick) and
//! a tick sweeps what changed since as well; a late tick adds an entry,
//! and the next later one merges them again. Entries are kept with
//! generations ascending and business times strictly descending: what
//! changed later was swept less far.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::time::stamp;

/// Generations (and task ids) up to these, after the previous entry's, were
/// swept up to `at`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Swept {
    epoch: i64,
    task: i64,
    at: String,
}

/// A run of generations and task ids swept up to one time (`None`: never),
/// bounds after `.0` and up to `.1`.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Range {
    pub epochs: (i64, i64),
    pub tasks: (i64, i64),
    pub swept: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Sweeps {
    list: Vec<(Swept, DateTime<Utc>)>,
}

impl Sweeps {
    /// Read from its text in `meta` (absent: nothing was ever swept).
    pub(super) fn parse(text: Option<&str>) -> Result<Sweeps, String> {
        let Some(text) = text else { return Ok(Sweeps::default()) };
        let list: Vec<Swept> = serde_json::from_str(text).map_err(|e| format!("the clock's sweeps ({text}): {e}"))?;
        let list = list
            .into_iter()
            .map(|s| match DateTime::parse_from_rfc3339(&s.at) {
                Ok(at) => Ok((s, at.with_timezone(&Utc))),
                Err(e) => Err(format!("the clock's sweeps: time {:?}: {e}", s.at)),
            })
            .collect::<Result<_, _>>()?;
        Ok(Sweeps { list })
    }

    pub(super) fn to_text(&self) -> String {
        let list: Vec<&Swept> = self.list.iter().map(|(s, _)| s).collect();
        serde_json::to_string(&list).unwrap_or_else(|_| "[]".into())
    }

    /// Up to when the facts set in generation `epoch` were swept (`None`: never).
    pub(super) fn of_epoch(&self, epoch: i64) -> Option<DateTime<Utc>> {
        self.list.iter().find(|(s, _)| epoch <= s.epoch).map(|(_, at)| *at)
    }

    /// Every run to sweep, the one never swept (what changed since the last tick) last.
    pub(super) fn ranges(&self) -> Vec<Range> {
        let mut out = Vec::with_capacity(self.list.len() + 1);
        let (mut epoch, mut task) = (i64::MIN, i64::MIN);
        for (s, at) in &self.list {
            out.push(Range { epochs: (epoch, s.epoch), tasks: (task, s.task), swept: Some(*at) });
            (epoch, task) = (s.epoch, s.task);
        }
        out.push(Range { epochs: (epoch, i64::MAX), tasks: (task, i64::MAX), swept: None });
        out
    }

    /// After a sweep at `now` of every generation up to `epoch` and every
    /// task up to id `task`: what was swept past `now` stays as it was, the
    /// rest is swept up to `now`.
    pub(super) fn advanced(&self, now: DateTime<Utc>, epoch: i64, task: i64) -> Sweeps {
        let mut list: Vec<(Swept, DateTime<Utc>)> = self.list.iter().filter(|(_, at)| *at > now).cloned().collect();
        let (epoch, task) = match list.last() {
            Some((s, _)) => (epoch.max(s.epoch + 1), task.max(s.task)),
            None => (epoch, task),
        };
        list.push((Swept { epoch, task, at: stamp(now) }, now));
        Sweeps { list }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(day: u32) -> DateTime<Utc> {
        format!("2026-10-{day:02}T09:00:00Z").parse().unwrap()
    }

    #[test]
    fn in_order_ticks_keep_one_entry() {
        let s = Sweeps::default();
        assert_eq!(s.ranges().len(), 1);
        assert_eq!(s.of_epoch(0), None);
        let s = s.advanced(t(1), 0, 5);
        let s = s.advanced(t(2), 1, 9);
        assert_eq!(s.list.len(), 1);
        assert_eq!((s.of_epoch(1), s.of_epoch(2)), (Some(t(2)), None));
        assert_eq!(
            s.ranges(),
            vec![
                Range { epochs: (i64::MIN, 1), tasks: (i64::MIN, 9), swept: Some(t(2)) },
                Range { epochs: (1, i64::MAX), tasks: (9, i64::MAX), swept: None },
            ]
        );
        assert_eq!(Sweeps::parse(Some(&s.to_text())).unwrap(), s);
    }

    #[test]
    fn a_late_tick_sweeps_only_what_changed_since_and_the_next_later_one_merges() {
        // A tick on the 29th, then history with its own ticks on the 5th and 20th, then the 30th.
        let s = Sweeps::default().advanced(t(29), 0, 0);
        let s = s.advanced(t(5), 1, 40);
        assert_eq!((s.of_epoch(0), s.of_epoch(1), s.of_epoch(2)), (Some(t(29)), Some(t(5)), None));
        let s = s.advanced(t(20), 2, 70);
        assert_eq!((s.of_epoch(1), s.of_epoch(2)), (Some(t(20)), Some(t(20))));
        assert_eq!(s.list.len(), 2);
        let s = s.advanced(t(30), 3, 90);
        assert_eq!(s.list.len(), 1);
        assert_eq!(s.of_epoch(0), Some(t(30)));
        // Nothing swept past the 30th: a tick of the 10th finds everything swept.
        let s = s.advanced(t(10), 4, 90);
        assert_eq!(s.of_epoch(3), Some(t(30)));
        assert_eq!(s.of_epoch(4), Some(t(10)));
    }

    #[test]
    fn damaged_text_is_an_error_that_quotes_it() {
        let err = Sweeps::parse(Some("[{]")).unwrap_err();
        assert!(err.starts_with("the clock's sweeps ([{])"), "{err}");
    }
}

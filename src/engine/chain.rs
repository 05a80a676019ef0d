//! The loop guard of one reaction chain. A decision queues reactions
//! (`deal.stage_changed`, `account.became_key`, ...), and rules that undo each
//! other's decisions would queue them forever. A loop keeps coming back to
//! the same subject, so the guard counts reactions per subject: past
//! `limits.max_chain` reactions of one deal or account to one event, that
//! subject's further reactions are skipped and the loop is reported with the
//! rules whose decisions kept it going. A fan-out over many subjects (a key
//! parent with hundreds of subsidiaries) is not a loop: each subsidiary
//! reacts a few times, and every one of them follows.

use std::collections::HashMap;

use crate::model::{RuleRef, Subject};

/// Rules named in a loop's report, at most.
const RULES_NAMED: usize = 5;

/// What the guard says about one more reaction of a subject.
#[derive(Debug, PartialEq)]
pub(super) enum Verdict {
    Go,
    /// The subject just went past the limit: report the loop, with the
    /// rules whose decisions made its reactions (first seen first).
    Loop(Vec<RuleRef>),
    /// The subject's loop was reported already: skip quietly.
    Skip,
}

#[derive(Default)]
struct Reactions {
    count: usize,
    rules: Vec<RuleRef>,
    stopped: bool,
}

/// Reactions per subject in the chain that is running.
#[derive(Default)]
pub(super) struct Chain {
    subjects: HashMap<Subject, Reactions>,
}

impl Chain {
    /// A new chain (the next time event of a tick is one of its own).
    pub(super) fn reset(&mut self) {
        self.subjects.clear();
    }

    /// One more reaction of `subject`, caused by a decision of `by` (if a rule made it).
    pub(super) fn enter(&mut self, subject: &Subject, by: Option<&RuleRef>, max: usize) -> Verdict {
        let r = self.subjects.entry(subject.clone()).or_default();
        if r.stopped {
            return Verdict::Skip;
        }
        r.count += 1;
        if let Some(rule) = by
            && r.rules.len() < RULES_NAMED
            && !r.rules.contains(rule)
        {
            r.rules.push(rule.clone());
        }
        if r.count > max {
            r.stopped = true;
            return Verdict::Loop(r.rules.clone());
        }
        Verdict::Go
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(f: &str) -> RuleRef {
        RuleRef { file: "rules/x.rhai".into(), function: f.into() }
    }

    #[test]
    fn many_subjects_go_and_one_subject_past_the_limit_is_a_loop_reported_once() {
        let mut c = Chain::default();
        for i in 0..1000 {
            assert_eq!(c.enter(&Subject::new("account", &i.to_string()), Some(&rule("a")), 3), Verdict::Go);
        }
        let d = Subject::new("deal", "D");
        let (up, down) = (rule("up"), rule("down"));
        for i in 0..3 {
            assert_eq!(c.enter(&d, Some(if i % 2 == 0 { &up } else { &down }), 3), Verdict::Go);
        }
        assert_eq!(c.enter(&d, Some(&down), 3), Verdict::Loop(vec![up.clone(), down.clone()]));
        assert_eq!(c.enter(&d, Some(&up), 3), Verdict::Skip);
        c.reset();
        assert_eq!(c.enter(&d, None, 3), Verdict::Go);
    }
}

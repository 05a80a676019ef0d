//! Which rules keep failing, in memory, per rule set: each rule's count of
//! events in a row it failed on, and whether it is quarantined. The store
//! keeps the same (`rule_health`), so a later run of the same rules version
//! picks up where this one stopped.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

#[derive(Debug, Default)]
pub(super) struct Health {
    failures: AtomicU32,
    quarantined: AtomicBool,
}

impl Health {
    pub(super) fn quarantined(&self) -> bool {
        self.quarantined.load(Ordering::Relaxed)
    }

    /// One more event failed; returns the count and whether this failure
    /// quarantined the rule (`limit` 0: never).
    pub(super) fn failed(&self, limit: u32) -> (u32, bool) {
        let n = self.failures.fetch_add(1, Ordering::Relaxed).saturating_add(1);
        let quarantine = limit > 0 && n >= limit && !self.quarantined.swap(true, Ordering::Relaxed);
        (n, quarantine)
    }

    /// An event on which the rule ran cleanly: returns whether it had failures to forget.
    pub(super) fn ran_clean(&self) -> bool {
        self.failures.swap(0, Ordering::Relaxed) > 0
    }

    pub(super) fn restore(&self, failures: u32, quarantined: bool) {
        self.failures.store(failures, Ordering::Relaxed);
        self.quarantined.store(quarantined, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quarantines_once_at_the_limit_and_a_clean_run_resets() {
        let h = Health::default();
        assert_eq!(h.failed(3), (1, false));
        assert!(h.ran_clean());
        assert!(!h.ran_clean(), "nothing left to forget");
        assert_eq!(h.failed(3), (1, false));
        assert_eq!(h.failed(3), (2, false));
        assert_eq!(h.failed(3), (3, true));
        assert!(h.quarantined());
        assert_eq!(h.failed(3), (4, false), "quarantined once");
    }

    #[test]
    fn a_limit_of_zero_never_quarantines() {
        let h = Health::default();
        for _ in 0..100 {
            assert!(!h.failed(0).1);
        }
        assert!(!h.quarantined());
    }
}

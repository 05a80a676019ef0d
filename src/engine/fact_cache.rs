//! Facts already built during one event. Each step of a reaction reads the
//! account and deal afresh unless nothing has changed since they were last
//! built: every decision that changes state calls [`FactCache::changed`].

use rhai::Dynamic;

#[derive(Default)]
pub struct FactCache {
    generation: u64,
    /// The trigger's event map (it never changes: kept by trigger id).
    event: Option<(String, Dynamic)>,
    account: Option<(String, u64, Dynamic)>,
    deal: Option<(String, Option<String>, u64, Dynamic)>,
}

impl FactCache {
    /// State changed: what was built before is stale.
    pub fn changed(&mut self) {
        self.generation += 1;
    }

    pub fn event(&self, trigger: &str) -> Option<Dynamic> {
        self.event.as_ref().filter(|(t, _)| t == trigger).map(|(_, v)| v.clone())
    }

    pub fn keep_event(&mut self, trigger: &str, v: &Dynamic) {
        self.event = Some((trigger.to_string(), v.clone()));
    }

    pub fn account(&self, id: &str) -> Option<Dynamic> {
        match &self.account {
            Some((a, g, v)) if a == id && *g == self.generation => Some(v.clone()),
            _ => None,
        }
    }

    pub fn keep_account(&mut self, id: &str, v: &Dynamic) {
        self.account = Some((id.to_string(), self.generation, v.clone()));
    }

    pub fn deal(&self, id: &str, requested: Option<&str>) -> Option<Dynamic> {
        match &self.deal {
            Some((d, r, g, v)) if d == id && r.as_deref() == requested && *g == self.generation => Some(v.clone()),
            _ => None,
        }
    }

    pub fn keep_deal(&mut self, id: &str, requested: Option<&str>, v: &Dynamic) {
        self.deal = Some((id.to_string(), requested.map(str::to_string), self.generation, v.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_makes_everything_stale() {
        let mut c = FactCache::default();
        c.keep_account("A", &Dynamic::from(1_i64));
        c.keep_deal("D", Some("won"), &Dynamic::from(2_i64));
        assert!(c.account("A").is_some() && c.account("B").is_none());
        assert!(c.deal("D", Some("won")).is_some() && c.deal("D", None).is_none());
        c.changed();
        assert!(c.account("A").is_none() && c.deal("D", Some("won")).is_none());
    }
}

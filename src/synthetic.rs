//! A seeded, realistic synthetic event stream, for benchmarks: accounts with
//! contacts, then a year of leads, deals moving through the pipeline,
//! activities, orders, contracts and targets. The same seed gives the same
//! stream, byte for byte.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use crate::time::stamp;

/// splitmix64: small, fast, and good enough to shape test data (and the
/// kill points of the crash tests), the same for the same seed everywhere.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

const PRODUCTS: [(&str, f64); 7] = [
    ("GTX Basic", 550.0),
    ("GTX Pro", 4821.0),
    ("MG Special", 55.0),
    ("MG Advanced", 3393.0),
    ("GTX Plus Pro", 5482.0),
    ("GTX Plus Basic", 1096.0),
    ("GTK 500", 26768.0),
];
const REGIONS: [&str; 3] = ["West", "East", "Central"];
const REPS: [&str; 3] = ["Ana Ruiz", "Ben Okafor", "Chloe Martin"];
const SECTORS: [&str; 6] = ["medical", "retail", "software", "telecom", "finance", "technology"];
const ROLES: [&str; 4] = ["buyer", "technical", "executive", "other"];
const KINDS: [&str; 5] = ["call", "email", "meeting", "demo", "proposal_sent"];

/// `total` events (at least one per account) over `accounts` accounts.
pub struct Stream {
    rng: Rng,
    accounts: u64,
    total: u64,
    emitted: u64,
    t: DateTime<Utc>,
    step: Duration,
    next_id: u64,
    deals: Vec<(u64, u64)>,
}

pub fn stream(seed: u64, accounts: u64, total: u64) -> Stream {
    let accounts = accounts.max(1);
    let year = Duration::days(365).num_seconds();
    Stream {
        rng: Rng(seed),
        accounts,
        total,
        emitted: 0,
        t: "2026-01-01T08:00:00Z".parse().unwrap_or_default(),
        step: Duration::seconds((year / total.max(1) as i64).max(1)),
        next_id: 0,
        deals: Vec::new(),
    }
}

impl Stream {
    fn id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}-{}", self.next_id)
    }

    fn event(&mut self, kind: &str, data: Value) -> String {
        self.emitted += 1;
        self.t += self.step;
        json!({"id": format!("syn-{}", self.emitted), "type": kind, "at": stamp(self.t), "data": data}).to_string()
    }

    fn account_event(&mut self, n: u64) -> String {
        let r = &mut self.rng;
        let large = r.below(10) == 0;
        let employees = if large { 1000 + r.below(20_000) } else { 20 + r.below(900) };
        let mut data = json!({
            "id": format!("A-{n}"),
            "name": format!("Account {n}"),
            "sector": *r.pick(&SECTORS),
            "employees": employees,
            "annual_revenue": employees * 150_000,
            "region": REGIONS[(n % 3) as usize],
            "owner": REPS[(n % 3) as usize],
        });
        if n > 10 && r.below(20) == 0 {
            data["parent_id"] = json!(format!("A-{}", 1 + r.below(n - 1)));
        }
        self.event("account.upserted", data)
    }

    fn body_event(&mut self) -> String {
        let account = 1 + self.rng.below(self.accounts);
        let a = format!("A-{account}");
        let roll = self.rng.below(100);
        match roll {
            0..=6 => {
                let id = self.id("L");
                let product = self.rng.pick(&PRODUCTS).0;
                let data = json!({"id": id, "company": format!("Prospect {}", self.next_id), "name": "Sam Lee",
                    "source": "webinar", "region": *self.rng.pick(&REGIONS), "product": product});
                self.event("lead.created", data)
            }
            7..=11 => {
                let id = self.id("C");
                let role = *self.rng.pick(&ROLES);
                self.event("contact.upserted", json!({"id": id, "account_id": a, "name": "Pat Doe", "role": role}))
            }
            12..=29 => {
                let n = self.next_id + 1;
                let id = self.id("D");
                let (product, price) = *self.rng.pick(&PRODUCTS);
                let qty = 1 + self.rng.below(40);
                self.deals.push((n, account));
                let data = json!({"id": id, "account_id": a, "name": format!("{product} for {a}"), "product": product,
                    "amount": price * qty as f64, "owner": REPS[(account % 3) as usize]});
                self.event("deal.upserted", data)
            }
            30..=34 if !self.deals.is_empty() => {
                let (deal, acct) = *self.rng.pick(&self.deals);
                let stage = if self.rng.below(3) == 0 { "lost" } else { "won" };
                self.event(
                    "deal.upserted",
                    json!({"id": format!("D-{deal}"), "account_id": format!("A-{acct}"), "stage": stage}),
                )
            }
            35..=74 if !self.deals.is_empty() => {
                let (deal, acct) = *self.rng.pick(&self.deals);
                let id = self.id("ACT");
                let kind = *self.rng.pick(&KINDS);
                self.event(
                    "activity.logged",
                    json!({"id": id, "account_id": format!("A-{acct}"), "deal_id": format!("D-{deal}"), "kind": kind}),
                )
            }
            75..=94 => {
                let id = self.id("O");
                let (product, price) = *self.rng.pick(&PRODUCTS);
                let amount = price * (1 + self.rng.below(10)) as f64;
                self.event("order.placed", json!({"id": id, "account_id": a, "amount": amount, "product": product}))
            }
            95..=96 => {
                let id = self.id("K");
                let months = *self.rng.pick(&[12, 24, 36]);
                let start = self.t.date_naive();
                let end = start + Duration::days(months * 30);
                let data = json!({"id": id, "account_id": a, "start": start.to_string(), "end": end.to_string(),
                    "annual_value": 10_000 * (1 + self.rng.below(30))});
                self.event("contract.signed", data)
            }
            97..=98 => {
                let product = self.rng.pick(&PRODUCTS).0;
                let data = json!({"account_id": a, "product": product, "period": "2026", "amount": 10_000 * (1 + self.rng.below(50))});
                self.event("target.set", data)
            }
            _ => {
                let id = self.id("ACT");
                self.event("activity.logged", json!({"id": id, "account_id": a, "kind": "call"}))
            }
        }
    }
}

impl Iterator for Stream {
    /// One JSON line (without the newline).
    type Item = String;

    fn next(&mut self) -> Option<String> {
        if self.emitted >= self.total.max(self.accounts) {
            return None;
        }
        Some(if self.emitted < self.accounts { self.account_event(self.emitted + 1) } else { self.body_event() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_and_every_line_parses() {
        let a: Vec<String> = stream(7, 20, 500).collect();
        let b: Vec<String> = stream(7, 20, 500).collect();
        assert_eq!(a, b);
        assert_eq!(a.len(), 500);
        let now = chrono::Utc::now();
        for line in &a {
            crate::event::parse_line(line, now).unwrap();
        }
        assert_ne!(a, stream(8, 20, 500).collect::<Vec<_>>());
    }
}

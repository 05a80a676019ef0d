//! The clock's questions, each fact with the sweep generation it was last
//! set in (`sweep_epoch` in `meta` when it was written): what changes a
//! fact's generation and what keeps it is what the clock's sweeps rely on.

use serde_json::Map;

use super::{account, at, deal, key_account};
use crate::model::{Account, Contract, Deal};
use crate::store::Store;
use crate::store::backend::{ContractEnding, DealInStage, QuietAccount};

pub fn the_sweep_generation_lives_in_meta(s: &Store) {
    assert_eq!(s.sweep_epoch().unwrap(), 0);
    s.set_sweep_epoch(3).unwrap();
    assert_eq!((s.sweep_epoch().unwrap(), s.meta("sweep_epoch").unwrap().as_deref()), (3, Some("3")));
    s.set_meta("sweep_epoch", "5").unwrap();
    assert_eq!(s.sweep_epoch().unwrap(), 5);
}

fn in_stage(s: &Store, stage: &str, by: &str) -> Vec<DealInStage> {
    let mut v = s.deals_in_stage_since(stage, by).unwrap();
    v.sort_by(|a, b| a.deal_id.cmp(&b.deal_id));
    v
}

fn stage(id: &str, account: &str, entered: &str, epoch: i64) -> DealInStage {
    DealInStage { deal_id: id.into(), account_id: account.into(), entered_at: entered.into(), epoch }
}

/// Open deals in the stage entered by the time; the generation changes with
/// the stage, its time, openness, close time or account, and with nothing else.
pub fn deals_in_a_stage_carry_the_generation_their_stage_was_set_in(s: &Store) {
    let entered = |id: &str, account: &str, st: &str, day: u32| Deal {
        stage_entered_at: at(day, "09:00"),
        ..deal(id, account, st)
    };
    for d in [
        entered("D1", "A", "proposal", 2),
        entered("D2", "A", "proposal", 3),
        entered("D3", "A", "proposal", 3),
        entered("D4", "B", "proposal", 3),
    ] {
        s.save_deal(&d, true, false, "t").unwrap();
    }
    s.save_deal(&entered("D5", "A", "new", 2), true, false, "t").unwrap();
    s.save_deal(&Deal { closed_at: Some(at(3, "09:00")), ..entered("D6", "A", "proposal", 2) }, false, false, "t")
        .unwrap();
    assert_eq!(in_stage(s, "proposal", &at(2, "09:00")), [stage("D1", "A", &at(2, "09:00"), 0)]);
    s.set_sweep_epoch(1).unwrap();
    // Amount, owner and data alone keep the generation.
    let d1 = Deal { amount: 5.0, owner: Some("Ana".into()), ..entered("D1", "A", "proposal", 2) };
    s.save_deal(&d1, true, false, "t").unwrap();
    s.save_deal(&entered("D2", "A", "proposal", 4), true, false, "t").unwrap();
    s.save_deal(&entered("D3", "C", "proposal", 3), true, false, "t").unwrap();
    s.save_deal(&entered("D4", "B", "proposal", 3), false, false, "t").unwrap();
    s.save_deal(&entered("D4", "B", "proposal", 3), true, false, "t").unwrap();
    assert_eq!(
        in_stage(s, "proposal", &at(30, "00:00")),
        [
            stage("D1", "A", &at(2, "09:00"), 0),
            stage("D2", "A", &at(4, "09:00"), 1),
            stage("D3", "C", &at(3, "09:00"), 1),
            stage("D4", "B", &at(3, "09:00"), 1),
        ]
    );
    assert_eq!(in_stage(s, "proposal", &at(3, "09:00")).len(), 3, "entered at the time itself counts");
    assert_eq!(in_stage(s, "new", &at(30, "00:00")), [stage("D5", "A", &at(2, "09:00"), 0)]);
    assert!(in_stage(s, "won", &at(30, "00:00")).is_empty());
}

fn quiet(s: &Store, by: &str) -> Vec<QuietAccount> {
    let mut v = s.quiet_key_accounts(by).unwrap();
    v.sort_by(|a, b| a.account_id.cmp(&b.account_id));
    v
}

fn quiet_row(id: &str, since: &str, key_since: &str, epoch: i64) -> QuietAccount {
    QuietAccount { account_id: id.into(), quiet_since: since.into(), key_since: key_since.into(), epoch }
}

/// Key accounts quiet since their last contact (else since they became key);
/// the generation changes with the last contact or the key date only.
pub fn quiet_key_accounts_and_their_generation(s: &Store) {
    let day = |d| at(d, "09:00");
    s.save_account(&key_account("K1", &day(1)), "t").unwrap();
    s.save_account(&Account { last_contact: Some(day(4)), ..key_account("K2", &day(1)) }, "t").unwrap();
    s.save_account(&Account { last_contact: Some(day(2)), key_since: None, ..key_account("K3", &day(1)) }, "t")
        .unwrap();
    s.save_account(&Account { key_since: None, ..key_account("K4", &day(1)) }, "t").unwrap();
    s.save_account(&Account { last_contact: Some(day(1)), ..account("N") }, "t").unwrap();
    assert_eq!(quiet(s, &day(1)), [quiet_row("K1", &day(1), &day(1), 0)]);
    s.set_sweep_epoch(2).unwrap();
    s.save_account(&Account { owner: Some("Ana".into()), ..key_account("K1", &day(1)) }, "t").unwrap();
    s.touch_last_contact("K2", &day(6)).unwrap();
    s.touch_last_contact("K3", &day(1)).unwrap();
    s.save_account(&Account { last_contact: Some(day(2)), key_since: Some(day(2)), ..key_account("K3", &day(1)) }, "t")
        .unwrap();
    assert_eq!(quiet(s, &day(5)), [quiet_row("K1", &day(1), &day(1), 0), quiet_row("K3", &day(2), &day(2), 2)]);
    assert_eq!(
        quiet(s, &day(6)),
        [
            quiet_row("K1", &day(1), &day(1), 0),
            quiet_row("K2", &day(6), &day(1), 2),
            quiet_row("K3", &day(2), &day(2), 2),
        ]
    );
    s.set_sweep_epoch(3).unwrap();
    s.save_account(&Account { last_contact: Some(day(7)), ..key_account("K1", &day(1)) }, "t").unwrap();
    assert_eq!(quiet(s, &day(7))[0], quiet_row("K1", &day(7), &day(1), 3));
    // Key without a key date and never contacted: never quiet.
    assert!(quiet(s, "9999").iter().all(|q| q.account_id != "K4" && q.account_id != "N"));
}

fn contract(id: &str, start: &str, end: &str, value: f64) -> Contract {
    Contract { id: id.into(), start: start.into(), end: end.into(), annual_value: value }
}

fn ending(id: &str, account: &str, end: &str, epoch: i64) -> ContractEnding {
    ContractEnding { contract_id: id.into(), account_id: account.into(), end: end.into(), epoch }
}

/// Contracts with `today <= end <= until`, by end then id; the generation
/// changes with the account, start or end only.
pub fn contracts_ending_in_their_window_by_end(s: &Store) {
    let none = Map::new();
    let save = |account: &str, c: Contract| s.save_contract(account, &c, &none, "t").unwrap();
    save("A", contract("K1", "2025-11-10", "2026-11-10", 1.0));
    save("A", contract("K3", "2025-11-05", "2026-11-05", 1.0));
    save("B", contract("K2", "2025-11-05", "2026-11-05", 1.0));
    save("B", contract("K4", "2025-10-31", "2026-10-31", 1.0));
    save("B", contract("K5", "2025-12-31", "2026-12-31", 1.0));
    save("B", contract("K6", "2025-11-30", "2026-11-30", 1.0));
    assert_eq!(
        s.contracts_ending("2026-11-30", "2026-11-01").unwrap(),
        [
            ending("K2", "B", "2026-11-05", 0),
            ending("K3", "A", "2026-11-05", 0),
            ending("K1", "A", "2026-11-10", 0),
            ending("K6", "B", "2026-11-30", 0),
        ]
    );
    assert_eq!(s.contracts_ending("2026-11-05", "2026-11-05").unwrap().len(), 2, "both bounds count");
    s.set_sweep_epoch(1).unwrap();
    save("A", contract("K1", "2025-11-10", "2026-11-10", 9.0));
    save("B", contract("K2", "2025-11-05", "2026-11-06", 1.0));
    save("B", contract("K3", "2025-11-05", "2026-11-05", 1.0));
    save("B", contract("K6", "2025-11-01", "2026-11-30", 1.0));
    assert_eq!(
        s.contracts_ending("2026-11-30", "2026-11-01").unwrap(),
        [
            ending("K3", "B", "2026-11-05", 1),
            ending("K2", "B", "2026-11-06", 1),
            ending("K1", "A", "2026-11-10", 0),
            ending("K6", "B", "2026-11-30", 1),
        ]
    );
    assert!(s.contracts_ending("2026-10-30", "2026-10-01").unwrap().is_empty());
}

/// Every target by account then product; a target set again keeps the
/// generation it was first set in.
pub fn targets_keep_the_generation_they_were_first_set_in(s: &Store) {
    assert!(s.all_targets().unwrap().is_empty());
    s.save_target("B", "GTX", "2026", 1.0, "t").unwrap();
    s.save_target("A", "GTX", "2026", 2.0, "t").unwrap();
    s.set_sweep_epoch(3).unwrap();
    s.save_target("A", "GTX", "2026", 4.0, "t").unwrap();
    s.save_target("A", "AAA", "2026", 8.0, "t").unwrap();
    let rows: Vec<(String, String, String, f64, i64)> =
        s.all_targets().unwrap().into_iter().map(|t| (t.account_id, t.product, t.period, t.amount, t.epoch)).collect();
    let row = |a: &str, p: &str, amount, epoch| (a.to_string(), p.to_string(), "2026".to_string(), amount, epoch);
    assert_eq!(rows, [row("A", "AAA", 8.0, 3), row("A", "GTX", 4.0, 0), row("B", "GTX", 1.0, 0)]);
}

/// Key accounts with an order or won deal dated in `(left_after, left_by]`,
/// and accounts with a contract that began in `(last_day, today]` or ended
/// in `[last_day, today)`, of the generations `(epochs.0, epochs.1]`, by id.
pub fn accounts_to_review_by_what_left_the_window_in_the_generations(s: &Store) {
    let none = Map::new();
    let day = |d| at(d, "09:00");
    for a in [key_account("K", &day(1)), key_account("K2", &day(1)), key_account("K3", &day(1)), account("N")] {
        s.save_account(&a, "t").unwrap();
    }
    let order = |id: &str, account: &str, d: u32| s.save_order(id, account, 1.0, None, &day(d), &none).unwrap();
    s.set_sweep_epoch(1).unwrap();
    order("O1", "K", 3);
    order("O2", "N", 3);
    s.save_contract("X", &contract("C1", "2026-11-03", "2027-11-03", 1.0), &none, "t").unwrap();
    s.set_sweep_epoch(2).unwrap();
    let won = Deal { closed_at: Some(day(4)), ..deal("W", "K2", "won") };
    s.save_deal(&won, false, true, "t").unwrap();
    s.save_deal(&Deal { closed_at: Some(day(4)), ..deal("L", "K3", "lost") }, false, false, "t").unwrap();
    s.save_contract("Y", &contract("C2", "2025-01-01", "2026-11-04", 1.0), &none, "t").unwrap();
    let review = |after: Option<&str>, by: &str, last: Option<&str>, today: &str, e: (i64, i64)| {
        s.accounts_to_review(after, by, last, today, e).unwrap()
    };
    let (d2, d5) = (day(2), day(5));
    assert_eq!(review(Some(&d2), &d5, Some("2026-11-02"), "2026-11-05", (0, 2)), ["K", "K2", "X", "Y"]);
    assert_eq!(review(Some(&d2), &d5, Some("2026-11-02"), "2026-11-05", (1, 2)), ["K2", "Y"]);
    assert_eq!(review(Some(&d2), &d5, Some("2026-11-02"), "2026-11-05", (0, 1)), ["K", "X"]);
    assert!(review(Some(&d2), &d5, Some("2026-11-02"), "2026-11-05", (2, 9)).is_empty());
    // From the beginning: every contract begun by today, and orders up to the time itself.
    assert_eq!(review(None, &day(3), None, "2026-11-03", (0, 2)), ["K", "X", "Y"]);
    // Orders at the earlier bound, contracts begun on the last day or ended today: not yet, or already seen.
    assert_eq!(review(Some(&day(3)), &day(4), Some("2026-11-03"), "2026-11-04", (0, 2)), ["K2"]);
    // An order sent again keeps its generation in its account, and takes the current one in another.
    s.set_sweep_epoch(3).unwrap();
    order("O1", "K", 3);
    assert!(review(Some(&d2), &d5, None, "2026-11-01", (2, 3)).is_empty());
    order("O1", "K3", 3);
    assert_eq!(review(Some(&d2), &d5, None, "2026-11-01", (2, 3)), ["K3"]);
    // A contract moved in time takes the current generation.
    s.save_contract("X", &contract("C1", "2026-11-03", "2027-11-04", 1.0), &none, "t").unwrap();
    assert_eq!(review(Some(&d2), &d5, Some("2026-11-02"), "2026-11-05", (2, 3)), ["K3", "X"]);
}

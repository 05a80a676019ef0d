//! The state events build: accounts, contacts, leads, deals, activities,
//! orders, contracts and targets, as they round trip and are listed, and the
//! rows the working set's facts are made of.

use serde_json::json;

use super::{account, at, data, deal};
use crate::model::{Account, Contract, Deal, Lead};
use crate::store::Store;
use crate::store::backend::{ActivityRow, ContactRole, Counts, DealBefore, LedgerDeal, OrderRow, OrderWrite};

fn ids_of_accounts(v: Vec<Account>) -> Vec<String> {
    v.into_iter().map(|a| a.id).collect()
}

fn ids_of_deals(v: Vec<Deal>) -> Vec<String> {
    v.into_iter().map(|d| d.id).collect()
}

pub fn an_account_round_trips_and_an_update_keeps_its_creation(s: &Store) {
    let full = Account {
        id: "A".into(),
        data: data(json!({"name": "Acme", "employees": 40, "nested": {"x": [1, 2.5, null]}})),
        owner: Some("Ana".into()),
        parent_id: Some("P".into()),
        is_key: true,
        key_since: Some(at(2, "09:00")),
        key_reason: Some("big".into()),
        last_contact: Some(at(3, "09:00")),
        created_at: at(1, "08:00"),
    };
    s.save_account(&full, &at(1, "08:00")).unwrap();
    assert_eq!(format!("{:?}", s.load_account("A").unwrap().unwrap()), format!("{full:?}"));
    assert_eq!(format!("{:?}", s.account("A").unwrap().unwrap()), format!("{full:?}"));
    assert!(s.load_account("B").unwrap().is_none() && s.account("B").unwrap().is_none());
    let changed = Account {
        data: data(json!({"name": "Acme Ltd"})),
        owner: None,
        parent_id: None,
        is_key: false,
        key_since: None,
        key_reason: None,
        last_contact: None,
        created_at: at(9, "08:00"),
        ..full.clone()
    };
    s.save_account(&changed, &at(9, "08:00")).unwrap();
    let expected = Account { created_at: full.created_at.clone(), ..changed };
    assert_eq!(format!("{:?}", s.load_account("A").unwrap().unwrap()), format!("{expected:?}"));
    assert_eq!(format!("{:?}", s.account("A").unwrap().unwrap()), format!("{expected:?}"));
}

/// Listings put short ids first (`A2` before `A10`); children are by id as text.
pub fn accounts_are_listed_short_ids_first_and_counted(s: &Store) {
    for id in ["A10", "B", "A2", "A1", "C"] {
        let a = Account {
            owner: Some(if id.starts_with('A') { "Ana" } else { "Ben" }.into()),
            parent_id: (id != "C").then(|| "C".into()),
            is_key: id.len() == 2,
            ..account(id)
        };
        s.save_account(&a, "t").unwrap();
    }
    assert_eq!(ids_of_accounts(s.accounts(false).unwrap()), ["B", "C", "A1", "A2", "A10"]);
    assert_eq!(ids_of_accounts(s.accounts(true).unwrap()), ["A1", "A2"]);
    assert_eq!(s.child_accounts("C").unwrap(), ["A1", "A10", "A2", "B"]);
    assert!(s.child_accounts("A1").unwrap().is_empty());
    assert_eq!(
        (s.accounts_owned("Ana").unwrap(), s.accounts_owned("Ben").unwrap(), s.accounts_owned("Cy").unwrap()),
        (3, 2, 0)
    );
    s.save_deal(&deal("D1", "B", "new"), true, false, "t").unwrap();
    assert_eq!(s.counts().unwrap(), Counts { accounts: 5, deals: 1, key_accounts: 2 });
}

/// The last contact moves to a later time only; an unknown account is not made.
pub fn the_last_contact_only_moves_forward(s: &Store) {
    s.save_account(&account("A"), "t").unwrap();
    let last = |s: &Store| s.load_account("A").unwrap().unwrap().last_contact;
    assert!(s.write_last_contact("A", &at(5, "09:00")).unwrap());
    assert!(!s.write_last_contact("A", &at(4, "09:00")).unwrap());
    assert!(!s.write_last_contact("A", &at(5, "09:00")).unwrap());
    assert_eq!(last(s), Some(at(5, "09:00")));
    s.touch_last_contact("A", &at(6, "09:00")).unwrap();
    assert_eq!(last(s), Some(at(6, "09:00")));
    assert_eq!(s.account("A").unwrap().unwrap().last_contact, Some(at(6, "09:00")));
    assert!(!s.write_last_contact("nobody", &at(5, "09:00")).unwrap());
    assert!(s.load_account("nobody").unwrap().is_none());
}

pub fn a_contact_says_what_it_was_before(s: &Store) {
    let buyer = data(json!({"name": "Pat", "role": "buyer"}));
    assert_eq!(s.write_contact("P", "A", "buyer", &buyer, "t1").unwrap(), None);
    let before = ContactRole { role: "buyer".into(), account_id: "A".into() };
    assert_eq!(s.contact_role("P").unwrap(), Some(before.clone()));
    assert_eq!(s.contact("P").unwrap(), Some(buyer));
    let exec = data(json!({"name": "Pat", "role": "executive"}));
    assert_eq!(s.write_contact("P", "B", "executive", &exec, "t2").unwrap(), Some(before));
    assert_eq!(s.contact_role("P").unwrap(), Some(ContactRole { role: "executive".into(), account_id: "B".into() }));
    assert_eq!(s.contact("P").unwrap(), Some(exec));
    assert_eq!((s.contact("Q").unwrap(), s.contact_role("Q").unwrap()), (None, None));
}

pub fn a_lead_keeps_its_creation(s: &Store) {
    let lead =
        Lead { id: "L".into(), data: data(json!({"company": "X", "account_id": "A"})), created_at: at(1, "08:00") };
    s.save_lead(&lead).unwrap();
    assert_eq!(format!("{:?}", s.lead("L").unwrap().unwrap()), format!("{lead:?}"));
    let again = Lead { data: data(json!({"company": "Y"})), created_at: at(5, "08:00"), ..lead.clone() };
    s.save_lead(&again).unwrap();
    let expected = Lead { created_at: lead.created_at, ..again };
    assert_eq!(format!("{:?}", s.lead("L").unwrap().unwrap()), format!("{expected:?}"));
    assert!(s.lead("M").unwrap().is_none());
}

/// A deal round trips, an update keeps its creation, and (asked) says the
/// account it was in and whether it was won.
pub fn a_deal_round_trips_and_says_what_it_was_before(s: &Store) {
    let full = Deal {
        data: data(json!({"product": "GTX", "amount": 5.5})),
        owner: Some("Ana".into()),
        amount: 5.5,
        closed_at: None,
        ..deal("D", "A", "new")
    };
    assert_eq!(s.write_deal(&full, true, false, "t1", true).unwrap(), None);
    assert_eq!(format!("{:?}", s.load_deal("D").unwrap().unwrap()), format!("{full:?}"));
    let won = Deal {
        account_id: "B".into(),
        stage: "won".into(),
        stage_entered_at: at(5, "09:00"),
        closed_at: Some(at(5, "09:00")),
        owner: None,
        amount: 7.0,
        data: data(json!({"product": "MG"})),
        created_at: at(5, "09:00"),
        ..full.clone()
    };
    let before = s.write_deal(&won, false, true, "t2", true).unwrap();
    assert_eq!(before, Some(DealBefore { account_id: "A".into(), was_won: false }));
    let expected = Deal { created_at: full.created_at.clone(), ..won.clone() };
    assert_eq!(format!("{:?}", s.load_deal("D").unwrap().unwrap()), format!("{expected:?}"));
    let lost = Deal { stage: "lost".into(), ..won.clone() };
    let before = s.write_deal(&lost, false, false, "t3", true).unwrap();
    assert_eq!(before, Some(DealBefore { account_id: "B".into(), was_won: true }));
    assert_eq!(s.write_deal(&lost, false, false, "t4", false).unwrap(), None, "not asked, not said");
    assert!(s.load_deal("E").unwrap().is_none());
    // Through the working set, the same.
    s.save_deal(&Deal { created_at: at(9, "09:00"), ..full.clone() }, true, false, "t5").unwrap();
    assert_eq!(format!("{:?}", s.deal("D").unwrap().unwrap()), format!("{full:?}"));
}

/// A deal's life (1 at first, one more per reopen) is kept by every write
/// and read back by every read: by id, through the working set, in listings.
pub fn a_deals_life_is_kept_by_every_write_and_read(s: &Store) {
    let first = deal("D", "A", "lost");
    assert_eq!(first.life, 1, "a deal starts in its first life");
    s.save_deal(&first, false, false, "t1").unwrap();
    assert_eq!(s.load_deal("D").unwrap().unwrap().life, 1);
    let reopened = Deal { stage: "qualified".into(), life: 2, ..first.clone() };
    s.save_deal(&reopened, true, false, "t2").unwrap();
    assert_eq!(s.load_deal("D").unwrap().unwrap().life, 2);
    assert_eq!(s.deal("D").unwrap().unwrap().life, 2);
    assert_eq!(s.deals(None, Some("A")).unwrap().iter().map(|d| d.life).collect::<Vec<_>>(), [2]);
    // Any other change keeps the life it is given; a new deal starts at 1.
    s.write_deal(&Deal { amount: 9.0, life: 3, ..reopened.clone() }, true, false, "t3", false).unwrap();
    s.save_deal(&deal("E", "A", "new"), true, false, "t4").unwrap();
    let lives: Vec<_> = s.deals(None, None).unwrap().into_iter().map(|d| (d.id, d.life)).collect();
    assert_eq!(lives, [("D".to_string(), 3), ("E".to_string(), 1)]);
}

pub fn deals_are_listed_short_ids_first_and_open_ones_oldest_first(s: &Store) {
    let made = |id: &str, account: &str, stage: &str, created: &str| Deal {
        created_at: created.into(),
        ..deal(id, account, stage)
    };
    s.save_deal(&made("D10", "A", "new", &at(1, "09:00")), true, false, "t").unwrap();
    s.save_deal(&made("D9", "A", "new", &at(3, "09:00")), true, false, "t").unwrap();
    s.save_deal(&made("D2", "A", "proposal", &at(1, "09:00")), true, false, "t").unwrap();
    s.save_deal(&made("D1", "A", "won", &at(1, "08:00")), false, true, "t").unwrap();
    s.save_deal(&made("E", "B", "new", &at(1, "07:00")), true, false, "t").unwrap();
    assert_eq!(s.open_deal_ids("A").unwrap(), ["D10", "D2", "D9"]);
    assert_eq!(s.open_deal_ids("B").unwrap(), ["E"]);
    assert!(s.open_deal_ids("C").unwrap().is_empty());
    assert_eq!(ids_of_deals(s.deals(None, None).unwrap()), ["E", "D1", "D2", "D9", "D10"]);
    assert_eq!(ids_of_deals(s.deals(Some("new"), None).unwrap()), ["E", "D9", "D10"]);
    assert_eq!(ids_of_deals(s.deals(None, Some("A")).unwrap()), ["D1", "D2", "D9", "D10"]);
    assert_eq!(ids_of_deals(s.deals(Some("new"), Some("A")).unwrap()), ["D9", "D10"]);
    assert!(s.deals(Some("lost"), None).unwrap().is_empty());
}

fn activity<'a>(
    id: &'a str,
    deal: Option<&'a str>,
    contact: Option<&'a str>,
    kind: &'a str,
    at: String,
    data: &'a serde_json::Map<String, serde_json::Value>,
) -> ActivityRow<'a> {
    ActivityRow { id: Some(id), account_id: Some("A"), deal_id: deal, contact_id: contact, kind: Some(kind), at, data }
}

/// Activities per kind, the contacts named (with their role when known) and
/// the last one, of all time or from a moment on; one sent again moves to
/// what it says now.
pub fn an_activity_sent_again_replaces_the_one_stored(s: &Store) {
    let none = serde_json::Map::new();
    s.write_contact("P1", "A", "buyer", &none, "t").unwrap();
    assert!(s.write_activity(&activity("V1", Some("D"), Some("P1"), "call", at(2, "09:00"), &none)).unwrap());
    assert!(s.write_activity(&activity("V2", Some("D"), Some("P2"), "call", at(4, "09:00"), &none)).unwrap());
    assert!(s.write_activity(&activity("V3", Some("D"), Some("P1"), "demo", at(3, "09:00"), &none)).unwrap());
    assert!(s.write_activity(&activity("V4", Some("D"), None, "email", at(1, "09:00"), &none)).unwrap());
    assert!(s.write_activity(&activity("V5", None, Some("P1"), "call", at(9, "09:00"), &none)).unwrap());
    let rows = s.deal_activity_rows("D", None).unwrap();
    assert_eq!(rows.per_kind, [("call".to_string(), 2), ("demo".into(), 1), ("email".into(), 1)]);
    let buyer = ContactRole { role: "buyer".into(), account_id: "A".into() };
    assert_eq!(rows.contacts, [("P1".to_string(), Some(buyer.clone())), ("P2".into(), None)]);
    assert_eq!(rows.last_activity, Some(at(4, "09:00")));
    // A reopened deal's facts: its activities from the start of its life on (that moment included).
    let life = s.deal_activity_rows("D", Some(&at(3, "09:00"))).unwrap();
    assert_eq!(life.per_kind, [("call".to_string(), 1), ("demo".into(), 1)]);
    assert_eq!(life.contacts, [("P1".to_string(), Some(buyer.clone())), ("P2".into(), None)]);
    assert_eq!(life.last_activity, Some(at(4, "09:00")));
    let later = s.deal_activity_rows("D", Some(&at(5, "09:00"))).unwrap();
    assert!(later.per_kind.is_empty() && later.contacts.is_empty() && later.last_activity.is_none());
    // V2 sent again, about another deal.
    assert!(!s.write_activity(&activity("V2", Some("E"), Some("P1"), "meeting", at(5, "09:00"), &none)).unwrap());
    let rows = s.deal_activity_rows("D", None).unwrap();
    assert_eq!(rows.per_kind, [("call".to_string(), 1), ("demo".into(), 1), ("email".into(), 1)]);
    assert_eq!(rows.contacts, [("P1".to_string(), Some(buyer.clone()))]);
    assert_eq!(rows.last_activity, Some(at(3, "09:00")));
    let moved = s.deal_activity_rows("E", None).unwrap();
    assert_eq!(
        (moved.per_kind, moved.contacts, moved.last_activity),
        (vec![("meeting".to_string(), 1)], vec![("P1".to_string(), Some(buyer))], Some(at(5, "09:00")))
    );
    let nothing = s.deal_activity_rows("F", None).unwrap();
    assert!(nothing.per_kind.is_empty() && nothing.contacts.is_empty() && nothing.last_activity.is_none());
}

fn order<'a>(
    id: &'a str,
    account: &'a str,
    amount: f64,
    at: &'a str,
    data: &'a serde_json::Map<String, serde_json::Value>,
) -> OrderRow<'a> {
    OrderRow { id, account_id: account, amount, product: Some("P"), at, data }
}

/// An order sent again keeps its time, takes the rest, and says the account it was in.
pub fn an_order_sent_again_keeps_its_time(s: &Store) {
    let none = serde_json::Map::new();
    let (first, later) = (at(2, "09:00"), at(8, "09:00"));
    assert_eq!(s.write_order(&order("O", "A", 10.0, &first, &none)).unwrap(), OrderWrite::Inserted);
    assert_eq!(
        s.write_order(&order("O", "B", 20.0, &later, &none)).unwrap(),
        OrderWrite::Updated { was_account: Some("A".into()) }
    );
    assert!(s.ledger_rows("A", "").unwrap().orders.is_empty());
    assert_eq!(s.ledger_rows("B", "").unwrap().orders, [(first.clone(), 20.0)]);
    assert_eq!(
        s.write_order(&order("O", "B", 30.0, &later, &none)).unwrap(),
        OrderWrite::Updated { was_account: Some("B".into()) }
    );
    assert_eq!(s.ledger_rows("B", "").unwrap().orders, [(first, 30.0)]);
}

/// A contract moves with what it says now (and, asked, says where it was); a
/// target is one per account, product and period.
pub fn a_contract_or_target_sent_again_replaces_the_one_stored(s: &Store) {
    let none = serde_json::Map::new();
    let c = Contract { id: "K".into(), start: "2026-01-01".into(), end: "2026-12-31".into(), annual_value: 100.0 };
    assert_eq!(s.write_contract("A", &c, &none, "t", true).unwrap(), None);
    let moved = Contract { end: "2027-06-30".into(), annual_value: 150.0, ..c.clone() };
    assert_eq!(s.write_contract("B", &moved, &none, "t", true).unwrap(), Some("A".into()));
    assert_eq!(s.write_contract("B", &moved, &none, "t", false).unwrap(), None, "not asked, not said");
    assert!(s.ledger_rows("A", "").unwrap().contracts.is_empty());
    assert_eq!(s.ledger_rows("B", "").unwrap().contracts, [moved]);
    s.write_target("A", "GTX", "2026", 10.0, "t1").unwrap();
    s.write_target("A", "GTX", "2027", 20.0, "t1").unwrap();
    s.write_target("A", "GTX", "2026", 30.0, "t2").unwrap();
    let mut targets: Vec<(String, String, f64)> =
        s.ledger_rows("A", "").unwrap().targets.into_iter().map(|t| (t.product, t.period, t.amount)).collect();
    targets.sort_by(|a, b| a.partial_cmp(b).unwrap());
    assert_eq!(targets, [("GTX".to_string(), "2026".to_string(), 30.0), ("GTX".into(), "2027".into(), 20.0)]);
}

/// Orders after the floor, open and won deals (not lost ones), one role per
/// contact, contracts and targets: only the account's own.
pub fn the_ledger_rows_of_an_account(s: &Store) {
    let none = serde_json::Map::new();
    for (id, account, day) in [("O1", "A", 1), ("O2", "A", 5), ("O3", "A", 9), ("O4", "B", 9)] {
        s.write_order(&order(id, account, day as f64, &at(day, "09:00"), &none)).unwrap();
    }
    let closed =
        |id: &str, day: u32| Deal { closed_at: Some(at(day, "09:00")), amount: day as f64, ..deal(id, "A", "x") };
    s.write_deal(&deal("D-open", "A", "new"), true, false, "t", false).unwrap();
    s.write_deal(&closed("D-won-early", 1), false, true, "t", false).unwrap();
    s.write_deal(&closed("D-won", 6), false, true, "t", false).unwrap();
    s.write_deal(&closed("D-lost", 6), false, false, "t", false).unwrap();
    s.write_deal(&deal("D-other", "B", "new"), true, false, "t", false).unwrap();
    for (id, account, role) in
        [("P1", "A", "buyer"), ("P2", "A", "buyer"), ("P3", "A", "executive"), ("P4", "B", "other")]
    {
        s.write_contact(id, account, role, &none, "t").unwrap();
    }
    let k = Contract { id: "K".into(), start: "2026-01-01".into(), end: "2026-12-31".into(), annual_value: 1.0 };
    s.write_contract("A", &k, &none, "t", false).unwrap();
    s.write_contract("B", &Contract { id: "K2".into(), ..k.clone() }, &none, "t", false).unwrap();
    s.write_target("A", "GTX", "2026", 5.0, "t").unwrap();
    s.write_target("B", "GTX", "2026", 6.0, "t").unwrap();

    let floor = at(3, "00:00");
    let mut rows = s.ledger_rows("A", &floor).unwrap();
    rows.orders.sort_by(|a, b| a.partial_cmp(b).unwrap());
    assert_eq!(rows.orders, [(at(5, "09:00"), 5.0), (at(9, "09:00"), 9.0)]);
    rows.deals.sort_by(|a, b| a.id.cmp(&b.id));
    // Won deals closed before the floor matter to no window the ledger serves.
    rows.deals.retain(|d| d.closed_at.as_deref().is_none_or(|c| c > floor.as_str()));
    let ledger_deal = |id: &str, is_open, is_won, closed_at: Option<String>, amount| LedgerDeal {
        id: id.into(),
        is_open,
        is_won,
        closed_at,
        amount,
    };
    assert_eq!(
        rows.deals,
        [ledger_deal("D-open", true, false, None, 100.0), ledger_deal("D-won", false, true, Some(at(6, "09:00")), 6.0)]
    );
    rows.contact_roles.sort();
    assert_eq!(rows.contact_roles, ["buyer", "buyer", "executive"]);
    assert_eq!(rows.contracts, [k]);
    assert_eq!(rows.targets.len(), 1);
    assert_eq!((rows.targets[0].product.as_str(), rows.targets[0].amount), ("GTX", 5.0));
    let all = s.ledger_rows("A", "").unwrap();
    assert_eq!(all.orders.len(), 3);
    assert!(all.deals.iter().any(|d| d.id == "D-won-early"), "no floor: every won deal");
    let nobody = s.ledger_rows("Z", "").unwrap();
    assert!(nobody.orders.is_empty() && nobody.deals.is_empty() && nobody.contact_roles.is_empty());
}

/// Orders of the product and won deals whose `product` it is, in `[from, to]`.
pub fn product_revenue_counts_orders_and_won_deals_in_the_window(s: &Store) {
    let none = serde_json::Map::new();
    let with = |id: &str, account: &str, product: Option<&str>, amount: f64, day: u32| {
        s.write_order(&OrderRow { id, account_id: account, amount, product, at: &at(day, "09:00"), data: &none })
            .unwrap()
    };
    with("O1", "A", Some("GTX"), 1.0, 2);
    with("O2", "A", Some("GTX"), 2.0, 5);
    with("O3", "A", Some("GTX"), 4.0, 8);
    with("O4", "A", Some("MG"), 8.0, 5);
    with("O5", "B", Some("GTX"), 16.0, 5);
    with("O6", "A", None, 32.0, 5);
    let closed = |id: &str, product: &str, day: u32, amount: f64| Deal {
        closed_at: Some(at(day, "09:00")),
        amount,
        data: data(json!({"product": product})),
        ..deal(id, "A", "x")
    };
    s.write_deal(&closed("W1", "GTX", 5, 64.0), false, true, "t", false).unwrap();
    s.write_deal(&closed("W2", "GTX", 9, 128.0), false, true, "t", false).unwrap();
    s.write_deal(&closed("L1", "GTX", 5, 256.0), false, false, "t", false).unwrap();
    s.write_deal(&closed("W3", "MG", 5, 512.0), false, true, "t", false).unwrap();
    let open = Deal { data: data(json!({"product": "GTX"})), amount: 1024.0, ..deal("D", "A", "new") };
    s.write_deal(&open, true, false, "t", false).unwrap();
    let revenue = |from: &str, to: &str| s.product_revenue("A", "GTX", from, to).unwrap();
    assert_eq!(revenue(&at(2, "09:00"), &at(8, "09:00")), 1.0 + 2.0 + 4.0 + 64.0);
    assert_eq!(revenue(&at(3, "00:00"), &at(30, "00:00")), 2.0 + 4.0 + 64.0 + 128.0);
    assert_eq!(revenue(&at(20, "00:00"), &at(30, "00:00")), 0.0);
    assert_eq!(s.product_revenue("A", "MG", "", "9999").unwrap(), 8.0 + 512.0);
    assert_eq!(s.product_revenue("C", "GTX", "", "9999").unwrap(), 0.0);
}

//! Units of work: what a committed unit wrote is kept; what a unit rolled
//! back or dropped wrote is undone, every kind of write (rows, tasks and
//! their ids, the logs, `meta`, turns), and the working set's kept rows and
//! facts with it; a nested unit is undone alone, and what it released is
//! kept only if the unit around it commits.

use serde_json::{Map, json};

use super::{Opener, account, at, committed, data, deal, event, key_account, task_for};
use crate::model::{Account, Contract, Decision, DecisionKind, Lead, RuleRef, StageChange, Subject};
use crate::store::{RuleHealth, Store, TaskFilter, TaskStatus, WaitingHandover};

/// What every test here starts from, committed.
fn baseline(s: &Store) {
    committed(s, || {
        s.save_account(&key_account("A", &at(1, "09:00")), "t").unwrap();
        s.save_account(&account("B"), "t").unwrap();
        s.save_contact("P1", "A", "buyer", &Map::new(), "t").unwrap();
        s.save_lead(&Lead { id: "L1".into(), data: data(json!({"company": "X"})), created_at: at(1, "08:00") })
            .unwrap();
        s.save_deal(&deal("D1", "A", "new"), true, false, "t").unwrap();
        let v1 = json!({"id": "V1", "account_id": "A", "deal_id": "D1", "contact_id": "P1", "kind": "call"});
        s.save_activity(&event("ev-V1", "activity.logged", &at(2, "09:00"), v1)).unwrap();
        s.save_order("O1", "A", 10.0, Some("GTX"), &at(2, "09:00"), &Map::new()).unwrap();
        let k = Contract { id: "K1".into(), start: "2026-01-01".into(), end: "2026-12-31".into(), annual_value: 5.0 };
        s.save_contract("A", &k, &Map::new(), "t").unwrap();
        s.save_target("A", "GTX", "2026", 100.0, "t").unwrap();
        for (who, key) in [(None, "queue"), (Some("Ana"), "anas"), (None, "to claim")] {
            s.create_task(&task_for("sales_rep", who, ("deal", "D1"), key), "v1", "e0", "t").unwrap();
        }
        s.set_meta("k", "0").unwrap();
        s.record_rules_version("v1", r#"[["a", "b"]]"#, "t").unwrap();
        s.record_rule_health(&health("r0")).unwrap();
        s.save_waiting_handover(&waiting("B")).unwrap();
        s.record_applied(&event("e0", "clock.tick", &at(1, "09:00"), json!({})), "in", 1, "v1", "t").unwrap();
    });
    s.claim("sales_rep", "Ben", &at(1, "09:00"), None).unwrap().unwrap();
}

fn health(rule: &str) -> RuleHealth {
    RuleHealth {
        rules_version: "v1".into(),
        rule: rule.into(),
        file: "rules/t.rhai".into(),
        line: 1,
        failures: 1,
        last_error: "boom".into(),
        last_event: "e".into(),
        quarantined_at: None,
    }
}

fn waiting(account: &str) -> WaitingHandover {
    WaitingHandover {
        account_id: account.into(),
        role: "account_manager".into(),
        reason: "r".into(),
        rule: RuleRef { file: "f".into(), function: "g".into() },
        close_open_tasks: true,
        since: at(1, "09:00"),
        event_id: "e".into(),
    }
}

/// One write of every kind, `tag` telling one call's new rows from another's;
/// `task` is an existing open task to reassign and close.
fn write_everything(s: &Store, tag: &str, task: i64) {
    let t = |name: &str| format!("{name}-{tag}");
    s.save_account(&Account { owner: Some(t("owner")), ..key_account("A", &at(1, "09:00")) }, "t").unwrap();
    s.save_account(&account(&t("N")), "t").unwrap();
    s.touch_last_contact("A", &at(3, "09:00")).unwrap();
    s.save_contact("P1", "B", &t("role"), &Map::new(), "t").unwrap();
    s.save_contact(&t("P"), "A", "executive", &Map::new(), "t").unwrap();
    s.save_lead(&Lead { id: "L1".into(), data: data(json!({"company": t("co")})), created_at: "t".into() }).unwrap();
    s.save_lead(&Lead { id: t("L"), data: Map::new(), created_at: "t".into() }).unwrap();
    s.save_deal(&deal("D1", "A", &t("stage")), false, true, "t").unwrap();
    s.save_deal(&deal(&t("D"), "B", "new"), true, false, "t").unwrap();
    s.record_stage_change(&StageChange {
        deal_id: "D1",
        from: Some("new"),
        to: "won",
        at: "t",
        event_id: "e",
        rule: None,
        reason: "r",
    })
    .unwrap();
    let again = json!({"id": "V1", "account_id": "A", "deal_id": t("D"), "kind": "demo"});
    s.save_activity(&event(&t("ev-V1"), "activity.logged", &at(3, "09:00"), again)).unwrap();
    let new = json!({"id": t("V"), "account_id": "A", "deal_id": "D1", "contact_id": t("P"), "kind": "meeting"});
    s.save_activity(&event(&t("ev-V"), "activity.logged", &at(3, "09:00"), new)).unwrap();
    s.save_order("O1", "B", 20.0, Some("GTX"), &at(5, "09:00"), &Map::new()).unwrap();
    s.save_order(&t("O"), "A", 30.0, Some("GTX"), &at(3, "09:00"), &Map::new()).unwrap();
    let k = Contract { id: "K1".into(), start: "2026-02-01".into(), end: "2026-11-30".into(), annual_value: 6.0 };
    s.save_contract("B", &k, &Map::new(), "t").unwrap();
    s.save_target("A", "GTX", "2026", 200.0, "t").unwrap();
    s.save_target("A", &t("MG"), "2026", 1.0, "t").unwrap();
    let created =
        s.create_task(&task_for("sales_rep", Some("Cy"), ("account", "A"), &t("task")), "v", "e", "t").unwrap();
    assert!(created.is_some());
    s.reassign_task(task, Some("Dee")).unwrap();
    s.close_task(task, TaskStatus::Done, Some("Dee"), Some("ok"), "t").unwrap();
    s.release_lapsed_claims(&at(2, "09:00"), &at(2, "09:00")).unwrap();
    s.cancel_open_tasks_about(&Subject::new("account", "A"), None, "gone", "t").unwrap();
    s.assign_queued_tasks_about(&Subject::new("deal", "D1"), "sales_rep", &t("Eve")).unwrap();
    s.take_turn("sales_rep", "", 5).unwrap();
    s.set_meta("k", &t("meta")).unwrap();
    s.set_meta(&t("k"), "x").unwrap();
    s.set_sweep_epoch(s.sweep_epoch().unwrap() + 1).unwrap();
    let decision = Decision {
        kind: DecisionKind::StageMove,
        subject: Subject::new("deal", "D1"),
        rule: None,
        reason: t("reason"),
        detail: json!({}),
        event_id: t("e"),
        at: "t".into(),
    };
    s.record_decision(&decision, "v1").unwrap();
    s.record_applied(&event(&t("e"), "clock.tick", &at(4, "09:00"), json!({})), "in", 2, "v1", "t").unwrap();
    s.record_rejected("in", 3, &t("bad"), "{}", "t").unwrap();
    s.record_rules_version(&t("v"), "[]", "t").unwrap();
    s.record_rule_health(&health(&t("r"))).unwrap();
    s.clear_rule_health("v1", "r0").unwrap();
    s.save_waiting_handover(&waiting(&t("W"))).unwrap();
    s.drop_waiting_handover("B").unwrap();
}

/// Everything the store answers that a write above changes, as text.
fn snapshot(s: &Store) -> String {
    let mut out = Vec::new();
    let mut say = |what: &str, v: String| out.push(format!("{what}: {v}"));
    say("accounts", format!("{:?}", s.accounts(false).unwrap()));
    say("counts", format!("{:?}", s.counts().unwrap()));
    for id in ["A", "B"] {
        let a = s.account(id).unwrap().unwrap();
        say("account", format!("{a:?}"));
        say("facts", format!("{:?}", s.account_stats(&a, &at(1, "00:00"), &at(20, "00:00")).unwrap()));
        let mut rows = s.ledger_rows(id, "").unwrap();
        rows.orders.sort_by(|a, b| a.partial_cmp(b).unwrap());
        rows.deals.sort_by(|a, b| a.id.cmp(&b.id));
        rows.contact_roles.sort();
        rows.contracts.sort_by(|a, b| a.id.cmp(&b.id));
        rows.targets.sort_by(|a, b| (&a.product, &a.period).cmp(&(&b.product, &b.period)));
        say("ledger rows", format!("{rows:?}"));
    }
    say("deals", format!("{:?}", s.deals(None, None).unwrap()));
    say("deal", format!("{:?}", s.deal("D1").unwrap()));
    say("deal facts", format!("{:?}", s.deal_stats("D1").unwrap()));
    say("deal rows", format!("{:?}", s.deal_activity_rows("D1", None).unwrap()));
    say("contact", format!("{:?} {:?}", s.contact_role("P1").unwrap(), s.contact("P1").unwrap()));
    say("lead", format!("{:?}", s.lead("L1").unwrap()));
    say("revenue", format!("{:?}", s.product_revenue("A", "GTX", "", "9999").unwrap()));
    say("tasks", format!("{:?}", s.tasks(&TaskFilter::default()).unwrap()));
    say("max task", format!("{:?}", s.max_task_id().unwrap()));
    let mut load = s.open_tasks_per_assignee("sales_rep").unwrap();
    load.retain(|l| l.open > 0);
    load.sort_by(|a, b| a.who.cmp(&b.who));
    say("load", format!("{load:?}"));
    say("by role", format!("{:?}", s.open_tasks_by_role().unwrap()));
    say("meta", format!("{:?} {:?}", s.meta("k").unwrap(), s.sweep_epoch().unwrap()));
    say("targets", format!("{:?}", s.all_targets().unwrap()));
    say("decisions", format!("{:?}", s.decisions(None, None).unwrap()));
    say("events", format!("{:?} {:?}", s.event_history().unwrap(), s.event_count().unwrap()));
    say("latest event", format!("{:?}", s.latest_event_at().unwrap()));
    say("rejected", format!("{:?}", s.rejected().unwrap()));
    say("rules version", format!("{:?}", s.current_rules_version().unwrap()));
    say("rule health", format!("{:?}", s.rule_health("v1").unwrap()));
    say("waiting", format!("{:?}", s.waiting_handovers().unwrap()));
    out.join("\n")
}

/// The round-robin turn after the baseline's, without taking it for good.
fn next_turn(s: &Store) -> usize {
    let unit = s.begin().unwrap();
    let turn = s.take_turn("sales_rep", "", 5).unwrap();
    unit.rollback().unwrap();
    turn
}

fn assert_same(got: &str, expected: &str, what: &str) {
    if got != expected {
        let diff: Vec<String> = got
            .lines()
            .zip(expected.lines())
            .filter(|(g, e)| g != e)
            .map(|(g, e)| format!("  got      {g}\n  expected {e}"))
            .collect();
        panic!("{what}:\n{}", diff.join("\n"));
    }
}

pub fn a_committed_unit_keeps_every_kind_of_write(s: &Store) {
    baseline(s);
    let before = snapshot(s);
    let unit = s.begin().unwrap();
    write_everything(s, "1", 2);
    let inside = snapshot(s);
    assert_ne!(inside, before);
    unit.commit().unwrap();
    assert_same(&snapshot(s), &inside, "after the commit, what the unit saw");
    assert_eq!(next_turn(s), 1);
}

pub fn a_rolled_back_unit_undoes_every_kind_of_write(s: &Store) {
    baseline(s);
    let before = snapshot(s);
    let unit = s.begin().unwrap();
    write_everything(s, "1", 2);
    assert_ne!(snapshot(s), before);
    unit.rollback().unwrap();
    assert_same(&snapshot(s), &before, "after the rollback, the store as before");
    assert_eq!(next_turn(s), 0);
}

pub fn a_dropped_unit_undoes_every_kind_of_write(s: &Store) {
    baseline(s);
    let before = snapshot(s);
    {
        let _unit = s.begin().unwrap();
        write_everything(s, "1", 2);
        assert_ne!(snapshot(s), before);
    }
    assert_same(&snapshot(s), &before, "after the drop, the store as before");
    assert_eq!(next_turn(s), 0);
}

pub fn a_nested_unit_rolled_back_is_undone_alone(s: &Store) {
    baseline(s);
    let unit = s.begin().unwrap();
    write_everything(s, "outer", 2);
    let outer = snapshot(s);
    let nested = s.nested().unwrap();
    write_everything(s, "inner", 1);
    assert_ne!(snapshot(s), outer);
    nested.rollback().unwrap();
    assert_same(&snapshot(s), &outer, "after the nested rollback, what the unit wrote before it");
    unit.commit().unwrap();
    assert_same(&snapshot(s), &outer, "after the commit, what the unit wrote outside the nested unit");
    assert_eq!(next_turn(s), 1);
}

pub fn a_nested_unit_dropped_is_undone_alone(s: &Store) {
    baseline(s);
    let unit = s.begin().unwrap();
    write_everything(s, "outer", 2);
    let outer = snapshot(s);
    {
        let _nested = s.nested().unwrap();
        write_everything(s, "inner", 1);
    }
    assert_same(&snapshot(s), &outer, "after the nested drop, what the unit wrote before it");
    // The unit goes on after an event undone: another nested unit, released.
    let nested = s.nested().unwrap();
    write_everything(s, "next", 1);
    nested.release().unwrap();
    let next = snapshot(s);
    unit.commit().unwrap();
    assert_same(&snapshot(s), &next, "after the commit");
    assert_eq!(next_turn(s), 2);
}

pub fn a_released_nested_unit_is_kept_only_if_the_unit_commits(s: &Store) {
    baseline(s);
    let before = snapshot(s);
    let unit = s.begin().unwrap();
    let nested = s.nested().unwrap();
    write_everything(s, "1", 2);
    nested.release().unwrap();
    assert_ne!(snapshot(s), before);
    unit.rollback().unwrap();
    assert_same(&snapshot(s), &before, "a released nested unit rolled back with its unit");
    let unit = s.begin().unwrap();
    let nested = s.nested().unwrap();
    write_everything(s, "1", 2);
    nested.release().unwrap();
    let inside = snapshot(s);
    unit.commit().unwrap();
    assert_same(&snapshot(s), &inside, "a released nested unit committed with its unit");
    assert_eq!(next_turn(s), 1);
}

fn owner(store: &Store, id: &str) -> Option<String> {
    store.account(id).unwrap().unwrap().owner
}

/// The working set serves its unit's own writes, and forgets what a rolled
/// back unit (or nested unit, or a unit dropped uncommitted) wrote.
pub fn kept_rows_follow_the_units_and_their_rollbacks(s: &Store) {
    let mut a = Account { id: "A".into(), created_at: "t0".into(), owner: Some("Ana".into()), ..Account::default() };
    let unit = s.begin().unwrap();
    s.save_account(&a, "t").unwrap();
    unit.commit().unwrap();
    assert_eq!(owner(s, "A").as_deref(), Some("Ana"));

    let unit = s.begin().unwrap();
    a.owner = Some("Ben".into());
    s.save_account(&a, "t1").unwrap();
    assert_eq!(owner(s, "A").as_deref(), Some("Ben"));
    let nested = s.nested().unwrap();
    a.owner = Some("Cy".into());
    s.save_account(&a, "t2").unwrap();
    assert_eq!(owner(s, "A").as_deref(), Some("Cy"));
    nested.rollback().unwrap();
    assert_eq!(owner(s, "A").as_deref(), Some("Ben"));
    {
        let _dropped = s.nested().unwrap();
        a.owner = Some("Dee".into());
        s.save_account(&a, "t3").unwrap();
    }
    assert_eq!(owner(s, "A").as_deref(), Some("Ben"));
    unit.commit().unwrap();
    assert_eq!(owner(s, "A").as_deref(), Some("Ben"));

    {
        let _dropped = s.begin().unwrap();
        a.owner = Some("Eve".into());
        s.save_account(&a, "t4").unwrap();
        assert_eq!(owner(s, "A").as_deref(), Some("Eve"));
    }
    assert_eq!(owner(s, "A").as_deref(), Some("Ben"));
    assert_eq!(s.account("A").unwrap().unwrap().created_at, "t0");
    let unit = s.begin().unwrap();
    a.owner = Some("Fay".into());
    s.save_account(&a, "t5").unwrap();
    unit.rollback().unwrap();
    assert_eq!(owner(s, "A").as_deref(), Some("Ben"));
}

/// Ids are the highest plus one: a task rolled back leaves no gap, and its
/// dedup key is free again.
pub fn a_task_rolled_back_gives_its_id_again(s: &Store) {
    let new = |key: &str| s.create_task(&task_for("sales_rep", None, ("deal", "D"), key), "v", "e", "t").unwrap();
    assert_eq!(committed(s, || new("a")), Some(1));
    let unit = s.begin().unwrap();
    assert_eq!((new("b"), new("c")), (Some(2), Some(3)));
    unit.rollback().unwrap();
    assert!(!s.task_key_exists("b").unwrap() && s.task(2).unwrap().is_none());
    let unit = s.begin().unwrap();
    let nested = s.nested().unwrap();
    assert_eq!(new("c"), Some(2));
    nested.rollback().unwrap();
    assert_eq!(new("b"), Some(2));
    unit.commit().unwrap();
    assert_eq!(s.max_task_id().unwrap(), 2);
}

/// Another connection (another process) sees what a unit wrote only once it
/// is committed, and a store closed in the middle of a unit keeps nothing of it.
pub fn another_connection_sees_a_unit_only_once_committed(open: &Opener) {
    let (_guard, s) = (open.fresh)();
    let Some(other) = (open.other)(&s) else { return };
    let unit = s.begin().unwrap();
    s.save_account(&account("A"), "t").unwrap();
    s.set_meta("k", "1").unwrap();
    assert!(other.account("A").unwrap().is_none() && other.meta("k").unwrap().is_none());
    unit.commit().unwrap();
    assert!(other.account("A").unwrap().is_some());
    assert_eq!(other.meta("k").unwrap().as_deref(), Some("1"));
    // The other one writes; this one's kept row follows.
    committed(&other, || other.save_account(&Account { owner: Some("Ana".into()), ..account("A") }, "t").unwrap());
    assert_eq!(s.account("A").unwrap().unwrap().owner.as_deref(), Some("Ana"));
    // Closed mid-unit, as a process that stops: the unit is not kept.
    let unit = s.begin().unwrap();
    s.set_meta("k", "2").unwrap();
    std::mem::forget(unit);
    drop(s);
    assert_eq!(other.meta("k").unwrap().as_deref(), Some("1"));
    let again = (open.other)(&other).unwrap();
    assert_eq!(again.meta("k").unwrap().as_deref(), Some("1"));
    committed(&again, || again.set_meta("k", "3").unwrap());
    assert_eq!(other.meta("k").unwrap().as_deref(), Some("3"));
}

/// A unit is open from its begin to its end, nested units inside it; the
/// store's own commits do not look like another writer's, and it stays sound.
pub fn a_unit_is_open_until_it_ends_and_own_commits_change_no_token(s: &Store) {
    let token = s.change_token().unwrap();
    let changes = s.total_changes();
    assert!(!s.in_unit());
    let unit = s.begin().unwrap();
    assert!(s.in_unit());
    let nested = s.nested().unwrap();
    s.save_account(&account("A"), "t").unwrap();
    nested.release().unwrap();
    assert!(s.in_unit(), "a nested unit released leaves its unit open");
    unit.commit().unwrap();
    assert!(!s.in_unit());
    assert!(s.total_changes() > changes, "a write is counted");
    assert_eq!(s.change_token().unwrap(), token, "its own commit is not another writer's");
    let unit = s.begin().unwrap();
    unit.rollback().unwrap();
    assert!(!s.in_unit());
    assert_eq!(s.integrity_check().unwrap(), "ok");
    s.verify().unwrap();
    s.check_file().unwrap();
}

//! The task queue as workers meet it: several `tasks claim` processes at
//! once (one at a time and `--count N`), never the same task twice and none
//! left behind; claims that run out (`[tasks] lease_minutes`) go back where
//! they were, and whoever had one is told when someone else holds it now.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::events::{account, activity, contact, deal, lead};
use common::{Workspace, array, event};
use serde_json::{Value, json};

/// `n` new leads: `n` open, unassigned sales_rep tasks.
fn leads(ws: &Workspace, n: usize) -> BTreeSet<i64> {
    let events: Vec<String> = (1..=n)
        .map(|i| {
            let at = format!("2026-11-02T{:02}:{:02}:00Z", 8 + i / 60 % 10, i % 60);
            lead(&at, &format!("L-{i}"), json!({"company": format!("Prospect {i}")}))
        })
        .collect();
    ws.ingest(&events);
    open_ids(ws)
}

fn open_ids(ws: &Workspace) -> BTreeSet<i64> {
    array(ws.run(&["tasks", "--role", "sales_rep", "--status", "open", "--json"]).success().json())
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect()
}

fn id(t: &Value) -> i64 {
    t["id"].as_i64().unwrap()
}

fn claim(ws: &Workspace, who: &str) -> Value {
    ws.run(&["tasks", "claim", "--role", "sales_rep", "--as", who, "--json"]).success().json()
}

#[test]
fn four_workers_one_by_one_and_in_batches_share_the_queue_exactly() {
    let ws = Workspace::new();
    let open = leads(&ws, 240);
    assert_eq!(open.len(), 240);

    // Two workers take one task per process, two take up to 9 per process
    // (one of them a temp, not on the team: --outside).
    let workers = [("Ana Ruiz", None), ("Ben Okafor", Some("9")), ("Chloe Martin", None), ("Temp Rep", Some("9"))];
    let claimed: Vec<(String, Value)> = std::thread::scope(|scope| {
        let handles: Vec<_> = workers
            .iter()
            .map(|&(who, count)| {
                let ws = &ws;
                scope.spawn(move || {
                    let mut args = vec!["tasks", "claim", "--role", "sales_rep", "--as", who, "--json"];
                    args.extend(count.map(|n| ["--count", n]).into_iter().flatten());
                    args.extend((who == "Temp Rep").then_some("--outside"));
                    let mut got = Vec::new();
                    loop {
                        let out = ws.run(&args).success();
                        let batch = match count {
                            None if out.stdout.trim().is_empty() => Vec::new(),
                            None => vec![out.json()],
                            Some(_) => array(out.json()),
                        };
                        if batch.is_empty() {
                            return got;
                        }
                        got.extend(batch.into_iter().map(|t| (who.to_string(), t)));
                    }
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });

    let ids: Vec<i64> = claimed.iter().map(|(_, t)| id(t)).collect();
    let unique: BTreeSet<i64> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "a task was claimed twice");
    assert_eq!(unique, open, "every open task was claimed, none lost");
    let per_worker = claimed.iter().fold(BTreeMap::<&str, usize>::new(), |mut m, (w, _)| {
        *m.entry(w.as_str()).or_default() += 1;
        m
    });
    eprintln!("claims per worker: {per_worker:?}");
    // What the store says agrees with what each worker was told.
    let holder: BTreeMap<i64, &str> = claimed.iter().map(|(w, t)| (id(t), w.as_str())).collect();
    for t in array(ws.run(&["tasks", "--role", "sales_rep", "--json"]).success().json()) {
        assert_eq!((t["status"].as_str(), t["claimed_by"].as_str()), (Some("claimed"), Some(holder[&id(&t)])));
    }
}

#[test]
fn count_claims_up_to_n_and_prints_an_array_or_a_line_each() {
    let ws = Workspace::new();
    leads(&ws, 5);
    let out =
        ws.run(&["tasks", "claim", "--role", "sales_rep", "--as", "Ana Ruiz", "--count", "2", "--json"]).success();
    let two = array(out.json());
    assert_eq!(two.len(), 2);
    assert!(two.iter().all(|t| t["status"] == "claimed" && t["assignee"] == "Ana Ruiz"));
    assert_eq!(out.stderr, "", "all asked for were claimed: nothing to say");

    let out = ws.run(&["tasks", "claim", "--role", "sales_rep", "--as", "Ben Okafor", "--count", "5"]).success();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", out.stdout);
    assert!(lines.iter().all(|l| l.starts_with("claimed task ") && l.contains(" for Ben Okafor: Call new lead ")));
    assert!(out.stderr.contains("no more open sales_rep tasks for Ben Okafor (claimed 3 of 5)"), "{}", out.stderr);

    // An empty queue: an empty array, not a failure.
    let out =
        ws.run(&["tasks", "claim", "--role", "sales_rep", "--as", "Ana Ruiz", "--count", "3", "--json"]).success();
    assert_eq!(out.json(), json!([]));
    let out = ws.run(&["tasks", "claim", "--role", "sales_rep", "--as", "Ana Ruiz", "--count", "0"]).code(64);
    assert!(out.stderr.contains("--count"), "{}", out.stderr);
}

/// Pretend a claim was taken `minutes` ago (the lease counts wall-clock time).
fn backdate_claim(ws: &Workspace, task: i64, minutes: i64) {
    let at = dealflow::time::stamp(chrono::Utc::now() - chrono::Duration::minutes(minutes));
    let db = rusqlite::Connection::open(ws.path("dealflow.db")).unwrap();
    let n = db.execute("UPDATE tasks SET claimed_at = ?1 WHERE id = ?2 AND status = 'claimed'", (at, task)).unwrap();
    assert_eq!(n, 1, "task {task} is not claimed");
}

fn task(ws: &Workspace, task: i64) -> Value {
    ws.tasks().into_iter().find(|t| id(t) == task).unwrap_or_else(|| panic!("no task {task}"))
}

#[test]
fn a_claim_older_than_the_lease_goes_back_to_the_queue_for_someone_else() {
    let ws = Workspace::new();
    leads(&ws, 2);
    let first = claim(&ws, "Ana Ruiz");
    assert_eq!(first["released_from"], Value::Null);
    // Four hours is the default lease: 3 hours on, Ana still has it.
    backdate_claim(&ws, id(&first), 180);
    let second = claim(&ws, "Ben Okafor");
    assert_ne!(id(&second), id(&first));
    assert_eq!(task(&ws, id(&first))["claimed_by"], "Ana Ruiz");

    // Ana's worker vanished 5 hours ago: the next claim takes her task back first.
    backdate_claim(&ws, id(&first), 300);
    let again = claim(&ws, "Chloe Martin");
    assert_eq!(id(&again), id(&first), "the most urgent task, back in the queue");
    assert_eq!((&again["assignee"], &again["claimed_by"]), (&json!("Chloe Martin"), &json!("Chloe Martin")));
    assert_eq!(again["released_from"], "Ana Ruiz", "who had it is kept");
    assert!(again["released_at"].is_string());

    // Ana comes back and says she did it: refused, it is Chloe's now.
    let out = ws.run(&["tasks", "done", &id(&first).to_string(), "--as", "Ana Ruiz"]).code(1);
    assert!(
        out.stderr
            .contains(&format!("task {} is not yours any more: your claim ran out after 240 minutes", id(&first)))
            && out.stderr.contains("Chloe Martin claimed it at")
            && out.stderr.contains("nothing was changed"),
        "{}",
        out.stderr
    );
    assert_eq!(task(&ws, id(&first))["status"], "claimed");
    // Nor may anyone else but the holder close it under their own name.
    let out = ws.run(&["tasks", "cancel", &id(&second).to_string(), "--reason", "dup", "--as", "Ana Ruiz"]).code(1);
    assert!(
        out.stderr.contains(&format!("task {} is claimed by Ben Okafor (since ", id(&second)))
            && out.stderr.contains("not by Ana Ruiz"),
        "{}",
        out.stderr
    );
    let done = ws.run(&["tasks", "done", &id(&first).to_string(), "--as", "Chloe Martin", "--json"]).success().json();
    assert_eq!((&done["status"], &done["claimed_by"]), (&json!("done"), &json!("Chloe Martin")));
}

#[test]
fn a_lapsed_claim_nobody_took_may_still_be_finished_by_its_worker() {
    let ws = Workspace::new();
    // A lead of Ana's own customer is hers; a prospect's is the queue's.
    ws.ingest(&[account("2026-11-02T08:00:00Z", "A-1", "Acme Corp", json!({"owner": "Ana Ruiz", "region": "West"}))]);
    ws.ingest(&[
        lead("2026-11-02T09:00:00Z", "L-1", json!({"account_id": "A-1", "company": "Acme Corp"})),
        lead("2026-11-02T09:01:00Z", "L-2", json!({"company": "Brightside"})),
    ]);
    let mine = claim(&ws, "Ana Ruiz");
    let queue = claim(&ws, "Ana Ruiz");
    let (mine, queue) = if mine["title"] == "Call new lead Acme Corp" { (mine, queue) } else { (queue, mine) };
    backdate_claim(&ws, id(&mine), 241);
    backdate_claim(&ws, id(&queue), 241);

    // Whatever applies events (a tick here) also takes lapsed claims back.
    ws.run(&["tick", "--now", "2026-11-02T10:00:00Z"]).success();
    let back = task(&ws, id(&mine));
    assert_eq!(
        (&back["status"], &back["assignee"], &back["claimed_by"], &back["released_from"]),
        (&json!("open"), &json!("Ana Ruiz"), &Value::Null, &json!("Ana Ruiz")),
        "a task assigned to Ana before the claim goes back to Ana"
    );
    let back = task(&ws, id(&queue));
    assert_eq!((&back["status"], &back["assignee"]), (&json!("open"), &Value::Null), "back to the role's queue");
    assert_eq!(ws.status()["open_tasks"]["sales_rep"], 2);

    // Nobody took them since: Ana may still report them done.
    for t in [&mine, &queue] {
        let done = ws.run(&["tasks", "done", &id(t).to_string(), "--as", "Ana Ruiz", "--json"]).success().json();
        assert_eq!(
            (&done["status"], &done["claimed_by"], &done["assignee"]),
            (&json!("done"), &json!("Ana Ruiz"), &json!("Ana Ruiz"))
        );
    }
}

#[test]
fn with_lease_minutes_zero_a_claim_never_runs_out() {
    let ws = Workspace::new();
    ws.edit("config.toml", "lease_minutes = 240", "lease_minutes = 0");
    leads(&ws, 2);
    let first = claim(&ws, "Ana Ruiz");
    backdate_claim(&ws, id(&first), 60 * 24 * 365);
    let second = claim(&ws, "Ben Okafor");
    assert_ne!(id(&second), id(&first));
    assert_eq!(task(&ws, id(&first))["claimed_by"], "Ana Ruiz");
}

#[test]
fn check_names_a_lease_out_of_range_with_its_line() {
    let ws = Workspace::new();
    ws.edit("config.toml", "lease_minutes = 240", "lease_minutes = 99999999");
    let out = ws.run(&["check"]).code(1);
    let text = ws.read("config.toml");
    let line = text.lines().position(|l| l.starts_with("lease_minutes")).unwrap() + 1;
    assert!(
        out.stdout.contains(&format!("config.toml:{line}:17: tasks.lease_minutes: at most 527040 (a year)")),
        "{}{}",
        out.stdout,
        out.stderr
    );
}

#[test]
fn only_the_team_may_claim_or_close_tasks_unless_told_the_worker_is_from_outside() {
    let ws = Workspace::new();
    let open = leads(&ws, 3);
    let first = *open.iter().next().unwrap();

    // A name not on the team ([[team]] in config.toml) takes nothing; a near one is named.
    for (who, near) in [("Nobody Known", None), ("Ana Ruis", Some("Ana Ruiz")), ("ben okafor", Some("Ben Okafor"))] {
        for args in [
            vec!["tasks", "claim", "--role", "sales_rep", "--as", who],
            vec!["tasks", "claim", "--role", "sales_rep", "--as", who, "--count", "2", "--json"],
            vec!["tasks", "done", "1", "--as", who],
            vec!["tasks", "cancel", "1", "--reason", "not ours", "--as", who],
        ] {
            let out = ws.run(&args).code(1);
            let err = &out.stderr;
            assert!(err.contains(&format!("{who:?} is not on the team")), "{args:?}: {err}");
            assert!(err.contains("--outside"), "{args:?}: {err}");
            match near {
                Some(name) => assert!(err.contains(&format!("did you mean {name:?}?")), "{args:?}: {err}"),
                None => assert!(!err.contains("did you mean"), "{args:?}: {err}"),
            }
            assert_eq!(out.stdout, "", "{args:?}");
        }
    }
    assert_eq!(open_ids(&ws), open, "nothing was claimed or closed");

    // Someone from outside the team, said so: the claim goes through under that name.
    let temp = ws.run(&["tasks", "claim", "--role", "sales_rep", "--as", "Temp Rep", "--outside", "--json"]).success();
    let temp = temp.json();
    assert_eq!((&temp["status"], &temp["claimed_by"]), (&json!("claimed"), &json!("Temp Rep")));
    assert_eq!(id(&temp), first);
    let out = ws.run(&["tasks", "done", &first.to_string(), "--as", "Temp Rep"]).code(1);
    assert!(out.stderr.contains("\"Temp Rep\" is not on the team"), "{}", out.stderr);
    let done = ws.run(&["tasks", "done", &first.to_string(), "--as", "Temp Rep", "--outside", "--json"]).success();
    assert_eq!(done.json()["status"], "done");
    // Closing without saying who stays as it was.
    let second = *open.iter().nth(1).unwrap();
    assert_eq!(ws.run(&["tasks", "done", &second.to_string(), "--json"]).success().json()["status"], "done");
}

#[test]
fn namesakes_get_their_own_deals_tasks_and_claim_by_id_not_by_a_shared_name() {
    let ws = Workspace::new();
    ws.add_namesakes();
    ws.ingest(&[
        account("2026-11-02T08:00:00Z", "A-1", "Acme", json!({})),
        contact("2026-11-02T08:01:00Z", "C-1", "A-1", "other"),
        // A CRM sends its user ids as numbers or as text: both name the person.
        event(
            "deal.upserted",
            "2026-11-02T09:00:00Z",
            json!({"id": "D-1", "account_id": "A-1", "name": "Acme lab", "amount": 1000, "owner": 101}),
        ),
        deal("2026-11-02T09:01:00Z", "D-2", "A-1", "Acme desks", 1000, "102"),
        activity("2026-11-03T10:00:00Z", "A-1", Some("D-1"), Some("C-1"), "meeting"),
        activity("2026-11-03T10:01:00Z", "A-1", Some("D-2"), Some("C-1"), "meeting"),
    ]);
    let lab = ws.task_titled("Prepare the proposal for Acme lab");
    let desks = ws.task_titled("Prepare the proposal for Acme desks");
    // `assignee` is the name, as always; `assignee_id` tells the two apart.
    assert_eq!((&lab["assignee"], &lab["assignee_id"]), (&json!("Alex Kim"), &json!("101")));
    assert_eq!((&desks["assignee"], &desks["assignee_id"]), (&json!("Alex Kim"), &json!("102")));
    let owners: Vec<(Value, Value)> =
        ["D-1", "D-2"].map(|d| ws.deal(d)).map(|d| (d["owner"].clone(), d["owner_id"].clone())).to_vec();
    assert_eq!(owners, [(json!("Alex Kim"), json!("101")), (json!("Alex Kim"), json!("102"))]);
    // People without an id print as before: no `_id` key.
    let before = ws.run(&["tasks", "--json"]).success().json();
    assert!(array(before).iter().all(|t| t["assignee"] != "Ana Ruiz" || t.get("assignee_id").is_none()));

    // Tables show the name, with the id where the name alone would not say who.
    let table = ws.run(&["tasks", "--assignee", "102"]).success().stdout;
    assert!(table.contains("Alex Kim (102)") && !table.contains("(101)"), "{table}");
    let mine = array(ws.run(&["tasks", "--assignee", "102", "--json"]).success().json());
    assert_eq!(mine.iter().map(id).collect::<Vec<_>>(), [id(&desks)]);

    // The shared name alone says nobody: refused, with both ids, and nothing changes.
    let lab_id = id(&lab).to_string();
    for args in [
        vec!["tasks", "claim", "--role", "sales_rep", "--as", "Alex Kim"],
        vec!["tasks", "claim", "--role", "sales_rep", "--as", "Alex Kim", "--outside"],
        vec!["tasks", "done", &lab_id, "--as", "Alex Kim"],
        vec!["tasks", "cancel", &lab_id, "--reason", "x", "--as", "Alex Kim"],
        vec!["tasks", "--assignee", "Alex Kim"],
    ] {
        let out = ws.run(&args).code(1);
        assert!(out.stderr.contains("\"Alex Kim\" is ambiguous"), "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains("(ids \"101\", \"102\"); name one by id"), "{args:?}: {}", out.stderr);
    }
    assert!(ws.tasks().iter().all(|t| t["status"] == "open"), "nothing was claimed or closed");

    // By id: 102 takes 102's task (not 101's), and only 102 may close it.
    let claimed = claim(&ws, "102");
    assert_eq!(id(&claimed), id(&desks));
    assert_eq!((&claimed["claimed_by"], &claimed["claimed_by_id"]), (&json!("Alex Kim"), &json!("102")));
    let desks_id = id(&desks).to_string();
    let out = ws.run(&["tasks", "done", &desks_id, "--as", "101"]).code(1);
    assert!(
        out.stderr.contains("is claimed by Alex Kim (102)") && out.stderr.contains("not by Alex Kim (101)"),
        "{}",
        out.stderr
    );
    let done = ws.run(&["tasks", "done", &desks_id, "--as", "102", "--json"]).success().json();
    assert_eq!(done["status"], "done");
    assert!(
        ws.run(&["tasks", "claim", "--role", "sales_rep", "--as", "102", "--json"]).success().stdout.trim().is_empty()
    );
    assert_eq!(id(&claim(&ws, "101")), id(&lab));
}

#[test]
fn a_roster_that_gains_ids_keeps_the_tasks_and_owners_stored_under_names() {
    let ws = Workspace::new();
    ws.ingest(&[
        account("2026-11-02T08:00:00Z", "A-1", "Acme", json!({})),
        contact("2026-11-02T08:01:00Z", "C-1", "A-1", "other"),
        deal("2026-11-02T09:00:00Z", "D-1", "A-1", "Acme lab", 1000, "Ana Ruiz"),
        activity("2026-11-03T10:00:00Z", "A-1", Some("D-1"), Some("C-1"), "meeting"),
    ]);
    let lab = ws.task_titled("Prepare the proposal for Acme lab");
    assert_eq!((&lab["assignee"], lab.get("assignee_id")), (&json!("Ana Ruiz"), None), "no ids: as before");

    // The CRM's ids are added to the roster; what was stored by name stays hers.
    ws.edit("config.toml", "name = \"Ana Ruiz\"\n", "name = \"Ana Ruiz\"\nid = \"u-1\"\n");
    let lab = ws.task_titled("Prepare the proposal for Acme lab");
    assert_eq!((&lab["assignee"], &lab["assignee_id"]), (&json!("Ana Ruiz"), &json!("u-1")));
    assert_eq!(ws.deal("D-1")["owner_id"], "u-1");
    let mine = array(ws.run(&["tasks", "--assignee", "u-1", "--json"]).success().json());
    assert_eq!(mine.iter().map(id).collect::<Vec<_>>(), [id(&lab)]);
    // The deal stored under her name still gives her its next task.
    ws.ingest(&[activity("2026-11-04T10:00:00Z", "A-1", Some("D-1"), Some("C-1"), "proposal_sent")]);
    let next = ws.task_titled("Get a decision maker on Acme lab");
    assert_eq!(next["assignee_id"], "u-1");
    // Claimed by id, or by her name (only she has it), the most urgent first.
    assert_eq!(id(&claim(&ws, "u-1")), id(&next));
    assert_eq!(id(&claim(&ws, "Ana Ruiz")), id(&lab));
    let done = ws.run(&["tasks", "done", &id(&lab).to_string(), "--as", "Ana Ruiz", "--json"]).success().json();
    assert_eq!(done["status"], "done");
}

/// A worker that waits (`--wait`) on an empty queue gets the task the next
/// event makes, on SQLite and on PostgreSQL.
fn a_waiting_worker_claims_the_task_made_while_it_waited(ws: &Workspace) {
    use std::io::BufRead;
    let mut worker = ws
        .command(&["tasks", "claim", "--role", "sales_rep", "--as", "Dana Whitfield", "--wait", "120", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start the worker");
    // The task is made only once the worker says it waits.
    let mut said = String::new();
    std::io::BufReader::new(worker.stderr.take().unwrap()).read_line(&mut said).unwrap();
    assert_eq!(said.trim_end(), "no open sales_rep tasks for Dana Whitfield yet; waiting up to 120 s for one");
    ws.ingest(&[lead("2026-11-06T10:00:00Z", "L-9", json!({"company": "Waiting Widgets"}))]);
    let out = worker.wait_with_output().unwrap();
    assert!(out.status.success(), "the worker failed");
    let task: Value = serde_json::from_slice(&out.stdout).expect("the claimed task as JSON");
    assert_eq!(task["title"], "Call new lead Waiting Widgets", "{task}");
    assert_eq!(task["status"], "claimed", "{task}");
}

#[test]
fn a_waiting_worker_claims_the_task_made_while_it_waited_on_sqlite() {
    let ws = Workspace::new();
    a_waiting_worker_claims_the_task_made_while_it_waited(&ws);
}

#[test]
fn a_waiting_worker_claims_the_task_made_while_it_waited_on_postgres() {
    let Some(ws) = Workspace::on_postgres("a_waiting_worker_claims_the_task_made_while_it_waited_on_postgres") else {
        return;
    };
    a_waiting_worker_claims_the_task_made_while_it_waited(&ws);
}

#[test]
fn a_worker_without_wait_on_an_empty_queue_says_so_at_once() {
    let ws = Workspace::new();
    let out = ws.run(&["tasks", "claim", "--role", "sales_rep", "--as", "Dana Whitfield", "--wait", "0"]).success();
    assert!(out.stderr.contains("no open sales_rep tasks for Dana Whitfield"), "{}", out.stderr);
}

//! Notifications out, against a real HTTP receiver on a loopback port: a
//! high-priority task, an escalation, a rejected file, each sent once;
//! retried when the receiver fails or is down; the engine at full pace
//! while the receiver hangs; mistakes in `[notify]` named with file:line:col;
//! and `dealflow watch` posting for an inbox file (SQLite and PostgreSQL).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::receiver::{Mode, Receiver, Request, free_port};
use common::watching::Watching;
use common::{Workspace, event};
use dealflow::notify::{Backoff, CURSOR, Options, spawn_notifier};
use dealflow::playbook::{Current, Playbook};
use dealflow::store::Store;
use dealflow::store::outbox::{Notification, NotificationFilter, NotificationState};
use serde_json::json;

const AT: &str = "2026-11-02T09:00:00Z";

/// Fast rounds and retries, so a test takes seconds.
fn fast() -> Options {
    Options {
        poll: Duration::from_millis(20),
        timeout: Duration::from_secs(2),
        backoff: Backoff {
            first: Duration::from_millis(50),
            max: Duration::from_millis(200),
            attempts: 50,
            give_up_after: Duration::from_secs(3600),
        },
        batch: 20,
    }
}

/// A workspace whose config sends to `url` (`kind`), with Ana's Slack member ID.
fn workspace(kind: &str, url: &str, extra: &str) -> Workspace {
    let ws = Workspace::new();
    ws.edit("config.toml", "name = \"Ana Ruiz\"\n", "name = \"Ana Ruiz\"\nslack = \"U0ANA\"\n");
    let text = format!("{}\n[notify.team]\nkind = \"{kind}\"\nurl = \"{url}\"\n{extra}", ws.read("config.toml"));
    ws.write("config.toml", &text);
    ws
}

/// A notifier thread over the workspace's store, stopped when dropped.
struct Notifier {
    stop: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
    current: Arc<Current>,
}

impl Notifier {
    /// Started, and its cursor set (what is stored before is not announced).
    fn start(ws: &Workspace, options: Options) -> Notifier {
        let playbook = Playbook::load(&ws.config_dir()).unwrap();
        let location = playbook.config.store_location(None);
        let current = dealflow::playbook::current(playbook);
        let stop = Arc::new(AtomicBool::new(false));
        let handle = spawn_notifier(location, current.clone(), stop.clone(), options).unwrap();
        let n = Notifier { stop, handle: Some(handle), current };
        let s = store(ws);
        wait_until("the notifier's cursor", || s.meta(CURSOR).unwrap().is_some_and(|c| !c.is_empty()));
        n
    }

    /// Apply events as the engine does, in this thread.
    fn ingest(&self, ws: &Workspace, lines: &[String]) -> dealflow::ingest::Summary {
        let s = store(ws);
        let mut ingest = dealflow::ingest::Ingest::start(&s, &self.current).unwrap();
        ingest.input("test.jsonl", lines.join("\n").as_bytes()).unwrap();
        ingest.finish().unwrap()
    }
}

impl Drop for Notifier {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn store(ws: &Workspace) -> Store {
    Store::open(&ws.path("dealflow.db"), Duration::from_secs(10)).unwrap()
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "waited in vain for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn queue(ws: &Workspace) -> Vec<Notification> {
    store(ws).notifications(&NotificationFilter::default(), 1000).unwrap()
}

fn lead(id: &str, company: &str, owner: &str) -> String {
    event("lead.created", AT, json!({"id": id, "company": company, "owner": owner, "source": "web"}))
}

/// Requests whose text names `needle`.
fn naming<'a>(requests: &'a [Request], needle: &str) -> Vec<&'a Request> {
    requests.iter().filter(|r| r.body.contains(needle)).collect()
}

#[test]
fn a_high_priority_task_assigned_makes_one_slack_message_naming_the_person_and_the_task() {
    let receiver = Receiver::start();
    let ws = workspace("slack", &receiver.url(), "");
    let notifier = Notifier::start(&ws, fast());
    let summary = notifier.ingest(&ws, &[lead("L-1", "Acme & <Sons>", "Ana Ruiz")]);
    assert_eq!(summary.counts.tasks_created, 1);
    receiver.wait_for("the message about Acme", |r| r.iter().any(|r| r.answered == Some(200)));
    // A second task, and its message: everything before it was sent by then.
    notifier.ingest(&ws, &[lead("L-2", "Globex", "Ben Okafor")]);
    let got = receiver.wait_for("the message about Globex", |r| !naming(r, "Globex").is_empty());
    let acme = naming(&got, "Acme");
    assert_eq!(acme.len(), 1, "one message for the task: {got:#?}");
    let body = acme[0].json();
    let text = body["text"].as_str().unwrap();
    assert!(
        text.starts_with("*High-priority task for Ana Ruiz (<@U0ANA>): Call new lead Acme &amp; &lt;Sons&gt;*"),
        "{text}"
    );
    assert!(text.contains("Why: marketing passed us a lead (source: web)"), "{text}");
    assert_eq!(body["blocks"][0]["type"], "section");
    assert_eq!(body["blocks"][0]["text"], json!({"type": "mrkdwn", "text": text}));
    assert_eq!(acme[0].method, "POST");
    assert_eq!(acme[0].header("content-type"), Some("application/json"));
    assert_eq!(acme[0].header("idempotency-key"), None, "Slack takes no such key");
    let globex = naming(&got, "Globex")[0].json();
    assert!(globex["text"].as_str().unwrap().contains("for Ben Okafor: Call new lead Globex"), "{globex}");
    wait_until("both marked sent", || queue(&ws).iter().all(|n| n.sent_at.is_some()));
    let rows = queue(&ws);
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|n| n.state() == NotificationState::Sent && n.attempts == 0), "{rows:#?}");
    drop(notifier);
}

#[test]
fn what_was_stored_before_the_first_start_is_not_announced() {
    let receiver = Receiver::start();
    let ws = workspace("json", &receiver.url(), "");
    ws.ingest(&[lead("L-1", "Old Co", "Ana Ruiz")]);
    let notifier = Notifier::start(&ws, fast());
    notifier.ingest(&ws, &[lead("L-2", "New Co", "Ana Ruiz")]);
    let got = receiver.wait_for("the message about New Co", |r| !naming(r, "New Co").is_empty());
    assert!(naming(&got, "Old Co").is_empty(), "history is not announced: {got:#?}");
    assert_eq!(queue(&ws).len(), 1);
}

#[test]
fn a_failed_send_is_tried_again_after_a_back_off_and_delivered_once() {
    let receiver = Receiver::start();
    receiver.set(Mode::FailNext(500, 2));
    let ws = workspace("json", &receiver.url(), "");
    let notifier = Notifier::start(&ws, fast());
    notifier.ingest(&ws, &[lead("L-1", "Acme", "Ana Ruiz")]);
    let got = receiver.wait_for("a delivery", |r| r.iter().any(|r| r.answered == Some(200)));
    let answers: Vec<Option<u16>> = got.iter().map(|r| r.answered).collect();
    assert_eq!(answers, [Some(500), Some(500), Some(200)]);
    let keys: Vec<_> = got.iter().map(|r| r.header("idempotency-key").unwrap().to_string()).collect();
    assert!(keys.iter().all(|k| k == &keys[0]), "the same key on every attempt: {keys:?}");
    wait_until("the notification marked sent", || queue(&ws).first().is_some_and(|n| n.sent_at.is_some()));
    let n = &queue(&ws)[0];
    assert_eq!((n.attempts, n.last_error.as_deref()), (2, None), "{n:#?}");
    assert_eq!(receiver.delivered().len(), 1);
    drop(notifier);
}

#[test]
fn a_receiver_that_is_down_gets_the_message_once_it_is_back() {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/hook");
    let ws = workspace("json", &url, "");
    let notifier = Notifier::start(&ws, fast());
    notifier.ingest(&ws, &[lead("L-1", "Acme", "Ana Ruiz")]);
    wait_until("a failed attempt", || queue(&ws).first().is_some_and(|n| n.attempts >= 2));
    let failed = &queue(&ws)[0];
    assert!(failed.last_error.as_deref().unwrap().starts_with(&format!("http://127.0.0.1:{port}")), "{failed:#?}");
    assert_eq!(failed.state(), NotificationState::Pending, "tried again, not given up");
    let receiver = Receiver::start_on(port);
    let got = receiver.wait_for("the delivery", |r| r.iter().any(|r| r.answered == Some(200)));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].json()["task"]["title"], "Call new lead Acme");
    wait_until("the notification marked sent", || queue(&ws)[0].sent_at.is_some());
    drop(notifier);
}

#[test]
fn the_engine_applies_events_while_the_receiver_hangs() {
    let receiver = Receiver::start();
    receiver.set(Mode::Hang);
    let ws = workspace("json", &receiver.url(), "");
    let notifier = Notifier::start(&ws, Options { timeout: Duration::from_secs(120), ..fast() });
    notifier.ingest(&ws, &[lead("L-0", "First", "Ana Ruiz")]);
    receiver.wait_for("a request held", |r| r.len() == 1);
    // The notifier waits on that request; the engine does not.
    let leads: Vec<String> = (1..=300).map(|i| lead(&format!("L-{i}"), &format!("Co {i}"), "Ben Okafor")).collect();
    let summary = notifier.ingest(&ws, &leads);
    assert_eq!((summary.counts.applied, summary.counts.tasks_created), (300, 300));
    let held = receiver.requests();
    assert_eq!((held.len(), held[0].answered), (1, None), "still held while the events were applied");
    receiver.set(Mode::Ok);
    let got = receiver.wait_for("every task said", |r| r.iter().filter(|r| r.answered == Some(200)).count() == 301);
    let mut keys: Vec<String> =
        got.iter().filter(|r| r.answered == Some(200)).map(|r| r.json()["key"].as_str().unwrap().to_string()).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 301, "each task once");
    drop(notifier);
}

#[test]
fn a_file_with_rejected_lines_and_a_quarantined_rule_are_said_to_everyone_once() {
    let receiver = Receiver::start();
    let ws = workspace("json", &receiver.url(), "people = [\"Ana Ruiz\"]\n");
    ws.write("rules/broken.rhai", "/// Fails on every order.\nfn task_broken(event, account) {\n    if event.type == \"order.placed\" {\n        throw \"broken on purpose\";\n    }\n}\n");
    ws.edit("config.toml", "# [limits]", "[limits]\nquarantine_after = 2\n# ");
    let notifier = Notifier::start(&ws, fast());
    let account = event("account.upserted", AT, json!({"id": "A-1", "name": "Acme"}));
    let order = |id: &str| event("order.placed", AT, json!({"id": id, "account_id": "A-1", "amount": 10}));
    let summary = notifier
        .ingest(&ws, &[account, order("O-1"), order("O-2"), "{not json".into(), lead("L-1", "Ben's", "Ben Okafor")]);
    assert_eq!(summary.counts.rejected, 1);
    let got = receiver.wait_for("the rule and the file", |r| r.len() >= 2);
    let kinds: Vec<String> = got.iter().map(|r| r.json()["kind"].as_str().unwrap().to_string()).collect();
    let mut sorted = kinds.clone();
    sorted.sort();
    assert_eq!(sorted, ["file_failed", "rule_quarantined"], "Ben's task is not for this target (people): {got:#?}");
    let rule = got.iter().map(Request::json).find(|b| b["kind"] == "rule_quarantined").unwrap();
    assert_eq!(rule["rule"], "task_broken");
    let file = got.iter().map(Request::json).find(|b| b["kind"] == "file_failed").unwrap();
    assert_eq!(file["file"], "test.jsonl");
    assert_eq!(file["rejected"][0]["line"], 4);
    // All three were enqueued in one round: Ben's task was not.
    assert_eq!(queue(&ws).len(), 2);
    drop(notifier);
}

/// `dealflow check` names each mistake in `[notify]` at its line and column.
#[test]
fn mistakes_in_notify_are_named_with_file_line_and_column() {
    let ws = Workspace::new();
    let before = ws.read("config.toml");
    ws.edit("config.toml", "name = \"Ana Ruiz\"\n", "name = \"Ana Ruiz\"\nslack = \"ana\"\n");
    let section = "\n[notify.chat]\nkind = \"slak\"\nurl = \"hooks.slack.com/x\"\nsend = [\"task\", \"escalations\"]\npeople = [\"Ana Ruis\"]\nroles = [\"sales_mgr\"]\n\n[notify.hook]\nkind = \"json\"\nmin_priority = \"hi\"\nheader_env = { Authorization = \"MY-TOKEN\" }\n";
    let text = ws.read("config.toml") + section;
    ws.write("config.toml", &text);
    let out = ws.run(&["check"]).code(1);
    let line_col = |needle: &str| {
        let at = text.find(needle).unwrap_or_else(|| panic!("{needle}"));
        let line = text[..at].matches('\n').count() + 1;
        let col = at - text[..at].rfind('\n').map_or(0, |i| i + 1) + 1;
        format!("config.toml:{line}:{col}:")
    };
    let expect = [
        (line_col("\"ana\""), "team: \"Ana Ruiz\" has slack = \"ana\""),
        (line_col("\"slak\""), "notify.chat.kind: \"slak\" is not a kind of target"),
        (line_col("\"hooks.slack.com/x\""), "notify.chat.url: an address starting https://"),
        (line_col("\"escalations\""), "notify.chat.send: \"escalations\" is not a kind of message"),
        (
            line_col("\"Ana Ruis\""),
            "notify.chat.people: \"Ana Ruis\" is not on the team ([[team]]) (did you mean \"Ana Ruiz\"?)",
        ),
        (line_col("\"sales_mgr\""), "notify.chat.roles: \"sales_mgr\" is not in [roles]"),
        (line_col("hook]"), "notify.hook: needs url = \"https://…\", or url_env"),
        (line_col("\"hi\""), "notify.hook.min_priority: \"hi\" is not a priority"),
        (
            line_col("\"MY-TOKEN\""),
            "notify.hook.header_env.Authorization: \"MY-TOKEN\" is not an environment variable's name",
        ),
    ];
    for (place, message) in &expect {
        let found =
            out.stdout.lines().chain(out.stderr.lines()).any(|l| l.starts_with(place.as_str()) && l.contains(message));
        assert!(found, "no line {place} {message}\n--- stdout\n{}\n--- stderr\n{}", out.stdout, out.stderr);
    }
    assert!(before.len() < text.len());
}

/// The binary: `dealflow watch` with a JSON target reads its Authorization
/// header from the environment and posts once for a high-priority task
/// made by an inbox file.
#[test]
fn watch_posts_once_for_a_high_priority_task_from_an_inbox_file() {
    watch_posts_once(None);
}

#[test]
fn watch_posts_once_on_postgres() {
    let Some(ws) = Workspace::on_postgres("watch_posts_once_on_postgres") else { return };
    watch_posts_once(Some(ws));
}

fn watch_posts_once(on: Option<Workspace>) {
    let receiver = Receiver::start();
    let ws = on.unwrap_or_else(Workspace::new);
    let text = format!(
        "{}\n[notify.crm]\nkind = \"json\"\nurl = \"{}\"\nheader_env = {{ Authorization = \"DEALFLOW_TEST_HOOK_AUTH\" }}\n",
        ws.read("config.toml"),
        receiver.url()
    );
    ws.write("config.toml", &text);
    let mut cmd = ws.command(&common::watching::WATCH);
    cmd.env("DEALFLOW_TEST_HOOK_AUTH", "Bearer s3cret");
    let mut watch = Watching::spawn(cmd);
    watch.expect("watching: ");
    // Watch set the notifier's cursor before saying it watches: what comes now is announced.
    ws.write("inbox/2026-11-02.jsonl", &format!("{}\n", lead("L-1", "Acme", "Ana Ruiz")));
    let got = receiver.wait_for("the POST", |r| !r.is_empty());
    let body = got[0].json();
    assert_eq!(body["kind"], "task");
    assert_eq!(body["person"]["name"], "Ana Ruiz");
    assert_eq!(body["task"]["title"], "Call new lead Acme");
    assert_eq!(body["task"]["priority"], "high");
    assert_eq!(got[0].header("authorization"), Some("Bearer s3cret"));
    assert!(got[0].header("idempotency-key").is_some_and(|k| k.starts_with("dealflow-")));
    // One more file, one more task: the first was said once.
    ws.write("inbox/2026-11-03.jsonl", &format!("{}\n", lead("L-2", "Globex", "Ben Okafor")));
    let got = receiver.wait_for("the second POST", |r| !naming(r, "Globex").is_empty());
    assert_eq!(naming(&got, "Acme").len(), 1, "{got:#?}");
    assert_eq!(watch.stop(), 0, "{}", watch.seen.join("\n"));
    // What was sent, in `status --json` and `notify list`.
    let status = ws.run(&["status", "--json"]).success().json();
    assert_eq!(status["notifications"], json!({"sent": 2, "pending": 0, "failed": 0}));
    let list = ws.run(&["notify", "list", "--json"]).success().json();
    let subjects: Vec<&str> = list.as_array().unwrap().iter().map(|n| n["subject"].as_str().unwrap()).collect();
    assert_eq!(subjects.len(), 2);
    assert!(list.as_array().unwrap().iter().all(|n| n["state"] == "sent" && n["target"] == "crm"), "{list:#}");
}

/// `dealflow notify test` sends a test message now and says how each target answered.
#[test]
fn notify_test_sends_a_test_message_and_says_how_each_target_answered() {
    let receiver = Receiver::start();
    let down = format!("http://127.0.0.1:{}/hook", free_port());
    let ws = workspace("slack", &receiver.url(), &format!("\n[notify.down]\nkind = \"json\"\nurl = \"{down}\"\n"));
    let ok = ws.run(&["notify", "test", "team"]).success();
    assert_eq!(ok.stdout.trim(), "notify.team: sent");
    let got = receiver.wait_for("the test message", |r| !r.is_empty());
    assert!(got[0].json()["text"].as_str().unwrap().contains("dealflow test message to notify.team"), "{got:#?}");
    let both = ws.run(&["notify", "test"]).code(1);
    assert!(both.stdout.contains("notify.team: sent"), "{}", both.stdout);
    assert!(both.stdout.contains("notify.down: failed: http://127.0.0.1:"), "{}", both.stdout);
    let unknown = ws.run(&["notify", "test", "teem"]).code(1);
    assert!(
        unknown.stderr.contains("there is no [notify.teem] in config.toml (did you mean \"team\"?)"),
        "{}",
        unknown.stderr
    );
}

/// A task for the sales managers is an escalation, whatever its priority;
/// a target that asks for escalations only gets nothing else.
#[test]
fn a_task_for_the_sales_manager_is_an_escalation() {
    let receiver = Receiver::start();
    let ws = workspace("json", &receiver.url(), "send = [\"escalation\"]\n");
    ws.write(
        "rules/escalate.rhai",
        "/// Every order is worth a look by the sales manager.\nfn task_look_at_order(event, account) {\n    if event.type == \"order.placed\" {\n        return [\n            task(\"sales_manager\", `Look at order ${event.data.id}`, #{ reason: \"orders matter\" }),\n            task(\"sales_rep\", `Thank ${account.name}`, #{ priority: \"urgent\", reason: \"manners\" }),\n        ];\n    }\n}\n",
    );
    let notifier = Notifier::start(&ws, fast());
    let account = event("account.upserted", AT, json!({"id": "A-1", "name": "Acme", "owner": "Ana Ruiz"}));
    let order = event("order.placed", AT, json!({"id": "O-1", "account_id": "A-1", "amount": 10}));
    let summary = notifier.ingest(&ws, &[account, order]);
    assert!(summary.counts.tasks_created >= 2, "{summary:?}");
    let got = receiver.wait_for("the escalation", |r| !r.is_empty());
    let body = got[0].json();
    assert_eq!(body["kind"], "escalation");
    assert_eq!(body["person"]["name"], "Farah Haddad");
    assert!(body["text"].as_str().unwrap().starts_with("Escalation for Farah Haddad: Look at order O-1"), "{body:#}");
    assert_eq!(queue(&ws).len(), 1, "the urgent task is not an escalation, and this target takes only those");
    drop(notifier);
}

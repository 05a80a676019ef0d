//! `dealflow serve` against the running binary on a loopback port: the API's
//! JSON is the CLI's, who may do what, events posted are applied as ingest
//! applies them, the page signs in, claims and says why, and text from
//! events is shown as text.

mod common;

use common::web::{Serving, bearer, csrf_of, token};
use common::{Workspace, event, example};
use serde_json::{Value, json};

/// A workspace with the example quarter ingested.
fn quarter() -> Workspace {
    let ws = Workspace::new();
    ws.ingest_file(&example("quarter.jsonl"));
    ws
}

#[test]
fn the_api_answers_with_the_cli_json_and_only_to_a_token() {
    let ws = quarter();
    let ana = token(&ws, "Ana Ruiz");
    let mut web = Serving::start(&ws);
    let auth = bearer(&ana);
    let a = web.get("/api/status", &[]).status(401);
    assert!(a.json()["error"].as_str().unwrap().contains("Authorization: Bearer"), "{}", a.body);
    web.get("/api/status", &[("Authorization", "Bearer dft_not_a_token")]).status(401);

    let api = web.get("/api/status", &[("Authorization", &auth)]).status(200).json();
    let cli = ws.run(&["status", "--json"]).success().json();
    assert_eq!(api, cli);
    for query in ["", "?role=sales_rep", "?assignee=Ana%20Ruiz", "?status=open", "?role=account_manager&status=open"] {
        let api = web.get(&format!("/api/tasks{query}"), &[("Authorization", &auth)]).status(200).json();
        let mut args = vec!["tasks", "--json"];
        let pairs: Vec<(String, String)> = query
            .trim_start_matches('?')
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap();
                (format!("--{k}"), v.replace("%20", " "))
            })
            .collect();
        for (k, v) in &pairs {
            args.push(k);
            args.push(v);
        }
        let cli = ws.run(&args).success().json();
        assert!(!cli.as_array().unwrap().is_empty(), "{query}: the example has such tasks");
        assert_eq!(api, cli, "GET /api/tasks{query}");
    }
    let a = web.get("/api/tasks?role=nobody", &[("Authorization", &auth)]).status(400);
    assert!(a.json()["error"].as_str().unwrap().contains("unknown role"), "{}", a.body);
    // A revoked token is refused at once.
    let id = ws.run(&["token", "list", "--json"]).success().json()[0]["id"].as_str().unwrap().to_string();
    ws.run(&["token", "revoke", &id]).success();
    let a = web.get("/api/status", &[("Authorization", &auth)]).status(401);
    assert!(a.json()["error"].as_str().unwrap().contains("revoked"), "{}", a.body);
    assert_eq!(web.watching.stop(), 0, "{}", web.watching.seen.join("\n"));
}

#[test]
fn claims_and_closes_follow_the_rules_of_the_cli_and_a_manager_closes_any() {
    let ws = quarter();
    let (ana, ben, farah) = (token(&ws, "Ana Ruiz"), token(&ws, "Ben Okafor"), token(&ws, "Farah Haddad"));
    let web = Serving::start(&ws);
    let json_type = ("Content-Type", "application/json");
    let claim = |who: &str| {
        web.post("/api/tasks/claim", &[("Authorization", &bearer(who)), json_type], r#"{"role": "sales_rep"}"#)
    };
    // Writes take a token, not a browser session.
    web.post("/api/tasks/claim", &[json_type], r#"{"role": "sales_rep"}"#).status(401);
    let claimed = claim(&ana).status(200).json();
    assert_eq!(claimed["status"], "claimed");
    assert_eq!(claimed["claimed_by"], "Ana Ruiz");
    let id = claimed["id"].as_i64().unwrap();
    let stored: Vec<Value> = common::array(ws.run(&["tasks", "--json", "--status", "claimed"]).success().json());
    assert_eq!(stored, vec![claimed.clone()], "the claim is the one stored, in the CLI's words");

    // Ben may not close what Ana holds; nothing changes.
    let a = web
        .post(
            &format!("/api/tasks/{id}/done"),
            &[("Authorization", &bearer(&ben)), json_type],
            r#"{"outcome": "mine now"}"#,
        )
        .status(409);
    assert!(a.json()["error"].as_str().unwrap().contains("claimed by Ana Ruiz"), "{}", a.body);
    assert_eq!(ws.task_titled(claimed["title"].as_str().unwrap())["status"], "claimed");
    // A cancel says why.
    web.post(&format!("/api/tasks/{id}/cancel"), &[("Authorization", &bearer(&ana)), json_type], r#"{"reason": " "}"#)
        .status(400);
    web.post("/api/tasks/999999/done", &[("Authorization", &bearer(&ana)), json_type], "{}").status(404);
    // The sales manager may close anyone's.
    let done = web
        .post(
            &format!("/api/tasks/{id}/done"),
            &[("Authorization", &bearer(&farah)), json_type],
            r#"{"outcome": "called"}"#,
        )
        .status(200)
        .json();
    assert_eq!((done["status"].as_str(), done["outcome"].as_str()), (Some("done"), Some("called")));
    // Closed twice: refused, as the CLI refuses it.
    web.post(&format!("/api/tasks/{id}/done"), &[("Authorization", &bearer(&ana)), json_type], "{}").status(409);

    // With a count, an array.
    let many = web
        .post(
            "/api/tasks/claim",
            &[("Authorization", &bearer(&ben)), json_type],
            r#"{"role": "sales_rep", "count": 3}"#,
        )
        .status(200)
        .json();
    assert_eq!(many.as_array().unwrap().len(), 3);
    assert!(many.as_array().unwrap().iter().all(|t| t["claimed_by"] == "Ben Okafor"));
}

#[test]
fn events_posted_are_applied_as_ingest_applies_them_and_answered_once_committed() {
    let ws = Workspace::new();
    let twin = Workspace::new();
    let lines = [
        event("account.upserted", "2026-03-02T09:00:00Z", json!({"id": "A-1", "name": "Acme", "region": "West"})),
        "{ not json".to_string(),
        event("lead.created", "2026-03-02T10:00:00Z", json!({"id": "L-1", "company": "Acme", "source": "web"})),
    ];
    let body: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let ana = token(&ws, "Ana Ruiz");
    let web = Serving::start(&ws);
    // Nothing to claim yet: 204, as `tasks claim` exits 0 saying so.
    let json_type = ("Content-Type", "application/json");
    web.post("/api/tasks/claim", &[("Authorization", &bearer(&ana)), json_type], r#"{"role": "sales_rep"}"#)
        .status(204);
    // Without a token nothing is applied.
    web.post("/api/events", &[], &body).status(401);
    assert_eq!(ws.status()["accounts"], 0);

    let mut api = web.post("/api/events", &[("Authorization", &bearer(&ana))], &body).status(200).json();
    let mut cli = twin.run(&["ingest", "--json", twin.event_file(&lines).to_str().unwrap()]).code(2).json();
    // The same, but for where the rejected line came from.
    let source = api["rejections"][0]["source"].as_str().unwrap().to_string();
    assert!(source.starts_with("api ") && source.ends_with("(Ana Ruiz)"), "{source}");
    assert_eq!(api["rejections"][0]["line"], 2);
    api["rejections"][0]["source"] = Value::Null;
    cli["rejections"][0]["source"] = Value::Null;
    assert_eq!(api, cli);
    assert_eq!(api["applied"], 2);
    // Committed before the answer: another process sees them at once.
    assert_eq!(ws.account("A-1")["name"], "Acme");
    assert_eq!(common::titles(&ws.tasks()), common::titles(&twin.tasks()));
    // Sent again: duplicates, applied once.
    let again = web.post("/api/events", &[("Authorization", &bearer(&ana))], &body).status(200).json();
    assert_eq!((again["applied"].as_u64(), again["duplicates"].as_u64()), (Some(0), Some(2)));
}

#[test]
fn the_page_signs_in_claims_a_task_and_says_why_it_exists() {
    let ws = quarter();
    let ana = token(&ws, "Ana Ruiz");
    let web = Serving::start(&ws);
    // Not signed in: to the sign-in page, and back after it.
    let a = web.get("/queue", &[]).status(303);
    assert_eq!(a.location.as_deref(), Some("/signin?next=%2Fqueue"));
    let bad = web.post_form("/signin", &[], &[("token", "dft_wrong"), ("next", "/queue")]).status(303);
    assert!(bad.location.unwrap().starts_with("/signin?"), "a wrong token goes back to the sign-in page");
    let a = web.post_form("/signin", &[], &[("token", &ana), ("next", "/queue")]).status(303);
    let set = a.set_cookie.join("; ");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(flag), "the session cookie is {flag}: {set}");
    }
    let cookie = web.sign_in(&ana);
    let session = [("Cookie", cookie.as_str())];

    let queue = web.get("/queue", &session).status(200).body;
    assert!(queue.contains("Ana Ruiz"), "signed in as Ana");
    assert!(queue.contains("Claim the next sales_rep task"), "her role's queue by default");
    let csrf = csrf_of(&queue);
    // A form without the session's form token, or from another site, is refused.
    web.post_form("/tasks/claim", &session, &[("csrf", "0000"), ("role", "sales_rep"), ("back", "/queue")]).status(403);
    let from_elsewhere = [session[0], ("Origin", "https://evil.example")];
    web.post_form("/tasks/claim", &from_elsewhere, &[("csrf", &csrf), ("role", "sales_rep"), ("back", "/queue")])
        .status(403);
    assert!(common::array(ws.run(&["tasks", "--json", "--status", "claimed"]).json()).is_empty(), "nothing claimed");

    let a = web
        .post_form("/tasks/claim", &session, &[("csrf", &csrf), ("role", "sales_rep"), ("back", "/queue")])
        .status(303);
    let claimed = common::array(ws.run(&["tasks", "--json", "--status", "claimed"]).json());
    assert_eq!(claimed.len(), 1);
    let task = &claimed[0];
    assert_eq!(task["claimed_by"], "Ana Ruiz");
    let id = task["id"].as_i64().unwrap();
    let back = a.location.unwrap();
    assert!(back.starts_with("/queue?msg=claimed%20task%20"), "{back}");
    let queue = web.get(&back, &session).status(200).body;
    assert!(queue.contains(&format!("claimed task {id}")), "the page says what happened");

    // Why it exists: the rule, its reason, and the rule's text as it was.
    let page = web.get(&format!("/tasks/{id}"), &session).status(200).body;
    let rule = task["rule"].as_str().unwrap();
    let function = rule.rsplit("::").next().unwrap();
    assert!(page.contains("Why it exists"), "{page}");
    assert!(page.contains(&html_text(task["reason"].as_str().unwrap())), "the reason");
    assert!(page.contains(&format!("fn {function}(")), "the rule's text");
    let explain = ws.run(&["explain", "task", &id.to_string(), "--json"]).success().json();
    for entry in explain["timeline"].as_array().unwrap() {
        assert!(page.contains(&html_text(entry["what"].as_str().unwrap())), "timeline entry {entry}");
    }
    // Why this person (here: nobody, until Ana claimed it): the lines `explain task` prints.
    assert!(page.contains("Why it went to the sales_rep queue"), "{page}");
    let steps = explain["assignment"].as_array().unwrap_or_else(|| panic!("no assignment: {explain:#}"));
    let made = steps[0]["lines"].as_array().unwrap();
    assert!(
        made[0].as_str().unwrap().ends_with("made for the sales_rep queue: no owner is an active sales_rep"),
        "{made:?}"
    );
    for line in steps.iter().flat_map(|s| s["lines"].as_array().unwrap()) {
        assert!(page.contains(&html_text(line.as_str().unwrap())), "assignment line {line}");
    }

    // Done, with an outcome, from the task's page.
    let page_csrf = csrf_of(&page);
    web.post_form(
        &format!("/tasks/{id}/done"),
        &session,
        &[("csrf", &page_csrf), ("outcome", "left a voicemail"), ("back", &format!("/tasks/{id}"))],
    )
    .status(303);
    let after = ws.run(&["tasks", "--json", "--status", "done"]).success().json();
    assert_eq!(after[0]["outcome"], "left a voicemail");

    // Signed out: the cookie no longer opens the page.
    web.post_form("/signout", &session, &[("csrf", &page_csrf)]).status(303);
    web.get("/queue", &session).status(303);
}

#[test]
fn every_page_shows_text_from_events_as_text() {
    let ws = Workspace::new();
    let hostile = "<img src=x onerror=alert(1)>";
    ws.ingest(&[
        event("account.upserted", "2026-03-02T09:00:00Z", json!({"id": "A-1", "name": hostile, "region": "West"})),
        event("lead.created", "2026-03-02T10:00:00Z", json!({"id": "L-1", "company": hostile, "source": hostile})),
    ]);
    let ana = token(&ws, "Ana Ruiz");
    let web = Serving::start(&ws);
    let cookie = web.sign_in(&ana);
    let session = [("Cookie", cookie.as_str())];
    let id = ws.tasks()[0]["id"].as_i64().unwrap();
    for path in ["/", "/queue?role=sales_rep", &format!("/tasks/{id}"), "/accounts/A-1", "/rules"] {
        let page = web.get(path, &session).status(200).body;
        assert!(!page.contains("<img"), "{path} shows markup from an event:\n{page}");
    }
    let page = web.get(&format!("/tasks/{id}"), &session).body;
    assert!(page.contains("&lt;img src=x onerror=alert(1)&gt;"), "the name is there, as text");
}

#[test]
fn the_rules_page_lists_versions_and_what_changed_between_two() {
    let ws = quarter();
    let ana = token(&ws, "Ana Ruiz");
    let mut web = Serving::start(&ws);
    ws.edit("rules/tasks_sales.rhai", "due_in_days: 2", "due_in_days: 3");
    let reloaded = web.watching.expect("rules reloaded: ");
    let new = common::watching::version_of(&reloaded);
    let cookie = web.sign_in(&ana);
    let session = [("Cookie", cookie.as_str())];
    let page = web.get("/rules", &session).status(200).body;
    assert!(page.contains(&new) && page.contains("(in force now)"), "{page}");
    let at = page.find("/rules/diff?").expect("a link to what changed");
    let href = page[at..].split('"').next().unwrap().replace("&amp;", "&");
    let diff = web.get(&href, &session).status(200).body;
    assert!(diff.contains("rules/tasks_sales.rhai"), "{diff}");
    assert!(diff.contains("- ") && diff.contains("due_in_days: 2") && diff.contains("due_in_days: 3"), "{diff}");
    assert!(!diff.contains("<h2>config.toml</h2>"), "only the file that changed");
}

/// Text as maud writes it into a page.
fn html_text(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[test]
fn tokens_are_made_for_the_team_kept_hashed_and_revoked_once() {
    let ws = Workspace::new();
    let out = ws.run(&["token", "create", "--as", "Ana Rui"]).code(1);
    assert!(out.stderr.contains("not on the team") && out.stderr.contains("Ana Ruiz"), "{}", out.stderr);
    let made = ws.run(&["token", "create", "--as", "Ana Ruiz", "--label", "laptop"]).success();
    let text = made.stdout.trim().to_string();
    assert!(text.starts_with("dft_") && text.len() > 60, "{text}");
    assert!(made.stderr.contains("not shown again"), "{}", made.stderr);
    let listed = ws.run(&["token", "list", "--json"]).success().json();
    assert_eq!(listed[0]["person"], "Ana Ruiz");
    assert_eq!(listed[0]["label"], "laptop");
    assert!(!listed.to_string().contains(&text), "the token's text is never shown again");
    let hash = ws.run(&["token", "list", "--json"]).json(); // the store read once more: its files are written
    assert_eq!(hash.as_array().unwrap().len(), 1);
    for file in ["dealflow.db", "dealflow.db-wal"] {
        let bytes = std::fs::read(ws.path(file)).unwrap_or_default();
        assert!(!bytes.windows(text.len()).any(|w| w == text.as_bytes()), "{file} keeps only the token's hash");
    }
    let all: Vec<u8> =
        ["dealflow.db", "dealflow.db-wal"].iter().flat_map(|f| std::fs::read(ws.path(f)).unwrap_or_default()).collect();
    assert!(all.windows(6).any(|w| w == b"laptop"), "the check reads where the rows are");
    let id = listed[0]["id"].as_str().unwrap().to_string();
    let table = ws.run(&["token", "list"]).success().stdout;
    assert!(table.contains(&id) && table.contains("Ana Ruiz"), "{table}");
    ws.run(&["token", "revoke", &id]).success();
    let again = ws.run(&["token", "revoke", &id]).code(1);
    assert!(again.stderr.contains("revoked already"), "{}", again.stderr);
    let typo = ws.run(&["token", "revoke", "tok_nope"]).code(1);
    assert!(typo.stderr.contains("no token tok_nope"), "{}", typo.stderr);
}

/// On PostgreSQL: serve holds the engine lease; events posted are applied
/// under it, and claims and closes go to the shared database.
#[test]
fn serve_on_postgresql_applies_posted_events_under_the_lease_and_shares_the_queue() {
    let Some(ws) =
        Workspace::on_postgres("serve_on_postgresql_applies_posted_events_under_the_lease_and_shares_the_queue")
    else {
        return;
    };
    let ana = token(&ws, "Ana Ruiz");
    let mut web = Serving::start(&ws);
    // Said before the engine starts watching (which `start` waits for).
    assert!(web.watching.seen.iter().any(|l| l.starts_with("engine in force: ")), "{:?}", web.watching.seen);
    let lines: String = std::fs::read_to_string(example("quarter.jsonl")).unwrap();
    let summary = web.post("/api/events", &[("Authorization", &bearer(&ana))], &lines).status(200).json();
    let twin = Workspace::new();
    let cli = twin.ingest_file(&example("quarter.jsonl"));
    assert_eq!(summary, cli, "the same summary as ingest on SQLite");
    let status = web.get("/api/status", &[("Authorization", &bearer(&ana))]).status(200).json();
    assert_eq!(status["backend"], "postgres");
    let holder = status["lease"]["holder"].as_str().unwrap();
    assert!(holder.starts_with("serve on "), "{holder}");
    let json_type = ("Content-Type", "application/json");
    let claimed = web
        .post("/api/tasks/claim", &[("Authorization", &bearer(&ana)), json_type], r#"{"role": "sales_rep"}"#)
        .status(200)
        .json();
    let stored = common::array(ws.run(&["tasks", "--json", "--status", "claimed"]).success().json());
    assert_eq!(stored, vec![claimed]);
    assert_eq!(web.watching.stop(), 0, "{}", web.watching.seen.join("\n"));
}

const WEBHOOKS: &str = r#"
[webhooks.pipedrive]
[webhooks.pipedrive.stages]
1 = "lead"

[webhooks.hubspot]
secret = "hs-client-secret"
public_url = "https://dealflow.example.com"
"#;

/// A Pipedrive v2 change of a deal (`meta`, `data`, `previous`).
fn pipedrive_deal(change: i64, title: &str) -> String {
    json!({
        "meta": {"action": "create", "entity": "deal", "entity_id": "900", "id": format!("wh-{change}"),
                 "timestamp": "2026-07-01T10:00:00.000Z", "version": "2.0", "company_id": "1", "user_id": "1"},
        "data": {"id": 900, "title": title, "stage_id": 1, "status": "open", "value": 12000, "currency": "USD",
                 "org_id": 77, "add_time": "2026-07-01T10:00:00Z", "update_time": "2026-07-01T10:00:00Z"},
        "previous": null
    })
    .to_string()
}

#[test]
fn crm_webhooks_are_checked_stored_before_the_answer_applied_once_and_shown() {
    let ws = Workspace::new();
    ws.write("config.toml", &format!("{}\n{WEBHOOKS}", ws.read("config.toml")));
    let ana = token(&ws, "Ana Ruiz");
    let mut web = Serving::start(&ws);
    let body = pipedrive_deal(1, "<img src=x onerror=alert(1)> renewal");
    let first = web.post("/webhooks/pipedrive", &[("Content-Type", "application/json")], &body).status(200).json();
    assert_eq!(first["delivery"], "stored");
    web.watching.expect(&format!("webhook pipedrive #{}", first["id"]));
    assert_eq!(ws.deal("900")["stage"], "lead");
    // Redelivered: acknowledged, stored and applied once.
    let again = web.post("/webhooks/pipedrive", &[("Content-Type", "application/json")], &body).status(200).json();
    assert_eq!((again["delivery"].as_str(), &again["id"]), (Some("duplicate"), &first["id"]));
    // Malformed, or from a CRM not configured with its secret: refused, nothing stored.
    web.post("/webhooks/pipedrive", &[], "{ not json").status(400);
    web.post("/webhooks/hubspot", &[], "[]").status(401);
    let bad_sig = [("X-HubSpot-Signature-v3", "c2lnbmVk"), ("X-HubSpot-Request-Timestamp", "1")];
    web.post("/webhooks/hubspot", &bad_sig, "[]").status(401);
    // Signed as HubSpot signs (the public URL, the body, the time): taken.
    let batch = r#"[{"eventId": 1, "subscriptionId": 7, "portalId": 6, "occurredAt": 1793611800000, "subscriptionType": "company.propertyChange", "objectId": 501, "propertyName": "name", "propertyValue": "Acme Corp"}]"#;
    let stamp = chrono::Utc::now().timestamp_millis().to_string();
    let sig = dealflow::webhooks::auth::hubspot_signature(
        "hs-client-secret",
        "POST",
        "https://dealflow.example.com/webhooks/hubspot",
        batch.as_bytes(),
        &stamp,
    );
    let signed = [("X-HubSpot-Signature-v3", sig.as_str()), ("X-HubSpot-Request-Timestamp", stamp.as_str())];
    web.post("/webhooks/hubspot", &signed, batch).status(200);
    web.watching.expect("webhook hubspot #");
    assert_eq!(ws.account("501")["name"], "Acme Corp");
    let counts = ws.status()["webhooks"].clone();
    assert_eq!(counts, json!({"pending": 0, "applied": 2, "unmappable": 0}), "the refused ones were never stored");

    // What could not be mapped is kept with its reason, and shown on the page as text.
    let odd = json!({"meta": {"action": "create", "entity": "product", "id": "wh-9", "entity_id": "5",
                     "timestamp": "2026-07-01T10:00:00.000Z", "version": "2.0"}, "data": {"id": 5}, "previous": null});
    web.post("/webhooks/pipedrive", &[], &odd.to_string()).status(200);
    web.watching.expect("webhook pipedrive #");
    let cookie = web.sign_in(&ana);
    let home = web.get("/", &[("Cookie", cookie.as_str())]).status(200).body;
    assert!(home.contains("unmappable"), "{home}");
    assert!(home.contains("1 kept as unmappable"), "{home}");
    assert!(!home.contains("<img"), "text from the CRM is escaped");
}

#[test]
fn a_webhook_acknowledged_just_before_a_crash_is_applied_after_it() {
    let ws = Workspace::new();
    ws.write("config.toml", &format!("{}\n{WEBHOOKS}", ws.read("config.toml")));
    let mut web = Serving::start(&ws);
    // Stopped hard right after the 2xx: the engine may not have applied it yet.
    let answer = web.post("/webhooks/pipedrive", &[], &pipedrive_deal(2, "Kept deal")).status(200).json();
    web.watching.child.kill().unwrap();
    web.watching.child.wait().unwrap();
    let pending_or_applied = ws.status()["webhooks"].clone();
    assert_eq!(
        pending_or_applied["pending"].as_i64().unwrap() + pending_or_applied["applied"].as_i64().unwrap(),
        1,
        "the delivery is in the store: {pending_or_applied}"
    );
    // The next engine applies what the killed one had not (if it had not).
    let _again = Serving::start(&ws);
    let deadline = std::time::Instant::now() + common::watching::WAIT;
    while ws.status()["webhooks"]["applied"] != 1 {
        assert!(std::time::Instant::now() < deadline, "delivery {} never applied", answer["id"]);
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(ws.status()["webhooks"], json!({"pending": 0, "applied": 1, "unmappable": 0}));
    assert_eq!(ws.deal("900")["name"], "Kept deal");
}

#[test]
fn a_notification_that_cannot_be_sent_is_shown_on_the_start_page_with_its_error() {
    let ws = Workspace::new();
    // A receiver that is not there: a port just freed.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    ws.write(
        "config.toml",
        &format!(
            "{}\n[notify.crm_bridge]\nkind = \"json\"\nurl = \"http://127.0.0.1:{port}/hook\"\n",
            ws.read("config.toml")
        ),
    );
    let ana = token(&ws, "Ana Ruiz");
    let web = Serving::start(&ws);
    let lead = event("lead.created", "2026-03-02T10:00:00Z", json!({"id": "L-1", "company": "Acme", "source": "web"}));
    web.post("/api/events", &[("Authorization", &bearer(&ana))], &format!("{lead}\n")).status(200);
    // The notifier tries, fails, and keeps it for a retry with the error.
    let deadline = std::time::Instant::now() + common::watching::WAIT;
    let tried = loop {
        let listed = common::array(ws.run(&["notify", "list", "--json"]).success().json());
        if let Some(n) = listed.iter().find(|n| !n["last_error"].is_null()) {
            break n.clone();
        }
        assert!(std::time::Instant::now() < deadline, "no attempt made: {listed:?}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let cookie = web.sign_in(&ana);
    let home = web.get("/", &[("Cookie", cookie.as_str())]).status(200).body;
    assert!(home.contains("<h2>Notifications</h2>"), "{home}");
    assert!(home.contains("crm_bridge"), "{home}");
    let error = tried["last_error"].as_str().unwrap();
    assert!(home.contains(&html_text(error)), "the last error, {error:?}, on the page:\n{home}");
}

#[test]
fn the_start_page_and_the_api_say_who_is_away_and_why_a_queue_waits() {
    let ws = Workspace::new();
    for (name, extra) in [
        ("Gus Lindqvist", "away = [{ from = \"2026-07-01\", to = \"2026-07-31\" }]\n"),
        ("Ines Moreau", "max_open = 1\n"),
    ] {
        let entry = format!("name = \"{name}\"\nrole = \"sales_coordinator\"\n");
        ws.edit("config.toml", &entry, &format!("{entry}{extra}"));
    }
    let mut events = vec![event("account.upserted", "2026-07-06T08:00:00Z", json!({"id": "A-1", "name": "Acme"}))];
    for i in 1..=3 {
        let order = json!({"id": format!("O-{i}"), "account_id": "A-1", "amount": 10000, "product": "GTX Pro", "date": "2026-07-06"});
        events.push(event("order.placed", &format!("2026-07-06T09:0{i}:00Z"), order));
    }
    ws.ingest(&events);
    let ana = token(&ws, "Ana Ruiz");
    let web = Serving::start(&ws);
    let cookie = web.sign_in(&ana);
    let home = web.get("/", &[("Cookie", cookie.as_str())]).status(200).body;
    let waits = "2 sales_coordinator tasks wait in the queue: everyone of sales_coordinator is at their cap or away (1 \
                 away, 1 at their cap)";
    assert!(home.contains(waits), "{home}");
    assert!(home.contains("away today (2026-07-06): Gus Lindqvist until 2026-07-31"), "{home}");
    let api = web.get("/api/status", &[("Authorization", &bearer(&ana))]).status(200).json();
    let cli = ws.status();
    for key in ["today", "away_today", "queues"] {
        assert_eq!(api[key], cli[key], "{key}");
    }
    assert_eq!(api["queues"][0]["waiting"], 2, "{api:#}");
}

//! The web page in a real browser: headless Chromium from Debian's package
//! (`.ci/run` installs it), driven over WebDriver (tests/common/browser.rs).
//! Where it is absent each test says `SKIPPED` and passes.

mod common;

use common::browser::{Browser, WAIT, fits_width};
use common::web::{Serving, token};
use common::{Workspace, example};

/// Sign in through the page's own form.
fn sign_in(b: &Browser, base: &str, token: &str) {
    b.goto(&format!("{base}/queue"));
    b.wait_for("input[name=token]", WAIT);
    b.fill("input[name=token]", token);
    b.submit("form[action='/signin']");
    b.wait_for("#claim", WAIT);
}

#[test]
fn a_rep_signs_in_claims_a_task_by_clicking_and_sees_it_claimed() {
    let Some(b) = Browser::start("a_rep_signs_in_claims_a_task_by_clicking_and_sees_it_claimed") else { return };
    let ws = Workspace::new();
    ws.ingest_file(&example("quarter.jsonl"));
    let ana = token(&ws, "Ana Ruiz");
    let web = Serving::start(&ws);
    sign_in(&b, &web.base, &ana);
    let session = b.cookie("dealflow_session").expect("a session cookie");
    assert!(session.http_only, "the session cookie is HttpOnly");
    assert_eq!(b.execute("return document.cookie"), serde_json::json!(""), "scripts cannot read it");
    assert!(b.find("h1").text().contains("sales_rep"), "her role's queue");
    b.click("#claim");
    let said = b.wait_for("[role=status]", WAIT).text();
    assert!(said.starts_with("claimed task "), "{said}");
    let id: i64 = said["claimed task ".len()..].split(':').next().unwrap().parse().unwrap();
    // The queue shows it claimed, by her, and the store agrees.
    let row = b.wait_for_text(&format!("#task-{id} .status"), "claimed", WAIT).text();
    assert_eq!(row, "claimed by Ana Ruiz");
    let stored = common::array(ws.run(&["tasks", "--json", "--status", "claimed"]).json());
    assert_eq!(stored.len(), 1);
    assert_eq!((stored[0]["id"].as_i64(), stored[0]["claimed_by"].as_str()), (Some(id), Some("Ana Ruiz")));

    // Why it exists, one click away; then done, from its page.
    b.click(&format!("#task-{id} a[href='/tasks/{id}']"));
    b.wait_for_text("h2", "Why it exists", WAIT);
    b.fill("input[name=outcome]", "booked a demo");
    b.submit(&format!("form[action='/tasks/{id}/done']"));
    b.wait_for_text("[role=status]", &format!("task {id} done"), WAIT);
    let done = common::array(ws.run(&["tasks", "--json", "--status", "done"]).json());
    assert_eq!(done[0]["outcome"], "booked a demo");
}

#[test]
fn the_pages_fit_a_phone() {
    let Some(b) = Browser::start("the_pages_fit_a_phone") else { return };
    let ws = Workspace::new();
    ws.ingest_file(&example("quarter.jsonl"));
    let farah = token(&ws, "Farah Haddad");
    let web = Serving::start(&ws);
    sign_in(&b, &web.base, &farah);
    let task = ws.tasks()[0]["id"].as_i64().unwrap();
    let account = ws.accounts()[0]["id"].as_str().unwrap().to_string();
    for path in [
        "/".to_string(),
        "/queue?role=sales_rep".into(),
        format!("/tasks/{task}"),
        format!("/accounts/{account}"),
        "/rules".into(),
    ] {
        b.goto(&format!("{}{path}", web.base));
        b.wait_for("main h1", WAIT);
        if let Err(e) = fits_width(&b) {
            panic!("{path} does not fit a phone: {e}");
        }
    }
}

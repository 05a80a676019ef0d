//! The browser harness (tests/common/browser.rs) against a small real HTTP
//! server on loopback: forms, clicks, cookies, scripts, screenshots and the
//! phone-width check. Where Chromium is absent each test says SKIPPED and
//! passes (`skips_visibly_without_chromium` proves it).

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use common::browser::{Browser, PHONE, WAIT, fits_width, processes_of};

/// A request as the test server received it.
#[derive(Debug, Clone)]
struct Request {
    method: String,
    path: String,
    headers: HashMap<String, String>,
    body: String,
}

/// A real HTTP/1.1 server on a loopback port (one thread per connection,
/// `Connection: close`), answering with `route` and keeping every request.
struct Server {
    base: String,
    requests: Arc<Mutex<Vec<Request>>>,
}

type Response = (u16, Vec<(&'static str, String)>, String);

impl Server {
    fn start(route: fn(&Request, &[Request]) -> Response) -> Server {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a loopback port");
        let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&requests);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let seen = Arc::clone(&seen);
                // A connection of its own: Chromium opens some it never uses.
                std::thread::spawn(move || serve(stream, route, &seen));
            }
        });
        Server { base, requests }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

fn serve(stream: TcpStream, route: fn(&Request, &[Request]) -> Response, seen: &Mutex<Vec<Request>>) {
    let mut reader = BufReader::new(stream.try_clone().expect("a second handle"));
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or("").to_string(), parts.next().unwrap_or("").to_string());
    let mut headers = HashMap::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap_or(0) == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
        }
    }
    let length = headers.get("content-length").and_then(|l| l.parse().ok()).unwrap_or(0);
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let request = Request { method, path, headers, body: String::from_utf8_lossy(&body).into_owned() };
    let (status, extra, body) = {
        let mut seen = seen.lock().unwrap();
        seen.push(request.clone());
        route(&request, &seen)
    };
    let mut head = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in extra {
        head += &format!("{name}: {value}\r\n");
    }
    let mut stream = stream;
    let _ = stream.write_all(format!("{head}\r\n{body}").as_bytes());
}

const HEAD: &str = r#"<!doctype html><html><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>t</title></head><body>"#;

/// The pages the tests browse: a queue-like form, the page it leads to, and
/// pages of different widths.
fn pages(req: &Request, seen: &[Request]) -> Response {
    let page = |body: &str| format!("{HEAD}{body}</body></html>");
    match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/") => (
            200,
            vec![("Set-Cookie", "session=s-42; Path=/; HttpOnly; SameSite=Lax".into())],
            page(
                r#"<h1>Queue</h1>
<ul><li class="task" data-task="T-1">Call Acme</li><li class="task" data-task="T-2">Email Globex</li></ul>
<form method="post" action="/claim"><input name="who" value="nobody"><button>Claim</button></form>
<form id="plain" method="post" action="/claim"><input name="who" value="by-script"></form>"#,
            ),
        ),
        ("POST", "/claim") => (303, vec![("Location", "/claimed".into())], String::new()),
        ("GET", "/claimed") => {
            let who = seen.iter().rev().find(|r| r.method == "POST").map(|r| r.body.clone()).unwrap_or_default();
            let who = who.strip_prefix("who=").unwrap_or(&who).to_string();
            (200, vec![], page(&format!(r#"<p id="result">T-1 claimed by {who}</p>"#)))
        }
        ("GET", "/echo") => {
            let cookies = req.headers.get("cookie").cloned().unwrap_or_default();
            (200, vec![], page(&format!(r#"<p id="cookies">{cookies}</p>"#)))
        }
        ("GET", "/narrow") => (
            200,
            vec![],
            page(
                r#"<main style="max-width: 40rem; margin: auto"><p>A narrow page of words that wrap at any width,
            an-unbreakable-but-not-too-long-token, and a table that scrolls on its own:</p>
            <div style="overflow-x: auto"><table style="width: 900px"><tr><td>wide, inside a scroller</td></tr></table></div></main>"#,
            ),
        ),
        ("GET", "/wide") => (
            200,
            vec![],
            page(
                r#"<p>Fine text.</p><div class="queue"><table id="tasks" class="grid"><tr><td style="min-width: 700px">Call Acme</td></tr></table></div>"#,
            ),
        ),
        ("GET", "/long-word") => (
            200,
            vec![],
            page(
                r#"<p class="reason">key.account.verdict.because.annual_revenue_exceeds_the_threshold_of_the_team_rules</p>"#,
            ),
        ),
        ("GET", "/no-viewport") => {
            (200, vec![], "<!doctype html><html><head><title>t</title></head><body><p>Short.</p></body></html>".into())
        }
        _ => (404, vec![], page("<p>not found</p>")),
    }
}

#[test]
fn a_click_posts_the_form_and_the_next_page_shows_the_result() {
    let Some(b) = Browser::start("a_click_posts_the_form_and_the_next_page_shows_the_result") else { return };
    let server = Server::start(pages);
    b.goto(&server.url("/"));
    assert_eq!(b.find("h1").text(), "Queue");
    let tasks = b.find_all("li.task");
    let ids: Vec<_> = tasks.iter().map(|t| t.attr("data-task").unwrap()).collect();
    assert_eq!(ids, ["T-1", "T-2"]);
    assert_eq!(tasks[1].text(), "Email Globex");
    assert_eq!(b.find("li.task").attr("title"), None);

    b.fill("input[name=who]", "ada");
    assert_eq!(b.find("input[name=who]").prop("value").as_deref(), Some("ada"));
    b.click("button");
    let result = b.wait_for_text("#result", "claimed", WAIT);
    assert_eq!(result.text(), "T-1 claimed by ada");
    assert_eq!(b.current_url(), server.url("/claimed"));

    let posts: Vec<_> = server.requests().into_iter().filter(|r| r.method == "POST").collect();
    assert_eq!(posts.len(), 1, "{posts:?}");
    assert_eq!((posts[0].path.as_str(), posts[0].body.as_str()), ("/claim", "who=ada"));
    assert_eq!(posts[0].headers.get("content-type").map(String::as_str), Some("application/x-www-form-urlencoded"));
    // The browser sent the cookie the first page set.
    assert_eq!(posts[0].headers.get("cookie").map(String::as_str), Some("session=s-42"));
}

#[test]
fn submit_clicks_the_button_or_submits_a_form_without_one() {
    let Some(b) = Browser::start("submit_clicks_the_button_or_submits_a_form_without_one") else { return };
    let server = Server::start(pages);
    b.goto(&server.url("/"));
    b.fill("form input[name=who]", "grace");
    b.submit("form input[name=who]");
    assert_eq!(b.wait_for("#result", WAIT).text(), "T-1 claimed by grace");

    b.goto(&server.url("/"));
    b.submit("#plain");
    assert_eq!(b.wait_for_text("#result", "by-script", WAIT).text(), "T-1 claimed by by-script");
    assert_eq!(server.requests().iter().filter(|r| r.method == "POST").count(), 2);
}

#[test]
fn cookies_set_by_the_server_are_seen_and_added_ones_are_sent() {
    let Some(b) = Browser::start("cookies_set_by_the_server_are_seen_and_added_ones_are_sent") else { return };
    let server = Server::start(pages);
    b.goto(&server.url("/"));
    let session = b.cookie("session").expect("the cookie the server set");
    assert_eq!((session.value.as_str(), session.path.as_deref()), ("s-42", Some("/")));
    assert!(session.http_only, "{session:?}");
    assert_eq!(session.same_site.as_deref(), Some("Lax"));
    assert_eq!(b.cookie("token"), None);

    b.add_cookie("token", "t-1");
    b.goto(&server.url("/echo"));
    let sent = b.find("#cookies").text();
    let mut sent: Vec<&str> = sent.split("; ").collect();
    sent.sort();
    assert_eq!(sent, ["session=s-42", "token=t-1"]);
    // HttpOnly keeps the session cookie from the page's scripts.
    assert_eq!(b.execute("return document.cookie"), "token=t-1");
}

#[test]
fn scripts_sources_waits_screenshots_and_failed_waits() {
    let Some(b) = Browser::start("scripts_sources_waits_screenshots_and_failed_waits") else { return };
    let server = Server::start(pages);
    b.goto(&server.url("/"));
    assert_eq!(b.execute("return 6 * 7"), 42);
    assert_eq!(b.execute_with("return arguments[0].dataset.task", vec![b.find("li.task").as_arg()]), "T-1");
    assert!(b.page_source().contains(r#"<li class="task" data-task="T-2">Email Globex</li>"#));

    // Something a script adds later is waited for, not slept for.
    b.execute("setTimeout(() => document.body.insertAdjacentHTML('beforeend', '<p id=late>late</p>'), 300)");
    assert_eq!(b.wait_for("#late", WAIT).text(), "late");
    b.wait_until("two tasks listed", WAIT, |b| b.find_all("li.task").len() == 2);

    b.set_viewport(PHONE.0, PHONE.1);
    assert_eq!(b.viewport(), (u64::from(PHONE.0), u64::from(PHONE.1)));
    let dir = tempfile::tempdir().unwrap();
    let shot = dir.path().join("queue.png");
    b.screenshot(&shot);
    let png = std::fs::read(&shot).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
    let ratio = b.execute("return window.devicePixelRatio").as_f64().unwrap();
    assert_eq!(f64::from(width), f64::from(PHONE.0) * ratio, "the PNG is the viewport's width");

    // A wait that never holds fails, naming what it waited for, where, and what the page said.
    let waited = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        b.wait_for("#never", std::time::Duration::from_millis(300));
    }));
    let message = *waited.unwrap_err().downcast::<String>().unwrap();
    assert!(message.contains("waited 300ms for an element matching \"#never\" on http://127.0.0.1:"), "{message}");
    assert!(message.contains("Call Acme"), "the page's text: {message}");
}

#[test]
fn a_failing_test_keeps_the_browsers_last_page() {
    let test = "a_failing_test_keeps_the_browsers_last_page";
    let server = Server::start(pages);
    let kept = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser-failures").join(test);
    let (png, html) = (kept.with_extension("png"), kept.with_extension("html"));
    let _ = (std::fs::remove_file(&png), std::fs::remove_file(&html));
    let failed = std::panic::catch_unwind(|| {
        let Some(b) = Browser::start(test) else { return "skipped" };
        b.goto(&server.url("/"));
        panic!("the test fails here");
    });
    if let Ok(skipped) = failed {
        assert_eq!(skipped, "skipped");
        return;
    }
    assert_eq!(&std::fs::read(&png).unwrap()[..8], b"\x89PNG\r\n\x1a\n");
    assert!(std::fs::read_to_string(&html).unwrap().contains("Email Globex"));
}

#[test]
fn a_narrow_page_fits_a_phone() {
    let Some(b) = Browser::start("a_narrow_page_fits_a_phone") else { return };
    let server = Server::start(pages);
    b.goto(&server.url("/narrow"));
    assert_eq!(fits_width(&b), Ok(()));
    assert_eq!(b.viewport().0, u64::from(PHONE.0));
    // A page taller than the phone has the whole width: a scrollbar takes none, as on a phone.
    b.execute("document.body.style.height = '5000px'");
    assert_eq!(b.execute("return document.documentElement.clientWidth"), PHONE.0);
    assert_eq!(fits_width(&b), Ok(()));
    // The first page of the harness's own tests fits too.
    b.goto(&server.url("/"));
    assert_eq!(fits_width(&b), Ok(()));
}

/// One browser for the three ways a page fails at a phone's width: a box too
/// wide, a word too long, no device-width viewport.
#[test]
fn a_page_that_does_not_fit_a_phone_fails_naming_the_elements() {
    let Some(b) = Browser::start("a_page_that_does_not_fit_a_phone_fails_naming_the_elements") else { return };
    let server = Server::start(pages);
    b.goto(&server.url("/wide"));
    let err = fits_width(&b).unwrap_err();
    assert!(err.starts_with(&format!("{} at 390×844:", server.url("/wide"))), "{err}");
    assert!(err.contains("the page scrolls sideways"), "{err}");
    assert!(err.contains("table#tasks.grid (Call Acme) reaches from 8 to"), "{err}");
    // The outermost element too wide is named, not each one inside it, nor the fine ones.
    assert!(!err.contains("td") && !err.contains("Fine text") && !err.contains("div.queue"), "{err}");

    b.goto(&server.url("/long-word"));
    let err = fits_width(&b).unwrap_err();
    assert!(err.contains("p.reason (key.account.verdict.because."), "{err}");
    assert!(err.contains(") has content running from 8 to"), "{err}");
    assert!(!err.contains("body"), "{err}");

    b.goto(&server.url("/no-viewport"));
    let err = fits_width(&b).unwrap_err();
    assert!(err.contains("no <meta name=\"viewport\""), "{err}");
    assert!(!err.contains("scrolls sideways"), "{err}");
}

#[test]
fn dropping_the_browser_leaves_no_process_behind() {
    let Some(b) = Browser::start("dropping_the_browser_leaves_no_process_behind") else { return };
    let server = Server::start(pages);
    b.goto(&server.url("/"));
    let (group, dir) = (b.driver_pid(), b.dir().to_path_buf());
    let running = b.processes();
    let names: Vec<&str> = running.iter().map(|(_, name)| name.as_str()).collect();
    assert!(names.iter().any(|p| p.ends_with("(chromedriver)")), "{names:?}");
    assert!(names.iter().any(|p| p.ends_with("(chromium)")), "{names:?}");
    // Debian's Chromium starts a crash handler in a session of its own: found by its folder.
    assert!(names.iter().any(|p| p.ends_with("(chrome_crashpad)")), "{names:?}");
    drop(b);
    assert_eq!(processes_of(group, &dir), Vec::new());
    let alive: Vec<_> = running.iter().filter(|(pid, _)| is_alive(*pid)).collect();
    assert_eq!(alive, Vec::<&(u32, String)>::new());
    assert!(!dir.exists(), "{}", dir.display());
}

/// Whether a process runs (a zombie does not).
fn is_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().next() != Some("Z")))
        .unwrap_or(false)
}

/// Runs one of this file's tests in a child process with Chromium pointed
/// at a missing file: it says SKIPPED and passes.
#[test]
fn skips_visibly_without_chromium() {
    let test = "a_click_posts_the_form_and_the_next_page_shows_the_result";
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--test-threads=1"])
        .env("DEALFLOW_CHROMIUM", "/nonexistent/chromium")
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("1 passed"), "{stdout}");
    assert!(
        stderr
            .contains(&format!("SKIPPED: {test}: no chromium/chromedriver (apt-get install chromium chromium-driver)")),
        "{stderr}"
    );
}

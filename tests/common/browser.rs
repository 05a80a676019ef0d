//! A real headless Chromium for the web page's tests, driven over WebDriver:
//! Debian's `chromium` and `chromium-driver` packages (`.ci/run` installs
//! them; nothing downloads a browser). Without them a test says `SKIPPED`
//! and passes.
//!
//! Each [`Browser`] is one chromedriver on a free loopback port, one session
//! and one Chromium with a fresh profile; dropping it ends the session and
//! kills chromedriver's whole process group (no Chromium is left behind).
//! The API is blocking: the async WebDriver client (`fantoccini`) runs on a
//! single-threaded Tokio runtime the browser owns. Every call panics with
//! what it was doing and on which page when it fails, as test helpers do.
//!
//! ```ignore
//! let Some(b) = Browser::start("a_rep_claims_a_task_by_clicking") else { return };
//! b.goto(&format!("{base}/signin"));
//! b.fill("input[name=token]", &token);
//! b.submit("input[name=token]");
//! b.goto(&format!("{base}/queue?role=sdr"));
//! b.click("#claim");
//! b.wait_for_text("#tasks .status", "claimed", WAIT);
//! assert_eq!(fits_width(&b), Ok(()));
//! ```

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::wd::TimeoutConfiguration;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use tempfile::TempDir;

/// The variable naming the Chromium binary (default: `chromium` on `PATH`,
/// else `/usr/bin/chromium`). Set it to a missing file to see the tests skip.
pub const CHROMIUM_VAR: &str = "DEALFLOW_CHROMIUM";
/// The variable naming chromedriver (default: `chromedriver` on `PATH`, else
/// `/usr/bin/chromedriver`).
pub const CHROMEDRIVER_VAR: &str = "DEALFLOW_CHROMEDRIVER";

/// How long a `wait_*` waits by default: generous, for a loaded machine
/// (a wait that succeeds returns as soon as its condition holds).
pub const WAIT: Duration = Duration::from_secs(20);

/// A phone's viewport in CSS pixels (an iPhone 12 to 15): what [`fits_width`] checks.
pub const PHONE: (u32, u32) = (390, 844);

/// The flags Chromium runs with: headless, no sandbox (CI runs as root),
/// nothing that reaches the network on its own.
const FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--disable-extensions",
    // As on a phone, scrollbars take no width (else a 15 px one narrows the page).
    "--hide-scrollbars",
    "--window-size=1280,800",
];

/// The key of an element in WebDriver's JSON (W3C WebDriver, "web element identifier").
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// How long chromedriver may take to answer `/status`, and a session to open.
const START: Duration = Duration::from_secs(30);

/// A cookie as the browser holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cookie {
    pub name: String,
    pub value: String,
    pub path: Option<String>,
    pub http_only: bool,
    pub secure: bool,
    /// `Strict`, `Lax` or `None`, as the browser reports it.
    pub same_site: Option<String>,
}

/// One headless Chromium, driven over WebDriver.
pub struct Browser {
    test: String,
    // Declared (and so dropped) before the runtime its session task runs on.
    client: Option<Client>,
    rt: tokio::runtime::Runtime,
    driver: Child,
    /// chromedriver's log and Chromium's profile; removed after both are gone.
    dir: TempDir,
}

/// An element of the page, found by a CSS selector.
pub struct Element<'b> {
    browser: &'b Browser,
    css: String,
    inner: fantoccini::elements::Element,
}

/// Chromium and chromedriver, or `None` when either is missing.
fn binaries() -> Option<(PathBuf, PathBuf)> {
    fn find(var: &str, name: &str) -> Option<PathBuf> {
        if let Some(path) = std::env::var_os(var).filter(|p| !p.is_empty()) {
            let path = PathBuf::from(path);
            return path.is_file().then_some(path);
        }
        let on_path = std::env::var_os("PATH")
            .into_iter()
            .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
            .map(|dir| dir.join(name));
        on_path.chain([Path::new("/usr/bin").join(name)]).find(|p| p.is_file())
    }
    Some((find(CHROMIUM_VAR, "chromium")?, find(CHROMEDRIVER_VAR, "chromedriver")?))
}

/// A port nobody listens on now (chromedriver binds it next; if another
/// process takes it first, chromedriver exits and [`Browser::start`] retries).
fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).and_then(|l| l.local_addr()).expect("a free loopback port").port()
}

/// chromedriver's `GET /status`: `Some(ready)` once it answers. (It keeps
/// the connection open after answering: read by `Content-Length`.)
fn driver_ready(port: u16) -> Option<bool> {
    use std::io::BufRead;
    let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    stream.write_all(b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").ok()?;
    let mut reader = std::io::BufReader::new(stream);
    let mut length = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.trim().eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse::<usize>().ok();
        }
    }
    let mut body = vec![0; length?];
    reader.read_exact(&mut body).ok()?;
    let status: Value = serde_json::from_slice(&body).ok()?;
    Some(status["value"]["ready"] == json!(true))
}

/// The last lines of a log file, for a failure message.
fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// Kills a process group and everything in it.
fn kill_group(pgid: u32) {
    // SAFETY: kill(2) with a negative pid signals the group; no memory involved.
    unsafe {
        libc::kill(-(pgid as libc::pid_t), libc::SIGKILL);
    }
}

/// The live (not zombie) processes that belong to a browser: those of
/// chromedriver's process group `pgid`, and those outside it whose command
/// line names `dir` (Chromium's crash handler starts a session of its own;
/// its database is under `dir`, see `XDG_CONFIG_HOME` below). Each as
/// (pid, "pid (name)").
pub fn processes_of(pgid: u32, dir: &Path) -> Vec<(u32, String)> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    let dir = dir.as_os_str().as_encoded_bytes();
    entries
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse::<u32>().ok()?, e.path())))
        .filter_map(|(pid, path)| {
            let stat = std::fs::read_to_string(path.join("stat")).ok()?;
            // pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses.
            let (head, rest) = stat.rsplit_once(')')?;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let (state, pgrp) = (*fields.first()?, fields.get(2)?.parse::<u32>().ok()?);
            if state == "Z" || state == "X" {
                return None;
            }
            let ours = pgrp == pgid || {
                let cmdline = std::fs::read(path.join("cmdline")).unwrap_or_default();
                cmdline.windows(dir.len()).any(|w| w == dir)
            };
            ours.then(|| (pid, format!("{head})")))
        })
        .collect()
}

impl Browser {
    /// A headless Chromium with a fresh profile, or `None` (having said
    /// `SKIPPED: <test>: …` on standard error) where Chromium or
    /// chromedriver is not installed.
    pub fn start(test: &str) -> Option<Browser> {
        let Some((chromium, chromedriver)) = binaries() else {
            // Straight to stderr: libtest captures eprintln! of a passing test.
            // One write (not writeln!'s several), so it is not cut by libtest's own lines.
            let line =
                format!("SKIPPED: {test}: no chromium/chromedriver (apt-get install chromium chromium-driver)\n");
            let _ = std::io::stderr().write_all(line.as_bytes());
            return None;
        };
        let dir = tempfile::Builder::new().prefix("dealflow-browser-").tempdir().expect("temp dir");
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a Tokio runtime");
        let deadline = Instant::now() + START;
        let mut attempt = 0;
        let (driver, port) = loop {
            attempt += 1;
            let port = free_port();
            let log = std::fs::File::create(dir.path().join("chromedriver.log")).expect("chromedriver log");
            let mut driver = {
                use std::os::unix::process::CommandExt;
                Command::new(&chromedriver)
                    .arg(format!("--port={port}"))
                    // Chromium's crash handler keeps its database under the
                    // default profile's folder: here, not in ~/.config.
                    .env("XDG_CONFIG_HOME", dir.path().join("config"))
                    .stdin(Stdio::null())
                    .stdout(log.try_clone().expect("log handle"))
                    .stderr(log)
                    // Its own process group: Drop kills chromedriver and every Chromium it started.
                    .process_group(0)
                    .spawn()
                    .unwrap_or_else(|e| panic!("{test}: cannot run {}: {e}", chromedriver.display()))
            };
            let exited = loop {
                if let Some(status) = driver.try_wait().expect("chromedriver's status") {
                    break Some(status);
                }
                if driver_ready(port) == Some(true) {
                    break None;
                }
                if Instant::now() > deadline {
                    kill_group(driver.id());
                    let _ = driver.wait();
                    panic!(
                        "{test}: {} not ready on port {port} within {START:?}\n{}",
                        chromedriver.display(),
                        tail(&dir.path().join("chromedriver.log"))
                    );
                }
                std::thread::sleep(Duration::from_millis(10));
            };
            match exited {
                None => break (driver, port),
                // Most likely the port was taken between free_port() and its bind: try another.
                Some(_) if attempt < 3 => continue,
                Some(status) => panic!(
                    "{test}: {} exited ({status}) before it was ready\n{}",
                    chromedriver.display(),
                    tail(&dir.path().join("chromedriver.log"))
                ),
            }
        };
        let mut browser = Browser { test: test.to_string(), client: None, rt, driver, dir };
        let profile = browser.dir.path().join("profile");
        let mut args: Vec<String> = FLAGS.iter().map(|f| f.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        let capabilities = json!({
            "browserName": "chrome",
            "pageLoadStrategy": "normal",
            "goog:chromeOptions": {"binary": chromium, "args": args},
        });
        let serde_json::Value::Object(capabilities) = capabilities else { unreachable!() };
        let url = format!("http://127.0.0.1:{port}");
        let client = browser.rt.block_on(async {
            let mut builder = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
            builder.capabilities(capabilities);
            tokio::time::timeout(START, builder.connect(&url)).await
        });
        let client = match client {
            Ok(Ok(client)) => client,
            Ok(Err(e)) => panic!(
                "{test}: no browser session from {} with {}: {e}\n{}",
                chromedriver.display(),
                chromium.display(),
                tail(&browser.dir.path().join("chromedriver.log"))
            ),
            Err(_) => panic!("{test}: no browser session within {START:?}"),
        };
        // A page that hangs fails its test within seconds, not WebDriver's default 5 minutes.
        let timeouts = TimeoutConfiguration::new(Some(WAIT), Some(WAIT), Some(Duration::ZERO));
        browser.rt.block_on(client.update_timeouts(timeouts)).expect("set the browser's timeouts");
        browser.client = Some(client);
        Some(browser)
    }

    fn client(&self) -> &Client {
        self.client.as_ref().expect("a browser session")
    }

    /// Runs one WebDriver command, panicking with what it was and where.
    fn run<T, E: std::fmt::Display>(&self, what: &str, f: impl std::future::Future<Output = Result<T, E>>) -> T {
        match self.rt.block_on(f) {
            Ok(v) => v,
            Err(e) => panic!("{}: browser: {what}: {e} (on {})", self.test, self.url_for_message()),
        }
    }

    /// The page's address for a message, without panicking again.
    fn url_for_message(&self) -> String {
        match self.rt.block_on(self.client().current_url()) {
            Ok(url) => url.to_string(),
            Err(_) => "an unknown page".into(),
        }
    }

    /// Loads `url` and waits for it to load (its `load` event).
    pub fn goto(&self, url: &str) {
        self.run(&format!("go to {url}"), self.client().goto(url));
    }

    /// The address of the page shown now.
    pub fn current_url(&self) -> String {
        self.run("read the address", self.client().current_url()).to_string()
    }

    /// The page's HTML as it is now (after scripts).
    pub fn page_source(&self) -> String {
        self.run("read the page source", self.client().source())
    }

    /// The page's visible text (`document.body.innerText`).
    pub fn text(&self) -> String {
        self.execute("return document.body ? document.body.innerText : ''").as_str().unwrap_or_default().to_string()
    }

    /// The first element `css` matches; panics, showing the page's text, when none does.
    pub fn find(&self, css: &str) -> Element<'_> {
        self.try_find(css).unwrap_or_else(|| {
            panic!(
                "{}: browser: no element matches {css:?} on {}\n--- page text\n{}",
                self.test,
                self.current_url(),
                self.text()
            )
        })
    }

    /// The first element `css` matches, if any.
    pub fn try_find(&self, css: &str) -> Option<Element<'_>> {
        self.find_all(css).into_iter().next()
    }

    /// Every element `css` matches, in document order.
    pub fn find_all(&self, css: &str) -> Vec<Element<'_>> {
        self.run(&format!("find {css:?}"), self.client().find_all(Locator::Css(css)))
            .into_iter()
            .map(|inner| Element { browser: self, css: css.to_string(), inner })
            .collect()
    }

    /// Clicks the first element `css` matches.
    pub fn click(&self, css: &str) {
        self.find(css).click();
    }

    /// Replaces the value of the input `css` matches with `text`, typed as keys.
    pub fn fill(&self, css: &str, text: &str) {
        self.find(css).fill(text);
    }

    /// Submits a form the way a person does: clicks its first submit button
    /// (`form_css` names the form or anything inside it), or, without one,
    /// `form.requestSubmit()` (which runs its validation and submit handlers).
    /// Use a `wait_*` afterwards for the page the form leads to.
    pub fn submit(&self, form_css: &str) {
        let el = self.find(form_css);
        let button = self.execute_with(
            "const e = arguments[0]; const f = e.form || e.closest('form'); \
             if (!f) return 'no form'; \
             const b = f.querySelector('button:not([type]), button[type=submit], input[type=submit]'); \
             if (b) return b; \
             f.requestSubmit(); return 'submitted';",
            vec![el.as_arg()],
        );
        match button.as_str() {
            Some("submitted") => {}
            Some(_) => panic!("{}: browser: {form_css:?} is not in a form on {}", self.test, self.current_url()),
            None => self.element_from(&format!("the submit button of {form_css}"), button).click(),
        }
    }

    /// An element a script returned.
    fn element_from(&self, what: &str, value: Value) -> Element<'_> {
        let Some(Value::String(id)) = value.get(ELEMENT_KEY) else {
            panic!("{}: browser: {what}: not an element: {value}", self.test)
        };
        let id = fantoccini::elements::ElementRef::from(id.clone());
        let inner = fantoccini::elements::Element::from_element_id(self.client().clone(), id);
        Element { browser: self, css: what.to_string(), inner }
    }

    /// Runs `js` as a function body in the page; its `return` value as JSON.
    pub fn execute(&self, js: &str) -> Value {
        self.execute_with(js, Vec::new())
    }

    /// Runs `js` with `arguments[i]` = `args[i]` (elements as [`Element::as_arg`]).
    pub fn execute_with(&self, js: &str, args: Vec<Value>) -> Value {
        self.run(&format!("run script {js:?}"), self.client().execute(js, args))
    }

    /// Sets the window's outer size in pixels (the viewport is narrower or
    /// shorter by the window's frame: see [`Browser::set_viewport`]).
    pub fn set_window_size(&self, width: u32, height: u32) {
        self.run(&format!("resize to {width}×{height}"), self.client().set_window_size(width, height));
    }

    /// Sizes the window so that the viewport (`innerWidth` × `innerHeight`)
    /// is `width` × `height` CSS pixels.
    pub fn set_viewport(&self, width: u32, height: u32) {
        self.set_window_size(width, height);
        let (w, h) = self.viewport();
        if (w, h) != (u64::from(width), u64::from(height)) {
            let grow = |want: u32, got: u64| (u64::from(want) * 2).saturating_sub(got) as u32;
            self.set_window_size(grow(width, w), grow(height, h));
        }
        let got = self.viewport();
        assert_eq!(
            got,
            (u64::from(width), u64::from(height)),
            "{}: browser: cannot size the viewport to {width}×{height}",
            self.test
        );
    }

    /// The viewport's size in CSS pixels (`innerWidth`, `innerHeight`).
    pub fn viewport(&self) -> (u64, u64) {
        let v = self.execute("return [window.innerWidth, window.innerHeight]");
        (v[0].as_u64().unwrap_or(0), v[1].as_u64().unwrap_or(0))
    }

    /// Waits until `css` matches an element, and returns it.
    pub fn wait_for(&self, css: &str, within: Duration) -> Element<'_> {
        let mut found = None;
        self.wait_until(&format!("an element matching {css:?}"), within, |b| {
            // Mid-navigation a lookup may fail: that is "not yet", not an error.
            found = b.rt.block_on(b.client().find_all(Locator::Css(css))).ok().and_then(|all| all.into_iter().next());
            found.is_some()
        });
        Element { browser: self, css: css.to_string(), inner: found.expect("found") }
    }

    /// Waits until an element matching `css` shows `text` in its text, and returns it.
    pub fn wait_for_text(&self, css: &str, text: &str, within: Duration) -> Element<'_> {
        let mut found = None;
        self.wait_until(&format!("an element matching {css:?} with the text {text:?}"), within, |b| {
            // The page may change under us (a navigation): a vanished element is "not yet".
            found = b.rt.block_on(async {
                let all = b.client().find_all(Locator::Css(css)).await.ok()?;
                for e in all {
                    if e.text().await.ok()?.contains(text) {
                        return Some(e);
                    }
                }
                None
            });
            found.is_some()
        });
        Element { browser: self, css: css.to_string(), inner: found.expect("found") }
    }

    /// Polls `ready` (every 20 ms) until it holds; panics after `within`,
    /// naming `what` and showing the page's address and text.
    pub fn wait_until(&self, what: &str, within: Duration, mut ready: impl FnMut(&Browser) -> bool) {
        let deadline = Instant::now() + within;
        loop {
            if ready(self) {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "{}: browser: waited {within:?} for {what} on {}\n--- page text\n{}",
                    self.test,
                    self.current_url(),
                    self.text()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The cookies the browser would send to the page shown now (HttpOnly ones too).
    pub fn cookies(&self) -> Vec<Cookie> {
        self.run("read the cookies", self.client().get_all_cookies())
            .into_iter()
            .map(|c| Cookie {
                name: c.name().to_string(),
                value: c.value().to_string(),
                path: c.path().map(str::to_string),
                http_only: c.http_only().unwrap_or(false),
                secure: c.secure().unwrap_or(false),
                same_site: c.same_site().map(|s| s.to_string()),
            })
            .collect()
    }

    /// The cookie named `name` for the page shown now, if any.
    pub fn cookie(&self, name: &str) -> Option<Cookie> {
        self.cookies().into_iter().find(|c| c.name == name)
    }

    /// Adds a cookie for the site of the page shown now (path `/`,
    /// `SameSite=Lax`): go to a page of the site first, as WebDriver requires.
    pub fn add_cookie(&self, name: &str, value: &str) {
        let url = self.run("read the address", self.client().current_url());
        let Some(host) = url.host_str() else {
            panic!(
                "{}: browser: add the cookie {name}: the page shown ({url}) has no host: go to the site first",
                self.test
            )
        };
        let mut cookie = fantoccini::cookies::Cookie::new(name.to_string(), value.to_string());
        cookie.set_domain(host.to_string());
        cookie.set_path("/");
        // fantoccini sends SameSite=None unless told, which Chromium refuses without Secure.
        // (The `cookie` crate's SameSite is not re-exported: take it from a parsed cookie.)
        let lax = fantoccini::cookies::Cookie::parse("lax=; SameSite=Lax").expect("a cookie").same_site();
        cookie.set_same_site(lax);
        self.run(&format!("add the cookie {name}"), self.client().add_cookie(cookie));
    }

    /// Saves what the viewport shows as a PNG file.
    pub fn screenshot(&self, path: &Path) {
        let png = self.run("take a screenshot", self.client().screenshot());
        std::fs::write(path, png).unwrap_or_else(|e| panic!("{}: cannot write {}: {e}", self.test, path.display()));
    }

    /// The processes of this browser still running: chromedriver, Chromium's
    /// and its crash handler's, as (pid, "pid (name)").
    pub fn processes(&self) -> Vec<(u32, String)> {
        processes_of(self.driver.id(), self.dir.path())
    }

    /// The folder holding chromedriver's log and Chromium's profile (removed on drop).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// chromedriver's process id (and process group).
    pub fn driver_pid(&self) -> u32 {
        self.driver.id()
    }
}

impl Browser {
    /// Saves the page shown now (a PNG and its HTML) where a failing test's
    /// reader finds it: target/tmp/browser-failures/TEST.{png,html}.
    fn save_last_page(&self) {
        let Some(client) = self.client.as_ref() else { return };
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser-failures");
        let shot = self.rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(5), async {
                let png = client.screenshot().await.ok()?;
                let html = client.source().await.ok()?;
                Some((png, html))
            })
            .await
            .ok()
            .flatten()
        });
        let Some((png, html)) = shot else { return };
        let base = dir.join(&self.test);
        let (png_path, html_path) = (base.with_extension("png"), base.with_extension("html"));
        if std::fs::create_dir_all(&dir).is_ok()
            && std::fs::write(&png_path, png).is_ok()
            && std::fs::write(&html_path, html).is_ok()
        {
            let _ = writeln!(
                std::io::stderr(),
                "{}: the browser's last page: {} and {}",
                self.test,
                png_path.display(),
                html_path.display()
            );
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // The test failed: keep what the browser showed.
            self.save_last_page();
        }
        if let Some(client) = self.client.take() {
            // Ends the session: chromedriver quits Chromium. Bounded, in case it hangs.
            let _ = self.rt.block_on(async { tokio::time::timeout(Duration::from_secs(5), client.close()).await });
        }
        kill_group(self.driver.id());
        let _ = self.driver.wait();
        // What is left outside the group (the crash handler), until it is gone.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let left = processes_of(self.driver.id(), self.dir.path());
            if left.is_empty() || Instant::now() > deadline {
                break;
            }
            for (pid, _) in left {
                // SAFETY: kill(2) on a process id; no memory involved.
                unsafe {
                    libc::kill(pid as libc::pid_t, libc::SIGKILL);
                }
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Element<'_> {
    /// The element's rendered text (`innerText`: what a person reads).
    pub fn text(&self) -> String {
        self.browser.run(&format!("read the text of {:?}", self.css), self.inner.text())
    }

    /// An attribute's value, if the element has it.
    pub fn attr(&self, name: &str) -> Option<String> {
        self.browser.run(&format!("read {name} of {:?}", self.css), self.inner.attr(name))
    }

    /// A DOM property's value (e.g. `value` of an input, as typed).
    pub fn prop(&self, name: &str) -> Option<String> {
        self.browser.run(&format!("read .{name} of {:?}", self.css), self.inner.prop(name))
    }

    /// Clicks the element (scrolled into view; fails if something covers it).
    pub fn click(&self) {
        self.browser.run(&format!("click {:?}", self.css), self.inner.click());
    }

    /// Clears the input and types `text` into it.
    pub fn fill(&self, text: &str) {
        self.browser.run(&format!("clear {:?}", self.css), self.inner.clear());
        self.browser.run(&format!("type into {:?}", self.css), self.inner.send_keys(text));
    }

    /// Elements inside this one matching `css`.
    pub fn find_all(&self, css: &str) -> Vec<Element<'_>> {
        let what = format!("{} {css}", self.css);
        self.browser
            .run(&format!("find {what:?}"), self.inner.find_all(Locator::Css(css)))
            .into_iter()
            .map(|inner| Element { browser: self.browser, css: what.clone(), inner })
            .collect()
    }

    /// The element as a script argument (`arguments[i]` in [`Browser::execute_with`]).
    pub fn as_arg(&self) -> Value {
        serde_json::to_value(&self.inner).expect("an element as JSON")
    }
}

/// Checks the page shown now at a phone's width ([`PHONE`]; the viewport is
/// left at that size): it declares a device-width viewport (else a phone lays
/// it out 980 px wide and shrinks it), the document does not scroll
/// sideways, and no element (box or text) reaches past the viewport's right
/// or left edge, outside a container that scrolls or clips it. The error
/// names each offending element (tag#id.class, its text, its extent).
pub fn fits_width(browser: &Browser) -> Result<(), String> {
    let (width, height) = PHONE;
    browser.set_viewport(width, height);
    let report = browser.execute(FITS_WIDTH_JS);
    let mut problems = Vec::new();
    if report["viewportMeta"] != json!(true) {
        problems.push(
            "no <meta name=\"viewport\" content=\"width=device-width, …\">: a phone lays the page out 980 px wide and \
             shrinks it"
                .to_string(),
        );
    }
    let (scroll_width, client_width) = (&report["scrollWidth"], &report["clientWidth"]);
    if scroll_width.as_f64() > client_width.as_f64() {
        problems.push(format!("the page scrolls sideways: {scroll_width} px wide in a {client_width} px viewport"));
    }
    for e in report["offenders"].as_array().into_iter().flatten() {
        problems.push(format!(
            "{} ({}) {} from {} to {} px ({} px wide)",
            e["element"].as_str().unwrap_or("?"),
            e["text"].as_str().unwrap_or(""),
            e["how"].as_str().unwrap_or("reaches"),
            e["left"],
            e["right"],
            e["width"]
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("{} at {width}×{height}:\n  {}", browser.current_url(), problems.join("\n  ")))
    }
}

/// The page's side of [`fits_width`]: boxes past the viewport's edges (the
/// outermost one of a nest), and text running past them (the innermost
/// element holding it), not counting what a scrolling or clipping container holds.
const FITS_WIDTH_JS: &str = r#"
window.scrollTo(0, 0);
const root = document.scrollingElement || document.documentElement;
const vw = document.documentElement.clientWidth;
const meta = document.querySelector('meta[name="viewport"]');
const viewportMeta = !!meta && /width\s*=\s*device-width/i.test(meta.getAttribute('content') || '');
const clipped = (el) => {
  for (let p = el.parentElement; p && p !== document.body && p !== document.documentElement; p = p.parentElement) {
    if (getComputedStyle(p).overflowX !== 'visible') return true;
  }
  return false;
};
const boxOver = (el) => {
  if (!el || el === document.documentElement) return false;
  const r = el.getBoundingClientRect();
  return (r.width > 0 || r.height > 0) && (r.right > vw + 0.5 || r.left < -0.5);
};
const textOver = (el) => {
  if (!el || el === document.documentElement || el.clientWidth === 0) return false;
  if (getComputedStyle(el).overflowX !== 'visible') return false;
  const r = el.getBoundingClientRect();
  return r.left + el.scrollWidth > vw + 0.5;
};
const describe = (el) => {
  let s = el.tagName.toLowerCase();
  if (el.id) s += '#' + el.id;
  for (const c of Array.from(el.classList).slice(0, 3)) s += '.' + c;
  return s;
};
const offenders = [];
for (const el of [document.body, ...document.body.querySelectorAll('*')]) {
  if (clipped(el)) continue;
  const r = el.getBoundingClientRect();
  if (boxOver(el) && !boxOver(el.parentElement)) {
    offenders.push({how: 'reaches', el, left: r.left, right: r.right});
  } else if (!boxOver(el) && textOver(el) && !Array.from(el.children).some((c) => boxOver(c) || textOver(c))) {
    offenders.push({how: 'has content running', el, left: r.left, right: r.left + el.scrollWidth});
  }
}
return {
  viewportMeta,
  scrollWidth: root.scrollWidth,
  clientWidth: vw,
  offenders: offenders.map((o) => ({
    element: describe(o.el),
    text: (o.el.innerText || '').replace(/\s+/g, ' ').trim().slice(0, 40),
    how: o.how,
    left: Math.round(o.left),
    right: Math.round(o.right),
    width: Math.round(o.right - o.left),
  })),
};
"#;

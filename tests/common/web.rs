//! A running `dealflow serve` on a free loopback port, and an HTTP client
//! for it (ureq: real HTTP, no redirects followed, every status returned).

use std::time::Duration;

use serde_json::Value;

use super::Workspace;
use super::watching::Watching;

pub struct Serving {
    pub watching: Watching,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    agent: ureq::Agent,
}

/// An answer: status, headers that matter, body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub location: Option<String>,
    pub set_cookie: Vec<String>,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// The answer must have this status.
    pub fn status(self, want: u16) -> Answer {
        assert_eq!(self.status, want, "status of an answer: {}", self.body);
        self
    }
}

impl Serving {
    /// `dealflow serve --listen 127.0.0.1:0`, once it says where it serves and the engine has started.
    pub fn start(ws: &Workspace) -> Serving {
        let mut watching = Watching::spawn(ws.command(&[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--debounce-ms",
            "50",
            "--settle-ms",
            "50",
        ]));
        let line = watching.expect("serving http://");
        let base = line.trim_start_matches("serving ").split('/').take(3).collect::<Vec<_>>().join("/");
        watching.expect("watching: ");
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(Duration::from_secs(120)))
            .build()
            .into();
        Serving { watching, base, agent }
    }

    fn answer(mut r: ureq::http::Response<ureq::Body>) -> Answer {
        let header = |name: &str| r.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        let location = header("location");
        let set_cookie =
            r.headers().get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).map(str::to_string).collect();
        let body = r.body_mut().read_to_string().unwrap_or_default();
        Answer { status: r.status().as_u16(), location, set_cookie, body }
    }

    /// GET `path` with these headers (`("Authorization", "Bearer …")`, `("Cookie", …)`).
    pub fn get(&self, path: &str, headers: &[(&str, &str)]) -> Answer {
        let mut req = self.agent.get(format!("{}{path}", self.base));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        Serving::answer(req.call().expect("GET"))
    }

    /// POST `body` to `path` with these headers.
    pub fn post(&self, path: &str, headers: &[(&str, &str)], body: &str) -> Answer {
        let mut req = self.agent.post(format!("{}{path}", self.base));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        Serving::answer(req.send(body).expect("POST"))
    }

    /// POST a form (`application/x-www-form-urlencoded`).
    pub fn post_form(&self, path: &str, headers: &[(&str, &str)], fields: &[(&str, &str)]) -> Answer {
        let body = fields.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect::<Vec<_>>().join("&");
        let mut all = headers.to_vec();
        all.push(("Content-Type", "application/x-www-form-urlencoded"));
        self.post(path, &all, &body)
    }

    /// Sign in with a token: the session cookie (`dealflow_session=…`).
    pub fn sign_in(&self, token: &str) -> String {
        let a = self.post_form("/signin", &[], &[("token", token), ("next", "/queue")]).status(303);
        assert_eq!(a.location.as_deref(), Some("/queue"));
        let cookie = a.set_cookie.iter().find(|c| c.starts_with("dealflow_session=")).expect("a session cookie");
        cookie.split(';').next().unwrap().to_string()
    }
}

/// A token for a team member, made by `dealflow token create`.
pub fn token(ws: &Workspace, who: &str) -> String {
    ws.run(&["token", "create", "--as", who, "--json"]).success().json()["token"].as_str().unwrap().to_string()
}

pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// The form token of a page (the value of its first `name="csrf"` field).
pub fn csrf_of(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").expect("a form with a form token") + "name=\"csrf\" value=\"".len();
    page[at..].split('"').next().unwrap().to_string()
}

pub fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

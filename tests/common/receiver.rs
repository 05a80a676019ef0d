//! A webhook receiver on a loopback port: real HTTP over TCP, one request
//! per connection, answered as the test says (200, an error status, or not
//! at all while it "hangs"). Tests wait on what it received, with a deadline.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// How it answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// 200.
    Ok,
    /// This status, for the next `n` requests, then 200.
    FailNext(u16, usize),
    /// Read the request and answer nothing until the mode changes; then drop the connection.
    Hang,
}

/// One request received.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// Names in lowercase.
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// The status answered; `None` while hanging, or dropped unanswered.
    pub answered: Option<u16>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == &name.to_ascii_lowercase()).map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

struct State {
    mode: Mode,
    requests: Vec<Request>,
    stopped: bool,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

pub struct Receiver {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
}

/// A loopback port nothing listens on (bound, then let go).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Receiver {
    pub fn start() -> Receiver {
        Receiver::start_on(0)
    }

    pub fn start_on(port: u16) -> Receiver {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind the receiver");
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            state: Mutex::new(State { mode: Mode::Ok, requests: Vec::new(), stopped: false }),
            changed: Condvar::new(),
        });
        let s = shared.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.state.lock().unwrap().stopped {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let s = s.clone();
                std::thread::spawn(move || handle(conn, &s));
            }
        });
        Receiver { addr, shared }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    pub fn set(&self, mode: Mode) {
        self.shared.state.lock().unwrap().mode = mode;
        self.shared.changed.notify_all();
    }

    pub fn requests(&self) -> Vec<Request> {
        self.shared.state.lock().unwrap().requests.clone()
    }

    /// Wait until `done` holds of the requests received (a minute at most); them.
    pub fn wait_for(&self, what: &str, done: impl Fn(&[Request]) -> bool) -> Vec<Request> {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut state = self.shared.state.lock().unwrap();
        loop {
            if done(&state.requests) {
                return state.requests.clone();
            }
            let left = deadline.checked_duration_since(Instant::now());
            let Some(left) = left else {
                panic!("the receiver waited in vain for {what}; it received:\n{:#?}", state.requests)
            };
            state = self.shared.changed.wait_timeout(state, left.min(Duration::from_millis(200))).unwrap().0;
        }
    }

    /// The requests answered 2xx.
    pub fn delivered(&self) -> Vec<Request> {
        self.requests().into_iter().filter(|r| r.answered.is_some_and(|s| (200..300).contains(&s))).collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.shared.state.lock().unwrap().stopped = true;
        self.shared.changed.notify_all();
        // Wake the accepting thread.
        let _ = TcpStream::connect(self.addr);
    }
}

fn handle(conn: TcpStream, s: &Shared) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() || line.is_empty() {
        return;
    }
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or_default().to_string(), parts.next().unwrap_or_default().to_string());
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
            break;
        }
        if let Some((n, v)) = h.split_once(':') {
            headers.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let length: usize =
        headers.iter().find(|(n, _)| n == "content-length").and_then(|(_, v)| v.parse().ok()).unwrap_or(0);
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let request = Request { method, path, headers, body: String::from_utf8_lossy(&body).into_owned(), answered: None };
    let mut state = s.state.lock().unwrap();
    let index = state.requests.len();
    state.requests.push(request);
    let status = match state.mode {
        Mode::Ok => Some(200),
        Mode::FailNext(status, n) => {
            state.mode = if n > 1 { Mode::FailNext(status, n - 1) } else { Mode::Ok };
            Some(status)
        }
        Mode::Hang => None,
    };
    s.changed.notify_all();
    let Some(status) = status else {
        // Hang until told otherwise, then drop the connection unanswered.
        while state.mode == Mode::Hang && !state.stopped {
            state = s.changed.wait(state).unwrap();
        }
        return;
    };
    state.requests[index].answered = Some(status);
    drop(state);
    let mut conn = conn;
    let _ = write!(conn, "HTTP/1.1 {status} X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
    let _ = conn.flush();
    s.changed.notify_all();
}

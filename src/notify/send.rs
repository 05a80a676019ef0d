//! Sending one notification: a blocking HTTP POST with timeouts, and the
//! back-off between failed attempts.

use std::time::Duration;

use super::config::{Target, TargetKind};
use crate::store::outbox::Notification;

/// An HTTP client for notifications: every request ends within `timeout`
/// (connecting, sending, reading the answer), redirects are not followed
/// (a webhook that moved is a failure to see, not to chase), and a non-2xx
/// answer is a value, not an error.
pub fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .timeout_connect(Some(timeout.min(Duration::from_secs(5))))
        .http_status_as_error(false)
        .max_redirects(0)
        .user_agent(concat!("dealflow/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

/// POST the notification's body to its target: `Ok` on a 2xx answer, else what went wrong.
pub fn send(agent: &ureq::Agent, target: &Target, n: &Notification) -> Result<(), String> {
    let url = target.url.value()?;
    let mut request = agent.post(&url).header("Content-Type", "application/json");
    if target.kind == TargetKind::Json {
        // The same notification sent twice (a crash between the 2xx and
        // marking it sent) carries the same key: the receiver can drop the second.
        request = request.header("Idempotency-Key", &format!("dealflow-{}", n.id));
    }
    for (name, value) in &target.headers {
        request = request.header(name, &value.value()?);
    }
    match request.send(n.payload.as_bytes()) {
        Ok(response) if response.status().is_success() => Ok(()),
        Ok(mut response) => {
            let status = response.status();
            let text = response.body_mut().with_config().limit(512).read_to_string().unwrap_or_default();
            let text: String = text.chars().filter(|c| !c.is_control()).take(200).collect();
            Err(format!(
                "{} answered {status}{}",
                redact(&url),
                if text.is_empty() { String::new() } else { format!(": {text}") }
            ))
        }
        Err(e) => Err(format!("{}: {e}", redact(&url))),
    }
}

/// An address without its path and query (a Slack webhook's path is its secret).
pub fn redact(url: &str) -> String {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].find('/') {
        Some(i) => format!("{}/…", &url[..after_scheme + i]),
        None => url.to_string(),
    }
}

/// When to try again and when to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The wait after the first failure; each failure after doubles it …
    pub first: Duration,
    /// … up to this.
    pub max: Duration,
    /// Give up after this many failed attempts …
    pub attempts: i64,
    /// … or once the notification is this old.
    pub give_up_after: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            first: Duration::from_secs(10),
            max: Duration::from_secs(60 * 60),
            attempts: 20,
            give_up_after: Duration::from_secs(24 * 60 * 60),
        }
    }
}

impl Backoff {
    /// The wait after `failures` failed attempts (1 after the first), with up
    /// to a fifth more or less at random (`jitter` in `[0, 1)`), so receivers
    /// coming back are not met by every sender at once.
    pub fn delay(&self, failures: i64, jitter: f64) -> Duration {
        let doublings = u32::try_from(failures.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
        let base = self.first.saturating_mul(1u32 << doublings.min(20)).min(self.max);
        base.mul_f64(0.8 + 0.4 * jitter.clamp(0.0, 1.0)).min(self.max)
    }
}

/// A number in `[0, 1)` that differs from call to call (the jitter): the
/// clock's nanoseconds mixed with `salt`; no randomness crate for this.
pub fn jitter(salt: i64) -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_i64(salt);
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_doubles_from_the_first_up_to_the_cap_with_a_fifth_of_jitter() {
        let b = Backoff { first: Duration::from_secs(10), max: Duration::from_secs(3600), ..Backoff::default() };
        assert_eq!(b.delay(1, 0.5), Duration::from_secs(10));
        assert_eq!(b.delay(2, 0.5), Duration::from_secs(20));
        assert_eq!(b.delay(4, 0.5), Duration::from_secs(80));
        assert_eq!(b.delay(30, 0.5), Duration::from_secs(3600));
        assert_eq!(b.delay(1, 0.0), Duration::from_secs(8));
        assert!(b.delay(1, 0.999) < Duration::from_secs(12));
        let j = jitter(7);
        assert!((0.0..1.0).contains(&j));
    }

    #[test]
    fn a_webhook_address_is_shown_without_its_secret_path() {
        assert_eq!(redact("https://hooks.slack.com/services/T0/B0/XYZ"), "https://hooks.slack.com/…");
        assert_eq!(redact("http://127.0.0.1:9"), "http://127.0.0.1:9");
    }
}

//! Who may deliver: HubSpot's `X-HubSpot-Signature-v3` (an HMAC-SHA256 of
//! the request made with the app's client secret, at most five minutes old)
//! and Pipedrive's HTTP basic auth. Every comparison takes the same time
//! whatever the bytes (no guessing a signature byte by byte).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use hmac::{KeyInit, Mac};
use sha2::{Digest, Sha256};

use super::Request;

/// How old a signed request may be.
pub const MAX_AGE: chrono::Duration = chrono::Duration::minutes(5);

pub const SIGNATURE_HEADER: &str = "X-HubSpot-Signature-v3";
pub const TIMESTAMP_HEADER: &str = "X-HubSpot-Request-Timestamp";

/// The URI as HubSpot signs it: the characters it escapes in URLs written back as themselves.
fn decoded(uri: &str) -> String {
    const BACK: [(&str, &str); 12] = [
        ("%3A", ":"),
        ("%2F", "/"),
        ("%3F", "?"),
        ("%40", "@"),
        ("%21", "!"),
        ("%24", "$"),
        ("%27", "'"),
        ("%28", "("),
        ("%29", ")"),
        ("%2A", "*"),
        ("%2C", ","),
        ("%3B", ";"),
    ];
    let mut out = uri.to_string();
    for (from, to) in BACK {
        out = out.replace(from, to).replace(&from.to_lowercase(), to);
    }
    out
}

/// The signature HubSpot sends for a request to `url` (scheme, host, path
/// and query) with `body` at `timestamp` (milliseconds, as its header says).
pub fn hubspot_signature(secret: &str, method: &str, url: &str, body: &[u8], timestamp: &str) -> String {
    STANDARD.encode(mac(secret, method, url, body, timestamp).finalize().into_bytes())
}

fn mac(secret: &str, method: &str, url: &str, body: &[u8], timestamp: &str) -> hmac::Hmac<Sha256> {
    let mut mac =
        <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(method.as_bytes());
    mac.update(decoded(url).as_bytes());
    mac.update(body);
    mac.update(timestamp.as_bytes());
    mac
}

/// Check a HubSpot request's v3 signature: `Err` says why it is refused.
pub fn check_hubspot(secret: &str, url: &str, request: &Request, now: DateTime<Utc>) -> Result<(), String> {
    let signature =
        request.header(SIGNATURE_HEADER).ok_or_else(|| format!("no {SIGNATURE_HEADER} header: unsigned"))?;
    let stamp = request.header(TIMESTAMP_HEADER).ok_or_else(|| format!("no {TIMESTAMP_HEADER} header"))?;
    let millis: i64 =
        stamp.trim().parse().map_err(|_| format!("{TIMESTAMP_HEADER} {stamp:?} is not a time in milliseconds"))?;
    let sent = DateTime::<Utc>::from_timestamp_millis(millis)
        .ok_or_else(|| format!("{TIMESTAMP_HEADER} {stamp:?} is out of range"))?;
    if now - sent > MAX_AGE {
        return Err(format!("signed at {}, more than 5 minutes ago: a replay is refused", crate::time::stamp(sent)));
    }
    if sent - now > MAX_AGE {
        return Err(format!(
            "signed at {}, more than 5 minutes ahead of this server's clock",
            crate::time::stamp(sent)
        ));
    }
    let given = STANDARD.decode(signature.trim()).map_err(|_| format!("{SIGNATURE_HEADER} is not base64"))?;
    mac(secret, request.method, url, request.body, stamp)
        .verify_slice(&given)
        .map_err(|_| format!("{SIGNATURE_HEADER} does not match: not signed with the app's client secret for {url}"))
}

/// Check Pipedrive's basic auth against the configured user and password.
pub fn check_basic(user: &str, password: &str, request: &Request) -> Result<(), String> {
    let header = request.header("Authorization").ok_or("no Authorization header (basic auth is configured)")?;
    let (scheme, encoded) = header.trim().split_once(' ').ok_or("the Authorization header is not basic auth")?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err("the Authorization header is not basic auth".into());
    }
    let given = STANDARD.decode(encoded.trim()).map_err(|_| "the basic auth is not base64")?;
    let expected = format!("{user}:{password}");
    // Equal digests: equal texts, compared in a time that does not depend on where they differ.
    let (a, b) = (Sha256::digest(&given), Sha256::digest(expected.as_bytes()));
    let differ = a.iter().zip(b.iter()).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    if differ == 0 { Ok(()) } else { Err("wrong user or password".into()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_characters_are_signed_as_themselves() {
        assert_eq!(decoded("https://h/webhooks/hubspot?a=%3A%2f%40x%20"), "https://h/webhooks/hubspot?a=:/@x%20");
    }
}

//! Who is asking: a token (`Authorization: Bearer`, for the API) or a
//! browser session signed in with one (a cookie, for the page).
//!
//! Tokens and sessions are kept as their SHA-256 (a stolen database holds no
//! usable secret). The session cookie is `HttpOnly` (scripts cannot read it),
//! `SameSite=Strict` (other sites' forms do not carry it), and `Secure` behind
//! a proxy that says it took HTTPS. Each session has a form token that every
//! form posts back: a cross-site form cannot know it. A form's `Origin` (or
//! `Referer`), when the browser sends one, must be this server's.

use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode, header};
use dealflow::store::backend::SessionRow;
use dealflow::time::{now_stamp, stamp};

use super::{App, Fail};
use crate::cli::token;

pub const COOKIE: &str = "dealflow_session";
/// How long a browser stays signed in.
const SESSION_HOURS: i64 = 12;
/// The role that may close any task, whoever holds it (DOMAIN.md: sales
/// managers get the escalations and set the targets).
pub const MANAGER_ROLE: &str = "sales_manager";

/// The person a request acts as.
#[derive(Debug, Clone)]
pub struct Actor {
    /// Their key in the store (id, else name).
    pub key: String,
    /// How the page names them.
    pub label: String,
    pub role: String,
    /// May close any task.
    pub manager: bool,
    /// The session's form token (`None` for a bearer token).
    pub csrf: Option<String>,
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token.trim())
}

pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    let jar = axum_extra::extract::cookie::CookieJar::from_headers(headers);
    jar.get(COOKIE).map(|c| c.value().to_string())
}

/// Who asks: `Ok(None)` when the request carries neither a token nor a
/// session; an error when what it carries is not good (401) or its person is
/// not on the team any more (403). `sessions`: whether a browser session counts.
pub async fn actor(app: &Arc<App>, headers: &HeaderMap, sessions: bool) -> Result<Option<Actor>, Fail> {
    let bearer = bearer(headers).map(str::to_string);
    let cookie = if sessions { session_cookie(headers) } else { None };
    if bearer.is_none() && cookie.is_none() {
        return Ok(None);
    }
    app.blocking(move |store, playbook| {
        let now = now_stamp();
        let (key, csrf) = if let Some(text) = bearer {
            let Some(t) = store.token_by_hash(&token::hash(&text))? else {
                return Err(Fail::new(
                    StatusCode::UNAUTHORIZED,
                    "unknown token (`dealflow token list` shows the live ones)",
                ));
            };
            if let Some(at) = &t.revoked_at {
                return Err(Fail::new(StatusCode::UNAUTHORIZED, format!("token {} was revoked at {at}", t.id)));
            }
            // Last used, to the minute: not a write per request.
            if t.last_used_at.as_deref().is_none_or(|l| l.get(..16) != now.get(..16)) {
                store.touch_token(&t.id, &now)?;
            }
            (t.person, None)
        } else {
            let cookie = cookie.unwrap_or_default();
            match store.session(&token::hash(&cookie), &now)? {
                Some(s) => (s.person, Some(s.csrf)),
                None => {
                    return Err(Fail::new(StatusCode::UNAUTHORIZED, "signed out (the session ended): sign in again"));
                }
            }
        };
        let config = &playbook.config;
        let Some(person) = config.find_person(&key) else {
            return Err(Fail::new(
                StatusCode::FORBIDDEN,
                format!("{key:?} is not on the team any more ([[team]] in config.toml)"),
            ));
        };
        Ok(Some(Actor {
            key: person.key().to_string(),
            label: config.person_label(person.key()),
            role: person.role.clone(),
            manager: person.has_role(MANAGER_ROLE),
            csrf,
        }))
    })
    .await
}

/// Sign in with a token's text: a new session (its cookie value, and the
/// `Set-Cookie` header for it).
pub async fn sign_in(app: &Arc<App>, text: String, secure: bool) -> Result<String, Fail> {
    app.blocking(move |store, playbook| {
        let now = chrono::Utc::now();
        let token = match store.token_by_hash(&token::hash(text.trim()))? {
            Some(t) if t.revoked_at.is_none() => t,
            Some(t) => return Err(Fail::new(StatusCode::UNAUTHORIZED, format!("token {} was revoked", t.id))),
            None => return Err(Fail::new(StatusCode::UNAUTHORIZED, "that is not a token of this team")),
        };
        if playbook.config.find_person(&token.person).is_none() {
            return Err(Fail::new(StatusCode::FORBIDDEN, format!("{:?} is not on the team any more", token.person)));
        }
        let id = token::random_hex(32)?;
        let session = SessionRow {
            person: token.person.clone(),
            token_id: token.id.clone(),
            csrf: token::random_hex(16)?,
            expires_at: stamp(now + chrono::Duration::hours(SESSION_HOURS)),
        };
        store.create_session(&token::hash(&id), &session, &stamp(now))?;
        store.touch_token(&token.id, &stamp(now))?;
        let secure = if secure { "; Secure" } else { "" };
        Ok(format!("{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{secure}", SESSION_HOURS * 3600))
    })
    .await
}

pub async fn sign_out(app: &Arc<App>, headers: &HeaderMap) -> Result<String, Fail> {
    if let Some(cookie) = session_cookie(headers) {
        app.blocking(move |store, _| Ok(store.end_session(&token::hash(&cookie))?)).await?;
    }
    Ok(format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"))
}

/// The request came through a proxy that took HTTPS (the cookie is then `Secure`).
pub fn via_https(headers: &HeaderMap) -> bool {
    headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()).is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

/// A form post from another site: its `Origin` (else `Referer`) names
/// another host than the one asked. Browsers send one of them with a form.
pub fn cross_site(headers: &HeaderMap) -> bool {
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let from = headers.get(header::ORIGIN).or_else(|| headers.get(header::REFERER)).and_then(|v| v.to_str().ok());
    match from {
        None => false,
        Some("null") => true,
        Some(url) => {
            let rest = url.split_once("://").map_or(url, |(_, r)| r);
            let authority = rest.split('/').next().unwrap_or_default();
            !authority.eq_ignore_ascii_case(host)
        }
    }
}

/// The form token posted matches the session's (in time independent of where they differ).
pub fn csrf_ok(actor: &Actor, posted: &str) -> bool {
    let Some(want) = &actor.csrf else { return false };
    want.len() == posted.len() && want.bytes().zip(posted.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn a_form_from_another_site_is_cross_site_and_one_from_here_is_not() {
        assert!(!cross_site(&headers(&[("host", "crm.example:8642"), ("origin", "https://crm.example:8642")])));
        assert!(cross_site(&headers(&[("host", "crm.example:8642"), ("origin", "https://evil.example")])));
        assert!(cross_site(&headers(&[("host", "crm.example"), ("origin", "null")])));
        assert!(cross_site(&headers(&[("host", "crm.example"), ("referer", "https://evil.example/x")])));
        assert!(!cross_site(&headers(&[("host", "crm.example"), ("referer", "http://crm.example/queue")])));
        assert!(
            !cross_site(&headers(&[("host", "crm.example")])),
            "a client that sends neither (curl) is not a browser form"
        );
    }

    #[test]
    fn a_form_token_must_be_the_sessions_own() {
        let actor = |csrf: Option<&str>| Actor {
            key: "ana".into(),
            label: "Ana".into(),
            role: "sales_rep".into(),
            manager: false,
            csrf: csrf.map(str::to_string),
        };
        assert!(csrf_ok(&actor(Some("abc123")), "abc123"));
        assert!(!csrf_ok(&actor(Some("abc123")), "abc124"));
        assert!(!csrf_ok(&actor(Some("abc123")), "abc12"));
        assert!(!csrf_ok(&actor(None), ""), "a bearer token has no form token");
    }

    #[test]
    fn a_bearer_token_is_read_from_its_header() {
        assert_eq!(bearer(&headers(&[("authorization", "Bearer dft_abc")])), Some("dft_abc"));
        assert_eq!(bearer(&headers(&[("authorization", "bearer  dft_abc ")])), Some("dft_abc"));
        assert_eq!(bearer(&headers(&[("authorization", "Basic eHg6eXk=")])), None);
    }
}

//! Access tokens and browser sessions (`dealflow token`, `dealflow serve`).

use crate::store::Store;
use crate::store::backend::{SessionRow, TokenRow};

fn token(id: &str, person: &str, at: &str) -> TokenRow {
    TokenRow {
        id: id.into(),
        person: person.into(),
        label: Some(format!("{person}'s laptop")),
        created_at: at.into(),
        last_used_at: None,
        revoked_at: None,
    }
}

pub fn tokens_are_found_by_hash_listed_and_revoked_once(s: &Store) {
    // Made in the same second: listed in the order made, not by id.
    s.create_token(&token("tok_b", "ana", "2026-01-02T00:00:00Z"), "hash-b").unwrap();
    s.create_token(&token("tok_a", "bo", "2026-01-02T00:00:00Z"), "hash-a").unwrap();
    assert!(s.create_token(&token("tok_c", "cy", "2026-01-03T00:00:00Z"), "hash-a").is_err(), "a hash is unique");
    assert!(s.create_token(&token("tok_a", "cy", "2026-01-03T00:00:00Z"), "hash-c").is_err(), "an id is unique");
    let listed: Vec<String> = s.tokens().unwrap().into_iter().map(|t| t.id).collect();
    assert_eq!(listed, ["tok_b", "tok_a"], "in the order made");
    assert_eq!(s.token_by_hash("hash-b").unwrap(), Some(token("tok_b", "ana", "2026-01-02T00:00:00Z")));
    assert_eq!(s.token_by_hash("nope").unwrap(), None);
    s.touch_token("tok_b", "2026-01-05T00:00:00Z").unwrap();
    assert_eq!(s.token_by_hash("hash-b").unwrap().unwrap().last_used_at.as_deref(), Some("2026-01-05T00:00:00Z"));
    assert!(s.revoke_token("tok_b", "2026-01-06T00:00:00Z").unwrap());
    assert!(!s.revoke_token("tok_b", "2026-01-07T00:00:00Z").unwrap(), "revoked once");
    assert!(!s.revoke_token("tok_zzz", "2026-01-07T00:00:00Z").unwrap(), "no such token");
    let revoked = s.token_by_hash("hash-b").unwrap().unwrap();
    assert_eq!(revoked.revoked_at.as_deref(), Some("2026-01-06T00:00:00Z"));
    assert_eq!(s.token_by_hash("hash-a").unwrap().unwrap().revoked_at, None, "the other one is untouched");
}

pub fn a_session_lives_until_it_expires_ends_or_its_token_is_revoked(s: &Store) {
    s.create_token(&token("tok_a", "ana", "2026-01-01T00:00:00Z"), "hash-a").unwrap();
    s.create_token(&token("tok_b", "bo", "2026-01-01T00:00:00Z"), "hash-b").unwrap();
    let session = |token_id: &str, person: &str| SessionRow {
        person: person.into(),
        token_id: token_id.into(),
        csrf: format!("csrf-{person}"),
        expires_at: "2026-01-10T00:00:00Z".into(),
    };
    s.create_session("s1", &session("tok_a", "ana"), "2026-01-02T00:00:00Z").unwrap();
    s.create_session("s2", &session("tok_a", "ana"), "2026-01-02T00:00:00Z").unwrap();
    s.create_session("s3", &session("tok_b", "bo"), "2026-01-02T00:00:00Z").unwrap();
    assert_eq!(s.session("s1", "2026-01-03T00:00:00Z").unwrap(), Some(session("tok_a", "ana")));
    assert_eq!(s.session("s1", "2026-01-10T00:00:00Z").unwrap(), None, "expired");
    assert_eq!(s.session("nope", "2026-01-03T00:00:00Z").unwrap(), None);
    s.end_session("s1").unwrap();
    assert_eq!(s.session("s1", "2026-01-03T00:00:00Z").unwrap(), None, "signed out");
    assert!(s.session("s2", "2026-01-03T00:00:00Z").unwrap().is_some());
    s.revoke_token("tok_a", "2026-01-04T00:00:00Z").unwrap();
    assert_eq!(s.session("s2", "2026-01-05T00:00:00Z").unwrap(), None, "its token was revoked");
    assert_eq!(s.session("s3", "2026-01-05T00:00:00Z").unwrap(), Some(session("tok_b", "bo")));
}

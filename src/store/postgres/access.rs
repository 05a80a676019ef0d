//! Access to the web page and the HTTP API: tokens (kept as their SHA-256),
//! browser sessions, and the history of rules versions in force.

use postgres::Row;

use super::Postgres;
use crate::error::Result;
use crate::store::backend::{SessionRow, StoredVersion, TokenRow};

const TOKEN_COLUMNS: &str = "id, person, label, created_at, last_used_at, revoked_at";

fn token(r: &Row) -> std::result::Result<TokenRow, postgres::Error> {
    Ok(TokenRow {
        id: r.try_get(0)?,
        person: r.try_get(1)?,
        label: r.try_get(2)?,
        created_at: r.try_get(3)?,
        last_used_at: r.try_get(4)?,
        revoked_at: r.try_get(5)?,
    })
}

impl Postgres {
    pub fn rules_loads(&self) -> Result<Vec<StoredVersion>> {
        self.all("SELECT version, loaded_at FROM rules_loads ORDER BY seq", &[], |r| {
            Ok(StoredVersion { version: r.try_get(0)?, loaded_at: r.try_get(1)? })
        })
    }

    pub fn create_token(&self, t: &TokenRow, hash: &str) -> Result<()> {
        self.exec(
            "INSERT INTO api_tokens (id, hash, person, label, created_at, last_used_at, revoked_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[&t.id, &hash, &t.person, &t.label, &t.created_at, &t.last_used_at, &t.revoked_at],
        )?;
        Ok(())
    }

    pub fn tokens(&self) -> Result<Vec<TokenRow>> {
        self.all(&format!("SELECT {TOKEN_COLUMNS} FROM api_tokens ORDER BY seq"), &[], token)
    }

    pub fn token_by_hash(&self, hash: &str) -> Result<Option<TokenRow>> {
        self.one(&format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE hash = $1"), &[&hash], token)
    }

    pub fn revoke_token(&self, id: &str, now: &str) -> Result<bool> {
        Ok(self.exec("UPDATE api_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL", &[&id, &now])? == 1)
    }

    pub fn touch_token(&self, id: &str, now: &str) -> Result<()> {
        self.exec("UPDATE api_tokens SET last_used_at = $2 WHERE id = $1", &[&id, &now])?;
        Ok(())
    }

    pub fn create_session(&self, hash: &str, s: &SessionRow, now: &str) -> Result<()> {
        self.exec(
            "INSERT INTO web_sessions (hash, person, token_id, csrf, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[&hash, &s.person, &s.token_id, &s.csrf, &now, &s.expires_at],
        )?;
        Ok(())
    }

    pub fn session(&self, hash: &str, now: &str) -> Result<Option<SessionRow>> {
        self.one(
            "SELECT s.person, s.token_id, s.csrf, s.expires_at FROM web_sessions s
             JOIN api_tokens t ON t.id = s.token_id
             WHERE s.hash = $1 AND s.expires_at > $2 AND t.revoked_at IS NULL",
            &[&hash, &now],
            |r| {
                Ok(SessionRow {
                    person: r.try_get(0)?,
                    token_id: r.try_get(1)?,
                    csrf: r.try_get(2)?,
                    expires_at: r.try_get(3)?,
                })
            },
        )
    }

    pub fn end_session(&self, hash: &str) -> Result<()> {
        self.exec("DELETE FROM web_sessions WHERE hash = $1", &[&hash])?;
        Ok(())
    }
}

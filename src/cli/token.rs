//! `dealflow token`: the access tokens people use for the web page and the
//! HTTP API (`dealflow serve`). A token acts as one member of the team; the
//! store keeps only its SHA-256, so the text is shown once, at creation.

use anyhow::Result;
use clap::Subcommand;
use dealflow::store::backend::TokenRow;
use dealflow::time::now_stamp;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::Outcome;
use super::context::Context;
use super::output::{self, or_dash};

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Subcommand)]
enum Action {
    /// Make a token for a member of the team and print it (once: only its hash is kept).
    Create {
        /// Who it acts as: a name or id on the team (`[[team]]` in config.toml).
        #[arg(long = "as", value_name = "NAME")]
        who: String,
        /// A note to tell tokens apart (`ana's laptop`, `zapier`).
        #[arg(long)]
        label: Option<String>,
        /// Print a JSON object (with the token).
        #[arg(long)]
        json: bool,
    },
    /// List the tokens (never their text): who, when made, last used, revoked.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token by its id (`tok_…`, from `token list`); its browser sessions end too.
    Revoke {
        id: String,
        #[arg(long)]
        json: bool,
    },
}

/// The SHA-256 of a token's text, in hex: what the store keeps and looks up.
pub fn hash(text: &str) -> String {
    Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// `n` random bytes in hex, from the operating system's generator.
pub fn random_hex(n: usize) -> Result<String> {
    let mut bytes = vec![0u8; n];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no random numbers from the system: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// A new token for `person` (a key), kept hashed: its row and its text.
pub fn create(store: &dealflow::store::Store, person: &str, label: Option<&str>) -> Result<(TokenRow, String)> {
    let row = TokenRow {
        id: format!("tok_{}", random_hex(6)?),
        person: person.to_string(),
        label: label.map(str::to_string),
        created_at: now_stamp(),
        last_used_at: None,
        revoked_at: None,
    };
    let text = format!("dft_{}", random_hex(32)?);
    store.create_token(&row, &hash(&text))?;
    Ok((row, text))
}

pub fn run(ctx: &Context, args: Args) -> Result<Outcome> {
    let config = ctx.config()?;
    match args.action {
        Action::Create { who, label, json } => {
            let person = super::tasks::worker(&config, &who, false)?;
            let store = ctx.store(&config)?;
            let (row, text) = create(&store, &person, label.as_deref())?;
            if json {
                output::json(&json!({"token": text, "id": row.id, "person": row.person, "label": row.label,
                    "created_at": row.created_at}))?;
            } else {
                println!("{text}");
                eprintln!(
                    "token {} for {}: keep it now, it is not shown again (revoke it with `dealflow token revoke {}`)",
                    row.id,
                    output::printable(&config.person_label(&row.person)),
                    row.id
                );
            }
        }
        Action::List { json } => {
            let store = ctx.existing_store(&config)?;
            let tokens = store.tokens()?;
            if json {
                output::json(&tokens)?;
            } else if tokens.is_empty() {
                println!("no tokens (make one with `dealflow token create --as NAME`)");
            } else {
                let mut t = output::table(&["ID", "PERSON", "LABEL", "CREATED", "LAST USED", "REVOKED"]);
                t.whole(&["ID", "CREATED", "LAST USED", "REVOKED"])
                    .min("LABEL", 12)
                    .drop_first(&["LABEL", "LAST USED"]);
                for row in &tokens {
                    t.add_row(vec![
                        row.id.clone(),
                        config.person_label(&row.person),
                        or_dash(row.label.as_deref()),
                        row.created_at.clone(),
                        or_dash(row.last_used_at.as_deref()),
                        or_dash(row.revoked_at.as_deref()),
                    ]);
                }
                println!("{t}");
            }
        }
        Action::Revoke { id, json } => {
            let store = ctx.existing_store(&config)?;
            if !store.revoke_token(&id, &now_stamp())? {
                let known = store.tokens()?;
                match known.iter().find(|t| t.id == id) {
                    Some(t) => {
                        anyhow::bail!("token {id} was revoked already, at {}", t.revoked_at.as_deref().unwrap_or("?"))
                    }
                    None => {
                        let h = dealflow::error::hint(&id, known.iter().map(|t| t.id.as_str()));
                        anyhow::bail!("no token {id}{h} (`dealflow token list` shows them)")
                    }
                }
            }
            if json {
                output::json(&json!({"revoked": id}))?;
            } else {
                println!("token {id} revoked; its sessions are signed out");
            }
        }
    }
    Ok(Outcome::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_is_the_sha256_in_hex() {
        assert_eq!(hash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn random_hex_has_the_length_asked_and_differs() {
        let (a, b) = (random_hex(16).unwrap(), random_hex(16).unwrap());
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
    }
}

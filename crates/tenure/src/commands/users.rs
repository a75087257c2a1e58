//! `tenure users`, `tenure tokens` and `tenure audit`: the people who sign in, the tokens
//! programs use, and the audit log. Every change to a user or a token is written to the audit
//! log with the actor `cli` (the command line on the host).

use tenure_domain::model::Role;
use tenure_domain::Timestamp;
use tenure_store::{secret, AuditEntry, Book, Credential, CredentialKind, Store, User};

use crate::cli::{TokenCommand, UserCommand};
use crate::data_dir::DataDir;
use crate::failure::{Failure, Outcome};

/// Where a password comes from: the environment (never a command-line argument, which other
/// users of the host could read), else generated.
const PASSWORD_VAR: &str = "TENURE_PASSWORD";

/// The password's hash, and the password itself when it was generated (to print once).
fn password() -> Outcome<(String, Option<String>)> {
    let (password, generated) = match std::env::var(PASSWORD_VAR) {
        Ok(p) if !p.is_empty() => (p, false),
        _ => (secret::password::generate()?, true),
    };
    let hash = secret::password::hash(&password)
        .map_err(|e| Failure::rejected(format!("error: {PASSWORD_VAR}: {e}")))?;
    Ok((hash, generated.then_some(password)))
}

/// A normalised email: trimmed, lower-cased, and shaped like an address.
fn email(raw: &str) -> Outcome<String> {
    let e = raw.trim().to_lowercase();
    let valid = e.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty()
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
    }) && !e.chars().any(char::is_whitespace);
    if valid {
        Ok(e)
    } else {
        Err(Failure::rejected(format!(
            "error: `{raw}` is not an email address (use name@example.com)"
        )))
    }
}

/// Appends what the command line did to the audit log (actor `cli`).
pub(crate) async fn audit_cli(
    store: &dyn Store,
    now: Timestamp,
    action: &str,
    target: &str,
    detail: serde_json::Value,
) -> Outcome {
    store
        .append_audit(&AuditEntry {
            seq: 0,
            at: now,
            actor: "cli".into(),
            action: action.into(),
            target: Some(target.into()),
            outcome: "ok".into(),
            detail,
        })
        .await?;
    Ok(())
}

pub async fn run(data_dir: &DataDir, command: UserCommand, now: Timestamp) -> Outcome {
    let store = data_dir.open_store().await?;
    match command {
        UserCommand::Add {
            email: raw,
            role,
            name,
            book,
            pii,
            manager,
        } => {
            let email = email(&raw)?;
            let manager = manager.map(|m| self::email(&m)).transpose()?;
            let role = Role::from_name(&role).ok_or_else(|| {
                Failure::rejected(format!(
                    "error: --role `{role}`: expected one of {}",
                    Role::NAMES.join(", ")
                ))
            })?;
            let book = match book {
                None if role == Role::Csm => Book::Own,
                None => Book::All,
                Some(b) => Book::from_name(&b).ok_or_else(|| {
                    Failure::rejected(format!("error: --book `{b}`: expected own, team or all"))
                })?,
            };
            let (hash, generated) = password()?;
            let id = format!("user_{}", &secret::hash(&email)[..12]);
            let user = User {
                id,
                email: email.clone(),
                name,
                role,
                book,
                pii,
                password_hash: hash,
                created_at: now,
                disabled_at: None,
                manager: manager.clone(),
            };
            if !store.insert_user(&user).await? {
                return Err(Failure::rejected(format!(
                    "error: a user with the email {email} exists already"
                )));
            }
            audit_cli(
                store.as_ref(),
                now,
                "user.add",
                &email,
                serde_json::json!({"role": role.name(), "book": book.name(), "pii": pii,
                    "manager": manager}),
            )
            .await?;
            println!(
                "added {email}: {}, sees {} accounts{}{}",
                role.name(),
                match book {
                    Book::Own => "their own",
                    Book::Team => "their team's",
                    Book::All => "all",
                },
                if pii { ", personal data unmasked" } else { "" },
                manager
                    .map(|m| format!(", reports to {m}"))
                    .unwrap_or_default()
            );
            if let Some(password) = generated {
                println!("password (shown once): {password}");
            }
            Ok(())
        }
        UserCommand::List { json } => {
            let users = store.users().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&users)?);
                return Ok(());
            }
            if users.is_empty() {
                println!("no users yet: add one with `tenure users add EMAIL --role ROLE`");
            }
            for u in users {
                println!(
                    "{:<32} {:<8} book {:<4} pii {:<3} {}{}{}",
                    u.email,
                    u.role.name(),
                    u.book.name(),
                    if u.pii { "yes" } else { "no" },
                    u.name.as_deref().unwrap_or(""),
                    u.manager
                        .as_deref()
                        .map(|m| format!(" (reports to {m})"))
                        .unwrap_or_default(),
                    if u.disabled_at.is_some() {
                        " (disabled)"
                    } else {
                        ""
                    }
                );
            }
            Ok(())
        }
        UserCommand::Manager { email: raw, to } => {
            let email = email(&raw)?;
            let to = to.map(|m| self::email(&m)).transpose()?;
            if to.as_deref() == Some(email.as_str()) {
                return Err(Failure::rejected(format!(
                    "error: {email} cannot report to themselves"
                )));
            }
            if !store.set_manager(&email, to.as_deref()).await? {
                return Err(Failure::rejected(format!(
                    "error: no user has the email {email}"
                )));
            }
            audit_cli(
                store.as_ref(),
                now,
                "user.manager",
                &email,
                serde_json::json!({"manager": to}),
            )
            .await?;
            match to {
                Some(m) => println!("{email} reports to {m}"),
                None => println!("{email} reports to nobody"),
            }
            Ok(())
        }
        UserCommand::Disable { email: raw } => {
            let email = email(&raw)?;
            if !store.disable_user(&email, now).await? {
                return Err(Failure::rejected(format!(
                    "error: no enabled user has the email {email}"
                )));
            }
            audit_cli(
                store.as_ref(),
                now,
                "user.disable",
                &email,
                serde_json::json!({}),
            )
            .await?;
            println!("disabled {email}");
            Ok(())
        }
        UserCommand::Password { email: raw } => {
            let email = email(&raw)?;
            let (hash, generated) = password()?;
            if !store.set_password_hash(&email, &hash).await? {
                return Err(Failure::rejected(format!(
                    "error: no user has the email {email}"
                )));
            }
            audit_cli(
                store.as_ref(),
                now,
                "user.password",
                &email,
                serde_json::json!({}),
            )
            .await?;
            println!("password set for {email}");
            if let Some(password) = generated {
                println!("password (shown once): {password}");
            }
            Ok(())
        }
    }
}

/// The demo's users: one per role, the CSM being the owner of the most accounts (so that
/// their book is a real one), each with a generated password. Returns (email, role, password).
pub async fn add_demo_users(
    store: &dyn Store,
    now: Timestamp,
) -> Outcome<Vec<(String, Role, String)>> {
    let mut owners: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut after: Option<String> = None;
    loop {
        let page = store
            .list(tenure_domain::RecordKind::Account, after.as_deref(), 5000)
            .await?;
        for r in &page {
            if let tenure_domain::Record::Account(a) = r {
                if let Some(o) = &a.owner {
                    *owners.entry(o.as_str().to_owned()).or_default() += 1;
                }
            }
        }
        match page.last() {
            Some(last) if page.len() == 5000 => after = Some(last.external_id().to_owned()),
            _ => break,
        }
    }
    let csm = owners
        .into_iter()
        .filter(|(o, _)| o.starts_with("csm-"))
        .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(&a.0)))
        .map(|(o, _)| o)
        .unwrap_or_else(|| "csm@tenure.example".into());
    let mut out = Vec::new();
    for (email, role, pii) in [
        ("admin@tenure.example".to_owned(), Role::Admin, true),
        ("leader@tenure.example".to_owned(), Role::Leader, false),
        ("manager@tenure.example".to_owned(), Role::Manager, true),
        (csm, Role::Csm, true),
        ("product@tenure.example".to_owned(), Role::Product, false),
        ("viewer@tenure.example".to_owned(), Role::Viewer, false),
    ] {
        let password = secret::password::generate()?;
        let user = User {
            id: format!("user_{}", &secret::hash(&email)[..12]),
            email: email.clone(),
            name: None,
            role,
            book: if role == Role::Csm {
                Book::Own
            } else {
                Book::All
            },
            pii,
            password_hash: secret::password::hash(&password)
                .map_err(|e| Failure::rejected(format!("error: {e}")))?,
            created_at: now,
            disabled_at: None,
            manager: None,
        };
        if store.insert_user(&user).await? {
            audit_cli(
                store,
                now,
                "user.add",
                &email,
                serde_json::json!({"role": role.name(), "book": user.book.name(), "pii": pii}),
            )
            .await?;
            out.push((email, role, password));
        }
    }
    Ok(out)
}

pub async fn tokens(data_dir: &DataDir, command: TokenCommand, now: Timestamp) -> Outcome {
    let store = data_dir.open_store().await?;
    let make = |kind: CredentialKind,
                name: String,
                scopes: Vec<String>|
     -> Outcome<(Credential, String)> {
        let made = secret::generate(kind)?;
        Ok((
            Credential {
                id: made.id,
                kind,
                name,
                scopes,
                secret_hash: made.hash,
                created_at: now,
                revoked_at: None,
            },
            made.secret,
        ))
    };
    let created = match command {
        TokenCommand::Create { name, scope, json } => {
            let scopes = tenure_server::authz::Scopes::parse(&scope)
                .map_err(|e| Failure::rejected(format!("error: --scope: {e}")))?;
            let names: Vec<String> = scopes.list().iter().map(|s| s.name().to_owned()).collect();
            Some((make(CredentialKind::ApiToken, name, names)?, json))
        }
        TokenCommand::WriteKey { name, json } => Some((
            make(CredentialKind::WriteKey, name, vec!["ingest".into()])?,
            json,
        )),
        TokenCommand::List { json } => {
            let all = store.credentials().await?;
            if json {
                let rows: Vec<serde_json::Value> = all
                    .iter()
                    .map(|c| {
                        serde_json::json!({
                            "id": c.id, "kind": c.kind.name(), "name": c.name,
                            "scopes": c.scopes, "created_at": c.created_at,
                            "revoked_at": c.revoked_at,
                        })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&rows)?);
                return Ok(());
            }
            for c in all {
                println!(
                    "{:<18} {:<11} {:<16} {}{}",
                    c.id,
                    c.kind.name(),
                    c.name,
                    c.scopes.join(","),
                    if c.revoked_at.is_some() {
                        " (revoked)"
                    } else {
                        ""
                    }
                );
            }
            return Ok(());
        }
        TokenCommand::Revoke { id } => {
            if !store.revoke_credential(&id, now).await? {
                return Err(Failure::rejected(format!(
                    "error: no live token or write key has the id {id} (see `tenure tokens list`)"
                )));
            }
            audit_cli(
                store.as_ref(),
                now,
                "token.revoke",
                &id,
                serde_json::json!({}),
            )
            .await?;
            println!("revoked {id}");
            return Ok(());
        }
    };
    if let Some(((credential, token), json)) = created {
        store.insert_credential(&credential).await?;
        audit_cli(
            store.as_ref(),
            now,
            "token.create",
            &credential.id,
            serde_json::json!({"kind": credential.kind.name(), "name": credential.name,
                "scopes": credential.scopes}),
        )
        .await?;
        if json {
            println!(
                "{}",
                serde_json::json!({"id": credential.id, "token": token, "scopes": credential.scopes})
            );
        } else {
            println!(
                "{} {} ({}): {}",
                credential.kind.name(),
                credential.id,
                credential.scopes.join(", "),
                token
            );
            println!("shown once: only its hash is kept");
        }
    }
    Ok(())
}

pub async fn audit(data_dir: &DataDir, after: i64, limit: u32, json: bool) -> Outcome {
    let store = data_dir.open_store().await?;
    let entries = store.audit_log(after, limit).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&entries)?);
        return Ok(());
    }
    for e in &entries {
        println!(
            "{:>6} {} {:<28} {:<16} {:<28} {} {}",
            e.seq,
            e.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            e.actor,
            e.action,
            e.target.as_deref().unwrap_or("-"),
            e.outcome,
            if e.detail.as_object().is_some_and(|o| o.is_empty()) {
                String::new()
            } else {
                e.detail.to_string()
            }
        );
    }
    Ok(())
}

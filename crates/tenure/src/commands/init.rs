//! `tenure init`: a new data directory with the default model, an admin token and a write key.

use anyhow::Context;
use serde::Serialize;
use tenure_domain::model::DEFAULT_MODEL_TOML;
use tenure_domain::{SuccessModel, Timestamp};
use tenure_store::{secret, Credential, CredentialKind};

use crate::data_dir::{apply_model, write_atomically, DataDir};
use crate::failure::{Failure, Outcome};

/// The secrets made by `init`, shown once.
#[derive(Debug, Serialize)]
pub struct Secrets {
    pub admin_token: String,
    pub write_key: String,
}

pub async fn run(data_dir: &DataDir, json: bool, now: Timestamp) -> Outcome<Secrets> {
    let secrets = initialise(data_dir, now).await?;
    if json {
        println!(
            "{}",
            serde_json::to_string(&secrets).context("printing JSON")?
        );
    } else {
        println!("Initialised {}", data_dir.root.display());
        println!("  success model   {}", data_dir.model_path().display());
        println!("  store           {}", data_dir.location()?.describe());
        println!();
        println!("Keep these secrets now: only their hashes are stored.");
        println!("  admin API token {}", secrets.admin_token);
        println!("  write key       {}", secrets.write_key);
    }
    Ok(secrets)
}

/// Creates the directory, the store, the model version and the credentials. The model file is
/// written last, so a failed `init` can simply be run again.
pub async fn initialise(data_dir: &DataDir, now: Timestamp) -> Outcome<Secrets> {
    if data_dir.is_initialised() {
        return Err(Failure::rejected(format!(
            "error: {} is already a tenure data directory; choose another --data-dir",
            data_dir.root.display()
        )));
    }
    std::fs::create_dir_all(&data_dir.root)
        .with_context(|| format!("creating {}", data_dir.root.display()))?;
    restrict_permissions(&data_dir.root)?;
    let store = data_dir.open_store_unchecked().await?;
    let model = SuccessModel::default_model();
    apply_model(
        store.as_ref(),
        DEFAULT_MODEL_TOML,
        &model,
        now,
        "tenure init",
    )
    .await?;
    let make = |kind: CredentialKind, name: &str, scopes: &[&str]| {
        let made = secret::generate(kind)?;
        let credential = Credential {
            id: made.id,
            kind,
            name: name.to_owned(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            secret_hash: made.hash,
            created_at: now,
            revoked_at: None,
        };
        Ok::<_, tenure_store::StoreError>((credential, made.secret))
    };
    let (admin, admin_token) = make(CredentialKind::AdminToken, "admin", &["admin"])?;
    let (key, write_key) = make(CredentialKind::WriteKey, "default", &["ingest"])?;
    store
        .insert_credential(&admin)
        .await
        .context("storing the admin token")?;
    store
        .insert_credential(&key)
        .await
        .context("storing the write key")?;
    write_atomically(&data_dir.model_path(), DEFAULT_MODEL_TOML)?;
    Ok(Secrets {
        admin_token,
        write_key,
    })
}

/// The data directory holds the database and secrets' hashes: only its owner may read it.
fn restrict_permissions(path: &std::path::Path) -> Outcome {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("restricting permissions of {}", path.display()))?;
    }
    let _ = path;
    Ok(())
}

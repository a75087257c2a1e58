//! `tenure demo`: a fresh data directory with the default success model, a summary of what
//! Tenure will score, and the server. Simulated company data joins the demo with the
//! simulator; until then it has no accounts and says so.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use tenure_domain::{SuccessModel, Timestamp};
use tenure_store::RecordKind;

use crate::commands::{init, serve};
use crate::data_dir::DataDir;
use crate::failure::{Failure, Outcome};

/// Marks a directory as made by `tenure demo`, so a later demo may replace it.
const DEMO_MARKER: &str = ".tenure-demo";

pub async fn run(demo_dir: PathBuf, no_serve: bool, listen: SocketAddr, now: Timestamp) -> Outcome {
    prepare(&demo_dir)?;
    let data_dir = DataDir::new(demo_dir.clone(), None);
    let secrets = init::initialise(&data_dir, now).await?;
    std::fs::write(
        demo_dir.join(DEMO_MARKER),
        "made by `tenure demo`; replaced by the next demo\n",
    )
    .context("marking the demo directory")?;
    let store = data_dir.open_store().await?;
    let model = SuccessModel::default_model();

    println!("Tenure demo in {}", demo_dir.display());
    println!();
    println!("Success model {} — {}", model.version(), model.name);
    println!(
        "  {} tracked events, {} measures, {} milestones, {} health pillars",
        model.events.len(),
        model.measures.len(),
        model.milestones.len(),
        model.health.pillars.len()
    );
    println!(
        "  {} tiers, {} segments, {} playbooks, {} metrics",
        model.tiers.len(),
        model.segments.len(),
        model.playbooks.len(),
        model.metrics.len()
    );
    let accounts = store
        .count(RecordKind::Account)
        .await
        .context("counting accounts")?;
    println!();
    println!(
        "Accounts in the store: {accounts} (the simulated company is not part of the demo yet)"
    );
    println!();
    println!("Admin API token  {}", secrets.admin_token);
    println!("Write key        {}", secrets.write_key);
    if no_serve {
        return Ok(());
    }
    println!();
    serve::serve(store, listen, |addr| {
        println!("Serving on http://{addr}  (health: /healthz, readiness: /readyz; Ctrl-C stops)")
    })
    .await
}

/// Empties `dir` if an earlier demo made it; refuses to touch anything else.
fn prepare(dir: &Path) -> Outcome {
    if !dir.exists() {
        return Ok(());
    }
    let is_empty = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .next()
        .is_none();
    if is_empty {
        return Ok(());
    }
    if !dir.join(DEMO_MARKER).is_file() {
        return Err(Failure::rejected(format!(
            "error: {} exists and was not made by `tenure demo`; remove it or pass --data-dir",
            dir.display()
        )));
    }
    std::fs::remove_dir_all(dir)
        .with_context(|| format!("removing the earlier demo in {}", dir.display()))?;
    Ok(())
}

//! The churn-model registry: `DATA_DIR/models/churn-ID.json`, each a fitted model with what it
//! was trained on and its backtest. `tenure backtest --register` adds one, `tenure models`
//! lists them, `tenure forecast` uses the newest that fits the current success model and
//! recalibrates it on the outcomes that arrived after it was trained.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use tenure_predict::backtest::{Models, Report};

use crate::commands::forecast::Chosen;
use crate::data_dir::DataDir;
use crate::failure::{Failure, Outcome};

/// One registered model.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Registered {
    pub id: String,
    /// RFC 3339.
    pub created_at: String,
    pub success_model_version: String,
    pub lead_days: u32,
    pub features: Vec<String>,
    /// The decisions it was fitted on, and the last of their days.
    pub decisions: usize,
    pub last_decision: NaiveDate,
    /// The model forecasts use (the one with the higher backtest AUC).
    pub chosen: Chosen,
    pub backtest: Report,
    pub models: Models,
}

fn dir(data_dir: &DataDir) -> PathBuf {
    data_dir.root.join("models")
}

/// Writes `r` (its id set from its content) and returns its path.
pub fn register(data_dir: &DataDir, mut r: Registered) -> Outcome<(String, PathBuf)> {
    let body = serde_json::to_string(&r.models).context("encoding the model")?;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (body.as_str(), r.created_at.as_str()).hash(&mut h);
    r.id = format!("{:016x}", h.finish());
    let d = dir(data_dir);
    std::fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
    let path = d.join(format!("churn-{}.json", r.id));
    let tmp = d.join(format!(".churn-{}.json.tmp", r.id));
    std::fs::write(
        &tmp,
        serde_json::to_vec_pretty(&r).context("encoding the model")?,
    )
    .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
    Ok((r.id, path))
}

/// Every registered model, newest first. A file that does not read is an error naming it.
pub fn list(data_dir: &DataDir) -> Outcome<Vec<Registered>> {
    let d = dir(data_dir);
    let Ok(entries) = std::fs::read_dir(&d) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for e in entries {
        let path = e
            .with_context(|| format!("listing {}", d.display()))?
            .path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if !(name.starts_with("churn-") && name.ends_with(".json")) {
            continue;
        }
        out.push(read(&path)?);
    }
    out.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(a.id.cmp(&b.id)));
    Ok(out)
}

fn read(path: &Path) -> Outcome<Registered> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_slice(&bytes).map_err(|e| {
        Failure::rejected(format!(
            "error: {}:{}:{}: not a registered model: {e}",
            path.display(),
            e.line(),
            e.column()
        ))
    })
}

pub fn run(data_dir: &DataDir, json: bool) -> Outcome {
    let all = list(data_dir)?;
    if json {
        let rows: Vec<serde_json::Value> = all
            .iter()
            .map(|r| {
                let test = r
                    .backtest
                    .models
                    .iter()
                    .map(|m| (m.model.clone(), serde_json::json!({"auc": m.auc, "calibration_error": m.calibration_error})))
                    .collect::<serde_json::Map<_, _>>();
                serde_json::json!({
                    "id": r.id,
                    "created_at": r.created_at,
                    "success_model_version": r.success_model_version,
                    "lead_days": r.lead_days,
                    "decisions": r.decisions,
                    "last_decision": r.last_decision,
                    "chosen": r.chosen,
                    "test": test,
                })
            })
            .collect();
        super::print_json(&rows)?;
        return Ok(());
    }
    if all.is_empty() {
        println!("No churn model registered yet: `tenure backtest --register` adds one.");
        return Ok(());
    }
    println!(
        "  {:<16} {:<20} {:<16} {:>9} {:<12} {:<20} {:>8}",
        "id", "created", "success model", "decisions", "last", "chosen", "test AUC"
    );
    for r in &all {
        let auc = r
            .backtest
            .models
            .iter()
            .find(|m| m.model == r.chosen.name())
            .and_then(|m| m.auc)
            .map_or("—".to_owned(), |a| format!("{a:.3}"));
        println!(
            "  {:<16} {:<20} {:<16} {:>9} {:<12} {:<20} {:>8}",
            r.id,
            r.created_at.get(..19).unwrap_or(&r.created_at),
            r.success_model_version,
            r.decisions,
            r.last_decision,
            r.chosen.name(),
            auc
        );
    }
    Ok(())
}

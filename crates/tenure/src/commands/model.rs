//! `tenure model …`: print the default, check, document, apply and list model versions.

use anyhow::Context;
use serde_json::json;
use tenure_domain::model::{line_col, DEFAULT_MODEL_TOML};
use tenure_domain::{SuccessModel, Timestamp};
use tenure_store::ApplyOutcome;

use crate::cli::ModelCommand;
use crate::data_dir::{apply_model, read_model, write_atomically, DataDir};
use crate::failure::{Failure, Outcome};

pub async fn run(data_dir: &DataDir, command: ModelCommand, now: Timestamp) -> Outcome {
    match command {
        ModelCommand::Init => {
            print!("{DEFAULT_MODEL_TOML}");
            Ok(())
        }
        ModelCommand::Check { file, json } => check(&file, json),
        ModelCommand::Glossary { file } => {
            let (_, model) = read_model(&file)?;
            print!("{}", model.glossary());
            Ok(())
        }
        ModelCommand::Apply { file } => {
            let path = file.unwrap_or_else(|| data_dir.model_path());
            let (source, model) = read_model(&path)?;
            let store = data_dir.open_store().await?;
            let outcome =
                apply_model(store.as_ref(), &source, &model, now, "tenure model apply").await?;
            crate::commands::users::audit_cli(
                store.as_ref(),
                now,
                "model.apply",
                model.version().as_str(),
                serde_json::json!({
                    "file": path.display().to_string(),
                    "outcome": match outcome {
                        ApplyOutcome::AlreadyCurrent => "already current",
                        ApplyOutcome::Applied { new_version: true } => "new version",
                        ApplyOutcome::Applied { new_version: false } => "earlier version",
                    },
                }),
            )
            .await?;
            // The data directory's tenure.toml always holds the current model.
            if path != data_dir.model_path() {
                write_atomically(&data_dir.model_path(), &source)?;
            }
            match outcome {
                ApplyOutcome::AlreadyCurrent => {
                    println!("model version {} is already current", model.version())
                }
                ApplyOutcome::Applied { new_version: true } => {
                    println!("applied new model version {}", model.version())
                }
                ApplyOutcome::Applied { new_version: false } => {
                    println!("re-applied earlier model version {}", model.version())
                }
            }
            Ok(())
        }
        ModelCommand::History { json } => {
            let store = data_dir.open_store().await?;
            let history = store
                .model_history()
                .await
                .context("reading the model history")?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&history).context("printing JSON")?
                );
            } else {
                println!(
                    "{:>4}  {:<16}  {:<25}  applied by",
                    "#", "version", "applied at"
                );
                for (i, a) in history.iter().enumerate() {
                    let current = if i + 1 == history.len() {
                        "  (current)"
                    } else {
                        ""
                    };
                    println!(
                        "{:>4}  {:<16}  {:<25}  {}{current}",
                        a.seq,
                        a.version,
                        a.applied_at
                            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                        a.applied_by.as_deref().unwrap_or("—")
                    );
                }
            }
            Ok(())
        }
    }
}

fn summary(model: &SuccessModel) -> serde_json::Value {
    json!({
        "events": model.events.len(),
        "measures": model.measures.len(),
        "milestones": model.milestones.len(),
        "pillars": model.health.pillars.len(),
        "tiers": model.tiers.len(),
        "segments": model.segments.len(),
        "playbooks": model.playbooks.len(),
        "metrics": model.metrics.len(),
    })
}

fn check(file: &std::path::Path, json: bool) -> Outcome {
    let source = std::fs::read_to_string(file).map_err(|e| {
        Failure::rejected(format!(
            "error: cannot read model file {}: {e}",
            file.display()
        ))
    })?;
    let name = file.display().to_string();
    match SuccessModel::parse(&name, &source) {
        Ok(model) => {
            if json {
                println!(
                    "{}",
                    json!({ "valid": true, "version": model.version(), "counts": summary(&model) })
                );
            } else {
                let c = summary(&model);
                println!(
                    "{name}: valid — model version {} ({} events, {} measures, {} milestones, {} pillars, {} tiers, {} segments, {} playbooks, {} metrics)",
                    model.version(), c["events"], c["measures"], c["milestones"], c["pillars"], c["tiers"], c["segments"], c["playbooks"], c["metrics"]
                );
            }
            Ok(())
        }
        Err(errors) => {
            if json {
                let list: Vec<_> = errors
                    .diagnostics
                    .iter()
                    .map(|d| {
                        let at = line_col(&errors.source, d.span.start);
                        json!({ "file": name, "line": at.line, "column": at.column, "message": d.message, "help": d.help })
                    })
                    .collect();
                println!("{}", json!({ "valid": false, "errors": list }));
                Err(Failure::rejected(format!(
                    "{name}: {} error(s) in the success model",
                    list.len()
                )))
            } else {
                Err(Failure::rejected(errors.to_string()))
            }
        }
    }
}

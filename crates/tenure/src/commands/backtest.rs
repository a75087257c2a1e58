//! `tenure backtest`: churn models trained on point-in-time renewal decisions (each account's
//! measures as they stood `lead` days before, replayed from the history) and tested on later
//! decisions, beside the health score and, for a simulated company, the true probabilities.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::{Datelike, NaiveDate};
use tenure_predict::backtest::{self, Options, Report, Sample};
use tenure_server::evidence::TrainingSet;

use crate::data_dir::DataDir;
use crate::failure::{Failure, Outcome};

/// The point-in-time training set of the data directory's current model.
pub async fn training_set(
    data_dir: &DataDir,
    lead: u32,
    now: tenure_domain::Timestamp,
) -> Outcome<TrainingSet> {
    let store = data_dir.open_store().await?;
    let lake = data_dir.root.join("lake");
    let log = data_dir.root.join("log");
    tenure_server::evidence::training_set(
        store.as_ref(),
        move |plan| tenure_server::history::Events::open(&lake, &log, plan),
        lead,
        now,
    )
    .await
    .context("building the training set")
    .map_err(Failure::from)
}

/// The simulator's true churn probability per (account, renewal day), from `truth.csv`.
fn read_truth(path: &Path) -> Outcome<HashMap<(String, NaiveDate), f64>> {
    let file = path.display().to_string();
    let mut reader = csv::Reader::from_path(path)
        .map_err(|e| Failure::rejected(format!("error: reading {file}: {e}")))?;
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| Failure::rejected(format!("error: {file}: {e}")))?
        .iter()
        .map(str::to_owned)
        .collect();
    let col = |n: &str| {
        header.iter().position(|h| h == n).ok_or_else(|| {
            Failure::rejected(format!(
                "error: {file}: no column `{n}`; a truth file has account_id, renewal_date, p_churn"
            ))
        })
    };
    let (a, d, p) = (col("account_id")?, col("renewal_date")?, col("p_churn")?);
    let mut out = HashMap::new();
    for r in reader.records() {
        let r = r.map_err(|e| Failure::rejected(format!("error: {file}: {e}")))?;
        let line = r.position().map_or(0, |p| p.line());
        let day: NaiveDate = r[d].parse().map_err(|_| {
            Failure::rejected(format!(
                "error: {file}:{line}: renewal_date `{}` is not a date (YYYY-MM-DD)",
                &r[d]
            ))
        })?;
        let prob: f64 = r[p].parse().map_err(|_| {
            Failure::rejected(format!(
                "error: {file}:{line}: p_churn `{}` is not a number",
                &r[p]
            ))
        })?;
        out.insert((r[a].to_owned(), day), prob);
    }
    Ok(out)
}

pub async fn run(
    data_dir: &DataDir,
    lead: u32,
    truth: Option<PathBuf>,
    json: bool,
    export: Option<PathBuf>,
    register: bool,
    now: tenure_domain::Timestamp,
) -> Outcome {
    if lead > tenure_server::evidence::MAX_LEAD_DAYS {
        return Err(Failure::rejected(format!(
            "--lead-days must be from 0 to {}, got {lead}",
            tenure_server::evidence::MAX_LEAD_DAYS
        )));
    }
    // The simulator's truth sits beside a demo's data.
    let truth = truth.or_else(|| {
        let p = data_dir.root.join("simulated/truth.csv");
        p.is_file().then_some(p)
    });
    let truth = truth.as_deref().map(read_truth).transpose()?;
    let mut set = training_set(data_dir, lead, now).await?;
    // With a truth file, only the decisions it knows: the simulation's (renewals after it
    // ended would count as renewed for want of data).
    let mut unknown = 0;
    if let Some(t) = &truth {
        let before = set.rows.len();
        set.rows
            .retain(|o| t.contains_key(&(o.account.clone(), o.day)));
        unknown = before - set.rows.len();
    }
    let samples: Vec<Sample> = (0..set.rows.len())
        .map(|i| {
            let o = &set.rows[i];
            Sample {
                day: i64::from(o.day.num_days_from_ce()),
                positive: !o.renewed,
                features: set.features(i),
                health: o.health,
                groups: vec![
                    ("tier".to_owned(), o.tier.clone()),
                    ("segment".to_owned(), o.segment.clone()),
                    (
                        "cohort".to_owned(),
                        o.signed_up
                            .map_or("(none)".to_owned(), |d| format!("signed up {}", d.year())),
                    ),
                ],
                truth: truth
                    .as_ref()
                    .and_then(|t| t.get(&(o.account.clone(), o.day)).copied()),
            }
        })
        .collect();
    let started = std::time::Instant::now();
    let (report, _) = backtest::run(&set.measures, &samples, Options::default())
        .map_err(|e| Failure::rejected(format!("error: {e}")))?;
    let fitted = started.elapsed();
    if let Some(path) = &export {
        write_export(path, &set, &samples, &report)?;
    }
    let registered = if register {
        let chosen = super::forecast::Chosen::by_backtest(&report);
        let models = backtest::fit_models(&set.measures, &samples, Options::default())
            .map_err(|e| Failure::rejected(format!("error: {e}")))?;
        let last_decision = set
            .rows
            .iter()
            .map(|o| o.day)
            .max()
            .unwrap_or(now.date_naive());
        Some(super::models::register(
            data_dir,
            super::models::Registered {
                id: String::new(),
                created_at: now.to_rfc3339(),
                success_model_version: set.model_version.clone(),
                lead_days: lead,
                features: set.measures.clone(),
                decisions: samples.len(),
                last_decision,
                chosen,
                backtest: report.clone(),
                models,
            },
        )?)
    } else {
        None
    };
    if json {
        let mut doc = serde_json::to_value(&report).context("encoding the report")?;
        doc["model_version"] = serde_json::json!(set.model_version);
        doc["lead_days"] = serde_json::json!(lead);
        doc["left_out_unknown_to_truth"] = serde_json::json!(unknown);
        doc["registered"] = serde_json::json!(registered.as_ref().map(|r| &r.0));
        super::print_json(&doc)?;
        return Ok(());
    }
    print_report(&report, lead, &set.model_version);
    println!(
        "  (both models fitted, calibrated and scored in {:.0} ms)",
        fitted.as_secs_f64() * 1e3
    );
    if unknown > 0 {
        println!("  ({unknown} decisions the truth file does not know were left out)");
    }
    if let Some((id, path)) = registered {
        println!("  registered churn model {id} ({})", path.display());
    }
    Ok(())
}

fn day(d: Option<i64>) -> String {
    d.and_then(|d| i32::try_from(d).ok())
        .and_then(NaiveDate::from_num_days_from_ce_opt)
        .map_or("—".to_owned(), |d| d.to_string())
}

/// Prints the backtest (the demo's too).
pub fn print_report(r: &Report, lead: u32, model_version: &str) {
    let f = |x: Option<f64>, d: usize| x.map_or("—".to_owned(), |v| format!("{v:.d$}"));
    println!(
        "Churn backtest: features as they stood {lead} days before each renewal (model {model_version})"
    );
    let parts: Vec<(&str, &tenure_predict::backtest::Slice)> = if r.calibrated_in_sample {
        vec![("trained on", &r.train), ("tested on", &r.test)]
    } else {
        vec![
            ("trained on", &r.train),
            ("calibrated on", &r.calibration),
            ("tested on", &r.test),
        ]
    };
    if r.calibrated_in_sample {
        println!("  (too few churns among the latest training decisions: calibrated on the training decisions)");
    }
    for (name, s) in parts {
        println!(
            "  {name:<14} {:>6} decisions ({:>4} churned), {} … {}",
            s.decisions,
            s.positive,
            day(s.first_day),
            day(s.last_day)
        );
    }
    println!(
        "  {:<20} {:>6} {:>8} {:>7} {:>8} {:>11} {:>10}",
        "model", "AUC", "PR-AUC", "Brier", "log loss", "calibration", "top-10 %"
    );
    for m in &r.models {
        println!(
            "  {:<20} {:>6} {:>8} {:>7} {:>8} {:>11} {:>10}",
            m.model,
            f(m.auc, 3),
            f(m.average_precision, 3),
            f(m.brier, 4),
            f(m.log_loss, 4),
            f(m.calibration_error, 4),
            m.top_decile_lift
                .map_or("—".to_owned(), |v| format!("{v:.2}×"))
        );
    }
    println!("  (calibration: the mean |observed − predicted| over ten equal-count bins; top-10 %: churn among the riskiest tenth ÷ overall)");
    if !r.by_group.is_empty() {
        let names: Vec<&String> = r.models.iter().map(|m| &m.model).collect();
        println!(
            "  test AUC by group ({}):",
            names
                .iter()
                .map(|n| n.as_str())
                .collect::<Vec<_>>()
                .join(" / ")
        );
        for g in &r.by_group {
            let aucs: Vec<String> = names
                .iter()
                .map(|n| f(g.auc.get(*n).copied().flatten(), 3))
                .collect();
            println!(
                "    {:<8} {:<22} {:>5} decisions ({:>3} churned): {}",
                g.dimension,
                g.group,
                g.decisions,
                g.positive,
                aucs.join(" / ")
            );
        }
    }
}

/// Writes the training set as CSV, each row with the part of the backtest it fell in.
fn write_export(path: &Path, set: &TrainingSet, samples: &[Sample], r: &Report) -> Outcome {
    let file = path.display().to_string();
    let fail = |e: &dyn std::fmt::Display| Failure::rejected(format!("error: writing {file}: {e}"));
    let mut w = csv::Writer::from_path(path).map_err(|e| fail(&e))?;
    let mut header = vec![
        "split".to_owned(),
        "day".to_owned(),
        "account".to_owned(),
        "churned".to_owned(),
        "health".to_owned(),
        "true_probability".to_owned(),
    ];
    header.extend(set.measures.iter().cloned());
    w.write_record(&header).map_err(|e| fail(&e))?;
    let split = |day: i64| {
        if r.test.first_day.is_some_and(|f| day >= f) {
            "test"
        } else if r.calibration.first_day.is_some_and(|f| day >= f) {
            "calibration"
        } else {
            "train"
        }
    };
    for (o, s) in set.rows.iter().zip(samples) {
        let mut row = vec![
            split(s.day).to_owned(),
            o.day.to_string(),
            o.account.clone(),
            u8::from(s.positive).to_string(),
            s.health.to_string(),
            s.truth.map_or(String::new(), |t| t.to_string()),
        ];
        row.extend(s.features.iter().map(|v| {
            if v.is_finite() {
                v.to_string()
            } else {
                String::new()
            }
        }));
        w.write_record(&row).map_err(|e| fail(&e))?;
    }
    w.flush().map_err(|e| fail(&e))?;
    Ok(())
}

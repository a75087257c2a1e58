//! `tenure report signals`: the evidence behind the health score. Every renewal decision in
//! the store's subscriptions is scored as it stood `lead` days before (the lake replayed day
//! by day, so nothing later leaks into the features), then:
//! - the health-score backtest: AUC of the configured score and of an activity-only score
//!   (active days in the last 30) for telling renewals from churn, and churn by band;
//! - per measure: its univariate AUC, churn by quartile, and a suggested weight.

use anyhow::Context;
use tenure_metrics::evidence::Quantile;
use tenure_server::evidence::Evidence;
use tenure_server::history::Events;

use crate::data_dir::DataDir;
use crate::failure::{Failure, Outcome};

/// The evidence of the data directory's current model (see `tenure_server::evidence`).
pub async fn compute(
    data_dir: &DataDir,
    lead: u32,
    now: tenure_domain::Timestamp,
) -> Outcome<Evidence> {
    let store = data_dir.open_store().await?;
    let lake = data_dir.root.join("lake");
    let log = data_dir.root.join("log");
    tenure_server::evidence::compute(
        store.as_ref(),
        move |plan| Events::open(&lake, &log, plan),
        lead,
        now,
    )
    .await
    .context("computing the evidence")
    .map_err(Failure::from)
}

/// Prints `file` with the evidence's suggested weights adopted.
pub async fn adopt(
    data_dir: &DataDir,
    lead: u32,
    file: &std::path::Path,
    now: tenure_domain::Timestamp,
) -> Outcome {
    use tenure_domain::model::adopt::{adopt_weights, Suggestion};
    check_lead(lead)?;
    let source = std::fs::read_to_string(file)
        .map_err(|e| Failure::rejected(format!("error: reading {}: {e}", file.display())))?;
    let e = compute(data_dir, lead, now).await?;
    let suggestions: Vec<Suggestion> = e
        .signals
        .iter()
        .map(|s| Suggestion {
            measure: s.measure.clone(),
            weight: s.suggested_weight,
            higher_is_better: s.direction == "higher_is_healthier",
        })
        .collect();
    let adopted = adopt_weights(&file.display().to_string(), &source, &suggestions)
        .map_err(|e| Failure::rejected(format!("error: {e}")))?;
    print!("{}", adopted.source);
    eprintln!(
        "Adopted the weights suggested by {} renewal decisions ({} churned), scored {} days before:",
        e.decisions, e.churned, e.lead_days
    );
    for c in &adopted.changes {
        eprintln!("  {c}");
    }
    if adopted.changes.is_empty() {
        eprintln!("  nothing changed: the file already holds these weights");
    }
    if adopted.overrides_to_review > 0 {
        eprintln!(
            "  {} [[health.overrides]] keep their weights, set against the old ones: review them",
            adopted.overrides_to_review
        );
    }
    Ok(())
}

fn check_lead(lead: u32) -> Outcome {
    if lead > tenure_server::evidence::MAX_LEAD_DAYS {
        return Err(Failure::rejected(format!(
            "--lead-days must be from 0 to {}, got {lead}",
            tenure_server::evidence::MAX_LEAD_DAYS
        )));
    }
    Ok(())
}

/// Prints the health-score backtest (the demo's summary too).
pub fn print_backtest(e: &Evidence) {
    let f = |x: Option<f64>| x.map_or("—".to_owned(), |v| format!("{v:.3}"));
    println!(
        "Health-score backtest: {} renewal decisions ({} churned), each scored {} days before, under model {}",
        e.decisions, e.churned, e.lead_days, e.model_version
    );
    println!(
        "  AUC of the health score {}; of an activity-only score ({}) {}",
        f(e.health_auc),
        e.activity_measure
            .as_deref()
            .unwrap_or("no active-days measure"),
        f(e.activity_only_auc)
    );
    let bands: Vec<String> = e
        .by_band
        .iter()
        .map(|b| {
            format!(
                "{} {} ({} decisions)",
                b.band,
                b.churn_rate
                    .map_or("—".to_owned(), |r| format!("{:.1} %", r * 100.0)),
                b.decisions
            )
        })
        .collect();
    println!("  churn by band: {}", bands.join(", "));
}

pub async fn run(
    data_dir: &DataDir,
    lead: u32,
    json: bool,
    csv: bool,
    now: tenure_domain::Timestamp,
) -> Outcome {
    check_lead(lead)?;
    let e = compute(data_dir, lead, now).await?;
    if json {
        super::print_json(&e)?;
        return Ok(());
    }
    if csv {
        let f = |x: Option<f64>| x.map_or(String::new(), |v| format!("{v:.6}"));
        println!(
            "signal,decisions,auc,direction,suggested_weight,q1_churn,q2_churn,q3_churn,q4_churn"
        );
        let quartile = |q: &[Quantile], i: usize| f(q.get(i).map(|x| x.churn_rate));
        for s in &e.signals {
            println!(
                "{},{},{},{},{},{},{},{},{}",
                s.measure,
                s.decisions,
                f(s.auc),
                s.direction,
                s.suggested_weight,
                quartile(&s.quartiles, 0),
                quartile(&s.quartiles, 1),
                quartile(&s.quartiles, 2),
                quartile(&s.quartiles, 3)
            );
        }
        for (name, auc) in [
            ("(health score)", e.health_auc),
            ("(activity-only score)", e.activity_only_auc),
        ] {
            println!("{name},{},{},higher_is_healthier,,,,,", e.decisions, f(auc));
        }
        return Ok(());
    }
    print_backtest(&e);
    println!();
    println!(
        "  {:<26} {:>9} {:>6}  {:<20} {:>8}  churn by quartile (lowest values first)",
        "measure", "decisions", "AUC", "direction", "weight"
    );
    for s in &e.signals {
        let q: Vec<String> = s
            .quartiles
            .iter()
            .map(|q| format!("{:.0} %", q.churn_rate * 100.0))
            .collect();
        println!(
            "  {:<26} {:>9} {:>6}  {:<20} {:>8}  {}",
            s.measure,
            s.decisions,
            s.auc.map_or("—".to_owned(), |a| format!("{a:.3}")),
            s.direction,
            s.suggested_weight,
            q.join(" / ")
        );
    }
    println!();
    println!("  Suggested weights are shares of 100 by each measure's separating power (|AUC − 0.5| × 2);");
    println!("  review them against the model's pillars before adopting them into tenure.toml.");
    Ok(())
}

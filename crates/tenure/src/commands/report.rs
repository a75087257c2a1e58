//! `tenure report metrics|experience|cohorts|signals`: revenue retention, customer experience
//! and cohort matrices from the store's records (the same documents as
//! `GET /api/v1/metrics/{name}` and `/api/v1/cohorts/{kind}`), and the evidence behind the
//! health score (`evidence.rs`).

use std::collections::HashMap;

use anyhow::Context;
use tenure_server::metrics::{document, load_revenue, parse_query};

use crate::cli::{PeriodArgs, ReportCommand};
use crate::data_dir::DataDir;
use crate::failure::{Failure, Outcome};

pub async fn run(
    data_dir: &DataDir,
    command: ReportCommand,
    now: tenure_domain::Timestamp,
) -> Outcome {
    match command {
        ReportCommand::Metrics {
            periods,
            currency,
            json,
            csv,
        } => metrics(data_dir, &params(periods, currency), json, csv, now).await,
        ReportCommand::Experience { periods, json, csv } => {
            experience(data_dir, &params(periods, None), json, csv, now).await
        }
        ReportCommand::Cohorts {
            by,
            months,
            as_of,
            metric,
            currency,
            json,
            csv,
        } => {
            cohorts(
                data_dir,
                &by,
                months,
                as_of,
                &metric,
                currency,
                (json, csv),
                now,
            )
            .await
        }
        ReportCommand::Signals {
            lead_days,
            json,
            csv,
            adopt,
        } => match adopt {
            Some(file) => super::evidence::adopt(data_dir, lead_days, &file, now).await,
            None => super::evidence::run(data_dir, lead_days, json, csv, now).await,
        },
    }
}

/// The command line's period arguments as the API's query parameters (one parser for both).
fn params(p: PeriodArgs, currency: Option<String>) -> HashMap<String, String> {
    let mut params = HashMap::from([("period".to_owned(), p.period)]);
    for (k, v) in [
        ("from", p.from),
        ("to", p.to),
        ("by", p.by),
        ("currency", currency),
    ] {
        if let Some(v) = v {
            params.insert(k.to_owned(), v);
        }
    }
    params
}

async fn metrics(
    data_dir: &DataDir,
    params: &HashMap<String, String>,
    json: bool,
    csv: bool,
    now: tenure_domain::Timestamp,
) -> Outcome {
    let q = parse_query(params, now.date_naive()).map_err(|e| Failure::rejected(e.message))?;
    let store = data_dir.open_store().await?;
    let data = load_revenue(store.as_ref(), q.currency)
        .await
        .context("reading subscription changes and accounts")?;
    let rows = data.retention(q.period, q.from, q.to, q.by);
    if json {
        let doc = document("revenue_retention", &q, &data, &rows);
        println!(
            "{}",
            serde_json::to_string_pretty(&doc).context("encoding the report")?
        );
        return Ok(());
    }
    if csv {
        println!("{}", tenure_metrics::RetentionRow::CSV_HEADER);
        for r in &rows {
            println!("{}", r.csv_line());
        }
        return Ok(());
    }
    print_table(&data, &q, &rows);
    Ok(())
}

/// Prints retention rows as a table.
pub fn print_table(
    data: &tenure_metrics::RevenueData,
    q: &tenure_server::metrics::MetricQuery,
    rows: &[tenure_metrics::RetentionRow],
) {
    let pct = |x: Option<f64>| x.map_or("—".to_owned(), |v| format!("{:.1} %", v * 100.0));
    let unit = 10f64.powi(data.currency.exponent() as i32);
    let money = |minor: i64| format!("{:.0}", minor as f64 / unit);
    println!(
        "Revenue retention ({}; ARR in {}{})",
        q.period.name(),
        data.currency,
        if data.other_currency > 0 {
            format!(
                "; {} changes in other currencies left out",
                data.other_currency
            )
        } else {
            String::new()
        }
    );
    if rows.is_empty() {
        println!("  no period ends between {} and {}", q.from, q.to);
        return;
    }
    println!(
        "  {:<16} {:<14} {:>8} {:>8} {:>10} {:>10} {:>9} {:>11} {:>12} {:>12} {:>12}",
        "period",
        "group",
        "NRR",
        "GRR",
        "logo churn",
        "rev churn",
        "expansion",
        "contraction",
        "start ARR",
        "new ARR",
        "reactivated"
    );
    for r in rows {
        println!(
            "  {:<16} {:<14} {:>8} {:>8} {:>10} {:>10} {:>9} {:>11} {:>12} {:>12} {:>12}",
            r.period,
            r.group.as_deref().unwrap_or("all"),
            pct(r.nrr),
            pct(r.grr),
            pct(r.logo_churn),
            pct(r.revenue_churn),
            pct(r.expansion_rate),
            pct(r.contraction_rate),
            money(r.amounts.start_arr),
            money(r.amounts.new_arr),
            money(r.amounts.reactivated_arr)
        );
    }
}

/// The demo's summary: NRR and GRR of the last four whole quarters.
pub async fn print_last_quarters(
    store: &dyn tenure_store::Store,
    today: chrono::NaiveDate,
) -> Outcome {
    let q = parse_query(&HashMap::new(), today).map_err(|e| Failure::rejected(e.message))?;
    let data = load_revenue(store, None)
        .await
        .context("reading subscription changes and accounts")?;
    let rows = data.retention(q.period, q.from, q.to, None);
    print_table(&data, &q, &rows);
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn cohorts(
    data_dir: &DataDir,
    by: &str,
    months: u32,
    as_of: Option<String>,
    metric: &str,
    currency: Option<String>,
    (json, csv): (bool, bool),
    now: tenure_domain::Timestamp,
) -> Outcome {
    if !matches!(metric, "logo" | "revenue") {
        return Err(Failure::rejected(format!(
            "--metric must be logo or revenue, got `{metric}`"
        )));
    }
    let mut params = HashMap::from([("months".to_owned(), months.to_string())]);
    for (k, v) in [("as_of", as_of), ("currency", currency)] {
        if let Some(v) = v {
            params.insert(k.to_owned(), v);
        }
    }
    let q = tenure_server::metrics::parse_cohort_query(by, &params, now.date_naive())
        .map_err(|e| Failure::rejected(e.message))?;
    let store = data_dir.open_store().await?;
    let data = load_revenue(store.as_ref(), q.currency)
        .await
        .context("reading subscription changes and accounts")?;
    if json {
        let doc = tenure_server::metrics::cohort_document(by, &q, &data);
        println!(
            "{}",
            serde_json::to_string_pretty(&doc).context("encoding the report")?
        );
        return Ok(());
    }
    let rows = data.cohorts(q.by, q.as_of, q.months);
    if csv {
        println!("cohort,month,accounts_observed,logo_retention,revenue_retention");
        for r in &rows {
            for k in 0..r.observed.len() {
                if r.observed[k] == 0 {
                    continue;
                }
                let f = |x: Option<f64>| x.map_or(String::new(), |v| format!("{v:.6}"));
                let cohort = if r.cohort.contains([',', '"']) {
                    format!("\"{}\"", r.cohort.replace('"', "\"\""))
                } else {
                    r.cohort.clone()
                };
                println!(
                    "{cohort},{k},{},{},{}",
                    r.observed[k],
                    f(r.logo[k]),
                    f(r.revenue[k])
                );
            }
        }
        return Ok(());
    }
    println!(
        "{} retention by {} cohort, month 0 = the month of first revenue (as of {}; ARR in {})",
        if metric == "logo" { "Logo" } else { "Revenue" },
        by,
        q.as_of,
        data.currency
    );
    let header: Vec<String> = (0..q.months)
        .map(|k| format!("{:>5}", format!("m{k}")))
        .collect();
    let w = rows
        .iter()
        .map(|r| r.cohort.chars().count())
        .max()
        .unwrap_or(0)
        .max(6);
    println!("  {:<w$} {:>8}  {}", "cohort", "accounts", header.join(" "));
    for r in &rows {
        let cells = if metric == "logo" {
            &r.logo
        } else {
            &r.revenue
        };
        let cells: Vec<String> = cells
            .iter()
            .map(|c| c.map_or(format!("{:>5}", "·"), |v| format!("{:>5.0}", v * 100.0)))
            .collect();
        println!("  {:<w$} {:>8}  {}", r.cohort, r.accounts, cells.join(" "));
    }
    Ok(())
}

async fn experience(
    data_dir: &DataDir,
    params: &HashMap<String, String>,
    json: bool,
    csv: bool,
    now: tenure_domain::Timestamp,
) -> Outcome {
    let q = parse_query(params, now.date_naive()).map_err(|e| Failure::rejected(e.message))?;
    let store = data_dir.open_store().await?;
    let data = tenure_server::metrics::load_experience(store.as_ref())
        .await
        .context("reading survey responses, tickets and accounts")?;
    let rows = data.experience(q.period, q.from, q.to, q.by);
    if json {
        let doc = tenure_server::metrics::experience_document("experience", &q, &rows);
        println!(
            "{}",
            serde_json::to_string_pretty(&doc).context("encoding the report")?
        );
        return Ok(());
    }
    let f = |x: Option<f64>, digits: usize| x.map_or(String::new(), |v| format!("{v:.digits$}"));
    if csv {
        println!("period,from,to,group,nps,nps_responses,promoters,passives,detractors,csat,csat_satisfied,csat_responses,ces,ces_responses,tickets_opened,tickets_resolved,resolution_hours_median,resolution_hours_p90,ticket_csat");
        for r in &rows {
            let g = r.group.as_deref().unwrap_or("");
            let g = if g.contains([',', '"']) {
                format!("\"{}\"", g.replace('"', "\"\""))
            } else {
                g.to_owned()
            };
            println!(
                "{},{},{},{g},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
                r.period,
                r.from.map_or(String::new(), |d| d.to_string()),
                r.to.map_or(String::new(), |d| d.to_string()),
                f(r.nps, 2),
                r.nps_responses,
                r.promoters,
                r.passives,
                r.detractors,
                f(r.csat, 4),
                f(r.csat_satisfied, 4),
                r.csat_responses,
                f(r.ces, 4),
                r.ces_responses,
                r.tickets_opened,
                r.tickets_resolved,
                f(r.resolution_hours_median, 2),
                f(r.resolution_hours_p90, 2),
                f(r.ticket_csat, 4)
            );
        }
        return Ok(());
    }
    let dash =
        |x: Option<f64>, digits: usize| x.map_or("—".to_owned(), |v| format!("{v:.digits$}"));
    println!("Customer experience ({})", q.period.name());
    if rows.is_empty() {
        println!("  no period ends between {} and {}", q.from, q.to);
        return Ok(());
    }
    println!(
        "  {:<16} {:<14} {:>6} {:>6} {:>5} {:>5} {:>5} {:>8} {:>8} {:>9} {:>9}",
        "period",
        "group",
        "NPS",
        "(n)",
        "CSAT",
        "CES",
        "(n)",
        "tickets",
        "resolved",
        "median h",
        "p90 h"
    );
    for r in &rows {
        println!(
            "  {:<16} {:<14} {:>6} {:>6} {:>5} {:>5} {:>5} {:>8} {:>8} {:>9} {:>9}",
            r.period,
            r.group.as_deref().unwrap_or("all"),
            dash(r.nps, 1),
            r.nps_responses,
            dash(r.csat, 2),
            dash(r.ces, 2),
            r.csat_responses + r.ces_responses,
            r.tickets_opened,
            r.tickets_resolved,
            dash(r.resolution_hours_median, 1),
            dash(r.resolution_hours_p90, 1)
        );
    }
    Ok(())
}

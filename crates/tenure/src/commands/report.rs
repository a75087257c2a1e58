//! `tenure report metrics|experience|usage|cohorts|signals`: revenue retention, customer
//! experience, product usage and cohort matrices from the store's records and the history (the same documents as
//! `GET /api/v1/metrics/{name}` and `/api/v1/cohorts/{kind}`), and the evidence behind the
//! health score (`evidence.rs`).

use std::collections::HashMap;

use std::sync::Arc;

use anyhow::Context;
use tenure_engine::{Engine, Partition, Plan, Signal};
use tenure_metrics::directory::Directory;
use tenure_metrics::usage::UsageData;
use tenure_metrics::GroupBy;
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
        ReportCommand::Usage { periods, json, csv } => {
            usage(data_dir, &params(periods, None), json, csv, now).await
        }
        ReportCommand::Cohorts {
            by,
            months,
            as_of,
            metric,
            currency,
            json,
            csv,
            release,
            window_days,
        } => {
            let by = match release {
                Some(id) => Kind::Release(id, window_days),
                None => Kind::By(by),
            };
            cohorts(
                data_dir,
                by,
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

/// Sets the groupings the success model assigns (tier, segment, stage) when `by` is one:
/// tiers and segments need only the store's records; stages replay the product events too.
async fn label(
    data_dir: &DataDir,
    store: &dyn tenure_store::Store,
    by: Option<GroupBy>,
    accounts: &mut Directory,
    now: tenure_domain::Timestamp,
) -> Outcome {
    let Some(by) = by.filter(|b| b.from_model()) else {
        return Ok(());
    };
    let plan = Arc::new(Plan::new(super::score::model(store, None).await?));
    let at = now.timestamp_micros();
    let engine = if by == GroupBy::Stage {
        super::score::engine_until(data_dir, store, plan, None, at, false).await?
    } else {
        let records = tenure_server::engine_records(store)
            .await
            .context("reading the store")?;
        let mut engine = Engine::new(plan, Partition::ALL);
        for r in &records {
            engine.apply(Signal::Record(r), at);
        }
        engine.refresh(at);
        engine
    };
    tenure_server::usage::label(accounts, &engine.summaries());
    Ok(())
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
    let mut data = load_revenue(store.as_ref(), q.currency)
        .await
        .context("reading subscription changes and accounts")?;
    label(data_dir, store.as_ref(), q.by, data.directory_mut(), now).await?;
    let rows = data.retention(q.period, q.from, q.to, q.by);
    if json {
        let doc = document("revenue_retention", &q, &data, &rows);
        super::print_json(&doc)?;
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

/// What a cohort matrix groups by: an attribute, or the windows around a release.
enum Kind {
    By(String),
    Release(String, u32),
}

#[allow(clippy::too_many_arguments)]
async fn cohorts(
    data_dir: &DataDir,
    kind: Kind,
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
    let by = match kind {
        Kind::By(by) => by,
        Kind::Release(id, window_days) => {
            params.insert("release".into(), id);
            params.insert("window_days".into(), window_days.to_string());
            return release(data_dir, &params, metric, (json, csv), now).await;
        }
    };
    let by = by.as_str();
    let q = tenure_server::metrics::parse_cohort_query(by, &params, now.date_naive())
        .map_err(|e| Failure::rejected(e.message))?;
    let store = data_dir.open_store().await?;
    let mut data = load_revenue(store.as_ref(), q.currency)
        .await
        .context("reading subscription changes and accounts")?;
    label(
        data_dir,
        store.as_ref(),
        Some(q.by),
        data.directory_mut(),
        now,
    )
    .await?;
    if json {
        let doc = tenure_server::metrics::cohort_document(by, &q, &data);
        super::print_json(&doc)?;
        return Ok(());
    }
    let rows = data.cohorts(q.by, q.as_of, q.months);
    print_cohorts(&rows, by, metric, q.months, q.as_of, &data, csv);
    Ok(())
}

/// Before and after a release: the cohort matrices and the journey figures.
async fn release(
    data_dir: &DataDir,
    params: &HashMap<String, String>,
    metric: &str,
    (json, csv): (bool, bool),
    now: tenure_domain::Timestamp,
) -> Outcome {
    use tenure_server::metrics::{find_release, parse_release_query, release_document};
    let q =
        parse_release_query(params, now.date_naive()).map_err(|e| Failure::rejected(e.message))?;
    let store = data_dir.open_store().await?;
    let release = find_release(store.as_ref(), &q.release)
        .await
        .map_err(|e| Failure::rejected(format!("error: {}", e.message)))?;
    let data = load_revenue(store.as_ref(), q.currency)
        .await
        .context("reading subscription changes and accounts")?;
    let model = super::score::model(store.as_ref(), None).await?;
    let at = now.timestamp_micros();
    let engine = super::score::engine_until(
        data_dir,
        store.as_ref(),
        Arc::new(Plan::new(model.clone())),
        None,
        at,
        false,
    )
    .await?;
    let journeys = tenure_server::metrics::release_journeys(
        &model,
        &engine.journeys(at),
        &release,
        q.window_days,
        now.date_naive(),
    );
    if json {
        let doc = release_document(&q, &release, &data, Some(journeys));
        super::print_json(&doc)?;
        return Ok(());
    }
    let day = release.released_at.date_naive();
    let rows = data.release_cohorts(day, q.window_days, q.as_of, q.months);
    let title = format!("release {} ({day})", release.id.as_str());
    print_cohorts(&rows, &title, metric, q.months, q.as_of, &data, csv);
    if csv {
        return Ok(());
    }
    let pct = |x: Option<f64>| x.map_or("—".to_owned(), |v| format!("{:.1} %", v * 100.0));
    let dash = |x: Option<f64>| x.map_or("—".to_owned(), |v| format!("{v:.0}"));
    println!();
    println!(
        "Journeys of the accounts that signed up in the {} days before and after it",
        q.window_days
    );
    println!(
        "  {:<8} {:<23} {:>8} {:>10} {:>8} {:>9} {:>9}",
        "", "signed up", "accounts", "activation", "habit", "TTFV med", "TTFV p90"
    );
    for r in &journeys {
        println!(
            "  {:<8} {:<23} {:>8} {:>10} {:>8} {:>9} {:>9}",
            r.period,
            format!(
                "{}…{}",
                r.from.map_or(String::new(), |d| d.to_string()),
                r.to.map_or(String::new(), |d| d.to_string())
            ),
            r.signed_up,
            pct(r.activation_rate),
            pct(r.habit_rate),
            dash(r.ttfv_median_days),
            dash(r.ttfv_p90_days)
        );
    }
    Ok(())
}

/// Prints cohort rows as a table of percentages, or as CSV.
fn print_cohorts(
    rows: &[tenure_metrics::CohortRow],
    by: &str,
    metric: &str,
    months: u32,
    as_of: chrono::NaiveDate,
    data: &tenure_metrics::RevenueData,
    csv: bool,
) {
    if csv {
        println!("cohort,month,accounts_observed,logo_retention,revenue_retention");
        for r in rows {
            for k in 0..r.observed.len() {
                if r.observed[k] == 0 {
                    continue;
                }
                let f = |x: Option<f64>| x.map_or(String::new(), |v| format!("{v:.6}"));
                let cohort = csv_field(&r.cohort);
                println!(
                    "{cohort},{k},{},{},{}",
                    r.observed[k],
                    f(r.logo[k]),
                    f(r.revenue[k])
                );
            }
        }
        return;
    }
    println!(
        "{} retention by {} cohort, month 0 = the month of first revenue (as of {}; ARR in {})",
        if metric == "logo" { "Logo" } else { "Revenue" },
        by,
        as_of,
        data.currency
    );
    let header: Vec<String> = (0..months)
        .map(|k| format!("{:>5}", format!("m{k}")))
        .collect();
    let w = rows
        .iter()
        .map(|r| r.cohort.chars().count())
        .max()
        .unwrap_or(0)
        .max(6);
    println!("  {:<w$} {:>8}  {}", "cohort", "accounts", header.join(" "));
    for r in rows {
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
    let mut data = tenure_server::metrics::load_experience(store.as_ref())
        .await
        .context("reading survey responses, tickets and accounts")?;
    label(data_dir, store.as_ref(), q.by, data.directory_mut(), now).await?;
    let rows = data.experience(q.period, q.from, q.to, q.by);
    if json {
        let doc = tenure_server::metrics::experience_document("experience", &q, &rows);
        super::print_json(&doc)?;
        return Ok(());
    }
    let f = |x: Option<f64>, digits: usize| x.map_or(String::new(), |v| format!("{v:.digits$}"));
    if csv {
        println!("period,from,to,group,nps,nps_responses,promoters,passives,detractors,csat,csat_satisfied,csat_responses,ces,ces_responses,tickets_opened,tickets_resolved,resolution_hours_median,resolution_hours_p90,ticket_csat");
        for r in &rows {
            let g = csv_field(r.group.as_deref().unwrap_or(""));
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

/// Replays the history once into an engine and the activity fold: usage per period.
async fn usage_data(data_dir: &DataDir, now: tenure_domain::Timestamp) -> Outcome<UsageData> {
    let store = data_dir.open_store().await?;
    let model = super::score::model(store.as_ref(), None).await?;
    let windows = tenure_server::usage::windows(&model);
    let plan = Arc::new(Plan::new(model));
    let records = tenure_server::engine_records(store.as_ref())
        .await
        .context("reading the store")?;
    let events = data_dir.events(&plan)?;
    let today = now.date_naive();
    let at = now.timestamp_micros();
    let data = tokio::task::spawn_blocking(move || -> anyhow::Result<UsageData> {
        let (mut accounts, mut subscriptions) = (Vec::new(), Vec::new());
        for r in &records {
            match r {
                tenure_domain::Record::Account(a) => accounts.push(a.clone()),
                tenure_domain::Record::Subscription(s) => subscriptions.push(s.clone()),
                _ => {}
            }
        }
        let mut dir = Directory::new(&accounts);
        dir.set_terms(&subscriptions);
        let mut engine = Engine::new(Arc::clone(&plan), Partition::ALL);
        for r in &records {
            engine.apply(Signal::Record(r), at);
        }
        let activity = tenure_server::usage::fold_history(
            &events,
            &plan,
            &mut dir,
            today,
            Some(&mut engine),
            at,
        )?;
        engine.refresh(at);
        tenure_server::usage::label(&mut dir, &engine.summaries());
        let journeys = tenure_server::usage::journey_facts(&engine.journeys(at));
        Ok(UsageData::new(dir, activity, &journeys, windows, today))
    })
    .await
    .context("the usage task failed")??;
    Ok(data)
}

async fn usage(
    data_dir: &DataDir,
    params: &HashMap<String, String>,
    json: bool,
    csv: bool,
    now: tenure_domain::Timestamp,
) -> Outcome {
    let q = parse_query(params, now.date_naive()).map_err(|e| Failure::rejected(e.message))?;
    let data = usage_data(data_dir, now).await?;
    let rows = data.usage(q.period, q.from, q.to, q.by);
    if json {
        let doc = tenure_server::metrics::usage_document("usage", &q, &data, &rows);
        super::print_json(&doc)?;
        return Ok(());
    }
    let f = |x: Option<f64>, digits: usize| x.map_or(String::new(), |v| format!("{v:.digits$}"));
    if csv {
        println!("period,from,to,group,days_observed,dau,wau,mau,stickiness,active_accounts,signed_up,activation_eligible,activated_in_time,activation_rate,habit_eligible,habit_in_time,habit_rate,first_value_reached,ttfv_median_days,ttfv_p90_days");
        for r in &rows {
            println!(
                "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
                r.period,
                r.from.map_or(String::new(), |d| d.to_string()),
                r.to.map_or(String::new(), |d| d.to_string()),
                csv_field(r.group.as_deref().unwrap_or("")),
                r.days_observed,
                f(r.dau, 3),
                f(r.wau, 3),
                f(r.mau, 3),
                f(r.stickiness, 4),
                r.active_accounts,
                r.signed_up,
                r.activation_eligible,
                r.activated_in_time,
                f(r.activation_rate, 4),
                r.habit_eligible,
                r.habit_in_time,
                f(r.habit_rate, 4),
                r.first_value_reached,
                f(r.ttfv_median_days, 1),
                f(r.ttfv_p90_days, 1)
            );
        }
        return Ok(());
    }
    let dash =
        |x: Option<f64>, digits: usize| x.map_or("—".to_owned(), |v| format!("{v:.digits$}"));
    let pct = |x: Option<f64>| x.map_or("—".to_owned(), |v| format!("{:.1} %", v * 100.0));
    println!(
        "Product usage ({}; activation in time = within {} days of sign-up, habit within {})",
        q.period.name(),
        data.windows.activation_days,
        data.windows.habit_days
    );
    if rows.is_empty() {
        println!("  no period ends between {} and {}", q.from, q.to);
        return Ok(());
    }
    println!(
        "  {:<16} {:<14} {:>8} {:>8} {:>8} {:>7} {:>8} {:>7} {:>10} {:>8} {:>9} {:>9}",
        "period",
        "group",
        "DAU",
        "WAU",
        "MAU",
        "sticky",
        "accounts",
        "signups",
        "activation",
        "habit",
        "TTFV med",
        "TTFV p90"
    );
    for r in &rows {
        println!(
            "  {:<16} {:<14} {:>8} {:>8} {:>8} {:>7} {:>8} {:>7} {:>10} {:>8} {:>9} {:>9}",
            r.period,
            r.group.as_deref().unwrap_or("all"),
            dash(r.dau, 1),
            dash(r.wau, 1),
            dash(r.mau, 1),
            pct(r.stickiness),
            r.active_accounts,
            r.signed_up,
            pct(r.activation_rate),
            pct(r.habit_rate),
            dash(r.ttfv_median_days, 0),
            dash(r.ttfv_p90_days, 0)
        );
    }
    Ok(())
}

/// A CSV field, quoted when it holds a comma or a quote.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

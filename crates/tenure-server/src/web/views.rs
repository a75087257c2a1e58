//! The role views: leadership, team (manager), my book (CSM) and product.

use std::collections::BTreeMap;
use std::fmt::Write;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{Months, NaiveDate};
use tenure_domain::model::Band;
use tenure_domain::model::Period;
use tenure_domain::TaskStatus;
use tenure_engine::Summary;
use tenure_metrics::GroupBy;

use super::svg::{self, Series};
use super::{esc, guard, html, money, page, pct, thousands, url_part};
use crate::authz::{Principal, Scope};
use crate::tasks::TaskView;
use crate::{ApiError, AppState};

fn now() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

fn today() -> NaiveDate {
    chrono::Utc::now().date_naive()
}

/// Runs a view's body; an error becomes an error page in the shell.
fn finish(p: &Principal, r: Result<String, ApiError>, active: &str, title: &str) -> Response {
    match r {
        Ok(body) => html(StatusCode::OK, page(p, active, title, &body)),
        Err(e) => super::error_page(Some(p), &e),
    }
}

/// The accounts of the principal's book, scored now.
async fn book(state: &AppState, p: &Principal) -> Result<Vec<Summary>, ApiError> {
    let engine = crate::accounts::scoring(state)?;
    crate::accounts::current(&engine).await;
    let mut rows = engine.summaries();
    rows.retain(|s| p.sees(s.owner.as_deref()));
    Ok(rows)
}

/// The tasks of the principal's book, with where each stands now.
/// The tasks of the principal's book — every task, or those of the accounts in `rows` (the
/// book, already filtered) — with where each stands now.
async fn book_tasks(
    state: &AppState,
    p: &Principal,
    rows: &[Summary],
) -> Result<Vec<TaskView>, ApiError> {
    let all = crate::tasks::all(state.store.as_ref())
        .await
        .map_err(crate::error::store_unavailable)?;
    let book: std::collections::HashSet<&str> = rows.iter().map(|s| s.account.as_str()).collect();
    let now = now();
    Ok(all
        .into_iter()
        .filter(|t| p.book == tenure_store::Book::All || book.contains(t.account.as_str()))
        .map(|t| crate::tasks::view(t, now))
        .collect())
}

fn band_class(b: Band) -> &'static str {
    match b {
        Band::Green => "green",
        Band::Amber => "amber",
        Band::Red => "red",
    }
}

fn band_badge(b: Band) -> String {
    format!(
        "<span class=\"badge {}\">{}</span>",
        band_class(b),
        b.name()
    )
}

fn account_link(id: &str, name: Option<&str>) -> String {
    format!(
        "<a href=\"/app/accounts/{}\">{}</a>",
        url_part(id),
        esc(name.unwrap_or(id))
    )
}

fn tile(label: &str, value: &str, test_id: &str) -> String {
    format!(
        "<div class=\"tile\"><span class=\"label\">{}</span>\
         <span class=\"value\" data-testid=\"{test_id}\">{}</span></div>",
        esc(label),
        esc(value)
    )
}

/// A month's short label: `Mar 26`.
fn month_label(d: NaiveDate) -> String {
    d.format("%b %y").to_string()
}

/// The scorecard of each owner: accounts, ARR, ARR at risk, mean health, and (with `tasks`,
/// for principals who may read tasks) their open, overdue and breached tasks.
fn scorecards(rows: &[Summary], tasks: Option<&[TaskView]>) -> String {
    #[derive(Default)]
    struct Card {
        accounts: usize,
        arr: f64,
        at_risk: f64,
        health: f64,
        red: usize,
        open: usize,
        overdue: usize,
        breached: usize,
    }
    let mut by: BTreeMap<String, Card> = BTreeMap::new();
    for s in rows {
        let c = by
            .entry(s.owner.clone().unwrap_or_else(|| "(no owner)".into()))
            .or_default();
        c.accounts += 1;
        c.arr += s.arr;
        c.health += s.score;
        if s.band == Band::Red {
            c.red += 1;
            c.at_risk += s.arr;
        }
    }
    for t in tasks.unwrap_or_default() {
        let Some(a) = &t.task.assignee else { continue };
        let Some(c) = by.get_mut(a.as_str()) else {
            continue;
        };
        if matches!(t.task.status, TaskStatus::Open | TaskStatus::Snoozed) {
            c.open += 1;
        }
        if t.overdue_hours.is_some() {
            c.overdue += 1;
        }
        if t.breached {
            c.breached += 1;
        }
    }
    let mut out = String::from(
        "<table data-testid=\"scorecards\"><caption>Team scorecards</caption><thead><tr>\
         <th scope=\"col\">Owner</th><th scope=\"col\">Accounts</th><th scope=\"col\">ARR</th>\
         <th scope=\"col\">ARR at risk</th><th scope=\"col\">Red</th>\
         <th scope=\"col\">Mean health</th>",
    );
    if tasks.is_some() {
        out.push_str(
            "<th scope=\"col\">Open tasks</th><th scope=\"col\">Overdue</th>\
             <th scope=\"col\">SLA breaches</th>",
        );
    }
    out.push_str("</tr></thead><tbody>");
    for (owner, c) in &by {
        let _ = write!(
            out,
            "<tr><th scope=\"row\">{}</th><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{:.1}</td>",
            esc(owner),
            c.accounts,
            money(c.arr),
            money(c.at_risk),
            c.red,
            c.health / c.accounts.max(1) as f64,
        );
        if tasks.is_some() {
            let _ = write!(
                out,
                "<td>{}</td><td>{}</td><td>{}</td>",
                c.open, c.overdue, c.breached
            );
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
    out
}

pub(super) async fn leader(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let p = match guard(
        &state,
        &headers,
        "/app/leader",
        &[Scope::MetricsRead, Scope::AccountsRead],
    )
    .await
    {
        Ok(p) => p,
        Err(r) => return r,
    };
    let body = leader_body(&state, &p).await;
    finish(&p, body, "/app/leader", "Leadership")
}

async fn leader_body(state: &AppState, p: &Principal) -> Result<String, ApiError> {
    let rows = book(state, p).await?;
    let today = today();
    let arr: f64 = rows.iter().map(|s| s.arr).sum();
    let at_risk: f64 = rows
        .iter()
        .filter(|s| s.band == Band::Red)
        .map(|s| s.arr)
        .sum();
    let mean = rows.iter().map(|s| s.score).sum::<f64>() / rows.len().max(1) as f64;
    let revenue = state
        .metrics
        .revenue(state.store.as_ref(), None, state.engine.as_deref())
        .await
        .map_err(crate::error::store_unavailable)?;
    let from = today
        .checked_sub_months(Months::new(12))
        .and_then(|d| d.succ_opt())
        .unwrap_or(today);
    let quarter = revenue.retention(Period::Quarter, from, today, None);
    let last_q = quarter.last();
    let monthly = revenue.retention(Period::Month, from, today, None);
    let mut out = String::new();
    out.push_str("<section class=\"tiles\" aria-label=\"Key figures\">");
    out.push_str(&tile("ARR", &money(arr), "arr"));
    out.push_str(&tile("ARR at risk (red)", &money(at_risk), "arr-at-risk"));
    out.push_str(&tile("Accounts", &thousands(rows.len() as f64), "accounts"));
    out.push_str(&tile("Mean health", &format!("{mean:.1}"), "mean-health"));
    out.push_str(&tile(
        "NRR, last quarter",
        &pct(last_q.and_then(|r| r.nrr)),
        "nrr",
    ));
    out.push_str(&tile(
        "GRR, last quarter",
        &pct(last_q.and_then(|r| r.grr)),
        "grr",
    ));
    out.push_str("</section>");
    // The forecast `tenure forecast` left, when there is one.
    let forecast = state
        .data_dir
        .as_ref()
        .and_then(|d| std::fs::read(d.join(crate::FORECAST_REPORT)).ok())
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
    out.push_str("<section><h2>Forecast</h2>");
    match &forecast {
        Some(f) => {
            let r = &f["revenue"];
            let fc = &f["forecast"];
            let share = |v: &serde_json::Value| pct(v.as_f64());
            let _ = write!(
                out,
                "<section class=\"tiles\" aria-label=\"Forecast\">{}{}{}</section>\
                 <p class=\"note\">The {} days from {} ({} interval), by the churn model that \
                 backtested better ({}, AUC {:.3}), the expansion model and past contraction. \
                 Refreshed by <code>tenure forecast</code>.</p>",
                tile(
                    &format!("NRR, next {} days", f["days"].as_u64().unwrap_or(0)),
                    &format!(
                        "{} ({}–{})",
                        share(&r["expected_nrr"]),
                        share(&r["nrr_low"]),
                        share(&r["nrr_high"])
                    ),
                    "nrr-forecast"
                ),
                tile(
                    &format!("GRR, next {} days", f["days"].as_u64().unwrap_or(0)),
                    &share(&r["expected_grr"]),
                    "grr-forecast"
                ),
                tile(
                    "Renewal ARR at risk",
                    &money(
                        fc["arr_at_risk"].as_f64().unwrap_or(0.0)
                            / 10f64.powi(
                                f["currency"]
                                    .as_str()
                                    .and_then(|c| tenure_domain::Currency::parse(c).ok())
                                    .map_or(2, |c| c.exponent() as i32),
                            ),
                    ),
                    "renewal-risk"
                ),
                f["days"].as_u64().unwrap_or(0),
                esc(f["as_of"].as_str().unwrap_or("?")),
                pct(r["level"].as_f64()).replace(".0 %", " %"),
                esc(f["model"]
                    .as_str()
                    .unwrap_or("?")
                    .replace('_', " ")
                    .as_str()),
                f["backtest_auc"].as_f64().unwrap_or(f64::NAN),
            );
        }
        None => out.push_str(
            "<p>No forecast yet: <code>tenure forecast</code> makes one (the demo does).</p>",
        ),
    }
    out.push_str("</section>");
    // NRR and GRR month by month.
    let points = |f: fn(&tenure_metrics::RetentionRow) -> Option<f64>| {
        monthly
            .iter()
            .enumerate()
            .map(|(i, r)| (i as f64, f(r).map(|v| v * 100.0)))
            .collect::<Vec<_>>()
    };
    let labels: Vec<(f64, String)> = monthly
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 2 == 0)
        .map(|(i, r)| (i as f64, month_label(r.from)))
        .collect();
    out.push_str("<section><h2>Revenue retention, month by month</h2>");
    out.push_str(&svg::lines(
        "retention",
        "NRR and GRR by month",
        "Net and gross revenue retention of each of the last twelve months, in percent",
        &[
            Series {
                label: "NRR".into(),
                class: "s1",
                points: points(|r| r.nrr),
            },
            Series {
                label: "GRR".into(),
                class: "s2",
                points: points(|r| r.grr),
            },
        ],
        &labels,
        &[],
        None,
        &|v| format!("{v:.0} %"),
    ));
    out.push_str(
        "<table class=\"compact\"><caption>Monthly retention</caption><thead><tr>\
         <th scope=\"col\">Month</th><th scope=\"col\">NRR</th><th scope=\"col\">GRR</th>\
         <th scope=\"col\">Logo churn</th></tr></thead><tbody>",
    );
    for r in &monthly {
        let _ = write!(
            out,
            "<tr><th scope=\"row\">{}</th><td>{}</td><td>{}</td><td>{}</td></tr>",
            month_label(r.from),
            pct(r.nrr),
            pct(r.grr),
            pct(r.logo_churn)
        );
    }
    out.push_str("</tbody></table></section>");
    // Renewals ahead by band: what the next two quarters put at stake.
    out.push_str(
        "<section><h2>Renewals ahead</h2><p class=\"note\">ARR renewing in each window, by \
         health band today. The calibrated churn forecast is <code>tenure forecast</code>.</p>\
         <table data-testid=\"renewals\"><thead><tr><th scope=\"col\">Window</th>\
         <th scope=\"col\">Green</th><th scope=\"col\">Amber</th><th scope=\"col\">Red</th>\
         <th scope=\"col\">Accounts</th></tr></thead><tbody>",
    );
    for (label, lo, hi) in [
        ("Next 30 days", 0, 30),
        ("31–90 days", 31, 90),
        ("91–180 days", 91, 180),
    ] {
        let mut by = [0.0f64; 3];
        let mut n = 0;
        for s in &rows {
            let Some(d) = s.renewal_date else { continue };
            let days = (d - today).num_days();
            if days >= lo && days <= hi {
                n += 1;
                by[match s.band {
                    Band::Green => 0,
                    Band::Amber => 1,
                    Band::Red => 2,
                }] += s.arr;
            }
        }
        let _ = write!(
            out,
            "<tr><th scope=\"row\">{label}</th><td>{}</td><td>{}</td><td>{}</td><td>{n}</td></tr>",
            money(by[0]),
            money(by[1]),
            money(by[2])
        );
    }
    out.push_str("</tbody></table></section>");
    // Health distribution.
    let mut bins = [(0usize, [0usize; 3]); 10];
    for s in &rows {
        let i = ((s.score / 10.0).floor() as usize).min(9);
        bins[i].0 += 1;
        bins[i].1[match s.band {
            Band::Green => 0,
            Band::Amber => 1,
            Band::Red => 2,
        }] += 1;
    }
    let bars: Vec<(String, f64, &'static str)> = bins
        .iter()
        .enumerate()
        .map(|(i, (n, by))| {
            let most = (0..3).max_by_key(|k| by[*k]).unwrap_or(0);
            (
                format!("{}–{}", i * 10, i * 10 + 9),
                *n as f64,
                ["green", "amber", "red"][most],
            )
        })
        .collect();
    out.push_str("<section><h2>Health distribution</h2>");
    out.push_str(&svg::bars(
        "distribution",
        "Accounts by health score",
        "How many accounts score in each ten-point range, coloured by their usual band",
        &bars,
    ));
    out.push_str("</section>");
    let tasks = if p.can(Scope::TasksRead) {
        Some(book_tasks(state, p, &rows).await?)
    } else {
        None
    };
    out.push_str("<section>");
    out.push_str(&scorecards(&rows, tasks.as_deref()));
    out.push_str("</section>");
    Ok(out)
}

pub(super) async fn manager(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let p = match guard(
        &state,
        &headers,
        "/app/manager",
        &[Scope::TasksRead, Scope::AccountsRead],
    )
    .await
    {
        Ok(p) => p,
        Err(r) => return r,
    };
    if p.book == tenure_store::Book::Own {
        return super::error_page(
            Some(&p),
            &ApiError {
                status: StatusCode::FORBIDDEN,
                code: "book_limited",
                message: "the team view is for a team's book or every account; yours is your \
                          own accounts (My book)"
                    .into(),
            },
        );
    }
    let body = manager_body(&state, &p).await;
    finish(&p, body, "/app/manager", "Team")
}

/// The buttons of an open task for a principal who may act on tasks (signed in: forms carry
/// the session's CSRF token), coming back to `back`.
fn task_actions(p: &Principal, t: &TaskView, back: &str) -> Option<String> {
    let session = p.session.as_ref().filter(|_| p.can(Scope::TasksWrite))?;
    if !matches!(t.task.status, TaskStatus::Open | TaskStatus::Snoozed) {
        return None;
    }
    let id = url_part(t.task.id.as_str());
    let csrf = esc(&session.csrf_token);
    let title = esc(&t.task.title);
    Some(format!(
        "<form method=\"post\" action=\"/app/tasks/{id}/complete\" class=\"inline\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <input type=\"hidden\" name=\"back\" value=\"{back}\">\
         <label class=\"visually-hidden\" for=\"outcome-{id}\">Outcome of {title}</label>\
         <input id=\"outcome-{id}\" name=\"outcome\" placeholder=\"Outcome\" required>\
         <button type=\"submit\">Done</button></form>\
         <form method=\"post\" action=\"/app/tasks/{id}/snooze\" class=\"inline\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <input type=\"hidden\" name=\"back\" value=\"{back}\">\
         <button type=\"submit\" aria-label=\"Snooze {title} for a week\">Snooze a week</button></form>",
        back = esc(back)
    ))
}

fn task_table(
    p: &Principal,
    back: &str,
    caption: &str,
    test_id: &str,
    tasks: &[&TaskView],
    names: &BTreeMap<&str, &str>,
) -> String {
    let acts = p.can(Scope::TasksWrite) && p.session.is_some();
    let mut out = format!(
        "<table data-testid=\"{test_id}\"><caption>{}</caption><thead><tr>\
         <th scope=\"col\">Task</th><th scope=\"col\">Account</th><th scope=\"col\">Assignee</th>\
         <th scope=\"col\">Priority</th><th scope=\"col\">Due</th><th scope=\"col\">Status</th>{}\
         </tr></thead><tbody>",
        esc(caption),
        if acts {
            "<th scope=\"col\">Act</th>"
        } else {
            ""
        }
    );
    if tasks.is_empty() {
        let _ = write!(
            out,
            "<tr><td colspan=\"{}\">None.</td></tr>",
            if acts { 7 } else { 6 }
        );
    }
    for t in tasks {
        let due = t
            .task
            .due_at
            .map(|d| d.format("%Y-%m-%d").to_string())
            .unwrap_or_default();
        let state = match t.overdue_hours {
            Some(h) if h >= 48.0 => {
                format!(
                    "<span class=\"badge red\">{:.0} days overdue</span>",
                    h / 24.0
                )
            }
            Some(h) => format!("<span class=\"badge red\">{h:.0} h overdue</span>"),
            None => esc(t.task.status.name()),
        };
        let account = t.task.account.as_str();
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{due}</td><td>{state}</td>",
            esc(&t.task.title),
            account_link(account, names.get(account).copied()),
            esc(t.task.assignee.as_ref().map_or("—", |a| a.as_str())),
            esc(t.task.priority.name()),
        );
        if acts {
            let _ = write!(
                out,
                "<td>{}</td>",
                task_actions(p, t, back).unwrap_or_default()
            );
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
    out
}

async fn manager_body(state: &AppState, p: &Principal) -> Result<String, ApiError> {
    let rows = book(state, p).await?;
    let names: BTreeMap<&str, &str> = rows
        .iter()
        .map(|s| (s.account.as_str(), s.name.as_deref().unwrap_or(&s.account)))
        .collect();
    let tasks = book_tasks(state, p, &rows).await?;
    let mut out = String::new();
    out.push_str("<section>");
    out.push_str(&scorecards(&rows, Some(&tasks)));
    out.push_str("</section>");
    let mut overdue: Vec<&TaskView> = tasks.iter().filter(|t| t.overdue_hours.is_some()).collect();
    overdue.sort_by(|a, b| {
        b.overdue_hours
            .partial_cmp(&a.overdue_hours)
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let shown: Vec<&TaskView> = overdue.iter().take(25).copied().collect();
    let _ = write!(
        out,
        "<section><h2>Overdue tasks</h2><p>{} open past their due time; the 25 longest overdue:</p>{}</section>",
        overdue.len(),
        task_table(p, "/app/manager", "Overdue tasks", "overdue", &shown, &names)
    );
    // SLA by playbook, from the inbox.
    let sla = crate::tasks::sla_report(tasks.into_iter().map(|t| t.task).collect(), now());
    out.push_str(
        "<section><h2>Playbooks: SLA and measured effect</h2><table data-testid=\"playbooks\">\
         <thead><tr><th scope=\"col\">Playbook</th><th scope=\"col\">Tasks</th>\
         <th scope=\"col\">Completed</th><th scope=\"col\">Breached</th>\
         <th scope=\"col\">Median hours to complete</th>\
         <th scope=\"col\">Renewal effect (95 % interval)</th></tr></thead><tbody>",
    );
    let report = state
        .data_dir
        .as_ref()
        .and_then(|d| std::fs::read(d.join(crate::PLAYBOOK_REPORT)).ok())
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        // Measured over the whole company: whole-portfolio data.
        .filter(|_| p.can(Scope::MetricsRead));
    let effect_of = |name: &str| -> String {
        if !p.can(Scope::MetricsRead) {
            return "–".into();
        }
        let Some(r) = &report else {
            return "not measured yet".into();
        };
        let Some(pb) = r["playbooks"]
            .as_array()
            .and_then(|a| a.iter().find(|x| x["playbook"] == name))
        else {
            return "not measured yet".into();
        };
        let u = &pb["effect"]["renewal"];
        match (
            u["difference"].as_f64(),
            u["low"].as_f64(),
            u["high"].as_f64(),
        ) {
            (Some(d), Some(l), Some(h)) => format!(
                "{:+.1} points ({:+.1} to {:+.1})",
                d * 100.0,
                l * 100.0,
                h * 100.0
            ),
            _ => pb["note"]
                .as_str()
                .unwrap_or("too few accounts to measure")
                .to_owned(),
        }
    };
    if let Some(by) = sla["by"]["playbook"].as_object() {
        for (name, row) in by {
            let _ = write!(
                out,
                "<tr><th scope=\"row\">{}</th><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(name),
                row["opened"],
                row["completed"],
                row["breached"],
                row["median_hours_to_complete"]
                    .as_f64()
                    .map_or("–".into(), |h| format!("{h:.0}")),
                esc(&effect_of(name))
            );
        }
    }
    out.push_str("</tbody></table>");
    if !p.can(Scope::MetricsRead) {
        out.push_str(
            "<p class=\"note\">Playbook effects are measured over the whole company: they \
             need the whole-portfolio metrics permission.</p>",
        );
    } else if let Some(r) = &report {
        let _ = write!(
            out,
            "<p class=\"note\">Effects measured against held-out accounts by <code>tenure playbooks</code> as of {}.</p>",
            esc(r["as_of"].as_str().unwrap_or("?"))
        );
    } else {
        out.push_str(
            "<p class=\"note\">Run <code>tenure playbooks</code> to measure each playbook \
             against its held-out accounts.</p>",
        );
    }
    out.push_str("</section>");
    Ok(out)
}

pub(super) async fn csm(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let p = match guard(
        &state,
        &headers,
        "/app/csm",
        &[Scope::AccountsRead, Scope::TasksRead],
    )
    .await
    {
        Ok(p) => p,
        Err(r) => return r,
    };
    let body = csm_body(&state, &p).await;
    finish(&p, body, "/app/csm", "My book")
}

async fn csm_body(state: &AppState, p: &Principal) -> Result<String, ApiError> {
    let engine = crate::accounts::scoring(state)?;
    crate::accounts::current(&engine).await;
    let (journeys, mut rows) = engine.journeys(now());
    rows.retain(|s| p.sees(s.owner.as_deref()));
    let expanding: std::collections::HashSet<&str> = journeys
        .iter()
        .filter(|(_, j)| j.expansion_trigger_on.is_some())
        .map(|(a, _)| a.as_str())
        .collect();
    let today = today();
    // Risk: red and amber first, then the ARR at stake, then the sooner renewal.
    let mut risk: Vec<&Summary> = rows.iter().filter(|s| s.band != Band::Green).collect();
    risk.sort_by(|a, b| {
        a.band
            .cmp(&b.band)
            .reverse()
            .then(b.arr.total_cmp(&a.arr))
            .then(a.score.total_cmp(&b.score))
    });
    let mut opportunity: Vec<&Summary> = rows
        .iter()
        .filter(|s| s.band == Band::Green && expanding.contains(s.account.as_str()))
        .collect();
    opportunity.sort_by(|a, b| b.arr.total_cmp(&a.arr));
    let table = |caption: &str, id: &str, list: &[&Summary]| {
        let mut out = format!(
            "<table data-testid=\"{id}\"><caption>{}</caption><thead><tr>\
             <th scope=\"col\">Account</th><th scope=\"col\">Health</th><th scope=\"col\">Band</th>\
             <th scope=\"col\">ARR</th><th scope=\"col\">Renewal</th><th scope=\"col\">Stage</th>\
             </tr></thead><tbody>",
            esc(caption)
        );
        if list.is_empty() {
            out.push_str("<tr><td colspan=\"6\">None.</td></tr>");
        }
        for s in list.iter().take(50) {
            let renewal = s.renewal_date.map_or("–".into(), |d| {
                format!("{d} ({} days)", (d - today).num_days())
            });
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{:.1}</td><td>{}</td><td>{}</td><td>{renewal}</td><td>{}</td></tr>",
                account_link(&s.account, s.name.as_deref()),
                s.score,
                band_badge(s.band),
                money(s.arr),
                esc(s.stage)
            );
        }
        out.push_str("</tbody></table>");
        out
    };
    let mut out = String::new();
    out.push_str("<section class=\"tiles\" aria-label=\"My book\">");
    out.push_str(&tile("Accounts", &thousands(rows.len() as f64), "accounts"));
    out.push_str(&tile(
        "ARR",
        &money(rows.iter().map(|s| s.arr).sum()),
        "arr",
    ));
    out.push_str(&tile("At risk", &risk.len().to_string(), "at-risk"));
    out.push_str(&tile(
        "Ready to expand",
        &opportunity.len().to_string(),
        "opportunities",
    ));
    out.push_str("</section>");
    out.push_str("<section><h2>At risk</h2>");
    out.push_str(&table(
        "Amber and red accounts, most at stake first",
        "risk",
        &risk,
    ));
    out.push_str("</section><section><h2>Opportunities</h2>");
    out.push_str(&table(
        "Green accounts that reached the expansion trigger",
        "opportunity",
        &opportunity,
    ));
    out.push_str("</section>");
    let names: BTreeMap<&str, &str> = rows
        .iter()
        .map(|s| (s.account.as_str(), s.name.as_deref().unwrap_or(&s.account)))
        .collect();
    let tasks = book_tasks(state, p, &rows).await?;
    let mut open: Vec<&TaskView> = tasks
        .iter()
        .filter(|t| matches!(t.task.status, TaskStatus::Open | TaskStatus::Snoozed))
        .collect();
    open.sort_by_key(|t| t.task.due_at.map_or(i64::MAX, |d| d.timestamp_micros()));
    let shown: Vec<&TaskView> = open.iter().take(50).copied().collect();
    let _ = write!(
        out,
        "<section><h2>Task inbox</h2><p>{} open, {} overdue.</p>{}</section>",
        open.len(),
        open.iter().filter(|t| t.overdue_hours.is_some()).count(),
        task_table(
            p,
            "/app/csm",
            "Open tasks, soonest due first",
            "inbox",
            &shown,
            &names
        )
    );
    Ok(out)
}

pub(super) async fn product(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let p = match guard(&state, &headers, "/app/product", &[Scope::MetricsRead]).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let body = product_body(&state).await;
    finish(&p, body, "/app/product", "Product")
}

async fn product_body(state: &AppState) -> Result<String, ApiError> {
    let today = today();
    let from = today
        .checked_sub_months(Months::new(12))
        .and_then(|d| d.succ_opt())
        .unwrap_or(today);
    let mut out = String::new();
    // Adoption curves.
    if let Some(lake) = &state.lake {
        let usage = state
            .metrics
            .usage(
                state.store.as_ref(),
                lake,
                state.engine.as_deref(),
                chrono::Utc::now().fixed_offset(),
            )
            .await?;
        let rows = usage.usage(Period::Month, from, today, None);
        let pts = |f: fn(&tenure_metrics::UsageRow) -> Option<f64>| {
            rows.iter()
                .enumerate()
                .map(|(i, r)| (i as f64, f(r).map(|v| v * 100.0)))
                .collect::<Vec<_>>()
        };
        let labels: Vec<(f64, String)> = rows
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 2 == 0)
            .filter_map(|(i, r)| r.from.map(|d| (i as f64, month_label(d))))
            .collect();
        out.push_str("<section><h2>Adoption</h2>");
        out.push_str(&svg::lines(
            "adoption",
            "Activation, habit and stickiness by month",
            "Share of new accounts activated and reaching the habit in time, and DAU over MAU, \
             for each of the last twelve months",
            &[
                Series {
                    label: "Activation rate".into(),
                    class: "s1",
                    points: pts(|r| r.activation_rate),
                },
                Series {
                    label: "Habit rate".into(),
                    class: "s2",
                    points: pts(|r| r.habit_rate),
                },
                Series {
                    label: "Stickiness".into(),
                    class: "s3",
                    points: pts(|r| r.stickiness),
                },
            ],
            &labels,
            &[],
            Some((0.0, 100.0)),
            &|v| format!("{v:.0} %"),
        ));
        out.push_str(
            "<table class=\"compact\"><caption>Adoption by month</caption><thead><tr>\
             <th scope=\"col\">Month</th><th scope=\"col\">Active accounts</th>\
             <th scope=\"col\">Signed up</th><th scope=\"col\">Activation</th>\
             <th scope=\"col\">Habit</th><th scope=\"col\">Stickiness</th></tr></thead><tbody>",
        );
        for r in &rows {
            let _ = write!(
                out,
                "<tr><th scope=\"row\">{}</th><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                r.from.map(month_label).unwrap_or_default(),
                r.active_accounts,
                r.signed_up,
                pct(r.activation_rate),
                pct(r.habit_rate),
                pct(r.stickiness)
            );
        }
        out.push_str("</tbody></table></section>");
    }
    // Funnel: where accounts stand on the journey.
    if let Some(engine) = &state.engine {
        let (journeys, _) = engine.journeys(now());
        let total = journeys.len();
        let count = |f: &dyn Fn(&tenure_engine::journey::Journey) -> bool| {
            journeys.iter().filter(|(_, j)| f(j)).count()
        };
        let steps = [
            ("Signed up", count(&|j| j.signed_up_on.is_some())),
            ("Activated", count(&|j| j.activated_on.is_some())),
            (
                "Reached first value",
                count(&|j| j.first_value_on.is_some()),
            ),
            ("Formed the habit", count(&|j| j.habit_on.is_some())),
            (
                "Hit the expansion trigger",
                count(&|j| j.expansion_trigger_on.is_some()),
            ),
        ];
        out.push_str("<section><h2>Journey funnel</h2>");
        out.push_str(&svg::bars(
            "funnel",
            "Accounts reaching each journey milestone",
            "How many accounts signed up, activated, reached first value, formed the habit and \
             hit the expansion trigger",
            &steps
                .iter()
                .map(|(l, n)| (l.to_string(), *n as f64, "s1"))
                .collect::<Vec<_>>(),
        ));
        out.push_str(
            "<table class=\"compact\" data-testid=\"funnel\"><thead><tr><th scope=\"col\">Step</th>\
             <th scope=\"col\">Accounts</th><th scope=\"col\">Share of all</th></tr></thead><tbody>",
        );
        for (label, n) in steps {
            let _ = write!(
                out,
                "<tr><th scope=\"row\">{label}</th><td>{n}</td><td>{}</td></tr>",
                pct((total > 0).then(|| n as f64 / total as f64))
            );
        }
        out.push_str("</tbody></table></section>");
    }
    // Cohort heatmap: revenue retention by sign-up month.
    let revenue = state
        .metrics
        .revenue(state.store.as_ref(), None, state.engine.as_deref())
        .await
        .map_err(crate::error::store_unavailable)?;
    let cohorts = revenue.cohorts(GroupBy::Cohort, today, 12);
    let recent: Vec<_> = cohorts.iter().rev().take(12).rev().collect();
    let columns: Vec<String> = (0..=12).map(|k| format!("M{k}")).collect();
    let rows: Vec<(String, Vec<Option<f64>>)> = recent
        .iter()
        .map(|c| {
            (
                c.cohort.clone(),
                c.revenue.iter().take(13).copied().collect(),
            )
        })
        .collect();
    out.push_str("<section><h2>Revenue retention by sign-up cohort</h2>");
    out.push_str(&svg::heatmap(
        "cohorts",
        "Revenue retention by sign-up month",
        "Each row is the accounts that signed up in a month; each cell their revenue k months \
         later as a share of their first month's",
        &columns,
        &rows,
    ));
    out.push_str("</section>");
    // Feature-retention lift, from the evidence when it has been computed.
    match crate::signals::evidence_for(state, 30).await {
        Ok(e) => {
            let mut lifts: Vec<(String, f64, String)> = e
                .signals
                .iter()
                .filter_map(|s| {
                    let top = s.quartiles.last()?;
                    Some((
                        s.measure.clone(),
                        top.retention_lift * 100.0,
                        format!(
                            "{:+.1} pts (AUC {})",
                            top.retention_lift * 100.0,
                            s.auc.map_or("–".into(), |a| format!("{a:.2}"))
                        ),
                    ))
                })
                .collect();
            lifts.sort_by(|a, b| b.1.total_cmp(&a.1));
            lifts.truncate(15);
            out.push_str(
                "<section><h2>Which measures go with retention</h2><p class=\"note\">Retention \
                 of the accounts in each measure's top quartile, against all, in points; the \
                 AUC says how well the measure alone ranks renewals.</p>",
            );
            out.push_str(&svg::hbars(
                "lift",
                "Retention lift of the top quartile of each measure",
                "For each measure, retention among accounts in its top quartile minus retention \
                 overall, in points, from renewal decisions",
                &lifts,
            ));
            let _ = write!(
                out,
                "<p class=\"note\">From {} renewal decisions, {} days ahead of each.</p></section>",
                thousands(e.decisions as f64),
                e.lead_days
            );
        }
        Err(e) => {
            let _ = write!(
                out,
                "<section><h2>Which measures go with retention</h2><p>Not available: {}</p></section>",
                esc(&e.message)
            );
        }
    }
    Ok(out)
}

/// `POST /app/tasks/{id}/{action}` (a form of the inbox: complete with an outcome, snooze a
/// week, reopen), then back to the view it came from.
pub(super) async fn task_action(
    State(state): State<AppState>,
    headers: HeaderMap,
    axum::extract::Path((id, action)): axum::extract::Path<(String, String)>,
    axum::extract::Form(form): axum::extract::Form<std::collections::HashMap<String, String>>,
) -> Response {
    let back = super::safe_next(form.get("back").map(String::as_str)).to_owned();
    let p = match guard(&state, &headers, &back, &[Scope::TasksWrite]).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    match act(&state, &p, &id, &action, &form).await {
        Ok(()) => axum::response::Redirect::to(&back).into_response(),
        Err(e) => super::error_page(Some(&p), &e),
    }
}

async fn act(
    state: &AppState,
    p: &Principal,
    id: &str,
    action: &str,
    form: &std::collections::HashMap<String, String>,
) -> Result<(), ApiError> {
    super::check_form_csrf(p, form.get("csrf").map(String::as_str))?;
    let now = chrono::Utc::now().fixed_offset();
    let change = match action {
        "complete" => crate::tasks::TaskChange {
            outcome: form
                .get("outcome")
                .map(|o| o.trim().to_owned())
                .filter(|o| !o.is_empty()),
            ..Default::default()
        },
        "snooze" => crate::tasks::TaskChange {
            until: Some(now + chrono::Duration::days(7)),
            ..Default::default()
        },
        "reopen" => crate::tasks::TaskChange::default(),
        other => {
            return Err(ApiError {
                status: StatusCode::BAD_REQUEST,
                code: "invalid_action",
                message: format!(
                    "unknown action `{other}`: the inbox can complete, snooze or reopen"
                ),
            })
        }
    };
    crate::tasks::act_on(state, p, id, action, &change, "web").await?;
    Ok(())
}

//! Account 360: the health trajectory with release annotations, the pillar breakdown and a
//! drivers waterfall, the path to the next band, milestones, a timeline of tickets, surveys,
//! touches, tasks and contract changes, the contracts, the contacts (masked without the
//! personal-data permission), and the success plan with the sales-to-CS handoff brief, which
//! users with `plans:write` edit here.

use std::collections::HashMap;
use std::fmt::Write;

use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::NaiveDate;
use tenure_domain::{Record, RecordKind};
use tenure_store::PlanDocument;

use super::svg::{self, Mark, Series};
use super::{esc, guard, html, money, page, url_part};
use crate::authz::{Principal, Scope};
use crate::{ApiError, AppState};

/// At most this many records of each kind are read for the timeline.
const PER_KIND: u32 = 500;
/// Contacts listed (admins first).
const CONTACTS_SHOWN: usize = 12;
/// Days of health history drawn.
const HISTORY_DAYS: i64 = 365;

fn debug_name<T: std::fmt::Debug>(v: &T) -> String {
    let s = format!("{v:?}");
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push(' ');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

async fn page_handler(
    state: &AppState,
    headers: &HeaderMap,
    id: &str,
    notice: Option<&str>,
) -> Response {
    let path = format!("/app/accounts/{}", url_part(id));
    let p = match guard(state, headers, &path, &[Scope::AccountsRead]).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    match body(state, &p, id, notice).await {
        Ok((title, body)) => html(StatusCode::OK, page(&p, "", &title, &body)),
        Err(e) => super::error_page(Some(&p), &e),
    }
}

pub(super) async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    axum::extract::Query(q): axum::extract::Query<HashMap<String, String>>,
) -> Response {
    let notice = q.get("saved").map(|_| "Success plan saved.");
    page_handler(&state, &headers, &id, notice).await
}

/// Renders the page body; `Err` for an account that is unknown or outside the book.
pub async fn body(
    state: &AppState,
    p: &Principal,
    id: &str,
    notice: Option<&str>,
) -> Result<(String, String), ApiError> {
    let engine = crate::accounts::scoring(state)?;
    crate::accounts::current(&engine).await;
    let now = chrono::Utc::now();
    let view = engine
        .view(id, now.timestamp_micros())
        .filter(|v| p.sees(v.summary.owner.as_deref()))
        .ok_or_else(|| crate::accounts::unknown_account(id))?;
    let store = state.store.as_ref();
    let s = &view.summary;
    let h = &view.health;
    let today = now.date_naive();
    let title = s.name.clone().unwrap_or_else(|| id.to_owned());
    let mut out = String::new();
    if let Some(n) = notice {
        let _ = write!(out, "<p class=\"notice\" role=\"status\">{}</p>", esc(n));
    }
    let band = h.band.name();
    let _ = write!(
        out,
        "<section class=\"tiles\" aria-label=\"Summary\">\
         <div class=\"tile\"><span class=\"label\">Health</span><span class=\"value\" data-testid=\"health\">{:.1} \
         <span class=\"badge {band}\">{band}</span></span></div>\
         <div class=\"tile\"><span class=\"label\">Confidence</span><span class=\"value\">{:.0} %</span></div>\
         <div class=\"tile\"><span class=\"label\">ARR</span><span class=\"value\">{}</span></div>\
         <div class=\"tile\"><span class=\"label\">Renewal</span><span class=\"value\">{}</span></div>\
         <div class=\"tile\"><span class=\"label\">Owner</span><span class=\"value small\">{}</span></div>\
         <div class=\"tile\"><span class=\"label\">Tier · segment · stage</span><span class=\"value small\">{} · {} · {}</span></div>\
         </section>",
        h.score,
        h.confidence * 100.0,
        money(s.arr),
        s.renewal_date.map_or("–".into(), |d| d.to_string()),
        esc(s.owner.as_deref().unwrap_or("–")),
        esc(&s.tier),
        esc(&s.segment),
        esc(s.stage),
    );
    // Health trajectory, with the releases of the period marked.
    let from = today - chrono::Duration::days(HISTORY_DAYS);
    let history = store
        .health_history(id, &engine.model_version(), Some(from), None)
        .await
        .map_err(crate::error::store_unavailable)?;
    let x = |d: NaiveDate| (d - from).num_days() as f64;
    let releases: Vec<tenure_domain::Release> =
        crate::metrics::read_all(store, &[RecordKind::Release])
            .await
            .map_err(crate::error::store_unavailable)?
            .into_iter()
            .filter_map(|r| match r {
                Record::Release(r) => Some(r),
                _ => None,
            })
            .filter(|r| r.released_at.date_naive() >= from)
            .collect();
    let marks: Vec<Mark> = releases
        .iter()
        .map(|r| Mark {
            x: x(r.released_at.date_naive()),
            label: r.name.clone(),
        })
        .collect();
    let labels: Vec<(f64, String)> = (0..=4)
        .map(|k| {
            let d = from + chrono::Duration::days(HISTORY_DAYS * k / 4);
            (x(d), d.format("%b %y").to_string())
        })
        .collect();
    out.push_str("<section><h2>Health over the last year</h2>");
    if history.is_empty() {
        out.push_str("<p>No daily history kept for this model version yet.</p>");
    } else {
        out.push_str(&svg::lines(
            "trajectory",
            "Health score by day",
            &format!(
                "Daily health score of {} over the last year, with {} product releases marked",
                title,
                marks.len()
            ),
            &[Series {
                label: "Health".into(),
                class: "s1",
                points: history.iter().map(|r| (x(r.day), Some(r.score))).collect(),
            }],
            &labels,
            &marks,
            Some((0.0, 100.0)),
            &|v| format!("{v:.0}"),
        ));
    }
    out.push_str("</section>");
    // Pillars and drivers.
    out.push_str(
        "<section><div><h2>Pillars</h2><table data-testid=\"pillars\"><thead><tr>\
         <th scope=\"col\">Pillar</th><th scope=\"col\">Score</th><th scope=\"col\">Weight</th>\
         <th scope=\"col\">Points</th></tr></thead><tbody>",
    );
    for pl in &h.pillars {
        let _ = write!(
            out,
            "<tr><th scope=\"row\">{}</th><td>{}</td><td>{:.0}</td><td>{:+.1}</td></tr>",
            esc(&pl.pillar.name().replace('_', " ")),
            pl.score.map_or("–".into(), |s| format!("{s:.0}")),
            pl.weight,
            pl.points
        );
    }
    out.push_str("</tbody></table></div></section><section><h2>What moves the score</h2>");
    let mut drivers: Vec<(String, f64)> = h
        .positive_drivers
        .iter()
        .chain(&h.negative_drivers)
        .map(|d| {
            (
                format!(
                    "{}{}",
                    d.measure.replace('_', " "),
                    d.raw.map_or(String::new(), |r| format!(" ({r:.1})"))
                ),
                d.impact,
            )
        })
        .collect();
    drivers.sort_by(|a, b| b.1.total_cmp(&a.1));
    let shown: f64 = drivers.iter().map(|d| d.1).sum();
    out.push_str(&svg::waterfall(
        "drivers",
        "Drivers of the health score",
        "From the score without these measures, each driver's points up or down, to the score",
        h.score - shown,
        &drivers,
    ));
    out.push_str("</section>");
    // Path to the next band.
    out.push_str("<section><h2>Path to the next band</h2>");
    match &h.path_to_next_band {
        None => out.push_str("<p>Already green.</p>"),
        Some(path) => {
            let alone = !path.options.is_empty();
            let _ = write!(
                out,
                "<p>{:.1} points to {}. {}</p><ul data-testid=\"path\">",
                path.points_needed,
                path.band.name(),
                if alone {
                    "Any one of these gets there:"
                } else {
                    "No single change gets there; these together do:"
                }
            );
            let steps = if alone { &path.options } else { &path.combined };
            for st in steps.iter().take(5) {
                let _ = write!(
                    out,
                    "<li>{}: from {} to {:.1} (+{:.1} points)</li>",
                    esc(&st.measure.replace('_', " ")),
                    st.from.map_or("none".into(), |f| format!("{f:.1}")),
                    st.to,
                    st.points
                );
            }
            out.push_str("</ul>");
        }
    }
    out.push_str("</section>");
    // Milestones.
    out.push_str(
        "<section><h2>Milestones</h2><table data-testid=\"milestones\"><thead><tr>\
         <th scope=\"col\">Milestone</th><th scope=\"col\">Reached</th>\
         <th scope=\"col\">Expected by</th></tr></thead><tbody>",
    );
    for m in &view.journey.milestones {
        let _ = write!(
            out,
            "<tr><th scope=\"row\">{}</th><td>{}</td><td>{}{}</td></tr>",
            esc(&m.milestone.replace('_', " ")),
            m.reached_on.map_or("–".into(), |d| d.to_string()),
            m.expected_by.map_or("–".into(), |d| d.to_string()),
            if m.behind {
                " <span class=\"badge red\">behind</span>"
            } else {
                ""
            }
        );
    }
    out.push_str("</tbody></table></section>");
    // The account's records.
    let mut records: HashMap<RecordKind, Vec<Record>> = HashMap::new();
    for kind in [
        RecordKind::Contact,
        RecordKind::Subscription,
        RecordKind::SubscriptionChange,
        RecordKind::Ticket,
        RecordKind::SurveyResponse,
        RecordKind::Activity,
        RecordKind::Task,
    ] {
        records.insert(
            kind,
            store
                .of_account(kind, id, PER_KIND)
                .await
                .map_err(crate::error::store_unavailable)?,
        );
    }
    let contacts: HashMap<&str, &tenure_domain::Contact> = records[&RecordKind::Contact]
        .iter()
        .filter_map(|r| match r {
            Record::Contact(c) => Some((c.id.as_str(), c)),
            _ => None,
        })
        .collect();
    let who = |c: Option<&tenure_domain::ContactId>| -> String {
        c.map(|c| {
            let name = contacts
                .get(c.as_str())
                .and_then(|x| x.name.clone())
                .unwrap_or_else(|| c.as_str().to_owned());
            format!(" — {}", esc(&p.person(&name)))
        })
        .unwrap_or_default()
    };
    // Timeline: newest first.
    let mut timeline: Vec<(chrono::DateTime<chrono::FixedOffset>, &'static str, String)> =
        Vec::new();
    for r in records.values().flatten() {
        match r {
            Record::Ticket(t) => timeline.push((
                t.opened_at,
                "ticket",
                format!(
                    "Ticket {} ({}, {}){}{}",
                    esc(t.subject.as_deref().unwrap_or(t.id.as_str())),
                    esc(&debug_name(&t.priority)),
                    esc(&debug_name(&t.status)),
                    t.csat.map_or(String::new(), |c| format!(", CSAT {c}")),
                    who(t.contact.as_ref())
                ),
            )),
            Record::SurveyResponse(s) => timeline.push((
                s.responded_at,
                "survey",
                format!(
                    "{} {}{}{}",
                    s.score.survey().to_uppercase(),
                    s.score.value(),
                    s.comment
                        .as_deref()
                        .map_or(String::new(), |c| format!(": “{}”", esc(c))),
                    who(s.contact.as_ref())
                ),
            )),
            Record::Activity(a) => timeline.push((
                a.occurred_at,
                "touch",
                format!(
                    "{}{}{}",
                    esc(&debug_name(&a.kind)),
                    a.csm
                        .as_ref()
                        .map_or(String::new(), |c| format!(" by {}", esc(c.as_str()))),
                    who(a.contact.as_ref())
                ),
            )),
            Record::Task(t) => timeline.push((
                t.created_at,
                "task",
                format!(
                    "Task: {} ({}{})",
                    esc(&t.title),
                    esc(t.status.name()),
                    t.outcome
                        .as_deref()
                        .map_or(String::new(), |o| format!(", {}", esc(o)))
                ),
            )),
            Record::SubscriptionChange(c) => {
                if let Some(t) = c.effective.and_hms_opt(0, 0, 0) {
                    timeline.push((
                        t.and_utc().fixed_offset(),
                        "contract",
                        format!(
                            "{}: ARR {}{}",
                            esc(&debug_name(&c.kind)),
                            esc(&c.arr_delta.to_string()),
                            if c.seats_delta != 0 {
                                format!(", {:+} seats", c.seats_delta)
                            } else {
                                String::new()
                            }
                        ),
                    ))
                }
            }
            _ => {}
        }
    }
    timeline.sort_by_key(|t| std::cmp::Reverse(t.0));
    // Product events are many; the timeline gives what they add up to, by the model's
    // engagement measures (each with its lineage in the API and `tenure score --lineage`).
    let usage: Vec<String> = h
        .measures
        .iter()
        .filter(|m| m.pillar == tenure_domain::model::Pillar::EngagementQuality)
        .map(|m| {
            format!(
                "{} {}",
                esc(&m.measure.replace('_', " ")),
                m.raw.map_or("–".into(), |r| format!("{r:.1}"))
            )
        })
        .collect();
    if !usage.is_empty() {
        let _ = write!(
            out,
            "<section><h2>Product use</h2><p data-testid=\"usage\">{}</p></section>",
            usage.join(" · ")
        );
    }
    let _ = write!(
        out,
        "<section><h2>Timeline</h2><p>{} entries; the latest 60:</p><ol class=\"timeline\" data-testid=\"timeline\">",
        timeline.len()
    );
    for (at, kind, text) in timeline.iter().take(60) {
        let _ = write!(
            out,
            "<li><time datetime=\"{}\">{}</time> <span class=\"kind {kind}\">{kind}</span> {text}</li>",
            at.to_rfc3339(),
            at.format("%Y-%m-%d")
        );
    }
    out.push_str("</ol></section>");
    // Contracts.
    out.push_str(
        "<section class=\"two\"><div><h2>Contracts</h2><table data-testid=\"contracts\"><thead><tr>\
         <th scope=\"col\">Plan</th><th scope=\"col\">Seats</th><th scope=\"col\">Amount</th>\
         <th scope=\"col\">Term</th><th scope=\"col\">Status</th></tr></thead><tbody>",
    );
    for r in &records[&RecordKind::Subscription] {
        if let Record::Subscription(s) = r {
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{} / {}</td><td>{} → {}{}</td><td>{}</td></tr>",
                esc(&s.plan),
                s.seats,
                esc(&s.amount.to_string()),
                esc(&debug_name(&s.interval)),
                s.start,
                s.end.map_or("open".into(), |e| e.to_string()),
                if s.auto_renew { ", auto-renews" } else { "" },
                esc(&debug_name(&s.status))
            );
        }
    }
    out.push_str("</tbody></table></div>");
    // Contacts, masked without the permission.
    out.push_str(
        "<div><h2>Contacts</h2><table data-testid=\"contacts\"><thead><tr>\
         <th scope=\"col\">Name</th><th scope=\"col\">Email</th><th scope=\"col\">Title</th>\
         </tr></thead><tbody>",
    );
    let mut all_contacts: Vec<&tenure_domain::Contact> = contacts.values().copied().collect();
    all_contacts.sort_by(|a, b| {
        b.is_admin
            .cmp(&a.is_admin)
            .then(a.id.as_str().cmp(b.id.as_str()))
    });
    for c in all_contacts.iter().take(CONTACTS_SHOWN) {
        {
            let _ = write!(
                out,
                "<tr><td>{}{}</td><td>{}</td><td>{}</td></tr>",
                esc(&p.person(c.name.as_deref().unwrap_or(c.id.as_str()))),
                if c.is_admin { " (admin)" } else { "" },
                esc(&c.email.as_deref().map(|e| p.person(e)).unwrap_or_default()),
                esc(c.title.as_deref().unwrap_or(""))
            );
        }
    }
    out.push_str("</tbody></table>");
    if all_contacts.len() > CONTACTS_SHOWN {
        let _ = write!(
            out,
            "<p class=\"note\">and {} more{}.</p>",
            all_contacts.len() - CONTACTS_SHOWN,
            if records[&RecordKind::Contact].len() as u32 == PER_KIND {
                " or more"
            } else {
                ""
            }
        );
    }
    out.push_str("</div></section>");
    // Success plan and handoff.
    let plan = store
        .success_plan(id)
        .await
        .map_err(crate::error::store_unavailable)?;
    out.push_str(&plan_section(p, id, plan.as_ref()));
    Ok((title, out))
}

fn lines(v: &[String]) -> String {
    v.join("\n")
}

fn plan_section(p: &Principal, id: &str, plan: Option<&tenure_store::SuccessPlan>) -> String {
    let doc = plan.map(|p| p.document.clone()).unwrap_or_default();
    let mut out = String::from("<section><h2>Success plan and handoff</h2>");
    if let Some(plan) = plan {
        let _ = write!(
            out,
            "<p class=\"note\">Saved by {} on {} (revision {}).</p>",
            esc(&plan.updated_by),
            plan.updated_at.format("%Y-%m-%d %H:%M"),
            plan.revision
        );
    }
    let fields: [(&str, &str, String); 5] = [
        ("goals", "Goals (one per line)", lines(&doc.goals)),
        (
            "success_criteria",
            "Success criteria (one per line)",
            lines(&doc.success_criteria),
        ),
        (
            "stakeholders",
            "Stakeholders (one per line)",
            lines(&doc.stakeholders),
        ),
        ("risks", "Risks (one per line)", lines(&doc.risks)),
        ("handoff", "Sales-to-CS handoff brief", doc.handoff.clone()),
    ];
    let editable = p.scopes.has(Scope::PlansWrite) && p.session.is_some();
    if editable {
        let _ = write!(
            out,
            "<form method=\"post\" action=\"/app/accounts/{}/plan\" class=\"plan\" data-testid=\"plan-form\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
             <input type=\"hidden\" name=\"revision\" value=\"{}\">",
            url_part(id),
            esc(&p.session.as_ref().map(|s| s.csrf_token.clone()).unwrap_or_default()),
            plan.map_or(0, |p| p.revision)
        );
        for (name, label, value) in &fields {
            let _ = write!(
                out,
                "<label for=\"{name}\">{label}</label><textarea id=\"{name}\" name=\"{name}\" rows=\"4\">{}</textarea>",
                esc(value)
            );
        }
        out.push_str("<button type=\"submit\">Save the plan</button></form>");
    } else {
        out.push_str("<dl class=\"plan\" data-testid=\"plan\">");
        for (_, label, value) in &fields {
            let label = label.trim_end_matches(" (one per line)");
            let _ = write!(
                out,
                "<dt>{}</dt><dd>{}</dd>",
                esc(label),
                if value.is_empty() {
                    "–".to_owned()
                } else {
                    esc(value).replace('\n', "<br>")
                }
            );
        }
        out.push_str("</dl>");
    }
    out.push_str("</section>");
    out
}

/// A plan document from the form's fields (one item a line); the message names the field at
/// fault.
pub fn parse_plan(form: &HashMap<String, String>) -> Result<PlanDocument, String> {
    let text = |name: &str| {
        form.get(name)
            .map(String::as_str)
            .unwrap_or("")
            .replace("\r\n", "\n")
            .trim()
            .to_owned()
    };
    let list = |name: &str| -> Vec<String> {
        text(name)
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let doc = PlanDocument {
        goals: list("goals"),
        success_criteria: list("success_criteria"),
        stakeholders: list("stakeholders"),
        risks: list("risks"),
        handoff: text("handoff"),
    };
    crate::accounts::check_plan(&doc)?;
    Ok(doc)
}

pub(super) async fn save_plan(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let path = format!("/app/accounts/{}", url_part(&id));
    let p = match guard(&state, &headers, &path, &[Scope::PlansWrite]).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    match save(&state, &p, &id, &form).await {
        Ok(()) => Redirect::to(&format!("{path}?saved=1")).into_response(),
        Err(e) => super::error_page(Some(&p), &e),
    }
}

async fn save(
    state: &AppState,
    p: &Principal,
    id: &str,
    form: &HashMap<String, String>,
) -> Result<(), ApiError> {
    super::check_form_csrf(p, form.get("csrf").map(String::as_str))?;
    let bad = |code, message: String| ApiError {
        status: StatusCode::BAD_REQUEST,
        code,
        message,
    };
    let doc = parse_plan(form).map_err(|m| bad("invalid_plan", m))?;
    let revision = form
        .get("revision")
        .and_then(|r| r.parse::<i64>().ok())
        .filter(|r| *r >= 0)
        .ok_or_else(|| bad("invalid_plan", "`revision` must be a whole number".into()))?;
    crate::accounts::save_plan(state, p, id, &doc, revision).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_forms_parse_into_lists_and_refuse_what_is_too_long() {
        let mut f = HashMap::new();
        f.insert(
            "goals".to_owned(),
            "  Close faster \r\n\r\nAutomate\n".to_owned(),
        );
        f.insert("handoff".to_owned(), " Bought for SSO ".to_owned());
        let d = parse_plan(&f).unwrap();
        assert_eq!(d.goals, vec!["Close faster", "Automate"]);
        assert_eq!(d.handoff, "Bought for SSO");
        assert!(d.risks.is_empty());
        f.insert("risks".to_owned(), "x\n".repeat(51));
        assert!(parse_plan(&f).unwrap_err().contains("`risks`"));
        f.insert("risks".to_owned(), "r".repeat(10_001));
        assert!(parse_plan(&f).unwrap_err().contains("10000"));
        f.remove("risks");
        f.insert("handoff".to_owned(), "h".repeat(10_001));
        assert!(parse_plan(&f).unwrap_err().contains("`handoff`"));
    }
}

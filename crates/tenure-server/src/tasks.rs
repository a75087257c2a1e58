//! `/api/v1/tasks`: the task inbox — list (by assignee, role, status, account, playbook,
//! overdue), assign, snooze, complete with an outcome — and the SLA report. Tasks are records
//! in the store, opened by playbooks (or imported); every change is an upsert of the task.

use std::collections::{BTreeMap, HashMap};

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tenure_domain::{Record, RecordKind, Task, TaskStatus, Timestamp, UserId};

use crate::accounts::{bad, only};
use crate::authz::{authorize, book_of, Scope};
use crate::{ApiError, AppState};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/tasks", get(list))
        .route("/api/v1/tasks/sla", get(sla))
        .route("/api/v1/tasks/{id}/{action}", post(act))
}

/// A task with where it stands against its SLA at `now`.
#[derive(Debug, Clone, Serialize)]
pub struct TaskView {
    #[serde(flatten)]
    pub task: Task,
    /// Open past its due time, or completed after it.
    pub breached: bool,
    /// Hours past its due time while still open (`None` when not overdue).
    pub overdue_hours: Option<f64>,
}

/// Where `t` stands against its SLA at `now` (micros).
pub fn view(t: Task, now: i64) -> TaskView {
    let due = t.due_at.map(|d| d.timestamp_micros());
    let open = matches!(t.status, TaskStatus::Open | TaskStatus::Snoozed);
    let breached = match (due, t.completed_at) {
        (Some(d), Some(c)) => c.timestamp_micros() > d,
        (Some(d), None) => open && now > d,
        _ => false,
    };
    let overdue_hours = due
        .filter(|d| open && now > *d)
        .map(|d| (now - d) as f64 / 3.6e9);
    TaskView {
        task: t,
        breached,
        overdue_hours,
    }
}

/// Every task in the store.
pub async fn all(store: &dyn tenure_store::Store) -> Result<Vec<Task>, tenure_store::StoreError> {
    Ok(crate::metrics::read_all(store, &[RecordKind::Task])
        .await?
        .into_iter()
        .filter_map(|r| match r {
            Record::Task(t) => Some(t),
            _ => None,
        })
        .collect())
}

fn now() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// A task status by name; the message says what is valid.
pub fn status_of(s: &str) -> Result<TaskStatus, String> {
    match s {
        "open" => Ok(TaskStatus::Open),
        "snoozed" => Ok(TaskStatus::Snoozed),
        "done" => Ok(TaskStatus::Done),
        "cancelled" => Ok(TaskStatus::Cancelled),
        _ => Err(format!(
            "status `{s}`: expected open, snoozed, done or cancelled"
        )),
    }
}

/// Which tasks an inbox list shows (every field optional).
#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub assignee: Option<String>,
    pub role: Option<tenure_domain::model::Role>,
    pub status: Option<TaskStatus>,
    pub account: Option<String>,
    pub playbook: Option<String>,
    /// Only tasks open past their due time (`Some(false)`: only those that are not).
    pub overdue: Option<bool>,
}

/// The tasks `f` lets through, with where each stands at `now`, most urgent (earliest due)
/// first.
pub fn select(tasks: Vec<Task>, f: &Filter, now: i64) -> Vec<TaskView> {
    let mut out: Vec<TaskView> = tasks
        .into_iter()
        .filter(|t| {
            f.assignee
                .as_deref()
                .is_none_or(|a| t.assignee.as_ref().is_some_and(|x| x.as_str() == a))
                && f.role.is_none_or(|r| t.role == r)
                && f.status.is_none_or(|s| t.status == s)
                && f.account.as_deref().is_none_or(|a| t.account.as_str() == a)
                && f.playbook
                    .as_deref()
                    .is_none_or(|p| t.playbook.as_deref() == Some(p))
        })
        .map(|t| view(t, now))
        .filter(|v| f.overdue.is_none_or(|o| v.overdue_hours.is_some() == o))
        .collect();
    out.sort_by(|a, b| {
        let due = |v: &TaskView| v.task.due_at.map_or(i64::MAX, |d| d.timestamp_micros());
        due(a)
            .cmp(&due(b))
            .then_with(|| a.task.id.as_str().cmp(b.task.id.as_str()))
    });
    out
}

async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let p = authorize(&state, &axum::http::Method::GET, &headers, Scope::TasksRead).await?;
    only(
        &q,
        &[
            "assignee", "role", "status", "account", "playbook", "overdue",
        ],
    )?;
    let status = q
        .get("status")
        .map(|s| status_of(s))
        .transpose()
        .map_err(|m| bad("invalid_parameter", m))?;
    let overdue = match q.get("overdue").map(String::as_str) {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(v) => {
            return Err(bad(
                "invalid_parameter",
                format!("overdue `{v}`: expected true or false"),
            ))
        }
    };
    let role = match q.get("role") {
        None => None,
        Some(r) => Some(tenure_domain::model::Role::from_name(r).ok_or_else(|| {
            bad(
                "invalid_parameter",
                format!(
                    "role `{r}`: expected one of {}",
                    tenure_domain::model::Role::NAMES.join(", ")
                ),
            )
        })?),
    };
    let filter = Filter {
        assignee: q.get("assignee").cloned(),
        role,
        status,
        account: q.get("account").cloned(),
        playbook: q.get("playbook").cloned(),
        overdue,
    };
    let mut all = all(state.store.as_ref())
        .await
        .map_err(crate::error::store_unavailable)?;
    let book = book_of(&state, &p).await?;
    all.retain(|t| in_book(&book, t));
    let tasks = select(all, &filter, now());
    Ok(Json(
        serde_json::json!({ "total": tasks.len(), "tasks": tasks }),
    ))
}

/// What an inbox action carries: `assignee` to assign, `until` to snooze, `outcome` to
/// complete.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskChange {
    pub assignee: Option<String>,
    pub until: Option<Timestamp>,
    pub outcome: Option<String>,
}

/// Applies an inbox action (assign, snooze, complete, reopen) to `task` at `now`; the message
/// says what is wrong.
pub fn apply(
    task: &mut Task,
    action: &str,
    body: &TaskChange,
    now: Timestamp,
) -> Result<(), String> {
    let closed = matches!(task.status, TaskStatus::Done | TaskStatus::Cancelled);
    match action {
        "assign" => {
            let a = body
                .assignee
                .as_deref()
                .ok_or("assign needs `assignee`, a user id")?;
            task.assignee = Some(UserId::parse(a).map_err(|e| format!("assignee: {e}"))?);
        }
        "snooze" => {
            if closed {
                return Err(format!("task {} is closed", task.id.as_str()));
            }
            let until = body.until.ok_or("snooze needs `until`, an RFC 3339 time")?;
            if until <= now {
                return Err(format!("`until` ({until}) must be in the future"));
            }
            task.status = TaskStatus::Snoozed;
            task.snoozed_until = Some(until);
        }
        "complete" => {
            if closed {
                return Err(format!("task {} is already closed", task.id.as_str()));
            }
            let outcome = body
                .outcome
                .as_deref()
                .map(str::trim)
                .filter(|o| !o.is_empty())
                .ok_or("complete needs `outcome`: what came of it")?;
            task.status = TaskStatus::Done;
            task.completed_at = Some(now);
            task.outcome = Some(outcome.to_owned());
        }
        "reopen" => {
            task.status = TaskStatus::Open;
            task.snoozed_until = None;
            task.completed_at = None;
        }
        other => {
            return Err(format!(
                "unknown action `{other}`: expected assign, snooze, complete or reopen"
            ))
        }
    }
    Ok(())
}

/// A task is in a principal's book when its account is. (Not when it is merely assigned to
/// them: an account that changed hands would otherwise stay visible, and an `assign` could
/// push a task into anyone's view.)
pub(crate) fn in_book(book: &crate::authz::BookFilter, t: &Task) -> bool {
    book.holds(t.account.as_str())
}

async fn act(
    State(state): State<AppState>,
    method: axum::http::Method,
    headers: HeaderMap,
    Path((id, action)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Json<TaskView>, ApiError> {
    let p = authorize(&state, &method, &headers, Scope::TasksWrite).await?;
    // Read only once the caller may act: the body is theirs to get wrong.
    let body: TaskChange = if body.iter().all(u8::is_ascii_whitespace) {
        TaskChange::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            bad(
                "invalid_body",
                format!(
                    "{e}: send {{\"assignee\": EMAIL}}, {{\"until\": RFC 3339}} or \
                     {{\"outcome\": TEXT}}, or nothing"
                ),
            )
        })?
    };
    let task = act_on(&state, &p, &id, &action, &body, "api").await?;
    Ok(Json(view(task, now())))
}

/// Applies an inbox action to a task of the principal's book, stores it and audits it (`via`
/// says from where: `api` or `web`). A task outside the book is as unknown.
pub(crate) async fn act_on(
    state: &AppState,
    p: &crate::authz::Principal,
    id: &str,
    action: &str,
    change: &TaskChange,
    via: &str,
) -> Result<Task, ApiError> {
    let found = state
        .store
        .get(RecordKind::Task, id)
        .await
        .map_err(crate::error::store_unavailable)?;
    let found = match found {
        Some(Record::Task(t))
            if crate::authz::holds_account(state, p, t.account.as_str()).await? =>
        {
            Some(t)
        }
        _ => None,
    };
    let Some(mut task) = found else {
        return Err(ApiError {
            status: axum::http::StatusCode::NOT_FOUND,
            code: "not_found",
            message: format!("no task `{id}`"),
        });
    };
    let now_ts = chrono::Utc::now().fixed_offset();
    apply(&mut task, action, change, now_ts).map_err(|m| bad("invalid_action", m))?;
    state
        .store
        .upsert(&Record::Task(task.clone()))
        .await
        .map_err(crate::error::store_unavailable)?;
    crate::authz::audit(
        state.store.as_ref(),
        &p.actor,
        &format!("task.{action}"),
        Some(id),
        "ok",
        serde_json::json!({"account": task.account.as_str(), "via": via}),
    )
    .await;
    Ok(task)
}

/// The tasks of `new` without the open ones that repeat a task still open (or snoozed) in
/// `existing` for the same account, playbook and title, or one another: a playbook whose
/// cool-down has passed, or that fired again after a restart, does not pile a second open
/// task on the first. Closed tasks (a replayed history's) always pass.
pub fn dedupe(new: Vec<Task>, existing: &[Task]) -> Vec<Task> {
    let key = |t: &Task| {
        (
            t.account.as_str().to_owned(),
            t.playbook.clone(),
            t.title.clone(),
        )
    };
    let mut open: std::collections::HashSet<(String, Option<String>, String)> = existing
        .iter()
        .filter(|t| matches!(t.status, TaskStatus::Open | TaskStatus::Snoozed))
        .map(key)
        .collect();
    new.into_iter()
        .filter(|t| {
            !matches!(t.status, TaskStatus::Open | TaskStatus::Snoozed) || open.insert(key(t))
        })
        .collect()
}

/// The suffix of an escalation task's id.
pub const ESCALATED: &str = "-escalated";

/// The escalations `tasks` call for at `now`: for each task still open past its due time (a
/// snoozed one once its snooze has ended too) that is not an escalation itself and has none
/// yet, a critical task for the account team's manager, due in 24 hours, naming the task and
/// how late it is.
pub fn escalations(tasks: &[Task], now: Timestamp) -> Vec<Task> {
    use tenure_domain::model::{Priority, Role};
    use tenure_domain::TaskId;
    let ids: std::collections::HashSet<&str> = tasks.iter().map(|t| t.id.as_str()).collect();
    tasks
        .iter()
        .filter(|t| {
            let open = t.status == TaskStatus::Open
                || (t.status == TaskStatus::Snoozed && t.snoozed_until.is_none_or(|u| u <= now));
            open && !t.id.as_str().ends_with(ESCALATED)
                && t.due_at.is_some_and(|d| d < now)
                && !ids.contains(format!("{}{ESCALATED}", t.id.as_str()).as_str())
        })
        .filter_map(|t| {
            let due = t.due_at?;
            let hours = (now - due).num_minutes() as f64 / 60.0;
            Some(Task {
                id: TaskId::parse(format!("{}{ESCALATED}", t.id.as_str())).ok()?,
                account: t.account.clone(),
                playbook: t.playbook.clone(),
                title: format!(
                    "Overdue by {hours:.0} h: {} ({}, {})",
                    t.title,
                    t.assignee.as_ref().map_or("unassigned", |a| a.as_str()),
                    t.priority.name()
                ),
                role: Role::Manager,
                assignee: None,
                priority: Priority::Critical,
                status: TaskStatus::Open,
                created_at: now,
                due_at: Some(now + chrono::Duration::hours(24)),
                snoozed_until: None,
                completed_at: None,
                outcome: None,
            })
        })
        .collect()
}

/// SLA figures of a group of tasks.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SlaRow {
    pub opened: usize,
    pub completed: usize,
    pub completed_within_sla: usize,
    /// Completed late, or open past their due time.
    pub breached: usize,
    pub open_overdue: usize,
    /// Nearest-rank median hours from opening to completion.
    pub median_hours_to_complete: Option<f64>,
}

/// The SLA report of `tasks` at `now`, in total and by playbook, priority and assignee.
pub fn sla_report(tasks: Vec<Task>, now: i64) -> serde_json::Value {
    let mut groups: BTreeMap<(&'static str, String), (SlaRow, Vec<f64>)> = BTreeMap::new();
    let mut total = (SlaRow::default(), Vec::new());
    for t in tasks {
        let keys = [
            (
                "playbook",
                t.playbook.clone().unwrap_or_else(|| "(none)".into()),
            ),
            ("priority", t.priority.name().to_owned()),
            (
                "assignee",
                t.assignee
                    .as_ref()
                    .map_or("(unassigned)".to_owned(), |a| a.as_str().to_owned()),
            ),
        ];
        let hours = t
            .completed_at
            .map(|c| (c.timestamp_micros() - t.created_at.timestamp_micros()) as f64 / 3.6e9);
        let v = view(t, now);
        let add = |(row, h): &mut (SlaRow, Vec<f64>)| {
            row.opened += 1;
            if let Some(x) = hours {
                row.completed += 1;
                h.push(x);
                if !v.breached {
                    row.completed_within_sla += 1;
                }
            }
            row.breached += usize::from(v.breached);
            row.open_overdue += usize::from(v.overdue_hours.is_some());
        };
        add(&mut total);
        for k in keys {
            add(groups.entry(k).or_default());
        }
    }
    let finish = |(mut row, mut h): (SlaRow, Vec<f64>)| {
        h.sort_by(f64::total_cmp);
        row.median_hours_to_complete = (!h.is_empty()).then(|| h[(h.len() - 1) / 2]);
        row
    };
    let mut by: BTreeMap<&'static str, BTreeMap<String, SlaRow>> = BTreeMap::new();
    for ((dim, key), v) in groups {
        by.entry(dim).or_default().insert(key, finish(v));
    }
    serde_json::json!({ "total": finish(total), "by": by })
}

async fn sla(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let p = authorize(&state, &axum::http::Method::GET, &headers, Scope::TasksRead).await?;
    only(&q, &[])?;
    let mut tasks = all(state.store.as_ref())
        .await
        .map_err(crate::error::store_unavailable)?;
    let book = book_of(&state, &p).await?;
    tasks.retain(|t| in_book(&book, t));
    Ok(Json(sla_report(tasks, now())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tenure_domain::model::{Priority, Role};
    use tenure_domain::{AccountId, TaskId};

    fn at(s: &str) -> Timestamp {
        chrono::DateTime::parse_from_rfc3339(s).unwrap()
    }

    fn task() -> Task {
        Task {
            id: TaskId::parse("t-1").unwrap(),
            account: AccountId::parse("a").unwrap(),
            playbook: Some("usage_drop".into()),
            title: "Call".into(),
            role: Role::Csm,
            assignee: None,
            priority: Priority::High,
            status: TaskStatus::Open,
            created_at: at("2026-01-01T10:00:00Z"),
            due_at: Some(at("2026-01-02T10:00:00Z")),
            snoozed_until: None,
            completed_at: None,
            outcome: None,
        }
    }

    #[test]
    fn inbox_actions_and_what_they_refuse() {
        let now = at("2026-01-01T12:00:00Z");
        let mut t = task();
        let mut b = TaskChange::default();
        assert!(apply(&mut t, "assign", &b, now)
            .unwrap_err()
            .contains("assignee"));
        b.assignee = Some("csm-7".into());
        apply(&mut t, "assign", &b, now).unwrap();
        assert_eq!(t.assignee.as_ref().unwrap().as_str(), "csm-7");
        b.until = Some(at("2026-01-01T11:00:00Z"));
        assert!(apply(&mut t, "snooze", &b, now)
            .unwrap_err()
            .contains("future"));
        b.until = Some(at("2026-01-03T09:00:00Z"));
        apply(&mut t, "snooze", &b, now).unwrap();
        assert_eq!(t.status, TaskStatus::Snoozed);
        assert!(apply(&mut t, "complete", &b, now)
            .unwrap_err()
            .contains("outcome"));
        b.outcome = Some("renewal saved".into());
        apply(&mut t, "complete", &b, now).unwrap();
        assert_eq!((t.status, t.completed_at), (TaskStatus::Done, Some(now)));
        assert!(apply(&mut t, "complete", &b, now)
            .unwrap_err()
            .contains("closed"));
        assert!(apply(&mut t, "escalate", &b, now)
            .unwrap_err()
            .contains("unknown action"));
    }

    #[test]
    fn a_task_still_open_is_not_opened_again() {
        let open = task();
        let mut again = task();
        again.id = TaskId::parse("t-9").unwrap();
        assert!(dedupe(vec![again.clone()], std::slice::from_ref(&open)).is_empty());
        // Once the first is done, the next one opens; two new ones at once open one.
        let mut done = open.clone();
        done.status = TaskStatus::Done;
        assert_eq!(
            dedupe(vec![again.clone(), again.clone()], &[done.clone()]).len(),
            1
        );
        // A closed task (a replayed history's) always passes.
        assert_eq!(dedupe(vec![done], std::slice::from_ref(&open)).len(), 1);
        // Another title or account is another task.
        let mut other = again.clone();
        other.title = "Email".into();
        assert_eq!(dedupe(vec![other], &[open]).len(), 1);
    }

    #[test]
    fn overdue_tasks_escalate_once_to_a_manager() {
        let t = task();
        let before = at("2026-01-02T09:00:00Z");
        let after = at("2026-01-02T13:00:00Z");
        assert!(escalations(std::slice::from_ref(&t), before).is_empty());
        let e = escalations(std::slice::from_ref(&t), after);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].id.as_str(), "t-1-escalated");
        assert_eq!(
            (e[0].role, e[0].priority),
            (Role::Manager, Priority::Critical)
        );
        assert!(
            e[0].title.starts_with("Overdue by 3 h: Call"),
            "{}",
            e[0].title
        );
        // Once escalated, not again; an escalation does not escalate.
        let both = vec![t.clone(), e[0].clone()];
        assert!(escalations(&both, at("2026-01-05T00:00:00Z")).is_empty());
        // Done, or snoozed past now: no escalation.
        let mut done = t.clone();
        done.status = TaskStatus::Done;
        assert!(escalations(&[done], after).is_empty());
        let mut snoozed = t;
        snoozed.status = TaskStatus::Snoozed;
        snoozed.snoozed_until = Some(at("2026-01-04T00:00:00Z"));
        assert!(escalations(std::slice::from_ref(&snoozed), after).is_empty());
        assert_eq!(escalations(&[snoozed], at("2026-01-04T01:00:00Z")).len(), 1);
    }

    #[test]
    fn sla_breaches_are_late_completions_and_open_tasks_past_due() {
        let due = at("2026-01-02T10:00:00Z").timestamp_micros();
        let open = task();
        let mut late = task();
        late.id = TaskId::parse("t-2").unwrap();
        late.status = TaskStatus::Done;
        late.completed_at = Some(at("2026-01-03T10:00:00Z"));
        let mut early = task();
        early.id = TaskId::parse("t-3").unwrap();
        early.status = TaskStatus::Done;
        early.completed_at = Some(at("2026-01-01T16:00:00Z"));
        // Before the due time only the late completion counts; after it, the open one too.
        assert!(!view(open.clone(), due - 1).breached);
        assert!(view(late.clone(), due - 1).breached);
        let v = view(open.clone(), due + 7_200_000_000);
        assert!(v.breached && (v.overdue_hours.unwrap() - 2.0).abs() < 1e-9);
        let r = sla_report(vec![open, late, early], due + 1);
        let total = &r["total"];
        assert_eq!(total["opened"], 3);
        assert_eq!(total["completed"], 2);
        assert_eq!(total["completed_within_sla"], 1);
        assert_eq!(total["breached"], 2);
        assert_eq!(total["open_overdue"], 1);
        assert_eq!(total["median_hours_to_complete"], 6.0);
        assert_eq!(r["by"]["priority"]["high"]["opened"], 3);
    }
}

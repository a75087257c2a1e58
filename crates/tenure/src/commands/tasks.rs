//! `tenure tasks`: the task inbox on the data directory's store (the same rules as
//! `/api/v1/tasks`).

use anyhow::Context;
use tenure_domain::model::Role;
use tenure_domain::{Record, RecordKind, Timestamp};
use tenure_server::tasks::{self, TaskChange};

use crate::cli::TaskCommand;
use crate::data_dir::DataDir;
use crate::failure::{Failure, Outcome};

pub async fn run(data_dir: &DataDir, command: TaskCommand, now: Timestamp) -> Outcome {
    let store = data_dir.open_store().await?;
    let at = now.timestamp_micros();
    let (id, action, change) = match command {
        TaskCommand::List {
            assignee,
            role,
            status,
            account,
            playbook,
            overdue,
            limit,
            json,
        } => {
            let status = status
                .as_deref()
                .map(tasks::status_of)
                .transpose()
                .map_err(|m| Failure::rejected(format!("--{m}")))?;
            let role = match role {
                None => None,
                Some(r) => Some(Role::from_name(&r).ok_or_else(|| {
                    Failure::rejected(format!(
                        "--role `{r}`: expected one of {}",
                        Role::NAMES.join(", ")
                    ))
                })?),
            };
            let filter = tasks::Filter {
                assignee,
                role,
                status,
                account,
                playbook,
                overdue: overdue.then_some(true),
            };
            let all = tasks::all(store.as_ref())
                .await
                .context("reading the tasks")?;
            let mut rows = tasks::select(all, &filter, at);
            let total = rows.len();
            if limit > 0 {
                rows.truncate(limit);
            }
            if json {
                return super::print_json(&serde_json::json!({ "total": total, "tasks": rows }));
            }
            println!(
                "{total} tasks{}",
                if rows.len() < total {
                    format!(" (the first {})", rows.len())
                } else {
                    String::new()
                }
            );
            for v in &rows {
                let t = &v.task;
                println!(
                    "  {:<9} {:<8} due {} {:<40} {} — {}{}",
                    format!("{:?}", t.status).to_lowercase(),
                    t.priority.name(),
                    t.due_at
                        .map_or("–".to_owned(), |d| d.format("%Y-%m-%d %H:%M").to_string()),
                    t.id.as_str(),
                    t.assignee.as_ref().map_or("(unassigned)", |a| a.as_str()),
                    t.title,
                    v.overdue_hours
                        .map_or(String::new(), |h| format!(" (overdue by {h:.0} h)")),
                );
            }
            return Ok(());
        }
        TaskCommand::Sla { json } => {
            let all = tasks::all(store.as_ref())
                .await
                .context("reading the tasks")?;
            let report = tasks::sla_report(all, at);
            if json {
                return super::print_json(&report);
            }
            let t = &report["total"];
            println!(
                "Tasks: {} opened, {} completed ({} within their SLA), {} breached, {} open past due, median {} h to complete",
                t["opened"], t["completed"], t["completed_within_sla"], t["breached"], t["open_overdue"],
                t["median_hours_to_complete"].as_f64().map_or("–".to_owned(), |h| format!("{h:.1}"))
            );
            for dim in ["playbook", "priority"] {
                if let Some(rows) = report["by"][dim].as_object() {
                    for (k, r) in rows {
                        println!(
                            "  {dim} {k}: {} opened, {} breached, {} open past due",
                            r["opened"], r["breached"], r["open_overdue"]
                        );
                    }
                }
            }
            return Ok(());
        }
        TaskCommand::Assign { id, to } => (
            id,
            "assign",
            TaskChange {
                assignee: Some(to),
                ..TaskChange::default()
            },
        ),
        TaskCommand::Snooze { id, until } => {
            let until = chrono::DateTime::parse_from_rfc3339(&until).map_err(|e| {
                Failure::rejected(format!(
                    "--until `{until}`: {e}; expected an RFC 3339 time such as 2026-12-01T09:00:00Z"
                ))
            })?;
            (
                id,
                "snooze",
                TaskChange {
                    until: Some(until),
                    ..TaskChange::default()
                },
            )
        }
        TaskCommand::Complete { id, outcome } => (
            id,
            "complete",
            TaskChange {
                outcome: Some(outcome),
                ..TaskChange::default()
            },
        ),
        TaskCommand::Reopen { id } => (id, "reopen", TaskChange::default()),
        TaskCommand::Escalate => {
            let all = tasks::all(store.as_ref())
                .await
                .context("reading the tasks")?;
            let new = tasks::escalations(&all, now);
            let records: Vec<Record> = new.into_iter().map(Record::Task).collect();
            if !records.is_empty() {
                store
                    .upsert_many(&records)
                    .await
                    .context("writing the escalations")?;
            }
            println!("{} overdue tasks escalated", records.len());
            return Ok(());
        }
    };
    let Some(Record::Task(mut task)) = store
        .get(RecordKind::Task, &id)
        .await
        .context("reading the task")?
    else {
        return Err(Failure::rejected(format!(
            "no task `{id}` (tenure tasks list shows them)"
        )));
    };
    tasks::apply(&mut task, action, &change, now).map_err(Failure::rejected)?;
    store
        .upsert(&Record::Task(task.clone()))
        .await
        .context("writing the task")?;
    let v = tasks::view(task, at);
    println!(
        "{}: {} ({})",
        v.task.id.as_str(),
        format!("{:?}", v.task.status).to_lowercase(),
        v.task
            .assignee
            .as_ref()
            .map_or("unassigned", |a| a.as_str())
    );
    Ok(())
}

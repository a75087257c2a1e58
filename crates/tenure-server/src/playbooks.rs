//! The playbooks over the history: the product events replayed day by day into one engine
//! that ticks at the start of every day, as a server running all along would have (the
//! replay evaluates each account once a day, a server on every signal as well), with every
//! account's score at the end of each day kept for measuring what followed each firing.

use std::collections::HashMap;
use std::sync::Arc;

use tenure_domain::{Record, Timestamp};
use tenure_engine::day::{self, Day};
use tenure_engine::{Engine, Firing, Partition, Plan, Signal};
use tenure_lake::LakeError;
use tenure_store::Store;

use crate::evidence::EvidenceError;
use crate::history::Events;

/// What the replay gives.
pub struct PlaybookHistory {
    pub plan: Arc<Plan>,
    /// Every firing, in the order they fired.
    pub firings: Vec<Firing>,
    /// Each account's score at the end of each day it was scored, by day.
    pub scores: HashMap<String, Vec<(Day, f32)>>,
    /// The tier and segment names, by index (as firings carry them).
    pub tiers: Vec<String>,
    pub segments: Vec<String>,
    /// The records the replay read (accounts, subscriptions and changes, tickets, surveys,
    /// activities).
    pub records: Vec<Record>,
    /// The first and last days replayed.
    pub first_day: Option<Day>,
    pub last_day: Option<Day>,
}

impl PlaybookHistory {
    /// The account's score at the end of `d` (the newest on or before it).
    pub fn score_on(&self, account: &str, d: Day) -> Option<f64> {
        let s = self.scores.get(account)?;
        match s.partition_point(|(x, _)| *x <= d) {
            0 => None,
            i => Some(f64::from(s[i - 1].1)),
        }
    }
}

/// Replays the history up to the end of the day before `now` under the store's model.
pub async fn replay(
    store: &dyn Store,
    events: impl FnOnce(&Plan) -> Result<Events, LakeError> + Send + 'static,
    now: Timestamp,
) -> Result<PlaybookHistory, EvidenceError> {
    let plan = Arc::new(Plan::new(crate::engine_model(store).await?));
    let records = crate::engine_records(store).await?;
    let at = now.timestamp_micros();
    let task_plan = Arc::clone(&plan);
    tokio::task::spawn_blocking(move || -> Result<PlaybookHistory, EvidenceError> {
        let events = events(&task_plan)?;
        let plan = task_plan;
        let mut engine = Engine::new(Arc::clone(&plan), Partition::ALL);
        for r in &records {
            engine.apply(Signal::Record(r), at);
        }
        let today = day::day_of(at);
        let event_days = events.days();
        let first = event_days
            .first()
            .copied()
            .into_iter()
            .chain(records.iter().filter_map(record_day))
            .min();
        let mut firings = Vec::new();
        let mut scores: HashMap<String, Vec<(Day, f32)>> = HashMap::new();
        let mut last = None;
        if let Some(first) = first {
            for d in first..=today {
                // The start of `d`: every account re-scored on what happened by the end of
                // the day before; playbooks fire; the day before's scores are kept.
                for s in engine.tick(day::start_of(d)) {
                    scores
                        .entry(s.account.as_str().to_owned())
                        .or_default()
                        .push((d - 1, s.score as f32));
                }
                firings.extend(engine.take_firings());
                if d == today {
                    break;
                }
                let end = day::start_of(d + 1) - 1;
                let batches = events.read_day(d)?;
                events.for_each(d, &batches, None, &plan, |e| {
                    engine.apply(Signal::Event(e), end);
                });
                last = Some(d);
            }
        }
        Ok(PlaybookHistory {
            tiers: plan.model.tiers.iter().map(|t| t.name.clone()).collect(),
            segments: plan
                .model
                .segments
                .iter()
                .map(|s| s.rule.name.clone())
                .collect(),
            plan,
            firings,
            scores,
            records,
            first_day: first,
            last_day: last,
        })
    })
    .await
    .map_err(|e| EvidenceError::Task(e.to_string()))?
}

/// The day a record begins (sign-up, subscription start, ticket, survey, activity).
fn record_day(r: &Record) -> Option<Day> {
    match r {
        Record::Account(a) => a.signed_up_at.map(|t| day::day_of(t.timestamp_micros())),
        Record::Subscription(s) => Some(day::day_of_date(s.start)),
        _ => None,
    }
}

/// The playbook of a firing whose actions are taken (none when held out): compiled, and as
/// the model declares it.
pub fn acted_on<'p>(
    plan: &'p Plan,
    firing: &Firing,
) -> Option<(
    &'p tenure_engine::playbook::PlaybookPlan,
    &'p tenure_domain::model::Playbook,
)> {
    if firing.held_out {
        return None;
    }
    let playbook = plan.playbooks.get(firing.playbook)?;
    Some((playbook, plan.model.playbooks.get(&playbook.name)?))
}

/// The tasks a firing opens: one per task action of its playbook, none when held out. The id
/// is `PLAYBOOK-ACCOUNT-YYYYMMDD-N` (the firing's day, the action's place), so the same
/// firing always opens the same tasks. A `csm` task goes to the account's owner; other roles
/// are left for their team to assign. Due at the firing's time plus the action's SLA.
pub fn tasks_for(
    plan: &Plan,
    firing: &Firing,
    owner: Option<&tenure_domain::UserId>,
) -> Vec<tenure_domain::Task> {
    use tenure_domain::model::{Action, Role};
    use tenure_domain::{AccountId, Task, TaskId, TaskStatus};
    let Some((playbook, spec)) = acted_on(plan, firing) else {
        return Vec::new();
    };
    let ts = |micros: i64| {
        chrono::DateTime::from_timestamp_micros(micros)
            .unwrap_or_default()
            .fixed_offset()
    };
    let date = day::date_of(day::day_of(firing.at)).format("%Y%m%d");
    let mut out = Vec::new();
    for (k, a) in spec.actions.iter().enumerate() {
        let Action::Task {
            title,
            role,
            priority,
            sla_hours,
        } = a
        else {
            continue;
        };
        let (Ok(id), Ok(account)) = (
            TaskId::parse(format!("{}-{}-{date}-{k}", playbook.name, firing.account)),
            AccountId::parse(&firing.account),
        ) else {
            continue;
        };
        out.push(Task {
            id,
            account,
            playbook: Some(playbook.name.clone()),
            title: title.clone(),
            role: *role,
            assignee: match role {
                Role::Csm => owner.cloned(),
                _ => None,
            },
            priority: *priority,
            status: TaskStatus::Open,
            created_at: ts(firing.at),
            due_at: Some(ts(firing.at + i64::from(*sla_hours) * 3_600_000_000)),
            snoozed_until: None,
            completed_at: None,
            outcome: None,
        });
    }
    out
}

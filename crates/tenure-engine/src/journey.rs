//! The customer journey: milestones reached (and when), time to first value, onboarding
//! progress, behind and stuck flags, and the lifecycle stage.

use serde::Serialize;
use tenure_domain::model::MilestoneKind;

use crate::day::{self, Day, Micros};
use crate::plan::{MilestoneRule, Plan};
use crate::state::AccountState;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Not yet activated.
    Onboarding,
    /// Activated, no habit yet.
    Adopting,
    /// The habit milestone is reached.
    Engaged,
    /// The expansion trigger is reached.
    Expanding,
    /// Had a subscription; none is in force any more.
    Churned,
}

impl Stage {
    pub fn name(self) -> &'static str {
        match self {
            Stage::Onboarding => "onboarding",
            Stage::Adopting => "adopting",
            Stage::Engaged => "engaged",
            Stage::Expanding => "expanding",
            Stage::Churned => "churned",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MilestoneStatus {
    pub milestone: String,
    pub kind: MilestoneKind,
    pub reached_on: Option<chrono::NaiveDate>,
    pub expected_by: Option<chrono::NaiveDate>,
    /// Past its expected date and not reached.
    pub behind: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Journey {
    pub signed_up_on: Option<chrono::NaiveDate>,
    pub activated_on: Option<chrono::NaiveDate>,
    pub first_value_on: Option<chrono::NaiveDate>,
    /// Days from sign-up (or the first product event) to the first-value milestone.
    pub time_to_first_value_days: Option<i64>,
    pub habit_on: Option<chrono::NaiveDate>,
    pub expansion_trigger_on: Option<chrono::NaiveDate>,
    pub milestones: Vec<MilestoneStatus>,
    /// Share of the milestones with an expected date that are reached (0–1).
    pub onboarding_progress: f64,
    pub stage: Stage,
    /// Some milestone is past its expected date.
    pub behind: bool,
    /// Onboarding is incomplete and no milestone was reached in the last 30 days, 30 days or
    /// more after sign-up.
    pub stuck: bool,
}

/// Latches measure milestones whose measure reaches its threshold on `now`'s day (event
/// milestones latch as events arrive).
pub fn latch(plan: &Plan, state: &mut AccountState, now: Micros) {
    let today = day::day_of(now);
    for (i, m) in plan.milestones.iter().enumerate() {
        if let MilestoneRule::Measure { measure, at_least } = &m.rule {
            if state.milestones[i].reached.is_some_and(|r| r <= today) {
                continue;
            }
            let v = crate::features::evaluate(plan, state, &plan.measures[*measure], now);
            if v.raw.is_some_and(|v| v >= *at_least) {
                state.milestones[i].reached = Some(today);
            }
        }
    }
}

pub fn journey(plan: &Plan, state: &AccountState, now: Micros) -> Journey {
    let today = day::day_of(now);
    let start: Option<Day> = state
        .info
        .as_ref()
        .and_then(|i| i.signed_up)
        .or(state.first_event)
        .map(day::day_of);
    let mut out = Journey {
        signed_up_on: state
            .info
            .as_ref()
            .and_then(|i| i.signed_up)
            .map(|s| day::date_of(day::day_of(s))),
        activated_on: None,
        first_value_on: None,
        time_to_first_value_days: None,
        habit_on: None,
        expansion_trigger_on: None,
        milestones: Vec::new(),
        onboarding_progress: 1.0,
        stage: Stage::Onboarding,
        behind: false,
        stuck: false,
    };
    let (mut expected, mut reached_expected) = (0, 0);
    let mut latest_reached: Option<Day> = None;
    let (mut activated, mut habit, mut expanding) = (false, false, false);
    for (m, s) in plan.milestones.iter().zip(&state.milestones) {
        let reached = s.reached.filter(|r| *r <= today);
        let expected_by = match (start, m.expected_within_days) {
            (Some(st), Some(d)) => Some(st + d as Day),
            _ => None,
        };
        let behind = reached.is_none() && expected_by.is_some_and(|e| e < today);
        if m.expected_within_days.is_some() {
            expected += 1;
            reached_expected += reached.is_some() as u32;
        }
        if let Some(r) = reached {
            latest_reached = Some(latest_reached.map_or(r, |l| l.max(r)));
        }
        let on = reached.map(day::date_of);
        match m.kind {
            MilestoneKind::Activation => {
                out.activated_on = on;
                activated = reached.is_some();
            }
            MilestoneKind::FirstValue => {
                out.first_value_on = on;
                out.time_to_first_value_days = match (reached, start) {
                    (Some(r), Some(st)) => Some((r - st).max(0) as i64),
                    _ => None,
                };
            }
            MilestoneKind::Habit => {
                out.habit_on = on;
                habit = reached.is_some();
            }
            MilestoneKind::ExpansionTrigger => {
                out.expansion_trigger_on = on;
                expanding = reached.is_some();
            }
            MilestoneKind::Custom => {}
        }
        out.behind |= behind;
        out.milestones.push(MilestoneStatus {
            milestone: m.name.clone(),
            kind: m.kind,
            reached_on: on,
            expected_by: expected_by.map(day::date_of),
            behind,
        });
    }
    if expected > 0 {
        out.onboarding_progress = reached_expected as f64 / expected as f64;
    }
    let churned =
        !state.subscriptions.is_empty() && !state.subscriptions.iter().any(|s| s.active_on(today));
    out.stage = if churned {
        Stage::Churned
    } else if expanding {
        Stage::Expanding
    } else if habit {
        Stage::Engaged
    } else if activated {
        Stage::Adopting
    } else {
        Stage::Onboarding
    };
    out.stuck = reached_expected < expected
        && start.is_some_and(|s| today - s >= 30)
        && latest_reached.is_none_or(|r| today - r >= 30)
        && !churned;
    out
}

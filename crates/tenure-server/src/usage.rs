//! Product usage from the history and the engine: the activity fold over every product event
//! (DAU, WAU, MAU), each account's journey (activation, first value, habit) and the groupings
//! the success model assigns (tier, segment, stage). Shared by the API and the CLI.

use chrono::NaiveDate;
use tenure_domain::model::MilestoneKind;
use tenure_domain::SuccessModel;
use tenure_engine::day::{self, Micros};
use tenure_engine::{Engine, Journey, Plan, Signal, Summary};
use tenure_metrics::directory::Directory;
use tenure_metrics::usage::{Activity, ActivityFold, JourneyFacts, Windows};
use tenure_metrics::GroupBy;

use crate::history::{Events, HistoryError};

/// Activation and habit windows when the model's milestones give none.
pub const DEFAULT_WINDOWS: Windows = Windows {
    activation_days: 30,
    habit_days: 90,
};

/// The windows "in time" is measured against: the activation and habit milestones'
/// `expected_within_days`.
pub fn windows(model: &SuccessModel) -> Windows {
    let within = |kind: MilestoneKind| {
        model
            .milestones
            .values()
            .find(|m| m.kind == kind)
            .and_then(|m| m.expected_within_days)
    };
    Windows {
        activation_days: within(MilestoneKind::Activation)
            .unwrap_or(DEFAULT_WINDOWS.activation_days),
        habit_days: within(MilestoneKind::Habit).unwrap_or(DEFAULT_WINDOWS.habit_days),
    }
}

/// Folds every product event up to the end of `last` into activity, accounts numbered by
/// `accounts`; with `engine`, applies each event to it too (one pass for both).
pub fn fold_history(
    events: &Events,
    plan: &Plan,
    accounts: &mut Directory,
    last: NaiveDate,
    mut engine: Option<&mut Engine>,
    now: Micros,
) -> Result<Activity, HistoryError> {
    let mut fold = ActivityFold::new();
    let last_day = day::day_of_date(last);
    for d in events.days().into_iter().filter(|d| *d <= last_day) {
        let batches = events.read_day(d)?;
        events.for_each(d, &batches, None, plan, |e| {
            if let Some(engine) = engine.as_deref_mut() {
                engine.apply(Signal::Event(e), now);
            }
            let date = day::date_of(day::day_of(e.at));
            fold.event(accounts.id(e.account), e.user, date);
        });
    }
    Ok(fold.finish(last))
}

/// The journey facts of the engine's accounts.
pub fn journey_facts(journeys: &[(String, Journey)]) -> Vec<JourneyFacts> {
    journeys
        .iter()
        .map(|(account, j)| JourneyFacts {
            account: account.clone(),
            signed_up_on: j.signed_up_on,
            activated_on: j.activated_on,
            habit_on: j.habit_on,
            time_to_first_value_days: j.time_to_first_value_days,
        })
        .collect()
}

/// Sets the groupings the success model assigns (tier, segment, stage) from the engine's
/// list rows.
pub fn label(accounts: &mut Directory, summaries: &[Summary]) {
    for s in summaries {
        accounts.set(&s.account, GroupBy::Tier, &s.tier);
        accounts.set(&s.account, GroupBy::Segment, &s.segment);
        accounts.set(&s.account, GroupBy::Stage, s.stage);
    }
}

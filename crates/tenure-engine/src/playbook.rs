//! Playbooks, evaluated on every re-score of an account (so on every signal that changes it,
//! and daily when the engine ticks): each playbook's trigger is checked against the account
//! as it stands, within the playbook's tiers and segments; a trigger that holds fires unless
//! the playbook fired for the account within its cool-down. Every firing records whether the
//! account is held out (`tenure_domain::model::held_out`): held-out firings are kept, with
//! no action taken, so the treated accounts can be compared with them.
//!
//! Triggers that need time keep a little state per account: when a condition began to hold
//! (`for_days`), and the account's daily scores for `health_drop`.

use serde::{Deserialize, Serialize};
use tenure_domain::model::{held_out, Band, SuccessModel, Trigger};

use crate::day::{self, Day, Micros, NO_DAY};
use crate::health::Health;
use crate::journey::Stage;
use crate::plan::Plan;
use crate::state::AccountState;

/// A playbook's trigger, compiled against the plan.
#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    /// The milestone is not reached `days` days after sign-up.
    MilestoneMissed { milestone: usize, days: u32 },
    /// The milestone was reached in the last `FRESH_DAYS` days (fires once per reaching).
    MilestoneReached { milestone: usize },
    /// The measure has been below (above) the threshold for `for_days` days.
    Below {
        measure: usize,
        threshold: f64,
        for_days: u32,
    },
    Above {
        measure: usize,
        threshold: f64,
        for_days: u32,
    },
    /// The measure (a comparison with the prior window) fell by `percent` % or more.
    Drop { measure: usize, percent: f64 },
    /// A renewal within `days` days while the band is one of `bands` (any when empty).
    RenewalWithin { days: u32, bands: Vec<Band> },
    /// The score fell by `points` or more against `days` days before.
    HealthDrop { points: f64, days: u32 },
    /// The band has been `band` for `for_days` days.
    BandIs { band: Band, for_days: u32 },
    /// A release out in the last `FRESH_DAYS` days changed a feature area the
    /// account used on `min_days` or more of the `within_days` days before it.
    ReleaseTouches { min_days: u32, within_days: u32 },
}

/// Days after a release, or after an account reached a milestone, during which it can still
/// fire a playbook (it fires at the account's first check after it, the next daily tick at
/// the latest; the margin covers an engine that was down). Older ones never fire: a server
/// starting on a year of history does not survey every account for last year's milestones.
pub const FRESH_DAYS: Day = 7;

/// A release as playbooks read it: its feature areas as the plan's indexes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReleaseSeen {
    pub id: String,
    pub name: String,
    pub at: Micros,
    pub features: Vec<u16>,
}

impl ReleaseSeen {
    /// The release's features, each a feature area or an event (standing for its area);
    /// names the model does not know are left out.
    pub fn new(plan: &Plan, r: &tenure_domain::Release) -> ReleaseSeen {
        let mut features: Vec<u16> = r
            .features
            .iter()
            .filter_map(|f| {
                plan.features
                    .iter()
                    .position(|x| x == f)
                    .map(|i| i as u16)
                    .or_else(|| plan.events.get(f).map(|e| plan.event_feature[*e as usize]))
            })
            .collect();
        features.sort_unstable();
        features.dedup();
        ReleaseSeen {
            id: r.id.as_str().to_owned(),
            name: r.name.clone(),
            at: r.released_at.timestamp_micros(),
            features,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct PlaybookPlan {
    pub name: String,
    pub check: Check,
    /// Tier and segment indexes it applies to; empty: all.
    pub tiers: Vec<u16>,
    pub segments: Vec<u16>,
    pub cooldown_days: u32,
    pub holdout_percent: f64,
    /// `tiers` and `segments` as bit sets (bit k: index k; all set when the list is empty).
    tier_bits: u64,
    segment_bits: u64,
}

impl PlaybookPlan {
    /// Whether the playbook applies to an account of this tier and segment.
    pub fn applies_to(&self, tier: u16, segment: u16) -> bool {
        let within = |bits: u64, list: &[u16], i: u16| match 1u64.checked_shl(u32::from(i)) {
            Some(b) if i < 64 => bits & b != 0,
            _ => list.is_empty() || list.contains(&i),
        };
        within(self.tier_bits, &self.tiers, tier)
            && within(self.segment_bits, &self.segments, segment)
    }
}

/// The bit set of `list` (every bit when it is empty: no restriction).
fn bits(list: &[u16]) -> u64 {
    if list.is_empty() {
        return u64::MAX;
    }
    list.iter()
        .filter(|i| **i < 64)
        .fold(0, |acc, i| acc | 1 << i)
}

/// One account's bookkeeping for one playbook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tracking {
    /// The day the trigger's condition began to hold without a break (`NO_DAY`: it does not).
    pub since: Day,
    /// The last day the playbook fired for the account (`NO_DAY`: never).
    pub last_fired: Day,
}

impl Default for Tracking {
    fn default() -> Self {
        Tracking {
            since: NO_DAY,
            last_fired: NO_DAY,
        }
    }
}

/// A playbook fired for an account.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Firing {
    /// The playbook's index in the plan (`Plan::playbooks`).
    pub playbook: usize,
    pub account: String,
    pub at: Micros,
    /// Held out: no action is taken; the account is the treated ones' comparison.
    pub held_out: bool,
    /// Why, in words, with the values that made it fire.
    pub reason: String,
    pub score: f64,
    pub band: Band,
    pub tier: u16,
    pub segment: u16,
}

/// Compiles the model's playbooks (names already checked by the model's parser).
pub fn compile(model: &SuccessModel, plan: &Plan) -> Vec<PlaybookPlan> {
    let measure = |n: &str| plan.measure_index.get(n).copied().unwrap_or(0);
    let milestone = |n: &str| {
        plan.milestones
            .iter()
            .position(|m| m.name == n)
            .unwrap_or(0)
    };
    model
        .playbooks
        .iter()
        .map(|(name, p)| {
            let check = match &p.trigger {
                Trigger::MilestoneMissed {
                    milestone: m,
                    days_after_signup,
                } => Check::MilestoneMissed {
                    milestone: milestone(m),
                    days: *days_after_signup,
                },
                Trigger::MilestoneReached { milestone: m } => Check::MilestoneReached {
                    milestone: milestone(m),
                },
                Trigger::MeasureBelow {
                    measure: m,
                    threshold,
                    for_days,
                } => Check::Below {
                    measure: measure(m),
                    threshold: *threshold,
                    for_days: *for_days,
                },
                Trigger::MeasureAbove {
                    measure: m,
                    threshold,
                    for_days,
                } => Check::Above {
                    measure: measure(m),
                    threshold: *threshold,
                    for_days: *for_days,
                },
                Trigger::MeasureDrop {
                    measure: m,
                    percent,
                } => Check::Drop {
                    measure: measure(m),
                    percent: *percent,
                },
                Trigger::RenewalWithin { days, bands } => Check::RenewalWithin {
                    days: *days,
                    bands: bands.clone(),
                },
                Trigger::HealthDrop { points, days } => Check::HealthDrop {
                    points: *points,
                    days: *days,
                },
                Trigger::BandIs { band, for_days } => Check::BandIs {
                    band: *band,
                    for_days: *for_days,
                },
                Trigger::ReleaseTouchesFeature {
                    min_days,
                    within_days,
                } => Check::ReleaseTouches {
                    min_days: *min_days,
                    within_days: *within_days,
                },
            };
            let index_of = |names: &[String], all: Vec<&str>| -> Vec<u16> {
                names
                    .iter()
                    .filter_map(|n| all.iter().position(|a| a == n).map(|i| i as u16))
                    .collect()
            };
            let tiers = index_of(
                &p.tiers,
                model.tiers.iter().map(|t| t.name.as_str()).collect(),
            );
            let segments = index_of(
                &p.segments,
                model
                    .segments
                    .iter()
                    .map(|s| s.rule.name.as_str())
                    .collect(),
            );
            PlaybookPlan {
                name: name.clone(),
                check,
                tier_bits: bits(&tiers),
                segment_bits: bits(&segments),
                tiers,
                segments,
                cooldown_days: p.cooldown_days,
                holdout_percent: p.holdout_percent,
            }
        })
        .collect()
}

/// The longest look-back of the plan's `health_drop` triggers (0: none keeps scores).
pub fn score_days_kept(playbooks: &[PlaybookPlan]) -> u32 {
    playbooks
        .iter()
        .filter_map(|p| match p.check {
            Check::HealthDrop { days, .. } => Some(days),
            _ => None,
        })
        .max()
        .unwrap_or(0)
}

/// The account as a playbook sees it on one re-score.
pub struct Seen<'a> {
    pub account: &'a str,
    pub health: &'a Health,
    pub tier: u16,
    pub segment: u16,
    pub stage: Stage,
    pub now: Micros,
    /// The releases the engine has seen, oldest first.
    pub releases: &'a [ReleaseSeen],
}

/// Checks every playbook against the account, updating its tracking; returns the firings.
pub fn evaluate(plan: &Plan, state: &mut AccountState, seen: &Seen<'_>) -> Vec<Firing> {
    let mut out = Vec::new();
    if plan.playbooks.is_empty() {
        return out;
    }
    let today = day::day_of(seen.now);
    let score = seen.health.score;
    let band = seen.health.band;
    // The daily scores `health_drop` reads: today's replaces an earlier one of the same day;
    // the newest one at least `kept` days old stays as the reference.
    if plan.score_days_kept > 0 {
        state
            .score_days
            .record(today, score as f32, plan.score_days_kept as usize + 1);
    }
    if state.playbooks.len() != plan.playbooks.len() {
        state
            .playbooks
            .resize(plan.playbooks.len(), Tracking::default());
    }
    // Each measure is read once per check of the account, when a playbook first reads it:
    // from the health score when it is one of its measures, else evaluated. The values read
    // are kept for the other playbooks reading them, in a few slots on the stack (no
    // allocation per check; a ninth distinct measure is read afresh each time).
    let slots: [std::cell::Cell<(usize, Option<f64>)>; 8] =
        [const { std::cell::Cell::new((usize::MAX, None)) }; 8];
    let value = |state: &AccountState, m: usize| -> Option<f64> {
        let mut free = None;
        for slot in &slots {
            let (k, v) = slot.get();
            if k == m {
                return v;
            }
            if k == usize::MAX {
                free = Some(slot);
                break;
            }
        }
        let v = match seen.health.measures.iter().find(|x| x.index == m) {
            Some(x) => x.raw,
            None => {
                crate::features::evaluate_with(plan, state, &plan.measures[m], seen.now, false).raw
            }
        };
        if let Some(slot) = free {
            slot.set((m, v));
        }
        v
    };
    let renewal: std::cell::OnceCell<Option<Day>> = Default::default();
    let churned = seen.stage == Stage::Churned;
    for (i, p) in plan.playbooks.iter().enumerate() {
        let in_scope = !churned && p.applies_to(seen.tier, seen.segment);
        // In its cool-down a playbook cannot fire: a trigger without a duration is not even
        // checked then (one with a duration keeps counting its days).
        let t = state.playbooks[i];
        let timeless = !matches!(
            p.check,
            Check::Below { .. } | Check::Above { .. } | Check::BandIs { .. }
        );
        if in_scope
            && timeless
            && t.last_fired != NO_DAY
            && today - t.last_fired < p.cooldown_days.max(1) as Day
        {
            continue;
        }
        // The condition now, with the value it read (words only once it fires).
        let (holds, read, for_days) = if in_scope {
            check(state, i, &p.check, seen, today, &value, &renewal)
        } else {
            (false, Read::None, 0)
        };
        let t = &mut state.playbooks[i];
        if !holds {
            t.since = NO_DAY;
            continue;
        }
        if t.since == NO_DAY {
            t.since = today;
        }
        let lasted = today - t.since;
        if lasted < for_days as Day {
            continue;
        }
        if t.last_fired != NO_DAY && today - t.last_fired < p.cooldown_days.max(1) as Day {
            continue;
        }
        t.last_fired = today;
        let reason = reason(plan, &p.check, read, seen);
        out.push(Firing {
            playbook: i,
            account: seen.account.to_owned(),
            at: seen.now,
            held_out: held_out(&p.name, seen.account, p.holdout_percent),
            reason: if for_days > 0 {
                format!("{reason} for {lasted} days")
            } else {
                reason
            },
            score,
            band,
            tier: seen.tier,
            segment: seen.segment,
        });
    }
    out
}

/// What a check read, for its reason.
#[derive(Debug, Clone, Copy)]
enum Read {
    None,
    Value(Option<f64>),
    Renewal(Option<Day>),
    /// The release (index in `Seen::releases`), the feature area and its days of use.
    Release(usize, u16, u32),
}

/// Whether `check` holds for the account now, what it read, and the days it must hold.
#[inline(always)]
fn check(
    state: &AccountState,
    i: usize,
    check: &Check,
    seen: &Seen<'_>,
    today: Day,
    value: &dyn Fn(&AccountState, usize) -> Option<f64>,
    renewal: &std::cell::OnceCell<Option<Day>>,
) -> (bool, Read, u32) {
    let band = seen.health.band;
    match check {
        Check::MilestoneMissed { milestone, days } => {
            let signed_up = state
                .info
                .as_ref()
                .and_then(|x| x.signed_up)
                .or(state.first_event)
                .map(day::day_of);
            let late = signed_up.is_some_and(|s| today - s >= *days as Day);
            (
                late && state.milestones[*milestone].reached.is_none(),
                Read::None,
                0,
            )
        }
        Check::MilestoneReached { milestone } => {
            let last = state.playbooks[i].last_fired;
            // Once per reaching (not again after firing on or after that day), and only
            // while fresh.
            let new = state.milestones[*milestone].reached.is_some_and(|r| {
                (last == NO_DAY || last < r) && r <= today && today - r <= FRESH_DAYS
            });
            (new, Read::None, 0)
        }
        Check::Below {
            measure,
            threshold,
            for_days,
        } => {
            let v = value(state, *measure);
            (v.is_some_and(|v| v < *threshold), Read::Value(v), *for_days)
        }
        Check::Above {
            measure,
            threshold,
            for_days,
        } => {
            let v = value(state, *measure);
            (v.is_some_and(|v| v > *threshold), Read::Value(v), *for_days)
        }
        Check::Drop { measure, percent } => {
            let v = value(state, *measure);
            (v.is_some_and(|v| v * 100.0 <= -percent), Read::Value(v), 0)
        }
        Check::RenewalWithin { days, bands } => {
            if !(bands.is_empty() || bands.contains(&band)) {
                return (false, Read::None, 0);
            }
            let renewal = *renewal.get_or_init(|| crate::features::renewal(state, today));
            let within = renewal.is_some_and(|r| r >= today && r - today <= *days as Day);
            (within, Read::Renewal(renewal), 0)
        }
        Check::HealthDrop { points, days } => {
            let then = state
                .score_days
                .on_or_before(today - *days as Day)
                .map(f64::from);
            (
                then.is_some_and(|t| t - seen.health.score >= *points),
                Read::Value(then),
                0,
            )
        }
        Check::BandIs {
            band: wanted,
            for_days,
        } => (band == *wanted, Read::None, *for_days),
        Check::ReleaseTouches {
            min_days,
            within_days,
        } => {
            let last = state.playbooks[i].last_fired;
            // The release, among those out and fresh and newer than the last firing, whose
            // feature the account used most.
            // Newest first, stopping at the first one too old (they are in time order).
            let mut best: Option<(usize, u16, u32)> = None;
            for (k, r) in seen.releases.iter().enumerate().rev() {
                let released = day::day_of(r.at);
                if today - released > FRESH_DAYS {
                    break;
                }
                if r.at > seen.now || (last != NO_DAY && released <= last) {
                    continue;
                }
                // In reverse, keeping ties: the earliest release and area of those used most.
                for &f in r.features.iter().rev() {
                    let used = state.feature_days.get(f as usize).map_or(0, |u| {
                        u.days_in(released - *within_days as Day, released - 1)
                    });
                    if used >= *min_days && best.is_none_or(|b| used >= b.2) {
                        best = Some((k, f, used));
                    }
                }
            }
            match best {
                Some((k, f, used)) => (true, Read::Release(k, f, used), 0),
                None => (false, Read::None, 0),
            }
        }
    }
}

/// Why a playbook fired, in words, with the values read.
fn reason(plan: &Plan, check: &Check, read: Read, seen: &Seen<'_>) -> String {
    let value = |r: Read| match r {
        Read::Value(Some(v)) => format!("{v:.3}"),
        _ => "missing".to_owned(),
    };
    let score = seen.health.score;
    match check {
        Check::MilestoneMissed { milestone, days } => format!(
            "{} not reached {days} days after sign-up",
            plan.milestones[*milestone].name
        ),
        Check::MilestoneReached { milestone } => {
            format!("{} reached", plan.milestones[*milestone].name)
        }
        Check::Below {
            measure, threshold, ..
        } => format!(
            "{} {} < {threshold}",
            plan.measures[*measure].name,
            value(read)
        ),
        Check::Above {
            measure, threshold, ..
        } => format!(
            "{} {} > {threshold}",
            plan.measures[*measure].name,
            value(read)
        ),
        Check::Drop { measure, percent } => format!(
            "{} {} against the prior window (a fall of {percent} % or more)",
            plan.measures[*measure].name,
            match read {
                Read::Value(Some(v)) => format!("{:+.0} %", v * 100.0),
                _ => "missing".to_owned(),
            }
        ),
        Check::RenewalWithin { .. } => format!(
            "renewal on {} and health {}",
            match read {
                Read::Renewal(Some(r)) => day::date_of(r).to_string(),
                _ => "–".to_owned(),
            },
            seen.health.band.name()
        ),
        Check::HealthDrop { days, .. } => format!(
            "health {score:.1} against {} {days} days before",
            match read {
                Read::Value(Some(t)) => format!("{t:.1}"),
                _ => "–".to_owned(),
            }
        ),
        Check::BandIs { .. } => format!("health {} ({score:.1})", seen.health.band.name()),
        Check::ReleaseTouches { within_days, .. } => match read {
            Read::Release(k, f, used) => {
                let r = &seen.releases[k];
                format!(
                    "release {} ({}) changed {}, used on {used} of the {within_days} days before",
                    r.name,
                    day::date_of(day::day_of(r.at)),
                    plan.features[f as usize]
                )
            }
            _ => "a release".to_owned(),
        },
    }
}

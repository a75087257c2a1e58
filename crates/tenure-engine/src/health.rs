//! The health score: four pillars of normalised, weighted measures (with the account's tier
//! and segment overrides), an explanation of every point, confidence, and the smallest change
//! that would move the account to the next band.

use std::collections::HashMap;

use serde::Serialize;
use tenure_domain::model::{
    AccountCondition, AccountField, Band, Literal, Normalisation, Op, Pillar, RuleSet,
};

use crate::day::{self, Micros};
use crate::features::{self, Lineage};
use crate::plan::Plan;
use crate::state::AccountState;

/// One measure's part in the score.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MeasureScore {
    pub measure: String,
    /// The measure's index in the plan.
    #[serde(skip)]
    pub index: usize,
    pub pillar: Pillar,
    /// The measured value; `None` when missing (then scored neutral, 0.5, and the score's
    /// confidence falls by this measure's share).
    pub raw: Option<f64>,
    pub normalised: f64,
    /// The measure's weight within its pillar after overrides.
    pub weight: f64,
    /// The most points this measure can give (its share of 100).
    pub max_points: f64,
    pub points: f64,
    /// Points against a neutral value (0.5): positive drivers lift the score.
    pub impact: f64,
    pub missing: bool,
    pub stale: bool,
    pub lineage: Lineage,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PillarScore {
    pub pillar: Pillar,
    /// The pillar's weight after overrides.
    pub weight: f64,
    /// 0–100; `None` when no measure in it carries weight for this account.
    pub score: Option<f64>,
    /// Its contribution to the health score.
    pub points: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Driver {
    pub measure: String,
    pub pillar: Pillar,
    pub raw: Option<f64>,
    pub impact: f64,
}

/// One way to reach the next band.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    pub measure: String,
    pub from: Option<f64>,
    pub to: f64,
    pub points: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PathToBand {
    pub band: Band,
    pub points_needed: f64,
    /// Single-measure changes that each suffice, smallest (normalised) change first; when
    /// none suffices alone, `combined` lists the fewest changes that do together.
    pub options: Vec<Step>,
    pub combined: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Health {
    pub score: f64,
    pub band: Band,
    pub confidence: f64,
    pub pillars: Vec<PillarScore>,
    pub measures: Vec<MeasureScore>,
    pub positive_drivers: Vec<Driver>,
    pub negative_drivers: Vec<Driver>,
    pub path_to_next_band: Option<PathToBand>,
    pub model_version: String,
    #[serde(with = "micros_rfc3339")]
    pub computed_at: Micros,
}

pub(crate) mod micros_rfc3339 {
    use serde::Serializer;
    pub fn serialize<S: Serializer>(t: &i64, s: S) -> Result<S::Ok, S::Error> {
        match chrono::DateTime::from_timestamp_micros(*t) {
            Some(t) => s.serialize_str(&t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
            None => s.serialize_none(),
        }
    }
}

/// The values of every measure of the same tier, sorted: the `percentile` normalisation
/// ranks an account among them. Refreshed daily by the engine.
pub type Distributions = HashMap<(u16, usize), Vec<f64>>;

/// The account's tier and segment indexes (into the model's lists).
pub fn classify(plan: &Plan, state: &AccountState, today: day::Day) -> (u16, u16) {
    let arr = features::arr(state, today);
    let seats = features::seats(state, today);
    let plan_name = state
        .subscriptions
        .iter()
        .filter(|s| s.active_on(today))
        .map(|s| s.plan.as_str())
        .next()
        .or(state.info.as_ref().and_then(|i| i.plan.as_deref()));
    let field = |f: AccountField| -> FieldValue<'_> {
        let info = state.info.as_ref();
        match f {
            AccountField::Arr => FieldValue::Number(arr),
            AccountField::Seats => FieldValue::Number(seats as f64),
            AccountField::Plan => FieldValue::Text(plan_name),
            AccountField::Industry => FieldValue::Text(info.and_then(|i| i.industry.as_deref())),
            AccountField::Region => FieldValue::Text(info.and_then(|i| i.region.as_deref())),
            AccountField::SizeBand => FieldValue::Text(info.and_then(|i| i.size_band.as_deref())),
            AccountField::Country => FieldValue::Text(info.and_then(|i| i.country.as_deref())),
        }
    };
    let matches = |r: &RuleSet| r.when.iter().all(|c| holds(c, &field));
    let model = &plan.model;
    let tier = model.tiers.iter().position(matches).unwrap_or(0) as u16;
    let segment = model
        .segments
        .iter()
        .position(|s| matches(&s.rule))
        .unwrap_or(0) as u16;
    (tier, segment)
}

enum FieldValue<'a> {
    Number(f64),
    Text(Option<&'a str>),
}

fn holds<'a>(c: &AccountCondition, field: &dyn Fn(AccountField) -> FieldValue<'a>) -> bool {
    let eq = |v: &FieldValue, lit: &Literal| match (v, lit) {
        (FieldValue::Number(a), Literal::Number(b)) => a == b,
        (FieldValue::Text(Some(a)), Literal::Text(b)) => a == b,
        _ => false,
    };
    let v = field(c.field);
    match c.op {
        Op::Eq => eq(&v, &c.value),
        Op::Ne => !eq(&v, &c.value),
        Op::In => matches!(&c.value, Literal::List(l) if l.iter().any(|x| eq(&v, x))),
        Op::NotIn => !matches!(&c.value, Literal::List(l) if l.iter().any(|x| eq(&v, x))),
        Op::Exists => !matches!(v, FieldValue::Text(None)),
        Op::Gt | Op::Gte | Op::Lt | Op::Lte => match (v, &c.value) {
            (FieldValue::Number(a), Literal::Number(b)) => match c.op {
                Op::Gt => a > *b,
                Op::Gte => a >= *b,
                Op::Lt => a < *b,
                _ => a <= *b,
            },
            _ => false,
        },
    }
}

/// Normalises `raw` to 0–1 (before flipping for `higher_is_better = false`).
fn normalise(n: &Normalisation, raw: f64, rank: impl FnOnce() -> f64) -> f64 {
    let v = match *n {
        Normalisation::Linear { min, max } => {
            if max > min {
                (raw - min) / (max - min)
            } else {
                (raw >= max) as u8 as f64
            }
        }
        Normalisation::Log { max } => (1.0 + raw.max(0.0)).ln() / (1.0 + max).ln(),
        Normalisation::Boolean => (raw > 0.0) as u8 as f64,
        Normalisation::Percentile => rank(),
    };
    v.clamp(0.0, 1.0)
}

/// The raw value that normalises to `n` (after flipping), where one exists.
fn inverse(n: &Normalisation, target: f64, higher_is_better: bool) -> Option<f64> {
    let t = if higher_is_better {
        target
    } else {
        1.0 - target
    };
    match *n {
        Normalisation::Linear { min, max } => Some(min + t * (max - min)),
        Normalisation::Log { max } => Some((1.0 + max).powf(t) - 1.0),
        Normalisation::Boolean => Some(if higher_is_better { 1.0 } else { 0.0 }),
        Normalisation::Percentile => None,
    }
}

pub fn band(plan: &Plan, score: f64) -> Band {
    let b = &plan.model.health.bands;
    if score >= b.green {
        Band::Green
    } else if score >= b.amber {
        Band::Amber
    } else {
        Band::Red
    }
}

/// Scores an account on `now`. `feed_last` is the newest product event the engine has seen
/// from any account: when even that is stale, event measures are stale too.
pub fn score(
    plan: &Plan,
    state: &AccountState,
    now: Micros,
    feed_last: Option<Micros>,
    distributions: &Distributions,
) -> Health {
    score_with(plan, state, now, feed_last, distributions, true)
}

/// `score`; without `explain`, no lineage, drivers or path (for daily snapshots).
pub fn score_with(
    plan: &Plan,
    state: &AccountState,
    now: Micros,
    feed_last: Option<Micros>,
    distributions: &Distributions,
    explain: bool,
) -> Health {
    let today = day::day_of(now);
    let (tier, segment) = classify(plan, state, today);
    let h = &plan.model.health;
    let stale_after = h.stale_after_days as i64 * day::MICROS_PER_DAY;
    let feed_stale = feed_last.is_none_or(|t| now - t > stale_after);
    let mut pillars = Vec::new();
    let mut measures = Vec::new();
    let mut confidence = 0.0;
    let mut total = 0.0;
    for pw in plan.weights_for(tier, segment) {
        let mut pillar_points = 0.0;
        let mut pillar_max = 0.0;
        for m in &pw.measures {
            let (wm, mi, max_points) = (&m.spec, m.measure, m.max_points);
            let mp = &plan.measures[mi];
            if max_points == 0.0 && !explain {
                continue;
            }
            let value = features::evaluate_with(plan, state, mp, now, explain);
            let missing = value.raw.is_none();
            let normalised = match value.raw {
                None => 0.5,
                Some(raw) => {
                    let n = normalise(&wm.normalise, raw, || {
                        rank(distributions.get(&(tier, mi)).map(Vec::as_slice), raw)
                    });
                    if wm.higher_is_better {
                        n
                    } else {
                        1.0 - n
                    }
                }
            };
            let stale = !missing
                && match (mp.spec.source, value.observed) {
                    (tenure_domain::model::MeasureSource::Events, _) => feed_stale,
                    (_, Some(at)) => now - at > stale_after,
                    _ => false,
                };
            let points = max_points * normalised;
            confidence += max_points / 100.0
                * if missing {
                    0.0
                } else if stale {
                    0.5
                } else {
                    1.0
                };
            pillar_points += points;
            pillar_max += max_points;
            total += points;
            if explain {
                measures.push(MeasureScore {
                    measure: wm.measure.clone(),
                    index: mi,
                    pillar: pw.pillar,
                    raw: value.raw,
                    normalised,
                    weight: m.weight,
                    max_points,
                    points,
                    impact: if missing {
                        0.0
                    } else {
                        max_points * (normalised - 0.5)
                    },
                    missing,
                    stale,
                    lineage: value.lineage,
                });
            }
        }
        let pillar = pw.pillar;
        let pw = pw.weight;
        pillars.push(PillarScore {
            pillar,
            weight: pw,
            score: (pillar_max > 0.0).then(|| 100.0 * pillar_points / pillar_max),
            points: pillar_points,
        });
    }
    let score = total.clamp(0.0, 100.0);
    let band = band(plan, score);
    let drivers = |positive: bool| {
        let mut d: Vec<&MeasureScore> = measures
            .iter()
            .filter(|m| {
                if positive {
                    m.impact > 1e-9
                } else {
                    m.impact < -1e-9
                }
            })
            .collect();
        d.sort_by(|a, b| {
            let (x, y) = if positive {
                (b.impact, a.impact)
            } else {
                (a.impact, b.impact)
            };
            x.total_cmp(&y).then_with(|| a.measure.cmp(&b.measure))
        });
        d.into_iter()
            .take(3)
            .map(|m| Driver {
                measure: m.measure.clone(),
                pillar: m.pillar,
                raw: m.raw,
                impact: m.impact,
            })
            .collect::<Vec<_>>()
    };
    let (positive_drivers, negative_drivers, path_to_next_band) = if explain {
        (
            drivers(true),
            drivers(false),
            path(plan, score, band, &measures),
        )
    } else {
        (Vec::new(), Vec::new(), None)
    };
    Health {
        score,
        band,
        confidence: confidence.clamp(0.0, 1.0),
        pillars,
        measures,
        positive_drivers,
        negative_drivers,
        path_to_next_band,
        model_version: plan.version.to_string(),
        computed_at: now,
    }
}

/// The share of `values` at or below `raw` (0.5 without a distribution).
fn rank(values: Option<&[f64]>, raw: f64) -> f64 {
    match values {
        Some(v) if !v.is_empty() => v.partition_point(|x| *x <= raw) as f64 / v.len() as f64,
        _ => 0.5,
    }
}

fn path(plan: &Plan, score: f64, band: Band, measures: &[MeasureScore]) -> Option<PathToBand> {
    let b = &plan.model.health.bands;
    let (next, threshold) = match band {
        Band::Green => return None,
        Band::Amber => (Band::Green, b.green),
        Band::Red => (Band::Amber, b.amber),
    };
    let gap = threshold - score;
    let spec_of = |name: &str| {
        plan.model
            .health
            .pillars
            .values()
            .flat_map(|p| &p.measures)
            .find(|m| m.measure == name)
    };
    let step = |m: &MeasureScore, target_n: f64| -> Option<Step> {
        let spec = spec_of(&m.measure)?;
        let to = inverse(&spec.normalise, target_n, spec.higher_is_better)?;
        Some(Step {
            measure: m.measure.clone(),
            from: m.raw,
            to,
            points: m.max_points * (target_n - m.normalised),
        })
    };
    let mut options: Vec<(f64, Step)> = measures
        .iter()
        .filter(|m| m.max_points > 0.0 && m.max_points * (1.0 - m.normalised) >= gap)
        .filter_map(|m| {
            let dn = gap / m.max_points;
            step(m, (m.normalised + dn).min(1.0)).map(|s| (dn, s))
        })
        .collect();
    options.sort_by(|a, b| {
        a.0.total_cmp(&b.0)
            .then_with(|| a.1.measure.cmp(&b.1.measure))
    });
    let options: Vec<Step> = options.into_iter().take(3).map(|(_, s)| s).collect();
    let mut combined = Vec::new();
    if options.is_empty() {
        let mut by_headroom: Vec<&MeasureScore> =
            measures.iter().filter(|m| m.max_points > 0.0).collect();
        by_headroom.sort_by(|a, b| {
            (b.max_points * (1.0 - b.normalised))
                .total_cmp(&(a.max_points * (1.0 - a.normalised)))
                .then_with(|| a.measure.cmp(&b.measure))
        });
        let mut left = gap;
        for m in by_headroom {
            if left <= 0.0 {
                break;
            }
            let room = m.max_points * (1.0 - m.normalised);
            let take = room.min(left);
            if let Some(s) = step(m, m.normalised + take / m.max_points) {
                left -= take;
                combined.push(s);
            }
        }
    }
    Some(PathToBand {
        band: next,
        points_needed: gap,
        options,
        combined,
    })
}

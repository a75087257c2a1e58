//! A success model compiled for the engine: events and feature areas by index, and the
//! "streams" — one per distinct event filter — that the measures and milestones read. Two
//! measures over the same events share one stream, so per-account state holds each fact once.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value};
use tenure_domain::model::{
    ActivityKind, Aggregate, Compare, Literal, Measure, MeasureSource, MilestoneCondition,
    MilestoneKind, ModelVersion, Op, OverrideScope, Pillar, PropertyCondition, SuccessModel,
    WeightedMeasure,
};

use crate::day::capacity;

/// How late an event may arrive and still count towards the day a windowed milestone was
/// reached (older arrivals still count in every feature; `tenure rescore` places them).
pub const LATE_MILESTONE_DAYS: u32 = 30;

/// Which events a stream reads.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    /// Event indexes; `None` reads every product event (track, page, screen).
    pub events: Option<Vec<u16>>,
    pub conditions: Vec<PropertyCondition>,
}

/// What a stream keeps per account.
#[derive(Debug, Clone, Default)]
pub struct Needs {
    pub counts: bool,
    pub users: bool,
    pub days: bool,
    pub features: bool,
    /// Per-day sum, count, min and max of this property.
    pub stats: Option<String>,
    /// Distinct values of this property.
    pub values: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Stream {
    pub filter: Filter,
    pub needs: Needs,
    /// Ring capacity in days.
    pub cap: u32,
    /// Whether some measure or milestone reads the filter's properties.
    pub reads_properties: bool,
    /// Whether accounts keep state for it (a stream read only by all-time milestones keeps
    /// none: the milestone keeps its own evidence).
    pub stores: bool,
    /// Where its rings lie in an account's arena: with 16-bit and with 32-bit day counts.
    pub regions: [Region; 2],
    /// Its slots in an account's lists of users and of distinct values, when it keeps them.
    pub users: Option<usize>,
    pub values: Option<usize>,
}

/// A stored stream's place in an account's arena of 64-bit words (see `state`): a header
/// (head day, latest event time, its log offset), then per-day counts, the day-bit rows
/// (active days, then each feature area) and per-day property statistics, each present
/// only when the stream needs it. Offsets are absolute word indexes.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Region {
    pub at: usize,
    pub counts: usize,
    pub bits: usize,
    pub stats: usize,
    pub end: usize,
}

/// Header words of a stream's region.
pub const REGION_HEADER: usize = 3;
/// Words of property statistics per day: sum, count, min, max.
pub const STAT_WORDS: usize = 4;

#[derive(Debug, Clone)]
pub struct MeasurePlan {
    pub name: String,
    pub spec: Measure,
    /// For event measures: the stream read.
    pub stream: Option<usize>,
}

/// An event milestone's condition, counted either inside a rolling window (`window`) or over
/// all time.
#[derive(Debug, Clone)]
pub struct EventMilestone {
    pub stream: usize,
    pub min_count: u32,
    pub min_users: u32,
    pub min_days: u32,
    pub window: Option<u32>,
}

#[derive(Debug, Clone)]
pub enum MilestoneRule {
    Events(EventMilestone),
    Measure { measure: usize, at_least: f64 },
}

#[derive(Debug, Clone)]
pub struct MilestonePlan {
    pub name: String,
    pub kind: MilestoneKind,
    pub rule: MilestoneRule,
    pub expected_within_days: Option<u32>,
}

/// One health measure's weight for one tier and segment.
#[derive(Debug, Clone)]
pub struct MeasureWeight {
    /// Index into `Plan::measures`.
    pub measure: usize,
    pub spec: WeightedMeasure,
    /// The weight within the pillar after overrides.
    pub weight: f64,
    /// The most points it can give (its share of 100).
    pub max_points: f64,
}

#[derive(Debug, Clone)]
pub struct PillarWeight {
    pub pillar: Pillar,
    /// After overrides; 0 when no measure in it carries weight.
    pub weight: f64,
    pub measures: Vec<MeasureWeight>,
}

/// The compiled model.
#[derive(Debug)]
pub struct Plan {
    pub model: Arc<SuccessModel>,
    pub version: ModelVersion,
    pub events: HashMap<String, u16, foldhash::fast::FixedState>,
    pub event_names: Vec<String>,
    /// Feature area of each event.
    pub event_feature: Vec<u16>,
    pub features: Vec<String>,
    pub streams: Vec<Stream>,
    /// Streams each event index feeds; `any_streams` are fed by every product event.
    pub streams_of_event: Vec<Vec<usize>>,
    pub any_streams: Vec<usize>,
    /// Event milestones each event index feeds; `any_milestones` read every event.
    pub milestones_of_event: Vec<Vec<usize>>,
    pub any_milestones: Vec<usize>,
    pub measures: Vec<MeasurePlan>,
    pub measure_index: HashMap<String, usize>,
    pub milestones: Vec<MilestonePlan>,
    /// Health weights for each tier and segment: `weights[tier * segments + segment]`.
    pub weights: Vec<Vec<PillarWeight>>,
    /// The activity kinds some measure reads.
    pub activity_kinds: Vec<tenure_domain::model::ActivityKind>,
    /// Words of an account's arena, with 16-bit and with 32-bit day counts.
    pub arena: [usize; 2],
    /// Lists (users or distinct values) an account keeps.
    pub lists: usize,
    /// How far back ticket, survey and activity state is kept (days).
    pub ticket_horizon: u32,
    pub survey_horizon: u32,
    pub activity_horizon: u32,
    /// The model's playbooks, compiled (`playbook.rs`).
    pub playbooks: Vec<crate::playbook::PlaybookPlan>,
    /// Days of daily scores an account keeps for `health_drop` triggers (0: none).
    pub score_days_kept: u32,
    /// Whether some playbook fires on releases (accounts then keep their days of use per
    /// feature area: `state::FeatureDays`).
    pub release_playbooks: bool,
}

impl Plan {
    pub fn new(model: SuccessModel) -> Plan {
        let version = model.version();
        let mut events = HashMap::default();
        let mut event_names = Vec::new();
        let mut event_feature = Vec::new();
        let mut features: Vec<String> = Vec::new();
        for (name, spec) in &model.events {
            events.insert(name.clone(), event_names.len() as u16);
            event_names.push(name.clone());
            let f = match features.iter().position(|f| *f == spec.feature) {
                Some(i) => i,
                None => {
                    features.push(spec.feature.clone());
                    features.len() - 1
                }
            };
            event_feature.push(f as u16);
        }
        let mut plan = Plan {
            version,
            events,
            event_names,
            event_feature,
            features,
            streams: Vec::new(),
            streams_of_event: Vec::new(),
            any_streams: Vec::new(),
            milestones_of_event: Vec::new(),
            any_milestones: Vec::new(),
            measures: Vec::new(),
            measure_index: HashMap::new(),
            milestones: Vec::new(),
            weights: Vec::new(),
            activity_kinds: Vec::new(),
            arena: [0; 2],
            lists: 0,
            ticket_horizon: 0,
            survey_horizon: 0,
            activity_horizon: 0,
            playbooks: Vec::new(),
            score_days_kept: 0,
            release_playbooks: false,
            model: Arc::new(model.clone()),
        };
        for (name, spec) in &model.measures {
            let stream = (spec.source == MeasureSource::Events).then(|| {
                let filter = plan.filter(&spec.events, &spec.conditions);
                let horizon = match spec.compare {
                    Some(Compare::PriorWindow) => spec.window_days * 2,
                    None => spec.window_days,
                };
                let mut needs = Needs::default();
                match spec.aggregate {
                    Aggregate::Count => needs.counts = true,
                    Aggregate::DistinctUsers => needs.users = true,
                    Aggregate::ActiveDays => needs.days = true,
                    Aggregate::DistinctFeatures => needs.features = true,
                    Aggregate::Sum | Aggregate::Average | Aggregate::Min | Aggregate::Max => {
                        needs.stats = spec.property.clone()
                    }
                    Aggregate::DistinctValues => needs.values = spec.property.clone(),
                    // The last event time is kept by any stored stream; make sure this one is.
                    _ => needs.days = true,
                }
                let horizon = if spec.aggregate == Aggregate::DaysSinceLast {
                    1
                } else {
                    horizon
                };
                plan.stream(filter, needs, horizon)
            });
            match spec.source {
                MeasureSource::Tickets => {
                    plan.ticket_horizon = plan.ticket_horizon.max(window(spec))
                }
                MeasureSource::Surveys => {
                    plan.survey_horizon = plan.survey_horizon.max(spec.window_days)
                }
                MeasureSource::Activities => {
                    plan.activity_horizon = plan.activity_horizon.max(window(spec));
                    let kinds: &[ActivityKind] = if spec.activities.is_empty() {
                        &ActivityKind::ALL
                    } else {
                        &spec.activities
                    };
                    for k in kinds {
                        if !plan.activity_kinds.contains(k) {
                            plan.activity_kinds.push(*k);
                        }
                    }
                }
                _ => {}
            }
            plan.measure_index.insert(name.clone(), plan.measures.len());
            plan.measures.push(MeasurePlan {
                name: name.clone(),
                spec: spec.clone(),
                stream,
            });
        }
        for (name, m) in &model.milestones {
            let rule = match &m.condition {
                MilestoneCondition::Events {
                    events,
                    min_count,
                    min_distinct_users,
                    min_active_days,
                    window_days,
                } => {
                    let filter = plan.filter(events, &[]);
                    // All-time milestones keep their own evidence; windowed ones read rings.
                    let needs = Needs {
                        counts: window_days.is_some(),
                        users: window_days.is_some() && *min_distinct_users > 1,
                        days: window_days.is_some(),
                        ..Needs::default()
                    };
                    // Rings reach back far enough to place events up to a month late.
                    let horizon = window_days.map_or(1, |w| w + LATE_MILESTONE_DAYS);
                    let stream = plan.stream(filter, needs, horizon);
                    // One event is one user on one day: thresholds of 1 add nothing to it.
                    MilestoneRule::Events(EventMilestone {
                        stream,
                        min_count: (*min_count).max(1),
                        min_users: if *min_distinct_users > 1 {
                            *min_distinct_users
                        } else {
                            0
                        },
                        min_days: if *min_active_days > 1 {
                            *min_active_days
                        } else {
                            0
                        },
                        window: *window_days,
                    })
                }
                MilestoneCondition::Measure { measure, at_least } => MilestoneRule::Measure {
                    measure: plan.measure_index.get(measure).copied().unwrap_or(0),
                    at_least: *at_least,
                },
            };
            plan.milestones.push(MilestonePlan {
                name: name.clone(),
                kind: m.kind,
                rule,
                expected_within_days: m.expected_within_days,
            });
        }
        plan.milestones_of_event = vec![Vec::new(); plan.event_names.len()];
        for (mi, m) in plan.milestones.iter().enumerate() {
            if let MilestoneRule::Events(rule) = &m.rule {
                match &plan.streams[rule.stream].filter.events {
                    None => plan.any_milestones.push(mi),
                    Some(evs) => {
                        for e in evs {
                            plan.milestones_of_event[*e as usize].push(mi);
                        }
                    }
                }
            }
        }
        for s in &mut plan.streams {
            let n = &s.needs;
            s.stores = n.counts
                || n.users
                || n.days
                || n.features
                || n.stats.is_some()
                || n.values.is_some();
        }
        plan.lay_out();
        let segments = model.segments.len().max(1);
        for tier in 0..model.tiers.len().max(1) {
            for segment in 0..segments {
                let w = plan.health_weights(tier, segment);
                plan.weights.push(w);
            }
        }
        plan.streams_of_event = vec![Vec::new(); plan.event_names.len()];
        for (i, s) in plan.streams.iter().enumerate() {
            match &s.filter.events {
                None => plan.any_streams.push(i),
                Some(evs) => {
                    for e in evs {
                        plan.streams_of_event[*e as usize].push(i);
                    }
                }
            }
        }
        plan.playbooks = crate::playbook::compile(&model, &plan);
        plan.score_days_kept = crate::playbook::score_days_kept(&plan.playbooks);
        plan.release_playbooks = plan
            .playbooks
            .iter()
            .any(|p| matches!(p.check, crate::playbook::Check::ReleaseTouches { .. }));
        plan
    }

    fn filter(&self, events: &[String], conditions: &[PropertyCondition]) -> Filter {
        let events = if events.is_empty() {
            None
        } else {
            let mut idx: Vec<u16> = events
                .iter()
                .filter_map(|e| self.events.get(e).copied())
                .collect();
            idx.sort_unstable();
            idx.dedup();
            Some(idx)
        };
        Filter {
            events,
            conditions: conditions.to_vec(),
        }
    }

    /// The stream for `filter`, made or widened to keep `needs` over `horizon` days.
    fn stream(&mut self, filter: Filter, needs: Needs, horizon: u32) -> usize {
        let cap = capacity(horizon);
        let i = match self.streams.iter().position(|s| s.filter == filter) {
            Some(i) => i,
            None => {
                let reads_properties = !filter.conditions.is_empty();
                self.streams.push(Stream {
                    filter,
                    needs: Needs::default(),
                    cap,
                    reads_properties,
                    stores: false,
                    regions: Default::default(),
                    users: None,
                    values: None,
                });
                self.streams.len() - 1
            }
        };
        let s = &mut self.streams[i];
        s.cap = s.cap.max(cap);
        s.needs.counts |= needs.counts;
        s.needs.users |= needs.users;
        s.needs.days |= needs.days;
        s.needs.features |= needs.features;
        // Two measures over one filter that read different properties get separate streams
        // only in the unusual case both need one; the first property wins here, the second
        // gets its own stream.
        if let Some(p) = needs.stats {
            match &s.needs.stats {
                None => s.needs.stats = Some(p),
                Some(q) if *q == p => {}
                Some(_) => {
                    return self.separate(
                        i,
                        Needs {
                            stats: Some(p),
                            ..Needs::default()
                        },
                        cap,
                    )
                }
            }
            self.streams[i].reads_properties = true;
        }
        if let Some(p) = needs.values {
            match &self.streams[i].needs.values {
                None => self.streams[i].needs.values = Some(p),
                Some(q) if *q == p => {}
                Some(_) => {
                    return self.separate(
                        i,
                        Needs {
                            values: Some(p),
                            ..Needs::default()
                        },
                        cap,
                    )
                }
            }
            self.streams[i].reads_properties = true;
        }
        i
    }

    /// Places every stored stream in the account arena and the account lists.
    fn lay_out(&mut self) {
        let features = self.features.len();
        let mut lists = 0;
        for s in self.streams.iter_mut().filter(|s| s.stores) {
            let w = crate::state::words(s.cap);
            let rows = s.needs.days as usize + if s.needs.features { features } else { 0 };
            for (k, per_word) in [(0, 4), (1, 2)] {
                let at = self.arena[k];
                let counts = at + REGION_HEADER;
                let bits = counts
                    + if s.needs.counts {
                        (s.cap as usize).div_ceil(per_word)
                    } else {
                        0
                    };
                let stats = bits + rows * w;
                let end = stats
                    + if s.needs.stats.is_some() {
                        s.cap as usize * STAT_WORDS
                    } else {
                        0
                    };
                s.regions[k] = Region {
                    at,
                    counts,
                    bits,
                    stats,
                    end,
                };
                self.arena[k] = end;
            }
            if s.needs.users {
                s.users = Some(lists);
                lists += 1;
            }
            if s.needs.values.is_some() {
                s.values = Some(lists);
                lists += 1;
            }
        }
        self.lists = lists;
    }

    fn separate(&mut self, like: usize, needs: Needs, cap: u32) -> usize {
        let reads_properties = true;
        let filter = self.streams[like].filter.clone();
        self.streams.push(Stream {
            filter,
            needs,
            cap,
            reads_properties,
            stores: false,
            regions: Default::default(),
            users: None,
            values: None,
        });
        self.streams.len() - 1
    }

    /// Health weights for an account of `tier` and `segment` (indexes).
    pub fn weights_for(&self, tier: u16, segment: u16) -> &[PillarWeight] {
        let segments = self.model.segments.len().max(1);
        self.weights
            .get(tier as usize * segments + segment as usize)
            .or(self.weights.first())
            .map_or(&[], Vec::as_slice)
    }

    fn health_weights(&self, tier: usize, segment: usize) -> Vec<PillarWeight> {
        let h = &self.model.health;
        let tier_name = self.model.tiers.get(tier).map(|t| t.name.as_str());
        let segment_name = self
            .model
            .segments
            .get(segment)
            .map(|s| s.rule.name.as_str());
        let mut pillar_w: HashMap<Pillar, f64> =
            h.pillars.iter().map(|(p, s)| (*p, s.weight)).collect();
        let mut measure_w: HashMap<&str, f64> = HashMap::new();
        for o in &h.overrides {
            let applies = match &o.scope {
                OverrideScope::Tier(t) => Some(t.as_str()) == tier_name,
                OverrideScope::Segment(s) => Some(s.as_str()) == segment_name,
            };
            if applies {
                pillar_w.extend(o.pillar_weights.iter().map(|(p, w)| (*p, *w)));
                measure_w.extend(o.measure_weights.iter().map(|(m, w)| (m.as_str(), *w)));
            }
        }
        let mut out: Vec<PillarWeight> = h
            .pillars
            .iter()
            .map(|(pillar, spec)| {
                let measures: Vec<MeasureWeight> = spec
                    .measures
                    .iter()
                    .filter_map(|m| {
                        Some(MeasureWeight {
                            measure: *self.measure_index.get(&m.measure)?,
                            spec: m.clone(),
                            weight: measure_w
                                .get(m.measure.as_str())
                                .copied()
                                .unwrap_or(m.weight),
                            max_points: 0.0,
                        })
                    })
                    .collect();
                let sum: f64 = measures.iter().map(|m| m.weight).sum();
                PillarWeight {
                    pillar: *pillar,
                    weight: if sum > 0.0 {
                        pillar_w.get(pillar).copied().unwrap_or(spec.weight)
                    } else {
                        0.0
                    },
                    measures,
                }
            })
            .collect();
        let total: f64 = out.iter().map(|p| p.weight).sum();
        for p in &mut out {
            let sum: f64 = p.measures.iter().map(|m| m.weight).sum();
            for m in &mut p.measures {
                m.max_points = if total > 0.0 && sum > 0.0 {
                    100.0 * (p.weight / total) * (m.weight / sum)
                } else {
                    0.0
                };
            }
        }
        out
    }

    /// Whether some measure reads the properties of `event` (callers that hold properties
    /// as text parse them only then).
    pub fn reads_properties(&self, event: Option<&str>) -> bool {
        let named = event
            .and_then(|n| self.events.get(n))
            .map_or(&[][..], |i| &self.streams_of_event[*i as usize][..]);
        self.any_streams
            .iter()
            .chain(named)
            .any(|s| self.streams[*s].reads_properties)
    }

    pub fn measure(&self, name: &str) -> Option<&MeasurePlan> {
        self.measure_index.get(name).map(|i| &self.measures[*i])
    }
}

fn window(spec: &Measure) -> u32 {
    match spec.compare {
        Some(Compare::PriorWindow) => spec.window_days * 2,
        None => spec.window_days,
    }
}

/// Whether `properties` satisfy every condition.
pub fn conditions_hold(conditions: &[PropertyCondition], properties: &Map<String, Value>) -> bool {
    conditions
        .iter()
        .all(|c| condition_holds(c, properties.get(&c.property)))
}

fn condition_holds(c: &PropertyCondition, value: Option<&Value>) -> bool {
    let Some(value) = value.filter(|v| !v.is_null()) else {
        return matches!(c.op, Op::Ne | Op::NotIn);
    };
    let lit = match (&c.op, &c.value) {
        (Op::Exists, _) => return true,
        (_, Some(lit)) => lit,
        (_, None) => return false,
    };
    match c.op {
        Op::Eq => equals(value, lit),
        Op::Ne => !equals(value, lit),
        Op::In => matches!(lit, Literal::List(l) if l.iter().any(|x| equals(value, x))),
        Op::NotIn => !matches!(lit, Literal::List(l) if l.iter().any(|x| equals(value, x))),
        Op::Gt | Op::Gte | Op::Lt | Op::Lte => match (value.as_f64(), lit) {
            (Some(v), Literal::Number(x)) => match c.op {
                Op::Gt => v > *x,
                Op::Gte => v >= *x,
                Op::Lt => v < *x,
                _ => v <= *x,
            },
            _ => false,
        },
        Op::Exists => true,
    }
}

fn equals(value: &Value, lit: &Literal) -> bool {
    match (value, lit) {
        (Value::Bool(a), Literal::Bool(b)) => a == b,
        (Value::Number(a), Literal::Number(b)) => a.as_f64() == Some(*b),
        (Value::String(a), Literal::Text(b)) => a == b,
        _ => false,
    }
}

/// A property's value as a number (for sum, average, min, max).
pub fn number(properties: &Map<String, Value>, name: &str) -> Option<f64> {
    properties
        .get(name)
        .and_then(Value::as_f64)
        .filter(|v| v.is_finite())
}

/// A property's value as a distinct-value key.
pub fn value_key(properties: &Map<String, Value>, name: &str) -> Option<u64> {
    use std::hash::{Hash, Hasher};
    let v = properties.get(name).filter(|v| !v.is_null())?;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    match v {
        Value::String(s) => s.hash(&mut h),
        other => other.to_string().hash(&mut h),
    }
    Some(h.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_model_shares_streams() {
        let plan = Plan::new(SuccessModel::default_model());
        // active_users_7d, seat_utilisation, active_days_30d, feature_breadth_30d and
        // days_since_last_activity all read every event: one stream.
        assert_eq!(plan.any_streams.len(), 1);
        let any = &plan.streams[plan.any_streams[0]];
        assert!(any.needs.users && any.needs.days && any.needs.features);
        assert_eq!(any.cap, 32);
        // core_actions_30d and its trend share one stream of 60 days (+ slack).
        let core = plan.measure("core_actions_trend").unwrap().stream.unwrap();
        assert_eq!(plan.measure("core_actions_30d").unwrap().stream, Some(core));
        assert_eq!(plan.streams[core].cap, 62);
        assert!(
            plan.streams[plan.measure("rich_reports_30d").unwrap().stream.unwrap()]
                .reads_properties
        );
        assert_eq!(plan.milestones.len(), 4);
    }
}

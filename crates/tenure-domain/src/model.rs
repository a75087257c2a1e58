//! The success model (`tenure.toml`) as validated types. `SuccessModel::parse` turns raw TOML
//! into a model or into every error found, each located at file:line:col. A model's version
//! is the content hash of its validated form, so layout and comments never make a new one.
//! This module reads text it is given; it never touches the file system.

pub mod adopt;
mod diagnostic;
mod glossary;
mod parse;
mod reader;

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use diagnostic::{did_you_mean, line_col, Diagnostic, LineCol, ModelErrors};

/// The commented default model: the reference documentation of the format.
pub const DEFAULT_MODEL_TOML: &str = include_str!("model/default.toml");

/// A validated success model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SuccessModel {
    pub name: String,
    pub description: String,
    pub identity: Identity,
    pub tracking_plan: TrackingPlan,
    pub events: BTreeMap<String, EventSpec>,
    pub measures: BTreeMap<String, Measure>,
    pub milestones: BTreeMap<String, Milestone>,
    pub health: HealthModel,
    /// Ordered: the first tier whose rules match an account is its tier.
    pub tiers: Vec<RuleSet>,
    /// Ordered: the first segment whose rules match an account is its segment.
    pub segments: Vec<Segment>,
    pub playbooks: BTreeMap<String, Playbook>,
    pub metrics: BTreeMap<String, MetricDefinition>,
    /// Left out of the serialised model when empty, so a model without experiments keeps its
    /// version.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub experiments: BTreeMap<String, Experiment>,
    /// Email texts that playbooks' email actions name; left out when empty, like experiments.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub templates: BTreeMap<String, Template>,
}

/// The content hash that identifies a model version: 16 hex digits of the SHA-256 of the
/// validated model's canonical JSON.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ModelVersion(String);

impl ModelVersion {
    /// Accepts a version as printed by `tenure model check` (16 lowercase hex digits).
    pub fn parse(s: &str) -> Result<Self, String> {
        if s.len() == 16
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            Ok(ModelVersion(s.to_owned()))
        } else {
            Err(format!(
                "`{s}` is not a model version: expected 16 lowercase hex digits"
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ModelVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn short_hash(value: &impl Serialize, hex_digits: usize) -> String {
    // Serialising plain data (strings, numbers, maps with string keys) cannot fail.
    let json = serde_json::to_vec(value).expect("model types serialise to JSON");
    let digest = Sha256::digest(&json);
    let mut hex = String::with_capacity(64);
    for byte in digest {
        hex.push_str(&format!("{byte:02x}"));
    }
    hex.truncate(hex_digits);
    hex
}

impl SuccessModel {
    /// Parses and validates `source`; `file` names it in error messages.
    pub fn parse(file: &str, source: &str) -> Result<SuccessModel, ModelErrors> {
        parse::parse(file, source)
    }

    /// The default model, validated.
    pub fn default_model() -> SuccessModel {
        Self::parse("tenure.toml", DEFAULT_MODEL_TOML).expect("the default model is valid")
    }

    /// The model's version: a hash of its meaning, not of its layout.
    pub fn version(&self) -> ModelVersion {
        ModelVersion(short_hash(self, 16))
    }

    /// A Markdown glossary of every measure, milestone, health pillar and metric.
    pub fn glossary(&self) -> String {
        glossary::render(self)
    }
}

/// A hash of one definition (a measure, a milestone, a metric), so readers of the glossary can
/// see which definitions changed between two model versions.
pub fn definition_hash(definition: &impl Serialize) -> String {
    short_hash(definition, 8)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Identity {
    /// Dotted path into a Segment message that carries the account's external id.
    pub account_property: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrackingMode {
    Allow,
    Flag,
    Reject,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackingPlan {
    pub mode: TrackingMode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PropertyType {
    String,
    Integer,
    Number,
    Boolean,
    Timestamp,
    Object,
    Array,
}

impl PropertyType {
    pub const NAMES: &'static [&'static str] = &[
        "string",
        "integer",
        "number",
        "boolean",
        "timestamp",
        "object",
        "array",
    ];

    pub fn is_numeric(self) -> bool {
        matches!(self, PropertyType::Integer | PropertyType::Number)
    }
}

/// A product event declared in the tracking plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventSpec {
    pub description: String,
    /// The feature area the event belongs to (breadth of adoption counts feature areas).
    pub feature: String,
    /// A core feature is expected to drive retention.
    pub core: bool,
    pub properties: BTreeMap<String, PropertyType>,
    pub required: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MeasureSource {
    Events,
    Tickets,
    Surveys,
    Activities,
    Milestones,
    Account,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Aggregate {
    // events
    Count,
    DistinctUsers,
    ActiveDays,
    Sum,
    Average,
    Min,
    Max,
    DistinctValues,
    DistinctFeatures,
    DaysSinceLast,
    // tickets
    OpenCount,
    AverageResolutionHours,
    AverageCsat,
    HighPriorityCount,
    // surveys
    Latest,
    Nps,
    // activities
    AverageResponseHours,
    // account
    Seats,
    DaysToRenewal,
    DaysSinceSignup,
    HasExecutiveSponsor,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SurveyKind {
    Nps,
    Csat,
    Ces,
}

impl SurveyKind {
    /// `nps`, `csat` or `ces`, as survey answers name their survey.
    pub fn name(self) -> &'static str {
        match self {
            SurveyKind::Nps => "nps",
            SurveyKind::Csat => "csat",
            SurveyKind::Ces => "ces",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActivityKind {
    Meeting,
    Email,
    Call,
    Training,
    Ebr,
    ExecutiveSponsorMeeting,
}

impl ActivityKind {
    /// Every kind, in the order of `NAMES`.
    pub const ALL: [ActivityKind; 6] = [
        ActivityKind::Meeting,
        ActivityKind::Email,
        ActivityKind::Call,
        ActivityKind::Training,
        ActivityKind::Ebr,
        ActivityKind::ExecutiveSponsorMeeting,
    ];
    pub const NAMES: &'static [&'static str] = &[
        "meeting",
        "email",
        "call",
        "training",
        "ebr",
        "executive_sponsor_meeting",
    ];
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Compare {
    PriorWindow,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Eq,
    Ne,
    Gt,
    Gte,
    Lt,
    Lte,
    In,
    NotIn,
    Exists,
}

/// A literal in a condition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Literal {
    Bool(bool),
    Number(f64),
    Text(String),
    List(Vec<Literal>),
}

/// `{ property, op, value }` on an event's properties.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PropertyCondition {
    pub property: String,
    pub op: Op,
    pub value: Option<Literal>,
}

/// A measure: an event (or ticket, survey, activity) filter plus an aggregation over a
/// trailing window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measure {
    pub description: String,
    pub owner: String,
    pub source: MeasureSource,
    /// For `source = events`: the events read; empty means any event.
    pub events: Vec<String>,
    pub conditions: Vec<PropertyCondition>,
    pub aggregate: Aggregate,
    pub property: Option<String>,
    pub survey: Option<SurveyKind>,
    pub activities: Vec<ActivityKind>,
    pub window_days: u32,
    pub per_seat: bool,
    pub compare: Option<Compare>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MilestoneKind {
    Activation,
    FirstValue,
    Habit,
    ExpansionTrigger,
    Custom,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum MilestoneCondition {
    Events {
        events: Vec<String>,
        min_count: u32,
        min_distinct_users: u32,
        min_active_days: u32,
        window_days: Option<u32>,
    },
    Measure {
        measure: String,
        at_least: f64,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Milestone {
    pub kind: MilestoneKind,
    pub description: String,
    pub owner: String,
    pub condition: MilestoneCondition,
    pub expected_within_days: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pillar {
    OutcomeProgress,
    EngagementQuality,
    RelationshipSignals,
    RiskIndicators,
}

impl Pillar {
    pub const ALL: [Pillar; 4] = [
        Pillar::OutcomeProgress,
        Pillar::EngagementQuality,
        Pillar::RelationshipSignals,
        Pillar::RiskIndicators,
    ];
    pub const NAMES: &'static [&'static str] = &[
        "outcome_progress",
        "engagement_quality",
        "relationship_signals",
        "risk_indicators",
    ];

    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    pub fn from_name(name: &str) -> Option<Pillar> {
        Self::NAMES
            .iter()
            .position(|n| *n == name)
            .map(|i| Self::ALL[i])
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum Normalisation {
    Linear { min: f64, max: f64 },
    Log { max: f64 },
    Percentile,
    Boolean,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WeightedMeasure {
    pub measure: String,
    pub weight: f64,
    pub normalise: Normalisation,
    pub higher_is_better: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PillarSpec {
    pub weight: f64,
    pub measures: Vec<WeightedMeasure>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "name", rename_all = "snake_case")]
pub enum OverrideScope {
    Tier(String),
    Segment(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthOverride {
    pub scope: OverrideScope,
    pub pillar_weights: BTreeMap<Pillar, f64>,
    pub measure_weights: BTreeMap<String, f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bands {
    pub green: f64,
    pub amber: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthModel {
    pub bands: Bands,
    pub stale_after_days: u32,
    pub pillars: BTreeMap<Pillar, PillarSpec>,
    pub overrides: Vec<HealthOverride>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountField {
    Arr,
    Seats,
    Plan,
    Industry,
    Region,
    SizeBand,
    Country,
}

impl AccountField {
    pub const NAMES: &'static [&'static str] = &[
        "arr",
        "seats",
        "plan",
        "industry",
        "region",
        "size_band",
        "country",
    ];
    const ALL: [AccountField; 7] = [
        AccountField::Arr,
        AccountField::Seats,
        AccountField::Plan,
        AccountField::Industry,
        AccountField::Region,
        AccountField::SizeBand,
        AccountField::Country,
    ];

    pub fn from_name(name: &str) -> Option<AccountField> {
        Self::NAMES
            .iter()
            .position(|n| *n == name)
            .map(|i| Self::ALL[i])
    }

    pub fn is_numeric(self) -> bool {
        matches!(self, AccountField::Arr | AccountField::Seats)
    }
}

/// `{ field, op, value }` on an account's attributes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountCondition {
    pub field: AccountField,
    pub op: Op,
    pub value: Literal,
}

/// A named rule: every condition must hold (an empty list matches every account).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleSet {
    pub name: String,
    pub description: String,
    pub when: Vec<AccountCondition>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    #[serde(flatten)]
    pub rule: RuleSet,
    /// The outcomes customers in this segment want to achieve.
    pub outcomes: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Band {
    Green,
    Amber,
    Red,
}

impl Band {
    pub const NAMES: &'static [&'static str] = &["green", "amber", "red"];
    pub const ALL: [Band; 3] = [Band::Green, Band::Amber, Band::Red];

    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    pub fn from_name(name: &str) -> Option<Band> {
        Self::NAMES
            .iter()
            .position(|n| *n == name)
            .map(|i| Self::ALL[i])
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Leader,
    Manager,
    Csm,
    Product,
    Viewer,
}

impl Role {
    pub const NAMES: &'static [&'static str] =
        &["admin", "leader", "manager", "csm", "product", "viewer"];
    pub const ALL: [Role; 6] = [
        Role::Admin,
        Role::Leader,
        Role::Manager,
        Role::Csm,
        Role::Product,
        Role::Viewer,
    ];

    pub fn from_name(name: &str) -> Option<Role> {
        Self::NAMES
            .iter()
            .position(|n| *n == name)
            .map(|i| Self::ALL[i])
    }

    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    Critical,
    High,
    Moderate,
    Low,
}

impl Priority {
    pub const NAMES: &'static [&'static str] = &["critical", "high", "moderate", "low"];
    pub const ALL: [Priority; 4] = [
        Priority::Critical,
        Priority::High,
        Priority::Moderate,
        Priority::Low,
    ];

    pub fn from_name(name: &str) -> Option<Priority> {
        Self::NAMES
            .iter()
            .position(|n| *n == name)
            .map(|i| Self::ALL[i])
    }

    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }
}

/// The longest look-back of a `release_touches_feature` trigger, in days (the engine keeps
/// each account's days of use per feature area for this long).
pub const MAX_RELEASE_LOOKBACK_DAYS: u32 = 56;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Trigger {
    MilestoneMissed {
        milestone: String,
        days_after_signup: u32,
    },
    MilestoneReached {
        milestone: String,
    },
    MeasureBelow {
        measure: String,
        threshold: f64,
        for_days: u32,
    },
    MeasureAbove {
        measure: String,
        threshold: f64,
        for_days: u32,
    },
    MeasureDrop {
        measure: String,
        percent: f64,
    },
    RenewalWithin {
        days: u32,
        bands: Vec<Band>,
    },
    HealthDrop {
        points: f64,
        days: u32,
    },
    BandIs {
        band: Band,
        for_days: u32,
    },
    /// A release changed a feature area the account relies on: one it used on at least
    /// `min_days` of the `within_days` days before the release.
    ReleaseTouchesFeature {
        min_days: u32,
        within_days: u32,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Action {
    Task {
        title: String,
        role: Role,
        priority: Priority,
        sla_hours: u32,
    },
    Webhook {
        url: String,
    },
    /// A survey request to the account's `to` contacts (see `RECIPIENTS`), each with a link
    /// of their own to answer at.
    Survey {
        survey: SurveyKind,
        #[serde(default = "all_contacts")]
        to: String,
    },
    Email {
        to: String,
        subject: String,
        template: String,
    },
}

fn all_contacts() -> String {
    "all_contacts".to_owned()
}

/// Whom an email or survey action writes to: the account's admin contacts, its primary
/// contact (the earliest-created admin, else the earliest-created contact), all its contacts,
/// or its CSM (the account owner, when that is an email address).
pub const RECIPIENTS: &[&str] = &["account_admins", "primary_contact", "all_contacts", "csm"];

/// An email's text. `{{field}}` placeholders (see `TEMPLATE_FIELDS`) are filled in when it
/// is sent; an email action's subject takes them too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Template {
    pub description: String,
    pub body: String,
}

/// The fields a template may name, with what each becomes.
pub const TEMPLATE_FIELDS: &[(&str, &str)] = &[
    ("account_name", "the account's name"),
    (
        "contact_name",
        "the recipient's name (\"there\" when unknown)",
    ),
    ("csm", "the account owner"),
    (
        "health",
        "the health score when the playbook fired, 0 to 100",
    ),
    ("band", "the health band: green, amber or red"),
    ("reason", "why the playbook fired, with the values it read"),
    ("playbook", "the playbook's name"),
    ("tier", "the account's tier"),
    ("segment", "the account's segment"),
];

/// The `{{field}}` placeholders of `text`, in order, with their byte offsets; an error says
/// where an unclosed or unknown one is and what it holds.
pub fn template_placeholders(text: &str) -> Result<Vec<(usize, &str)>, (usize, String)> {
    let mut out = Vec::new();
    let mut rest = 0;
    while let Some(i) = text[rest..].find("{{") {
        let start = rest + i;
        let Some(len) = text[start + 2..].find("}}") else {
            return Err((start, "`{{` is never closed by `}}`".to_owned()));
        };
        let name = text[start + 2..start + 2 + len].trim();
        if !TEMPLATE_FIELDS.iter().any(|(f, _)| *f == name) {
            return Err((start, format!("`{{{{{name}}}}}` is not a template field")));
        }
        out.push((start, name));
        rest = start + 2 + len + 2;
    }
    Ok(out)
}

/// `text` with each placeholder replaced by `value(field)` (text whose placeholders were
/// checked by `template_placeholders`; an unknown one is left as written).
pub fn render_template(text: &str, value: impl Fn(&str) -> String) -> String {
    let mut out = String::with_capacity(text.len() + 64);
    let mut rest = 0;
    while let Some(i) = text[rest..].find("{{") {
        let start = rest + i;
        let Some(len) = text[start + 2..].find("}}") else {
            break;
        };
        let name = text[start + 2..start + 2 + len].trim();
        out.push_str(&text[rest..start]);
        if TEMPLATE_FIELDS.iter().any(|(f, _)| *f == name) {
            out.push_str(&value(name));
        } else {
            out.push_str(&text[start..start + 4 + len]);
        }
        rest = start + 4 + len;
    }
    out.push_str(&text[rest..]);
    out
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Playbook {
    pub description: String,
    pub owner: String,
    pub trigger: Trigger,
    /// Empty means every tier.
    pub tiers: Vec<String>,
    /// Empty means every segment.
    pub segments: Vec<String>,
    pub cooldown_days: u32,
    pub holdout_percent: f64,
    pub actions: Vec<Action>,
}

/// What an experiment measures, in its unit: a share of accounts (renewal, expansion) or
/// health points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExperimentOutcome {
    /// Renewed at the first renewal within a year of the first firing (a share).
    Renewal,
    /// The change in health score over the 30 (90) days after the first firing (points).
    Health30Days,
    Health90Days,
    /// Expanded in the 90 days after the first firing (a share).
    Expansion90Days,
}

impl ExperimentOutcome {
    pub const NAMES: &'static [&'static str] = &[
        "renewal",
        "health_30_days",
        "health_90_days",
        "expansion_90_days",
    ];
    pub const ALL: [ExperimentOutcome; 4] = [
        ExperimentOutcome::Renewal,
        ExperimentOutcome::Health30Days,
        ExperimentOutcome::Health90Days,
        ExperimentOutcome::Expansion90Days,
    ];

    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }
}

/// An experiment declared up front: a playbook's treated accounts against its held-out ones
/// (the control), on one outcome, with the smallest effect worth having and the significance
/// level. The accounts are those whose first firing of the playbook falls from `start` to
/// `end`: accounts that fired earlier may have been treated before it began.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Experiment {
    pub description: String,
    pub owner: String,
    pub playbook: String,
    pub outcome: ExperimentOutcome,
    /// Success: an uplift of at least this, in the outcome's unit, and significant.
    pub minimum_effect: f64,
    pub alpha: f64,
    pub start: chrono::NaiveDate,
    pub end: Option<chrono::NaiveDate>,
}

/// Whether `account` is held out of `playbook` at `percent` %: a fixed hash of the two names
/// (FNV-1a, then the SplitMix64 finaliser) read as a uniform draw in [0, 1), below
/// `percent` / 100. The same account stays in the same arm of a playbook for ever, whatever
/// the order signals arrive in, on every machine and version; different playbooks split
/// independently. Every tier and segment gets the share in expectation, and the
/// effectiveness report compares the arms within each.
pub fn held_out(playbook: &str, account: &str, percent: f64) -> bool {
    holdout_draw(playbook, account) < percent / 100.0
}

/// The uniform draw `held_out` compares with the share.
pub fn holdout_draw(playbook: &str, account: &str) -> f64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in playbook.bytes().chain([0xff]).chain(account.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^= h >> 31;
    (h >> 11) as f64 / (1u64 << 53) as f64
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricKind {
    Nrr,
    Grr,
    LogoChurn,
    RevenueChurn,
    Expansion,
    Contraction,
    Reactivation,
    Ttfv,
    ActivationRate,
    HabitRate,
    Nps,
    Csat,
    Ces,
    TicketVolume,
    ResolutionTime,
    Dau,
    Wau,
    Mau,
    Stickiness,
    MeasureAverage,
}

impl MetricKind {
    /// The name `GET /api/v1/metrics/{name}` serves this kind under (`measure_average`: the
    /// model metric's own name).
    pub fn api_name(self) -> &'static str {
        match self {
            MetricKind::Nrr => "nrr",
            MetricKind::Grr => "grr",
            MetricKind::LogoChurn => "logo_churn",
            MetricKind::RevenueChurn => "revenue_churn",
            MetricKind::Expansion => "expansion",
            MetricKind::Contraction => "contraction",
            MetricKind::Reactivation => "reactivation",
            MetricKind::Ttfv => "ttfv",
            MetricKind::ActivationRate => "activation_rate",
            MetricKind::HabitRate => "habit_rate",
            MetricKind::Nps => "nps",
            MetricKind::Csat => "csat",
            MetricKind::Ces => "ces",
            MetricKind::TicketVolume => "ticket_volume",
            MetricKind::ResolutionTime => "resolution_time",
            MetricKind::Dau => "dau",
            MetricKind::Wau => "wau",
            MetricKind::Mau => "mau",
            MetricKind::Stickiness => "stickiness",
            MetricKind::MeasureAverage => "measure_average",
        }
    }

    /// How Tenure computes the kind, in one sentence (docs/metrics.md has every edge case).
    pub fn computation(self) -> &'static str {
        match self {
            MetricKind::Nrr => "Σ end ARR of the accounts with ARR at period start ÷ Σ their start ARR; new and reactivated accounts excluded.",
            MetricKind::Grr => "Σ min(end ARR, start ARR) of the accounts with ARR at period start ÷ Σ their start ARR; never above 100 %.",
            MetricKind::LogoChurn => "Accounts with ARR at period start and none at its end ÷ accounts with ARR at period start.",
            MetricKind::RevenueChurn => "Σ start ARR of the accounts that ended the period at zero ÷ Σ start ARR.",
            MetricKind::Expansion => "Σ (end − start ARR) of the accounts that grew ÷ Σ start ARR; NRR − GRR.",
            MetricKind::Contraction => "Σ (start − end ARR) of the accounts that shrank but stayed ÷ Σ start ARR.",
            MetricKind::Reactivation => "Σ end ARR of the accounts with no ARR at period start that had ARR before.",
            MetricKind::Ttfv => "Nearest-rank median (and p90) of the days from sign-up to the first-value milestone, over the accounts signed up in the period that reached it.",
            MetricKind::ActivationRate => "Accounts signed up in the period that reached activation within its expected_within_days ÷ those whose window has ended.",
            MetricKind::HabitRate => "Accounts signed up in the period that reached the habit milestone within its expected_within_days ÷ those whose window has ended.",
            MetricKind::Nps => "(promoters 9–10 − detractors 0–6) ÷ NPS answers in the period × 100.",
            MetricKind::Csat => "Mean CSAT answer (1–5) in the period; the satisfied share is answers of 4 or 5.",
            MetricKind::Ces => "Mean CES answer (1–7, higher is easier) in the period.",
            MetricKind::TicketVolume => "Tickets opened in the period.",
            MetricKind::ResolutionTime => "Nearest-rank median (and p90) hours from opening to resolution of the tickets resolved in the period.",
            MetricKind::Dau => "Mean over the period's observed days of the users with a product event that day.",
            MetricKind::Wau => "Mean over the period's observed days of the users with a product event in the 7 days to that day.",
            MetricKind::Mau => "Mean over the period's observed days of the users with a product event in the 30 days to that day.",
            MetricKind::Stickiness => "The period's DAU ÷ its MAU.",
            MetricKind::MeasureAverage => "Mean of the measure's raw value today over the accounts where it has one.",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    Month,
    Quarter,
    Year,
    Ttm,
}

impl Period {
    pub const ALL: [Period; 4] = [Period::Month, Period::Quarter, Period::Year, Period::Ttm];
    pub const NAMES: [&'static str; 4] = ["month", "quarter", "year", "ttm"];

    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    pub fn parse(s: &str) -> Option<Period> {
        Self::NAMES
            .iter()
            .position(|n| *n == s)
            .map(|i| Self::ALL[i])
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricDefinition {
    pub title: String,
    pub description: String,
    pub owner: String,
    pub kind: MetricKind,
    pub measure: Option<String>,
    pub period: Period,
    pub target: Option<f64>,
}

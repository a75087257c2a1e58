//! Raw TOML → validated `SuccessModel`. Reads every section, collects every error, and only
//! then checks the references between sections (a measure naming an event, a playbook naming
//! a milestone, an override naming a tier), so one run reports everything that is wrong.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use toml_edit::{ImDocument, Value};

use super::diagnostic::{did_you_mean, ModelErrors};
use super::reader::{Obj, Reader, Spanned};
use super::*;

/// A reference to a name declared elsewhere, checked once every section has been read.
struct Reference {
    kind: RefKind,
    name: String,
    span: Range<usize>,
    context: String,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum RefKind {
    Event,
    Measure,
    HealthMeasure,
    Milestone,
    Tier,
    Segment,
    Template,
}

impl RefKind {
    fn noun(self) -> &'static str {
        match self {
            RefKind::Event => "event",
            RefKind::Measure | RefKind::HealthMeasure => "measure",
            RefKind::Milestone => "milestone",
            RefKind::Tier => "tier",
            RefKind::Segment => "segment",
            RefKind::Template => "template",
        }
    }

    fn hint(self) -> &'static str {
        match self {
            RefKind::Event => "declare it under [events.NAME] in the tracking plan",
            RefKind::Measure => "declare it under [measures.NAME]",
            RefKind::HealthMeasure => {
                "overrides may only re-weight measures that a health pillar uses"
            }
            RefKind::Milestone => "declare it under [milestones.NAME]",
            RefKind::Tier => "declare it in a [[tiers]] section",
            RefKind::Segment => "declare it in a [[segments]] section",
            RefKind::Template => "declare it under [templates.NAME] with a `body`",
        }
    }
}

struct Parser {
    r: Reader,
    refs: Vec<Reference>,
}

const ROOT_KEYS: &[&str] = &[
    "model",
    "identity",
    "tracking_plan",
    "events",
    "measures",
    "milestones",
    "health",
    "tiers",
    "segments",
    "playbooks",
    "metrics",
    "experiments",
    "templates",
];

pub(super) fn parse(file: &str, source: &str) -> Result<SuccessModel, ModelErrors> {
    let fail = |diagnostics: Vec<Diagnostic>| {
        let mut diagnostics = diagnostics;
        diagnostics.sort_by_key(|d| (d.span.start, d.span.end));
        diagnostics.dedup();
        ModelErrors {
            file: file.to_owned(),
            source: source.to_owned(),
            diagnostics,
        }
    };
    let doc = match ImDocument::parse(source) {
        Ok(doc) => doc,
        Err(e) => {
            let span = e.span().unwrap_or(0..0);
            // toml_edit's message repeats the position; keep its explanation lines only.
            let message = e
                .message()
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join("; ");
            return Err(fail(vec![Diagnostic::new(
                span,
                format!("invalid TOML: {message}"),
            )]));
        }
    };
    let root = Obj {
        table: doc.as_table(),
        span: 0..0,
        path: String::new(),
    };
    let mut p = Parser {
        r: Reader::default(),
        refs: Vec::new(),
    };
    let model = p.model(&root);
    let declared = Declared::of(&model);
    p.check_references(&declared);
    p.check_cross_section(&model, &root);
    if p.r.diagnostics.is_empty() {
        let mut model = model;
        resolve_defaults(&mut model);
        Ok(model)
    } else {
        Err(fail(p.r.diagnostics))
    }
}

/// Names declared by the model, for reference checks.
struct Declared {
    events: Vec<String>,
    measures: Vec<String>,
    health_measures: Vec<String>,
    milestones: Vec<String>,
    tiers: Vec<String>,
    segments: Vec<String>,
    templates: Vec<String>,
}

impl Declared {
    fn of(m: &SuccessModel) -> Declared {
        Declared {
            events: m.events.keys().cloned().collect(),
            measures: m.measures.keys().cloned().collect(),
            health_measures: m
                .health
                .pillars
                .values()
                .flat_map(|p| p.measures.iter().map(|w| w.measure.clone()))
                .collect(),
            milestones: m.milestones.keys().cloned().collect(),
            tiers: m.tiers.iter().map(|t| t.name.clone()).collect(),
            segments: m.segments.iter().map(|s| s.rule.name.clone()).collect(),
            templates: m.templates.keys().cloned().collect(),
        }
    }

    fn names(&self, kind: RefKind) -> &[String] {
        match kind {
            RefKind::Event => &self.events,
            RefKind::Measure => &self.measures,
            RefKind::HealthMeasure => &self.health_measures,
            RefKind::Milestone => &self.milestones,
            RefKind::Tier => &self.tiers,
            RefKind::Segment => &self.segments,
            RefKind::Template => &self.templates,
        }
    }
}

/// Fills in values that default to another section's: a missed-milestone trigger without its
/// own deadline uses the milestone's `expected_within_days` (validation made sure there is one).
fn resolve_defaults(model: &mut SuccessModel) {
    for playbook in model.playbooks.values_mut() {
        if let Trigger::MilestoneMissed {
            milestone,
            days_after_signup,
        } = &mut playbook.trigger
        {
            if *days_after_signup == 0 {
                if let Some(days) = model
                    .milestones
                    .get(milestone)
                    .and_then(|m| m.expected_within_days)
                {
                    *days_after_signup = days;
                }
            }
        }
    }
}

fn enum_at<T: Copy>(all: &[T], index: usize) -> T {
    all[index]
}

impl Parser {
    fn refer(&mut self, kind: RefKind, name: &Spanned<String>, context: &str) {
        self.refs.push(Reference {
            kind,
            name: name.value.clone(),
            span: name.span.clone(),
            context: context.to_owned(),
        });
    }

    fn check_references(&mut self, declared: &Declared) {
        for reference in std::mem::take(&mut self.refs) {
            let names = declared.names(reference.kind);
            if names.contains(&reference.name) {
                continue;
            }
            let noun = reference.kind.noun();
            let help = match did_you_mean(&reference.name, names.iter().map(String::as_str)) {
                Some(s) => format!("did you mean `{s}`? or {}", reference.kind.hint()),
                None => reference.kind.hint().to_owned(),
            };
            self.r.error_help(
                reference.span,
                format!(
                    "{} names undeclared {noun} `{}`",
                    reference.context, reference.name
                ),
                help,
            );
        }
    }

    fn model(&mut self, root: &Obj<'_>) -> SuccessModel {
        self.r.check_keys(root, ROOT_KEYS);
        let (name, description) = match self.r.table(root, "model", true) {
            Some(m) => {
                self.r.check_keys(&m, &["name", "description"]);
                (
                    self.r.string(&m, "name", true).map(|s| s.value),
                    self.r.string(&m, "description", false).map(|s| s.value),
                )
            }
            None => (None, None),
        };
        let identity = self.identity(root);
        let tracking_plan = self.tracking_plan(root);
        let events = self.events(root);
        let measures = self.measures(root, &events);
        let milestones = self.milestones(root);
        let tiers = self.rule_sets(root, "tiers", &[]);
        let segments = self
            .rule_sets(root, "segments", &["outcomes"])
            .into_iter()
            .map(|(rule, obj_outcomes)| Segment {
                rule,
                outcomes: obj_outcomes,
            })
            .collect::<Vec<_>>();
        let health = self.health(root);
        let playbooks = self.playbooks(root);
        let metrics = self.metrics(root);
        let experiments = self.experiments(root, &playbooks);
        let templates = self.templates(root);
        SuccessModel {
            name: name.unwrap_or_default(),
            description: description.unwrap_or_default(),
            identity,
            tracking_plan,
            events,
            measures,
            milestones,
            health,
            tiers: tiers.into_iter().map(|(rule, _)| rule).collect(),
            segments,
            playbooks,
            metrics,
            experiments,
            templates,
        }
    }

    fn templates(&mut self, root: &Obj<'_>) -> BTreeMap<String, Template> {
        let mut out = BTreeMap::new();
        let Some(templates) = self.r.table(root, "templates", false) else {
            return out;
        };
        for (name, obj) in self.r.named_tables(&templates) {
            self.r.check_keys(&obj, &["description", "body"]);
            let description = self.r.string(&obj, "description", false);
            let Some(body) = self.r.string(&obj, "body", true) else {
                continue;
            };
            self.placeholders(&body, &format!("template `{}`", name.value));
            out.insert(
                name.value,
                Template {
                    description: description.map(|d| d.value).unwrap_or_default(),
                    body: body.value,
                },
            );
        }
        out
    }

    /// Checks the `{{field}}` placeholders of a template text.
    fn placeholders(&mut self, text: &Spanned<String>, ctx: &str) {
        if let Err((_, message)) = template_placeholders(&text.value) {
            let fields: Vec<&str> = TEMPLATE_FIELDS.iter().map(|(f, _)| *f).collect();
            self.r.error_help(
                text.span.clone(),
                format!("{ctx}: {message}"),
                format!(
                    "placeholders are `{{{{field}}}}` with a field among {}",
                    fields.join(", ")
                ),
            );
        }
    }

    fn identity(&mut self, root: &Obj<'_>) -> Identity {
        let mut account_property = String::from("context.groupId");
        if let Some(obj) = self.r.table(root, "identity", false) {
            self.r.check_keys(&obj, &["account_property"]);
            if let Some(s) = self.r.string(&obj, "account_property", false) {
                let valid = !s.value.is_empty()
                    && s.value
                        .split('.')
                        .all(|part| !part.is_empty() && !part.contains(char::is_whitespace));
                if valid {
                    account_property = s.value;
                } else {
                    self.r.error_help(
                        s.span,
                        format!("`{}` is not a property path", s.value),
                        "use a dotted path into the Segment message, e.g. \"context.groupId\"",
                    );
                }
            }
        }
        Identity { account_property }
    }

    fn tracking_plan(&mut self, root: &Obj<'_>) -> TrackingPlan {
        let mut mode = TrackingMode::Flag;
        if let Some(obj) = self.r.table(root, "tracking_plan", false) {
            self.r.check_keys(&obj, &["mode"]);
            if let Some(i) = self
                .r
                .choice(&obj, "mode", &["allow", "flag", "reject"], false)
            {
                mode = enum_at(
                    &[
                        TrackingMode::Allow,
                        TrackingMode::Flag,
                        TrackingMode::Reject,
                    ],
                    i.value,
                );
            }
        }
        TrackingPlan { mode }
    }

    fn events(&mut self, root: &Obj<'_>) -> BTreeMap<String, EventSpec> {
        let mut out = BTreeMap::new();
        let Some(events) = self.r.table(root, "events", false) else {
            return out;
        };
        for (name, obj) in self.r.named_tables(&events) {
            self.r.check_keys(
                &obj,
                &["description", "feature", "core", "properties", "required"],
            );
            let description = self.r.string(&obj, "description", true);
            let feature = self.r.string(&obj, "feature", false);
            let core = self.r.boolean(&obj, "core").is_some_and(|b| b.value);
            let mut properties = BTreeMap::new();
            if let Some(props) = self.r.table(&obj, "properties", false) {
                for (key, _) in props.table.iter() {
                    let key = key.to_owned();
                    if let Some(i) = self.r.choice(&props, &key, PropertyType::NAMES, true) {
                        let t = enum_at(
                            &[
                                PropertyType::String,
                                PropertyType::Integer,
                                PropertyType::Number,
                                PropertyType::Boolean,
                                PropertyType::Timestamp,
                                PropertyType::Object,
                                PropertyType::Array,
                            ],
                            i.value,
                        );
                        properties.insert(key, t);
                    }
                }
            }
            let mut required = Vec::new();
            for req in self.r.strings(&obj, "required") {
                if properties.contains_key(&req.value) {
                    required.push(req.value);
                } else {
                    let names: Vec<&str> = properties.keys().map(String::as_str).collect();
                    let help = match did_you_mean(&req.value, names.iter().copied()) {
                        Some(s) => format!("did you mean `{s}`? required properties must be declared in `properties`"),
                        None => "required properties must be declared in `properties`".to_owned(),
                    };
                    self.r.error_help(
                        req.span,
                        format!(
                            "event `{}` requires undeclared property `{}`",
                            name.value, req.value
                        ),
                        help,
                    );
                }
            }
            out.insert(
                name.value,
                EventSpec {
                    description: description.map(|d| d.value).unwrap_or_default(),
                    feature: feature
                        .map(|f| f.value)
                        .unwrap_or_else(|| String::from("general")),
                    core,
                    properties,
                    required,
                },
            );
        }
        out
    }

    fn measures(
        &mut self,
        root: &Obj<'_>,
        events: &BTreeMap<String, EventSpec>,
    ) -> BTreeMap<String, Measure> {
        use Aggregate as A;
        const SOURCES: &[&str] = &[
            "events",
            "tickets",
            "surveys",
            "activities",
            "milestones",
            "account",
        ];
        const SOURCE_VALUES: [MeasureSource; 6] = [
            MeasureSource::Events,
            MeasureSource::Tickets,
            MeasureSource::Surveys,
            MeasureSource::Activities,
            MeasureSource::Milestones,
            MeasureSource::Account,
        ];
        let mut out = BTreeMap::new();
        let Some(measures) = self.r.table(root, "measures", false) else {
            return out;
        };
        for (name, obj) in self.r.named_tables(&measures) {
            let ctx = format!("measure `{}`", name.value);
            self.r.check_keys(
                &obj,
                &[
                    "description",
                    "owner",
                    "source",
                    "events",
                    "where",
                    "aggregate",
                    "property",
                    "survey",
                    "activities",
                    "window_days",
                    "per_seat",
                    "compare",
                ],
            );
            let description = self.r.string(&obj, "description", true);
            let owner = self.r.string(&obj, "owner", false);
            let source = self
                .r
                .choice(&obj, "source", SOURCES, true)
                .map(|s| enum_at(&SOURCE_VALUES, s.value));
            // Account attributes and milestones are states, not windows over a stream.
            let windowless = matches!(
                source,
                Some(MeasureSource::Account | MeasureSource::Milestones)
            );
            let window = self
                .r
                .count(
                    &obj,
                    "window_days",
                    !windowless && source.is_some(),
                    1..3651,
                )
                .or_else(|| {
                    windowless.then(|| Spanned {
                        value: 1,
                        span: obj.span.clone(),
                    })
                });
            let (names, values): (&[&str], &[Aggregate]) = match source {
                Some(MeasureSource::Events) => (
                    &[
                        "count",
                        "distinct_users",
                        "active_days",
                        "sum",
                        "average",
                        "min",
                        "max",
                        "distinct_values",
                        "distinct_features",
                        "days_since_last",
                    ],
                    &[
                        A::Count,
                        A::DistinctUsers,
                        A::ActiveDays,
                        A::Sum,
                        A::Average,
                        A::Min,
                        A::Max,
                        A::DistinctValues,
                        A::DistinctFeatures,
                        A::DaysSinceLast,
                    ],
                ),
                Some(MeasureSource::Tickets) => (
                    &[
                        "count",
                        "open_count",
                        "average_resolution_hours",
                        "average_csat",
                        "high_priority_count",
                    ],
                    &[
                        A::Count,
                        A::OpenCount,
                        A::AverageResolutionHours,
                        A::AverageCsat,
                        A::HighPriorityCount,
                    ],
                ),
                Some(MeasureSource::Surveys) => (
                    &["latest", "average", "nps"],
                    &[A::Latest, A::Average, A::Nps],
                ),
                Some(MeasureSource::Activities) => (
                    &["count", "days_since_last", "average_response_hours"],
                    &[A::Count, A::DaysSinceLast, A::AverageResponseHours],
                ),
                Some(MeasureSource::Milestones) => (&["count"], &[A::Count]),
                Some(MeasureSource::Account) => (
                    &[
                        "seats",
                        "days_to_renewal",
                        "days_since_signup",
                        "has_executive_sponsor",
                    ],
                    &[
                        A::Seats,
                        A::DaysToRenewal,
                        A::DaysSinceSignup,
                        A::HasExecutiveSponsor,
                    ],
                ),
                None => (&[], &[]),
            };
            let aggregate = if source.is_some() {
                self.r
                    .choice(&obj, "aggregate", names, true)
                    .map(|a| (values[a.value], a.span))
            } else {
                None
            };
            let source_name = source.map(|s| SOURCES[s as usize]).unwrap_or("");
            // Keys that only make sense for some sources.
            let allowed_for: &[(&str, &[MeasureSource])] = &[
                ("events", &[MeasureSource::Events]),
                ("where", &[MeasureSource::Events]),
                ("property", &[MeasureSource::Events]),
                ("per_seat", &[MeasureSource::Events]),
                ("survey", &[MeasureSource::Surveys]),
                (
                    "window_days",
                    &[
                        MeasureSource::Events,
                        MeasureSource::Tickets,
                        MeasureSource::Surveys,
                        MeasureSource::Activities,
                    ],
                ),
                ("activities", &[MeasureSource::Activities]),
                (
                    "compare",
                    &[
                        MeasureSource::Events,
                        MeasureSource::Tickets,
                        MeasureSource::Activities,
                    ],
                ),
            ];
            if let Some(source) = source {
                for (key, sources) in allowed_for {
                    if obj.table.contains_key(key) && !sources.contains(&source) {
                        let span = self.r.key_span(&obj, key);
                        self.r.error(
                            span,
                            format!("{ctx}: `{key}` does not apply to source `{source_name}`"),
                        );
                    }
                }
            }
            // Events read.
            let mut event_names = Vec::new();
            for e in self.r.strings(&obj, "events") {
                self.refer(RefKind::Event, &e, &ctx);
                event_names.push(e);
            }
            // Aligned with `event_names`: `None` for an undeclared event (reported as such).
            let known_events: Vec<Option<&EventSpec>> =
                event_names.iter().map(|e| events.get(&e.value)).collect();
            // The aggregated property.
            let property = self.r.string(&obj, "property", false);
            let needs_property = matches!(
                aggregate.as_ref().map(|a| a.0),
                Some(A::Sum | A::Average | A::Min | A::Max | A::DistinctValues)
            ) && source == Some(MeasureSource::Events);
            if let (Some((agg, agg_span)), true) = (&aggregate, needs_property) {
                match &property {
                    None => self.r.error_help(
                        agg_span.clone(),
                        format!(
                            "{ctx}: aggregate `{}` needs a `property`",
                            names[values.iter().position(|v| v == agg).unwrap_or(0)]
                        ),
                        "add `property = \"NAME\"`, a property declared on every event in `events`",
                    ),
                    Some(p) => {
                        let numeric = !matches!(agg, A::DistinctValues);
                        self.check_property(&ctx, p, &event_names, &known_events, numeric);
                    }
                }
            } else if let Some(p) = &property {
                if source == Some(MeasureSource::Events) {
                    self.r.error(
                        p.span.clone(),
                        format!("{ctx}: `property` is only used by sum, average, min, max and distinct_values"),
                    );
                }
            }
            // Conditions.
            let mut conditions = Vec::new();
            for cond in self.r.table_array(&obj, "where") {
                if let Some(c) = self.property_condition(&ctx, &cond, &event_names, &known_events) {
                    conditions.push(c);
                }
            }
            let survey = self
                .r
                .choice(
                    &obj,
                    "survey",
                    &["nps", "csat", "ces"],
                    source == Some(MeasureSource::Surveys),
                )
                .map(|s| {
                    enum_at(
                        &[SurveyKind::Nps, SurveyKind::Csat, SurveyKind::Ces],
                        s.value,
                    )
                });
            if let (Some((A::Nps, span)), Some(kind)) = (&aggregate, survey) {
                if kind != SurveyKind::Nps {
                    self.r.error(
                        span.clone(),
                        format!("{ctx}: aggregate `nps` needs `survey = \"nps\"`"),
                    );
                }
            }
            let mut activities = Vec::new();
            for a in self.r.strings(&obj, "activities") {
                match ActivityKind::NAMES.iter().position(|n| *n == a.value) {
                    Some(i) => activities.push(enum_at(&ActivityKind::ALL, i)),
                    None => self.r.unknown_name(
                        a.span,
                        &super::reader::child_path(&obj.path, "activities"),
                        &a.value,
                        ActivityKind::NAMES,
                    ),
                }
            }
            let per_seat = self.r.boolean(&obj, "per_seat").is_some_and(|b| b.value);
            let compare = self
                .r
                .choice(&obj, "compare", &["prior_window"], false)
                .map(|_| Compare::PriorWindow);
            if let (Some(source), Some(window), Some(description), Some((aggregate, _))) =
                (source, window, description, aggregate)
            {
                out.insert(
                    name.value,
                    Measure {
                        description: description.value,
                        owner: owner.map(|o| o.value).unwrap_or_default(),
                        source,
                        events: event_names.into_iter().map(|e| e.value).collect(),
                        conditions,
                        aggregate,
                        property: property.map(|p| p.value),
                        survey,
                        activities,
                        window_days: window.value,
                        per_seat,
                        compare,
                    },
                );
            }
        }
        out
    }

    /// Checks that `property` is declared on every event the measure reads.
    fn check_property(
        &mut self,
        ctx: &str,
        property: &Spanned<String>,
        event_names: &[Spanned<String>],
        known_events: &[Option<&EventSpec>],
        numeric: bool,
    ) -> Option<PropertyType> {
        if event_names.is_empty() {
            self.r.error_help(
                property.span.clone(),
                format!(
                    "{ctx}: property `{}` is read from any event",
                    property.value
                ),
                "list the events that carry it in `events`",
            );
            return None;
        }
        let mut found = None;
        for (event, spec) in event_names.iter().zip(known_events.iter()) {
            let Some(spec) = spec else { continue };
            match spec.properties.get(&property.value) {
                Some(t) if numeric && !t.is_numeric() => {
                    self.r.error_help(
                        property.span.clone(),
                        format!(
                            "{ctx}: property `{}` is not numeric on event `{}`",
                            property.value, event.value
                        ),
                        "sum, average, min and max need an integer or number property",
                    );
                    return None;
                }
                Some(t) => found = Some(*t),
                None => {
                    self.r.error_help(
                        property.span.clone(),
                        format!(
                            "{ctx}: property `{}` is not declared on event `{}`",
                            property.value, event.value
                        ),
                        format!("declare it in [events.{}] properties", event.value),
                    );
                    return None;
                }
            }
        }
        found
    }

    fn property_condition(
        &mut self,
        ctx: &str,
        cond: &Obj<'_>,
        event_names: &[Spanned<String>],
        known_events: &[Option<&EventSpec>],
    ) -> Option<PropertyCondition> {
        self.r.check_keys(cond, &["property", "op", "value"]);
        let property = self.r.string(cond, "property", true)?;
        let ptype = self.check_property(ctx, &property, event_names, known_events, false);
        let op = self.op(cond)?;
        let value = if op == Op::Exists {
            if cond.table.contains_key("value") {
                let span = self.r.key_span(cond, "value");
                self.r
                    .error(span, format!("{ctx}: `exists` takes no `value`"));
            }
            None
        } else {
            let (raw, span) = self.r.value(cond, "value", true)?;
            let literal = self.literal(raw, &span)?;
            self.check_literal(ctx, op, &literal, &span, ptype.map(|t| t.is_numeric()));
            Some(literal)
        };
        Some(PropertyCondition {
            property: property.value,
            op,
            value,
        })
    }

    fn op(&mut self, cond: &Obj<'_>) -> Option<Op> {
        const OPS: [Op; 9] = [
            Op::Eq,
            Op::Ne,
            Op::Gt,
            Op::Gte,
            Op::Lt,
            Op::Lte,
            Op::In,
            Op::NotIn,
            Op::Exists,
        ];
        self.r
            .choice(
                cond,
                "op",
                &[
                    "eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "exists",
                ],
                true,
            )
            .map(|i| OPS[i.value])
    }

    fn literal(&mut self, value: &Value, span: &Range<usize>) -> Option<Literal> {
        match value {
            Value::String(s) => Some(Literal::Text(s.value().clone())),
            Value::Integer(i) => Some(Literal::Number(*i.value() as f64)),
            Value::Float(f) if f.value().is_finite() => Some(Literal::Number(*f.value())),
            Value::Boolean(b) => Some(Literal::Bool(*b.value())),
            Value::Array(a) => {
                let mut items = Vec::new();
                for v in a.iter() {
                    let s = v.span().unwrap_or_else(|| span.clone());
                    match v {
                        Value::Array(_) | Value::InlineTable(_) => {
                            self.r.error(
                                s,
                                "a list in a condition may hold only strings, numbers and booleans",
                            );
                            return None;
                        }
                        _ => items.push(self.literal(v, &s)?),
                    }
                }
                Some(Literal::List(items))
            }
            _ => {
                self.r.error(
                    span.clone(),
                    "a condition's value must be a string, a number, a boolean or a list of them",
                );
                None
            }
        }
    }

    /// Checks that a literal suits an operator and, where known, the field's type.
    fn check_literal(
        &mut self,
        ctx: &str,
        op: Op,
        value: &Literal,
        span: &Range<usize>,
        numeric_field: Option<bool>,
    ) {
        match op {
            Op::In | Op::NotIn => {
                if !matches!(value, Literal::List(_)) {
                    self.r.error_help(
                        span.clone(),
                        format!("{ctx}: `in` and `not_in` need a list"),
                        "write `value = [\"a\", \"b\"]`",
                    );
                }
            }
            Op::Gt | Op::Gte | Op::Lt | Op::Lte => {
                if !matches!(value, Literal::Number(_)) {
                    self.r
                        .error(span.clone(), format!("{ctx}: comparisons need a number"));
                } else if numeric_field == Some(false) {
                    self.r.error(
                        span.clone(),
                        format!("{ctx}: comparisons apply to numeric fields only"),
                    );
                }
            }
            Op::Eq | Op::Ne => {
                if matches!(value, Literal::List(_)) {
                    self.r.error_help(
                        span.clone(),
                        format!("{ctx}: `eq` and `ne` compare to one value"),
                        "use `in` to compare to a list",
                    );
                }
            }
            Op::Exists => {}
        }
    }

    fn milestones(&mut self, root: &Obj<'_>) -> BTreeMap<String, Milestone> {
        const KINDS: [MilestoneKind; 5] = [
            MilestoneKind::Activation,
            MilestoneKind::FirstValue,
            MilestoneKind::Habit,
            MilestoneKind::ExpansionTrigger,
            MilestoneKind::Custom,
        ];
        const KIND_NAMES: &[&str] = &[
            "activation",
            "first_value",
            "habit",
            "expansion_trigger",
            "custom",
        ];
        let mut out = BTreeMap::new();
        let Some(milestones) = self.r.table(root, "milestones", false) else {
            return out;
        };
        let mut seen_kinds: BTreeMap<MilestoneKind, String> = BTreeMap::new();
        for (name, obj) in self.r.named_tables(&milestones) {
            let ctx = format!("milestone `{}`", name.value);
            self.r.check_keys(
                &obj,
                &[
                    "kind",
                    "description",
                    "owner",
                    "events",
                    "min_count",
                    "min_distinct_users",
                    "min_active_days",
                    "window_days",
                    "measure",
                    "at_least",
                    "expected_within_days",
                ],
            );
            let kind = self.r.choice(&obj, "kind", KIND_NAMES, true);
            if let Some(k) = &kind {
                let k_value = KINDS[k.value];
                if k_value != MilestoneKind::Custom {
                    if let Some(other) = seen_kinds.get(&k_value) {
                        self.r.error_help(
                            k.span.clone(),
                            format!("{ctx}: a second `{}` milestone", KIND_NAMES[k.value]),
                            format!("milestone `{other}` is already the {} milestone; use kind = \"custom\"", KIND_NAMES[k.value]),
                        );
                    } else {
                        seen_kinds.insert(k_value, name.value.clone());
                    }
                }
            }
            let description = self.r.string(&obj, "description", true);
            let owner = self.r.string(&obj, "owner", false);
            let expected = self.r.count(&obj, "expected_within_days", false, 1..3651);
            let has_events = obj.table.contains_key("events");
            let has_measure = obj.table.contains_key("measure");
            let condition = match (has_events, has_measure) {
                (true, false) => {
                    for key in ["at_least"] {
                        if obj.table.contains_key(key) {
                            let span = self.r.key_span(&obj, key);
                            self.r.error(
                                span,
                                format!("{ctx}: `{key}` goes with `measure`, not `events`"),
                            );
                        }
                    }
                    let events = self.r.strings(&obj, "events");
                    // A wrong type was reported by `strings`; only an empty list is this error.
                    let empty_list = obj
                        .table
                        .get("events")
                        .and_then(|i| i.as_array())
                        .is_some_and(|a| a.is_empty());
                    if empty_list {
                        let span = self.r.key_span(&obj, "events");
                        self.r.error(
                            span,
                            format!("{ctx}: `events` must name at least one event"),
                        );
                    }
                    for e in &events {
                        self.refer(RefKind::Event, e, &ctx);
                    }
                    let min_count = self
                        .r
                        .count(&obj, "min_count", false, 1..1_000_001)
                        .map_or(1, |c| c.value);
                    let min_distinct_users = self
                        .r
                        .count(&obj, "min_distinct_users", false, 1..100_001)
                        .map_or(1, |c| c.value);
                    let min_active_days = self
                        .r
                        .count(&obj, "min_active_days", false, 1..3651)
                        .map_or(1, |c| c.value);
                    let window_days = self.r.count(&obj, "window_days", false, 1..3651);
                    if let Some(w) = &window_days {
                        if min_active_days > w.value {
                            self.r.error(w.span.clone(), format!("{ctx}: {min_active_days} active days cannot fit in a {}-day window", w.value));
                        }
                    }
                    Some(MilestoneCondition::Events {
                        events: events.into_iter().map(|e| e.value).collect(),
                        min_count,
                        min_distinct_users,
                        min_active_days,
                        window_days: window_days.map(|w| w.value),
                    })
                }
                (false, true) => {
                    for key in [
                        "min_count",
                        "min_distinct_users",
                        "min_active_days",
                        "window_days",
                    ] {
                        if obj.table.contains_key(key) {
                            let span = self.r.key_span(&obj, key);
                            self.r.error(
                                span,
                                format!("{ctx}: `{key}` goes with `events`, not `measure`"),
                            );
                        }
                    }
                    let measure = self.r.string(&obj, "measure", true);
                    if let Some(m) = &measure {
                        self.refer(RefKind::Measure, m, &ctx);
                    }
                    let at_least = self.r.number(&obj, "at_least", true);
                    match (measure, at_least) {
                        (Some(m), Some(a)) => Some(MilestoneCondition::Measure {
                            measure: m.value,
                            at_least: a.value,
                        }),
                        _ => None,
                    }
                }
                (true, true) => {
                    let span = self.r.key_span(&obj, "measure");
                    self.r.error_help(
                        span,
                        format!("{ctx}: has both `events` and `measure`"),
                        "a milestone is either an event condition or a measure threshold",
                    );
                    None
                }
                (false, false) => {
                    self.r.error_help(
                        obj.span.clone(),
                        format!("{ctx}: has no condition"),
                        "add `events = [\"EVENT\"]` or `measure = \"NAME\"` with `at_least = N`",
                    );
                    None
                }
            };
            if let (Some(kind), Some(description), Some(condition)) = (kind, description, condition)
            {
                out.insert(
                    name.value,
                    Milestone {
                        kind: KINDS[kind.value],
                        description: description.value,
                        owner: owner.map(|o| o.value).unwrap_or_default(),
                        condition,
                        expected_within_days: expected.map(|e| e.value),
                    },
                );
            }
        }
        out
    }

    fn rule_sets(
        &mut self,
        root: &Obj<'_>,
        key: &str,
        extra_keys: &[&str],
    ) -> Vec<(RuleSet, Vec<String>)> {
        let noun = if key == "tiers" { "tier" } else { "segment" };
        let mut allowed = vec!["name", "description", "when"];
        allowed.extend_from_slice(extra_keys);
        let objs = self.r.table_array(root, key);
        let count = objs.len();
        let mut names: BTreeSet<String> = BTreeSet::new();
        let mut out = Vec::new();
        for (i, obj) in objs.iter().enumerate() {
            self.r.check_keys(obj, &allowed);
            let name = self.r.string(obj, "name", true);
            let description = self.r.string(obj, "description", false);
            let ctx = format!(
                "{noun} `{}`",
                name.as_ref().map_or("?", |n| n.value.as_str())
            );
            if let Some(n) = &name {
                if !names.insert(n.value.clone()) {
                    self.r.error(
                        n.span.clone(),
                        format!("{noun} `{}` is declared twice", n.value),
                    );
                }
            }
            let mut when = Vec::new();
            for cond in self.r.table_array(obj, "when") {
                if let Some(c) = self.account_condition(&ctx, &cond) {
                    when.push(c);
                }
            }
            let is_last = i + 1 == count;
            let has_when = obj
                .table
                .get("when")
                .is_some_and(|w| w.as_array().is_none_or(|a| !a.is_empty()));
            if is_last && has_when {
                let span = self.r.key_span(obj, "when");
                self.r.error_help(
                    span,
                    format!("the last {noun} has conditions, so some accounts may match no {noun}"),
                    format!("remove `when` from the last {noun}: it is the catch-all"),
                );
            } else if !is_last && !has_when {
                self.r.error_help(
                    obj.span.clone(),
                    format!("{ctx} has no `when` but is not the last {noun}: every {noun} after it is unreachable"),
                    "add conditions, or move it to the end as the catch-all",
                );
            }
            let outcomes = if extra_keys.contains(&"outcomes") {
                self.r
                    .strings(obj, "outcomes")
                    .into_iter()
                    .map(|s| s.value)
                    .collect()
            } else {
                Vec::new()
            };
            if let Some(name) = name {
                out.push((
                    RuleSet {
                        name: name.value,
                        description: description.map(|d| d.value).unwrap_or_default(),
                        when,
                    },
                    outcomes,
                ));
            }
        }
        out
    }

    fn account_condition(&mut self, ctx: &str, cond: &Obj<'_>) -> Option<AccountCondition> {
        self.r.check_keys(cond, &["field", "op", "value"]);
        let field = self
            .r
            .choice(cond, "field", AccountField::NAMES, true)
            .and_then(|f| AccountField::from_name(AccountField::NAMES[f.value]));
        let op = self.op(cond)?;
        if op == Op::Exists {
            let span = self.r.key_span(cond, "op");
            self.r.error_help(
                span,
                format!("{ctx}: `exists` does not apply to account fields"),
                "use eq, ne, gt, gte, lt, lte, in or not_in",
            );
            return None;
        }
        let (raw, span) = self.r.value(cond, "value", true)?;
        let literal = self.literal(raw, &span)?;
        let field = field?;
        self.check_literal(ctx, op, &literal, &span, Some(field.is_numeric()));
        Some(AccountCondition {
            field,
            op,
            value: literal,
        })
    }

    fn health(&mut self, root: &Obj<'_>) -> HealthModel {
        let mut health = HealthModel {
            bands: Bands {
                green: 70.0,
                amber: 40.0,
            },
            stale_after_days: 14,
            pillars: BTreeMap::new(),
            overrides: Vec::new(),
        };
        let Some(obj) = self.r.table(root, "health", true) else {
            return health;
        };
        self.r
            .check_keys(&obj, &["bands", "stale_after_days", "pillars", "overrides"]);
        if let Some(bands) = self.r.table(&obj, "bands", false) {
            self.r.check_keys(&bands, &["green", "amber"]);
            let green = self.r.number(&bands, "green", true);
            let amber = self.r.number(&bands, "amber", true);
            for b in [&green, &amber].into_iter().flatten() {
                if !(0.0..=100.0).contains(&b.value) {
                    self.r
                        .error(b.span.clone(), "a band threshold must be between 0 and 100");
                }
            }
            if let (Some(g), Some(a)) = (green, amber) {
                if a.value >= g.value {
                    self.r.error_help(
                        a.span,
                        "the amber threshold must be below the green one",
                        format!("green is {}", g.value),
                    );
                } else {
                    health.bands = Bands {
                        green: g.value,
                        amber: a.value,
                    };
                }
            }
        }
        if let Some(s) = self.r.count(&obj, "stale_after_days", false, 1..366) {
            health.stale_after_days = s.value;
        }
        let mut weight_spans: Vec<(Pillar, Range<usize>)> = Vec::new();
        let mut declared_pillars: BTreeSet<Pillar> = BTreeSet::new();
        let mut seen_measures: BTreeMap<String, Pillar> = BTreeMap::new();
        if let Some(pillars) = self.r.table(&obj, "pillars", true) {
            for (name, pobj) in self.r.named_tables(&pillars) {
                let Some(pillar) = Pillar::from_name(&name.value) else {
                    self.r.unknown_name(
                        name.span.clone(),
                        "health pillar",
                        &name.value,
                        Pillar::NAMES,
                    );
                    continue;
                };
                declared_pillars.insert(pillar);
                let ctx = format!("pillar `{}`", name.value);
                self.r.check_keys(&pobj, &["weight", "measures"]);
                let weight = self.non_negative(&pobj, "weight", true, &ctx);
                let mut measures = Vec::new();
                for m in self.r.table_array(&pobj, "measures") {
                    if let Some(w) = self.weighted_measure(&ctx, &m) {
                        if let Some(other) = seen_measures.insert(w.measure.clone(), pillar) {
                            let span = self.r.key_span(&m, "measure");
                            self.r.error(
                                span,
                                format!(
                                    "{ctx}: measure `{}` is already scored in pillar `{}`",
                                    w.measure,
                                    other.name()
                                ),
                            );
                        }
                        measures.push(w);
                    }
                }
                if let Some(w) = weight {
                    if w.value > 0.0 && !measures.iter().any(|m| m.weight > 0.0) {
                        self.r.error_help(
                            w.span.clone(),
                            format!(
                                "{ctx} has weight {} but no measure with a weight above 0",
                                w.value
                            ),
                            "add a weighted measure or set the pillar's weight to 0",
                        );
                    }
                    weight_spans.push((pillar, w.span.clone()));
                    health.pillars.insert(
                        pillar,
                        PillarSpec {
                            weight: w.value,
                            measures,
                        },
                    );
                }
            }
            if !weight_spans.is_empty() && health.pillars.values().all(|p| p.weight == 0.0) {
                let listed = weight_spans
                    .iter()
                    .map(|(p, _)| format!("{} = 0", p.name()))
                    .collect::<Vec<_>>()
                    .join(", ");
                for (_, span) in &weight_spans {
                    self.r.error_help(
                        span.clone(),
                        "the health pillars' weights sum to zero, so no score can be computed",
                        format!("give at least one pillar a weight above 0 ({listed})"),
                    );
                }
            } else if weight_spans.is_empty() {
                self.r.error_help(
                    pillars.span.clone(),
                    "no health pillars are declared",
                    format!("declare at least one of: {}", Pillar::NAMES.join(", ")),
                );
            }
        }
        for o in self.r.table_array(&obj, "overrides") {
            if let Some(ov) = self.health_override(&o, &health, &declared_pillars) {
                health.overrides.push(ov);
            }
        }
        health
    }

    fn non_negative(
        &mut self,
        obj: &Obj<'_>,
        key: &str,
        required: bool,
        ctx: &str,
    ) -> Option<Spanned<f64>> {
        let w = self.r.number(obj, key, required)?;
        if w.value < 0.0 {
            self.r.error_help(w.span.clone(), format!("{ctx}: `{key}` is negative ({})", w.value), "weights must be 0 or more; use `higher_is_better = false` for a measure where more is worse");
            return None;
        }
        Some(w)
    }

    fn weighted_measure(&mut self, ctx: &str, m: &Obj<'_>) -> Option<WeightedMeasure> {
        self.r.check_keys(
            m,
            &[
                "measure",
                "weight",
                "normalise",
                "min",
                "max",
                "higher_is_better",
            ],
        );
        let measure = self.r.string(m, "measure", true);
        if let Some(name) = &measure {
            self.refer(RefKind::Measure, name, ctx);
        }
        let weight = self.non_negative(m, "weight", true, ctx);
        let method = self.r.choice(
            m,
            "normalise",
            &["linear", "log", "percentile", "boolean"],
            true,
        );
        let min = self.r.number(m, "min", false);
        let max = self.r.number(m, "max", false);
        let higher_is_better = self
            .r
            .boolean(m, "higher_is_better")
            .is_none_or(|b| b.value);
        let normalise = match method.as_ref().map(|s| s.value) {
            Some(0) => match (min, max) {
                (Some(lo), Some(hi)) if lo.value < hi.value => Some(Normalisation::Linear {
                    min: lo.value,
                    max: hi.value,
                }),
                (Some(_), Some(hi)) => {
                    self.r.error(
                        hi.span,
                        format!("{ctx}: `max` must be above `min` for linear normalisation"),
                    );
                    None
                }
                _ => {
                    self.r.error_help(method.as_ref().map_or(m.span.clone(), |s| s.span.clone()), format!("{ctx}: linear normalisation needs `min` and `max`"), "add `min = …, max = …`: values at or below min score 0, at or above max score 1");
                    None
                }
            },
            Some(1) => {
                if let Some(lo) = &min {
                    self.r.error(
                        lo.span.clone(),
                        format!("{ctx}: log normalisation takes only `max`"),
                    );
                }
                match max {
                    Some(hi) if hi.value > 0.0 => Some(Normalisation::Log { max: hi.value }),
                    Some(hi) => {
                        self.r.error(
                            hi.span,
                            format!("{ctx}: `max` must be above 0 for log normalisation"),
                        );
                        None
                    }
                    None => {
                        self.r.error_help(
                            method.as_ref().map_or(m.span.clone(), |s| s.span.clone()),
                            format!("{ctx}: log normalisation needs `max`"),
                            "add `max = …`: the value that scores 1",
                        );
                        None
                    }
                }
            }
            Some(i) => {
                for b in [&min, &max].into_iter().flatten() {
                    self.r.error(
                        b.span.clone(),
                        format!(
                            "{ctx}: {} normalisation takes no `min` or `max`",
                            if i == 2 { "percentile" } else { "boolean" }
                        ),
                    );
                }
                Some(if i == 2 {
                    Normalisation::Percentile
                } else {
                    Normalisation::Boolean
                })
            }
            None => None,
        };
        Some(WeightedMeasure {
            measure: measure?.value,
            weight: weight?.value,
            normalise: normalise?,
            higher_is_better,
        })
    }

    fn health_override(
        &mut self,
        o: &Obj<'_>,
        health: &HealthModel,
        declared_pillars: &BTreeSet<Pillar>,
    ) -> Option<HealthOverride> {
        self.r
            .check_keys(o, &["tier", "segment", "pillars", "measures"]);
        let tier = self.r.string(o, "tier", false);
        let segment = self.r.string(o, "segment", false);
        let scope = match (tier, segment) {
            (Some(t), None) => {
                self.refer(RefKind::Tier, &t, "health override");
                OverrideScope::Tier(t.value)
            }
            (None, Some(s)) => {
                self.refer(RefKind::Segment, &s, "health override");
                OverrideScope::Segment(s.value)
            }
            (Some(_), Some(s)) => {
                self.r.error_help(
                    s.span,
                    "a health override names both a tier and a segment",
                    "write one override for the tier and another for the segment",
                );
                return None;
            }
            (None, None) => {
                self.r.error_help(
                    o.span.clone(),
                    "a health override names neither a tier nor a segment",
                    "add `tier = \"NAME\"` or `segment = \"NAME\"`",
                );
                return None;
            }
        };
        let ctx = match &scope {
            OverrideScope::Tier(t) => format!("health override for tier `{t}`"),
            OverrideScope::Segment(s) => format!("health override for segment `{s}`"),
        };
        let mut pillar_weights = BTreeMap::new();
        let mut first_span = o.span.clone();
        if let Some(p) = self.r.table(o, "pillars", false) {
            first_span = p.span.clone();
            for (key, _) in p.table.iter() {
                let key_span = self.r.key_span(&p, key);
                match Pillar::from_name(key) {
                    Some(pillar) => {
                        if let Some(w) = self.non_negative(&p, key, true, &ctx) {
                            if !declared_pillars.contains(&pillar) && w.value > 0.0 {
                                self.r.error(w.span, format!("{ctx}: pillar `{key}` has no measures declared in [health.pillars.{key}]"));
                            } else {
                                pillar_weights.insert(pillar, w.value);
                            }
                        }
                    }
                    None => self
                        .r
                        .unknown_name(key_span, "health pillar", key, Pillar::NAMES),
                }
            }
        }
        let mut measure_weights = BTreeMap::new();
        if let Some(m) = self.r.table(o, "measures", false) {
            for (key, _) in m.table.iter() {
                let key_span = self.r.key_span(&m, key);
                let name = Spanned {
                    value: key.to_owned(),
                    span: key_span,
                };
                self.refer(RefKind::HealthMeasure, &name, &ctx);
                if let Some(w) = self.non_negative(&m, key, true, &ctx) {
                    measure_weights.insert(key.to_owned(), w.value);
                }
            }
        }
        // The overridden weights must still yield a score.
        let effective: Vec<(Pillar, f64, f64)> = health
            .pillars
            .iter()
            .map(|(pillar, spec)| {
                let pw = pillar_weights.get(pillar).copied().unwrap_or(spec.weight);
                let mw: f64 = spec
                    .measures
                    .iter()
                    .map(|m| measure_weights.get(&m.measure).copied().unwrap_or(m.weight))
                    .sum();
                (*pillar, pw, mw)
            })
            .collect();
        // Only blame the override when the base weights were fine: otherwise the base is at fault
        // and was reported already.
        let base_ok = health.pillars.values().any(|p| p.weight > 0.0);
        if base_ok && effective.iter().all(|(_, pw, _)| *pw == 0.0) {
            self.r.error(
                first_span.clone(),
                format!("{ctx}: the pillars' weights sum to zero, so no score can be computed"),
            );
        }
        for (pillar, pw, mw) in effective {
            if pw > 0.0 && mw == 0.0 {
                self.r.error(
                    first_span.clone(),
                    format!(
                        "{ctx}: pillar `{}` keeps weight {pw} but all its measures weigh 0",
                        pillar.name()
                    ),
                );
            }
        }
        Some(HealthOverride {
            scope,
            pillar_weights,
            measure_weights,
        })
    }

    fn playbooks(&mut self, root: &Obj<'_>) -> BTreeMap<String, Playbook> {
        let mut out = BTreeMap::new();
        let Some(playbooks) = self.r.table(root, "playbooks", false) else {
            return out;
        };
        for (name, obj) in self.r.named_tables(&playbooks) {
            let ctx = format!("playbook `{}`", name.value);
            self.r.check_keys(
                &obj,
                &[
                    "description",
                    "owner",
                    "trigger",
                    "tiers",
                    "segments",
                    "cooldown_days",
                    "holdout_percent",
                    "actions",
                ],
            );
            let description = self.r.string(&obj, "description", true);
            let owner = self.r.string(&obj, "owner", false);
            let trigger = self
                .r
                .table(&obj, "trigger", true)
                .and_then(|t| self.trigger(&ctx, &t));
            let mut tiers = Vec::new();
            for t in self.r.strings(&obj, "tiers") {
                self.refer(RefKind::Tier, &t, &ctx);
                tiers.push(t.value);
            }
            let mut segments = Vec::new();
            for s in self.r.strings(&obj, "segments") {
                self.refer(RefKind::Segment, &s, &ctx);
                segments.push(s.value);
            }
            let cooldown_days = self
                .r
                .count(&obj, "cooldown_days", false, 0..3651)
                .map_or(7, |c| c.value);
            let holdout_percent = match self.r.number(&obj, "holdout_percent", false) {
                Some(h) if (0.0..=50.0).contains(&h.value) => h.value,
                Some(h) => {
                    self.r.error_help(
                        h.span,
                        format!("{ctx}: `holdout_percent` is {}", h.value),
                        "hold out between 0 and 50 percent of matching accounts",
                    );
                    0.0
                }
                None => 0.0,
            };
            let action_objs = self.r.table_array(&obj, "actions");
            // A wrong type was reported by `table_array`; only a missing or empty list is this error.
            let missing_or_empty = match obj.table.get("actions") {
                None => true,
                Some(item) => {
                    item.as_array().is_some_and(|a| a.is_empty())
                        || item.as_array_of_tables().is_some_and(|a| a.is_empty())
                }
            };
            if action_objs.is_empty() && missing_or_empty {
                let span = if obj.table.contains_key("actions") {
                    self.r.key_span(&obj, "actions")
                } else {
                    obj.span.clone()
                };
                self.r.error_help(
                    span,
                    format!("{ctx} has no actions"),
                    "add `actions = [{ kind = \"task\", title = \"…\" }]`",
                );
            }
            let actions: Vec<Action> = action_objs
                .iter()
                .filter_map(|a| self.action(&ctx, a))
                .collect();
            if let (Some(description), Some(trigger)) = (description, trigger) {
                out.insert(
                    name.value,
                    Playbook {
                        description: description.value,
                        owner: owner.map(|o| o.value).unwrap_or_default(),
                        trigger,
                        tiers,
                        segments,
                        cooldown_days,
                        holdout_percent,
                        actions,
                    },
                );
            }
        }
        out
    }

    fn experiments(
        &mut self,
        root: &Obj<'_>,
        playbooks: &BTreeMap<String, Playbook>,
    ) -> BTreeMap<String, Experiment> {
        let mut out = BTreeMap::new();
        let Some(experiments) = self.r.table(root, "experiments", false) else {
            return out;
        };
        for (name, obj) in self.r.named_tables(&experiments) {
            let ctx = format!("experiment `{}`", name.value);
            self.r.check_keys(
                &obj,
                &[
                    "description",
                    "owner",
                    "playbook",
                    "outcome",
                    "minimum_effect",
                    "alpha",
                    "start",
                    "end",
                ],
            );
            let description = self.r.string(&obj, "description", true);
            let owner = self.r.string(&obj, "owner", false);
            let playbook = self.r.string(&obj, "playbook", true);
            if let Some(p) = &playbook {
                match playbooks.get(&p.value) {
                    None => {
                        let names: Vec<&str> = playbooks.keys().map(String::as_str).collect();
                        self.r.unknown_name(p.span.clone(), "playbook", &p.value, &names);
                    }
                    Some(pb) if pb.holdout_percent <= 0.0 => self.r.error_help(
                        p.span.clone(),
                        format!("{ctx}: playbook `{}` holds no accounts out", p.value),
                        "give the playbook a `holdout_percent` (its held-out accounts are the control)",
                    ),
                    Some(_) => {}
                }
            }
            let outcome = self
                .r
                .choice(&obj, "outcome", ExperimentOutcome::NAMES, true)
                .map(|o| ExperimentOutcome::ALL[o.value]);
            let minimum_effect = self.r.number(&obj, "minimum_effect", true);
            if let Some(m) = &minimum_effect {
                if m.value.is_nan() || m.value <= 0.0 {
                    self.r.error_help(
                        m.span.clone(),
                        format!("{ctx}: `minimum_effect` is {}", m.value),
                        "the smallest uplift worth having, above 0: a share for renewal and expansion (0.02 = 2 points), health points otherwise",
                    );
                }
            }
            let alpha = match self.r.number(&obj, "alpha", false) {
                Some(a) if a.value > 0.0 && a.value < 0.5 => a.value,
                Some(a) => {
                    self.r.error_help(
                        a.span,
                        format!("{ctx}: `alpha` is {}", a.value),
                        "a significance level between 0 and 0.5, e.g. 0.05",
                    );
                    0.05
                }
                None => 0.05,
            };
            let mut date = |key: &str, required: bool| -> Option<chrono::NaiveDate> {
                let s = self.r.string(&obj, key, required)?;
                match s.value.parse::<chrono::NaiveDate>() {
                    Ok(d) => Some(d),
                    Err(_) => {
                        self.r.error_help(
                            s.span,
                            format!("{ctx}: `{key}` is `{}`", s.value),
                            "a date as YYYY-MM-DD",
                        );
                        None
                    }
                }
            };
            let start = date("start", true);
            let end = date("end", false);
            if let (Some(s), Some(e)) = (start, end) {
                if e < s {
                    let span = self.r.key_span(&obj, "end");
                    self.r.error_help(
                        span,
                        format!("{ctx} ends ({e}) before it starts ({s})"),
                        "`end` must be on or after `start`",
                    );
                }
            }
            if let (Some(description), Some(playbook), Some(outcome), Some(m), Some(start)) =
                (description, playbook, outcome, minimum_effect, start)
            {
                out.insert(
                    name.value,
                    Experiment {
                        description: description.value,
                        owner: owner.map(|o| o.value).unwrap_or_default(),
                        playbook: playbook.value,
                        outcome,
                        minimum_effect: m.value,
                        alpha,
                        start,
                        end,
                    },
                );
            }
        }
        out
    }

    fn band_names(&mut self, values: &[Spanned<String>], what: &str) -> Vec<Band> {
        let mut out = Vec::new();
        for b in values {
            match b.value.as_str() {
                "green" => out.push(Band::Green),
                "amber" => out.push(Band::Amber),
                "red" => out.push(Band::Red),
                _ => {
                    self.r
                        .unknown_name(b.span.clone(), what, &b.value, &["green", "amber", "red"])
                }
            }
        }
        out
    }

    fn trigger(&mut self, ctx: &str, t: &Obj<'_>) -> Option<Trigger> {
        const KINDS: &[&str] = &[
            "milestone_missed",
            "milestone_reached",
            "measure_below",
            "measure_above",
            "measure_drop",
            "renewal_within",
            "health_drop",
            "band_is",
            "release_touches_feature",
        ];
        let Some(kind) = self.r.choice(t, "kind", KINDS, true) else {
            // Still report misspelt keys now, against every key some trigger takes.
            self.r.check_keys(
                t,
                &[
                    "kind",
                    "milestone",
                    "days_after_signup",
                    "measure",
                    "threshold",
                    "for_days",
                    "percent",
                    "days",
                    "bands",
                    "points",
                    "band",
                    "min_days",
                    "within_days",
                ],
            );
            return None;
        };
        let keys: &[&str] = match kind.value {
            0 => &["kind", "milestone", "days_after_signup"],
            1 => &["kind", "milestone"],
            2 | 3 => &["kind", "measure", "threshold", "for_days"],
            4 => &["kind", "measure", "percent"],
            5 => &["kind", "days", "bands"],
            6 => &["kind", "points", "days"],
            7 => &["kind", "band", "for_days"],
            _ => &["kind", "min_days", "within_days"],
        };
        self.r.check_keys(t, keys);
        let tctx = format!("{ctx} trigger");
        match kind.value {
            0 | 1 => {
                let milestone = self.r.string(t, "milestone", true)?;
                self.refer(RefKind::Milestone, &milestone, &tctx);
                if kind.value == 1 {
                    return Some(Trigger::MilestoneReached {
                        milestone: milestone.value,
                    });
                }
                // 0 means "use the milestone's expected_within_days"; resolved in cross-section checks.
                let days = self
                    .r
                    .count(t, "days_after_signup", false, 1..3651)
                    .map_or(0, |d| d.value);
                Some(Trigger::MilestoneMissed {
                    milestone: milestone.value,
                    days_after_signup: days,
                })
            }
            2 | 3 => {
                let measure = self.r.string(t, "measure", true);
                if let Some(m) = &measure {
                    self.refer(RefKind::Measure, m, &tctx);
                }
                let threshold = self.r.number(t, "threshold", true);
                let for_days = self
                    .r
                    .count(t, "for_days", false, 0..366)
                    .map_or(0, |d| d.value);
                let (measure, threshold) = (measure?.value, threshold?.value);
                Some(if kind.value == 2 {
                    Trigger::MeasureBelow {
                        measure,
                        threshold,
                        for_days,
                    }
                } else {
                    Trigger::MeasureAbove {
                        measure,
                        threshold,
                        for_days,
                    }
                })
            }
            4 => {
                let measure = self.r.string(t, "measure", true);
                if let Some(m) = &measure {
                    self.refer(RefKind::Measure, m, &tctx);
                }
                let percent = self.r.number(t, "percent", true);
                if let Some(p) = &percent {
                    if !(p.value > 0.0 && p.value <= 100.0) {
                        self.r.error(
                            p.span.clone(),
                            format!("{tctx}: `percent` must be above 0 and at most 100"),
                        );
                    }
                }
                Some(Trigger::MeasureDrop {
                    measure: measure?.value,
                    percent: percent?.value,
                })
            }
            5 => {
                let days = self.r.count(t, "days", true, 1..731);
                let bands = self.r.strings(t, "bands");
                let bands = self.band_names(&bands, "band");
                Some(Trigger::RenewalWithin {
                    days: days?.value,
                    bands,
                })
            }
            6 => {
                let points = self.r.number(t, "points", true);
                if let Some(p) = &points {
                    if !(p.value > 0.0 && p.value <= 100.0) {
                        self.r.error(
                            p.span.clone(),
                            format!("{tctx}: `points` must be above 0 and at most 100"),
                        );
                    }
                }
                let days = self.r.count(t, "days", true, 1..366);
                Some(Trigger::HealthDrop {
                    points: points?.value,
                    days: days?.value,
                })
            }
            7 => {
                let band = self.r.string(t, "band", true)?;
                let for_days = self
                    .r
                    .count(t, "for_days", false, 0..366)
                    .map_or(0, |d| d.value);
                let band = self.band_names(std::slice::from_ref(&band), "band").pop()?;
                Some(Trigger::BandIs { band, for_days })
            }
            _ => {
                let within =
                    self.r
                        .count(t, "within_days", false, 1..(MAX_RELEASE_LOOKBACK_DAYS + 1));
                let min = self
                    .r
                    .count(t, "min_days", false, 1..(MAX_RELEASE_LOOKBACK_DAYS + 1));
                let within_days = within.map_or(30, |d| d.value);
                let min_days = min.as_ref().map_or(4, |d| d.value);
                if min_days > within_days {
                    self.r.error_help(
                        min.map_or(t.span.clone(), |m| m.span),
                        format!(
                            "{tctx}: `min_days` ({min_days}) is more than `within_days` ({within_days})"
                        ),
                        "an account relies on a feature used on `min_days` of the `within_days` days before a release",
                    );
                    return None;
                }
                Some(Trigger::ReleaseTouchesFeature {
                    min_days,
                    within_days,
                })
            }
        }
    }

    fn action(&mut self, ctx: &str, a: &Obj<'_>) -> Option<Action> {
        let Some(kind) = self
            .r
            .choice(a, "kind", &["task", "webhook", "survey", "email"], true)
        else {
            // Still report misspelt keys now, against every key some action takes.
            self.r.check_keys(
                a,
                &[
                    "kind",
                    "title",
                    "role",
                    "priority",
                    "sla_hours",
                    "url",
                    "survey",
                    "to",
                    "subject",
                    "template",
                ],
            );
            return None;
        };
        let actx = format!("{ctx} action");
        match kind.value {
            0 => {
                self.r
                    .check_keys(a, &["kind", "title", "role", "priority", "sla_hours"]);
                let title = self.r.string(a, "title", true);
                let role = self
                    .r
                    .choice(a, "role", Role::NAMES, false)
                    .map_or(Role::Csm, |r| Role::ALL[r.value]);
                let priority = self
                    .r
                    .choice(a, "priority", Priority::NAMES, false)
                    .map_or(Priority::Moderate, |p| Priority::ALL[p.value]);
                let default_sla = match priority {
                    Priority::Critical => 24,
                    Priority::High => 72,
                    Priority::Moderate => 168,
                    Priority::Low => 336,
                };
                let sla_hours = self
                    .r
                    .count(a, "sla_hours", false, 1..8761)
                    .map_or(default_sla, |s| s.value);
                Some(Action::Task {
                    title: title?.value,
                    role,
                    priority,
                    sla_hours,
                })
            }
            1 => {
                self.r.check_keys(a, &["kind", "url"]);
                let url = self.r.string(a, "url", true)?;
                let rest = url
                    .value
                    .strip_prefix("https://")
                    .or_else(|| url.value.strip_prefix("http://"));
                if rest.is_none_or(|r| r.is_empty() || r.starts_with('/')) {
                    self.r.error_help(
                        url.span,
                        format!("{actx}: `{}` is not an http(s) URL", url.value),
                        "use an address such as \"https://hooks.example.com/tenure\"",
                    );
                    return None;
                }
                Some(Action::Webhook { url: url.value })
            }
            2 => {
                self.r.check_keys(a, &["kind", "survey", "to"]);
                let to = self
                    .r
                    .choice(a, "to", RECIPIENTS, false)
                    .map_or("all_contacts", |t| RECIPIENTS[t.value]);
                let survey = self.r.choice(a, "survey", &["nps", "csat", "ces"], true)?;
                Some(Action::Survey {
                    survey: [SurveyKind::Nps, SurveyKind::Csat, SurveyKind::Ces][survey.value],
                    to: to.to_owned(),
                })
            }
            _ => {
                self.r.check_keys(a, &["kind", "to", "subject", "template"]);
                let to = self.r.choice(a, "to", RECIPIENTS, true);
                let subject = self.r.string(a, "subject", true);
                let template = self.r.string(a, "template", true);
                if let Some(s) = &subject {
                    self.placeholders(s, &format!("{actx} subject"));
                }
                if let Some(t) = &template {
                    self.refer(RefKind::Template, t, &actx);
                }
                let to = RECIPIENTS[to?.value];
                Some(Action::Email {
                    to: to.to_owned(),
                    subject: subject?.value,
                    template: template?.value,
                })
            }
        }
    }

    fn metrics(&mut self, root: &Obj<'_>) -> BTreeMap<String, MetricDefinition> {
        use MetricKind as K;
        const KIND_NAMES: &[&str] = &[
            "nrr",
            "grr",
            "logo_churn",
            "revenue_churn",
            "expansion",
            "contraction",
            "reactivation",
            "ttfv",
            "activation_rate",
            "habit_rate",
            "nps",
            "csat",
            "ces",
            "ticket_volume",
            "resolution_time",
            "dau",
            "wau",
            "mau",
            "stickiness",
            "measure_average",
        ];
        const KINDS: [MetricKind; 20] = [
            K::Nrr,
            K::Grr,
            K::LogoChurn,
            K::RevenueChurn,
            K::Expansion,
            K::Contraction,
            K::Reactivation,
            K::Ttfv,
            K::ActivationRate,
            K::HabitRate,
            K::Nps,
            K::Csat,
            K::Ces,
            K::TicketVolume,
            K::ResolutionTime,
            K::Dau,
            K::Wau,
            K::Mau,
            K::Stickiness,
            K::MeasureAverage,
        ];
        let mut out = BTreeMap::new();
        let Some(metrics) = self.r.table(root, "metrics", false) else {
            return out;
        };
        for (name, obj) in self.r.named_tables(&metrics) {
            let ctx = format!("metric `{}`", name.value);
            self.r.check_keys(
                &obj,
                &[
                    "title",
                    "description",
                    "owner",
                    "kind",
                    "measure",
                    "period",
                    "target",
                ],
            );
            let title = self.r.string(&obj, "title", true);
            let description = self.r.string(&obj, "description", true);
            let owner = self.r.string(&obj, "owner", true);
            let kind = self
                .r
                .choice(&obj, "kind", KIND_NAMES, true)
                .map(|k| (KINDS[k.value], k.span));
            let measure = self.r.string(&obj, "measure", false);
            match (&kind, &measure) {
                (Some((K::MeasureAverage, span)), None) => {
                    self.r.error_help(
                        span.clone(),
                        format!("{ctx}: kind `measure_average` needs a `measure`"),
                        "add `measure = \"NAME\"`",
                    );
                }
                (Some((K::MeasureAverage, _)), Some(m)) => self.refer(RefKind::Measure, m, &ctx),
                (Some(_), Some(m)) => {
                    self.r.error(
                        m.span.clone(),
                        format!("{ctx}: `measure` is only used by kind `measure_average`"),
                    );
                }
                _ => {}
            }
            let period = self
                .r
                .choice(&obj, "period", &Period::NAMES, true)
                .map(|p| Period::ALL[p.value]);
            let target = self.r.number(&obj, "target", false).map(|t| t.value);
            if let (Some(title), Some(description), Some(owner), Some((kind, _)), Some(period)) =
                (title, description, owner, kind, period)
            {
                out.insert(
                    name.value,
                    MetricDefinition {
                        title: title.value,
                        description: description.value,
                        owner: owner.value,
                        kind,
                        measure: measure.map(|m| m.value),
                        period,
                        target,
                    },
                );
            }
        }
        out
    }

    /// Checks that need two sections at once, after both were read.
    fn check_cross_section(&mut self, model: &SuccessModel, root: &Obj<'_>) {
        // Metrics that are measured against a milestone of a given kind.
        if let Some(metrics) = self.r.table(root, "metrics", false) {
            for (name, obj) in self.r.named_tables(&metrics) {
                let Some(def) = model.metrics.get(&name.value) else {
                    continue;
                };
                let needed = match def.kind {
                    MetricKind::Ttfv => Some((MilestoneKind::FirstValue, "first_value")),
                    MetricKind::ActivationRate => Some((MilestoneKind::Activation, "activation")),
                    MetricKind::HabitRate => Some((MilestoneKind::Habit, "habit")),
                    _ => None,
                };
                if let Some((kind, kind_name)) = needed {
                    if !model.milestones.values().any(|m| m.kind == kind) {
                        let span = self.r.key_span(&obj, "kind");
                        self.r.error_help(
                            span,
                            format!(
                                "metric `{}` needs a milestone of kind `{kind_name}`",
                                name.value
                            ),
                            format!(
                                "declare one under [milestones.NAME] with kind = \"{kind_name}\""
                            ),
                        );
                    }
                }
            }
        }
        if let Some(playbooks) = self.r.table(root, "playbooks", false) {
            for (name, obj) in self.r.named_tables(&playbooks) {
                let Some(pb) = model.playbooks.get(&name.value) else {
                    continue;
                };
                let span = self.r.key_span(&obj, "trigger");
                match &pb.trigger {
                    Trigger::MilestoneMissed {
                        milestone,
                        days_after_signup: 0,
                    } if model
                        .milestones
                        .get(milestone)
                        .is_some_and(|m| m.expected_within_days.is_none()) =>
                    {
                        self.r.error_help(
                            span,
                            format!("playbook `{}`: milestone `{milestone}` has no `expected_within_days`, so it is never missed", name.value),
                            "add `days_after_signup = N` to the trigger or `expected_within_days` to the milestone",
                        );
                    }
                    Trigger::MeasureDrop { measure, .. }
                        if model
                            .measures
                            .get(measure)
                            .is_some_and(|m| m.compare != Some(Compare::PriorWindow)) =>
                    {
                        self.r.error_help(
                            span,
                            format!("playbook `{}`: measure `{measure}` is not compared to a prior window", name.value),
                            format!("add `compare = \"prior_window\"` to [measures.{measure}]"),
                        );
                    }
                    _ => {}
                }
            }
        }
        // A measure-based milestone must not be computed from milestones (it would depend on itself).
        for (name, m) in &model.milestones {
            if let MilestoneCondition::Measure { measure, .. } = &m.condition {
                if model
                    .measures
                    .get(measure)
                    .is_some_and(|x| x.source == MeasureSource::Milestones)
                {
                    if let Some(ms) = self.r.table(root, "milestones", false) {
                        if let Some(obj) = self.r.table(&ms, name, false) {
                            let span = self.r.key_span(&obj, "measure");
                            self.r.error(span, format!("milestone `{name}` depends on measure `{measure}`, which counts milestones"));
                        }
                    }
                }
            }
        }
    }
}

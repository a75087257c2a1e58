//! The glossary: every measure, milestone, health pillar and metric of a model as Markdown,
//! with its definition, owner, source events and versions. Generated, never hand-written, so
//! it cannot drift from the model that scores accounts.

use std::fmt::Write;

use super::*;

fn or_dash(s: &str) -> &str {
    if s.is_empty() {
        "—"
    } else {
        s
    }
}

fn snake(value: &impl Serialize) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn number(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

fn literal(l: &Literal) -> String {
    match l {
        Literal::Bool(b) => b.to_string(),
        Literal::Number(n) => number(*n),
        Literal::Text(t) => format!("\"{t}\""),
        Literal::List(items) => format!(
            "[{}]",
            items.iter().map(literal).collect::<Vec<_>>().join(", ")
        ),
    }
}

fn op(o: Op) -> &'static str {
    match o {
        Op::Eq => "=",
        Op::Ne => "≠",
        Op::Gt => ">",
        Op::Gte => "≥",
        Op::Lt => "<",
        Op::Lte => "≤",
        Op::In => "in",
        Op::NotIn => "not in",
        Op::Exists => "exists",
    }
}

/// A sentence that says exactly what a measure computes.
pub(super) fn measure_definition(m: &Measure) -> String {
    let events = if m.events.is_empty() {
        "any event".to_owned()
    } else {
        m.events
            .iter()
            .map(|e| format!("`{e}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let prop = m.property.as_deref().unwrap_or("?");
    let what = match (m.source, m.aggregate) {
        (MeasureSource::Events, Aggregate::Count) => format!("number of {events}"),
        (MeasureSource::Events, Aggregate::DistinctUsers) => {
            format!("distinct users with {events}")
        }
        (MeasureSource::Events, Aggregate::ActiveDays) => format!("days with {events}"),
        (MeasureSource::Events, Aggregate::Sum) => format!("sum of `{prop}` over {events}"),
        (MeasureSource::Events, Aggregate::Average) => format!("mean of `{prop}` over {events}"),
        (MeasureSource::Events, Aggregate::Min) => format!("smallest `{prop}` over {events}"),
        (MeasureSource::Events, Aggregate::Max) => format!("largest `{prop}` over {events}"),
        (MeasureSource::Events, Aggregate::DistinctValues) => {
            format!("distinct values of `{prop}` over {events}")
        }
        (MeasureSource::Events, Aggregate::DistinctFeatures) => {
            format!("distinct feature areas used, over {events}")
        }
        (MeasureSource::Events, Aggregate::DaysSinceLast) => {
            format!("days since the last of {events}")
        }
        (MeasureSource::Tickets, Aggregate::Count) => "support tickets opened".to_owned(),
        (MeasureSource::Tickets, Aggregate::OpenCount) => "support tickets open now".to_owned(),
        (MeasureSource::Tickets, Aggregate::HighPriorityCount) => {
            "high- and urgent-priority tickets opened".to_owned()
        }
        (MeasureSource::Tickets, Aggregate::AverageResolutionHours) => {
            "mean hours to resolve tickets resolved".to_owned()
        }
        (MeasureSource::Tickets, Aggregate::AverageCsat) => {
            "mean CSAT of tickets resolved".to_owned()
        }
        (MeasureSource::Surveys, agg) => {
            let survey = m
                .survey
                .map(|s| snake(&s).to_uppercase())
                .unwrap_or_default();
            match agg {
                Aggregate::Latest => format!("latest {survey} answer"),
                Aggregate::Nps => "net promoter score (promoters − detractors, %)".to_owned(),
                _ => format!("mean {survey} answer"),
            }
        }
        (MeasureSource::Activities, agg) => {
            let kinds = if m.activities.is_empty() {
                "CSM activities".to_owned()
            } else {
                m.activities
                    .iter()
                    .map(snake)
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            match agg {
                Aggregate::Count => format!("number of {kinds}"),
                Aggregate::DaysSinceLast => format!("days since the last of {kinds}"),
                _ => format!("mean customer response hours to {kinds}"),
            }
        }
        (MeasureSource::Milestones, _) => "journey milestones reached".to_owned(),
        (MeasureSource::Account, Aggregate::Seats) => "licensed seats".to_owned(),
        (MeasureSource::Account, Aggregate::DaysToRenewal) => {
            "days to the next renewal date".to_owned()
        }
        (MeasureSource::Account, Aggregate::DaysSinceSignup) => "days since sign-up".to_owned(),
        (MeasureSource::Account, _) => "1 with an executive sponsor, else 0".to_owned(),
        (source, agg) => format!("{} of {}", snake(&agg), snake(&source)),
    };
    let mut s = what;
    if !m.conditions.is_empty() {
        let conds = m
            .conditions
            .iter()
            .map(|c| match &c.value {
                Some(v) => format!("`{}` {} {}", c.property, op(c.op), literal(v)),
                None => format!("`{}` {}", c.property, op(c.op)),
            })
            .collect::<Vec<_>>()
            .join(" and ");
        let _ = write!(s, " where {conds}");
    }
    let windowed = !matches!(m.source, MeasureSource::Account | MeasureSource::Milestones)
        && m.aggregate != Aggregate::OpenCount;
    if windowed {
        let days = m.window_days;
        let _ = write!(
            s,
            ", over the trailing {days} day{}",
            if days == 1 { "" } else { "s" }
        );
    }
    if m.per_seat {
        s.push_str(", divided by licensed seats");
    }
    if m.compare.is_some() {
        s.push_str(", as the relative change against the window before");
    }
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect::<String>() + ".",
        None => s,
    }
}

fn milestone_definition(m: &Milestone) -> String {
    let mut s = match &m.condition {
        MilestoneCondition::Events {
            events,
            min_count,
            min_distinct_users,
            min_active_days,
            window_days,
        } => {
            let events = events
                .iter()
                .map(|e| format!("`{e}`"))
                .collect::<Vec<_>>()
                .join(", ");
            let mut parts = vec![format!("at least {min_count} of {events}")];
            if *min_distinct_users > 1 {
                parts.push(format!("by at least {min_distinct_users} distinct users"));
            }
            if *min_active_days > 1 {
                parts.push(format!("on at least {min_active_days} distinct days"));
            }
            let mut s = format!("Reached with {}", parts.join(", "));
            if let Some(w) = window_days {
                let _ = write!(s, ", within any {w}-day window");
            }
            s
        }
        MilestoneCondition::Measure { measure, at_least } => {
            format!(
                "Reached when measure `{measure}` is at least {}",
                number(*at_least)
            )
        }
    };
    if let Some(d) = m.expected_within_days {
        let _ = write!(s, "; expected within {d} days of sign-up");
    }
    s.push('.');
    s
}

fn sources(model: &SuccessModel, m: &Measure) -> String {
    match m.source {
        MeasureSource::Events if m.events.is_empty() => "any event".to_owned(),
        MeasureSource::Events => m
            .events
            .iter()
            .map(|e| format!("`{e}`"))
            .collect::<Vec<_>>()
            .join(", "),
        MeasureSource::Milestones => model
            .milestones
            .keys()
            .map(|k| format!("milestone `{k}`"))
            .collect::<Vec<_>>()
            .join(", "),
        other => snake(&other),
    }
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

pub(super) fn render(model: &SuccessModel) -> String {
    let version = model.version();
    let mut out = String::new();
    let _ = writeln!(out, "# Glossary — {}\n", model.name);
    if !model.description.is_empty() {
        let _ = writeln!(out, "{}\n", model.description);
    }
    let _ = writeln!(
        out,
        "Model version `{version}`. Each definition's own version (a hash of its definition) changes only when that definition does.\n"
    );

    let _ = writeln!(out, "## Measures\n");
    let _ = writeln!(
        out,
        "| measure | definition | description | owner | source | version |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    for (name, m) in &model.measures {
        let _ = writeln!(
            out,
            "| `{name}` | {} | {} | {} | {} | `{}` |",
            cell(&measure_definition(m)),
            cell(or_dash(&m.description)),
            cell(or_dash(&m.owner)),
            cell(&sources(model, m)),
            definition_hash(m)
        );
    }

    let _ = writeln!(out, "\n## Milestones\n");
    let _ = writeln!(
        out,
        "| milestone | kind | definition | description | owner | source events | version |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|");
    for (name, m) in &model.milestones {
        let source = match &m.condition {
            MilestoneCondition::Events { events, .. } => events
                .iter()
                .map(|e| format!("`{e}`"))
                .collect::<Vec<_>>()
                .join(", "),
            MilestoneCondition::Measure { measure, .. } => model
                .measures
                .get(measure)
                .map(|x| format!("via `{measure}`: {}", sources(model, x)))
                .unwrap_or_default(),
        };
        let _ = writeln!(
            out,
            "| `{name}` | {} | {} | {} | {} | {} | `{}` |",
            snake(&m.kind),
            cell(&milestone_definition(m)),
            cell(or_dash(&m.description)),
            cell(or_dash(&m.owner)),
            cell(&source),
            definition_hash(m)
        );
    }

    let _ = writeln!(out, "\n## Health score\n");
    let total: f64 = model.health.pillars.values().map(|p| p.weight).sum();
    let _ = writeln!(
        out,
        "A score from 0 to 100: green at {} or above, amber at {} or above, red below. Inputs older than {} days lower the score's confidence. Version `{}`.\n",
        number(model.health.bands.green),
        number(model.health.bands.amber),
        model.health.stale_after_days,
        definition_hash(&model.health)
    );
    let _ = writeln!(
        out,
        "| pillar | share | measure | weight in pillar | normalisation |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|");
    for (pillar, spec) in &model.health.pillars {
        let share = if total > 0.0 {
            spec.weight / total * 100.0
        } else {
            0.0
        };
        let measure_total: f64 = spec.measures.iter().map(|m| m.weight).sum();
        for (i, w) in spec.measures.iter().enumerate() {
            let norm = match w.normalise {
                Normalisation::Linear { min, max } => {
                    format!("linear {} → {}", number(min), number(max))
                }
                Normalisation::Log { max } => format!("log, 1 at {}", number(max)),
                Normalisation::Percentile => "percentile within tier".to_owned(),
                Normalisation::Boolean => "1 when above 0".to_owned(),
            };
            let dir = if w.higher_is_better {
                ""
            } else {
                ", lower is better"
            };
            let in_pillar = if measure_total > 0.0 {
                w.weight / measure_total * 100.0
            } else {
                0.0
            };
            let (p, s) = if i == 0 {
                (pillar.name().to_string(), format!("{share:.0} %"))
            } else {
                (String::new(), String::new())
            };
            let _ = writeln!(
                out,
                "| {p} | {s} | `{}` | {in_pillar:.0} % | {norm}{dir} |",
                w.measure
            );
        }
    }
    for o in &model.health.overrides {
        let scope = match &o.scope {
            OverrideScope::Tier(t) => format!("tier `{t}`"),
            OverrideScope::Segment(s) => format!("segment `{s}`"),
        };
        let mut changes: Vec<String> = o
            .pillar_weights
            .iter()
            .map(|(p, w)| format!("pillar `{}` weight {}", p.name(), number(*w)))
            .collect();
        changes.extend(
            o.measure_weights
                .iter()
                .map(|(m, w)| format!("measure `{m}` weight {}", number(*w))),
        );
        let _ = writeln!(out, "\nFor {scope}: {}.", changes.join(", "));
    }

    let _ = writeln!(out, "\n## Metrics\n");
    let _ = writeln!(
        out,
        "| metric | title | definition | computed as | owner | period | target | version |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|");
    for (name, m) in &model.metrics {
        let target = m.target.map(number).unwrap_or_else(|| "—".to_owned());
        let mut definition = m.description.clone();
        if let Some(measure) = &m.measure {
            let _ = write!(definition, " (measure `{measure}`)");
        }
        let _ = writeln!(
            out,
            "| `{name}` | {} | {} | {} | {} | {} | {target} | `{}` |",
            cell(&m.title),
            cell(&definition),
            cell(m.kind.computation()),
            cell(&m.owner),
            snake(&m.period),
            definition_hash(m)
        );
    }

    let _ = writeln!(out, "\n## Tracked events\n");
    let _ = writeln!(out, "| event | feature | core | properties | description |");
    let _ = writeln!(out, "|---|---|---|---|---|");
    for (name, e) in &model.events {
        let props = e
            .properties
            .iter()
            .map(|(k, t)| {
                let req = if e.required.contains(k) {
                    " (required)"
                } else {
                    ""
                };
                format!("`{k}`: {}{req}", snake(t))
            })
            .collect::<Vec<_>>()
            .join(", ");
        let _ = writeln!(
            out,
            "| `{name}` | {} | {} | {} | {} |",
            e.feature,
            if e.core { "yes" } else { "no" },
            or_dash(&props),
            cell(or_dash(&e.description))
        );
    }
    out
}

//! The tracking plan applied to incoming `track` calls: which events and properties are
//! declared, with which types, and which properties are required. The mode says what happens to
//! the undeclared: `allow` accepts it silently, `flag` accepts it and records a violation,
//! `reject` refuses the message. A declared event with a missing required property or a
//! property of the wrong type is a violation in every mode (rejected in `reject` mode).

use std::collections::BTreeMap;

use serde_json::Value;
use tenure_domain::model::{EventSpec, PropertyType, TrackingMode};
use tenure_domain::SuccessModel;

use crate::logged::Violation;
use crate::segment::{Message, MessageType};

/// The tracking plan of a success model, ready to check messages.
#[derive(Debug, Clone)]
pub struct TrackingPlan {
    pub mode: TrackingMode,
    events: BTreeMap<String, EventSpec>,
    /// The property that names the account (from `identity.account_property`), which every
    /// event may carry without declaring it.
    account_property: Option<String>,
}

/// What to do with a message after checking it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Accept it, recording these violations (possibly none).
    Accept(Vec<Violation>),
    /// Refuse it: a stable code and a message naming every violation.
    Reject { code: String, message: String },
}

impl TrackingPlan {
    /// The plan of `model`.
    pub fn of(model: &SuccessModel) -> TrackingPlan {
        TrackingPlan {
            mode: model.tracking_plan.mode,
            events: model.events.clone(),
            account_property: model
                .identity
                .account_property
                .strip_prefix("properties.")
                .map(|p| p.split('.').next().unwrap_or(p).to_owned()),
        }
    }

    /// A plan that declares nothing and accepts everything (a data directory without a model).
    pub fn allow_all() -> TrackingPlan {
        TrackingPlan {
            mode: TrackingMode::Allow,
            events: BTreeMap::new(),
            account_property: None,
        }
    }

    /// Whether `event` is declared.
    pub fn declares(&self, event: &str) -> bool {
        self.events.contains_key(event)
    }

    /// Checks one message. Only `track` calls are checked: the plan declares track events.
    pub fn check(&self, m: &Message) -> Verdict {
        let violations = self.violations(m);
        if self.mode == TrackingMode::Reject && !violations.is_empty() {
            let code = if violations.len() == 1 {
                violations[0].code.clone()
            } else {
                "tracking_plan_violation".to_owned()
            };
            let message = violations
                .iter()
                .map(|v| v.message.as_str())
                .collect::<Vec<_>>()
                .join("; ");
            return Verdict::Reject { code, message };
        }
        Verdict::Accept(violations)
    }

    /// Everything wrong with `m` under this plan and mode.
    pub fn violations(&self, m: &Message) -> Vec<Violation> {
        let mut out = Vec::new();
        if m.kind != MessageType::Track {
            return out;
        }
        let strict = self.mode != TrackingMode::Allow;
        let name = m.event.as_deref().unwrap_or_default();
        let Some(spec) = self.events.get(name) else {
            if strict {
                out.push(Violation {
                    code: "unknown_event".to_owned(),
                    property: None,
                    message: format!(
                        "event `{name}` is not in the tracking plan (declare it under [events.{name}] in tenure.toml)"
                    ),
                });
            }
            return out;
        };
        for (property, value) in &m.properties {
            if value.is_null() {
                continue;
            }
            match spec.properties.get(property) {
                Some(expected) if !has_type(value, *expected) => out.push(Violation {
                    code: "mistyped_property".to_owned(),
                    property: Some(property.clone()),
                    message: format!(
                        "`{name}`.`{property}` must be {}, found {}",
                        type_name(*expected),
                        found(value)
                    ),
                }),
                Some(_) => {}
                None if strict && self.account_property.as_deref() != Some(property.as_str()) => {
                    out.push(Violation {
                        code: "undeclared_property".to_owned(),
                        property: Some(property.clone()),
                        message: format!(
                            "`{name}` has property `{property}`, which the tracking plan does not declare"
                        ),
                    })
                }
                None => {}
            }
        }
        for property in &spec.required {
            if m.properties.get(property).is_none_or(Value::is_null) {
                out.push(Violation {
                    code: "missing_property".to_owned(),
                    property: Some(property.clone()),
                    message: format!("`{name}` requires property `{property}`"),
                });
            }
        }
        out
    }
}

fn has_type(v: &Value, t: PropertyType) -> bool {
    match t {
        PropertyType::String => v.is_string(),
        PropertyType::Integer => v.is_i64() || v.is_u64(),
        PropertyType::Number => v.is_number(),
        PropertyType::Boolean => v.is_boolean(),
        PropertyType::Timestamp => v
            .as_str()
            .is_some_and(|s| chrono::DateTime::parse_from_rfc3339(s).is_ok()),
        PropertyType::Object => v.is_object(),
        PropertyType::Array => v.is_array(),
    }
}

fn type_name(t: PropertyType) -> &'static str {
    match t {
        PropertyType::String => "a string",
        PropertyType::Integer => "an integer",
        PropertyType::Number => "a number",
        PropertyType::Boolean => "a boolean",
        PropertyType::Timestamp => "an RFC 3339 timestamp string",
        PropertyType::Object => "an object",
        PropertyType::Array => "an array",
    }
}

fn found(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a non-integer number",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

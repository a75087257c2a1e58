//! Adopting weights learned from outcomes into a model file, keeping its comments and
//! layout: each health measure takes its suggested weight, each pillar the sum of its
//! measures' weights (so a measure's share of the score is its suggested share), and a measure
//! with weight whose evidence runs the other way has its direction turned. The result is
//! checked like any model file before it is returned.

use toml_edit::{DocumentMut, Item, TableLike, Value};

use super::{ModelErrors, SuccessModel};

/// A measure's weight and direction, learned from outcomes.
#[derive(Debug, Clone, PartialEq)]
pub struct Suggestion {
    pub measure: String,
    /// Share of 100.
    pub weight: u32,
    pub higher_is_better: bool,
}

/// A model file with weights adopted.
#[derive(Debug)]
pub struct Adopted {
    pub source: String,
    /// What changed, one line each, for the reviewer.
    pub changes: Vec<String>,
    /// Overrides keep their weights, which were set against the old ones.
    pub overrides_to_review: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum AdoptError {
    #[error("{0}")]
    Syntax(String),
    #[error("the model file has no [health.pillars] table")]
    NoPillars,
    #[error("with the suggested weights the model is not valid:\n{0}")]
    Invalid(ModelErrors),
}

/// `source` (the model file `file`) with `suggestions` adopted. Measures without a suggestion
/// keep their weight.
pub fn adopt_weights(
    file: &str,
    source: &str,
    suggestions: &[Suggestion],
) -> Result<Adopted, AdoptError> {
    let mut doc: DocumentMut = source
        .parse()
        .map_err(|e: toml_edit::TomlError| AdoptError::Syntax(format!("{file}: {e}")))?;
    let mut changes = Vec::new();
    let pillars = doc
        .get_mut("health")
        .and_then(|h| h.get_mut("pillars"))
        .and_then(Item::as_table_like_mut)
        .ok_or(AdoptError::NoPillars)?;
    for (pillar, item) in pillars.iter_mut() {
        let Some(table) = item.as_table_like_mut() else {
            continue;
        };
        let mut sum = 0.0;
        let mut entries: Vec<&mut dyn TableLike> = Vec::new();
        match table.get_mut("measures") {
            Some(Item::Value(Value::Array(a))) => {
                for v in a.iter_mut() {
                    if let Value::InlineTable(t) = v {
                        entries.push(t);
                    }
                }
            }
            Some(Item::ArrayOfTables(a)) => {
                for t in a.iter_mut() {
                    entries.push(t);
                }
            }
            _ => {}
        }
        for entry in entries {
            let Some(name) = entry
                .get("measure")
                .and_then(Item::as_str)
                .map(str::to_owned)
            else {
                continue;
            };
            let old = number(entry.get("weight"));
            let Some(s) = suggestions.iter().find(|s| s.measure == name) else {
                sum += old;
                continue;
            };
            let weight = f64::from(s.weight);
            sum += weight;
            if old != weight {
                entry.insert("weight", toml_edit::value(i64::from(s.weight)));
                changes.push(format!("{pillar}.{name}: weight {old} → {weight}"));
            }
            let higher = entry
                .get("higher_is_better")
                .and_then(Item::as_bool)
                .unwrap_or(true);
            if s.weight > 0 && higher != s.higher_is_better {
                if s.higher_is_better {
                    entry.remove("higher_is_better");
                } else {
                    entry.insert("higher_is_better", toml_edit::value(false));
                }
                changes.push(format!(
                    "{pillar}.{name}: higher_is_better {higher} → {}",
                    s.higher_is_better
                ));
            }
        }
        let old = number(table.get("weight"));
        if old != sum {
            let v = if sum.fract() == 0.0 {
                toml_edit::value(sum as i64)
            } else {
                toml_edit::value(sum)
            };
            table.insert("weight", v);
            changes.push(format!("{pillar}: weight {old} → {sum}"));
        }
    }
    let overrides_to_review = doc
        .get("health")
        .and_then(|h| h.get("overrides"))
        .and_then(Item::as_array_of_tables)
        .map_or(0, |a| a.len());
    let out = doc.to_string();
    SuccessModel::parse(file, &out).map_err(AdoptError::Invalid)?;
    Ok(Adopted {
        source: out,
        changes,
        overrides_to_review,
    })
}

/// A weight as written: an integer or a float (0 when absent).
fn number(item: Option<&Item>) -> f64 {
    item.and_then(|i| i.as_integer().map(|n| n as f64).or_else(|| i.as_float()))
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(measure: &str, weight: u32, higher_is_better: bool) -> Suggestion {
        Suggestion {
            measure: measure.into(),
            weight,
            higher_is_better,
        }
    }

    #[test]
    fn adopting_sets_weights_and_pillar_sums_and_keeps_comments() {
        let source = super::super::DEFAULT_MODEL_TOML;
        let model = SuccessModel::parse("tenure.toml", source).unwrap();
        let mut suggestions = Vec::new();
        for p in model.health.pillars.values() {
            for m in &p.measures {
                suggestions.push(s(&m.measure, 0, m.higher_is_better));
            }
        }
        let set = |v: &mut Vec<Suggestion>, name: &str, w: u32, up: bool| {
            let x = v.iter_mut().find(|x| x.measure == name).unwrap();
            x.weight = w;
            x.higher_is_better = up;
        };
        set(&mut suggestions, "active_days_30d", 40, true);
        set(&mut suggestions, "seat_utilisation", 20, true);
        set(&mut suggestions, "open_tickets", 25, true);
        set(&mut suggestions, "latest_nps", 15, true);
        let adopted = adopt_weights("tenure.toml", source, &suggestions).unwrap();
        // Comments survive.
        assert!(adopted
            .source
            .contains("# tenure.toml — the success model, as code."));
        let after = SuccessModel::parse("tenure.toml", &adopted.source).unwrap();
        let pillar = |name: &str| {
            after
                .health
                .pillars
                .iter()
                .find(|(p, _)| p.name() == name)
                .map(|(_, p)| p)
                .unwrap()
        };
        assert_eq!(pillar("engagement_quality").weight, 60.0);
        assert_eq!(pillar("outcome_progress").weight, 0.0);
        assert_eq!(pillar("risk_indicators").weight, 25.0);
        let open = pillar("risk_indicators")
            .measures
            .iter()
            .find(|m| m.measure == "open_tickets")
            .unwrap();
        assert_eq!(open.weight, 25.0);
        // The evidence said more open tickets went with renewal: the direction turned.
        assert!(open.higher_is_better);
        assert!(adopted
            .changes
            .contains(&"risk_indicators.open_tickets: higher_is_better false → true".to_owned()));
        // A zero-weight measure keeps its direction.
        let idle = pillar("risk_indicators")
            .measures
            .iter()
            .find(|m| m.measure == "days_since_last_activity")
            .unwrap();
        assert!(!idle.higher_is_better);
        assert_eq!(adopted.overrides_to_review, 2);
        // Adopting the same weights again changes nothing.
        let again = adopt_weights("tenure.toml", &adopted.source, &suggestions).unwrap();
        assert!(again.changes.is_empty(), "{:?}", again.changes);
        assert_eq!(again.source, adopted.source);
    }

    #[test]
    fn all_zero_weights_are_refused_with_the_model_error() {
        let source = super::super::DEFAULT_MODEL_TOML;
        let model = SuccessModel::parse("tenure.toml", source).unwrap();
        let zeros: Vec<Suggestion> = model
            .health
            .pillars
            .values()
            .flat_map(|p| &p.measures)
            .map(|m| s(&m.measure, 0, true))
            .collect();
        let e = adopt_weights("tenure.toml", source, &zeros).unwrap_err();
        assert!(matches!(e, AdoptError::Invalid(_)), "{e}");
    }

    #[test]
    fn a_file_that_is_not_toml_is_an_error_with_its_position() {
        let e = adopt_weights("x.toml", "[health\n", &[]).unwrap_err();
        assert!(e.to_string().starts_with("x.toml: "), "{e}");
    }
}

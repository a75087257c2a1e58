//! `tenure fit bgnbd|cox|km`: the analyst's models on any CSV, JSON out. Every bad cell is
//! named by file, line and column, with what would be valid.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{json, Map, Value};
use tenure_predict::bgnbd::{self, Customer};
use tenure_predict::{cox, survival};

use crate::cli::FitCommand;
use crate::failure::{Failure, Outcome};

/// A CSV read whole: its header and rows, with each row's line number.
struct Table {
    file: String,
    header: Vec<String>,
    rows: Vec<(u64, Vec<String>)>,
}

impl Table {
    fn read(path: &Path) -> Outcome<Table> {
        let file = path.display().to_string();
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .from_path(path)
            .map_err(|e| Failure::rejected(format!("error: reading {file}: {e}")))?;
        let header: Vec<String> = reader
            .headers()
            .map_err(|e| Failure::rejected(format!("error: {file}: the header: {e}")))?
            .iter()
            .map(str::to_owned)
            .collect();
        let mut rows = Vec::new();
        for record in reader.records() {
            let record = record.map_err(|e| {
                let line = e.position().map_or(0, |p| p.line());
                Failure::rejected(format!("error: {file}:{line}: {e}"))
            })?;
            let line = record.position().map_or(0, |p| p.line());
            rows.push((line, record.iter().map(str::to_owned).collect()));
        }
        if rows.is_empty() {
            return Err(Failure::rejected(format!(
                "error: {file}: no rows under the header"
            )));
        }
        Ok(Table { file, header, rows })
    }

    /// The index of column `name`, or an error listing the columns there are.
    fn column(&self, name: &str, flag: &str) -> Outcome<usize> {
        self.header.iter().position(|h| h == name).ok_or_else(|| {
            Failure::rejected(format!(
                "error: {}: no column `{name}` ({flag}); the columns are: {}",
                self.file,
                self.header.join(", ")
            ))
        })
    }

    fn number(&self, row: usize, col: usize, what: &str) -> Outcome<f64> {
        let (line, cells) = &self.rows[row];
        let cell = cells.get(col).map_or("", String::as_str);
        cell.parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| {
                Failure::rejected(format!(
                    "error: {}:{line}: column `{}`: `{cell}` is not a number ({what})",
                    self.file, self.header[col]
                ))
            })
    }

    fn duration(&self, row: usize, col: usize) -> Outcome<f64> {
        let v = self.number(row, col, "a duration ≥ 0")?;
        if v < 0.0 {
            let (line, _) = &self.rows[row];
            return Err(Failure::rejected(format!(
                "error: {}:{line}: column `{}`: {v} is negative; a duration must be ≥ 0",
                self.file, self.header[col]
            )));
        }
        Ok(v)
    }

    fn event(&self, row: usize, col: usize) -> Outcome<bool> {
        let (line, cells) = &self.rows[row];
        let cell = cells.get(col).map_or("", String::as_str);
        match cell.to_ascii_lowercase().as_str() {
            "1" | "1.0" | "true" => Ok(true),
            "0" | "0.0" | "false" => Ok(false),
            _ => Err(Failure::rejected(format!(
                "error: {}:{line}: column `{}`: `{cell}` is not an event flag (1/0 or true/false)",
                self.file, self.header[col]
            ))),
        }
    }
}

fn print(v: &Value) -> Outcome {
    super::print_json(v)
}

pub fn run(command: FitCommand) -> Outcome {
    match command {
        FitCommand::Bgnbd {
            input,
            predict,
            horizon,
            clv_months,
            units_per_month,
            discount,
        } => fit_bgnbd(
            &input,
            predict
                .as_deref()
                .zip(horizon)
                .map(|(out, horizon)| Predict {
                    out,
                    horizon,
                    clv_months,
                    units_per_month,
                    discount,
                }),
        ),
        FitCommand::Cox {
            input,
            duration,
            event,
            covariates,
        } => fit_cox(&input, &duration, &event, covariates.as_deref()),
        FitCommand::Km {
            input,
            duration,
            event,
            group,
            confidence,
        } => fit_km(&input, &duration, &event, group.as_deref(), confidence),
    }
}

/// What `--predict` asks for.
struct Predict<'a> {
    out: &'a Path,
    horizon: f64,
    clv_months: u32,
    units_per_month: f64,
    discount: f64,
}

fn fit_bgnbd(input: &Path, predict: Option<Predict<'_>>) -> Outcome {
    let t = Table::read(input)?;
    let (f, r, big_t) = (
        t.column("frequency", "BG/NBD needs frequency, recency and T")?,
        t.column("recency", "BG/NBD needs frequency, recency and T")?,
        t.column("T", "BG/NBD needs frequency, recency and T")?,
    );
    let m = t.header.iter().position(|h| h == "monetary_value");
    let mut customers = Vec::with_capacity(t.rows.len());
    let mut spend = Vec::new();
    for i in 0..t.rows.len() {
        customers.push(Customer {
            frequency: t.number(i, f, "repeat purchases, a whole number ≥ 0")?,
            recency: t.number(i, r, "the time of the last purchase, from 0 to T")?,
            t: t.number(i, big_t, "the time observed, > 0")?,
        });
        if let Some(m) = m {
            spend.push(t.number(i, m, "the mean spend of the repeat purchases")?);
        }
    }
    let at_row = |row: usize| t.rows.get(row).map_or(0, |r| r.0);
    let explain = |e: bgnbd::InputError| match e {
        bgnbd::InputError::Row { row, message } => {
            Failure::rejected(format!("error: {}:{}: {message}", t.file, at_row(row)))
        }
        other => Failure::rejected(format!("error: {}: {other}", t.file)),
    };
    let fit = bgnbd::fit(&customers).map_err(explain)?;
    let mut out = json!({
        "model": "bgnbd",
        "customers": customers.len(),
        "r": fit.r,
        "alpha": fit.alpha,
        "a": fit.a,
        "b": fit.b,
        "log_likelihood": fit.log_likelihood,
        "standard_errors": fit.standard_errors(&customers),
    });
    let mut gamma_gamma = None;
    if m.is_some() {
        let pairs: Vec<(f64, f64)> = customers
            .iter()
            .zip(&spend)
            .map(|(c, s)| (c.frequency, *s))
            .collect();
        let gg = bgnbd::fit_gamma_gamma(&pairs).map_err(explain)?;
        out["gamma_gamma"] = json!(gg);
        out["p"] = json!(gg.p);
        out["q"] = json!(gg.q);
        out["v"] = json!(gg.v);
        gamma_gamma = Some(gg);
    }
    if let Some(p) = predict {
        if !(p.horizon.is_finite() && p.horizon > 0.0) {
            return Err(Failure::rejected(format!(
                "error: --horizon must be a number above 0, got {}",
                p.horizon
            )));
        }
        if !(p.units_per_month > 0.0 && p.discount > -1.0) {
            return Err(Failure::rejected(
                "error: --units-per-month must be above 0 and --discount above -1".to_owned(),
            ));
        }
        let written = p.out.display().to_string();
        let fail =
            |e: &dyn std::fmt::Display| Failure::rejected(format!("error: writing {written}: {e}"));
        let mut w = csv::Writer::from_path(p.out).map_err(|e| fail(&e))?;
        let id = t
            .header
            .iter()
            .position(|h| !["frequency", "recency", "T", "monetary_value"].contains(&h.as_str()));
        let mut header = vec![
            t.header
                .get(id.unwrap_or(usize::MAX))
                .cloned()
                .unwrap_or("row".into()),
            "p_alive".into(),
            format!("expected_purchases_{}", p.horizon),
        ];
        if gamma_gamma.is_some() {
            header.push("expected_spend".into());
            header.push(format!("clv_{}_months", p.clv_months));
        }
        w.write_record(&header).map_err(|e| fail(&e))?;
        for (i, c) in customers.iter().enumerate() {
            let mut row = vec![
                id.map_or(t.rows[i].0.to_string(), |k| t.rows[i].1[k].clone()),
                fit.p_alive(c).to_string(),
                fit.expected_purchases(c, p.horizon).to_string(),
            ];
            if let Some(gg) = &gamma_gamma {
                row.push(gg.expected_spend(c.frequency, spend[i]).to_string());
                row.push(
                    bgnbd::customer_lifetime_value(
                        &fit,
                        gg,
                        c,
                        spend[i],
                        p.clv_months,
                        p.units_per_month,
                        p.discount,
                    )
                    .to_string(),
                );
            }
            w.write_record(&row).map_err(|e| fail(&e))?;
        }
        w.flush().map_err(|e| fail(&e))?;
        out["predictions"] = json!(written);
    }
    print(&out)
}

fn fit_cox(input: &Path, duration: &str, event: &str, covariates: Option<&str>) -> Outcome {
    let t = Table::read(input)?;
    let d = t.column(duration, "--duration")?;
    let e = t.column(event, "--event")?;
    let names: Vec<String> = match covariates {
        Some(list) => list
            .split(',')
            .map(|c| c.trim().to_owned())
            .filter(|c| !c.is_empty())
            .collect(),
        // Every other column whose cells are all numbers.
        None => t
            .header
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != d && *i != e)
            .filter(|(i, _)| {
                t.rows
                    .iter()
                    .all(|(_, r)| r.get(*i).is_some_and(|c| c.parse::<f64>().is_ok()))
            })
            .map(|(_, h)| h.clone())
            .collect(),
    };
    if names.is_empty() {
        return Err(Failure::rejected(format!(
            "error: {}: no numeric covariate columns besides `{duration}` and `{event}`",
            t.file
        )));
    }
    let cols: Vec<usize> = names
        .iter()
        .map(|n| t.column(n, "--covariates"))
        .collect::<Outcome<_>>()?;
    let mut time = Vec::with_capacity(t.rows.len());
    let mut events = Vec::with_capacity(t.rows.len());
    let mut x = Vec::with_capacity(t.rows.len());
    for i in 0..t.rows.len() {
        time.push(t.duration(i, d)?);
        events.push(t.event(i, e)?);
        x.push(
            cols.iter()
                .map(|c| t.number(i, *c, "a numeric covariate"))
                .collect::<Outcome<Vec<f64>>>()?,
        );
    }
    let fit = cox::fit(&time, &events, &x, &names)
        .map_err(|e| Failure::rejected(format!("error: {}: {e}", t.file)))?;
    let mut coefficients = Map::new();
    for c in &fit.coefficients {
        coefficients.insert(
            c.name.clone(),
            json!({"coef": c.coef, "se": c.se, "hazard_ratio": c.hazard_ratio, "z": c.z, "p": c.p}),
        );
    }
    print(&json!({
        "model": "cox",
        "ties": "efron",
        "subjects": fit.subjects,
        "events": fit.events,
        "coefficients": coefficients,
        "log_likelihood": fit.log_likelihood,
        "concordance": fit.concordance,
        "iterations": fit.iterations,
        "warnings": fit.warnings,
    }))
}

fn fit_km(
    input: &Path,
    duration: &str,
    event: &str,
    group: Option<&str>,
    confidence: f64,
) -> Outcome {
    if !(confidence > 0.0 && confidence < 1.0) {
        return Err(Failure::rejected(format!(
            "error: --confidence must be between 0 and 1 (e.g. 0.95), got {confidence}"
        )));
    }
    let t = Table::read(input)?;
    let d = t.column(duration, "--duration")?;
    let e = t.column(event, "--event")?;
    let g = group.map(|g| t.column(g, "--group")).transpose()?;
    let mut by: BTreeMap<String, Vec<(f64, bool)>> = BTreeMap::new();
    for i in 0..t.rows.len() {
        let label = g.map_or(String::new(), |g| t.rows[i].1[g].clone());
        by.entry(label)
            .or_default()
            .push((t.duration(i, d)?, t.event(i, e)?));
    }
    let curve = |data: &[(f64, bool)]| -> Value {
        let km = survival::kaplan_meier(data, confidence);
        json!({
            "subjects": km.subjects,
            "events": km.events,
            "median": km.median,
            "confidence": km.confidence,
            "table": km.table,
        })
    };
    if g.is_none() {
        let all = by.into_values().next().unwrap_or_default();
        let mut out = curve(&all);
        out["model"] = json!("kaplan_meier");
        return print(&out);
    }
    let labels: Vec<&String> = by.keys().collect();
    let mut tagged = Vec::new();
    for (k, data) in by.values().enumerate() {
        tagged.extend(data.iter().map(|(t, e)| (*t, *e, k)));
    }
    let groups: Map<String, Value> = by.iter().map(|(l, d)| (l.clone(), curve(d))).collect();
    print(&json!({
        "model": "kaplan_meier",
        "group": group,
        "groups": groups,
        "log_rank": survival::log_rank(&tagged, labels.len()),
    }))
}

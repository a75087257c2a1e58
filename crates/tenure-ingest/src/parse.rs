//! Reading import files row by row. Each row becomes a record or a list of `RowError`s (one
//! per bad field), so a file with a thousand good rows and one bad one imports a thousand.

use std::collections::HashMap;
use std::fmt;
use std::io::{BufRead, Read};
use std::str::FromStr;

use serde::de::DeserializeOwned;
use tenure_domain::model::{Priority, Role};
use tenure_domain::time::{parse_date, parse_timestamp};
use tenure_domain::*;

use crate::columns::{columns, file_stem};
use crate::FileError;

/// One bad field (or a whole bad row, when `column` is `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub file: String,
    /// The line in the file (the header is line 1 of a CSV file).
    pub row: u64,
    pub column: Option<String>,
    pub reason: String,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.column {
            Some(c) => write!(
                f,
                "{}:{}: column `{c}`: {}",
                self.file, self.row, self.reason
            ),
            None => write!(f, "{}:{}: {}", self.file, self.row, self.reason),
        }
    }
}

/// The non-empty values of one row, by column name.
struct Fields<'a> {
    kind: RecordKind,
    values: HashMap<&'a str, String>,
    errors: Vec<(String, String)>,
}

impl Fields<'_> {
    fn get(&mut self, col: &str) -> Option<String> {
        let v = self.values.remove(col);
        if v.as_deref().is_some_and(|s| s.contains('\0')) {
            // PostgreSQL cannot store NUL in text; refusing it everywhere keeps both stores alike.
            self.errors.push((
                col.to_owned(),
                "contains a NUL character, which cannot be stored".to_owned(),
            ));
            return None;
        }
        if v.is_none()
            && columns(self.kind)
                .iter()
                .any(|c| c.name == col && c.required)
        {
            self.errors
                .push((col.to_owned(), "is required but empty".to_owned()));
        }
        v
    }

    fn fail(&mut self, col: &str, reason: impl Into<String>) {
        self.errors.push((col.to_owned(), reason.into()));
    }

    fn text(&mut self, col: &str) -> Option<String> {
        self.get(col)
    }

    fn id<T: TryFrom<String, Error = DomainError>>(&mut self, col: &str) -> Option<T> {
        let v = self.get(col)?;
        T::try_from(v)
            .map_err(|e| self.fail(col, e.to_string()))
            .ok()
    }

    fn ts(&mut self, col: &str) -> Option<Timestamp> {
        let v = self.get(col)?;
        parse_timestamp(&v)
            .map_err(|e| self.fail(col, e.to_string()))
            .ok()
    }

    fn date(&mut self, col: &str) -> Option<chrono::NaiveDate> {
        let v = self.get(col)?;
        parse_date(&v)
            .map_err(|e| self.fail(col, e.to_string()))
            .ok()
    }

    fn int<T: FromStr>(&mut self, col: &str, what: &str) -> Option<T> {
        let v = self.get(col)?;
        v.trim()
            .parse::<T>()
            .map_err(|_| self.fail(col, format!("`{v}` is not {what}")))
            .ok()
    }

    fn bool(&mut self, col: &str) -> Option<bool> {
        let v = self.get(col)?;
        match v.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" | "t" | "y" => Some(true),
            "false" | "no" | "0" | "f" | "n" => Some(false),
            _ => {
                self.fail(col, format!("`{v}` is not a boolean: use true or false"));
                None
            }
        }
    }

    /// A snake_case enum value, e.g. `past_due`; `valid` lists the accepted values.
    fn tag<T: DeserializeOwned>(&mut self, col: &str, valid: &str) -> Option<T> {
        let v = self.get(col)?;
        let norm = v.trim().to_ascii_lowercase().replace([' ', '-'], "_");
        serde_json::from_value(serde_json::Value::String(norm))
            .map_err(|_| self.fail(col, format!("`{v}` is not valid: use {valid}")))
            .ok()
    }

    fn money(&mut self, amount_col: &str, currency_col: &str) -> Option<Money> {
        let currency = self.get(currency_col).and_then(|c| {
            Currency::parse(c.trim())
                .map_err(|e| self.fail(currency_col, e.to_string()))
                .ok()
        });
        let amount = self.get(amount_col)?;
        let currency = currency?;
        Money::parse_major(amount.trim(), currency)
            .map_err(|e| self.fail(amount_col, e.to_string()))
            .ok()
    }
}

fn build(kind: RecordKind, f: &mut Fields<'_>) -> Option<Record> {
    let record = match kind {
        RecordKind::Account => {
            let (id, name) = (f.id("account_id"), f.text("name"));
            let (plan, industry, region, country, size_band) = (
                f.text("plan"),
                f.text("industry"),
                f.text("region"),
                f.text("country"),
                f.text("size_band"),
            );
            let (owner, parent, signed_up_at, sponsor) = (
                f.id("owner"),
                f.id("parent_id"),
                f.ts("signed_up_at"),
                f.text("executive_sponsor"),
            );
            Record::Account(Account {
                id: id?,
                name: name?,
                plan,
                industry,
                region,
                country,
                size_band,
                owner,
                parent,
                signed_up_at,
                executive_sponsor: sponsor,
            })
        }
        RecordKind::Contact => {
            let (id, account) = (f.id("contact_id"), f.id("account_id"));
            let (email, name, title) = (f.text("email"), f.text("name"), f.text("title"));
            let (is_admin, created_at) = (f.bool("is_admin"), f.ts("created_at"));
            Record::Contact(Contact {
                id: id?,
                account: account?,
                email,
                name,
                title,
                is_admin: is_admin.unwrap_or(false),
                created_at,
            })
        }
        RecordKind::Subscription => {
            let (id, account, plan) = (f.id("subscription_id"), f.id("account_id"), f.text("plan"));
            let seats = f.int::<u32>("seats", "a whole number of seats");
            let amount = f.money("amount", "currency");
            let interval: Option<BillingInterval> = f.tag("billing_interval", "month or year");
            let (start, end) = (f.date("start_date"), f.date("end_date"));
            let term = f.int::<u32>("term_months", "a whole number of months");
            let status = f.tag("status", "trialing, active, past_due, cancelled or expired");
            let auto_renew = f.bool("auto_renew");
            if let Some(a) = &amount {
                if a.minor < 0 {
                    f.fail("amount", "a subscription's amount cannot be negative");
                }
            }
            let interval = interval?;
            Record::Subscription(Subscription {
                id: id?,
                account: account?,
                plan: plan?,
                seats: seats?,
                amount: amount?,
                interval,
                start: start?,
                end,
                term_months: term.unwrap_or(if interval == BillingInterval::Month {
                    1
                } else {
                    12
                }),
                status: status?,
                auto_renew: auto_renew.unwrap_or(true),
            })
        }
        RecordKind::SubscriptionChange => {
            let (id, sub, account) = (
                f.id("change_id"),
                f.id("subscription_id"),
                f.id("account_id"),
            );
            let kind = f.tag("kind", "new, expansion, contraction, churn or reactivation");
            let effective = f.date("effective_date");
            let delta = f.money("arr_delta", "currency");
            let seats = f.int::<i32>("seats_delta", "a whole number");
            let reason = f.text("reason");
            let change = SubscriptionChange {
                id: id?,
                subscription: sub?,
                account: account?,
                kind: kind?,
                effective: effective?,
                arr_delta: delta?,
                seats_delta: seats.unwrap_or(0),
                reason,
            };
            if let Err(e) = change.check_sign() {
                f.fail("arr_delta", e.to_string());
            }
            Record::SubscriptionChange(change)
        }
        RecordKind::Ticket => {
            let (id, account, contact, subject) = (
                f.id("ticket_id"),
                f.id("account_id"),
                f.id("contact_id"),
                f.text("subject"),
            );
            let (opened, resolved) = (f.ts("opened_at"), f.ts("resolved_at"));
            let priority = f.tag("priority", "low, normal, high or urgent");
            let status = f.tag("status", "open, pending, solved or closed");
            let csat = f.int::<u8>("csat", "a score from 1 to 5");
            let category = f.text("category");
            if let Some(c) = csat {
                if !(1..=5).contains(&c) {
                    f.fail("csat", format!("{c} is outside the CSAT scale of 1 to 5"));
                }
            }
            if let (Some(o), Some(r)) = (&opened, &resolved) {
                if r < o {
                    f.fail("resolved_at", "is before opened_at");
                }
            }
            Record::Ticket(Ticket {
                id: id?,
                account: account?,
                contact,
                subject,
                opened_at: opened?,
                resolved_at: resolved,
                priority: priority?,
                status: status?,
                csat,
                category,
            })
        }
        RecordKind::SurveyResponse => {
            let (id, account, contact) =
                (f.id("response_id"), f.id("account_id"), f.id("contact_id"));
            let at = f.ts("responded_at");
            let survey = f.text("survey").and_then(|s| {
                let s = s.trim().to_ascii_lowercase();
                if ["nps", "csat", "ces"].contains(&s.as_str()) {
                    Some(s)
                } else {
                    f.fail(
                        "survey",
                        format!("`{s}` is not a survey: use nps, csat or ces"),
                    );
                    None
                }
            });
            let score = f.int::<i64>("score", "a whole number");
            let comment = f.text("comment");
            let score = match (survey, score) {
                (Some(s), Some(v)) => SurveyScore::new(&s, v)
                    .map_err(|e| f.fail("score", e.to_string()))
                    .ok(),
                _ => None,
            };
            Record::SurveyResponse(SurveyResponse {
                id: id?,
                account: account?,
                contact,
                responded_at: at?,
                score: score?,
                comment,
            })
        }
        RecordKind::Activity => {
            let (id, account) = (f.id("activity_id"), f.id("account_id"));
            let kind = f.tag(
                "kind",
                "meeting, email, call, training, ebr or executive_sponsor_meeting",
            );
            let (at, csm, contact) = (f.ts("occurred_at"), f.id("csm"), f.id("contact_id"));
            let (responded, attended, notes) =
                (f.ts("responded_at"), f.bool("attended"), f.text("notes"));
            Record::Activity(CsmActivity {
                id: id?,
                account: account?,
                kind: kind?,
                occurred_at: at?,
                csm,
                contact,
                responded_at: responded,
                attended,
                notes,
            })
        }
        RecordKind::Release => {
            let (id, name, at) = (f.id("release_id"), f.text("name"), f.ts("released_at"));
            let features = f
                .text("features")
                .map(|s| {
                    s.split(';')
                        .map(|x| x.trim().to_owned())
                        .filter(|x| !x.is_empty())
                        .collect()
                })
                .unwrap_or_default();
            let notes = f.text("notes");
            Record::Release(Release {
                id: id?,
                name: name?,
                released_at: at?,
                features,
                notes,
            })
        }
        RecordKind::Task => {
            let (id, account, playbook, title) = (
                f.id("task_id"),
                f.id("account_id"),
                f.text("playbook"),
                f.text("title"),
            );
            let role: Option<Role> =
                f.tag("role", "admin, leader, manager, csm, product or viewer");
            let assignee = f.id("assignee");
            let priority: Option<Priority> = f.tag("priority", "critical, high, moderate or low");
            let status: Option<TaskStatus> = f.tag("status", "open, snoozed, done or cancelled");
            let (created, due, snoozed, completed) = (
                f.ts("created_at"),
                f.ts("due_at"),
                f.ts("snoozed_until"),
                f.ts("completed_at"),
            );
            let outcome = f.text("outcome");
            Record::Task(Task {
                id: id?,
                account: account?,
                playbook,
                title: title?,
                role: role.unwrap_or(Role::Csm),
                assignee,
                priority: priority.unwrap_or(Priority::Moderate),
                status: status.unwrap_or(TaskStatus::Open),
                created_at: created?,
                due_at: due,
                snoozed_until: snoozed,
                completed_at: completed,
                outcome,
            })
        }
    };
    Some(record)
}

fn finish(
    kind: RecordKind,
    file: &str,
    row: u64,
    mut fields: Fields<'_>,
) -> Result<Record, Vec<RowError>> {
    let record = build(kind, &mut fields);
    match (record, fields.errors.is_empty()) {
        (Some(r), true) => Ok(r),
        _ => {
            let mut errors: Vec<RowError> = fields
                .errors
                .into_iter()
                .map(|(column, reason)| RowError {
                    file: file.to_owned(),
                    row,
                    column: Some(column),
                    reason,
                })
                .collect();
            if errors.is_empty() {
                errors.push(RowError {
                    file: file.to_owned(),
                    row,
                    column: None,
                    reason: "the row is incomplete".to_owned(),
                });
            }
            Err(errors)
        }
    }
}

/// "; did you mean `x`? columns: …" for an unknown column of `kind`.
fn column_hint(kind: RecordKind, column: &str) -> String {
    let names: Vec<&str> = columns(kind).iter().map(|c| c.name).collect();
    match names
        .iter()
        .map(|n| (strsim::jaro_winkler(column, n), *n))
        .max_by(|a, b| a.0.total_cmp(&b.0))
    {
        Some((score, n)) if score >= 0.8 => {
            format!("; did you mean `{n}`? columns: {}", names.join(", "))
        }
        _ => format!("; columns: {}", names.join(", ")),
    }
}

fn unknown_column(file: &str, kind: RecordKind, column: &str) -> FileError {
    FileError::UnknownColumn {
        file: file.to_owned(),
        kind: file_stem(kind),
        column: column.to_owned(),
        hint: column_hint(kind, column),
    }
}

/// One row: its line number and its record, or every error found in it.
pub type Row = (u64, Result<Record, Vec<RowError>>);

/// The records of one file, row by row.
pub struct Rows<'r> {
    inner: Box<dyn Iterator<Item = Row> + 'r>,
}

impl Iterator for Rows<'_> {
    type Item = Row;
    fn next(&mut self) -> Option<Self::Item> {
        self.inner.next()
    }
}

/// Reads a CSV file of `kind` with a header row. Unknown or missing columns reject the file;
/// everything else is judged row by row.
pub fn read_csv<'r, R: Read + 'r>(
    kind: RecordKind,
    file: &str,
    reader: R,
) -> Result<Rows<'r>, FileError> {
    let mut csv = csv::ReaderBuilder::new()
        .flexible(false)
        .from_reader(reader);
    let headers = csv
        .headers()
        .map_err(|e| FileError::Header {
            file: file.to_owned(),
            reason: e.to_string(),
        })?
        .clone();
    let mut names: Vec<&'static str> = Vec::with_capacity(headers.len());
    for (i, h) in headers.iter().enumerate() {
        let h = if i == 0 {
            h.trim_start_matches('\u{feff}')
        } else {
            h
        }
        .trim();
        let Some(col) = columns(kind).iter().find(|c| c.name == h) else {
            return Err(unknown_column(file, kind, h));
        };
        if names.contains(&col.name) {
            return Err(FileError::DuplicateColumn {
                file: file.to_owned(),
                column: h.to_owned(),
            });
        }
        names.push(col.name);
    }
    if let Some(missing) = columns(kind)
        .iter()
        .find(|c| c.required && !names.contains(&c.name))
    {
        return Err(FileError::MissingColumn {
            file: file.to_owned(),
            kind: file_stem(kind),
            column: missing.name,
            required: columns(kind)
                .iter()
                .filter(|c| c.required)
                .map(|c| c.name)
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    let file = file.to_owned();
    let inner = csv.into_records().enumerate().map(move |(i, row)| {
        let fallback_line = i as u64 + 2;
        match row {
            Err(e) => {
                let line = e.position().map_or(fallback_line, |p| p.line());
                (
                    line,
                    Err(vec![RowError {
                        file: file.clone(),
                        row: line,
                        column: None,
                        reason: e.to_string(),
                    }]),
                )
            }
            Ok(record) => {
                let line = record.position().map_or(fallback_line, |p| p.line());
                let values = names
                    .iter()
                    .zip(record.iter())
                    .filter(|(_, v)| !v.trim().is_empty())
                    .map(|(n, v)| (*n, v.to_owned()))
                    .collect();
                let fields = Fields {
                    kind,
                    values,
                    errors: Vec::new(),
                };
                (line, finish(kind, &file, line, fields))
            }
        }
    });
    Ok(Rows {
        inner: Box::new(inner),
    })
}

/// Reads a JSON Lines file of `kind`: one object per line with the CSV columns as keys.
pub fn read_jsonl<'r, R: BufRead + 'r>(kind: RecordKind, file: &str, reader: R) -> Rows<'r> {
    let file = file.to_owned();
    let inner = reader.lines().enumerate().filter_map(move |(i, line)| {
        let row = i as u64 + 1;
        let err = |column: Option<String>, reason: String| RowError {
            file: file.clone(),
            row,
            column,
            reason,
        };
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                return Some((
                    row,
                    Err(vec![err(None, format!("cannot read the line: {e}"))]),
                ))
            }
        };
        let line = if row == 1 {
            line.trim_start_matches('\u{feff}')
        } else {
            line.as_str()
        };
        if line.trim().is_empty() {
            return None;
        }
        let value: serde_json::Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(e) => {
                return Some((
                    row,
                    Err(vec![err(
                        None,
                        format!("invalid JSON at column {}: {e}", e.column()),
                    )]),
                ))
            }
        };
        let Some(object) = value.as_object() else {
            return Some((
                row,
                Err(vec![err(None, "expected a JSON object".to_owned())]),
            ));
        };
        let mut values = HashMap::new();
        let mut errors = Vec::new();
        for (key, v) in object {
            let Some(col) = columns(kind).iter().find(|c| c.name == key) else {
                errors.push(err(
                    Some(key.clone()),
                    format!(
                        "unknown column for {} files{}",
                        file_stem(kind),
                        column_hint(kind, key)
                    ),
                ));
                continue;
            };
            let text = match v {
                serde_json::Value::Null => continue,
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::Bool(b) => b.to_string(),
                serde_json::Value::Array(items) if col.name == "features" => items
                    .iter()
                    .map(|x| {
                        x.as_str()
                            .map(str::to_owned)
                            .unwrap_or_else(|| x.to_string())
                    })
                    .collect::<Vec<_>>()
                    .join(";"),
                other => {
                    errors.push(err(
                        Some(key.clone()),
                        format!("expected a string, number or boolean, found {other}"),
                    ));
                    continue;
                }
            };
            if !text.trim().is_empty() {
                values.insert(col.name, text);
            }
        }
        let fields = Fields {
            kind,
            values,
            errors: Vec::new(),
        };
        let result = finish(kind, &file, row, fields);
        Some((
            row,
            match (result, errors.is_empty()) {
                (Ok(r), true) => Ok(r),
                (Ok(_), false) => Err(errors),
                (Err(mut e), _) => {
                    errors.append(&mut e);
                    Err(errors)
                }
            },
        ))
    });
    Rows {
        inner: Box::new(inner),
    }
}

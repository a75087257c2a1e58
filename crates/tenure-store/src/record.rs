//! How every kind of operational record maps to a row: one column list per kind,
//! shared by both backends. The backends only bind and read typed values; they never see a
//! domain type.

use chrono::NaiveDate;
use serde::{de::DeserializeOwned, Serialize};
use tenure_domain::time::{format_timestamp, parse_timestamp};
use tenure_domain::*;

use crate::StoreError;

/// The SQL type of a column, as both backends see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColType {
    Text,
    Int,
    Real,
    Bool,
}

/// A typed, possibly null, column value.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    Text(Option<String>),
    Int(Option<i64>),
    Real(Option<f64>),
    Bool(Option<bool>),
}

/// Where each record kind lives: its table and its columns after `external_id`.
pub trait TableMapping {
    fn table(self) -> &'static str;
    /// The columns after `external_id`, in order. `external_id` always comes first.
    fn columns(self) -> &'static [(&'static str, ColType)];
}

/// A record as a row of typed values, in `external_id` + `columns()` order, and back.
pub trait RowMapping: Sized {
    fn to_row(&self) -> Vec<SqlValue>;
    fn from_row(kind: RecordKind, row: Vec<SqlValue>) -> Result<Self, StoreError>;
}

impl TableMapping for RecordKind {
    fn table(self) -> &'static str {
        match self {
            RecordKind::Account => "accounts",
            RecordKind::Contact => "contacts",
            RecordKind::Subscription => "subscriptions",
            RecordKind::SubscriptionChange => "subscription_changes",
            RecordKind::Ticket => "tickets",
            RecordKind::SurveyResponse => "survey_responses",
            RecordKind::Activity => "activities",
            RecordKind::Release => "releases",
            RecordKind::Task => "tasks",
        }
    }

    /// The columns after `external_id`, in order. `external_id` always comes first.
    fn columns(self) -> &'static [(&'static str, ColType)] {
        use ColType::*;
        match self {
            RecordKind::Account => &[
                ("name", Text),
                ("plan", Text),
                ("industry", Text),
                ("region", Text),
                ("country", Text),
                ("size_band", Text),
                ("owner", Text),
                ("parent", Text),
                ("signed_up_at", Text),
                ("executive_sponsor", Text),
            ],
            RecordKind::Contact => &[
                ("account_id", Text),
                ("email", Text),
                ("name", Text),
                ("title", Text),
                ("is_admin", Bool),
                ("created_at", Text),
            ],
            RecordKind::Subscription => &[
                ("account_id", Text),
                ("plan", Text),
                ("seats", Int),
                ("amount_minor", Int),
                ("currency", Text),
                ("billing_interval", Text),
                ("start_date", Text),
                ("end_date", Text),
                ("term_months", Int),
                ("status", Text),
                ("auto_renew", Bool),
            ],
            RecordKind::SubscriptionChange => &[
                ("subscription_id", Text),
                ("account_id", Text),
                ("change_kind", Text),
                ("effective_date", Text),
                ("arr_delta_minor", Int),
                ("currency", Text),
                ("seats_delta", Int),
                ("reason", Text),
            ],
            RecordKind::Ticket => &[
                ("account_id", Text),
                ("contact_id", Text),
                ("subject", Text),
                ("opened_at", Text),
                ("resolved_at", Text),
                ("priority", Text),
                ("status", Text),
                ("csat", Int),
                ("category", Text),
            ],
            RecordKind::SurveyResponse => &[
                ("account_id", Text),
                ("contact_id", Text),
                ("responded_at", Text),
                ("survey", Text),
                ("score", Int),
                ("comment", Text),
            ],
            RecordKind::Activity => &[
                ("account_id", Text),
                ("activity_kind", Text),
                ("occurred_at", Text),
                ("csm", Text),
                ("contact_id", Text),
                ("responded_at", Text),
                ("attended", Bool),
                ("notes", Text),
            ],
            RecordKind::Release => &[
                ("name", Text),
                ("released_at", Text),
                ("features", Text),
                ("notes", Text),
            ],
            RecordKind::Task => &[
                ("account_id", Text),
                ("playbook", Text),
                ("title", Text),
                ("role", Text),
                ("assignee", Text),
                ("priority", Text),
                ("status", Text),
                ("created_at", Text),
                ("due_at", Text),
                ("snoozed_until", Text),
                ("completed_at", Text),
                ("outcome", Text),
            ],
        }
    }
}

fn text(s: &str) -> SqlValue {
    SqlValue::Text(Some(s.to_owned()))
}
fn opt_text(s: Option<&str>) -> SqlValue {
    SqlValue::Text(s.map(str::to_owned))
}
fn ts(t: &Timestamp) -> SqlValue {
    SqlValue::Text(Some(format_timestamp(t)))
}
fn opt_ts(t: Option<&Timestamp>) -> SqlValue {
    SqlValue::Text(t.map(format_timestamp))
}
fn date(d: &NaiveDate) -> SqlValue {
    SqlValue::Text(Some(d.format("%Y-%m-%d").to_string()))
}
/// A unit enum's serde name, e.g. `SubscriptionStatus::PastDue` → "past_due".
fn tag(value: &impl Serialize) -> SqlValue {
    SqlValue::Text(
        serde_json::to_value(value)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned)),
    )
}

/// Maps records to rows and back.
impl RowMapping for Record {
    /// The row: `external_id` followed by `kind().columns()`, in order.
    fn to_row(&self) -> Vec<SqlValue> {
        let mut row = vec![text(self.external_id())];
        match self {
            Record::Account(a) => row.extend([
                text(&a.name),
                opt_text(a.plan.as_deref()),
                opt_text(a.industry.as_deref()),
                opt_text(a.region.as_deref()),
                opt_text(a.country.as_deref()),
                opt_text(a.size_band.as_deref()),
                opt_text(a.owner.as_ref().map(UserId::as_str)),
                opt_text(a.parent.as_ref().map(AccountId::as_str)),
                opt_ts(a.signed_up_at.as_ref()),
                opt_text(a.executive_sponsor.as_deref()),
            ]),
            Record::Contact(c) => row.extend([
                text(c.account.as_str()),
                opt_text(c.email.as_deref()),
                opt_text(c.name.as_deref()),
                opt_text(c.title.as_deref()),
                SqlValue::Bool(Some(c.is_admin)),
                opt_ts(c.created_at.as_ref()),
            ]),
            Record::Subscription(s) => row.extend([
                text(s.account.as_str()),
                text(&s.plan),
                SqlValue::Int(Some(i64::from(s.seats))),
                SqlValue::Int(Some(s.amount.minor)),
                text(s.amount.currency.as_str()),
                tag(&s.interval),
                date(&s.start),
                SqlValue::Text(s.end.map(|d| d.format("%Y-%m-%d").to_string())),
                SqlValue::Int(Some(i64::from(s.term_months))),
                tag(&s.status),
                SqlValue::Bool(Some(s.auto_renew)),
            ]),
            Record::SubscriptionChange(c) => row.extend([
                text(c.subscription.as_str()),
                text(c.account.as_str()),
                tag(&c.kind),
                date(&c.effective),
                SqlValue::Int(Some(c.arr_delta.minor)),
                text(c.arr_delta.currency.as_str()),
                SqlValue::Int(Some(i64::from(c.seats_delta))),
                opt_text(c.reason.as_deref()),
            ]),
            Record::Ticket(t) => row.extend([
                text(t.account.as_str()),
                opt_text(t.contact.as_ref().map(ContactId::as_str)),
                opt_text(t.subject.as_deref()),
                ts(&t.opened_at),
                opt_ts(t.resolved_at.as_ref()),
                tag(&t.priority),
                tag(&t.status),
                SqlValue::Int(t.csat.map(i64::from)),
                opt_text(t.category.as_deref()),
            ]),
            Record::SurveyResponse(s) => row.extend([
                text(s.account.as_str()),
                opt_text(s.contact.as_ref().map(ContactId::as_str)),
                ts(&s.responded_at),
                text(s.score.survey()),
                SqlValue::Int(Some(i64::from(s.score.value()))),
                opt_text(s.comment.as_deref()),
            ]),
            Record::Activity(a) => row.extend([
                text(a.account.as_str()),
                tag(&a.kind),
                ts(&a.occurred_at),
                opt_text(a.csm.as_ref().map(UserId::as_str)),
                opt_text(a.contact.as_ref().map(ContactId::as_str)),
                opt_ts(a.responded_at.as_ref()),
                SqlValue::Bool(a.attended),
                opt_text(a.notes.as_deref()),
            ]),
            Record::Release(r) => row.extend([
                text(&r.name),
                ts(&r.released_at),
                SqlValue::Text(Some(
                    serde_json::to_string(&r.features).unwrap_or_else(|_| "[]".into()),
                )),
                opt_text(r.notes.as_deref()),
            ]),
            Record::Task(t) => row.extend([
                text(t.account.as_str()),
                opt_text(t.playbook.as_deref()),
                text(&t.title),
                text(t.role.name()),
                opt_text(t.assignee.as_ref().map(UserId::as_str)),
                text(t.priority.name()),
                tag(&t.status),
                ts(&t.created_at),
                opt_ts(t.due_at.as_ref()),
                opt_ts(t.snoozed_until.as_ref()),
                opt_ts(t.completed_at.as_ref()),
                opt_text(t.outcome.as_deref()),
            ]),
        }
        row
    }

    /// Rebuilds a record from a row read in `to_row` order.
    fn from_row(kind: RecordKind, row: Vec<SqlValue>) -> Result<Record, StoreError> {
        let mut r = RowReader {
            kind,
            row: row.into_iter(),
            index: 0,
        };
        let id = r.text()?;
        let record = match kind {
            RecordKind::Account => Record::Account(Account {
                id: r.id(id)?,
                name: r.text()?,
                plan: r.opt_text()?,
                industry: r.opt_text()?,
                region: r.opt_text()?,
                country: r.opt_text()?,
                size_band: r.opt_text()?,
                owner: r.opt_id()?,
                parent: r.opt_id()?,
                signed_up_at: r.opt_ts()?,
                executive_sponsor: r.opt_text()?,
            }),
            RecordKind::Contact => Record::Contact(Contact {
                id: r.id(id)?,
                account: r.req_id()?,
                email: r.opt_text()?,
                name: r.opt_text()?,
                title: r.opt_text()?,
                is_admin: r.bool()?,
                created_at: r.opt_ts()?,
            }),
            RecordKind::Subscription => {
                let id = r.id(id)?;
                let account = r.req_id()?;
                let plan = r.text()?;
                let seats = r.int()?;
                let minor = r.int()?;
                let currency = r.currency()?;
                Record::Subscription(Subscription {
                    id,
                    account,
                    plan,
                    seats: r.convert(seats)?,
                    amount: Money::new(minor, currency),
                    interval: r.tag()?,
                    start: r.date()?,
                    end: r.opt_date()?,
                    term_months: {
                        let t = r.int()?;
                        r.convert(t)?
                    },
                    status: r.tag()?,
                    auto_renew: r.bool()?,
                })
            }
            RecordKind::SubscriptionChange => {
                let id = r.id(id)?;
                let subscription = r.req_id()?;
                let account = r.req_id()?;
                let kind = r.tag()?;
                let effective = r.date()?;
                let minor = r.int()?;
                let currency = r.currency()?;
                let seats = r.int()?;
                Record::SubscriptionChange(SubscriptionChange {
                    id,
                    subscription,
                    account,
                    kind,
                    effective,
                    arr_delta: Money::new(minor, currency),
                    seats_delta: r.convert(seats)?,
                    reason: r.opt_text()?,
                })
            }
            RecordKind::Ticket => Record::Ticket(Ticket {
                id: r.id(id)?,
                account: r.req_id()?,
                contact: r.opt_id()?,
                subject: r.opt_text()?,
                opened_at: r.ts()?,
                resolved_at: r.opt_ts()?,
                priority: r.tag()?,
                status: r.tag()?,
                csat: match r.opt_int()? {
                    Some(v) => Some(r.convert(v)?),
                    None => None,
                },
                category: r.opt_text()?,
            }),
            RecordKind::SurveyResponse => {
                let id = r.id(id)?;
                let account = r.req_id()?;
                let contact = r.opt_id()?;
                let responded_at = r.ts()?;
                let survey = r.text()?;
                let score = r.int()?;
                let score =
                    SurveyScore::new(&survey, score).map_err(|e| r.corrupt(e.to_string()))?;
                Record::SurveyResponse(SurveyResponse {
                    id,
                    account,
                    contact,
                    responded_at,
                    score,
                    comment: r.opt_text()?,
                })
            }
            RecordKind::Activity => Record::Activity(CsmActivity {
                id: r.id(id)?,
                account: r.req_id()?,
                kind: r.tag()?,
                occurred_at: r.ts()?,
                csm: r.opt_id()?,
                contact: r.opt_id()?,
                responded_at: r.opt_ts()?,
                attended: r.opt_bool()?,
                notes: r.opt_text()?,
            }),
            RecordKind::Release => {
                let id = r.id(id)?;
                let name = r.text()?;
                let released_at = r.ts()?;
                let features = r.text()?;
                let features =
                    serde_json::from_str(&features).map_err(|e| r.corrupt(e.to_string()))?;
                Record::Release(Release {
                    id,
                    name,
                    released_at,
                    features,
                    notes: r.opt_text()?,
                })
            }
            RecordKind::Task => Record::Task(Task {
                id: r.id(id)?,
                account: r.req_id()?,
                playbook: r.opt_text()?,
                title: r.text()?,
                role: r.tag()?,
                assignee: r.opt_id()?,
                priority: r.tag()?,
                status: r.tag()?,
                created_at: r.ts()?,
                due_at: r.opt_ts()?,
                snoozed_until: r.opt_ts()?,
                completed_at: r.opt_ts()?,
                outcome: r.opt_text()?,
            }),
        };
        Ok(record)
    }
}

/// Reads a row's values in column order, naming the column in any error.
struct RowReader {
    kind: RecordKind,
    row: std::vec::IntoIter<SqlValue>,
    index: usize,
}

impl RowReader {
    fn column(&self) -> &'static str {
        match self.index {
            0 => "external_id",
            i => self.kind.columns().get(i - 1).map_or("?", |c| c.0),
        }
    }

    fn corrupt(&self, problem: impl Into<String>) -> StoreError {
        StoreError::Corrupt {
            table: self.kind.table(),
            column: self.column().to_owned(),
            problem: problem.into(),
        }
    }

    fn next(&mut self) -> Result<SqlValue, StoreError> {
        let v = self
            .row
            .next()
            .ok_or_else(|| self.corrupt("missing column"))?;
        self.index += 1;
        Ok(v)
    }

    fn opt_text(&mut self) -> Result<Option<String>, StoreError> {
        match self.next()? {
            SqlValue::Text(t) => Ok(t),
            other => Err(self.corrupt(format!("expected text, read {other:?}"))),
        }
    }

    fn text(&mut self) -> Result<String, StoreError> {
        self.opt_text()?
            .ok_or_else(|| self.corrupt("unexpected null"))
    }

    fn opt_int(&mut self) -> Result<Option<i64>, StoreError> {
        match self.next()? {
            SqlValue::Int(i) => Ok(i),
            other => Err(self.corrupt(format!("expected an integer, read {other:?}"))),
        }
    }

    fn int(&mut self) -> Result<i64, StoreError> {
        self.opt_int()?
            .ok_or_else(|| self.corrupt("unexpected null"))
    }

    fn opt_bool(&mut self) -> Result<Option<bool>, StoreError> {
        match self.next()? {
            SqlValue::Bool(b) => Ok(b),
            other => Err(self.corrupt(format!("expected a boolean, read {other:?}"))),
        }
    }

    fn bool(&mut self) -> Result<bool, StoreError> {
        self.opt_bool()?
            .ok_or_else(|| self.corrupt("unexpected null"))
    }

    fn convert<T: TryFrom<i64>>(&self, v: i64) -> Result<T, StoreError> {
        // `index` already moved past the column the value came from.
        T::try_from(v).map_err(|_| StoreError::Corrupt {
            table: self.kind.table(),
            column: self
                .kind
                .columns()
                .get(self.index.saturating_sub(2))
                .map_or("?", |c| c.0)
                .to_owned(),
            problem: format!("{v} is out of range"),
        })
    }

    fn id<T: TryFrom<String, Error = DomainError>>(&self, s: String) -> Result<T, StoreError> {
        T::try_from(s).map_err(|e| self.corrupt(e.to_string()))
    }

    fn req_id<T: TryFrom<String, Error = DomainError>>(&mut self) -> Result<T, StoreError> {
        let s = self.text()?;
        self.id(s)
    }

    fn opt_id<T: TryFrom<String, Error = DomainError>>(&mut self) -> Result<Option<T>, StoreError> {
        match self.opt_text()? {
            Some(s) => self.id(s).map(Some),
            None => Ok(None),
        }
    }

    fn opt_ts(&mut self) -> Result<Option<Timestamp>, StoreError> {
        match self.opt_text()? {
            Some(s) => parse_timestamp(&s)
                .map(Some)
                .map_err(|e| self.corrupt(e.to_string())),
            None => Ok(None),
        }
    }

    fn ts(&mut self) -> Result<Timestamp, StoreError> {
        self.opt_ts()?
            .ok_or_else(|| self.corrupt("unexpected null"))
    }

    fn opt_date(&mut self) -> Result<Option<NaiveDate>, StoreError> {
        match self.opt_text()? {
            Some(s) => tenure_domain::time::parse_date(&s)
                .map(Some)
                .map_err(|e| self.corrupt(e.to_string())),
            None => Ok(None),
        }
    }

    fn date(&mut self) -> Result<NaiveDate, StoreError> {
        self.opt_date()?
            .ok_or_else(|| self.corrupt("unexpected null"))
    }

    fn currency(&mut self) -> Result<Currency, StoreError> {
        let s = self.text()?;
        Currency::parse(&s).map_err(|e| self.corrupt(e.to_string()))
    }

    fn tag<T: DeserializeOwned>(&mut self) -> Result<T, StoreError> {
        let s = self.text()?;
        serde_json::from_value(serde_json::Value::String(s))
            .map_err(|e| self.corrupt(e.to_string()))
    }
}

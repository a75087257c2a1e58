//! Writing records in the import format (the simulator's output), column for column what
//! `parse` reads.

use tenure_domain::time::format_timestamp;
use tenure_domain::*;

use crate::columns::columns;

pub fn csv_header(kind: RecordKind) -> Vec<&'static str> {
    columns(kind).iter().map(|c| c.name).collect()
}

fn tag(value: &impl serde::Serialize) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// An amount in major units with exactly the currency's decimals ("1234.50").
fn major(m: &Money) -> String {
    let shown = m.to_string();
    shown.split(' ').next().unwrap_or_default().to_owned()
}

fn ts(t: &Option<Timestamp>) -> String {
    t.as_ref().map(format_timestamp).unwrap_or_default()
}

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map(ToString::to_string).unwrap_or_default()
}

/// The fields of `record` in `csv_header(record.kind())` order.
pub fn csv_row(record: &Record) -> Vec<String> {
    match record {
        Record::Account(a) => vec![
            a.id.to_string(),
            a.name.clone(),
            opt(&a.plan),
            opt(&a.industry),
            opt(&a.region),
            opt(&a.country),
            opt(&a.size_band),
            opt(&a.owner),
            opt(&a.parent),
            ts(&a.signed_up_at),
            opt(&a.executive_sponsor),
        ],
        Record::Contact(c) => vec![
            c.id.to_string(),
            c.account.to_string(),
            opt(&c.email),
            opt(&c.name),
            opt(&c.title),
            c.is_admin.to_string(),
            ts(&c.created_at),
        ],
        Record::Subscription(s) => vec![
            s.id.to_string(),
            s.account.to_string(),
            s.plan.clone(),
            s.seats.to_string(),
            major(&s.amount),
            s.amount.currency.to_string(),
            tag(&s.interval),
            s.start.to_string(),
            opt(&s.end),
            s.term_months.to_string(),
            tag(&s.status),
            s.auto_renew.to_string(),
        ],
        Record::SubscriptionChange(c) => vec![
            c.id.to_string(),
            c.subscription.to_string(),
            c.account.to_string(),
            tag(&c.kind),
            c.effective.to_string(),
            major(&c.arr_delta),
            c.arr_delta.currency.to_string(),
            c.seats_delta.to_string(),
            opt(&c.reason),
        ],
        Record::Ticket(t) => vec![
            t.id.to_string(),
            t.account.to_string(),
            opt(&t.contact),
            opt(&t.subject),
            format_timestamp(&t.opened_at),
            ts(&t.resolved_at),
            tag(&t.priority),
            tag(&t.status),
            opt(&t.csat),
            opt(&t.category),
        ],
        Record::SurveyResponse(s) => vec![
            s.id.to_string(),
            s.account.to_string(),
            opt(&s.contact),
            format_timestamp(&s.responded_at),
            s.score.survey().to_owned(),
            s.score.value().to_string(),
            opt(&s.comment),
        ],
        Record::Activity(a) => vec![
            a.id.to_string(),
            a.account.to_string(),
            tag(&a.kind),
            format_timestamp(&a.occurred_at),
            opt(&a.csm),
            opt(&a.contact),
            ts(&a.responded_at),
            opt(&a.attended),
            opt(&a.notes),
        ],
        Record::Release(r) => vec![
            r.id.to_string(),
            r.name.clone(),
            format_timestamp(&r.released_at),
            r.features.join(";"),
            opt(&r.notes),
        ],
        Record::Task(t) => vec![
            t.id.to_string(),
            t.account.to_string(),
            opt(&t.playbook),
            t.title.clone(),
            t.role.name().to_owned(),
            opt(&t.assignee),
            t.priority.name().to_owned(),
            tag(&t.status),
            format_timestamp(&t.created_at),
            ts(&t.due_at),
            ts(&t.snoozed_until),
            ts(&t.completed_at),
            opt(&t.outcome),
        ],
    }
}

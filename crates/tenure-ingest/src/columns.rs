//! The columns of each record kind's import file: name, whether it is required, and what it
//! holds. docs/import.md is written from this list.

use tenure_domain::RecordKind;

#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    pub required: bool,
    pub help: &'static str,
}

const fn req(name: &'static str, help: &'static str) -> Column {
    Column {
        name,
        required: true,
        help,
    }
}

const fn opt(name: &'static str, help: &'static str) -> Column {
    Column {
        name,
        required: false,
        help,
    }
}

/// The order in which a folder's files are imported: what others refer to comes first.
pub const IMPORT_ORDER: [RecordKind; 9] = [
    RecordKind::Release,
    RecordKind::Account,
    RecordKind::Contact,
    RecordKind::Subscription,
    RecordKind::SubscriptionChange,
    RecordKind::Ticket,
    RecordKind::SurveyResponse,
    RecordKind::Activity,
    RecordKind::Task,
];

/// The file-name stem of each kind (`accounts.csv`, `tickets-2024.jsonl`, …).
pub fn file_stem(kind: RecordKind) -> &'static str {
    match kind {
        RecordKind::Account => "accounts",
        RecordKind::Contact => "contacts",
        RecordKind::Subscription => "subscriptions",
        RecordKind::SubscriptionChange => "subscription_changes",
        RecordKind::Ticket => "tickets",
        RecordKind::SurveyResponse => "surveys",
        RecordKind::Activity => "activities",
        RecordKind::Release => "releases",
        RecordKind::Task => "tasks",
    }
}

/// The kind a file holds, from its name: the longest known stem it starts with.
pub fn kind_from_file_name(name: &str) -> Option<RecordKind> {
    let lower = name.to_ascii_lowercase().replace('-', "_");
    IMPORT_ORDER
        .into_iter()
        .filter(|k| lower.starts_with(file_stem(*k)))
        .max_by_key(|k| file_stem(*k).len())
}

const TS: &str = "RFC 3339 instant with offset, e.g. 2026-03-01T09:30:00Z";

const ACCOUNT_COLUMNS: &[Column] = &[
    req("account_id", "the account's id in your CRM"),
    req("name", "company name"),
    opt("plan", "plan name"),
    opt("industry", "industry"),
    opt("region", "sales region"),
    opt("country", "ISO 3166 country code"),
    opt("size_band", "employee-count band, e.g. 51-200"),
    opt("owner", "the owning CSM (e-mail or directory id)"),
    opt("parent_id", "the parent account's id"),
    opt("signed_up_at", TS),
    opt("executive_sponsor", "the customer's executive sponsor"),
];

const CONTACT_COLUMNS: &[Column] = &[
    req(
        "contact_id",
        "the person's id (the userId your product sends)",
    ),
    req("account_id", "their account"),
    opt("email", "e-mail address"),
    opt("name", "full name"),
    opt("title", "job title or role"),
    opt(
        "is_admin",
        "true when they administer the workspace (default false)",
    ),
    opt("created_at", TS),
];

const SUBSCRIPTION_COLUMNS: &[Column] = &[
    req("subscription_id", "the subscription's id in billing"),
    req("account_id", "its account"),
    req("plan", "plan name"),
    req("seats", "licensed seats, a whole number"),
    req(
        "amount",
        "recurring amount per billing interval, in major units (1200.00)",
    ),
    req("currency", "ISO 4217 code, e.g. USD"),
    req(
        "billing_interval",
        "month (amount is MRR) or year (amount is ARR)",
    ),
    req("start_date", "YYYY-MM-DD"),
    opt(
        "end_date",
        "end of the current term (the renewal date), YYYY-MM-DD",
    ),
    opt(
        "term_months",
        "length of a term in months (default 12, or 1 when monthly)",
    ),
    req("status", "trialing, active, past_due, cancelled or expired"),
    opt("auto_renew", "true or false (default true)"),
];

const SUBSCRIPTION_CHANGE_COLUMNS: &[Column] = &[
    req("change_id", "the change's id"),
    req("subscription_id", "the subscription it changed"),
    req("account_id", "its account"),
    req("kind", "new, expansion, contraction, churn or reactivation"),
    req("effective_date", "YYYY-MM-DD"),
    req("arr_delta", "change in ARR in major units: positive for new, expansion, reactivation; negative for contraction, churn"),
    req("currency", "ISO 4217 code"),
    opt("seats_delta", "change in seats (default 0)"),
    opt("reason", "why"),
];

const TICKET_COLUMNS: &[Column] = &[
    req("ticket_id", "the ticket's id"),
    req("account_id", "its account"),
    opt("contact_id", "who opened it"),
    opt("subject", "subject line"),
    req("opened_at", TS),
    opt("resolved_at", TS),
    req("priority", "low, normal, high or urgent"),
    req("status", "open, pending, solved or closed"),
    opt("csat", "satisfaction with the ticket, 1–5"),
    opt("category", "category"),
];

const SURVEY_RESPONSE_COLUMNS: &[Column] = &[
    req("response_id", "the answer's id"),
    req("account_id", "the respondent's account"),
    opt("contact_id", "the respondent"),
    req("responded_at", TS),
    req("survey", "nps (0–10), csat (1–5) or ces (1–7)"),
    req("score", "the answer on the survey's scale"),
    opt("comment", "free text"),
];

const ACTIVITY_COLUMNS: &[Column] = &[
    req("activity_id", "the activity's id"),
    req("account_id", "its account"),
    req(
        "kind",
        "meeting, email, call, training, ebr or executive_sponsor_meeting",
    ),
    req("occurred_at", TS),
    opt("csm", "who from the success team"),
    opt("contact_id", "who at the customer"),
    opt(
        "responded_at",
        "for emails: when the customer answered (RFC 3339)",
    ),
    opt("attended", "for meetings and trainings: true or false"),
    opt("notes", "free text"),
];

const RELEASE_COLUMNS: &[Column] = &[
    req("release_id", "the release's id"),
    req("name", "release name"),
    req("released_at", TS),
    opt("features", "feature areas it changed, separated by `;`"),
    opt("notes", "release notes"),
];

const TASK_COLUMNS: &[Column] = &[
    req("task_id", "the task's id"),
    req("account_id", "its account"),
    opt("playbook", "the playbook that opened it"),
    req("title", "what to do"),
    opt(
        "role",
        "owner role: admin, leader, manager, csm, product or viewer (default csm)",
    ),
    opt("assignee", "the person it is assigned to"),
    opt(
        "priority",
        "critical, high, moderate or low (default moderate)",
    ),
    opt("status", "open, snoozed, done or cancelled (default open)"),
    req("created_at", TS),
    opt("due_at", TS),
    opt("snoozed_until", TS),
    opt("completed_at", TS),
    opt("outcome", "what came of it"),
];

pub fn columns(kind: RecordKind) -> &'static [Column] {
    match kind {
        RecordKind::Account => ACCOUNT_COLUMNS,
        RecordKind::Contact => CONTACT_COLUMNS,
        RecordKind::Subscription => SUBSCRIPTION_COLUMNS,
        RecordKind::SubscriptionChange => SUBSCRIPTION_CHANGE_COLUMNS,
        RecordKind::Ticket => TICKET_COLUMNS,
        RecordKind::SurveyResponse => SURVEY_RESPONSE_COLUMNS,
        RecordKind::Activity => ACTIVITY_COLUMNS,
        RecordKind::Release => RELEASE_COLUMNS,
        RecordKind::Task => TASK_COLUMNS,
    }
}

//! One record of any kind, keyed by the external id of the system it came from: what
//! imports produce, what the store keeps, and what the simulator emits.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::*;

/// One record of any kind, keyed by its external id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "record", rename_all = "snake_case")]
pub enum Record {
    Account(Account),
    Contact(Contact),
    Subscription(Subscription),
    SubscriptionChange(SubscriptionChange),
    Ticket(Ticket),
    SurveyResponse(SurveyResponse),
    Activity(CsmActivity),
    Release(Release),
    Task(Task),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    Account,
    Contact,
    Subscription,
    SubscriptionChange,
    Ticket,
    SurveyResponse,
    Activity,
    Release,
    Task,
}

impl RecordKind {
    pub const ALL: [RecordKind; 9] = [
        RecordKind::Account,
        RecordKind::Contact,
        RecordKind::Subscription,
        RecordKind::SubscriptionChange,
        RecordKind::Ticket,
        RecordKind::SurveyResponse,
        RecordKind::Activity,
        RecordKind::Release,
        RecordKind::Task,
    ];

    pub fn name(self) -> &'static str {
        match self {
            RecordKind::Account => "account",
            RecordKind::Contact => "contact",
            RecordKind::Subscription => "subscription",
            RecordKind::SubscriptionChange => "subscription_change",
            RecordKind::Ticket => "ticket",
            RecordKind::SurveyResponse => "survey_response",
            RecordKind::Activity => "activity",
            RecordKind::Release => "release",
            RecordKind::Task => "task",
        }
    }
}

impl Record {
    pub fn kind(&self) -> RecordKind {
        match self {
            Record::Account(_) => RecordKind::Account,
            Record::Contact(_) => RecordKind::Contact,
            Record::Subscription(_) => RecordKind::Subscription,
            Record::SubscriptionChange(_) => RecordKind::SubscriptionChange,
            Record::Ticket(_) => RecordKind::Ticket,
            Record::SurveyResponse(_) => RecordKind::SurveyResponse,
            Record::Activity(_) => RecordKind::Activity,
            Record::Release(_) => RecordKind::Release,
            Record::Task(_) => RecordKind::Task,
        }
    }

    pub fn external_id(&self) -> &str {
        match self {
            Record::Account(r) => r.id.as_str(),
            Record::Contact(r) => r.id.as_str(),
            Record::Subscription(r) => r.id.as_str(),
            Record::SubscriptionChange(r) => r.id.as_str(),
            Record::Ticket(r) => r.id.as_str(),
            Record::SurveyResponse(r) => r.id.as_str(),
            Record::Activity(r) => r.id.as_str(),
            Record::Release(r) => r.id.as_str(),
            Record::Task(r) => r.id.as_str(),
        }
    }
}

impl FromStr for RecordKind {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, DomainError> {
        RecordKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                DomainError::Inconsistent(format!(
                    "unknown record kind `{s}`: expected one of {}",
                    RecordKind::ALL.map(RecordKind::name).join(", ")
                ))
            })
    }
}

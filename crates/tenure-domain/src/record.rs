//! One record of any kind, keyed by the external id of the system it came from: what
//! imports produce, what the store keeps, and what the simulator emits.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::*;

/// One record of any kind, keyed by its external id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
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

    /// The account the record belongs to (an account belongs to itself; releases to none).
    pub fn account(&self) -> Option<&str> {
        match self {
            Record::Account(r) => Some(r.id.as_str()),
            Record::Contact(r) => Some(r.account.as_str()),
            Record::Subscription(r) => Some(r.account.as_str()),
            Record::SubscriptionChange(r) => Some(r.account.as_str()),
            Record::Ticket(r) => Some(r.account.as_str()),
            Record::SurveyResponse(r) => Some(r.account.as_str()),
            Record::Activity(r) => Some(r.account.as_str()),
            Record::Release(_) => None,
            Record::Task(r) => Some(r.account.as_str()),
        }
    }

    /// The person (contact) the record is about, when one is named (a contact is itself).
    pub fn contact(&self) -> Option<&str> {
        match self {
            Record::Contact(r) => Some(r.id.as_str()),
            Record::Ticket(r) => r.contact.as_ref().map(|c| c.as_str()),
            Record::SurveyResponse(r) => r.contact.as_ref().map(|c| c.as_str()),
            Record::Activity(r) => r.contact.as_ref().map(|c| c.as_str()),
            _ => None,
        }
    }

    /// Removes the link to a contact from a ticket or an activity (the record stays with its
    /// account); returns whether there was one.
    pub fn unlink_contact(&mut self) -> bool {
        match self {
            Record::Ticket(r) => r.contact.take().is_some(),
            Record::Activity(r) => r.contact.take().is_some(),
            Record::SurveyResponse(r) => r.contact.take().is_some(),
            _ => false,
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

//! Tenure's vocabulary — accounts, contracts, tickets, surveys, activities, tasks — and the
//! success model (`tenure.toml`) as validated types.
//!
//! This crate does no IO: it never reads a file, a clock or the network. Callers hand it text
//! and instants; it hands back validated values or precise errors.

pub mod account;
pub mod activity;
pub mod commercial;
pub mod health;
pub mod ids;
pub mod model;
pub mod money;
pub mod record;
pub mod task;
pub mod time;
pub mod voice;

pub use account::{Account, Contact};
pub use activity::{CsmActivity, Release};
pub use commercial::{
    BillingInterval, ChangeKind, Subscription, SubscriptionChange, SubscriptionStatus,
};
pub use health::HealthSnapshot;
pub use ids::*;
pub use model::{ModelErrors, ModelVersion, SuccessModel};
pub use money::{Currency, Money};
pub use record::{Record, RecordKind};
pub use task::{Task, TaskStatus};
pub use time::Timestamp;
pub use voice::{SurveyResponse, SurveyScore, Ticket, TicketPriority, TicketStatus};

/// A value that does not fit the vocabulary.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("invalid {kind} `{value}`: {problem}")]
    InvalidId {
        kind: &'static str,
        value: String,
        problem: String,
    },
    #[error(
        "invalid currency `{0}`: expected an ISO 4217 code of three uppercase letters, such as USD"
    )]
    InvalidCurrency(String),
    #[error("invalid amount `{value}`: {problem}")]
    InvalidAmount { value: String, problem: String },
    #[error("cannot add {0} to {1}: convert to one currency first")]
    CurrencyMismatch(Currency, Currency),
    #[error("amount overflow")]
    Overflow,
    #[error("invalid timestamp `{value}`: {problem} (expected RFC 3339 with an offset, e.g. 2026-03-01T09:30:00Z)")]
    InvalidTimestamp { value: String, problem: String },
    #[error("invalid date `{value}`: {problem} (expected YYYY-MM-DD)")]
    InvalidDate { value: String, problem: String },
    #[error("{0}")]
    Inconsistent(String),
}

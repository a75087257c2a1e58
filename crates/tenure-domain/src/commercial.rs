//! What customers pay: subscriptions and the changes that move revenue.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::ids::{AccountId, SubscriptionChangeId, SubscriptionId};
use crate::money::Money;
use crate::DomainError;

/// How often the recurring amount is billed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BillingInterval {
    Month,
    Year,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionStatus {
    Trialing,
    Active,
    PastDue,
    Cancelled,
    Expired,
}

/// A subscription or contract.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Subscription {
    pub id: SubscriptionId,
    pub account: AccountId,
    pub plan: String,
    pub seats: u32,
    /// The recurring amount per `interval` (MRR when monthly, ARR when yearly).
    pub amount: Money,
    pub interval: BillingInterval,
    pub start: NaiveDate,
    /// End of the current term: the renewal date.
    pub end: Option<NaiveDate>,
    pub term_months: u32,
    pub status: SubscriptionStatus,
    pub auto_renew: bool,
}

impl Subscription {
    /// Annual recurring revenue, exactly (monthly amounts × 12).
    pub fn arr(&self) -> Result<Money, DomainError> {
        match self.interval {
            BillingInterval::Year => Ok(self.amount),
            BillingInterval::Month => self
                .amount
                .minor
                .checked_mul(12)
                .map(|minor| Money::new(minor, self.amount.currency))
                .ok_or(DomainError::Overflow),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    New,
    Expansion,
    Contraction,
    Churn,
    Reactivation,
}

/// One event that moved recurring revenue.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SubscriptionChange {
    pub id: SubscriptionChangeId,
    pub subscription: SubscriptionId,
    pub account: AccountId,
    pub kind: ChangeKind,
    pub effective: NaiveDate,
    /// Change in ARR: positive for new, expansion and reactivation, negative otherwise.
    pub arr_delta: Money,
    pub seats_delta: i32,
    pub reason: Option<String>,
}

impl SubscriptionChange {
    /// Checks that the sign of the ARR change agrees with its kind.
    pub fn check_sign(&self) -> Result<(), DomainError> {
        let ok = match self.kind {
            ChangeKind::New | ChangeKind::Expansion | ChangeKind::Reactivation => {
                self.arr_delta.minor >= 0
            }
            ChangeKind::Contraction | ChangeKind::Churn => self.arr_delta.minor <= 0,
        };
        if ok {
            Ok(())
        } else {
            Err(DomainError::Inconsistent(format!(
                "a {:?} change cannot have an ARR delta of {}",
                self.kind, self.arr_delta
            )))
        }
    }
}

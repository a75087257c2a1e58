//! What the success team does, and what the product team ships.

use serde::{Deserialize, Serialize};

use crate::ids::{AccountId, ActivityId, ContactId, ReleaseId, UserId};
use crate::model::ActivityKind;
use crate::time::Timestamp;

/// One touchpoint of the success team with a customer.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CsmActivity {
    pub id: ActivityId,
    pub account: AccountId,
    pub kind: ActivityKind,
    pub occurred_at: Timestamp,
    pub csm: Option<UserId>,
    pub contact: Option<ContactId>,
    /// For emails: when the customer answered (response time is the difference).
    pub responded_at: Option<Timestamp>,
    /// For meetings and trainings: whether the customer attended.
    pub attended: Option<bool>,
    pub notes: Option<String>,
}

/// A product release, with the feature areas it changed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Release {
    pub id: ReleaseId,
    pub name: String,
    pub released_at: Timestamp,
    pub features: Vec<String>,
    pub notes: Option<String>,
}

//! Customer accounts and the people in them.

use serde::{Deserialize, Serialize};

use crate::ids::{AccountId, ContactId, UserId};
use crate::time::Timestamp;

/// A customer company.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Account {
    pub id: AccountId,
    pub name: String,
    pub plan: Option<String>,
    pub industry: Option<String>,
    pub region: Option<String>,
    /// ISO 3166-1 alpha-2, as given.
    pub country: Option<String>,
    /// Employee-count band, e.g. "51-200".
    pub size_band: Option<String>,
    /// The CSM who owns the account.
    pub owner: Option<UserId>,
    /// The parent account in a hierarchy (a subsidiary's group).
    pub parent: Option<AccountId>,
    pub signed_up_at: Option<Timestamp>,
    /// The executive sponsor on the customer's side, when there is one.
    pub executive_sponsor: Option<String>,
}

/// A person at a customer: a product user, an admin, a buyer.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Contact {
    pub id: ContactId,
    pub account: AccountId,
    pub email: Option<String>,
    pub name: Option<String>,
    /// Job role, e.g. "analyst", "head of finance".
    pub title: Option<String>,
    /// An administrator of the customer's workspace.
    pub is_admin: bool,
    pub created_at: Option<Timestamp>,
}

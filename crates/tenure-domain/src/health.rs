//! A health score as kept in history: one account, one day, one model version.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::ids::AccountId;
use crate::model::{Band, ModelVersion, Pillar};
use crate::time::Timestamp;

/// An account's health at the end of one day (UTC), as computed under one model version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthSnapshot {
    pub account: AccountId,
    pub day: NaiveDate,
    pub model_version: ModelVersion,
    /// 0–100.
    pub score: f64,
    pub band: Band,
    /// 0–1: the weight share of the score's inputs that were present and fresh.
    pub confidence: f64,
    /// Each pillar's sub-score (0–100); a pillar without weight for the account is absent.
    pub pillars: BTreeMap<Pillar, f64>,
    #[serde(with = "crate::time::rfc3339")]
    pub computed_at: Timestamp,
}

//! What customers say: support tickets and survey answers.

use serde::{Deserialize, Serialize};

use crate::ids::{AccountId, ContactId, SurveyResponseId, TicketId};
use crate::time::Timestamp;
use crate::DomainError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketPriority {
    Low,
    Normal,
    High,
    Urgent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketStatus {
    Open,
    Pending,
    Solved,
    Closed,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Ticket {
    pub id: TicketId,
    pub account: AccountId,
    pub contact: Option<ContactId>,
    pub subject: Option<String>,
    pub opened_at: Timestamp,
    pub resolved_at: Option<Timestamp>,
    pub priority: TicketPriority,
    pub status: TicketStatus,
    /// The customer's satisfaction with the ticket's handling, 1–5.
    pub csat: Option<u8>,
    pub category: Option<String>,
}

/// A survey answer with its scale: NPS 0–10, CSAT 1–5, CES 1–7.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "survey", content = "score", rename_all = "snake_case")]
pub enum SurveyScore {
    Nps(u8),
    Csat(u8),
    Ces(u8),
}

impl SurveyScore {
    /// Builds a score, refusing values outside the survey's scale.
    pub fn new(survey: &str, score: i64) -> Result<SurveyScore, DomainError> {
        let (lo, hi, make): (i64, i64, fn(u8) -> SurveyScore) = match survey {
            "nps" => (0, 10, SurveyScore::Nps),
            "csat" => (1, 5, SurveyScore::Csat),
            "ces" => (1, 7, SurveyScore::Ces),
            other => {
                return Err(DomainError::Inconsistent(format!(
                    "unknown survey `{other}`: expected nps, csat or ces"
                )))
            }
        };
        if (lo..=hi).contains(&score) {
            Ok(make(score as u8))
        } else {
            Err(DomainError::Inconsistent(format!(
                "a {survey} score must be from {lo} to {hi}, got {score}"
            )))
        }
    }

    pub fn survey(&self) -> &'static str {
        match self {
            SurveyScore::Nps(_) => "nps",
            SurveyScore::Csat(_) => "csat",
            SurveyScore::Ces(_) => "ces",
        }
    }

    pub fn value(&self) -> u8 {
        match self {
            SurveyScore::Nps(v) | SurveyScore::Csat(v) | SurveyScore::Ces(v) => *v,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SurveyResponse {
    pub id: SurveyResponseId,
    pub account: AccountId,
    pub contact: Option<ContactId>,
    pub responded_at: Timestamp,
    pub score: SurveyScore,
    pub comment: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_stay_on_their_scale() {
        assert_eq!(SurveyScore::new("nps", 0).unwrap(), SurveyScore::Nps(0));
        assert!(SurveyScore::new("nps", 11).is_err());
        assert!(SurveyScore::new("csat", 0).is_err());
        assert_eq!(SurveyScore::new("ces", 7).unwrap().value(), 7);
        assert!(SurveyScore::new("csi", 3).is_err());
    }
}

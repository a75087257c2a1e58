//! Newtype identifiers. Every record is keyed by the external id the customer's own systems
//! use (CRM id, billing id, ticket number), so imports upsert instead of duplicating.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::DomainError;

/// The longest id accepted; longer values are almost always a column mix-up.
pub const MAX_ID_LEN: usize = 256;

fn check_id(kind: &'static str, s: &str) -> Result<(), DomainError> {
    let problem = if s.is_empty() {
        Some("it is empty".to_owned())
    } else if s.len() > MAX_ID_LEN {
        Some(format!(
            "it is {} bytes long (at most {MAX_ID_LEN})",
            s.len()
        ))
    } else if s.trim() != s {
        Some("it has leading or trailing white space".to_owned())
    } else if s.chars().any(char::is_control) {
        Some("it contains a control character".to_owned())
    } else {
        None
    };
    match problem {
        Some(problem) => Err(DomainError::InvalidId {
            kind,
            value: s.chars().take(40).collect(),
            problem,
        }),
        None => Ok(()),
    }
}

macro_rules! external_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Accepts a non-empty id of at most 256 bytes, without surrounding white space
            /// or control characters.
            pub fn parse(s: impl Into<String>) -> Result<Self, DomainError> {
                let s = s.into();
                check_id($kind, &s)?;
                Ok($name(s))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = DomainError;
            fn try_from(s: String) -> Result<Self, DomainError> {
                Self::parse(s)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

external_id!(
    /// A customer account (a company), as the CRM knows it.
    AccountId, "account id"
);
external_id!(
    /// A person at a customer: a product user or a contact.
    ContactId, "contact id"
);
external_id!(
    /// A subscription or contract, as billing knows it.
    SubscriptionId, "subscription id"
);
external_id!(
    /// One change to a subscription (new, expansion, contraction, churn, reactivation).
    SubscriptionChangeId, "subscription change id"
);
external_id!(
    /// A support ticket.
    TicketId, "ticket id"
);
external_id!(
    /// One answer to a survey.
    SurveyResponseId, "survey response id"
);
external_id!(
    /// One activity of the success team (a meeting, an email, a training…).
    ActivityId, "activity id"
);
external_id!(
    /// A product release.
    ReleaseId, "release id"
);
external_id!(
    /// A task in the success team's inbox.
    TaskId, "task id"
);
external_id!(
    /// A member of the success team (a CSM or their manager), by e-mail or directory id.
    UserId, "user id"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_reject_what_no_system_would_emit() {
        assert!(AccountId::parse("acme-001").is_ok());
        assert!(AccountId::parse("").is_err());
        assert!(AccountId::parse(" acme").is_err());
        assert!(AccountId::parse("a\u{0}b").is_err());
        assert!(AccountId::parse("x".repeat(257)).is_err());
        let err = TicketId::parse("").unwrap_err().to_string();
        assert_eq!(err, "invalid ticket id ``: it is empty");
    }

    #[test]
    fn ids_round_trip_through_json_and_are_validated_there_too() {
        let id = AccountId::parse("Ünïcode 42").unwrap();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(serde_json::from_str::<AccountId>(&json).unwrap(), id);
        assert!(serde_json::from_str::<AccountId>("\"\"").is_err());
    }
}

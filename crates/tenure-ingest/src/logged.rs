//! What the durable event log holds: one JSON `LogRecord` per accepted message, and a small
//! record for each message that was rejected or recognised as a duplicate, so the data-quality
//! report can count what never became an event. Every consumer of the log (the Parquet lake,
//! the data-quality report, identity resolution, privacy export) reads this one format.

use serde::{Deserialize, Serialize};

use crate::segment::Message;
use tenure_domain::Timestamp;

/// One record of the event log. Exactly one of `message`, `rejected` and `duplicate` is set,
/// unless the record was erased by `forget` (then only `forgotten` is).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogRecord {
    /// The id (not the secret) of the write key the message came with.
    #[serde(default)]
    pub write_key: String,
    /// Sent to `/v1/import`: historical data, so its age is not counted as lateness.
    #[serde(default, skip_serializing_if = "is_false")]
    pub import: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<Message>,
    /// What the tracking plan found wrong with an accepted message (in `flag` and `allow`
    /// modes; in `reject` mode such a message is rejected instead).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub violations: Vec<Violation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejected: Option<RejectedMessage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicate: Option<Duplicate>,
    /// The record was erased by `tenure forget`; nothing else of it remains.
    #[serde(default, skip_serializing_if = "is_false")]
    pub forgotten: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// A tracking-plan violation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    /// `unknown_event`, `undeclared_property`, `missing_property` or `mistyped_property`.
    pub code: String,
    /// The property at fault, when one is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub property: Option<String>,
    pub message: String,
}

/// A message the API refused, as reported to the sender.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectedMessage {
    pub code: String,
    pub message: String,
    /// The event name, when the message was a `track` call that named one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    #[serde(with = "tenure_domain::time::rfc3339")]
    pub received_at: Timestamp,
}

/// A message whose `messageId` was already accepted from the same write key within 24 hours.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Duplicate {
    pub message_id: String,
    #[serde(with = "tenure_domain::time::rfc3339")]
    pub received_at: Timestamp,
}

impl LogRecord {
    /// An accepted message.
    pub fn message(
        write_key: String,
        import: bool,
        message: Message,
        violations: Vec<Violation>,
    ) -> LogRecord {
        LogRecord {
            write_key,
            import,
            message: Some(message),
            violations,
            rejected: None,
            duplicate: None,
            forgotten: false,
        }
    }

    /// A refused message.
    pub fn rejected(write_key: String, import: bool, rejected: RejectedMessage) -> LogRecord {
        LogRecord {
            rejected: Some(rejected),
            ..LogRecord::empty(write_key, import)
        }
    }

    /// A message recognised as a retry of one already accepted.
    pub fn duplicate(write_key: String, import: bool, duplicate: Duplicate) -> LogRecord {
        LogRecord {
            duplicate: Some(duplicate),
            ..LogRecord::empty(write_key, import)
        }
    }

    /// What `forget` leaves in place of an erased record.
    pub fn forgotten() -> LogRecord {
        LogRecord {
            forgotten: true,
            ..LogRecord::empty(String::new(), false)
        }
    }

    fn empty(write_key: String, import: bool) -> LogRecord {
        LogRecord {
            write_key,
            import,
            message: None,
            violations: Vec::new(),
            rejected: None,
            duplicate: None,
            forgotten: false,
        }
    }

    /// Parses one log record.
    pub fn parse(bytes: &[u8]) -> Result<LogRecord, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// The record as the log stores it.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Serialising plain data with string keys cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

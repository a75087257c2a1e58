//! Instants and calendar dates. Instants keep the UTC offset they were given in, because a
//! customer's "Monday morning" is local; comparisons and windows use the instant itself.

use chrono::{DateTime, FixedOffset, NaiveDate};

use crate::DomainError;

/// An instant with the offset it was recorded in.
pub type Timestamp = DateTime<FixedOffset>;

/// Parses an RFC 3339 instant; the offset is required ("2026-03-01T09:30:00+01:00" or "…Z").
pub fn parse_timestamp(s: &str) -> Result<Timestamp, DomainError> {
    DateTime::parse_from_rfc3339(s).map_err(|e| DomainError::InvalidTimestamp {
        value: s.chars().take(40).collect(),
        problem: e.to_string(),
    })
}

/// Formats an instant as RFC 3339 with its own offset and microsecond precision when needed.
pub fn format_timestamp(t: &Timestamp) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// Parses a calendar date written as YYYY-MM-DD.
pub fn parse_date(s: &str) -> Result<NaiveDate, DomainError> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|e| DomainError::InvalidDate {
        value: s.chars().take(40).collect(),
        problem: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_survive_a_round_trip() {
        let t = parse_timestamp("2026-03-01T09:30:00.250+05:30").unwrap();
        assert_eq!(format_timestamp(&t), "2026-03-01T09:30:00.250+05:30");
        assert_eq!(parse_timestamp(&format_timestamp(&t)).unwrap(), t);
        assert!(parse_timestamp("2026-03-01T09:30:00").is_err(), "no offset");
        assert!(parse_date("2026-02-30").is_err());
    }
}

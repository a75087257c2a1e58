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

/// Fast RFC 3339 reading and writing for hot paths (the event log holds four instants per
/// event): `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` is read by hand, anything else falls back
/// to chrono's parser; writing keeps the offset and the precision the instant needs.
pub mod rfc3339 {
    use chrono::{DateTime, FixedOffset, NaiveDate, TimeZone, Timelike};
    use serde::{Deserialize, Deserializer, Serializer};

    use super::Timestamp;

    fn digits(b: &[u8]) -> Option<u32> {
        let mut n = 0u32;
        for &c in b {
            if !c.is_ascii_digit() {
                return None;
            }
            n = n * 10 + u32::from(c - b'0');
        }
        Some(n)
    }

    fn fast(s: &str) -> Option<Timestamp> {
        let b = s.as_bytes();
        if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't') {
            return None;
        }
        if b[13] != b':' || b[16] != b':' {
            return None;
        }
        let date = NaiveDate::from_ymd_opt(
            digits(&b[0..4])? as i32,
            digits(&b[5..7])?,
            digits(&b[8..10])?,
        )?;
        let (h, m, sec) = (
            digits(&b[11..13])?,
            digits(&b[14..16])?,
            digits(&b[17..19])?,
        );
        let mut i = 19;
        let mut nanos = 0u32;
        if b[i] == b'.' {
            let start = i + 1;
            let mut end = start;
            while end < b.len() && b[end].is_ascii_digit() {
                end += 1;
            }
            let n = end - start;
            if n == 0 || n > 9 {
                return None;
            }
            nanos = digits(&b[start..end])? * 10u32.pow(9 - n as u32);
            i = end;
        }
        let rest = &b[i..];
        let offset = match rest {
            [b'Z' | b'z'] => 0,
            [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
                let (hh, mm) = (digits(&rest[1..3])?, digits(&rest[4..6])?);
                if hh > 23 || mm > 59 {
                    return None;
                }
                let secs = (hh * 3600 + mm * 60) as i32;
                if *sign == b'-' {
                    -secs
                } else {
                    secs
                }
            }
            _ => return None,
        };
        if sec > 59 {
            return None;
        }
        let naive = date.and_hms_nano_opt(h, m, sec, nanos)?;
        let tz = FixedOffset::east_opt(offset)?;
        tz.from_local_datetime(&naive).single()
    }

    /// Parses an RFC 3339 instant.
    pub fn parse(s: &str) -> Result<Timestamp, chrono::ParseError> {
        match fast(s) {
            Some(t) => Ok(t),
            None => DateTime::parse_from_rfc3339(s),
        }
    }

    /// Writes `t` as RFC 3339: its own offset (`Z` for UTC), and 0, 3, 6 or 9 fraction digits.
    pub fn format(t: &Timestamp) -> String {
        fn put(out: &mut Vec<u8>, n: u32, width: usize) {
            let start = out.len();
            let mut n = n;
            for _ in 0..width {
                out.push(b'0' + (n % 10) as u8);
                n /= 10;
            }
            out[start..].reverse();
        }
        let d = t.naive_local();
        let mut out = Vec::with_capacity(35);
        let year = chrono::Datelike::year(&d);
        if !(0..=9999).contains(&year) {
            // Outside RFC 3339's four-digit years: chrono's own writer.
            return t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
        }
        put(&mut out, year as u32, 4);
        out.push(b'-');
        put(&mut out, chrono::Datelike::month(&d), 2);
        out.push(b'-');
        put(&mut out, chrono::Datelike::day(&d), 2);
        out.push(b'T');
        put(&mut out, d.hour(), 2);
        out.push(b':');
        put(&mut out, d.minute(), 2);
        out.push(b':');
        put(&mut out, d.second(), 2);
        let nanos = d.nanosecond() % 1_000_000_000;
        if nanos != 0 {
            out.push(b'.');
            if nanos.is_multiple_of(1_000_000) {
                put(&mut out, nanos / 1_000_000, 3);
            } else if nanos.is_multiple_of(1_000) {
                put(&mut out, nanos / 1_000, 6);
            } else {
                put(&mut out, nanos, 9);
            }
        }
        let offset = t.offset().local_minus_utc();
        if offset == 0 {
            out.push(b'Z');
        } else {
            out.push(if offset < 0 { b'-' } else { b'+' });
            let o = offset.unsigned_abs();
            put(&mut out, o / 3600, 2);
            out.push(b':');
            put(&mut out, (o % 3600) / 60, 2);
        }
        // Only ASCII digits and separators were written.
        String::from_utf8(out).unwrap_or_default()
    }

    pub fn serialize<S: Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        parse(&s).map_err(serde::de::Error::custom)
    }

    /// The same for `Option<Timestamp>`.
    pub mod option {
        use serde::{Deserialize, Deserializer, Serializer};

        use super::Timestamp;

        pub fn serialize<S: Serializer>(t: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
            match t {
                Some(t) => s.serialize_str(&super::format(t)),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
            match <Option<std::borrow::Cow<'de, str>>>::deserialize(d)? {
                Some(s) => super::parse(&s).map(Some).map_err(serde::de::Error::custom),
                None => Ok(None),
            }
        }
    }
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
    fn the_fast_rfc3339_path_agrees_with_chrono() {
        for text in [
            "2026-03-01T09:30:00Z",
            "2026-03-01T09:30:00.250+05:30",
            "2024-02-29T23:59:59.123456-08:00",
            "2026-12-31T00:00:00.000000001Z",
            "2026-03-01T09:30:00.1+00:00",
            "2026-03-01t09:30:00z",
        ] {
            let expected = DateTime::parse_from_rfc3339(text).unwrap();
            let t = rfc3339::parse(text).unwrap();
            assert_eq!(t, expected, "{text}");
            assert_eq!(t.offset(), expected.offset(), "{text}");
            let written = rfc3339::format(&t);
            assert_eq!(
                DateTime::parse_from_rfc3339(&written).unwrap(),
                t,
                "{written}"
            );
            assert_eq!(rfc3339::parse(&written).unwrap().offset(), t.offset());
        }
        assert_eq!(
            rfc3339::format(&rfc3339::parse("2026-03-01T09:30:00.250+05:30").unwrap()),
            "2026-03-01T09:30:00.250+05:30"
        );
        for bad in [
            "2026-02-30T00:00:00Z",
            "2026-03-01T25:00:00Z",
            "2026-03-01T09:30:00",
            "x",
            "2026-03-01T09:30:00.Z",
        ] {
            assert!(rfc3339::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn offsets_survive_a_round_trip() {
        let t = parse_timestamp("2026-03-01T09:30:00.250+05:30").unwrap();
        assert_eq!(format_timestamp(&t), "2026-03-01T09:30:00.250+05:30");
        assert_eq!(parse_timestamp(&format_timestamp(&t)).unwrap(), t);
        assert!(parse_timestamp("2026-03-01T09:30:00").is_err(), "no offset");
        assert!(parse_date("2026-02-30").is_err());
    }
}

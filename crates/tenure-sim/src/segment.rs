//! Segment-spec JSON lines (identify, group, track, page), written straight into a byte
//! buffer: the simulator's hot path. Every string it writes is generated from fixed ASCII
//! vocabularies, so nothing needs escaping; a debug assertion keeps it that way.

use std::io::Write;

/// Formats instants as `YYYY-MM-DDTHH:MM:SS.mmmZ` from a day index and milliseconds of day,
/// with the date prefixes computed once.
pub struct Clock {
    day_prefixes: Vec<[u8; 11]>,
}

impl Clock {
    pub fn new(start: chrono::NaiveDate, days: u32) -> Clock {
        let day_prefixes = (0..days + 2)
            .map(|d| {
                let date = start + chrono::Duration::days(i64::from(d));
                let s = date.format("%Y-%m-%dT").to_string();
                let mut b = [0u8; 11];
                b.copy_from_slice(s.as_bytes());
                b
            })
            .collect();
        Clock { day_prefixes }
    }

    /// Writes the instant `day` + `ms` milliseconds (ms may exceed one day or be negative).
    pub fn write(&self, out: &mut Vec<u8>, day: u32, ms: i64) {
        let mut day = i64::from(day);
        let mut ms = ms;
        while ms < 0 {
            ms += 86_400_000;
            day -= 1;
        }
        day += ms / 86_400_000;
        ms %= 86_400_000;
        let day = day.clamp(0, self.day_prefixes.len() as i64 - 1) as usize;
        out.extend_from_slice(&self.day_prefixes[day]);
        let (h, rest) = (ms / 3_600_000, ms % 3_600_000);
        let (m, rest) = (rest / 60_000, rest % 60_000);
        let (s, milli) = (rest / 1000, rest % 1000);
        let two = |out: &mut Vec<u8>, v: i64| {
            out.push(b'0' + (v / 10) as u8);
            out.push(b'0' + (v % 10) as u8);
        };
        two(out, h);
        out.push(b':');
        two(out, m);
        out.push(b':');
        two(out, s);
        out.push(b'.');
        out.push(b'0' + (milli / 100) as u8);
        out.push(b'0' + (milli / 10 % 10) as u8);
        out.push(b'0' + (milli % 10) as u8);
        out.push(b'Z');
    }
}

/// One property value of a track or page call.
pub enum Prop<'a> {
    Str(&'a str),
    Id(&'a str, u64),
    Int(i64),
}

pub struct When {
    pub day: u32,
    /// Milliseconds of day on the device clock (true time plus the device's skew).
    pub device_ms: i64,
    /// Milliseconds between the call and its upload by the SDK.
    pub upload_delay_ms: i64,
}

fn write_hex16(out: &mut Vec<u8>, v: u64) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for i in (0..16).rev() {
        out.push(HEX[((v >> (i * 4)) & 0xf) as usize]);
    }
}

fn debug_check(s: &str) {
    debug_assert!(
        !s.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20),
        "simulator strings need no JSON escaping: {s:?}"
    );
}

fn head(out: &mut Vec<u8>, kind: &str, message_id: u64, user: &str) {
    debug_check(user);
    out.extend_from_slice(b"{\"type\":\"");
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(b"\",\"messageId\":\"");
    write_hex16(out, message_id);
    out.extend_from_slice(b"\",\"userId\":\"");
    out.extend_from_slice(user.as_bytes());
    out.push(b'"');
}

fn tail(out: &mut Vec<u8>, clock: &Clock, account: &str, when: &When) {
    debug_check(account);
    out.extend_from_slice(b",\"context\":{\"groupId\":\"");
    out.extend_from_slice(account.as_bytes());
    out.extend_from_slice(b"\"},\"timestamp\":\"");
    clock.write(out, when.day, when.device_ms);
    out.extend_from_slice(b"\",\"sentAt\":\"");
    clock.write(out, when.day, when.device_ms + when.upload_delay_ms);
    out.extend_from_slice(b"\"}\n");
}

fn props(out: &mut Vec<u8>, properties: &[(&str, Prop<'_>)]) {
    out.push(b'{');
    for (i, (k, v)) in properties.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'"');
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(b"\":");
        match v {
            Prop::Str(s) => {
                debug_check(s);
                out.push(b'"');
                out.extend_from_slice(s.as_bytes());
                out.push(b'"');
            }
            Prop::Id(prefix, n) => {
                out.push(b'"');
                out.extend_from_slice(prefix.as_bytes());
                let _ = write!(out, "{n}");
                out.push(b'"');
            }
            Prop::Int(n) => {
                let _ = write!(out, "{n}");
            }
        }
    }
    out.push(b'}');
}

#[allow(clippy::too_many_arguments)]
pub fn track(
    out: &mut Vec<u8>,
    clock: &Clock,
    message_id: u64,
    user: &str,
    account: &str,
    event: &str,
    properties: &[(&str, Prop<'_>)],
    when: &When,
) {
    head(out, "track", message_id, user);
    out.extend_from_slice(b",\"event\":\"");
    out.extend_from_slice(event.as_bytes());
    out.extend_from_slice(b"\",\"properties\":");
    props(out, properties);
    tail(out, clock, account, when);
}

#[allow(clippy::too_many_arguments)]
pub fn page(
    out: &mut Vec<u8>,
    clock: &Clock,
    message_id: u64,
    user: &str,
    account: &str,
    name: &str,
    path: &str,
    when: &When,
) {
    head(out, "page", message_id, user);
    out.extend_from_slice(b",\"name\":\"");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\",\"properties\":");
    props(out, &[("path", Prop::Str(path))]);
    tail(out, clock, account, when);
}

pub fn identify(
    out: &mut Vec<u8>,
    clock: &Clock,
    message_id: u64,
    user: &str,
    account: &str,
    traits: &[(&str, Prop<'_>)],
    when: &When,
) {
    head(out, "identify", message_id, user);
    out.extend_from_slice(b",\"traits\":");
    props(out, traits);
    tail(out, clock, account, when);
}

pub fn group(
    out: &mut Vec<u8>,
    clock: &Clock,
    message_id: u64,
    user: &str,
    account: &str,
    traits: &[(&str, Prop<'_>)],
    when: &When,
) {
    head(out, "group", message_id, user);
    out.extend_from_slice(b",\"groupId\":\"");
    out.extend_from_slice(account.as_bytes());
    out.extend_from_slice(b"\",\"traits\":");
    props(out, traits);
    tail(out, clock, account, when);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_are_rfc3339_and_roll_over_days() {
        let clock = Clock::new(chrono::NaiveDate::from_ymd_opt(2024, 2, 28).unwrap(), 5);
        let mut out = Vec::new();
        clock.write(&mut out, 1, 86_400_000 + 3_723_004);
        assert_eq!(String::from_utf8(out).unwrap(), "2024-03-01T01:02:03.004Z");
        let mut out = Vec::new();
        clock.write(&mut out, 1, -1);
        assert_eq!(String::from_utf8(out).unwrap(), "2024-02-28T23:59:59.999Z");
    }
}

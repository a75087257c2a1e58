//! The data-quality report: a fold over the event log's records, kept up to date as events
//! arrive, and read out against the tracking plan. It counts what was accepted per write key
//! (source) and per event name, what was rejected and why, duplicates, tracking-plan
//! violations (unknown events, undeclared, missing and mistyped properties), late and
//! future-dated events, client clock skew, and daily volume anomalies per source.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use tenure_domain::model::TrackingMode;
use tenure_domain::Timestamp;

use crate::logged::LogRecord;
use crate::segment::MessageType;
use crate::tracking::TrackingPlan;

/// An event that arrives more than this long after it happened is late (unless it was sent
/// to `/v1/import`, which is for history).
pub const LATE_AFTER_SECS: i64 = 24 * 3600;
/// An event dated more than this far after its arrival, even after skew correction, is
/// future-dated.
pub const FUTURE_AFTER_SECS: i64 = 5 * 60;
/// A sender whose clock is off by more than this is reported as skewed.
pub const SKEW_AFTER_SECS: i64 = 60;
/// Upper bounds (seconds) of the clock-skew histogram's buckets; the last is open.
pub const SKEW_BUCKETS: [i64; 7] = [1, 5, 60, 600, 3600, 86_400, 7 * 86_400];
/// A day's volume is anomalous when it is this many times above, or below, the same weekday's
/// median over the previous four weeks…
pub const ANOMALY_RATIO: f64 = 3.0;
/// …and that median is at least this many events (quieter sources are too noisy to judge).
pub const ANOMALY_MIN_EXPECTED: f64 = 20.0;

/// What one write key sent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SourceStats {
    pub accepted: u64,
    /// Of the accepted, sent to `/v1/import`.
    pub imported: u64,
    pub rejected: BTreeMap<String, u64>,
    pub duplicates: u64,
    pub flagged: u64,
    pub late: u64,
    pub future: u64,
    /// Messages that carried `sentAt`, so the sender's clock could be measured.
    pub skew_measured: u64,
    /// Counts of |sentAt − receivedAt| by `SKEW_BUCKETS`, the last bucket open-ended.
    pub skew_histogram: [u64; 8],
    pub first_received: Option<Timestamp>,
    pub last_received: Option<Timestamp>,
    /// Accepted events per day they happened (UTC).
    pub daily: BTreeMap<NaiveDate, u64>,
}

/// What arrived under one event name (`track` events by name; other calls as `$identify`,
/// `$group`, `$page`, `$screen`, `$alias`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EventStats {
    pub accepted: u64,
    pub rejected: u64,
    /// Accepted with at least one violation.
    pub flagged: u64,
    /// Violations by `code` and property (`""` when none), e.g. `mistyped_property`/`widgets`.
    pub violations: BTreeMap<String, BTreeMap<String, u64>>,
    pub first_seen: Option<Timestamp>,
    pub last_seen: Option<Timestamp>,
}

/// The running tally, folded record by record.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Quality {
    pub sources: BTreeMap<String, SourceStats>,
    pub events: BTreeMap<String, EventStats>,
}

/// The name an accepted message is counted under.
pub fn event_key(kind: MessageType, event: Option<&str>) -> String {
    match kind {
        MessageType::Track => event.unwrap_or_default().to_owned(),
        other => format!("${}", other.name()),
    }
}

fn skew_bucket(secs: i64) -> usize {
    SKEW_BUCKETS
        .iter()
        .position(|b| secs < *b)
        .unwrap_or(SKEW_BUCKETS.len())
}

impl Quality {
    /// Adds one log record to the tally.
    pub fn add(&mut self, record: &LogRecord) {
        if record.forgotten {
            return;
        }
        if !self.sources.contains_key(&record.write_key) {
            self.sources
                .insert(record.write_key.clone(), SourceStats::default());
        }
        let Some(source) = self.sources.get_mut(&record.write_key) else {
            return;
        };
        if let Some(r) = &record.rejected {
            *source.rejected.entry(r.code.clone()).or_default() += 1;
            seen(
                &mut source.first_received,
                &mut source.last_received,
                r.received_at,
            );
            if let Some(event) = &r.event {
                self.events.entry(event.clone()).or_default().rejected += 1;
            }
            return;
        }
        if let Some(d) = &record.duplicate {
            source.duplicates += 1;
            seen(
                &mut source.first_received,
                &mut source.last_received,
                d.received_at,
            );
            return;
        }
        let Some(m) = &record.message else { return };
        source.accepted += 1;
        seen(
            &mut source.first_received,
            &mut source.last_received,
            m.received_at,
        );
        if record.import {
            source.imported += 1;
        }
        let age = (m.received_at - m.timestamp).num_seconds();
        if !record.import && age > LATE_AFTER_SECS {
            source.late += 1;
        }
        if -age > FUTURE_AFTER_SECS {
            source.future += 1;
        }
        // History sent to /v1/import was not sent now: its `sentAt` says nothing of a clock.
        if let Some(sent) = m.sent_at.filter(|_| !record.import) {
            let skew = (sent - m.received_at).num_seconds().abs();
            source.skew_measured += 1;
            source.skew_histogram[skew_bucket(skew)] += 1;
        }
        *source
            .daily
            .entry(m.timestamp.naive_utc().date())
            .or_default() += 1;
        if !record.violations.is_empty() {
            source.flagged += 1;
        }
        let key: std::borrow::Cow<'_, str> = match m.kind {
            MessageType::Track => m.event.as_deref().unwrap_or_default().into(),
            other => event_key(other, None).into(),
        };
        if !self.events.contains_key(key.as_ref()) {
            self.events.insert(key.to_string(), EventStats::default());
        }
        let Some(stats) = self.events.get_mut(key.as_ref()) else {
            return;
        };
        stats.accepted += 1;
        seen(&mut stats.first_seen, &mut stats.last_seen, m.timestamp);
        if !record.violations.is_empty() {
            stats.flagged += 1;
        }
        for v in &record.violations {
            *stats
                .violations
                .entry(v.code.clone())
                .or_default()
                .entry(v.property.clone().unwrap_or_default())
                .or_default() += 1;
        }
    }

    /// The report, judged against `plan`, with volume anomalies up to `now`.
    pub fn report(&self, plan: &TrackingPlan, now: Timestamp) -> Report {
        let mut totals = Totals::default();
        let mut sources = Vec::new();
        let mut anomalies = Vec::new();
        for (key, s) in &self.sources {
            let rejected: u64 = s.rejected.values().sum();
            totals.accepted += s.accepted;
            totals.imported += s.imported;
            totals.rejected += rejected;
            totals.duplicates += s.duplicates;
            totals.flagged += s.flagged;
            totals.late += s.late;
            totals.future += s.future;
            let skewed: u64 = s.skew_histogram[skew_bucket(SKEW_AFTER_SECS)..]
                .iter()
                .sum();
            totals.skewed += skewed;
            anomalies.extend(volume_anomalies(key, &s.daily, now.naive_utc().date()));
            sources.push(SourceReport {
                write_key: key.clone(),
                accepted: s.accepted,
                imported: s.imported,
                rejected,
                rejected_by_code: s.rejected.clone(),
                duplicates: s.duplicates,
                flagged: s.flagged,
                late: s.late,
                future: s.future,
                clock_skew: SkewReport {
                    measured: s.skew_measured,
                    beyond_tolerance: skewed,
                    median_below_secs: quantile_bound(&s.skew_histogram, 0.5),
                    p95_below_secs: quantile_bound(&s.skew_histogram, 0.95),
                },
                first_received: s.first_received,
                last_received: s.last_received,
                days: s.daily.len() as u64,
            });
        }
        let mut events = Vec::new();
        let mut unknown_events = Vec::new();
        let mut property_issues = Vec::new();
        for (name, e) in &self.events {
            let declared = name.starts_with('$') || plan.declares(name);
            if !declared {
                unknown_events.push(NameCount {
                    event: name.clone(),
                    count: e.accepted + e.rejected,
                });
            }
            for (code, by_property) in &e.violations {
                for (property, count) in by_property {
                    if !property.is_empty() {
                        property_issues.push(PropertyIssue {
                            event: name.clone(),
                            property: property.clone(),
                            code: code.clone(),
                            count: *count,
                        });
                    }
                }
            }
            events.push(EventReport {
                event: name.clone(),
                declared,
                accepted: e.accepted,
                rejected: e.rejected,
                flagged: e.flagged,
                first_seen: e.first_seen,
                last_seen: e.last_seen,
            });
        }
        unknown_events.sort_by(|a, b| b.count.cmp(&a.count).then(a.event.cmp(&b.event)));
        property_issues.sort_by(|a, b| b.count.cmp(&a.count).then(a.event.cmp(&b.event)));
        anomalies.sort_by(|a, b| b.date.cmp(&a.date).then(a.write_key.cmp(&b.write_key)));
        Report {
            generated_at: now,
            mode: plan.mode,
            totals,
            sources,
            events,
            unknown_events,
            property_issues,
            anomalies,
        }
    }
}

fn seen(first: &mut Option<Timestamp>, last: &mut Option<Timestamp>, at: Timestamp) {
    if first.is_none_or(|f| at < f) {
        *first = Some(at);
    }
    if last.is_none_or(|l| at > l) {
        *last = Some(at);
    }
}

/// The bucket bound below which at least `q` of the measurements fall (`None`: open bucket).
fn quantile_bound(histogram: &[u64; 8], q: f64) -> Option<i64> {
    let total: u64 = histogram.iter().sum();
    if total == 0 {
        return None;
    }
    let mut running = 0;
    for (i, count) in histogram.iter().enumerate() {
        running += count;
        if running as f64 >= q * total as f64 {
            return SKEW_BUCKETS.get(i).copied();
        }
    }
    None
}

/// Days on which a source's volume left its usual range: compared with the median of the same
/// weekday in the four weeks before (so weekly rhythm is not an anomaly), a day `ANOMALY_RATIO`
/// times higher is a spike and that many times lower a drop. A source that stopped sending
/// before yesterday is reported once as silent.
pub fn volume_anomalies(
    write_key: &str,
    daily: &BTreeMap<NaiveDate, u64>,
    today: NaiveDate,
) -> Vec<Anomaly> {
    let mut out = Vec::new();
    let (Some(first), Some(last)) = (daily.keys().next(), daily.keys().next_back()) else {
        return out;
    };
    let count = |d: NaiveDate| daily.get(&d).copied().unwrap_or(0);
    let expected = |d: NaiveDate| {
        let mut same_weekday: Vec<u64> = (1..=4)
            .map(|w| count(d - chrono::Duration::weeks(w)))
            .collect();
        same_weekday.sort_unstable();
        (same_weekday[1] + same_weekday[2]) as f64 / 2.0
    };
    let mut day = *first + chrono::Duration::weeks(4);
    while day <= *last {
        let e = expected(day);
        let c = count(day) as f64;
        if e >= ANOMALY_MIN_EXPECTED {
            let kind = if c >= e * ANOMALY_RATIO {
                Some(AnomalyKind::Spike)
            } else if c * ANOMALY_RATIO <= e {
                Some(AnomalyKind::Drop)
            } else {
                None
            };
            if let Some(kind) = kind {
                out.push(Anomaly {
                    write_key: write_key.to_owned(),
                    date: day,
                    weekday: day.weekday().to_string(),
                    count: c as u64,
                    expected: e,
                    kind,
                });
            }
        }
        day += chrono::Duration::days(1);
    }
    let silent_from = *last + chrono::Duration::days(1);
    if silent_from < today - chrono::Duration::days(1) {
        let e = expected(silent_from);
        if e >= ANOMALY_MIN_EXPECTED {
            out.push(Anomaly {
                write_key: write_key.to_owned(),
                date: silent_from,
                weekday: silent_from.weekday().to_string(),
                count: 0,
                expected: e,
                kind: AnomalyKind::Silent,
            });
        }
    }
    out
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    pub accepted: u64,
    pub imported: u64,
    pub rejected: u64,
    pub duplicates: u64,
    pub flagged: u64,
    pub late: u64,
    pub future: u64,
    pub skewed: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SkewReport {
    /// Messages that carried `sentAt`.
    pub measured: u64,
    /// Of those, off by more than a minute.
    pub beyond_tolerance: u64,
    /// Half the measured clocks are off by less than this many seconds (`null`: more than a
    /// week, or nothing measured).
    pub median_below_secs: Option<i64>,
    pub p95_below_secs: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceReport {
    /// The write key's id.
    pub write_key: String,
    pub accepted: u64,
    pub imported: u64,
    pub rejected: u64,
    pub rejected_by_code: BTreeMap<String, u64>,
    pub duplicates: u64,
    pub flagged: u64,
    pub late: u64,
    pub future: u64,
    pub clock_skew: SkewReport,
    pub first_received: Option<Timestamp>,
    pub last_received: Option<Timestamp>,
    /// Days with at least one event.
    pub days: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventReport {
    pub event: String,
    /// In the tracking plan (`$`-names are Segment's calls other than `track`).
    pub declared: bool,
    pub accepted: u64,
    pub rejected: u64,
    pub flagged: u64,
    pub first_seen: Option<Timestamp>,
    pub last_seen: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NameCount {
    pub event: String,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PropertyIssue {
    pub event: String,
    pub property: String,
    /// `undeclared_property`, `missing_property` or `mistyped_property`.
    pub code: String,
    pub count: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnomalyKind {
    Spike,
    Drop,
    Silent,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Anomaly {
    pub write_key: String,
    pub date: NaiveDate,
    pub weekday: String,
    pub count: u64,
    /// The median of the same weekday over the four weeks before.
    pub expected: f64,
    pub kind: AnomalyKind,
}

/// The data-quality report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub generated_at: Timestamp,
    pub mode: TrackingMode,
    pub totals: Totals,
    pub sources: Vec<SourceReport>,
    pub events: Vec<EventReport>,
    pub unknown_events: Vec<NameCount>,
    pub property_issues: Vec<PropertyIssue>,
    pub anomalies: Vec<Anomaly>,
}

impl Report {
    /// The report as text for a terminal.
    pub fn render(&self) -> String {
        use std::fmt::Write as _;
        let mut o = String::new();
        let t = &self.totals;
        let mode = match self.mode {
            TrackingMode::Allow => "allow",
            TrackingMode::Flag => "flag",
            TrackingMode::Reject => "reject",
        };
        let _ = writeln!(o, "Data quality (tracking plan mode: {mode})");
        let _ = writeln!(
            o,
            "  accepted {}  (imported {})  rejected {}  duplicates {}  flagged {}  late {}  future-dated {}  clock-skewed {}",
            t.accepted, t.imported, t.rejected, t.duplicates, t.flagged, t.late, t.future, t.skewed
        );
        let _ = writeln!(o);
        let _ = writeln!(o, "Sources (write keys)");
        for s in &self.sources {
            let skew = if s.clock_skew.measured == 0 {
                "clock skew not measured (no sentAt outside /v1/import)".to_owned()
            } else {
                format!(
                    "clock skew median <{} p95 <{} ({} beyond a minute)",
                    bound(s.clock_skew.median_below_secs),
                    bound(s.clock_skew.p95_below_secs),
                    s.clock_skew.beyond_tolerance
                )
            };
            let _ = writeln!(
                o,
                "  {:<20} accepted {:>10}  rejected {:>7}  duplicates {:>7}  late {:>7}  future {:>5}  {skew}",
                s.write_key, s.accepted, s.rejected, s.duplicates, s.late, s.future,
            );
            for (code, n) in &s.rejected_by_code {
                let _ = writeln!(o, "  {:<20}   rejected {n:>8} × {code}", "");
            }
        }
        let _ = writeln!(o);
        let _ = writeln!(o, "Events");
        for e in &self.events {
            let _ = writeln!(
                o,
                "  {:<28} {:>11} accepted {:>8} rejected {:>8} flagged{}",
                e.event,
                e.accepted,
                e.rejected,
                e.flagged,
                if e.declared {
                    ""
                } else {
                    "  (not in the tracking plan)"
                }
            );
        }
        if !self.unknown_events.is_empty() {
            let _ = writeln!(o);
            let _ = writeln!(o, "Unknown events");
            for u in &self.unknown_events {
                let _ = writeln!(o, "  {:<28} {:>11}", u.event, u.count);
            }
        }
        if !self.property_issues.is_empty() {
            let _ = writeln!(o);
            let _ = writeln!(o, "Property issues");
            for p in &self.property_issues {
                let _ = writeln!(
                    o,
                    "  {:<28} {:<20} {:<20} {:>9}",
                    p.event, p.property, p.code, p.count
                );
            }
        }
        let _ = writeln!(o);
        if self.anomalies.is_empty() {
            let _ = writeln!(o, "Volume anomalies: none");
        } else {
            let _ = writeln!(
                o,
                "Volume anomalies ({}, newest first)",
                self.anomalies.len()
            );
            for a in self.anomalies.iter().take(20) {
                let _ = writeln!(
                    o,
                    "  {} {} {:<20} {:?}: {} events, usually {:.0}",
                    a.date, &a.weekday, a.write_key, a.kind, a.count, a.expected
                );
            }
        }
        o
    }
}

fn bound(b: Option<i64>) -> String {
    match b {
        None => "∞".to_owned(),
        Some(s) if s < 60 => format!("{s}s"),
        Some(s) if s < 3600 => format!("{}m", s / 60),
        Some(s) if s < 86_400 => format!("{}h", s / 3600),
        Some(s) => format!("{}d", s / 86_400),
    }
}

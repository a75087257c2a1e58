//! Customer experience per period: NPS, CSAT and CES from survey responses; ticket volume,
//! resolution time and ticket CSAT from tickets (see docs/metrics.md).

use chrono::{Datelike, NaiveDate};
use serde::Serialize;
use tenure_domain::{Account, SurveyResponse, SurveyScore, Ticket};

use crate::directory::Directory;
use crate::period::{spans, Span};
use crate::report::GroupBy;
use tenure_domain::model::Period;

struct Answer {
    account: u32,
    day: NaiveDate,
    score: SurveyScore,
}

struct Resolution {
    account: u32,
    day: NaiveDate,
    hours: f64,
    csat: Option<u8>,
}

/// Survey answers and tickets with each account's attributes, each list in date order so a
/// period reads only its own slice.
pub struct ExperienceData {
    accounts: Directory,
    answers: Vec<Answer>,
    /// (opened, account) of every ticket.
    opened: Vec<(NaiveDate, u32)>,
    /// Tickets resolved at a known time.
    resolved: Vec<Resolution>,
}

/// A calendar month as a number.
fn month_key(d: NaiveDate) -> i32 {
    d.year() * 12 + d.month0() as i32
}

/// The slice of `v` (sorted by `day`) whose days fall in `from ..= to`.
fn slice<T>(v: &[T], day: impl Fn(&T) -> NaiveDate, from: NaiveDate, to: NaiveDate) -> &[T] {
    let lo = v.partition_point(|x| day(x) < from);
    let hi = v.partition_point(|x| day(x) <= to);
    &v[lo..hi.max(lo)]
}

/// One period's (and group's) experience figures; `None` where nothing was measured.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ExperienceRow {
    pub period: String,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Promoters (9–10) minus detractors (0–6), as a percentage of NPS answers: −100…100.
    pub nps: Option<f64>,
    pub nps_responses: u64,
    pub promoters: u64,
    pub passives: u64,
    pub detractors: u64,
    /// Mean CSAT answer (1–5) and the share of answers of 4 or 5.
    pub csat: Option<f64>,
    pub csat_satisfied: Option<f64>,
    pub csat_responses: u64,
    /// Mean CES answer (1–7; higher = easier).
    pub ces: Option<f64>,
    pub ces_responses: u64,
    pub tickets_opened: u64,
    pub tickets_resolved: u64,
    /// Hours from opening to resolution of the tickets resolved in the period.
    pub resolution_hours_median: Option<f64>,
    pub resolution_hours_p90: Option<f64>,
    /// Mean ticket CSAT (1–5) of the tickets resolved in the period.
    pub ticket_csat: Option<f64>,
}

/// The nearest-rank percentile `p` (0–100) of sorted values: the smallest value with at
/// least p % of the values at or below it.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted.get(rank.min(sorted.len()) - 1).copied()
}

/// `x` as a key whose unsigned order is `f64::total_cmp`'s order.
fn order_key(x: f64) -> u64 {
    let b = x.to_bits();
    if b >> 63 == 1 {
        !b
    } else {
        b | 1 << 63
    }
}

fn from_order_key(k: u64) -> f64 {
    f64::from_bits(if k >> 63 == 1 { k & !(1 << 63) } else { !k })
}

/// The nearest-rank percentile `p` (0–100) of the union of `runs`, each sorted by
/// `f64::total_cmp`: a bisection over the values' order keys, counting with binary searches,
/// so nothing is merged or copied.
pub fn percentile_of_runs(runs: &[&[f64]], p: f64) -> Option<f64> {
    let n: usize = runs.iter().map(|r| r.len()).sum();
    if n == 0 {
        return None;
    }
    let k = (((p / 100.0) * n as f64).ceil().max(1.0) as usize).min(n);
    let (mut lo, mut hi) = (u64::MAX, 0);
    for r in runs.iter().filter(|r| !r.is_empty()) {
        lo = lo.min(order_key(r[0]));
        hi = hi.max(order_key(r[r.len() - 1]));
    }
    // The smallest key with at least k values at or below it is a value's key.
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let at_or_below: usize = runs
            .iter()
            .map(|r| r.partition_point(|x| order_key(*x) <= mid))
            .sum();
        if at_or_below >= k {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    Some(from_order_key(lo))
}

#[derive(Default)]
struct Tally {
    promoters: u64,
    passives: u64,
    detractors: u64,
    csat_sum: u64,
    csat_n: u64,
    csat_satisfied: u64,
    ces_sum: u64,
    ces_n: u64,
    opened: u64,
    resolved: u64,
    ticket_csat_sum: u64,
    ticket_csat_n: u64,
}

fn ratio(sum: u64, n: u64) -> Option<f64> {
    (n > 0).then(|| sum as f64 / n as f64)
}

impl Tally {
    fn is_empty(&self) -> bool {
        self.promoters
            + self.passives
            + self.detractors
            + self.csat_n
            + self.ces_n
            + self.opened
            + self.resolved
            == 0
    }

    fn add(&mut self, o: &Tally) {
        self.promoters += o.promoters;
        self.passives += o.passives;
        self.detractors += o.detractors;
        self.csat_sum += o.csat_sum;
        self.csat_n += o.csat_n;
        self.csat_satisfied += o.csat_satisfied;
        self.ces_sum += o.ces_sum;
        self.ces_n += o.ces_n;
        self.opened += o.opened;
        self.resolved += o.resolved;
        self.ticket_csat_sum += o.ticket_csat_sum;
        self.ticket_csat_n += o.ticket_csat_n;
    }

    /// The row of the tally, whose resolution hours are `hours` (sorted runs).
    fn row(&self, span: &Span, group: Option<String>, hours: &[&[f64]]) -> ExperienceRow {
        let nps_n = self.promoters + self.passives + self.detractors;
        ExperienceRow {
            period: span.label.clone(),
            from: Some(span.from),
            to: Some(span.to),
            group,
            nps: (nps_n > 0)
                .then(|| (self.promoters as f64 - self.detractors as f64) * 100.0 / nps_n as f64),
            nps_responses: nps_n,
            promoters: self.promoters,
            passives: self.passives,
            detractors: self.detractors,
            csat: ratio(self.csat_sum, self.csat_n),
            csat_satisfied: ratio(self.csat_satisfied, self.csat_n),
            csat_responses: self.csat_n,
            ces: ratio(self.ces_sum, self.ces_n),
            ces_responses: self.ces_n,
            tickets_opened: self.opened,
            tickets_resolved: self.resolved,
            resolution_hours_median: percentile_of_runs(hours, 50.0),
            resolution_hours_p90: percentile_of_runs(hours, 90.0),
            ticket_csat: ratio(self.ticket_csat_sum, self.ticket_csat_n),
        }
    }
}

impl ExperienceData {
    /// The accounts and their attributes, to set the groupings the records do not carry.
    pub fn directory_mut(&mut self) -> &mut Directory {
        &mut self.accounts
    }

    pub fn new(
        accounts: &[Account],
        surveys: &[SurveyResponse],
        tickets: &[Ticket],
    ) -> ExperienceData {
        let mut dir = Directory::new(accounts);
        let mut answers: Vec<Answer> = surveys
            .iter()
            .map(|s| Answer {
                account: dir.id(s.account.as_str()),
                day: s.responded_at.date_naive(),
                score: s.score,
            })
            .collect();
        answers.sort_by_key(|a| a.day);
        let mut opened = Vec::with_capacity(tickets.len());
        let mut resolved = Vec::new();
        for t in tickets {
            let account = dir.id(t.account.as_str());
            opened.push((t.opened_at.date_naive(), account));
            if let Some(r) = t.resolved_at {
                resolved.push(Resolution {
                    account,
                    day: r.date_naive(),
                    hours: (r - t.opened_at).num_seconds().max(0) as f64 / 3600.0,
                    csat: t.csat,
                });
            }
        }
        opened.sort_unstable();
        // By month, then by hours: a month's resolutions of any group, filtered in order, are
        // a sorted run.
        resolved.sort_by(|a, b| {
            (month_key(a.day), a.hours.to_bits()).cmp(&(month_key(b.day), b.hours.to_bits()))
        });
        ExperienceData {
            accounts: dir,
            answers,
            opened,
            resolved,
        }
    }

    /// One row per period of `kind` ending in `from ..= to` (and per group, with `by`).
    pub fn experience(
        &self,
        kind: Period,
        from: NaiveDate,
        to: NaiveDate,
        by: Option<GroupBy>,
    ) -> Vec<ExperienceRow> {
        let (ids, names) = match by {
            Some(by) => self.accounts.group_ids(by),
            None => (Vec::new(), Vec::new()),
        };
        let key = |a: u32| -> u32 {
            if by.is_some() {
                ids.get(a as usize).copied().unwrap_or(0)
            } else {
                0
            }
        };
        let spans = spans(kind, from, to);
        let (Some(first), Some(last)) = (
            spans.iter().map(|s| s.from).min(),
            spans.iter().map(|s| s.to).max(),
        ) else {
            return Vec::new();
        };
        // One pass over the data the periods cover, into per-month, per-group blocks; each
        // period then adds up its months' blocks.
        let m0 = month_key(first);
        let months = (month_key(last) - m0 + 1) as usize;
        let groups = names.len().max(1);
        let mut blocks: Vec<Tally> = Vec::new();
        blocks.resize_with(months * groups, Tally::default);
        let mut hours: Vec<Vec<f64>> = vec![Vec::new(); months * groups];
        let at = |day: NaiveDate, account: u32| -> usize {
            (month_key(day) - m0) as usize * groups + key(account) as usize
        };
        for a in slice(&self.answers, |a| a.day, first, last) {
            let t = &mut blocks[at(a.day, a.account)];
            match a.score {
                SurveyScore::Nps(s) if s >= 9 => t.promoters += 1,
                SurveyScore::Nps(s) if s >= 7 => t.passives += 1,
                SurveyScore::Nps(_) => t.detractors += 1,
                SurveyScore::Csat(s) => {
                    t.csat_sum += s as u64;
                    t.csat_n += 1;
                    t.csat_satisfied += (s >= 4) as u64;
                }
                SurveyScore::Ces(s) => {
                    t.ces_sum += s as u64;
                    t.ces_n += 1;
                }
            }
        }
        for (day, account) in slice(&self.opened, |o| o.0, first, last) {
            blocks[at(*day, *account)].opened += 1;
        }
        let lo = self
            .resolved
            .partition_point(|r| month_key(r.day) < month_key(first));
        let hi = self
            .resolved
            .partition_point(|r| month_key(r.day) <= month_key(last));
        for r in &self.resolved[lo..hi.max(lo)] {
            let i = at(r.day, r.account);
            let t = &mut blocks[i];
            t.resolved += 1;
            if let Some(c) = r.csat {
                t.ticket_csat_sum += c as u64;
                t.ticket_csat_n += 1;
            }
            hours[i].push(r.hours);
        }
        let mut rows = Vec::new();
        for span in &spans {
            let (a, b) = (
                (month_key(span.from) - m0) as usize,
                (month_key(span.to) - m0) as usize,
            );
            for g in 0..groups {
                let mut t = Tally::default();
                let mut runs: Vec<&[f64]> = Vec::with_capacity(b - a + 1);
                for m in a..=b {
                    t.add(&blocks[m * groups + g]);
                    runs.push(&hours[m * groups + g]);
                }
                match by {
                    None => rows.push(t.row(span, None, &runs)),
                    Some(_) if !t.is_empty() => {
                        rows.push(t.row(span, Some(names[g].to_owned()), &runs))
                    }
                    Some(_) => {}
                }
            }
        }
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tenure_domain::{AccountId, SurveyResponseId, TicketId, TicketPriority, TicketStatus};

    fn at(s: &str) -> tenure_domain::Timestamp {
        chrono::DateTime::parse_from_rfc3339(s).unwrap()
    }

    #[test]
    fn a_quarter_of_answers_and_tickets_by_hand() {
        let survey = |n: u32, day: &str, score: SurveyScore| SurveyResponse {
            id: SurveyResponseId::parse(format!("s{n}")).unwrap(),
            account: AccountId::parse("a").unwrap(),
            contact: None,
            responded_at: at(day),
            score,
            comment: None,
        };
        let ticket = |n: u32, opened: &str, resolved: Option<&str>, csat: Option<u8>| Ticket {
            id: TicketId::parse(format!("t{n}")).unwrap(),
            account: AccountId::parse("a").unwrap(),
            contact: None,
            subject: None,
            opened_at: at(opened),
            resolved_at: resolved.map(at),
            priority: TicketPriority::Normal,
            status: if resolved.is_some() {
                TicketStatus::Solved
            } else {
                TicketStatus::Open
            },
            csat,
            category: None,
        };
        let surveys = [
            survey(1, "2026-01-10T10:00:00Z", SurveyScore::Nps(10)),
            survey(2, "2026-02-10T10:00:00Z", SurveyScore::Nps(9)),
            survey(3, "2026-02-11T10:00:00Z", SurveyScore::Nps(8)),
            survey(4, "2026-03-01T10:00:00Z", SurveyScore::Nps(3)),
            survey(5, "2026-03-02T10:00:00Z", SurveyScore::Csat(5)),
            survey(6, "2026-03-03T10:00:00Z", SurveyScore::Csat(3)),
            survey(7, "2026-03-04T10:00:00Z", SurveyScore::Ces(6)),
            // Next quarter: not counted.
            survey(8, "2026-04-01T00:00:00Z", SurveyScore::Nps(0)),
        ];
        let tickets = [
            ticket(
                1,
                "2026-01-05T08:00:00Z",
                Some("2026-01-05T20:00:00Z"),
                Some(4),
            ),
            ticket(
                2,
                "2025-12-30T00:00:00Z",
                Some("2026-01-02T00:00:00Z"),
                None,
            ),
            ticket(3, "2026-03-30T00:00:00Z", None, None),
            ticket(
                4,
                "2026-02-01T00:00:00Z",
                Some("2026-02-01T02:00:00Z"),
                Some(2),
            ),
        ];
        let data = ExperienceData::new(&[], &surveys, &tickets);
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        let rows = data.experience(Period::Quarter, d("2026-01-01"), d("2026-03-31"), None);
        assert_eq!(rows.len(), 1);
        let r = &rows[0];
        assert_eq!((r.promoters, r.passives, r.detractors), (2, 1, 1));
        assert_eq!(r.nps, Some(25.0));
        assert_eq!(
            (r.csat, r.csat_satisfied, r.csat_responses),
            (Some(4.0), Some(0.5), 2)
        );
        assert_eq!((r.ces, r.ces_responses), (Some(6.0), 1));
        // Opened in the quarter: tickets 1, 3, 4; resolved in it: 1 (12 h), 2 (72 h), 4 (2 h).
        assert_eq!((r.tickets_opened, r.tickets_resolved), (3, 3));
        assert_eq!(r.resolution_hours_median, Some(12.0));
        assert_eq!(r.resolution_hours_p90, Some(72.0));
        assert_eq!(r.ticket_csat, Some(3.0));
    }

    #[test]
    fn nearest_rank_percentiles() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0];
        assert_eq!(percentile(&v, 50.0), Some(5.0));
        assert_eq!(percentile(&v, 90.0), Some(9.0));
        assert_eq!(percentile(&v, 100.0), Some(10.0));
        assert_eq!(percentile(&[4.0], 90.0), Some(4.0));
        assert_eq!(percentile(&[], 50.0), None);
    }
}

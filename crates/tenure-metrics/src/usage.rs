//! Product usage per period: DAU, WAU, MAU and stickiness from product events, and the
//! journey figures of the accounts that signed up in the period (time to first value,
//! activation and habit rates). Definitions in docs/metrics.md.
//!
//! Activity is folded day by day (`ActivityFold`) into per-account monthly sums of each day's
//! daily, weekly and monthly active users, so any period made of whole months, and any
//! grouping of accounts, is a sum: users belong to one account, so distinct-user counts add
//! across accounts.

use std::collections::BTreeMap;
use std::hash::BuildHasher;

use chrono::{Datelike, Days, NaiveDate};
use serde::Serialize;
use tenure_domain::model::Period;

use crate::directory::Directory;
use crate::experience::percentile;
use crate::period::{spans, Span};
use crate::report::GroupBy;

/// A fast, fixed-seed hasher: user ids are hashed to 64 bits once per event.
type Fast = foldhash::fast::FixedState;

/// Days a user stays weekly active after an active day (the day included).
pub const WEEK: i32 = 7;
/// Days a user stays monthly active after an active day (the day included).
pub const MONTH: i32 = 30;

/// A calendar month as a number: year × 12 + month − 1.
fn month_key(d: NaiveDate) -> i32 {
    d.year() * 12 + d.month0() as i32
}

fn month_start(key: i32) -> NaiveDate {
    NaiveDate::from_ymd_opt(key.div_euclid(12), key.rem_euclid(12) as u32 + 1, 1)
        .unwrap_or(NaiveDate::MIN)
}

/// One account's activity in one month: the sums over the month's days of its daily, weekly
/// and monthly active users, and its days with any product event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MonthActivity {
    pub month: i32,
    pub account: u32,
    pub dau_days: u64,
    pub wau_days: u64,
    pub mau_days: u64,
    pub active_days: u32,
}

/// One account's trailing window of users by their last active day.
#[derive(Clone, Default)]
struct Window {
    /// Users whose last active day is `day`, at `day % MONTH`.
    last: [u32; MONTH as usize],
    wau: u32,
    mau: u32,
    active_today: bool,
    live: bool,
    /// The running month's sums.
    month: MonthActivity,
    /// The account's users (a 64-bit hash of the id) with their last active day (days from
    /// the common era), sorted by hash: kept beside the window, so an event touches one
    /// account's memory.
    users: Vec<(u64, i32)>,
}

/// Folds product events, given in day order (any order within a day), into monthly activity.
#[derive(Default)]
pub struct ActivityFold {
    windows: Vec<Window>,
    /// Accounts with a user active in the last `MONTH` days or a running month to close.
    live: Vec<u32>,
    /// The day being filled; days before it are closed.
    day: Option<i32>,
    months: Vec<MonthActivity>,
    /// Days closed, per month.
    observed: BTreeMap<i32, u32>,
    /// Events on a day already closed (out of order), not counted.
    pub late: u64,
}

fn ce(d: NaiveDate) -> i32 {
    d.num_days_from_ce()
}

fn date_of(ce: i32) -> NaiveDate {
    NaiveDate::from_num_days_from_ce_opt(ce).unwrap_or(NaiveDate::MIN)
}

impl ActivityFold {
    pub fn new() -> ActivityFold {
        ActivityFold::default()
    }

    /// A product event of `account`'s `user` (user id, else anonymous id; `None` counts the
    /// account active without a user) on `day`.
    pub fn event(&mut self, account: u32, user: Option<&str>, day: NaiveDate) {
        let d = ce(day);
        match self.day {
            Some(cur) if d < cur => {
                self.late += 1;
                return;
            }
            Some(cur) if d > cur => self.close_until(d),
            None => self.day = Some(d),
            _ => {}
        }
        let a = account as usize;
        if self.windows.len() <= a {
            self.windows.resize_with(a + 1, Window::default);
        }
        let w = &mut self.windows[a];
        if !w.live {
            w.live = true;
            w.month.account = account;
            w.month.month = month_key(day);
            self.live.push(account);
        }
        w.active_today = true;
        let Some(user) = user else { return };
        let h = Fast::default().hash_one(user);
        let prev = match w.users.binary_search_by_key(&h, |u| u.0) {
            Ok(i) => std::mem::replace(&mut w.users[i].1, d),
            Err(i) => {
                w.users.insert(i, (h, d));
                i32::MIN
            }
        };
        if prev == d {
            return;
        }
        let age = d.saturating_sub(prev);
        if age < MONTH {
            w.last[prev.rem_euclid(MONTH) as usize] -= 1;
        } else {
            w.mau += 1;
        }
        if age >= WEEK {
            w.wau += 1;
        }
        w.last[d.rem_euclid(MONTH) as usize] += 1;
    }

    /// Closes every day before `until`: each live account's day adds to its month.
    fn close_until(&mut self, until: i32) {
        let Some(mut d) = self.day else {
            self.day = Some(until);
            return;
        };
        while d < until {
            let month = month_key(date_of(d));
            *self.observed.entry(month).or_default() += 1;
            let next_month = month_key(date_of(d + 1));
            let windows = &mut self.windows;
            let months = &mut self.months;
            self.live.retain(|&a| {
                let w = &mut windows[a as usize];
                let m = &mut w.month;
                m.dau_days += u64::from(w.last[d.rem_euclid(MONTH) as usize]);
                m.wau_days += u64::from(w.wau);
                m.mau_days += u64::from(w.mau);
                m.active_days += u32::from(w.active_today);
                w.active_today = false;
                // Users last active WEEK − 1 and MONTH − 1 days ago leave the windows
                // tomorrow.
                w.wau -= w.last[(d - (WEEK - 1)).rem_euclid(MONTH) as usize];
                let leaving = (d - (MONTH - 1)).rem_euclid(MONTH) as usize;
                w.mau -= w.last[leaving];
                w.last[leaving] = 0;
                if next_month != month {
                    if *m
                        != (MonthActivity {
                            month,
                            account: a,
                            ..Default::default()
                        })
                    {
                        months.push(*m);
                    }
                    *m = MonthActivity {
                        month: next_month,
                        account: a,
                        ..Default::default()
                    };
                }
                // An account with no user in the monthly window leaves the live list; its
                // running month closes (it opens a new one when it is active again).
                let keep = w.mau > 0;
                if !keep {
                    w.live = false;
                    if m.dau_days + m.wau_days + m.mau_days + u64::from(m.active_days) > 0 {
                        months.push(*m);
                    }
                    *m = MonthActivity::default();
                }
                keep
            });
            d += 1;
        }
        self.day = Some(until);
    }

    /// Closes every day up to and including `last` and returns the activity: every account's
    /// months, in month order, and the days observed per month (from the first event's day).
    pub fn finish(mut self, last: NaiveDate) -> Activity {
        if self.day.is_some() {
            self.close_until(ce(last) + 1);
        }
        // Months still running at `last` close partially.
        for &a in &self.live {
            let m = self.windows[a as usize].month;
            if m.dau_days + m.wau_days + m.mau_days + u64::from(m.active_days) > 0 {
                self.months.push(m);
            }
        }
        self.months.sort_by_key(|m| (m.month, m.account));
        Activity::new(self.months, self.observed, self.late)
    }
}

/// Folded activity: per account and month, and the days observed per month.
#[derive(Debug, Clone, Default)]
pub struct Activity {
    /// By month, then account.
    pub months: Vec<MonthActivity>,
    pub observed: BTreeMap<i32, u32>,
    pub late: u64,
    /// (account, month) of every month with a product event, by account then month.
    active: Vec<(u32, i32)>,
}

impl Activity {
    pub fn new(months: Vec<MonthActivity>, observed: BTreeMap<i32, u32>, late: u64) -> Activity {
        let mut active: Vec<(u32, i32)> = months
            .iter()
            .filter(|m| m.active_days > 0)
            .map(|m| (m.account, m.month))
            .collect();
        active.sort_unstable();
        active.dedup();
        Activity {
            months,
            observed,
            late,
            active,
        }
    }
}

/// One account's journey dates, as the success model's milestones define them.
#[derive(Debug, Clone, PartialEq)]
pub struct JourneyFacts {
    pub account: String,
    pub signed_up_on: Option<NaiveDate>,
    pub activated_on: Option<NaiveDate>,
    pub habit_on: Option<NaiveDate>,
    /// Days from sign-up (or the first product event) to the first-value milestone.
    pub time_to_first_value_days: Option<i64>,
}

/// How long after sign-up activation and habit count as "in time" (the milestones'
/// `expected_within_days`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Windows {
    pub activation_days: u32,
    pub habit_days: u32,
}

struct Journey {
    account: u32,
    signed_up: NaiveDate,
    activated: Option<NaiveDate>,
    habit: Option<NaiveDate>,
    ttfv: Option<i64>,
}

/// Activity and journeys with each account's attributes.
pub struct UsageData {
    accounts: Directory,
    activity: Activity,
    /// Accounts with a sign-up date, by sign-up date.
    journeys: Vec<Journey>,
    pub windows: Windows,
    /// The last day the data covers: rates count only accounts whose window ended by then.
    pub as_of: NaiveDate,
}

/// One period's (and group's) usage figures; `None` where nothing was measured.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct UsageRow {
    pub period: String,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Days of the period the activity covers (from the first product event to `as_of`).
    pub days_observed: u32,
    /// Mean over the observed days of the users active that day.
    pub dau: Option<f64>,
    /// Mean over the observed days of the users active in the 7 days to that day.
    pub wau: Option<f64>,
    /// Mean over the observed days of the users active in the 30 days to that day.
    pub mau: Option<f64>,
    /// DAU ÷ MAU (0–1).
    pub stickiness: Option<f64>,
    /// Accounts with a product event in the period.
    pub active_accounts: u64,
    /// Accounts that signed up in the period.
    pub signed_up: u64,
    /// Of those whose activation window had ended by `as_of`: how many, how many activated
    /// within it, and the share.
    pub activation_eligible: u64,
    pub activated_in_time: u64,
    pub activation_rate: Option<f64>,
    pub habit_eligible: u64,
    pub habit_in_time: u64,
    pub habit_rate: Option<f64>,
    /// Of the accounts that signed up in the period, those that reached first value so far,
    /// and the nearest-rank median and p90 of their days to it.
    pub first_value_reached: u64,
    pub ttfv_median_days: Option<f64>,
    pub ttfv_p90_days: Option<f64>,
}

#[derive(Default)]
struct Tally {
    dau: u64,
    wau: u64,
    mau: u64,
    active: u64,
    signed_up: u64,
    act_eligible: u64,
    act_in_time: u64,
    habit_eligible: u64,
    habit_in_time: u64,
    ttfv: Vec<f64>,
}

fn ratio(n: u64, d: u64) -> Option<f64> {
    (d > 0).then(|| n as f64 / d as f64)
}

impl UsageData {
    pub fn new(
        accounts: Directory,
        activity: Activity,
        journeys: &[JourneyFacts],
        windows: Windows,
        as_of: NaiveDate,
    ) -> UsageData {
        let mut accounts = accounts;
        let mut js: Vec<Journey> = journeys
            .iter()
            .filter_map(|j| {
                Some(Journey {
                    account: accounts.id(&j.account),
                    signed_up: j.signed_up_on?,
                    activated: j.activated_on,
                    habit: j.habit_on,
                    ttfv: j.time_to_first_value_days,
                })
            })
            .collect();
        js.sort_by_key(|j| (j.signed_up, j.account));
        UsageData {
            accounts,
            activity,
            journeys: js,
            windows,
            as_of,
        }
    }

    /// The accounts and their attributes, to set the groupings the records do not carry.
    pub fn directory_mut(&mut self) -> &mut Directory {
        &mut self.accounts
    }

    /// Activity events left out because they arrived for a day already closed.
    pub fn late_events(&self) -> u64 {
        self.activity.late
    }

    /// One row per period of `kind` ending in `from ..= to` (and per group under `by`).
    pub fn usage(
        &self,
        kind: Period,
        from: NaiveDate,
        to: NaiveDate,
        by: Option<GroupBy>,
    ) -> Vec<UsageRow> {
        let (ids, names) = match by {
            Some(b) => self.accounts.group_ids(b),
            None => (Vec::new(), vec![""]),
        };
        let group = |a: u32| -> usize {
            if by.is_none() {
                0
            } else {
                ids.get(a as usize).map_or(0, |g| *g as usize)
            }
        };
        let spans = spans(kind, from, to);
        let (Some(first), Some(last)) = (spans.first(), spans.last()) else {
            return Vec::new();
        };
        let groups = names.len().max(1);
        // The months the spans cover, and for each the spans holding it (a run of span
        // indexes: spans are in order of both start and end).
        let m0 = month_key(spans.iter().map(|s| s.from).min().unwrap_or(first.from));
        let m1 = month_key(spans.iter().map(|s| s.to).max().unwrap_or(last.to));
        let width = (m1 - m0 + 1) as usize;
        let holding: Vec<(usize, usize)> = (m0..=m1)
            .map(|m| {
                let lo = spans.partition_point(|s| month_key(s.to) < m);
                let hi = spans.partition_point(|s| month_key(s.from) <= m);
                (lo, hi)
            })
            .collect();
        // One pass over the months' activity: sums per month and group.
        let mut sums = vec![[0u64; 3]; width * groups];
        let months = &self.activity.months;
        let a = months.partition_point(|m| m.month < m0);
        let b = months.partition_point(|m| m.month <= m1);
        for m in &months[a..b.max(a)] {
            let s = &mut sums[(m.month - m0) as usize * groups + group(m.account)];
            s[0] += m.dau_days;
            s[1] += m.wau_days;
            s[2] += m.mau_days;
        }
        // Accounts active in each span: each account's active months cover a union of span
        // runs, counted once with a difference array per group.
        let mut active = vec![0i64; (spans.len() + 1) * groups];
        let mut i = 0;
        let list = &self.activity.active;
        while i < list.len() {
            let account = list[i].0;
            let g = group(account);
            let mut covered = 0usize;
            while i < list.len() && list[i].0 == account {
                let m = list[i].1;
                i += 1;
                if m < m0 || m > m1 {
                    continue;
                }
                let (lo, hi) = holding[(m - m0) as usize];
                let start = lo.max(covered);
                if start < hi {
                    active[start * groups + g] += 1;
                    active[hi * groups + g] -= 1;
                    covered = hi;
                }
            }
        }
        let mut running = vec![0i64; groups];
        let mut out = Vec::new();
        for (pi, span) in spans.iter().enumerate() {
            for (g, r) in running.iter_mut().enumerate() {
                *r += active[pi * groups + g];
            }
            let (lo, hi) = (month_key(span.from), month_key(span.to));
            let days: u32 = self.activity.observed.range(lo..=hi).map(|(_, n)| n).sum();
            let mut tallies: Vec<Tally> = (0..groups).map(|_| Tally::default()).collect();
            for (g, t) in tallies.iter_mut().enumerate() {
                for m in lo..=hi {
                    let s = &sums[(m - m0) as usize * groups + g];
                    t.dau += s[0];
                    t.wau += s[1];
                    t.mau += s[2];
                }
                t.active = running[g] as u64;
            }
            let j0 = self.journeys.partition_point(|j| j.signed_up < span.from);
            let j1 = self.journeys.partition_point(|j| j.signed_up <= span.to);
            for j in &self.journeys[j0..j1.max(j0)] {
                self.tally_journey(&mut tallies[group(j.account)], j);
            }
            for (g, mut t) in tallies.into_iter().enumerate() {
                if by.is_some() && t.mau + t.signed_up + t.active == 0 {
                    continue;
                }
                t.ttfv.sort_by(f64::total_cmp);
                out.push(row(span, by.map(|_| names[g]), days, &t));
            }
        }
        out
    }
}

impl UsageData {
    /// Before and after a release on `release`: the journey figures of the accounts that
    /// signed up in the `window_days` days before it and in the `window_days` days from it
    /// on (activity figures are not split: they are `None`).
    pub fn release_journeys(&self, release: NaiveDate, window_days: u32) -> Vec<UsageRow> {
        let (lo, hi) = crate::report::release_window(release, window_days);
        let mut out = Vec::new();
        for (label, from, to) in [("before", lo, release), ("after", release, hi)] {
            let mut t = Tally::default();
            for j in self
                .journeys
                .iter()
                .filter(|j| j.signed_up >= from && j.signed_up < to)
            {
                self.tally_journey(&mut t, j);
            }
            t.ttfv.sort_by(f64::total_cmp);
            let span = Span {
                label: label.to_owned(),
                from,
                to: to.pred_opt().unwrap_or(to),
            };
            let mut r = row(&span, None, 0, &t);
            (r.dau, r.wau, r.mau, r.stickiness) = (None, None, None, None);
            out.push(r);
        }
        out
    }

    fn tally_journey(&self, t: &mut Tally, j: &Journey) {
        t.signed_up += 1;
        let within = |reached: Option<NaiveDate>, window: u32| -> Option<bool> {
            let end = j.signed_up.checked_add_days(Days::new(u64::from(window)))?;
            (end <= self.as_of).then(|| reached.is_some_and(|r| r <= end))
        };
        if let Some(ok) = within(j.activated, self.windows.activation_days) {
            t.act_eligible += 1;
            t.act_in_time += u64::from(ok);
        }
        if let Some(ok) = within(j.habit, self.windows.habit_days) {
            t.habit_eligible += 1;
            t.habit_in_time += u64::from(ok);
        }
        if let Some(days) = j.ttfv {
            t.ttfv.push(days as f64);
        }
    }
}

fn row(span: &Span, group: Option<&str>, days: u32, t: &Tally) -> UsageRow {
    let mean = |sum: u64| (days > 0).then(|| sum as f64 / f64::from(days));
    UsageRow {
        period: span.label.clone(),
        from: Some(span.from),
        to: Some(span.to),
        group: group.map(str::to_owned),
        days_observed: days,
        dau: mean(t.dau),
        wau: mean(t.wau),
        mau: mean(t.mau),
        stickiness: ratio(t.dau, t.mau),
        active_accounts: t.active,
        signed_up: t.signed_up,
        activation_eligible: t.act_eligible,
        activated_in_time: t.act_in_time,
        activation_rate: ratio(t.act_in_time, t.act_eligible),
        habit_eligible: t.habit_eligible,
        habit_in_time: t.habit_in_time,
        habit_rate: ratio(t.habit_in_time, t.habit_eligible),
        first_value_reached: t.ttfv.len() as u64,
        ttfv_median_days: percentile(&t.ttfv, 50.0),
        ttfv_p90_days: percentile(&t.ttfv, 90.0),
    }
}

/// The first day of the month `key` (see `MonthActivity::month`).
pub fn month_of(key: i32) -> NaiveDate {
    month_start(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    /// Brute force: per day, the distinct users active that day, in the last 7 and 30 days.
    fn brute(events: &[(u32, &str, NaiveDate)], day: NaiveDate) -> (usize, usize, usize) {
        let count = |back: u64| {
            let from = day - Days::new(back - 1);
            let mut u: Vec<(u32, &str)> = events
                .iter()
                .filter(|(_, _, e)| *e >= from && *e <= day)
                .map(|(a, u, _)| (*a, *u))
                .collect();
            u.sort();
            u.dedup();
            u.len()
        };
        (count(1), count(7), count(30))
    }

    #[test]
    fn a_hand_worked_month() {
        // Two accounts. Ann (account 0) is active on 1 and 2 March, Bob (0) on 2 March, Cy (1)
        // on 20 February and 10 March.
        let events = [
            (1, "cy", d("2025-02-20")),
            (0, "ann", d("2025-03-01")),
            (0, "ann", d("2025-03-02")),
            (0, "bob", d("2025-03-02")),
            (0, "ann", d("2025-03-02")),
            (1, "cy", d("2025-03-10")),
        ];
        let mut f = ActivityFold::new();
        for (a, u, day) in events {
            f.event(a, Some(u), day);
        }
        let activity = f.finish(d("2025-03-31"));
        assert_eq!(activity.observed[&month_key(d("2025-02-01"))], 9);
        assert_eq!(activity.observed[&month_key(d("2025-03-01"))], 31);
        let march: Vec<&MonthActivity> = activity
            .months
            .iter()
            .filter(|m| m.month == month_key(d("2025-03-01")))
            .collect();
        // Account 0: DAU 1 + 2 = 3 user-days. WAU: Ann, last active 2 March, counts 1–8
        // March (8 days), Bob 2–8 March (7). MAU: Ann 1–31 March (31), Bob 2–31 March (30).
        assert_eq!(
            (march[0].dau_days, march[0].wau_days, march[0].mau_days),
            (3, 15, 61)
        );
        assert_eq!(march[0].active_days, 2);
        // Account 1: Cy's 20 February keeps them monthly active until 21 March; 10 March
        // renews it to 8 April. Weekly in March: 10–16 March (7 days).
        assert_eq!(
            (march[1].dau_days, march[1].wau_days, march[1].mau_days),
            (1, 7, 31)
        );
        // Every day against brute force.
        let mut f = ActivityFold::new();
        for (a, u, day) in events {
            f.event(a, Some(u), day);
        }
        let act = f.finish(d("2025-04-30"));
        let (mut dau, mut wau, mut mau) = (0, 0, 0);
        let mut day = d("2025-02-20");
        while day <= d("2025-04-30") {
            let (x, y, z) = brute(&events, day);
            dau += x;
            wau += y;
            mau += z;
            day = day.succ_opt().unwrap();
        }
        let sum = |f: fn(&MonthActivity) -> u64| act.months.iter().map(f).sum::<u64>() as usize;
        assert_eq!(sum(|m| m.dau_days), dau);
        assert_eq!(sum(|m| m.wau_days), wau);
        assert_eq!(sum(|m| m.mau_days), mau);
    }

    #[test]
    fn rows_by_period_and_journey_rates() {
        let accounts = Directory::default();
        let mut f = ActivityFold::new();
        f.event(0, Some("u"), d("2025-01-01"));
        f.event(1, Some("v"), d("2025-01-15"));
        let activity = f.finish(d("2025-03-31"));
        let j = |a: &str, s: &str, act: Option<&str>, ttfv: Option<i64>| JourneyFacts {
            account: a.into(),
            signed_up_on: Some(d(s)),
            activated_on: act.map(d),
            habit_on: None,
            time_to_first_value_days: ttfv,
        };
        let journeys = [
            j("a", "2025-01-01", Some("2025-01-05"), Some(3)),
            j("b", "2025-01-10", Some("2025-02-20"), Some(9)),
            j("c", "2025-01-20", None, None),
            // Signed up too late for its window to end by as_of: not eligible.
            j("d", "2025-03-25", Some("2025-03-26"), Some(1)),
        ];
        let mut dir = accounts;
        dir.id("a");
        dir.id("b");
        let data = UsageData::new(
            dir,
            activity,
            &journeys,
            Windows {
                activation_days: 14,
                habit_days: 60,
            },
            d("2025-03-31"),
        );
        let rows = data.usage(Period::Month, d("2025-01-01"), d("2025-03-31"), None);
        assert_eq!(rows.len(), 3);
        let jan = &rows[0];
        assert_eq!(jan.days_observed, 31);
        assert_eq!(jan.dau, Some(2.0 / 31.0));
        assert_eq!(jan.active_accounts, 2);
        assert_eq!(jan.signed_up, 3);
        assert_eq!((jan.activation_eligible, jan.activated_in_time), (3, 1));
        assert_eq!(jan.activation_rate, Some(1.0 / 3.0));
        assert_eq!(jan.habit_eligible, 3);
        assert_eq!(jan.first_value_reached, 2);
        assert_eq!(
            (jan.ttfv_median_days, jan.ttfv_p90_days),
            (Some(3.0), Some(9.0))
        );
        let mar = &rows[2];
        assert_eq!(mar.active_accounts, 0);
        assert_eq!(mar.dau, Some(0.0));
        assert_eq!(mar.signed_up, 1);
        assert_eq!(mar.activation_eligible, 0);
        assert_eq!(mar.activation_rate, None);
        // A quarter sums its months.
        let q = data.usage(Period::Quarter, d("2025-01-01"), d("2025-03-31"), None);
        assert_eq!(q[0].days_observed, 90);
        assert_eq!(q[0].signed_up, 4);
        assert_eq!(q[0].active_accounts, 2);
    }

    #[test]
    fn journeys_before_and_after_a_release() {
        let j = |a: &str, s: &str, act: Option<&str>| JourneyFacts {
            account: a.into(),
            signed_up_on: Some(d(s)),
            activated_on: act.map(d),
            habit_on: None,
            time_to_first_value_days: None,
        };
        let data = UsageData::new(
            Directory::default(),
            Activity::default(),
            &[
                j("a", "2025-05-01", None),
                j("b", "2025-05-31", Some("2025-06-02")),
                j("c", "2025-06-01", Some("2025-06-03")),
                j("d", "2025-06-30", Some("2025-07-01")),
                j("e", "2025-07-01", Some("2025-07-01")),
            ],
            Windows {
                activation_days: 14,
                habit_days: 60,
            },
            d("2025-12-31"),
        );
        let rows = data.release_journeys(d("2025-06-01"), 30);
        assert_eq!(rows[0].period, "before");
        assert_eq!(
            (rows[0].from, rows[0].to),
            (Some(d("2025-05-02")), Some(d("2025-05-31")))
        );
        assert_eq!((rows[0].signed_up, rows[0].activation_rate), (1, Some(1.0)));
        assert_eq!(
            (rows[1].from, rows[1].to),
            (Some(d("2025-06-01")), Some(d("2025-06-30")))
        );
        assert_eq!((rows[1].signed_up, rows[1].activated_in_time), (2, 2));
        assert_eq!(rows[1].dau, None);
    }

    #[test]
    fn late_events_are_counted_not_folded() {
        let mut f = ActivityFold::new();
        f.event(0, Some("u"), d("2025-01-02"));
        f.event(0, Some("u"), d("2025-01-01"));
        let a = f.finish(d("2025-01-02"));
        assert_eq!(a.late, 1);
        assert_eq!(a.months[0].dau_days, 1);
    }
}

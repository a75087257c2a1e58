//! `tenure playbooks`: the success model's playbooks run over the whole history (as a server
//! running all along would have fired them), the tasks they opened (written to the store),
//! their SLAs, and each playbook's measured effect: treated against held-out accounts on
//! health, renewal and expansion, with confidence intervals and the trend around the firing.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use anyhow::Context;
use chrono::NaiveDate;
use serde::Serialize;
use tenure_domain::model::{Playbook, Trigger};
use tenure_domain::{ChangeKind, Record, Task, TaskStatus, Timestamp};
use tenure_engine::day::{self, Day};
use tenure_predict::uplift::{uplift, Uplift};
use tenure_server::playbooks::PlaybookHistory;

use crate::data_dir::DataDir;
use crate::failure::Outcome;

/// Days after a firing the trend reads, and the health outcomes.
const TREND: [i32; 7] = [-28, -14, 0, 14, 30, 60, 90];

#[derive(Debug, Clone, Serialize)]
pub struct TrendPoint {
    /// Days after the firing (0: the day before it fired, the last whole day it saw).
    pub offset_days: i32,
    pub treated_mean: Option<f64>,
    pub treated_n: usize,
    pub held_out_mean: Option<f64>,
    pub held_out_n: usize,
}

/// A playbook's measured effect: treated minus held out, each account at its first firing.
#[derive(Debug, Clone, Serialize)]
pub struct Effect {
    /// Change in health score over the 30 (90) days after the firing.
    pub health_30_days: Option<Uplift>,
    pub health_90_days: Option<Uplift>,
    /// Renewed (1) or churned (0) at the first renewal within a year of the firing.
    pub renewal: Option<Uplift>,
    /// Expanded (1) or not (0) in the 90 days after the firing.
    pub expansion_90_days: Option<Uplift>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlaybookResult {
    pub playbook: String,
    pub description: String,
    pub owner: String,
    pub trigger: String,
    pub holdout_percent: f64,
    pub firings: usize,
    pub held_out_firings: usize,
    pub accounts: usize,
    pub tasks_opened: usize,
    pub tasks_breached: usize,
    /// Accounts at their first firing: the units of the comparison.
    pub treated_accounts: usize,
    pub held_out_accounts: usize,
    pub effect: Effect,
    pub trend: Vec<TrendPoint>,
    /// Why an effect is not measured (no holdout, too few accounts).
    pub note: Option<String>,
    /// The true effect on renewal, when a simulator's truth knows it for this playbook.
    pub true_renewal_effect: Option<TrueEffect>,
}

/// The true effect of a playbook on renewal, from a simulator's potential outcomes: each
/// account's true churn probability at its first renewal within a year of the playbook's first
/// trigger, treated and not (the same life run in both arms).
#[derive(Debug, Clone, Serialize)]
pub struct TrueEffect {
    /// Accounts in the measured renewal comparison with both potential outcomes known.
    pub accounts: usize,
    /// Mean of (1 − p treated) − (1 − p not treated), as a share.
    pub renewal_uplift: f64,
    /// Whether the measured interval holds it.
    pub covered: bool,
}

/// A simulator's potential outcomes per account: (playbook, renewal probability treated, not).
fn read_truth(path: &std::path::Path) -> Outcome<HashMap<String, (String, f64, f64)>> {
    let mut r =
        csv::Reader::from_path(path).with_context(|| format!("reading {}", path.display()))?;
    let h = r.headers().context("reading the header")?.clone();
    let col = |name: &str| {
        h.iter().position(|x| x == name).ok_or_else(|| {
            crate::failure::Failure::rejected(format!(
                "{}: no `{name}` column (a simulator's truth_accounts.csv has it)",
                path.display()
            ))
        })
    };
    let (a, pb, hold, p, q) = (
        col("account_id")?,
        col("outreach_playbook")?,
        col("outreach_holdout")?,
        col("p_churn_after_first_outreach")?,
        col("p_churn_after_first_outreach_other_arm")?,
    );
    let mut out = HashMap::new();
    for (i, row) in r.records().enumerate() {
        let row = row.with_context(|| format!("{}: row {}", path.display(), i + 2))?;
        let (Ok(as_run), Ok(other)) = (row[p].parse::<f64>(), row[q].parse::<f64>()) else {
            continue;
        };
        let held = &row[hold] == "1";
        let (treated, untreated) = if held {
            (other, as_run)
        } else {
            (as_run, other)
        };
        out.insert(
            row[a].to_owned(),
            (row[pb].to_owned(), 1.0 - treated, 1.0 - untreated),
        );
    }
    Ok(out)
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct TaskSummary {
    pub opened: usize,
    pub completed: usize,
    pub completed_within_sla: usize,
    /// Completed after their due time, or still open past it.
    pub breached: usize,
    pub open: usize,
    /// Breached tasks escalated to the account team's manager.
    pub escalated: usize,
    pub by_priority: BTreeMap<String, usize>,
}

/// An experiment's result, judged by the criteria it declared.
#[derive(Debug, Clone, Serialize)]
pub struct ExperimentResult {
    pub experiment: String,
    pub description: String,
    pub owner: String,
    pub playbook: String,
    pub outcome: &'static str,
    pub minimum_effect: f64,
    pub alpha: f64,
    pub start: NaiveDate,
    pub end: Option<NaiveDate>,
    /// Accounts whose first firing fell in the experiment's dates, with the outcome known.
    pub treated: usize,
    pub control: usize,
    /// Treated minus control, with a (1 − alpha) interval.
    pub uplift: Option<Uplift>,
    /// `success` (significant, and at least the minimum effect), `harmful` (significantly
    /// negative), `below_minimum` (the interval rules the minimum effect out),
    /// `inconclusive`, or `too_few_accounts`.
    pub verdict: &'static str,
    /// The smallest effect these accounts detect at 80 % power and level alpha.
    pub minimum_detectable_effect: Option<f64>,
    /// About how many accounts (both arms, the same split) detecting the minimum effect at 80 %
    /// power takes.
    pub accounts_needed: Option<usize>,
}

/// One account at its first firing: its day, stratum, arm and outcomes (renewal, health in
/// 30 and 90 days, expansion; `None` when not known yet).
struct Unit {
    day: Day,
    stratum: u32,
    treated: bool,
    values: [Option<f64>; 4],
}

fn judge(name: &str, e: &tenure_domain::model::Experiment, units: &[Unit]) -> ExperimentResult {
    use tenure_domain::model::ExperimentOutcome;
    let k = match e.outcome {
        ExperimentOutcome::Renewal => 0,
        ExperimentOutcome::Health30Days => 1,
        ExperimentOutcome::Health90Days => 2,
        ExperimentOutcome::Expansion90Days => 3,
    };
    let start = day::day_of_date(e.start);
    let end = e.end.map_or(Day::MAX, day::day_of_date);
    let rows: Vec<(u32, bool, f64)> = units
        .iter()
        .filter(|u| u.day >= start && u.day <= end)
        .filter_map(|u| u.values[k].map(|v| (u.stratum, u.treated, v)))
        .collect();
    let treated = rows.iter().filter(|r| r.1).count();
    let control = rows.len() - treated;
    let u = if treated >= 2 && control >= 2 {
        uplift(&rows, 1.0 - e.alpha)
    } else {
        None
    };
    let (mut verdict, mut mde, mut needed) = ("too_few_accounts", None, None);
    if let Some(u) = &u {
        let q = tenure_predict::special::student_t_quantile(1.0 - e.alpha / 2.0, u.df);
        let se = (u.high - u.low) / (2.0 * q);
        let m = (q + tenure_predict::special::normal_quantile(0.8)) * se;
        mde = m.is_finite().then_some(m);
        needed =
            mde.map(|m| ((rows.len() as f64) * (m / e.minimum_effect).powi(2)).ceil() as usize);
        verdict = if u.p_value < e.alpha && u.difference > 0.0 && u.difference >= e.minimum_effect {
            "success"
        } else if u.p_value < e.alpha && u.difference < 0.0 {
            "harmful"
        } else if u.high < e.minimum_effect {
            "below_minimum"
        } else {
            "inconclusive"
        };
    }
    ExperimentResult {
        experiment: name.to_owned(),
        description: e.description.clone(),
        owner: e.owner.clone(),
        playbook: e.playbook.clone(),
        outcome: e.outcome.name(),
        minimum_effect: e.minimum_effect,
        alpha: e.alpha,
        start: e.start,
        end: e.end,
        treated,
        control,
        uplift: u,
        verdict,
        minimum_detectable_effect: mde,
        accounts_needed: needed,
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct PlaybookReport {
    pub as_of: NaiveDate,
    pub from: Option<NaiveDate>,
    pub model_version: String,
    pub playbooks: Vec<PlaybookResult>,
    pub experiments: Vec<ExperimentResult>,
    pub tasks: TaskSummary,
    pub tasks_written: usize,
    pub seconds: f64,
}

fn trigger_text(t: &Trigger) -> String {
    match t {
        Trigger::MilestoneMissed {
            milestone,
            days_after_signup,
        } => format!("{milestone} not reached {days_after_signup} days after sign-up"),
        Trigger::MilestoneReached { milestone } => format!("{milestone} reached"),
        Trigger::MeasureBelow {
            measure,
            threshold,
            for_days,
        } => format!("{measure} < {threshold} for {for_days} days"),
        Trigger::MeasureAbove {
            measure,
            threshold,
            for_days,
        } => format!("{measure} > {threshold} for {for_days} days"),
        Trigger::MeasureDrop { measure, percent } => {
            format!("{measure} down {percent} % or more")
        }
        Trigger::RenewalWithin { days, bands } => format!(
            "renewal within {days} days, band {}",
            bands
                .iter()
                .map(|b| b.name())
                .collect::<Vec<_>>()
                .join(" or ")
        ),
        Trigger::HealthDrop { points, days } => {
            format!("health down {points} points in {days} days")
        }
        Trigger::BandIs { band, for_days } => format!("band {} for {for_days} days", band.name()),
        Trigger::ReleaseTouchesFeature {
            min_days,
            within_days,
        } => format!(
            "a release changed a feature area used on {min_days} of the {within_days} days before"
        ),
    }
}

fn ts(micros: i64) -> Timestamp {
    chrono::DateTime::from_timestamp_micros(micros)
        .unwrap_or_default()
        .fixed_offset()
}

/// The tasks the treated firings open. A replayed task is completed by the first CSM
/// activity logged with its account at or after it opened (live tasks are completed in the
/// inbox); it breached its SLA when completed after its due time, or still open past it.
fn tasks_of(
    h: &PlaybookHistory,
    now: i64,
) -> (Vec<Task>, TaskSummary, HashMap<usize, (usize, usize)>) {
    let mut owners: HashMap<&str, &tenure_domain::UserId> = HashMap::new();
    let mut activities: HashMap<&str, Vec<i64>> = HashMap::new();
    for r in &h.records {
        match r {
            Record::Account(a) => {
                if let Some(o) = &a.owner {
                    owners.insert(a.id.as_str(), o);
                }
            }
            Record::Activity(a) => activities
                .entry(a.account.as_str())
                .or_default()
                .push(a.occurred_at.timestamp_micros()),
            _ => {}
        }
    }
    for v in activities.values_mut() {
        v.sort_unstable();
    }
    let mut tasks = Vec::new();
    let mut summary = TaskSummary::default();
    // Per playbook: (opened, breached).
    let mut per: HashMap<usize, (usize, usize)> = HashMap::new();
    for f in h.firings.iter().filter(|f| !f.held_out) {
        let owner = owners.get(f.account.as_str()).copied();
        for mut task in tenure_server::playbooks::tasks_for(&h.plan, f, owner) {
            let due = task.due_at.map_or(i64::MAX, |d| d.timestamp_micros());
            let done = activities
                .get(f.account.as_str())
                .and_then(|v| v.get(v.partition_point(|t| *t < f.at)))
                .copied()
                .filter(|t| *t <= now);
            let breached = match done {
                Some(t) => t > due,
                None => due < now,
            };
            if let Some(t) = done {
                task.status = TaskStatus::Done;
                task.completed_at = Some(ts(t));
                task.outcome = Some("a CSM activity was logged with the account".to_owned());
            }
            let priority = task.priority;
            tasks.push(task);
            summary.opened += 1;
            *summary
                .by_priority
                .entry(priority.name().to_owned())
                .or_default() += 1;
            if done.is_some() {
                summary.completed += 1;
                if !breached {
                    summary.completed_within_sla += 1;
                }
            } else {
                summary.open += 1;
            }
            if breached {
                summary.breached += 1;
                summary.escalated += 1;
            }
            let e = per.entry(f.playbook).or_default();
            e.0 += 1;
            e.1 += usize::from(breached);
        }
    }
    (tasks, summary, per)
}

/// Runs the playbooks over the history and measures them; writes the tasks to the store.
pub async fn compute(
    data_dir: &DataDir,
    write: bool,
    truth: Option<&std::path::Path>,
    now: Timestamp,
) -> Outcome<PlaybookReport> {
    let started = Instant::now();
    let truth = match truth {
        Some(p) => Some(read_truth(p)?),
        None => None,
    };
    let store = data_dir.open_store().await?;
    let lake = data_dir.root.join("lake");
    let log = data_dir.root.join("log");
    let h = tenure_server::playbooks::replay(
        store.as_ref(),
        move |plan| tenure_server::history::Events::open(&lake, &log, plan),
        now,
    )
    .await
    .context("replaying the history")?;
    let model = &h.plan.model;
    let playbooks: Vec<(&String, &Playbook)> = model.playbooks.iter().collect();
    let at = now.timestamp_micros();
    let today = day::day_of(at);
    let (tasks, summary, per_playbook) = tasks_of(&h, at);
    let mut written = 0;
    if write {
        // Tasks already in the store keep what the inbox did to them, and an open task is not
        // opened twice for the same account and playbook.
        let stored = tenure_server::tasks::all(store.as_ref())
            .await
            .context("reading the tasks")?;
        let ids: std::collections::HashSet<&str> = stored.iter().map(|t| t.id.as_str()).collect();
        let fresh: Vec<Task> = tasks
            .iter()
            .filter(|t| !ids.contains(t.id.as_str()))
            .cloned()
            .collect();
        let tasks = tenure_server::tasks::dedupe(fresh, &stored);
        for chunk in tasks.chunks(5_000) {
            let records: Vec<Record> = chunk.iter().cloned().map(Record::Task).collect();
            written += store
                .upsert_many(&records)
                .await
                .context("writing the tasks")?
                .len();
        }
    }
    // Outcomes: the next renewal decision of each account, and expansions.
    let subscriptions: Vec<tenure_domain::Subscription> = h
        .records
        .iter()
        .filter_map(|r| match r {
            Record::Subscription(s) => Some(s.clone()),
            _ => None,
        })
        .collect();
    let mut decisions: HashMap<String, Vec<(Day, bool)>> = HashMap::new();
    for d in tenure_metrics::evidence::renewal_decisions(&subscriptions, now.date_naive()) {
        decisions
            .entry(d.account)
            .or_default()
            .push((day::day_of_date(d.day), d.churned));
    }
    for v in decisions.values_mut() {
        v.sort_unstable();
    }
    let mut expansions: HashMap<&str, Vec<Day>> = HashMap::new();
    for r in &h.records {
        if let Record::SubscriptionChange(c) = r {
            if c.kind == ChangeKind::Expansion {
                expansions
                    .entry(c.account.as_str())
                    .or_default()
                    .push(day::day_of_date(c.effective));
            }
        }
    }
    let mut results = Vec::new();
    let mut units_of: HashMap<&str, Vec<Unit>> = HashMap::new();
    for (i, (name, p)) in playbooks.iter().enumerate() {
        let units = units_of.entry(name.as_str()).or_default();
        let fired: Vec<&tenure_engine::Firing> =
            h.firings.iter().filter(|f| f.playbook == i).collect();
        // Each account at its first firing: later firings may follow an earlier treatment.
        let mut first: BTreeMap<&str, &tenure_engine::Firing> = BTreeMap::new();
        for f in &fired {
            first.entry(f.account.as_str()).or_insert(f);
        }
        let stratum = |f: &tenure_engine::Firing| u32::from(f.tier) * 1000 + u32::from(f.segment);
        let mut health = [Vec::new(), Vec::new()];
        let mut renewal = Vec::new();
        let mut true_uplifts = Vec::new();
        let mut expansion = Vec::new();
        let mut trend: BTreeMap<i32, [Vec<f64>; 2]> = BTreeMap::new();
        for f in first.values() {
            let d = day::day_of(f.at);
            let arm = !f.held_out;
            let mut unit = Unit {
                day: d,
                stratum: stratum(f),
                treated: arm,
                values: [None; 4],
            };
            let before = h.score_on(&f.account, d - 1);
            for (k, days) in [30, 90].into_iter().enumerate() {
                let after_day = d - 1 + days;
                if after_day >= today {
                    continue;
                }
                if let (Some(b), Some(a)) = (before, h.score_on(&f.account, after_day)) {
                    health[k].push((stratum(f), arm, a - b));
                    unit.values[1 + k] = Some(a - b);
                }
            }
            for o in TREND {
                let on = d - 1 + o as Day;
                if on >= today {
                    continue;
                }
                if let Some(s) = h.score_on(&f.account, on) {
                    trend.entry(o).or_default()[usize::from(arm)].push(s);
                }
            }
            if let Some((_, churned)) = decisions
                .get(f.account.as_str())
                .and_then(|v| v.iter().find(|(x, _)| *x >= d && *x <= d + 365))
            {
                renewal.push((stratum(f), arm, if *churned { 0.0 } else { 1.0 }));
                unit.values[0] = Some(if *churned { 0.0 } else { 1.0 });
                if let Some((_, treated, untreated)) = truth
                    .as_ref()
                    .and_then(|t| t.get(f.account.as_str()))
                    .filter(|t| t.0 == **name)
                {
                    true_uplifts.push(treated - untreated);
                }
            }
            if d + 89 < today {
                let grew = expansions
                    .get(f.account.as_str())
                    .is_some_and(|v| v.iter().any(|x| *x >= d && *x <= d + 89));
                expansion.push((stratum(f), arm, if grew { 1.0 } else { 0.0 }));
                unit.values[3] = Some(if grew { 1.0 } else { 0.0 });
            }
            units.push(unit);
        }
        let held = first.values().filter(|f| f.held_out).count();
        let note = if p.holdout_percent <= 0.0 {
            Some(
                "no holdout: every matching account is treated, so the effect is not measured"
                    .to_owned(),
            )
        } else if held < 2 || first.len() - held < 2 {
            Some("too few accounts in one of the arms to compare".to_owned())
        } else {
            None
        };
        let measure = |rows: &[(u32, bool, f64)]| {
            if note.is_some() {
                None
            } else {
                uplift(rows, 0.95)
            }
        };
        let mean = |v: &[f64]| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
        let (opened, breached) = per_playbook.get(&i).copied().unwrap_or_default();
        let effect = Effect {
            health_30_days: measure(&health[0]),
            health_90_days: measure(&health[1]),
            renewal: measure(&renewal),
            expansion_90_days: measure(&expansion),
        };
        let true_renewal_effect = (!true_uplifts.is_empty()).then(|| {
            let u = true_uplifts.iter().sum::<f64>() / true_uplifts.len() as f64;
            TrueEffect {
                accounts: true_uplifts.len(),
                renewal_uplift: u,
                covered: effect
                    .renewal
                    .as_ref()
                    .is_some_and(|m| m.low <= u && u <= m.high),
            }
        });
        results.push(PlaybookResult {
            playbook: (*name).clone(),
            description: p.description.clone(),
            owner: p.owner.clone(),
            trigger: trigger_text(&p.trigger),
            holdout_percent: p.holdout_percent,
            firings: fired.len(),
            held_out_firings: fired.iter().filter(|f| f.held_out).count(),
            accounts: first.len(),
            tasks_opened: opened,
            tasks_breached: breached,
            treated_accounts: first.len() - held,
            held_out_accounts: held,
            effect,
            true_renewal_effect,
            trend: trend
                .into_iter()
                .map(|(o, arms)| TrendPoint {
                    offset_days: o,
                    treated_mean: mean(&arms[1]),
                    treated_n: arms[1].len(),
                    held_out_mean: mean(&arms[0]),
                    held_out_n: arms[0].len(),
                })
                .collect(),
            note,
        });
    }
    let experiments = model
        .experiments
        .iter()
        .map(|(name, e)| {
            let none = Vec::new();
            judge(name, e, units_of.get(e.playbook.as_str()).unwrap_or(&none))
        })
        .collect();
    let report = PlaybookReport {
        experiments,
        as_of: now.date_naive(),
        from: h.first_day.map(day::date_of),
        model_version: h.plan.version.to_string(),
        playbooks: results,
        tasks: summary,
        tasks_written: written,
        seconds: started.elapsed().as_secs_f64(),
    };
    if write {
        // The web app's team view shows the last measured effects.
        crate::data_dir::write_atomically(
            &data_dir.root.join(tenure_server::PLAYBOOK_REPORT),
            &serde_json::to_string_pretty(&report)?,
        )?;
    }
    Ok(report)
}

fn effect_text(u: &Option<Uplift>, scale: f64, unit: &str) -> String {
    match u {
        Some(u) => format!(
            "{:+.1}{unit} ({:.0} % CI {:+.1} … {:+.1}, p {:.2})",
            u.difference * scale,
            u.level * 100.0,
            u.low * scale,
            u.high * scale,
            u.p_value
        ),
        None => "–".to_owned(),
    }
}

/// Prints the report (the demo's too).
pub fn print(r: &PlaybookReport) {
    let t = &r.tasks;
    println!(
        "Playbooks over the history ({} … {}, model {}), in {:.1} s:",
        r.from.map_or("–".to_owned(), |d| d.to_string()),
        r.as_of,
        r.model_version,
        r.seconds
    );
    println!(
        "  tasks: {} opened ({}), {} completed ({} within their SLA), {} open; {} breached their SLA and were escalated",
        t.opened,
        t.by_priority
            .iter()
            .map(|(p, n)| format!("{n} {p}"))
            .collect::<Vec<_>>()
            .join(", "),
        t.completed,
        t.completed_within_sla,
        t.open,
        t.breached
    );
    print_experiments(r);
    for p in &r.playbooks {
        println!(
            "  {} — {} (holdout {} %): {} firings for {} accounts ({} treated, {} held out at their first firing), {} tasks ({} breached)",
            p.playbook,
            p.trigger,
            p.holdout_percent,
            p.firings,
            p.accounts,
            p.treated_accounts,
            p.held_out_accounts,
            p.tasks_opened,
            p.tasks_breached
        );
        if let Some(n) = &p.note {
            println!("      effect: {n}");
            continue;
        }
        let e = &p.effect;
        println!(
            "      uplift, treated − held out: health in 30 days {}, in 90 days {}; renewal {}; expansion in 90 days {}",
            effect_text(&e.health_30_days, 1.0, " points"),
            effect_text(&e.health_90_days, 1.0, " points"),
            effect_text(&e.renewal, 100.0, " pts"),
            effect_text(&e.expansion_90_days, 100.0, " pts"),
        );
        let trend: Vec<String> = p
            .trend
            .iter()
            .map(|x| {
                format!(
                    "{:+}d {}/{}",
                    x.offset_days,
                    x.treated_mean.map_or("–".to_owned(), |m| format!("{m:.1}")),
                    x.held_out_mean
                        .map_or("–".to_owned(), |m| format!("{m:.1}"))
                )
            })
            .collect();
        println!("      health, treated/held out: {}", trend.join("  "));
        if let Some(t) = &p.true_renewal_effect {
            println!(
                "      true effect on renewal (the simulator's potential outcomes, {} accounts): {:+.1} pts — {} the measured interval",
                t.accounts,
                t.renewal_uplift * 100.0,
                if t.covered { "inside" } else { "outside" }
            );
        }
    }
}

fn print_experiments(r: &PlaybookReport) {
    for e in &r.experiments {
        let share = e.outcome == "renewal" || e.outcome == "expansion_90_days";
        let (scale, unit) = if share {
            (100.0, " pts")
        } else {
            (1.0, " points")
        };
        println!(
            "  experiment {} — {} on {} since {}, minimum effect {:+.1}{unit}, alpha {}: {} treated, {} control",
            e.experiment,
            e.playbook,
            e.outcome,
            e.start,
            e.minimum_effect * scale,
            e.alpha,
            e.treated,
            e.control
        );
        println!(
            "      uplift {}; verdict: {}{}",
            effect_text(&e.uplift, scale, unit),
            e.verdict.replace('_', " "),
            match (e.minimum_detectable_effect, e.accounts_needed) {
                (Some(m), Some(n)) => format!(
                    " (these accounts detect {:+.1}{unit} at 80 % power; the minimum effect needs about {n} accounts)",
                    m * scale
                ),
                _ => String::new(),
            }
        );
    }
}

pub async fn run(
    data_dir: &DataDir,
    write: bool,
    truth: Option<std::path::PathBuf>,
    json: bool,
    now: Timestamp,
) -> Outcome {
    // A simulated company's truth, when there is one.
    let truth = truth.or_else(|| {
        let p = data_dir.root.join("simulated/truth_accounts.csv");
        p.exists().then_some(p)
    });
    let r = compute(data_dir, write, truth.as_deref(), now).await?;
    if json {
        return super::print_json(&r);
    }
    print(&r);
    if write {
        println!("  ({} tasks written to the store)", r.tasks_written);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tenure_domain::model::{Experiment, ExperimentOutcome};

    fn experiment(minimum_effect: f64) -> Experiment {
        Experiment {
            description: String::new(),
            owner: String::new(),
            playbook: "p".into(),
            outcome: ExperimentOutcome::Health30Days,
            minimum_effect,
            alpha: 0.05,
            start: "2025-01-01".parse().unwrap(),
            end: Some("2025-12-31".parse().unwrap()),
        }
    }

    /// 100 treated and 100 control accounts in 2025 whose health moved by `treated` and
    /// `control` points (± 1), and some outside the dates.
    fn units(treated: f64, control: f64) -> Vec<Unit> {
        let d = day::day_of_date("2025-06-01".parse().unwrap());
        let mut out = Vec::new();
        for i in 0..200 {
            let arm = i % 2 == 0;
            let noise = if i % 4 < 2 { 1.0 } else { -1.0 };
            out.push(Unit {
                day: d,
                stratum: 0,
                treated: arm,
                values: [
                    None,
                    Some(if arm { treated } else { control } + noise),
                    None,
                    None,
                ],
            });
        }
        // Before the start: left out whatever their values.
        out.push(Unit {
            day: d - 400,
            stratum: 0,
            treated: false,
            values: [None, Some(-1000.0), None, None],
        });
        out
    }

    #[test]
    fn experiments_are_judged_by_their_declared_criteria() {
        let r = judge("e", &experiment(2.0), &units(5.0, 0.0));
        assert_eq!((r.treated, r.control, r.verdict), (100, 100, "success"));
        assert!((r.uplift.as_ref().unwrap().difference - 5.0).abs() < 1e-9);
        // Significant but smaller than the minimum: the interval rules the minimum out.
        let r = judge("e", &experiment(2.0), &units(1.0, 0.0));
        assert_eq!(r.verdict, "below_minimum");
        let r = judge("e", &experiment(2.0), &units(-3.0, 0.0));
        assert_eq!(r.verdict, "harmful");
        let r = judge("e", &experiment(2.0), &units(0.1, 0.0));
        assert_eq!(r.verdict, "below_minimum");
        // A minimum within the noise: not significant, not ruled out.
        let r = judge("e", &experiment(0.3), &units(0.1, 0.0));
        assert_eq!(r.verdict, "inconclusive");
        let (m, n) = (
            r.minimum_detectable_effect.unwrap(),
            r.accounts_needed.unwrap(),
        );
        assert!(m > 0.3 && n > 200, "{m} {n}");
        assert_eq!(
            judge("e", &experiment(1.0), &[]).verdict,
            "too_few_accounts"
        );
    }
}

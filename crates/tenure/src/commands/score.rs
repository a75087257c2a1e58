//! `tenure score` and `tenure rescore`: scores computed offline from the event lake (plus the
//! log's tail not yet in it) and the store's records — for one account on any past day under
//! any model version, for the whole portfolio, or as daily history written to the store.
//! Reads only: works beside a running server.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use arrow_array::RecordBatch;
use serde_json::Value;
use tenure_domain::model::Band;
use tenure_domain::{ModelVersion, SuccessModel};
use tenure_engine::day::{self, Day, Micros};
use tenure_engine::replay::Replay;
use tenure_engine::{AccountView, Engine, Partition, Plan, Signal, Summary};
use tenure_server::history::Events;
use tenure_store::Store;

use crate::data_dir::DataDir;
use crate::failure::{Failure, Outcome};

/// The model of `version` (the current one when `None`).
pub async fn model(store: &dyn Store, version: Option<&str>) -> Outcome<SuccessModel> {
    match version {
        None => Ok(tenure_server::engine_model(store)
            .await
            .context("reading the success model")?),
        Some(v) => {
            let v = ModelVersion::parse(v)
                .map_err(|e| Failure::rejected(format!("error: --model-version: {e}")))?;
            let record = store
                .model_version(&v)
                .await
                .context("reading the model history")?
                .ok_or_else(|| {
                    Failure::rejected(format!(
                        "error: no model version {v} was ever applied (see `tenure model history`)"
                    ))
                })?;
            serde_json::from_str(&record.model_json)
                .with_context(|| format!("reading model version {v}"))
                .map_err(Failure::from)
        }
    }
}

/// Folds every event up to `until` (and, with `account`, only that account's) and the
/// store's records into an engine. As of a past day it goes day by day with a tick at the
/// start of each, as the backtest's and `rescore`'s replays do: a milestone that a measure
/// reaches (seats nearly all used) is latched on the day it held, even if the measure fell
/// back later. Now, it folds everything in and scores once, as the live engine does with
/// what it receives. Playbooks are not checked (nothing here acts on them).
pub async fn engine_until(
    data_dir: &DataDir,
    store: &dyn Store,
    plan: Arc<Plan>,
    account: Option<&str>,
    until: Micros,
    as_of: bool,
) -> Outcome<Engine> {
    let records = tenure_server::engine_records(store)
        .await
        .context("reading the store")?;
    let events = data_dir.events(&plan)?;
    let account = account.map(str::to_owned);
    let engine = tokio::task::spawn_blocking(move || -> anyhow::Result<Engine> {
        let mut engine = Engine::new(Arc::clone(&plan), Partition::ALL);
        engine.set_playbooks_active(false);
        for r in records
            .iter()
            .filter(|r| account.is_none() || r.account() == account.as_deref())
        {
            engine.apply(Signal::Record(r), until);
        }
        let last = if as_of { day::day_of(until) } else { Day::MAX };
        for d in events.days().into_iter().filter(|d| *d <= last) {
            if as_of {
                engine.tick(day::start_of(d));
            }
            let batches = events.read_day(d)?;
            events.for_each(d, &batches, account.as_deref(), &plan, |e| {
                // As of a past day: what had happened by its end. Now: everything received
                // (as the live engine counts it).
                if !as_of || e.at <= until {
                    engine.apply(Signal::Event(e), until);
                }
            });
        }
        engine.refresh(until);
        Ok(engine)
    })
    .await
    .context("the scoring task failed")??;
    Ok(engine)
}

fn parse_day(s: &str, what: &str) -> Outcome<chrono::NaiveDate> {
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| {
        Failure::rejected(format!(
            "error: {what} `{s}` is not a date: expected YYYY-MM-DD"
        ))
    })
}

pub struct ScoreArgs {
    pub account: Option<String>,
    pub as_of: Option<String>,
    pub model_version: Option<String>,
    pub json: bool,
    pub lineage: Option<String>,
}

pub async fn score(data_dir: &DataDir, args: ScoreArgs, now: tenure_domain::Timestamp) -> Outcome {
    let store = data_dir.open_store().await?;
    let model = model(store.as_ref(), args.model_version.as_deref()).await?;
    let plan = Arc::new(Plan::new(model));
    let at = match &args.as_of {
        Some(d) => day::start_of(day::day_of_date(parse_day(d, "--as-of")?) + 1) - 1,
        None => now.timestamp_micros(),
    };
    let mut engine = engine_until(
        data_dir,
        store.as_ref(),
        Arc::clone(&plan),
        args.account.as_deref(),
        at,
        args.as_of.is_some(),
    )
    .await?;
    match &args.account {
        Some(id) => {
            let view = engine.view(id, at).ok_or_else(|| {
                Failure::rejected(format!(
                    "error: no account `{id}` in the store or the event lake (by {})",
                    day::date_of(day::day_of(at))
                ))
            })?;
            if let Some(measure) = &args.lineage {
                return lineage(data_dir, &engine, &view, measure, at, args.json);
            }
            if args.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&view).context("encoding")?
                );
            } else {
                print_account(&view);
            }
        }
        None => {
            let rows = engine.summaries();
            if args.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&rows).context("encoding")?
                );
            } else {
                println!(
                    "Portfolio on {} under model {}",
                    day::date_of(day::day_of(at)),
                    plan.version
                );
                print_portfolio(&mut |id| engine.view(id, at), &rows);
            }
        }
    }
    Ok(())
}

fn lineage(
    data_dir: &DataDir,
    engine: &Engine,
    view: &AccountView,
    measure: &str,
    at: Micros,
    json: bool,
) -> Outcome {
    let plan = engine.plan();
    // Any measure of the model, in the health score or not, evaluated on the same day.
    let (Some(mp), Some(state)) = (
        plan.measure(measure),
        engine.account_state(&view.summary.account),
    ) else {
        let names: Vec<&str> = plan.measures.iter().map(|m| m.name.as_str()).collect();
        return Err(Failure::rejected(format!(
            "error: no measure `{measure}` in model {}: expected one of {}",
            plan.version,
            names.join(", ")
        )));
    };
    let m = tenure_engine::features::evaluate(plan, state, mp, at).lineage;
    let mut rows = Vec::new();
    if let tenure_engine::features::Lineage::Events { from, to, .. } = &m {
        let events = data_dir.events(plan)?;
        let (from, to) = (day::day_of_date(*from), day::day_of_date(*to));
        for d in events
            .days()
            .into_iter()
            .filter(|d| (from..=to).contains(d))
        {
            let batches = events.read_day(d)?;
            events.for_each(d, &batches, Some(&view.summary.account), plan, |e| {
                let named = mp.spec.events.is_empty() || e.event.is_some_and(|n| mp.spec.events.iter().any(|x| x == n));
                let holds = mp.spec.conditions.is_empty()
                    || e.properties.is_some_and(|p| tenure_engine::plan::conditions_hold(&mp.spec.conditions, p));
                if named && holds {
                    rows.push(serde_json::json!({
                        "offset": e.offset,
                        "timestamp": chrono::DateTime::from_timestamp_micros(e.at).map(|t| t.to_rfc3339()),
                        "user": e.user,
                        "event": e.event,
                    }));
                }
            });
        }
        rows.sort_by_key(|r| r["offset"].as_u64());
        let wanted: std::collections::HashSet<u64> =
            rows.iter().filter_map(|r| r["offset"].as_u64()).collect();
        let ids = events.message_ids(from..=to, &wanted)?;
        for r in &mut rows {
            if let Some(id) = r["offset"].as_u64().and_then(|o| ids.get(&o)) {
                r["message_id"] = Value::String(id.clone());
            }
        }
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({ "measure": measure, "lineage": m, "events": rows })
            )
            .context("encoding")?
        );
    } else {
        println!(
            "{measure} for {}: {}",
            view.summary.account,
            serde_json::to_string(&m).context("encoding")?
        );
        for r in &rows {
            println!(
                "  offset {:>9}  {}  {:<22} {:<16} {}",
                r["offset"],
                r["timestamp"].as_str().unwrap_or(""),
                r["event"].as_str().unwrap_or("(page/screen)"),
                r["user"].as_str().unwrap_or(""),
                r["message_id"].as_str().unwrap_or("")
            );
        }
        if !rows.is_empty() {
            println!(
                "  {} events (the lake's `offset` column identifies each row)",
                rows.len()
            );
        }
    }
    Ok(())
}

fn band_name(b: Band) -> &'static str {
    b.name()
}

fn fmt_raw(v: Option<f64>) -> String {
    match v {
        None => "missing".into(),
        Some(v) if v.fract() == 0.0 && v.abs() < 1e9 => format!("{v:.0}"),
        Some(v) => format!("{v:.2}"),
    }
}

/// One account's health, explained, as text.
pub fn print_account(v: &AccountView) {
    let s = &v.summary;
    let h = &v.health;
    println!(
        "{} ({}) — health {:.1} {} (confidence {:.0} %), model {}",
        s.account,
        s.name.as_deref().unwrap_or("unnamed"),
        h.score,
        band_name(h.band),
        h.confidence * 100.0,
        h.model_version
    );
    println!(
        "  tier {}, segment {}, owner {}, ARR {:.0}, {} seats, renewal {}, stage {}",
        s.tier,
        s.segment,
        s.owner.as_deref().unwrap_or("none"),
        s.arr,
        s.seats,
        s.renewal_date.map_or("none".to_string(), |d| d.to_string()),
        s.stage
    );
    let pillars: Vec<String> = h
        .pillars
        .iter()
        .map(|p| {
            format!(
                "{} {} (weight {})",
                p.pillar.name(),
                p.score.map_or("—".into(), |x| format!("{x:.0}")),
                p.weight
            )
        })
        .collect();
    println!("  pillars: {}", pillars.join(", "));
    let drivers = |d: &[tenure_engine::health::Driver]| -> String {
        d.iter()
            .map(|d| {
                format!(
                    "{} = {} ({:+.1} points)",
                    d.measure,
                    fmt_raw(d.raw),
                    d.impact
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    println!("  lifting it:   {}", drivers(&h.positive_drivers));
    println!("  holding back: {}", drivers(&h.negative_drivers));
    if let Some(c) = &v.change {
        let moved: Vec<String> = c
            .measures
            .iter()
            .take(4)
            .map(|(m, d)| format!("{m} {d:+.1}"))
            .collect();
        println!(
            "  since the previous score ({:.1}): {:+.1} points — {}{}",
            c.previous_score,
            c.delta,
            moved.join(", "),
            c.signal
                .as_ref()
                .map_or(String::new(), |s| format!(" (after {} {})", s.kind, s.what))
        );
    }
    if let Some(p) = &h.path_to_next_band {
        let steps = if p.options.is_empty() {
            &p.combined
        } else {
            &p.options
        };
        let how: Vec<String> = steps
            .iter()
            .map(|s| {
                format!(
                    "{} from {} to {}",
                    s.measure,
                    fmt_raw(s.from),
                    fmt_raw(Some(s.to))
                )
            })
            .collect();
        let joiner = if p.options.is_empty() {
            " and "
        } else {
            ", or "
        };
        println!(
            "  to reach {} (+{:.1} points): {}",
            p.band.name(),
            p.points_needed,
            how.join(joiner)
        );
    }
    let j = &v.journey;
    let ms: Vec<String> = j
        .milestones
        .iter()
        .map(|m| match (m.reached_on, m.behind) {
            (Some(d), _) => format!("{} {d}", m.milestone),
            (None, true) => format!(
                "{} behind (due {})",
                m.milestone,
                m.expected_by.map_or("?".into(), |d| d.to_string())
            ),
            (None, false) => format!("{} not yet", m.milestone),
        })
        .collect();
    println!(
        "  journey: {}; time to first value {}; onboarding {:.0} %{}",
        ms.join(", "),
        j.time_to_first_value_days
            .map_or("—".into(), |d| format!("{d} days")),
        j.onboarding_progress * 100.0,
        if j.stuck { "; stuck" } else { "" }
    );
    println!("  measures (raw → normalised × weight = points; lineage):");
    for m in &h.measures {
        println!(
            "    {:<26} {:>9} → {:.2} × {:<4} = {:>5.1} / {:>4.1}{}{}  {}",
            m.measure,
            fmt_raw(m.raw),
            m.normalised,
            m.weight,
            m.points,
            m.max_points,
            if m.missing { " missing" } else { "" },
            if m.stale { " stale" } else { "" },
            lineage_text(&m.lineage)
        );
    }
}

fn lineage_text(l: &tenure_engine::features::Lineage) -> String {
    use tenure_engine::features::Lineage;
    match l {
        Lineage::Events {
            events,
            from,
            to,
            matched,
            ..
        } => format!(
            "{matched} events ({}) {from}..{to}",
            if events.is_empty() {
                "any".to_string()
            } else {
                events.join(", ")
            }
        ),
        Lineage::Records { kind, ids } => {
            let shown: Vec<&str> = ids.iter().take(3).map(String::as_str).collect();
            let more = if ids.len() > 3 {
                format!(" +{}", ids.len() - 3)
            } else {
                String::new()
            };
            format!("{} {kind}s [{}{more}]", ids.len(), shown.join(", "))
        }
        Lineage::Milestones { reached } => format!("milestones [{}]", reached.join(", ")),
        Lineage::Account { field } => format!("account.{field}"),
        Lineage::Omitted => String::new(),
    }
}

/// The health distribution and the ten most at-risk accounts with their top drivers.
pub fn print_portfolio(view: &mut dyn FnMut(&str) -> Option<AccountView>, rows: &[Summary]) {
    let n = rows.len().max(1) as f64;
    let count = |b: Band| rows.iter().filter(|s| s.band == b).count();
    let arr = |b: Band| {
        rows.iter()
            .filter(|s| s.band == b)
            .map(|s| s.arr)
            .sum::<f64>()
    };
    println!("  {} accounts scored", rows.len());
    for b in [Band::Green, Band::Amber, Band::Red] {
        println!(
            "    {:<6} {:>6} accounts ({:>5.1} %)  ARR {:>14.0}",
            b.name(),
            count(b),
            100.0 * count(b) as f64 / n,
            arr(b)
        );
    }
    let mut buckets = [0usize; 10];
    for s in rows {
        buckets[((s.score / 10.0) as usize).min(9)] += 1;
    }
    let widest = buckets.iter().copied().max().unwrap_or(1).max(1);
    println!("  health distribution:");
    for (i, c) in buckets.iter().enumerate() {
        println!(
            "    {:>3}–{:<3} {:>6} {}",
            i * 10,
            i * 10 + 10,
            c,
            "█".repeat(c * 40 / widest)
        );
    }
    let mut at_risk: Vec<&Summary> = rows.iter().filter(|s| s.stage != "churned").collect();
    at_risk.sort_by(|a, b| {
        a.score
            .total_cmp(&b.score)
            .then_with(|| b.arr.total_cmp(&a.arr))
    });
    println!("  the ten most at-risk accounts:");
    for s in at_risk.into_iter().take(10) {
        let drivers = view(&s.account)
            .map(|v| {
                v.health
                    .negative_drivers
                    .iter()
                    .map(|d| format!("{} {}", d.measure, fmt_raw(d.raw)))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        println!(
            "    {:<14} {:>5.1} {:<5} ARR {:>9.0}  {:<10} renewal {}  ← {}",
            s.account,
            s.score,
            s.band.name(),
            s.arr,
            s.tier,
            s.renewal_date.map_or("—".into(), |d| d.to_string()),
            drivers
        );
    }
}

/// `tenure rescore`: recomputes every account's daily health history from the lake under one
/// model version and writes it to the store (replacing that version's history).
pub async fn rescore(
    data_dir: &DataDir,
    model_version: Option<String>,
    from: Option<String>,
    now: tenure_domain::Timestamp,
) -> Outcome {
    let from = match from {
        Some(d) => Some(day::day_of_date(parse_day(&d, "--from")?)),
        None => None,
    };
    let store = data_dir.open_store().await?;
    let model = model(store.as_ref(), model_version.as_deref()).await?;
    let plan = Arc::new(Plan::new(model));
    let version = plan.version.clone();
    let started = Instant::now();
    let records = tenure_server::engine_records(store.as_ref())
        .await
        .context("reading the store")?;
    let events = Arc::new(data_dir.events(&plan)?);
    let today = day::day_of(now.timestamp_micros());
    let days: Vec<Day> = events.days().into_iter().filter(|d| *d < today).collect();
    println!(
        "Rescoring under model {version}: {} days of events, {} records",
        days.len(),
        records.len()
    );
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<tenure_domain::HealthSnapshot>>(8);
    let fold = tokio::task::spawn_blocking(move || {
        replay_lake(events, plan, records, days, from, |snaps| {
            tx.blocking_send(snaps).is_ok()
        })
    });
    // Gathered, then written in (account, day) order: the store's key order, so its index
    // grows at the end instead of splitting pages everywhere.
    let mut rows = Vec::new();
    while let Some(snaps) = rx.recv().await {
        rows.extend(snaps);
    }
    rows.sort_by(|a, b| (a.account.as_str(), a.day).cmp(&(b.account.as_str(), b.day)));
    let t = Instant::now();
    let removed = store
        .delete_health_snapshots(&version)
        .await
        .context("clearing the old history")?;
    let mut written = 0u64;
    for chunk in rows.chunks(50_000) {
        written += store
            .put_health_snapshots(chunk)
            .await
            .context("writing health history")?;
    }
    let write_secs = t.elapsed().as_secs_f64();
    let stats = fold.await.context("the scoring task failed")??;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "  {} events replayed and {written} daily scores written ({removed} replaced) in {secs:.1} s",
        stats.events
    );
    println!(
        "  replay {:.1} s ({:.0} events/s, {} partitions; reading and routing the lake {:.1} s of it on its own thread), writing the store {write_secs:.1} s",
        stats.seconds,
        stats.events as f64 / stats.seconds.max(1e-9),
        stats.partitions,
        stats.read_seconds
    );
    Ok(())
}

/// What a replay did.
pub struct ReplayStats {
    pub events: u64,
    pub snapshots: u64,
    pub partitions: u32,
    /// Wall time of the whole replay.
    pub seconds: f64,
    /// Time the reader thread spent reading Parquet.
    pub read_seconds: f64,
}

/// Replays `days` of `events` (after `records`) under `plan`, one fold thread per core each
/// owning a partition of the accounts, while a reader thread decodes the next days; hands
/// every day's snapshots (from `from` on) to `sink` (which returns false to stop).
pub fn replay_lake(
    events: Arc<Events>,
    plan: Arc<Plan>,
    records: Vec<tenure_domain::Record>,
    days: Vec<Day>,
    from: Option<Day>,
    mut sink: impl FnMut(Vec<tenure_domain::HealthSnapshot>) -> bool,
) -> anyhow::Result<ReplayStats> {
    let started = Instant::now();
    let partitions = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 8) as u32;
    let records = Arc::new(records);
    let end = days.last().map_or(0, |d| day::start_of(d + 1) - 1);
    /// A day's lake batches and, for each partition, the rows it owns.
    type Day_ = Arc<(Day, Vec<RecordBatch>, Vec<Vec<(u32, u32)>>)>;
    let mut inputs = Vec::new();
    let (out_tx, out_rx) =
        std::sync::mpsc::sync_channel::<(Vec<tenure_domain::HealthSnapshot>, u64)>(16);
    let mut folds = Vec::new();
    for index in 0..partitions {
        let (in_tx, in_rx) = std::sync::mpsc::sync_channel::<Day_>(3);
        inputs.push(in_tx);
        let (events, plan, records, out_tx) = (
            Arc::clone(&events),
            Arc::clone(&plan),
            Arc::clone(&records),
            out_tx.clone(),
        );
        folds.push(std::thread::spawn(move || {
            let partition = Partition {
                index,
                count: partitions,
            };
            let mut replay = Replay::new(Arc::clone(&plan), partition);
            replay.snapshot_from(from);
            replay.records(records.iter(), end);
            for input in in_rx {
                let (d, batches, routes) = &*input;
                let mut applied = 0;
                let mut snaps = replay.begin(*d);
                let rows = routes.get(index as usize).map_or(&[][..], |r| &r[..]);
                events.for_each_routed(*d, batches, rows, partition, &plan, |e| {
                    applied += 1;
                    replay.apply_owned(*d, e);
                });
                snaps.extend(replay.end(*d));
                if out_tx.send((snaps, applied)).is_err() {
                    return;
                }
            }
        }));
    }
    drop(out_tx);
    let reader = std::thread::spawn(move || -> anyhow::Result<f64> {
        let mut secs = 0.0;
        for d in days {
            let t = Instant::now();
            let batches = events.read_day(d)?;
            let routes = events.route(&batches, partitions);
            secs += t.elapsed().as_secs_f64();
            let input = Arc::new((d, batches, routes));
            for tx in &inputs {
                if tx.send(Arc::clone(&input)).is_err() {
                    return Ok(secs);
                }
            }
        }
        Ok(secs)
    });
    let (mut applied, mut snapshots) = (0u64, 0u64);
    for (snaps, n) in out_rx {
        applied += n;
        snapshots += snaps.len() as u64;
        if !sink(snaps) {
            break;
        }
    }
    for f in folds {
        let _ = f.join();
    }
    let read_seconds = reader
        .join()
        .map_err(|_| anyhow::anyhow!("the lake reader panicked"))??;
    Ok(ReplayStats {
        events: applied,
        snapshots,
        partitions,
        seconds: started.elapsed().as_secs_f64(),
        read_seconds,
    })
}

//! `tenure bench …`: throughput and memory figures on this machine. Timings are printed,
//! never asserted.

use std::time::Instant;

use tenure_domain::Record;
use tenure_sim::{simulate, SimConfig, Sink, TruthAccount, TruthRenewal};

use crate::cli::BenchCommand;
use crate::commands::{init, send, simulate};
use crate::data_dir::DataDir;
use crate::failure::Outcome;

/// Counts what the simulator produces, so generation is measured without disk writes.
#[derive(Default)]
struct Count {
    records: u64,
    event_bytes: u64,
}

impl Sink for Count {
    type Error = std::convert::Infallible;
    fn record(&mut self, _: &Record) -> Result<(), Self::Error> {
        self.records += 1;
        Ok(())
    }
    fn events(&mut self, jsonl: &[u8]) -> Result<(), Self::Error> {
        self.event_bytes += jsonl.len() as u64;
        Ok(())
    }
    fn renewal(&mut self, _: &TruthRenewal) -> Result<(), Self::Error> {
        Ok(())
    }
    fn account_truth(&mut self, _: &TruthAccount) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// Peak resident memory of this process (Linux), in MiB.
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

pub async fn run(command: BenchCommand, now: tenure_domain::Timestamp) -> Outcome {
    match command {
        BenchCommand::Ingest {
            events,
            concurrency,
        } => ingest(events, concurrency, now).await,
        BenchCommand::Log {
            dir,
            writers,
            batch,
            record_bytes,
            seconds,
        } => log(&dir, writers, batch, record_bytes, seconds),
        BenchCommand::Lake { log_dir } => lake(&log_dir),
        BenchCommand::Engine {
            accounts,
            months,
            seed,
        } => engine(accounts, months, seed),
        BenchCommand::Playbooks {
            accounts,
            months,
            seed,
            playbooks: n,
        } => playbooks(accounts, months, seed, n),
        BenchCommand::Rescore { lake, times } => rescore(&lake, times),
        BenchCommand::Freshness {
            accounts,
            load,
            probes,
        } => freshness(accounts, load, probes, now).await,
        BenchCommand::Metrics {
            accounts,
            months,
            seed,
        } => metrics(accounts, months, seed, now.date_naive()),
        BenchCommand::Predict { runs, training } => predict(runs, training.as_deref()),
        BenchCommand::Web { accounts, pages } => web(accounts, pages, now).await,
        BenchCommand::Simulate {
            accounts,
            months,
            seed,
        } => {
            let config = SimConfig::new(accounts, months, seed);
            let mut sink = Count::default();
            let started = Instant::now();
            let summary = match simulate(&config, &mut sink) {
                Ok(s) => s,
                Err(never) => match never {},
            };
            let secs = started.elapsed().as_secs_f64();
            println!("simulate: {accounts} accounts × {months} months, seed {seed}, one thread");
            println!(
                "  {} events ({:.1} MiB of Segment JSON), {} records in {secs:.2} s",
                summary.events,
                sink.event_bytes as f64 / (1024.0 * 1024.0),
                sink.records
            );
            println!("  {:.0} events/s", summary.events as f64 / secs);
            if let Some(rss) = peak_rss_mib() {
                println!("  peak resident memory {rss:.0} MiB");
            }
            Ok(())
        }
    }
}

fn log(
    dir: &std::path::Path,
    writers: usize,
    batch: usize,
    record_bytes: usize,
    seconds: u64,
) -> Outcome {
    use std::sync::Arc;
    use tenure_lake::{EventLog, FileLog};
    if dir.exists() {
        return Err(crate::failure::Failure::rejected(format!(
            "error: {} exists; give a folder that does not, it is removed afterwards",
            dir.display()
        )));
    }
    let log = Arc::new(FileLog::open(dir)?);
    let deadline = Instant::now() + std::time::Duration::from_secs(seconds);
    let started = Instant::now();
    let handles: Vec<_> = (0..writers.max(1))
        .map(|_| {
            let log = log.clone();
            std::thread::spawn(move || -> Result<Vec<f64>, tenure_lake::LogError> {
                let record = vec![b'x'; record_bytes];
                let records: Vec<&[u8]> = vec![record.as_slice(); batch.max(1)];
                let mut latencies = Vec::new();
                while Instant::now() < deadline {
                    let t = Instant::now();
                    log.append(&records)?;
                    latencies.push(t.elapsed().as_secs_f64() * 1000.0);
                }
                Ok(latencies)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for h in handles {
        let part = h
            .join()
            .map_err(|_| anyhow::anyhow!("a writer thread panicked"))??;
        latencies.extend(part);
    }
    let secs = started.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 - 1.0) * p) as usize)
            .copied()
            .unwrap_or(0.0)
    };
    let records = log.end();
    println!("log: {writers} writers × {batch} records of {record_bytes} bytes per append, {seconds} s, every append durable");
    println!(
        "  {records} records in {} appends: {:.0} records/s",
        latencies.len(),
        records as f64 / secs
    );
    println!(
        "  append latency p50 {:.2} ms, p99 {:.2} ms",
        pct(0.5),
        pct(0.99)
    );
    drop(log);
    std::fs::remove_dir_all(dir).map_err(|e| anyhow::anyhow!("removing {}: {e}", dir.display()))?;
    Ok(())
}

/// Serves an ingestion pipeline over a fresh log in `log_dir`; returns its address and a stop.
async fn ingest_server(
    store: std::sync::Arc<dyn tenure_store::Store>,
    log_dir: &std::path::Path,
    now: tenure_domain::Timestamp,
) -> Outcome<(std::net::SocketAddr, tokio::sync::oneshot::Sender<()>)> {
    use std::sync::Arc;
    let log = tenure_lake::FileLog::open(log_dir)?;
    let ingestion = tenure_server::Ingestion::new(Arc::new(log), now)?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let state = tenure_server::AppState {
        store,
        ingestion: Some(Arc::new(ingestion)),
        lake: None,
        engine: None,
        metrics: Default::default(),
        signals: Default::default(),
        limiter: Default::default(),
        telemetry: Default::default(),
        data_dir: None,
    };
    tokio::spawn(tenure_server::serve(listener, state, async {
        let _ = stopped.await;
    }));
    Ok((addr, stop))
}

async fn ingest(events: u64, concurrency: usize, now: tenure_domain::Timestamp) -> Outcome {
    let root = std::env::temp_dir().join(format!("tenure-bench-ingest-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let data_dir = DataDir::new(root.join("data"), None);
    let secrets = init::initialise(&data_dir, now).await?;
    // The simulator's default company yields about 2,700 events per account over 24 months.
    let accounts = (events / 2_700).max(1) as u32;
    let config = tenure_sim::SimConfig::new(accounts, 24, 7);
    let summary = simulate::simulate_b2b(&config, &root.join("sim"), false)?;
    let file = root.join("sim").join("events.jsonl");
    let store = data_dir.open_store().await?;

    let (addr, stop) = ingest_server(store.clone(), &root.join("log-full"), now).await?;
    let url = format!("http://{addr}");
    let options = send::Options {
        url: &url,
        write_key: &secrets.write_key,
        concurrency,
        rate: None,
        progress: false,
        import: false,
    };
    let full = send::send_file(&file, &options).await?;
    let _ = stop.send(());
    let rate = full.accepted as f64 / full.seconds;

    let (addr, stop) = ingest_server(store, &root.join("log-half"), now).await?;
    let url = format!("http://{addr}");
    let options = send::Options {
        rate: Some(rate / 2.0),
        url: &url,
        ..options
    };
    let mut half = send::send_file(&file, &options).await?;
    let _ = stop.send(());
    half.latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        half.latencies
            .get(((half.latencies.len() as f64 - 1.0) * p) as usize)
            .copied()
            .unwrap_or(0.0)
            * 1000.0
    };

    println!("ingest: {} Segment events ({} accounts simulated) through HTTP /v1/batch, {concurrency} requests in flight", summary.events, accounts);
    println!(
        "  full speed: {:.0} events/s durable ({} accepted in {:.1} s, {} requests of up to 2,500 events, {} retries)",
        rate, full.accepted, full.seconds, full.requests, full.retries
    );
    println!(
        "  at half that load ({:.0} events/s): acknowledgement latency per request p50 {:.1} ms, p99 {:.1} ms",
        half.accepted as f64 / half.seconds,
        pct(0.5),
        pct(0.99)
    );
    if !full.rejected.is_empty() || !half.rejected.is_empty() {
        println!(
            "  warning: {} events were rejected",
            full.rejected.len() + half.rejected.len()
        );
    }
    let _ = std::fs::remove_dir_all(&root);
    Ok(())
}

fn lake(log_dir: &std::path::Path) -> Outcome {
    if !log_dir.is_dir() {
        return Err(crate::failure::Failure::rejected(format!(
            "error: {} is not an event log folder (try tenure-demo/log)",
            log_dir.display()
        )));
    }
    let dir = std::env::temp_dir().join(format!("tenure-bench-lake-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut lake = tenure_lake::Lake::open(&dir)?;
    let started = Instant::now();
    let synced = lake.sync(&|from, limit| tenure_lake::read_log_dir(log_dir, from, limit))?;
    let sync_secs = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let compacted = lake.compact()?;
    let compact_secs = started.elapsed().as_secs_f64();
    let bytes: u64 = lake.parts()?.iter().map(|p| p.bytes).sum();
    println!(
        "lake: {} log records, {} events",
        synced.records, synced.events
    );
    println!(
        "  sync      {sync_secs:.1} s ({:.0} events/s) into {} files",
        synced.events as f64 / sync_secs.max(1e-9),
        synced.files
    );
    println!(
        "  compact   {compact_secs:.1} s: {} files → {} ({:.1} MB)",
        compacted.files_before,
        compacted.files_after,
        bytes as f64 / 1e6
    );
    if let Some(mib) = peak_rss_mib() {
        println!("  peak RSS  {mib:.0} MiB");
    }
    drop(lake);
    std::fs::remove_dir_all(&dir)
        .map_err(|e| anyhow::anyhow!("removing {}: {e}", dir.display()))?;
    Ok(())
}

/// Keeps what the simulator produces in memory, events parsed into what the engine reads.
#[derive(Default)]
struct Collect {
    records: Vec<Record>,
    events: Vec<OwnedEvent>,
}

/// A simulated product event, owned.
pub struct OwnedEvent {
    pub account: String,
    pub user: Option<String>,
    pub event: Option<String>,
    pub at: i64,
    pub properties: serde_json::Map<String, serde_json::Value>,
}

#[derive(serde::Deserialize)]
struct Line {
    #[serde(rename = "type")]
    kind: String,
    #[serde(rename = "userId")]
    user_id: Option<String>,
    event: Option<String>,
    timestamp: String,
    #[serde(default)]
    properties: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    context: serde_json::Map<String, serde_json::Value>,
}

impl Sink for Collect {
    type Error = std::convert::Infallible;
    fn record(&mut self, record: &Record) -> Result<(), Self::Error> {
        self.records.push(record.clone());
        Ok(())
    }
    fn events(&mut self, jsonl: &[u8]) -> Result<(), Self::Error> {
        for line in jsonl.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let Ok(l) = serde_json::from_slice::<Line>(line) else {
                continue;
            };
            if !matches!(l.kind.as_str(), "track" | "page" | "screen") {
                continue;
            }
            let Some(account) = l.context.get("groupId").and_then(|v| v.as_str()) else {
                continue;
            };
            let Ok(at) = tenure_domain::time::parse_timestamp(&l.timestamp) else {
                continue;
            };
            self.events.push(OwnedEvent {
                account: account.to_owned(),
                user: l.user_id,
                event: l.event,
                at: at.timestamp_micros(),
                properties: l.properties,
            });
        }
        Ok(())
    }
    fn renewal(&mut self, _: &TruthRenewal) -> Result<(), Self::Error> {
        Ok(())
    }
    fn account_truth(&mut self, _: &TruthAccount) -> Result<(), Self::Error> {
        Ok(())
    }
}

pub fn engine(accounts: u32, months: u32, seed: u64) -> Outcome {
    use std::sync::Arc;
    use tenure_engine::{Engine, EventSignal, Partition, Plan, Signal};
    let config = SimConfig::new(accounts, months, seed);
    let mut sink = Collect::default();
    let started = Instant::now();
    if let Err(never) = simulate(&config, &mut sink) {
        match never {}
    }
    // Arrival order: the simulator writes each account's life in turn; a live feed
    // interleaves accounts in time.
    sink.events.sort_by_key(|e| e.at);
    let end = sink.events.last().map_or(0, |e| e.at) + 1;
    println!(
        "engine: {accounts} accounts × {months} months (seed {seed}): {} product events, {} records, simulated and parsed in {:.1} s",
        sink.events.len(),
        sink.records.len(),
        started.elapsed().as_secs_f64()
    );
    let plan = Arc::new(Plan::new(tenure_domain::SuccessModel::default_model()));
    crate::alloc::count();
    let heap_before = crate::alloc::live();
    let mut engine = Engine::new(Arc::clone(&plan), Partition::ALL);
    let started = Instant::now();
    for r in &sink.records {
        engine.apply(Signal::Record(r), end);
    }
    let records_secs = started.elapsed().as_secs_f64();
    let started = Instant::now();
    for (i, e) in sink.events.iter().enumerate() {
        let props = engine
            .reads_properties(e.event.as_deref())
            .then_some(&e.properties);
        engine.apply(
            Signal::Event(EventSignal {
                offset: i as u64,
                account: &e.account,
                user: e.user.as_deref(),
                event: e.event.as_deref(),
                at: e.at,
                properties: props,
            }),
            end,
        );
    }
    let events_secs = started.elapsed().as_secs_f64();
    // The same events again into a fresh engine, 10,000 at a time grouped by account
    // (as the server applies each chunk it reads from the log).
    let mut grouped = Engine::new(Arc::clone(&plan), Partition::ALL);
    for r in &sink.records {
        grouped.apply(Signal::Record(r), end);
    }
    let started = Instant::now();
    for (c, chunk) in sink.events.chunks(10_000).enumerate() {
        let mut signals = chunk_signals(&plan, chunk, c * 10_000);
        grouped.apply_batch(&mut signals, end);
    }
    let grouped_secs = started.elapsed().as_secs_f64();
    let same = grouped.digest() == engine.digest();
    drop(grouped);
    let started = Instant::now();
    let scored = engine.refresh(end);
    let refresh_secs = started.elapsed().as_secs_f64();
    // The server ticks at every change of day: records older than every window are trimmed.
    engine.tick(end);
    let heap_after = crate::alloc::live();
    let signals = sink.events.len() as f64;
    println!(
        "  apply: {:.0} events/s on one core ({} events in {events_secs:.2} s); {} records in {records_secs:.2} s",
        signals / events_secs,
        sink.events.len(),
        sink.records.len()
    );
    println!(
        "  apply, 10,000 at a time grouped by account: {:.0} events/s on one core ({grouped_secs:.2} s; same state: {same})",
        signals / grouped_secs
    );
    println!(
        "  score: {scored} accounts re-scored with explanations in {refresh_secs:.3} s ({:.1} µs per account)",
        refresh_secs * 1e6 / scored.max(1) as f64
    );
    if let (Some(a), Some(b)) = (heap_before, heap_after) {
        let n = engine.len().max(1) as f64;
        println!(
            "  live state: {:.1} MiB of heap held by the engine for {} accounts ({} users in a window) = {:.0} bytes per account (allocator size classes included)",
            (b - a) as f64 / 1048576.0,
            engine.len(),
            engine.users(),
            (b - a) as f64 / n
        );
    }
    let n = engine.len().max(1);
    println!(
        "  live state accounted: {:.0} bytes per account ({} inline per account state; allocator overhead not counted)",
        engine.state_bytes() as f64 / n as f64,
        std::mem::size_of::<tenure_engine::state::AccountState>()
    );
    let parts: Vec<String> = engine
        .state_parts()
        .into_iter()
        .map(|(name, b)| format!("{name} {:.0}", b as f64 / n as f64))
        .collect();
    println!(
        "    of which on the heap, per account: {}",
        parts.join(", ")
    );
    let saved = engine.save();
    println!(
        "  snapshot: {:.1} MiB of JSON",
        saved.len() as f64 / 1048576.0
    );
    Ok(())
}

/// A chunk of simulated events as engine signals, offsets numbered from `first`.
fn chunk_signals<'a>(
    plan: &tenure_engine::Plan,
    chunk: &'a [OwnedEvent],
    first: usize,
) -> Vec<tenure_engine::Signal<'a>> {
    chunk
        .iter()
        .enumerate()
        .map(|(i, e)| {
            tenure_engine::Signal::Event(tenure_engine::EventSignal {
                offset: (first + i) as u64,
                account: &e.account,
                user: e.user.as_deref(),
                event: e.event.as_deref(),
                at: e.at,
                properties: plan
                    .reads_properties(e.event.as_deref())
                    .then_some(&e.properties),
            })
        })
        .collect()
}

/// `n` playbooks cycling through every trigger kind, with varied thresholds, scopes and
/// cool-downs.
fn many_playbooks(n: u32) -> std::collections::BTreeMap<String, tenure_domain::model::Playbook> {
    use tenure_domain::model::{Action, Band, Playbook, Priority, Role, Trigger};
    let base = tenure_domain::SuccessModel::default_model();
    let tiers: Vec<String> = base.tiers.iter().map(|t| t.name.clone()).collect();
    (0..n)
        .map(|i| {
            let k = f64::from(i / 9 + 1);
            let trigger = match i % 9 {
                0 => Trigger::RenewalWithin {
                    days: 30 + 10 * (i / 9),
                    bands: vec![Band::Red, Band::Amber],
                },
                1 => Trigger::MeasureBelow {
                    measure: "seat_utilisation".into(),
                    threshold: 0.1 * k,
                    for_days: 7,
                },
                2 => Trigger::MeasureAbove {
                    measure: "urgent_tickets_90d".into(),
                    threshold: k,
                    for_days: 0,
                },
                3 => Trigger::MeasureDrop {
                    measure: "core_actions_trend".into(),
                    percent: 10.0 * k,
                },
                4 => Trigger::HealthDrop {
                    points: 5.0 * k,
                    days: 7 * (i / 9 + 1),
                },
                5 => Trigger::BandIs {
                    band: Band::Red,
                    for_days: i / 9,
                },
                6 => Trigger::MilestoneMissed {
                    milestone: "activated".into(),
                    days_after_signup: 7 * (i / 9 + 1),
                },
                7 => Trigger::ReleaseTouchesFeature {
                    min_days: 2 * (i / 9 + 1),
                    within_days: 30,
                },
                _ => Trigger::MilestoneReached {
                    milestone: "first_value".into(),
                },
            };
            (
                format!("playbook_{i:02}"),
                Playbook {
                    description: String::new(),
                    owner: String::new(),
                    trigger,
                    tiers: if i % 3 == 0 {
                        tiers.iter().take(2).cloned().collect()
                    } else {
                        Vec::new()
                    },
                    segments: Vec::new(),
                    cooldown_days: 30,
                    holdout_percent: 10.0,
                    actions: vec![Action::Task {
                        title: "Look".into(),
                        role: Role::Csm,
                        priority: Priority::Moderate,
                        sla_hours: 168,
                    }],
                },
            )
        })
        .collect()
}

/// Engine throughput with no playbooks and with `n`, run as the server runs it.
pub fn playbooks(accounts: u32, months: u32, seed: u64, n: u32) -> Outcome {
    use std::sync::Arc;
    use tenure_engine::{day, Engine, Partition, Plan, Signal};
    let config = SimConfig::new(accounts, months, seed);
    let mut sink = Collect::default();
    if let Err(never) = simulate(&config, &mut sink) {
        match never {}
    }
    sink.events.sort_by_key(|e| e.at);
    println!(
        "playbooks: {accounts} accounts × {months} months (seed {seed}): {} product events, {} records",
        sink.events.len(),
        sink.records.len()
    );
    // The two engines, one without playbooks and one with `n`, run side by side: each chunk
    // of events goes to both, in turn, the first of the two alternating from chunk to chunk,
    // and each engine's time is summed. Both see the machine at the same moments, so what
    // slows this shared machine for seconds at a time (it moves single runs by ±10 %) falls
    // on both alike and the difference is the playbooks'. Three such paired runs.
    let first = sink.events.first().map_or(0, |e| e.at);
    let mut costs = Vec::new();
    for round in 1..=3 {
        let mut sides: Vec<(
            Arc<Plan>,
            Engine,
            day::Day,
            std::time::Duration,
            usize,
            usize,
        )> = [0, n]
            .into_iter()
            .map(|count| {
                let mut model = tenure_domain::SuccessModel::default_model();
                model.playbooks = many_playbooks(count);
                let plan = Arc::new(Plan::new(model));
                let mut engine = Engine::new(Arc::clone(&plan), Partition::ALL);
                for r in &sink.records {
                    engine.apply(Signal::Record(r), first);
                }
                let started = Instant::now();
                engine.tick(first);
                (plan, engine, day::day_of(first), started.elapsed(), 0, 0)
            })
            .collect();
        for (c, chunk) in sink.events.chunks(10_000).enumerate() {
            let now = chunk.last().map_or(first, |e| e.at);
            let mut signals = chunk_signals(&sides[0].0, chunk, c * 10_000);
            for k in [c % 2, 1 - c % 2] {
                let (_, engine, today, spent, rescored, fired) = &mut sides[k];
                let started = Instant::now();
                if day::day_of(now) > *today {
                    *today = day::day_of(now);
                    engine.tick(day::start_of(*today));
                }
                engine.apply_batch(&mut signals, now);
                *rescored += engine.refresh(now);
                *fired += engine.take_firings().len();
                *spent += started.elapsed();
            }
        }
        let secs: Vec<f64> = sides.iter().map(|s| s.3.as_secs_f64()).collect();
        for (count, side) in [0, n].into_iter().zip(&sides) {
            println!(
                "  run {round}, {count:>3} playbooks: {:.0} events/s on one core ({:.1} s; {} re-scores after chunks, a tick each day; {} firings)",
                sink.events.len() as f64 / side.3.as_secs_f64(),
                side.3.as_secs_f64(),
                side.4,
                side.5
            );
        }
        costs.push(secs[1] / secs[0] - 1.0);
    }
    costs.sort_by(f64::total_cmp);
    println!(
        "  {n} playbooks cost {:+.1} % of the engine's time (median of three paired runs; {:+.1} to {:+.1} %)",
        costs[1] * 100.0,
        costs[0] * 100.0,
        costs[2] * 100.0
    );
    Ok(())
}

/// Freshness: the time from an event's acknowledgement (the 200 of /v1/track) to the API
/// showing the account's updated features and score, while a background load streams a
/// simulated company's events through /v1/batch.
pub async fn freshness(
    accounts: u32,
    load: f64,
    probes: usize,
    now: tenure_domain::Timestamp,
) -> Outcome {
    let root = std::env::temp_dir().join(format!("tenure-bench-fresh-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let data_dir = DataDir::new(root.join("data"), None);
    let secrets = init::initialise(&data_dir, now).await?;
    let months = 24;
    let mut config = tenure_sim::SimConfig::new(accounts, months, 7);
    config.start = now
        .date_naive()
        .checked_sub_months(chrono::Months::new(months))
        .unwrap_or(config.start);
    let summary = simulate::simulate_b2b(&config, &root.join("sim"), false)?;
    let store = data_dir.open_store().await?;
    crate::commands::import::import(store.as_ref(), &[root.join("sim")], None, 1000, true).await?;
    let running = crate::commands::serve::start(
        store.clone(),
        &data_dir,
        "127.0.0.1:0".parse().expect("an address"),
        &Default::default(),
    )
    .await?;
    let url = format!("http://{}", running.addr);
    // History first, as fast as it goes; then the measured phase under `load`.
    let file = root.join("sim").join("events.jsonl");
    let history = send::send_file(
        &file,
        &send::Options {
            url: &url,
            write_key: &secrets.write_key,
            concurrency: 4,
            rate: None,
            progress: false,
            import: true,
        },
    )
    .await?;
    // The background load: a second company's events (new message ids) at `load` events/s.
    let mut second = config.clone();
    second.seed = 8;
    simulate::simulate_b2b(&second, &root.join("sim2"), false)?;
    let file2 = root.join("sim2").join("events.jsonl");
    let (url2, key2) = (url.clone(), secrets.write_key.clone());
    let background = tokio::spawn(async move {
        send::send_file(
            &file2,
            &send::Options {
                url: &url2,
                write_key: &key2,
                concurrency: 2,
                rate: Some(load),
                progress: false,
                import: true,
            },
        )
        .await
    });
    let client = reqwest::Client::new();
    let token = &secrets.admin_token;
    let mut latencies = Vec::with_capacity(probes);
    let mut polls = 0u64;
    let probe_account = "freshness-probe";
    for i in 0..probes {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let body = serde_json::json!({
            "type": "track",
            "event": "report_shared",
            "userId": "probe-user",
            "messageId": format!("probe-{i}"),
            "properties": { "report_id": format!("r{i}") },
            "context": { "groupId": probe_account },
        });
        let sent = client
            .post(format!("{url}/v1/track"))
            .basic_auth(&secrets.write_key, Some(""))
            .json(&body)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("probe: {e}"))?;
        let acked = Instant::now();
        if !sent.status().is_success() {
            return Err(anyhow::anyhow!("probe rejected: {}", sent.status()).into());
        }
        loop {
            polls += 1;
            let v: serde_json::Value = client
                .get(format!("{url}/api/v1/accounts/{probe_account}"))
                .bearer_auth(token)
                .send()
                .await
                .map_err(|e| anyhow::anyhow!("probe read: {e}"))?
                .json()
                .await
                .map_err(|e| anyhow::anyhow!("probe read: {e}"))?;
            if v["features"]["core_actions_30d"].as_f64() == Some((i + 1) as f64)
                && v["health"]["score"].is_number()
            {
                latencies.push(acked.elapsed().as_secs_f64() * 1000.0);
                break;
            }
        }
    }
    background.abort();
    let engine_applied = running.engine.next_offset();
    running.stop().await?;
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 - 1.0) * p) as usize)
            .copied()
            .unwrap_or(0.0)
    };
    println!(
        "freshness: {accounts} accounts, {} events of history ({:.0} events/s through /v1/import), then {probes} probes under a background load of {load:.0} events/s",
        summary.events,
        history.accepted as f64 / history.seconds.max(1e-9)
    );
    println!(
        "  acknowledgement (200 of /v1/track) → updated features and score through GET /api/v1/accounts/ID: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} reads for {} probes; the engine had applied {} log records)",
        pct(0.5),
        pct(0.99),
        latencies.last().copied().unwrap_or(0.0),
        polls,
        latencies.len(),
        engine_applied
    );
    let _ = std::fs::remove_dir_all(&root);
    Ok(())
}

/// Rescoring at scale: the lake in `lake_dir` (e.g. tenure-demo/lake) copied `times` times
/// into a temporary lake, each copy's account and user ids suffixed (`acct-000001~3`), then
/// replayed day by day under the default model with every account's daily snapshot computed
/// (and counted, not stored: `tenure rescore` measures the store's writes). The copies keep
/// only the columns a rescore reads.
pub fn rescore(lake_dir: &std::path::Path, times: u32) -> Outcome {
    use arrow_array::{ArrayRef, RecordBatch, StringArray};
    use std::sync::Arc;
    let parts = tenure_lake::list_parts(lake_dir)?;
    if parts.is_empty() {
        return Err(crate::failure::Failure::rejected(format!(
            "error: {} holds no lake files (try tenure-demo/lake)",
            lake_dir.display()
        )));
    }
    let root = std::env::temp_dir().join(format!("tenure-bench-rescore-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let lake = root.join("lake");
    std::fs::create_dir_all(lake.join("events"))?;
    std::fs::copy(lake_dir.join("state.json"), lake.join("state.json"))?;
    let started = Instant::now();
    let mut by_day: std::collections::BTreeMap<chrono::NaiveDate, Vec<&tenure_lake::Part>> =
        Default::default();
    for p in &parts {
        by_day.entry(p.date).or_default().push(p);
    }
    let mut rows = 0u64;
    let mut bytes = 0u64;
    for (date, ps) in &by_day {
        // Only the columns a rescore reads are copied: Parquet reads columns independently,
        // so the others would cost disk space and copying time, not replay time.
        let mut batches = Vec::new();
        for p in ps {
            batches.extend(tenure_lake::table::read_columns(
                &p.path,
                &tenure_server::history::READ_COLUMNS,
            )?);
        }
        let mut out = Vec::new();
        for k in 0..times {
            for b in &batches {
                let columns: Vec<ArrayRef> = b
                    .schema()
                    .fields()
                    .iter()
                    .zip(b.columns())
                    .map(|(f, c)| -> ArrayRef {
                        let suffixed = matches!(
                            f.name().as_str(),
                            "account_id" | "user_id" | "anonymous_id" | "group_id"
                        );
                        match c.as_any().downcast_ref::<StringArray>() {
                            Some(s) if suffixed && k > 0 => Arc::new(
                                s.iter()
                                    .map(|v| v.map(|v| format!("{v}~{k}")))
                                    .collect::<StringArray>(),
                            ),
                            _ => Arc::clone(c),
                        }
                    })
                    .collect();
                let batch = RecordBatch::try_new(b.schema(), columns)
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                rows += batch.num_rows() as u64;
                out.push(batch);
            }
        }
        let first = ps.iter().map(|p| p.first).min().unwrap_or(0);
        let last = ps.iter().map(|p| p.last).max().unwrap_or(0);
        let dir = lake.join("events").join(format!("date={date}"));
        std::fs::create_dir_all(&dir)?;
        bytes += tenure_lake::table::write_file(
            &dir.join(format!("part-{first:020}-{last:020}.parquet")),
            &out,
        )?;
    }
    let copy_secs = started.elapsed().as_secs_f64();
    println!(
        "rescore: a lake of {rows} events ({} copies of {}; {:.1} GB, {} days) made in {copy_secs:.0} s",
        times,
        lake_dir.display(),
        bytes as f64 / 1e9,
        by_day.len()
    );
    let data_dir = DataDir::new(root.clone(), None);
    let plan = Arc::new(tenure_engine::Plan::new(
        tenure_domain::SuccessModel::default_model(),
    ));
    let events = Arc::new(data_dir.events(&plan)?);
    let days = events.days();
    let stats =
        crate::commands::score::replay_lake(events, plan, Vec::new(), days, None, |_| true)?;
    println!(
        "  replayed {} events day by day with {} daily account snapshots in {:.1} s: {:.0} events/s on {} fold threads (reading and routing the lake took {:.1} s on the reader thread)",
        stats.events,
        stats.snapshots,
        stats.seconds,
        stats.events as f64 / stats.seconds.max(1e-9),
        stats.partitions,
        stats.read_seconds
    );
    if let Some(rss) = peak_rss_mib() {
        println!("  peak resident memory {rss:.0} MiB");
    }
    let _ = std::fs::remove_dir_all(&root);
    Ok(())
}

/// SplitMix64: a small, seeded generator for synthetic data.
struct Mix(u64);

impl Mix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in 0..1.
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// A synthetic revenue ledger: each account signs up on a random day, then each month may
/// expand, contract, churn or (once churned) come back.
fn synthetic_ledger(
    accounts: u32,
    months: u32,
    seed: u64,
    end: chrono::NaiveDate,
) -> (
    Vec<tenure_domain::Account>,
    Vec<tenure_domain::SubscriptionChange>,
) {
    use tenure_domain::{
        Account, AccountId, ChangeKind, Currency, Money, SubscriptionChange, SubscriptionChangeId,
        SubscriptionId, UserId,
    };
    let mut rng = Mix(seed);
    let start = end
        .checked_sub_months(chrono::Months::new(months))
        .unwrap_or(end);
    let days = (end - start).num_days().max(1) as u64;
    let plans = ["starter", "growth", "enterprise"];
    let industries = [
        "software",
        "retail",
        "finance",
        "health",
        "media",
        "education",
        "logistics",
        "energy",
    ];
    let regions = ["emea", "amer", "apac", "latam"];
    let sizes = ["1-10", "11-50", "51-200", "201-1000", "1000+"];
    let (mut out_accounts, mut changes) = (Vec::new(), Vec::new());
    for a in 0..accounts {
        let id = format!("acct-{a:06}");
        let signed = start + chrono::Days::new(rng.below(days));
        let Ok(account_id) = AccountId::parse(id.clone()) else {
            continue;
        };
        out_accounts.push(Account {
            id: account_id.clone(),
            name: id.clone(),
            plan: Some(plans[rng.below(3) as usize].to_owned()),
            industry: Some(industries[rng.below(8) as usize].to_owned()),
            region: Some(regions[rng.below(4) as usize].to_owned()),
            country: None,
            size_band: Some(sizes[rng.below(5) as usize].to_owned()),
            owner: UserId::parse(format!("csm-{:02}", rng.below(50))).ok(),
            parent: None,
            signed_up_at: signed
                .and_hms_opt(9, 0, 0)
                .map(|t| t.and_utc().fixed_offset()),
            executive_sponsor: None,
        });
        let Ok(sub) = SubscriptionId::parse(format!("{id}-sub")) else {
            continue;
        };
        let mut arr: i64 = 100_000 + rng.below(9_900_000) as i64;
        let mut push = |kind: ChangeKind, day: chrono::NaiveDate, delta: i64| {
            let n = changes.len();
            if let Ok(cid) = SubscriptionChangeId::parse(format!("chg-{n}")) {
                changes.push(SubscriptionChange {
                    id: cid,
                    subscription: sub.clone(),
                    account: account_id.clone(),
                    kind,
                    effective: day,
                    arr_delta: Money::new(delta, Currency::USD),
                    seats_delta: 0,
                    reason: None,
                });
            }
        };
        push(ChangeKind::New, signed, arr);
        let mut day = signed + chrono::Days::new(30);
        while day <= end {
            let p = rng.unit();
            if arr > 0 {
                if p < 0.015 {
                    push(ChangeKind::Churn, day, -arr);
                    arr = 0;
                } else if p < 0.045 {
                    let up = arr * (10 + rng.below(40) as i64) / 100;
                    push(ChangeKind::Expansion, day, up);
                    arr += up;
                } else if p < 0.065 {
                    let down = arr * (10 + rng.below(20) as i64) / 100;
                    push(ChangeKind::Contraction, day, -down);
                    arr -= down;
                }
            } else if p < 0.02 {
                arr = 100_000 + rng.below(5_000_000) as i64;
                push(ChangeKind::Reactivation, day, arr);
            }
            day = day + chrono::Days::new(28 + rng.below(6));
        }
    }
    (out_accounts, changes)
}

/// The best of three runs of `query` in milliseconds (the figure a warm server answers
/// with), and how many rows it gave.
fn best_of_three(mut query: impl FnMut() -> usize) -> (f64, usize) {
    let mut best = f64::MAX;
    let mut rows = 0;
    for _ in 0..3 {
        let t = Instant::now();
        rows = query();
        best = best.min(t.elapsed().as_secs_f64() * 1e3);
    }
    (best, rows)
}

/// Times `query` for each period kind and grouping (best of three), prints a line per period
/// kind and returns the slowest time.
fn time_grid(
    periods: &[(&str, tenure_domain::model::Period)],
    groups: &[Option<tenure_metrics::GroupBy>],
    mut query: impl FnMut(tenure_domain::model::Period, Option<tenure_metrics::GroupBy>) -> usize,
) -> f64 {
    let mut worst: f64 = 0.0;
    for (name, period) in periods {
        let mut cells = Vec::new();
        for by in groups {
            let (best, rows) = best_of_three(|| query(*period, *by));
            worst = worst.max(best);
            cells.push(format!(
                "{} {best:.1} ms ({rows} rows)",
                by.map_or("total", tenure_metrics::GroupBy::name)
            ));
        }
        println!("  {name:<8} {}", cells.join(", "));
    }
    worst
}

/// The best of `runs` timings of `f`, in milliseconds.
fn best_ms(runs: u32, f: &mut dyn FnMut()) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        f();
        best = best.min(t.elapsed().as_secs_f64() * 1e3);
    }
    best
}

/// Revenue retention, experience and usage query times over synthetic data.
pub fn metrics(accounts: u32, months: u32, seed: u64, today: chrono::NaiveDate) -> Outcome {
    use tenure_domain::model::Period;
    use tenure_metrics::{GroupBy, RevenueData};
    let started = Instant::now();
    let (accs, changes) = synthetic_ledger(accounts, months, seed, today);
    println!(
        "metrics: {} accounts × {months} months, {} revenue changes (seed {seed}), made in {:.1} s",
        accs.len(),
        changes.len(),
        started.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    let data = RevenueData::new(&accs, &changes, None);
    println!(
        "  ledger built from the records in {:.0} ms",
        started.elapsed().as_secs_f64() * 1e3
    );
    let to = today;
    let from = today
        .checked_sub_months(chrono::Months::new(months))
        .unwrap_or(today);
    let mut worst: f64 = 0.0;
    worst = worst.max(time_grid(
        &[
            ("month", Period::Month),
            ("quarter", Period::Quarter),
            ("year", Period::Year),
            ("ttm", Period::Ttm),
        ],
        &[
            None,
            Some(GroupBy::Plan),
            Some(GroupBy::Csm),
            Some(GroupBy::Cohort),
        ],
        |period, by| data.retention(period, from, to, by).len(),
    ));
    let mut cells = Vec::new();
    for (name, by) in [
        ("signup", GroupBy::Cohort),
        ("plan", GroupBy::Plan),
        ("csm", GroupBy::Csm),
        ("industry", GroupBy::Industry),
    ] {
        let (best, rows) = best_of_three(|| data.cohorts(by, today, months).len());
        worst = worst.max(best);
        cells.push(format!("{name} {best:.1} ms ({rows} cohorts)"));
    }
    println!("  cohorts  {} ({months} months each)", cells.join(", "));

    // Experience: an NPS answer per account per quarter, a CSAT answer per year and a ticket
    // every two months, resolved within a week.
    use tenure_domain::{
        AccountId, SurveyResponse, SurveyResponseId, SurveyScore, Ticket, TicketId, TicketPriority,
        TicketStatus,
    };
    let started = Instant::now();
    let mut rng = Mix(seed ^ 0x5eed);
    let (mut surveys, mut tickets) = (Vec::new(), Vec::new());
    let span_days = (to - from).num_days().max(1) as u64;
    for a in &accs {
        let account: AccountId = a.id.clone();
        for q in 0..(months / 3).max(1) {
            let day = from + chrono::Days::new(rng.below(span_days));
            let at = day
                .and_hms_opt(12, 0, 0)
                .map(|t| t.and_utc().fixed_offset());
            let (Some(at), Ok(id)) = (
                at,
                SurveyResponseId::parse(format!("{}-s{q}", a.id.as_str())),
            ) else {
                continue;
            };
            let score = if q % 4 == 3 {
                SurveyScore::Csat(1 + rng.below(5) as u8)
            } else {
                SurveyScore::Nps(rng.below(11) as u8)
            };
            surveys.push(SurveyResponse {
                id,
                account: account.clone(),
                contact: None,
                responded_at: at,
                score,
                comment: None,
            });
        }
        for t in 0..(months / 2).max(1) {
            let day = from + chrono::Days::new(rng.below(span_days));
            let Some(opened) = day.and_hms_opt(9, 0, 0).map(|t| t.and_utc().fixed_offset()) else {
                continue;
            };
            let Ok(id) = TicketId::parse(format!("{}-t{t}", a.id.as_str())) else {
                continue;
            };
            tickets.push(Ticket {
                id,
                account: account.clone(),
                contact: None,
                subject: None,
                opened_at: opened,
                resolved_at: Some(
                    opened + chrono::Duration::minutes(rng.below(7 * 24 * 60) as i64),
                ),
                priority: TicketPriority::Normal,
                status: TicketStatus::Solved,
                csat: Some(1 + rng.below(5) as u8),
                category: None,
            });
        }
    }
    let made = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let exp = tenure_metrics::ExperienceData::new(&accs, &surveys, &tickets);
    println!(
        "  experience: {} survey answers and {} tickets (made in {made:.1} s), indexed in {:.0} ms",
        surveys.len(),
        tickets.len(),
        started.elapsed().as_secs_f64() * 1e3
    );
    worst = worst.max(time_grid(
        &[
            ("month", Period::Month),
            ("quarter", Period::Quarter),
            ("ttm", Period::Ttm),
        ],
        &[None, Some(GroupBy::Plan), Some(GroupBy::Csm)],
        |period, by| exp.experience(period, from, to, by).len(),
    ));

    // Usage: each account has 1–8 users, each active on a day with a chance that drifts per
    // account; every account signs up inside the range and reaches its milestones (or not)
    // at random.
    use tenure_metrics::directory::Directory;
    use tenure_metrics::usage::{ActivityFold, JourneyFacts, UsageData, Windows};
    let mut rng = Mix(seed ^ 0xacc7);
    let users: Vec<(u8, f64)> = accs
        .iter()
        .map(|_| (1 + rng.below(8) as u8, 0.05 + 0.4 * rng.unit()))
        .collect();
    let names: Vec<String> = (0..8).map(|u| format!("user-{u}")).collect();
    // The same events twice: once only generated (to time the generator), once folded.
    let generate = |mut f: Option<&mut ActivityFold>| -> u64 {
        let mut rng = Mix(seed ^ 0xe7e7);
        let mut events = 0u64;
        let mut day = from;
        while day < to {
            for (a, (n, p)) in users.iter().enumerate() {
                for name in names.iter().take(*n as usize) {
                    if rng.unit() < *p {
                        if let Some(f) = f.as_deref_mut() {
                            f.event(a as u32, Some(name), day);
                        }
                        events += 1;
                    }
                }
            }
            day = day.succ_opt().unwrap_or(to);
        }
        events
    };
    let started = Instant::now();
    std::hint::black_box(generate(None));
    let generating = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let mut fold = ActivityFold::new();
    let events = generate(Some(&mut fold));
    let activity = fold.finish(to);
    let folded = (started.elapsed().as_secs_f64() - generating).max(1e-9);
    let mut dir = Directory::new(&accs);
    let stages = ["onboarding", "adopting", "engaged", "expanding", "churned"];
    let journeys: Vec<JourneyFacts> = accs
        .iter()
        .map(|a| {
            dir.set(a.id.as_str(), GroupBy::Stage, stages[rng.below(5) as usize]);
            let signed = from + chrono::Days::new(rng.below(span_days));
            let after = |rng: &mut Mix, chance: f64, days: u64| {
                (rng.unit() < chance).then(|| signed + chrono::Days::new(rng.below(days)))
            };
            JourneyFacts {
                account: a.id.as_str().to_owned(),
                signed_up_on: Some(signed),
                activated_on: after(&mut rng, 0.8, 30),
                habit_on: after(&mut rng, 0.6, 90),
                time_to_first_value_days: (rng.unit() < 0.7).then(|| rng.below(60) as i64),
            }
        })
        .collect();
    let started = Instant::now();
    let usage = UsageData::new(
        dir,
        activity,
        &journeys,
        Windows {
            activation_days: 14,
            habit_days: 60,
        },
        to,
    );
    println!(
        "  usage: {events} user-days folded in {folded:.1} s ({:.1} M/s; generating them took {generating:.1} s more), {} journeys indexed in {:.0} ms",
        events as f64 / folded / 1e6,
        journeys.len(),
        started.elapsed().as_secs_f64() * 1e3
    );
    worst = worst.max(time_grid(
        &[
            ("month", Period::Month),
            ("quarter", Period::Quarter),
            ("ttm", Period::Ttm),
        ],
        &[
            None,
            Some(GroupBy::Plan),
            Some(GroupBy::Csm),
            Some(GroupBy::Stage),
        ],
        |period, by| usage.usage(period, from, to, by).len(),
    ));
    println!("  slowest query {worst:.1} ms");
    Ok(())
}

/// The reference data sets, built in so the benchmark runs anywhere.
const CDNOW: &str = include_str!("../../../tenure-predict/tests/data/cdnow_summary.csv");
const ROSSI: &str = include_str!("../../../tenure-predict/tests/data/rossi.csv");

/// The numeric cells of a CSV with a header.
fn numeric_rows(text: &str) -> anyhow::Result<(Vec<String>, Vec<Vec<f64>>)> {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header = reader.headers()?.iter().map(str::to_owned).collect();
    let mut rows = Vec::new();
    for r in reader.records() {
        rows.push(
            r?.iter()
                .map(|c| c.parse::<f64>())
                .collect::<Result<Vec<_>, _>>()?,
        );
    }
    Ok((header, rows))
}

/// Model fitting times on the built-in reference data.
fn predict(runs: u32, training: Option<&std::path::Path>) -> Outcome {
    use anyhow::Context as _;
    use tenure_predict::bgnbd::{self, Customer};
    use tenure_predict::{cox, survival};
    let runs = runs.max(1);
    let best = |f: &mut dyn FnMut()| best_ms(runs, f);
    let (h, rows) = numeric_rows(CDNOW).context("reading the built-in CDNOW data")?;
    let col = |h: &[String], n: &str| h.iter().position(|c| c == n).unwrap_or(0);
    let (f, r, t, m) = (
        col(&h, "frequency"),
        col(&h, "recency"),
        col(&h, "T"),
        col(&h, "monetary_value"),
    );
    let customers: Vec<Customer> = rows
        .iter()
        .map(|x| Customer {
            frequency: x[f],
            recency: x[r],
            t: x[t],
        })
        .collect();
    let mut fit = None;
    let ms = best(&mut || fit = bgnbd::fit(&customers).ok());
    let fit = fit.context("BG/NBD did not fit the CDNOW data")?;
    println!(
        "BG/NBD on CDNOW ({} customers): {ms:.2} ms (r {:.4}, alpha {:.4}, a {:.4}, b {:.4}, log-likelihood {:.3})",
        customers.len(),
        fit.r,
        fit.alpha,
        fit.a,
        fit.b,
        fit.log_likelihood
    );
    let pairs: Vec<(f64, f64)> = rows.iter().map(|x| (x[f], x[m])).collect();
    let mut gg = None;
    let ms = best(&mut || gg = bgnbd::fit_gamma_gamma(&pairs).ok());
    let gg = gg.context("Gamma-Gamma did not fit the CDNOW data")?;
    println!(
        "Gamma-Gamma on CDNOW ({} repeat customers): {ms:.2} ms (p {:.4}, q {:.4}, v {:.4})",
        gg.customers, gg.p, gg.q, gg.v
    );
    let (h, rows) = numeric_rows(ROSSI).context("reading the built-in rossi data")?;
    let (week, arrest) = (col(&h, "week"), col(&h, "arrest"));
    let names: Vec<String> = h
        .iter()
        .filter(|c| *c != "week" && *c != "arrest")
        .cloned()
        .collect();
    let time: Vec<f64> = rows.iter().map(|x| x[week]).collect();
    let event: Vec<bool> = rows.iter().map(|x| x[arrest] == 1.0).collect();
    let x: Vec<Vec<f64>> = rows
        .iter()
        .map(|row| names.iter().map(|n| row[col(&h, n)]).collect())
        .collect();
    let mut c = None;
    let ms = best(&mut || c = cox::fit(&time, &event, &x, &names).ok());
    let c = c.context("Cox did not fit the rossi data")?;
    println!(
        "Cox (Efron) on rossi ({} subjects, {} covariates): {ms:.3} ms (log-likelihood {:.4}, concordance {:.4}, {} Newton steps)",
        time.len(),
        names.len(),
        c.log_likelihood,
        c.concordance,
        c.iterations
    );
    let pairs: Vec<(f64, bool)> = time.iter().copied().zip(event.iter().copied()).collect();
    let mut km = None;
    let ms = best(&mut || km = Some(survival::kaplan_meier(&pairs, 0.95)));
    println!(
        "Kaplan–Meier on rossi: {ms:.3} ms ({} steps)",
        km.map_or(0, |k| k.table.len())
    );
    if let Some(path) = training {
        churn_models(path, runs.min(10))?;
    }
    Ok(())
}

/// Fitting times of the churn models on the train rows of an exported training set.
fn churn_models(path: &std::path::Path, runs: u32) -> Outcome {
    use anyhow::Context as _;
    use tenure_predict::classify::{self, Prep, TreeParams};
    let mut reader =
        csv::Reader::from_path(path).with_context(|| format!("reading {}", path.display()))?;
    let header: Vec<String> = reader.headers()?.iter().map(str::to_owned).collect();
    let first = header
        .iter()
        .position(|h| h == "true_probability")
        .context("not a training set written by `tenure backtest --export`")?
        + 1;
    let names: Vec<String> = header[first..].to_vec();
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for r in reader.records() {
        let r = r?;
        if &r[0] != "train" {
            continue;
        }
        y.push(&r[3] == "1");
        x.extend((first..header.len()).map(|j| r[j].parse::<f64>().unwrap_or(f64::NAN)));
    }
    let p = names.len();
    let best = |f: &mut dyn FnMut()| best_ms(runs, f);
    let prep = Prep::fit(&x, p, &names);
    let xs = prep.matrix(&x, p);
    let ms = best(&mut || {
        std::hint::black_box(classify::fit_logistic(&xs, prep.width(), &y, 1.0));
    });
    println!(
        "Logistic regression on {} decisions × {} features: {ms:.1} ms",
        y.len(),
        prep.width()
    );
    let ms = best(&mut || {
        std::hint::black_box(classify::fit_gbdt(&x, p, &y, TreeParams::default()));
    });
    let t = TreeParams::default();
    println!(
        "Boosted trees ({} trees, depth {}, {} bins) on {} decisions × {p} features: {ms:.1} ms",
        t.trees,
        t.max_depth,
        t.bins,
        y.len()
    );
    Ok(())
}

/// A small deterministic generator (xorshift64*), for the synthetic portfolio.
struct Xorshift(u64);

impl Xorshift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// One synthetic account's records: the account, 3 contacts, a contract, 4 tickets, 2 survey
/// answers, 6 touches and 2 tasks.
fn synthetic_account(i: u32, rng: &mut Xorshift, now: tenure_domain::Timestamp) -> Vec<Record> {
    use tenure_domain::model::{ActivityKind, Priority, Role};
    use tenure_domain::*;
    let id = AccountId::parse(format!("acct-{i:06}")).expect("a valid id");
    let owner = UserId::parse(format!("csm-{}@bench.example", i % 40)).expect("a valid id");
    let ago = |days: u64| now - chrono::Duration::days(days as i64);
    let mut out = vec![Record::Account(Account {
        id: id.clone(),
        name: format!("Bench {i}"),
        plan: Some("growth".into()),
        industry: Some("software".into()),
        region: Some("emea".into()),
        country: Some("DE".into()),
        size_band: Some("51-200".into()),
        owner: Some(owner.clone()),
        parent: None,
        signed_up_at: Some(ago(400 + rng.below(300))),
        executive_sponsor: None,
    })];
    let contact = |k: u32| ContactId::parse(format!("u-{i}-{k}")).expect("a valid id");
    for k in 0..3 {
        out.push(Record::Contact(Contact {
            id: contact(k),
            account: id.clone(),
            email: Some(format!("person{k}@bench{i}.example")),
            name: Some(format!("Person {k} of {i}")),
            title: Some("analyst".into()),
            is_admin: k == 0,
            created_at: Some(ago(400)),
        }));
    }
    let start = (now - chrono::Duration::days(rng.below(360) as i64)).date_naive();
    out.push(Record::Subscription(Subscription {
        id: SubscriptionId::parse(format!("sub-{i}")).expect("a valid id"),
        account: id.clone(),
        plan: "growth".into(),
        seats: 10 + rng.below(200) as u32,
        amount: Money::new(
            100_000 + rng.below(5_000_000) as i64,
            Currency::parse("USD").expect("USD"),
        ),
        interval: BillingInterval::Year,
        start,
        end: start.checked_add_months(chrono::Months::new(12)),
        term_months: 12,
        status: SubscriptionStatus::Active,
        auto_renew: true,
    }));
    for k in 0..4 {
        let opened = ago(rng.below(365));
        out.push(Record::Ticket(Ticket {
            id: TicketId::parse(format!("t-{i}-{k}")).expect("a valid id"),
            account: id.clone(),
            contact: Some(contact(k % 3)),
            subject: Some("a question".into()),
            opened_at: opened,
            resolved_at: Some(opened + chrono::Duration::hours(20)),
            priority: TicketPriority::Normal,
            status: TicketStatus::Solved,
            csat: Some(4),
            category: Some("how-to".into()),
        }));
    }
    for k in 0..2 {
        out.push(Record::SurveyResponse(SurveyResponse {
            id: SurveyResponseId::parse(format!("s-{i}-{k}")).expect("a valid id"),
            account: id.clone(),
            contact: Some(contact(k)),
            responded_at: ago(rng.below(365)),
            score: SurveyScore::new("nps", rng.below(11) as i64).expect("0 to 10"),
            comment: None,
        }));
    }
    for k in 0..6 {
        out.push(Record::Activity(CsmActivity {
            id: ActivityId::parse(format!("a-{i}-{k}")).expect("a valid id"),
            account: id.clone(),
            kind: ActivityKind::Email,
            occurred_at: ago(rng.below(365)),
            csm: Some(owner.clone()),
            contact: Some(contact(0)),
            responded_at: None,
            attended: None,
            notes: None,
        }));
    }
    for k in 0..2 {
        out.push(Record::Task(Task {
            id: TaskId::parse(format!("task-{i}-{k}")).expect("a valid id"),
            account: id.clone(),
            playbook: Some("bench".into()),
            title: "Check in".into(),
            role: Role::Csm,
            assignee: Some(owner.clone()),
            priority: Priority::Moderate,
            status: TaskStatus::Open,
            created_at: ago(10),
            due_at: Some(ago(3)),
            snoozed_until: None,
            completed_at: None,
            outcome: None,
        }));
    }
    out
}

/// `tenure bench web`: the account page's server time over a large portfolio.
async fn web(accounts: u32, pages: u32, now: tenure_domain::Timestamp) -> Outcome {
    let root = std::env::temp_dir().join(format!("tenure-bench-web-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let data_dir = DataDir::new(root.join("data"), None);
    init::initialise(&data_dir, now).await?;
    let store = data_dir.open_store().await?;
    let started = Instant::now();
    let mut rng = Xorshift(0x9E37_79B9_7F4A_7C15);
    let mut batch = Vec::with_capacity(20_000);
    let mut records = 0usize;
    for i in 0..accounts {
        batch.extend(synthetic_account(i, &mut rng, now));
        if batch.len() >= 18_000 || i + 1 == accounts {
            records += batch.len();
            store.upsert_many(&batch).await?;
            batch.clear();
        }
    }
    let loaded = started.elapsed().as_secs_f64();
    // The accounts opened: `pages` spread over the portfolio, each with a year of daily health.
    let step = (accounts / pages.max(1)).max(1);
    let opened: Vec<String> = (0..pages.min(accounts))
        .map(|k| {
            format!(
                "acct-{:06}",
                (k * step + rng.below(u64::from(step)) as u32).min(accounts - 1)
            )
        })
        .collect();
    let model = tenure_server::engine_model(store.as_ref()).await?.version();
    let mut snapshots = Vec::new();
    for a in &opened {
        for d in 0..365 {
            let day = now.date_naive() - chrono::Days::new(d);
            snapshots.push(tenure_domain::HealthSnapshot {
                account: tenure_domain::AccountId::parse(a.clone()).expect("a valid id"),
                day,
                model_version: model.clone(),
                score: 30.0 + rng.below(60) as f64,
                band: tenure_domain::model::Band::Amber,
                confidence: 0.9,
                pillars: Default::default(),
                computed_at: now,
            });
        }
        if snapshots.len() >= 50_000 {
            store.put_health_snapshots(&snapshots).await?;
            snapshots.clear();
        }
    }
    store.put_health_snapshots(&snapshots).await?;
    let running = crate::commands::serve::start(
        store.clone(),
        &data_dir,
        "127.0.0.1:0".parse().expect("an address"),
        &Default::default(),
    )
    .await?;
    let url = format!("http://{}", running.addr);
    let users = crate::commands::users::add_demo_users(store.as_ref(), now).await?;
    let (email, _, password) = users
        .iter()
        .find(|u| u.1 == tenure_domain::model::Role::Admin)
        .ok_or_else(|| anyhow::anyhow!("no admin user"))?;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let login = http
        .post(format!("{url}/login"))
        .json(&serde_json::json!({"email": email, "password": password}))
        .send()
        .await?;
    let cookie = login
        .headers()
        .get(reqwest::header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .ok_or_else(|| anyhow::anyhow!("no session cookie"))?
        .to_owned();
    let scored = running.engine.summaries().len();
    let measure = |path: &'static str| {
        let http = http.clone();
        let url = url.clone();
        let cookie = cookie.clone();
        let opened = opened.clone();
        async move {
            // Warm-up, then one request per account, one at a time.
            for a in opened.iter().take(20) {
                http.get(format!("{url}{path}{a}"))
                    .header("cookie", &cookie)
                    .send()
                    .await?
                    .bytes()
                    .await?;
            }
            let mut ms = Vec::new();
            let mut bytes = 0;
            let start = Instant::now();
            let mut slowest = (0.0, 0.0);
            for a in &opened {
                let t = Instant::now();
                let r = http
                    .get(format!("{url}{path}{a}"))
                    .header("cookie", &cookie)
                    .send()
                    .await?;
                anyhow::ensure!(r.status().is_success(), "{path}{a}: {}", r.status());
                bytes += r.bytes().await?.len();
                let took = t.elapsed().as_secs_f64() * 1e3;
                if took > slowest.0 {
                    slowest = (took, t.duration_since(start).as_secs_f64());
                }
                ms.push(took);
            }
            if std::env::var_os("TENURE_BENCH_DEBUG").is_some() {
                eprintln!("{path}: slowest {:.1} ms at {:.2} s", slowest.0, slowest.1);
            }
            ms.sort_by(f64::total_cmp);
            Ok::<_, anyhow::Error>((ms, bytes))
        }
    };
    let (page_ms, page_bytes) = measure("/app/accounts/").await?;
    let (api_ms, _) = measure("/api/v1/accounts/").await?;
    // The role views, each opened three times (the first may fill a cache).
    let mut views = Vec::new();
    for view in ["leader", "manager", "csm", "product"] {
        let mut ms = Vec::new();
        for _ in 0..3 {
            let t = Instant::now();
            let r = http
                .get(format!("{url}/app/{view}"))
                .header("cookie", &cookie)
                .send()
                .await?;
            if !r.status().is_success() {
                return Err(anyhow::anyhow!("/app/{view}: {}", r.status()).into());
            }
            r.bytes().await?;
            ms.push(t.elapsed().as_secs_f64() * 1e3);
        }
        views.push((view, ms));
    }
    running.stop().await?;
    let pct = |v: &[f64], p: f64| v[((v.len() as f64 - 1.0) * p) as usize];
    println!(
        "web: {accounts} accounts ({records} records loaded in {loaded:.1} s; {scored} scored by the server), {} pages opened one at a time",
        page_ms.len()
    );
    println!(
        "  account page  /app/accounts/ID:   p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} KiB a page)",
        pct(&page_ms, 0.5),
        pct(&page_ms, 0.95),
        pct(&page_ms, 0.99),
        page_ms[page_ms.len() - 1],
        page_bytes / page_ms.len().max(1) / 1024
    );
    println!(
        "  account JSON  /api/v1/accounts/ID: p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        pct(&api_ms, 0.5),
        pct(&api_ms, 0.95),
        pct(&api_ms, 0.99),
        api_ms[api_ms.len() - 1]
    );
    for (view, ms) in &views {
        println!(
            "  /app/{view:<8} first {:.0} ms, then {:.0} ms and {:.0} ms",
            ms[0], ms[1], ms[2]
        );
    }
    println!("  (latency seen by a client on the same machine: server time plus loopback)");
    std::fs::remove_dir_all(&root)
        .map_err(|e| anyhow::anyhow!("removing {}: {e}", root.display()))?;
    Ok(())
}

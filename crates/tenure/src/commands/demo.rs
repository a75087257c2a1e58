//! `tenure demo`: a fresh data directory with the default success model; a simulated company
//! of 2,000 accounts over 24 months, imported through `tenure import`'s own code; a summary
//! read back from the store; the simulated product events sent through the real HTTP API
//! into the durable log and the Parquet lake; then the server.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use std::time::Instant;

use tenure_domain::{ChangeKind, Record, RecordKind, SubscriptionStatus, SuccessModel, Timestamp};
use tenure_sim::SimConfig;
use tenure_store::Store;

use crate::commands::{import, init, score, send, serve, simulate};
use crate::data_dir::DataDir;
use crate::failure::{Failure, Outcome};

/// Marks a directory as made by `tenure demo`, so a later demo may replace it.
const DEMO_MARKER: &str = ".tenure-demo";

pub async fn run(
    demo_dir: PathBuf,
    accounts: u32,
    months: u32,
    no_serve: bool,
    listen: SocketAddr,
    now: Timestamp,
) -> Outcome {
    if accounts == 0 || months == 0 {
        return Err(Failure::rejected(
            "error: --accounts and --months must be at least 1",
        ));
    }
    prepare(&demo_dir)?;
    let data_dir = DataDir::new(demo_dir.clone(), None);
    let secrets = init::initialise(&data_dir, now).await?;
    std::fs::write(
        demo_dir.join(DEMO_MARKER),
        "made by `tenure demo`; replaced by the next demo\n",
    )
    .context("marking the demo directory")?;
    let store = data_dir.open_store().await?;
    let model = SuccessModel::default_model();

    println!("Tenure demo in {}", demo_dir.display());
    println!();
    println!("Success model {} — {}", model.version(), model.name);
    println!(
        "  {} tracked events, {} measures, {} milestones, {} health pillars, {} tiers, {} segments, {} playbooks, {} metrics",
        model.events.len(),
        model.measures.len(),
        model.milestones.len(),
        model.health.pillars.len(),
        model.tiers.len(),
        model.segments.len(),
        model.playbooks.len(),
        model.metrics.len()
    );

    // The simulated history ends today, so today's scores read a live company.
    let mut config = SimConfig::new(accounts, months, DEMO_SEED);
    config.start = now
        .date_naive()
        .checked_sub_months(chrono::Months::new(months))
        .unwrap_or(config.start);
    let sim_dir = demo_dir.join("simulated");
    let started = Instant::now();
    let simulated = simulate::simulate_b2b(&config, &sim_dir, true)?;
    println!();
    println!(
        "Simulated a company of {} accounts over {} months (seed {}) in {:.1} s into {}",
        config.accounts,
        config.months,
        config.seed,
        started.elapsed().as_secs_f64(),
        sim_dir.display()
    );
    simulate::print_summary(&simulated);

    let (counts, errors, secs) = import::import(
        store.as_ref(),
        std::slice::from_ref(&sim_dir),
        None,
        1000,
        true,
    )
    .await?;
    if let Some(first) = errors.first() {
        return Err(Failure::Runtime(anyhow::anyhow!(
            "the simulated company did not import cleanly ({} rows rejected), first: {first}",
            errors.len()
        )));
    }
    println!();
    println!(
        "Imported {} rows in {secs:.1} s ({:.0} rows/s) through `tenure import`",
        counts.rows,
        counts.rows as f64 / secs.max(1e-9)
    );
    let totals = StoreTotals::read(store.as_ref()).await?;
    println!("  accounts        {}", totals.accounts);
    println!("  users           {}", totals.contacts);
    println!(
        "  ARR             {} in {} active subscriptions",
        money(totals.arr_cents),
        totals.active_subscriptions
    );
    println!(
        "  changes         {} new, {} expansions, {} contractions, {} churned, {} reactivated",
        totals.new, totals.expansions, totals.contractions, totals.churns, totals.reactivations
    );

    // The product events go through the real front door: HTTP, the write key, the tracking
    // plan, de-duplication, the durable log, then the lake.
    let bind = if no_serve {
        SocketAddr::from(([127, 0, 0, 1], 0))
    } else {
        listen
    };
    let running = serve::start(store.clone(), &data_dir, bind, &Default::default()).await?;
    let url = format!("http://{}", running.addr);
    let events_file = sim_dir.join("events.jsonl");
    let sent = send::send_file(
        &events_file,
        &send::Options {
            url: &url,
            write_key: &secrets.write_key,
            concurrency: 4,
            rate: None,
            progress: true,
            import: true,
        },
    )
    .await?;
    println!();
    println!(
        "Sent {} Segment messages through {url}/v1/import in {:.1} s ({:.0} events/s, acknowledged only once on disk): {} accepted, {} duplicates, {} rejected",
        sent.lines,
        sent.seconds,
        sent.lines as f64 / sent.seconds.max(1e-9),
        sent.accepted,
        sent.duplicates,
        sent.rejected.len()
    );
    let started = Instant::now();
    let lake = running.lake.clone();
    let lake_dir = data_dir.root.join("lake");
    let parts_dir = lake_dir.clone();
    let (compacted, parts, dq, ids) = tokio::task::spawn_blocking(move || {
        lake.sync()?;
        let compacted = lake.compact()?;
        let parts = tenure_lake::list_parts(&parts_dir)?;
        let (dq, ids) =
            lake.current(|s| (s.quality.report(&model_plan(), now), s.identities.summary()))?;
        Ok::<_, tenure_lake::LakeError>((compacted, parts, dq, ids))
    })
    .await
    .context("the lake task failed")?
    .context("building the event lake")?;
    let days: std::collections::BTreeSet<_> = parts.iter().map(|p| p.date).collect();
    println!(
        "Event lake: {} events in {} Parquet files ({:.1} MB, {} days; {} files before compaction) in {}, ready {:.1} s after the last acknowledgement",
        dq.totals.accepted,
        parts.len(),
        parts.iter().map(|p| p.bytes).sum::<u64>() as f64 / 1e6,
        days.len(),
        compacted.files_before,
        lake_dir.display(),
        started.elapsed().as_secs_f64(),
    );
    let t = &dq.totals;
    println!(
        "  data quality    {} accepted, {} flagged by the tracking plan, {} rejected, {} duplicates, {} unknown event names, {} volume anomalies",
        t.accepted,
        t.flagged,
        t.rejected,
        t.duplicates,
        dq.unknown_events.len(),
        dq.anomalies.len()
    );
    println!(
        "  identities      {} users ({} in more than one account), {} accounts with members",
        ids.users, ids.multi_account_users, ids.accounts
    );

    // The engine scored every event as it arrived; history is recomputed from the lake.
    let engine = running.engine.clone();
    let scored_at = now.timestamp_micros();
    let caught = engine.clone();
    tokio::task::spawn_blocking(move || caught.catch_up(scored_at))
        .await
        .context("the engine task failed")?;
    let rows = engine.summaries();
    println!();
    println!(
        "Health on {} (model {}, scored on every event as it arrived):",
        now.date_naive(),
        engine.model_version()
    );
    score::print_portfolio(&mut |id| engine.view(id, scored_at), &rows);
    println!();
    super::report::print_last_quarters(store.as_ref(), now.date_naive()).await?;
    println!();
    let evidence = super::evidence::compute(&data_dir, 30, now).await?;
    super::evidence::print_backtest(&evidence);
    println!("  (each measure's evidence and suggested weights: tenure report signals)");
    println!();
    // Churn models backtested on the earlier renewals, then the renewals ahead.
    let request = super::forecast::Request {
        days: 90,
        refit: false,
        as_of: None,
        what_if: vec!["active_days_30d+10%"
            .parse()
            .map_err(crate::failure::Failure::rejected)?],
    };
    match super::forecast::compute_and_review(&data_dir, &request, 4, now).await {
        Ok((f, review)) => {
            super::forecast::keep(&data_dir, &f)?;
            super::backtest::print_report(&f.backtest, 30, &f.model_version);
            println!();
            super::forecast::print(&f);
            println!();
            super::forecast::print_review(&review);
        }
        // Too small a company to train on (few renewals or no churn yet): say so and go on.
        Err(crate::failure::Failure::Rejected(e)) => {
            println!("Churn models and forecast: not available for this company: {e}")
        }
        Err(e) => return Err(e),
    }
    println!();
    // The playbooks over the whole history: tasks, SLAs and measured effects.
    let truth = data_dir.root.join("simulated/truth_accounts.csv");
    let playbooks = super::playbooks::compute(&data_dir, true, Some(&truth), now).await?;
    super::playbooks::print(&playbooks);
    println!();
    // The last 90 days of daily history (every event is replayed; `tenure rescore` without
    // --from stores all of it).
    let from = (now.date_naive() - chrono::Days::new(90)).to_string();
    score::rescore(&data_dir, None, Some(from), now).await?;

    let logins = super::users::add_demo_users(store.as_ref(), now).await?;

    println!();
    println!("Admin API token  {}", secrets.admin_token);
    println!("Write key        {}", secrets.write_key);
    println!();
    println!("Web app          {url}/login   (demo logins, one per role; passwords shown once)");
    for (email, role, password) in &logins {
        println!("  {:<8} {:<28} {}", role.name(), email, password);
    }
    if no_serve {
        return running.stop().await;
    }
    println!();
    println!(
        "Serving on {url}  (REST API with the admin token: {url}/api/v1/accounts, /api/v1/metrics/nrr, \
         /api/openapi.json; metrics: /metrics; health: /healthz; Ctrl-C stops)"
    );
    serve::wait(running).await
}

/// The tracking plan of the demo's model.
fn model_plan() -> tenure_ingest::tracking::TrackingPlan {
    tenure_ingest::tracking::TrackingPlan::of(&SuccessModel::default_model())
}

const DEMO_SEED: u64 = 42;

fn money(cents: i64) -> String {
    let whole = (cents / 100).to_string();
    let mut out = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    format!("{out} USD")
}

/// What the store holds after the import, read back from it.
#[derive(Default)]
struct StoreTotals {
    accounts: u64,
    contacts: u64,
    arr_cents: i64,
    active_subscriptions: u64,
    new: u64,
    expansions: u64,
    contractions: u64,
    churns: u64,
    reactivations: u64,
}

impl StoreTotals {
    async fn read(store: &dyn Store) -> Outcome<StoreTotals> {
        let mut t = StoreTotals {
            accounts: store
                .count(RecordKind::Account)
                .await
                .context("counting accounts")?,
            contacts: store
                .count(RecordKind::Contact)
                .await
                .context("counting contacts")?,
            ..StoreTotals::default()
        };
        for kind in [RecordKind::Subscription, RecordKind::SubscriptionChange] {
            let mut after: Option<String> = None;
            loop {
                let page = store
                    .list(kind, after.as_deref(), 5000)
                    .await
                    .context("reading subscriptions")?;
                for record in &page {
                    match record {
                        Record::Subscription(s) if s.status == SubscriptionStatus::Active => {
                            t.active_subscriptions += 1;
                            t.arr_cents += s.arr().map(|m| m.minor).unwrap_or(0);
                        }
                        Record::SubscriptionChange(c) => match c.kind {
                            ChangeKind::New => t.new += 1,
                            ChangeKind::Expansion => t.expansions += 1,
                            ChangeKind::Contraction => t.contractions += 1,
                            ChangeKind::Churn => t.churns += 1,
                            ChangeKind::Reactivation => t.reactivations += 1,
                        },
                        _ => {}
                    }
                }
                match page.last() {
                    Some(last) if page.len() == 5000 => after = Some(last.external_id().to_owned()),
                    _ => break,
                }
            }
        }
        Ok(t)
    }
}

/// Empties `dir` if an earlier demo made it; refuses to touch anything else.
fn prepare(dir: &Path) -> Outcome {
    if !dir.exists() {
        return Ok(());
    }
    let is_empty = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .next()
        .is_none();
    if is_empty {
        return Ok(());
    }
    if !dir.join(DEMO_MARKER).is_file() {
        return Err(Failure::rejected(format!(
            "error: {} exists and was not made by `tenure demo`; remove it or pass --data-dir",
            dir.display()
        )));
    }
    std::fs::remove_dir_all(dir)
        .with_context(|| format!("removing the earlier demo in {}", dir.display()))?;
    Ok(())
}

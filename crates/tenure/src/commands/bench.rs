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

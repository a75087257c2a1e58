//! `tenure bench …`: throughput and memory figures on this machine. Timings are printed,
//! never asserted.

use std::time::Instant;

use tenure_domain::Record;
use tenure_sim::{simulate, SimConfig, Sink, TruthAccount, TruthRenewal};

use crate::cli::BenchCommand;
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

pub fn run(command: BenchCommand) -> Outcome {
    match command {
        BenchCommand::Log {
            dir,
            writers,
            batch,
            record_bytes,
            seconds,
        } => log(&dir, writers, batch, record_bytes, seconds),
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

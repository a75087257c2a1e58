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

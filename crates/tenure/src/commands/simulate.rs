//! `tenure simulate`: the simulated company, written as the files `tenure import` reads, the
//! product events as Segment JSON lines, and the ground truth beside them.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use tenure_domain::{Record, RecordKind};
use tenure_ingest::{csv_header, csv_row, IMPORT_ORDER};
use tenure_sim::{
    simulate, simulate_consumers, ConsumerConfig, ConsumerSink, Customer, Purchase, SimConfig,
    SimSummary, Sink, TruthAccount, TruthRenewal,
};

use crate::cli::{SimMode, SimulateArgs};
use crate::failure::{Failure, Outcome};

type CsvOut = csv::Writer<BufWriter<File>>;

fn csv_file(path: &Path) -> anyhow::Result<CsvOut> {
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    Ok(csv::Writer::from_writer(BufWriter::with_capacity(
        1 << 16,
        file,
    )))
}

/// The file each kind of record is written to.
pub fn file_name(kind: RecordKind) -> String {
    format!("{}.csv", tenure_ingest::columns::file_stem(kind))
}

struct FileSink {
    records: Vec<(RecordKind, CsvOut)>,
    events: BufWriter<File>,
    renewals: CsvOut,
    truths: CsvOut,
    progress: ProgressBar,
}

impl FileSink {
    fn create(dir: &Path, progress: ProgressBar) -> anyhow::Result<FileSink> {
        let mut records = Vec::new();
        for kind in IMPORT_ORDER {
            if kind == RecordKind::Task {
                continue;
            }
            let mut w = csv_file(&dir.join(file_name(kind)))?;
            w.write_record(csv_header(kind))?;
            records.push((kind, w));
        }
        let events = BufWriter::with_capacity(
            1 << 20,
            File::create(dir.join("events.jsonl")).context("creating events.jsonl")?,
        );
        let mut renewals = csv_file(&dir.join("truth.csv"))?;
        renewals.write_record(["account_id", "renewal_date", "p_churn", "churned"])?;
        let mut truths = csv_file(&dir.join("truth_accounts.csv"))?;
        truths.write_record([
            "account_id",
            "tier",
            "product_fit",
            "onboarding_quality",
            "core_affinity",
            "welcome_message",
            "tech_touch_programme",
            "outreach_holdout",
            "outreach_eligible",
            "outreach_treated",
            "outreach_effect",
            "outreach_playbook",
            "outreach_first_day",
            "p_churn_after_first_outreach",
            "p_churn_after_first_outreach_other_arm",
            "signup_day",
            "activation_day",
            "first_value_day",
            "habit_first_week",
            "champion_left_day",
            "release_regressions",
            "final_health",
            "churned",
        ])?;
        Ok(FileSink {
            records,
            events,
            renewals,
            truths,
            progress,
        })
    }

    fn finish(mut self) -> anyhow::Result<()> {
        for (_, w) in &mut self.records {
            w.flush()?;
        }
        self.events.flush()?;
        self.renewals.flush()?;
        self.truths.flush()?;
        Ok(())
    }
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

impl Sink for FileSink {
    type Error = anyhow::Error;

    fn record(&mut self, record: &Record) -> anyhow::Result<()> {
        let kind = record.kind();
        let (_, w) = self
            .records
            .iter_mut()
            .find(|(k, _)| *k == kind)
            .ok_or_else(|| anyhow::anyhow!("no file for {kind:?} records"))?;
        w.write_record(csv_row(record))?;
        Ok(())
    }

    fn events(&mut self, jsonl: &[u8]) -> anyhow::Result<()> {
        self.events.write_all(jsonl)?;
        Ok(())
    }

    fn renewal(&mut self, t: &TruthRenewal) -> anyhow::Result<()> {
        self.renewals.write_record([
            t.account_id.clone(),
            t.renewal_date.to_string(),
            format!("{:.6}", t.p_churn),
            u8::from(t.churned).to_string(),
        ])?;
        Ok(())
    }

    fn account_truth(&mut self, t: &TruthAccount) -> anyhow::Result<()> {
        self.progress.inc(1);
        self.truths.write_record([
            t.account_id.clone(),
            t.tier.to_owned(),
            format!("{:.6}", t.product_fit),
            format!("{:.6}", t.onboarding_quality),
            format!("{:.6}", t.core_affinity),
            u8::from(t.welcome_message).to_string(),
            u8::from(t.tech_touch_programme).to_string(),
            u8::from(t.outreach_holdout).to_string(),
            t.outreach_eligible.to_string(),
            t.outreach_treated.to_string(),
            format!("{:.6}", t.outreach_effect),
            tenure_sim::OUTREACH_PLAYBOOK.to_owned(),
            opt(t.outreach_first_day),
            t.p_churn_after_first_outreach
                .map_or(String::new(), |p| format!("{p:.6}")),
            t.p_churn_after_first_outreach_other_arm
                .map_or(String::new(), |p| format!("{p:.6}")),
            t.signup_day.to_string(),
            opt(t.activation_day),
            opt(t.first_value_day),
            u8::from(t.habit_first_week).to_string(),
            opt(t.champion_left_day),
            t.release_regressions.to_string(),
            format!("{:.6}", t.final_health),
            u8::from(t.churned).to_string(),
        ])?;
        Ok(())
    }
}

pub fn progress_bar(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    let template =
        format!("{{spinner}} {what} [{{bar:30}}] {{pos}}/{{len}} ({{per_sec}}, {{eta}} left)");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

fn prepare_out(out: &Path) -> Outcome {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    Ok(())
}

/// Simulates a B2B company into `out`; returns the totals.
pub fn simulate_b2b(config: &SimConfig, out: &Path, show_progress: bool) -> Outcome<SimSummary> {
    prepare_out(out)?;
    let progress = if show_progress {
        progress_bar(u64::from(config.accounts), "accounts")
    } else {
        ProgressBar::hidden()
    };
    let mut sink = FileSink::create(out, progress.clone())?;
    let summary = simulate(config, &mut sink)?;
    sink.finish()?;
    progress.finish_and_clear();
    Ok(summary)
}

pub fn print_summary(summary: &SimSummary) {
    let r = &summary.realised;
    let pct = |x: Option<f64>| x.map_or("n/a".to_owned(), |v| format!("{:.1} %", v * 100.0));
    println!(
        "  {} accounts, {} users, {} events, {} tickets, {} survey answers, {} CSM activities, {} releases",
        summary.accounts, summary.contacts, summary.events, summary.tickets, summary.surveys, summary.activities, summary.releases
    );
    println!(
        "  {} renewal decisions: {} churned; {} expansions, {} contractions, {} reactivations",
        summary.renewal_decisions,
        summary.churns,
        summary.expansions,
        summary.contractions,
        summary.reactivations
    );
    println!(
        "  simulator's tally, last 12 months: logo churn {}, NRR {}, activation within 14 days {}, NPS {}, ARR now {:.0} USD",
        pct(r.annual_logo_churn()),
        pct(r.nrr()),
        pct(r.activation_rate()),
        r.nps().map_or("n/a".to_owned(), |v| format!("{v:+.0}")),
        r.arr_now as f64 / 100.0
    );
}

struct ConsumerFiles {
    purchases: CsvOut,
    customers: CsvOut,
    truth: CsvOut,
    start: chrono::NaiveDateTime,
}

impl ConsumerSink for ConsumerFiles {
    type Error = anyhow::Error;
    fn purchase(&mut self, p: &Purchase) -> anyhow::Result<()> {
        let at = self.start + chrono::Duration::milliseconds((p.week * 7.0 * 86_400_000.0) as i64);
        self.purchases.write_record([
            p.customer_id.clone(),
            format!("{}Z", at.format("%Y-%m-%dT%H:%M:%S")),
            format!("{}.{:02}", p.amount_cents / 100, p.amount_cents % 100),
            "USD".to_owned(),
        ])?;
        Ok(())
    }
    fn customer(&mut self, c: &Customer) -> anyhow::Result<()> {
        self.customers.write_record([
            c.customer_id.clone(),
            c.frequency.to_string(),
            format!("{:.6}", c.recency),
            format!("{:.6}", c.t),
            format!("{:.6}", c.monetary_value),
        ])?;
        self.truth.write_record([
            c.customer_id.clone(),
            format!("{:.6}", c.true_lambda),
            format!("{:.6}", c.true_p),
            format!("{:.6}", c.true_mean_spend),
            u8::from(c.alive_at_end).to_string(),
        ])?;
        Ok(())
    }
}

pub fn run(args: &SimulateArgs) -> Outcome<()> {
    if args.accounts == 0 || args.months == 0 {
        return Err(Failure::rejected(
            "error: --accounts and --months must be at least 1",
        ));
    }
    let started = std::time::Instant::now();
    match args.mode {
        SimMode::B2b => {
            let mut config = SimConfig::new(args.accounts, args.months, args.seed);
            config.start = args.start;
            if let Some(e) = args.outreach_effect {
                config.mechanics.outreach_effect = e;
            }
            let summary = simulate_b2b(&config, &args.out, true)?;
            let secs = started.elapsed().as_secs_f64();
            println!(
                "Simulated into {} in {secs:.1} s (seed {})",
                args.out.display(),
                args.seed
            );
            print_summary(&summary);
            Ok(())
        }
        SimMode::Consumer => {
            prepare_out(&args.out)?;
            let config = ConsumerConfig::new(
                args.accounts,
                f64::from(args.months) * 52.0 / 12.0,
                args.seed,
            );
            let mut files = ConsumerFiles {
                purchases: csv_file(&args.out.join("purchases.csv"))?,
                customers: csv_file(&args.out.join("customers.csv"))?,
                truth: csv_file(&args.out.join("truth_customers.csv"))?,
                start: args.start.and_hms_opt(0, 0, 0).unwrap_or_default(),
            };
            files
                .purchases
                .write_record(["customer_id", "purchased_at", "amount", "currency"])?;
            files.customers.write_record([
                "customer_id",
                "frequency",
                "recency",
                "T",
                "monetary_value",
            ])?;
            files.truth.write_record([
                "customer_id",
                "true_lambda",
                "true_p",
                "true_mean_spend",
                "alive_at_end",
            ])?;
            let summary = simulate_consumers(&config, &mut files)?;
            for w in [&mut files.purchases, &mut files.customers, &mut files.truth] {
                w.flush()?;
            }
            println!(
                "Simulated {} customers into {}: {} purchases, {:.0} USD revenue, {} still active at the end",
                summary.customers,
                args.out.display(),
                summary.purchases,
                summary.revenue_cents as f64 / 100.0,
                summary.alive_at_end
            );
            Ok(())
        }
    }
}

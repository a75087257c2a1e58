//! The command line: every command, flag and environment override, with its help text.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Tenure — self-hosted customer success: health scores that predict the truth.
#[derive(Debug, Parser)]
#[command(name = "tenure", version, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct Global {
    /// The data directory: tenure.toml, the embedded database and the event lake
    /// [default: ./tenure-data; for `demo`, ./tenure-demo].
    #[arg(long, global = true, env = "TENURE_DATA_DIR")]
    pub data_dir: Option<PathBuf>,

    /// Use PostgreSQL (postgres://USER:PASSWORD@HOST:PORT/DB) instead of the embedded SQLite
    /// database in the data directory.
    #[arg(
        long,
        global = true,
        env = "TENURE_DATABASE_URL",
        hide_env_values = true
    )]
    pub database_url: Option<String>,

    /// Log format on standard error.
    #[arg(long, global = true, env = "TENURE_LOG_FORMAT", default_value = "text")]
    pub log_format: LogFormat,

    /// Log filter, e.g. `info`, `debug`, `tenure_store=debug`.
    #[arg(long, global = true, env = "TENURE_LOG", default_value = "warn")]
    pub log: String,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a data directory with the default success model, an admin API token and a
    /// Segment write key (printed once; only their hashes are stored).
    Init {
        /// Print `{"admin_token": …, "write_key": …}` instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Serve the HTTP API: the Segment-compatible ingestion API, the data-quality report and
    /// health; the event lake is kept up to date in the background.
    Serve {
        /// Address to listen on.
        #[arg(long, env = "TENURE_LISTEN", default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        #[command(flatten)]
        mail: MailArgs,
    },
    /// Work with the success model (tenure.toml).
    Model {
        #[command(subcommand)]
        command: ModelCommand,
    },
    /// Simulate a SaaS company with known ground truth and write it as import files.
    Simulate(SimulateArgs),
    /// Import CSV or JSONL files (accounts, contacts, subscriptions, subscription changes,
    /// tickets, surveys, activities, releases, tasks): upsert by external id, row-level errors.
    Import {
        /// Files, or folders whose recognised files are all imported (in dependency order).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// The kind of every file named on the command line, instead of guessing it from its
        /// name (a folder's files are always recognised by name).
        #[arg(long)]
        kind: Option<String>,
        /// Where to write the CSV report of rejected rows [default: DATA_DIR/import-errors.csv].
        #[arg(long)]
        errors: Option<PathBuf>,
        /// Rows per transaction.
        #[arg(long, default_value_t = 1000)]
        batch: usize,
    },
    /// Send Segment JSON lines (one message per line) to a server's /v1/batch, in batches,
    /// retrying 429 and 5xx.
    Send {
        /// The server, e.g. http://127.0.0.1:8080.
        #[arg(long, env = "TENURE_URL")]
        url: String,
        /// The write key to send with.
        #[arg(long, env = "TENURE_WRITE_KEY", hide_env_values = true)]
        write_key: String,
        /// Requests in flight at once.
        #[arg(long, default_value_t = 4)]
        concurrency: usize,
        /// Send to /v1/import (history: its age is not counted as lateness) instead of
        /// /v1/batch.
        #[arg(long)]
        import: bool,
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// The data-quality report: accepted, rejected and duplicate events per source and
    /// event, tracking-plan violations, late and future-dated events, clock skew and volume
    /// anomalies. Works beside a running server.
    Dq {
        /// Print the report as JSON (the same document as GET /api/v1/data-quality).
        #[arg(long)]
        json: bool,
    },
    /// Health scores computed from the event lake and the store: one account's score with
    /// its explanation (on any past day, under any model version), or the whole portfolio.
    Score {
        /// An account's external id; without it, the portfolio.
        account: Option<String>,
        /// Score as of the end of this day (YYYY-MM-DD, UTC) instead of now.
        #[arg(long, value_name = "DATE")]
        as_of: Option<String>,
        /// Score under this model version (see `tenure model history`) instead of the current.
        #[arg(long, value_name = "VERSION")]
        model_version: Option<String>,
        /// Print JSON (the same document as GET /api/v1/accounts/{id}).
        #[arg(long)]
        json: bool,
        /// List the events behind one measure of the account's score.
        #[arg(long, value_name = "MEASURE", requires = "account")]
        lineage: Option<String>,
    },
    /// Recompute every account's daily health history from the event lake under a model
    /// version (the current one by default) and store it, replacing that version's history.
    Rescore {
        #[arg(long, value_name = "VERSION")]
        model_version: Option<String>,
        /// Store days from this one on (YYYY-MM-DD); every earlier event is still replayed.
        #[arg(long, value_name = "DATE")]
        from: Option<String>,
    },
    /// Export everything Tenure holds about one user or account as JSON lines: store
    /// records, events (lake and log), identity links.
    Export {
        /// A user id (all ids merged with it are included).
        #[arg(long, conflicts_with = "account")]
        user: Option<String>,
        /// An account's external id.
        #[arg(long)]
        account: Option<String>,
        /// Write to this file instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Erase everything Tenure holds about one user or account from the store, the event log
    /// and the lake, and say what was erased. Stop the server first.
    Forget {
        #[arg(long, conflicts_with = "account")]
        user: Option<String>,
        #[arg(long)]
        account: Option<String>,
    },
    /// Reports: revenue retention metrics per period (NRR, GRR, logo and revenue churn,
    /// expansion, contraction, reactivation), optionally by plan, CSM, industry, region, size
    /// band or sign-up cohort. Works beside a running server.
    Report {
        #[command(subcommand)]
        command: ReportCommand,
    },
    /// Churn models (logistic regression, boosted trees) trained on earlier renewal decisions
    /// and tested on later ones, each account's measures as they stood LEAD_DAYS before:
    /// AUC, PR-AUC, Brier, log loss, calibration and top-decile lift beside the health score
    /// (and the true probabilities of a simulated company).
    Backtest {
        /// Days before each renewal at which the measures are read (0–365).
        #[arg(long, default_value_t = 30)]
        lead_days: u32,
        /// The simulator's truth.csv (account_id, renewal_date, p_churn) [default:
        /// DATA_DIR/simulated/truth.csv when present].
        #[arg(long)]
        truth: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Also write the point-in-time training set as CSV: one row per decision (split,
        /// day, account, churned, health, true probability, then every measure; empty cells
        /// are missing values).
        #[arg(long, value_name = "FILE")]
        export: Option<PathBuf>,
        /// Register the model for forecasts: the better of the two by test AUC, fitted on
        /// every decision, with this backtest (DATA_DIR/models; see `tenure models`).
        #[arg(long)]
        register: bool,
    },
    /// The registered churn models, newest first, with their backtests.
    Models {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The next DAYS days: renewal ARR expected to renew and at risk, churned, contracted
    /// and expanded ARR and NRR (each with a 90 % interval) from each account's churn and
    /// expansion probabilities; the riskiest renewals, likeliest expansions and the accounts
    /// whose risk rose most in 30 days, with drivers; what-if scenarios; forecast against
    /// actual for closed windows.
    Forecast {
        #[arg(long, default_value_t = 90)]
        days: u32,
        /// Fit the models now even when a registered one fits the success model.
        #[arg(long)]
        refit: bool,
        /// Forecast as of this past day (YYYY-MM-DD) with only what was known then; once its
        /// window has closed, what actually happened is printed beside it.
        #[arg(long, value_name = "DATE")]
        as_of: Option<chrono::NaiveDate>,
        /// A scenario: one measure moved for every account (MEASURE+N, MEASURE-N,
        /// MEASURE+N%, MEASURE-N%, MEASURE=N; e.g. active_days_30d+10%). Repeatable.
        #[arg(long = "what-if", value_name = "SCENARIO")]
        what_if: Vec<crate::commands::forecast::WhatIf>,
        /// Forecast each of the last N closed windows as of its start, beside what happened.
        #[arg(long, value_name = "N")]
        review: Option<u32>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run the success model's playbooks over the whole history, as a server running all
    /// along would have fired them: the tasks they opened (written to the store), their SLAs,
    /// and each playbook's measured effect (treated against held-out accounts on health,
    /// renewal and expansion, with 95 % intervals, and the health trend around the firing).
    Playbooks {
        /// Do not write the tasks to the store.
        #[arg(long)]
        no_write: bool,
        /// A simulator's truth_accounts.csv, to print the true effect beside the measured one
        /// (default: DATA_DIR/simulated/truth_accounts.csv when present).
        #[arg(long, value_name = "FILE")]
        truth: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// People who sign in: add, list, disable, set a password. Every change is audited.
    Users {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// API tokens (limited to the scopes they are made with) and write keys (that may only
    /// send events): create, list, revoke. Secrets are printed once; only hashes are kept.
    Tokens {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// The audit log: logins, user and configuration changes, exports and privacy operations.
    Audit {
        /// Entries after this place in the log.
        #[arg(long, default_value_t = 0)]
        after: i64,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
    /// The task inbox: list tasks, assign, snooze or complete one, and the SLA report.
    Tasks {
        #[command(subcommand)]
        command: TaskCommand,
    },
    /// Fit a model to any CSV and print its parameters as JSON: BG/NBD (+ Gamma-Gamma), Cox
    /// proportional hazards, Kaplan–Meier.
    Fit {
        #[command(subcommand)]
        command: FitCommand,
    },
    /// Measure Tenure's speed on this machine.
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
    /// Run the demo in a fresh data directory (default ./tenure-demo, replaced if it holds
    /// an earlier demo): a summary, then the server.
    Demo {
        /// Accounts in the simulated company.
        #[arg(long, default_value_t = 2000)]
        accounts: u32,
        /// Months of history simulated.
        #[arg(long, default_value_t = 24)]
        months: u32,
        /// Run everything, print the summary and exit instead of serving.
        #[arg(long)]
        no_serve: bool,
        /// Address to serve on.
        #[arg(long, env = "TENURE_LISTEN", default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
    },
}

/// Where playbook emails and survey requests go.
#[derive(Debug, Clone, Args)]
pub struct MailArgs {
    /// SMTP server for playbook emails and survey requests: smtp://HOST:PORT (in the clear),
    /// smtp://USER:PASSWORD@HOST:587?tls=required (STARTTLS) or
    /// smtps://USER:PASSWORD@HOST:465 (TLS). Without one, each email is written to
    /// DATA_DIR/mail as an .eml file.
    #[arg(long, env = "TENURE_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// The sender of playbook emails.
    #[arg(long, env = "TENURE_MAIL_FROM", default_value = DEFAULT_MAIL_FROM)]
    pub mail_from: String,
    /// This server's address as email recipients reach it, for survey links
    /// [default: http:// and the address it listens on].
    #[arg(long, env = "TENURE_PUBLIC_URL")]
    pub public_url: Option<String>,
}

pub const DEFAULT_MAIL_FROM: &str = "Tenure <tenure@localhost>";

impl Default for MailArgs {
    fn default() -> MailArgs {
        MailArgs {
            smtp_url: None,
            mail_from: DEFAULT_MAIL_FROM.to_owned(),
            public_url: None,
        }
    }
}

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Accounts (B2B) or customers (consumer mode).
    #[arg(long, default_value_t = 2000)]
    pub accounts: u32,
    /// Months simulated.
    #[arg(long, default_value_t = 24)]
    pub months: u32,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// The folder to write (created; files in it are replaced).
    #[arg(long)]
    pub out: PathBuf,
    /// b2b: a subscription business; consumer: repeat purchases with unseen drop-out.
    #[arg(long, value_enum, default_value = "b2b")]
    pub mode: SimMode,
    /// First day of the simulated period (YYYY-MM-DD).
    #[arg(long, default_value = "2024-01-01")]
    pub start: chrono::NaiveDate,
    /// The true uplift on latent health of one proactive outreach.
    #[arg(long)]
    pub outreach_effect: Option<f64>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SimMode {
    B2b,
    Consumer,
}

/// Which periods a report covers, and how it groups accounts.
#[derive(Debug, Args)]
pub struct PeriodArgs {
    /// month, quarter, year or ttm (trailing twelve months).
    #[arg(long, default_value = "quarter")]
    pub period: String,
    /// Periods ending on or after this day (YYYY-MM-DD) [default: a year before --to].
    #[arg(long, value_name = "DATE")]
    pub from: Option<String>,
    /// Periods ending on or before this day (YYYY-MM-DD) [default: today].
    #[arg(long, value_name = "DATE")]
    pub to: Option<String>,
    /// Break down by plan, csm, industry, region, size_band, cohort (sign-up month), tier,
    /// segment, stage (usage maturity) or term (contract length).
    #[arg(long, value_name = "GROUP")]
    pub by: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Revenue retention per period (definitions: docs/metrics.md).
    Metrics {
        #[command(flatten)]
        periods: PeriodArgs,
        /// The reporting currency [default: the currency most revenue changes are in].
        #[arg(long)]
        currency: Option<String>,
        /// Print JSON (the same document as GET /api/v1/metrics/revenue_retention).
        #[arg(long, conflicts_with = "csv")]
        json: bool,
        /// Print CSV, one row per period (and group).
        #[arg(long)]
        csv: bool,
    },
    /// Customer experience per period: NPS, CSAT and CES from survey responses; tickets
    /// opened and resolved, resolution time (median, p90) and ticket CSAT.
    Experience {
        #[command(flatten)]
        periods: PeriodArgs,
        /// Print JSON (the same document as GET /api/v1/metrics/experience).
        #[arg(long, conflicts_with = "csv")]
        json: bool,
        /// Print CSV, one row per period (and group).
        #[arg(long)]
        csv: bool,
    },
    /// Product usage per period: DAU, WAU, MAU and stickiness from product events; for the
    /// accounts that signed up in each period, activation and habit rates (reached within the
    /// milestones' expected days) and time to first value (median, p90). Definitions:
    /// docs/metrics.md.
    Usage {
        #[command(flatten)]
        periods: PeriodArgs,
        /// Print JSON (the same document as GET /api/v1/metrics/usage).
        #[arg(long, conflicts_with = "csv")]
        json: bool,
        /// Print CSV, one row per period (and group).
        #[arg(long)]
        csv: bool,
    },
    /// Evidence behind the health score: every renewal decision scored as it stood
    /// LEAD_DAYS before; the health-score backtest (AUC against an activity-only score, churn
    /// by band) and each measure's AUC, churn by quartile and a suggested weight.
    Signals {
        /// Days before each renewal at which scores are read (0–365).
        #[arg(long, default_value_t = 30)]
        lead_days: u32,
        /// Print JSON.
        #[arg(long, conflicts_with = "csv")]
        json: bool,
        /// Print CSV: one line per measure, then the health score and the activity-only score.
        #[arg(long)]
        csv: bool,
        /// Print this model file with the suggested weights adopted (each measure its weight,
        /// each pillar the sum of its measures', directions turned where the evidence runs the
        /// other way), comments kept; what changed goes to standard error. Review it, then
        /// `tenure model apply` it.
        #[arg(long, value_name = "MODEL_FILE", conflicts_with_all = ["json", "csv"])]
        adopt: Option<PathBuf>,
    },
    /// Cohort retention matrices: accounts followed month by month from their first revenue,
    /// grouped by sign-up month or an account attribute (definitions: docs/metrics.md).
    Cohorts {
        /// signup, plan, csm, industry, region, size_band, tier, segment, stage (usage
        /// maturity) or term (contract length).
        #[arg(long, default_value = "signup")]
        by: String,
        /// Months followed (1–120).
        #[arg(long, default_value_t = 12)]
        months: u32,
        /// The day the matrix is as of (YYYY-MM-DD) [default: today].
        #[arg(long, value_name = "DATE")]
        as_of: Option<String>,
        /// Which retention the table shows: logo or revenue.
        #[arg(long, default_value = "logo")]
        metric: String,
        /// The reporting currency [default: the currency most revenue changes are in].
        #[arg(long)]
        currency: Option<String>,
        /// Print JSON (the same document as GET /api/v1/cohorts/{kind}).
        #[arg(long, conflicts_with = "csv")]
        json: bool,
        /// Print CSV: one line per cohort and month.
        #[arg(long)]
        csv: bool,
        /// Before and after this release (a release record's id): the accounts whose first
        /// revenue fell in the WINDOW_DAYS before it and from it on, and the journeys of those
        /// that signed up in each window (instead of --by).
        #[arg(long, value_name = "RELEASE_ID", conflicts_with = "by")]
        release: Option<String>,
        /// The days on each side of --release (1–365).
        #[arg(long, default_value_t = 90, requires = "release")]
        window_days: u32,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user. The password is read from TENURE_PASSWORD when set; otherwise one is
    /// generated and printed once.
    Add {
        email: String,
        /// admin, leader, manager, csm, product or viewer.
        #[arg(long)]
        role: String,
        #[arg(long)]
        name: Option<String>,
        /// own (the accounts they own), team (theirs and their direct reports') or all;
        /// default: own for a CSM, all otherwise.
        #[arg(long)]
        book: Option<String>,
        /// Show personal data (contact names and emails, user ids) unmasked.
        #[arg(long)]
        pii: bool,
        /// Whom they report to (a manager's email): a manager with `--book team` sees the
        /// accounts of the users who report to them.
        #[arg(long)]
        manager: Option<String>,
    },
    /// Set whom a user reports to (`--to EMAIL`), or nobody (without `--to`).
    Manager {
        email: String,
        #[arg(long)]
        to: Option<String>,
    },
    /// Every user, by email.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Disable a user: they can no longer sign in.
    Disable { email: String },
    /// Set a user's password: from TENURE_PASSWORD when set, else generated and printed once.
    Password { email: String },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Make an API token with these scopes (comma-separated or repeated): accounts:read,
    /// tasks:read, tasks:write, plans:write, surveys:read, surveys:write, metrics:read,
    /// data_quality:read, audit:read, pii.
    Create {
        name: String,
        #[arg(long, value_delimiter = ',', required = true)]
        scope: Vec<String>,
        /// Print `{"id": …, "token": …}`.
        #[arg(long)]
        json: bool,
    },
    /// Make a write key: it may only send events to the ingestion API.
    WriteKey {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Every token and write key (never their secrets).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token or write key by its id (`cred_…`).
    Revoke { id: String },
}

#[derive(Debug, Subcommand)]
pub enum TaskCommand {
    /// Tasks, most urgent first, with where each stands against its SLA.
    List {
        #[arg(long)]
        assignee: Option<String>,
        /// admin, leader, manager, csm, product or viewer.
        #[arg(long)]
        role: Option<String>,
        /// open, snoozed, done or cancelled.
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        account: Option<String>,
        #[arg(long)]
        playbook: Option<String>,
        /// Only tasks open past their due time.
        #[arg(long)]
        overdue: bool,
        /// At most this many (0: all).
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
    /// Assign a task to a user.
    Assign {
        id: String,
        #[arg(long = "to", value_name = "USER")]
        to: String,
    },
    /// Snooze an open task until a time (RFC 3339).
    Snooze {
        id: String,
        #[arg(long, value_name = "TIME")]
        until: String,
    },
    /// Complete a task with what came of it.
    Complete {
        id: String,
        #[arg(long)]
        outcome: String,
    },
    /// Reopen a task.
    Reopen { id: String },
    /// Open an escalation for every task newly past its SLA: a critical task for the
    /// manager, due in 24 hours (a running server does this every minute).
    Escalate,
    /// The SLA report: opened, completed, within SLA, breached, open past due, median hours to
    /// complete; in total and by playbook, priority and assignee.
    Sla {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum FitCommand {
    /// BG/NBD on columns frequency (repeat purchases), recency (time of the last one) and T
    /// (time observed), all from the first purchase; with a monetary_value column, Gamma-Gamma
    /// too (on the rows with frequency above 0). Prints r, alpha, a, b, log_likelihood,
    /// standard errors (and p, q, v).
    Bgnbd {
        #[arg(long)]
        input: PathBuf,
        /// Also write each customer's predictions as CSV: probability alive, expected
        /// purchases in the next HORIZON time units, and with monetary_value the expected
        /// mean spend and the customer lifetime value.
        #[arg(long, value_name = "FILE", requires = "horizon")]
        predict: Option<PathBuf>,
        /// The prediction horizon, in the data's time unit.
        #[arg(long)]
        horizon: Option<f64>,
        /// Months the lifetime value covers.
        #[arg(long, default_value_t = 12)]
        clv_months: u32,
        /// Time units per month (4.345 for weeks, 30 for days).
        #[arg(long, default_value_t = 4.345)]
        units_per_month: f64,
        /// Monthly discount rate of the lifetime value.
        #[arg(long, default_value_t = 0.01)]
        discount: f64,
    },
    /// Cox proportional hazards (Efron ties): coefficients with standard errors, hazard
    /// ratios, z and p; log-likelihood; concordance.
    Cox {
        #[arg(long)]
        input: PathBuf,
        /// The column of durations (≥ 0).
        #[arg(long)]
        duration: String,
        /// The column of event flags (1/0 or true/false; 0 = censored).
        #[arg(long)]
        event: String,
        /// Comma-separated covariate columns [default: every other numeric column].
        #[arg(long)]
        covariates: Option<String>,
    },
    /// Kaplan–Meier: the survival table with its confidence band (Greenwood, log(−log)) and
    /// the median (null when survival never falls to one half); by group with a log-rank test.
    Km {
        #[arg(long)]
        input: PathBuf,
        #[arg(long)]
        duration: String,
        #[arg(long)]
        event: String,
        /// A column whose values split the subjects into groups.
        #[arg(long)]
        group: Option<String>,
        /// The band's coverage.
        #[arg(long, default_value_t = 0.95)]
        confidence: f64,
    },
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Events per second through HTTP /v1/batch with durable acknowledgements, and the
    /// acknowledgement latency at half that load (client and server share this machine).
    Ingest {
        /// About how many events to send (simulated, then sent twice: at full speed, then at
        /// half of the measured rate).
        #[arg(long, default_value_t = 1_000_000)]
        events: u64,
        /// Requests in flight at once.
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
    },
    /// Durable event-log appends: records per second with every append flushed to disk
    /// (group commit), and append latency.
    Log {
        /// Where to write the log (a fresh folder; removed afterwards).
        #[arg(long)]
        dir: PathBuf,
        /// Concurrent writers.
        #[arg(long, default_value_t = 8)]
        writers: usize,
        /// Records per append.
        #[arg(long, default_value_t = 100)]
        batch: usize,
        /// Bytes per record.
        #[arg(long, default_value_t = 300)]
        record_bytes: usize,
        /// How long to run.
        #[arg(long, default_value_t = 5)]
        seconds: u64,
    },
    /// Materialising an event log into the Parquet lake: events per second for the sync and
    /// the compaction, and peak memory. Reads LOG (e.g. tenure-demo/log) without changing it;
    /// writes a fresh lake in a temporary folder.
    Lake {
        /// An event log folder.
        #[arg(value_name = "LOG")]
        log_dir: PathBuf,
    },
    /// Engine throughput (signals per second on one core), scoring cost and resident memory
    /// per account of live state, over a simulated company held in memory.
    Engine {
        #[arg(long, default_value_t = 2000)]
        accounts: u32,
        #[arg(long, default_value_t = 24)]
        months: u32,
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
    /// Engine throughput as the server runs it (events applied 10,000 at a time, the changed
    /// accounts re-scored after each chunk, every account at each change of day), with no
    /// playbooks and with PLAYBOOKS playbooks of every trigger kind.
    Playbooks {
        #[arg(long, default_value_t = 2000)]
        accounts: u32,
        #[arg(long, default_value_t = 24)]
        months: u32,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        #[arg(long, default_value_t = 50)]
        playbooks: u32,
    },
    /// Rescoring a large lake: LAKE copied TIMES times (account and user ids suffixed per
    /// copy) into a temporary folder, then replayed day by day with every account's daily
    /// snapshot computed.
    Rescore {
        /// A lake folder, e.g. tenure-demo/lake.
        #[arg(value_name = "LAKE")]
        lake: PathBuf,
        #[arg(long, default_value_t = 1)]
        times: u32,
    },
    /// Freshness: from an event's acknowledgement to its effect visible through the API
    /// (features and health score), while a background load streams events in.
    Freshness {
        #[arg(long, default_value_t = 300)]
        accounts: u32,
        /// Background events per second during the measurement.
        #[arg(long, default_value_t = 20_000.0)]
        load: f64,
        /// Probe events sent (one every 20 ms).
        #[arg(long, default_value_t = 500)]
        probes: usize,
    },
    /// Metric query time over ACCOUNTS accounts and MONTHS months: revenue retention over a
    /// synthetic ledger (sign-ups, expansions, contractions, churn, reactivations), customer
    /// experience, and usage (the activity fold and its queries), per period kind and grouping.
    Metrics {
        #[arg(long, default_value_t = 100_000)]
        accounts: u32,
        #[arg(long, default_value_t = 24)]
        months: u32,
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
    /// Model fitting time on the reference data built into the binary: BG/NBD and Gamma-Gamma
    /// on CDNOW (2,357 customers), Cox and Kaplan–Meier on rossi (432 subjects); the best of
    /// RUNS runs each.
    Predict {
        #[arg(long, default_value_t = 50)]
        runs: u32,
        /// Also time the churn models on a training set written by `tenure backtest
        /// --export` (its train rows).
        #[arg(long, value_name = "FILE")]
        training: Option<PathBuf>,
    },
    /// Simulator throughput (events per second on one core) and peak memory, writing nowhere.
    Simulate {
        #[arg(long, default_value_t = 2000)]
        accounts: u32,
        #[arg(long, default_value_t = 24)]
        months: u32,
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
    /// Server time of the web app's account page (and the API's account document) over a
    /// portfolio of ACCOUNTS accounts held by the real server: contacts, contracts, tickets,
    /// surveys, touches and tasks for every account, a year of daily health for the accounts
    /// opened. Pages are fetched one at a time over loopback.
    Web {
        #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u32).range(1..))]
        accounts: u32,
        /// Account pages to open (each a different account).
        #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..))]
        pages: u32,
    },
}

#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Print the complete, commented default model: the reference of the format.
    Init,
    /// Validate a model file: exit 0, or 1 with every error found.
    Check {
        file: PathBuf,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print a Markdown glossary of every measure, milestone, pillar and metric.
    Glossary { file: PathBuf },
    /// Validate a model file and make it the current model (recorded as a version).
    Apply {
        /// The model file (default: tenure.toml in the data directory).
        file: Option<PathBuf>,
    },
    /// List every model version applied, oldest first.
    History {
        /// Print the history as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Logs go to standard error so that standard output stays parseable.
pub fn init_logging(global: &Global) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_new(&global.log).unwrap_or_else(|_| EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match global.log_format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

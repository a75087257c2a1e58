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
    /// Serve the HTTP API (health endpoints now; more as they land).
    Serve {
        /// Address to listen on.
        #[arg(long, env = "TENURE_LISTEN", default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
    },
    /// Work with the success model (tenure.toml).
    Model {
        #[command(subcommand)]
        command: ModelCommand,
    },
    /// Run the demo in a fresh data directory (default ./tenure-demo, replaced if it holds
    /// an earlier demo): a summary, then the server.
    Demo {
        /// Run everything, print the summary and exit instead of serving.
        #[arg(long)]
        no_serve: bool,
        /// Address to serve on.
        #[arg(long, env = "TENURE_LISTEN", default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
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

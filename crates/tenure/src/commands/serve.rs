//! `tenure serve`: the HTTP server over an initialised data directory — health, readiness and
//! the Segment-compatible ingestion API writing to the data directory's event log, the event
//! lake kept up to date beside it, and the data-quality report.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use std::time::Duration;

use tenure_lake::{EventLog, FileLog, Lake};
use tenure_server::{AppState, EngineService, Ingestion, LakeService};
use tenure_store::Store;

use crate::cli::MailArgs;
use crate::data_dir::DataDir;
use crate::failure::Outcome;

pub async fn run(data_dir: &DataDir, listen: SocketAddr, mail: &MailArgs) -> Outcome {
    let store = data_dir.open_store().await?;
    serve(store, data_dir, listen, mail, |addr| {
        println!(
            "tenure is serving on http://{addr}  (Segment API: /v1/…; health: /healthz, readiness: /readyz; Ctrl-C stops)"
        )
    })
    .await
}

/// A server running in the background.
pub struct Running {
    pub addr: SocketAddr,
    pub lake: Arc<LakeService>,
    pub engine: Arc<EngineService>,
    ingestion: Arc<Ingestion>,
    snapshot: std::path::PathBuf,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    maintenance: tokio::task::JoinHandle<()>,
    scoring: tokio::task::JoinHandle<()>,
    webhooks: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Stops accepting requests, drains those in flight, and brings the lake up to date.
    pub async fn stop(self) -> Outcome {
        let _ = self.stop.send(());
        self.task
            .await
            .context("the server task failed")?
            .context("serving HTTP")?;
        // Nothing is in flight any more: the next start can skip reading the whole log.
        if let Err(e) = self.ingestion.save_snapshot(&self.snapshot) {
            tracing::warn!(error = %e, "could not save the de-duplication snapshot; the next start reads the log");
        }
        self.maintenance.abort();
        self.scoring.abort();
        self.webhooks.abort();
        let engine = self.engine;
        let saved = tokio::task::spawn_blocking(move || {
            engine.catch_up(clock());
            engine.save_snapshot()
        })
        .await
        .context("the engine task failed")?;
        if let Err(e) = saved {
            tracing::warn!(error = %e, "could not save the engine snapshot; the next start replays the log");
        }
        let lake = self.lake;
        tokio::task::spawn_blocking(move || lake.sync())
            .await
            .context("the lake task failed")?
            .context("bringing the event lake up to date")?;
        Ok(())
    }
}

/// Opens the data directory's event log (taking its lock) and lake, and serves on `listen` in
/// the background.
pub async fn start(
    store: Arc<dyn Store>,
    data_dir: &DataDir,
    listen: SocketAddr,
    mail: &MailArgs,
) -> Outcome<Running> {
    // Bad mail settings stop the start, before anything is opened.
    let mailer = tenure_server::mail::Mailer::new(
        mail.smtp_url.as_deref(),
        &mail.mail_from,
        &data_dir.root.join("mail"),
    )
    .map_err(|e| crate::failure::Failure::rejected(format!("error: {e}")))?;
    let log_dir = data_dir.root.join("log");
    let log: Arc<dyn EventLog> = Arc::new(
        FileLog::open(&log_dir)
            .with_context(|| format!("opening the event log in {}", log_dir.display()))?,
    );
    let now = chrono::Utc::now().fixed_offset();
    let snapshot = log_dir.join(DEDUP_SNAPSHOT);
    let ingestion = Arc::new(
        Ingestion::resume(Arc::clone(&log), now, &snapshot).context("reading the event log")?,
    );
    let lake_dir = data_dir.root.join("lake");
    let lake = Lake::open(&lake_dir)
        .with_context(|| format!("opening the event lake in {}", lake_dir.display()))?;
    let lake = Arc::new(LakeService::new(lake, Arc::clone(&log)));
    let engine = EngineService::start(
        Arc::clone(&store),
        log,
        Some(data_dir.root.join(ENGINE_SNAPSHOT)),
        clock(),
    )
    .await
    .context("starting the scoring engine")?;
    // Playbook webhooks, emails and survey requests: a durable outbox (webhooks signed with
    // the data directory's key) and the survey requests beside it.
    let key = tenure_server::outbox::signing_key(&data_dir.root.join("webhook-signing.key"))
        .context("reading the webhook signing key")?;
    let outbox = tenure_server::outbox::Outbox::open(&data_dir.root.join("outbox.json"), key)
        .context("opening the outbox")?;
    let outbox = Arc::new(outbox);
    let requests =
        tenure_server::surveys::SurveyRequests::open(&data_dir.root.join("survey-requests.json"))
            .context("opening the survey requests")?;
    tracing::info!(to = %mailer.describe(), "playbook emails");
    let webhooks = tokio::spawn(Arc::clone(&outbox).deliver_forever(clock, Arc::new(mailer)));
    let maintenance = tokio::spawn(Arc::clone(&lake).maintain(LAKE_SYNC_EVERY, LAKE_COMPACT_EVERY));
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    let addr = listener.local_addr().context("reading the bound address")?;
    let public_url = mail
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"));
    engine.set_outreach(Arc::new(tenure_server::outreach::Outreach {
        outbox,
        requests: Arc::new(requests),
        public_url,
    }));
    // The engine sends playbook messages once it knows where they go.
    let scoring = tokio::spawn(Arc::clone(&engine).maintain(clock));
    tracing::info!(%addr, "serving");
    let state = AppState {
        store,
        ingestion: Some(Arc::clone(&ingestion)),
        lake: Some(Arc::clone(&lake)),
        engine: Some(Arc::clone(&engine)),
        metrics: Default::default(),
        signals: Default::default(),
        limiter: Default::default(),
        telemetry: Default::default(),
        data_dir: Some(data_dir.root.clone()),
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(tenure_server::serve(listener, state, async {
        let _ = stopped.await;
    }));
    Ok(Running {
        addr,
        lake,
        engine,
        ingestion,
        snapshot,
        stop,
        task,
        maintenance,
        scoring,
        webhooks,
    })
}

/// Where a clean shutdown leaves the de-duplication state, beside the log.
const DEDUP_SNAPSHOT: &str = "dedup.snapshot";

/// Where a clean shutdown leaves the engine's state (derived from the log and the store; a
/// start without it replays the log).
pub const ENGINE_SNAPSHOT: &str = "engine.snapshot";

/// The server's clock: the engine takes time as an argument, and this is where it is read.
fn clock() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// How often the lake takes in what the log holds, and how often it merges small files.
const LAKE_SYNC_EVERY: Duration = Duration::from_secs(2);
const LAKE_COMPACT_EVERY: Duration = Duration::from_secs(60);

/// Binds `listen`, reports the bound address, and serves until Ctrl-C or SIGTERM.
pub async fn serve(
    store: Arc<dyn Store>,
    data_dir: &DataDir,
    listen: SocketAddr,
    mail: &MailArgs,
    on_ready: impl FnOnce(SocketAddr),
) -> Outcome {
    let running = start(store, data_dir, listen, mail).await?;
    on_ready(running.addr);
    wait(running).await
}

/// Serves until Ctrl-C or SIGTERM, then stops cleanly.
pub async fn wait(running: Running) -> Outcome {
    shutdown_signal().await;
    tracing::info!("shutting down");
    running.stop().await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
}

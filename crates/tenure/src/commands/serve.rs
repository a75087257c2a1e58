//! `tenure serve`: the HTTP server over an initialised data directory — health, readiness and
//! the Segment-compatible ingestion API writing to the data directory's event log.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tenure_domain::SuccessModel;
use tenure_lake::FileLog;
use tenure_server::{AppState, Ingestion};
use tenure_store::Store;

use crate::data_dir::DataDir;
use crate::failure::Outcome;

pub async fn run(data_dir: &DataDir, listen: SocketAddr) -> Outcome {
    let store = data_dir.open_store().await?;
    serve(store, data_dir, listen, |addr| {
        println!(
            "tenure is serving on http://{addr}  (Segment API: /v1/…; health: /healthz, readiness: /readyz; Ctrl-C stops)"
        )
    })
    .await
}

/// The ingestion pipeline over the data directory's event log, linking events to accounts by
/// the current model's account property.
async fn ingestion(store: &dyn Store, data_dir: &DataDir) -> Outcome<Arc<Ingestion>> {
    let account_property = store
        .current_model()
        .await
        .context("reading the current model")?
        .and_then(|m| serde_json::from_str::<SuccessModel>(&m.model_json).ok())
        .map_or_else(
            || "context.groupId".to_owned(),
            |m| m.identity.account_property,
        );
    let log_dir = data_dir.root.join("log");
    let log = FileLog::open(&log_dir)
        .with_context(|| format!("opening the event log in {}", log_dir.display()))?;
    let now = chrono::Utc::now().fixed_offset();
    let ingestion =
        Ingestion::new(Arc::new(log), account_property, now).context("reading the event log")?;
    Ok(Arc::new(ingestion))
}

/// Binds `listen`, reports the bound address, and serves until Ctrl-C or SIGTERM.
pub async fn serve(
    store: Arc<dyn Store>,
    data_dir: &DataDir,
    listen: SocketAddr,
    on_ready: impl FnOnce(SocketAddr),
) -> Outcome {
    let ingestion = ingestion(store.as_ref(), data_dir).await?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    let addr = listener.local_addr().context("reading the bound address")?;
    on_ready(addr);
    tracing::info!(%addr, "serving");
    let state = AppState {
        store,
        ingestion: Some(ingestion),
    };
    tenure_server::serve(listener, state, shutdown_signal())
        .await
        .context("serving HTTP")?;
    Ok(())
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

//! `tenure serve`: the HTTP server over an initialised data directory.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tenure_server::AppState;
use tenure_store::Store;

use crate::data_dir::DataDir;
use crate::failure::Outcome;

pub async fn run(data_dir: &DataDir, listen: SocketAddr) -> Outcome {
    let store = data_dir.open_store().await?;
    serve(store, listen, |addr| println!("tenure is serving on http://{addr}  (health: /healthz, readiness: /readyz; Ctrl-C stops)")).await
}

/// Binds `listen`, reports the bound address, and serves until Ctrl-C or SIGTERM.
pub async fn serve(
    store: Arc<dyn Store>,
    listen: SocketAddr,
    on_ready: impl FnOnce(SocketAddr),
) -> Outcome {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    let addr = listener.local_addr().context("reading the bound address")?;
    on_ready(addr);
    tracing::info!(%addr, "serving");
    tenure_server::serve(listener, AppState { store }, shutdown_signal())
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

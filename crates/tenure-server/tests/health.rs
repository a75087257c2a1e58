//! The server on a real socket: liveness, readiness before and after a model is applied, and
//! JSON errors for unknown routes.

use std::net::SocketAddr;

use tenure_domain::SuccessModel;
use tenure_server::AppState;
use tenure_store::StoreLocation;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A minimal HTTP/1.1 GET: returns the status code and the body.
async fn get(addr: SocketAddr, path: &str) -> (u16, serde_json::Value) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response.split_once("\r\n\r\n").unwrap().1;
    (status, serde_json::from_str(body).unwrap())
}

#[tokio::test]
async fn health_readiness_and_errors_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let store = tenure_store::open(&StoreLocation::Sqlite(dir.path().join("tenure.db")))
        .await
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(tenure_server::serve(
        listener,
        AppState {
            lake: None,
            engine: None,
            metrics: Default::default(),
            signals: Default::default(),
            limiter: Default::default(),
            telemetry: Default::default(),
            data_dir: None,
            store: store.clone(),
            ingestion: None,
        },
        async {
            let _ = stopped.await;
        },
    ));

    assert_eq!(
        get(addr, "/healthz").await,
        (200, serde_json::json!({"status": "ok"}))
    );

    let (status, body) = get(addr, "/readyz").await;
    assert_eq!(status, 503);
    assert_eq!(body["error"]["code"], "no_model");

    let model = SuccessModel::default_model();
    let json = serde_json::to_string(&model).unwrap();
    let now = chrono::Utc::now().fixed_offset();
    store
        .apply_model(&model.version(), "", &json, now, None)
        .await
        .unwrap();
    let (status, body) = get(addr, "/readyz").await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "ready");
    assert_eq!(body["store"], "sqlite");
    assert_eq!(body["schema_version"], 6);
    assert_eq!(body["model_version"], model.version().as_str());

    let (status, body) = get(addr, "/no/such/route").await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "not_found");
    assert_eq!(body["error"]["message"], "no route for GET /no/such/route");

    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

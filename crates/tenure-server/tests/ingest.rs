//! The Segment-compatible ingestion API over a real socket: authentication, gzip, Segment's
//! documented payloads, per-message rejections, limits, and messageId de-duplication that
//! survives a restart. A 200 means the events are in the durable log.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;

use base64::Engine as _;
use tenure_lake::{EventLog, FileLog, Lake};
use tenure_server::{AppState, Ingestion, LakeService};
use tenure_store::{secret, Credential, CredentialKind, Store, StoreLocation};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

struct Server {
    addr: SocketAddr,
    store: Arc<dyn Store>,
    write_key: String,
    admin_token: String,
    log: Arc<FileLog>,
    _stop: tokio::sync::oneshot::Sender<()>,
    _dir: tempfile::TempDir,
}

async fn credential(store: &dyn Store, kind: CredentialKind) -> String {
    let made = secret::generate(kind).unwrap();
    store
        .insert_credential(&Credential {
            id: made.id,
            kind,
            name: "test".into(),
            scopes: vec![],
            secret_hash: made.hash,
            created_at: chrono::Utc::now().fixed_offset(),
            revoked_at: None,
        })
        .await
        .unwrap();
    made.secret
}

async fn start(
    dir: tempfile::TempDir,
    store: Arc<dyn Store>,
    write_key: String,
    admin_token: String,
) -> Server {
    let log = Arc::new(FileLog::open(&dir.path().join("log")).unwrap());
    let ingestion = Ingestion::new(log.clone(), chrono::Utc::now().fixed_offset()).unwrap();
    let lake = Lake::open(&dir.path().join("lake")).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let state = AppState {
        store: store.clone(),
        ingestion: Some(Arc::new(ingestion)),
        lake: Some(Arc::new(LakeService::new(lake, log.clone()))),
        engine: None,
        metrics: Default::default(),
        signals: Default::default(),
        limiter: Default::default(),
        telemetry: Default::default(),
        data_dir: None,
    };
    tokio::spawn(tenure_server::serve(listener, state, async {
        let _ = stopped.await;
    }));
    Server {
        addr,
        store,
        write_key,
        admin_token,
        log,
        _stop: stop,
        _dir: dir,
    }
}

async fn fresh() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let store = tenure_store::open(&StoreLocation::Sqlite(dir.path().join("tenure.db")))
        .await
        .unwrap();
    let write_key = credential(store.as_ref(), CredentialKind::WriteKey).await;
    let admin_token = credential(store.as_ref(), CredentialKind::AdminToken).await;
    start(dir, store, write_key, admin_token).await
}

fn basic(key: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{key}:"))
    )
}

async fn post(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> (u16, serde_json::Value) {
    request(addr, "POST", path, headers, body).await
}

async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> (u16, serde_json::Value) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let response = String::from_utf8_lossy(&response);
    let status = response[9..12].parse().unwrap();
    let body = response.split_once("\r\n\r\n").unwrap().1;
    (
        status,
        serde_json::from_str(body).unwrap_or(serde_json::Value::Null),
    )
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/../tenure-ingest/tests/fixtures/segment/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// Every log record.
fn records(log: &FileLog) -> Vec<serde_json::Value> {
    log.read(0, usize::MAX)
        .unwrap()
        .iter()
        .map(|(_, b)| serde_json::from_slice(b).unwrap())
        .collect()
}

/// The log records that hold an accepted message.
fn logged(log: &FileLog) -> Vec<serde_json::Value> {
    records(log)
        .into_iter()
        .filter(|r| r.get("message").is_some())
        .collect()
}

#[tokio::test]
async fn documented_payloads_are_stored_durably_with_either_kind_of_auth() {
    let s = fresh().await;
    for (name, path) in [
        ("track", "/v1/track"),
        ("identify", "/v1/identify"),
        ("group", "/v1/group"),
        ("page", "/v1/page"),
        ("screen", "/v1/screen"),
        ("alias", "/v1/alias"),
        ("batch", "/v1/import"),
    ] {
        let (status, body) = post(
            s.addr,
            path,
            &[("Authorization", basic(&s.write_key))],
            &fixture(name),
        )
        .await;
        assert_eq!(status, 200, "{name}: {body}");
        assert_eq!(body["success"], true);
    }
    // The same messageIds again (identify, group, page, screen and alias share one): duplicates.
    let stored = logged(&s.log);
    assert_eq!(
        stored.len(),
        1 + 1 + 4,
        "track, one of the shared-id messages, and the batch's four"
    );
    let track = &stored[0]["message"];
    assert_eq!(track["event"], "Course Clicked");
    assert_eq!(track["kind"], "track");
    // writeKey in the body instead of a header.
    let body = serde_json::json!({"writeKey": s.write_key, "userId": "u1", "event": "Signed Up", "context": {"groupId": "acme"}});
    let (status, reply) = post(s.addr, "/v1/track", &[], body.to_string().as_bytes()).await;
    assert_eq!(
        (status, reply["accepted"].as_u64()),
        (200, Some(1)),
        "{reply}"
    );
    let last = logged(&s.log).pop().unwrap();
    assert_eq!(last["message"]["account_id"], "acme");
    assert!(
        last["message"]["message_id"]
            .as_str()
            .unwrap()
            .starts_with("tnr-"),
        "a missing messageId is assigned"
    );
}

#[tokio::test]
async fn bad_requests_get_precise_json_errors() {
    let s = fresh().await;
    let auth = [("Authorization", basic(&s.write_key))];
    let (status, body) = post(s.addr, "/v1/track", &[], br#"{"userId":"u","event":"e"}"#).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("missing_write_key"))
    );
    let (status, body) = post(
        s.addr,
        "/v1/track",
        &[("Authorization", basic("tnr_wk_nope"))],
        br#"{"userId":"u","event":"e"}"#,
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("invalid_write_key"))
    );
    let (status, body) = post(
        s.addr,
        "/v1/track",
        &[("Authorization", basic(&s.admin_token))],
        br#"{"userId":"u","event":"e"}"#,
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("not_a_write_key"))
    );
    let (status, body) = post(s.addr, "/v1/track", &auth, b"{\"userId\": ").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_json"))
    );
    let (status, body) = post(s.addr, "/v1/track", &auth, br#"{"userId":"u"}"#).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("missing_event"))
    );
    let (status, body) = post(s.addr, "/v1/trak", &auth, b"{}").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("unknown_endpoint"))
    );
    let big = format!(
        r#"{{"userId":"u","event":"e","properties":{{"x":"{}"}}}}"#,
        "y".repeat(40_000)
    );
    let (status, body) = post(s.addr, "/v1/track", &auth, big.as_bytes()).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (413, Some("payload_too_large"))
    );
    let (status, body) = post(
        s.addr,
        "/v1/track",
        &[
            ("Authorization", basic(&s.write_key)),
            ("Content-Encoding", "br".into()),
        ],
        b"{}",
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (415, Some("unsupported_encoding"))
    );
    assert!(logged(&s.log).is_empty(), "nothing bad was stored");
}

#[tokio::test]
async fn a_gzipped_batch_keeps_its_good_messages_and_reports_the_bad() {
    let s = fresh().await;
    let batch = serde_json::json!({"batch": [
        {"type": "track", "userId": "u1", "event": "ok", "messageId": "m1"},
        {"type": "track", "userId": "u1", "messageId": "m2"},
        {"type": "identify", "userId": "u1", "traits": {"plan": "pro"}, "messageId": "m3"},
    ]});
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(batch.to_string().as_bytes()).unwrap();
    let body = gz.finish().unwrap();
    let headers = [
        ("Authorization", basic(&s.write_key)),
        ("Content-Encoding", "gzip".into()),
    ];
    let (status, reply) = post(s.addr, "/v1/batch", &headers, &body).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["accepted"], 2);
    assert_eq!(reply["rejected"][0]["index"], 1);
    assert_eq!(reply["rejected"][0]["code"], "missing_event");
    assert_eq!(logged(&s.log).len(), 2);
    // An SDK retrying the same batch stores nothing twice.
    let (_, reply) = post(s.addr, "/v1/batch", &headers, &body).await;
    assert_eq!(
        (reply["accepted"].as_u64(), reply["duplicates"].as_u64()),
        (Some(0), Some(2))
    );
    assert_eq!(logged(&s.log).len(), 2);
}

/// Serves `store` with an ingestion pipeline over the log in `log_dir` until `stop` fires.
async fn serve_log(
    store: Arc<dyn Store>,
    log_dir: &std::path::Path,
) -> (
    SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let log = Arc::new(FileLog::open(log_dir).unwrap());
    let ingestion = Ingestion::new(log, chrono::Utc::now().fixed_offset()).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = AppState {
        store,
        ingestion: Some(Arc::new(ingestion)),
        lake: None,
        engine: None,
        metrics: Default::default(),
        signals: Default::default(),
        limiter: Default::default(),
        telemetry: Default::default(),
        data_dir: None,
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(tenure_server::serve(listener, state, async {
        let _ = stopped.await;
    }));
    (addr, stop, server)
}

#[tokio::test]
async fn duplicates_are_recognised_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> =
        tenure_store::open(&StoreLocation::Sqlite(dir.path().join("tenure.db")))
            .await
            .unwrap();
    let write_key = credential(store.as_ref(), CredentialKind::WriteKey).await;
    let log_dir = dir.path().join("log");
    let body = br#"{"userId":"u","event":"e","messageId":"retry-me"}"#;
    let auth = [("Authorization", basic(&write_key))];
    let (addr, stop, server) = serve_log(store.clone(), &log_dir).await;
    let (status, reply) = post(addr, "/v1/track", &auth, body).await;
    assert_eq!((status, reply["accepted"].as_u64()), (200, Some(1)));
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
    // A new process over the same log remembers the messageId.
    let (addr, _stop, _server) = serve_log(store, &log_dir).await;
    let (status, reply) = post(addr, "/v1/track", &auth, body).await;
    assert_eq!(
        (
            status,
            reply["accepted"].as_u64(),
            reply["duplicates"].as_u64()
        ),
        (200, Some(0), Some(1))
    );
    // The log holds the message once, and a note of the duplicate.
    let kinds: Vec<bool> = tenure_lake::read_log_dir(&log_dir, 0, 100)
        .unwrap()
        .iter()
        .map(|(_, b)| {
            serde_json::from_slice::<serde_json::Value>(b).unwrap()["duplicate"].is_object()
        })
        .collect();
    assert_eq!(kinds, [false, true]);
}

/// Makes `source` the current model.
async fn apply(store: &dyn Store, source: &str) {
    let model = tenure_domain::SuccessModel::parse("tenure.toml", source).unwrap();
    store
        .apply_model(
            &model.version(),
            source,
            &serde_json::to_string(&model).unwrap(),
            chrono::Utc::now().fixed_offset(),
            None,
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn the_tracking_plan_rejects_by_index_and_the_data_quality_report_counts_everything() {
    let s = fresh().await;
    let reject =
        tenure_domain::model::DEFAULT_MODEL_TOML.replace("mode = \"flag\"", "mode = \"reject\"");
    assert_ne!(reject, tenure_domain::model::DEFAULT_MODEL_TOML);
    apply(s.store.as_ref(), &reject).await;
    let batch = serde_json::json!({"batch": [
        {"type": "track", "messageId": "m0", "userId": "u1", "event": "report_created",
         "properties": {"report_id": "r1", "widgets": 3}, "context": {"groupId": "a1"}},
        {"type": "track", "messageId": "m1", "userId": "u1", "event": "bogus"},
        {"type": "track", "messageId": "m2", "userId": "u1", "event": "report_created",
         "properties": {"widgets": "three"}},
        {"type": "track", "messageId": "m0", "userId": "u1", "event": "report_created",
         "properties": {"report_id": "r1"}},
        {"type": "identify", "messageId": "m4", "userId": "u1", "anonymousId": "anon-1",
         "traits": {"email": "u1@example.com"}},
    ]});
    let auth = [("Authorization", basic(&s.write_key))];
    let (status, reply) = post(s.addr, "/v1/batch", &auth, batch.to_string().as_bytes()).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(
        (reply["accepted"].as_u64(), reply["duplicates"].as_u64()),
        (Some(2), Some(1))
    );
    let rejected: Vec<(u64, &str)> = reply["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["index"].as_u64().unwrap(), r["code"].as_str().unwrap()))
        .collect();
    assert_eq!(
        rejected,
        [(1, "unknown_event"), (2, "tracking_plan_violation")]
    );
    let message = reply["rejected"][1]["message"].as_str().unwrap();
    assert!(
        message.contains("`report_created`.`widgets` must be an integer, found a string"),
        "{message}"
    );
    assert!(
        message.contains("requires property `report_id`"),
        "{message}"
    );

    // The report needs an API or admin token.
    let (status, reply) = request(s.addr, "GET", "/api/v1/data-quality", &[], b"").await;
    assert_eq!(
        (status, reply["error"]["code"].as_str()),
        (401, Some("missing_token"))
    );
    let wk = [("Authorization", format!("Bearer {}", s.write_key))];
    let (status, reply) = request(s.addr, "GET", "/api/v1/data-quality", &wk, b"").await;
    assert_eq!(
        (status, reply["error"]["code"].as_str()),
        (401, Some("not_an_api_token"))
    );
    let admin = [("Authorization", format!("Bearer {}", s.admin_token))];
    let (status, dq) = request(s.addr, "GET", "/api/v1/data-quality", &admin, b"").await;
    assert_eq!(status, 200, "{dq}");
    assert_eq!(dq["mode"], "reject");
    assert_eq!(dq["as_of_offset"], 5);
    let t = &dq["totals"];
    assert_eq!(
        (
            t["accepted"].as_u64(),
            t["rejected"].as_u64(),
            t["duplicates"].as_u64()
        ),
        (Some(2), Some(2), Some(1))
    );
    assert_eq!(
        dq["unknown_events"],
        serde_json::json!([{"event": "bogus", "count": 1}])
    );
    let created = dq["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"] == "report_created")
        .unwrap();
    assert_eq!(
        (created["accepted"].as_u64(), created["rejected"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(
        dq["sources"][0]["rejected_by_code"],
        serde_json::json!({"tracking_plan_violation": 1, "unknown_event": 1})
    );
    // Identify tied the anonymous id to the user; the track tied the user to account a1.
    assert_eq!(dq["identities"]["users"], 1);
    assert_eq!(dq["identities"]["merged"], 1);
    assert_eq!(dq["identities"]["accounts"], 1);
}

#[tokio::test]
async fn import_keeps_historical_timestamps_while_batch_corrects_clock_skew() {
    let s = fresh().await;
    let auth = [("Authorization", basic(&s.write_key))];
    let body = |id: &str| {
        serde_json::json!({"batch": [{"type": "track", "messageId": id, "userId": "u1",
            "event": "x", "timestamp": "2024-05-01T10:00:00Z", "sentAt": "2024-05-01T10:00:01Z"}]})
        .to_string()
    };
    assert_eq!(
        post(s.addr, "/v1/import", &auth, body("h").as_bytes())
            .await
            .0,
        200
    );
    assert_eq!(
        post(s.addr, "/v1/batch", &auth, body("b").as_bytes())
            .await
            .0,
        200
    );
    let logged = logged(&s.log);
    assert_eq!(logged[0]["import"], true);
    assert_eq!(logged[0]["message"]["timestamp"], "2024-05-01T10:00:00Z");
    let corrected = logged[1]["message"]["timestamp"].as_str().unwrap();
    assert!(
        !corrected.starts_with("2024"),
        "batch timestamps are corrected: {corrected}"
    );
    assert!(logged[1].get("import").is_none());
}

//! The Segment-compatible ingestion API: `POST /v1/{track,identify,group,page,screen,alias,
//! batch,import}`. A request is authenticated by its write key (HTTP Basic user, or `writeKey`
//! in the body), decompressed when gzipped, parsed message by message, de-duplicated by
//! `messageId` over 24 hours, and appended to the durable event log. The 200 is sent only once
//! the accepted messages are on disk. Bad messages are reported by index; the good ones of the
//! same batch are kept.

use std::collections::{HashMap, VecDeque};
use std::io::Read;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine as _;
use serde_json::json;
use tenure_domain::Timestamp;
use tenure_ingest::segment::{self, Endpoint, Message, MAX_BATCH_BYTES};
use tenure_lake::EventLog;
use tenure_store::{secret, CredentialKind, Store};
use tokio::sync::Semaphore;

use crate::{ApiError, AppState};

/// How long a `messageId` is remembered: SDKs retry within minutes, Segment keeps 24 hours.
const DEDUP_WINDOW_SECS: i64 = 24 * 3600;
/// How long a validated write key is trusted before the store is asked again (revocations
/// take effect within this time).
const KEY_CACHE: Duration = Duration::from_secs(60);
/// Requests appending at once; more get 429 and retry, so memory stays bounded.
const MAX_IN_FLIGHT: usize = 256;
/// Raw (possibly compressed) bodies larger than this are refused before being read in full.
const MAX_RAW_BODY: usize = 2 * MAX_BATCH_BYTES;

/// Remembers the `messageId`s of the last 24 hours, per write key.
#[derive(Default)]
struct Dedup {
    seen: HashMap<(String, String), i64>,
    order: VecDeque<(i64, (String, String))>,
}

impl Dedup {
    fn expire(&mut self, now: i64) {
        while let Some((at, _)) = self.order.front() {
            if *at + DEDUP_WINDOW_SECS > now {
                break;
            }
            if let Some((at, key)) = self.order.pop_front() {
                if self.seen.get(&key) == Some(&at) {
                    self.seen.remove(&key);
                }
            }
        }
    }

    /// Records `key` unless it was seen; returns whether it is new.
    fn insert(&mut self, key: (String, String), at: i64) -> bool {
        if self.seen.contains_key(&key) {
            return false;
        }
        self.seen.insert(key.clone(), at);
        self.order.push_back((at, key));
        true
    }

    fn remove(&mut self, key: &(String, String)) {
        self.seen.remove(key);
    }
}

/// The ingestion pipeline's shared state.
pub struct Ingestion {
    log: Arc<dyn EventLog>,
    account_property: String,
    keys: RwLock<HashMap<String, (String, Instant)>>,
    dedup: Mutex<Dedup>,
    in_flight: Semaphore,
}

impl Ingestion {
    /// Builds the pipeline over `log`, remembering the `messageId`s the log already holds from
    /// the last 24 hours before `now`, so retries across a restart are still recognised.
    pub fn new(
        log: Arc<dyn EventLog>,
        account_property: String,
        now: Timestamp,
    ) -> Result<Ingestion, tenure_lake::LogError> {
        let mut dedup = Dedup::default();
        let horizon = now.timestamp() - DEDUP_WINDOW_SECS;
        let mut from = 0;
        loop {
            let batch = log.read(from, 10_000)?;
            let Some((last, _)) = batch.last() else { break };
            from = last + 1;
            for (_, bytes) in &batch {
                let Ok(v) = serde_json::from_slice::<serde_json::Value>(bytes) else {
                    continue;
                };
                let received = v["message"]["received_at"]
                    .as_str()
                    .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
                    .map(|t| t.timestamp());
                if let (Some(key), Some(id), Some(at)) = (
                    v["write_key"].as_str(),
                    v["message"]["message_id"].as_str(),
                    received,
                ) {
                    if at > horizon {
                        dedup.insert((key.to_owned(), id.to_owned()), at);
                    }
                }
            }
        }
        Ok(Ingestion {
            log,
            account_property,
            keys: RwLock::new(HashMap::new()),
            dedup: Mutex::new(dedup),
            in_flight: Semaphore::new(MAX_IN_FLIGHT),
        })
    }
}

/// What the event log holds for each accepted message.
#[derive(serde::Serialize)]
struct LogRecord<'a> {
    /// The id of the write key it came with.
    write_key: &'a str,
    message: &'a Message,
}

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/v1/{endpoint}", post(ingest))
}

fn api_error(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError {
        status,
        code,
        message: message.into(),
    }
}

fn error(status: StatusCode, code: &'static str, message: impl Into<String>) -> Response {
    api_error(status, code, message).into_response()
}

/// The write key from `Authorization: Basic base64(key:)`, if present.
fn basic_user(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get(axum::http::header::AUTHORIZATION) else {
        return Ok(None);
    };
    let bad = || {
        api_error(
            StatusCode::UNAUTHORIZED,
            "invalid_authorization",
            "the Authorization header must be `Basic base64(WRITE_KEY:)`",
        )
    };
    let text = value.to_str().map_err(|_| bad())?;
    let Some(encoded) = text
        .strip_prefix("Basic ")
        .or_else(|| text.strip_prefix("basic "))
    else {
        return Err(bad());
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| bad())?;
    let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
    let user = decoded.split(':').next().unwrap_or_default().to_owned();
    Ok((!user.is_empty()).then_some(user))
}

/// The credential id of a valid, unrevoked write key.
async fn authenticate(
    ingestion: &Ingestion,
    store: &dyn Store,
    key: &str,
) -> Result<String, ApiError> {
    let hash = secret::hash(key);
    if let Some((id, at)) = ingestion
        .keys
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .get(&hash)
    {
        if at.elapsed() < KEY_CACHE {
            return Ok(id.clone());
        }
    }
    let credential = store.credential_by_hash(&hash).await.map_err(|e| {
        api_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            e.to_string(),
        )
    })?;
    match credential {
        Some(c) if c.kind == CredentialKind::WriteKey && c.revoked_at.is_none() => {
            ingestion
                .keys
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .insert(hash, (c.id.clone(), Instant::now()));
            Ok(c.id)
        }
        Some(c) if c.kind != CredentialKind::WriteKey => Err(api_error(
            StatusCode::UNAUTHORIZED,
            "not_a_write_key",
            "send events with a write key; API tokens cannot ingest",
        )),
        _ => Err(api_error(
            StatusCode::UNAUTHORIZED,
            "invalid_write_key",
            "the write key is unknown or revoked",
        )),
    }
}

fn decompress(headers: &HeaderMap, raw: &[u8]) -> Result<Vec<u8>, ApiError> {
    let encoding = headers
        .get(axum::http::header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("identity")
        .trim()
        .to_ascii_lowercase();
    let mut out = Vec::new();
    let limit = MAX_BATCH_BYTES as u64 + 1;
    let read = match encoding.as_str() {
        "identity" | "" => return Ok(raw.to_vec()),
        "gzip" | "x-gzip" => flate2::read::GzDecoder::new(raw)
            .take(limit)
            .read_to_end(&mut out),
        "deflate" => flate2::read::ZlibDecoder::new(raw)
            .take(limit)
            .read_to_end(&mut out),
        other => {
            return Err(api_error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_encoding",
                format!("Content-Encoding `{other}` is not supported: use gzip, deflate or none"),
            ))
        }
    };
    read.map_err(|e| {
        api_error(
            StatusCode::BAD_REQUEST,
            "invalid_compression",
            format!("the {encoding} body cannot be decompressed: {e}"),
        )
    })?;
    // Anything larger is refused by the parser's size check with a precise message.
    Ok(out)
}

fn new_message_id() -> String {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        // Without randomness, a time-based id still keeps messages apart.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        return format!("tnr-{nanos:032x}");
    }
    format!(
        "tnr-{}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

async fn ingest(
    State(state): State<AppState>,
    Path(endpoint): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let received_at = chrono::Utc::now().fixed_offset();
    let Some(endpoint) = Endpoint::from_path(&endpoint) else {
        return error(
            StatusCode::NOT_FOUND,
            "unknown_endpoint",
            format!("no endpoint /v1/{endpoint}: use track, identify, group, page, screen, alias, batch or import"),
        );
    };
    let Some(ingestion) = state.ingestion.clone() else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "ingestion_unavailable",
            "this server does not ingest events",
        );
    };
    let header_key = match basic_user(&headers) {
        Ok(k) => k,
        Err(e) => return e.into_response(),
    };
    let raw = match axum::body::to_bytes(body, MAX_RAW_BODY).await {
        Ok(b) => b,
        Err(_) => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("the request body is larger than {MAX_RAW_BODY} bytes"),
            )
        }
    };
    let body = match decompress(&headers, &raw) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let parsed =
        match segment::parse_request(endpoint, &body, received_at, &ingestion.account_property) {
            Ok(p) => p,
            Err(e) => {
                return error(
                    StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST),
                    e.code,
                    e.message,
                )
            }
        };
    let Some(key) = header_key.or(parsed.write_key.clone()) else {
        return error(
            StatusCode::UNAUTHORIZED,
            "missing_write_key",
            "send the write key as the HTTP Basic user name or as `writeKey` in the body",
        );
    };
    let key_id = match authenticate(&ingestion, state.store.as_ref(), &key).await {
        Ok(id) => id,
        Err(e) => return e.into_response(),
    };
    if parsed.accepted.is_empty() {
        let status = StatusCode::BAD_REQUEST;
        let (code, message) = match parsed.rejected.first() {
            Some(r) if parsed.rejected.len() == 1 => (r.code, r.message.clone()),
            _ if parsed.rejected.is_empty() => {
                ("empty_batch", "the batch holds no messages".to_owned())
            }
            _ => (
                "all_rejected",
                format!("all {} messages were rejected", parsed.rejected.len()),
            ),
        };
        return (status, Json(json!({ "error": { "code": code, "message": message }, "rejected": parsed.rejected }))).into_response();
    }
    let Ok(_permit) = ingestion.in_flight.try_acquire() else {
        let mut response = error(
            StatusCode::TOO_MANY_REQUESTS,
            "overloaded",
            "too many requests in flight; retry shortly",
        );
        response.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from_static("1"),
        );
        return response;
    };
    // Assign missing ids, and keep only messages not seen in the last 24 hours.
    let now = received_at.timestamp();
    let mut fresh: Vec<Message> = Vec::with_capacity(parsed.accepted.len());
    let mut reserved = Vec::new();
    let mut duplicates = 0usize;
    {
        let mut dedup = ingestion.dedup.lock().unwrap_or_else(|p| p.into_inner());
        dedup.expire(now);
        for mut m in parsed.accepted {
            let id = m.message_id.get_or_insert_with(new_message_id).clone();
            let key = (key_id.clone(), id);
            if dedup.insert(key.clone(), now) {
                reserved.push(key);
                fresh.push(m);
            } else {
                duplicates += 1;
            }
        }
    }
    let records: Vec<Vec<u8>> = fresh
        .iter()
        .map(|m| {
            serde_json::to_vec(&LogRecord {
                write_key: &key_id,
                message: m,
            })
            .unwrap_or_default()
        })
        .collect();
    let log = Arc::clone(&ingestion.log);
    let appended = tokio::task::spawn_blocking(move || {
        let refs: Vec<&[u8]> = records.iter().map(Vec::as_slice).collect();
        log.append(&refs)
    })
    .await;
    match appended {
        Ok(Ok(_)) => (
            StatusCode::OK,
            Json(json!({
                "success": true,
                "accepted": fresh.len(),
                "duplicates": duplicates,
                "rejected": parsed.rejected,
            })),
        )
            .into_response(),
        failed => {
            // Nothing was acknowledged: forget the reservations so a retry is not a "duplicate".
            let mut dedup = ingestion.dedup.lock().unwrap_or_else(|p| p.into_inner());
            for key in &reserved {
                dedup.remove(key);
            }
            let message = match failed {
                Ok(Err(e)) => e.to_string(),
                Err(e) => e.to_string(),
                Ok(Ok(_)) => String::new(),
            };
            tracing::error!(%message, "event log append failed");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "log_unavailable",
                "the events could not be stored; retry",
            )
        }
    }
}

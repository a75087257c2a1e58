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
use tenure_domain::SuccessModel;
use tenure_domain::Timestamp;
use tenure_ingest::logged::{Duplicate, LogRecord, RejectedMessage};
use tenure_ingest::segment::{self, Endpoint, Rejected, MAX_BATCH_BYTES};
use tenure_ingest::tracking::{TrackingPlan, Verdict};
use tenure_lake::EventLog;
use tenure_store::{secret, CredentialKind, Store};
use tokio::sync::Semaphore;

use crate::{ApiError, AppState};

/// How long a `messageId` is remembered: SDKs retry within minutes, Segment keeps 24 hours.
const DEDUP_WINDOW_SECS: i64 = 24 * 3600;
/// How long a validated write key is trusted before the store is asked again (revocations
/// take effect within this time).
const KEY_CACHE: Duration = Duration::from_secs(60);
/// How long the current model's tracking plan is used before the store is asked again (a
/// newly applied model takes effect within this time).
const PLAN_CACHE: Duration = Duration::from_secs(10);
/// Requests appending at once; more get 429 and retry, so memory stays bounded.
const MAX_IN_FLIGHT: usize = 256;
/// Raw (possibly compressed) bodies larger than this are refused before being read in full.
const MAX_RAW_BODY: usize = 2 * MAX_BATCH_BYTES;

/// Remembers the `messageId`s of the last 24 hours, per write key — at most `DEDUP_CAPACITY`
/// of them, the oldest forgotten first, so memory stays bounded under any load. Each is kept
/// as a 128-bit hash of (write key id, messageId): 16 bytes instead of two strings, with a
/// chance of a false "duplicate" below 10⁻²⁰ at full capacity.
struct Dedup {
    seen: HashMap<u128, i64>,
    order: VecDeque<(i64, u128)>,
    capacity: usize,
}

impl Default for Dedup {
    fn default() -> Self {
        Dedup {
            seen: HashMap::new(),
            order: VecDeque::new(),
            capacity: DEDUP_CAPACITY,
        }
    }
}

/// The most `messageId`s remembered (about 60 bytes each: 600 MB at most).
const DEDUP_CAPACITY: usize = 10_000_000;

fn dedup_key(write_key: &str, message_id: &str) -> u128 {
    use std::hash::{Hash, Hasher};
    // Two SipHash-1-3 digests with fixed, different keys: stable across restarts.
    let half = |salt: u64| {
        let mut h = std::hash::DefaultHasher::new();
        salt.hash(&mut h);
        write_key.hash(&mut h);
        message_id.hash(&mut h);
        h.finish()
    };
    (u128::from(half(0x7465_6e75_7265_0001)) << 64) | u128::from(half(0x7465_6e75_7265_0002))
}

impl Dedup {
    fn expire(&mut self, now: i64) {
        while let Some((at, key)) = self.order.front().copied() {
            if at + DEDUP_WINDOW_SECS > now && self.order.len() <= self.capacity {
                break;
            }
            self.order.pop_front();
            if self.seen.get(&key) == Some(&at) {
                self.seen.remove(&key);
            }
        }
    }

    /// Records `key` unless it was seen; returns whether it is new.
    fn insert(&mut self, key: u128, at: i64) -> bool {
        if self.seen.contains_key(&key) {
            return false;
        }
        self.seen.insert(key, at);
        self.order.push_back((at, key));
        true
    }

    fn remove(&mut self, key: &u128) {
        self.seen.remove(key);
    }

    /// Adds the `messageId`s of the log's messages from `from` on received in the 24 hours
    /// before `now`.
    fn scan(
        &mut self,
        log: &dyn EventLog,
        mut from: u64,
        now: Timestamp,
    ) -> Result<(), tenure_lake::LogError> {
        let horizon = now.timestamp() - DEDUP_WINDOW_SECS;
        loop {
            let batch = log.read(from, 100_000)?;
            let Some((last, _)) = batch.last() else { break };
            from = last + 1;
            for (_, bytes) in &batch {
                let Ok(seen) = serde_json::from_slice::<SeenRecord>(bytes) else {
                    continue;
                };
                if let Some(SeenMessage {
                    message_id: Some(id),
                    received_at,
                }) = seen.message
                {
                    let at = received_at.timestamp();
                    if at > horizon {
                        self.insert(dedup_key(seen.write_key, &id), at);
                    }
                }
            }
            self.expire(now.timestamp());
        }
        self.expire(now.timestamp());
        Ok(())
    }

    /// Writes `SNAPSHOT_MAGIC, offset, count, (at, key)…, crc32` atomically.
    fn save(&self, path: &std::path::Path, offset: u64) -> std::io::Result<()> {
        let live: Vec<&(i64, u128)> = self
            .order
            .iter()
            .filter(|(at, key)| self.seen.get(key) == Some(at))
            .collect();
        let mut bytes = Vec::with_capacity(32 + live.len() * 24);
        bytes.extend_from_slice(SNAPSHOT_MAGIC);
        bytes.extend_from_slice(&offset.to_le_bytes());
        bytes.extend_from_slice(&(live.len() as u64).to_le_bytes());
        for (at, key) in live {
            bytes.extend_from_slice(&at.to_le_bytes());
            bytes.extend_from_slice(&key.to_le_bytes());
        }
        let crc = crc32fast::hash(&bytes);
        bytes.extend_from_slice(&crc.to_le_bytes());
        crate::durable::replace(path, &bytes)
    }

    /// Reads a snapshot; `None` when it is missing, torn or from another format.
    fn load(path: &std::path::Path, capacity: usize) -> Option<(Dedup, u64)> {
        let bytes = std::fs::read(path).ok()?;
        let header = SNAPSHOT_MAGIC.len() + 16;
        if bytes.len() < header + 4 || !bytes.starts_with(SNAPSHOT_MAGIC) {
            return None;
        }
        let (body, crc) = bytes.split_at(bytes.len() - 4);
        if crc32fast::hash(body).to_le_bytes() != crc {
            return None;
        }
        let at = |i: usize| u64::from_le_bytes(body[i..i + 8].try_into().unwrap_or([0; 8]));
        let offset = at(SNAPSHOT_MAGIC.len());
        let count = at(SNAPSHOT_MAGIC.len() + 8) as usize;
        if body.len() != header + count * 24 {
            return None;
        }
        let mut dedup = Dedup {
            capacity,
            ..Dedup::default()
        };
        dedup.seen.reserve(count);
        dedup.order.reserve(count);
        for entry in body[header..].chunks_exact(24) {
            let time = i64::from_le_bytes(entry[..8].try_into().unwrap_or([0; 8]));
            let key = u128::from_le_bytes(entry[8..].try_into().unwrap_or([0; 16]));
            dedup.insert(key, time);
        }
        Some((dedup, offset))
    }
}

const SNAPSHOT_MAGIC: &[u8] = b"tenure-dedup-1\n";

/// The ingestion pipeline's shared state.
pub struct Ingestion {
    log: Arc<dyn EventLog>,
    keys: RwLock<HashMap<String, (String, Instant)>>,
    /// The current model's tracking plan and account property, re-read every `PLAN_CACHE`.
    plan: RwLock<Option<(Arc<Rules>, Instant)>>,
    dedup: Mutex<Dedup>,
    in_flight: Semaphore,
    /// Messages counted since the start, for `/metrics`.
    pub counts: IngestCounts,
}

/// Messages the pipeline has seen since the process started.
#[derive(Default)]
pub struct IngestCounts {
    pub accepted: std::sync::atomic::AtomicU64,
    pub rejected: std::sync::atomic::AtomicU64,
    pub duplicates: std::sync::atomic::AtomicU64,
    /// Requests refused for being over the in-flight limit.
    pub overloaded: std::sync::atomic::AtomicU64,
}

/// What the current model says about incoming messages.
pub struct Rules {
    pub plan: TrackingPlan,
    /// The dotted path that names a message's account.
    pub account_property: String,
}

impl Rules {
    /// The rules of `model`, or, without one, accept everything and read `context.groupId`.
    pub fn of(model: Option<&SuccessModel>) -> Rules {
        match model {
            Some(m) => Rules {
                plan: TrackingPlan::of(m),
                account_property: m.identity.account_property.clone(),
            },
            None => Rules {
                plan: TrackingPlan::allow_all(),
                account_property: "context.groupId".to_owned(),
            },
        }
    }

    /// The rules of the store's current model.
    pub async fn current(store: &dyn Store) -> Result<Rules, tenure_store::StoreError> {
        let model = store
            .current_model()
            .await?
            .and_then(|m| serde_json::from_str::<SuccessModel>(&m.model_json).ok());
        Ok(Rules::of(model.as_ref()))
    }
}

/// Just what de-duplication needs from a log record.
#[derive(serde::Deserialize)]
struct SeenRecord<'a> {
    #[serde(borrow, default)]
    write_key: &'a str,
    #[serde(default)]
    message: Option<SeenMessage>,
}

#[derive(serde::Deserialize)]
struct SeenMessage {
    message_id: Option<String>,
    #[serde(with = "tenure_domain::time::rfc3339")]
    received_at: Timestamp,
}

impl Ingestion {
    /// Builds the pipeline over `log`, remembering the `messageId`s the log already holds from
    /// the last 24 hours before `now`, so retries across a restart are still recognised.
    pub fn new(log: Arc<dyn EventLog>, now: Timestamp) -> Result<Ingestion, tenure_lake::LogError> {
        let mut dedup = Dedup::default();
        dedup.scan(log.as_ref(), 0, now)?;
        Ok(Ingestion::with(log, dedup))
    }

    /// `new`, starting from the snapshot a clean shutdown saved at `snapshot` (see
    /// `save_snapshot`) and reading only the log written after it. Without a usable snapshot
    /// (none, or a crash since), the whole log is read.
    pub fn resume(
        log: Arc<dyn EventLog>,
        now: Timestamp,
        snapshot: &std::path::Path,
    ) -> Result<Ingestion, tenure_lake::LogError> {
        let (mut dedup, from) = match Dedup::load(snapshot, DEDUP_CAPACITY) {
            Some((dedup, offset)) if offset <= log.end() => (dedup, offset),
            _ => (Dedup::default(), 0),
        };
        dedup.scan(log.as_ref(), from, now)?;
        Ok(Ingestion::with(log, dedup))
    }

    fn with(log: Arc<dyn EventLog>, dedup: Dedup) -> Ingestion {
        Ingestion {
            log,
            keys: RwLock::new(HashMap::new()),
            plan: RwLock::new(None),
            dedup: Mutex::new(dedup),
            in_flight: Semaphore::new(MAX_IN_FLIGHT),
            counts: IngestCounts::default(),
        }
    }

    /// Requests being handled now (the ingestion queue's depth).
    pub fn in_flight(&self) -> usize {
        MAX_IN_FLIGHT - self.in_flight.available_permits()
    }

    /// Saves the de-duplication state, with the log offset it covers, so the next start need
    /// not read the log. Call it once no request is in flight (after a graceful shutdown).
    pub fn save_snapshot(&self, path: &std::path::Path) -> std::io::Result<()> {
        let dedup = self.dedup.lock().unwrap_or_else(|p| p.into_inner());
        dedup.save(path, self.log.end())
    }

    /// The log the pipeline appends to.
    pub fn log(&self) -> &Arc<dyn EventLog> {
        &self.log
    }

    /// The current rules, from the cache or the store.
    async fn rules(&self, store: &dyn Store) -> Result<Arc<Rules>, ApiError> {
        if let Some((rules, at)) = &*self.plan.read().unwrap_or_else(|p| p.into_inner()) {
            if at.elapsed() < PLAN_CACHE {
                return Ok(Arc::clone(rules));
            }
        }
        let rules = Arc::new(Rules::current(store).await.map_err(|e| {
            api_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                e.to_string(),
            )
        })?);
        *self.plan.write().unwrap_or_else(|p| p.into_inner()) =
            Some((Arc::clone(&rules), Instant::now()));
        Ok(rules)
    }
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
    Path(path): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let received_at = chrono::Utc::now().fixed_offset();
    let Some(endpoint) = Endpoint::from_path(&path) else {
        return error(
            StatusCode::NOT_FOUND,
            "unknown_endpoint",
            format!("no endpoint /v1/{path}: use track, identify, group, page, screen, alias, batch or import"),
        );
    };
    let import = path == "import";
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
    let rules = match ingestion.rules(state.store.as_ref()).await {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let parsed = match segment::parse_request(endpoint, &body, received_at, &rules.account_property)
    {
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
    let Ok(_permit) = ingestion.in_flight.try_acquire() else {
        ingestion
            .counts
            .overloaded
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
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

    // The accepted messages' positions in the batch are those the parser did not reject.
    let total = parsed.accepted.len() + parsed.rejected.len();
    let parse_rejected: std::collections::HashSet<usize> =
        parsed.rejected.iter().map(|r| r.index).collect();
    let indices = (0..total).filter(|i| !parse_rejected.contains(i));
    let mut rejected = parsed.rejected;
    let mut records: Vec<LogRecord> = rejected
        .iter()
        .map(|r| {
            LogRecord::rejected(
                key_id.clone(),
                import,
                RejectedMessage {
                    code: r.code.to_owned(),
                    message: r.message.clone(),
                    event: None,
                    received_at,
                },
            )
        })
        .collect();
    // The tracking plan, then de-duplication: keep messages not seen in the last 24 hours.
    let now = received_at.timestamp();
    let mut accepted = 0usize;
    let mut duplicates = 0usize;
    let mut reserved = Vec::new();
    {
        let mut dedup = ingestion.dedup.lock().unwrap_or_else(|p| p.into_inner());
        dedup.expire(now);
        for (index, mut m) in indices.zip(parsed.accepted) {
            let violations = match rules.plan.check(&m) {
                Verdict::Accept(v) => v,
                Verdict::Reject { code, message } => {
                    records.push(LogRecord::rejected(
                        key_id.clone(),
                        import,
                        RejectedMessage {
                            code: code.clone(),
                            message: message.clone(),
                            event: m.event.clone(),
                            received_at,
                        },
                    ));
                    rejected.push(Rejected {
                        index,
                        code: plan_code(&code),
                        message,
                    });
                    continue;
                }
            };
            let id = m.message_id.get_or_insert_with(new_message_id).clone();
            let hashed = dedup_key(&key_id, &id);
            if dedup.insert(hashed, now) {
                reserved.push(hashed);
                accepted += 1;
                records.push(LogRecord::message(key_id.clone(), import, m, violations));
            } else {
                duplicates += 1;
                records.push(LogRecord::duplicate(
                    key_id.clone(),
                    import,
                    Duplicate {
                        message_id: id,
                        received_at,
                    },
                ));
            }
        }
    }
    rejected.sort_by_key(|r| r.index);
    let bytes: Vec<Vec<u8>> = records.iter().map(LogRecord::to_bytes).collect();
    drop(records);
    let log = Arc::clone(&ingestion.log);
    let appended = tokio::task::spawn_blocking(move || {
        let refs: Vec<&[u8]> = bytes.iter().map(Vec::as_slice).collect();
        log.append(&refs)
    })
    .await;
    if let (Ok(Ok(_)), Some(engine), true) = (&appended, &state.engine, accepted > 0) {
        engine.wake();
    }
    if let Ok(Ok(_)) = &appended {
        use std::sync::atomic::Ordering::Relaxed;
        let c = &ingestion.counts;
        c.accepted.fetch_add(accepted as u64, Relaxed);
        c.rejected.fetch_add(rejected.len() as u64, Relaxed);
        c.duplicates.fetch_add(duplicates as u64, Relaxed);
    }
    match appended {
        Ok(Ok(_)) if accepted == 0 && duplicates == 0 => {
            let (code, message) = match rejected.first() {
                Some(r) if rejected.len() == 1 => (r.code, r.message.clone()),
                _ if rejected.is_empty() => {
                    ("empty_batch", "the batch holds no messages".to_owned())
                }
                _ => (
                    "all_rejected",
                    format!("all {} messages were rejected", rejected.len()),
                ),
            };
            (
                StatusCode::BAD_REQUEST,
                Json(
                    json!({ "error": { "code": code, "message": message }, "rejected": rejected }),
                ),
            )
                .into_response()
        }
        Ok(Ok(_)) => (
            StatusCode::OK,
            Json(json!({
                "success": true,
                "accepted": accepted,
                "duplicates": duplicates,
                "rejected": rejected,
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

/// The stable code of a tracking-plan rejection, as a `&'static str` for the response.
fn plan_code(code: &str) -> &'static str {
    match code {
        "unknown_event" => "unknown_event",
        "undeclared_property" => "undeclared_property",
        "missing_property" => "missing_property",
        "mistyped_property" => "mistyped_property",
        _ => "tracking_plan_violation",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dedup_forgets_after_24_hours_or_beyond_its_capacity() {
        let mut d = Dedup {
            capacity: 3,
            ..Dedup::default()
        };
        let key = |i: u32| dedup_key("wk", &format!("m{i}"));
        assert!(d.insert(key(0), 0));
        assert!(!d.insert(key(0), 10), "a retry is a duplicate");
        assert_ne!(
            dedup_key("wk1", "m0"),
            dedup_key("wk2", "m0"),
            "keys are per write key"
        );
        d.expire(DEDUP_WINDOW_SECS - 1);
        assert!(
            !d.insert(key(0), DEDUP_WINDOW_SECS - 1),
            "still within 24 hours"
        );
        d.expire(DEDUP_WINDOW_SECS);
        assert!(
            d.insert(key(0), DEDUP_WINDOW_SECS),
            "forgotten after 24 hours"
        );
        for i in 1..=4 {
            assert!(d.insert(key(i), DEDUP_WINDOW_SECS));
        }
        d.expire(DEDUP_WINDOW_SECS);
        assert_eq!((d.order.len(), d.seen.len()), (3, 3), "memory is bounded");
        assert!(d.insert(key(0), DEDUP_WINDOW_SECS), "the oldest went first");
        assert!(!d.insert(key(4), DEDUP_WINDOW_SECS), "the newest stayed");
    }

    #[test]
    fn a_snapshot_round_trips_and_a_damaged_one_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dedup.snapshot");
        let mut d = Dedup::default();
        for i in 0..1000 {
            d.insert(dedup_key("wk", &format!("m{i}")), 1_000 + i64::from(i));
        }
        d.save(&path, 4242).unwrap();
        let (loaded, offset) = Dedup::load(&path, DEDUP_CAPACITY).unwrap();
        assert_eq!(offset, 4242);
        assert_eq!(loaded.seen, d.seen);
        assert_eq!(loaded.order, d.order);
        let mut bytes = std::fs::read(&path).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        assert!(
            Dedup::load(&path, DEDUP_CAPACITY).is_none(),
            "a flipped bit is caught"
        );
        std::fs::write(&path, &bytes[..100]).unwrap();
        assert!(
            Dedup::load(&path, DEDUP_CAPACITY).is_none(),
            "a torn file is caught"
        );
        assert!(Dedup::load(&dir.path().join("none"), DEDUP_CAPACITY).is_none());
    }
}

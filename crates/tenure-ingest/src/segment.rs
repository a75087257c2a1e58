//! Segment's HTTP Tracking API messages: `track`, `identify`, `group`, `page`, `screen`,
//! `alias`, and the `batch` / `import` envelopes, parsed and validated as Segment documents
//! them — and, unlike Segment, with every rejected message reported (its index in the batch, a
//! stable snake_case code and a message) instead of silently dropped. The good messages of a
//! batch are always kept. Pure: the caller supplies the body, the arrival time and the
//! configured account property; nothing here reads a clock or writes anywhere.

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use tenure_domain::time::Timestamp;

/// The largest single message Segment accepts (32 KB).
pub const MAX_MESSAGE_BYTES: usize = 32 * 1024;
/// The largest batch request Segment accepts (500 KB).
pub const MAX_BATCH_BYTES: usize = 500 * 1024;
/// The most messages in one batch.
pub const MAX_BATCH_MESSAGES: usize = 2500;

/// The endpoint a request was sent to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Track,
    Identify,
    Group,
    Page,
    Screen,
    Alias,
    /// `/v1/batch`.
    Batch,
    /// `/v1/import`: a batch of history. Its timestamps are kept as sent: the messages were
    /// not sent just now, so `sentAt` cannot measure the sender's clock.
    Import,
}

impl Endpoint {
    /// The endpoint for a path segment after `/v1/`.
    pub fn from_path(segment: &str) -> Option<Endpoint> {
        Some(match segment {
            "track" => Endpoint::Track,
            "identify" => Endpoint::Identify,
            "group" => Endpoint::Group,
            "page" => Endpoint::Page,
            "screen" => Endpoint::Screen,
            "alias" => Endpoint::Alias,
            "batch" => Endpoint::Batch,
            "import" => Endpoint::Import,
            _ => return None,
        })
    }

    fn message_type(self) -> Option<MessageType> {
        Some(match self {
            Endpoint::Track => MessageType::Track,
            Endpoint::Identify => MessageType::Identify,
            Endpoint::Group => MessageType::Group,
            Endpoint::Page => MessageType::Page,
            Endpoint::Screen => MessageType::Screen,
            Endpoint::Alias => MessageType::Alias,
            Endpoint::Batch | Endpoint::Import => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageType {
    Track,
    Identify,
    Group,
    Page,
    Screen,
    Alias,
}

impl MessageType {
    /// The name Segment gives the type: `track`, `identify`, ….
    pub fn name(self) -> &'static str {
        match self {
            MessageType::Track => "track",
            MessageType::Identify => "identify",
            MessageType::Group => "group",
            MessageType::Page => "page",
            MessageType::Screen => "screen",
            MessageType::Alias => "alias",
        }
    }

    fn parse(s: &str) -> Option<MessageType> {
        Some(match s {
            "track" => MessageType::Track,
            "identify" => MessageType::Identify,
            "group" => MessageType::Group,
            "page" => MessageType::Page,
            "screen" => MessageType::Screen,
            "alias" => MessageType::Alias,
            _ => return None,
        })
    }
}

/// A validated message, with its time corrected for the sender's clock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub kind: MessageType,
    /// `None` when the sender gave none: the server assigns one before storing it.
    pub message_id: Option<String>,
    pub user_id: Option<String>,
    pub anonymous_id: Option<String>,
    /// `track`: the event name.
    pub event: Option<String>,
    /// `page` and `screen`: the page or screen name.
    pub name: Option<String>,
    /// `group`: the account.
    pub group_id: Option<String>,
    /// `alias`: the identity being merged into `user_id`.
    pub previous_id: Option<String>,
    pub properties: Map<String, Value>,
    /// `identify` and `group`: traits, from the top level and from `context.traits` (the
    /// top level wins).
    pub traits: Map<String, Value>,
    pub context: Map<String, Value>,
    pub integrations: Map<String, Value>,
    /// When it happened: `received_at − (sent_at − original_timestamp)` when the sender said
    /// both, else the sender's timestamp, else the arrival time.
    #[serde(with = "tenure_domain::time::rfc3339")]
    pub timestamp: Timestamp,
    /// The sender's `timestamp`, as sent.
    #[serde(with = "tenure_domain::time::rfc3339::option")]
    pub original_timestamp: Option<Timestamp>,
    #[serde(with = "tenure_domain::time::rfc3339::option")]
    pub sent_at: Option<Timestamp>,
    #[serde(with = "tenure_domain::time::rfc3339")]
    pub received_at: Timestamp,
    /// The account the message belongs to: `groupId` for `group` calls, else the configured
    /// account property (such as `context.groupId`).
    pub account_id: Option<String>,
}

/// A message of a request that was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejected {
    /// Its position in the batch (0 for single-message endpoints).
    pub index: usize,
    /// A stable snake_case code.
    pub code: &'static str,
    pub message: String,
}

/// A request that cannot be processed at all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{message}")]
pub struct RequestError {
    /// 400 or 413.
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

/// The outcome of a request: the accepted messages and the rejected ones.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Parsed {
    /// `writeKey` from the body, when the sender authenticated that way.
    pub write_key: Option<String>,
    pub accepted: Vec<Message>,
    pub rejected: Vec<Rejected>,
}

fn request_error(status: u16, code: &'static str, message: impl Into<String>) -> RequestError {
    RequestError {
        status,
        code,
        message: message.into(),
    }
}

/// Parses one request body sent to `endpoint`, received at `received_at`. `account_property`
/// is the dotted path that names a message's account when it is not a `group` call.
pub fn parse_request(
    endpoint: Endpoint,
    body: &[u8],
    received_at: Timestamp,
    account_property: &str,
) -> Result<Parsed, RequestError> {
    let batch = matches!(endpoint, Endpoint::Batch | Endpoint::Import);
    let limit = if batch {
        MAX_BATCH_BYTES
    } else {
        MAX_MESSAGE_BYTES
    };
    if body.len() > limit {
        return Err(request_error(
            413,
            "payload_too_large",
            format!(
                "the request body is {} bytes; the limit is {limit} bytes{}",
                body.len(),
                if batch {
                    " per batch (and 32 KB per message)"
                } else {
                    " per message: send larger volumes to /v1/batch"
                }
            ),
        ));
    }
    let invalid_json = |e: serde_json::Error| {
        request_error(
            400,
            "invalid_json",
            format!(
                "the body is not valid JSON: {e} (line {}, column {})",
                e.line(),
                e.column()
            ),
        )
    };
    let not_object = || request_error(400, "invalid_body", "the body must be a JSON object");
    let write_key = |v: Option<Value>| match v {
        Some(Value::String(k)) => Ok(Some(k)),
        Some(Value::Null) | None => Ok(None),
        Some(_) => Err(request_error(
            400,
            "invalid_write_key",
            "`writeKey` must be a string",
        )),
    };
    let Some(kind) = endpoint.message_type() else {
        // A batch is read in two steps: the envelope with each message left raw, then each
        // message alone, so a message's size is its size as sent and a bad one fails alone.
        let mut root: std::collections::BTreeMap<String, &RawValue> =
            match serde_json::from_slice(body) {
                Ok(r) => r,
                Err(e) => {
                    return Err(
                        match serde_json::from_slice::<serde::de::IgnoredAny>(body) {
                            Ok(_) => not_object(),
                            Err(_) => invalid_json(e),
                        },
                    )
                }
            };
        let parse =
            |raw: Option<&RawValue>| raw.and_then(|r| serde_json::from_str::<Value>(r.get()).ok());
        let mut parsed = Parsed {
            write_key: write_key(parse(root.remove("writeKey")))?,
            accepted: Vec::new(),
            rejected: Vec::new(),
        };
        let items: Vec<&RawValue> = match root.remove("batch") {
            Some(raw) => serde_json::from_str(raw.get()).map_err(|_| {
                request_error(400, "invalid_batch", "`batch` must be an array of messages")
            })?,
            None => {
                return Err(request_error(
                    400,
                    "invalid_batch",
                    "a batch request needs a `batch` array",
                ))
            }
        };
        if items.len() > MAX_BATCH_MESSAGES {
            return Err(request_error(
                413,
                "batch_too_large",
                format!(
                    "the batch holds {} messages; the limit is {MAX_BATCH_MESSAGES}",
                    items.len()
                ),
            ));
        }
        let as_object = |v: Option<Value>| match v {
            Some(Value::Object(m)) => Some(m),
            _ => None,
        };
        let envelope = Envelope {
            context: as_object(parse(root.remove("context"))),
            integrations: as_object(parse(root.remove("integrations"))),
            sent_at: parse(root.remove("sentAt")),
            history: endpoint == Endpoint::Import,
        };
        for (index, raw) in items.into_iter().enumerate() {
            let size = raw.get().len();
            if size > MAX_MESSAGE_BYTES {
                parsed.rejected.push(Rejected {
                    index,
                    code: "message_too_large",
                    message: format!(
                        "the message is {size} bytes; the limit is {MAX_MESSAGE_BYTES} bytes"
                    ),
                });
                continue;
            }
            let item: Value = match serde_json::from_str(raw.get()) {
                Ok(v) => v,
                Err(e) => {
                    parsed.rejected.push(Rejected {
                        index,
                        code: "invalid_message",
                        message: e.to_string(),
                    });
                    continue;
                }
            };
            match message(item, None, Some(&envelope), received_at, account_property) {
                Ok(m) => parsed.accepted.push(m),
                Err((code, message)) => parsed.rejected.push(Rejected {
                    index,
                    code,
                    message,
                }),
            }
        }
        return Ok(parsed);
    };
    let value: Value = serde_json::from_slice(body).map_err(invalid_json)?;
    let Value::Object(mut root) = value else {
        return Err(not_object());
    };
    let mut parsed = Parsed {
        write_key: write_key(root.remove("writeKey"))?,
        accepted: Vec::new(),
        rejected: Vec::new(),
    };
    match message(
        Value::Object(root),
        Some(kind),
        None,
        received_at,
        account_property,
    ) {
        Ok(m) => parsed.accepted.push(m),
        Err((code, message)) => parsed.rejected.push(Rejected {
            index: 0,
            code,
            message,
        }),
    }
    Ok(parsed)
}

/// What a batch says for all its messages.
struct Envelope {
    context: Option<Map<String, Value>>,
    integrations: Option<Map<String, Value>>,
    sent_at: Option<Value>,
    /// Sent to `/v1/import`: timestamps are not corrected for clock skew.
    history: bool,
}

type Invalid = (&'static str, String);

/// Parses an instant as Segment senders write it: RFC 3339, or ISO 8601 without an offset
/// (read as UTC).
fn instant(field: &str, value: &Value) -> Result<Option<Timestamp>, Invalid> {
    let s = match value {
        Value::Null => return Ok(None),
        Value::String(s) => s,
        other => {
            return Err((
                "invalid_timestamp",
                format!(
                    "`{field}` must be an ISO 8601 string, found {}",
                    kind_of(other)
                ),
            ))
        }
    };
    if let Ok(t) = tenure_domain::time::rfc3339::parse(s) {
        return Ok(Some(t));
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(s, format) {
            return Ok(Some(naive.and_utc().fixed_offset()));
        }
    }
    Err((
        "invalid_timestamp",
        format!(
            "`{field}` is `{}`, not an ISO 8601 date-time (e.g. 2026-03-01T09:30:00.000Z)",
            truncate(s)
        ),
    ))
}

fn truncate(s: &str) -> String {
    if s.chars().count() > 40 {
        format!("{}…", s.chars().take(40).collect::<String>())
    } else {
        s.to_owned()
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// An identifier: a non-empty string, or a number (some SDKs send numeric user ids).
fn id(map: &mut Map<String, Value>, field: &str) -> Result<Option<String>, Invalid> {
    match map.remove(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(other) => Err((
            "invalid_field",
            format!("`{field}` must be a string, found {}", kind_of(&other)),
        )),
    }
}

fn object(map: &mut Map<String, Value>, field: &str) -> Result<Map<String, Value>, Invalid> {
    match map.remove(field) {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(m)) => Ok(m),
        Some(other) => Err((
            "invalid_field",
            format!("`{field}` must be an object, found {}", kind_of(&other)),
        )),
    }
}

/// Follows a dotted path such as `context.groupId` or `properties.account_id`.
fn lookup<'v>(m: &'v Message, path: &str) -> Option<&'v Value> {
    let mut parts = path.split('.');
    let root = match parts.next()? {
        "context" => &m.context,
        "properties" => &m.properties,
        "traits" => &m.traits,
        "integrations" => &m.integrations,
        _ => return None,
    };
    walk(root, parts)
}

fn walk<'v>(
    map: &'v Map<String, Value>,
    mut parts: std::str::Split<'_, char>,
) -> Option<&'v Value> {
    let mut current = map.get(parts.next()?)?;
    for p in parts {
        current = current.get(p)?;
    }
    Some(current)
}

fn message(
    value: Value,
    endpoint_type: Option<MessageType>,
    envelope: Option<&Envelope>,
    received_at: Timestamp,
    account_property: &str,
) -> Result<Message, Invalid> {
    let Value::Object(mut map) = value else {
        return Err((
            "invalid_message",
            format!("a message must be a JSON object, found {}", kind_of(&value)),
        ));
    };
    let kind = match (endpoint_type, map.remove("type")) {
        (Some(k), _) => k,
        (None, Some(Value::String(t))) => MessageType::parse(&t).ok_or_else(|| {
            (
                "invalid_type",
                format!(
                    "`type` is `{}`: use track, identify, group, page, screen or alias",
                    truncate(&t)
                ),
            )
        })?,
        (None, Some(other)) => {
            return Err((
                "invalid_type",
                format!("`type` must be a string, found {}", kind_of(&other)),
            ))
        }
        (None, None) => return Err(("missing_type", "a batch message needs a `type`".to_owned())),
    };
    let message_id = id(&mut map, "messageId")?;
    let user_id = id(&mut map, "userId")?;
    let anonymous_id = id(&mut map, "anonymousId")?;
    if user_id.is_none() && anonymous_id.is_none() {
        return Err((
            "missing_identity",
            "a message needs a `userId` or an `anonymousId`".to_owned(),
        ));
    }
    let mut context = object(&mut map, "context")?;
    let mut integrations = object(&mut map, "integrations")?;
    if let Some(env) = envelope {
        // The batch's context and integrations apply to every message; the message's own
        // keys win.
        for (k, v) in env.context.iter().flatten() {
            context.entry(k.clone()).or_insert_with(|| v.clone());
        }
        for (k, v) in env.integrations.iter().flatten() {
            integrations.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    let properties = object(&mut map, "properties")?;
    let mut traits = object(&mut map, "traits")?;
    if kind == MessageType::Identify {
        if let Some(Value::Object(ctx_traits)) = context.get("traits") {
            for (k, v) in ctx_traits {
                traits.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
    }
    let event = match kind {
        MessageType::Track => match map.remove("event") {
            Some(Value::String(e)) if !e.trim().is_empty() => Some(e),
            Some(Value::String(_)) | None | Some(Value::Null) => {
                return Err((
                    "missing_event",
                    "a track call needs an `event` name".to_owned(),
                ))
            }
            Some(other) => {
                return Err((
                    "invalid_field",
                    format!("`event` must be a string, found {}", kind_of(&other)),
                ))
            }
        },
        _ => None,
    };
    let name = match kind {
        MessageType::Page | MessageType::Screen => id(&mut map, "name")?,
        _ => None,
    };
    let group_id = match kind {
        MessageType::Group => Some(id(&mut map, "groupId")?.ok_or_else(|| {
            (
                "missing_group_id",
                "a group call needs a `groupId`".to_owned(),
            )
        })?),
        _ => None,
    };
    let previous_id = match kind {
        MessageType::Alias => {
            if user_id.is_none() {
                return Err((
                    "missing_identity",
                    "an alias call needs a `userId`".to_owned(),
                ));
            }
            Some(id(&mut map, "previousId")?.ok_or_else(|| {
                (
                    "missing_previous_id",
                    "an alias call needs a `previousId`".to_owned(),
                )
            })?)
        }
        _ => None,
    };
    let original_timestamp = match map.get("timestamp") {
        Some(v) => instant("timestamp", v)?,
        None => None,
    };
    let sent_at = match map
        .get("sentAt")
        .or(envelope.and_then(|e| e.sent_at.as_ref()))
    {
        Some(v) => instant("sentAt", v)?,
        None => None,
    };
    let history = envelope.is_some_and(|e| e.history);
    let timestamp = match (original_timestamp, sent_at) {
        (Some(t), Some(_)) if history => t,
        (Some(t), Some(sent)) => received_at - (sent - t),
        (Some(t), None) => t,
        (None, _) => received_at,
    };
    let mut m = Message {
        kind,
        message_id,
        user_id,
        anonymous_id,
        event,
        name,
        group_id,
        previous_id,
        properties,
        traits,
        context,
        integrations,
        timestamp,
        original_timestamp,
        sent_at,
        received_at,
        account_id: None,
    };
    m.account_id = match &m.group_id {
        Some(g) => Some(g.clone()),
        None => match lookup(&m, account_property) {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        },
    };
    Ok(m)
}

//! The durable outbox of playbook webhooks and emails: a message is on disk (`durable`:
//! written to a temporary file, flushed, renamed over `outbox.json`) before delivery is
//! tried, then delivered with retries and exponential backoff until the receiver accepts it,
//! or set aside as failed after `MAX_ATTEMPTS` (at once when it can never be delivered, such
//! as an email to a malformed address).
//!
//! A webhook carries a Slack-compatible JSON body (`text`, plus Tenure's own fields under
//! `tenure`) and an HMAC-SHA256 signature of the timestamp and body:
//! `X-Tenure-Signature: t=UNIX_SECONDS,v1=HEX`, computed over `UNIX_SECONDS.BODY`.
//!
//! An email goes to one recipient, as plain text, through the `Mailer`: an SMTP server when
//! one is configured, else one `.eml` file per message in a directory (the local sink).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// Attempts before a message is set aside as failed.
pub const MAX_ATTEMPTS: u32 = 12;
/// Delivered and failed messages are kept this long for the record, then dropped.
const KEEP_MICROS: i64 = 30 * 86_400_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pending,
    Delivered,
    Failed,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    #[default]
    Webhook,
    Email,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// `PLAYBOOK-ACCOUNT-YYYYMMDD-N` (a webhook), with `-RECIPIENT` for an email: one
    /// firing's action; enqueued once.
    pub id: String,
    #[serde(default)]
    pub channel: Channel,
    /// A webhook's address.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub url: String,
    /// An email's recipient (`Name <address>` or an address) and subject.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub to: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subject: String,
    /// The JSON body of a webhook, or the text of an email, as sent.
    pub body: String,
    pub created_at: i64,
    pub attempts: u32,
    pub next_attempt_at: i64,
    pub status: Status,
    pub last_error: Option<String>,
    pub delivered_at: Option<i64>,
}

impl Message {
    /// A message to deliver from `created_at` on, with nothing tried yet; the caller fills in
    /// where it goes and what it says.
    pub fn new(id: String, channel: Channel, created_at: i64) -> Message {
        Message {
            id,
            channel,
            url: String::new(),
            to: String::new(),
            subject: String::new(),
            body: String::new(),
            created_at,
            attempts: 0,
            next_attempt_at: created_at,
            status: Status::Pending,
            last_error: None,
            delivered_at: None,
        }
    }
}

/// Why a delivery attempt failed, and whether trying again could help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub message: String,
    /// Never deliverable (a malformed address): failed at once, not retried.
    pub permanent: bool,
}

impl From<String> for Failure {
    fn from(message: String) -> Failure {
        Failure {
            message,
            permanent: false,
        }
    }
}

impl From<&str> for Failure {
    fn from(message: &str) -> Failure {
        message.to_owned().into()
    }
}

/// Seconds to wait after `attempts` failed attempts: 1 minute, doubling, at most 6 hours.
pub fn backoff_seconds(attempts: u32) -> i64 {
    (60i64 << attempts.saturating_sub(1).min(9)).min(6 * 3600)
}

/// The `X-Tenure-Signature` value of `body` sent at `unix_seconds`.
pub fn sign(secret: &[u8], unix_seconds: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(format!("{unix_seconds}.{body}").as_bytes());
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("t={unix_seconds},v1={hex}")
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    messages: Vec<Message>,
}

pub struct Outbox {
    path: PathBuf,
    secret: Vec<u8>,
    state: Mutex<State>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Delivery {
    pub delivered: usize,
    pub retrying: usize,
    pub failed: usize,
}

impl Outbox {
    /// The outbox in `path` (created when absent), signing with `secret`.
    pub fn open(path: &Path, secret: Vec<u8>) -> std::io::Result<Outbox> {
        let state = crate::durable::read_json_or_default(path)?;
        Ok(Outbox {
            path: path.to_owned(),
            secret,
            state: Mutex::new(state),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn persist(&self, state: &State) -> std::io::Result<()> {
        crate::durable::replace_json(&self.path, state)
    }

    /// Adds messages not enqueued before (by id) and writes the outbox to disk before it
    /// returns: an enqueued message survives a crash.
    pub fn enqueue(&self, messages: Vec<Message>) -> std::io::Result<usize> {
        let mut state = self.lock();
        let mut added = 0;
        for m in messages {
            if state.messages.iter().any(|x| x.id == m.id) {
                continue;
            }
            state.messages.push(m);
            added += 1;
        }
        if added > 0 {
            self.persist(&state)?;
        }
        Ok(added)
    }

    /// Every message, oldest first.
    pub fn messages(&self) -> Vec<Message> {
        self.lock().messages.clone()
    }

    /// Tries every pending message that is due at `now` (micros) once, through `send`
    /// (the message and its signature header → Ok, or what went wrong), and records the
    /// outcome.
    pub async fn deliver_due<F, Fut>(&self, now: i64, send: F) -> std::io::Result<Delivery>
    where
        F: Fn(Message, String) -> Fut,
        Fut: std::future::Future<Output = Result<(), Failure>>,
    {
        let due: Vec<Message> = self
            .lock()
            .messages
            .iter()
            .filter(|m| m.status == Status::Pending && m.next_attempt_at <= now)
            .cloned()
            .collect();
        let mut outcome = Delivery::default();
        let mut results = Vec::with_capacity(due.len());
        for m in due {
            let signature = sign(&self.secret, now / 1_000_000, &m.body);
            let id = m.id.clone();
            let r = send(m, signature).await;
            results.push((id, r));
        }
        let mut state = self.lock();
        for (id, r) in results {
            let Some(m) = state.messages.iter_mut().find(|m| m.id == id) else {
                continue;
            };
            m.attempts += 1;
            match r {
                Ok(()) => {
                    m.status = Status::Delivered;
                    m.delivered_at = Some(now);
                    m.last_error = None;
                    outcome.delivered += 1;
                }
                Err(e) => {
                    m.last_error = Some(e.message);
                    if e.permanent || m.attempts >= MAX_ATTEMPTS {
                        m.status = Status::Failed;
                        outcome.failed += 1;
                    } else {
                        m.next_attempt_at = now + backoff_seconds(m.attempts) * 1_000_000;
                        outcome.retrying += 1;
                    }
                }
            }
        }
        let before = state.messages.len();
        state.messages.retain(|m| {
            m.status == Status::Pending
                || m.delivered_at.unwrap_or(m.next_attempt_at) + KEEP_MICROS > now
        });
        if outcome != Delivery::default() || state.messages.len() != before {
            self.persist(&state)?;
        }
        Ok(outcome)
    }
}

impl Outbox {
    /// Delivers due messages every second, for ever, on its own task (webhooks over HTTP,
    /// emails through `mailer`): a slow receiver holds up only the outbox, never the engine.
    pub async fn deliver_forever(
        self: std::sync::Arc<Self>,
        clock: fn() -> i64,
        mailer: std::sync::Arc<crate::mail::Mailer>,
    ) {
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        loop {
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            let delivered = self
                .deliver_due(clock(), |m, signature| {
                    let client = client.clone();
                    let mailer = std::sync::Arc::clone(&mailer);
                    async move {
                        match m.channel {
                            Channel::Webhook => post(&client, m.url, m.body, signature)
                                .await
                                .map_err(Failure::from),
                            Channel::Email => mailer.send(&m).await,
                        }
                    }
                })
                .await;
            match delivered {
                Ok(d) if d != Delivery::default() => tracing::info!(
                    delivered = d.delivered,
                    retrying = d.retrying,
                    failed = d.failed,
                    "playbook webhooks and emails"
                ),
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "the outbox cannot be written"),
            }
        }
    }
}

/// The webhook signing key in `path`: read, or made (32 random bytes, hex) and written with
/// owner-only permissions when absent. Receivers verify signatures with it.
pub fn signing_key(path: &Path) -> std::io::Result<Vec<u8>> {
    if let Ok(text) = std::fs::read_to_string(path) {
        return Ok(text.trim().as_bytes().to_vec());
    }
    let hex =
        tenure_store::secret::random_hex(32).map_err(|e| std::io::Error::other(e.to_string()))?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    {
        use std::io::Write;
        let mut f = options.open(path)?;
        f.write_all(hex.as_bytes())?;
        f.sync_all()?;
    }
    Ok(hex.into_bytes())
}

/// Sends one webhook with `client`: a POST of the JSON body with its signature; anything but
/// a 2xx answer is a failure to retry.
pub async fn post(
    client: &reqwest::Client,
    url: String,
    body: String,
    signature: String,
) -> Result<(), String> {
    let response = client
        .post(&url)
        .header("content-type", "application/json")
        .header("x-tenure-signature", signature)
        .body(body)
        .send()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!("{url} answered {}", response.status()))
    }
}

/// The webhook messages a firing sends: one per webhook action of its playbook, none when
/// held out. The body is Slack-compatible (`text`) and carries the firing under `tenure`.
pub fn webhooks_for(
    plan: &tenure_engine::Plan,
    firing: &tenure_engine::Firing,
    account_name: Option<&str>,
) -> Vec<Message> {
    use tenure_domain::model::Action;
    let Some((playbook, spec)) = crate::playbooks::acted_on(plan, firing) else {
        return Vec::new();
    };
    let date = tenure_engine::day::date_of(tenure_engine::day::day_of(firing.at));
    let at = chrono::DateTime::from_timestamp_micros(firing.at)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let tier = plan
        .model
        .tiers
        .get(firing.tier as usize)
        .map(|t| t.name.as_str());
    let segment = plan
        .model
        .segments
        .get(firing.segment as usize)
        .map(|s| s.rule.name.as_str());
    let who = account_name.unwrap_or(&firing.account);
    spec.actions
        .iter()
        .enumerate()
        .filter_map(|(k, a)| {
            let Action::Webhook { url } = a else {
                return None;
            };
            let body = serde_json::json!({
                "text": format!(
                    "{who}: {} — {} (health {:.0}, {})",
                    playbook.name,
                    firing.reason,
                    firing.score,
                    firing.band.name()
                ),
                "tenure": {
                    "playbook": playbook.name,
                    "description": spec.description,
                    "account": firing.account,
                    "account_name": account_name,
                    "reason": firing.reason,
                    "health": firing.score,
                    "band": firing.band.name(),
                    "tier": tier,
                    "segment": segment,
                    "fired_at": at,
                }
            });
            Some(Message {
                url: url.clone(),
                body: body.to_string(),
                ..Message::new(
                    format!(
                        "{}-{}-{}-{k}",
                        playbook.name,
                        firing.account,
                        date.format("%Y%m%d")
                    ),
                    Channel::Webhook,
                    firing.at,
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(id: &str) -> Message {
        Message {
            url: "http://127.0.0.1:9/hook".into(),
            body: r#"{"text":"hi"}"#.into(),
            ..Message::new(id.into(), Channel::Webhook, 0)
        }
    }

    #[test]
    fn signatures_are_hmac_sha256_of_the_timestamp_and_body() {
        // Computed independently with Python's hmac module over "1700000000." + body.
        assert_eq!(
            sign(b"secret", 1700000000, r#"{"text":"hi"}"#),
            "t=1700000000,v1=3ad1ab8e3e2036926574b48bb349a6926291abb28309d44d18066d4f51de2112"
        );
    }

    #[tokio::test]
    async fn messages_survive_a_restart_retry_with_backoff_and_fail_at_last() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("outbox.json");
        let ob = Outbox::open(&path, b"k".to_vec()).unwrap();
        assert_eq!(ob.enqueue(vec![message("a"), message("b")]).unwrap(), 2);
        assert_eq!(ob.enqueue(vec![message("a")]).unwrap(), 0);
        drop(ob);
        // Enqueued means on disk.
        let ob = Outbox::open(&path, b"k".to_vec()).unwrap();
        assert_eq!(ob.messages().len(), 2);
        // "a" fails, "b" is delivered.
        let d = ob
            .deliver_due(1_000_000, |m, sig| async move {
                assert!(sig.starts_with("t=1,v1="));
                if m.body.contains("hi") {
                    Err("down".into())
                } else {
                    Ok(())
                }
            })
            .await
            .unwrap();
        assert_eq!(
            d,
            Delivery {
                delivered: 0,
                retrying: 2,
                failed: 0
            }
        );
        let m = &ob.messages()[0];
        assert_eq!((m.attempts, m.next_attempt_at), (1, 1_000_000 + 60_000_000));
        // Not due yet: nothing is tried.
        let d = ob
            .deliver_due(2_000_000, |_, _| async { Ok(()) })
            .await
            .unwrap();
        assert_eq!(d, Delivery::default());
        // Due: delivered, and the outcome is on disk.
        let d = ob
            .deliver_due(61_000_000, |_, _| async { Ok(()) })
            .await
            .unwrap();
        assert_eq!(d.delivered, 2);
        let again = Outbox::open(&path, b"k".to_vec()).unwrap();
        assert!(again
            .messages()
            .iter()
            .all(|m| m.status == Status::Delivered));
        // A receiver that never answers: failed after MAX_ATTEMPTS, with the last error.
        let ob = Outbox::open(&dir.path().join("other.json"), b"k".to_vec()).unwrap();
        ob.enqueue(vec![message("c")]).unwrap();
        let mut now = 0;
        for _ in 0..MAX_ATTEMPTS {
            ob.deliver_due(now, |_, _| async { Err("503".into()) })
                .await
                .unwrap();
            now += 7 * 3600 * 1_000_000;
        }
        let m = &ob.messages()[0];
        assert_eq!((m.status, m.attempts), (Status::Failed, MAX_ATTEMPTS));
        assert_eq!(m.last_error.as_deref(), Some("503"));
        assert_eq!(backoff_seconds(1), 60);
        assert_eq!(backoff_seconds(3), 240);
        assert_eq!(backoff_seconds(11), 6 * 3600);
    }
}

//! `tenure send`: streams Segment JSON lines to a Tenure (or Segment-compatible) server in
//! batches, several requests in flight, retrying 429 and 5xx with backoff, and reports every
//! rejected line by file and line number.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use base64::Engine as _;
use tokio::task::JoinSet;

use crate::commands::simulate::progress_bar;
use tenure_ingest::segment::{MAX_BATCH_MESSAGES, MAX_MESSAGE_BYTES};

use crate::failure::{Failure, Outcome};

/// Bytes of messages per request, below Segment's 500 KB batch limit with room for the envelope.
const BATCH_BYTES: usize = 450 * 1024;
const MAX_ATTEMPTS: u32 = 10;

#[derive(Debug, Default)]
pub struct SendReport {
    pub lines: u64,
    pub accepted: u64,
    pub duplicates: u64,
    /// (line, code, message) of every line that was not accepted.
    pub rejected: Vec<(u64, String, String)>,
    pub requests: u64,
    pub retries: u64,
    /// Seconds from sending a request to its acknowledgement, per request.
    pub latencies: Vec<f64>,
    pub seconds: f64,
}

pub struct Options<'a> {
    pub url: &'a str,
    pub write_key: &'a str,
    pub concurrency: usize,
    /// Events per second to send at most (for latency at a given load), or as fast as acked.
    pub rate: Option<f64>,
    pub progress: bool,
    /// Send to `/v1/import` (history) instead of `/v1/batch`.
    pub import: bool,
}

struct Batch {
    lines: Vec<u64>,
    body: Vec<u8>,
}

/// The lane of a message: by its account (the first `"groupId"`, top level or in `context`),
/// else its user (`"userId"`, then `"anonymousId"`), read off the raw line (a hint for
/// ordering only: the server parses and checks every message).
fn lane_of(line: &str, lanes: usize) -> usize {
    use std::hash::{Hash, Hasher};
    let value_of = |key: &str| -> Option<&str> {
        let at = line.find(key)? + key.len();
        let rest = line[at..].trim_start().strip_prefix(':')?.trim_start();
        let rest = rest.strip_prefix('"')?;
        Some(&rest[..rest.find('"')?])
    };
    let id = value_of("\"groupId\"")
        .or_else(|| value_of("\"userId\""))
        .or_else(|| value_of("\"anonymousId\""))
        .unwrap_or("");
    let mut h = std::collections::hash_map::DefaultHasher::new();
    id.hash(&mut h);
    (h.finish() % lanes.max(1) as u64) as usize
}

/// What one request came back with.
struct Reply {
    lines: Vec<u64>,
    status: u16,
    body: serde_json::Value,
    retries: u32,
    latency: f64,
}

async fn post(
    client: &reqwest::Client,
    url: &str,
    auth: &str,
    batch: Batch,
) -> Result<Reply, anyhow::Error> {
    let mut retries = 0;
    loop {
        let started = Instant::now();
        let result = client
            .post(url)
            .header("Authorization", auth)
            .header("Content-Type", "application/json")
            .body(batch.body.clone())
            .send()
            .await;
        let wait = match result {
            Ok(response) => {
                let status = response.status().as_u16();
                let retry_after = response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok());
                if status == 429 || status >= 500 {
                    Duration::from_secs(retry_after.unwrap_or(0))
                        .max(Duration::from_millis(100 << retries.min(5)))
                } else {
                    let body = response.json().await.unwrap_or(serde_json::Value::Null);
                    return Ok(Reply {
                        lines: batch.lines,
                        status,
                        body,
                        retries,
                        latency: started.elapsed().as_secs_f64(),
                    });
                }
            }
            Err(e) if retries + 1 >= MAX_ATTEMPTS => {
                return Err(anyhow::anyhow!("sending to {url}: {e}"))
            }
            Err(_) => Duration::from_millis(100 << retries.min(5)),
        };
        retries += 1;
        if retries >= MAX_ATTEMPTS {
            return Err(anyhow::anyhow!(
                "{url} kept refusing a batch after {MAX_ATTEMPTS} attempts"
            ));
        }
        tokio::time::sleep(wait).await;
    }
}

fn absorb(report: &mut SendReport, reply: Reply, file: &str) -> Outcome {
    report.requests += 1;
    report.retries += u64::from(reply.retries);
    report.latencies.push(reply.latency);
    match reply.status {
        200 => {
            report.accepted += reply.body["accepted"].as_u64().unwrap_or(0);
            report.duplicates += reply.body["duplicates"].as_u64().unwrap_or(0);
        }
        401 | 403 => {
            return Err(Failure::rejected(format!(
                "error: the server refused the write key: {}",
                reply.body["error"]["message"]
                    .as_str()
                    .unwrap_or("unauthorised")
            )))
        }
        status if reply.body["rejected"].is_null() => {
            let message = reply.body["error"]["message"]
                .as_str()
                .unwrap_or("rejected")
                .to_owned();
            let code = reply.body["error"]["code"]
                .as_str()
                .unwrap_or("rejected")
                .to_owned();
            for line in &reply.lines {
                report.rejected.push((
                    *line,
                    code.clone(),
                    format!("{message} (HTTP {status}, {file})"),
                ));
            }
            return Ok(());
        }
        _ => {}
    }
    for r in reply.body["rejected"].as_array().into_iter().flatten() {
        let index = r["index"].as_u64().unwrap_or(0) as usize;
        let line = reply.lines.get(index).copied().unwrap_or(0);
        report.rejected.push((
            line,
            r["code"].as_str().unwrap_or("rejected").to_owned(),
            r["message"].as_str().unwrap_or("").to_owned(),
        ));
    }
    Ok(())
}

/// Sends every line of `path` to `options.url`'s `/v1/batch` (or `/v1/import`).
pub async fn send_file(path: &Path, options: &Options<'_>) -> Outcome<SendReport> {
    let name = path.display().to_string();
    let file = std::fs::File::open(path)
        .map_err(|e| Failure::rejected(format!("error: cannot open {name}: {e}")))?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let bar = if options.progress {
        progress_bar(len, "bytes sent")
    } else {
        indicatif::ProgressBar::hidden()
    };
    let reader = BufReader::with_capacity(1 << 20, bar.wrap_read(file));
    let url = format!(
        "{}/v1/{}",
        options.url.trim_end_matches('/'),
        if options.import { "import" } else { "batch" }
    );
    if !url.starts_with("http://") {
        return Err(Failure::rejected(format!(
            "error: `{}` is not an http:// address (tenure send does not speak TLS yet; send through a local proxy)",
            options.url
        )));
    }
    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{}:", options.write_key))
    );
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(options.concurrency)
        .build()
        .context("building the HTTP client")?;
    let mut sender = Sender {
        client,
        url,
        auth,
        rate: options.rate,
        in_flight: JoinSet::new(),
        busy: vec![false; options.concurrency.max(1)],
        report: SendReport::default(),
        started: Instant::now(),
        sent: 0,
        file: name.clone(),
    };
    let lanes = options.concurrency.max(1);
    let mut batches: Vec<Batch> = (0..lanes).map(|_| Batch::new()).collect();
    for (i, line) in reader.lines().enumerate() {
        let line_no = i as u64 + 1;
        let line = line.with_context(|| format!("reading {name}"))?;
        if line.trim().is_empty() {
            continue;
        }
        sender.report.lines += 1;
        if line.len() > MAX_MESSAGE_BYTES {
            sender.report.rejected.push((
                line_no,
                "message_too_large".into(),
                format!("{} bytes; the limit is {MAX_MESSAGE_BYTES}", line.len()),
            ));
            continue;
        }
        if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(&line) {
            sender
                .report
                .rejected
                .push((line_no, "invalid_json".into(), e.to_string()));
            continue;
        }
        let lane = lane_of(&line, lanes);
        let batch = &mut batches[lane];
        if batch.lines.len() >= MAX_BATCH_MESSAGES
            || batch.body.len() + line.len() + 2 > BATCH_BYTES
        {
            let full = std::mem::replace(batch, Batch::new());
            sender.send(lane, full).await?;
        }
        batches[lane].push(line_no, &line);
    }
    for (lane, batch) in batches.into_iter().enumerate() {
        if !batch.lines.is_empty() {
            sender.send(lane, batch).await?;
        }
    }
    while !sender.in_flight.is_empty() {
        sender.collect().await?;
    }
    bar.finish_and_clear();
    let mut report = sender.report;
    report.seconds = sender.started.elapsed().as_secs_f64();
    Ok(report)
}

impl Batch {
    fn new() -> Batch {
        Batch {
            lines: Vec::new(),
            body: b"{\"batch\":[".to_vec(),
        }
    }

    fn push(&mut self, line_no: u64, line: &str) {
        if !self.lines.is_empty() {
            self.body.push(b',');
        }
        self.body.extend_from_slice(line.as_bytes());
        self.lines.push(line_no);
    }
}

/// Keeps up to `concurrency` requests in flight, one per lane, paced to `rate` events per
/// second. Each account's messages go to one lane, and a lane sends its next batch only once
/// the previous one is acknowledged, so every account's messages arrive in the file's order
/// (the live engine places late events only within its rings' reach).
struct Sender {
    client: reqwest::Client,
    url: String,
    auth: String,
    rate: Option<f64>,
    in_flight: JoinSet<(usize, Result<Reply, anyhow::Error>)>,
    /// Lanes with a request in flight.
    busy: Vec<bool>,
    report: SendReport,
    started: Instant,
    sent: u64,
    file: String,
}

impl Sender {
    /// Waits for one reply and takes it in.
    async fn collect(&mut self) -> Outcome {
        if let Some(done) = self.in_flight.join_next().await {
            let (lane, reply) = done.context("a send task failed")?;
            self.busy[lane] = false;
            absorb(&mut self.report, reply?, &self.file)?;
        }
        Ok(())
    }

    async fn send(&mut self, lane: usize, mut batch: Batch) -> Outcome {
        batch.body.extend_from_slice(b"]}");
        // The lane's previous batch first.
        while self.busy[lane] {
            self.collect().await?;
        }
        if let Some(rate) = self.rate {
            let due = Duration::from_secs_f64(self.sent as f64 / rate);
            if let Some(wait) = due.checked_sub(self.started.elapsed()) {
                tokio::time::sleep(wait).await;
            }
        }
        self.sent += batch.lines.len() as u64;
        let (client, url, auth) = (self.client.clone(), self.url.clone(), self.auth.clone());
        self.busy[lane] = true;
        self.in_flight
            .spawn(async move { (lane, post(&client, &url, &auth, batch).await) });
        Ok(())
    }
}

pub async fn run(
    url: &str,
    write_key: &str,
    files: &[std::path::PathBuf],
    concurrency: usize,
    import: bool,
) -> Outcome {
    let options = Options {
        url,
        write_key,
        concurrency,
        rate: None,
        progress: true,
        import,
    };
    let mut any_rejected = false;
    for file in files {
        let report = send_file(file, &options).await?;
        println!(
            "{}: {} lines in {:.1} s ({:.0} events/s): {} accepted, {} duplicates, {} rejected; {} requests, {} retries",
            file.display(),
            report.lines,
            report.seconds,
            report.lines as f64 / report.seconds.max(1e-9),
            report.accepted,
            report.duplicates,
            report.rejected.len(),
            report.requests,
            report.retries
        );
        for (line, code, message) in report.rejected.iter().take(10) {
            eprintln!("{}:{line}: {code}: {message}", file.display());
        }
        if report.rejected.len() > 10 {
            eprintln!("… and {} more", report.rejected.len() - 10);
        }
        any_rejected |= !report.rejected.is_empty();
    }
    if any_rejected {
        return Err(Failure::rejected(
            "error: some lines were rejected (listed above)",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod lane_tests {
    use super::lane_of;

    #[test]
    fn an_accounts_messages_share_a_lane() {
        let a = r#"{"type":"track","userId":"u1","context":{"groupId":"acct-1"}}"#;
        let b = r#"{"type":"group", "groupId" : "acct-1","userId":"u2"}"#;
        let c = r#"{"type":"identify","userId":"u3"}"#;
        assert_eq!(lane_of(a, 8), lane_of(b, 8));
        assert_eq!(
            lane_of(c, 8),
            lane_of(r#"{"userId":"u3","type":"page"}"#, 8)
        );
        assert!(lane_of(c, 8) < 8);
        assert_eq!(lane_of("{}", 1), 0);
    }
}

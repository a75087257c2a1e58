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
        concurrency: options.concurrency.max(1),
        rate: options.rate,
        in_flight: JoinSet::new(),
        report: SendReport::default(),
        started: Instant::now(),
        sent: 0,
        file: name.clone(),
    };
    let mut batch = Batch::new();
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
        if batch.lines.len() >= MAX_BATCH_MESSAGES
            || batch.body.len() + line.len() + 2 > BATCH_BYTES
        {
            sender
                .send(std::mem::replace(&mut batch, Batch::new()))
                .await?;
        }
        batch.push(line_no, &line);
    }
    if !batch.lines.is_empty() {
        sender.send(batch).await?;
    }
    while let Some(reply) = sender.in_flight.join_next().await {
        absorb(
            &mut sender.report,
            reply.context("a send task failed")??,
            &name,
        )?;
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

/// Keeps up to `concurrency` requests in flight, paced to `rate` events per second.
struct Sender {
    client: reqwest::Client,
    url: String,
    auth: String,
    concurrency: usize,
    rate: Option<f64>,
    in_flight: JoinSet<Result<Reply, anyhow::Error>>,
    report: SendReport,
    started: Instant,
    sent: u64,
    file: String,
}

impl Sender {
    async fn send(&mut self, mut batch: Batch) -> Outcome {
        batch.body.extend_from_slice(b"]}");
        // Collect finished replies until a slot is free.
        while self.in_flight.len() >= self.concurrency {
            if let Some(reply) = self.in_flight.join_next().await {
                absorb(
                    &mut self.report,
                    reply.context("a send task failed")??,
                    &self.file,
                )?;
            }
        }
        if let Some(rate) = self.rate {
            let due = Duration::from_secs_f64(self.sent as f64 / rate);
            if let Some(wait) = due.checked_sub(self.started.elapsed()) {
                tokio::time::sleep(wait).await;
            }
        }
        self.sent += batch.lines.len() as u64;
        let (client, url, auth) = (self.client.clone(), self.url.clone(), self.auth.clone());
        self.in_flight
            .spawn(async move { post(&client, &url, &auth, batch).await });
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

//! `/metrics` in the Prometheus text format (version 0.0.4), and one structured log line per
//! request. Every request passes through [`track`], which times it and counts it by method,
//! route template (never the raw path, so ids do not explode the series) and status. The
//! scrape adds the ingestion counters, the ingestion queue's depth, how far the engine and the
//! lake are behind the log, and the outbox's backlog.
//!
//! `/metrics` is unauthenticated, as scrapers expect; it carries counts and durations only,
//! no account, person or secret. Bind the server to a private address or filter `/metrics` at
//! the proxy when that is not wanted.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Mutex;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::AppState;

/// Upper bounds of the latency histogram's buckets, in seconds.
pub const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Default, Clone)]
struct Histogram {
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        for (i, b) in BUCKETS.iter().enumerate() {
            if seconds <= *b {
                self.buckets[i] += 1;
            }
        }
        self.count += 1;
        self.sum += seconds;
    }
}

/// Request counts and latencies since the start.
pub struct Telemetry {
    started: Instant,
    requests: Mutex<BTreeMap<(String, String, u16), Histogram>>,
}

impl Default for Telemetry {
    fn default() -> Self {
        Telemetry {
            started: Instant::now(),
            requests: Mutex::new(BTreeMap::new()),
        }
    }
}

impl Telemetry {
    pub fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let mut map = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        map.entry((method.to_owned(), route.to_owned(), status))
            .or_default()
            .observe(seconds);
    }
}

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics))
}

/// Times and counts every request, and logs it (target `tenure::http`).
pub async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    // Only the standard methods name a series: made-up ones must not grow the table.
    let method = match request.method().as_str() {
        m @ ("GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS") => m.to_owned(),
        _ => "OTHER".to_owned(),
    };
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    let seconds = started.elapsed().as_secs_f64();
    let status = response.status().as_u16();
    state.telemetry.observe(&method, &route, status, seconds);
    tracing::info!(
        target: "tenure::http",
        method = %method,
        route = %route,
        status,
        duration_ms = seconds * 1e3,
        "request"
    );
    response
}

fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The whole exposition.
pub fn render(state: &AppState) -> String {
    let mut out = String::new();
    let t = &state.telemetry;
    let _ = writeln!(
        out,
        "# HELP tenure_uptime_seconds Seconds since the server started.\n\
         # TYPE tenure_uptime_seconds gauge\ntenure_uptime_seconds {:.3}",
        t.started.elapsed().as_secs_f64()
    );
    let requests = t.requests.lock().unwrap_or_else(|e| e.into_inner()).clone();
    out.push_str(
        "# HELP tenure_http_request_duration_seconds Time to answer HTTP requests, by method, \
         route and status.\n# TYPE tenure_http_request_duration_seconds histogram\n",
    );
    for ((method, route, status), h) in &requests {
        let labels = format!(
            "method=\"{}\",route=\"{}\",status=\"{status}\"",
            escape_label(method),
            escape_label(route)
        );
        for (i, b) in BUCKETS.iter().enumerate() {
            let _ = writeln!(
                out,
                "tenure_http_request_duration_seconds_bucket{{{labels},le=\"{b}\"}} {}",
                h.buckets[i]
            );
        }
        let _ = writeln!(
            out,
            "tenure_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}\n\
             tenure_http_request_duration_seconds_sum{{{labels}}} {:.6}\n\
             tenure_http_request_duration_seconds_count{{{labels}}} {}",
            h.count, h.sum, h.count
        );
    }
    if let Some(ing) = &state.ingestion {
        let c = &ing.counts;
        out.push_str(
            "# HELP tenure_ingest_messages_total Messages received by the ingestion API, by \
             outcome.\n# TYPE tenure_ingest_messages_total counter\n",
        );
        for (outcome, v) in [
            ("accepted", c.accepted.load(Relaxed)),
            ("rejected", c.rejected.load(Relaxed)),
            ("duplicate", c.duplicates.load(Relaxed)),
        ] {
            let _ = writeln!(
                out,
                "tenure_ingest_messages_total{{outcome=\"{outcome}\"}} {v}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP tenure_ingest_overloaded_total Ingestion requests refused with 429 for \
             being over the in-flight limit.\n# TYPE tenure_ingest_overloaded_total counter\n\
             tenure_ingest_overloaded_total {}\n\
             # HELP tenure_ingest_in_flight Ingestion requests being handled now.\n\
             # TYPE tenure_ingest_in_flight gauge\ntenure_ingest_in_flight {}",
            c.overloaded.load(Relaxed),
            ing.in_flight()
        );
        let end = ing.log().end();
        let _ = writeln!(
            out,
            "# HELP tenure_log_end_offset Records written to the event log.\n\
             # TYPE tenure_log_end_offset gauge\ntenure_log_end_offset {end}"
        );
        if let Some(engine) = &state.engine {
            let _ = writeln!(
                out,
                "# HELP tenure_engine_lag_records Log records the scoring engine has not read \
                 yet.\n# TYPE tenure_engine_lag_records gauge\ntenure_engine_lag_records {}",
                end.saturating_sub(engine.next_offset())
            );
        }
        if let Some(lake) = &state.lake {
            if let Some(offset) = lake.synced_offset() {
                let _ = writeln!(
                    out,
                    "# HELP tenure_lake_lag_records Log records not yet in the Parquet lake.\n\
                     # TYPE tenure_lake_lag_records gauge\ntenure_lake_lag_records {}",
                    end.saturating_sub(offset)
                );
            }
        }
    }
    if let Some(outreach) = state.engine.as_ref().and_then(|e| e.outreach()) {
        let pending = outreach
            .outbox
            .messages()
            .iter()
            .filter(|m| m.status == crate::outbox::Status::Pending)
            .count();
        let _ = writeln!(
            out,
            "# HELP tenure_outbox_pending Webhooks and emails waiting to be delivered.\n\
             # TYPE tenure_outbox_pending gauge\ntenure_outbox_pending {pending}"
        );
    }
    out
}

async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        render(&state),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative() {
        let mut h = Histogram::default();
        h.observe(0.003);
        h.observe(0.2);
        h.observe(30.0);
        assert_eq!(h.count, 3);
        // 0.003 falls in every bucket from 0.005 up; 0.2 from 0.25 up; 30 s in none.
        assert_eq!(h.buckets[0], 0);
        assert_eq!(h.buckets[2], 1);
        assert_eq!(h.buckets[7], 2);
        assert_eq!(*h.buckets.last().unwrap(), 2);
        assert!((h.sum - 30.203).abs() < 1e-9);
        assert_eq!(escape_label("a\"b\\"), "a\\\"b\\\\");
    }
}

//! Real clients, unmodified: Segment's own Python SDK (segment-analytics-python) sends to
//! `tenure serve` with only the host changed, gzipped and not; then DuckDB, pyarrow and
//! pandas read the event lake as it is. Needs a Python with those packages installed: set
//! `TENURE_TEST_PYTHON` to it (`.ci/run` makes one in a virtual environment). Without it the
//! test says so and does nothing; with `TENURE_REQUIRE_SDK=1` it fails instead.

mod common;

use std::process::Command;

use common::{tenure, Server};

fn python() -> Option<String> {
    match std::env::var("TENURE_TEST_PYTHON") {
        Ok(p) if !p.is_empty() => Some(p),
        _ => {
            assert!(
                std::env::var("TENURE_REQUIRE_SDK").as_deref() != Ok("1"),
                "TENURE_REQUIRE_SDK=1 but TENURE_TEST_PYTHON is not set"
            );
            eprintln!("Segment SDK suite NOT RUN: set TENURE_TEST_PYTHON to a Python with segment-analytics-python, duckdb, pyarrow and pandas");
            None
        }
    }
}

fn script(name: &str) -> String {
    format!("{}/tests/sdk/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn segments_python_sdk_sends_and_duckdb_pyarrow_and_pandas_read_the_lake() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let init = tenure(d, &["init", "--data-dir", "d", "--json"]);
    assert!(init.status.success());
    let keys: serde_json::Value = serde_json::from_slice(&init.stdout).unwrap();
    let write_key = keys["write_key"].as_str().unwrap();
    let (mut server, addr) = Server::start(d, "d");
    let url = format!("http://{addr}");
    let sent = Command::new(&python)
        .args([&script("segment_send.py"), &url, write_key])
        .output()
        .unwrap();
    // A graceful stop brings the lake up to date.
    server.stop();
    assert!(
        sent.status.success(),
        "the SDK reported errors: {}",
        String::from_utf8_lossy(&sent.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&sent.stdout).trim(), "90");

    let dq = tenure(d, &["dq", "--data-dir", "d", "--json"]);
    let dq: serde_json::Value = serde_json::from_slice(&dq.stdout).unwrap();
    assert_eq!(dq["totals"]["accepted"], 90, "{dq:#}");
    assert_eq!(dq["totals"]["rejected"], 0);
    assert_eq!(
        dq["totals"]["flagged"], 0,
        "the SDK's events fit the tracking plan"
    );
    assert_eq!(dq["identities"]["users"], 2);
    // anon → user and old → user, for both clients.
    assert_eq!(dq["identities"]["merged"], 4);
    assert_eq!(dq["sources"][0]["clock_skew"]["measured"], 90);

    let read = Command::new(&python)
        .arg(script("lake_read.py"))
        .arg(d.join("d/lake"))
        .output()
        .unwrap();
    assert!(
        read.status.success(),
        "{}",
        String::from_utf8_lossy(&read.stderr)
    );
    let seen: serde_json::Value = serde_json::from_slice(&read.stdout).unwrap();
    assert_eq!(
        seen["duckdb_by_type"],
        serde_json::json!({"track": 80, "identify": 2, "group": 2, "page": 2, "screen": 2, "alias": 2})
    );
    // Σ widgets over 0..40, twice; the 40 tracks span 20 days.
    assert_eq!(seen["duckdb_widgets"], 2 * (0..40).sum::<i64>());
    assert_eq!(seen["duckdb_days"], 20);
    assert_eq!(seen["pyarrow_rows"], 90);
    assert_eq!(seen["pandas_rows"], 90);
    assert_eq!(
        seen["pandas_users"],
        serde_json::json!(["user-gz", "user-plain"])
    );
    let columns = seen["pyarrow_columns"].as_array().unwrap();
    assert!(
        columns.iter().any(|c| c == "date"),
        "the partition is a column: {columns:?}"
    );
    assert!(columns.iter().any(|c| c == "properties"));
}

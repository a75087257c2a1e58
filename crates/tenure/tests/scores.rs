//! Health scores end to end through the binary: a simulated company imported and sent over
//! HTTP; the live engine's scores through /api/v1/accounts equal the offline batch
//! recomputation of `tenure score`; an acknowledged event is visible in the next read;
//! filters, sorting, paging and bad parameters; `tenure rescore` fills the history the API
//! serves; a restart from the engine snapshot gives the same scores.

use serde_json::Value;

mod common;

use common::{get, http, send_simulated_events, simulate_and_import, tenure, text, Server};

struct Company {
    dir: tempfile::TempDir,
    admin: String,
    write_key: String,
}

/// A data directory with a small simulated company imported (no events sent yet).
fn company() -> Company {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = tenure(d, &["init", "--data-dir", "d", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let keys: Value = serde_json::from_slice(&out.stdout).unwrap();
    simulate_and_import(d, 12, 4, 7);
    Company {
        admin: keys["admin_token"].as_str().unwrap().to_owned(),
        write_key: keys["write_key"].as_str().unwrap().to_owned(),
        dir,
    }
}

fn send(c: &Company, addr: &str) {
    send_simulated_events(c.dir.path(), addr, &c.write_key);
}

fn scores(addr: &str, token: &str) -> Vec<(String, f64)> {
    let (status, page) = get(addr, "/api/v1/accounts?limit=1000&sort=name", token);
    assert_eq!(status, 200, "{page}");
    page["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["account"].as_str().unwrap().to_owned(),
                a["score"].as_f64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn live_scores_equal_the_offline_recomputation_and_survive_a_restart() {
    let c = company();
    let d = c.dir.path();
    let (mut server, addr) = Server::start(d, "d");
    send(&c, &addr);
    let live = scores(&addr, &c.admin);
    assert_eq!(live.len(), 12, "{live:?}");
    assert!(live.iter().any(|(_, s)| *s > 0.0));

    // Batch recomputation from the lake and the store, by the CLI, beside the server.
    for (account, score) in live.iter().take(4) {
        let out = tenure(d, &["score", account, "--data-dir", "d", "--json"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let offline: Value = serde_json::from_slice(&out.stdout).unwrap();
        let (_, online) = get(&addr, &format!("/api/v1/accounts/{account}"), &c.admin);
        assert_eq!(offline["features"], online["features"], "{account}");
        assert!(
            (offline["health"]["score"].as_f64().unwrap() - score).abs() < 1e-3,
            "{account}: {offline} vs {score}"
        );
        assert_eq!(offline["journey"], online["journey"], "{account}");
    }

    // Lineage: the event rows behind a measure, each with its message id.
    let busiest = live
        .iter()
        .map(|(a, _)| a)
        .max_by_key(|a| {
            get(&addr, &format!("/api/v1/accounts/{a}"), &c.admin).1["features"]["core_actions_30d"]
                .as_f64()
                .unwrap_or(0.0) as u64
        })
        .unwrap();
    let out = tenure(
        d,
        &[
            "score",
            busiest,
            "--lineage",
            "core_actions_30d",
            "--data-dir",
            "d",
            "--json",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lineage: Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = lineage["events"].as_array().unwrap();
    assert!(
        !rows.is_empty(),
        "the busiest account used core features this month"
    );
    let (_, view) = get(&addr, &format!("/api/v1/accounts/{busiest}"), &c.admin);
    assert_eq!(
        rows.len() as f64,
        view["features"]["core_actions_30d"].as_f64().unwrap()
    );
    assert_eq!(
        lineage["lineage"]["matched"].as_u64().unwrap() as usize,
        rows.len()
    );
    assert!(rows
        .iter()
        .all(|r| r["message_id"].is_string() && r["offset"].is_u64()));
    let out = tenure(
        d,
        &[
            "score",
            busiest,
            "--lineage",
            "no_such_measure",
            "--data-dir",
            "d",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("expected one of"),
        "{}",
        text(&out.stderr)
    );

    // The account view explains itself.
    let id = &live[0].0;
    let (status, v) = get(&addr, &format!("/api/v1/accounts/{id}"), &c.admin);
    assert_eq!(status, 200);
    let h = &v["health"];
    for key in [
        "score",
        "band",
        "confidence",
        "pillars",
        "measures",
        "positive_drivers",
        "negative_drivers",
        "model_version",
        "computed_at",
    ] {
        assert!(!h[key].is_null(), "health.{key} missing: {h}");
    }
    let points: f64 = h["measures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["points"].as_f64().unwrap())
        .sum();
    assert!((points - h["score"].as_f64().unwrap()).abs() < 1e-6);

    // A restart from the engine snapshot gives the same scores.
    server.stop();
    assert!(d.join("d/engine.snapshot").exists());
    let (mut server, addr) = Server::start(d, "d");
    assert_eq!(scores(&addr, &c.admin), live);
    server.stop();
    // And without it (replaying the log), too.
    std::fs::remove_file(d.join("d/engine.snapshot")).unwrap();
    let (mut server, addr) = Server::start(d, "d");
    assert_eq!(scores(&addr, &c.admin), live);
    server.stop();
}

#[test]
fn an_acknowledged_event_is_in_the_next_read() {
    let c = company();
    let d = c.dir.path();
    let (mut server, addr) = Server::start(d, "d");
    let id = {
        let page = get(&addr, "/api/v1/accounts?limit=1&sort=-arr", &c.admin).1;
        page["accounts"][0]["account"].as_str().unwrap().to_owned()
    };
    let before = get(&addr, &format!("/api/v1/accounts/{id}"), &c.admin).1;
    let core = |v: &Value| v["features"]["core_actions_30d"].as_f64().unwrap();
    let auth = format!("Basic {}", base64_key(&c.write_key));
    for i in 0..3 {
        let body = format!(
            r#"{{"type":"track","event":"report_shared","userId":"fresh-user","properties":{{"report_id":"r{i}"}},"context":{{"groupId":"{id}"}}}}"#
        );
        let (status, ack) = http("POST", &addr, "/v1/track", &auth, &body);
        assert_eq!(status, 200, "{ack}");
        let after = get(&addr, &format!("/api/v1/accounts/{id}"), &c.admin).1;
        assert_eq!(core(&after), core(&before) + (i + 1) as f64);
        let change = &after["change"];
        if !change.is_null() {
            assert_eq!(change["signal"]["kind"], "event");
        }
    }
    server.stop();
}

fn base64_key(key: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(format!("{key}:"))
}

#[test]
fn lists_filter_sort_page_and_reject_bad_parameters() {
    let c = company();
    let d = c.dir.path();
    let (mut server, addr) = Server::start(d, "d");
    send(&c, &addr);
    let t = &c.admin;
    let all = get(&addr, "/api/v1/accounts?limit=1000", t).1;
    assert_eq!(all["total"], 12);
    let rows = all["accounts"].as_array().unwrap();
    // Default order: least healthy first.
    let health: Vec<f64> = rows.iter().map(|r| r["score"].as_f64().unwrap()).collect();
    assert!(health.windows(2).all(|w| w[0] <= w[1]), "{health:?}");
    let arr_desc = get(&addr, "/api/v1/accounts?sort=-arr&limit=1000", t).1;
    let arr: Vec<f64> = arr_desc["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["arr"].as_f64().unwrap())
        .collect();
    assert!(arr.windows(2).all(|w| w[0] >= w[1]), "{arr:?}");
    // Filters agree with the rows.
    for band in ["green", "amber", "red"] {
        let page = get(
            &addr,
            &format!("/api/v1/accounts?band={band}&limit=1000"),
            t,
        )
        .1;
        let n = rows.iter().filter(|r| r["band"] == band).count();
        assert_eq!(page["total"], n, "{band}");
    }
    let tier = rows[0]["tier"].as_str().unwrap();
    let page = get(
        &addr,
        &format!("/api/v1/accounts?tier={tier}&limit=1000"),
        t,
    )
    .1;
    assert!(page["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["tier"] == tier));
    // Paging covers every account once.
    let mut seen = Vec::new();
    for offset in (0..12).step_by(5) {
        let page = get(
            &addr,
            &format!("/api/v1/accounts?limit=5&offset={offset}"),
            t,
        )
        .1;
        seen.extend(
            page["accounts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["account"].as_str().unwrap().to_owned()),
        );
    }
    let expected: Vec<String> = rows
        .iter()
        .map(|r| r["account"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(seen, expected);
    // Bad input: a precise 4xx.
    for (path, code) in [
        ("/api/v1/accounts?band=blue", "invalid_band"),
        ("/api/v1/accounts?sort=heath", "invalid_sort"),
        ("/api/v1/accounts?limit=0", "invalid_parameter"),
        ("/api/v1/accounts?colour=red", "unknown_parameter"),
        (
            "/api/v1/accounts/x/health/history?from=2024-13-01",
            "invalid_date",
        ),
    ] {
        let (status, body) = get(&addr, path, t);
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["error"]["code"], code, "{path}: {body}");
    }
    let (status, body) = get(&addr, "/api/v1/accounts/no-such-account", t);
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("unknown_account"))
    );
    let (status, _) = get(&addr, "/api/v1/accounts", "not-a-token");
    assert_eq!(status, 401);
    let (status, coverage) = get(&addr, "/api/v1/coverage", t);
    assert_eq!(status, 200);
    let covered: u64 = coverage["owners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["accounts"].as_u64().unwrap())
        .sum();
    assert_eq!(covered, 12);

    // History: empty until a rescore fills it from the lake.
    let id = expected[0].clone();
    let history = get(&addr, &format!("/api/v1/accounts/{id}/health/history"), t).1;
    assert_eq!(history["days"].as_array().unwrap().len(), 0);
    let out = tenure(d, &["rescore", "--data-dir", "d"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let history = get(&addr, &format!("/api/v1/accounts/{id}/health/history"), t).1;
    let days = history["days"].as_array().unwrap();
    assert!(days.len() >= 20, "{} days", days.len());
    // A past day's stored score equals `tenure score --as-of` that day.
    let day = days[days.len() / 2]["day"].as_str().unwrap().to_owned();
    let stored = days[days.len() / 2]["score"].as_f64().unwrap();
    let out = tenure(
        d,
        &["score", &id, "--as-of", &day, "--data-dir", "d", "--json"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let then: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        (then["health"]["score"].as_f64().unwrap() - stored).abs() < 1e-6,
        "{day}: {stored} vs {}",
        then["health"]["score"]
    );
    server.stop();
}

#[test]
fn score_rejects_bad_arguments_precisely() {
    let c = company();
    let d = c.dir.path();
    for (args, needle) in [
        (
            vec!["score", "--as-of", "2025-02-30", "--data-dir", "d"],
            "is not a date",
        ),
        (
            vec!["score", "--model-version", "xyz", "--data-dir", "d"],
            "16 lowercase hex digits",
        ),
        (
            vec![
                "score",
                "--model-version",
                "0123456789abcdef",
                "--data-dir",
                "d",
            ],
            "was ever applied",
        ),
        (
            vec!["score", "nobody", "--data-dir", "d"],
            "no account `nobody`",
        ),
    ] {
        let out = tenure(d, &args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(
            text(&out.stderr).contains(needle),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
}

#[test]
fn history_is_kept_per_model_version_and_any_version_answers_for_any_day() {
    let c = company();
    let d = c.dir.path();
    let (mut server, addr) = Server::start(d, "d");
    send(&c, &addr);
    server.stop();
    let version = |d: &std::path::Path| -> String {
        let out = tenure(d, &["model", "history", "--data-dir", "d", "--json"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let h: Value = serde_json::from_slice(&out.stdout).unwrap();
        h.as_array().unwrap().last().unwrap()["version"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let old = version(d);
    let out = tenure(d, &["rescore", "--data-dir", "d"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // A new definition: engagement counts for nothing, relationship for everything.
    let model = std::fs::read_to_string(d.join("d/tenure.toml")).unwrap();
    let changed = model
        .replace(
            "[health.pillars.engagement_quality]\nweight = 30",
            "[health.pillars.engagement_quality]\nweight = 0",
        )
        .replace(
            "[health.pillars.relationship_signals]\nweight = 20",
            "[health.pillars.relationship_signals]\nweight = 70",
        );
    assert_ne!(model, changed, "the default model's pillar weights moved");
    std::fs::write(d.join("new.toml"), changed).unwrap();
    let out = tenure(d, &["model", "apply", "new.toml", "--data-dir", "d"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let new = version(d);
    assert_ne!(old, new);
    let out = tenure(d, &["rescore", "--data-dir", "d"]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    let (mut server, addr) = Server::start(d, "d");
    let id = get(&addr, "/api/v1/accounts?sort=-arr&limit=1", &c.admin).1["accounts"][0]["account"]
        .as_str()
        .unwrap()
        .to_owned();
    let history = |v: &str| -> Vec<Value> {
        let (status, h) = get(
            &addr,
            &format!("/api/v1/accounts/{id}/health/history?model_version={v}"),
            &c.admin,
        );
        assert_eq!(status, 200, "{h}");
        assert_eq!(h["model_version"], v);
        h["days"].as_array().unwrap().clone()
    };
    let (before, after) = (history(&old), history(&new));
    assert_eq!(before.len(), after.len());
    assert!(before
        .iter()
        .zip(&after)
        .any(|(a, b)| a["score"] != b["score"]));
    // The default history is the current version's.
    let (_, current) = get(
        &addr,
        &format!("/api/v1/accounts/{id}/health/history"),
        &c.admin,
    );
    assert_eq!(current["model_version"], new.as_str());
    server.stop();
    // Any version answers for any day, and agrees with what was stored under it.
    let day = before[before.len() / 2]["day"].as_str().unwrap().to_owned();
    for (v, stored) in [(&old, &before), (&new, &after)] {
        let out = tenure(
            d,
            &[
                "score",
                &id,
                "--as-of",
                &day,
                "--model-version",
                v,
                "--data-dir",
                "d",
                "--json",
            ],
        );
        assert!(out.status.success(), "{}", text(&out.stderr));
        let then: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(then["health"]["model_version"], v.as_str());
        let want = stored.iter().find(|r| r["day"] == day.as_str()).unwrap()["score"]
            .as_f64()
            .unwrap();
        assert!(
            (then["health"]["score"].as_f64().unwrap() - want).abs() < 1e-6,
            "{v} {day}"
        );
    }
}

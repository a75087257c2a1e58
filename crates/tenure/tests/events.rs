//! Events end to end through the binary: a server killed with SIGKILL under load loses no
//! acknowledged event and stores none twice; `dq` reports what arrived; `export` and `forget`
//! find and erase one user or account across the store, the log and the lake.

use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine as _;

mod common;

use common::{tenure, text, Server};

/// Starts `tenure serve` over `d/d`.
fn serve(dir: &Path) -> (Server, String) {
    Server::start(dir, "d")
}

/// One HTTP/1.1 POST; the status, or `None` when the connection failed.
fn post(addr: &str, path: &str, auth: &str, body: &str) -> Option<u16> {
    let mut s = TcpStream::connect(addr).ok()?;
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nAuthorization: {auth}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(request.as_bytes()).ok()?;
    let mut response = String::new();
    s.read_to_string(&mut response).ok()?;
    response.get(9..12)?.parse().ok()
}

fn init(d: &Path) -> String {
    let out = tenure(d, &["init", "--data-dir", "d", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let keys: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let key = keys["write_key"].as_str().unwrap();
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{key}:"))
    )
}

/// messageId → how many times the log holds it as an accepted message.
fn logged_ids(log_dir: &Path) -> HashMap<String, u32> {
    let mut out = HashMap::new();
    for (_, bytes) in tenure_lake::read_log_dir(log_dir, 0, usize::MAX).unwrap() {
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        if let Some(id) = v["message"]["message_id"].as_str() {
            *out.entry(id.to_owned()).or_default() += 1;
        }
    }
    out
}

fn batch(ids: &[String]) -> String {
    let items: Vec<serde_json::Value> = ids
        .iter()
        .map(|id| {
            serde_json::json!({"type": "track", "messageId": id, "userId": "u1", "event": "session_started",
                "context": {"groupId": "a1"}})
        })
        .collect();
    serde_json::json!({ "batch": items }).to_string()
}

#[test]
fn sigkill_under_load_loses_no_acknowledged_event_and_stores_none_twice() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let auth = init(d);
    let (mut server, addr) = serve(d);
    let acked: Arc<Mutex<Vec<Vec<String>>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let senders: Vec<_> = (0..4)
        .map(|t| {
            let (addr, auth, acked, stop) =
                (addr.clone(), auth.clone(), acked.clone(), stop.clone());
            std::thread::spawn(move || {
                for round in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let ids: Vec<String> =
                        (0..200).map(|i| format!("t{t}-r{round}-m{i}")).collect();
                    match post(&addr, "/v1/batch", &auth, &batch(&ids)) {
                        Some(200) => acked.lock().unwrap().push(ids),
                        Some(429) => {}
                        Some(other) => panic!("unexpected status {other}"),
                        None => break,
                    }
                }
            })
        })
        .collect();
    // Kill the server once it has acknowledged a good number of batches, mid-stream.
    while acked.lock().unwrap().len() < 40 {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    server.kill(); // SIGKILL
    stop.store(true, Ordering::Relaxed);
    for s in senders {
        s.join().unwrap();
    }
    let acked: Vec<Vec<String>> = acked.lock().unwrap().clone();
    let acked_ids: HashSet<&String> = acked.iter().flatten().collect();

    // Restart: the log recovers, every acknowledged event is there exactly once.
    let (mut server, addr) = serve(d);
    let logged = logged_ids(&d.join("d/log"));
    for id in &acked_ids {
        assert_eq!(
            logged.get(*id),
            Some(&1),
            "acknowledged {id} is not stored exactly once"
        );
    }
    assert!(
        logged.values().all(|n| *n == 1),
        "an event was stored twice"
    );
    // SDKs retry what they think failed: every retry of an acknowledged batch is a duplicate.
    for ids in acked.iter().take(5) {
        assert_eq!(post(&addr, "/v1/batch", &auth, &batch(ids)), Some(200));
    }
    assert_eq!(logged_ids(&d.join("d/log")), logged);
    // After a graceful stop the next start resumes from the saved snapshot, and still knows
    // every messageId.
    server.stop();
    assert!(d.join("d/log/dedup.snapshot").is_file());
    let (mut server, addr) = serve(d);
    for ids in acked.iter().skip(5).take(5) {
        assert_eq!(post(&addr, "/v1/batch", &auth, &batch(ids)), Some(200));
    }
    assert_eq!(logged_ids(&d.join("d/log")), logged);
    server.kill();

    // The data-quality report agrees with the log.
    let dq = tenure(d, &["dq", "--data-dir", "d", "--json"]);
    assert!(dq.status.success(), "{}", text(&dq.stderr));
    let dq: serde_json::Value = serde_json::from_slice(&dq.stdout).unwrap();
    assert_eq!(dq["totals"]["accepted"].as_u64(), Some(logged.len() as u64));
    assert_eq!(dq["totals"]["duplicates"].as_u64(), Some(10 * 200));
}

/// The lines of an export, by source.
fn export(d: &Path, args: &[&str]) -> HashMap<String, Vec<serde_json::Value>> {
    let mut all = vec!["export", "--data-dir", "d"];
    all.extend_from_slice(args);
    let out = tenure(d, &all);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut by: HashMap<String, Vec<serde_json::Value>> = HashMap::new();
    for line in text(&out.stdout).lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        by.entry(v["source"].as_str().unwrap().to_owned())
            .or_default()
            .push(v);
    }
    by
}

#[test]
fn export_finds_and_forget_erases_a_user_and_an_account_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let auth = init(d);
    let key = auth.clone();
    assert!(tenure(
        d,
        &[
            "simulate",
            "--accounts",
            "3",
            "--months",
            "2",
            "--out",
            "sim"
        ]
    )
    .status
    .success());
    assert!(tenure(d, &["import", "--data-dir", "d", "sim"])
        .status
        .success());
    let (mut server, addr) = serve(d);
    let raw_key = text(
        &base64::engine::general_purpose::STANDARD
            .decode(&key[6..])
            .unwrap(),
    );
    let sent = tenure(
        d,
        &[
            "send",
            "--url",
            &format!("http://{addr}"),
            "--write-key",
            raw_key.trim_end_matches(':'),
            "--import",
            "sim/events.jsonl",
        ],
    );
    assert!(sent.status.success(), "{}", text(&sent.stderr));
    // Forgetting needs the log to itself.
    let busy = tenure(
        d,
        &["forget", "--data-dir", "d", "--user", "acct-000000-u000"],
    );
    assert_eq!(busy.status.code(), Some(1));
    assert!(
        text(&busy.stderr).contains("in use by another process"),
        "{}",
        text(&busy.stderr)
    );
    // Export works beside the server.
    let user = "acct-000000-u000";
    let before = export(d, &["--user", user]);
    let events = |e: &HashMap<String, Vec<serde_json::Value>>| {
        e.get("lake").map_or(0, Vec::len) + e.get("log").map_or(0, Vec::len)
    };
    assert!(events(&before) >= 5, "{before:?}");
    assert!(before["store"].iter().any(|r| r["kind"] == "contact"));
    assert_eq!(
        before["identity"][0]["identity"]["accounts"]
            .as_object()
            .unwrap()
            .len(),
        1
    );
    server.kill();

    let forgot = tenure(d, &["forget", "--data-dir", "d", "--user", user]);
    assert!(forgot.status.success(), "{}", text(&forgot.stderr));
    let said = text(&forgot.stdout);
    assert!(said.contains("Forgot user acct-000000-u000"), "{said}");
    let after = export(d, &["--user", user]);
    assert!(
        !after.contains_key("lake") && !after.contains_key("log") && !after.contains_key("store"),
        "{after:?}"
    );
    // Nothing of the user is left in the raw log either.
    let log = tenure_lake::read_log_dir(&d.join("d/log"), 0, usize::MAX).unwrap();
    assert!(log.iter().all(|(_, b)| !text(b).contains(user)));
    assert!(log
        .iter()
        .any(|(_, b)| text(b).contains("\"forgotten\":true")));

    // An account: its records, its events and its members' events.
    let account = "acct-000001";
    let before = export(d, &["--account", account]);
    assert!(before["store"].iter().any(|r| r["kind"] == "account"));
    assert!(events(&before) >= 5);
    assert!(
        tenure(d, &["forget", "--data-dir", "d", "--account", account])
            .status
            .success()
    );
    let after = export(d, &["--account", account]);
    assert!(
        !after.contains_key("lake") && !after.contains_key("store"),
        "{after:?}"
    );
    let log = tenure_lake::read_log_dir(&d.join("d/log"), 0, usize::MAX).unwrap();
    assert!(log.iter().all(|(_, b)| !text(b).contains(account)));
    // Other accounts are untouched.
    assert!(!export(d, &["--account", "acct-000002"])["lake"].is_empty());
    // Every export and erasure is in the audit log, with what it touched.
    let audit = tenure(d, &["audit", "--data-dir", "d", "--json"]);
    assert!(audit.status.success(), "{}", text(&audit.stderr));
    let audit: serde_json::Value = serde_json::from_slice(&audit.stdout).unwrap();
    let privacy: Vec<(String, String)> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"].as_str().unwrap().starts_with("privacy."))
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["target"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        privacy.contains(&("privacy.forget".into(), format!("user {user}"))),
        "{privacy:?}"
    );
    assert!(privacy.contains(&("privacy.forget".into(), format!("account {account}"))));
    assert!(
        privacy
            .iter()
            .filter(|(a, _)| a == "privacy.export")
            .count()
            >= 3
    );
    // Bad subjects are usage errors with a precise message.
    let neither = tenure(d, &["export", "--data-dir", "d"]);
    assert_eq!(neither.status.code(), Some(1));
    assert!(text(&neither.stderr).contains("--user ID or --account ID"));
}

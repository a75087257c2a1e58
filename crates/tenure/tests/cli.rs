//! The `tenure` binary as a user runs it: outputs, exit codes (0 ok, 1 rejected input,
//! 2 usage, 3 runtime failure), environment overrides, and secrets never stored in clear.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Output};

mod common;

use common::{tenure, Server};

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn the_printed_default_model_checks_clean() {
    let dir = tempfile::tempdir().unwrap();
    let out = tenure(dir.path(), &["model", "init"]);
    assert!(out.status.success());
    std::fs::write(dir.path().join("m.toml"), &out.stdout).unwrap();
    let check = tenure(dir.path(), &["model", "check", "m.toml"]);
    assert_eq!(check.status.code(), Some(0), "{}", stderr(&check));
    assert!(stdout(&check).starts_with("m.toml: valid — model version "));
}

#[test]
fn a_broken_model_exits_1_with_every_error_located() {
    let dir = tempfile::tempdir().unwrap();
    let model = stdout(&tenure(dir.path(), &["model", "init"]));
    let broken = model
        .replacen("\nmode = \"flag\"", "\nmdoe = \"flag\"", 1)
        .replacen(
            "{ measure = \"open_tickets\", weight = 1,",
            "{ measure = \"open_tickets\", weight = -2,",
            1,
        )
        .replacen(
            "events = [\"report_shared\"]\nexpected_within_days = 30",
            "events = [\"report_sent\"]\nexpected_within_days = 30",
            1,
        );
    assert_ne!(broken, model);
    std::fs::write(dir.path().join("bad.toml"), &broken).unwrap();
    let out = tenure(dir.path(), &["model", "check", "bad.toml"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    let line_of = |needle: &str| broken.lines().position(|l| l.contains(needle)).unwrap() + 1;
    assert!(
        err.contains(&format!("--> bad.toml:{}:1", line_of("mdoe = "))),
        "{err}"
    );
    assert!(err.contains("did you mean `mode`?"), "{err}");
    let weight_line = line_of("weight = -2");
    let weight_col = broken
        .lines()
        .nth(weight_line - 1)
        .unwrap()
        .find("-2")
        .unwrap()
        + 1;
    assert!(
        err.contains(&format!("--> bad.toml:{weight_line}:{weight_col}")),
        "{err}"
    );
    let event_line = line_of("\"report_sent\"");
    assert!(
        err.contains(&format!("--> bad.toml:{event_line}:11")),
        "{err}"
    );
    assert!(
        err.contains("bad.toml: 3 errors in the success model"),
        "{err}"
    );

    let json = tenure(dir.path(), &["model", "check", "bad.toml", "--json"]);
    assert_eq!(json.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap();
    assert_eq!(v["valid"], false);
    assert_eq!(v["errors"].as_array().unwrap().len(), 3);
    assert_eq!(v["errors"][0]["line"], line_of("mdoe = "));

    let missing = tenure(dir.path(), &["model", "check", "nope.toml"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(stderr(&missing).contains("cannot read model file nope.toml"));
}

#[test]
fn init_prints_secrets_once_and_stores_only_their_hashes() {
    let dir = tempfile::tempdir().unwrap();
    let out = tenure(dir.path(), &["init", "--data-dir", "d", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let obj = v.as_object().unwrap();
    assert_eq!(obj.keys().collect::<Vec<_>>(), ["admin_token", "write_key"]);
    let admin = obj["admin_token"].as_str().unwrap();
    let key = obj["write_key"].as_str().unwrap();
    assert!(admin.starts_with("tnr_admin_") && key.starts_with("tnr_wk_"));
    // No file of the data directory holds a secret in clear.
    for entry in std::fs::read_dir(dir.path().join("d")).unwrap() {
        let mut bytes = Vec::new();
        std::fs::File::open(entry.unwrap().path())
            .unwrap()
            .read_to_end(&mut bytes)
            .unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(&admin[10..]) && !text.contains(&key[7..]));
    }
    let again = tenure(dir.path(), &["init", "--data-dir", "d"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(stderr(&again).contains("already a tenure data directory"));
}

#[test]
fn model_versions_are_recorded_as_they_are_applied() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // TENURE_DATA_DIR is the same as --data-dir.
    let init = Command::new(env!("CARGO_BIN_EXE_tenure"))
        .args(["init"])
        .env("TENURE_DATA_DIR", d.join("data"))
        .output()
        .unwrap();
    assert!(init.status.success(), "{}", stderr(&init));
    let model = std::fs::read_to_string(d.join("data/tenure.toml")).unwrap();
    let changed = model.replacen(
        "[health.pillars.outcome_progress]\nweight = 30",
        "[health.pillars.outcome_progress]\nweight = 35",
        1,
    );
    std::fs::write(d.join("m2.toml"), changed).unwrap();
    let same = tenure(d, &["--data-dir", "data", "model", "apply"]);
    assert!(
        stdout(&same).contains("is already current"),
        "{}",
        stderr(&same)
    );
    let applied = tenure(d, &["--data-dir", "data", "model", "apply", "m2.toml"]);
    assert!(
        stdout(&applied).starts_with("applied new model version"),
        "{}",
        stderr(&applied)
    );
    assert!(std::fs::read_to_string(d.join("data/tenure.toml"))
        .unwrap()
        .contains("weight = 35"));
    let history = tenure(d, &["--data-dir", "data", "model", "history", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&history)).unwrap();
    let list = v.as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["applied_by"], "tenure init");
    assert_eq!(list[1]["applied_by"], "tenure model apply");
    assert_ne!(list[0]["version"], list[1]["version"]);

    let uninitialised = tenure(d, &["--data-dir", "elsewhere", "model", "history"]);
    assert_eq!(uninitialised.status.code(), Some(1));
    assert!(stderr(&uninitialised).contains("is not a tenure data directory"));
}

#[test]
fn usage_errors_exit_2_and_runtime_failures_exit_3() {
    let dir = tempfile::tempdir().unwrap();
    let usage = tenure(dir.path(), &["model", "chek"]);
    assert_eq!(usage.status.code(), Some(2));
    // Nothing listens on port 1: connecting fails at run time, and the password is not printed.
    let runtime = tenure(
        dir.path(),
        &[
            "init",
            "--data-dir",
            "d",
            "--database-url",
            "postgres://tenure:s3cret@127.0.0.1:1/tenure",
        ],
    );
    assert_eq!(runtime.status.code(), Some(3), "{}", stderr(&runtime));
    let err = stderr(&runtime);
    assert!(
        err.contains("postgres://tenure:***@127.0.0.1:1/tenure"),
        "{err}"
    );
    assert!(!err.contains("s3cret"));
    let bad_url = tenure(
        dir.path(),
        &["init", "--data-dir", "e", "--database-url", "mysql://x"],
    );
    assert_eq!(bad_url.status.code(), Some(1));
    assert!(stderr(&bad_url).contains("unsupported database URL"));
}

#[test]
fn serve_answers_health_and_readiness() {
    let dir = tempfile::tempdir().unwrap();
    assert!(tenure(dir.path(), &["init", "--data-dir", "d"])
        .status
        .success());
    let (mut server, addr) = Server::start(dir.path(), "d");
    let get = |path: &str| {
        let mut s = TcpStream::connect(&addr).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut r = String::new();
        s.read_to_string(&mut r).unwrap();
        r
    };
    let health = get("/healthz");
    let ready = get("/readyz");
    server.kill();
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert!(
        ready.starts_with("HTTP/1.1 200") && ready.contains("\"status\":\"ready\""),
        "{ready}"
    );
}

#[test]
fn the_demo_replaces_only_its_own_directory() {
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..2 {
        let out = tenure(
            dir.path(),
            &["demo", "--no-serve", "--accounts", "30", "--months", "6"],
        );
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let text = stdout(&out);
        assert!(text.contains("Success model "));
        assert!(text.contains("  accounts        30\n"), "{text}");
        assert!(dir.path().join("tenure-demo/tenure.toml").is_file());
        // A sign-in for each role, with a password of its own.
        let logins: Vec<Vec<&str>> = text
            .lines()
            .skip_while(|l| !l.starts_with("Web app"))
            .skip(1)
            .take(6)
            .map(|l| l.split_whitespace().collect())
            .collect();
        let roles: Vec<&str> = logins.iter().map(|l| l[0]).collect();
        assert_eq!(
            roles,
            ["admin", "leader", "manager", "csm", "product", "viewer"],
            "{text}"
        );
        assert!(logins.iter().all(|l| l.len() == 3 && l[2].len() == 20));
    }
    std::fs::create_dir(dir.path().join("mine")).unwrap();
    std::fs::write(dir.path().join("mine/notes.txt"), "keep me").unwrap();
    let refused = tenure(
        dir.path(),
        &[
            "demo",
            "--no-serve",
            "--accounts",
            "5",
            "--data-dir",
            "mine",
        ],
    );
    assert_eq!(refused.status.code(), Some(1));
    assert!(dir.path().join("mine/notes.txt").is_file());
}

fn read_dir_bytes(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

#[test]
fn the_same_seed_writes_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    for (out, seed) in [("a", "9"), ("b", "9"), ("c", "10")] {
        let o = tenure(
            dir.path(),
            &[
                "simulate",
                "--accounts",
                "25",
                "--months",
                "8",
                "--seed",
                seed,
                "--out",
                out,
            ],
        );
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let a = read_dir_bytes(&dir.path().join("a"));
    let names: Vec<&str> = a.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "accounts.csv",
            "activities.csv",
            "contacts.csv",
            "events.jsonl",
            "releases.csv",
            "subscription_changes.csv",
            "subscriptions.csv",
            "surveys.csv",
            "tickets.csv",
            "truth.csv",
            "truth_accounts.csv"
        ]
    );
    assert_eq!(a, read_dir_bytes(&dir.path().join("b")));
    assert_ne!(a, read_dir_bytes(&dir.path().join("c")));
    let consumer = tenure(
        dir.path(),
        &[
            "simulate",
            "--mode",
            "consumer",
            "--accounts",
            "200",
            "--out",
            "d",
        ],
    );
    assert!(consumer.status.success(), "{}", stderr(&consumer));
    let customers = std::fs::read_to_string(dir.path().join("d/customers.csv")).unwrap();
    assert!(customers.starts_with("customer_id,frequency,recency,T,monetary_value\n"));
    assert_eq!(customers.lines().count(), 201);
}

#[test]
fn import_is_idempotent_and_reports_bad_rows_without_losing_good_ones() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert!(tenure(d, &["init", "--data-dir", "data"]).status.success());
    assert!(tenure(
        d,
        &[
            "simulate",
            "--accounts",
            "20",
            "--months",
            "6",
            "--out",
            "sim"
        ]
    )
    .status
    .success());
    let first = tenure(d, &["--data-dir", "data", "import", "sim"]);
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    let text = stdout(&first);
    assert!(
        text.contains(
            "sim/accounts.csv: 20 rows — 20 inserted, 0 updated, 0 unchanged, 0 rejected"
        ),
        "{text}"
    );
    let again = tenure(d, &["--data-dir", "data", "import", "sim"]);
    let text = stdout(&again);
    assert!(
        text.contains(" 0 inserted, 0 updated, ")
            && text.lines().last().unwrap().contains("0 rejected"),
        "{text}"
    );
    assert!(
        !text
            .lines()
            .any(|l| l.contains(" rows — ") && !l.contains(" 0 inserted, 0 updated,")),
        "re-import changes nothing: {text}"
    );

    std::fs::write(
        d.join("accounts-fix.csv"),
        "account_id,name,signed_up_at\nacct-000001,Renamed Co,\nbad id ,Nope,\nacct-new,New Co,yesterday\nacct-ok,Fine Co,2026-01-01T00:00:00Z\n",
    )
    .unwrap();
    let out = tenure(
        d,
        &[
            "--data-dir",
            "data",
            "import",
            "accounts-fix.csv",
            "--errors",
            "errors.csv",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stdout(&out)
            .contains("accounts-fix.csv: 4 rows — 1 inserted, 1 updated, 0 unchanged, 2 rejected"),
        "{}",
        stdout(&out)
    );
    let mut report = csv::Reader::from_path(d.join("errors.csv")).unwrap();
    assert_eq!(
        report.headers().unwrap(),
        vec!["file", "row", "column", "reason"]
    );
    let rows: Vec<csv::StringRecord> = report.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(
        (&rows[0][0], &rows[0][1], &rows[0][2]),
        ("accounts-fix.csv", "3", "account_id")
    );
    assert!(rows[0][3]
        .starts_with("invalid account id `bad id `: it has leading or trailing white space"));
    assert_eq!(
        (&rows[1][0], &rows[1][1], &rows[1][2]),
        ("accounts-fix.csv", "4", "signed_up_at")
    );
    assert!(rows[1][3].starts_with("invalid timestamp `yesterday`"));
    assert!(stderr(&out).contains("2 row(s) rejected; every error is listed in errors.csv"));

    let unknown = tenure(
        d,
        &[
            "--data-dir",
            "data",
            "import",
            "accounts-fix.csv",
            "--kind",
            "acounts",
        ],
    );
    assert_eq!(unknown.status.code(), Some(1));
    assert!(stderr(&unknown).contains("unknown --kind `acounts`"));
    std::fs::write(d.join("stuff.csv"), "a,b\n").unwrap();
    let unnamed = tenure(d, &["--data-dir", "data", "import", "stuff.csv"]);
    assert_eq!(unnamed.status.code(), Some(1));
    assert!(stderr(&unnamed).contains("cannot tell what stuff.csv holds"));
}

#[test]
fn send_streams_events_into_a_serving_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let init = tenure(d, &["init", "--data-dir", "d", "--json"]);
    let keys: serde_json::Value = serde_json::from_str(&stdout(&init)).unwrap();
    let write_key = keys["write_key"].as_str().unwrap().to_owned();
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
    let (mut server, addr) = Server::start(d, "d");
    let url = format!("http://{addr}");
    let events = std::fs::read_to_string(d.join("sim/events.jsonl")).unwrap();
    let total = events.lines().count();
    // One line that is not JSON and one message without an identity, among good ones.
    let mut lines: Vec<&str> = events.lines().collect();
    lines.insert(2, "{not json");
    lines.insert(5, r#"{"type":"track","event":"x"}"#);
    std::fs::write(d.join("mixed.jsonl"), lines.join("\n")).unwrap();
    let send = |file: &str| {
        Command::new(env!("CARGO_BIN_EXE_tenure"))
            .args(["send", "--url", &url, "--write-key", &write_key, file])
            .current_dir(d)
            .output()
            .unwrap()
    };
    let first = send("mixed.jsonl");
    let again = send("sim/events.jsonl");
    let wrong_key = Command::new(env!("CARGO_BIN_EXE_tenure"))
        .args([
            "send",
            "--url",
            &url,
            "--write-key",
            "tnr_wk_nope",
            "sim/events.jsonl",
        ])
        .current_dir(d)
        .output()
        .unwrap();
    server.kill();
    assert_eq!(first.status.code(), Some(1), "{}", stderr(&first));
    let text = stdout(&first);
    assert!(
        text.contains(&format!("{} accepted, 0 duplicates, 2 rejected", total)),
        "{text}"
    );
    let err = stderr(&first);
    assert!(err.contains("mixed.jsonl:3: invalid_json"), "{err}");
    assert!(err.contains("mixed.jsonl:6: missing_identity"), "{err}");
    // Sending the same events again stores nothing twice.
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    assert!(
        stdout(&again).contains(&format!("0 accepted, {total} duplicates, 0 rejected")),
        "{}",
        stdout(&again)
    );
    assert_eq!(wrong_key.status.code(), Some(1));
    assert!(stderr(&wrong_key).contains("the server refused the write key"));
}

//! The `tenure` binary as a user runs it: outputs, exit codes (0 ok, 1 rejected input,
//! 2 usage, 3 runtime failure), environment overrides, and secrets never stored in clear.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn tenure(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tenure"))
        .args(args)
        .current_dir(dir)
        .env_remove("TENURE_DATA_DIR")
        .env_remove("TENURE_DATABASE_URL")
        .output()
        .expect("run tenure")
}

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
    let mut child = Command::new(env!("CARGO_BIN_EXE_tenure"))
        .args(["serve", "--data-dir", "d", "--listen", "127.0.0.1:0"])
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first_line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first_line)
        .unwrap();
    let addr = first_line
        .split("http://")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
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
    child.kill().unwrap();
    child.wait().unwrap();
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
        let out = tenure(dir.path(), &["demo", "--no-serve"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert!(stdout(&out).contains("Success model "));
        assert!(dir.path().join("tenure-demo/tenure.toml").is_file());
    }
    std::fs::create_dir(dir.path().join("mine")).unwrap();
    std::fs::write(dir.path().join("mine/notes.txt"), "keep me").unwrap();
    let refused = tenure(dir.path(), &["demo", "--no-serve", "--data-dir", "mine"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(dir.path().join("mine/notes.txt").is_file());
}

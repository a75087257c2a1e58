//! `tenure users` and `tenure audit`: users are added with argon2id password hashes, their
//! changes and configuration changes are audited, and bad input is refused precisely.

mod common;

use common::{tenure, text, with_password};
use serde_json::Value;

#[test]
fn users_are_added_listed_disabled_and_every_change_is_audited() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = tenure(d, &["init", "--data-dir", "d", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // A generated password is printed once.
    let out = tenure(
        d,
        &[
            "users",
            "add",
            "Ann@Vendor.example",
            "--role",
            "csm",
            "--name",
            "Ann",
            "--data-dir",
            "d",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let printed = text(&out.stdout);
    assert!(
        printed.contains("added ann@vendor.example: csm, sees their own accounts"),
        "{printed}"
    );
    let password = printed
        .lines()
        .find_map(|l| l.strip_prefix("password (shown once): "))
        .expect("a generated password");
    assert_eq!(password.len(), 20);
    // A password from the environment; a leader sees every account by default.
    let out = with_password(
        d,
        "a leader's long password",
        &[
            "users",
            "add",
            "lee@vendor.example",
            "--role",
            "leader",
            "--pii",
            "--data-dir",
            "d",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!text(&out.stdout).contains("shown once"));
    // Refused, each with what would be valid.
    for (args, password, expected) in [
        (
            vec!["users", "add", "ann@vendor.example", "--role", "csm"],
            "",
            "exists already",
        ),
        (
            vec!["users", "add", "x@vendor.example", "--role", "boss"],
            "",
            "expected one of admin, leader",
        ),
        (
            vec!["users", "add", "not-an-email", "--role", "csm"],
            "",
            "is not an email address",
        ),
        (
            vec![
                "users",
                "add",
                "y@vendor.example",
                "--role",
                "csm",
                "--book",
                "mine",
            ],
            "",
            "expected own, team or all",
        ),
        (
            vec!["users", "add", "z@vendor.example", "--role", "csm"],
            "short",
            "at least 12",
        ),
        (
            vec!["users", "disable", "nobody@vendor.example"],
            "",
            "no enabled user",
        ),
    ] {
        let mut args = args.clone();
        args.extend(["--data-dir", "d"]);
        let out = with_password(d, password, &args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(
            text(&out.stderr).contains(expected),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    let out = tenure(
        d,
        &["users", "disable", "ann@vendor.example", "--data-dir", "d"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = tenure(d, &["users", "list", "--json", "--data-dir", "d"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let users: Value = serde_json::from_slice(&out.stdout).unwrap();
    let users = users.as_array().unwrap();
    assert_eq!(users.len(), 2);
    assert_eq!(users[0]["email"], "ann@vendor.example");
    assert_eq!(
        (users[0]["role"].as_str(), users[0]["book"].as_str()),
        (Some("csm"), Some("own"))
    );
    assert!(users[0]["disabled_at"].is_string());
    assert_eq!(
        (users[1]["book"].as_str(), users[1]["pii"].as_bool()),
        (Some("all"), Some(true))
    );
    assert!(
        users.iter().all(|u| u.get("password_hash").is_none()),
        "hashes are never listed"
    );
    // Teams: ann reports to lee, then to nobody; nobody reports to themselves.
    let out = tenure(
        d,
        &[
            "users",
            "manager",
            "ann@vendor.example",
            "--to",
            "Lee@Vendor.example",
            "--data-dir",
            "d",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("ann@vendor.example reports to lee@vendor.example"));
    let out = tenure(d, &["users", "list", "--data-dir", "d"]);
    assert!(text(&out.stdout).contains("(reports to lee@vendor.example)"));
    let out = tenure(
        d,
        &[
            "users",
            "manager",
            "ann@vendor.example",
            "--to",
            "ann@vendor.example",
            "--data-dir",
            "d",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("cannot report to themselves"));
    let out = tenure(
        d,
        &["users", "manager", "ann@vendor.example", "--data-dir", "d"],
    );
    assert!(text(&out.stdout).contains("reports to nobody"));
    // The model applied again: a configuration change in the log too.
    let out = tenure(d, &["model", "apply", "--data-dir", "d"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = tenure(d, &["audit", "--json", "--data-dir", "d"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let log: Value = serde_json::from_slice(&out.stdout).unwrap();
    let actions: Vec<(&str, &str, &str)> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["actor"].as_str().unwrap(),
                e["action"].as_str().unwrap(),
                e["target"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        &actions[..3],
        [
            ("cli", "user.add", "ann@vendor.example"),
            ("cli", "user.add", "lee@vendor.example"),
            ("cli", "user.disable", "ann@vendor.example"),
        ]
    );
    assert_eq!(
        (actions[3].1, actions[4].1),
        ("user.manager", "user.manager")
    );
    assert_eq!(log[3]["detail"]["manager"], "lee@vendor.example");
    assert!(log[4]["detail"]["manager"].is_null());
    assert_eq!((actions[5].0, actions[5].1), ("cli", "model.apply"));
    assert_eq!(log[5]["detail"]["outcome"], "already current");
    assert_eq!(log[1]["detail"]["pii"], true);
}

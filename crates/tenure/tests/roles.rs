//! Who may do what, end to end: a server over a simulated company, a user of every role, an
//! admin token, a scoped API token, a write key and nobody, against every endpoint the server
//! mounts. The expected matrix is written out here, apart from the code that enforces it. Then
//! the book (a CSM sees only their accounts, in the API, the export and the web app),
//! personal-data masking, audit entries for exports and plan edits, and /metrics.

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;

use base64::Engine as _;
use common::{a_csm, simulate_and_import, tenure, text, with_password, Server};
use serde_json::Value;
use tenure_server::openapi::{Access, ENDPOINTS};

struct Reply {
    status: u16,
    headers: HashMap<String, String>,
    body: String,
}

fn call(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Reply {
    let mut s = TcpStream::connect(addr).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head[9..12].parse().unwrap();
    let headers = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_lowercase(), v.to_owned()))
        .collect();
    Reply {
        status,
        headers,
        body: body.to_owned(),
    }
}

/// Who calls: the headers they send, and the permissions the matrix grants them.
struct Caller {
    name: &'static str,
    headers: Vec<(String, String)>,
    /// `None`: nobody (no credentials).
    scopes: Option<Vec<&'static str>>,
    /// The book: `all`, `own` or `team`.
    book: &'static str,
    session: bool,
    write_key: bool,
}

impl Caller {
    fn headers(&self) -> Vec<(&str, &str)> {
        self.headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }
}

/// The permissions of each role, as the product states them.
fn role_scopes(role: &str) -> Vec<&'static str> {
    match role {
        "admin" => vec![
            "accounts:read",
            "tasks:read",
            "tasks:write",
            "plans:write",
            "surveys:read",
            "surveys:write",
            "metrics:read",
            "data_quality:read",
            "audit:read",
        ],
        "leader" => vec![
            "accounts:read",
            "tasks:read",
            "surveys:read",
            "metrics:read",
            "data_quality:read",
        ],
        "manager" | "csm" => vec![
            "accounts:read",
            "tasks:read",
            "tasks:write",
            "plans:write",
            "surveys:read",
            "metrics:read",
        ],
        "product" => vec![
            "accounts:read",
            "surveys:read",
            "metrics:read",
            "data_quality:read",
        ],
        "viewer" => vec!["accounts:read", "metrics:read"],
        _ => unreachable!(),
    }
}

/// Whole-portfolio permissions, which a user limited to their own book does not get.
const PORTFOLIO: [&str; 4] = [
    "surveys:write",
    "metrics:read",
    "data_quality:read",
    "audit:read",
];

fn sign_in(addr: &str, email: &str, password: &str) -> (String, String) {
    let r = call(
        addr,
        "POST",
        "/login",
        &[("Content-Type", "application/json")],
        &serde_json::json!({"email": email, "password": password}).to_string(),
    );
    assert_eq!(r.status, 200, "{email}: {}", r.body);
    let cookie = r.headers["set-cookie"]
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let me: Value = serde_json::from_str(&r.body).unwrap();
    (cookie, me["csrf_token"].as_str().unwrap().to_owned())
}

#[test]
fn every_role_reaches_what_it_may_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = tenure(d, &["init", "--data-dir", "d", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let secrets: Value = serde_json::from_slice(&out.stdout).unwrap();
    let admin_token = secrets["admin_token"].as_str().unwrap().to_owned();
    let write_key = secrets["write_key"].as_str().unwrap().to_owned();
    simulate_and_import(d, 60, 4, 11);
    let (csm_email, mine, other) = a_csm(d);
    let password = "a long demo password";
    let users = [
        ("admin", "admin@vendor.example".to_owned(), false),
        ("leader", "leader@vendor.example".to_owned(), false),
        ("manager", "manager@vendor.example".to_owned(), true),
        ("csm", csm_email.clone(), false),
        ("product", "product@vendor.example".to_owned(), false),
        ("viewer", "viewer@vendor.example".to_owned(), false),
    ];
    for (role, email, pii) in &users {
        let mut args = vec!["users", "add", email, "--role", role, "--data-dir", "d"];
        if *pii {
            args.push("--pii");
        }
        if *role == "csm" {
            args.extend(["--manager", "lead@vendor.example"]);
        }
        let out = with_password(d, password, &args);
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    // A manager whose book is their team: the CSM reports to them.
    let out = with_password(
        d,
        password,
        &[
            "users",
            "add",
            "lead@vendor.example",
            "--role",
            "manager",
            "--book",
            "team",
            "--data-dir",
            "d",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    // A scoped API token: accounts and metrics, nothing else.
    let out = tenure(
        d,
        &[
            "tokens",
            "create",
            "reporting",
            "--scope",
            "accounts:read,metrics:read",
            "--json",
            "--data-dir",
            "d",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let made: Value = serde_json::from_slice(&out.stdout).unwrap();
    let api_token = made["token"].as_str().unwrap().to_owned();
    let out = tenure(
        d,
        &[
            "tokens",
            "create",
            "x",
            "--scope",
            "accounts:write",
            "--data-dir",
            "d",
        ],
    );
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("unknown scope `accounts:write`"));

    // Two tasks assigned to the CSM: one on their account, one on an account they do not own
    // (say, one that changed hands): only the first is theirs.
    std::fs::write(
        d.join("tasks.csv"),
        format!(
            "task_id,account_id,playbook,title,assignee,created_at,due_at\n\
             t-mine,{mine},usage_drop,Check the mine rollout,{csm_email},2026-01-01T00:00:00Z,2026-01-03T00:00:00Z\n\
             t-other,{other},usage_drop,Check the other rollout,{csm_email},2026-01-01T00:00:00Z,2026-01-03T00:00:00Z\n"
        ),
    )
    .unwrap();
    let out = tenure(d, &["import", "--data-dir", "d", "tasks.csv"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // A measured effect, as `tenure playbooks` leaves it: company-wide, so for those who may
    // read whole-portfolio metrics only.
    std::fs::write(
        d.join("d/playbook-report.json"),
        r#"{"as_of": "2026-11-01", "playbooks": [{"playbook": "usage_drop", "note": null,
            "effect": {"renewal": {"difference": 0.05, "low": 0.01, "high": 0.09}}}]}"#,
    )
    .unwrap();

    let (_server, addr) = Server::start(d, "d");
    let mut callers = vec![
        Caller {
            name: "nobody",
            headers: vec![],
            scopes: None,
            book: "all",
            session: false,
            write_key: false,
        },
        Caller {
            name: "admin token",
            headers: vec![("Authorization".into(), format!("Bearer {admin_token}"))],
            scopes: Some(role_scopes("admin")),
            book: "all",
            session: false,
            write_key: false,
        },
        Caller {
            name: "scoped token",
            headers: vec![("Authorization".into(), format!("Bearer {api_token}"))],
            scopes: Some(vec!["accounts:read", "metrics:read"]),
            book: "all",
            session: false,
            write_key: false,
        },
        Caller {
            name: "write key",
            headers: vec![(
                "Authorization".into(),
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(format!("{write_key}:"))
                ),
            )],
            scopes: Some(vec![]),
            book: "all",
            session: false,
            write_key: true,
        },
    ];
    let mut sessions = HashMap::new();
    let (cookie, csrf) = sign_in(&addr, "lead@vendor.example", password);
    sessions.insert("team lead", (cookie.clone(), csrf.clone()));
    callers.push(Caller {
        name: "team lead",
        headers: vec![("Cookie".into(), cookie), ("X-CSRF-Token".into(), csrf)],
        scopes: Some(role_scopes("manager")),
        book: "team",
        session: true,
        write_key: false,
    });
    for (role, email, _) in &users {
        let (cookie, csrf) = sign_in(&addr, email, password);
        sessions.insert(*role, (cookie.clone(), csrf.clone()));
        callers.push(Caller {
            name: role,
            headers: vec![("Cookie".into(), cookie), ("X-CSRF-Token".into(), csrf)],
            scopes: Some(role_scopes(role)),
            book: if *role == "csm" { "own" } else { "all" },
            session: true,
            write_key: false,
        });
    }
    // A page as a signed-in role sees it.
    let get_as = |role: &str, path: &str| {
        let (cookie, _) = &sessions[role];
        call(&addr, "GET", path, &[("Cookie", cookie.as_str())], "").body
    };
    // Concrete paths: an account in the CSM's book, a task that does not exist.
    let concrete = |path: &str| {
        path.replace("{id}", &mine)
            .replace("{name}", "nrr")
            .replace("{kind}", "signup")
            .replace("{endpoint}", "track")
            .replace("{token}", "0000")
            .replace("{action}", "complete")
    };
    let mut checked = 0;
    for e in ENDPOINTS {
        // Signing in and out are their own tests (tenure-server's auth tests).
        if ["/login", "/logout", "/app/logout"].contains(&e.path) {
            continue;
        }
        let path = if e.path.starts_with("/api/v1/tasks/{id}") {
            "/api/v1/tasks/no-such-task/complete".to_owned()
        } else if e.path.starts_with("/app/tasks/{id}") {
            "/app/tasks/no-such-task/complete".to_owned()
        } else {
            concrete(e.path)
        };
        for c in &callers {
            let mut headers = c.headers();
            let body = match (e.method, e.path) {
                ("POST", "/v1/{endpoint}") => {
                    r#"{"userId":"u1","event":"x","context":{"groupId":"a"}}"#.to_owned()
                }
                ("POST", "/api/v1/surveys/responses") => "[]".to_owned(),
                ("PUT", _) => r#"{"revision": 99}"#.to_owned(),
                ("POST", "/app/accounts/{id}/plan" | "/app/tasks/{id}/{action}") => {
                    let csrf = c
                        .headers
                        .iter()
                        .find(|h| h.0 == "X-CSRF-Token")
                        .map_or("", |h| h.1.as_str());
                    format!("csrf={csrf}&revision=99&goals=x&outcome=called")
                }
                _ => String::new(),
            };
            if e.path.starts_with("/app/") && e.method == "POST" || e.path == "/surveys/{token}" {
                headers.push(("Content-Type", "application/x-www-form-urlencoded"));
            } else {
                headers.push(("Content-Type", "application/json"));
            }
            let r = call(&addr, e.method, &path, &headers, &body);
            let to_login = r
                .headers
                .get("location")
                .is_some_and(|l| l.starts_with("/login"));
            let denied = matches!(r.status, 401 | 403) || (e.html && r.status == 303 && to_login);
            let expected_allowed = match e.access {
                Access::Public => true,
                Access::WriteKey => c.write_key,
                Access::Session => c.session,
                Access::Authenticated => c.scopes.is_some() && !c.write_key,
                Access::Scope(s) => c.scopes.as_ref().is_some_and(|scopes| {
                    let name = s.name();
                    // An API token is not a write key's: a write key has no scopes.
                    scopes.contains(&name) && !(c.book != "all" && PORTFOLIO.contains(&name))
                }),
            };
            // The role views need more than one permission; the index names the first.
            let expected_allowed = expected_allowed
                && match (e.path, &c.scopes) {
                    ("/app/manager", Some(s)) => {
                        s.contains(&"tasks:read") && s.contains(&"accounts:read") && c.book != "own"
                    }
                    ("/app/leader", Some(s)) => s.contains(&"accounts:read"),
                    ("/app/csm", Some(s)) => s.contains(&"accounts:read"),
                    // A form, with the session's CSRF token: for signed-in users only.
                    ("/app/accounts/{id}/plan" | "/app/tasks/{id}/{action}", _) => c.session,
                    _ => true,
                };
            // Pages are for people: a token's principal may open them too, but nobody is sent
            // to the sign-in form.
            assert_eq!(
                !denied,
                expected_allowed,
                "{} {} as {}: {} {}",
                e.method,
                path,
                c.name,
                r.status,
                &r.body[..r.body.len().min(300)]
            );
            if denied && !e.html {
                let v: Value = serde_json::from_str(&r.body).unwrap_or(Value::Null);
                assert!(
                    v["error"]["code"].is_string(),
                    "{} {} as {}: a refusal says why: {}",
                    e.method,
                    path,
                    c.name,
                    r.body
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 300, "{checked} combinations");

    // The book: a CSM sees their own accounts only, in the list, the export, one by one and
    // on the web.
    let (csm_cookie, _) = &sessions["csm"];
    let as_csm = [("Cookie", csm_cookie.as_str())];
    let r = call(&addr, "GET", "/api/v1/accounts?limit=1000", &as_csm, "");
    let page: Value = serde_json::from_str(&r.body).unwrap();
    let listed = page["accounts"].as_array().unwrap();
    assert!(!listed.is_empty());
    assert!(listed.iter().all(|a| a["owner"] == csm_email.as_str()));
    let r = call(&addr, "GET", "/api/v1/exports/accounts.csv", &as_csm, "");
    assert_eq!(r.status, 200);
    let rows: Vec<&str> = r.body.lines().skip(1).collect();
    assert_eq!(rows.len(), listed.len());
    assert!(rows.iter().all(|l| l.contains(&csm_email)));
    for path in [
        format!("/api/v1/accounts/{other}"),
        format!("/api/v1/accounts/{other}/health/history"),
        format!("/api/v1/accounts/{other}/plan"),
    ] {
        let r = call(&addr, "GET", &path, &as_csm, "");
        assert_eq!(r.status, 404, "{path}: outside the book is as unknown");
    }
    let r = call(&addr, "GET", &format!("/app/accounts/{other}"), &as_csm, "");
    assert_eq!(r.status, 404);
    let r = call(&addr, "GET", &format!("/app/accounts/{mine}"), &as_csm, "");
    assert_eq!(r.status, 200);
    let r = call(&addr, "GET", "/api/v1/tasks", &as_csm, "");
    let tasks: Value = serde_json::from_str(&r.body).unwrap();
    let ids: Vec<&str> = tasks["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["id"].as_str())
        .collect();
    assert!(
        ids.contains(&"t-mine") && !ids.contains(&"t-other"),
        "{ids:?}"
    );
    let (_, csm_csrf) = &sessions["csm"];
    let act = |task: &str| {
        call(
            &addr,
            "POST",
            &format!("/api/v1/tasks/{task}/complete"),
            &[
                ("Cookie", csm_cookie.as_str()),
                ("X-CSRF-Token", csm_csrf.as_str()),
                ("Content-Type", "application/json"),
            ],
            r#"{"outcome": "called"}"#,
        )
        .status
    };
    let inbox = call(&addr, "GET", "/app/csm", &as_csm, "").body;
    assert!(inbox.contains("Check the mine rollout"), "{inbox}");
    assert!(!inbox.contains("Check the other rollout"));
    assert_eq!(act("t-other"), 404, "not in the book");
    assert_eq!(act("t-mine"), 200);
    // The inbox's buttons: reopen, then done with an outcome, back to the inbox; not on
    // another's account.
    let form = |task: &str, action: &str| {
        call(
            &addr,
            "POST",
            &format!("/app/tasks/{task}/{action}"),
            &[
                ("Cookie", csm_cookie.as_str()),
                ("Content-Type", "application/x-www-form-urlencoded"),
            ],
            &format!("csrf={csm_csrf}&back=%2Fapp%2Fcsm&outcome=Walked+them+through+it"),
        )
    };
    assert_eq!(form("t-other", "complete").status, 404);
    for action in ["reopen", "complete"] {
        let r = form("t-mine", action);
        assert_eq!(
            (r.status, r.headers["location"].as_str()),
            (303, "/app/csm")
        );
    }
    let r = call(
        &addr,
        "GET",
        &format!("/api/v1/tasks?account={mine}"),
        &as_csm,
        "",
    );
    let of_mine: Value = serde_json::from_str(&r.body).unwrap();
    let t = of_mine["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == "t-mine")
        .unwrap();
    assert_eq!(
        (t["status"].as_str(), t["outcome"].as_str()),
        (Some("done"), Some("Walked them through it"))
    );
    let r = call(
        &addr,
        "POST",
        "/app/tasks/t-mine/reopen",
        &[
            ("Cookie", csm_cookie.as_str()),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        "back=%2Fapp%2Fcsm",
    );
    assert_eq!(r.status, 403, "a form without the CSRF token");
    let inbox = call(&addr, "GET", "/app/csm", &as_csm, "").body;
    assert!(
        !inbox.contains("Check the mine rollout"),
        "done: out of the inbox"
    );
    let r = call(&addr, "GET", "/api/v1/coverage", &as_csm, "");
    let cov: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(cov["owners"].as_array().unwrap().len(), 1);
    // The team lead sees their report's accounts, no others; the team view, not company
    // metrics.
    let (lead_cookie, _) = &sessions["team lead"];
    let as_lead = [("Cookie", lead_cookie.as_str())];
    let r = call(&addr, "GET", "/api/v1/accounts?limit=1000", &as_lead, "");
    let team: Value = serde_json::from_str(&r.body).unwrap();
    let ids = |v: &Value| -> Vec<String> {
        v["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["account"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids(&team), ids(&page));
    let r = call(&addr, "GET", "/app/manager", &as_lead, "");
    assert_eq!(r.status, 200);
    assert!(
        !r.body.contains("+5.0 points"),
        "company-wide effects need metrics"
    );
    let full = get_as("manager", "/app/manager");
    assert!(full.contains("+5.0 points (+1.0 to +9.0)"), "{full}");
    assert!(r.body.contains(&csm_email), "{}", r.body);
    assert!(r.body.contains("whole-portfolio metrics permission"));
    let r = call(&addr, "GET", "/api/v1/metrics/nrr", &as_lead, "");
    assert_eq!(r.status, 403);
    assert!(r.body.contains("your team's accounts"), "{}", r.body);
    // The admin sees every account.
    let r = call(
        &addr,
        "GET",
        "/api/v1/accounts?limit=1000",
        &[("Authorization", &format!("Bearer {admin_token}"))],
        "",
    );
    let all: Value = serde_json::from_str(&r.body).unwrap();
    assert!(all["total"].as_u64().unwrap() > listed.len() as u64);

    // Personal data: the manager (with the permission) sees contacts' emails, the leader
    // (without) sees only their domains.
    let contacts = std::fs::read_to_string(d.join("sim/contacts.csv")).unwrap();
    let mut reader = csv::Reader::from_reader(contacts.as_bytes());
    let h = reader.headers().unwrap().clone();
    let (acc_col, email_col) = (
        h.iter().position(|x| x == "account_id").unwrap(),
        h.iter().position(|x| x == "email").unwrap(),
    );
    let email = reader
        .records()
        .map(|r| r.unwrap())
        .find(|r| r[acc_col] == *mine && !r[email_col].is_empty())
        .map(|r| r[email_col].to_owned())
        .expect("a contact with an email");
    let page_as = |role: &str| get_as(role, &format!("/app/accounts/{mine}"));
    assert!(page_as("manager").contains(&email));
    let leader_page = page_as("leader");
    assert!(
        !leader_page.contains(&email),
        "masked without the permission"
    );
    let domain = email.split('@').nth(1).unwrap();
    assert!(leader_page.contains(&format!("@{domain}")));
    // Task columns on the leadership page only for those who may read tasks.
    let viewer_leader = get_as("viewer", "/app/leader");
    assert!(viewer_leader.contains("Team scorecards"));
    assert!(!viewer_leader.contains("SLA breaches"));
    let leader_leader = get_as("leader", "/app/leader");
    assert!(leader_leader.contains("SLA breaches"));
    // A sign-in form posted from another site is refused.
    let r = call(
        &addr,
        "POST",
        "/login",
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Origin", "https://elsewhere.example"),
        ],
        &format!("email={csm_email}&password={password}"),
    );
    assert_eq!(r.status, 403);
    assert!(!r.headers.contains_key("set-cookie"));
    // Who may edit: the plan form for the CSM, a read-only plan for the leader.
    assert!(page_as("csm").contains("data-testid=\"plan-form\""));
    assert!(!leader_page.contains("data-testid=\"plan-form\""));

    // A plan saved through the API, a stale save refused, both audited.
    let (cookie, csrf) = &sessions["csm"];
    let put = |revision: i64, csrf: &str| {
        call(
            &addr,
            "PUT",
            &format!("/api/v1/accounts/{mine}/plan"),
            &[
                ("Cookie", cookie.as_str()),
                ("X-CSRF-Token", csrf),
                ("Content-Type", "application/json"),
            ],
            &serde_json::json!({"revision": revision, "goals": ["Close in 3 days"],
                "success_criteria": [], "stakeholders": ["CFO"], "risks": [], "handoff": "SSO promised"})
            .to_string(),
        )
    };
    assert_eq!(put(0, "").status, 403, "CSRF");
    let r = put(0, csrf);
    assert_eq!(r.status, 200, "{}", r.body);
    let saved: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(saved["revision"], 1);
    assert_eq!(saved["goals"][0], "Close in 3 days");
    assert_eq!(put(0, csrf).status, 409);

    let r = call(
        &addr,
        "GET",
        "/api/v1/audit?limit=1000",
        &[("Authorization", &format!("Bearer {admin_token}"))],
        "",
    );
    let audit: Value = serde_json::from_str(&r.body).unwrap();
    let actions: Vec<(String, String)> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["actor"].as_str().unwrap_or("").to_owned(),
                e["action"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    for (actor, action) in [
        (csm_email.as_str(), "export.accounts"),
        (csm_email.as_str(), "plan.update"),
        (csm_email.as_str(), "login"),
        ("cli", "token.create"),
        ("cli", "user.add"),
    ] {
        assert!(
            actions.iter().any(|(a, x)| a == actor && x == action),
            "{actor} {action} not in {actions:?}"
        );
    }

    // /metrics: request latencies by route template, ingestion counts, engine lag.
    let r = call(&addr, "GET", "/metrics", &[], "");
    assert_eq!(r.status, 200);
    assert!(r.headers["content-type"].starts_with("text/plain; version=0.0.4"));
    for needle in [
        "tenure_http_request_duration_seconds_bucket{method=\"GET\",route=\"/api/v1/accounts/{id}\",status=\"404\",le=\"0.05\"}",
        "tenure_ingest_messages_total{outcome=\"accepted\"}",
        "tenure_engine_lag_records ",
        "tenure_log_end_offset ",
    ] {
        assert!(r.body.contains(needle), "{needle} not in\n{}", r.body);
    }
    // The OpenAPI document is served.
    let r = call(&addr, "GET", "/api/openapi.json", &[], "");
    let doc: Value = serde_json::from_str(&r.body).unwrap();
    assert!(doc["paths"]["/api/v1/accounts"]["get"].is_object());
}

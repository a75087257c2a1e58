//! Signing in: passwords checked against argon2id hashes, session cookies with their flags,
//! CSRF on unsafe requests, the same answer for every refusal, and every attempt audited.

use std::sync::Arc;

use tenure_domain::model::Role;
use tenure_server::AppState;
use tenure_store::{secret, Book, Store, StoreLocation, User};

async fn server() -> (String, Arc<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = tenure_store::open(&StoreLocation::Sqlite(dir.path().join("tenure.db")))
        .await
        .unwrap();
    let now = chrono::Utc::now().fixed_offset();
    for (email, role, disabled) in [
        ("ann@vendor.example", Role::Csm, None),
        ("old@vendor.example", Role::Viewer, Some(now)),
    ] {
        store
            .insert_user(&User {
                id: format!("user_{email}"),
                email: email.into(),
                name: Some("Ann".into()),
                role,
                book: Book::Own,
                pii: false,
                password_hash: secret::password::hash("the right password").unwrap(),
                created_at: now,
                disabled_at: disabled,
                manager: None,
            })
            .await
            .unwrap();
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = AppState {
        store: store.clone(),
        ingestion: None,
        lake: None,
        engine: None,
        metrics: Default::default(),
        signals: Default::default(),
        limiter: Default::default(),
        telemetry: Default::default(),
        data_dir: None,
    };
    tokio::spawn(tenure_server::serve(
        listener,
        state,
        std::future::pending(),
    ));
    (format!("http://{addr}"), store, dir)
}

#[tokio::test]
async fn sign_in_uses_a_secure_session_and_csrf_guards_its_unsafe_requests() {
    let (url, store, _dir) = server().await;
    let http = reqwest::Client::new();
    // Wrong password, unknown email, disabled user: one answer for all three.
    let mut answers = Vec::new();
    for (email, password) in [
        ("ann@vendor.example", "not the password"),
        ("nobody@vendor.example", "the right password"),
        ("old@vendor.example", "the right password"),
    ] {
        let r = http
            .post(format!("{url}/login"))
            .form(&[("email", email), ("password", password)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        assert!(r.headers().get("set-cookie").is_none());
        answers.push(r.text().await.unwrap());
    }
    assert!(answers.iter().all(|a| *a == answers[0]), "{answers:?}");
    assert!(
        answers[0].contains("<form"),
        "a form sign-in gets the form again"
    );
    assert!(answers[0].contains("the email or the password is wrong"));
    // Bad bodies are told what to send.
    let r = http
        .post(format!("{url}/login"))
        .header("content-type", "application/json")
        .body(r#"{"email": "ann@vendor.example"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("send `email` and `password`"));
    // The right password (email in any case, as JSON), behind an HTTPS proxy.
    let r = http
        .post(format!("{url}/login"))
        .header("x-forwarded-proto", "https")
        .json(
            &serde_json::json!({"email": " Ann@Vendor.example ", "password": "the right password"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    for flag in [
        "HttpOnly",
        "SameSite=Strict",
        "Path=/",
        "Max-Age=43200",
        "Secure",
    ] {
        assert!(cookie.contains(flag), "{cookie}");
    }
    let me: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        (me["email"].as_str(), me["role"].as_str()),
        (Some("ann@vendor.example"), Some("csm"))
    );
    let csrf = me["csrf_token"].as_str().unwrap().to_owned();
    let session = cookie.split(';').next().unwrap().to_owned();
    // The session answers /api/v1/me; no cookie, or a made-up one, does not.
    let r = http
        .get(format!("{url}/api/v1/me"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let again: serde_json::Value = r.json().await.unwrap();
    assert_eq!(again["csrf_token"], csrf.as_str());
    for cookie in ["", "tenure_session=forged"] {
        let r = http
            .get(format!("{url}/api/v1/me"))
            .header("cookie", cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
    }
    // The session reaches what a CSM may do, and no further: the task inbox (their book), not
    // whole-portfolio metrics (their book is their own accounts) nor the audit log.
    for (path, status, code) in [
        ("/api/v1/tasks", 200, None),
        ("/api/v1/metrics/nrr", 403, Some("book_limited")),
        ("/api/v1/audit", 403, Some("forbidden")),
        ("/api/v1/data-quality", 403, Some("forbidden")),
    ] {
        let r = http
            .get(format!("{url}{path}"))
            .header("cookie", &session)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), status, "{path}");
        if let Some(code) = code {
            let body: serde_json::Value = r.json().await.unwrap();
            assert_eq!(body["error"]["code"], code, "{path}");
        }
    }
    // Unsafe requests of a session need its CSRF token.
    let r = http
        .post(format!("{url}/api/v1/tasks/t-1/complete"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = http
        .post(format!("{url}/api/v1/tasks/t-1/complete"))
        .header("cookie", &session)
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "past the guard: no such task");
    // Logging out needs the CSRF token.
    for token in ["", "wrong"] {
        let r = http
            .post(format!("{url}/logout"))
            .header("cookie", &session)
            .header("x-csrf-token", token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403);
    }
    let r = http
        .post(format!("{url}/logout"))
        .header("cookie", &session)
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert!(r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    let r = http
        .get(format!("{url}/api/v1/me"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "the session has ended");
    // Every attempt is in the audit log, with why it was refused.
    let log = store.audit_log(0, 100).await.unwrap();
    let seen: Vec<(&str, &str, &str, Option<&str>)> = log
        .iter()
        .map(|e| {
            (
                e.actor.as_str(),
                e.action.as_str(),
                e.outcome.as_str(),
                e.detail["reason"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (
                "ann@vendor.example",
                "login",
                "denied",
                Some("wrong password")
            ),
            (
                "nobody@vendor.example",
                "login",
                "denied",
                Some("unknown email")
            ),
            (
                "old@vendor.example",
                "login",
                "denied",
                Some("disabled user")
            ),
            ("ann@vendor.example", "login", "ok", None),
            ("ann@vendor.example", "logout", "ok", None),
        ]
    );
}

#[tokio::test]
async fn failed_sign_ins_are_throttled_per_email_without_checking_the_password() {
    let (url, store, _dir) = server().await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let attempt = |password: &'static str| {
        let http = http.clone();
        let url = url.clone();
        async move {
            http.post(format!("{url}/login"))
                .json(&serde_json::json!({"email": "ann@vendor.example", "password": password}))
                .send()
                .await
                .unwrap()
        }
    };
    for _ in 0..tenure_server::auth::EMAIL_FAILURES {
        assert_eq!(attempt("a wrong guess").await.status(), 401);
    }
    // Over the limit even the right password is refused, and told when to come back.
    let r = attempt("the right password").await;
    assert_eq!(r.status(), 429);
    let wait: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=900).contains(&wait), "{wait}");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "too_many_attempts");
    // Another email from elsewhere is not held back by ann's failures.
    let r = http
        .post(format!("{url}/login"))
        .header("x-forwarded-for", "203.0.113.9")
        .form(&[
            ("email", "old@vendor.example"),
            ("password", "x"),
            ("next", "/app/csm"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let log = store.audit_log(0, 100).await.unwrap();
    assert_eq!(
        log.iter().filter(|e| e.outcome == "throttled").count(),
        1,
        "the refusal is audited"
    );
}

#[tokio::test]
async fn a_form_sign_in_goes_on_to_the_page_it_came_for_and_nowhere_else() {
    let (url, _store, _dir) = server().await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for (next, to) in [
        ("/app/csm", "/app/csm"),
        ("https://elsewhere.example/app", "/app"),
        ("//elsewhere.example", "/app"),
    ] {
        let r = http
            .post(format!("{url}/login"))
            .form(&[
                ("email", "ann@vendor.example"),
                ("password", "the right password"),
                ("next", next),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "{next}");
        assert_eq!(r.headers()["location"], to, "{next}");
        assert!(r.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .starts_with("tenure_session="));
    }
    // A page without a session sends to the form, remembering where it was going.
    let r = http.get(format!("{url}/app/leader")).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/login?next=%2Fapp%2Fleader");
    let r = http
        .get(format!("{url}/login?next=/app/leader"))
        .send()
        .await
        .unwrap();
    let form = r.text().await.unwrap();
    assert!(
        form.contains("name=\"next\" value=\"/app/leader\""),
        "{form}"
    );
    assert!(form.contains("<label for=\"password\">"));
}

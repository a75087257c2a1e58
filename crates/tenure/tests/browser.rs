//! The web app in a real browser: headless Chromium (Debian's `chromium`), driven over the
//! DevTools protocol. Each role signs in through the form, opens every view, and the test
//! checks what the page shows and may not show, that charts are labelled images, that the
//! keyboard reaches the skip link first, and that a CSM can save a success plan; every page
//! is saved as a screenshot under `target/browser-screenshots/`.
//!
//! Without Chromium (no `chromium` on the PATH and no `TENURE_TEST_CHROMIUM`) the suite says
//! so and passes, unless `TENURE_REQUIRE_BROWSER` is set (CI sets it).

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::{
    a_csm, send_simulated_events, simulate_and_import, tenure, text, with_password, Server,
};
use serde_json::{json, Value};

type Socket = tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<std::net::TcpStream>>;

fn chromium() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("TENURE_TEST_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|name| {
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|d| d.join(name))
                    .find(|p| p.is_file())
            })
        })
}

/// A headless browser and one DevTools connection to it.
struct Browser {
    child: Child,
    socket: Socket,
    next_id: u64,
    /// Events read while waiting for an answer: (session, method).
    events: Vec<(String, String)>,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Browser {
    fn launch(binary: &Path) -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let mut child = Command::new(binary)
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--remote-debugging-port=0",
                "--window-size=1280,1000",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("start chromium");
        let stderr = child.stderr.take().unwrap();
        let mut url = None;
        for line in BufReader::new(stderr).lines() {
            let line = line.unwrap();
            if let Some(at) = line.find("ws://") {
                url = Some(line[at..].trim().to_owned());
                break;
            }
        }
        let url = url.expect("chromium printed no DevTools address");
        let (socket, _) = tungstenite::connect(url.as_str()).expect("connect to DevTools");
        Browser {
            child,
            socket,
            next_id: 0,
            events: Vec::new(),
            _profile: profile,
        }
    }

    /// Sends a DevTools command (to a page's session, if given) and waits for its answer.
    fn send(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        self.socket
            .send(tungstenite::Message::text(msg.to_string()))
            .unwrap();
        loop {
            let m = self.socket.read().expect("DevTools connection");
            let tungstenite::Message::Text(t) = m else {
                continue;
            };
            let v: Value = serde_json::from_str(t.as_str()).unwrap();
            if v["id"] == id {
                assert!(v["error"].is_null(), "{method}: {}", v["error"]);
                return v["result"].clone();
            }
            if let Some(m) = v["method"].as_str() {
                let s = v["sessionId"].as_str().unwrap_or("").to_owned();
                self.events.push((s, m.to_owned()));
            }
        }
    }

    /// Waits for the page's next `Page.loadEventFired` (after `forget_events`).
    fn wait_load(&mut self, page: &str) {
        let start = Instant::now();
        loop {
            if let Some(i) = self
                .events
                .iter()
                .position(|(s, m)| s == page && m == "Page.loadEventFired")
            {
                self.events.drain(..=i);
                return;
            }
            assert!(start.elapsed() < Duration::from_secs(60), "no page load");
            let m = self.socket.read().expect("DevTools connection");
            if let tungstenite::Message::Text(t) = m {
                let v: Value = serde_json::from_str(t.as_str()).unwrap();
                if let Some(m) = v["method"].as_str() {
                    let s = v["sessionId"].as_str().unwrap_or("").to_owned();
                    self.events.push((s, m.to_owned()));
                }
            }
        }
    }

    fn forget_events(&mut self) {
        self.events.clear();
    }

    /// The page's path once loaded.
    fn path(&mut self, page: &str) -> String {
        self.eval(page, "location.pathname")
            .as_str()
            .unwrap_or("")
            .to_owned()
    }

    /// A fresh page in its own browser context (its own cookies), attached.
    fn page(&mut self) -> String {
        let ctx =
            self.send(None, "Target.createBrowserContext", json!({}))["browserContextId"].clone();
        let target = self.send(
            None,
            "Target.createTarget",
            json!({"url": "about:blank", "browserContextId": ctx}),
        )["targetId"]
            .clone();
        let session = self.send(
            None,
            "Target.attachToTarget",
            json!({"targetId": target, "flatten": true}),
        )["sessionId"]
            .as_str()
            .unwrap()
            .to_owned();
        self.send(Some(&session), "Page.enable", json!({}));
        session
    }

    fn eval(&mut self, page: &str, expression: &str) -> Value {
        let r = self.send(
            Some(page),
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true}),
        );
        r["result"]["value"].clone()
    }

    /// Opens `url` and waits for it (or where it redirects) to load; returns the path.
    fn open(&mut self, page: &str, url: &str) -> String {
        self.forget_events();
        self.send(Some(page), "Page.navigate", json!({"url": url}));
        self.wait_load(page);
        self.path(page)
    }

    /// Runs `script`, which submits a form, and waits for the answer to load.
    fn submit(&mut self, page: &str, script: &str) -> String {
        self.forget_events();
        assert_eq!(self.eval(page, script), json!(true), "{script}");
        self.wait_load(page);
        self.path(page)
    }

    fn screenshot(&mut self, page: &str, name: &str) {
        let r = self.send(
            Some(page),
            "Page.captureScreenshot",
            json!({"format": "png", "captureBeyondViewport": true}),
        );
        let png = base64::engine::general_purpose::STANDARD
            .decode(r["data"].as_str().unwrap())
            .unwrap();
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/browser-screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    fn text(&mut self, page: &str) -> String {
        self.eval(page, "document.body.innerText")
            .as_str()
            .unwrap_or("")
            .to_owned()
    }
}

/// The lowest contrast ratio between an element's text and the background behind it, over
/// every element with text of its own outside SVG charts, and where it is.
const CONTRAST: &str = r#"(() => {
  const rgb = s => (s.match(/[\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => [r, g, b].map(v => {
    v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
  }).reduce((a, v, i) => a + v * [0.2126, 0.7152, 0.0722][i], 0);
  const background = el => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] > 0)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  let worst = { ratio: 99, text: "" };
  for (const el of document.querySelectorAll('body *')) {
    if (el.closest('svg') || !el.offsetParent && el.tagName !== 'BODY') continue;
    const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
    if (!own) continue;
    const a = lum(rgb(getComputedStyle(el).color)), b = lum(background(el));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < worst.ratio) worst = { ratio, text: el.textContent.trim().slice(0, 40) };
  }
  return worst;
})()"#;

#[test]
fn each_role_signs_in_and_sees_its_views_in_a_browser() {
    let Some(binary) = chromium() else {
        assert!(
            std::env::var_os("TENURE_REQUIRE_BROWSER").is_none(),
            "TENURE_REQUIRE_BROWSER is set but no Chromium was found"
        );
        eprintln!("browser suite: NOT RUN — no chromium on the PATH (apt-get install chromium)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = tenure(d, &["init", "--data-dir", "d", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let secrets: Value = serde_json::from_slice(&out.stdout).unwrap();
    simulate_and_import(d, 60, 6, 5);
    let (csm, account, _) = a_csm(d);
    let password = "a long browser password";
    let roles = [
        ("admin", "admin@vendor.example".to_owned()),
        ("leader", "leader@vendor.example".to_owned()),
        ("manager", "manager@vendor.example".to_owned()),
        ("csm", csm.clone()),
        ("product", "product@vendor.example".to_owned()),
        ("viewer", "viewer@vendor.example".to_owned()),
    ];
    for (role, email) in &roles {
        // Books by default: a CSM's own accounts, everyone else's all; the manager may see
        // personal data.
        let mut args = vec!["users", "add", email, "--role", role, "--data-dir", "d"];
        if *role == "manager" {
            args.push("--pii");
        }
        let out = with_password(d, password, &args);
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    // An open task in the CSM's inbox, to be done from the page.
    std::fs::write(
        d.join("tasks.csv"),
        format!(
            "task_id,account_id,title,assignee,created_at,due_at\n\
             t-web,{account},Walk the admin through reports,{csm},2026-01-01T00:00:00Z,2026-01-05T00:00:00Z\n"
        ),
    )
    .unwrap();
    let out = tenure(d, &["import", "--data-dir", "d", "tasks.csv"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let (_server, addr) = Server::start(d, "d");
    send_simulated_events(d, &addr, secrets["write_key"].as_str().unwrap());
    let base = format!("http://{addr}");
    let mut b = Browser::launch(&binary);

    // What each role's navigation offers, and the views it may not open.
    let offered: [(&str, &[&str], &[&str]); 6] = [
        ("admin", &["Leadership", "Team", "My book", "Product"], &[]),
        ("leader", &["Leadership", "Team", "My book", "Product"], &[]),
        (
            "manager",
            &["Leadership", "Team", "My book", "Product"],
            &[],
        ),
        (
            "csm",
            &["My book"],
            &["/app/leader", "/app/manager", "/app/product"],
        ),
        (
            "product",
            &["Leadership", "Product"],
            &["/app/manager", "/app/csm"],
        ),
        (
            "viewer",
            &["Leadership", "Product"],
            &["/app/manager", "/app/csm"],
        ),
    ];
    for (role, email) in &roles {
        let page = b.page();
        // Not signed in: any view sends to the form.
        let at = b.open(&page, &format!("{base}/app/leader"));
        assert_eq!(at, "/login", "{role}");
        b.screenshot(&page, "login");
        // The keyboard reaches the form; signing in goes on to the view asked for.
        let landed = b.submit(
            &page,
            &format!(
                "document.getElementById('email').value = {e}; \
                 document.getElementById('password').value = {p}; \
                 document.querySelector('form.login').submit(); true",
                e = json!(email),
                p = json!(password)
            ),
        );
        // On to the page asked for, permitted or not.
        assert_eq!(landed, "/app/leader", "{role}");
        let (_, views, forbidden) = offered.iter().find(|o| o.0 == *role).unwrap();
        let nav = b
            .eval(
                &page,
                "[...document.querySelectorAll('header nav ul a')].map(a => a.textContent).join(',')",
            )
            .as_str()
            .unwrap_or("")
            .to_owned();
        assert_eq!(nav, views.join(","), "{role} on {landed}");
        for view in ["/app/leader", "/app/manager", "/app/csm", "/app/product"] {
            let at = b.open(&page, &format!("{base}{view}"));
            assert_eq!(at, view, "{role}");
            let body = b.text(&page);
            let name = format!("{role}-{}", view.trim_start_matches("/app/"));
            b.screenshot(&page, &name);
            if forbidden.contains(&view) {
                assert!(body.contains("Not permitted"), "{role} {view}: {body}");
                continue;
            }
            assert!(!body.contains("Not permitted"), "{role} {view}: {body}");
            // Text contrast of at least 4.5:1 everywhere outside the charts (WCAG AA).
            let worst = b.eval(&page, CONTRAST);
            assert!(
                worst["ratio"].as_f64().unwrap() >= 4.5,
                "{role} {view}: {worst}"
            );
            // Every chart is a labelled image.
            let unlabelled = b.eval(
                &page,
                "[...document.querySelectorAll('svg')].filter(s => s.getAttribute('role') !== 'img' \
                 || !s.querySelector('title')).length",
            );
            assert_eq!(unlabelled, json!(0), "{role} {view}");
            match view {
                "/app/leader" => {
                    assert!(body.contains("ARR at risk"), "{body}");
                    assert!(body.contains("Team scorecards"));
                    let charts = b.eval(&page, "document.querySelectorAll('svg.chart').length");
                    assert!(charts.as_u64().unwrap() >= 2, "{role}: {charts}");
                }
                "/app/manager" => {
                    assert!(body.contains("Overdue tasks"));
                    assert!(body.contains("Playbooks: SLA and measured effect"));
                }
                "/app/csm" => {
                    assert!(body.contains("Task inbox"));
                    if *role == "csm" {
                        // Done from the inbox, with an outcome: back to the inbox, without it.
                        assert!(body.contains("Walk the admin through reports"), "{body}");
                        let at = b.submit(
                            &page,
                            "document.getElementById('outcome-t-web').value = 'Shown the reports'; \
                             document.getElementById('outcome-t-web').form.submit(); true",
                        );
                        assert_eq!(at, "/app/csm");
                        let after = b.text(&page);
                        assert!(!after.contains("Walk the admin through reports"), "{after}");
                        b.screenshot(&page, "csm-csm-done");
                    }
                    if *role == "csm" {
                        // Their book, as many accounts as the API gives the owner's filter.
                        let shown = b.eval(
                            &page,
                            "document.querySelector('[data-testid=accounts]').textContent",
                        );
                        let (_, owned) = common::get(
                            &addr,
                            &format!("/api/v1/accounts?owner={csm}&limit=1"),
                            secrets["admin_token"].as_str().unwrap(),
                        );
                        assert_eq!(
                            shown.as_str().unwrap().parse::<u64>().unwrap(),
                            owned["total"].as_u64().unwrap()
                        );
                    }
                }
                "/app/product" => {
                    assert!(body.contains("Adoption"));
                    assert!(body.contains("Journey funnel"));
                    assert!(body.contains("Revenue retention by sign-up cohort"));
                }
                _ => {}
            }
        }
        // Account 360.
        let at = b.open(&page, &format!("{base}/app/accounts/{account}"));
        assert_eq!(at, format!("/app/accounts/{account}"));
        let body = b.text(&page);
        b.screenshot(&page, &format!("{role}-account"));
        for section in [
            "Health over the last year",
            "Pillars",
            "What moves the score",
            "Milestones",
            "Timeline",
            "Contracts",
            "Contacts",
            "Success plan and handoff",
        ] {
            assert!(body.contains(section), "{role}: {section} missing");
        }
        // Personal data only with the permission: the manager has it, the leader not.
        let emails = b
            .eval(
                &page,
                "[...document.querySelectorAll('[data-testid=contacts] td:nth-child(2)')].map(t => t.textContent).join(' ')",
            )
            .as_str()
            .unwrap_or("")
            .to_owned();
        let emails: Vec<&str> = emails.split_whitespace().collect();
        assert!(
            !emails.is_empty(),
            "{role}: the account has contacts with emails"
        );
        let masked = emails.iter().filter(|e| e.starts_with("person-")).count();
        if *role == "manager" {
            assert_eq!(masked, 0, "the manager may see personal data: {emails:?}");
        } else if *role != "admin" {
            assert_eq!(masked, emails.len(), "{role}: {emails:?}");
        }
        // The first Tab reaches the skip link.
        b.send(
            Some(&page),
            "Input.dispatchKeyEvent",
            json!({"type": "keyDown", "key": "Tab", "code": "Tab", "windowsVirtualKeyCode": 9}),
        );
        b.send(
            Some(&page),
            "Input.dispatchKeyEvent",
            json!({"type": "keyUp", "key": "Tab", "code": "Tab", "windowsVirtualKeyCode": 9}),
        );
        let focused = b.eval(&page, "document.activeElement.textContent");
        assert_eq!(focused, json!("Skip to content"), "{role}");
        let form = b.eval(&page, "!!document.querySelector('[data-testid=plan-form]')");
        let may_edit = ["admin", "manager", "csm"].contains(role);
        assert_eq!(form, json!(may_edit), "{role}");
        if *role == "csm" {
            let at = b.submit(
                &page,
                "document.getElementById('goals').value = 'Month-end close in 3 days'; \
                 document.getElementById('handoff').value = 'Bought for the ERP integration'; \
                 document.querySelector('[data-testid=plan-form]').submit(); true",
            );
            assert_eq!(at, format!("/app/accounts/{account}"));
            let body = b.text(&page);
            assert!(body.contains("Success plan saved."), "{body}");
            // The form shows what was saved, and who saved it.
            assert_eq!(
                b.eval(&page, "document.getElementById('goals').value"),
                json!("Month-end close in 3 days")
            );
            assert!(body.contains(&format!("Saved by {csm}")), "{body}");
            b.screenshot(&page, "csm-account-saved");
        }
    }
}

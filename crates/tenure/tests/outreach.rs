//! Playbook emails and survey requests end to end: a playbook fires in the running server,
//! its emails land in the local mail sink (no SMTP server set), a survey email's own link
//! opens the form, and the answer is stored and scored.

mod common;

use common::*;
use serde_json::Value;

/// Every email in the sink, as text.
fn emails(dir: &std::path::Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<(String, String)> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read_to_string(e.path()).unwrap(),
            )
        })
        .collect();
    out.sort();
    out.into_iter().map(|(_, t)| t).collect()
}

const PLAYBOOK: &str = r#"
[playbooks.renewal_check]
description = "Every account renewing within two years: a CSAT survey to its primary contact, a note to its CSM."
owner = "Customer insights"
trigger = { kind = "renewal_within", days = 730, bands = [] }
cooldown_days = 365
holdout_percent = 0
actions = [
  { kind = "survey", survey = "csat", to = "primary_contact" },
  { kind = "email", to = "csm", subject = "{{account_name}} renews soon (health {{health}}, {{band}})", template = "activation_help" },
]
"#;

#[test]
fn playbook_emails_and_survey_requests_reach_people_and_answers_come_back() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = tenure(d, &["init", "--data-dir", "d", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let keys: Value = serde_json::from_slice(&out.stdout).unwrap();
    let admin = keys["admin_token"].as_str().unwrap();
    simulate_and_import(d, 30, 6, 3);
    // The default model plus one playbook that fires for nearly every account.
    let model = d.join("d/tenure.toml");
    let mut toml = std::fs::read_to_string(&model).unwrap();
    toml.push_str(PLAYBOOK);
    std::fs::write(&model, toml).unwrap();
    let out = tenure(d, &["model", "apply", "--data-dir", "d"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // A token without the personal-data permission.
    let out = tenure(
        d,
        &[
            "tokens",
            "create",
            "no-pii",
            "--scope",
            "surveys:read,accounts:read",
            "--json",
            "--data-dir",
            "d",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let masked: Value = serde_json::from_slice(&out.stdout).unwrap();
    let masked = masked["token"].as_str().unwrap().to_owned();

    let (mut server, addr) = Server::start(d, "d");
    send_simulated_events(d, &addr, keys["write_key"].as_str().unwrap());
    // Once the backlog is folded in, the playbook fires; its emails are written to the sink.
    let sink = d.join("d/mail");
    let mut mail = Vec::new();
    for _ in 0..240 {
        mail = emails(&sink);
        let surveys = mail.iter().filter(|m| m.contains("/surveys/")).count();
        let notes = mail.iter().filter(|m| m.contains("renews soon")).count();
        if surveys >= 5 && notes >= 5 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    // The CSM's note: the template and the subject filled in for the account.
    let note = mail
        .iter()
        .find(|m| m.contains("renews soon"))
        .expect("the CSM notes were sent");
    assert!(note.contains("@tenure.example"), "{note}");
    assert!(note.contains("signed up a little while ago"), "{note}");
    assert!(!note.contains("{{"), "{note}");
    // The survey email carries a link of its own; following it opens the form.
    let survey = mail
        .iter()
        .find(|m| m.contains("/surveys/"))
        .expect("the survey requests were sent");
    assert!(
        survey.contains("Subject: One question, ten seconds"),
        "{survey}"
    );
    assert!(
        survey.contains("Overall, how satisfied are you with us?"),
        "{survey}"
    );
    let link = survey
        .split_whitespace()
        .find(|w| w.contains("/surveys/"))
        .unwrap();
    let path = &link[link.find("/surveys/").unwrap()..];
    assert!(
        link.starts_with(&format!("http://{addr}/surveys/")),
        "{link}"
    );
    let (status, form) = request("GET", &addr, path, "text/plain", "", "");
    assert_eq!(status, 200, "{form}");
    assert!(form.contains("<legend>Overall, how satisfied are you with us?</legend>"));
    assert!(form.contains(r#"value="5""#) && !form.contains(r#"value="6""#));
    assert!(form.contains(r#"<label for="comment">"#));
    assert!(!form.contains("<script"), "no script on the form");
    // An answer off the scale is refused with the form again; a good one is stored.
    let form_type = "application/x-www-form-urlencoded";
    let (status, page) = request("POST", &addr, path, form_type, "", "score=9");
    assert_eq!(status, 400);
    assert!(
        page.contains("Please pick one of the numbers from 1 to 5"),
        "{page}"
    );
    let (status, page) = request(
        "POST",
        &addr,
        path,
        form_type,
        "",
        "score=2&comment=reports+are+slow",
    );
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Thank you"));
    let (status, page) = request("GET", &addr, "/surveys/not-a-token", "text/plain", "", "");
    assert_eq!(status, 404);
    assert!(page.contains("not valid"));
    // The requests: one answered, with its score; tokens are never listed.
    let (status, listed) = get(&addr, "/api/v1/surveys/requests", admin);
    assert_eq!(status, 200, "{listed}");
    let csat = &listed["stats"][0];
    assert_eq!(csat["survey"], "csat");
    assert_eq!(csat["answered"], 1);
    assert!(csat["sent"].as_u64().unwrap() >= 5, "{csat}");
    let answered: Vec<&Value> = listed["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| !r["answered_at"].is_null())
        .collect();
    assert_eq!(answered.len(), 1);
    assert_eq!(answered[0]["score"], 2);
    assert!(answered[0].get("token").is_none());
    let (status, _) = get(&addr, "/api/v1/surveys/requests", "tnr_api_nope");
    assert_eq!(status, 401);
    // Without the personal-data permission the same list names nobody: addresses, contact ids
    // and the request ids that end with them are pseudonyms.
    let (status, hidden) = get(&addr, "/api/v1/surveys/requests", &masked);
    assert_eq!(status, 200, "{hidden}");
    let (shown, hidden) = (
        listed["requests"].as_array().unwrap(),
        hidden["requests"].as_array().unwrap(),
    );
    assert_eq!(shown.len(), hidden.len());
    for (s, h) in shown.iter().zip(hidden) {
        assert!(h["to"].as_str().unwrap().starts_with("person-"), "{h}");
        let contact = s["contact"].as_str().unwrap();
        assert!(!h.to_string().contains(contact), "{contact} in {h}");
        assert!(!h.to_string().contains(s["to"].as_str().unwrap()));
        assert_eq!(h["account"], s["account"]);
    }
    // The answer is the contact's survey response, scored at once.
    let account = answered[0]["account"].as_str().unwrap();
    let (status, view) = get(&addr, &format!("/api/v1/accounts/{account}"), admin);
    assert_eq!(status, 200);
    assert_eq!(view["features"]["csat_90d"], 2.0, "{}", view["features"]);
    // Every email in the outbox is delivered (to the sink), none retried.
    let outbox: Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("d/outbox.json")).unwrap()).unwrap();
    let sent: Vec<&Value> = outbox["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["channel"] == "email" && m["status"] == "delivered")
        .collect();
    // Each delivered email is a file; the files seen earlier were all delivered.
    assert!(sent.len() >= mail.len(), "{} {}", sent.len(), mail.len());
    assert!(emails(&sink).len() >= sent.len());
    assert!(sent.iter().all(|m| m["attempts"] == 1));
    server.stop();
}

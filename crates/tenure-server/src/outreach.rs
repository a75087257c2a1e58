//! Playbook emails and survey requests. A treated firing's email and survey actions wait as
//! `Pending` (the engine works under a lock and cannot read the store); the server then reads
//! the accounts' contacts, resolves each action's recipients, fills in the template, and puts
//! one email per recipient in the durable outbox (`outbox.rs`). A survey request also gets a
//! request of its own (`surveys::SurveyRequest`) with a random token: the link in the email,
//! `PUBLIC_URL/surveys/TOKEN`, opens a form whose answer is stored as a survey response of
//! the contact and scored at once.
//!
//! An action with no one to write to (no admin with an email address, an owner that is not an
//! address) is put in the outbox as failed, with the reason, so it is seen and not lost.

use std::collections::HashMap;

use tenure_domain::model::{render_template, Action, Band, SuccessModel, SurveyKind};
use tenure_domain::Contact;
use tenure_engine::day::{self, Micros};
use tenure_engine::{Firing, Plan};

use crate::outbox::{Channel, Message, Outbox, Status};
use crate::surveys::{SurveyRequest, SurveyRequests};

/// Where a server's playbook messages go: the outbox, the survey requests, and the address
/// the survey links point at.
pub struct Outreach {
    pub outbox: std::sync::Arc<Outbox>,
    pub requests: std::sync::Arc<SurveyRequests>,
    /// The server's address as recipients reach it, e.g. `https://cs.example.com`.
    pub public_url: String,
}

/// The contacts of `accounts`, by account, read from the store.
pub async fn contacts_of(
    store: &dyn tenure_store::Store,
    accounts: &std::collections::HashSet<String>,
) -> Result<HashMap<String, Vec<Contact>>, tenure_store::StoreError> {
    let mut out: HashMap<String, Vec<Contact>> = HashMap::new();
    let mut after: Option<String> = None;
    loop {
        let page = store
            .list(tenure_domain::RecordKind::Contact, after.as_deref(), 5000)
            .await?;
        let Some(last) = page.last() else { break };
        after = Some(last.external_id().to_owned());
        let n = page.len();
        for r in page {
            if let tenure_domain::Record::Contact(c) = r {
                if accounts.contains(c.account.as_str()) {
                    out.entry(c.account.as_str().to_owned())
                        .or_default()
                        .push(c);
                }
            }
        }
        if n < 5000 {
            break;
        }
    }
    Ok(out)
}

/// An email or survey action of a treated firing, waiting for its recipients.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    /// `PLAYBOOK-ACCOUNT-YYYYMMDD-N`: the firing's day and the action's place.
    pub id: String,
    pub playbook: String,
    pub account: String,
    pub account_name: Option<String>,
    /// The account owner (the CSM).
    pub owner: Option<String>,
    pub action: Action,
    pub reason: String,
    pub score: f64,
    pub band: Band,
    pub tier: String,
    pub segment: String,
    pub at: Micros,
}

/// The email and survey actions of a firing; none when it is held out.
pub fn pending_for(
    plan: &Plan,
    firing: &Firing,
    account_name: Option<&str>,
    owner: Option<&str>,
) -> Vec<Pending> {
    let Some((playbook, spec)) = crate::playbooks::acted_on(plan, firing) else {
        return Vec::new();
    };
    let date = day::date_of(day::day_of(firing.at)).format("%Y%m%d");
    let name_of = |names: Vec<&str>, i: u16| names.get(i as usize).map_or("", |n| n).to_owned();
    spec.actions
        .iter()
        .enumerate()
        .filter(|(_, a)| matches!(a, Action::Email { .. } | Action::Survey { .. }))
        .map(|(k, a)| Pending {
            id: format!("{}-{}-{date}-{k}", playbook.name, firing.account),
            playbook: playbook.name.clone(),
            account: firing.account.clone(),
            account_name: account_name.map(str::to_owned),
            owner: owner.map(str::to_owned),
            action: a.clone(),
            reason: firing.reason.clone(),
            score: firing.score,
            band: firing.band,
            tier: name_of(
                plan.model.tiers.iter().map(|t| t.name.as_str()).collect(),
                firing.tier,
            ),
            segment: name_of(
                plan.model
                    .segments
                    .iter()
                    .map(|s| s.rule.name.as_str())
                    .collect(),
                firing.segment,
            ),
            at: firing.at,
        })
        .collect()
}

/// One person an action writes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    /// The contact's id (none for the CSM).
    pub contact: Option<String>,
    pub name: Option<String>,
    pub address: String,
}

impl Recipient {
    /// `Name <address>`, or the address alone.
    pub fn mailbox(&self) -> String {
        match &self.name {
            Some(n) if !n.trim().is_empty() => {
                let n = n.replace(['"', '\\', '\r', '\n'], " ");
                format!("\"{}\" <{}>", n.trim(), self.address)
            }
            _ => self.address.clone(),
        }
    }
}

/// Whom `to` (`tenure_domain::model::RECIPIENTS`) names among an account's contacts (those
/// with an email address) and its owner.
pub fn recipients(to: &str, owner: Option<&str>, contacts: &[Contact]) -> Vec<Recipient> {
    let reachable = |c: &&Contact| c.email.as_deref().is_some_and(|e| e.contains('@'));
    let of = |c: &Contact| Recipient {
        contact: Some(c.id.as_str().to_owned()),
        name: c.name.clone(),
        address: c.email.clone().unwrap_or_default(),
    };
    let mut with_address: Vec<&Contact> = contacts.iter().filter(reachable).collect();
    // Earliest created first (unknown last), then by id: the primary contact is the first.
    with_address.sort_by(|a, b| {
        (a.created_at.is_none(), a.created_at, a.id.as_str()).cmp(&(
            b.created_at.is_none(),
            b.created_at,
            b.id.as_str(),
        ))
    });
    match to {
        "account_admins" => with_address
            .into_iter()
            .filter(|c| c.is_admin)
            .map(of)
            .collect(),
        "primary_contact" => with_address
            .iter()
            .find(|c| c.is_admin)
            .or(with_address.first())
            .map(|c| of(c))
            .into_iter()
            .collect(),
        "csm" => owner
            .filter(|o| o.contains('@'))
            .map(|o| Recipient {
                contact: None,
                name: None,
                address: o.to_owned(),
            })
            .into_iter()
            .collect(),
        _ => with_address.into_iter().map(of).collect(),
    }
}

/// The one question of each survey, and its scale.
pub fn question(kind: SurveyKind) -> (&'static str, u8, u8, &'static str, &'static str) {
    match kind {
        SurveyKind::Nps => (
            "How likely is it that you would recommend us to a friend or colleague?",
            0,
            10,
            "not at all likely",
            "extremely likely",
        ),
        SurveyKind::Csat => (
            "Overall, how satisfied are you with us?",
            1,
            5,
            "very dissatisfied",
            "very satisfied",
        ),
        SurveyKind::Ces => (
            "How easy was it to get done what you needed?",
            1,
            7,
            "very difficult",
            "very easy",
        ),
    }
}

/// What `prepare` makes: the outbox's messages and the survey requests behind them.
#[derive(Debug, Default)]
pub struct Prepared {
    pub messages: Vec<Message>,
    pub requests: Vec<SurveyRequest>,
}

/// Resolves and renders the pending actions: one email per recipient (failed at once, with
/// the reason, when there is no one to write to), and a survey request per survey recipient
/// whose token is `token(request id)` (a request made before keeps its token, so the same
/// firing always makes the same email). `contacts` holds each account's contacts.
pub fn prepare(
    model: &SuccessModel,
    pending: &[Pending],
    contacts: &HashMap<String, Vec<Contact>>,
    public_url: &str,
    token: &mut dyn FnMut(&str) -> String,
) -> Prepared {
    let mut out = Prepared::default();
    for p in pending {
        let (to, subject, body) = match &p.action {
            Action::Email {
                to,
                subject,
                template,
            } => (
                to.as_str(),
                subject.clone(),
                model
                    .templates
                    .get(template)
                    .map(|t| t.body.clone())
                    .unwrap_or_default(),
            ),
            Action::Survey { to, .. } => (to.as_str(), String::new(), String::new()),
            _ => continue,
        };
        let people = recipients(
            to,
            p.owner.as_deref(),
            contacts.get(&p.account).map_or(&[], Vec::as_slice),
        );
        let message = |id: String, to: String, subject: String, body: String| Message {
            to,
            subject,
            body,
            ..Message::new(id, Channel::Email, p.at)
        };
        if people.is_empty() {
            let mut m = message(p.id.clone(), String::new(), subject, body);
            m.status = Status::Failed;
            m.last_error = Some(match to {
                "csm" => format!(
                    "no recipient: the owner of account {} is not an email address ({})",
                    p.account,
                    p.owner.as_deref().unwrap_or("none")
                ),
                _ => format!(
                    "no recipient: account {} has no {} with an email address",
                    p.account,
                    match to {
                        "account_admins" | "primary_contact" => "admin or other contact",
                        _ => "contact",
                    }
                ),
            });
            out.messages.push(m);
            continue;
        }
        for r in people {
            let id = format!("{}-{}", p.id, r.contact.as_deref().unwrap_or("csm"));
            let fields = |f: &str| -> String {
                match f {
                    "account_name" => p.account_name.clone().unwrap_or_else(|| p.account.clone()),
                    "contact_name" => r.name.clone().unwrap_or_else(|| "there".to_owned()),
                    "csm" => p
                        .owner
                        .clone()
                        .unwrap_or_else(|| "your customer success manager".to_owned()),
                    "health" => format!("{:.0}", p.score),
                    "band" => p.band.name().to_owned(),
                    "reason" => p.reason.clone(),
                    "playbook" => p.playbook.clone(),
                    "tier" => p.tier.clone(),
                    "segment" => p.segment.clone(),
                    _ => String::new(),
                }
            };
            match &p.action {
                Action::Survey { survey, .. } => {
                    let t = token(&id);
                    let (q, lo, hi, low, high) = question(*survey);
                    let link = format!("{}/surveys/{t}", public_url.trim_end_matches('/'));
                    let body = format!(
                        "Hello {},\n\nOne question, ten seconds:\n\n{q}\n({lo} = {low}, {hi} = {high})\n\nAnswer here: {link}\n\nYour answer goes straight to the team that looks after {}.\n",
                        fields("contact_name"),
                        fields("account_name"),
                    );
                    out.requests.push(SurveyRequest {
                        id: id.clone(),
                        token: t,
                        account: p.account.clone(),
                        contact: r.contact.clone(),
                        to: r.address.clone(),
                        survey: *survey,
                        playbook: p.playbook.clone(),
                        sent_at: p.at,
                        answered_at: None,
                        score: None,
                    });
                    out.messages.push(message(
                        id,
                        r.mailbox(),
                        "One question, ten seconds".to_owned(),
                        body,
                    ));
                }
                _ => out.messages.push(message(
                    id,
                    r.mailbox(),
                    render_template(&subject, fields),
                    render_template(&body, fields),
                )),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use tenure_domain::{AccountId, ContactId};

    fn contact(id: &str, email: Option<&str>, admin: bool, created: Option<&str>) -> Contact {
        Contact {
            id: ContactId::parse(id).unwrap(),
            account: AccountId::parse("acme").unwrap(),
            email: email.map(str::to_owned),
            name: Some(format!("Person {id}")),
            title: None,
            is_admin: admin,
            created_at: created.map(|c| c.parse().unwrap()),
        }
    }

    fn pending(action: Action) -> Pending {
        Pending {
            id: "activation_rescue-acme-20261120-1".into(),
            playbook: "activation_rescue".into(),
            account: "acme".into(),
            account_name: Some("Acme Ltd".into()),
            owner: Some("csm-h1@tenure.example".into()),
            action,
            reason: "activated not reached 14 days after sign-up".into(),
            score: 41.6,
            band: Band::Red,
            tier: "high_touch".into(),
            segment: "smb".into(),
            at: 1_000,
        }
    }

    #[test]
    fn recipients_follow_the_action_s_to() {
        let contacts = [
            contact(
                "c3",
                Some("c3@acme.example"),
                true,
                Some("2025-03-01T00:00:00Z"),
            ),
            contact(
                "c1",
                Some("c1@acme.example"),
                false,
                Some("2025-01-01T00:00:00Z"),
            ),
            contact("c2", None, true, Some("2024-01-01T00:00:00Z")),
            contact("c4", Some("c4@acme.example"), true, None),
        ];
        let ids = |to: &str, owner: Option<&str>| -> Vec<String> {
            recipients(to, owner, &contacts)
                .into_iter()
                .map(|r| r.contact.unwrap_or(r.address))
                .collect()
        };
        // c2 has no address; admins by creation, unknown last.
        assert_eq!(ids("account_admins", None), ["c3", "c4"]);
        assert_eq!(ids("primary_contact", None), ["c3"]);
        assert_eq!(ids("all_contacts", None), ["c1", "c3", "c4"]);
        assert_eq!(
            ids("csm", Some("ann@vendor.example")),
            ["ann@vendor.example"]
        );
        assert!(ids("csm", Some("csm-1")).is_empty());
        // Without admins, the primary contact is the earliest created.
        assert_eq!(
            recipients("primary_contact", None, &contacts[1..2])[0].mailbox(),
            "\"Person c1\" <c1@acme.example>"
        );
    }

    #[test]
    fn emails_are_rendered_per_recipient_and_surveys_get_their_own_links() {
        let model = SuccessModel::default_model();
        let mut contacts = HashMap::new();
        contacts.insert(
            "acme".to_owned(),
            vec![
                contact("c1", Some("c1@acme.example"), true, None),
                contact("c2", Some("c2@acme.example"), false, None),
            ],
        );
        let email = pending(Action::Email {
            to: "account_admins".into(),
            subject: "{{account_name}}: connect your data".into(),
            template: "activation_help".into(),
        });
        let survey = Pending {
            id: "nps_after_first_value-acme-20261120-0".into(),
            ..pending(Action::Survey {
                survey: SurveyKind::Nps,
                to: "all_contacts".into(),
            })
        };
        let csm_less = Pending {
            owner: Some("csm-7".into()),
            ..pending(Action::Email {
                to: "csm".into(),
                subject: "x".into(),
                template: "activation_help".into(),
            })
        };
        let mut n = 0;
        let out = prepare(
            &model,
            &[email, survey, csm_less],
            &contacts,
            "https://cs.vendor.example/",
            &mut |_| {
                n += 1;
                format!("t{n}")
            },
        );
        let ids: Vec<&str> = out.messages.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "activation_rescue-acme-20261120-1-c1",
                "nps_after_first_value-acme-20261120-0-c1",
                "nps_after_first_value-acme-20261120-0-c2",
                "activation_rescue-acme-20261120-1",
            ]
        );
        let m = &out.messages[0];
        assert_eq!(m.to, "\"Person c1\" <c1@acme.example>");
        assert_eq!(m.subject, "Acme Ltd: connect your data");
        assert!(m.body.contains("Hello Person c1,"), "{}", m.body);
        assert!(m.body.contains("Acme Ltd signed up"), "{}", m.body);
        assert!(
            m.body.contains("csm-h1@tenure.example will help"),
            "{}",
            m.body
        );
        assert!(!m.body.contains("{{"), "{}", m.body);
        let s = &out.messages[2];
        assert!(
            s.body.contains("https://cs.vendor.example/surveys/t2"),
            "{}",
            s.body
        );
        assert!(s
            .body
            .contains("(0 = not at all likely, 10 = extremely likely)"));
        assert_eq!(out.requests.len(), 2);
        assert_eq!(
            (
                out.requests[1].token.as_str(),
                out.requests[1].contact.as_deref()
            ),
            ("t2", Some("c2"))
        );
        let failed = &out.messages[3];
        assert_eq!(failed.status, Status::Failed);
        assert!(
            failed
                .last_error
                .as_deref()
                .unwrap()
                .contains("owner of account acme is not an email address (csm-7)"),
            "{failed:?}"
        );
    }
}

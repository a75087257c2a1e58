//! The store conformance suite: every case runs against SQLite and against PostgreSQL, and
//! both must behave identically. PostgreSQL cases need `TENURE_TEST_POSTGRES_URL` (an admin
//! URL); each case creates and drops its own database.

use std::collections::HashSet;

use tenure_domain::model::{ActivityKind, Priority, Role};
use tenure_domain::time::{parse_date, parse_timestamp};
use tenure_domain::*;
use tenure_store::{
    secret, ApplyOutcome, AuditEntry, Book, Credential, CredentialKind, PlanDocument, Record,
    RecordKind, StoreLocation, UpsertOutcome, User,
};

fn at(s: &str) -> Timestamp {
    parse_timestamp(s).unwrap()
}

/// One record of every kind, using every optional field and awkward values (offsets,
/// sub-second times, unicode, negative money, currencies without decimals).
fn samples() -> Vec<Record> {
    let acme = AccountId::parse("acme").unwrap();
    vec![
        Record::Account(Account {
            id: acme.clone(),
            name: "Acme Ünïcode GmbH — “quoted” 'single'".into(),
            plan: Some("growth".into()),
            industry: Some("manufacturing".into()),
            region: Some("emea".into()),
            country: Some("DE".into()),
            size_band: Some("201-1000".into()),
            owner: Some(UserId::parse("csm@example.com").unwrap()),
            parent: Some(AccountId::parse("acme-holding").unwrap()),
            signed_up_at: Some(at("2025-01-15T09:30:00.123456+05:30")),
            executive_sponsor: None,
        }),
        Record::Contact(Contact {
            id: ContactId::parse("u-1").unwrap(),
            account: acme.clone(),
            email: Some("ada@acme.example".into()),
            name: Some("Ada".into()),
            title: None,
            is_admin: true,
            created_at: Some(at("2025-01-15T10:00:00Z")),
        }),
        Record::Subscription(Subscription {
            id: SubscriptionId::parse("sub-1").unwrap(),
            account: acme.clone(),
            plan: "growth".into(),
            seats: 25,
            amount: Money::new(1_250_000, Currency::parse("JPY").unwrap()),
            interval: BillingInterval::Month,
            start: parse_date("2025-01-15").unwrap(),
            end: Some(parse_date("2026-01-14").unwrap()),
            term_months: 12,
            status: SubscriptionStatus::PastDue,
            auto_renew: false,
        }),
        Record::SubscriptionChange(SubscriptionChange {
            id: SubscriptionChangeId::parse("chg-1").unwrap(),
            subscription: SubscriptionId::parse("sub-1").unwrap(),
            account: acme.clone(),
            kind: ChangeKind::Contraction,
            effective: parse_date("2025-07-01").unwrap(),
            arr_delta: Money::new(-120_050, Currency::USD),
            seats_delta: -3,
            reason: Some("team shrank".into()),
        }),
        Record::Ticket(Ticket {
            id: TicketId::parse("T-100").unwrap(),
            account: acme.clone(),
            contact: Some(ContactId::parse("u-1").unwrap()),
            subject: Some("Export fails".into()),
            opened_at: at("2025-03-01T08:00:00-08:00"),
            resolved_at: Some(at("2025-03-02T08:00:00-08:00")),
            priority: TicketPriority::Urgent,
            status: TicketStatus::Solved,
            csat: Some(4),
            category: None,
        }),
        Record::SurveyResponse(SurveyResponse {
            id: SurveyResponseId::parse("nps-1").unwrap(),
            account: acme.clone(),
            contact: None,
            responded_at: at("2025-04-01T12:00:00Z"),
            score: SurveyScore::Nps(0),
            comment: Some("Too slow;\nnew line, tab\t and emoji 🚀".into()),
        }),
        Record::Activity(CsmActivity {
            id: ActivityId::parse("act-1").unwrap(),
            account: acme.clone(),
            kind: ActivityKind::ExecutiveSponsorMeeting,
            occurred_at: at("2025-05-05T15:00:00+02:00"),
            csm: Some(UserId::parse("csm@example.com").unwrap()),
            contact: None,
            responded_at: None,
            attended: Some(false),
            notes: None,
        }),
        Record::Release(Release {
            id: ReleaseId::parse("r-2025.6").unwrap(),
            name: "June release".into(),
            released_at: at("2025-06-01T00:00:00Z"),
            features: vec!["reporting".into(), "automation".into()],
            notes: Some("faster exports".into()),
        }),
        Record::Task(Task {
            id: TaskId::parse("task-1").unwrap(),
            account: acme,
            playbook: Some("activation_rescue".into()),
            title: "Call the admin".into(),
            role: Role::Csm,
            assignee: None,
            priority: Priority::Critical,
            status: TaskStatus::Snoozed,
            created_at: at("2025-06-02T09:00:00Z"),
            due_at: Some(at("2025-06-03T09:00:00Z")),
            snoozed_until: Some(at("2025-06-02T18:00:00+01:00")),
            completed_at: None,
            outcome: None,
        }),
    ]
}

/// The same record with one field changed.
fn modified(record: &Record) -> Record {
    let mut r = record.clone();
    match &mut r {
        Record::Account(a) => a.executive_sponsor = Some("CFO".into()),
        Record::Contact(c) => c.is_admin = false,
        Record::Subscription(s) => s.seats += 5,
        Record::SubscriptionChange(c) => c.reason = None,
        Record::Ticket(t) => t.csat = None,
        Record::SurveyResponse(s) => s.score = SurveyScore::Nps(10),
        Record::Activity(a) => a.attended = None,
        Record::Release(r) => r.features.push("collaboration".into()),
        Record::Task(t) => t.completed_at = Some(at("2025-06-02T10:00:00.5Z")),
    }
    r
}

fn account(id: &str) -> Record {
    Record::Account(Account {
        id: AccountId::parse(id).unwrap(),
        name: format!("Account {id}"),
        plan: None,
        industry: None,
        region: None,
        country: None,
        size_band: None,
        owner: None,
        parent: None,
        signed_up_at: None,
        executive_sponsor: None,
    })
}

mod cases {
    use super::*;

    pub async fn migrations_are_idempotent(location: &StoreLocation) {
        let first = tenure_store::open(location).await.unwrap();
        assert_eq!(first.schema_version().await.unwrap(), 6);
        first.upsert(&account("kept")).await.unwrap();
        drop(first);
        let again = tenure_store::open(location).await.unwrap();
        assert_eq!(again.schema_version().await.unwrap(), 6);
        assert_eq!(
            again.count(RecordKind::Account).await.unwrap(),
            1,
            "reopening keeps data"
        );
        again.ping().await.unwrap();
    }

    pub async fn every_kind_round_trips_and_upserts(location: &StoreLocation) {
        let store = tenure_store::open(location).await.unwrap();
        let samples = samples();
        let kinds: HashSet<RecordKind> = samples.iter().map(Record::kind).collect();
        assert_eq!(kinds.len(), RecordKind::ALL.len(), "a sample of every kind");
        for record in &samples {
            let kind = record.kind();
            let id = record.external_id();
            assert_eq!(store.get(kind, id).await.unwrap(), None);
            assert_eq!(
                store.upsert(record).await.unwrap(),
                UpsertOutcome::Inserted,
                "{kind:?}"
            );
            assert_eq!(
                store.get(kind, id).await.unwrap().as_ref(),
                Some(record),
                "{kind:?} round trip"
            );
            assert_eq!(
                store.upsert(record).await.unwrap(),
                UpsertOutcome::Unchanged,
                "{kind:?} re-upsert"
            );
            let changed = modified(record);
            assert_ne!(&changed, record);
            assert_eq!(
                store.upsert(&changed).await.unwrap(),
                UpsertOutcome::Updated,
                "{kind:?} change"
            );
            assert_eq!(store.get(kind, id).await.unwrap(), Some(changed.clone()));
            assert_eq!(
                store.upsert(&changed).await.unwrap(),
                UpsertOutcome::Unchanged
            );
            assert_eq!(store.count(kind).await.unwrap(), 1);
        }
    }

    pub async fn batches_report_each_outcome_in_order(location: &StoreLocation) {
        let store = tenure_store::open(location).await.unwrap();
        let a = account("a");
        let mut a2 = a.clone();
        if let Record::Account(x) = &mut a2 {
            x.plan = Some("enterprise".into());
        }
        let outcomes = store
            .upsert_many(&[a.clone(), a2.clone(), account("b"), a2.clone()])
            .await
            .unwrap();
        assert_eq!(
            outcomes,
            [
                UpsertOutcome::Inserted,
                UpsertOutcome::Updated,
                UpsertOutcome::Inserted,
                UpsertOutcome::Unchanged
            ]
        );
        assert_eq!(store.get(RecordKind::Account, "a").await.unwrap(), Some(a2));
        assert_eq!(store.upsert_many(&[]).await.unwrap(), []);
    }

    /// Large mixed batches (split into multi-row statements) report exactly what single
    /// upserts would.
    pub async fn large_mixed_batches_match_single_upserts(location: &StoreLocation) {
        let store = tenure_store::open(location).await.unwrap();
        for i in 0..300 {
            store.upsert(&account(&format!("a{i:04}"))).await.unwrap();
        }
        let contact = |i: usize| {
            Record::Contact(Contact {
                id: ContactId::parse(format!("c{i:04}")).unwrap(),
                account: AccountId::parse("a0000").unwrap(),
                email: None,
                name: Some(format!("Contact {i}")),
                title: None,
                is_admin: false,
                created_at: None,
            })
        };
        let mut batch = Vec::new();
        let mut expected = Vec::new();
        for i in 0..1400 {
            if i % 7 == 3 {
                batch.push(contact(i));
                expected.push(UpsertOutcome::Inserted);
                continue;
            }
            let mut r = account(&format!("a{i:04}"));
            let changed = i < 300 && i % 2 == 0;
            if changed {
                if let Record::Account(a) = &mut r {
                    a.plan = Some("x".into());
                }
            }
            expected.push(match (i < 300, changed) {
                (true, true) => UpsertOutcome::Updated,
                (true, false) => UpsertOutcome::Unchanged,
                _ => UpsertOutcome::Inserted,
            });
            batch.push(r);
        }
        // The same new record twice in one batch: inserted, then unchanged.
        batch.push(account("a1399"));
        expected.push(UpsertOutcome::Unchanged);
        batch.push(account("z-new"));
        expected.push(UpsertOutcome::Inserted);
        batch.push(account("z-new"));
        expected.push(UpsertOutcome::Unchanged);
        let outcomes = store.upsert_many(&batch).await.unwrap();
        assert_eq!(outcomes.len(), expected.len());
        for (i, (got, want)) in outcomes.iter().zip(&expected).enumerate() {
            assert_eq!(got, want, "record {i}: {}", batch[i].external_id());
        }
        assert_eq!(store.count(RecordKind::Contact).await.unwrap(), 200);
        // The batch's 1,200 accounts, the pre-inserted ones it skipped, and `z-new`.
        let skipped = (0..300).filter(|i| i % 7 == 3).count() as u64;
        assert_eq!(
            store.count(RecordKind::Account).await.unwrap(),
            1200 + skipped + 1
        );
        assert_eq!(
            store.get(RecordKind::Account, "a0002").await.unwrap(),
            Some(batch[2].clone())
        );
    }

    pub async fn listing_is_bytewise_and_pages_by_key(location: &StoreLocation) {
        let store = tenure_store::open(location).await.unwrap();
        for id in ["b", "a", "B", "é", "a10", "a9", "Z"] {
            store.upsert(&account(id)).await.unwrap();
        }
        let ids = |records: Vec<Record>| {
            records
                .iter()
                .map(|r| r.external_id().to_owned())
                .collect::<Vec<_>>()
        };
        let all = ids(store.list(RecordKind::Account, None, 100).await.unwrap());
        assert_eq!(all, ["B", "Z", "a", "a10", "a9", "b", "é"]);
        let page1 = ids(store.list(RecordKind::Account, None, 3).await.unwrap());
        let page2 = ids(store.list(RecordKind::Account, Some("a"), 3).await.unwrap());
        let page3 = ids(store.list(RecordKind::Account, Some("b"), 3).await.unwrap());
        assert_eq!(page1, ["B", "Z", "a"]);
        assert_eq!(page2, ["a10", "a9", "b"]);
        assert_eq!(page3, ["é"]);
        assert!(store
            .list(RecordKind::Account, Some("é"), 3)
            .await
            .unwrap()
            .is_empty());
        assert!(store
            .list(RecordKind::Ticket, None, 3)
            .await
            .unwrap()
            .is_empty());
    }

    pub async fn deletes_remove_one_record(location: &StoreLocation) {
        let store = tenure_store::open(location).await.unwrap();
        store.upsert(&account("gone")).await.unwrap();
        store.upsert(&account("stays")).await.unwrap();
        assert!(store.delete(RecordKind::Account, "gone").await.unwrap());
        assert!(!store.delete(RecordKind::Account, "gone").await.unwrap());
        assert_eq!(store.get(RecordKind::Account, "gone").await.unwrap(), None);
        assert_eq!(store.count(RecordKind::Account).await.unwrap(), 1);
        // Re-creating a deleted id starts a new record.
        assert_eq!(
            store.upsert(&account("gone")).await.unwrap(),
            UpsertOutcome::Inserted
        );
    }

    pub async fn model_history_keeps_every_application(location: &StoreLocation) {
        let store = tenure_store::open(location).await.unwrap();
        assert_eq!(store.current_model().await.unwrap(), None);
        let v1 = ModelVersion::parse("0123456789abcdef").unwrap();
        let v2 = ModelVersion::parse("fedcba9876543210").unwrap();
        let t = |h: u32| at(&format!("2026-01-01T{h:02}:00:00+01:00"));
        assert_eq!(
            store
                .apply_model(&v1, "# one", "{}", t(1), Some("admin"))
                .await
                .unwrap(),
            ApplyOutcome::Applied { new_version: true }
        );
        assert_eq!(
            store
                .apply_model(&v1, "# one", "{}", t(2), None)
                .await
                .unwrap(),
            ApplyOutcome::AlreadyCurrent
        );
        assert_eq!(
            store
                .apply_model(&v2, "# two", "{\"x\":1}", t(3), None)
                .await
                .unwrap(),
            ApplyOutcome::Applied { new_version: true }
        );
        assert_eq!(
            store
                .apply_model(&v1, "# one", "{}", t(4), None)
                .await
                .unwrap(),
            ApplyOutcome::Applied { new_version: false }
        );
        let history = store.model_history().await.unwrap();
        let versions: Vec<&ModelVersion> = history.iter().map(|a| &a.version).collect();
        assert_eq!(versions, [&v1, &v2, &v1]);
        assert_eq!(history[0].applied_by.as_deref(), Some("admin"));
        assert_eq!(history[2].applied_at, t(4));
        assert!(history.windows(2).all(|w| w[0].seq < w[1].seq));
        let current = store.current_model().await.unwrap().unwrap();
        assert_eq!(current.version, v1);
        assert_eq!(
            current.first_applied_at,
            t(1),
            "first application time is kept"
        );
        let two = store.model_version(&v2).await.unwrap().unwrap();
        assert_eq!(
            (two.source.as_str(), two.model_json.as_str()),
            ("# two", "{\"x\":1}")
        );
        let unknown = ModelVersion::parse("0000000000000000").unwrap();
        assert_eq!(store.model_version(&unknown).await.unwrap(), None);
    }

    pub async fn credentials_are_found_by_hash_and_revoked(location: &StoreLocation) {
        let store = tenure_store::open(location).await.unwrap();
        let made = secret::generate(CredentialKind::WriteKey).unwrap();
        let credential = Credential {
            id: made.id.clone(),
            kind: CredentialKind::WriteKey,
            name: "web app".into(),
            scopes: vec!["ingest".into()],
            secret_hash: made.hash.clone(),
            created_at: at("2026-01-01T00:00:00Z"),
            revoked_at: None,
        };
        store.insert_credential(&credential).await.unwrap();
        assert!(
            store.insert_credential(&credential).await.is_err(),
            "ids and hashes are unique"
        );
        assert_eq!(
            store
                .credential_by_hash(&secret::hash(&made.secret))
                .await
                .unwrap(),
            Some(credential.clone())
        );
        assert_eq!(
            store
                .credential_by_hash(&secret::hash("tnr_wk_wrong"))
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            store.credential_by_hash(&made.secret).await.unwrap(),
            None,
            "the secret itself is not stored"
        );
        let when = at("2026-02-01T00:00:00Z");
        assert!(store.revoke_credential(&made.id, when).await.unwrap());
        assert!(!store.revoke_credential(&made.id, when).await.unwrap());
        let all = store.credentials().await.unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].revoked_at, Some(when));
    }

    pub async fn records_are_found_by_account_and_plans_save_by_revision(location: &StoreLocation) {
        let store = tenure_store::open(location).await.unwrap();
        let all = samples();
        store.upsert_many(&all).await.unwrap();
        for kind in RecordKind::ALL {
            let found = store.of_account(kind, "acme", 100).await.unwrap();
            let expected: Vec<&Record> = all
                .iter()
                .filter(|r| {
                    r.kind() == kind && kind != RecordKind::Account && r.account() == Some("acme")
                })
                .collect();
            assert_eq!(found.iter().collect::<Vec<_>>(), expected, "{kind:?}");
            assert!(store
                .of_account(kind, "someone-else", 100)
                .await
                .unwrap()
                .is_empty());
        }
        // Newest first, by the kind's own time, and the limit keeps the newest.
        let ticket = all
            .iter()
            .find_map(|r| match r {
                Record::Ticket(t) => Some(t.clone()),
                _ => None,
            })
            .unwrap();
        let dated = |id: &str, at: &str| {
            Record::Ticket(Ticket {
                id: TicketId::parse(id).unwrap(),
                opened_at: self::at(at),
                ..ticket.clone()
            })
        };
        store
            .upsert_many(&[
                dated("t-a", "2026-05-01T00:00:00Z"),
                dated("t-b", "2026-03-01T00:00:00Z"),
                dated("t-c", "2026-04-01T00:00:00Z"),
            ])
            .await
            .unwrap();
        let newest: Vec<String> = store
            .of_account(RecordKind::Ticket, "acme", 2)
            .await
            .unwrap()
            .iter()
            .map(|r| r.external_id().to_owned())
            .collect();
        assert_eq!(newest, ["t-a", "t-c"]);
        assert_eq!(store.success_plan("acme").await.unwrap(), None);
        let doc = PlanDocument {
            goals: vec!["Close the books in 3 days — “fast”".into()],
            success_criteria: vec!["Month-end close under 72 h".into()],
            stakeholders: vec!["Ada (CFO), sponsor".into()],
            risks: vec![],
            handoff: "Bought for the ERP integration.\nPromised SSO by Q3.".into(),
        };
        let when = at("2026-03-01T10:00:00+01:00");
        assert!(store
            .put_success_plan("acme", &doc, "ann@vendor.example", when, 0)
            .await
            .unwrap());
        assert!(
            !store
                .put_success_plan("acme", &doc, "bob@vendor.example", when, 0)
                .await
                .unwrap(),
            "a second first save loses"
        );
        let saved = store.success_plan("acme").await.unwrap().unwrap();
        assert_eq!(saved.document, doc);
        assert_eq!(saved.revision, 1);
        assert_eq!(saved.updated_by, "ann@vendor.example");
        assert_eq!(saved.updated_at, when);
        let edited = PlanDocument {
            risks: vec!["Champion leaving".into()],
            ..doc
        };
        assert!(!store
            .put_success_plan("acme", &edited, "bob@vendor.example", when, 2)
            .await
            .unwrap());
        assert!(store
            .put_success_plan("acme", &edited, "bob@vendor.example", when, 1)
            .await
            .unwrap());
        let saved = store.success_plan("acme").await.unwrap().unwrap();
        assert_eq!((saved.document, saved.revision), (edited, 2));
    }

    pub async fn users_are_unique_by_email_and_the_audit_log_appends(location: &StoreLocation) {
        let store = tenure_store::open(location).await.unwrap();
        let user = |email: &str, role: Role| User {
            id: format!("user_{email}"),
            email: email.to_owned(),
            name: Some("Ann Example".into()),
            role,
            book: Book::Own,
            pii: false,
            password_hash: secret::password::hash("a long enough password").unwrap(),
            created_at: at("2026-01-01T00:00:00Z"),
            disabled_at: None,
            manager: None,
        };
        let ann = user("ann@vendor.example", Role::Csm);
        assert!(store.insert_user(&ann).await.unwrap());
        assert!(
            !store
                .insert_user(&User {
                    id: "user_other".into(),
                    ..user("ann@vendor.example", Role::Admin)
                })
                .await
                .unwrap(),
            "an email is taken once"
        );
        assert!(store
            .insert_user(&user("bob@vendor.example", Role::Leader))
            .await
            .unwrap());
        let found = store
            .user_by_email("ann@vendor.example")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found, ann);
        assert!(secret::password::verify(
            "a long enough password",
            &found.password_hash
        ));
        assert_eq!(store.user_by_email("nobody@x.example").await.unwrap(), None);
        let when = at("2026-02-01T00:00:00Z");
        assert!(store
            .disable_user("ann@vendor.example", when)
            .await
            .unwrap());
        assert!(!store
            .disable_user("ann@vendor.example", when)
            .await
            .unwrap());
        assert!(store
            .set_password_hash("bob@vendor.example", "$argon2id$new")
            .await
            .unwrap());
        let all = store.users().await.unwrap();
        assert_eq!(
            all.iter()
                .map(|u| (u.email.as_str(), u.role, u.disabled_at))
                .collect::<Vec<_>>(),
            [
                ("ann@vendor.example", Role::Csm, Some(when)),
                ("bob@vendor.example", Role::Leader, None)
            ]
        );
        assert_eq!(all[1].password_hash, "$argon2id$new");
        // Teams: whom each user reports to.
        assert!(store
            .set_manager("ann@vendor.example", Some("bob@vendor.example"))
            .await
            .unwrap());
        assert!(!store
            .set_manager("nobody@vendor.example", Some("bob@vendor.example"))
            .await
            .unwrap());
        let reports = store.reports_of("bob@vendor.example").await.unwrap();
        assert_eq!(
            reports.iter().map(|u| u.email.as_str()).collect::<Vec<_>>(),
            ["ann@vendor.example"]
        );
        assert_eq!(reports[0].manager.as_deref(), Some("bob@vendor.example"));
        assert!(store.set_manager("ann@vendor.example", None).await.unwrap());
        assert!(store
            .reports_of("bob@vendor.example")
            .await
            .unwrap()
            .is_empty());
        // The audit log: places in order, entries as written.
        let entry = |action: &str, outcome: &str| AuditEntry {
            seq: 0,
            at: at("2026-03-01T10:00:00Z"),
            actor: "ann@vendor.example".into(),
            action: action.into(),
            target: Some("acme".into()),
            outcome: outcome.into(),
            detail: serde_json::json!({"ip": "10.0.0.1", "n": 3}),
        };
        let one = store.append_audit(&entry("login", "ok")).await.unwrap();
        let two = store
            .append_audit(&entry("privacy.export", "denied"))
            .await
            .unwrap();
        assert!(two > one);
        let log = store.audit_log(0, 10).await.unwrap();
        assert_eq!(log.len(), 2);
        assert_eq!(
            log[1],
            AuditEntry {
                seq: two,
                ..entry("privacy.export", "denied")
            }
        );
        assert_eq!(store.audit_log(one, 10).await.unwrap().len(), 1);
        assert!(store.audit_log(two, 10).await.unwrap().is_empty());
        // Sessions: found by the hash of their token, ended once.
        let session = tenure_store::Session {
            token_hash: secret::hash("cookie-token"),
            user_email: "bob@vendor.example".into(),
            csrf_token: "csrf".into(),
            created_at: at("2026-03-01T10:00:00Z"),
            expires_at: at("2026-03-01T22:00:00Z"),
        };
        store.insert_session(&session).await.unwrap();
        assert_eq!(
            store.session_by_hash(&session.token_hash).await.unwrap(),
            Some(session.clone())
        );
        assert_eq!(store.session_by_hash("cookie-token").await.unwrap(), None);
        assert!(store.delete_session(&session.token_hash).await.unwrap());
        assert!(!store.delete_session(&session.token_hash).await.unwrap());
        assert_eq!(
            store.session_by_hash(&session.token_hash).await.unwrap(),
            None
        );
    }

    pub async fn concurrent_writers_lose_nothing(location: &StoreLocation) {
        let store = tenure_store::open(location).await.unwrap();
        let mut tasks = Vec::new();
        for w in 0..6 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..25 {
                    let id = format!("w{w}-{i:03}");
                    store.upsert(&account(&id)).await.unwrap();
                }
                let batch: Vec<Record> = (0..25)
                    .map(|i| account(&format!("w{w}-batch-{i:03}")))
                    .collect();
                store.upsert_many(&batch).await.unwrap();
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(store.count(RecordKind::Account).await.unwrap(), 6 * 50);
    }

    pub async fn health_snapshots_upsert_and_read_by_version_and_day(location: &StoreLocation) {
        use std::collections::BTreeMap;
        use tenure_domain::model::{Band, Pillar};
        let store = tenure_store::open(location).await.unwrap();
        let v1 = ModelVersion::parse("0123456789abcdef").unwrap();
        let v2 = ModelVersion::parse("fedcba9876543210").unwrap();
        let snap = |account: &str, v: &ModelVersion, day: &str, score: f64| HealthSnapshot {
            account: AccountId::parse(account).unwrap(),
            day: parse_date(day).unwrap(),
            model_version: v.clone(),
            score,
            band: if score >= 70.0 {
                Band::Green
            } else {
                Band::Red
            },
            confidence: 0.75,
            pillars: BTreeMap::from([
                (Pillar::OutcomeProgress, 61.5),
                (Pillar::RiskIndicators, 12.25),
            ]),
            computed_at: at("2026-01-01T23:59:59.999999Z"),
        };
        // More rows than one statement carries.
        let mut rows: Vec<HealthSnapshot> = (0..1200)
            .map(|i| {
                let day = chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap()
                    + chrono::Days::new(i % 600);
                snap(
                    if i < 600 { "acme" } else { "beta" },
                    &v1,
                    &day.to_string(),
                    (i % 100) as f64,
                )
            })
            .collect();
        rows.push(snap("acme", &v2, "2024-01-02", 80.0));
        assert_eq!(store.put_health_snapshots(&rows).await.unwrap(), 1201);
        // Upsert: the same key replaces.
        store
            .put_health_snapshots(&[snap("acme", &v1, "2024-01-02", 99.0)])
            .await
            .unwrap();
        let all = store.health_history("acme", &v1, None, None).await.unwrap();
        assert_eq!(all.len(), 600);
        assert_eq!(all[1].score, 99.0);
        assert_eq!(all[1].band, Band::Green);
        assert_eq!(all[1].pillars[&Pillar::RiskIndicators], 12.25);
        assert!(all.windows(2).all(|w| w[0].day < w[1].day));
        let some = store
            .health_history(
                "acme",
                &v1,
                Some(parse_date("2024-01-10").unwrap()),
                Some(parse_date("2024-01-19").unwrap()),
            )
            .await
            .unwrap();
        assert_eq!(some.len(), 10);
        let other = store.health_history("acme", &v2, None, None).await.unwrap();
        assert_eq!(other, vec![snap("acme", &v2, "2024-01-02", 80.0)]);
        let versions = store.health_snapshot_versions().await.unwrap();
        assert_eq!(versions.len(), 2);
        assert_eq!(versions[0].1, 1200);
        assert_eq!(store.delete_account_health("beta").await.unwrap(), 600);
        assert_eq!(store.delete_health_snapshots(&v1).await.unwrap(), 600);
        assert!(store
            .health_history("acme", &v1, None, None)
            .await
            .unwrap()
            .is_empty());
    }
}

/// Runs each case once per backend.
macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let dir = tempfile::tempdir().unwrap();
                    let location = tenure_store::StoreLocation::Sqlite(dir.path().join("tenure.db"));
                    super::cases::$case(&location).await;
                }
            )*
        }

        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(admin_url) = tenure_store::testing::postgres_admin_url() else {
                        // Skipped: the test command's summary says the PostgreSQL suite did not run.
                        return;
                    };
                    let db = tenure_store::testing::TestDatabase::create(&admin_url).await.unwrap();
                    let location = tenure_store::StoreLocation::Postgres(db.url().to_owned());
                    super::cases::$case(&location).await;
                }
            )*
        }
    };
}

conformance!(
    migrations_are_idempotent,
    every_kind_round_trips_and_upserts,
    batches_report_each_outcome_in_order,
    large_mixed_batches_match_single_upserts,
    listing_is_bytewise_and_pages_by_key,
    deletes_remove_one_record,
    model_history_keeps_every_application,
    credentials_are_found_by_hash_and_revoked,
    users_are_unique_by_email_and_the_audit_log_appends,
    records_are_found_by_account_and_plans_save_by_revision,
    concurrent_writers_lose_nothing,
    health_snapshots_upsert_and_read_by_version_and_day,
);

//! The engine beside the server: when playbooks start checking after a backlog of old events.

use std::sync::Arc;

use tenure_lake::{EventLog, FileLog};
use tenure_server::EngineService;
use tenure_store::StoreLocation;

/// A tracked event of `account` at `micros`, as the ingestion API logs it.
fn event(account: &str, id: &str, micros: i64) -> Vec<u8> {
    let at = chrono::DateTime::from_timestamp_micros(micros)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    serde_json::json!({
        "write_key": "cred_test",
        "import": true,
        "message": {
            "kind": "track", "message_id": id, "user_id": "u1", "anonymous_id": null,
            "event": "report_shared", "name": null, "group_id": null, "previous_id": null,
            "properties": {}, "traits": {}, "context": {}, "integrations": {},
            "timestamp": at, "original_timestamp": at, "sent_at": at, "received_at": at,
            "account_id": account
        }
    })
    .to_string()
    .into_bytes()
}

/// A store in `dir` with the default model applied.
async fn store_with_default_model(dir: &std::path::Path) -> Arc<dyn tenure_store::Store> {
    let store = tenure_store::open(&StoreLocation::Sqlite(dir.join("tenure.db")))
        .await
        .unwrap();
    let source = tenure_domain::model::DEFAULT_MODEL_TOML;
    let model = tenure_domain::SuccessModel::parse("tenure.toml", source).unwrap();
    store
        .apply_model(
            &model.version(),
            source,
            &serde_json::to_string(&model).unwrap(),
            chrono::Utc::now().fixed_offset(),
            None,
        )
        .await
        .unwrap();
    store
}

#[tokio::test]
async fn playbooks_wait_until_a_backlog_has_been_quiet_for_a_while() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_default_model(dir.path()).await;
    let log = Arc::new(FileLog::open(&dir.path().join("log")).unwrap());
    let now = chrono::Utc::now().timestamp_micros();
    let day = 86_400_000_000;
    let second = 1_000_000;
    // Before any product event (accounts imported ahead of their events): nothing to go on.
    let empty = EngineService::start(
        store.clone(),
        Arc::new(FileLog::open(&dir.path().join("empty")).unwrap()),
        None,
        now,
    )
    .await
    .unwrap();
    empty.catch_up(now + 60 * second);
    assert!(!empty.playbooks_active());
    log.append(&[&event("a", "m1", now - 30 * day)]).unwrap();
    let engine = EngineService::start(store, log.clone(), None, now)
        .await
        .unwrap();
    // The start folded in an old event: playbooks wait.
    assert!(!engine.playbooks_active());
    engine.catch_up(now + 5 * second);
    assert!(!engine.playbooks_active());
    // A bulk send slower than the engine: its next batch arrives after the engine caught up.
    log.append(&[&event("a", "m2", now - 29 * day)]).unwrap();
    engine.catch_up(now + 8 * second);
    assert!(!engine.playbooks_active());
    // Fresh events alone do not end the wait; quiet does.
    log.append(&[&event("b", "m3", now + 9 * second)]).unwrap();
    engine.catch_up(now + 12 * second);
    assert!(!engine.playbooks_active());
    engine.catch_up(now + 8 * second + tenure_server::BACKLOG_QUIET_MICROS);
    assert!(engine.playbooks_active());
    // A later backlog stops them again.
    log.append(&[&event("c", "m4", now - 3 * day)]).unwrap();
    engine.catch_up(now + 20 * second);
    assert!(!engine.playbooks_active());
}

fn account(id: &str, owner: &str) -> tenure_domain::Record {
    tenure_domain::Record::Account(tenure_domain::Account {
        id: tenure_domain::AccountId::parse(id).unwrap(),
        name: format!("Account {id}"),
        plan: None,
        industry: None,
        region: None,
        country: None,
        size_band: None,
        owner: Some(tenure_domain::UserId::parse(owner).unwrap()),
        parent: None,
        signed_up_at: None,
        executive_sponsor: None,
    })
}

#[tokio::test]
async fn the_store_fold_applies_only_the_accounts_whose_records_changed() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_default_model(dir.path()).await;
    let records: Vec<_> = (0..12)
        .map(|i| account(&format!("a-{i:02}"), "ann@vendor.example"))
        .collect();
    store.upsert_many(&records).await.unwrap();
    let now = chrono::Utc::now().timestamp_micros();
    let log = Arc::new(FileLog::open(&dir.path().join("log")).unwrap());
    let engine = EngineService::start(store.clone(), log, None, now)
        .await
        .unwrap();
    assert_eq!(
        engine.summaries().len(),
        12,
        "the start folds everything in"
    );
    // Nothing changed: nothing is applied.
    assert_eq!(engine.reload_records(now).await.unwrap(), 0);
    // One account changes hands: only its records are applied, and the change shows.
    store
        .upsert(&account("a-07", "bob@vendor.example"))
        .await
        .unwrap();
    assert_eq!(engine.reload_records(now).await.unwrap(), 1);
    assert_eq!(
        engine.summary("a-07").unwrap().owner.as_deref(),
        Some("bob@vendor.example")
    );
    assert_eq!(
        engine.summary("a-06").unwrap().owner.as_deref(),
        Some("ann@vendor.example")
    );
    assert_eq!(engine.reload_records(now).await.unwrap(), 0);
}

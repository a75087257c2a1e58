//! The Parquet lake: materialised from the log by day, idempotent, recovered after a crash
//! at any step, compacted without loss, and rewritten without a forgotten user's rows.

use std::collections::BTreeSet;

use arrow_array::{Array, BooleanArray, RecordBatch};
use tenure_ingest::logged::{Duplicate, LogRecord, RejectedMessage};
use tenure_ingest::segment::{parse_request, Endpoint};
use tenure_lake::{table, EventLog, FileLog, Lake};

fn now() -> tenure_domain::Timestamp {
    chrono::DateTime::parse_from_rfc3339("2026-03-10T12:00:00Z").unwrap()
}

/// A `track` from `user` of `account` on day `day` of March 2026.
fn track(user: &str, account: &str, day: u32, event: &str) -> LogRecord {
    let body = serde_json::json!({
        "type": "track", "userId": user, "event": event,
        "messageId": format!("{user}-{day}-{event}"),
        "properties": {"n": day},
        "context": {"groupId": account},
        "timestamp": format!("2026-03-{day:02}T10:00:00Z"),
    });
    let parsed = parse_request(
        Endpoint::Track,
        body.to_string().as_bytes(),
        now(),
        "context.groupId",
    )
    .unwrap();
    LogRecord::message("wk1".into(), false, parsed.accepted[0].clone(), vec![])
}

fn append(log: &FileLog, records: &[LogRecord]) {
    let bytes: Vec<Vec<u8>> = records.iter().map(LogRecord::to_bytes).collect();
    let refs: Vec<&[u8]> = bytes.iter().map(Vec::as_slice).collect();
    log.append(&refs).unwrap();
}

fn sync(lake: &mut Lake, log: &FileLog) -> tenure_lake::SyncStats {
    lake.sync(&|from, limit| log.read(from, limit)).unwrap()
}

/// (offset, user, date) of every row in the lake.
fn rows(lake: &Lake) -> Vec<(u64, String, String)> {
    let mut out = Vec::new();
    for part in lake.parts().unwrap() {
        for b in table::read_file(&part.path).unwrap() {
            let users = table::strings(&b, "user_id").unwrap();
            let offsets = table::offsets(&b).unwrap();
            for i in 0..b.num_rows() {
                out.push((
                    offsets.value(i),
                    users.value(i).to_owned(),
                    part.date.to_string(),
                ));
            }
        }
    }
    out.sort();
    out
}

fn all(b: &RecordBatch) -> BooleanArray {
    BooleanArray::from(vec![true; b.num_rows()])
}

#[test]
fn events_land_by_day_once_and_other_records_are_only_counted() {
    let dir = tempfile::tempdir().unwrap();
    let log = FileLog::open(&dir.path().join("log")).unwrap();
    let mut lake = Lake::open(&dir.path().join("lake")).unwrap();
    append(
        &log,
        &[
            track("u1", "a1", 1, "report_created"),
            track("u2", "a1", 2, "report_created"),
            LogRecord::rejected(
                "wk1".into(),
                false,
                RejectedMessage {
                    code: "unknown_event".into(),
                    message: "…".into(),
                    event: Some("bogus".into()),
                    received_at: now(),
                },
            ),
            LogRecord::duplicate(
                "wk1".into(),
                false,
                Duplicate {
                    message_id: "u1-1-report_created".into(),
                    received_at: now(),
                },
            ),
            track("u1", "a1", 2, "dashboard_viewed"),
        ],
    );
    let stats = sync(&mut lake, &log);
    assert_eq!((stats.records, stats.events, stats.files), (5, 3, 2));
    assert_eq!(
        rows(&lake),
        [
            (0, "u1".into(), "2026-03-01".into()),
            (1, "u2".into(), "2026-03-02".into()),
            (4, "u1".into(), "2026-03-02".into()),
        ]
    );
    // Nothing new: nothing written; the state says where the lake is.
    assert_eq!(sync(&mut lake, &log).files, 0);
    assert_eq!(lake.state().next_offset, 5);
    let q = &lake.state().quality.sources["wk1"];
    assert_eq!(
        (q.accepted, q.duplicates, q.rejected["unknown_event"]),
        (3, 1, 1)
    );
    // Reopening changes nothing.
    drop(lake);
    let lake = Lake::open(&dir.path().join("lake")).unwrap();
    assert_eq!(rows(&lake).len(), 3);
    // Every column holds what the message said.
    let batches = lake.scan(&all).unwrap();
    let b = &batches[0];
    assert_eq!(
        table::strings(b, "event").unwrap().value(0),
        "report_created"
    );
    assert_eq!(table::strings(b, "account_id").unwrap().value(0), "a1");
    assert_eq!(table::strings(b, "type").unwrap().value(0), "track");
    assert_eq!(
        table::strings(b, "properties").unwrap().value(0),
        r#"{"n":1}"#
    );
    assert!(table::strings(b, "anonymous_id").unwrap().is_null(0));
}

#[test]
fn a_crash_before_the_state_is_saved_or_during_compaction_is_recovered() {
    let dir = tempfile::tempdir().unwrap();
    let log = FileLog::open(&dir.path().join("log")).unwrap();
    let lake_dir = dir.path().join("lake");
    let mut lake = Lake::open(&lake_dir).unwrap();
    append(
        &log,
        &[track("u1", "a1", 1, "x"), track("u2", "a1", 1, "x")],
    );
    sync(&mut lake, &log);
    append(&log, &[track("u3", "a1", 1, "x")]);
    sync(&mut lake, &log);
    let parts = lake.parts().unwrap();
    assert_eq!(parts.len(), 2);

    // A compaction that wrote its output but died before removing its inputs.
    let saved = std::fs::read(&parts[0].path).unwrap();
    let second = std::fs::read(&parts[1].path).unwrap();
    lake.compact().unwrap();
    std::fs::write(&parts[0].path, saved).unwrap();
    // A sync that wrote a file but died before saving its state, and a half-written file.
    append(&log, &[track("u4", "a1", 1, "x")]);
    let orphan = lake_dir
        .join("events/date=2026-03-01/part-00000000000000000003-00000000000000000003.parquet");
    std::fs::write(&orphan, second).unwrap();
    std::fs::write(
        lake_dir.join("events/date=2026-03-01/x.parquet.tmp"),
        b"torn",
    )
    .unwrap();
    drop(lake);

    let mut lake = Lake::open(&lake_dir).unwrap();
    assert_eq!(
        lake.parts().unwrap().len(),
        1,
        "{:?}",
        lake.parts().unwrap()
    );
    sync(&mut lake, &log);
    let users: Vec<String> = rows(&lake).into_iter().map(|r| r.1).collect();
    assert_eq!(users, ["u1", "u2", "u3", "u4"]);
}

#[test]
fn compaction_merges_each_days_small_files_without_loss() {
    let dir = tempfile::tempdir().unwrap();
    let log = FileLog::open(&dir.path().join("log")).unwrap();
    let mut lake = Lake::open(&dir.path().join("lake")).unwrap();
    for round in 0..5 {
        let batch: Vec<LogRecord> = (1..=3)
            .map(|day| track(&format!("u{round}"), "a1", day, "x"))
            .collect();
        append(&log, &batch);
        sync(&mut lake, &log);
    }
    let before = rows(&lake);
    assert_eq!(lake.parts().unwrap().len(), 15);
    let stats = lake.compact().unwrap();
    assert_eq!(
        (stats.partitions, stats.files_before, stats.files_after),
        (3, 15, 3)
    );
    assert_eq!(lake.parts().unwrap().len(), 3);
    assert_eq!(rows(&lake), before);
    // Offsets stay in order inside a compacted file.
    for part in lake.parts().unwrap() {
        let offsets: Vec<u64> = table::read_file(&part.path)
            .unwrap()
            .iter()
            .flat_map(|b| table::offsets(b).unwrap().values().to_vec())
            .collect();
        assert!(offsets.windows(2).all(|w| w[0] < w[1]));
    }
    assert_eq!(lake.compact().unwrap().partitions, 0);
}

#[test]
fn removing_rows_rewrites_only_the_files_that_hold_them() {
    let dir = tempfile::tempdir().unwrap();
    let log = FileLog::open(&dir.path().join("log")).unwrap();
    let mut lake = Lake::open(&dir.path().join("lake")).unwrap();
    append(
        &log,
        &[
            track("u1", "a1", 1, "x"),
            track("u2", "a2", 1, "x"),
            track("u1", "a1", 2, "x"),
            track("u3", "a2", 3, "x"),
        ],
    );
    sync(&mut lake, &log);
    let forget: BTreeSet<String> = ["u1".to_owned()].into();
    let select = |b: &RecordBatch| {
        let users = table::strings(b, "user_id").unwrap();
        (0..b.num_rows())
            .map(|i| Some(table::is_any(users, i, &forget)))
            .collect::<BooleanArray>()
    };
    assert_eq!(
        lake.scan(&select)
            .unwrap()
            .iter()
            .map(|b| b.num_rows())
            .sum::<usize>(),
        2
    );
    let stats = lake.remove_rows(&select).unwrap();
    assert_eq!((stats.files_rewritten, stats.rows_removed), (2, 2));
    let users: Vec<String> = rows(&lake).into_iter().map(|r| r.1).collect();
    assert_eq!(users, ["u2", "u3"]);
    // The day that held only u1 is gone.
    assert_eq!(lake.parts().unwrap().len(), 2);
}

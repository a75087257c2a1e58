//! The import format: everything the simulator writes reads back identical, in CSV and in
//! JSONL; bad files and bad rows are reported precisely and never stop the good rows.

use std::collections::BTreeMap;

use tenure_domain::{Record, RecordKind};
use tenure_ingest::{csv_header, csv_row, kind_from_file_name, read_csv, read_jsonl, FileError};
use tenure_sim::{simulate, SimConfig, Sink, TruthAccount, TruthRenewal};

#[derive(Default)]
struct Records(Vec<Record>);

impl Sink for Records {
    type Error = std::convert::Infallible;
    fn record(&mut self, r: &Record) -> Result<(), Self::Error> {
        self.0.push(r.clone());
        Ok(())
    }
    fn events(&mut self, _: &[u8]) -> Result<(), Self::Error> {
        Ok(())
    }
    fn renewal(&mut self, _: &TruthRenewal) -> Result<(), Self::Error> {
        Ok(())
    }
    fn account_truth(&mut self, _: &TruthAccount) -> Result<(), Self::Error> {
        Ok(())
    }
}

fn simulated() -> BTreeMap<RecordKind, Vec<Record>> {
    let mut sink = Records::default();
    simulate(&SimConfig::new(25, 12, 11), &mut sink).unwrap();
    let mut by_kind: BTreeMap<RecordKind, Vec<Record>> = BTreeMap::new();
    for r in sink.0 {
        by_kind.entry(r.kind()).or_default().push(r);
    }
    by_kind
}

fn to_csv(kind: RecordKind, records: &[Record]) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(csv_header(kind)).unwrap();
    for r in records {
        w.write_record(csv_row(r)).unwrap();
    }
    w.into_inner().unwrap()
}

#[test]
fn simulated_records_round_trip_through_csv_and_jsonl() {
    let by_kind = simulated();
    assert!(
        by_kind.len() >= 7,
        "most kinds are simulated: {:?}",
        by_kind.keys()
    );
    for (kind, records) in &by_kind {
        let bytes = to_csv(*kind, records);
        let back: Vec<Record> = read_csv(*kind, "x.csv", bytes.as_slice())
            .unwrap()
            .map(|(row, r)| r.unwrap_or_else(|e| panic!("row {row}: {e:?}")))
            .collect();
        assert_eq!(&back, records, "{kind:?} via CSV");

        let mut jsonl = Vec::new();
        for r in records {
            let obj: serde_json::Map<String, serde_json::Value> = csv_header(*kind)
                .into_iter()
                .zip(csv_row(r))
                .filter(|(_, v)| !v.is_empty())
                .map(|(k, v)| (k.to_owned(), serde_json::Value::String(v)))
                .collect();
            jsonl.extend_from_slice(serde_json::to_string(&obj).unwrap().as_bytes());
            jsonl.push(b'\n');
        }
        let back: Vec<Record> = read_jsonl(*kind, "x.jsonl", jsonl.as_slice())
            .map(|(row, r)| r.unwrap_or_else(|e| panic!("row {row}: {e:?}")))
            .collect();
        assert_eq!(&back, records, "{kind:?} via JSONL");
    }
}

#[test]
fn bad_rows_are_reported_and_good_rows_kept() {
    let csv = "\u{feff}ticket_id,account_id,opened_at,priority,status,csat,subject\n\
               t1,acme,2026-01-02T10:00:00Z,high,open,,\"Export, with comma\nand newline\"\n\
               t2,acme,2026-01-02 10:00,urgent,open,9,\n\
               t3,,2026-01-03T10:00:00+01:00,meh,solved,5,\n\
               t4,acme,2026-01-04T10:00:00Z,low,closed,3,fine\n";
    let rows: Vec<_> = read_csv(RecordKind::Ticket, "tickets.csv", csv.as_bytes())
        .unwrap()
        .collect();
    assert_eq!(rows.len(), 4);
    assert!(rows[0].1.is_ok() && rows[3].1.is_ok());
    // Row numbers are file lines: the quoted newline makes the first record two lines long.
    let e2 = rows[1].1.as_ref().unwrap_err();
    assert_eq!(rows[1].0, 4);
    let cols: Vec<&str> = e2.iter().map(|e| e.column.as_deref().unwrap()).collect();
    assert_eq!(cols, ["opened_at", "csat"]);
    assert!(
        e2[0]
            .to_string()
            .starts_with("tickets.csv:4: column `opened_at`: invalid timestamp `2026-01-02 10:00`"),
        "{}",
        e2[0]
    );
    assert!(e2[1].reason.contains("outside the CSAT scale"));
    let e3 = rows[2].1.as_ref().unwrap_err();
    let cols: Vec<&str> = e3.iter().map(|e| e.column.as_deref().unwrap()).collect();
    assert_eq!(cols, ["account_id", "priority"]);
    assert_eq!(
        e3[1].reason,
        "`meh` is not valid: use low, normal, high or urgent"
    );
}

#[test]
fn bad_headers_reject_the_file_with_a_suggestion() {
    let err = read_csv(
        RecordKind::Account,
        "accounts.csv",
        "account_id,nmae\n".as_bytes(),
    )
    .err()
    .unwrap();
    assert!(matches!(err, FileError::UnknownColumn { .. }));
    assert!(
        err.to_string()
            .contains("unknown column `nmae` for accounts files; did you mean `name`?"),
        "{err}"
    );
    let err = read_csv(
        RecordKind::Account,
        "accounts.csv",
        "account_id,plan\n".as_bytes(),
    )
    .err()
    .unwrap();
    assert_eq!(err.to_string(), "accounts.csv: missing required column `name` for accounts files (required: account_id, name)");
    let err = read_csv(
        RecordKind::Account,
        "accounts.csv",
        "account_id,name,name\n".as_bytes(),
    )
    .err()
    .unwrap();
    assert!(matches!(err, FileError::DuplicateColumn { .. }));
}

#[test]
fn jsonl_rows_fail_alone() {
    let jsonl = "{\"account_id\":\"a\",\"name\":\"A\"}\n\nnot json\n[1]\n{\"account_id\":\"b\",\"name\":\"B\",\"colour\":\"red\"}\n{\"account_id\":\"c\",\"name\":\"C\",\"signed_up_at\":\"2026-01-01T00:00:00Z\"}\n";
    let rows: Vec<_> = read_jsonl(RecordKind::Account, "a.jsonl", jsonl.as_bytes()).collect();
    let lines: Vec<u64> = rows.iter().map(|r| r.0).collect();
    assert_eq!(
        lines,
        [1, 3, 4, 5, 6],
        "blank lines are skipped, numbering is kept"
    );
    assert!(rows[0].1.is_ok() && rows[4].1.is_ok());
    assert!(rows[1].1.as_ref().unwrap_err()[0]
        .reason
        .starts_with("invalid JSON"));
    assert_eq!(
        rows[2].1.as_ref().unwrap_err()[0].reason,
        "expected a JSON object"
    );
    assert_eq!(
        rows[3].1.as_ref().unwrap_err()[0].column.as_deref(),
        Some("colour")
    );
}

#[test]
fn kinds_come_from_file_names() {
    assert_eq!(
        kind_from_file_name("accounts.csv"),
        Some(RecordKind::Account)
    );
    assert_eq!(
        kind_from_file_name("subscription_changes.jsonl"),
        Some(RecordKind::SubscriptionChange)
    );
    assert_eq!(
        kind_from_file_name("Subscription-Changes-2024.csv"),
        Some(RecordKind::SubscriptionChange)
    );
    assert_eq!(
        kind_from_file_name("subscriptions.csv"),
        Some(RecordKind::Subscription)
    );
    assert_eq!(
        kind_from_file_name("surveys_q1.csv"),
        Some(RecordKind::SurveyResponse)
    );
    assert_eq!(kind_from_file_name("events.jsonl"), None);
}

#[test]
fn every_bad_field_is_reported_on_its_own_column() {
    let csv = "response_id,account_id,responded_at,survey,score\n\
               r1,a,2026-01-01T00:00:00Z,nsp,9\n\
               r2,a,2026-01-01T00:00:00Z,nps,11\n";
    let rows: Vec<_> = read_csv(RecordKind::SurveyResponse, "s.csv", csv.as_bytes())
        .unwrap()
        .collect();
    let e1 = rows[0].1.as_ref().unwrap_err();
    assert_eq!(
        (e1.len(), e1[0].column.as_deref()),
        (1, Some("survey")),
        "{e1:?}"
    );
    let e2 = rows[1].1.as_ref().unwrap_err();
    assert_eq!(e2[0].column.as_deref(), Some("score"));

    let csv = "subscription_id,account_id,plan,seats,amount,currency,billing_interval,start_date,status\n\
               s1,a,p,3,-10.00,USD,fortnight,2026-01-01,active\n";
    let rows: Vec<_> = read_csv(RecordKind::Subscription, "s.csv", csv.as_bytes())
        .unwrap()
        .collect();
    let cols: Vec<&str> = rows[0]
        .1
        .as_ref()
        .unwrap_err()
        .iter()
        .map(|e| e.column.as_deref().unwrap())
        .collect();
    assert_eq!(cols, ["billing_interval", "amount"]);

    let csv = "account_id,name\na,Nul\u{0}Co\n";
    let rows: Vec<_> = read_csv(RecordKind::Account, "a.csv", csv.as_bytes())
        .unwrap()
        .collect();
    assert!(rows[0].1.as_ref().unwrap_err()[0].reason.contains("NUL"));

    let jsonl = "\u{feff}{\"account_id\":\"a\",\"name\":\"A\"}\n{\"account_id\":\"b\",\"name\":\"B\",\"nmae\":\"x\"}\n";
    let rows: Vec<_> = read_jsonl(RecordKind::Account, "a.jsonl", jsonl.as_bytes()).collect();
    assert!(
        rows[0].1.is_ok(),
        "a byte-order mark does not cost the first row"
    );
    let e = &rows[1].1.as_ref().unwrap_err()[0];
    assert_eq!(
        e.to_string().split(';').next().unwrap(),
        "a.jsonl:2: column `nmae`: unknown column for accounts files"
    );
    assert!(e.reason.contains("did you mean `name`?"));
}

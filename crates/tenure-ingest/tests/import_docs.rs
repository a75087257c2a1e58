//! docs/import.md stays true: every column of every kind is documented, and every example
//! in it imports without an error.

use tenure_domain::RecordKind;
use tenure_ingest::columns::{columns, file_stem};
use tenure_ingest::{read_csv, read_jsonl, IMPORT_ORDER};

const DOC: &str = include_str!("../../../docs/import.md");

fn section(kind: RecordKind) -> &'static str {
    let marker = format!("— `{}.csv`", file_stem(kind));
    let start = DOC
        .find(&marker)
        .unwrap_or_else(|| panic!("no section for {marker}"));
    let rest = &DOC[start..];
    let end = rest.find("\n## ").unwrap_or(rest.len());
    &rest[..end]
}

#[test]
fn every_column_is_documented_and_every_example_imports() {
    for kind in IMPORT_ORDER {
        let text = section(kind);
        for column in columns(kind) {
            let row = format!(
                "| `{}` | {} |",
                column.name,
                if column.required { "yes" } else { "" }
            );
            assert!(
                text.contains(&row),
                "{}: `{}` is not documented as {row}",
                file_stem(kind),
                column.name
            );
        }
        let example = text
            .split("```csv\n")
            .nth(1)
            .expect("an example")
            .split("```")
            .next()
            .unwrap();
        let rows: Vec<_> = read_csv(kind, "example", example.as_bytes())
            .unwrap()
            .collect();
        assert!(
            rows.len() >= 2,
            "{}: at least two example rows",
            file_stem(kind)
        );
        for (line, row) in rows {
            assert!(
                row.is_ok(),
                "{} example line {line}: {:?}",
                file_stem(kind),
                row.err()
            );
        }
    }
    let jsonl = DOC
        .split("```json\n")
        .nth(1)
        .unwrap()
        .split("```")
        .next()
        .unwrap();
    for (line, row) in read_jsonl(RecordKind::Account, "example", jsonl.as_bytes()) {
        assert!(row.is_ok(), "JSON example line {line}: {:?}", row.err());
    }
}

//! `tenure import`: CSV and JSONL files into the store, upserted by external id in batches.
//! A bad row is reported (file, row, column, reason) and skipped; the good rows of the same
//! file, and of the same batch, are kept.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use tenure_domain::{Record, RecordKind};
use tenure_ingest::{kind_from_file_name, read_csv, read_jsonl, RowError, IMPORT_ORDER};
use tenure_store::{Store, UpsertOutcome};

use crate::commands::simulate::progress_bar;
use crate::data_dir::DataDir;
use crate::failure::{Failure, Outcome};

#[derive(Debug, Default, Clone, Copy)]
pub struct Counts {
    pub rows: u64,
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub rejected: u64,
    /// Files that could not be read at all (a bad header, an unreadable file).
    pub files_rejected: u64,
}

impl Counts {
    fn add(&mut self, other: &Counts) {
        self.rows += other.rows;
        self.inserted += other.inserted;
        self.updated += other.updated;
        self.unchanged += other.unchanged;
        self.rejected += other.rejected;
        self.files_rejected += other.files_rejected;
    }

    fn count(&mut self, outcome: UpsertOutcome) {
        match outcome {
            UpsertOutcome::Inserted => self.inserted += 1,
            UpsertOutcome::Updated => self.updated += 1,
            UpsertOutcome::Unchanged => self.unchanged += 1,
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Format {
    Csv,
    Jsonl,
}

struct Input {
    path: PathBuf,
    kind: RecordKind,
    format: Format,
}

fn format_of(path: &Path) -> Option<Format> {
    match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
        "csv" => Some(Format::Csv),
        "jsonl" | "ndjson" => Some(Format::Jsonl),
        _ => None,
    }
}

fn valid_names() -> String {
    IMPORT_ORDER
        .iter()
        .map(|k| tenure_ingest::columns::file_stem(*k))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Resolves the paths to files with a kind and a format, in dependency order for folders.
fn inputs(paths: &[PathBuf], kind: Option<RecordKind>) -> Outcome<Vec<Input>> {
    let mut out = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut found = Vec::new();
            for entry in
                std::fs::read_dir(path).with_context(|| format!("reading {}", path.display()))?
            {
                let p = entry?.path();
                let name = p
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or_default()
                    .to_owned();
                if let (Some(k), Some(f)) =
                    (kind.or_else(|| kind_from_file_name(&name)), format_of(&p))
                {
                    found.push(Input {
                        path: p,
                        kind: k,
                        format: f,
                    });
                }
            }
            found.sort_by_key(|i| {
                (
                    IMPORT_ORDER.iter().position(|k| *k == i.kind),
                    i.path.clone(),
                )
            });
            if found.is_empty() {
                return Err(Failure::rejected(format!(
                    "error: {} holds no importable files (CSV or JSONL named after a kind: {})",
                    path.display(),
                    valid_names()
                )));
            }
            out.extend(found);
        } else {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            let k = kind.or_else(|| kind_from_file_name(name)).ok_or_else(|| {
                Failure::rejected(format!(
                    "error: cannot tell what {} holds: name it after its kind ({}) or pass --kind",
                    path.display(),
                    valid_names()
                ))
            })?;
            let f = format_of(path).ok_or_else(|| {
                Failure::rejected(format!(
                    "error: {} is neither .csv nor .jsonl",
                    path.display()
                ))
            })?;
            out.push(Input {
                path: path.clone(),
                kind: k,
                format: f,
            });
        }
    }
    Ok(out)
}

/// Upserts a batch in one transaction; if that fails, row by row, so one bad row cannot take
/// the others down with it.
async fn flush(
    store: &dyn Store,
    lines: &mut Vec<u64>,
    batch: &mut Vec<Record>,
    file: &str,
    counts: &mut Counts,
    errors: &mut Vec<RowError>,
) -> Outcome {
    if batch.is_empty() {
        return Ok(());
    }
    match store.upsert_many(batch).await {
        Ok(outcomes) => outcomes.into_iter().for_each(|o| counts.count(o)),
        Err(_) => {
            for (row, record) in lines.iter().zip(batch.iter()) {
                match store.upsert(record).await {
                    Ok(o) => counts.count(o),
                    Err(e) => {
                        counts.rejected += 1;
                        errors.push(RowError {
                            file: file.to_owned(),
                            row: *row,
                            column: None,
                            reason: e.to_string(),
                        });
                    }
                }
            }
        }
    }
    lines.clear();
    batch.clear();
    Ok(())
}

async fn import_file(
    store: &dyn Store,
    input: &Input,
    batch_size: usize,
    errors: &mut Vec<RowError>,
) -> Outcome<Counts> {
    let name = input.path.display().to_string();
    // A file that cannot be read at all is one error; the other files still import.
    let file_error = |errors: &mut Vec<RowError>, column: Option<String>, reason: String| {
        errors.push(RowError {
            file: name.clone(),
            row: 1,
            column,
            reason,
        });
        Counts {
            files_rejected: 1,
            ..Counts::default()
        }
    };
    let file = match File::open(&input.path) {
        Ok(f) => f,
        Err(e) => {
            return Ok(file_error(
                errors,
                None,
                format!("cannot open the file: {e}"),
            ))
        }
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let bar = progress_bar(
        len,
        &format!(
            "{} bytes",
            input
                .path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("")
        ),
    );
    let reader = bar.wrap_read(file);
    let rows = match input.format {
        Format::Csv => match read_csv(input.kind, &name, reader) {
            Ok(rows) => rows,
            Err(e) => {
                bar.finish_and_clear();
                return Ok(file_error(
                    errors,
                    e.column().map(str::to_owned),
                    e.to_string(),
                ));
            }
        },
        Format::Jsonl => read_jsonl(input.kind, &name, BufReader::new(reader)),
    };
    let mut counts = Counts::default();
    // The records of the next transaction, and the line each came from.
    let mut batch = Vec::with_capacity(batch_size);
    let mut lines = Vec::with_capacity(batch_size);
    for (row, result) in rows {
        counts.rows += 1;
        match result {
            Ok(record) => {
                lines.push(row);
                batch.push(record);
                if batch.len() >= batch_size {
                    flush(store, &mut lines, &mut batch, &name, &mut counts, errors).await?;
                }
            }
            Err(row_errors) => {
                counts.rejected += 1;
                errors.extend(row_errors);
            }
        }
    }
    flush(store, &mut lines, &mut batch, &name, &mut counts, errors).await?;
    bar.finish_and_clear();
    Ok(counts)
}

fn write_report(path: &Path, errors: &[RowError]) -> Outcome {
    let mut w =
        csv::Writer::from_path(path).with_context(|| format!("writing {}", path.display()))?;
    w.write_record(["file", "row", "column", "reason"])?;
    for e in errors {
        w.write_record([
            e.file.as_str(),
            &e.row.to_string(),
            e.column.as_deref().unwrap_or(""),
            &e.reason,
        ])?;
    }
    w.flush()?;
    Ok(())
}

/// Imports `paths`, printing a line per file; returns the totals.
pub async fn import(
    store: &dyn Store,
    paths: &[PathBuf],
    kind: Option<RecordKind>,
    batch: usize,
    quiet: bool,
) -> Outcome<(Counts, Vec<RowError>, f64)> {
    let inputs = inputs(paths, kind)?;
    let started = Instant::now();
    let mut total = Counts::default();
    let mut errors = Vec::new();
    for input in &inputs {
        let counts = import_file(store, input, batch.max(1), &mut errors).await?;
        if !quiet && counts.files_rejected > 0 {
            println!(
                "{}: not imported — {}",
                input.path.display(),
                errors.last().map_or("", |e| e.reason.as_str())
            );
        } else if !quiet {
            println!(
                "{}: {} rows — {} inserted, {} updated, {} unchanged, {} rejected",
                input.path.display(),
                counts.rows,
                counts.inserted,
                counts.updated,
                counts.unchanged,
                counts.rejected
            );
        }
        total.add(&counts);
    }
    Ok((total, errors, started.elapsed().as_secs_f64()))
}

pub async fn run(
    data_dir: &DataDir,
    paths: &[PathBuf],
    kind: Option<&str>,
    errors_path: Option<PathBuf>,
    batch: usize,
) -> Outcome<Counts> {
    let kind = kind
        .map(|k| {
            IMPORT_ORDER
                .into_iter()
                .find(|x| tenure_ingest::columns::file_stem(*x) == k || x.name() == k)
                .ok_or_else(|| {
                    Failure::rejected(format!(
                        "error: unknown --kind `{k}`: use one of {}",
                        valid_names()
                    ))
                })
        })
        .transpose()?;
    let store = data_dir.open_store().await?;
    let (total, errors, secs) = import(store.as_ref(), paths, kind, batch, false).await?;
    println!(
        "imported {} rows in {secs:.2} s ({:.0} rows/s): {} inserted, {} updated, {} unchanged, {} rejected",
        total.rows,
        total.rows as f64 / secs.max(1e-9),
        total.inserted,
        total.updated,
        total.unchanged,
        total.rejected
    );
    if errors.is_empty() {
        return Ok(total);
    }
    let report = errors_path.unwrap_or_else(|| data_dir.root.join("import-errors.csv"));
    write_report(&report, &errors)?;
    for e in errors.iter().take(10) {
        eprintln!("{e}");
    }
    if errors.len() > 10 {
        eprintln!("… and {} more", errors.len() - 10);
    }
    let files = if total.files_rejected > 0 {
        format!(" and {} file(s)", total.files_rejected)
    } else {
        String::new()
    };
    Err(Failure::rejected(format!(
        "error: {} row(s){files} rejected; every error is listed in {}",
        total.rejected,
        report.display()
    )))
}

//! Tenure's input formats: the CSV and JSONL record files of bulk import — one column list per
//! record kind, used both to read imports and to write the simulator's output, so the two can
//! never disagree — and Segment's HTTP Tracking API messages (`segment`). Parsing is row by row: a bad row becomes a `RowError` naming
//! file, row and column, and never stops the good rows. Callers hand in readers; this crate
//! opens no file itself.

pub mod columns;
pub mod identity;
pub mod logged;
mod parse;
pub mod quality;
pub mod segment;
pub mod tracking;
mod write;

pub use columns::{kind_from_file_name, Column, IMPORT_ORDER};
pub use parse::{read_csv, read_jsonl, RowError, Rows};
pub use write::{csv_header, csv_row};

/// A whole file that cannot be read as the kind it claims to be.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{file}: unknown column `{column}` for {kind} files{hint}")]
    UnknownColumn {
        file: String,
        kind: &'static str,
        column: String,
        hint: String,
    },
    #[error("{file}: missing required column `{column}` for {kind} files (required: {required})")]
    MissingColumn {
        file: String,
        kind: &'static str,
        column: &'static str,
        required: String,
    },
    #[error("{file}: column `{column}` appears twice")]
    DuplicateColumn { file: String, column: String },
    #[error("{file}: cannot read the header: {reason}")]
    Header { file: String, reason: String },
}

impl FileError {
    /// The column at fault, when one is.
    pub fn column(&self) -> Option<&str> {
        match self {
            FileError::UnknownColumn { column, .. } | FileError::DuplicateColumn { column, .. } => {
                Some(column)
            }
            FileError::MissingColumn { column, .. } => Some(column),
            FileError::Header { .. } => None,
        }
    }
}

//! Tenure's event lake: the durable event log every accepted event is written to before it is
//! acknowledged, and the Parquet files, partitioned by day, materialised from it.
//!
//! `EventLog` is the seam where a distributed log (NATS JetStream, Kafka) can replace the
//! embedded `FileLog` in server mode without touching the API or the engine: the lake reads
//! the log through the same `read` it offers.

mod file_log;
mod lake;
pub mod table;

pub use file_log::{read_dir as read_log_dir, FileLog};
pub use lake::{
    current_state, list_parts, load_state, scan_dir, CompactStats, Lake, LakeState, LogSource,
    Part, RewriteStats, SyncStats, SMALL_PART_BYTES,
};

/// A record's position in the log: 0, 1, 2, … in append order, never reused.
pub type Offset = u64;

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("event log IO error in {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the event log is unusable after an earlier write failure: {0}")]
    Poisoned(String),
    #[error("a record of {0} bytes is larger than the log's limit of {1} bytes")]
    TooLarge(usize, usize),
    #[error("the event log in {0} is in use by another process (a running `tenure serve`?); stop it first")]
    Locked(String),
}

#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    #[error("event lake IO error in {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the lake's state file {path} is unreadable: {message}")]
    State { path: String, message: String },
    #[error("Parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    #[error("Arrow: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    #[error(transparent)]
    Log(#[from] LogError),
}

/// An append-only, durable log of opaque records.
pub trait EventLog: Send + Sync {
    /// Appends `records` in order and returns their offsets, only once they are durable (on
    /// disk, surviving a crash or power loss). Concurrent callers share one disk flush.
    fn append(&self, records: &[&[u8]]) -> Result<std::ops::Range<Offset>, LogError>;

    /// Up to `limit` records from `from` on, in order, with their offsets.
    fn read(&self, from: Offset, limit: usize) -> Result<Vec<(Offset, Vec<u8>)>, LogError>;

    /// The offset the next record will get (the number of records ever appended).
    fn end(&self) -> Offset;
}

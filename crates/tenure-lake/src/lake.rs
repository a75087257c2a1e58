//! The Parquet event lake, materialised from the event log: one directory per day
//! (`events/date=YYYY-MM-DD/`, the day the event happened, UTC), holding files named by the
//! range of log offsets they contain (`part-FIRST-LAST.parquet`). The state file records how
//! far the log has been materialised, with the data-quality tally and the identity graph
//! folded over the same records, so the three always agree.
//!
//! Crash safety, without a journal: files are written whole under a temporary name and
//! renamed; the state is saved (the same way) only after the files it covers. On open,
//! temporary files and parts starting at or after the saved offset (written by a sync whose
//! state was never saved) are removed, and a part whose offset range lies within another
//! part of the same day (an input of a compaction that finished writing) is removed too.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use arrow_array::{BooleanArray, RecordBatch};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use tenure_ingest::identity::Identities;
use tenure_ingest::logged::LogRecord;
use tenure_ingest::quality::Quality;

use crate::table::{self, Rows};
use crate::{LakeError, LogError, Offset};

/// Log records read (and parsed, on every core) at a time while materialising.
const READ_CHUNK: usize = 100_000;
/// Rows held in memory before they are written out (bounds a sync's memory: about 400 bytes a
/// row). Events that arrive in time order fill few days; a backfill spread over many days
/// writes one small file per day per flush, which compaction then merges.
const MAX_BUFFERED_ROWS: usize = 1_000_000;
/// Parts smaller than this are merged by compaction.
pub const SMALL_PART_BYTES: u64 = 32 << 20;

/// How far the lake has materialised the log, and what was folded on the way.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LakeState {
    /// Every log record below this offset is in the lake (or was not an event).
    pub next_offset: Offset,
    pub quality: Quality,
    pub identities: Identities,
    /// Log records that could not be read as log records (should stay 0).
    #[serde(default)]
    pub unreadable: u64,
}

impl LakeState {
    /// Folds one log record into the tally and the identity graph.
    pub fn fold(&mut self, record: &LogRecord) {
        self.quality.add(record);
        self.identities.add(record);
    }
}

/// One Parquet file of the lake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub path: PathBuf,
    pub date: NaiveDate,
    pub first: Offset,
    pub last: Offset,
    pub bytes: u64,
}

/// What a sync did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncStats {
    pub records: u64,
    pub events: u64,
    pub files: u64,
}

/// What a compaction did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompactStats {
    pub partitions: u64,
    pub files_before: u64,
    pub files_after: u64,
}

/// What a rewrite (`forget`) did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RewriteStats {
    pub files_rewritten: u64,
    pub rows_removed: u64,
}

/// Reads up to `limit` log records from an offset on.
pub type LogSource<'a> = dyn Fn(Offset, usize) -> Result<Vec<(Offset, Vec<u8>)>, LogError> + 'a;

/// The lake in a directory.
pub struct Lake {
    dir: PathBuf,
    state: LakeState,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> LakeError + '_ {
    move |source| LakeError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn part_name(first: Offset, last: Offset) -> String {
    format!("part-{first:020}-{last:020}.parquet")
}

fn parse_part(name: &str) -> Option<(Offset, Offset)> {
    let rest = name.strip_prefix("part-")?.strip_suffix(".parquet")?;
    let (a, b) = rest.split_once('-')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// Parses log records on every core: parsing is most of a sync's work.
fn parse_all(chunk: &[(Offset, Vec<u8>)]) -> Vec<Result<LogRecord, serde_json::Error>> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8);
    if threads < 2 || chunk.len() < 10_000 {
        return chunk.iter().map(|(_, b)| LogRecord::parse(b)).collect();
    }
    let per = chunk.len().div_ceil(threads);
    std::thread::scope(|s| {
        let parts: Vec<_> = chunk
            .chunks(per)
            .map(|part| {
                s.spawn(move || {
                    part.iter()
                        .map(|(_, b)| LogRecord::parse(b))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut out = Vec::with_capacity(chunk.len());
        for part in parts {
            match part.join() {
                Ok(parsed) => out.extend(parsed),
                // Parsing does not panic on any input; if it ever did, say so loudly.
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        out
    })
}

/// Reads the saved state of the lake in `dir` (empty when there is none yet).
pub fn load_state(dir: &Path) -> Result<LakeState, LakeError> {
    let path = dir.join("state.json");
    match fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| LakeError::State {
            path: path.display().to_string(),
            message: e.to_string(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(LakeState::default()),
        Err(e) => Err(io(&path)(e)),
    }
}

/// The lake's state as it will be once the log in `log_dir` is fully materialised: the saved
/// state with the log's tail folded in. Reads only (no lock), so it works beside a running
/// server. Also returns the tail's records, parsed, with their offsets.
pub fn current_state(
    lake_dir: &Path,
    log_dir: &Path,
) -> Result<(LakeState, Vec<(Offset, LogRecord)>), LakeError> {
    let mut state = load_state(lake_dir)?;
    let mut tail = Vec::new();
    let mut from = state.next_offset;
    loop {
        let chunk = crate::read_log_dir(log_dir, from, READ_CHUNK)?;
        let Some((last, _)) = chunk.last() else { break };
        from = last + 1;
        for (offset, bytes) in chunk {
            match LogRecord::parse(&bytes) {
                Ok(r) => {
                    state.fold(&r);
                    tail.push((offset, r));
                }
                Err(_) => state.unreadable += 1,
            }
        }
    }
    state.next_offset = from;
    Ok((state, tail))
}

/// Every part of the lake in `dir`, by day then first offset.
pub fn list_parts(dir: &Path) -> Result<Vec<Part>, LakeError> {
    let events = dir.join("events");
    let mut out = Vec::new();
    let Ok(days) = fs::read_dir(&events) else {
        return Ok(out);
    };
    for day in days {
        let day = day.map_err(io(&events))?;
        let name = day.file_name();
        let Some(date) = name
            .to_str()
            .and_then(|n| n.strip_prefix("date="))
            .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        else {
            continue;
        };
        let path = day.path();
        for file in fs::read_dir(&path).map_err(io(&path))? {
            let file = file.map_err(io(&path))?;
            let name = file.file_name();
            let Some((first, last)) = name.to_str().and_then(parse_part) else {
                continue;
            };
            let bytes = file.metadata().map_err(io(&file.path()))?.len();
            out.push(Part {
                path: file.path(),
                date,
                first,
                last,
                bytes,
            });
        }
    }
    out.sort_by_key(|p| (p.date, p.first));
    Ok(out)
}

impl Lake {
    /// Opens (creating) the lake in `dir`, recovering from an interrupted sync or compaction.
    pub fn open(dir: &Path) -> Result<Lake, LakeError> {
        fs::create_dir_all(dir).map_err(io(dir))?;
        let state = load_state(dir)?;
        let lake = Lake {
            dir: dir.to_owned(),
            state,
        };
        lake.recover()?;
        Ok(lake)
    }

    fn recover(&self) -> Result<(), LakeError> {
        let events = self.dir.join("events");
        if let Ok(days) = fs::read_dir(&events) {
            for day in days.flatten() {
                for file in fs::read_dir(day.path()).into_iter().flatten().flatten() {
                    if file.file_name().to_string_lossy().ends_with(".tmp") {
                        fs::remove_file(file.path()).map_err(io(&file.path()))?;
                    }
                }
            }
        }
        let parts = list_parts(&self.dir)?;
        let mut removed = Vec::new();
        for p in &parts {
            let uncommitted = p.first >= self.state.next_offset;
            let superseded = parts.iter().any(|q| {
                q.date == p.date
                    && q.path != p.path
                    && q.first <= p.first
                    && p.last <= q.last
                    && (q.first, q.last) != (p.first, p.last)
            });
            if uncommitted || superseded {
                fs::remove_file(&p.path).map_err(io(&p.path))?;
                removed.push(p.path.clone());
            }
        }
        for path in removed {
            if let Some(dir) = path.parent() {
                table::sync_dir(dir)?;
            }
        }
        Ok(())
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn state(&self) -> &LakeState {
        &self.state
    }

    pub fn parts(&self) -> Result<Vec<Part>, LakeError> {
        list_parts(&self.dir)
    }

    fn save_state(&self) -> Result<(), LakeError> {
        let path = self.dir.join("state.json");
        let tmp = self.dir.join("state.json.tmp");
        let bytes = serde_json::to_vec(&self.state).map_err(|e| LakeError::State {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        let file = fs::File::create(&tmp).map_err(io(&tmp))?;
        use std::io::Write as _;
        (&file).write_all(&bytes).map_err(io(&tmp))?;
        file.sync_all().map_err(io(&tmp))?;
        fs::rename(&tmp, &path).map_err(io(&path))?;
        table::sync_dir(&self.dir)
    }

    /// Materialises every log record from the saved offset to the end of the log.
    pub fn sync(&mut self, read: &LogSource<'_>) -> Result<SyncStats, LakeError> {
        let mut stats = SyncStats::default();
        let mut buffered: BTreeMap<NaiveDate, Rows> = BTreeMap::new();
        let mut rows = 0usize;
        let mut next = self.state.next_offset;
        loop {
            let chunk = read(next, READ_CHUNK)?;
            let Some((last, _)) = chunk.last() else { break };
            let last = *last;
            for ((offset, _), parsed) in chunk.iter().zip(parse_all(&chunk)) {
                stats.records += 1;
                let record = match parsed {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::warn!(offset, error = %e, "unreadable log record skipped");
                        self.state.unreadable += 1;
                        continue;
                    }
                };
                self.state.fold(&record);
                if let Some(m) = &record.message {
                    buffered
                        .entry(m.timestamp.naive_utc().date())
                        .or_default()
                        .push(*offset, &record);
                    rows += 1;
                    stats.events += 1;
                }
            }
            next = last + 1;
            if rows >= MAX_BUFFERED_ROWS {
                stats.files += self.flush(std::mem::take(&mut buffered), next)?;
                rows = 0;
            }
        }
        if next != self.state.next_offset {
            stats.files += self.flush(buffered, next)?;
        }
        Ok(stats)
    }

    /// Writes the buffered rows, one file per day, then saves the state up to `next`.
    fn flush(
        &mut self,
        buffered: BTreeMap<NaiveDate, Rows>,
        next: Offset,
    ) -> Result<u64, LakeError> {
        let mut files = 0;
        for (date, rows) in buffered {
            if rows.is_empty() {
                continue;
            }
            let (first, last) = (rows.first, rows.last);
            let batch = rows.finish()?;
            let path = self
                .dir
                .join("events")
                .join(format!("date={date}"))
                .join(part_name(first, last));
            table::write_file(&path, &[batch])?;
            files += 1;
        }
        self.state.next_offset = next;
        self.save_state()?;
        Ok(files)
    }

    /// Merges each day's small parts into one.
    pub fn compact(&mut self) -> Result<CompactStats, LakeError> {
        let parts = self.parts()?;
        let mut stats = CompactStats::default();
        let mut by_day: BTreeMap<NaiveDate, Vec<Part>> = BTreeMap::new();
        for p in parts {
            stats.files_before += 1;
            by_day.entry(p.date).or_default().push(p);
        }
        for (_, parts) in by_day {
            let (small, large): (Vec<Part>, Vec<Part>) =
                parts.into_iter().partition(|p| p.bytes < SMALL_PART_BYTES);
            stats.files_after += large.len() as u64;
            if small.len() < 2 {
                stats.files_after += small.len() as u64;
                continue;
            }
            let mut batches = Vec::new();
            for p in &small {
                batches.extend(table::read_file(&p.path)?);
            }
            let first = small.iter().map(|p| p.first).min().unwrap_or(0);
            let last = small.iter().map(|p| p.last).max().unwrap_or(0);
            let dir = small[0].path.parent().unwrap_or(&self.dir).to_owned();
            table::write_file(&dir.join(part_name(first, last)), &batches)?;
            for p in &small {
                fs::remove_file(&p.path).map_err(io(&p.path))?;
            }
            table::sync_dir(&dir)?;
            stats.partitions += 1;
            stats.files_after += 1;
        }
        Ok(stats)
    }

    /// The rows of every part for which `keep` marks some row, filtered to those rows.
    pub fn scan(
        &self,
        select: &dyn Fn(&RecordBatch) -> BooleanArray,
    ) -> Result<Vec<RecordBatch>, LakeError> {
        scan_dir(&self.dir, select)
    }

    /// Rewrites every part without the rows `remove` marks (deleting parts left empty).
    pub fn remove_rows(
        &mut self,
        remove: &dyn Fn(&RecordBatch) -> BooleanArray,
    ) -> Result<RewriteStats, LakeError> {
        let mut stats = RewriteStats::default();
        for p in self.parts()? {
            let batches = table::read_file(&p.path)?;
            let mut kept = Vec::new();
            let mut removed = 0;
            for b in &batches {
                let marks = remove(b);
                removed += marks.true_count();
                let keep: BooleanArray = marks.iter().map(|m| Some(m != Some(true))).collect();
                kept.push(arrow_select::filter::filter_record_batch(b, &keep)?);
            }
            if removed == 0 {
                continue;
            }
            kept.retain(|b| b.num_rows() > 0);
            if kept.is_empty() {
                fs::remove_file(&p.path).map_err(io(&p.path))?;
                if let Some(dir) = p.path.parent() {
                    table::sync_dir(dir)?;
                }
            } else {
                table::write_file(&p.path, &kept)?;
            }
            stats.files_rewritten += 1;
            stats.rows_removed += removed as u64;
        }
        Ok(stats)
    }

    /// Changes the folded state (after `forget`) and saves it.
    pub fn update_state(&mut self, change: impl FnOnce(&mut LakeState)) -> Result<(), LakeError> {
        change(&mut self.state);
        self.save_state()
    }
}

/// `Lake::scan` over the lake in `dir`, without opening it for writing.
pub fn scan_dir(
    dir: &Path,
    select: &dyn Fn(&RecordBatch) -> BooleanArray,
) -> Result<Vec<RecordBatch>, LakeError> {
    let mut out = Vec::new();
    for p in list_parts(dir)? {
        for b in table::read_file(&p.path)? {
            let marks = select(&b);
            if marks.true_count() > 0 {
                out.push(arrow_select::filter::filter_record_batch(&b, &marks)?);
            }
        }
    }
    Ok(out)
}

//! The embedded event log: segment files of framed records in a directory, fsync'd with group
//! commit. Each frame is `[length u32][crc32 u32][offset u64][payload]`, little-endian; the
//! CRC covers the offset and the payload. On open, the last segment is scanned and a torn tail
//! (a frame cut short or corrupted by a crash mid-write) is truncated: such a frame was never
//! acknowledged, because acknowledgement waits for the flush that follows the write.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use crate::{EventLog, LogError, Offset};

const HEADER: usize = 16;
/// The largest record accepted (Segment's batch limit, with room to spare).
pub const MAX_RECORD: usize = 1 << 20;
/// A segment is closed and a new one started past this size, by default.
pub const SEGMENT_BYTES: u64 = 64 << 20;

fn io(path: &Path, source: std::io::Error) -> LogError {
    LogError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn segment_name(first: Offset) -> String {
    format!("{first:020}.seg")
}

struct State {
    /// The segment being written, shared with the thread that flushes it.
    file: Arc<File>,
    file_path: PathBuf,
    file_len: u64,
    next: Offset,
    /// Every offset below this is durable.
    durable: Offset,
    flushing: bool,
    poisoned: Option<String>,
    /// First offsets of every segment, in order.
    segments: Vec<Offset>,
}

/// The embedded, file-backed `EventLog`.
pub struct FileLog {
    dir: PathBuf,
    segment_bytes: u64,
    state: Mutex<State>,
    flushed: Condvar,
    /// Where recent reads ended, so a reader tailing the log reads only what is new.
    cursors: Mutex<Vec<(Offset, Position)>>,
    /// Held (locked) while the log is open: one writer per directory.
    _lock: File,
}

/// A record with its offset.
type Entry = (Offset, Vec<u8>);

/// Reads the valid frames of one segment; returns those at or after `from` (at most `limit`)
/// the byte length all valid frames span, and how many there are. Frames before `from` are
/// checked, not copied.
fn scan(
    path: &Path,
    first: Offset,
    from: Offset,
    limit: usize,
) -> Result<(Vec<Entry>, u64, u64), LogError> {
    let (records, end) = scan_at(
        path,
        Position {
            offset: first,
            byte: 0,
        },
        from,
        limit,
        false,
    )?;
    Ok((records, end.byte, end.offset - first))
}

/// Where a frame starts in a segment file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Position {
    offset: Offset,
    byte: u64,
}

/// `scan` from a known frame position; with `stop_at_limit`, stops reading once `limit`
/// records are collected. Returns the records and the position after the last frame read.
fn scan_at(
    path: &Path,
    start: Position,
    from: Offset,
    limit: usize,
    stop_at_limit: bool,
) -> Result<(Vec<Entry>, Position), LogError> {
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|mut f| {
            f.seek(SeekFrom::Start(start.byte))?;
            f.read_to_end(&mut bytes)
        })
        .map_err(|e| io(path, e))?;
    let mut records = Vec::new();
    let mut pos = 0usize;
    let mut expected = start.offset;
    while pos + HEADER <= bytes.len() {
        if stop_at_limit && records.len() >= limit {
            break;
        }
        let len = u32::from_le_bytes(bytes[pos..pos + 4].try_into().expect("4 bytes")) as usize;
        let crc = u32::from_le_bytes(bytes[pos + 4..pos + 8].try_into().expect("4 bytes"));
        let offset = u64::from_le_bytes(bytes[pos + 8..pos + 16].try_into().expect("8 bytes"));
        let end = pos + HEADER + len;
        if len > MAX_RECORD || end > bytes.len() || offset != expected {
            break;
        }
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&bytes[pos + 8..end]);
        if hasher.finalize() != crc {
            break;
        }
        if offset >= from && records.len() < limit {
            records.push((offset, bytes[pos + HEADER..end].to_vec()));
        }
        expected += 1;
        pos = end;
    }
    Ok((
        records,
        Position {
            offset: expected,
            byte: start.byte + pos as u64,
        },
    ))
}

/// The first offsets of the segments in `dir`, in order.
fn segments_in(dir: &Path) -> Result<Vec<Offset>, LogError> {
    let mut segments: Vec<Offset> = match fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().to_str()?.strip_suffix(".seg")?.parse().ok())
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(io(dir, e)),
    };
    segments.sort_unstable();
    Ok(segments)
}

fn read_segments(
    dir: &Path,
    segments: &[Offset],
    from: Offset,
    limit: usize,
    below: Offset,
    cursors: Option<&Mutex<Vec<(Offset, Position)>>>,
) -> Result<Vec<Entry>, LogError> {
    let mut out = Vec::new();
    for (i, first) in segments.iter().enumerate() {
        let next_first = segments.get(i + 1).copied().unwrap_or(Offset::MAX);
        if next_first <= from || out.len() >= limit || *first >= below {
            continue;
        }
        // Readers that come back for what follows their last read (a tailing reader) start
        // at the frame where that read ended instead of at the segment's start.
        let want = from.max(*first);
        let start = cursors
            .and_then(|c| {
                let c = c.lock().unwrap_or_else(|p| p.into_inner());
                c.iter()
                    .find(|(segment, p)| segment == first && p.offset == want)
                    .map(|(_, p)| *p)
            })
            .unwrap_or(Position {
                offset: *first,
                byte: 0,
            });
        // Never read past `below` (records not yet durable), so the cursor stays exact.
        let take =
            (limit - out.len()).min(below.saturating_sub(want).min(usize::MAX as u64) as usize);
        if take == 0 {
            continue;
        }
        let (records, end) = scan_at(&dir.join(segment_name(*first)), start, from, take, true)?;
        out.extend(records.into_iter().filter(|(o, _)| *o < below));
        if let Some(c) = cursors {
            let mut c = c.lock().unwrap_or_else(|p| p.into_inner());
            c.retain(|(segment, p)| !(segment == first && p.offset == end.offset));
            c.push((*first, end));
            if c.len() > 8 {
                c.remove(0);
            }
        }
    }
    Ok(out)
}

/// Reads up to `limit` records from `from` on from the log in `dir` without opening it for
/// writing (and so without its lock): for readers beside a running server. A record being
/// written at that moment is simply not returned yet.
pub fn read_dir(dir: &Path, from: Offset, limit: usize) -> Result<Vec<Entry>, LogError> {
    read_segments(dir, &segments_in(dir)?, from, limit, Offset::MAX, None)
}

fn sync_dir(dir: &Path) -> Result<(), LogError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io(dir, e))
}

impl FileLog {
    /// Opens the log in `dir` (created when missing), recovering from a crash: a torn last
    /// frame is cut off.
    pub fn open(dir: &Path) -> Result<FileLog, LogError> {
        Self::open_with_segment_size(dir, SEGMENT_BYTES)
    }

    /// `open`, starting a new segment file whenever the current one passes `segment_bytes`.
    pub fn open_with_segment_size(dir: &Path, segment_bytes: u64) -> Result<FileLog, LogError> {
        fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        let lock_path = dir.join("LOCK");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| io(&lock_path, e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(LogError::Locked(dir.display().to_string()))
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(&lock_path, e)),
        }
        let mut segments = segments_in(dir)?;
        if segments.is_empty() {
            segments.push(0);
        }
        let first = *segments.last().expect("at least one segment");
        let path = dir.join(segment_name(first));
        let (_, valid_len, count) = if path.exists() {
            scan(&path, first, Offset::MAX, 0)?
        } else {
            (Vec::new(), 0, 0)
        };
        let file = OpenOptions::new()
            .create(true)
            .read(true)
            .write(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| io(&path, e))?;
        // Cut a torn tail off, durably, before anything is appended after it.
        file.set_len(valid_len).map_err(|e| io(&path, e))?;
        file.sync_all().map_err(|e| io(&path, e))?;
        sync_dir(dir)?;
        let mut file_handle = file;
        file_handle
            .seek(SeekFrom::End(0))
            .map_err(|e| io(&path, e))?;
        let next = first + count;
        Ok(FileLog {
            dir: dir.to_owned(),
            segment_bytes,
            state: Mutex::new(State {
                file: Arc::new(file_handle),
                file_path: path,
                file_len: valid_len,
                next,
                durable: next,
                flushing: false,
                poisoned: None,
                segments,
            }),
            flushed: Condvar::new(),
            cursors: Mutex::new(Vec::new()),
            _lock: lock,
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the log inconsistent on disk (frames are
        // checked on recovery), so a poisoned mutex is taken over.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Closes the current segment (flushed) and starts a new one at `state.next`.
    fn rotate(&self, state: &mut State) -> Result<(), LogError> {
        state
            .file
            .sync_data()
            .map_err(|e| io(&state.file_path, e))?;
        let path = self.dir.join(segment_name(state.next));
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| io(&path, e))?;
        sync_dir(&self.dir)?;
        state.durable = state.next;
        state.file = Arc::new(file);
        state.file_path = path;
        state.file_len = 0;
        state.segments.push(state.next);
        Ok(())
    }
}

/// Given a record's offset and payload, its new payload, or `None` to keep it.
pub type Replacer<'a> = dyn Fn(Offset, &[u8]) -> Option<Vec<u8>> + 'a;

impl FileLog {
    /// Replaces the payload of every record for which `replace` returns a new one, keeping
    /// its offset: how `forget` erases personal data from the log. Each segment holding such
    /// a record is rewritten whole under a temporary name, flushed and renamed over the old
    /// one, so a crash leaves either version, never a mix. Returns how many were replaced.
    pub fn rewrite(&self, replace: &Replacer<'_>) -> Result<u64, LogError> {
        let mut state = self.lock();
        while state.flushing {
            state = self.flushed.wait(state).unwrap_or_else(|p| p.into_inner());
        }
        if let Some(p) = &state.poisoned {
            return Err(LogError::Poisoned(p.clone()));
        }
        let mut replaced = 0;
        // Payloads change length: remembered read positions no longer hold.
        self.cursors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        let segments = state.segments.clone();
        for first in segments {
            let path = self.dir.join(segment_name(first));
            let (records, _, _) = scan(&path, first, 0, usize::MAX)?;
            let mut changed = false;
            let mut frames = Vec::new();
            for (offset, payload) in &records {
                let new = replace(*offset, payload);
                changed |= new.is_some();
                replaced += u64::from(new.is_some());
                let payload = new.as_deref().unwrap_or(payload);
                let mut hasher = crc32fast::Hasher::new();
                hasher.update(&offset.to_le_bytes());
                hasher.update(payload);
                frames.extend_from_slice(&(payload.len() as u32).to_le_bytes());
                frames.extend_from_slice(&hasher.finalize().to_le_bytes());
                frames.extend_from_slice(&offset.to_le_bytes());
                frames.extend_from_slice(payload);
            }
            if !changed {
                continue;
            }
            let tmp = path.with_extension("seg.tmp");
            let mut file = File::create(&tmp).map_err(|e| io(&tmp, e))?;
            file.write_all(&frames).map_err(|e| io(&tmp, e))?;
            file.sync_all().map_err(|e| io(&tmp, e))?;
            fs::rename(&tmp, &path).map_err(|e| io(&path, e))?;
            sync_dir(&self.dir)?;
            if path == state.file_path {
                let file = OpenOptions::new()
                    .append(true)
                    .open(&path)
                    .map_err(|e| io(&path, e))?;
                state.file = Arc::new(file);
                state.file_len = frames.len() as u64;
            }
        }
        Ok(replaced)
    }
}

impl EventLog for FileLog {
    fn append(&self, records: &[&[u8]]) -> Result<Range<Offset>, LogError> {
        if let Some(r) = records.iter().find(|r| r.len() > MAX_RECORD) {
            return Err(LogError::TooLarge(r.len(), MAX_RECORD));
        }
        let mut state = self.lock();
        if let Some(p) = &state.poisoned {
            return Err(LogError::Poisoned(p.clone()));
        }
        if state.file_len > self.segment_bytes {
            self.rotate(&mut state)?;
        }
        let start = state.next;
        let mut frames = Vec::with_capacity(records.iter().map(|r| r.len() + HEADER).sum());
        for (i, record) in records.iter().enumerate() {
            let offset = start + i as u64;
            let mut hasher = crc32fast::Hasher::new();
            hasher.update(&offset.to_le_bytes());
            hasher.update(record);
            frames.extend_from_slice(&(record.len() as u32).to_le_bytes());
            frames.extend_from_slice(&hasher.finalize().to_le_bytes());
            frames.extend_from_slice(&offset.to_le_bytes());
            frames.extend_from_slice(record);
        }
        if let Err(e) = (&*state.file).write_all(&frames) {
            // The file may now hold part of a frame: nothing more may be appended after it
            // until the log is reopened (recovery cuts it off).
            let message = e.to_string();
            state.poisoned = Some(message);
            return Err(io(&state.file_path, e));
        }
        state.file_len += frames.len() as u64;
        state.next += records.len() as u64;
        let mine = state.next;
        // Group commit: one caller flushes everything written so far; the others wait for it.
        loop {
            if state.durable >= mine {
                return Ok(start..mine);
            }
            if let Some(p) = &state.poisoned {
                return Err(LogError::Poisoned(p.clone()));
            }
            if state.flushing {
                state = self.flushed.wait(state).unwrap_or_else(|p| p.into_inner());
                continue;
            }
            state.flushing = true;
            let target = state.next;
            let file = Arc::clone(&state.file);
            let path = state.file_path.clone();
            drop(state);
            let result = file.sync_data();
            state = self.lock();
            state.flushing = false;
            match result {
                Ok(()) => state.durable = state.durable.max(target),
                Err(e) => {
                    state.poisoned = Some(e.to_string());
                    self.flushed.notify_all();
                    return Err(io(&path, e));
                }
            }
            self.flushed.notify_all();
        }
    }

    fn read(&self, from: Offset, limit: usize) -> Result<Vec<Entry>, LogError> {
        let (segments, durable) = {
            let state = self.lock();
            (state.segments.clone(), state.durable)
        };
        read_segments(
            &self.dir,
            &segments,
            from,
            limit,
            durable,
            Some(&self.cursors),
        )
    }

    fn end(&self) -> Offset {
        self.lock().next
    }
}

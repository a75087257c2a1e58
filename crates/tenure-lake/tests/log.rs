//! The durable event log: what was acknowledged is there after a reopen or a crash, exactly
//! once and in order; torn tails are cut off; concurrent appends share flushes and lose nothing.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use tenure_lake::{read_log_dir, EventLog, FileLog, LogError};

fn payloads(log: &FileLog) -> Vec<(u64, String)> {
    log.read(0, usize::MAX)
        .unwrap()
        .into_iter()
        .map(|(o, p)| (o, String::from_utf8(p).unwrap()))
        .collect()
}

#[test]
fn appends_survive_a_reopen_and_offsets_continue() {
    let dir = tempfile::tempdir().unwrap();
    let log = FileLog::open(dir.path()).unwrap();
    assert_eq!(log.append(&[b"a", b"b"]).unwrap(), 0..2);
    assert_eq!(log.append(&[b"c"]).unwrap(), 2..3);
    assert_eq!(log.append(&[]).unwrap(), 3..3);
    drop(log);
    let log = FileLog::open(dir.path()).unwrap();
    assert_eq!(log.end(), 3);
    assert_eq!(log.append(&[b""]).unwrap(), 3..4);
    let all = payloads(&log);
    assert_eq!(
        all,
        [
            (0, "a".into()),
            (1, "b".into()),
            (2, "c".into()),
            (3, String::new())
        ]
    );
    assert_eq!(log.read(2, 1).unwrap(), [(2, b"c".to_vec())]);
}

#[test]
fn one_writer_at_a_time_and_readers_need_no_lock() {
    let dir = tempfile::tempdir().unwrap();
    let log = FileLog::open(dir.path()).unwrap();
    log.append(&[b"a", b"b", b"c"]).unwrap();
    match FileLog::open(dir.path()) {
        Err(LogError::Locked(d)) => assert!(d.contains(&*dir.path().to_string_lossy())),
        Err(e) => panic!("expected Locked, got {e}"),
        Ok(_) => panic!("a second writer opened a locked log"),
    }
    let read = read_log_dir(dir.path(), 1, 10).unwrap();
    assert_eq!(read, [(1, b"b".to_vec()), (2, b"c".to_vec())]);
    drop(log);
    FileLog::open(dir.path()).unwrap();
}

#[test]
fn rewrite_replaces_payloads_in_place_across_segments_and_appends_continue() {
    let dir = tempfile::tempdir().unwrap();
    let log = FileLog::open_with_segment_size(dir.path(), 64).unwrap();
    for i in 0..20 {
        let p = format!("{}-{i}", if i % 3 == 0 { "secret" } else { "public" });
        log.append(&[p.as_bytes()]).unwrap();
    }
    let segments = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "seg")
        })
        .count();
    assert!(
        segments > 2,
        "the test needs several segments, got {segments}"
    );
    let replaced = log
        .rewrite(&|_, p| p.starts_with(b"secret").then(|| b"gone".to_vec()))
        .unwrap();
    assert_eq!(replaced, 7);
    log.append(&[b"after"]).unwrap();
    let expect: Vec<(u64, String)> = (0..20)
        .map(|i| {
            let p = if i % 3 == 0 {
                "gone".to_owned()
            } else {
                format!("public-{i}")
            };
            (i as u64, p)
        })
        .chain([(20, "after".to_owned())])
        .collect();
    assert_eq!(payloads(&log), expect);
    drop(log);
    let log = FileLog::open_with_segment_size(dir.path(), 64).unwrap();
    assert_eq!(payloads(&log), expect);
    assert_eq!(log.end(), 21);
}

#[test]
fn a_torn_or_corrupt_tail_is_cut_off_and_writing_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let log = FileLog::open(dir.path()).unwrap();
    log.append(&[b"one", b"two", b"three"]).unwrap();
    drop(log);
    let segment = dir.path().join("00000000000000000000.seg");
    let good_len = std::fs::metadata(&segment).unwrap().len();
    // A crash in the middle of writing a fourth frame.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&segment)
        .unwrap();
    f.write_all(&[9, 0, 0, 0, 1, 2, 3, 4, 3, 0, 0]).unwrap();
    drop(f);
    let log = FileLog::open(dir.path()).unwrap();
    assert_eq!(log.end(), 3);
    assert_eq!(
        std::fs::metadata(&segment).unwrap().len(),
        good_len,
        "the torn frame is gone"
    );
    assert_eq!(log.append(&[b"four"]).unwrap(), 3..4);
    assert_eq!(payloads(&log).len(), 4);
    drop(log);
    // A flipped bit in the last frame: its CRC fails, so it is dropped on recovery.
    let mut bytes = std::fs::read(&segment).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x20;
    std::fs::write(&segment, &bytes).unwrap();
    let log = FileLog::open(dir.path()).unwrap();
    let all = payloads(&log);
    assert_eq!(all.len(), 3);
    assert_eq!(all[2].1, "three");
}

#[test]
fn concurrent_appends_lose_nothing_and_segments_rotate() {
    let dir = tempfile::tempdir().unwrap();
    let log = std::sync::Arc::new(FileLog::open_with_segment_size(dir.path(), 4096).unwrap());
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let log = log.clone();
            std::thread::spawn(move || {
                for n in 0..100 {
                    let records: Vec<String> = (0..5).map(|k| format!("t{t}-{n}-{k}")).collect();
                    let refs: Vec<&[u8]> = records.iter().map(|r| r.as_bytes()).collect();
                    let range = log.append(&refs).unwrap();
                    assert_eq!(range.end - range.start, 5);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let segments = std::fs::read_dir(dir.path()).unwrap().count();
    assert!(segments > 10, "rotation happened: {segments} segments");
    drop(log);
    let log = FileLog::open_with_segment_size(dir.path(), 4096).unwrap();
    let all = payloads(&log);
    assert_eq!(all.len(), 4000);
    assert!(
        all.iter().enumerate().all(|(i, (o, _))| *o == i as u64),
        "offsets are contiguous"
    );
    let unique: HashSet<&String> = all.iter().map(|(_, p)| p).collect();
    assert_eq!(unique.len(), 4000);
    // Each append's records stay together and in order.
    for chunk in all.chunks(5) {
        let stem = chunk[0].1.rsplit_once('-').unwrap().0;
        for (k, (_, p)) in chunk.iter().enumerate() {
            assert_eq!(*p, format!("{stem}-{k}"));
        }
    }
}

const CHILD_DIR: &str = "TENURE_LOG_CRASH_DIR";

/// Not a test on its own: the writer process of `acknowledged_appends_survive_sigkill`.
#[test]
fn crash_writer() {
    let Ok(dir) = std::env::var(CHILD_DIR) else {
        return;
    };
    let log = std::sync::Arc::new(FileLog::open(std::path::Path::new(&dir)).unwrap());
    let out = std::sync::Arc::new(std::sync::Mutex::new(std::io::stdout()));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let (log, out) = (log.clone(), out.clone());
            std::thread::spawn(move || {
                for n in 0.. {
                    let records: Vec<String> = (0..3).map(|k| format!("w{t}-{n}-{k}")).collect();
                    let refs: Vec<&[u8]> = records.iter().map(|r| r.as_bytes()).collect();
                    log.append(&refs).unwrap();
                    let mut out = out.lock().unwrap();
                    for r in &records {
                        writeln!(out, "ack {r}").unwrap();
                    }
                    out.flush().unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn acknowledged_appends_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "crash_writer",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(CHILD_DIR, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut acked = Vec::new();
    let reader = BufReader::new(child.stdout.take().unwrap());
    for line in reader.lines() {
        let line = line.unwrap();
        if let Some(r) = line.strip_prefix("ack ") {
            acked.push(r.to_owned());
            if acked.len() >= 3000 {
                break;
            }
        }
    }
    assert_eq!(
        acked.len(),
        3000,
        "the writer acknowledged appends before it was killed"
    );
    // SIGKILL: no destructor, no flush, no goodbye.
    child.kill().unwrap();
    child.wait().unwrap();
    let log = FileLog::open(dir.path()).unwrap();
    let all = payloads(&log);
    let mut seen = HashSet::new();
    for (i, (o, p)) in all.iter().enumerate() {
        assert_eq!(*o, i as u64);
        assert!(seen.insert(p.clone()), "{p} appears twice");
    }
    for r in &acked {
        assert!(
            seen.contains(r),
            "acknowledged record {r} is missing after the crash"
        );
    }
    assert!(all.len() >= acked.len());
}

#[test]
fn a_tailing_reader_gets_every_record_once_in_order_across_segments() {
    let dir = tempfile::tempdir().unwrap();
    let log = FileLog::open_with_segment_size(dir.path(), 500).unwrap();
    let mut next = 0u64;
    let mut seen = Vec::new();
    for round in 0..60u64 {
        let batch: Vec<Vec<u8>> = (0..round % 9)
            .map(|i| format!("r{round}-{i}").into_bytes())
            .collect();
        let refs: Vec<&[u8]> = batch.iter().map(Vec::as_slice).collect();
        log.append(&refs).unwrap();
        // Read in small steps, sometimes re-reading from an earlier offset.
        loop {
            let from = if round % 7 == 0 && next > 3 {
                next - 3
            } else {
                next
            };
            let got = log.read(from, 5).unwrap();
            let got: Vec<_> = got.into_iter().filter(|(o, _)| *o >= next).collect();
            if got.is_empty() {
                break;
            }
            for (o, p) in got {
                assert_eq!(o, next);
                seen.push(String::from_utf8(p).unwrap());
                next += 1;
            }
        }
    }
    assert_eq!(next, log.end());
    let all: Vec<String> = payloads(&log).into_iter().map(|(_, p)| p).collect();
    assert_eq!(seen, all);
}

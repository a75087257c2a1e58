//! The lake beside the server: materialised from the event log in the background (and on
//! demand, before a report is read, so a report always covers every acknowledged event), and
//! compacted now and then. The data-quality report is read from the state the lake folds.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tenure_lake::{CompactStats, EventLog, Lake, LakeError, LakeState, SyncStats};

/// The lake and the log it is built from.
pub struct LakeService {
    lake: Mutex<Lake>,
    log: Arc<dyn EventLog>,
}

impl LakeService {
    pub fn new(lake: Lake, log: Arc<dyn EventLog>) -> LakeService {
        LakeService {
            lake: Mutex::new(lake),
            log,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Lake> {
        self.lake.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Materialises what the log holds beyond the lake (blocking).
    pub fn sync(&self) -> Result<SyncStats, LakeError> {
        let log = Arc::clone(&self.log);
        self.lock().sync(&|from, limit| log.read(from, limit))
    }

    /// The log offset the lake covers, without waiting: `None` while a sync or compaction
    /// holds the lake.
    pub fn synced_offset(&self) -> Option<u64> {
        self.lake.try_lock().ok().map(|l| l.state().next_offset)
    }

    /// Merges small files (blocking).
    pub fn compact(&self) -> Result<CompactStats, LakeError> {
        self.lock().compact()
    }

    /// Syncs, then reads the lake's state (blocking).
    pub fn current<R>(&self, read: impl FnOnce(&LakeState) -> R) -> Result<R, LakeError> {
        let log = Arc::clone(&self.log);
        let mut lake = self.lock();
        lake.sync(&|from, limit| log.read(from, limit))?;
        Ok(read(lake.state()))
    }

    /// Syncs, then opens the product-event history the lake holds (blocking): every event
    /// acknowledged before the call.
    pub fn history(&self, plan: &tenure_engine::Plan) -> Result<crate::history::Events, LakeError> {
        let log = Arc::clone(&self.log);
        let mut lake = self.lock();
        lake.sync(&|from, limit| log.read(from, limit))?;
        crate::history::Events::of_lake(lake.dir(), lake.state(), plan)
    }

    /// Syncs every `sync_every` and compacts every `compact_every`, forever.
    pub async fn maintain(self: Arc<Self>, sync_every: Duration, compact_every: Duration) {
        let mut since_compaction = Duration::ZERO;
        loop {
            tokio::time::sleep(sync_every).await;
            since_compaction += sync_every;
            let compact = since_compaction >= compact_every;
            if compact {
                since_compaction = Duration::ZERO;
            }
            let me = Arc::clone(&self);
            let done = tokio::task::spawn_blocking(move || -> Result<(), LakeError> {
                let synced = me.sync()?;
                if synced.files > 0 {
                    tracing::debug!(events = synced.events, files = synced.files, "lake synced");
                }
                if compact {
                    let c = me.compact()?;
                    if c.partitions > 0 {
                        tracing::info!(
                            partitions = c.partitions,
                            before = c.files_before,
                            after = c.files_after,
                            "lake compacted"
                        );
                    }
                }
                Ok(())
            })
            .await;
            match done {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::error!(error = %e, "lake maintenance failed; retrying"),
                Err(e) => tracing::error!(error = %e, "lake maintenance panicked; retrying"),
            }
        }
    }
}

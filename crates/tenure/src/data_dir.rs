//! The data directory: `tenure.toml` (the current success model), `tenure.db` (the embedded
//! store, unless `--database-url` names PostgreSQL) and, later, the event lake.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use tenure_domain::{SuccessModel, Timestamp};
use tenure_server::history::Events;
use tenure_store::{ApplyOutcome, Store, StoreLocation};

use crate::failure::{Failure, Outcome};

pub const MODEL_FILE: &str = "tenure.toml";
pub const SQLITE_FILE: &str = "tenure.db";

pub struct DataDir {
    pub root: PathBuf,
    database_url: Option<String>,
}

impl DataDir {
    pub fn new(root: PathBuf, database_url: Option<String>) -> DataDir {
        DataDir { root, database_url }
    }

    pub fn model_path(&self) -> PathBuf {
        self.root.join(MODEL_FILE)
    }

    /// The product-event history: the lake and the log's tail not yet in it.
    pub fn events(&self, plan: &tenure_engine::Plan) -> anyhow::Result<Events> {
        Events::open(&self.root.join("lake"), &self.root.join("log"), plan)
            .context("reading the event lake and log")
    }

    pub fn is_initialised(&self) -> bool {
        self.model_path().is_file()
    }

    pub fn location(&self) -> Outcome<StoreLocation> {
        match &self.database_url {
            Some(url) => {
                StoreLocation::parse(url).map_err(|e| Failure::rejected(format!("error: {e}")))
            }
            None => Ok(StoreLocation::Sqlite(self.root.join(SQLITE_FILE))),
        }
    }

    /// Opens the store of an initialised data directory.
    pub async fn open_store(&self) -> Outcome<Arc<dyn Store>> {
        if !self.is_initialised() {
            return Err(Failure::rejected(format!(
                "error: {} is not a tenure data directory (no {MODEL_FILE}): run `tenure init --data-dir {}` first",
                self.root.display(),
                self.root.display()
            )));
        }
        self.open_store_unchecked().await
    }

    /// Opens (creating) the store, whether or not the directory is initialised yet.
    pub async fn open_store_unchecked(&self) -> Outcome<Arc<dyn Store>> {
        let location = self.location()?;
        let store = tenure_store::open(&location)
            .await
            .with_context(|| format!("opening the store at {}", location.describe()))?;
        Ok(store)
    }
}

/// Reads and validates a model file; an invalid model is a rejected input.
pub fn read_model(path: &Path) -> Outcome<(String, SuccessModel)> {
    let source = std::fs::read_to_string(path).map_err(|e| {
        Failure::rejected(format!(
            "error: cannot read model file {}: {e}",
            path.display()
        ))
    })?;
    let model = SuccessModel::parse(&path.display().to_string(), &source)
        .map_err(|errors| Failure::rejected(errors.to_string()))?;
    Ok((source, model))
}

/// Records `model` as a version and makes it current.
pub async fn apply_model(
    store: &dyn Store,
    source: &str,
    model: &SuccessModel,
    now: Timestamp,
    applied_by: &str,
) -> Outcome<ApplyOutcome> {
    let json = serde_json::to_string(model).context("serialising the model")?;
    Ok(store
        .apply_model(&model.version(), source, &json, now, Some(applied_by))
        .await
        .context("recording the model version")?)
}

/// Writes `contents` to `path` atomically: readers see the old file or the new one, never a
/// half-written one.
pub fn write_atomically(path: &Path, contents: &str) -> Outcome {
    let tmp = path.with_extension("toml.tmp");
    std::fs::write(&tmp, contents).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
    Ok(())
}

//! Tenure's engine: a pure, deterministic fold of signals (product events and records) into
//! per-account features, an explained health score, the customer journey, tier and segment.
//!
//! Data flow: `plan` compiles the success model; `state` folds signals into an account's
//! rings and record lists; `features` evaluates measures on a day; `health` scores and
//! explains; `journey` reads milestones; `engine` keeps every account of one partition and
//! schedules re-scoring; `replay` recomputes history from stored signals.

pub mod day;
mod engine;
pub mod features;
pub mod health;
pub mod journey;
pub mod plan;
pub mod playbook;
pub mod replay;
pub mod state;
pub mod sym;

pub use engine::{AccountView, Change, Engine, EventSignal, Partition, Signal, Summary};
pub use health::Health;
pub use journey::{Journey, Stage};
pub use plan::Plan;
pub use playbook::Firing;

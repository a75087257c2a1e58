//! Tenure's metrics: pure functions over records, no IO and no clock.
//!
//! Data flow: `revenue` turns the ledger of revenue movements (subscription changes) into each
//! account's ARR on any day, and a period's retention figures for any set of accounts.

pub mod revenue;

pub use revenue::{Ledger, Move, Retention};

//! Tenure's metrics: pure functions over records, no IO and no clock.
//!
//! Data flow: `revenue` turns the ledger of revenue movements (subscription changes) into each
//! account's ARR on any day and a period's retention figures for any set of accounts;
//! `period` lays out months, quarters, years and trailing twelve months; `report` builds the
//! ledger from records and produces one row per period and group.

pub mod period;
pub mod report;
pub mod revenue;

pub use report::{GroupBy, RetentionRow, RevenueData};
pub use revenue::{Ledger, Move, Retention};

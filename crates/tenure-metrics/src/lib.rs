//! Tenure's metrics: pure functions over records, no IO and no clock.
//!
//! Data flow: `revenue` turns the ledger of revenue movements (subscription changes) into each
//! account's ARR on any day and a period's retention figures for any set of accounts;
//! `period` lays out months, quarters, years and trailing twelve months; `report` builds the
//! ledger from records and produces one row per period and group; `cohort` follows cohorts of
//! accounts month by month from their first revenue; `evidence` derives renewal decisions and
//! measures how well a signal or a score separated renewals from churn (AUC, quantile lift);
//! `experience` gives NPS, CSAT, CES and ticket figures per period; `usage` folds product
//! events into DAU, WAU and MAU and gives them per period with the journey figures (time to
//! first value, activation and habit rates); `directory` holds the accounts' attributes every
//! report groups by.

pub mod cohort;
pub mod directory;
pub mod evidence;
pub mod experience;
pub mod period;
pub mod report;
pub mod revenue;
pub mod usage;

pub use cohort::CohortRow;
pub use experience::{ExperienceData, ExperienceRow};
pub use report::{GroupBy, RetentionRow, RevenueData};
pub use revenue::{Ledger, Move, Retention};
pub use usage::{ActivityFold, UsageData, UsageRow};

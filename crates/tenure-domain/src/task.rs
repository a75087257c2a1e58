//! Tasks in the success team's inbox, opened by hand or by a playbook.

use serde::{Deserialize, Serialize};

use crate::ids::{AccountId, TaskId, UserId};
use crate::model::{Priority, Role};
use crate::time::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    Open,
    Snoozed,
    Done,
    Cancelled,
}

impl TaskStatus {
    pub fn name(self) -> &'static str {
        match self {
            TaskStatus::Open => "open",
            TaskStatus::Snoozed => "snoozed",
            TaskStatus::Done => "done",
            TaskStatus::Cancelled => "cancelled",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Task {
    pub id: TaskId,
    pub account: AccountId,
    /// The playbook that opened it, if any.
    pub playbook: Option<String>,
    pub title: String,
    pub role: Role,
    pub assignee: Option<UserId>,
    pub priority: Priority,
    pub status: TaskStatus,
    pub created_at: Timestamp,
    /// The SLA deadline.
    pub due_at: Option<Timestamp>,
    pub snoozed_until: Option<Timestamp>,
    pub completed_at: Option<Timestamp>,
    /// What came of it, written when it is completed.
    pub outcome: Option<String>,
}

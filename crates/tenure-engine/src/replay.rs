//! Recomputing history: signals replayed in day order, every account snapshotted at the end
//! of each day. The same fold as live running, so a rescore under a new model version gives
//! exactly what that version would have shown day by day.

use std::sync::Arc;

use tenure_domain::{HealthSnapshot, Record};

use crate::day::{self, Day, Micros};
use crate::engine::{Engine, EventSignal, Partition, Signal};
use crate::plan::Plan;

pub struct Replay {
    engine: Engine,
    /// The last day snapshotted.
    day: Option<Day>,
    /// No snapshots before this day (the fold still covers every event).
    from: Option<Day>,
}

impl Replay {
    pub fn new(plan: Arc<Plan>, partition: Partition) -> Replay {
        Replay {
            engine: Engine::new(plan, partition),
            day: None,
            from: None,
        }
    }

    /// Applies records (accounts, subscriptions, tickets, surveys, activities): they carry
    /// their own times, and every measure reads only what happened by the day evaluated.
    pub fn records<'a>(&mut self, records: impl IntoIterator<Item = &'a Record>, now: Micros) {
        for r in records {
            self.engine.apply(Signal::Record(r), now);
        }
    }

    /// Starts `day`: the snapshots of the days skipped since the last one ended.
    pub fn begin(&mut self, day: Day) -> Vec<HealthSnapshot> {
        let mut out = Vec::new();
        if let Some(last) = self.day {
            for d in last + 1..day {
                out.extend(self.snapshot(d));
            }
        }
        out
    }

    /// Applies one event of `day`, already routed to this replay's partition (the caller
    /// checks the partition once per row).
    pub fn apply_owned(&mut self, day: Day, e: EventSignal<'_>) {
        self.engine
            .apply_owned(Signal::Event(e), day::start_of(day + 1) - 1);
    }

    /// Ends `day`: every live account's snapshot.
    pub fn end(&mut self, day: Day) -> Vec<HealthSnapshot> {
        self.day = Some(day);
        self.snapshot(day)
    }

    /// Snapshots only days from `from` on.
    pub fn snapshot_from(&mut self, from: Option<Day>) {
        self.from = from;
    }

    fn snapshot(&mut self, day: Day) -> Vec<HealthSnapshot> {
        if self.from.is_some_and(|f| day < f) {
            return Vec::new();
        }
        let end = day::start_of(day + 1) - 1;
        self.engine.snapshots_of_live(end)
    }
}

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
}

impl Replay {
    pub fn new(plan: Arc<Plan>, partition: Partition) -> Replay {
        Replay {
            engine: Engine::new(plan, partition),
            day: None,
        }
    }

    /// Applies records (accounts, subscriptions, tickets, surveys, activities): they carry
    /// their own times, and every measure reads only what happened by the day evaluated.
    pub fn records<'a>(&mut self, records: impl IntoIterator<Item = &'a Record>, now: Micros) {
        for r in records {
            self.engine.apply(Signal::Record(r), now);
        }
    }

    /// Applies the events of `day` (any order within the day; days must come in order), then
    /// returns every account's snapshot at the end of that day — and of any day skipped
    /// since the previous call.
    pub fn day<'a>(
        &mut self,
        day: Day,
        events: impl IntoIterator<Item = EventSignal<'a>>,
    ) -> Vec<HealthSnapshot> {
        let end = day::start_of(day + 1) - 1;
        let mut out = Vec::new();
        // Days with no events still get their snapshots, before this day's events arrive.
        if let Some(last) = self.day {
            for d in last + 1..day {
                out.extend(self.snapshot(d));
            }
        }
        for e in events {
            self.engine.apply(Signal::Event(e), end);
        }
        out.extend(self.snapshot(day));
        self.day = Some(day);
        out
    }

    fn snapshot(&mut self, day: Day) -> Vec<HealthSnapshot> {
        let end = day::start_of(day + 1) - 1;
        self.engine.snapshots_of_live(end)
    }

    pub fn engine(&mut self) -> &mut Engine {
        &mut self.engine
    }

    pub fn into_engine(self) -> Engine {
        self.engine
    }
}

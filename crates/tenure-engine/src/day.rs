//! Days and rings of days. Every window in the engine is a whole number of UTC days ending
//! with the day of evaluation: a 7-day window evaluated on day `d` covers days `d-6 ..= d`.
//!
//! State over days lives in rings: slot `day mod capacity`, with a `head` (the latest day
//! written). Moving the head forward clears the slots of the days it passes, so a ring holds
//! exactly the days `head-capacity+1 ..= head`. Writing is commutative (bits are or-ed, counts
//! added) and a write older than the ring is dropped — in any arrival order the final ring is
//! the same, which is what makes late and out-of-order signals give the same result.

/// Days since 1970-01-01 (UTC).
pub type Day = i32;

/// Microseconds since the Unix epoch (UTC): the engine's clock.
pub type Micros = i64;

pub const MICROS_PER_DAY: i64 = 86_400_000_000;

pub fn day_of(t: Micros) -> Day {
    t.div_euclid(MICROS_PER_DAY) as Day
}

pub fn start_of(day: Day) -> Micros {
    day as i64 * MICROS_PER_DAY
}

pub fn date_of(day: Day) -> chrono::NaiveDate {
    chrono::DateTime::from_timestamp(day as i64 * 86_400, 0)
        .map(|t| t.date_naive())
        .unwrap_or_default()
}

pub fn day_of_date(date: chrono::NaiveDate) -> Day {
    date.signed_duration_since(chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default())
        .num_days() as Day
}

/// Marks an empty ring.
pub const NO_DAY: Day = Day::MIN;

/// The ring capacity for windows reaching `horizon` days back. The slack lets events dated
/// up to two days ahead of the evaluation day (clock skew the ingestion did not correct)
/// advance the head without pushing days still inside a window out of the ring.
pub fn capacity(horizon: u32) -> u32 {
    horizon + FUTURE_SLACK_DAYS
}

pub const FUTURE_SLACK_DAYS: u32 = 2;

/// The days of `from ..= to` that a ring with `head` and `cap` holds.
pub fn clip(from: Day, to: Day, head: Day, cap: u32) -> Option<(Day, Day)> {
    if head == NO_DAY {
        return None;
    }
    let lo = from.max(head - cap as Day + 1);
    let hi = to.min(head);
    (lo <= hi).then_some((lo, hi))
}

fn slot(day: Day, cap: u32) -> usize {
    day.rem_euclid(cap as Day) as usize
}

/// Bit-per-day rings, `words` u64 words each, stored back to back in one slice.
pub mod bits {
    use super::*;

    pub fn set(words: &mut [u64], cap: u32, day: Day) {
        let s = slot(day, cap);
        words[s / 64] |= 1 << (s % 64);
    }

    pub fn get(words: &[u64], cap: u32, day: Day) -> bool {
        let s = slot(day, cap);
        words[s / 64] & (1 << (s % 64)) != 0
    }

    pub fn clear(words: &mut [u64], cap: u32, day: Day) {
        let s = slot(day, cap);
        words[s / 64] &= !(1 << (s % 64));
    }

    /// The slots of `from ..= to` (already clipped to the ring) as (word, mask) runs: as
    /// many days at a time as fit in one word without wrapping.
    fn runs(cap: u32, from: Day, to: Day) -> impl Iterator<Item = (usize, u64)> {
        let mut d = from;
        std::iter::from_fn(move || {
            if d > to {
                return None;
            }
            let s = slot(d, cap);
            let bit = s % 64;
            let run = ((64 - bit) as Day)
                .min(to - d + 1)
                .min((cap as usize - s) as Day);
            d += run;
            let mask = if run == 64 {
                u64::MAX
            } else {
                ((1u64 << run) - 1) << bit
            };
            Some((s / 64, mask))
        })
    }

    /// Days set in `from ..= to` (already clipped to the ring).
    pub fn count(words: &[u64], cap: u32, from: Day, to: Day) -> u32 {
        runs(cap, from, to)
            .map(|(w, mask)| (words[w] & mask).count_ones())
            .sum()
    }

    /// Per-word masks of the slots of `from ..= to` (already clipped to the ring): test many
    /// rings against one window with `hits`.
    pub fn masks(cap: u32, from: Day, to: Day) -> Vec<u64> {
        let mut m = vec![0u64; (cap as usize).div_ceil(64)];
        for (w, mask) in runs(cap, from, to) {
            m[w] |= mask;
        }
        m
    }

    /// Whether a ring has a day set under `masks`.
    pub fn hits(words: &[u64], masks: &[u64]) -> bool {
        words.iter().zip(masks).any(|(w, m)| w & m != 0)
    }
}

/// Advances a ring's head to `day`, calling `clear` for each slot day it passes (at most
/// `cap` of them). Returns false when `day` is too old for the ring (the write is dropped).
pub fn advance(head: &mut Day, cap: u32, day: Day, mut clear: impl FnMut(Day)) -> bool {
    if *head == NO_DAY {
        *head = day;
        // A new ring starts zeroed.
        return true;
    }
    if day > *head {
        let from = (*head + 1).max(day - cap as Day + 1);
        for d in from..=day {
            clear(d);
        }
        *head = day;
        true
    } else {
        day > *head - cap as Day
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_days_across_words_and_the_wrap() {
        let cap = 128;
        let mut w = vec![0u64; 2];
        for d in [130, 191, 192, 255] {
            bits::set(&mut w, cap, d);
        }
        // Day 130 is slot 2; the ring holds days 128..=255.
        assert_eq!(bits::count(&w, cap, 128, 255), 4);
        assert_eq!(bits::count(&w, cap, 191, 192), 2);
        assert_eq!(bits::count(&w, cap, 129, 131), 1);
        bits::set(&mut w, cap, 257);
        assert_eq!(
            bits::count(&w, cap, 250, 257),
            2,
            "a window wrapping past the ring's end"
        );
        assert!(bits::get(&w, cap, 255));
        for (from, to) in [(128, 255), (191, 192), (129, 131), (200, 210), (250, 257)] {
            let (lo, hi) = clip(from, to, 257, cap).unwrap();
            assert_eq!(
                bits::hits(&w, &bits::masks(cap, lo, hi)),
                bits::count(&w, cap, lo, hi) > 0,
                "{from}..={to}"
            );
        }
        assert_eq!(bits::count(&w, cap, 131, 190), 0);
    }

    #[test]
    fn advancing_clears_passed_days_and_drops_old_writes() {
        let cap = 64;
        let mut head = NO_DAY;
        let mut w = vec![0u64; 1];
        assert!(advance(&mut head, cap, 10, |_| {}));
        bits::set(&mut w, cap, 10);
        assert!(advance(&mut head, cap, 74, |d| bits::clear(&mut w, cap, d)));
        assert_eq!(w[0], 0, "day 10 left the ring when day 74 arrived");
        assert!(!advance(&mut head, cap, 10, |_| {}));
        assert!(advance(&mut head, cap, 11, |_| {}));
    }

    #[test]
    fn dates_round_trip() {
        let d = chrono::NaiveDate::from_ymd_opt(2025, 3, 1).unwrap();
        assert_eq!(date_of(day_of_date(d)), d);
        assert_eq!(day_of(start_of(day_of_date(d)) + 5), day_of_date(d));
        assert_eq!(day_of(-1), -1);
    }
}

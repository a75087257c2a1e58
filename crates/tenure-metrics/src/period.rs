//! Reporting periods: calendar months, quarters and years, and trailing twelve months.

use chrono::{Datelike, Months, NaiveDate};
use serde::Serialize;
use tenure_domain::model::Period;

/// One period: its label and its days `from ..= to`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Span {
    pub label: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
}

fn first_of_month(d: NaiveDate) -> NaiveDate {
    d.with_day(1).unwrap_or(d)
}

/// The periods of `kind` that end within `from ..= to`, oldest first. Calendar periods are
/// whole (a quarter that ends inside the range is reported in full); a trailing-twelve-months
/// period ends on the last day of each month in the range.
pub fn spans(kind: Period, from: NaiveDate, to: NaiveDate) -> Vec<Span> {
    let step = match kind {
        Period::Month | Period::Ttm => 1,
        Period::Quarter => 3,
        Period::Year => 12,
    };
    // The first period start on the calendar grid at or before `from`.
    let mut start = match kind {
        Period::Month | Period::Ttm => first_of_month(from),
        Period::Quarter => {
            NaiveDate::from_ymd_opt(from.year(), (from.month0() / 3) * 3 + 1, 1).unwrap_or(from)
        }
        Period::Year => NaiveDate::from_ymd_opt(from.year(), 1, 1).unwrap_or(from),
    };
    let mut out = Vec::new();
    while start <= to {
        let Some(next) = start.checked_add_months(Months::new(step)) else {
            break;
        };
        let end = next.pred_opt().unwrap_or(next);
        if end >= from && end <= to {
            out.push(match kind {
                Period::Month => Span {
                    label: start.format("%Y-%m").to_string(),
                    from: start,
                    to: end,
                },
                Period::Quarter => Span {
                    label: format!("{}-Q{}", start.year(), start.month0() / 3 + 1),
                    from: start,
                    to: end,
                },
                Period::Year => Span {
                    label: start.format("%Y").to_string(),
                    from: start,
                    to: end,
                },
                Period::Ttm => Span {
                    label: format!("TTM to {}", end.format("%Y-%m")),
                    from: next.checked_sub_months(Months::new(12)).unwrap_or(start),
                    to: end,
                },
            });
        }
        start = next;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn quarters_are_whole_and_end_in_the_range() {
        let q = spans(Period::Quarter, d("2025-02-10"), d("2025-12-31"));
        let labels: Vec<&str> = q.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(labels, ["2025-Q1", "2025-Q2", "2025-Q3", "2025-Q4"]);
        assert_eq!((q[0].from, q[0].to), (d("2025-01-01"), d("2025-03-31")));
        // A quarter still running on `to` is not reported.
        assert_eq!(
            spans(Period::Quarter, d("2025-01-01"), d("2025-03-30")).len(),
            0
        );
    }

    #[test]
    fn months_years_and_trailing_twelve_months() {
        let m = spans(Period::Month, d("2024-01-31"), d("2024-03-31"));
        assert_eq!(m.len(), 3);
        assert_eq!((m[1].from, m[1].to), (d("2024-02-01"), d("2024-02-29")));
        let y = spans(Period::Year, d("2023-06-01"), d("2024-12-31"));
        assert_eq!(
            y.iter().map(|s| s.label.as_str()).collect::<Vec<_>>(),
            ["2023", "2024"]
        );
        let t = spans(Period::Ttm, d("2025-03-01"), d("2025-04-30"));
        assert_eq!(t.len(), 2);
        assert_eq!((t[0].from, t[0].to), (d("2024-04-01"), d("2025-03-31")));
        assert_eq!(t[1].label, "TTM to 2025-04");
    }
}

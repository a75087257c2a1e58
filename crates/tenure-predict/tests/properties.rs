//! Properties on random data: the concordance's O(n log n) count equals the pairwise
//! definition; Kaplan–Meier never rises and its band holds the estimate; a Cox fit does not
//! depend on the order of the rows.

use proptest::prelude::*;
use tenure_predict::{cox, survival};

/// Harrell's C by its definition, pair by pair (lifelines' counting of ties).
fn brute_concordance(t: &[f64], e: &[bool], s: &[f64]) -> f64 {
    let (mut pairs, mut score) = (0.0, 0.0);
    for i in 0..t.len() {
        for j in 0..t.len() {
            // i is the earlier event; j outlived it (or was censored at its time).
            let comparable = e[i] && (t[j] > t[i] || (t[j] == t[i] && !e[j]));
            if !comparable || i == j {
                continue;
            }
            pairs += 1.0;
            if s[i] < s[j] {
                score += 1.0;
            } else if s[i] == s[j] {
                score += 0.5;
            }
        }
    }
    if pairs == 0.0 {
        0.5
    } else {
        score / pairs
    }
}

proptest! {
    #[test]
    fn concordance_equals_the_pairwise_count(
        rows in prop::collection::vec((0u8..12, any::<bool>(), 0u8..6), 1..60),
    ) {
        let t: Vec<f64> = rows.iter().map(|r| f64::from(r.0)).collect();
        let e: Vec<bool> = rows.iter().map(|r| r.1).collect();
        let s: Vec<f64> = rows.iter().map(|r| f64::from(r.2)).collect();
        let fast = cox::concordance(&t, &e, &s);
        let slow = brute_concordance(&t, &e, &s);
        prop_assert!((fast - slow).abs() < 1e-12, "{fast} vs {slow}");
    }

    #[test]
    fn kaplan_meier_never_rises_and_its_band_holds_it(
        rows in prop::collection::vec((0u16..500, any::<bool>()), 1..200),
    ) {
        let d: Vec<(f64, bool)> = rows.iter().map(|r| (f64::from(r.0), r.1)).collect();
        let km = survival::kaplan_meier(&d, 0.95);
        let mut last = 1.0;
        for s in &km.table {
            prop_assert!(s.survival <= last + 1e-15);
            prop_assert!(s.lower <= s.survival + 1e-12 && s.survival <= s.upper + 1e-12);
            prop_assert!((0.0..=1.0).contains(&s.lower) && (0.0..=1.0).contains(&s.upper));
            last = s.survival;
        }
        let total: u64 = km.table.iter().map(|s| s.events + s.censored).sum();
        prop_assert_eq!(total, d.len() as u64);
        if let Some(m) = km.median {
            prop_assert!(km.survival_at(m) <= 0.5);
        }
    }

    #[test]
    fn cox_does_not_depend_on_row_order(
        rows in prop::collection::vec((1u8..30, any::<bool>(), -3i8..4, 0u8..2), 12..50),
        rotate in 0usize..50,
    ) {
        prop_assume!(rows.iter().filter(|r| r.1).count() >= 3);
        let fit = |rows: &[(u8, bool, i8, u8)]| {
            let t: Vec<f64> = rows.iter().map(|r| f64::from(r.0)).collect();
            let e: Vec<bool> = rows.iter().map(|r| r.1).collect();
            let x: Vec<Vec<f64>> = rows.iter().map(|r| vec![f64::from(r.2), f64::from(r.3)]).collect();
            cox::fit(&t, &e, &x, &["a".to_owned(), "b".to_owned()])
        };
        let mut turned = rows.clone();
        turned.rotate_left(rotate % rows.len());
        match (fit(&rows), fit(&turned)) {
            (Ok(a), Ok(_)) if !a.warnings.is_empty() => {}
            (Ok(a), Ok(b)) => {
                prop_assert!((a.log_likelihood - b.log_likelihood).abs() < 1e-9);
                for (x, y) in a.coefficients.iter().zip(&b.coefficients) {
                    prop_assert!((x.coef - y.coef).abs() < 1e-7, "{} vs {}", x.coef, y.coef);
                }
            }
            (Err(_), Err(_)) => {}
            (a, b) => prop_assert!(false, "one fit failed: {a:?} / {b:?}"),
        }
    }
}

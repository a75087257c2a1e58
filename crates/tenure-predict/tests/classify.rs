//! The classifiers and probability scores against scikit-learn (tests/data/sklearn.json on
//! breast_cancer_8.csv), and the boosted trees' own guarantees.

use serde_json::Value;
use tenure_predict::classify::{self, TreeParams};
use tenure_predict::eval;

fn data(name: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn sklearn() -> Value {
    serde_json::from_str(&data("sklearn.json")).unwrap()
}

/// (x row-major, p, y).
fn breast_cancer() -> (Vec<f64>, usize, Vec<bool>) {
    let text = data("breast_cancer_8.csv");
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let p = r.headers().unwrap().len() - 1;
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for rec in r.records() {
        let rec = rec.unwrap();
        for j in 0..p {
            x.push(rec[j].parse::<f64>().unwrap());
        }
        y.push(&rec[p] == "1");
    }
    (x, p, y)
}

fn close(got: f64, want: &Value, rel: f64, what: &str) {
    let w = want.as_f64().unwrap();
    assert!(
        (got - w).abs() <= rel * w.abs().max(1e-12),
        "{what}: {got} vs {w}"
    );
}

#[test]
fn logistic_regression_matches_scikit_learn() {
    let (x, p, y) = breast_cancer();
    for c in [1.0, 0.1] {
        let want = &sklearn()[format!("logistic_C{c:?}")];
        let m = classify::fit_logistic(&x, p, &y, c);
        close(m.intercept, &want["intercept"], 1e-6, "intercept");
        for j in 0..p {
            close(m.coefs[j], &want["coef"][j], 1e-6, "coef");
        }
        let probs: Vec<f64> = x.chunks(p).map(|r| m.probability(r)).collect();
        close(eval::auc(&probs, &y).unwrap(), &want["auc"], 1e-12, "auc");
        close(
            eval::average_precision(&probs, &y).unwrap(),
            &want["average_precision"],
            1e-9,
            "average precision",
        );
        close(
            eval::brier(&probs, &y).unwrap(),
            &want["brier"],
            1e-6,
            "brier",
        );
        close(
            eval::log_loss(&probs, &y).unwrap(),
            &want["log_loss"],
            1e-6,
            "log loss",
        );
        // Drivers add up to the log-odds.
        let row = &x[..p];
        let sum: f64 = m.drivers(row).iter().sum();
        assert!((m.intercept + sum - m.log_odds(row)).abs() < 1e-12);
    }
}

#[test]
fn scores_with_ties_match_scikit_learn() {
    let want = &sklearn()["ties"];
    let s: Vec<f64> = want["scores"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    let y: Vec<bool> = want["y"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64() == Some(1))
        .collect();
    close(eval::auc(&s, &y).unwrap(), &want["auc"], 1e-12, "auc");
    close(
        eval::average_precision(&s, &y).unwrap(),
        &want["average_precision"],
        1e-12,
        "ap",
    );
}

#[test]
fn calibration_matches_scikit_learn() {
    let (x, p, y) = breast_cancer();
    let s: Vec<f64> = x.chunks(p).map(|r| r[0]).collect();
    let iso = classify::fit_isotonic(&s, &y);
    let want = &sklearn()["isotonic_on_feature_0"];
    for (pt, w) in want["points"]
        .as_array()
        .unwrap()
        .iter()
        .zip(want["predictions"].as_array().unwrap())
    {
        let got = iso.apply(pt.as_f64().unwrap());
        assert!(
            (got - w.as_f64().unwrap()).abs() < 1e-9,
            "isotonic at {pt}: {got} vs {w}"
        );
    }
    let platt = classify::fit_platt(&s, &y);
    let want = &sklearn()["platt_on_feature_0"];
    close(platt.a, &want["a"], 1e-6, "a");
    close(platt.b, &want["b"], 1e-6, "b");
}

#[test]
fn boosted_trees_learn_and_their_drivers_add_up() {
    let (x, p, y) = breast_cancer();
    // Holes in the data: every seventh value of the first column is missing.
    let mut holed = x.clone();
    for i in (0..y.len()).step_by(7) {
        holed[i * p] = f64::NAN;
    }
    let m = classify::fit_gbdt(&holed, p, &y, TreeParams::default());
    let probs: Vec<f64> = holed.chunks(p).map(|r| m.probability(r)).collect();
    let auc = eval::auc(&probs, &y).unwrap();
    assert!(auc > 0.97, "training AUC {auc}");
    for r in holed.chunks(p).take(50) {
        let (base, d) = m.drivers(r, p);
        let total = base + d.iter().sum::<f64>();
        assert!(
            (total - m.log_odds(r)).abs() < 1e-9,
            "{total} vs {}",
            m.log_odds(r)
        );
    }
    // Deterministic: the same data gives the same model.
    let again = classify::fit_gbdt(&holed, p, &y, TreeParams::default());
    assert_eq!(m, again);
    let table = eval::calibration_table(&probs, &y, 10);
    assert_eq!(table.iter().map(|b| b.count).sum::<u64>(), y.len() as u64);
    assert!(eval::calibration_error(&table).unwrap() < 0.1);
    assert!(eval::top_decile_lift(&probs, &y).unwrap() > 1.0);
}

#[test]
fn prep_fills_scales_and_flags_gaps() {
    let x = vec![1.0, f64::NAN, 3.0, 4.0, 5.0, 6.0];
    let prep = classify::Prep::fit(&x, 2, &["a".to_owned(), "b".to_owned()]);
    assert_eq!(prep.means, vec![3.0, 5.0]);
    assert_eq!(prep.indicators, vec![false, true]);
    assert_eq!(prep.columns(), ["a", "b", "b missing"]);
    let row = prep.row(&[3.0, f64::NAN]);
    assert_eq!(row, vec![0.0, 0.0, 1.0]);
}

/// A synthetic world whose churn probability is known: σ(−3 + 1.2 a − 0.8 b), with b missing
/// for a fifth of the rows (and then no signal from it), a drifting over time.
fn world(n: usize, seed: u64) -> Vec<tenure_predict::backtest::Sample> {
    let mut state = seed;
    let mut next = || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    };
    (0..n)
        .map(|i| {
            let a = next() * 4.0 - 2.0;
            let b = next() * 4.0 - 2.0;
            let missing = next() < 0.2;
            let z = -3.0 + 1.2 * a - if missing { 0.0 } else { 0.8 * b };
            let p = 1.0 / (1.0 + (-z).exp());
            let churned = next() < p;
            tenure_predict::backtest::Sample {
                day: (i / 10) as i64,
                positive: churned,
                features: vec![a, if missing { f64::NAN } else { b }, next()],
                health: 50.0 - 10.0 * a + next() * 30.0,
                groups: vec![(
                    "tier".into(),
                    if i % 2 == 0 {
                        "even".into()
                    } else {
                        "odd".into()
                    },
                )],
                truth: Some(p),
            }
        })
        .collect()
}

#[test]
fn a_backtest_recovers_a_known_world() {
    use tenure_predict::backtest::{run, BacktestError, Options};
    let names: Vec<String> = ["a", "b", "noise"].iter().map(|s| s.to_string()).collect();
    let samples = world(20_000, 7);
    let (report, models) = run(&names, &samples, Options::default()).unwrap();
    let by = |m: &str| report.models.iter().find(|s| s.model == m).unwrap();
    let truth = by("true probability").auc.unwrap();
    let truth_error = by("true probability").calibration_error.unwrap();
    for m in ["logistic regression", "boosted trees"] {
        let s = by(m);
        let auc = s.auc.unwrap();
        assert!(truth - auc < 0.02, "{m}: AUC {auc} vs the truth's {truth}");
        // Calibration within sampling noise of the true probabilities' own.
        let error = s.calibration_error.unwrap();
        assert!(
            error < truth_error + 0.02,
            "{m}: calibration error {error} vs {truth_error}"
        );
    }
    // The health score only knows `a`: it does worse than the models.
    assert!(by("health score").auc.unwrap() < by("logistic regression").auc.unwrap());
    // No test decision precedes a training one.
    assert!(report.train.last_day < report.calibration.first_day);
    assert!(report.calibration.last_day < report.test.first_day);
    assert_eq!(
        report.train.decisions + report.calibration.decisions + report.test.decisions,
        samples.len()
    );
    let coef = |f: &str| report.importance.iter().find(|i| i.feature == f).unwrap();
    assert!(coef("a").logistic_coef > 0.5 && coef("b").logistic_coef < -0.3);
    assert!(coef("noise").tree_gain_share < coef("a").tree_gain_share);
    assert_eq!(report.by_group.len(), 2);
    assert!(
        models.trees_probability(&[2.0, -2.0, 0.5]) > models.trees_probability(&[-2.0, 2.0, 0.5])
    );
    assert!(matches!(
        run(&names, &samples[..20], Options::default()),
        Err(BacktestError::TooFew(20))
    ));
    let all_renew: Vec<_> = samples
        .iter()
        .cloned()
        .map(|mut s| {
            s.positive = false;
            s
        })
        .collect();
    assert!(matches!(
        run(&names, &all_renew, Options::default()),
        Err(BacktestError::OneOutcome(_))
    ));
}

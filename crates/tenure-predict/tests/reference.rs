//! Every model against lifelines and lifetimes on data they ship: CDNOW (BG/NBD, Gamma-Gamma),
//! rossi (Kaplan–Meier, log-rank, Cox with Efron ties) and waltons (Kaplan–Meier by group,
//! log-rank). Expected figures are in tests/data/*.json.

use serde_json::Value;
use tenure_predict::bgnbd::{self, Customer};
use tenure_predict::{cox, survival};

fn data(name: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn json(name: &str) -> Value {
    serde_json::from_str(&data(name)).unwrap()
}

fn rows(name: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let text = data(name);
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let header = r.headers().unwrap().iter().map(str::to_owned).collect();
    let rows = r
        .records()
        .map(|x| x.unwrap().iter().map(str::to_owned).collect())
        .collect();
    (header, rows)
}

fn close(got: f64, want: f64, rel: f64, what: &str) {
    let err = (got - want).abs() / want.abs().max(1e-12);
    assert!(
        err <= rel,
        "{what}: {got} vs {want} (relative error {err:e})"
    );
}

fn cdnow() -> (Vec<Customer>, Vec<f64>) {
    let (h, rows) = rows("cdnow_summary.csv");
    let col = |n: &str| h.iter().position(|c| c == n).unwrap();
    let (f, r, t, m) = (
        col("frequency"),
        col("recency"),
        col("T"),
        col("monetary_value"),
    );
    let customers = rows
        .iter()
        .map(|x| Customer {
            frequency: x[f].parse().unwrap(),
            recency: x[r].parse().unwrap(),
            t: x[t].parse().unwrap(),
        })
        .collect();
    (
        customers,
        rows.iter().map(|x| x[m].parse().unwrap()).collect(),
    )
}

#[test]
fn bgnbd_on_cdnow() {
    let (customers, _) = cdnow();
    let fit = bgnbd::fit(&customers).unwrap();
    let want = &json("reference.json")["cdnow_summary.csv"]["bgnbd"];
    for (got, key) in [
        (fit.r, "r"),
        (fit.alpha, "alpha"),
        (fit.a, "a"),
        (fit.b, "b"),
        (fit.log_likelihood, "log_likelihood"),
    ] {
        close(got, want[key].as_f64().unwrap(), 1e-6, key);
    }
    let se = fit.standard_errors(&customers).unwrap();
    let want = &json("reference.json")["cdnow_summary.csv"]["bgnbd_standard_errors"];
    for (got, key) in [(se.r, "r"), (se.alpha, "alpha"), (se.a, "a"), (se.b, "b")] {
        close(got, want[key].as_f64().unwrap(), 1e-3, key);
    }
    let want = &json("lifelines.json")["bgnbd_predictions_first_6_rows"];
    for i in 0..6 {
        let c = &customers[i];
        close(
            fit.p_alive(c),
            want["p_alive"][i].as_f64().unwrap(),
            1e-6,
            "p_alive",
        );
        close(
            fit.expected_purchases(c, 10.0),
            want["expected_purchases_10"][i].as_f64().unwrap(),
            1e-6,
            "expected purchases",
        );
    }
    close(
        fit.expected_purchases_new(39.0),
        want["expected_purchases_new_39"].as_f64().unwrap(),
        1e-6,
        "expected purchases of a new customer",
    );
}

#[test]
fn gamma_gamma_on_cdnow() {
    let (customers, spend) = cdnow();
    let pairs: Vec<(f64, f64)> = customers
        .iter()
        .zip(&spend)
        .map(|(c, m)| (c.frequency, *m))
        .collect();
    let fit = bgnbd::fit_gamma_gamma(&pairs).unwrap();
    let want =
        &json("reference.json")["cdnow_summary.csv"]["gamma_gamma_on_rows_with_frequency_gt_0"];
    close(fit.p, want["p"].as_f64().unwrap(), 1e-6, "p");
    close(fit.q, want["q"].as_f64().unwrap(), 1e-6, "q");
    close(fit.v, want["v"].as_f64().unwrap(), 1e-6, "v");
    assert_eq!(fit.customers as u64, want["n_customers"].as_u64().unwrap());
    let want = &json("lifelines.json")["gamma_gamma_spend_first_6_rows"]["expected_spend"];
    for i in 0..6 {
        close(
            fit.expected_spend(pairs[i].0, pairs[i].1),
            want[i].as_f64().unwrap(),
            1e-6,
            "expected spend",
        );
    }
}

fn rossi() -> (Vec<String>, Vec<Vec<f64>>) {
    let (h, rows) = rows("rossi.csv");
    (
        h,
        rows.iter()
            .map(|r| r.iter().map(|v| v.parse().unwrap()).collect())
            .collect(),
    )
}

fn check_km(km: &survival::KaplanMeier, want: &Value) {
    let times = want["times"].as_array().unwrap();
    assert_eq!(km.table.len(), times.len());
    for (i, s) in km.table.iter().enumerate() {
        assert_eq!(s.time, times[i].as_f64().unwrap());
        for (got, key) in [
            (s.survival, "survival"),
            (s.lower, "lower"),
            (s.upper, "upper"),
        ] {
            let w = want[key][i].as_f64().unwrap();
            assert!((got - w).abs() < 1e-9, "{key} at {}: {got} vs {w}", s.time);
        }
    }
    assert_eq!(km.median, want["median"].as_f64());
}

#[test]
fn kaplan_meier_and_log_rank_on_rossi() {
    let (h, rows) = rossi();
    let col = |n: &str| h.iter().position(|c| c == n).unwrap();
    let (week, arrest) = (col("week"), col("arrest"));
    let d: Vec<(f64, bool)> = rows.iter().map(|r| (r[week], r[arrest] == 1.0)).collect();
    let km = survival::kaplan_meier(&d, 0.95);
    check_km(&km, &json("lifelines.json")["km_rossi"]);
    let want = &json("reference.json")["rossi.csv"]["kaplan_meier_week_arrest"]["survival_at"];
    for (t, s) in want.as_object().unwrap() {
        close(
            km.survival_at(t.parse().unwrap()),
            s.as_f64().unwrap(),
            1e-12,
            t,
        );
    }
    let fin = col("fin");
    let by_fin: Vec<(f64, bool, usize)> = rows
        .iter()
        .map(|r| (r[week], r[arrest] == 1.0, r[fin] as usize))
        .collect();
    let lr = survival::log_rank(&by_fin, 2).unwrap();
    let want = &json("lifelines.json")["logrank_rossi_by_fin"];
    close(
        lr.statistic,
        want["statistic"].as_f64().unwrap(),
        1e-9,
        "statistic",
    );
    close(lr.p, want["p"].as_f64().unwrap(), 1e-8, "p");
    let prio = col("prio");
    let by_prio: Vec<(f64, bool, usize)> = rows
        .iter()
        .map(|r| (r[week], r[arrest] == 1.0, r[prio].min(3.0) as usize))
        .collect();
    let lr = survival::log_rank(&by_prio, 4).unwrap();
    let want = &json("lifelines.json")["logrank_rossi_by_prio_capped_3"];
    close(
        lr.statistic,
        want["statistic"].as_f64().unwrap(),
        1e-9,
        "statistic",
    );
    close(lr.p, want["p"].as_f64().unwrap(), 1e-8, "p");
    assert_eq!(lr.degrees_of_freedom as u64, want["df"].as_u64().unwrap());
}

#[test]
fn kaplan_meier_by_group_on_waltons() {
    let (_, rows) = rows("waltons.csv");
    let want = &json("lifelines.json")["km_waltons_by_group"];
    let mut labels: Vec<&str> = rows.iter().map(|r| r[2].as_str()).collect();
    labels.sort_unstable();
    labels.dedup();
    let mut all = Vec::new();
    for (g, label) in labels.iter().enumerate() {
        let d: Vec<(f64, bool)> = rows
            .iter()
            .filter(|r| r[2] == *label)
            .map(|r| (r[0].parse().unwrap(), r[1] == "1"))
            .collect();
        check_km(&survival::kaplan_meier(&d, 0.95), &want["groups"][label]);
        all.extend(d.iter().map(|(t, e)| (*t, *e, g)));
    }
    let lr = survival::log_rank(&all, labels.len()).unwrap();
    close(
        lr.statistic,
        want["logrank"]["statistic"].as_f64().unwrap(),
        1e-9,
        "statistic",
    );
    close(lr.p, want["logrank"]["p"].as_f64().unwrap(), 1e-6, "p");
}

fn check_cox(columns: &[&str], want: &Value) {
    let (h, rows) = rossi();
    let col = |n: &str| h.iter().position(|c| c == n).unwrap();
    let time: Vec<f64> = rows.iter().map(|r| r[col("week")]).collect();
    let event: Vec<bool> = rows.iter().map(|r| r[col("arrest")] == 1.0).collect();
    let x: Vec<Vec<f64>> = rows
        .iter()
        .map(|r| columns.iter().map(|c| r[col(c)]).collect())
        .collect();
    let names: Vec<String> = columns.iter().map(|c| c.to_string()).collect();
    let fit = cox::fit(&time, &event, &x, &names).unwrap();
    for c in &fit.coefficients {
        for (got, key, rel) in [
            (c.coef, "coef", 1e-6),
            (c.se, "se", 1e-6),
            (c.z, "z", 1e-6),
            (c.p, "p", 1e-5),
            (c.hazard_ratio, "hazard_ratio", 1e-6),
        ] {
            if let Some(w) = want.get(key) {
                close(
                    got,
                    w[&c.name].as_f64().unwrap(),
                    rel,
                    &format!("{key} {}", c.name),
                );
            }
        }
    }
    close(
        fit.log_likelihood,
        want["log_likelihood"].as_f64().unwrap(),
        1e-9,
        "log likelihood",
    );
    close(
        fit.concordance,
        want["concordance"].as_f64().unwrap(),
        1e-12,
        "concordance",
    );
}

#[test]
fn cox_on_rossi() {
    let all = ["fin", "age", "race", "wexp", "mar", "paro", "prio"];
    check_cox(
        &all,
        &json("reference.json")["rossi.csv"]["cox_efron_week_arrest_all_other_columns"],
    );
    check_cox(&all, &json("lifelines.json")["cox_rossi_all"]);
    check_cox(
        &["fin", "age", "prio"],
        &json("lifelines.json")["cox_rossi_fin_age_prio"],
    );
}

#[test]
fn concordance_with_tied_times_and_scores() {
    let want = &json("lifelines.json")["concordance_ties"];
    let f = |k: &str| -> Vec<f64> {
        want[k]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect()
    };
    let events: Vec<bool> = f("events").iter().map(|e| *e == 1.0).collect();
    close(
        cox::concordance(&f("durations"), &events, &f("scores")),
        want["value"].as_f64().unwrap(),
        1e-12,
        "concordance",
    );
}

#[test]
fn customer_lifetime_value_on_cdnow() {
    let (customers, spend) = cdnow();
    let bg = bgnbd::fit(&customers).unwrap();
    let pairs: Vec<(f64, f64)> = customers
        .iter()
        .zip(&spend)
        .map(|(c, m)| (c.frequency, *m))
        .collect();
    let gg = bgnbd::fit_gamma_gamma(&pairs).unwrap();
    let want = &json("lifelines.json")["clv_first_6_rows"];
    for i in 0..6 {
        let clv =
            bgnbd::customer_lifetime_value(&bg, &gg, &customers[i], spend[i], 12, 4.345, 0.01);
        close(clv, want["clv"][i].as_f64().unwrap(), 1e-6, "clv");
    }
}

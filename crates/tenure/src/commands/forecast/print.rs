//! The forecast and the review as text.

use tenure_domain::Currency;

use super::{Actual, Driver, ForecastReport, Period, Review};

fn money(minor: f64, currency: &str) -> String {
    let exp = Currency::parse(currency).map_or(2, |c| c.exponent());
    format!("{:.0} {currency}", minor / 10f64.powi(exp as i32))
}

fn percent(x: Option<f64>) -> String {
    x.map_or("–".to_owned(), |x| format!("{:.1} %", x * 100.0))
}

fn driver_text(d: &[Driver]) -> String {
    d.iter()
        .map(|d| {
            format!(
                "{} {}{:.2} ({})",
                d.feature,
                if d.push >= 0.0 { "+" } else { "" },
                d.push,
                d.value.map_or("missing".to_owned(), |v| format!("{v:.3}"))
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Prints the forecast (the demo's too).
pub fn print(r: &ForecastReport) {
    let f = &r.forecast;
    let c = r.currency.as_str();
    println!(
        "Renewal forecast, {} … {} ({} renewals; {} trained on {} earlier decisions, backtest AUC {:.3})",
        r.as_of,
        r.window_end,
        f.renewals,
        r.model.name(),
        r.trained_on_decisions,
        r.backtest_auc
    );
    if let Some(id) = &r.registered_model {
        println!(
            "  (registered model {id}{})",
            if r.recalibrated_on > 0 {
                format!(
                    ", recalibrated on the {} decisions since it was trained",
                    r.recalibrated_on
                )
            } else {
                String::new()
            }
        );
    }
    println!(
        "  ARR up for renewal {}: expected to renew {} ({:.0} % interval {} … {}), at risk {}, expected churns {:.1}",
        money(f.arr_up_for_renewal as f64, c),
        money(f.expected_renewed_arr, c),
        f.level * 100.0,
        money(f.renewed_arr_low, c),
        money(f.renewed_arr_high, c),
        money(f.arr_at_risk, c),
        f.expected_churns
    );
    if r.other_currency > 0 {
        println!(
            "  ({} subscriptions in other currencies left out)",
            r.other_currency
        );
    }
    let v = &r.revenue;
    let e = &r.expansion;
    println!(
        "  Revenue of the {} paying accounts ({}): churn −{}, contraction −{}, expansion +{} ({:.0} % interval {} … {}) → NRR {} ({:.0} % interval {} … {}), GRR {}",
        v.accounts,
        money(v.start_arr as f64, c),
        money(v.expected_churned_arr, c),
        money(v.expected_contraction_arr, c),
        money(v.expected_expansion_arr, c),
        v.level * 100.0,
        money(v.expansion_arr_low, c),
        money(v.expansion_arr_high, c),
        percent(v.expected_nrr),
        v.level * 100.0,
        percent(v.nrr_low),
        percent(v.nrr_high),
        percent(v.expected_grr),
    );
    match (e.model, &e.note) {
        (Some(m), _) => println!(
            "  Expansion: {} on {} earlier {}-day windows ({} expanded, mean +{} of ARR; contraction in {} of windows, mean −{}), backtest AUC {}",
            m.name(),
            e.windows,
            r.days,
            e.expanded,
            percent(e.mean_expansion_ratio),
            percent(Some(e.contraction_rate)),
            percent(e.mean_contraction_ratio),
            e.backtest_auc.map_or("–".to_owned(), |a| format!("{a:.3}"))
        ),
        (None, note) => println!("  Expansion: {}", note.as_deref().unwrap_or("no model")),
    }
    println!("  Riskiest renewals (ARR × churn probability):");
    for u in r.riskiest.iter().take(5) {
        println!(
            "    {} on {}: {} at {:.0} %{} — {}",
            u.account,
            u.renewal_date,
            money(u.arr as f64, c),
            u.churn_probability * 100.0,
            if u.cancelled { " (cancelled)" } else { "" },
            driver_text(&u.drivers)
        );
    }
    if e.model.is_some() {
        println!("  Likeliest expansions (expected expansion ARR):");
        for x in r.expanding.iter().take(5) {
            println!(
                "    {}: {} at {:.0} % → +{} — {}",
                x.account,
                money(x.arr as f64, c),
                x.expansion_probability * 100.0,
                money(x.expected_expansion_arr, c),
                driver_text(&x.drivers)
            );
        }
    }
    let shifted: Vec<String> = r
        .drift
        .iter()
        .filter(|d| d.psi >= 0.25)
        .map(|d| format!("{} (PSI {:.2})", d.feature, d.psi))
        .collect();
    if shifted.is_empty() {
        println!(
            "  Drift: every feature is within PSI 0.25 of the decisions the model learnt from"
        );
    } else {
        println!(
            "  Drift (the accounts against the decisions the model learnt from, PSI ≥ 0.25): {}",
            shifted.join(", ")
        );
    }
    if !r.rising.is_empty() {
        println!("  Churn probability rose most in 30 days:");
    }
    for u in &r.rising {
        println!(
            "    {}: {:.1} % → {:.1} % — {}",
            u.account,
            u.churn_probability_30_days_ago * 100.0,
            u.churn_probability * 100.0,
            driver_text(&u.drivers)
        );
    }
    for s in &r.what_if {
        println!(
            "  What if {}: renewed ARR {}{}, at risk {}, expansion {}{} → NRR {} ({})",
            s.what_if.text,
            if s.renewed_arr_change >= 0.0 {
                "+"
            } else {
                "−"
            },
            money(s.renewed_arr_change.abs(), c),
            money(s.arr_at_risk, c),
            if s.expansion_arr_change >= 0.0 {
                "+"
            } else {
                "−"
            },
            money(s.expansion_arr_change.abs(), c),
            percent(s.expected_nrr),
            s.nrr_change
                .map_or("–".to_owned(), |d| format!("{:+.2} points", d * 100.0)),
        );
    }
    if let Some(a) = &r.actual {
        print_actual("  Actual", r, a);
    }
}

fn print_actual(lead: &str, r: &ForecastReport, a: &Actual) {
    let c = r.currency.as_str();
    println!(
        "{lead}: renewed {} (forecast {}, {}), {} churned renewals (forecast {:.1}); NRR {} (forecast {}, {}), GRR {}",
        money(a.renewed_arr as f64, c),
        money(r.forecast.expected_renewed_arr, c),
        if a.renewed_arr_within_interval { "inside its interval" } else { "outside its interval" },
        a.churned_renewals,
        r.forecast.expected_churns,
        percent(a.nrr),
        percent(r.revenue.expected_nrr),
        if a.nrr_within_interval { "inside its interval" } else { "outside its interval" },
        percent(a.grr),
    );
}

pub fn print_review(r: &Review) {
    let c = r.currency.as_str();
    println!(
        "Forecast against actual, the last {} closed {}-day windows (each forecast with only what was known at its start):",
        r.periods.len(),
        r.days
    );
    println!(
        "  {:<10} {:>14} {:>27} {:>14} {:>8} {:>17} {:>8}",
        "as of", "renewed (fc)", "90 % interval", "renewed", "churns", "NRR fc (interval)", "NRR"
    );
    for p in &r.periods {
        println!(
            "  {:<10} {:>14} {:>27} {:>14} {:>3} ({:>4.1}) {:>17} {:>8}",
            p.as_of,
            money(p.forecast.expected_renewed_arr, c),
            format!(
                "{} … {}",
                money(p.forecast.renewed_arr_low, c),
                money(p.forecast.renewed_arr_high, c)
            ),
            money(p.actual.renewed_arr as f64, c),
            p.actual.churned_renewals,
            p.forecast.expected_churns,
            format!(
                "{} ({:.1}…{:.1})",
                percent(p.revenue.expected_nrr),
                p.revenue.nrr_low.unwrap_or(f64::NAN) * 100.0,
                p.revenue.nrr_high.unwrap_or(f64::NAN) * 100.0
            ),
            percent(p.actual.nrr),
        );
    }
    let inside = |f: &dyn Fn(&Period) -> bool| r.periods.iter().filter(|p| f(p)).count();
    if !r.periods.is_empty() {
        println!(
            "  Renewed ARR inside its 90 % interval in {} of {} windows; NRR in {} of {}",
            inside(&|p| p.actual.renewed_arr_within_interval),
            r.periods.len(),
            inside(&|p| p.actual.nrr_within_interval),
            r.periods.len()
        );
    }
    for (d, why) in &r.skipped {
        println!("  {d}: not forecast ({why})");
    }
}

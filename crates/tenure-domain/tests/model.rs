//! The success model: the default parses, every class of mistake is reported at its exact
//! line and column, versions hash meaning rather than layout, and no input panics.

use proptest::prelude::*;
use tenure_domain::model::{line_col, LineCol, ModelErrors, Pillar, DEFAULT_MODEL_TOML};
use tenure_domain::SuccessModel;

fn parse(src: &str) -> Result<SuccessModel, ModelErrors> {
    SuccessModel::parse("tenure.toml", src)
}

/// Replaces exactly one occurrence of `from` (the test fails if there are none or several).
fn edit(src: &str, from: &str, to: &str) -> String {
    assert_eq!(
        src.matches(from).count(),
        1,
        "`{from}` must occur exactly once"
    );
    src.replacen(from, to, 1)
}

/// Where `needle` (found after `after`) starts, as line:col.
fn position_of(src: &str, after: &str, needle: &str) -> LineCol {
    let base = src.find(after).expect("anchor present");
    let at = base + src[base..].find(needle).expect("needle present");
    line_col(src, at)
}

#[test]
fn the_default_model_is_valid() {
    let model = parse(DEFAULT_MODEL_TOML).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(model.health.pillars.len(), 4);
    assert!(model.measures.len() >= 15);
    assert_eq!(model.tiers.last().map(|t| t.when.len()), Some(0));
    assert_eq!(model.version().as_str().len(), 16);
    // A missed-milestone trigger without its own deadline takes the milestone's.
    match &model.playbooks["activation_rescue"].trigger {
        tenure_domain::model::Trigger::MilestoneMissed {
            days_after_signup, ..
        } => {
            assert_eq!(*days_after_signup, 14)
        }
        other => panic!("unexpected trigger {other:?}"),
    }
}

#[test]
fn every_mistake_is_reported_at_its_line_and_column() {
    let src = edit(
        DEFAULT_MODEL_TOML,
        "owner = \"Support\"\nsource = \"tickets\"\naggregate = \"open_count\"",
        "ownr = \"Support\"\nsource = \"tickets\"\naggregate = \"open_count\"",
    );
    let src = edit(
        &src,
        "{ measure = \"rich_reports_30d\", weight = 1,",
        "{ measure = \"rich_reports_30d\", weight = -1,",
    );
    let src = edit(
        &src,
        "events = [\"integration_connected\"]\nexpected_within_days = 14",
        "events = [\"integration_conected\"]\nexpected_within_days = 14",
    );
    let err = parse(&src).expect_err("three mistakes");
    assert_eq!(err.diagnostics.len(), 3, "{err}");
    let expected = [
        position_of(&src, "[measures.open_tickets]", "ownr"),
        position_of(&src, "[milestones.activated]", "\"integration_conected\""),
        position_of(&src, "rich_reports_30d\", weight = ", "-1"),
    ];
    assert_eq!(err.locations(), expected, "{err}");
    let messages: Vec<&str> = err.diagnostics.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(messages[0], "unknown key `ownr` in `measures.open_tickets`");
    assert_eq!(
        err.diagnostics[0]
            .help
            .as_deref()
            .map(|h| h.starts_with("did you mean `owner`?")),
        Some(true)
    );
    assert_eq!(
        messages[1],
        "milestone `activated` names undeclared event `integration_conected`"
    );
    assert!(
        messages[2].contains("`weight` is negative (-1)"),
        "{}",
        messages[2]
    );
    assert!(err.diagnostics[1]
        .help
        .as_deref()
        .unwrap()
        .contains("did you mean `integration_connected`?"));
    insta::assert_snapshot!("three_mistakes", err.to_string());
}

#[test]
fn pillars_whose_weights_sum_to_zero_are_rejected_at_each_weight() {
    let mut src = DEFAULT_MODEL_TOML.to_owned();
    for pillar in Pillar::NAMES {
        let header = format!("[health.pillars.{pillar}]\nweight = ");
        let start = src.find(&header).unwrap() + header.len();
        let end = start + src[start..].find('\n').unwrap();
        src.replace_range(start..end, "0");
    }
    // Keep the tech-touch override from restoring weight to two pillars.
    let src = edit(
        &src,
        "pillars = { relationship_signals = 5, engagement_quality = 40 }\n",
        "",
    );
    let err = parse(&src).expect_err("weights sum to zero");
    let expected: Vec<LineCol> = Pillar::NAMES
        .iter()
        .map(|p| position_of(&src, &format!("[health.pillars.{p}]"), "0"))
        .collect();
    let mut found = err.locations();
    found.sort_by_key(|l| (l.line, l.column));
    let mut expected_sorted = expected.clone();
    expected_sorted.sort_by_key(|l| (l.line, l.column));
    assert_eq!(found, expected_sorted, "{err}");
    assert!(err
        .diagnostics
        .iter()
        .all(|d| d.message.contains("sum to zero")));
}

#[test]
fn toml_syntax_errors_point_at_the_fault() {
    let src = "[model]\nname = \"x\"\n[health\n";
    let err = parse(src).unwrap_err();
    assert_eq!(err.diagnostics.len(), 1);
    assert!(
        err.diagnostics[0].message.starts_with("invalid TOML"),
        "{err}"
    );
    assert_eq!(err.locations()[0].line, 3);
}

#[test]
fn reference_and_range_errors_are_precise() {
    let cases: &[(&str, &str, &str)] = &[
        // (from, to, expected message fragment)
        ("trigger = { kind = \"milestone_reached\", milestone = \"first_value\" }", "trigger = { kind = \"milestone_reached\", milestone = \"first_valu\" }", "names undeclared milestone `first_valu`"),
        ("[[health.overrides]]\ntier = \"tech_touch\"", "[[health.overrides]]\ntier = \"tech_tuch\"", "names undeclared tier `tech_tuch`"),
        ("bands = { green = 70, amber = 45 }", "bands = { green = 40, amber = 45 }", "amber threshold must be below the green one"),
        ("aggregate = \"distinct_features\"", "aggregate = \"distinct_feature\"", "`distinct_feature` is not a valid"),
        ("where = [{ property = \"widgets\", op = \"gte\", value = 3 }]", "where = [{ property = \"widget\", op = \"gte\", value = 3 }]", "property `widget` is not declared on event `report_created`"),
        ("where = [{ property = \"widgets\", op = \"gte\", value = 3 }]", "where = [{ property = \"widgets\", op = \"gte\", value = \"3\" }]", "comparisons need a number"),
        ("holdout_percent = 0\nactions = [{ kind = \"survey\", survey = \"nps\" }]", "holdout_percent = 80\nactions = [{ kind = \"survey\", survey = \"nps\" }]", "`holdout_percent` is 80"),
        ("{ kind = \"webhook\", url = \"http://localhost:9000/hooks/renewal-risk\" }", "{ kind = \"webhook\", url = \"localhost:9000\" }", "is not an http(s) URL"),
        ("name = \"smb\"\ndescription = \"Small businesses.\"", "name = \"smb\"\ndescription = \"Small businesses.\"\nwhen = [{ field = \"seats\", op = \"lt\", value = 50 }]", "the last segment has conditions"),
        ("kind = \"ttfv\"", "kind = \"ttfv\"\nmeasure = \"latest_nps\"", "`measure` is only used by kind `measure_average`"),
        ("window_days = 7\n\n[measures.seat_utilisation]", "window_days = 0\n\n[measures.seat_utilisation]", "`measures.active_users_7d.window_days` is 0, out of range"),
        ("playbook = \"usage_drop\"", "playbook = \"usage_dro\"", "`usage_dro` is not a valid `playbook`"),
        ("playbook = \"usage_drop\"", "playbook = \"renewal_at_risk\"", "playbook `renewal_at_risk` holds no accounts out"),
        ("outcome = \"renewal\"", "outcome = \"renewals\"", "`renewals` is not a valid"),
        ("minimum_effect = 0.02", "minimum_effect = -0.02", "`minimum_effect` is -0.02"),
        ("start = \"2025-01-01\"", "start = \"2025-13-01\"", "`start` is `2025-13-01`"),
        ("start = \"2025-01-01\"", "start = \"2025-01-01\"\nend = \"2024-01-01\"", "ends (2024-01-01) before it starts (2025-01-01)"),
        ("alpha = 0.05\nstart", "alpha = 0.7\nstart", "`alpha` is 0.7"),
        ("min_days = 8, within_days = 30", "min_days = 31, within_days = 30", "`min_days` (31) is more than `within_days` (30)"),
        ("min_days = 8, within_days = 30", "min_days = 8, within_days = 57", "within_days` is 57, out of range"),
        ("min_days = 8, within_days = 30", "min_day = 8, within_days = 30", "min_day"),
        ("template = \"activation_help\"", "template = \"activation_hlp\"", "names undeclared template `activation_hlp`"),
        ("subject = \"Connect your data in five minutes\"", "subject = \"{{account}}: connect your data\"", "action subject: `{{account}}` is not a template field"),
        ("will help you through it.", "will help you through it {{csm", "template `activation_help`: `{{` is never closed"),
        ("{ kind = \"survey\", survey = \"nps\" }", "{ kind = \"survey\", survey = \"nps\", to = \"everyone\" }", "`everyone` is not a valid"),
    ];
    for (from, to, fragment) in cases {
        let src = edit(DEFAULT_MODEL_TOML, from, to);
        let err = parse(&src).expect_err(fragment);
        assert!(
            err.diagnostics.iter().any(|d| d.message.contains(fragment)),
            "expected `{fragment}` in:\n{err}"
        );
        for loc in err.locations() {
            assert!(loc.line > 1, "every error is located: {err}");
        }
    }
}

#[test]
fn experiments_are_declared_against_a_playbook_with_a_holdout() {
    let model = SuccessModel::default_model();
    let e = &model.experiments["usage_drop_calls"];
    assert_eq!(e.playbook, "usage_drop");
    assert_eq!(e.outcome, tenure_domain::model::ExperimentOutcome::Renewal);
    assert_eq!((e.minimum_effect, e.alpha), (0.02, 0.05));
    assert_eq!(e.start.to_string(), "2025-01-01");
    assert_eq!(e.end, None);
    // A model without experiments keeps its version: an empty table is not serialised.
    let mut none = model.clone();
    none.experiments.clear();
    let json = serde_json::to_string(&none).unwrap();
    assert!(!json.contains("experiments"));
}

#[test]
fn a_measure_drop_trigger_needs_a_compared_measure() {
    let src = edit(
        DEFAULT_MODEL_TOML,
        "trigger = { kind = \"measure_drop\", measure = \"core_actions_trend\", percent = 30 }",
        "trigger = { kind = \"measure_drop\", measure = \"core_actions_30d\", percent = 30 }",
    );
    let err = parse(&src).unwrap_err();
    assert!(
        err.to_string()
            .contains("is not compared to a prior window"),
        "{err}"
    );
}

#[test]
fn the_version_hashes_meaning_not_layout() {
    let base = parse(DEFAULT_MODEL_TOML).unwrap().version();
    let without_comments: String = DEFAULT_MODEL_TOML
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(parse(&without_comments).unwrap().version(), base);
    let reweighted = edit(
        DEFAULT_MODEL_TOML,
        "[health.pillars.outcome_progress]\nweight = 30",
        "[health.pillars.outcome_progress]\nweight = 31",
    );
    assert_ne!(parse(&reweighted).unwrap().version(), base);
}

#[test]
fn the_glossary_covers_every_definition() {
    let model = SuccessModel::default_model();
    let glossary = model.glossary();
    for name in model
        .measures
        .keys()
        .chain(model.milestones.keys())
        .chain(model.metrics.keys())
    {
        assert!(
            glossary.contains(&format!("`{name}`")),
            "{name} missing from the glossary"
        );
    }
    assert!(glossary.contains(model.version().as_str()));
    assert!(glossary.contains(
        "Distinct users with any event, over the trailing 30 days, divided by licensed seats."
    ));
    insta::assert_snapshot!("default_glossary", glossary);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_text_never_panics(src in "\\PC{0,400}") {
        let _ = parse(&src);
    }

    /// Deleting any line of the default model yields a model or located errors, never a panic.
    #[test]
    fn deleting_a_line_gives_a_model_or_located_errors(line in 0usize..600) {
        let lines: Vec<&str> = DEFAULT_MODEL_TOML.lines().collect();
        let line = line % lines.len();
        let src: String = lines.iter().enumerate().filter(|(i, _)| *i != line).map(|(_, l)| format!("{l}\n")).collect();
        if let Err(e) = parse(&src) {
            prop_assert!(!e.diagnostics.is_empty());
            for d in &e.diagnostics {
                prop_assert!(d.span.start <= src.len());
            }
        }
    }
}

#[test]
fn a_misspelt_required_key_is_one_error_not_two() {
    let src = edit(
        DEFAULT_MODEL_TOML,
        "[health.pillars.engagement_quality]\nweight = 30",
        "[health.pillars.engagement_quality]\nwieght = 30",
    );
    let err = parse(&src).unwrap_err();
    assert_eq!(err.diagnostics.len(), 1, "{err}");
    assert_eq!(
        err.diagnostics[0].message,
        "unknown key `wieght` in `health.pillars.engagement_quality`"
    );
    assert_eq!(
        err.locations()[0],
        position_of(&src, "[health.pillars.engagement_quality]", "wieght")
    );
}

#[test]
fn follow_up_errors_are_accurate_and_never_hide_others() {
    // An undeclared event first must not shift which event a property is checked against.
    let src = edit(
        DEFAULT_MODEL_TOML,
        "events = [\"report_created\"]\nwhere = [{ property = \"widgets\"",
        "events = [\"sigup\", \"report_shared\"]\nwhere = [{ property = \"widgets\"",
    );
    let err = parse(&src).unwrap_err();
    let messages: Vec<&str> = err.diagnostics.iter().map(|d| d.message.as_str()).collect();
    assert!(
        messages.contains(&"measure `rich_reports_30d` names undeclared event `sigup`"),
        "{err}"
    );
    assert!(
        messages.contains(&"measure `rich_reports_30d`: property `widgets` is not declared on event `report_shared`"),
        "{err}"
    );
    assert_eq!(messages.len(), 2, "{err}");

    // A wrong type is one error, not two.
    let src = edit(
        DEFAULT_MODEL_TOML,
        "events = [\"integration_connected\"]\nexpected_within_days = 14",
        "events = \"integration_connected\"\nexpected_within_days = 14",
    );
    let err = parse(&src).unwrap_err();
    assert_eq!(err.diagnostics.len(), 1, "{err}");
    assert!(
        err.diagnostics[0]
            .message
            .contains("must be an array of strings"),
        "{err}"
    );

    // An invalid trigger kind does not hide a misspelt key beside it.
    let src = edit(
        DEFAULT_MODEL_TOML,
        "trigger = { kind = \"milestone_reached\", milestone = \"first_value\" }",
        "trigger = { kind = \"milestone_reach\", milstone = \"first_value\" }",
    );
    let err = parse(&src).unwrap_err();
    let messages: Vec<&str> = err.diagnostics.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(messages.len(), 2, "{err}");
    assert!(
        messages
            .iter()
            .any(|m| m.contains("`milestone_reach` is not a valid")),
        "{err}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.contains("unknown key `milstone`")),
        "{err}"
    );
}

#[test]
fn templates_fill_their_placeholders() {
    use tenure_domain::model::{render_template, template_placeholders};
    let text = "Hi {{ contact_name }}, {{account_name}} is {{band}} ({{health}}). {{x";
    assert_eq!(
        template_placeholders("Hi {{ contact_name }}, {{account_name}}!").unwrap(),
        [(3, "contact_name"), (23, "account_name")]
    );
    assert_eq!(
        template_placeholders("{{nope}}").unwrap_err(),
        (0, "`{{nope}}` is not a template field".to_owned())
    );
    assert_eq!(
        render_template(text, |f| f.to_uppercase()),
        "Hi CONTACT_NAME, ACCOUNT_NAME is BAND (HEALTH). {{x"
    );
    assert_eq!(
        render_template("{{nope}} {{csm}}", |_| "y".into()),
        "{{nope}} y"
    );
    let model = SuccessModel::default_model();
    let t = &model.templates["activation_help"];
    assert!(template_placeholders(&t.body).unwrap().len() >= 3);
}

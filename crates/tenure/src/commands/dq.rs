//! `tenure dq`: the data-quality report of a data directory, read beside a running server
//! (the lake's saved state plus the log's tail, without taking any lock).

use anyhow::Context;
use serde_json::json;
use tenure_server::Rules;

use crate::data_dir::DataDir;
use crate::failure::Outcome;

pub async fn run(data_dir: &DataDir, as_json: bool, now: tenure_domain::Timestamp) -> Outcome {
    let store = data_dir.open_store().await?;
    let rules = Rules::current(store.as_ref())
        .await
        .context("reading the current model")?;
    let (state, _) =
        tenure_lake::current_state(&data_dir.root.join("lake"), &data_dir.root.join("log"))
            .context("reading the event lake and log")?;
    let report = state.quality.report(&rules.plan, now);
    if as_json {
        let mut value = serde_json::to_value(&report).context("encoding the report")?;
        if let Some(o) = value.as_object_mut() {
            o.insert("as_of_offset".into(), json!(state.next_offset));
            o.insert("identities".into(), json!(state.identities.summary()));
        }
        println!(
            "{}",
            serde_json::to_string_pretty(&value).context("encoding the report")?
        );
    } else {
        print!("{}", report.render());
        let ids = state.identities.summary();
        println!();
        println!(
            "Identities: {} users ({} merged ids, {} in more than one account), {} anonymous, {} accounts with members",
            ids.users, ids.merged, ids.multi_account_users, ids.anonymous, ids.accounts
        );
        println!(
            "(log offset {}; {} unreadable log records)",
            state.next_offset, state.unreadable
        );
    }
    Ok(())
}

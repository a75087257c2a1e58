//! One module per command. Each takes the parsed arguments and the clock reading made here,
//! at the edge, so nothing below reads the clock itself.

mod backtest;
mod bench;
mod demo;
mod dq;
mod evidence;
mod fit;
pub(crate) mod forecast;
mod import;
mod init;
mod model;
mod models;
mod playbooks;
mod privacy;
mod report;
mod score;
mod send;
mod serve;
mod simulate;
mod tasks;
mod users;

use anyhow::Context;
use chrono::Utc;

use crate::cli::{Cli, Command};
use crate::data_dir::DataDir;
use crate::failure::Outcome;

pub async fn run(cli: Cli) -> Outcome {
    let now = Utc::now().fixed_offset();
    let dir = |default: &str| {
        cli.global
            .data_dir
            .clone()
            .unwrap_or_else(|| default.into())
    };
    let data_dir = DataDir::new(dir("./tenure-data"), cli.global.database_url.clone());
    match cli.command {
        Command::Init { json } => init::run(&data_dir, json, now).await.map(|_| ()),
        Command::Serve { listen, mail } => serve::run(&data_dir, listen, &mail).await,
        Command::Model { command } => model::run(&data_dir, command, now).await,
        Command::Simulate(args) => simulate::run(&args).map(|_| ()),
        Command::Import {
            paths,
            kind,
            errors,
            batch,
        } => import::run(&data_dir, &paths, kind.as_deref(), errors, batch)
            .await
            .map(|_| ()),
        Command::Dq { json } => dq::run(&data_dir, json, now).await,
        Command::Score {
            account,
            as_of,
            model_version,
            json,
            lineage,
        } => {
            score::score(
                &data_dir,
                score::ScoreArgs {
                    account,
                    as_of,
                    model_version,
                    json,
                    lineage,
                },
                now,
            )
            .await
        }
        Command::Rescore {
            model_version,
            from,
        } => score::rescore(&data_dir, model_version, from, now).await,
        Command::Export { user, account, out } => {
            privacy::export(&data_dir, privacy::Subject::from_args(user, account)?, out).await
        }
        Command::Forget { user, account } => {
            privacy::forget(&data_dir, privacy::Subject::from_args(user, account)?).await
        }
        Command::Bench { command } => bench::run(command, now).await,
        Command::Report { command } => report::run(&data_dir, command, now).await,
        Command::Fit { command } => fit::run(command),
        Command::Tasks { command } => tasks::run(&data_dir, command, now).await,
        Command::Users { command } => users::run(&data_dir, command, now).await,
        Command::Tokens { command } => users::tokens(&data_dir, command, now).await,
        Command::Audit { after, limit, json } => users::audit(&data_dir, after, limit, json).await,
        Command::Forecast {
            days,
            refit,
            as_of,
            what_if,
            review,
            json,
        } => {
            let request = forecast::Request {
                days,
                refit,
                as_of,
                what_if,
            };
            forecast::run(&data_dir, request, review, json, now).await
        }
        Command::Backtest {
            lead_days,
            truth,
            json,
            export,
            register,
        } => backtest::run(&data_dir, lead_days, truth, json, export, register, now).await,
        Command::Models { json } => models::run(&data_dir, json),
        Command::Playbooks {
            no_write,
            truth,
            json,
        } => playbooks::run(&data_dir, !no_write, truth, json, now).await,
        Command::Send {
            url,
            write_key,
            concurrency,
            import,
            files,
        } => send::run(&url, &write_key, &files, concurrency, import).await,
        Command::Demo {
            accounts,
            months,
            no_serve,
            listen,
        } => {
            demo::run(
                dir("./tenure-demo"),
                accounts,
                months,
                no_serve,
                listen,
                now,
            )
            .await
        }
    }
}

/// Prints `value` as pretty JSON on standard output.
pub fn print_json<T: serde::Serialize>(value: &T) -> Outcome {
    println!(
        "{}",
        serde_json::to_string_pretty(value).context("encoding JSON")?
    );
    Ok(())
}

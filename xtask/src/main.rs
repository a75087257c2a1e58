//! Project automation: `cargo xtask test` runs the whole test suite and says plainly whether
//! the PostgreSQL half of the store conformance suite ran.

use std::process::{Command, ExitCode};

const POSTGRES_URL_VAR: &str = "TENURE_TEST_POSTGRES_URL";
const SDK_PYTHON_VAR: &str = "TENURE_TEST_PYTHON";

fn redact(url: &str) -> String {
    match url.split_once("://").and_then(|(scheme, rest)| {
        let (userinfo, host) = rest.split_once('@')?;
        let (user, _) = userinfo.split_once(':')?;
        Some(format!("{scheme}://{user}:***@{host}"))
    }) {
        Some(redacted) => redacted,
        None => url.to_owned(),
    }
}

fn test(extra: &[String]) -> ExitCode {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = Command::new(cargo)
        .args(["test", "--workspace"])
        .args(extra)
        .status();
    let code = match status {
        Ok(s) if s.success() => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("xtask: cannot run cargo: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!();
    match std::env::var(POSTGRES_URL_VAR) {
        Ok(url) if !url.is_empty() => {
            println!("PostgreSQL suite: run against {}", redact(&url));
        }
        _ => {
            println!("PostgreSQL suite: NOT RUN — no {POSTGRES_URL_VAR} is set.");
            println!(
                "  Only the SQLite half of the store conformance suite ran. To run both, start a"
            );
            println!("  PostgreSQL server and set {POSTGRES_URL_VAR}=postgres://USER:PASSWORD@HOST:PORT/postgres");
            println!(
                "  (a role that may create databases); `bash .ci/run` does this for you on Debian."
            );
        }
    }
    match std::env::var(SDK_PYTHON_VAR) {
        Ok(python) if !python.is_empty() => {
            println!("Segment SDK suite: run with {python} (segment-analytics-python, DuckDB, pyarrow, pandas)");
        }
        _ => {
            println!("Segment SDK suite: NOT RUN — no {SDK_PYTHON_VAR} is set.");
            println!("  It sends with Segment's own Python SDK and reads the lake with DuckDB, pyarrow and");
            println!(
                "  pandas. `bash .ci/run` installs them in a virtual environment and runs it."
            );
        }
    }
    match chromium() {
        Some(path) => println!("Browser suite: run with {}", path.display()),
        None => {
            println!("Browser suite: NOT RUN — no chromium on the PATH (or TENURE_TEST_CHROMIUM).");
            println!("  It signs in as each role in headless Chromium and saves screenshots under");
            println!(
                "  target/browser-screenshots; `apt-get install chromium`, or `bash .ci/run`."
            );
        }
    }
    code
}

/// The Chromium the browser suite would use (the same search as the suite's).
fn chromium() -> Option<std::path::PathBuf> {
    if let Some(p) = std::env::var_os("TENURE_TEST_CHROMIUM") {
        return Some(p.into());
    }
    let paths = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|name| {
            std::env::split_paths(&paths)
                .map(|d| d.join(name))
                .find(|p| p.is_file())
        })
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("test") => test(&args[1..]),
        _ => {
            eprintln!("usage: cargo xtask test [CARGO TEST ARGS…]");
            eprintln!("  test   run every test; says whether the PostgreSQL suite ran");
            ExitCode::from(2)
        }
    }
}

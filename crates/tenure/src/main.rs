//! The `tenure` binary: parses the command line, sets up logging, runs one command and turns
//! its outcome into an exit code. Everything else lives in the library crates.

mod alloc;
mod cli;
mod commands;
mod data_dir;
mod failure;

use clap::Parser;

/// Ingestion and import allocate many small JSON values; mimalloc handles that pattern
/// markedly faster than the system allocator (measured with `tenure bench ingest`).
#[global_allocator]
static GLOBAL: alloc::Counting = alloc::Counting;

fn main() {
    let cli = cli::Cli::parse();
    cli::init_logging(&cli.global);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            std::process::exit(failure::EXIT_RUNTIME);
        }
    };
    let outcome = runtime.block_on(commands::run(cli));
    match outcome {
        Ok(()) => {}
        Err(failure) => {
            eprintln!("{failure}");
            std::process::exit(failure.exit_code());
        }
    }
}

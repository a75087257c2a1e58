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
    // Rust ignores SIGPIPE, so printing into a closed pipe (`tenure report metrics | head`)
    // would fail; restoring the default ends the process quietly, as other Unix tools do.
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any thread exists; SIG_DFL is a valid
    // disposition for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
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

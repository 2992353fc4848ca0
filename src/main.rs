//! The `afterhours` binary: parses the command line and hands over to the library.

use std::process::ExitCode;

use clap::Parser;

/// mimalloc instead of glibc's malloc: a webhook allocates many small short-lived buffers, and glibc's arenas
/// take a quarter of the server's time in malloc and free under load (`LOAD_PERF` in `docs/performance.md`
/// shows where the time goes).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = afterhours::cli::Cli::parse();
    afterhours::cli::telemetry::init(
        std::env::var("AFTERHOURS_LOG_FORMAT").is_ok_and(|f| f == "json"),
        std::env::var("AFTERHOURS_LOG")
            .ok()
            .as_deref()
            .or(cli.default_log_level()),
    );
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(afterhours::cli::run(cli))
}

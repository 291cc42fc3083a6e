//! One logging set-up, and one way to end, for every baedal binary.

/// Logs to stderr, filtered by `BAEDAL_LOG` (tracing's EnvFilter syntax),
/// else by `default_filter`; coloured only on a terminal, so log files and
/// collectors get plain text.
fn init_logging(default_filter: &str) {
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("BAEDAL_LOG")
                .unwrap_or_else(|_| default_filter.into()),
        )
        .with_writer(std::io::stderr)
        .init();
}

/// A binary's `main`: logging set up with `default_filter`, then `run`; an
/// error is printed with its causes (`{:#}`) and the exit code is 1.
pub fn run_logged<E: std::fmt::Display>(
    default_filter: &str,
    run: impl FnOnce() -> Result<(), E>,
) -> std::process::ExitCode {
    init_logging(default_filter);
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

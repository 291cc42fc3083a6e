//! One logging set-up for every baedal binary.

/// Logs to stderr, filtered by `BAEDAL_LOG` (tracing's EnvFilter syntax),
/// else by `default_filter`; coloured only on a terminal, so log files and
/// collectors get plain text.
pub fn init_logging(default_filter: &str) {
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

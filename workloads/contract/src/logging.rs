//! One logging set-up for every baedal binary.

/// Logs to stderr, filtered by `BAEDAL_LOG` (tracing's EnvFilter syntax),
/// else by `default_filter`.
pub fn init_logging(default_filter: &str) {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("BAEDAL_LOG")
                .unwrap_or_else(|_| default_filter.into()),
        )
        .with_writer(std::io::stderr)
        .init();
}

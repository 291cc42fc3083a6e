use clap::Parser;

/// mimalloc: the readers allocate on one thread and free on another, where
/// glibc's allocator contends; mimalloc does not. With its `override`
/// feature it is also the C libraries' malloc: librdkafka allocates and
/// frees a message for every record it sends (glibc's malloc and free were
/// about a tenth of the ingest's CPU). Its compile-time defaults, which
/// keep freed memory out of the resident set, are in `.cargo/config.toml`.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    baedal_contract::logging::run_logged("warn", || baedal::cli::run(baedal::cli::Cli::parse()))
}

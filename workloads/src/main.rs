use clap::Parser;

/// mimalloc: the readers allocate on one thread and free on another, where
/// glibc's allocator contends; mimalloc does not.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    baedal::cli::init_logging("warn");
    match baedal::cli::run(baedal::cli::Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

use clap::Parser;

fn main() -> std::process::ExitCode {
    baedal_contract::logging::run_logged("info,kube=warn", || {
        baedal_operator::cli::run(baedal_operator::cli::Cli::parse())
    })
}

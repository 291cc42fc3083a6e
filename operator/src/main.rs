use clap::Parser;

fn main() -> std::process::ExitCode {
    baedal_contract::logging::init_logging("info,kube=warn");
    match baedal_operator::cli::run(baedal_operator::cli::Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

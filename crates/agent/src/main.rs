//! `verigrid-agent`: the device agent alone, without the validator and
//! tools of `verigrid` (what a phone or an ARM board runs; see README,
//! "Agents on ARM"). Same flags as `verigrid agent`.

use std::process::ExitCode;

use clap::Parser;

/// verigrid-agent: run this device for a verigrid network.
#[derive(Parser, Debug)]
#[command(name = "verigrid-agent", version, about, long_about = None)]
struct Cli {
    #[command(flatten)]
    agent: verigrid_agent::cli::AgentArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,verigrid_agent=info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    match verigrid_agent::cli::run(&cli.agent) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

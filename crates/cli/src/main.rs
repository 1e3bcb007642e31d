//! `verigrid`: one command for the dev network, validators, agents, jobs
//! and simulation (docs/DESIGN.md §10).

mod account;
mod bench;
mod demo;
mod dev;
mod devnet;
mod files;
mod job;
mod localnet;
mod validator;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// verigrid: verifiable compute on idle phones.
#[derive(Parser, Debug)]
#[command(name = "verigrid", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Start one real validator on 127.0.0.1 with its HTTP API: a dev
    /// genesis (funded `dev/user/N` accounts, the dev attestation CA
    /// trusted), storage in a data dir. Prints the API address when ready.
    Dev(dev::DevArgs),
    /// Run the in-process demo job: devices attest, replicas commit then
    /// reveal, a quorum decides, liars are slashed, and every verdict's
    /// inclusion proof is checked.
    Demo(demo::RunArgs),
    /// Run one validator from a config file (see `verigrid localnet`).
    Node(NodeArgs),
    /// Run this machine as a device: attest, follow the owner's policy,
    /// run assigned tasks, commit and reveal results.
    Agent(Box<verigrid_agent::cli::AgentArgs>),
    /// Submit jobs and read their verified results.
    #[command(subcommand)]
    Job(job::JobCommand),
    /// An account's balance and nonce.
    Account(account::AccountArgs),
    /// A device's status, stake and reputation.
    Device(account::DeviceArgs),
    /// Make or inspect key files.
    #[command(subcommand)]
    Keys(account::KeysCommand),
    /// Generate configs and a shared genesis for N validators on
    /// 127.0.0.1, and run them as N `verigrid node` processes.
    Localnet(localnet::LocalnetArgs),
    /// Measure a running network over its API.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Simulate a network with adversaries and print what verification
    /// caught; `--report FILE` writes the full verification report.
    Sim(demo::SimArgs),
}

#[derive(clap::Args, Debug)]
struct NodeArgs {
    /// The node's TOML config (key, p2p and API addresses, data dir,
    /// genesis file, peers).
    #[arg(long)]
    config: PathBuf,
    /// Stop after this many more blocks are finalized.
    #[arg(long)]
    blocks: Option<u64>,
    /// Print the ready line as JSON.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let logs = matches!(
        cli.command,
        Command::Dev(_) | Command::Node(_) | Command::Localnet(_) | Command::Agent(_)
    );
    if logs {
        init_logs();
    }
    let result = match cli.command {
        Command::Dev(args) => dev::run(&args),
        Command::Demo(args) => demo::run_one(&args, true),
        Command::Node(args) => files::load(&args.config).and_then(|resolved| {
            let store = resolved.data_dir.join("store");
            validator::run(
                resolved,
                validator::RunOptions {
                    blocks: args.blocks,
                    json: args.json,
                    label: format!("verigrid node ({})", args.config.display()),
                    exit_after_ready: false,
                    start_over: format!(
                        "deleting {} starts this validator over from its genesis (it then \
                         catches up from its peers)",
                        store.display()
                    ),
                },
            )
        }),
        Command::Localnet(args) => localnet::run(&args),
        Command::Agent(args) => verigrid_agent::cli::run(&args),
        Command::Job(command) => job::run(&command),
        Command::Account(args) => account::account(&args),
        Command::Device(args) => account::device(&args),
        Command::Keys(command) => account::keys(&command),
        Command::Bench(command) => bench::run(&command),
        Command::Sim(args) => match &args.report {
            Some(path) => demo::write_report(&args.run, path),
            None => demo::run_one(&args.run, false),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs to stderr; `RUST_LOG` filters (default: warnings, and info from
/// verigrid).
fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("warn,verigrid_node=info,verigrid_agent=info")
    });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

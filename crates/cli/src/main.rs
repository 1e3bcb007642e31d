//! `verigrid`: one command for the dev network, validators, agents, jobs
//! and simulation (docs/DESIGN.md §10).

mod dev_attestation;
mod devnet;

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
    /// Run a development network on this machine and a demo job through it:
    /// devices attest, replicas commit then reveal, a quorum decides, liars
    /// are slashed, and every verdict's proof is checked.
    Dev(DevArgs),
}

#[derive(clap::Args, Debug)]
struct DevArgs {
    /// Devices to start, each with its own owner account.
    #[arg(long, default_value_t = 12)]
    devices: usize,
    /// How many of them fabricate their outputs.
    #[arg(long, default_value_t = 2)]
    liars: usize,
    /// Tasks in the demo job.
    #[arg(long, default_value_t = 200)]
    tasks: u32,
    /// Replicas per task; 0 for adaptive replication with spot checks.
    #[arg(long, default_value_t = 3)]
    replicas: u8,
    /// Reward per accepted result.
    #[arg(long, default_value_t = 5)]
    reward: u64,
    /// Seed for block randomness (same seed, same run).
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Dev(args) => dev(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn dev(args: &DevArgs) -> anyhow::Result<()> {
    let config = devnet::Config {
        devices: args.devices,
        liars: args.liars,
        tasks: args.tasks,
        replicas: args.replicas,
        reward: args.reward,
        seed: args.seed,
    };
    let attester = dev_attestation::DevAttester::new()?;
    let executor = devnet::HashKernel;
    println!(
        "verigrid dev: in-process network (chain {}), {} devices ({} lying), job of {} tasks",
        devnet::CHAIN_ID,
        config.devices,
        config.liars,
        config.tasks
    );
    println!("  (the networked node, API and agents arrive with issues 5 and 6)");
    let report = devnet::run(&config, &attester, &executor)?;
    println!("  blocks              {}", report.blocks);
    println!(
        "  accepted            {} / {}",
        report.accepted, config.tasks
    );
    println!("  failed (refunded)   {}", report.failed);
    println!("  wrong accepted      {}", report.wrong_accepted);
    println!("  replicas per task   {:.2}", report.replicas_per_task);
    let caught = report
        .liars
        .iter()
        .filter(|l| report.slashed.contains(l))
        .count();
    println!("  liars slashed       {caught} / {}", report.liars.len());
    println!("  paid to devices     {}", report.paid);
    println!("  escrow refunded     {}", report.refund);
    println!(
        "  proofs verified     {} against state root {}",
        report.proofs_checked, report.state_root
    );
    if report.wrong_accepted > 0 {
        anyhow::bail!("{} wrong results were accepted", report.wrong_accepted);
    }
    Ok(())
}

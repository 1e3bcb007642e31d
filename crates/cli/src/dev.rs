//! `verigrid dev`: one real validator on 127.0.0.1 with its API, on a dev
//! genesis. The data dir keeps the chain across runs (`--fresh` starts
//! over).

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};

use crate::devnet;
use crate::files::{self, dev_genesis, dev_user, now_ms, random_key, write_network};
use crate::validator::{self, RunOptions};

/// Chain id of dev networks.
pub const DEV_CHAIN: &str = "verigrid-dev";

#[derive(clap::Args, Debug)]
pub struct DevArgs {
    /// Where the chain, its config and blobs live.
    #[arg(long, default_value_os_t = std::env::temp_dir().join("verigrid-dev"))]
    data_dir: PathBuf,
    /// HTTP API address (`127.0.0.1:0` picks a free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    api: SocketAddr,
    /// Funded dev accounts in a new genesis (`dev/user/0` …).
    #[arg(long, default_value_t = 8)]
    accounts: usize,
    /// Delete the data dir first and start a new chain.
    #[arg(long)]
    fresh: bool,
    /// Stop after this many blocks are finalized.
    #[arg(long)]
    blocks: Option<u64>,
    /// Stop as soon as the API is up (for scripts and tests).
    #[arg(long)]
    exit_after_ready: bool,
    /// Print the ready line as JSON.
    #[arg(long)]
    json: bool,
    /// Also run N device agents on this machine (owned by `dev/user/1…N`)
    /// and a demo job through them.
    #[arg(long, default_value_t = 0)]
    agents: usize,
    /// How many of those agents lie (return made-up outputs), to watch
    /// the network catch and slash them.
    #[arg(long, default_value_t = 0, requires = "agents")]
    liars: usize,
    /// Tasks in the demo job.
    #[arg(long, default_value_t = 12)]
    demo_tasks: u32,
    /// Stop once the demo job is verified (for scripts and tests).
    #[arg(long)]
    exit_after_demo: bool,
}

fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free p2p port")?;
    Ok(listener.local_addr()?.port())
}

pub fn run(args: &DevArgs) -> Result<()> {
    if args.liars > args.agents {
        bail!(
            "--liars {} is more than --agents {}",
            args.liars,
            args.agents
        );
    }
    if (1..usize::from(devnet::DEMO_REPLICAS)).contains(&args.agents) {
        bail!(
            "--agents {} is too few: the demo job runs every task on {} devices of \
             different owners; pass --agents {} or more",
            args.agents,
            devnet::DEMO_REPLICAS,
            devnet::DEMO_REPLICAS
        );
    }
    let mut api = args.api;
    if args.agents > 0 && api.port() == 0 {
        // The agents need to know where to connect before the node binds.
        api.set_port(free_port()?);
    }
    let accounts = args.accounts.max(args.agents + 1);
    let dir = &args.data_dir;
    if args.fresh && dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    let config = dir.join("node-0.toml");
    if !config.exists() {
        let genesis = dev_genesis(DEV_CHAIN, accounts, now_ms())?;
        let key = random_key()?;
        write_network(dir, &genesis, &[key], free_port()?, api.port())?;
        if !args.json {
            println!(
                "verigrid dev: new chain {DEV_CHAIN} in {}; funded accounts are \
                 SecretKey::from_label(\"dev/user/N\"), N < {}:",
                dir.display(),
                accounts
            );
            for i in 0..accounts.min(3) {
                println!("  dev/user/{i}  {}", dev_user(i).account());
            }
        }
    }
    let mut resolved = files::load(&config)?;
    resolved.api = api;
    if args.agents > 0 {
        start_demo(args, &format!("http://{api}"), dir.join("agents"))?;
    }
    // The p2p port of a one-validator network is never dialled: pick a free
    // one each run, so two dev chains never collide.
    let port = free_port()?;
    resolved.p2p.set_port(port);
    for (_, addr) in &mut resolved.peers {
        addr.set_port(port);
    }
    validator::run(
        resolved,
        RunOptions {
            blocks: args.blocks,
            json: args.json,
            label: "verigrid dev".into(),
            exit_after_ready: args.exit_after_ready,
            start_over: format!(
                "`verigrid dev --fresh` starts a new chain in {}, deleting this one, or \
                 `--data-dir` names another dir",
                dir.display()
            ),
        },
    )
}

/// Once the API answers: starts the agents, runs the demo job, and (with
/// `--exit-after-demo`) ends the process with the demo's outcome. The
/// node's storage is crash-safe, so ending here loses nothing finalized.
fn start_demo(args: &DevArgs, api: &str, agents_dir: PathBuf) -> Result<()> {
    let api = api.to_owned();
    let (agents, liars, tasks, exit) = (
        args.agents,
        args.liars,
        args.demo_tasks,
        args.exit_after_demo,
    );
    std::thread::Builder::new()
        .name("dev-demo".into())
        .spawn(move || {
            let outcome = wait_for_api(&api)
                .and_then(|()| devnet::start_agents(&api, &agents_dir, agents, liars))
                .and_then(|()| {
                    println!("started {agents} agent(s) ({liars} lying); submitting the demo job");
                    devnet::run_demo(&api, tasks)
                });
            if let Err(e) = &outcome {
                eprintln!("demo: {e:#}");
            }
            if exit {
                std::process::exit(i32::from(outcome.is_err()));
            }
        })
        .context("starting the demo")?;
    Ok(())
}

fn wait_for_api(api: &str) -> Result<()> {
    let client = verigrid_client::Client::new(&[api])?;
    let started = std::time::Instant::now();
    loop {
        match client.status() {
            Ok(s) if s.height >= 1 => return Ok(()),
            Ok(_) => {}
            Err(e) if started.elapsed() > std::time::Duration::from_secs(60) => {
                return Err(e.into());
            }
            Err(_) => {}
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

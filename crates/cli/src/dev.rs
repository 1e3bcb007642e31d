//! `verigrid dev`: one real validator on 127.0.0.1 with its API, on a dev
//! genesis. The data dir keeps the chain across runs (`--fresh` starts
//! over).

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;

use anyhow::{Context as _, Result};

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
}

fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free p2p port")?;
    Ok(listener.local_addr()?.port())
}

pub fn run(args: &DevArgs) -> Result<()> {
    let dir = &args.data_dir;
    if args.fresh && dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    let config = dir.join("node-0.toml");
    if !config.exists() {
        let genesis = dev_genesis(DEV_CHAIN, args.accounts, now_ms())?;
        let key = random_key()?;
        write_network(dir, &genesis, &[key], free_port()?, args.api.port())?;
        if !args.json {
            println!(
                "verigrid dev: new chain {DEV_CHAIN} in {}; funded accounts are \
                 SecretKey::from_label(\"dev/user/N\"), N < {}:",
                dir.display(),
                args.accounts
            );
            for i in 0..args.accounts.min(3) {
                println!("  dev/user/{i}  {}", dev_user(i).account());
            }
        }
    }
    let mut resolved = files::load(&config)?;
    resolved.api = args.api;
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
        },
    )
}

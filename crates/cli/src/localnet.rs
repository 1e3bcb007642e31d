//! `verigrid localnet`: configs and a shared genesis for N validators on
//! 127.0.0.1, then N `verigrid node` child processes until Ctrl-C.

use std::path::PathBuf;
use std::process::{Child, Command};

use anyhow::{Context as _, Result, bail};

use crate::files::{dev_genesis, now_ms, random_key, write_network};

/// Chain id of local networks.
pub const LOCALNET_CHAIN: &str = "verigrid-localnet";

#[derive(clap::Args, Debug)]
pub struct LocalnetArgs {
    /// Validators to run.
    #[arg(long, default_value_t = 4)]
    validators: usize,
    /// Directory for genesis.json, node-N.toml and each node's data.
    #[arg(long, default_value = "localnet")]
    dir: PathBuf,
    /// First p2p port; validator N listens on base+N and serves its API
    /// on base+100+N.
    #[arg(long, default_value_t = 7000)]
    base_port: u16,
    /// Funded dev accounts in the genesis.
    #[arg(long, default_value_t = 8)]
    accounts: usize,
    /// Only write the files (then run `verigrid node --config DIR/node-N.toml`).
    #[arg(long)]
    init_only: bool,
}

fn kill_all(children: &mut [Child]) {
    for child in children.iter_mut() {
        let _ = child.kill();
        let _ = child.wait();
    }
}

pub fn run(args: &LocalnetArgs) -> Result<()> {
    if args.validators == 0 {
        bail!("--validators must be at least 1");
    }
    let configs = if args.dir.join("node-0.toml").exists() {
        println!("reusing the network in {}", args.dir.display());
        (0..args.validators)
            .map(|i| args.dir.join(format!("node-{i}.toml")))
            .collect()
    } else {
        let keys = (0..args.validators)
            .map(|_| random_key())
            .collect::<Result<Vec<_>>>()?;
        let genesis = dev_genesis(LOCALNET_CHAIN, args.accounts, now_ms())?;
        let api_base = args
            .base_port
            .checked_add(100)
            .context("--base-port is too high")?;
        let configs = write_network(&args.dir, &genesis, &keys, args.base_port, api_base)?;
        println!(
            "wrote genesis.json and {} node configs to {}",
            configs.len(),
            args.dir.display()
        );
        configs
    };
    if args.init_only {
        for c in &configs {
            println!("  verigrid node --config {}", c.display());
        }
        return Ok(());
    }
    let exe = std::env::current_exe().context("finding the verigrid binary")?;
    let mut children = Vec::new();
    for config in &configs {
        match Command::new(&exe)
            .arg("node")
            .arg("--config")
            .arg(config)
            .spawn()
        {
            Ok(child) => children.push(child),
            Err(e) => {
                kill_all(&mut children);
                return Err(e).with_context(|| format!("starting {}", config.display()));
            }
        }
    }
    println!(
        "{} validators running; APIs on 127.0.0.1:{}..; Ctrl-C stops them",
        children.len(),
        args.base_port.saturating_add(100)
    );
    // Wait until one exits (or we are interrupted, which the children
    // receive too, being in our process group).
    loop {
        for (i, child) in children.iter_mut().enumerate() {
            if let Some(status) = child.try_wait()? {
                kill_all(&mut children);
                if status.success() {
                    return Ok(());
                }
                bail!("validator {i} exited with {status}");
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

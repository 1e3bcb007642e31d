//! The agent's command line, shared by `verigrid agent` and the
//! standalone `verigrid-agent` binary (what a phone or a cross-built ARM
//! board runs).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context as _, Result, anyhow};
use verigrid_attest::dev::DEV_CA_SEED;
use verigrid_client::cli::{IdentityArgs, NetArgs};
use verigrid_types::hash::unhex;
use verigrid_types::{AccountId, Amount, Hash};

use crate::{Agent, Behaviour, Config, DevAttestation, Policy, Readings};

/// `verigrid agent` / `verigrid-agent`.
#[derive(clap::Args, Debug, Clone)]
pub struct AgentArgs {
    /// Where the device key (0600), finished results and cached blobs live.
    #[arg(long, default_value_os_t = std::env::temp_dir().join("verigrid-agent"))]
    pub data_dir: PathBuf,
    /// Send rewards to this pool account (hex) instead of the owner.
    #[arg(long)]
    pub pool: Option<String>,
    /// Stake to lock on the device (default: the chain's minimum).
    #[arg(long)]
    pub stake: Option<u64>,
    /// Work on battery power too (default: only while charging).
    #[arg(long)]
    pub allow_battery: bool,
    /// Least battery charge to work at, percent.
    #[arg(long, default_value_t = 90)]
    pub min_battery: u8,
    /// Hottest temperature to work at, °C.
    #[arg(long, default_value_t = 40.0)]
    pub max_temperature: f32,
    /// Work on metered networks too.
    #[arg(long)]
    pub allow_metered: bool,
    /// Share of the cores tasks may use (0–1].
    #[arg(long, default_value_t = 0.5)]
    pub cpu_share: f32,
    /// Say the device is on battery power (instead of reading /sys).
    #[arg(long, conflicts_with = "charging")]
    pub on_battery: bool,
    /// Say the device is charging (instead of reading /sys).
    #[arg(long)]
    pub charging: bool,
    /// Say the battery is at this percent (instead of reading /sys).
    #[arg(long)]
    pub battery: Option<u8>,
    /// Say the device is at this temperature, °C (instead of reading /sys).
    #[arg(long)]
    pub temperature: Option<f32>,
    /// Say the network is metered.
    #[arg(long)]
    pub metered: bool,
    /// Root of the sysfs tree policy readings come from.
    #[arg(long, default_value = "/sys", hide = true)]
    pub sys_root: PathBuf,
    /// Seed (hex) of the development attestation CA; the dev chain
    /// trusts the default one.
    #[arg(long)]
    pub dev_ca_seed: Option<String>,
    /// Adversary for tests and demonstrations: return made-up outputs.
    /// The network catches it and slashes its stake.
    #[arg(long, hide = true)]
    pub fabricate: bool,
    /// The owner's account (registers the device, receives rewards).
    #[command(flatten)]
    pub identity: IdentityArgs,
    /// The network.
    #[command(flatten)]
    pub net: NetArgs,
}

impl AgentArgs {
    /// The agent's configuration.
    ///
    /// # Errors
    /// If a flag's value is invalid or the owner's key cannot be read.
    pub fn config(&self) -> Result<Config> {
        let seed = match &self.dev_ca_seed {
            None => DEV_CA_SEED,
            Some(text) => unhex(text.trim())
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .ok_or_else(|| anyhow!("--dev-ca-seed must be 64 hex characters"))?,
        };
        let pool = self
            .pool
            .as_deref()
            .map(|p| {
                Hash::from_hex(p)
                    .map(|h| AccountId(h.0))
                    .map_err(|e| anyhow!("--pool {p:?} is not an account id: {e}"))
            })
            .transpose()?;
        if !(self.cpu_share > 0.0 && self.cpu_share <= 1.0) {
            return Err(anyhow!("--cpu-share must be in (0, 1]"));
        }
        Ok(Config {
            endpoints: self.net.api.clone(),
            data_dir: self.data_dir.clone(),
            owner: self.identity.secret()?,
            pool,
            stake: self.stake.map(Amount),
            policy: Policy {
                require_charging: !self.allow_battery,
                min_battery_pct: self.min_battery,
                max_temperature_c: self.max_temperature,
                unmetered_only: !self.allow_metered,
                cpu_share: self.cpu_share,
            },
            overrides: Readings {
                charging: if self.on_battery {
                    Some(false)
                } else if self.charging {
                    Some(true)
                } else {
                    None
                },
                battery_pct: self.battery,
                temperature_c: self.temperature,
                metered: self.metered.then_some(true),
            },
            sys_root: self.sys_root.clone(),
            attest: Box::new(DevAttestation::new(&seed).map_err(|e| anyhow!(e))?),
            behaviour: if self.fabricate {
                Behaviour::Fabricate
            } else {
                Behaviour::Honest
            },
        })
    }
}

/// Sets `stop` on Ctrl-C or SIGTERM.
fn stop_on_signals(stop: Arc<AtomicBool>) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the signal handler")?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            runtime.block_on(async {
                let Ok(mut term) =
                    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                else {
                    return;
                };
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            });
            stop.store(true, Ordering::Relaxed);
        })
        .context("starting the signal handler")?;
    Ok(())
}

/// Runs the agent until Ctrl-C or SIGTERM.
///
/// # Errors
/// If it cannot start, or the network refuses the device.
pub fn run(args: &AgentArgs) -> Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    stop_on_signals(Arc::clone(&stop))?;
    let mut agent = Agent::open(args.config()?, &stop)?;
    eprintln!(
        "verigrid agent: device {} on {}",
        agent.device().0.to_hex(),
        args.net.api.join(", ")
    );
    agent.run(&stop)?;
    let t = agent.tally();
    eprintln!(
        "verigrid agent stopped: ran {}, committed {}, revealed {}, paid {}, slashed {}",
        t.ran, t.committed, t.revealed, t.paid, t.slashed
    );
    Ok(())
}

//! `verigrid keys`, `verigrid account`, `verigrid device`.

use std::path::PathBuf;

use anyhow::{Context as _, Result, anyhow};
use serde_json::json;
use verigrid_ledger::DeviceStatus;
use verigrid_types::{AccountId, DeviceId, Hash};

use verigrid_client::cli::{IdentityArgs, NetArgs};

#[derive(clap::Subcommand, Debug)]
pub enum KeysCommand {
    /// Make a new key file (mode 0600; never overwrites).
    New {
        /// Where to write it.
        file: PathBuf,
    },
    /// Print the account (and device) id of a key file.
    Show {
        /// The key file.
        file: PathBuf,
    },
}

#[derive(clap::Args, Debug)]
pub struct AccountArgs {
    /// Account id (hex); default: the signing identity's.
    pub id: Option<String>,
    #[command(flatten)]
    pub identity: IdentityArgs,
    #[command(flatten)]
    pub net: NetArgs,
}

#[derive(clap::Args, Debug)]
pub struct DeviceArgs {
    /// Device id (hex).
    pub id: String,
    #[command(flatten)]
    pub net: NetArgs,
}

pub fn keys(command: &KeysCommand) -> Result<()> {
    let (file, key) = match command {
        KeysCommand::New { file } => {
            let key = verigrid_client::keystore::generate()?;
            verigrid_client::keystore::save(file, &key)?;
            (file, key)
        }
        KeysCommand::Show { file } => (file, verigrid_client::keystore::load(file)?),
    };
    println!("key file   {}", file.display());
    println!("account    {}", key.account());
    println!(
        "device id  {} (if used as a development device key)",
        key.device_key().device_id().0.to_hex()
    );
    Ok(())
}

fn parse_id(what: &str, text: &str) -> Result<Hash> {
    Hash::from_hex(text.trim())
        .map_err(|e| anyhow!("{text:?} is not a {what} id (64 hex characters): {e}"))
}

pub fn account(args: &AccountArgs) -> Result<()> {
    let id = match &args.id {
        Some(text) => AccountId(parse_id("account", text)?.0),
        None => args.identity.secret()?.account(),
    };
    let client = args.net.client()?;
    let account = client
        .account(&id)?
        .ok_or_else(|| anyhow!("account {id} has never held funds on this network"))?;
    if args.net.json {
        println!(
            "{}",
            json!({
                "id": id.to_string(), "balance": account.balance.0, "nonce": account.nonce,
                "bonded": account.bonded.0,
            })
        );
    } else {
        println!("account  {id}");
        println!("balance  {}", account.balance.0);
        println!("bonded   {}", account.bonded.0);
        println!("nonce    {}", account.nonce);
    }
    Ok(())
}

pub fn device(args: &DeviceArgs) -> Result<()> {
    let id = DeviceId(parse_id("device", &args.id)?);
    let client = args.net.client()?;
    let device = client
        .device(&id)?
        .with_context(|| format!("no device {} on this network", args.id))?;
    let status = match device.status {
        DeviceStatus::Active => "active".to_owned(),
        DeviceStatus::Paused => "paused".to_owned(),
        DeviceStatus::Jailed(until) => format!("jailed until height {}", until.0),
        DeviceStatus::Retired => "retired".to_owned(),
        DeviceStatus::PausedInJail(until) => {
            format!("paused (jailed until height {})", until.0)
        }
    };
    let score = device.reputation.score_ppm();
    if args.net.json {
        println!(
            "{}",
            json!({
                "id": id.0.to_hex(), "owner": device.owner.to_string(), "status": status,
                "stake": device.stake.0, "reputation_ppm": score, "running": device.running,
                "misses": device.misses, "attest_deadline": device.attest_deadline.0,
                "security_level": format!("{:?}", device.attestation.security_level),
            })
        );
    } else {
        println!("device       {}", id.0.to_hex());
        println!("owner        {}", device.owner);
        println!("status       {status}");
        println!("stake        {}", device.stake.0);
        #[allow(clippy::cast_precision_loss)]
        let score = score as f64 / 1e6;
        println!("reputation   {score:.3}");
        println!(
            "running      {} task(s), {} missed in a row",
            device.running, device.misses
        );
        println!(
            "attestation  {:?}, renew by height {}",
            device.attestation.security_level, device.attest_deadline.0
        );
    }
    Ok(())
}

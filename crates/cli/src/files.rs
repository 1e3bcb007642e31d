//! The files a validator is started from: its node config (TOML) and the
//! network's shared genesis (JSON), and how `dev` and `localnet` generate
//! them.
//!
//! ```toml
//! key = "…64 hex…"            # this validator's ed25519 private key
//! p2p = "127.0.0.1:7000"      # where it listens for validators
//! api = "127.0.0.1:8000"      # where it serves the HTTP API
//! data_dir = "node-0"         # relative paths are relative to this file
//! genesis = "genesis.json"
//! snapshot_every = 1000       # ledger snapshot every N blocks (0: never)
//! api_rate_limit = 2000       # API requests/s per client IP (0: unlimited)
//! [[peers]]                   # every validator, this one included
//! key = "…64 hex public key…"
//! address = "127.0.0.1:7000"
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, anyhow, bail};
use commonware_codec::{DecodeExt as _, Encode as _};
use commonware_cryptography::Signer as _;
use commonware_cryptography::ed25519::{PrivateKey, PublicKey};
use serde::{Deserialize, Serialize};
use verigrid_ledger::Genesis;
use verigrid_types::codec::{Decode as _, Encode as _};
use verigrid_types::hash::{hex, unhex};
use verigrid_types::params::Params;
use verigrid_types::{AccountId, Amount, Hash, SecretKey, Timestamp};

/// One validator's config file.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeFile {
    /// Hex ed25519 private key (32 bytes).
    pub key: String,
    /// p2p listen address.
    pub p2p: SocketAddr,
    /// HTTP API listen address.
    pub api: SocketAddr,
    /// Storage directory.
    pub data_dir: PathBuf,
    /// Genesis file.
    pub genesis: PathBuf,
    /// Snapshot the ledger every this many finalized blocks, so a restart
    /// replays only the blocks after the newest snapshot (absent: every
    /// [`DEFAULT_SNAPSHOT_EVERY`]; 0: never, restarts replay from genesis).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_every: Option<u64>,
    /// API requests per second each client IP may make, with bursts of
    /// twice that; more get 429 with `Retry-After` (absent: 2,000; 0: no
    /// limit, for a node only you can reach).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_rate_limit: Option<u32>,
    /// Every validator's public key and p2p address.
    pub peers: Vec<PeerEntry>,
}

/// Blocks between ledger snapshots when the node config does not say
/// (about 3 minutes at the 200 ms block interval).
pub const DEFAULT_SNAPSHOT_EVERY: u64 = 1_000;

/// A validator's address.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerEntry {
    /// Hex ed25519 public key.
    pub key: String,
    /// p2p address.
    pub address: SocketAddr,
}

/// The shared genesis file.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisFile {
    /// Chain id.
    pub chain_id: String,
    /// Genesis time, ms since the Unix epoch.
    pub time_ms: u64,
    /// Hex canonical encoding of the ledger `Params`.
    pub params: String,
    /// Funded accounts.
    pub accounts: Vec<Funded>,
    /// Hex ed25519 public keys of the validator set.
    pub validators: Vec<String>,
}

/// An initial balance.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Funded {
    /// Hex account id.
    pub account: String,
    /// Balance.
    pub balance: u64,
}

/// A node config, resolved and checked.
pub struct Resolved {
    pub signer: PrivateKey,
    pub p2p: SocketAddr,
    pub api: SocketAddr,
    pub data_dir: PathBuf,
    pub genesis: Genesis,
    pub validators: Vec<PublicKey>,
    pub peers: Vec<(PublicKey, SocketAddr)>,
    pub snapshot_every: Option<std::num::NonZeroU64>,
    pub rate_limit: Option<verigrid_node::api::RateLimit>,
}

pub fn key_hex(key: &PrivateKey) -> String {
    hex(&key.encode())
}

pub fn public_hex(key: &PublicKey) -> String {
    hex(&key.encode())
}

fn parse_private(text: &str) -> Result<PrivateKey> {
    let bytes = unhex(text.trim()).map_err(|e| anyhow!("{e}"))?;
    PrivateKey::decode(bytes).map_err(|e| anyhow!("{e}"))
}

fn parse_public(text: &str) -> Result<PublicKey> {
    let bytes = unhex(text.trim()).map_err(|e| anyhow!("{e}"))?;
    PublicKey::decode(bytes).map_err(|e| anyhow!("{e}"))
}

/// A fresh random validator key (from the OS).
pub fn random_key() -> Result<PrivateKey> {
    let mut seed = [0u8; 32];
    let mut urandom = std::fs::File::open("/dev/urandom").context("opening /dev/urandom")?;
    std::io::Read::read_exact(&mut urandom, &mut seed).context("reading /dev/urandom")?;
    PrivateKey::decode(seed.to_vec()).map_err(|e| anyhow!("{e}"))
}

impl GenesisFile {
    /// The file for `genesis` and its validator set.
    pub fn new(genesis: &Genesis, validators: &[PublicKey]) -> Self {
        Self {
            chain_id: genesis.chain_id.clone(),
            time_ms: genesis.time.0,
            params: hex(&genesis.params.encode()),
            accounts: genesis
                .accounts
                .iter()
                .map(|(a, b)| Funded {
                    account: hex(&a.0),
                    balance: b.0,
                })
                .collect(),
            validators: validators.iter().map(public_hex).collect(),
        }
    }

    /// The ledger genesis and validator set it describes.
    pub fn resolve(&self) -> Result<(Genesis, Vec<PublicKey>)> {
        let params = Params::decode(&unhex(&self.params).map_err(|e| anyhow!("{e}"))?)
            .map_err(|e| anyhow!("params: {e}"))?;
        let accounts = self
            .accounts
            .iter()
            .map(|f| {
                let id = Hash::from_hex(&f.account)
                    .map_err(|e| anyhow!("account {}: {e}", f.account))?;
                Ok((AccountId(*id.as_bytes()), Amount(f.balance)))
            })
            .collect::<Result<Vec<_>>>()?;
        let validators = self
            .validators
            .iter()
            .map(|v| parse_public(v).with_context(|| format!("validator key {v}")))
            .collect::<Result<Vec<_>>>()?;
        Ok((
            Genesis {
                chain_id: self.chain_id.clone(),
                params,
                accounts,
                time: Timestamp(self.time_ms),
            },
            validators,
        ))
    }
}

fn relative_to(base: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    }
}

/// Reads and checks a node config and the genesis it names.
pub fn load(config: &Path) -> Result<Resolved> {
    let text = std::fs::read_to_string(config)
        .with_context(|| format!("reading node config {}", config.display()))?;
    let file: NodeFile = toml::from_str(&text)
        .with_context(|| format!("parsing node config {}", config.display()))?;
    let base = config.parent().unwrap_or(Path::new("."));
    let genesis_path = relative_to(base, &file.genesis);
    let genesis_text = std::fs::read_to_string(&genesis_path)
        .with_context(|| format!("reading genesis {}", genesis_path.display()))?;
    let genesis: GenesisFile = serde_json::from_str(&genesis_text)
        .with_context(|| format!("parsing genesis {}", genesis_path.display()))?;
    let (genesis, validators) = genesis.resolve()?;
    let signer = parse_private(&file.key).context("the `key` in the node config")?;
    if !validators.contains(&signer.public_key()) {
        bail!(
            "this node's key {} is not in the genesis validator set",
            public_hex(&signer.public_key())
        );
    }
    let peers = file
        .peers
        .iter()
        .map(|p| {
            Ok((
                parse_public(&p.key).with_context(|| format!("peer key {}", p.key))?,
                p.address,
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    for v in &validators {
        if !peers.iter().any(|(k, _)| k == v) {
            bail!("validator {} has no address in `peers`", public_hex(v));
        }
    }
    Ok(Resolved {
        signer,
        p2p: file.p2p,
        api: file.api,
        data_dir: relative_to(base, &file.data_dir),
        genesis,
        validators,
        peers,
        snapshot_every: std::num::NonZeroU64::new(
            file.snapshot_every.unwrap_or(DEFAULT_SNAPSHOT_EVERY),
        ),
        rate_limit: file.api_rate_limit.map_or(
            Some(verigrid_node::api::RateLimit::DEFAULT),
            verigrid_node::api::RateLimit::per_second,
        ),
    })
}

/// The dev and localnet genesis: the dev attestation CA is trusted (so
/// `DevCa`-issued devices register), short commit/reveal windows, and
/// funded dev accounts `dev/user/0..accounts` (`SecretKey::from_label`).
///
/// The windows are [`DEV_WINDOW_BLOCKS`] blocks (about 10 s at the 200 ms
/// block interval). A window closes early once every replica has acted,
/// so its length costs nothing while devices keep up; it only bounds how
/// long a missing device is waited for. 3 blocks made loaded devices miss
/// (`verigrid bench node`: 4,254 misses on 20,000 tasks), and 10 blocks
/// (2 s) made every agent miss when the dev node was restarted under it,
/// since an agent needs a few seconds to reconnect.
pub fn dev_genesis(chain_id: &str, accounts: usize, now_ms: u64) -> Result<Genesis> {
    let ca =
        verigrid_attest::dev::DevCa::from_seed(&DEV_CA_SEED).map_err(|e| anyhow!("dev CA: {e}"))?;
    let governor = SecretKey::from_label("dev/governor");
    let mut params = Params::new(governor.account());
    params.attestation.trust_roots = vec![verigrid_types::Bytes(ca.root_der().to_vec())];
    params.commit_blocks = DEV_WINDOW_BLOCKS;
    params.reveal_blocks = DEV_WINDOW_BLOCKS;
    params.base_fee = Amount(1);
    let mut funded: Vec<(AccountId, Amount)> = (0..accounts)
        .map(|i| (dev_user(i).account(), Amount(1_000_000_000_000)))
        .collect();
    funded.push((governor.account(), Amount(1_000_000_000)));
    Ok(Genesis {
        chain_id: chain_id.into(),
        params,
        accounts: funded,
        time: Timestamp(now_ms),
    })
}

/// Commit and reveal windows of dev and localnet chains, in blocks.
pub const DEV_WINDOW_BLOCKS: u64 = 50;

/// Seed of the development attestation CA, and funded dev account `i`.
pub use verigrid_attest::dev::DEV_CA_SEED;
pub use verigrid_client::cli::dev_user;

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Writes `genesis.json` and `node-{i}.toml` for `keys` into `dir`, with
/// p2p ports from `p2p_base` and API ports from `api_base`.
pub fn write_network(
    dir: &Path,
    genesis: &Genesis,
    keys: &[PrivateKey],
    p2p_base: u16,
    api_base: u16,
) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let validators: Vec<PublicKey> = keys.iter().map(PrivateKey::public_key).collect();
    let genesis_file = GenesisFile::new(genesis, &validators);
    std::fs::write(
        dir.join("genesis.json"),
        serde_json::to_string_pretty(&genesis_file)?,
    )?;
    let port = |base: u16, i: usize| -> Result<u16> {
        u16::try_from(i)
            .ok()
            .and_then(|i| base.checked_add(i))
            .ok_or_else(|| anyhow!("port {base}+{i} is out of range"))
    };
    let peers = validators
        .iter()
        .enumerate()
        .map(|(i, v)| {
            Ok(PeerEntry {
                key: public_hex(v),
                address: SocketAddr::from(([127, 0, 0, 1], port(p2p_base, i)?)),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let mut paths = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let file = NodeFile {
            key: key_hex(key),
            p2p: SocketAddr::from(([127, 0, 0, 1], port(p2p_base, i)?)),
            api: SocketAddr::from(([127, 0, 0, 1], port(api_base, i)?)),
            data_dir: PathBuf::from(format!("node-{i}")),
            genesis: PathBuf::from("genesis.json"),
            snapshot_every: Some(DEFAULT_SNAPSHOT_EVERY),
            // Every client of a loopback network is one IP (127.0.0.1):
            // a per-client limit would only throttle its one user.
            api_rate_limit: Some(0),
            peers: peers.clone(),
        };
        let path = dir.join(format!("node-{i}.toml"));
        std::fs::write(&path, toml::to_string(&file)?)
            .with_context(|| format!("writing {}", path.display()))?;
        paths.push(path);
    }
    Ok(paths)
}

//! Running one validator process: commonware's tokio runtime, the
//! authenticated p2p network, the node engine with storage under the data
//! dir, and the HTTP API — until Ctrl-C/SIGTERM, or a block target.

use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow, bail};
use commonware_cryptography::Signer as _;
use commonware_runtime::{Runner as _, Spawner as _, Supervisor as _, tokio as cw_tokio};
use verigrid_node::api::{self, ApiConfig};
use verigrid_node::p2p::{self, P2pConfig};
use verigrid_node::{BlockLimits, Config, MempoolConfig, StartError, Timeouts};

use crate::files::{Resolved, public_hex};

/// How a validator process runs.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Stop once this many blocks past the starting height are finalized
    /// (0: after the first; `None`: run until interrupted).
    pub blocks: Option<u64>,
    /// Print the ready line as JSON.
    pub json: bool,
    /// Label in the ready line.
    pub label: String,
    /// Stop right after printing the ready line.
    pub exit_after_ready: bool,
    /// How to start over when the data dir holds a chain this build
    /// cannot continue (another genesis, or other ledger rules), told to
    /// the user with the error.
    pub start_over: String,
}

const MAILBOX: NonZeroUsize = match NonZeroUsize::new(1024) {
    Some(n) => n,
    None => NonZeroUsize::MIN,
};

/// Pace of an idle chain: a block at most every this often per proposer.
const BLOCK_INTERVAL: Duration = Duration::from_millis(200);

/// Runs the validator described by `resolved` until it is told to stop,
/// then exits the process (0, or 1 after printing the error).
pub fn run(resolved: Resolved, options: RunOptions) -> Result<()> {
    let data_dir: PathBuf = resolved.data_dir.clone();
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("creating data dir {}", data_dir.display()))?;
    let config = cw_tokio::Config::new()
        .with_worker_threads(2)
        .with_catch_panics(false)
        .with_storage_directory(data_dir.join("store"));
    cw_tokio::Runner::new(config).start(|context| async move {
        let result = serve(context.child("node"), resolved, options).await;
        // Stop every task (consensus, storage). The runner would otherwise
        // wait for them forever; whatever is unsynced is what a crash
        // loses, which recovery handles.
        let _ = context.stop(0, Some(Duration::from_secs(3))).await;
        match result {
            Ok(()) => std::process::exit(0),
            Err(e) => {
                eprintln!("error: {e:#}");
                std::process::exit(1)
            }
        }
    })
}

/// Why the validator did not start, and for a data dir this build cannot
/// continue, what to do about it: the data dir is left as it was.
fn start_failed(e: &StartError, data_dir: &Path, start_over: &str) -> anyhow::Error {
    if e.is_other_chain() {
        anyhow!(
            "starting the validator: {e}.\n\
             Nothing in {} was changed. To go on: {start_over}; or run the verigrid build \
             that wrote it.",
            data_dir.display()
        )
    } else {
        anyhow!("starting the validator: {e}")
    }
}

async fn serve(context: cw_tokio::Context, resolved: Resolved, options: RunOptions) -> Result<()> {
    let started = Instant::now();
    let chain_id = resolved.genesis.chain_id.clone();
    let me = resolved.signer.public_key();
    let (networks, _network_task) = p2p::start(
        context.child("p2p"),
        P2pConfig {
            namespace: [chain_id.as_bytes(), b"_P2P"].concat(),
            signer: resolved.signer.clone(),
            listen: resolved.p2p,
            peers: resolved.peers.clone(),
            mailbox_size: MAILBOX,
        },
    )?;
    let config = Config {
        genesis: resolved.genesis,
        signer: resolved.signer,
        validators: resolved.validators,
        verifier: Box::new(verigrid_attest::Verifier::new()),
        mempool: MempoolConfig::default(),
        limits: BlockLimits::default(),
        timeouts: Timeouts {
            block_interval: BLOCK_INTERVAL,
            ..Timeouts::default()
        },
        partition_prefix: "verigrid".into(),
        snapshot_every: resolved.snapshot_every,
        mailbox_size: MAILBOX,
    };
    let (node, tasks) = verigrid_node::start(context.child("validator"), config, networks)
        .await
        .map_err(|e| start_failed(&e, &resolved.data_dir, &options.start_over))?;
    let api_config = ApiConfig {
        rate_limit: resolved.rate_limit,
        ..ApiConfig::new(
            resolved.api,
            resolved.data_dir.join("blobs"),
            chain_id.clone(),
        )
    };
    let api = api::start(node.clone(), api_config)
        .await
        .with_context(|| format!("binding the API on {}", resolved.api))?;
    let status = node.status().await.map_err(|e| anyhow!("{e}"))?;
    let ready_ms = started.elapsed().as_millis();
    let recovery = tasks.recovery;
    if options.json {
        println!(
            "{{\"ready\":true,\"api\":\"http://{}\",\"p2p\":\"{}\",\"validator\":\"{}\",\"height\":{},\"data_dir\":\"{}\",\"ready_ms\":{ready_ms},\"snapshot\":{},\"replayed\":{}}}",
            api.addr(),
            resolved.p2p,
            public_hex(&me),
            status.height.0,
            resolved.data_dir.display(),
            recovery
                .snapshot
                .map_or_else(|| "null".to_owned(), |h| h.0.to_string()),
            recovery.replayed,
        );
    } else {
        let recovered = match recovery.snapshot {
            Some(h) => format!(
                " (restored the snapshot at height {}, replayed {} blocks)",
                h.0, recovery.replayed
            ),
            None if recovery.replayed > 0 => {
                format!(" (replayed {} blocks from genesis)", recovery.replayed)
            }
            None => String::new(),
        };
        println!(
            "{} ready in {ready_ms} ms: API http://{}  p2p {}  chain {chain_id} at height {}{recovered}  data {}",
            options.label,
            api.addr(),
            resolved.p2p,
            status.height.0,
            resolved.data_dir.display()
        );
    }
    if options.exit_after_ready {
        return Ok(());
    }
    let target = options
        .blocks
        .map(|n| status.height.0.saturating_add(n.max(1)));
    let mut blocks = node.watch(1024).await.map_err(|e| anyhow!("{e}"))?;
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    let mut application = tasks.application;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {
                eprintln!("interrupted: stopping");
                return Ok(());
            }
            _ = sigterm.recv() => return Ok(()),
            done = &mut application => {
                return match done {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(e)) => bail!("the ledger stopped: {e}"),
                    Err(e) => bail!("the application task failed: {e:?}"),
                };
            }
            block = blocks.recv() => {
                match block {
                    Some(block) => {
                        if target.is_some_and(|t| block.height.0 >= t) {
                            println!(
                                "{} finalized height {} (state root {})",
                                options.label, block.height.0, block.state_root
                            );
                            return Ok(());
                        }
                    }
                    None => blocks = node.watch(1024).await.map_err(|e| anyhow!("{e}"))?,
                }
            }
        }
    }
}

//! `verigrid bench node`: drives a running network over its HTTP API.
//!
//! - `--mode results` (the default, `bench/results.rs`): dev-attested
//!   devices commit and reveal a job's tasks in batches; reports verified
//!   results per second and submit → finalized latency.
//! - `--mode transfers`: transfers from the dev accounts; reports finalized
//!   transactions per second and submit → finalized latency (p50/p99).
//!
//! Finality is timed on the first API's block stream; every transaction
//! goes to every API given (validators do not gossip transactions yet).

mod results;

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow, bail};
use serde_json::Value;
use verigrid_types::codec::Encode as _;
use verigrid_types::tx::{Call, SignedTx, Signer, Tx};
use verigrid_types::{AccountId, Amount, Hash};

use crate::files::dev_user;

#[derive(clap::Subcommand, Debug)]
pub enum BenchCommand {
    /// Drive a running network (`verigrid dev` or `verigrid localnet`)
    /// over its API: commit/reveal batches from dev devices (default), or
    /// transfers.
    ///
    /// Examples:
    ///   verigrid bench node --api http://127.0.0.1:8080
    ///   verigrid bench node --chain verigrid-localnet --api http://127.0.0.1:7100 \
    ///     --api http://127.0.0.1:7101 --api http://127.0.0.1:7102 --api http://127.0.0.1:7103
    #[command(verbatim_doc_comment)]
    Node(NodeBench),
}

/// What the node benchmark sends.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Register devices, submit a job, commit and reveal its tasks.
    Results,
    /// Transfers between dev accounts.
    Transfers,
}

#[derive(clap::Args, Debug)]
pub struct NodeBench {
    /// API base URLs (the first one's stream times finality).
    #[arg(long = "api", required = true)]
    apis: Vec<String>,
    /// Chain id the transactions are signed for (`verigrid-localnet` for
    /// `verigrid localnet`).
    #[arg(long, default_value = "verigrid-dev")]
    chain: String,
    /// What to send.
    #[arg(long, value_enum, default_value_t = Mode::Results)]
    mode: Mode,
    /// Devices to register (results mode).
    #[arg(long, default_value_t = 32)]
    devices: usize,
    /// Tasks in the job (results mode).
    #[arg(long, default_value_t = 5_000)]
    tasks: u32,
    /// Replicas per task; quorum is a majority (results mode).
    #[arg(long, default_value_t = 2)]
    replicas: u8,
    /// Give up after this many seconds without a verdict (results mode).
    #[arg(long, default_value_t = 60)]
    timeout_secs: u64,
    /// HTTP requests in flight at once.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Transfers to submit (transfers mode).
    #[arg(long, default_value_t = 2_000)]
    txs: u64,
    /// Funded dev accounts to use (`dev/user/N`): transfer senders, or the
    /// job's consumer (0) and the devices' owners (the rest).
    #[arg(long, default_value_t = 8)]
    accounts: usize,
    /// Print the figures as JSON.
    #[arg(long)]
    json: bool,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// A finalized block as the stream reports it, and when it was seen.
pub(crate) struct Block {
    at: Instant,
    height: u64,
    tx_ids: Vec<String>,
    rejected: Vec<String>,
    events: Vec<Value>,
}

/// The network's APIs, as the benchmark talks to them.
pub(crate) struct Api {
    client: reqwest::blocking::Client,
    apis: Vec<String>,
    chain: String,
    /// Fee that admits any transaction up to the API's size limit.
    fee: Amount,
    connections: usize,
}

impl Api {
    fn new(args: &NodeBench) -> Result<Self> {
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()?;
        let apis: Vec<String> = args
            .apis
            .iter()
            .map(|a| a.trim_end_matches('/').to_owned())
            .collect();
        let mut api = Self {
            client,
            apis,
            chain: args.chain.clone(),
            fee: Amount(1_000),
            connections: args.connections.max(1),
        };
        let params = api.get("/v1/params")?;
        let base = params["base_fee"].as_u64().unwrap_or(1_000);
        let per_byte = params["fee_per_byte"].as_u64().unwrap_or(0);
        api.fee = Amount(base.saturating_add(per_byte.saturating_mul(64 * 1024)));
        let status = api.get("/v1/status")?;
        if status["chain_id"].as_str() != Some(api.chain.as_str()) {
            bail!(
                "{} serves chain {}, not {}: pass --chain {}",
                api.apis[0],
                status["chain_id"],
                api.chain,
                status["chain_id"].as_str().unwrap_or("?")
            );
        }
        Ok(api)
    }

    fn get(&self, path: &str) -> Result<Value> {
        let url = format!("{}{path}", self.apis[0]);
        let r = self
            .client
            .get(&url)
            .send()
            .with_context(|| format!("GET {url} (is the node running?)"))?;
        let status = r.status();
        let body: Value = r.json().with_context(|| format!("reading {url}"))?;
        if !status.is_success() {
            bail!("GET {url}: {status} {body}");
        }
        Ok(body)
    }

    fn account_nonce(&self, account: &AccountId) -> Result<u64> {
        Ok(self.get(&format!("/v1/accounts/{account}"))?["nonce"]
            .as_u64()
            .unwrap_or(0))
    }

    /// The finalized height and tip once the height is at least `min`.
    fn wait_for_height(&self, min: u64) -> Result<(u64, Hash)> {
        for _ in 0..300 {
            let status = self.get("/v1/status")?;
            let height = status["height"].as_u64().unwrap_or(0);
            if height >= min {
                let tip = Hash::from_hex(status["finalized_tip"].as_str().unwrap_or(""))
                    .map_err(|e| anyhow!("finalized_tip: {e}"))?;
                return Ok((height, tip));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        bail!("the chain did not reach height {min} in 30 s")
    }

    /// Follows the first API's finalized blocks.
    fn follow(&self) -> Result<mpsc::Receiver<Block>> {
        let (send, blocks) = mpsc::channel();
        let url = format!("{}/v1/stream", self.apis[0]);
        let stream = reqwest::blocking::Client::builder()
            .timeout(None)
            .build()?
            .get(&url)
            .send()
            .with_context(|| format!("opening {url}"))?;
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines() {
                let Ok(line) = line else { return };
                let Some(data) = line.strip_prefix("data:") else {
                    continue;
                };
                let at = Instant::now();
                let Ok(mut b) = serde_json::from_str::<Value>(data.trim()) else {
                    continue;
                };
                let strings = |v: &Value| -> Vec<String> {
                    v.as_array()
                        .into_iter()
                        .flatten()
                        .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_owned))
                        .collect()
                };
                let block = Block {
                    at,
                    height: b["height"].as_u64().unwrap_or(0),
                    tx_ids: strings(&b["tx_ids"]),
                    rejected: b["rejected"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(ToString::to_string)
                        .collect(),
                    events: match b["events"].take() {
                        Value::Array(events) => events,
                        _ => Vec::new(),
                    },
                };
                if send.send(block).is_err() {
                    return;
                }
            }
        });
        Ok(blocks)
    }

    /// Posts one transaction to every API, retrying while they push back.
    /// `Ok(true)` once some API admitted it (or already had it).
    fn submit(&self, bytes: &[u8]) -> Result<bool> {
        let mut admitted = false;
        for api in &self.apis {
            for attempt in 0..200 {
                let r = self
                    .client
                    .post(format!("{api}/v1/txs"))
                    .header("content-type", "application/octet-stream")
                    .body(bytes.to_vec())
                    .send();
                match r {
                    Ok(r) => match r.status().as_u16() {
                        202 | 409 => {
                            admitted = true;
                            break;
                        }
                        429 | 503 => {
                            std::thread::sleep(Duration::from_millis(20 * (attempt + 1).min(10)))
                        }
                        code => {
                            let body = r.text().unwrap_or_default();
                            bail!("{api} refused a transaction: {code} {body}");
                        }
                    },
                    Err(e) => {
                        if attempt > 3 {
                            return Err(e).context(format!("posting to {api}"));
                        }
                        std::thread::sleep(Duration::from_millis(50));
                    }
                }
            }
        }
        Ok(admitted)
    }

    /// Submits `txs` on `connections` threads (a signer's transactions stay
    /// in order within a thread's share).
    fn submit_all(&self, txs: Vec<&SignedTx>) -> Result<()> {
        if txs.is_empty() {
            return Ok(());
        }
        let share = txs.len().div_ceil(self.connections);
        std::thread::scope(|scope| {
            let workers: Vec<_> = txs
                .chunks(share)
                .map(|chunk| {
                    scope.spawn(move || -> Result<()> {
                        for tx in chunk {
                            if !self.submit(&tx.encode())? {
                                bail!("no API admitted transaction {}", tx.id());
                            }
                        }
                        Ok(())
                    })
                })
                .collect();
            workers
                .into_iter()
                .try_for_each(|w| w.join().map_err(|_| anyhow!("a submitter panicked"))?)
        })
    }
}

pub fn run(command: &BenchCommand) -> Result<()> {
    let BenchCommand::Node(args) = command;
    match args.mode {
        Mode::Results => results::run(args),
        Mode::Transfers => transfers(args),
    }
}

/// The transfers benchmark.
fn transfers(args: &NodeBench) -> Result<()> {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()?;
    let first = args.apis[0].trim_end_matches('/').to_owned();
    // Next nonce of each account.
    let mut nonces = Vec::new();
    for u in 0..args.accounts {
        let url = format!("{first}/v1/accounts/{}", dev_user(u).account());
        let account: serde_json::Value = client
            .get(&url)
            .send()
            .and_then(reqwest::blocking::Response::json)
            .with_context(|| format!("reading {url}"))?;
        nonces.push(account["nonce"].as_u64().unwrap_or(0));
    }
    // Follow finalized blocks: (tx id, when seen).
    let (seen_tx, seen) = mpsc::channel::<(String, Instant)>();
    let stream_url = format!("{first}/v1/stream");
    let stream = reqwest::blocking::Client::builder()
        .timeout(None)
        .build()?
        .get(&stream_url)
        .send()
        .with_context(|| format!("opening {stream_url}"))?;
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { return };
            let Some(data) = line.strip_prefix("data:") else {
                continue;
            };
            let now = Instant::now();
            let Ok(block) = serde_json::from_str::<serde_json::Value>(data.trim()) else {
                continue;
            };
            for id in block["tx_ids"].as_array().into_iter().flatten() {
                if let Some(id) = id.as_str()
                    && seen_tx.send((id.to_owned(), now)).is_err()
                {
                    return;
                }
            }
        }
    });

    let started = Instant::now();
    let mut submitted: HashMap<String, Instant> = HashMap::new();
    let mut finalized: HashMap<String, Duration> = HashMap::new();
    let mut refused = 0u64;
    let mut i = 0u64;
    while i < args.txs {
        let u = usize::try_from(i % args.accounts as u64).unwrap_or(0);
        let from = dev_user(u);
        let tx: SignedTx = Tx {
            signer: Signer::Account(from.account()),
            nonce: nonces[u],
            fee: Amount(1_000),
            call: Call::Transfer {
                to: AccountId([0xBE; 32]),
                amount: Amount(1),
            },
        }
        .sign(&args.chain, &from);
        let bytes = tx.encode();
        let sent_at = Instant::now();
        let mut admitted = false;
        let mut backoff = false;
        for api in &args.apis {
            let r = client
                .post(format!("{}/v1/txs", api.trim_end_matches('/')))
                .header("content-type", "application/octet-stream")
                .body(bytes.clone())
                .send();
            match r.map(|r| r.status().as_u16()) {
                Ok(202) => admitted = true,
                Ok(429 | 503) => backoff = true,
                _ => {}
            }
        }
        while let Ok((id, at)) = seen.try_recv() {
            if let Some(sent) = submitted.get(&id) {
                finalized.insert(id, at.saturating_duration_since(*sent));
            }
        }
        if admitted {
            submitted.insert(tx.id().to_hex(), sent_at);
            nonces[u] += 1;
            i += 1;
        } else {
            refused += 1;
            if backoff {
                std::thread::sleep(Duration::from_millis(50));
            }
            if refused > args.txs.saturating_mul(20).max(1_000) {
                bail!("the network keeps refusing transactions (is --chain right?)");
            }
        }
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while finalized.len() < submitted.len() && Instant::now() < deadline {
        if let Ok((id, at)) = seen.recv_timeout(Duration::from_millis(500))
            && let Some(sent) = submitted.get(&id)
        {
            finalized.insert(id, at.saturating_duration_since(*sent));
        }
    }
    let elapsed = started.elapsed();
    let mut latencies: Vec<Duration> = finalized.values().copied().collect();
    latencies.sort();
    #[allow(clippy::cast_precision_loss)]
    let rate = finalized.len() as f64 / elapsed.as_secs_f64();
    let (p50, p99) = (percentile(&latencies, 0.50), percentile(&latencies, 0.99));
    if args.json {
        println!(
            "{{\"validators\":{},\"submitted\":{},\"finalized\":{},\"seconds\":{:.3},\"finalized_per_sec\":{rate:.1},\"p50_ms\":{},\"p99_ms\":{}}}",
            args.apis.len(),
            submitted.len(),
            finalized.len(),
            elapsed.as_secs_f64(),
            p50.as_millis(),
            p99.as_millis()
        );
    } else {
        println!(
            "verigrid bench node: {} API(s), {} transfers submitted, {} finalized in {:.2} s",
            args.apis.len(),
            submitted.len(),
            finalized.len(),
            elapsed.as_secs_f64()
        );
        println!("  finalized/s          {rate:.1}");
        println!("  submit→finalized p50 {} ms", p50.as_millis());
        println!("  submit→finalized p99 {} ms", p99.as_millis());
        println!("  refused (retried)    {refused}");
    }
    if finalized.len() < submitted.len() {
        bail!(
            "{} submitted transfers were not finalized within 60 s",
            submitted.len() - finalized.len()
        );
    }
    Ok(())
}

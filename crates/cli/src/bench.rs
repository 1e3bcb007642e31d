//! `verigrid bench node`: drives a running network over its HTTP API and
//! reports finalized transactions per second and submit → finalized
//! latency (p50/p99), seen on the first API's block stream.

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use verigrid_types::codec::Encode as _;
use verigrid_types::tx::{Call, SignedTx, Signer, Tx};
use verigrid_types::{AccountId, Amount};

use crate::files::dev_user;

#[derive(clap::Subcommand, Debug)]
pub enum BenchCommand {
    /// Transfers from the dev accounts, submitted to every API given.
    Node(NodeBench),
}

#[derive(clap::Args, Debug)]
pub struct NodeBench {
    /// API base URLs (the first one's stream times finality).
    #[arg(long = "api", required = true)]
    apis: Vec<String>,
    /// Chain id the transactions are signed for.
    #[arg(long, default_value = "verigrid-dev")]
    chain: String,
    /// Transfers to submit.
    #[arg(long, default_value_t = 2_000)]
    txs: u64,
    /// Dev accounts sending them (`dev/user/N`).
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

pub fn run(command: &BenchCommand) -> Result<()> {
    let BenchCommand::Node(args) = command;
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

//! A real network: four `verigrid node` processes on 127.0.0.1 with
//! authenticated p2p and persistent storage; transfers go in over HTTP, one
//! validator is SIGKILLed mid-load and restarted. No finalized transaction
//! may be lost and every validator must agree on every block and state root.
//! The restarted validator recovers from its newest ledger snapshot.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)]

mod common;

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use serde_json::Value;
use verigrid_types::codec::Encode as _;
use verigrid_types::hash::hex;
use verigrid_types::tx::{Call, SignedTx, Signer, Tx};
use verigrid_types::{AccountId, Amount, SecretKey};

const VALIDATORS: usize = 4;
const USERS: usize = 4;
const CHAIN: &str = "verigrid-localnet";

fn ports_free(base: u16) -> bool {
    (0..VALIDATORS as u16)
        .flat_map(|i| [base + i, base + 100 + i])
        .all(|p| TcpListener::bind(("127.0.0.1", p)).is_ok())
}

fn base_port() -> u16 {
    let mut base = 20_000 + (std::process::id() % 2_000) as u16 * 10;
    while !ports_free(base) {
        base += 7;
    }
    base
}

struct Net {
    dir: PathBuf,
    api: Vec<String>,
    children: Vec<Option<Child>>,
}

impl Net {
    fn spawn(&mut self, i: usize) {
        let log = File::create(self.dir.join(format!("node-{i}.log"))).unwrap();
        let out = File::create(self.dir.join(format!("node-{i}.out"))).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_verigrid"))
            .args(["node", "--config"])
            .arg(self.dir.join(format!("node-{i}.toml")))
            .env("RUST_LOG", "warn")
            .stdout(out)
            .stderr(log)
            .spawn()
            .unwrap();
        self.children[i] = Some(child);
    }

    fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.children[i].take() {
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();
        }
    }

    fn logs(&self) -> String {
        (0..VALIDATORS)
            .map(|i| {
                let text = std::fs::read_to_string(self.dir.join(format!("node-{i}.log")))
                    .unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(15).collect();
                format!(
                    "--- node {i}\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for i in 0..VALIDATORS {
            self.kill(i);
        }
    }
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
        .unwrap()
}

fn get(client: &reqwest::blocking::Client, url: &str) -> Option<Value> {
    let r = client.get(url).send().ok()?;
    if !r.status().is_success() {
        return None;
    }
    r.json().ok()
}

fn height(client: &reqwest::blocking::Client, api: &str) -> Option<u64> {
    get(client, &format!("{api}/v1/status"))?["height"].as_u64()
}

fn wait_until(what: &str, limit: Duration, net: &Net, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "timed out: {what}\n{}", net.logs());
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn transfer(from: &SecretKey, nonce: u64) -> SignedTx {
    Tx {
        signer: Signer::Account(from.account()),
        nonce,
        fee: Amount(1_000),
        call: Call::Transfer {
            to: AccountId([0xCD; 32]),
            amount: Amount(1 + nonce),
        },
    }
    .sign(CHAIN, from)
}

fn user(i: usize) -> SecretKey {
    SecretKey::from_label(&format!("dev/user/{i}"))
}

/// Submits `tx` to every live validator; true if one admitted it.
fn submit(client: &reqwest::blocking::Client, net: &Net, tx: &SignedTx) -> bool {
    let mut admitted = false;
    for (i, api) in net.api.iter().enumerate() {
        if net.children[i].is_none() {
            continue;
        }
        if let Ok(r) = client
            .post(format!("{api}/v1/txs"))
            .header("content-type", "application/octet-stream")
            .body(tx.encode())
            .send()
        {
            admitted |= r.status().as_u16() == 202;
        }
    }
    admitted
}

fn nonce(client: &reqwest::blocking::Client, api: &str, user: &SecretKey) -> Option<u64> {
    get(
        client,
        &format!("{api}/v1/accounts/{}", hex(&user.account().0)),
    )?["nonce"]
        .as_u64()
}

fn setup(dir: &Path, base: u16) {
    common::localnet_init(dir, base, u16::try_from(VALIDATORS).unwrap(), 8);
    // Snapshots every 5 blocks, so the restarted validator restores one.
    for i in 0..VALIDATORS {
        let path = dir.join(format!("node-{i}.toml"));
        let text = std::fs::read_to_string(&path).unwrap();
        let text = text.replace("snapshot_every = 1000", "snapshot_every = 5");
        assert!(text.contains("snapshot_every = 5"), "{text}");
        std::fs::write(&path, text).unwrap();
    }
}

#[test]
fn four_processes_survive_a_sigkill_without_losing_a_finalized_transaction() {
    let started = Instant::now();
    let dir = std::env::temp_dir().join(format!("verigrid-net-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let base = base_port();
    setup(&dir, base);
    let mut net = Net {
        api: (0..VALIDATORS as u16)
            .map(|i| format!("http://127.0.0.1:{}", base + 100 + i))
            .collect(),
        children: (0..VALIDATORS).map(|_| None).collect(),
        dir: dir.clone(),
    };
    for i in 0..VALIDATORS {
        net.spawn(i);
    }
    let client = client();
    wait_until(
        "all validators finalize",
        Duration::from_secs(30),
        &net,
        || {
            net.api
                .iter()
                .all(|api| height(&client, api).is_some_and(|h| h >= 2))
        },
    );

    // Load: every round each user sends one transfer to every validator.
    let mut sent = [0u64; USERS];
    let mut killed_at = None;
    for round in 0..24 {
        for (u, next) in sent.iter_mut().enumerate() {
            if submit(&client, &net, &transfer(&user(u), *next)) {
                *next += 1;
            }
        }
        if round == 8 {
            // Past a snapshot height (every 5), so there is one to restore.
            wait_until(
                "validator 3 passes height 7",
                Duration::from_secs(30),
                &net,
                || height(&client, &net.api[3]).is_some_and(|h| h >= 7),
            );
            killed_at = height(&client, &net.api[3]);
            net.kill(3);
        }
        if round == 16 {
            net.spawn(3);
        }
        std::thread::sleep(Duration::from_millis(150));
    }
    assert!(killed_at.is_some());
    assert!(sent.iter().all(|&n| n >= 20), "admitted {sent:?}");
    // The restarted validator restored its newest snapshot and replayed
    // only the blocks after it.
    wait_until("validator 3 ready", Duration::from_secs(30), &net, || {
        std::fs::read_to_string(dir.join("node-3.out")).is_ok_and(|t| t.contains("ready"))
    });
    let ready = std::fs::read_to_string(dir.join("node-3.out")).unwrap();
    assert!(ready.contains("restored the snapshot at height"), "{ready}");

    // Every admitted transfer is finalized, on every validator, the
    // restarted one included.
    wait_until(
        "every transfer finalized everywhere",
        Duration::from_secs(30),
        &net,
        || {
            net.api
                .iter()
                .all(|api| (0..USERS).all(|u| nonce(&client, api, &user(u)) == Some(sent[u])))
        },
    );
    let expected: u64 = sent.iter().map(|&n| (1..=n).sum::<u64>()).sum();
    for api in &net.api {
        let to = get(&client, &format!("{api}/v1/accounts/{}", hex(&[0xCD; 32]))).unwrap();
        assert_eq!(to["balance"].as_u64(), Some(expected), "{api}");
    }

    // Identical chains: same block hash and state root at every height
    // all four have finalized.
    let common = net
        .api
        .iter()
        .map(|a| height(&client, a).unwrap())
        .min()
        .unwrap();
    for h in 1..=common {
        let blocks: Vec<Value> = net
            .api
            .iter()
            .map(|a| get(&client, &format!("{a}/v1/blocks/{h}")).unwrap())
            .collect();
        for b in &blocks[1..] {
            assert_eq!(b["hash"], blocks[0]["hash"], "height {h}");
            assert_eq!(b["state_root"], blocks[0]["state_root"], "height {h}");
        }
    }
    eprintln!(
        "4 processes, {} transfers, killed validator 3 at height {killed_at:?}, {common} common blocks, {:.1} s",
        sent.iter().sum::<u64>(),
        started.elapsed().as_secs_f64()
    );
    drop(net);
    let _ = std::fs::remove_dir_all(&dir);
}

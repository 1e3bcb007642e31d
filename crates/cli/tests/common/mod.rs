//! Processes for end-to-end tests: validators and agents as real
//! `verigrid` processes on 127.0.0.1, killed with SIGKILL on drop.

#![allow(
    dead_code,
    unused_imports,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::collections::HashMap;
use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use verigrid_client::Client;
use verigrid_client::views::FinalizedBlock;
use verigrid_types::codec::Decode as _;
use verigrid_types::hash::unhex;
use verigrid_types::tx::{SignedTx, Signer};
use verigrid_types::{AccountId, DeviceId};

/// A funded dev account.
pub use verigrid_client::cli::dev_user as user;

/// Submits a WASM job of `program` over `inputs` as `signer` (an account)
/// and waits for it to be finalized.
pub fn submit_wasm_job(
    client: &Client,
    signer: &mut verigrid_client::Signer,
    program: verigrid_types::Hash,
    inputs: &[verigrid_types::Hash],
    verification: verigrid_types::job::Verification,
    reward: u64,
) -> verigrid_types::JobId {
    use verigrid_types::job::{Inputs, JobKind, JobSpec, Limits, Requirements};
    let height = client.status().unwrap().height;
    let spec = JobSpec {
        kind: JobKind::Wasm,
        program,
        inputs: Inputs::List(inputs.to_vec()),
        limits: Limits::default(),
        verification,
        requirements: Requirements::default(),
        reward: verigrid_types::Amount(reward),
        deadline: verigrid_types::Height(height + 3_000),
    };
    let escrow = spec.max_cost().unwrap();
    let tx = signer
        .sign(client, verigrid_types::tx::Call::SubmitJob { spec, escrow })
        .unwrap();
    let Signer::Account(consumer) = tx.tx.signer else {
        panic!("jobs are submitted by accounts");
    };
    let id = verigrid_types::JobId::derive(&consumer, tx.tx.nonce);
    client
        .submit_and_wait(&tx, Duration::from_secs(60))
        .unwrap();
    id
}

/// A `verigrid dev` validator (8 funded dev accounts) with its chain under
/// a scratch dir, answering on 127.0.0.1, and the log files a test reads
/// when it fails.
pub struct Dev {
    pub node: Proc,
    /// Its API base URL.
    pub api: String,
    pub client: Client,
    /// The node's log, then the logs of the processes the test adds.
    pub paths: Vec<PathBuf>,
    /// Last, so the node is stopped before its directory goes.
    pub dir: Scratch,
}

impl Dev {
    /// Starts it in scratch dir `name` (ports apart by `salt`) and waits
    /// for its first block; `logs` name the test's other log files, under
    /// the scratch dir.
    pub fn start(name: &str, salt: u16, logs: &[String]) -> Self {
        let dir = scratch(name);
        let port = free_base(1, salt) + 100;
        let api = format!("http://127.0.0.1:{port}");
        let node = Proc::start(
            &dir,
            "node",
            &[
                "dev".into(),
                "--data-dir".into(),
                dir.join("chain").display().to_string(),
                "--api".into(),
                format!("127.0.0.1:{port}"),
                "--accounts".into(),
                "8".into(),
            ],
        );
        let client = Client::new(std::slice::from_ref(&api)).unwrap();
        let mut paths = vec![node.log.clone()];
        paths.extend(logs.iter().map(|l| dir.join(l)));
        let dev = Self {
            dir,
            node,
            api,
            client,
            paths,
        };
        wait_until(
            "the dev node starts",
            Duration::from_secs(60),
            || dev.logs(),
            || dev.client.status().is_ok_and(|s| s.height >= 1),
        );
        dev
    }

    /// Every log, for a failure message.
    pub fn logs(&self) -> String {
        logs(&self.paths)
    }
}

/// `agent-0.log` … for `n` agents started with [`agent`].
pub fn agent_logs(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("agent-{i}.log")).collect()
}

/// Writes the files of a loopback network of `validators` with `accounts`
/// funded dev accounts into `dir` (`verigrid localnet --init-only`): p2p
/// ports from `base`, APIs from `base + 100`.
pub fn localnet_init(dir: &Path, base: u16, validators: u16, accounts: usize) {
    let out = Command::new(env!("CARGO_BIN_EXE_verigrid"))
        .args(["localnet", "--init-only", "--validators"])
        .arg(validators.to_string())
        .arg("--accounts")
        .arg(accounts.to_string())
        .arg("--base-port")
        .arg(base.to_string())
        .arg("--dir")
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A scratch directory for one test: removed when the test passes, kept
/// with its logs (and its path printed) when it fails.
pub struct Scratch(PathBuf);

impl std::ops::Deref for Scratch {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("kept for inspection: {}", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// A fresh scratch directory for this test.
pub fn scratch(name: &str) -> Scratch {
    let dir = std::env::temp_dir().join(format!("verigrid-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    Scratch(dir)
}

/// `count` consecutive free ports on 127.0.0.1 (and the same +100);
/// `salt` keeps tests running at once in one process apart.
pub fn free_base(count: u16, salt: u16) -> u16 {
    let mut base = 30_000 + u16::try_from(std::process::id() % 1_500).unwrap() * 10 + salt * 1_700;
    loop {
        let free = (0..count)
            .flat_map(|i| [base + i, base + 100 + i])
            .all(|p| TcpListener::bind(("127.0.0.1", p)).is_ok());
        if free {
            return base;
        }
        base += 13;
    }
}

/// One child process with its log file.
pub struct Proc {
    pub name: String,
    pub log: PathBuf,
    pub args: Vec<String>,
    pub child: Option<Child>,
}

impl Proc {
    pub fn start(dir: &Path, name: &str, args: &[String]) -> Self {
        let mut p = Self {
            name: name.into(),
            log: dir.join(format!("{name}.log")),
            args: args.to_vec(),
            child: None,
        };
        p.restart();
        p
    }

    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "{} is already running", self.name);
        let log = File::options()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_verigrid"))
            .args(&self.args)
            .env("RUST_LOG", "warn,verigrid_agent=info")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
    }

    /// SIGKILL.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn tail(&self, lines: usize) -> String {
        tail(&self.log, lines)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The last `lines` lines of a log file.
pub fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let tail: Vec<&str> = text.lines().rev().take(lines).collect();
    format!(
        "--- {}\n{}",
        path.display(),
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    )
}

/// The ends of these log files, for failure messages.
pub fn logs(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| tail(p, 25))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Waits for `done`, panicking with `context()` after `limit`.
pub fn wait_until(
    what: &str,
    limit: Duration,
    context: impl Fn() -> String,
    mut done: impl FnMut() -> bool,
) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?}: {what}\n{}",
            context()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Starts an agent process owned by `owner` (dev user index).
pub fn agent(dir: &Path, i: usize, owner: usize, api: &[String], fabricate: bool) -> Proc {
    let mut args: Vec<String> = vec![
        "agent".into(),
        "--data-dir".into(),
        dir.join(format!("agent-{i}")).display().to_string(),
        "--dev-user".into(),
        owner.to_string(),
        "--charging".into(),
        "--battery".into(),
        "100".into(),
        "--temperature".into(),
        "30".into(),
        "--cpu-share".into(),
        "1".into(),
        "--api".into(),
        api.join(","),
    ];
    if fabricate {
        args.push("--fabricate".into());
    }
    Proc::start(dir, &format!("agent-{i}"), &args)
}

/// The device id of agent `i`'s key, once it has made one.
pub fn agent_device(dir: &Path, i: usize) -> Option<DeviceId> {
    let path = dir.join(format!("agent-{i}/device.key"));
    let key = verigrid_client::keystore::load(&path).ok()?;
    Some(key.device_key().device_id())
}

/// Fees each account paid (for its own transactions and its devices')
/// in `blocks`, counting only transactions the ledger applied.
pub fn fees_paid(
    client: &Client,
    blocks: &[FinalizedBlock],
    owners: &HashMap<DeviceId, AccountId>,
) -> HashMap<AccountId, u64> {
    let mut fees: HashMap<AccountId, u64> = HashMap::new();
    let http = reqwest::blocking::Client::new();
    for block in blocks {
        if block.tx_ids.as_ref().is_none_or(Vec::is_empty) {
            continue;
        }
        let url = format!("{}/v1/blocks/{}", client.endpoints()[0], block.height);
        let body: serde_json::Value = http.get(&url).send().unwrap().json().unwrap();
        for (index, tx) in body["txs"].as_array().unwrap().iter().enumerate() {
            if block.rejected.iter().any(|r| r.index == index) {
                continue;
            }
            let bytes = unhex(tx["encoded"].as_str().unwrap()).unwrap();
            let stx = SignedTx::decode(&bytes).unwrap();
            let payer = match stx.tx.signer {
                Signer::Account(a) => Some(a),
                Signer::Device(d) => owners.get(&d).copied(),
            };
            if let Some(payer) = payer {
                *fees.entry(payer).or_default() += stx.tx.fee.0;
            }
        }
    }
    fees
}

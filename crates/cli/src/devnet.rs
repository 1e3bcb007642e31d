//! `verigrid dev --agents N`: local device agents beside the dev validator,
//! and a demo job through the whole system — uploaded, assigned, run in
//! the sandbox, committed, revealed, verified, paid — with every verdict's
//! proof checked by the client.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow};
use verigrid_agent::{Agent, Behaviour, Config, DevAttestation, Policy, Readings};
use verigrid_client::{Client, Signer};
use verigrid_types::job::{JobKind, Limits, Verification};

use verigrid_attest::dev::DEV_CA_SEED;

use crate::files::dev_user;
use crate::job::{self, NewJob};

/// The demo job's program: primes below n (see `jobs/primes.wat`).
pub const PRIMES_WAT: &str = include_str!("jobs/primes.wat");

/// The demo's inputs: `n` for each task.
pub fn demo_inputs(tasks: u32) -> Vec<u32> {
    (0..tasks).map(|i| 20_000 + 5_000 * i).collect()
}

/// Primes below `n`, computed here to check the network's answers.
pub fn primes_below(n: u32) -> u64 {
    let mut sieve = vec![true; usize::try_from(n).unwrap_or(0)];
    let mut count = 0;
    for i in 2..sieve.len() {
        if sieve[i] {
            count += 1;
            let mut j = i * i;
            while j < sieve.len() {
                sieve[j] = false;
                j += i;
            }
        }
    }
    count
}

/// Replicas of each demo task (from different owners), so at least this
/// many agents are needed.
pub const DEMO_REPLICAS: u8 = 3;

/// Starts `agents` agent threads (the last `liars` fabricate outputs),
/// owned by `dev/user/1…`, with data under `dir`.
pub fn start_agents(api: &str, dir: &std::path::Path, agents: usize, liars: usize) -> Result<()> {
    for i in 0..agents {
        let behaviour = if i + liars >= agents {
            Behaviour::Fabricate
        } else {
            Behaviour::Honest
        };
        let config = Config {
            endpoints: vec![api.to_owned()],
            data_dir: dir.join(format!("agent-{i}")),
            owner: dev_user(i + 1),
            pool: None,
            stake: None,
            // Local agents share this machine's power and heat: the dev
            // network runs them regardless (a real agent reads /sys).
            policy: Policy {
                require_charging: false,
                min_battery_pct: 0,
                max_temperature_c: f32::MAX,
                unmetered_only: false,
                cpu_share: 1.0,
            },
            overrides: Readings::default(),
            sys_root: PathBuf::from("/sys"),
            attest: Box::new(DevAttestation::new(&DEV_CA_SEED).map_err(|e| anyhow!(e))?),
            behaviour,
        };
        std::thread::Builder::new()
            .name(format!("agent-{i}"))
            .spawn(move || {
                let stop = AtomicBool::new(false);
                let result = Agent::open(config, &stop).and_then(|mut a| a.run(&stop));
                if let Err(e) = result {
                    eprintln!("agent {i} stopped: {e}");
                }
            })
            .context("starting an agent thread")?;
    }
    Ok(())
}

/// Submits the demo job as `dev/user/0`, waits for its verdicts and
/// prints them, each output checked against a local computation.
pub fn run_demo(api: &str, tasks: u32) -> Result<()> {
    let client = Client::new(&[api])?;
    let started = Instant::now();
    // Agents register over the first blocks; wait for the chain to move.
    let status = client.status()?;
    let params = client.params()?;
    let mut signer = Signer::account(dev_user(0), &status.chain_id, &params);
    let consumer = dev_user(0).account();
    let before = client.account(&consumer)?.map_or(0, |a| a.balance.0);
    let program = wat::parse_str(PRIMES_WAT).context("assembling the demo job")?;
    let inputs = demo_inputs(tasks);
    let new = NewJob {
        program,
        kind: JobKind::Wasm,
        inputs: inputs.iter().map(|n| n.to_le_bytes().to_vec()).collect(),
        verification: Verification::replicated(DEMO_REPLICAS),
        reward: 10,
        deadline_blocks: 1_500,
        limits: Limits::default(),
    };
    let id = job::submit_job(&client, &mut signer, &new, false)?;
    println!(
        "demo job {} submitted: {tasks} tasks (primes below n), 3 replicas each",
        id.0.to_hex()
    );
    let done = job::wait_for_job(&client, &id, Duration::from_secs(300), false)?;
    let results = job::collect_results(&client, &id)?;
    let mut correct = 0;
    for r in &results {
        let n = inputs
            .get(usize::try_from(r.task.index).unwrap_or(usize::MAX))
            .copied()
            .unwrap_or(0);
        let expected = primes_below(n);
        let got = r
            .output
            .as_deref()
            .and_then(|o| <[u8; 8]>::try_from(o).ok())
            .map(u64::from_le_bytes);
        let mark = if got == Some(expected) {
            correct += 1;
            "ok"
        } else {
            "WRONG"
        };
        println!(
            "  task {:>2}  primes below {n:>6} = {:>5}  [{} agree, {} disagree]  {mark}",
            r.task.index,
            got.map_or_else(|| "-".into(), |g| g.to_string()),
            r.agreeing,
            r.disagreeing
        );
    }
    let after = client.account(&consumer)?.map_or(0, |a| a.balance.0);
    println!(
        "demo job finished in {:.1} s: {} accepted, {} failed, {correct} correct; \
         consumer paid {} (unused escrow refunded); every verdict's inclusion proof \
         verified against the finalized state root",
        started.elapsed().as_secs_f64(),
        done.accepted,
        done.failed,
        before.saturating_sub(after)
    );
    println!(
        "explore: {api}/v1/jobs/{}  {api}/v1/verdicts/{}/0  {api}/metrics",
        id.0.to_hex(),
        id.0.to_hex()
    );
    if correct != results.len() {
        return Err(anyhow!("a wrong result was accepted"));
    }
    Ok(())
}

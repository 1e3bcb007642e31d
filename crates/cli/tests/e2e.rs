//! The whole path, as processes on 127.0.0.1: four validators, seven
//! agents of seven owners (two of them lying, each its own way), a
//! consumer submitting a replicated and an adaptive job over HTTP.
//! Every accepted result must be the right one, both liars must be slashed
//! and lose reputation, every honest owner's balance must move by exactly
//! what the rules pay minus the fees it paid, and the consumer's unused
//! escrow must come back.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{
    Proc, agent, agent_device, fees_paid, free_base, logs, scratch, submit_wasm_job, user,
    wait_until,
};
use verigrid_client::views::{Event, FinalizedBlock};
use verigrid_client::{Client, Signer};
use verigrid_ledger::{JobStatus, Outcome};
use verigrid_types::job::Verification;
use verigrid_types::{AccountId, DeviceId, JobId, TaskId};

const VALIDATORS: u16 = 4;
const AGENTS: usize = 7;
const LIARS: [usize; 2] = [5, 6];
const TASKS: u32 = 6;
const REWARD: u64 = 10;

fn primes_below(n: u32) -> u64 {
    (2..n)
        .filter(|&i| (2..).take_while(|d| d * d <= i).all(|d| i % d != 0))
        .count() as u64
}

#[test]
fn liars_are_slashed_honest_owners_paid_exactly_and_escrow_returned() {
    let dir = scratch("e2e");
    let base = free_base(VALIDATORS, 3);
    common::localnet_init(&dir, base, VALIDATORS, 10);
    let api: Vec<String> = (0..VALIDATORS)
        .map(|i| format!("http://127.0.0.1:{}", base + 100 + i))
        .collect();
    let nodes: Vec<Proc> = (0..VALIDATORS as usize)
        .map(|i| {
            Proc::start(
                &dir,
                &format!("node-{i}"),
                &[
                    "node".into(),
                    "--config".into(),
                    dir.join(format!("node-{i}.toml")).display().to_string(),
                ],
            )
        })
        .collect();
    let client = Client::new(&api).unwrap();
    let node_paths: Vec<_> = nodes.iter().map(|p| p.log.clone()).collect();
    let node_logs = || logs(&node_paths);
    wait_until(
        "the validators finalize a block",
        Duration::from_secs(60),
        node_logs,
        || client.status().is_ok_and(|s| s.height >= 2),
    );

    // Seven agents of seven owners, each preferring its own validator.
    let mut agents: Vec<Proc> = (0..AGENTS)
        .map(|i| {
            let mine: Vec<String> = (0..api.len())
                .map(|k| api[(i + k) % api.len()].clone())
                .collect();
            agent(&dir, i, i + 1, &mine, LIARS.contains(&i))
        })
        .collect();
    let mut paths = node_paths.clone();
    paths.extend(agents.iter().map(|p| p.log.clone()));
    let all_logs = || logs(&paths);
    let mut devices: Vec<DeviceId> = Vec::new();
    wait_until(
        "every agent registers its device",
        Duration::from_secs(120),
        all_logs,
        || {
            devices = (0..AGENTS).filter_map(|i| agent_device(&dir, i)).collect();
            devices.len() == AGENTS
                && devices
                    .iter()
                    .all(|d| client.device(d).is_ok_and(|d| d.is_some()))
        },
    );
    let owner_of: HashMap<DeviceId, AccountId> = devices
        .iter()
        .enumerate()
        .map(|(i, d)| (*d, user(i + 1).account()))
        .collect();

    // Everything from here on is accounted for, block by block.
    let mut stream = client.stream().unwrap();
    let consumer = user(0).account();
    let accounts: Vec<AccountId> = (0..=AGENTS).map(|i| user(i).account()).collect();
    let (start_height, before) = balances_at_one_height(&client, &accounts);

    let program = client
        .put_blob(&wat::parse_str(include_str!("../src/jobs/primes.wat")).unwrap())
        .unwrap();
    let ns: Vec<u32> = (0..TASKS).map(|i| 3_000 + 1_000 * i).collect();
    let inputs: Vec<_> = ns
        .iter()
        .map(|n| client.put_blob(&n.to_le_bytes()).unwrap())
        .collect();
    let params = client.params().unwrap();
    let chain = client.status().unwrap().chain_id;
    let mut signer = Signer::account(user(0), &chain, &params);
    let replicated = submit_wasm_job(
        &client,
        &mut signer,
        program,
        &inputs,
        Verification::replicated(3),
        REWARD,
    );
    let adaptive = submit_wasm_job(
        &client,
        &mut signer,
        program,
        &inputs,
        Verification::adaptive(200_000),
        REWARD,
    );

    let mut blocks: Vec<FinalizedBlock> = Vec::new();
    let finished = |id: &JobId| {
        client
            .job(id)
            .unwrap()
            .is_some_and(|j| j.status != JobStatus::Open)
    };
    follow(
        &mut stream,
        &mut blocks,
        &all_logs,
        "both jobs finish",
        |_| finished(&replicated) && finished(&adaptive),
    );

    // Stop the agents, let the chain settle, and read balances at a
    // height the stream has reached.
    for a in &mut agents {
        a.kill();
    }
    let settle = client.status().unwrap().height + 5;
    follow(
        &mut stream,
        &mut blocks,
        &all_logs,
        "the chain settles",
        |_| blocks_reached(&client, settle),
    );
    let (read_at, after) = balances_at_one_height(&client, &accounts);
    follow(
        &mut stream,
        &mut blocks,
        &all_logs,
        "the stream catches up",
        |b| b.last().is_some_and(|b| b.height >= read_at),
    );
    blocks.retain(|b| b.height > start_height && b.height <= read_at);

    // 1. Every accepted result is the right one.
    let mut accepted = 0;
    for job in [replicated, adaptive] {
        let record = client.job(&job).unwrap().unwrap();
        assert_eq!(record.accepted + record.failed, TASKS, "every task decided");
        for index in 0..TASKS {
            let verdict = client
                .verdict(&TaskId { job, index })
                .unwrap()
                .expect("a verdict");
            if let Outcome::Accepted(hash) = verdict.verdict.outcome {
                let output = client.get_blob(&hash).unwrap();
                let expected = primes_below(ns[index as usize]);
                assert_eq!(
                    output,
                    expected.to_le_bytes(),
                    "task {index} of job {}",
                    job.0.to_hex()
                );
                accepted += 1;
                assert!(
                    verdict
                        .verdict
                        .agreeing
                        .iter()
                        .all(|d| !LIARS.iter().any(|l| devices[*l] == *d))
                );
            }
        }
    }
    assert!(accepted >= TASKS, "most tasks accepted ({accepted})");

    // 2. Both liars are slashed and lose reputation.
    let events: Vec<&Event> = blocks.iter().flat_map(|b| b.events.iter()).collect();
    for l in LIARS {
        let liar = devices[l];
        let slashed = events
            .iter()
            .any(|e| matches!(e, Event::Slashed { device, .. } if device.0 == liar.0));
        let record = client.device(&liar).unwrap().unwrap();
        let honest = client.device(&devices[0]).unwrap().unwrap();
        assert!(slashed, "liar {l} was slashed\n{}", all_logs());
        assert!(record.stake < honest.stake, "liar {l} lost stake");
        assert!(
            record.reputation.score_ppm() < honest.reputation.score_ppm(),
            "liar {l} lost reputation"
        );
    }

    // 3. Honest owners: balance moves by exactly rewards − fees, and each
    //    payment is the job's reward for an agreeing replica.
    let fees = fees_paid(&client, &blocks, &owner_of);
    let mut paid: HashMap<AccountId, u64> = HashMap::new();
    let mut verdict_agreements = 0u64;
    for e in &events {
        match e {
            Event::Paid { to, amount, .. } => {
                assert_eq!(*amount, REWARD);
                *paid.entry(AccountId(to.0.0)).or_default() += amount;
            }
            Event::Verdict { verdict } if verdict.outcome.get("accepted").is_some() => {
                verdict_agreements += verdict.agreeing.len() as u64;
            }
            _ => {}
        }
    }
    assert_eq!(
        paid.values().sum::<u64>(),
        verdict_agreements * REWARD,
        "one reward per agreeing replica"
    );
    for i in 1..=AGENTS {
        let owner = user(i).account();
        let expected = before[&owner] + paid.get(&owner).copied().unwrap_or(0)
            - fees.get(&owner).copied().unwrap_or(0);
        assert_eq!(
            after[&owner],
            expected,
            "owner of agent {}: rewards − fees",
            i - 1
        );
    }

    // 4. The consumer paid rewards and fees only: unused escrow came back.
    let spent = before[&consumer] - after[&consumer];
    let rewards: u64 = paid.values().sum();
    assert_eq!(
        spent,
        rewards + fees.get(&consumer).copied().unwrap_or(0),
        "consumer's unused escrow returned"
    );
    drop(nodes);
}

/// Balances of `accounts`, all read while the finalized height stayed the
/// same (so they are the state after one block), and that height.
fn balances_at_one_height(
    client: &Client,
    accounts: &[AccountId],
) -> (u64, HashMap<AccountId, u64>) {
    loop {
        let height = client.status().unwrap().height;
        let balances = accounts
            .iter()
            .map(|a| (*a, client.account(a).unwrap().map_or(0, |x| x.balance.0)))
            .collect();
        if client.status().unwrap().height == height {
            return (height, balances);
        }
    }
}

fn blocks_reached(client: &Client, height: u64) -> bool {
    client.status().is_ok_and(|s| s.height >= height)
}

/// Collects finalized blocks from `stream` until `done`.
fn follow(
    stream: &mut verigrid_client::BlockStream,
    blocks: &mut Vec<FinalizedBlock>,
    logs: &dyn Fn() -> String,
    what: &str,
    done: impl Fn(&[FinalizedBlock]) -> bool,
) {
    let started = std::time::Instant::now();
    while !done(blocks) {
        assert!(
            started.elapsed() < Duration::from_secs(240),
            "timed out: {what}\n{}",
            logs()
        );
        if let Ok(Some(b)) = stream.next_block(Duration::from_secs(1)) {
            blocks.push(b);
        }
    }
}

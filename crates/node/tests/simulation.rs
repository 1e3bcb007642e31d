//! Deterministic simulation of a 4-validator network (docs/DESIGN.md §9,
//! STYLE.md §9): commonware's deterministic runtime and simulated p2p
//! network, with message loss, latency, jitter and a partition.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)]

use std::num::NonZeroU64;
use std::time::Duration;

use commonware_cryptography::Signer as _;
use commonware_cryptography::ed25519::{PrivateKey, PublicKey};
use commonware_p2p::simulated::{self, Link, Network, Oracle};
use commonware_runtime::{
    Clock as _, Handle, Quota, Runner as _, Spawner as _, Supervisor as _, deterministic,
};
use commonware_utils::channel::oneshot;
use commonware_utils::{NZU32, NZUsize, probability};
use verigrid_ledger::Genesis;
use verigrid_node::{
    BlockLimits, Config, MempoolConfig, Networks, Node, Recovery, RefuseAttestations, StartError,
    Status, Tasks, Timeouts,
};
use verigrid_types::params::Params;
use verigrid_types::tx::{Call, SignedTx, Signer, Tx};
use verigrid_types::{AccountId, Amount, Hash, Height, SecretKey, Timestamp};

const CHAIN: &str = "verigrid-sim";
const VALIDATORS: u64 = 4;
const USERS: usize = 3;
const QUOTA: Quota = Quota::per_second(NZU32!(10_000));

fn lossy() -> Link {
    Link {
        latency: Duration::from_millis(40),
        jitter: Duration::from_millis(20),
        success_rate: probability!(0.9),
    }
}

/// A deterministic runtime with `seed`, failing a test that runs past
/// `timeout_secs` of simulated time.
fn runner(seed: u64, timeout_secs: u64) -> deterministic::Runner {
    deterministic::Runner::new(
        deterministic::Config::new()
            .with_seed(seed)
            .with_timeout(Some(Duration::from_secs(timeout_secs))),
    )
}

fn validator_keys() -> Vec<PrivateKey> {
    (0..VALIDATORS).map(PrivateKey::from_seed).collect()
}

fn user(i: usize) -> SecretKey {
    SecretKey::from_label(&format!("user-{i}"))
}

fn recipient() -> AccountId {
    AccountId([0xAB; 32])
}

fn genesis() -> Genesis {
    Genesis {
        chain_id: CHAIN.into(),
        params: Params::new(AccountId([0x60; 32])),
        accounts: (0..USERS)
            .map(|i| (user(i).account(), Amount(1_000_000)))
            .collect(),
        time: Timestamp(0),
    }
}

fn transfer(from: &SecretKey, nonce: u64, amount: u64) -> SignedTx {
    Tx {
        signer: Signer::Account(from.account()),
        nonce,
        fee: Amount(100),
        call: Call::Transfer {
            to: recipient(),
            amount: Amount(amount),
        },
    }
    .sign(CHAIN, from)
}

async fn link_all(oracle: &Oracle<PublicKey, deterministic::Context>, keys: &[PublicKey]) {
    for a in keys {
        for b in keys {
            if a != b {
                oracle
                    .add_link(a.clone(), b.clone(), lossy())
                    .await
                    .unwrap();
            }
        }
    }
}

/// Cuts (or restores) every link to and from `who`.
async fn isolate(
    oracle: &Oracle<PublicKey, deterministic::Context>,
    keys: &[PublicKey],
    who: usize,
) {
    for (i, other) in keys.iter().enumerate() {
        if i != who {
            oracle
                .remove_link(keys[who].clone(), other.clone())
                .await
                .unwrap();
            oracle
                .remove_link(other.clone(), keys[who].clone())
                .await
                .unwrap();
        }
    }
}

async fn reconnect(
    oracle: &Oracle<PublicKey, deterministic::Context>,
    keys: &[PublicKey],
    who: usize,
) {
    for (i, other) in keys.iter().enumerate() {
        if i != who {
            oracle
                .add_link(keys[who].clone(), other.clone(), lossy())
                .await
                .unwrap();
            oracle
                .add_link(other.clone(), keys[who].clone(), lossy())
                .await
                .unwrap();
        }
    }
}

async fn start_validator(
    context: &deterministic::Context,
    oracle: &Oracle<PublicKey, deterministic::Context>,
    signers: &[PrivateKey],
    index: usize,
) -> (Node, Tasks) {
    start_validator_with(context, oracle, signers, index, None).await
}

async fn start_validator_with(
    context: &deterministic::Context,
    oracle: &Oracle<PublicKey, deterministic::Context>,
    signers: &[PrivateKey],
    index: usize,
    snapshot_every: Option<NonZeroU64>,
) -> (Node, Tasks) {
    try_start_validator(context, oracle, signers, index, snapshot_every, genesis())
        .await
        .unwrap()
}

async fn try_start_validator(
    context: &deterministic::Context,
    oracle: &Oracle<PublicKey, deterministic::Context>,
    signers: &[PrivateKey],
    index: usize,
    snapshot_every: Option<NonZeroU64>,
    genesis: Genesis,
) -> Result<(Node, Tasks), StartError> {
    let signer = signers[index].clone();
    let me = signer.public_key();
    let control = oracle.control(me.clone());
    let mut channels = Vec::new();
    for channel in 0..5 {
        channels.push(control.register(channel, QUOTA).await.unwrap());
    }
    let mut channels = channels.into_iter();
    let mut next = || channels.next().unwrap();
    let networks = Networks {
        votes: next(),
        certificates: next(),
        resolver: next(),
        backfill: next(),
        broadcast: next(),
        peers: oracle.manager(),
        blocker: control.clone(),
    };
    let config = Config {
        genesis,
        signer,
        validators: signers.iter().map(PrivateKey::public_key).collect(),
        verifier: Box::new(RefuseAttestations),
        mempool: MempoolConfig::default(),
        limits: BlockLimits::default(),
        timeouts: Timeouts::default(),
        partition_prefix: format!("validator-{index}"),
        snapshot_every,
        mailbox_size: NZUsize!(1024),
    };
    verigrid_node::start(context.child("validator"), config, networks).await
}

/// Starts validator `index` in its own supervised task, so aborting the
/// returned handle crashes everything it runs (consensus, marshal, storage
/// handles), as a killed process would.
async fn spawn_validator(
    context: &deterministic::Context,
    oracle: &Oracle<PublicKey, deterministic::Context>,
    signers: &[PrivateKey],
    index: usize,
) -> (Node, Handle<()>) {
    let (tx, rx) = oneshot::channel();
    let oracle = oracle.clone();
    let signers = signers.to_vec();
    let handle = context.child("process").spawn(move |context| async move {
        let (node, _tasks) = start_validator(&context, &oracle, &signers, index).await;
        let _ = tx.send(node);
        std::future::pending::<()>().await;
    });
    (rx.await.unwrap(), handle)
}

async fn network(
    context: &deterministic::Context,
    keys: &[PublicKey],
) -> Oracle<PublicKey, deterministic::Context> {
    let (network, oracle) = Network::new_with_peers(
        context.child("network"),
        simulated::Config {
            max_size: 8 * 1024 * 1024,
            max_peers_per_set: NZUsize!(keys.len()),
            disconnect_on_block: true,
            tracked_peer_sets: NZUsize!(1),
        },
        keys.to_vec(),
    )
    .await;
    network.start();
    oracle
}

/// The validator set and a simulated network with every pair linked.
async fn linked_network(
    context: &deterministic::Context,
) -> (
    Vec<PrivateKey>,
    Vec<PublicKey>,
    Oracle<PublicKey, deterministic::Context>,
) {
    let signers = validator_keys();
    let keys: Vec<PublicKey> = signers.iter().map(PrivateKey::public_key).collect();
    let oracle = network(context, &keys).await;
    link_all(&oracle, &keys).await;
    (signers, keys, oracle)
}

/// Sends `count` transfers of `amount` from `from` to every node in
/// `nodes` (each mempool gets each one).
async fn submit_everywhere(nodes: &[&Node], from: &SecretKey, count: u64, amount: u64) {
    for nonce in 0..count {
        let tx = transfer(from, nonce, amount);
        for node in nodes {
            assert!(node.submit(tx.clone()).await.unwrap().is_ok());
        }
    }
}

/// Each node's status and its finalized history up to that height.
async fn states(nodes: &[Node]) -> Vec<(Status, Vec<(u64, Hash, Hash)>)> {
    let mut out = Vec::new();
    for node in nodes {
        let status = node.status().await.unwrap();
        out.push((status, history(node, status.height.0).await));
    }
    out
}

/// Waits (in simulated time) until every node in `nodes` has finalized
/// `height`; panics after `limit`.
async fn await_height(
    context: &deterministic::Context,
    nodes: &[&Node],
    height: u64,
    limit: Duration,
) {
    let start = context.current();
    loop {
        let mut lowest = u64::MAX;
        for node in nodes {
            lowest = lowest.min(node.status().await.unwrap().height.0);
        }
        if lowest >= height {
            return;
        }
        let waited = context.current().duration_since(start).unwrap_or_default();
        assert!(
            waited < limit,
            "stuck below height {height} (lowest {lowest}) after {waited:?}"
        );
        context.sleep(Duration::from_millis(200)).await;
    }
}

/// Finalized (height, digest, state root) of `node` from 1 to `to`.
async fn history(node: &Node, to: u64) -> Vec<(u64, Hash, Hash)> {
    let mut out = Vec::new();
    for h in 1..=to {
        let block = node
            .block(Height(h))
            .await
            .expect("finalized block is stored");
        out.push((h, block.hash(), block.state_root));
    }
    out
}

/// Four validators under loss and delay; `USERS` users each send five
/// transfers to every validator's mempool. Returns the finalized history
/// every validator agrees on, and the recipient's final balance.
fn finalize_transfers(seed: u64) -> (Vec<(u64, Hash, Hash)>, u64) {
    let runner = runner(seed, 120);
    runner.start(|context| async move {
        let (signers, _, oracle) = linked_network(&context).await;
        let mut nodes = Vec::new();
        for i in 0..signers.len() {
            nodes.push(start_validator(&context, &oracle, &signers, i).await);
        }
        for u in 0..USERS {
            for nonce in 0..5 {
                let tx = transfer(&user(u), nonce, 10 + nonce);
                for (node, _) in &nodes {
                    assert!(node.submit(tx.clone()).await.unwrap().is_ok());
                }
            }
        }
        let handles: Vec<&Node> = nodes.iter().map(|(n, _)| n).collect();
        await_height(&context, &handles, 12, Duration::from_secs(60)).await;

        let reference = history(handles[0], 12).await;
        for node in &handles[1..] {
            assert_eq!(history(node, 12).await, reference, "validators disagree");
        }
        let balance = handles[0]
            .read(|chain| {
                chain
                    .ledger()
                    .account(&recipient())
                    .map_or(0, |a| a.balance.0)
            })
            .await
            .unwrap();
        (reference, balance)
    })
}

#[test]
fn four_validators_finalize_transfers_under_loss_and_delay() {
    let (history, balance) = finalize_transfers(7);
    assert_eq!(history.len(), 12);
    // Every transfer landed: 3 users × (10+11+12+13+14).
    assert_eq!(balance, 3 * 60);
}

#[test]
fn same_seed_same_chain() {
    assert_eq!(finalize_transfers(11), finalize_transfers(11));
}

#[test]
fn a_partitioned_validator_catches_up_and_agrees() {
    let runner = runner(3, 180);
    runner.start(|context| async move {
        let (signers, keys, oracle) = linked_network(&context).await;
        let mut nodes = Vec::new();
        for i in 0..signers.len() {
            nodes.push(start_validator(&context, &oracle, &signers, i).await);
        }
        let all: Vec<&Node> = nodes.iter().map(|(n, _)| n).collect();
        await_height(&context, &all, 3, Duration::from_secs(30)).await;

        // Cut validator 3 off; the other three are a quorum and go on.
        isolate(&oracle, &keys, 3).await;
        let cut_at = all[3].status().await.unwrap().height.0;
        submit_everywhere(&all[..3], &user(0), 3, 1).await;
        let live = &all[..3];
        await_height(&context, live, cut_at + 10, Duration::from_secs(60)).await;
        assert!(
            all[3].status().await.unwrap().height.0 <= cut_at + 1,
            "an isolated validator cannot finalize alone"
        );

        // Heal: it backfills what it missed and agrees block for block.
        reconnect(&oracle, &keys, 3).await;
        let target = all[0].status().await.unwrap().height.0 + 2;
        await_height(&context, &all, target, Duration::from_secs(60)).await;
        let reference = history(all[0], target).await;
        for node in &all[1..] {
            assert_eq!(
                history(node, target).await,
                reference,
                "validators disagree"
            );
        }
        let balance = all[3]
            .read(|chain| {
                chain
                    .ledger()
                    .account(&recipient())
                    .map_or(0, |a| a.balance.0)
            })
            .await
            .unwrap();
        assert_eq!(balance, 3);
    });
}

#[test]
fn a_crashed_validator_recovers_its_ledger_from_disk_and_catches_up() {
    let runner = runner(5, 180);
    runner.start(|context| async move {
        let (signers, _, oracle) = linked_network(&context).await;
        let mut nodes = Vec::new();
        let mut processes = Vec::new();
        for i in 0..signers.len() {
            let (node, process) = spawn_validator(&context, &oracle, &signers, i).await;
            nodes.push(node);
            processes.push(process);
        }
        let all: Vec<&Node> = nodes.iter().collect();
        submit_everywhere(&all, &user(1), 4, 5).await;
        await_height(&context, &all, 6, Duration::from_secs(30)).await;

        // Kill validator 2 mid-flight; the others go on without it.
        let before = nodes[2].status().await.unwrap();
        let victim = processes.remove(2);
        victim.abort();
        let _ = victim.await;
        let live = [&nodes[0], &nodes[1], &nodes[3]];
        await_height(
            &context,
            &live,
            before.height.0 + 5,
            Duration::from_secs(60),
        )
        .await;

        // Restart it on the same storage: the ledger comes back from the
        // stored finalized blocks before it talks to anyone.
        let (restarted, _process) = spawn_validator(&context, &oracle, &signers, 2).await;
        let recovered = restarted.status().await.unwrap();
        assert!(recovered.height >= before.height, "lost finalized blocks");
        let original = history(&nodes[0], recovered.height.0).await;
        let last = original.last().unwrap();
        assert_eq!((last.1, last.2), (recovered.tip, recovered.state_root));

        // And it catches up with the others, agreeing block for block.
        let target = nodes[0].status().await.unwrap().height.0 + 2;
        let all = [&nodes[0], &nodes[1], &restarted, &nodes[3]];
        await_height(&context, &all, target, Duration::from_secs(60)).await;
        let reference = history(&nodes[0], target).await;
        assert_eq!(history(&restarted, target).await, reference);
        let balance = restarted
            .read(|chain| {
                chain
                    .ledger()
                    .account(&recipient())
                    .map_or(0, |a| a.balance.0)
            })
            .await
            .unwrap();
        assert_eq!(balance, 20);
    });
}

#[test]
fn the_whole_network_survives_a_crash_losing_unsynced_writes() {
    // First life: run, then every process dies at once; the deterministic
    // runtime drops every write that was not synced (kill -9).
    let first = runner(9, 120);
    let (before, checkpoint) = first.start_and_recover(|context| async move {
        let (signers, _, oracle) = linked_network(&context).await;
        let mut nodes = Vec::new();
        for i in 0..signers.len() {
            nodes.push(start_validator(&context, &oracle, &signers, i).await.0);
        }
        let all: Vec<&Node> = nodes.iter().collect();
        submit_everywhere(&all, &user(2), 3, 7).await;
        await_height(&context, &all, 8, Duration::from_secs(60)).await;
        states(&nodes).await
    });

    // Second life on the same disks: no finalized block is lost, ledgers
    // come back with the same roots, and the chain goes on.
    deterministic::Runner::from(checkpoint).start(|context| async move {
        let (signers, _, oracle) = linked_network(&context).await;
        let mut nodes = Vec::new();
        for i in 0..signers.len() {
            nodes.push(start_validator(&context, &oracle, &signers, i).await.0);
        }
        for (node, (status, old)) in nodes.iter().zip(&before) {
            let recovered = node.status().await.unwrap();
            assert!(recovered.height >= status.height, "lost a finalized block");
            let recomputed = node
                .read(|chain| chain.ledger().clone().state_root())
                .await
                .unwrap();
            assert_eq!(recomputed, recovered.state_root);
            assert_eq!(history(node, status.height.0).await, *old);
        }
        let target = before.iter().map(|(s, _)| s.height.0).max().unwrap() + 5;
        let all: Vec<&Node> = nodes.iter().collect();
        await_height(&context, &all, target, Duration::from_secs(60)).await;
        let reference = history(all[0], target).await;
        for node in &all[1..] {
            assert_eq!(history(node, target).await, reference);
        }
        let balance = all[0]
            .read(|chain| {
                chain
                    .ledger()
                    .account(&recipient())
                    .map_or(0, |a| a.balance.0)
            })
            .await
            .unwrap();
        assert_eq!(balance, 21);
    });
}

#[test]
fn a_restart_restores_the_newest_snapshot_and_replays_only_later_blocks() {
    let every = NonZeroU64::new(4).unwrap();
    // First life: snapshots every 4 blocks, then every process dies at
    // once, losing unsynced writes.
    let first = runner(13, 120);
    let (before, checkpoint) = first.start_and_recover(|context| async move {
        let (signers, _, oracle) = linked_network(&context).await;
        let mut nodes = Vec::new();
        for i in 0..signers.len() {
            let (node, tasks) =
                start_validator_with(&context, &oracle, &signers, i, Some(every)).await;
            assert_eq!(
                tasks.recovery,
                Recovery::default(),
                "a fresh node starts at genesis"
            );
            nodes.push(node);
        }
        let all: Vec<&Node> = nodes.iter().collect();
        submit_everywhere(&all, &user(0), 3, 11).await;
        await_height(&context, &all, 14, Duration::from_secs(60)).await;
        states(&nodes).await
    });

    // Second life: each node restores a snapshot, replays only the blocks
    // after it, and has the same state root as before the crash.
    deterministic::Runner::from(checkpoint).start(|context| async move {
        let (signers, _, oracle) = linked_network(&context).await;
        let mut nodes = Vec::new();
        for (i, (status, old)) in before.iter().enumerate() {
            let (node, tasks) =
                start_validator_with(&context, &oracle, &signers, i, Some(every)).await;
            let recovered = node.status().await.unwrap();
            let snapshot = tasks.recovery.snapshot.expect("restored from a snapshot");
            assert_eq!(snapshot.0 % every.get(), 0);
            assert!(snapshot.0 >= 8, "an old snapshot: {snapshot:?}");
            // Only blocks after the snapshot were replayed.
            assert!(snapshot.0 + tasks.recovery.replayed <= recovered.height.0);
            assert!(tasks.recovery.replayed < status.height.0 - 4);
            assert!(recovered.height >= status.height, "lost a finalized block");
            let recomputed = node
                .read(|chain| chain.ledger().clone().state_root())
                .await
                .unwrap();
            assert_eq!(recomputed, recovered.state_root);
            assert_eq!(history(&node, status.height.0).await, *old);
            nodes.push(node);
        }
        let target = before.iter().map(|(s, _)| s.height.0).max().unwrap() + 5;
        let all: Vec<&Node> = nodes.iter().collect();
        await_height(&context, &all, target, Duration::from_secs(60)).await;
        let reference = history(all[0], target).await;
        for node in &all[1..] {
            assert_eq!(history(node, target).await, reference);
        }
        let balance = all[0]
            .read(|chain| {
                chain
                    .ledger()
                    .account(&recipient())
                    .map_or(0, |a| a.balance.0)
            })
            .await
            .unwrap();
        assert_eq!(balance, 33);
    });
}

#[test]
fn storage_written_for_another_genesis_is_refused_and_left_as_it_was() {
    let every = NonZeroU64::new(4).unwrap();
    let first = runner(17, 120);
    let (before, checkpoint) = first.start_and_recover(|context| async move {
        let (signers, _, oracle) = linked_network(&context).await;
        let mut nodes = Vec::new();
        for i in 0..signers.len() {
            let (node, _) = start_validator_with(&context, &oracle, &signers, i, Some(every)).await;
            nodes.push(node);
        }
        let all: Vec<&Node> = nodes.iter().collect();
        await_height(&context, &all, 9, Duration::from_secs(60)).await;
        states(&nodes).await
    });

    deterministic::Runner::from(checkpoint).start(|context| async move {
        let (signers, _, oracle) = linked_network(&context).await;
        // The same chain id and validators, but another genesis (as a build
        // whose ledger rules give the genesis another root would have).
        let other = Genesis {
            time: Timestamp(1),
            ..genesis()
        };
        let Err(e) = try_start_validator(&context, &oracle, &signers, 0, Some(every), other).await
        else {
            panic!("a validator started on storage written for another genesis");
        };
        assert!(e.is_other_chain(), "{e}");
        assert!(matches!(e, StartError::OtherChain { .. }), "{e}");
        // Nothing of it was changed: its own genesis recovers every block.
        let (node, tasks) = start_validator_with(&context, &oracle, &signers, 0, Some(every)).await;
        assert!(tasks.recovery.snapshot.is_some(), "{:?}", tasks.recovery);
        let (status, old) = &before[0];
        let recovered = node.status().await.unwrap();
        assert!(recovered.height >= status.height, "lost a finalized block");
        assert_eq!(history(&node, status.height.0).await, *old);
    });
}

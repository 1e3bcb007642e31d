//! Settling verified results: blocks of batched commits, then reveals, with
//! every signature checked, on a chain of 2,000 devices, under replication 3
//! and under adaptive replication. Reports tasks settled (verified results)
//! per second, next to the cost of only verifying the same blocks'
//! signatures (the baseline measured in the same run). What a block costs
//! on a chain of 157,000 devices is the `idle` bench.
//!
//! Run: `cargo bench -p verigrid-ledger --bench settle`
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)]

mod common;

use std::collections::BTreeMap;

use common::{CHAIN, DEVICES, Node, Trusting, assigned, chain, submit_job};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use verigrid_ledger::{BlockInput, Event};
use verigrid_types::job::Verification;
use verigrid_types::tx::{SignedTx, Signer};
use verigrid_types::{DeviceId, Domain, Hash, TaskId, Timestamp};

/// A chain whose devices have built enough record to hold many tasks, and
/// whose last block assigned a full round of work.
fn setup(adaptive: bool) -> (Node, Vec<(TaskId, DeviceId)>) {
    let mut node = chain(DEVICES, adaptive);
    let verification = if adaptive {
        Verification::adaptive(100_000)
    } else {
        Verification::replicated(3)
    };
    let mut work = assigned(&node.apply(vec![submit_job(10_000_000, verification)]));
    // Warm up: every round of agreeing results earns each device a slot
    // (and, past 20, the record to run alone under adaptive replication).
    for _ in 0..25 {
        let commits = node.commits(&work);
        let opened = revealable(&node.apply(commits), &mut node.committed, &work);
        let reveals = node.reveals(&opened);
        work = assigned(&node.apply(reveals));
    }
    (node, work)
}

/// Replicas whose reveal the block opened, given what was committed so far.
fn revealable(
    events: &[Event],
    committed: &mut BTreeMap<TaskId, Vec<DeviceId>>,
    just_committed: &[(TaskId, DeviceId)],
) -> Vec<(TaskId, DeviceId)> {
    for (task, device) in just_committed {
        committed.entry(*task).or_default().push(*device);
    }
    let mut out = Vec::new();
    for e in events {
        if let Event::RevealOpen { task } = e
            && let Some(devices) = committed.remove(task)
        {
            out.extend(devices.into_iter().map(|d| (*task, d)));
        }
    }
    out
}

/// Measures one round (a block of commits, then a block of reveals that
/// settles what they opened) for a job under `adaptive` or replication 3.
fn round(c: &mut Criterion, name: &str, adaptive: bool) {
    let (mut node, work) = setup(adaptive);
    let commit_txs = node.commits(&work);
    let commit_block = node.input(commit_txs);
    let mut scratch = node.ledger.clone();
    let out = scratch.apply_block(&commit_block, &Trusting).unwrap();
    let mut committed = node.committed.clone();
    let opened = revealable(&out.events, &mut committed, &work);
    let reveal_txs = node.reveals(&opened);
    let reveal_block = BlockInput {
        height: commit_block.height.plus(1),
        time: Timestamp(commit_block.time.0 + 1000),
        randomness: Hash::of(Domain::Draw, &[b"next"]),
        parent: out.state_root,
        proposer: commit_block.proposer,
        txs: reveal_txs,
    };
    let settled = scratch
        .apply_block(&reveal_block, &Trusting)
        .unwrap()
        .events
        .iter()
        .filter(|e| matches!(e, Event::Verdict(_)))
        .count() as u64;
    println!(
        "{name}: {} replicas committed, {} revealed, {settled} tasks settled, in {} + {} transactions",
        work.len(),
        opened.len(),
        commit_block.txs.len(),
        reveal_block.txs.len()
    );

    let mut group = c.benchmark_group(name);
    group.sample_size(10);
    group.throughput(Throughput::Elements(settled));
    group.bench_function("commit_and_reveal_blocks", |b| {
        b.iter_batched(
            || node.ledger.clone(),
            |mut ledger| {
                ledger.apply_block(&commit_block, &Trusting).unwrap();
                ledger.apply_block(&reveal_block, &Trusting).unwrap();
                ledger
            },
            BatchSize::LargeInput,
        );
    });
    // A validator keeps the state after every block it builds or
    // verifies, each a clone of its parent's.
    group.bench_function("clone_state", |b| b.iter(|| node.ledger.clone()));
    group.bench_function("baseline_signature_checks_only", |b| {
        let all: Vec<&SignedTx> = commit_block.txs.iter().chain(&reveal_block.txs).collect();
        let msgs: Vec<(Hash, [u8; 32], [u8; 64])> = all
            .iter()
            .map(|t| {
                let Signer::Device(d) = t.tx.signer else {
                    unreachable!()
                };
                let verigrid_types::Signature::Ed25519(sig) = t.signature else {
                    unreachable!()
                };
                let verigrid_types::DeviceKey::Ed25519(pk) = node.ledger.device(&d).unwrap().key
                else {
                    unreachable!()
                };
                (t.tx.signing_message(CHAIN), pk, sig)
            })
            .collect();
        b.iter(|| {
            let items: Vec<(&[u8; 32], &[u8], &[u8; 64])> = msgs
                .iter()
                .map(|(m, pk, sig)| (pk, &m.0[..], sig))
                .collect();
            assert!(verigrid_types::crypto::verify_ed25519_batch(&items));
        });
    });
    group.finish();
}

fn settle(c: &mut Criterion) {
    round(c, "settle_replicated_3", false);
    round(c, "settle_adaptive", true);
}

criterion_group!(benches, settle);
criterion_main!(benches);

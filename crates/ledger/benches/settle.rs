//! Settling verified results: blocks of batched commits, then reveals, with
//! every signature checked, on a chain of 2,000 devices, under replication 3
//! and under adaptive replication. Reports tasks settled (verified results)
//! per second, next to the cost of only verifying the same blocks'
//! signatures (the baseline measured in the same run). What a block costs
//! on a chain of 157,000 devices is the `idle` bench; the same round as a
//! validator applies it, its signatures checked on the other cores, is
//! `cargo bench -p verigrid-node --bench settle`.
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

use common::{CHAIN, Round, Trusting};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use verigrid_types::Hash;
use verigrid_types::tx::{SignedTx, Signer};

/// Measures one round (a block of commits, then a block of reveals that
/// settles what they opened) for a job under `adaptive` or replication 3.
fn round(c: &mut Criterion, name: &str, adaptive: bool) {
    let round = Round::new(name, adaptive);
    let Round {
        node,
        commit_block,
        reveal_block,
        settled,
    } = &round;

    let mut group = c.benchmark_group(name);
    group.sample_size(10);
    group.throughput(Throughput::Elements(*settled));
    round.bench(&mut group, "commit_and_reveal_blocks", |ledger, block| {
        ledger.apply_block(block, &Trusting).unwrap();
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

//! What a block costs for the size of the state alone, on a chain of the
//! real network's 157,000 devices: an empty block, a clone of the state,
//! and a block that starts a small job, next to one Merkle root over that
//! many leaves (the baseline, measured in the same run). Setting up the
//! chain signs 157,000 registrations, so this is its own bench.
//!
//! Run: `cargo bench -p verigrid-ledger --bench idle`
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)]

mod common;

use common::{Trusting, chain, submit_job};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use verigrid_ledger::Event;
use verigrid_types::job::Verification;
use verigrid_types::merkle;
use verigrid_types::{Domain, Hash};

/// Devices on the chain [`idle`] measures: the real network's size.
const NETWORK: usize = 157_000;

/// What a block costs for the size of the state alone: an empty block, and
/// one that starts a small job, on a chain of [`NETWORK`] registered
/// devices and as many accounts, against
/// the baseline of one Merkle root over [`NETWORK`] leaves (what every
/// block paid for the devices alone while state roots were rebuilt from
/// scratch).
fn idle(c: &mut Criterion) {
    let node = chain(NETWORK, false);
    let mut group = c.benchmark_group("idle_block_157k_devices");
    group.sample_size(10);
    group.bench_function("empty_block", |b| {
        b.iter_batched(
            || (node.ledger.clone(), node.input(Vec::new())),
            |(mut ledger, input)| {
                ledger.apply_block(&input, &Trusting).unwrap();
                ledger
            },
            BatchSize::LargeInput,
        );
    });
    // What a validator pays to keep the state after each block: a clone.
    group.bench_function("clone_state", |b| b.iter(|| node.ledger.clone()));
    // A block that starts a job of 64 tasks under replication 3: the
    // ledger draws 192 devices out of the whole network.
    let submit = submit_job(64, Verification::replicated(3));
    group.bench_function("block_starting_a_64_task_job", |b| {
        b.iter_batched(
            || (node.ledger.clone(), node.input(vec![submit.clone()])),
            |(mut ledger, input)| {
                let out = ledger.apply_block(&input, &Trusting).unwrap();
                assert_eq!(
                    out.events
                        .iter()
                        .filter(|e| matches!(e, Event::Assigned { .. }))
                        .count(),
                    192
                );
                ledger
            },
            BatchSize::LargeInput,
        );
    });
    group.bench_function("baseline_one_root_over_157k_leaves", |b| {
        let leaves: Vec<Hash> = (0..NETWORK as u64)
            .map(|i| Hash::of(Domain::Draw, &[&i.to_le_bytes()]))
            .collect();
        b.iter(|| merkle::root(&leaves));
    });
    group.finish();
}

criterion_group!(benches, idle);
criterion_main!(benches);

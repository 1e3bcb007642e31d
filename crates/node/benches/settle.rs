//! Settling verified results on one validator, as the node applies a block
//! (`verigrid_node::chain::apply`: its signatures checked on the other
//! cores while the ledger applies the runs before them), against the
//! ledger's own `apply_block` in the same run (every signature checked
//! on the ledger's thread first, as one core does). The chain and blocks
//! are the ledger's `settle` bench's: 2,000 devices, a round of commits
//! and then reveals under adaptive replication.
//!
//! Run: `cargo bench -p verigrid-node --bench settle`
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)]

#[path = "../../ledger/benches/common/mod.rs"]
mod common;

use common::{Round, Trusting};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

fn settle(c: &mut Criterion) {
    let Round {
        node,
        commit_block,
        reveal_block,
        settled,
    } = Round::new("node_settle_adaptive", true);
    let mut group = c.benchmark_group("node_settle_adaptive");
    group.sample_size(10);
    group.throughput(Throughput::Elements(settled));
    group.bench_function("chain_apply", |b| {
        b.iter_batched(
            || node.ledger.clone(),
            |mut ledger| {
                verigrid_node::chain::apply(&mut ledger, &commit_block, &Trusting).unwrap();
                verigrid_node::chain::apply(&mut ledger, &reveal_block, &Trusting).unwrap();
                ledger
            },
            BatchSize::LargeInput,
        );
    });
    group.bench_function("baseline_ledger_apply_block", |b| {
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
    group.finish();
}

criterion_group!(benches, settle);
criterion_main!(benches);

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
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn settle(c: &mut Criterion) {
    let round = Round::new("node_settle_adaptive", true);
    let mut group = c.benchmark_group("node_settle_adaptive");
    group.sample_size(10);
    group.throughput(Throughput::Elements(round.settled));
    round.bench(&mut group, "chain_apply", |ledger, block| {
        verigrid_node::chain::apply(ledger, block, &Trusting).unwrap();
    });
    round.bench(
        &mut group,
        "baseline_ledger_apply_block",
        |ledger, block| {
            ledger.apply_block(block, &Trusting).unwrap();
        },
    );
    group.finish();
}

criterion_group!(benches, settle);
criterion_main!(benches);

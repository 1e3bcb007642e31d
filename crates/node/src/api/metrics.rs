//! Prometheus figures for the compass (STYLE.md §12): finalized height,
//! finality latency, mempool size, transactions and verdicts per second.
//!
//! One task follows the finalized blocks and owns the figures it derives;
//! it publishes them in atomics the `/metrics` handler reads (no locks).

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use verigrid_ledger::{Event, Outcome};

use crate::chain::Finalized;
use crate::node::Node;

/// Blocks the per-second rates are averaged over.
const RATE_WINDOW: usize = 20;

/// The figures, as last published.
#[derive(Debug, Default)]
pub struct Metrics {
    height: AtomicU64,
    blocks: AtomicU64,
    txs: AtomicU64,
    rejected: AtomicU64,
    verdicts: AtomicU64,
    /// Verdicts that accepted a result.
    accepted: AtomicU64,
    /// Devices slashed for disagreeing with a quorum.
    slashes: AtomicU64,
    /// Last block's finality latency (block time → finalized here), ms.
    latency_ms: AtomicU64,
    /// Sum of finality latencies, ms (with `blocks`, the mean).
    latency_sum_ms: AtomicU64,
    /// f64 bits.
    txs_per_sec: AtomicU64,
    /// f64 bits.
    verdicts_per_sec: AtomicU64,
    /// Requests answered 429 by the per-client limit.
    rate_limited: AtomicU64,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Metrics {
    /// Follows `node`'s finalized blocks until it stops; run it as a task.
    pub(crate) async fn follow(self: Arc<Self>, node: Node) {
        let Ok(status) = node.status().await else {
            return;
        };
        self.height.store(status.height.0, Ordering::Relaxed);
        let mut window: VecDeque<(u64, u64, u64)> = VecDeque::new();
        loop {
            // The stream ends if we fall behind: subscribe again.
            let Ok(mut blocks) = node.watch(1024).await else {
                return;
            };
            while let Some(block) = blocks.recv().await {
                self.record(&block, now_ms(), &mut window);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn record(&self, block: &Finalized, now: u64, window: &mut VecDeque<(u64, u64, u64)>) {
        let txs = u64::try_from(block.results.len()).unwrap_or(u64::MAX);
        let rejected =
            u64::try_from(block.results.iter().filter(|r| r.is_err()).count()).unwrap_or(u64::MAX);
        let count = |is: &dyn Fn(&Event) -> bool| {
            u64::try_from(block.events.iter().filter(|e| is(e)).count()).unwrap_or(u64::MAX)
        };
        let verdicts = count(&|e| matches!(e, Event::Verdict(_)));
        let accepted =
            count(&|e| matches!(e, Event::Verdict(v) if matches!(v.outcome, Outcome::Accepted(_))));
        let slashes = count(&|e| matches!(e, Event::Slashed { .. }));
        let latency = now.saturating_sub(block.time.0);
        self.height.store(block.height.0, Ordering::Relaxed);
        self.blocks.fetch_add(1, Ordering::Relaxed);
        self.txs.fetch_add(txs, Ordering::Relaxed);
        self.rejected.fetch_add(rejected, Ordering::Relaxed);
        self.verdicts.fetch_add(verdicts, Ordering::Relaxed);
        self.accepted.fetch_add(accepted, Ordering::Relaxed);
        self.slashes.fetch_add(slashes, Ordering::Relaxed);
        self.latency_ms.store(latency, Ordering::Relaxed);
        self.latency_sum_ms.fetch_add(latency, Ordering::Relaxed);

        window.push_back((block.time.0, txs, verdicts));
        if window.len() > RATE_WINDOW {
            window.pop_front();
        }
        let (first, last) = (window.front(), window.back());
        if let (Some(first), Some(last)) = (first, last) {
            // Items in every block after the first, over the time they span.
            let span = last.0.saturating_sub(first.0);
            if span > 0 {
                let (t, v) = window
                    .iter()
                    .skip(1)
                    .fold((0u64, 0u64), |(t, v), (_, bt, bv)| (t + bt, v + bv));
                #[allow(clippy::cast_precision_loss)]
                let per = |n: u64| n as f64 * 1000.0 / span as f64;
                self.txs_per_sec.store(per(t).to_bits(), Ordering::Relaxed);
                self.verdicts_per_sec
                    .store(per(v).to_bits(), Ordering::Relaxed);
            }
        }
    }

    /// One request refused by the per-client limit.
    pub(crate) fn count_rate_limited(&self) {
        self.rate_limited.fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus text exposition of the figures plus `mempool`.
    #[must_use]
    pub fn render(&self, mempool: usize) -> String {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let rate = |a: &AtomicU64| f64::from_bits(a.load(Ordering::Relaxed));
        #[allow(clippy::cast_precision_loss)]
        let secs = |ms: u64| ms as f64 / 1000.0;
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, value: String| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        };
        metric(
            "verigrid_finalized_height",
            "gauge",
            "Height of the last finalized block.",
            get(&self.height).to_string(),
        );
        metric(
            "verigrid_finalized_blocks_total",
            "counter",
            "Blocks finalized since this process started.",
            get(&self.blocks).to_string(),
        );
        metric(
            "verigrid_finalized_txs_total",
            "counter",
            "Transactions in finalized blocks (applied or rejected).",
            get(&self.txs).to_string(),
        );
        metric(
            "verigrid_rejected_txs_total",
            "counter",
            "Transactions the ledger rejected inside finalized blocks.",
            get(&self.rejected).to_string(),
        );
        metric(
            "verigrid_verdicts_total",
            "counter",
            "Task verdicts in finalized blocks.",
            get(&self.verdicts).to_string(),
        );
        metric(
            "verigrid_accepted_results_total",
            "counter",
            "Verdicts in finalized blocks that accepted a result.",
            get(&self.accepted).to_string(),
        );
        metric(
            "verigrid_slashes_total",
            "counter",
            "Devices slashed in finalized blocks for disagreeing with a quorum.",
            get(&self.slashes).to_string(),
        );
        metric(
            "verigrid_finality_latency_seconds",
            "gauge",
            "Block time to finalized on this node, last block.",
            secs(get(&self.latency_ms)).to_string(),
        );
        metric(
            "verigrid_finality_latency_seconds_sum",
            "counter",
            "Sum of finality latencies (divide by verigrid_finalized_blocks_total).",
            secs(get(&self.latency_sum_ms)).to_string(),
        );
        metric(
            "verigrid_txs_per_second",
            "gauge",
            "Finalized transactions per second over the last 20 blocks.",
            rate(&self.txs_per_sec).to_string(),
        );
        metric(
            "verigrid_verdicts_per_second",
            "gauge",
            "Verdicts per second over the last 20 blocks.",
            rate(&self.verdicts_per_sec).to_string(),
        );
        metric(
            "verigrid_api_rate_limited_total",
            "counter",
            "API requests refused with 429 because their client was over its limit.",
            get(&self.rate_limited).to_string(),
        );
        metric(
            "verigrid_mempool_transactions",
            "gauge",
            "Transactions waiting in this node's mempool.",
            mempool.to_string(),
        );
        out
    }
}

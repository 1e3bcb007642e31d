//! The application actor: owns the [`Chain`] and the [`Mempool`], and
//! answers proposals, verifications, finalized blocks, submissions and
//! queries one at a time, in arrival order.

use std::sync::Arc;

use commonware_runtime::{Handle, Spawner};
use commonware_utils::Acknowledgement as _;
use commonware_utils::channel::mpsc;
use tracing::{debug, error, info, info_span, warn};
use verigrid_types::{Hash, Height, Timestamp};

use super::ingress::{FinalizedBlock, Message, Step};
use crate::block::Block;
use crate::chain::{Chain, ChainError, Finalized, Invalidity, Verdict};
use crate::mempool::Mempool;

/// Owner of the node's ledger state.
pub(crate) struct Actor {
    chain: Chain,
    mempool: Mempool,
    messages: mpsc::Receiver<Message>,
    finalized: mpsc::UnboundedReceiver<FinalizedBlock>,
    /// Where finalized-block summaries go (the node handle's subscribers).
    watchers: Vec<mpsc::Sender<Finalized>>,
    /// Least time between a parent's and its child's timestamps when this
    /// validator proposes (pacing; not a validity rule).
    block_interval_ms: u64,
    /// Every how many finalized blocks a snapshot is taken, and where its
    /// payload goes to be written.
    snapshots: Option<Snapshots>,
}

/// Where the actor sends a snapshot payload every `every` blocks.
pub(crate) struct Snapshots {
    pub every: std::num::NonZeroU64,
    pub writer: mpsc::Sender<(Height, Vec<u8>)>,
}

impl Actor {
    pub(crate) fn new(
        chain: Chain,
        mempool: Mempool,
        messages: mpsc::Receiver<Message>,
        finalized: mpsc::UnboundedReceiver<FinalizedBlock>,
        block_interval: std::time::Duration,
        snapshots: Option<Snapshots>,
    ) -> Self {
        Self {
            chain,
            mempool,
            messages,
            finalized,
            watchers: Vec::new(),
            block_interval_ms: u64::try_from(block_interval.as_millis()).unwrap_or(u64::MAX),
            snapshots,
        }
    }

    /// Runs until every mailbox is dropped, or a finalized block cannot be
    /// applied (then the node must stop rather than diverge).
    pub(crate) fn start<E: Spawner>(self, context: E) -> Handle<Result<(), ChainError>> {
        context.spawn(move |_| self.run())
    }

    async fn run(mut self) -> Result<(), ChainError> {
        loop {
            // Finalized blocks first: they free state and mempool space.
            commonware_macros::select! {
                finalized = self.finalized.recv() => {
                    let Some(FinalizedBlock { block, ack }) = finalized else { return Ok(()) };
                    self.finalize(block.inner())?;
                    ack.acknowledge();
                },
                message = self.messages.recv() => {
                    let Some(message) = message else { return Ok(()) };
                    self.handle(message);
                },
            }
        }
    }

    fn finalize(&mut self, block: &Block) -> Result<(), ChainError> {
        let _span =
            info_span!("finalize", height = block.height.0, txs = block.txs.len()).entered();
        match self.chain.finalize(block) {
            Ok(Some(done)) => {
                info!(
                    height = done.height.0,
                    hash = %done.hash,
                    txs = block.txs.len(),
                    "finalized block"
                );
                self.mempool.prune(self.chain.ledger());
                self.maybe_snapshot(done.height);
                // A watcher that cannot keep up is dropped (it sees its
                // stream end and may resubscribe), never waited for.
                self.watchers
                    .retain(|watcher| match watcher.try_send(done.clone()) {
                        Ok(()) => true,
                        Err(mpsc::error::TrySendError::Full(_)) => {
                            warn!("dropping a finalized-block watcher that fell behind");
                            false
                        }
                        Err(mpsc::error::TrySendError::Closed(_)) => false,
                    });
                Ok(())
            }
            Ok(None) => {
                debug!(height = block.height.0, "finalized block redelivered");
                Ok(())
            }
            Err(e) => {
                error!(error = %e, "cannot apply finalized block; stopping");
                Err(e)
            }
        }
    }

    /// Hands a snapshot of the finalized chain to the writer every
    /// `every` blocks. If the writer is still busy with the previous one,
    /// this one is skipped (the next comes `every` blocks later).
    fn maybe_snapshot(&self, height: Height) {
        let Some(snapshots) = &self.snapshots else {
            return;
        };
        if !height.0.is_multiple_of(snapshots.every.get()) {
            return;
        }
        let started = std::time::Instant::now();
        let payload = self.chain.snapshot();
        let bytes = payload.len();
        match snapshots.writer.try_send((height, payload)) {
            Ok(()) => debug!(
                height = height.0,
                bytes,
                micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
                "snapshot taken"
            ),
            Err(_) => warn!(
                height = height.0,
                "snapshot writer busy or stopped: skipping this snapshot"
            ),
        }
    }

    fn handle(&mut self, message: Message) {
        match message {
            Message::Propose {
                ancestry,
                proposer,
                now,
                reply,
            } => {
                let _span =
                    info_span!("propose", parent = ancestry.first().map(|b| b.height.0)).entered();
                let step = match ancestry.split_first() {
                    None => Step::Done(None),
                    Some((parent, _))
                        if now.0 < parent.time.0.saturating_add(self.block_interval_ms) =>
                    {
                        Step::WaitUntil(Timestamp(
                            parent.time.0.saturating_add(self.block_interval_ms),
                        ))
                    }
                    Some((parent, ancestors)) => {
                        match self.connect(parent, ancestors, now, ancestry.len()) {
                            Step::Done(true) => {
                                match self.chain.build(parent, now, proposer, &self.mempool) {
                                    Ok(built) => {
                                        for (id, why) in &built.rejected {
                                            debug!(%id, %why, "evicting a transaction the ledger rejects");
                                            self.mempool.remove(id);
                                        }
                                        Step::Done(Some(built.block))
                                    }
                                    Err(e) => {
                                        warn!(error = %e, "could not build a block");
                                        Step::Done(None)
                                    }
                                }
                            }
                            Step::Done(false) => Step::Done(None),
                            Step::NeedMore => Step::NeedMore,
                            Step::WaitUntil(at) => Step::WaitUntil(at),
                        }
                    }
                };
                let _ = reply.send(step);
            }
            Message::Verify {
                ancestry,
                now,
                reply,
            } => {
                let _span =
                    info_span!("verify", height = ancestry.first().map(|b| b.height.0)).entered();
                let step = match ancestry.split_first() {
                    None => Step::Done(false),
                    Some((block, ancestors)) => self.connect(block, ancestors, now, ancestry.len()),
                };
                let _ = reply.send(step);
            }
            Message::Submit { tx, reply } => {
                let _ = reply.send(self.mempool.insert(*tx, self.chain.ledger()));
            }
            Message::Query(query) => query(&self.chain),
            Message::Watch(watcher) => self.watchers.push(watcher),
            Message::MempoolSize(reply) => {
                let _ = reply.send(self.mempool.len());
            }
        }
    }

    /// Makes the state after `block` known, verifying it and, oldest first,
    /// as many of `ancestors` (newest first) as needed to reach a known
    /// state. `Done(false)` if any of them is invalid.
    fn connect(
        &mut self,
        block: &Arc<Block>,
        ancestors: &[Arc<Block>],
        now: Timestamp,
        walked: usize,
    ) -> Step<bool> {
        if self.chain.state_after(&block.hash()).is_some() {
            return Step::Done(true);
        }
        // The newest block whose parent's state is known, by index into
        // the whole walk (block first).
        let walk: Vec<&Arc<Block>> = std::iter::once(block).chain(ancestors).collect();
        let Some(start) = walk
            .iter()
            .position(|b| self.chain.state_after(&b.parent).is_some())
        else {
            let oldest = walk.last().map_or(0, |b| b.height.0);
            if oldest <= self.chain.ledger().height().0.saturating_add(1) {
                // Walked down to the finalized height without meeting the
                // finalized chain: a fork below finality.
                debug!(walked, "ancestry forks below the finalized tip");
                return Step::Done(false);
            }
            return Step::NeedMore;
        };
        for b in walk[..=start].iter().rev() {
            match self.chain.verify_child(b, now) {
                Verdict::Valid => {}
                Verdict::Invalid(why) => {
                    log_invalid(&b.hash(), why);
                    return Step::Done(false);
                }
                Verdict::TooEarly(at) => return Step::WaitUntil(at),
                // Cannot happen: the walk starts from a known parent and
                // each later block's parent is the one just verified.
                Verdict::UnknownParent => return Step::NeedMore,
            }
        }
        Step::Done(true)
    }
}

fn log_invalid(hash: &Hash, why: Invalidity) {
    warn!(%hash, ?why, "invalid block");
}

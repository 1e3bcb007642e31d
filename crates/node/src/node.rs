//! The handle the rest of the system (HTTP API, CLI, tests) uses to talk to
//! a running validator: submit transactions, read finalized state, watch
//! finalized blocks, fetch stored blocks.

use commonware_consensus::marshal::core::Mailbox as MarshalMailbox;
use commonware_consensus::marshal::standard::Standard;
use commonware_consensus::types::Height as ConsensusHeight;
use commonware_utils::channel::mpsc;
use verigrid_types::tx::SignedTx;
use verigrid_types::{Hash, Height, Timestamp};

use crate::Scheme;
use crate::application::{Mailbox, Stopped};
use crate::block::Block;
use crate::chain::{Chain, Finalized};
use crate::mempool::MempoolError;

/// Where the finalized chain stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Status {
    /// Height of the last finalized block.
    pub height: Height,
    /// Its hash.
    pub tip: Hash,
    /// The ledger's state root after it.
    pub state_root: Hash,
    /// Its time.
    pub time: Timestamp,
}

/// A running validator, as its users see it. Cheap to clone.
#[derive(Clone)]
pub struct Node {
    application: Mailbox,
    marshal: MarshalMailbox<Scheme, Standard<Block>>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node").finish_non_exhaustive()
    }
}

impl Node {
    pub(crate) fn new(
        application: Mailbox,
        marshal: MarshalMailbox<Scheme, Standard<Block>>,
    ) -> Self {
        Self {
            application,
            marshal,
        }
    }

    /// Submits a transaction to this validator's mempool; it is included
    /// when this validator next proposes.
    ///
    /// # Errors
    /// The outer [`Stopped`] if the node is shutting down; the inner
    /// [`MempoolError`] if the transaction was refused (a full mempool is
    /// [`MempoolError::Full`]: retry later).
    pub async fn submit(&self, tx: SignedTx) -> Result<Result<Hash, MempoolError>, Stopped> {
        self.application.submit(tx).await
    }

    /// Runs `f` on the finalized chain state (ledger, tip) and returns its
    /// result. Keep `f` short: consensus waits while it runs.
    ///
    /// # Errors
    /// [`Stopped`] if the node is shutting down.
    pub async fn read<T, F>(&self, f: F) -> Result<T, Stopped>
    where
        T: Send + 'static,
        F: FnOnce(&Chain) -> T + Send + 'static,
    {
        self.application.read(f).await
    }

    /// Where the finalized chain stands.
    ///
    /// # Errors
    /// [`Stopped`] if the node is shutting down.
    pub async fn status(&self) -> Result<Status, Stopped> {
        self.read(|chain| Status {
            height: chain.height(),
            tip: chain.tip(),
            state_root: chain.tip_root(),
            time: chain.time(),
        })
        .await
    }

    /// Streams a summary (with events) of every block finalized from now
    /// on; the stream ends if it falls `capacity` blocks behind.
    ///
    /// # Errors
    /// [`Stopped`] if the node is shutting down.
    pub async fn watch(&self, capacity: usize) -> Result<mpsc::Receiver<Finalized>, Stopped> {
        self.application.watch(capacity).await
    }

    /// How many transactions wait in this validator's mempool.
    ///
    /// # Errors
    /// [`Stopped`] if the node is shutting down.
    pub async fn mempool_size(&self) -> Result<usize, Stopped> {
        self.application.mempool_size().await
    }

    /// The finalized block at `height`, if this validator stores it.
    pub async fn block(&self, height: Height) -> Option<Block> {
        self.marshal
            .get_block(ConsensusHeight::new(height.0))
            .await
            .map(|b| b.inner().clone())
    }
}

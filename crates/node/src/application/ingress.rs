//! The application actor's mailbox: what consensus, marshal and the node's
//! users send it.
//!
//! [`Mailbox`] is the commonware [`Application`] that marshal's `Inline`
//! wrapper turns into simplex's `Automaton`/`Relay`/`Reporter`, and the
//! [`Reporter`] marshal delivers finalized blocks to. Each call becomes a
//! message; the actor owns all state.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use commonware_actor::Feedback;
use commonware_consensus::marshal::Update;
use commonware_consensus::marshal::ancestry::Ancestry;
use commonware_consensus::{Application, Reporter};
use commonware_cryptography::{Digested, Digestible};
use commonware_runtime::Clock;
use commonware_utils::acknowledgement::Exact;
use commonware_utils::channel::{mpsc, oneshot};
use futures::StreamExt as _;
use tracing::debug;
use verigrid_types::tx::SignedTx;
use verigrid_types::{AccountId, Hash, Timestamp};

use crate::block::Block;
use crate::chain::{Chain, Finalized};
use crate::mempool::MempoolError;
use crate::{ConsensusContext, Scheme};

/// How many unfinalized ancestors a propose or verify walks back before
/// giving the finalizer time to catch up.
const MAX_WALK: usize = 256;
/// How long to wait before walking again after running out of ancestry.
const WALK_RETRY: Duration = Duration::from_millis(500);

/// A step of building or verifying on an ancestry the actor may not know.
#[derive(Debug)]
pub(crate) enum Step<T> {
    /// The answer.
    Done(T),
    /// The oldest block sent has an unknown parent: send one more ancestor.
    NeedMore,
    /// A block is ahead of this validator's clock: ask again then.
    WaitUntil(Timestamp),
}

/// A read-only query run against the chain inside the actor.
pub(crate) type Query = Box<dyn FnOnce(&Chain) + Send>;

/// Messages to the application actor.
pub(crate) enum Message {
    /// Build a block on `ancestry[0]`; `ancestry` is newest first.
    Propose {
        ancestry: Vec<Arc<Block>>,
        proposer: AccountId,
        now: Timestamp,
        reply: oneshot::Sender<Step<Option<Block>>>,
    },
    /// Verify `ancestry[0]`; the rest are its ancestors, newest first.
    Verify {
        ancestry: Vec<Arc<Block>>,
        now: Timestamp,
        reply: oneshot::Sender<Step<bool>>,
    },
    /// Admit a transaction to the mempool.
    Submit {
        tx: Box<SignedTx>,
        reply: oneshot::Sender<Result<Hash, MempoolError>>,
    },
    /// Read the finalized chain state.
    Query(Query),
    /// Send a summary of every finalized block from now on.
    Watch(mpsc::Sender<Finalized>),
    /// How many transactions wait in the mempool.
    MempoolSize(oneshot::Sender<usize>),
}

/// A finalized block from marshal, with the acknowledgement marshal waits
/// for before it delivers the next.
pub(crate) struct FinalizedBlock {
    pub block: Digested<Block>,
    pub ack: Exact,
}

/// Handle to the application actor.
#[derive(Clone, Debug)]
pub struct Mailbox {
    sender: mpsc::Sender<Message>,
    // Unbounded, but marshal keeps at most `max_pending_acks` blocks
    // unacknowledged, which bounds it; a bounded channel could force us to
    // drop an acknowledgement, which stops marshal.
    finalized: mpsc::UnboundedSender<FinalizedBlock>,
}

/// Why a request to the actor failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the node's application actor has stopped")]
pub struct Stopped;

impl Mailbox {
    pub(crate) fn new(
        sender: mpsc::Sender<Message>,
        finalized: mpsc::UnboundedSender<FinalizedBlock>,
    ) -> Self {
        Self { sender, finalized }
    }

    /// Submits a transaction to the mempool.
    ///
    /// # Errors
    /// The outer [`Stopped`] if the actor is gone; the inner
    /// [`MempoolError`] if the transaction was refused.
    pub async fn submit(&self, tx: SignedTx) -> Result<Result<Hash, MempoolError>, Stopped> {
        let (reply, rx) = oneshot::channel();
        self.sender
            .send(Message::Submit {
                tx: Box::new(tx),
                reply,
            })
            .await
            .map_err(|_| Stopped)?;
        rx.await.map_err(|_| Stopped)
    }

    /// Runs `f` on the finalized chain state and returns what it returns.
    /// Keep `f` short: the actor (and so consensus) waits for it.
    ///
    /// # Errors
    /// [`Stopped`] if the actor is gone.
    pub async fn read<T, F>(&self, f: F) -> Result<T, Stopped>
    where
        T: Send + 'static,
        F: FnOnce(&Chain) -> T + Send + 'static,
    {
        let (reply, rx) = oneshot::channel();
        let query: Query = Box::new(move |chain| {
            let _ = reply.send(f(chain));
        });
        self.sender
            .send(Message::Query(query))
            .await
            .map_err(|_| Stopped)?;
        rx.await.map_err(|_| Stopped)
    }

    /// Streams a summary of every block finalized from now on. The stream
    /// ends if the receiver falls `capacity` blocks behind.
    ///
    /// # Errors
    /// [`Stopped`] if the actor is gone.
    pub async fn watch(&self, capacity: usize) -> Result<mpsc::Receiver<Finalized>, Stopped> {
        let (sender, receiver) = mpsc::channel(capacity.max(1));
        self.sender
            .send(Message::Watch(sender))
            .await
            .map_err(|_| Stopped)?;
        Ok(receiver)
    }

    /// How many transactions wait in the mempool.
    ///
    /// # Errors
    /// [`Stopped`] if the actor is gone.
    pub async fn mempool_size(&self) -> Result<usize, Stopped> {
        let (reply, rx) = oneshot::channel();
        self.sender
            .send(Message::MempoolSize(reply))
            .await
            .map_err(|_| Stopped)?;
        rx.await.map_err(|_| Stopped)
    }

    async fn propose_step(
        &self,
        ancestry: Vec<Arc<Block>>,
        proposer: AccountId,
        now: Timestamp,
    ) -> Option<Step<Option<Block>>> {
        let (reply, rx) = oneshot::channel();
        self.sender
            .send(Message::Propose {
                ancestry,
                proposer,
                now,
                reply,
            })
            .await
            .ok()?;
        rx.await.ok()
    }

    async fn verify_step(&self, ancestry: Vec<Arc<Block>>, now: Timestamp) -> Option<Step<bool>> {
        let (reply, rx) = oneshot::channel();
        self.sender
            .send(Message::Verify {
                ancestry,
                now,
                reply,
            })
            .await
            .ok()?;
        rx.await.ok()
    }
}

/// Milliseconds since the Unix epoch on `clock`.
fn now<E: Clock>(clock: &E) -> Timestamp {
    let ms = clock
        .current()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    Timestamp(ms)
}

fn sleep_until<E: Clock>(clock: &E, at: Timestamp) -> impl Future<Output = ()> + use<E> {
    clock.sleep_until(SystemTime::UNIX_EPOCH + Duration::from_millis(at.0))
}

/// The account a validator's consensus key pays fees to: the same 32
/// ed25519 bytes.
pub(crate) fn account_of(key: &commonware_cryptography::ed25519::PublicKey) -> AccountId {
    let mut bytes = [0u8; 32];
    let raw: &[u8] = key.as_ref();
    if raw.len() == bytes.len() {
        bytes.copy_from_slice(raw);
    }
    AccountId(bytes)
}

impl<E> Application<E> for Mailbox
where
    E: Clock,
{
    type SigningScheme = Scheme;
    type Context = ConsensusContext;
    type Block = Block;
    type Input = ();

    async fn propose(
        &mut self,
        (clock, context): (E, Self::Context),
        ancestry: impl Ancestry<Self::Block>,
        _input: (),
    ) -> Option<Digested<Block>> {
        let proposer = account_of(&context.leader);
        loop {
            let mut stream = ancestry.clone();
            let mut walked = Vec::new();
            while walked.len() < MAX_WALK {
                let Some(next) = stream.next().await else {
                    break;
                };
                walked.push(next.inner_shared());
                loop {
                    match self
                        .propose_step(walked.clone(), proposer, now(&clock))
                        .await?
                    {
                        Step::Done(Some(block)) => {
                            let digest = block.digest();
                            return Some(Digested::precomputed(block, digest));
                        }
                        Step::Done(None) => return None,
                        Step::NeedMore => break,
                        Step::WaitUntil(at) => sleep_until(&clock, at).await,
                    }
                }
            }
            debug!(walked = walked.len(), "proposal ancestry not connected yet");
            clock.sleep(WALK_RETRY).await;
        }
    }

    async fn verify(
        &mut self,
        (clock, _context): (E, Self::Context),
        ancestry: impl Ancestry<Self::Block>,
    ) -> bool {
        loop {
            let mut stream = ancestry.clone();
            let mut walked = Vec::new();
            while walked.len() < MAX_WALK {
                let Some(next) = stream.next().await else {
                    break;
                };
                walked.push(next.inner_shared());
                loop {
                    // Cancellation by consensus drops this future; a
                    // stopped actor means we can never decide: abstain.
                    let Some(step) = self.verify_step(walked.clone(), now(&clock)).await else {
                        return std::future::pending().await;
                    };
                    match step {
                        Step::Done(valid) => return valid,
                        Step::NeedMore => break,
                        Step::WaitUntil(at) => sleep_until(&clock, at).await,
                    }
                }
            }
            debug!(walked = walked.len(), "verify ancestry not connected yet");
            clock.sleep(WALK_RETRY).await;
        }
    }
}

impl Reporter for Mailbox {
    type Activity = Update<Block>;

    fn report(&mut self, activity: Self::Activity) -> Feedback {
        match activity {
            Update::Block(block, ack) => {
                if self.finalized.send(FinalizedBlock { block, ack }).is_ok() {
                    Feedback::Ok
                } else {
                    Feedback::Closed
                }
            }
            // The tip may run ahead of the blocks we hold; blocks arrive in
            // order through `Update::Block`, which is all the ledger needs.
            Update::Tip(..) => Feedback::Ok,
        }
    }
}

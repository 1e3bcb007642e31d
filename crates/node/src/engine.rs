//! Wiring one validator: simplex consensus, marshal (finalized blocks in
//! order, backfill, block archives), the block broadcast buffer and the
//! application actor (docs/DESIGN.md §9).
//!
//! ```text
//! p2p ─ votes/certificates/resolver ─► simplex ─┐ Automaton/Relay/Reporter
//!                                               ▼
//!                      Inline (marshal's verify-before-vote wrapper)
//!                        │ Application::{propose,verify}     │ activity
//!                        ▼                                   ▼
//!                 application actor ◄── Update::Block ── marshal ◄─ backfill, broadcast
//!                 (Chain + Mempool)                      (archives under `partition_prefix`)
//! ```
//!
//! The networks, the peer provider and the blocker come from the caller, so
//! the same wiring runs on commonware's simulated network in tests and on
//! the authenticated network in `verigrid node`.

use std::num::{NonZeroU16, NonZeroU64, NonZeroUsize};
use std::sync::Arc;
use std::time::Duration;

use commonware_broadcast::buffered;
use commonware_consensus::marshal::core::{Actor as Marshal, Mailbox as MarshalMailbox};
use commonware_consensus::marshal::resolver::p2p as marshal_resolver;
use commonware_consensus::marshal::standard::{Inline, Standard};
use commonware_consensus::marshal::{Config as MarshalConfig, Start};
use commonware_consensus::simplex::elector::RoundRobin;
use commonware_consensus::simplex::{self, ForwardPolicy, SkipBudget, SkipPolicy};
use commonware_consensus::types::{Epoch, FixedEpocher, ViewDelta};
use commonware_cryptography::certificate::{ConstantProvider, Verifier as _};
use commonware_cryptography::ed25519::{PrivateKey, PublicKey};
use commonware_cryptography::{Digested, Digestible as _, Sha256, Signer as _};
use commonware_p2p::{Blocker, Provider, Receiver, Sender};
use commonware_parallel::Sequential;
use commonware_runtime::buffer::paged::CacheRef;
use commonware_runtime::{Clock, Handle, Metrics, Spawner, Storage};
use commonware_storage::archive::{Archive as _, Identifier as ArchiveId, immutable};
use commonware_utils::channel::mpsc;
use commonware_utils::ordered::Set;
use commonware_utils::{NZDuration, NZU16, NZU64, NZUsize, TryCollect as _};
use rand_core::CryptoRng;
use thiserror::Error;
use tracing::{info, warn};
use verigrid_ledger::Genesis;
use verigrid_types::device::AttestationVerifier;
use verigrid_types::{Hash, Height};

use crate::application::{Actor, Mailbox, Snapshots};
use crate::block::{Block, DEFAULT_MAX_BLOCK_BYTES};
use crate::chain::{BlockLimits, Chain, ChainError};
use crate::mempool::{Mempool, MempoolConfig};
use crate::node::Node;
use crate::snapshot::{self, ChainSnapshot};
use crate::{Digest, Scheme};

const PAGE_SIZE: NonZeroU16 = NZU16!(4_096);
const PAGE_CACHE_PAGES: NonZeroUsize = NZUsize!(1_024);
const REPLAY_BUFFER: NonZeroUsize = NZUsize!(1024 * 1024);
const WRITE_BUFFER: NonZeroUsize = NZUsize!(1024 * 1024);
const ITEMS_PER_SECTION: NonZeroU64 = NZU64!(4_096);
/// Blocks marshal hands over before waiting for acknowledgements.
const MAX_PENDING_ACKS: NonZeroUsize = NZUsize!(16);

/// Consensus timing.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// How long to wait for the leader's proposal before voting to skip.
    pub leader: Duration,
    /// How long to wait for a notarized proposal to certify.
    pub certification: Duration,
    /// How often to rebroadcast a skip vote while a view is stuck.
    pub retry: Duration,
    /// How long to wait for a peer when fetching missing data.
    pub fetch: Duration,
    /// Least time between a block and its parent when this validator
    /// proposes: paces an idle chain (zero proposes as fast as consensus
    /// goes, which a one-validator network turns into a busy loop).
    pub block_interval: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            leader: Duration::from_secs(1),
            certification: Duration::from_secs(2),
            retry: Duration::from_secs(5),
            fetch: Duration::from_secs(1),
            block_interval: Duration::ZERO,
        }
    }
}

/// Everything a validator needs besides its networks.
pub struct Config {
    /// The chain's genesis (all validators must agree on it byte for byte).
    pub genesis: Genesis,
    /// This validator's consensus key; its public key is also the account
    /// that collects fees from the blocks it proposes.
    pub signer: PrivateKey,
    /// The validator set (including this one).
    pub validators: Vec<PublicKey>,
    /// Judges device attestation evidence inside the ledger.
    pub verifier: Box<dyn AttestationVerifier + Send>,
    /// Mempool limits.
    pub mempool: MempoolConfig,
    /// Block limits.
    pub limits: BlockLimits,
    /// Consensus timing.
    pub timeouts: Timeouts,
    /// Prefix of every storage partition this validator opens.
    pub partition_prefix: String,
    /// Snapshot the finalized chain every this many blocks, so a restart
    /// replays only what came after the newest snapshot (`None`: never;
    /// restarts replay from genesis).
    pub snapshot_every: Option<NonZeroU64>,
    /// Capacity of each actor mailbox.
    pub mailbox_size: NonZeroUsize,
}

/// The p2p side of a validator: five channels and the network's peer
/// provider and blocker.
pub struct Networks<S, R, P, B> {
    /// Consensus votes.
    pub votes: (S, R),
    /// Consensus certificates.
    pub certificates: (S, R),
    /// Consensus certificate fetches.
    pub resolver: (S, R),
    /// Marshal's block and finalization backfill.
    pub backfill: (S, R),
    /// Full blocks pushed by their proposers.
    pub broadcast: (S, R),
    /// Who is connected (for broadcast and fetches).
    pub peers: P,
    /// Blocks misbehaving peers.
    pub blocker: B,
}

/// Why a validator could not start.
#[derive(Debug, Error)]
pub enum StartError {
    /// The genesis is unusable.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// The validator set is empty, repeats a key, or lacks this signer.
    #[error("the validator set must be non-empty, without duplicates, and include this node's key")]
    Validators,
    /// Block storage could not be opened.
    #[error("cannot open block storage: {0}")]
    Storage(#[from] commonware_storage::archive::Error),
    /// Snapshot storage could not be read.
    #[error("cannot read snapshots: {0}")]
    Snapshots(#[from] commonware_runtime::Error),
    /// The stored chain does not start from this node's genesis block:
    /// the storage was written for another genesis, or by a build whose
    /// ledger rules give the same genesis another state root.
    #[error(
        "the stored chain is another one: its block 1 follows genesis block {stored}, \
         and this node's genesis block is {expected} (the storage was written for \
         another genesis, or by a build with other ledger rules)"
    )]
    OtherChain {
        /// The genesis hash stored block 1 names as its parent.
        stored: Hash,
        /// This node's genesis block hash.
        expected: Hash,
    },
    /// A stored finalized block does not replay to the state root it was
    /// finalized with: the storage was written by a build with other
    /// ledger rules.
    #[error(
        "stored block {} was finalized with state root {claimed}, but this build computes \
         {computed} from the blocks before it (the storage was written by a build with \
         other ledger rules)",
        height.0
    )]
    OtherRules {
        /// The block's height.
        height: Height,
        /// The root it was finalized with.
        claimed: Hash,
        /// The root this build computes.
        computed: Hash,
    },
}

impl StartError {
    /// Whether the storage holds a chain this build cannot continue
    /// ([`StartError::OtherChain`], [`StartError::OtherRules`]): starting
    /// over, or running the build that wrote it, is the way on. Nothing in
    /// the storage was changed.
    #[must_use]
    pub fn is_other_chain(&self) -> bool {
        matches!(self, Self::OtherChain { .. } | Self::OtherRules { .. })
    }
}

/// How the ledger was recovered at start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Height of the snapshot it was restored from, if any.
    pub snapshot: Option<Height>,
    /// Stored finalized blocks replayed on top (of the snapshot, or of
    /// genesis).
    pub replayed: u64,
}

/// Handles of a running validator's tasks.
pub struct Tasks {
    /// How the ledger was recovered.
    pub recovery: Recovery,
    /// The snapshot writer.
    pub snapshots: Handle<()>,
    /// The application actor; ends with an error if a finalized block
    /// cannot be applied.
    pub application: Handle<Result<(), ChainError>>,
    /// Marshal.
    pub marshal: Handle<()>,
    /// Simplex consensus.
    pub consensus: Handle<()>,
}

impl Tasks {
    /// Stops every task (as a crash would: nothing is flushed first).
    pub fn abort(&self) {
        self.snapshots.abort();
        self.consensus.abort();
        self.marshal.abort();
        self.application.abort();
    }
}

type MarshalFor<E> = Marshal<
    E,
    Standard<Block>,
    ConstantProvider<Scheme, Epoch>,
    immutable::Archive<E, Digest, simplex::types::Finalization<Scheme, Digest>>,
    immutable::Archive<E, Digest, Arc<Block>>,
    FixedEpocher,
    Sequential,
>;

fn archive_config<C>(prefix: &str, name: &str, codec: C, cache: &CacheRef) -> immutable::Config<C> {
    immutable::Config {
        metadata_partition: format!("{prefix}-{name}-metadata"),
        freezer_table_partition: format!("{prefix}-{name}-freezer-table"),
        freezer_table_initial_size: 64,
        freezer_table_resize_frequency: 10,
        freezer_table_resize_chunk_size: 10,
        freezer_key_partition: format!("{prefix}-{name}-freezer-key"),
        freezer_key_page_cache: cache.clone(),
        freezer_value_partition: format!("{prefix}-{name}-freezer-value"),
        freezer_value_target_size: 64 * 1024 * 1024,
        freezer_value_compression: None,
        ordinal_partition: format!("{prefix}-{name}-ordinal"),
        items_per_section: ITEMS_PER_SECTION,
        codec_config: codec,
        replay_buffer: REPLAY_BUFFER,
        freezer_key_write_buffer: WRITE_BUFFER,
        freezer_value_write_buffer: WRITE_BUFFER,
        ordinal_write_buffer: WRITE_BUFFER,
    }
}

/// Applies stored finalized blocks 1, 2, … to `chain` until the first
/// missing height; returns how many were applied.
async fn replay<E>(
    chain: &mut Chain,
    blocks: &immutable::Archive<E, Digest, Arc<Block>>,
) -> Result<u64, StartError>
where
    E: Clock + Storage + Metrics,
{
    let mut applied = 0;
    loop {
        let height = chain.height().0.saturating_add(1);
        let Some(block) = blocks.get(ArchiveId::Index(height)).await? else {
            return Ok(applied);
        };
        chain.finalize(&block).map_err(|e| match e {
            ChainError::StateRootMismatch {
                height,
                claimed,
                computed,
            } => StartError::OtherRules {
                height,
                claimed,
                computed,
            },
            other => StartError::Chain(other),
        })?;
        applied += 1;
    }
}

/// Checks that the stored chain, if any, starts from `genesis`: a data dir
/// written for another genesis, or by a build whose rules give another
/// genesis root, is refused before anything of it is restored.
async fn same_chain<E>(
    genesis: &Block,
    blocks: &immutable::Archive<E, Digest, Arc<Block>>,
) -> Result<(), StartError>
where
    E: Clock + Storage + Metrics,
{
    match blocks.get(ArchiveId::Index(1)).await? {
        Some(first) if first.parent != genesis.hash() => Err(StartError::OtherChain {
            stored: first.parent,
            expected: genesis.hash(),
        }),
        _ => Ok(()),
    }
}

/// Installs the newest snapshot that decodes, verifies and agrees with
/// the stored block at its height; returns its height.
async fn restore<E>(
    context: &E,
    partition: &str,
    chain: &mut Chain,
    blocks: &immutable::Archive<E, Digest, Arc<Block>>,
) -> Result<Option<Height>, StartError>
where
    E: Clock + Storage + Metrics,
{
    let chain_id = chain.ledger().chain_id().to_owned();
    for (height, payload) in snapshot::read_all(context, partition).await? {
        let snapshot = match ChainSnapshot::decode(&payload, &chain_id) {
            Ok(s) => s,
            Err(e) => {
                warn!(height = height.0, error = %e, "ignoring an unusable snapshot");
                continue;
            }
        };
        if let Some(block) = blocks.get(ArchiveId::Index(height.0)).await?
            && block.hash() != snapshot.tip
        {
            warn!(
                height = height.0,
                "ignoring a snapshot that disagrees with the stored block at its height"
            );
            continue;
        }
        chain.install(snapshot);
        return Ok(Some(height));
    }
    Ok(None)
}

/// The snapshot writer: writes each payload the application actor hands
/// over, durably, and prunes old ones. A failed write is logged and the
/// node goes on (the previous snapshot, or genesis, still recovers it).
async fn write_snapshots<E: Storage>(
    context: E,
    partition: String,
    mut payloads: mpsc::Receiver<(Height, Vec<u8>)>,
) {
    while let Some((height, payload)) = payloads.recv().await {
        if let Err(e) = snapshot::write(&context, &partition, height, &payload).await {
            warn!(height = height.0, error = %e, "cannot write a snapshot");
        }
    }
}

/// Starts a validator on `context` and returns its handle and tasks.
///
/// # Errors
/// [`StartError`] if the genesis, validator set or storage is unusable.
pub async fn start<E, S, R, P, B>(
    context: E,
    config: Config,
    networks: Networks<S, R, P, B>,
) -> Result<(Node, Tasks), StartError>
where
    E: Clock + CryptoRng + Spawner + Storage + Metrics,
    S: Sender<PublicKey = PublicKey>,
    R: Receiver<PublicKey = PublicKey>,
    P: Provider<PublicKey = PublicKey>,
    B: Blocker<PublicKey = PublicKey> + Clone,
{
    let me = config.signer.public_key();
    let validators: Set<PublicKey> = config
        .validators
        .iter()
        .cloned()
        .try_collect()
        .map_err(|_| StartError::Validators)?;
    let namespace = [config.genesis.chain_id.as_bytes(), b"_CONSENSUS"].concat();
    let scheme = Scheme::signer(&namespace, validators, config.signer.clone())
        .ok_or(StartError::Validators)?;

    // The ledger and its genesis block.
    let (mut chain, genesis) = Chain::new(&config.genesis, config.verifier, config.limits)?;
    let genesis_digest = genesis.digest();
    let max_block_bytes = config.limits.max_block_bytes.max(DEFAULT_MAX_BLOCK_BYTES);

    // Application actor.
    let (sender, messages) = mpsc::channel(config.mailbox_size.get());
    let (finalized_sender, finalized) = mpsc::unbounded_channel();
    let application = Mailbox::new(sender, finalized_sender);

    // Archives, and the ledger recovered from them before any network
    // task starts (a data dir this build cannot continue stops it here).
    let page_cache = CacheRef::new(PAGE_SIZE, PAGE_CACHE_PAGES);
    let prefix = &config.partition_prefix;
    let finalizations = immutable::Archive::init(
        context.child("finalizations"),
        archive_config(
            prefix,
            "finalizations-by-height",
            scheme.certificate_codec_config(),
            &page_cache,
        ),
    )
    .await?;
    let blocks: immutable::Archive<E, Digest, Arc<Block>> = immutable::Archive::init(
        context.child("blocks"),
        archive_config(prefix, "finalized-blocks", max_block_bytes, &page_cache),
    )
    .await?;
    // Recover the ledger: restore the newest usable snapshot, then replay
    // the stored finalized blocks after it, which marshal keeps contiguous
    // up to at least what it has delivered (blocks it redelivers after
    // this are skipped by `Chain::finalize`).
    same_chain(&genesis, &blocks).await?;
    let snapshot_partition = format!("{prefix}-snapshots");
    let snapshot = restore(&context, &snapshot_partition, &mut chain, &blocks).await?;
    let replayed = replay(&mut chain, &blocks).await?;
    let recovery = Recovery { snapshot, replayed };
    if snapshot.is_some() || replayed > 0 {
        info!(
            snapshot = snapshot.map(|h| h.0),
            replayed,
            height = chain.height().0,
            "recovered ledger"
        );
    }
    // Marshal: backfill resolver and broadcast buffer.
    let Networks {
        votes,
        certificates,
        resolver,
        backfill,
        broadcast,
        peers,
        blocker,
    } = networks;
    let backfill = marshal_resolver::init(
        context.child("backfill"),
        marshal_resolver::Config {
            public_key: me.clone(),
            peer_provider: peers.clone(),
            blocker: blocker.clone(),
            mailbox_size: config.mailbox_size,
            fetch_timeout: NZDuration!(Duration::from_secs(2)),
            fetch_retry_delay: Duration::from_millis(100),
            priority_requests: false,
            priority_responses: false,
        },
        backfill,
    );
    let (buffer_engine, buffer) = buffered::Engine::new(
        context.child("buffer"),
        buffered::Config {
            public_key: me.clone(),
            mailbox_size: config.mailbox_size,
            deque_size: 10,
            priority: false,
            codec_config: max_block_bytes,
            peer_provider: peers,
            strategy: Sequential,
        },
    );
    buffer_engine.start(broadcast);

    let (writer, to_write) = mpsc::channel(1);
    let snapshots_task = context
        .child("snapshots")
        .spawn(move |context| write_snapshots(context, snapshot_partition, to_write));
    let actor = Actor::new(
        chain,
        Mempool::new(config.mempool),
        messages,
        finalized,
        config.timeouts.block_interval,
        config
            .snapshot_every
            .map(|every| Snapshots { every, writer }),
    );
    let (marshal, marshal_mailbox, _floor): (
        MarshalFor<E>,
        MarshalMailbox<Scheme, Standard<Block>>,
        _,
    ) = Marshal::init(
        context.child("marshal"),
        finalizations,
        blocks,
        MarshalConfig {
            provider: ConstantProvider::new(scheme.clone()),
            epocher: FixedEpocher::new(NZU64!(u64::MAX)),
            start: Start::Genesis(Digested::precomputed(genesis, genesis_digest)),
            partition_prefix: format!("{prefix}-marshal"),
            mailbox_size: config.mailbox_size,
            view_retention: ViewDelta::new(10),
            prunable_items_per_section: NZU64!(10),
            page_cache: page_cache.clone(),
            replay_buffer: REPLAY_BUFFER,
            key_write_buffer: WRITE_BUFFER,
            value_write_buffer: WRITE_BUFFER,
            block_codec_config: max_block_bytes,
            max_repair: NZUsize!(10),
            max_pending_acks: MAX_PENDING_ACKS,
            strategy: Sequential,
        },
    )
    .await;
    let marshal_task = marshal.start(application.clone(), buffer, backfill);

    // Consensus, verifying through the application before voting.
    let inline = Inline::new(
        context.child("inline"),
        application.clone(),
        marshal_mailbox.clone(),
        FixedEpocher::new(NZU64!(u64::MAX)),
    );
    let consensus = simplex::Engine::new(
        context.child("consensus"),
        simplex::Config {
            scheme,
            elector: RoundRobin::<Sha256>::default(),
            blocker,
            automaton: inline.clone(),
            relay: inline.clone(),
            reporter: inline,
            partition: format!("{prefix}-consensus"),
            mailbox_size: config.mailbox_size,
            epoch: Epoch::zero(),
            floor: simplex::Floor::Genesis(genesis_digest),
            replay_buffer: REPLAY_BUFFER,
            write_buffer: WRITE_BUFFER,
            leader_timeout: config.timeouts.leader,
            certification_timeout: config.timeouts.certification,
            timeout_retry: config.timeouts.retry,
            fetch_timeout: NZDuration!(Duration::from_secs(1)),
            fetch_retry_delay: Duration::from_millis(100),
            view_retention: ViewDelta::new(10),
            skip: SkipPolicy::Enabled {
                timeout: config.timeouts.retry.saturating_mul(2),
                budget: SkipBudget::Participants,
            },
            page_cache,
            strategy: Sequential,
            forward: ForwardPolicy::Disabled,
            track_historical_votes: false,
        },
    );
    let consensus_task = consensus.start(votes, certificates, resolver);
    let application_task = actor.start(context.child("application"));

    let node = Node::new(application, marshal_mailbox);
    Ok((
        node,
        Tasks {
            recovery,
            snapshots: snapshots_task,
            application: application_task,
            marshal: marshal_task,
            consensus: consensus_task,
        },
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use commonware_runtime::{Runner as _, Supervisor as _, deterministic};
    use verigrid_types::params::Params;
    use verigrid_types::{AccountId, Amount, Timestamp};

    use super::*;
    use crate::chain::RefuseAttestations;

    fn genesis() -> Genesis {
        Genesis {
            chain_id: "verigrid-recovery".into(),
            params: Params::new(AccountId([0x60; 32])),
            accounts: vec![(AccountId([1; 32]), Amount(1_000))],
            time: Timestamp(0),
        }
    }

    /// Block 1 on `parent`, claiming `state_root`.
    fn first_block(parent: Hash, state_root: Hash) -> Block {
        Block {
            height: Height(1),
            parent,
            time: Timestamp(1_000),
            randomness: Block::next_randomness(parent),
            proposer: AccountId([2; 32]),
            state_root,
            txs: Vec::new(),
        }
    }

    /// Runs `check` on a fresh chain and a block archive holding `block`
    /// at height 1.
    fn with_stored(
        block: impl FnOnce(&Block, &Chain) -> Block + Send + 'static,
        check: impl AsyncFnOnce(
            &mut Chain,
            &Block,
            &immutable::Archive<deterministic::Context, Digest, Arc<Block>>,
        ) + Send
        + 'static,
    ) {
        deterministic::Runner::default().start(|context| async move {
            let (mut chain, genesis) = Chain::new(
                &genesis(),
                Box::new(RefuseAttestations),
                BlockLimits::default(),
            )
            .unwrap();
            let stored = block(&genesis, &chain);
            let cache = CacheRef::new(PAGE_SIZE, PAGE_CACHE_PAGES);
            let config =
                archive_config("test", "finalized-blocks", DEFAULT_MAX_BLOCK_BYTES, &cache);
            let blocks = immutable::Archive::init(context.child("blocks"), config)
                .await
                .unwrap()
                .put_sync(1, stored.digest(), &Arc::new(stored))
                .await
                .unwrap();
            check(&mut chain, &genesis, &blocks).await;
        });
    }

    #[test]
    fn a_stored_chain_from_another_genesis_is_refused_by_name() {
        with_stored(
            |_, _| first_block(Hash([9; 32]), Hash::ZERO),
            async |_, genesis, blocks| {
                let e = same_chain(genesis, blocks).await.unwrap_err();
                assert!(e.is_other_chain(), "{e}");
                let StartError::OtherChain { stored, expected } = e else {
                    panic!("{e}")
                };
                assert_eq!((stored, expected), (Hash([9; 32]), genesis.hash()));
            },
        );
    }

    #[test]
    fn a_stored_block_with_another_state_root_is_refused_as_other_rules() {
        with_stored(
            |genesis, _| first_block(genesis.hash(), Hash([7; 32])),
            async |chain, genesis, blocks| {
                same_chain(genesis, blocks).await.unwrap();
                let e = replay(chain, blocks).await.unwrap_err();
                assert!(e.is_other_chain(), "{e}");
                let StartError::OtherRules {
                    height,
                    claimed,
                    computed,
                } = e
                else {
                    panic!("{e}")
                };
                assert_eq!((height, claimed), (Height(1), Hash([7; 32])));
                assert_ne!(computed, claimed);
                assert_eq!(chain.height(), Height(0), "nothing of it was applied");
            },
        );
    }

    #[test]
    fn a_stored_chain_of_this_build_replays() {
        with_stored(
            |genesis, chain| {
                // The root this build computes for an empty block 1.
                let mut block = first_block(genesis.hash(), Hash::ZERO);
                let mut ledger = chain.ledger().clone();
                block.state_root =
                    crate::chain::apply(&mut ledger, &block.input(), &RefuseAttestations)
                        .unwrap()
                        .state_root;
                block
            },
            async |chain, genesis, blocks| {
                same_chain(genesis, blocks).await.unwrap();
                assert_eq!(replay(chain, blocks).await.unwrap(), 1);
                assert_eq!(chain.height(), Height(1));
            },
        );
    }
}

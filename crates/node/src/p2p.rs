//! The real network: commonware's authenticated p2p (`lookup` flavour: a
//! fixed validator set whose addresses are known from the config), with
//! SAKE handshakes and ChaCha20-Poly1305 records (docs/DESIGN.md §9).
//!
//! Each validator dials every other; only keys in the validator set are
//! accepted. The five consensus channels are registered here so the
//! engine gets [`Networks`] exactly as it does from the simulator.

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::time::Duration;

use commonware_cryptography::ChaCha20Poly1305;
use commonware_cryptography::Signer as _;
use commonware_cryptography::ed25519::{PrivateKey, PublicKey};
use commonware_p2p::authenticated::lookup::{self, Network, Oracle};
use commonware_p2p::{Address, AddressableManager as _};
use commonware_runtime::{Clock, Handle, Metrics, Network as RNetwork, Quota, Resolver, Spawner};
use commonware_stream::cups::{self, Cups};
use commonware_stream::sake::{self, Sake};
use commonware_utils::ordered::Map;
use commonware_utils::{NZU32, NZUsize};
use rand_core::CryptoRng;
use thiserror::Error;

use crate::engine::Networks;

/// Largest p2p message: a full block with its finalization (marshal
/// backfill) fits with room to spare.
pub const MAX_MESSAGE_BYTES: u32 = 8 * 1024 * 1024;

/// Per-peer, per-channel message rate.
const QUOTA: Quota = Quota::per_second(NZU32!(10_000));

/// Where this validator listens and who its peers are.
#[derive(Clone, Debug)]
pub struct P2pConfig {
    /// Namespace for handshakes (use the chain id, so two chains on one
    /// machine cannot talk to each other).
    pub namespace: Vec<u8>,
    /// This validator's key.
    pub signer: PrivateKey,
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Every validator (including this one) and the address it listens on.
    pub peers: Vec<(PublicKey, SocketAddr)>,
    /// Capacity of the network actors' mailboxes.
    pub mailbox_size: NonZeroUsize,
}

/// Why the network could not be set up.
#[derive(Debug, Error)]
pub enum P2pError {
    /// Two peers have the same key.
    #[error("the peer list repeats a validator key")]
    DuplicatePeer,
    /// This validator is not in its own peer list.
    #[error("this validator's key is not in the peer list")]
    NotAPeer,
}

/// The sender, receiver, peer provider and blocker the authenticated
/// network hands the engine.
pub type AuthenticatedNetworks<E> = Networks<
    lookup::Sender<PublicKey, E>,
    lookup::Receiver<PublicKey>,
    Oracle<PublicKey>,
    Oracle<PublicKey>,
>;

/// Starts the authenticated network and registers the consensus channels.
/// Returns them and the network task's handle.
///
/// # Errors
/// [`P2pError`] if the peer list is unusable.
pub fn start<E>(
    context: E,
    config: P2pConfig,
) -> Result<(AuthenticatedNetworks<E>, Handle<()>), P2pError>
where
    E: Spawner + Clock + CryptoRng + RNetwork + Resolver + Metrics,
{
    let me = config.signer.public_key();
    if !config.peers.iter().any(|(key, _)| *key == me) {
        return Err(P2pError::NotAPeer);
    }
    let peers: Map<PublicKey, Address> = config
        .peers
        .iter()
        .map(|(key, addr)| (key.clone(), Address::from(*addr)))
        .collect::<Vec<_>>()
        .try_into()
        .map_err(|_| P2pError::DuplicatePeer)?;
    let handshake = Cups::<_, ChaCha20Poly1305>::new(
        Sake {
            signer: config.signer,
            synchrony_bound: Duration::from_secs(5),
            max_handshake_age: Duration::from_secs(10),
            version: sake::Version::V1,
        },
        cups::Version::V1,
    );
    let max_peers = NonZeroUsize::new(config.peers.len()).unwrap_or(NZUsize!(1));
    let mut p2p = lookup::Config::local(
        handshake,
        &config.namespace,
        config.listen,
        max_peers,
        MAX_MESSAGE_BYTES,
        config.mailbox_size,
    );
    // Loopback restarts: retry a dropped peer quickly.
    p2p.dial_frequency = Duration::from_millis(250);
    let (mut network, mut oracle) = Network::new(context, p2p);
    let _ = oracle.track(0, peers);
    let mut channel = |id| network.register(id, QUOTA);
    let votes = channel(0);
    let certificates = channel(1);
    let resolver = channel(2);
    let backfill = channel(3);
    let broadcast = channel(4);
    let handle = network.start();
    Ok((
        Networks {
            votes,
            certificates,
            resolver,
            backfill,
            broadcast,
            peers: oracle.clone(),
            blocker: oracle,
        },
        handle,
    ))
}

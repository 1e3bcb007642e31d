//! The block: what consensus orders and the ledger applies (docs/DESIGN.md §9).
//!
//! A block's bytes are verigrid's one canonical encoding (`verigrid-types`
//! codec); its digest is `BLAKE3(Domain::Block ‖ bytes)`, so the consensus
//! digest *is* the verigrid block hash, and the next block's `parent` is
//! directly usable as the ledger's attestation anchor.
//!
//! On the wire (commonware codec) a block is framed as a `u32` little-endian
//! length followed by those bytes, because commonware embeds blocks inside
//! larger messages (backfill responses carry `finalization ‖ block`). The
//! frame is canonical: one length, one body encoding.

use bytes::{Buf, BufMut};
use commonware_codec::{EncodeSize, Error as CodecError, Read, Write};
use commonware_consensus::types::Height as ConsensusHeight;
use commonware_consensus::{BoundedBlock, Heightable};
use commonware_cryptography::Digestible;
use commonware_cryptography::blake3::Digest;
use verigrid_ledger::BlockInput;
use verigrid_types::codec::{Decode, DecodeError, Encode, Reader};
use verigrid_types::tx::SignedTx;
use verigrid_types::{AccountId, Domain, Hash, Height, Timestamp};

/// The largest encoded block a node accepts by default (4 MiB).
pub const DEFAULT_MAX_BLOCK_BYTES: usize = 4 * 1024 * 1024;

/// Bytes of the length frame in front of every block on the wire.
const FRAME: usize = 4;

/// One block of the chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    /// Its height: the parent's plus one (0 for genesis).
    pub height: Height,
    /// Digest of the parent block ([`Hash::ZERO`] for genesis).
    pub parent: Hash,
    /// Block time chosen by the proposer, never before the parent's.
    pub time: Timestamp,
    /// Randomness handed to the ledger (see [`Block::next_randomness`]).
    pub randomness: Hash,
    /// The proposing validator's account: it collects the fees.
    pub proposer: AccountId,
    /// The ledger's state root after applying this block.
    pub state_root: Hash,
    /// Transactions in order.
    pub txs: Vec<SignedTx>,
}

impl Block {
    /// The genesis block for a ledger whose genesis state root is
    /// `state_root`: height 0, no parent, no transactions.
    #[must_use]
    pub fn genesis(time: Timestamp, state_root: Hash) -> Self {
        Self {
            height: Height(0),
            parent: Hash::ZERO,
            time,
            randomness: Hash::ZERO,
            proposer: AccountId([0; 32]),
            state_root,
            txs: Vec::new(),
        }
    }

    /// The block hash (the same bytes as [`Digestible::digest`]).
    #[must_use]
    pub fn hash(&self) -> Hash {
        Hash::of_value(Domain::Block, self)
    }

    /// Randomness for a child of the block with digest `parent`.
    ///
    /// Simplex with ed25519 signatures gives no unbiasable beacon, so the
    /// ledger gets the parent digest (the DESIGN §5 fallback). A threshold
    /// BLS scheme would supply the parent round's seed here instead.
    #[must_use]
    pub fn next_randomness(parent: Hash) -> Hash {
        parent
    }

    /// What the ledger consumes from this block.
    #[must_use]
    pub fn input(&self) -> BlockInput {
        BlockInput {
            height: self.height,
            time: self.time,
            randomness: self.randomness,
            parent: self.parent,
            proposer: self.proposer,
            txs: self.txs.clone(),
        }
    }
}

impl Encode for Block {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.height.encode_to(out);
        self.parent.encode_to(out);
        self.time.encode_to(out);
        self.randomness.encode_to(out);
        self.proposer.encode_to(out);
        self.state_root.encode_to(out);
        self.txs.encode_to(out);
    }
}

impl Decode for Block {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            height: Decode::decode_from(r)?,
            parent: Decode::decode_from(r)?,
            time: Decode::decode_from(r)?,
            randomness: Decode::decode_from(r)?,
            proposer: Decode::decode_from(r)?,
            state_root: Decode::decode_from(r)?,
            txs: Decode::decode_from(r)?,
        })
    }
}

/// Converts a verigrid hash to the consensus digest (same bytes).
#[must_use]
pub fn to_digest(hash: Hash) -> Digest {
    Digest(hash.0)
}

/// Converts a consensus digest to a verigrid hash (same bytes).
#[must_use]
pub fn to_hash(digest: &Digest) -> Hash {
    Hash(digest.0)
}

impl Write for Block {
    fn write(&self, buf: &mut impl BufMut) {
        let body = self.encode();
        // A block too large for a u32 frame could never be read back; the
        // proposer bounds blocks far below that, so saturate rather than panic.
        let len = u32::try_from(body.len()).unwrap_or(u32::MAX);
        buf.put_u32_le(len);
        buf.put_slice(&body);
    }
}

impl EncodeSize for Block {
    fn encode_size(&self) -> usize {
        FRAME + self.encode().len()
    }
}

impl Read for Block {
    /// The largest encoded body accepted, in bytes.
    type Cfg = usize;

    fn read_cfg(buf: &mut impl Buf, max: &usize) -> Result<Self, CodecError> {
        if buf.remaining() < FRAME {
            return Err(CodecError::EndOfBuffer);
        }
        let len = buf.get_u32_le() as usize;
        if len > *max {
            return Err(CodecError::InvalidLength(len));
        }
        if buf.remaining() < len {
            return Err(CodecError::EndOfBuffer);
        }
        let mut body = vec![0u8; len];
        buf.copy_to_slice(&mut body);
        Self::decode(&body).map_err(|_| CodecError::Invalid("Block", "not a canonical block"))
    }
}

impl Digestible for Block {
    type Digest = Digest;

    fn digest(&self) -> Digest {
        to_digest(self.hash())
    }
}

impl Heightable for Block {
    fn height(&self) -> ConsensusHeight {
        ConsensusHeight::new(self.height.0)
    }
}

impl commonware_consensus::Block for Block {
    fn parent(&self) -> Digest {
        to_digest(self.parent)
    }
}

impl BoundedBlock for Block {
    fn max_encode_size(max: &usize) -> usize {
        FRAME.saturating_add(*max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_codec::Decode as WireDecode;

    fn wire(block: &Block) -> Vec<u8> {
        commonware_codec::Encode::encode(block).to_vec()
    }

    fn unwire(bytes: &[u8], max: usize) -> Result<Block, CodecError> {
        <Block as WireDecode>::decode_cfg(bytes::BytesMut::from(bytes), &max)
    }
    use verigrid_types::tx::{Call, Signer, Tx};
    use verigrid_types::{Amount, SecretKey};

    fn sample() -> Block {
        let key = SecretKey::from_label("alice");
        let tx = Tx {
            signer: Signer::Account(key.account()),
            nonce: 0,
            fee: Amount(10),
            call: Call::Transfer {
                to: AccountId([7; 32]),
                amount: Amount(5),
            },
        }
        .sign("chain", &key);
        Block {
            height: Height(3),
            parent: Hash([1; 32]),
            time: Timestamp(1_000),
            randomness: Hash([1; 32]),
            proposer: key.account(),
            state_root: Hash([2; 32]),
            txs: vec![tx],
        }
    }

    #[test]
    fn block_round_trips_through_the_consensus_codec() {
        let block = sample();
        let bytes = wire(&block);
        assert_eq!(bytes.len(), block.encode_size());
        let back = unwire(&bytes, DEFAULT_MAX_BLOCK_BYTES).unwrap();
        assert_eq!(back, block);
        assert_eq!(back.digest(), block.digest());
    }

    #[test]
    fn digest_is_the_verigrid_block_hash() {
        let block = sample();
        assert_eq!(to_hash(&block.digest()), block.hash());
        let mut other = block.clone();
        other.time = Timestamp(1_001);
        assert_ne!(other.digest(), block.digest());
    }

    #[test]
    fn oversized_and_trailing_frames_are_rejected() {
        let bytes = wire(&sample());
        assert!(unwire(&bytes, 10).is_err());
        let mut long = bytes.clone();
        long.push(0);
        assert!(unwire(&long, DEFAULT_MAX_BLOCK_BYTES).is_err());
        assert!(unwire(&bytes[..bytes.len() - 1], DEFAULT_MAX_BLOCK_BYTES).is_err());
    }
}
